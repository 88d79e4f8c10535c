#include "pkg/base/base64.h"

#include "gtest/gtest.h"

namespace sigshim {
namespace {

TEST(Base64, RoundTripsEveryTailLength) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto decoded = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
}

TEST(Base64, IgnoresLineBreaks) {
  auto decoded = Base64Decode("Zm9v\nYmFy\r\n");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, "foobar");
}

TEST(Base64, AcceptsMissingPadding) {
  auto decoded = Base64Decode("Zm8");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, "fo");
}

TEST(Base64, RejectsHostileInput) {
  EXPECT_FALSE(Base64Decode("Zm9v!").ok());
  EXPECT_FALSE(Base64Decode("Z").ok());
  EXPECT_FALSE(Base64Decode("Zm8=Zm8=").ok());
  EXPECT_FALSE(Base64Decode("Zm8===").ok());
  EXPECT_FALSE(Base64Decode("Zm9=").ok());  // Non-zero discarded bits.
  EXPECT_FALSE(Base64Decode(std::string("Zm\0v", 4)).ok());
}

TEST(Base64, ProtoJsonTakesEitherAlphabetButNotBoth) {
  EXPECT_EQ(*Base64DecodeProtoJson("-_8="), "\xfb\xff");
  EXPECT_EQ(*Base64DecodeProtoJson("+/8"), "\xfb\xff");
  EXPECT_FALSE(Base64DecodeProtoJson("+_8=").ok());
  EXPECT_FALSE(Base64DecodeProtoJson("+/8=\n").ok());
  EXPECT_FALSE(Base64DecodeProtoJson("+/*=").ok());
}

}  // namespace
}  // namespace sigshim
