#include "pkg/base/digest.h"

#include "gtest/gtest.h"

namespace sigshim {
namespace {

TEST(Digest, MatchesKnownSha256) {
  EXPECT_EQ(Sha256Digest(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Digest, ValidatesForm) {
  EXPECT_TRUE(ValidateDigest(Sha256Digest("x")).ok());
  EXPECT_FALSE(ValidateDigest("sha512:abcd").ok());
  EXPECT_FALSE(ValidateDigest("sha256:abcd").ok());
  EXPECT_FALSE(ValidateDigest("sha256:" + std::string(64, 'A')).ok());
  EXPECT_FALSE(ValidateDigest("").ok());
}

TEST(Digest, CheckDigestNamesBothDigests) {
  EXPECT_TRUE(CheckDigest("abc", Sha256Digest("abc")).ok());
  absl::Status s = CheckDigest("abd", Sha256Digest("abc"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(Sha256Digest("abd")), std::string::npos);
}

}  // namespace
}  // namespace sigshim
