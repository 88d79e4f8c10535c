#include "pkg/reference/reference.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigshim::reference {
namespace {

using ::testing::HasSubstr;

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kDigest = "sha256:" + kHex;

struct ValidCase {
  std::string input;
  std::string domain;
  std::string path;
  std::string tag;
  std::string digest;
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << "\"" << c.input << "\""; }

class ParseValid : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ParseValid, NormalisesLikeDocker) {
  const ValidCase& c = GetParam();
  absl::StatusOr<Reference> ref = Parse(c.input);
  ASSERT_TRUE(ref.ok()) << c.input << ": " << ref.status();
  EXPECT_EQ(ref->domain, c.domain) << c.input;
  EXPECT_EQ(ref->path, c.path) << c.input;
  EXPECT_EQ(ref->tag, c.tag) << c.input;
  EXPECT_EQ(ref->digest, c.digest) << c.input;
  // The normalised form parses back to itself.
  absl::StatusOr<Reference> again = Parse(ref->String());
  ASSERT_TRUE(again.ok()) << ref->String() << ": " << again.status();
  EXPECT_EQ(*again, *ref);
}

INSTANTIATE_TEST_SUITE_P(
    Reference, ParseValid,
    ::testing::Values(
        ValidCase{"busybox", "docker.io", "library/busybox", "", ""},
        ValidCase{"busybox:1.36", "docker.io", "library/busybox", "1.36", ""},
        ValidCase{"user/img", "docker.io", "user/img", "", ""},
        ValidCase{"user/img:v1", "docker.io", "user/img", "v1", ""},
        ValidCase{"docker.io/busybox", "docker.io", "library/busybox", "", ""},
        ValidCase{"index.docker.io/busybox", "docker.io", "library/busybox", "", ""},
        ValidCase{"index.docker.io/user/img:tag", "docker.io", "user/img", "tag", ""},
        ValidCase{"docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", ""},
        ValidCase{"registry.example.com/team/app", "registry.example.com", "team/app", "", ""},
        ValidCase{"registry.example.com:5000/team/app:v2", "registry.example.com:5000", "team/app", "v2", ""},
        ValidCase{"localhost/app", "localhost", "app", "", ""},
        ValidCase{"localhost:5000/app:dev", "localhost:5000", "app", "dev", ""},
        ValidCase{"127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "", ""},
        ValidCase{"[::1]:5000/app", "[::1]:5000", "app", "", ""},
        ValidCase{"[fe80::1]/app:x", "[fe80::1]", "app", "x", ""},
        ValidCase{"Registry.Example.com/app", "registry.example.com", "app", "", ""},
        ValidCase{"REGISTRY.EXAMPLE:5000/team/app:V1", "registry.example:5000", "team/app", "V1", ""},
        ValidCase{"LOCALHOST:5000/app", "localhost:5000", "app", "", ""},
        ValidCase{"LocalHost/app", "localhost", "app", "", ""},
        ValidCase{"INDEX.DOCKER.IO/busybox", "docker.io", "library/busybox", "", ""},
        ValidCase{"Docker.IO/user/img", "docker.io", "user/img", "", ""},
        ValidCase{"[FE80::AB]:5000/app", "[fe80::ab]:5000", "app", "", ""},
        ValidCase{"my-registry/app", "docker.io", "my-registry/app", "", ""},
        ValidCase{"busybox@" + kDigest, "docker.io", "library/busybox", "", kDigest},
        ValidCase{"busybox:1.36@" + kDigest, "docker.io", "library/busybox", "1.36", kDigest},
        ValidCase{"localhost:5000/app:v1@" + kDigest, "localhost:5000", "app", "v1", kDigest},
        ValidCase{"a/b__c/d-e/f.g/h---i_j", "docker.io", "a/b__c/d-e/f.g/h---i_j", "", ""},
        ValidCase{"app:_Tag.With-Mixed_CASE", "docker.io", "library/app", "_Tag.With-Mixed_CASE", ""},
        ValidCase{"app:" + std::string(128, 'a'), "docker.io", "library/app", std::string(128, 'a'), ""},
        ValidCase{"docker.io", "docker.io", "library/docker.io", "", ""},
        ValidCase{"localhost:5000", "docker.io", "library/localhost", "5000", ""}));

struct InvalidCase {
  std::string input;
  std::string reason;  // a substring the error message must contain
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << "\"" << c.input.substr(0, 80) << "\""; }

class ParseInvalid : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(ParseInvalid, RejectsWithReason) {
  const InvalidCase& c = GetParam();
  absl::StatusOr<Reference> ref = Parse(c.input);
  ASSERT_FALSE(ref.ok()) << c.input << " parsed as " << ref->String();
  EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ref.status().message()), HasSubstr(c.reason)) << c.input;
  EXPECT_THAT(std::string(ref.status().message()), HasSubstr("invalid image reference"));
}

INSTANTIATE_TEST_SUITE_P(
    Reference, ParseInvalid,
    ::testing::Values(
        InvalidCase{"", "empty"},
        InvalidCase{"Busybox", "must be lowercase"},
        InvalidCase{"registry.example.com/Team/app", "must be lowercase"},
        InvalidCase{"user/Img:v1", "must be lowercase"},
        InvalidCase{"a//b", "empty component"},
        InvalidCase{"registry.example.com/", "empty"},
        InvalidCase{"app/", "empty component"},
        InvalidCase{"/app", "empty"},
        InvalidCase{"app:", "tag after ':' is empty"},
        InvalidCase{"app:-x", "must start with"},
        InvalidCase{"app:a+b", "only letters, digits"},
        InvalidCase{"app:" + std::string(129, 'a'), "limit is 128"},
        InvalidCase{"app@", "must be followed by a digest"},
        InvalidCase{"app@sha512:" + std::string(128, 'a'), "sha256"},
        InvalidCase{"app@sha256:abc", "64 hex"},
        InvalidCase{"app@sha256:" + std::string(64, 'A'), "lowercase hex"},
        InvalidCase{"app@" + kDigest + "junk", "64 hex"},
        InvalidCase{"app@" + kDigest + "@" + kDigest, "bad digest"},
        InvalidCase{"app:v1 ", "only letters, digits"},
        InvalidCase{" app", "only lowercase letters"},
        InvalidCase{"app!", "only lowercase letters"},
        InvalidCase{"a-/b", "must start and end"},
        InvalidCase{"a..b", "separator"},
        InvalidCase{"a___b", "separator"},
        InvalidCase{"registry.example.com:port/app", "must be a number"},
        InvalidCase{"registry.example.com:99999/app", "out of range"},
        InvalidCase{"registry.example.com:/app", "1 to 5 digits"},
        InvalidCase{"-bad.example.com/app", "not a valid host name"},
        InvalidCase{"bad..example.com/app", "not a valid host name"},
        InvalidCase{"[::1/app", "without ']'"},
        InvalidCase{"[zz:]/app", "IPv6"},
        InvalidCase{kHex, "image ID"},
        InvalidCase{"example.com/" + std::string(250, 'a'), "limit is 255"},
        InvalidCase{"app:tag:more", "only lowercase letters"},
        InvalidCase{"Uppercase/app", "only because of its capital letters"},
        InvalidCase{"REGISTRY.EXAMPLE/Team/app", "must be lowercase"},
        InvalidCase{"app:" + std::string(4093, 'a'), "4097 bytes long, the limit is 4096"}));

TEST(Reference, DefaultTagIsAddedOnlyWhenNeitherTagNorDigest) {
  EXPECT_EQ(Parse("busybox")->WithDefaultTag().String(), "docker.io/library/busybox:latest");
  EXPECT_EQ(Parse("busybox:1")->WithDefaultTag().String(), "docker.io/library/busybox:1");
  EXPECT_EQ(Parse("busybox@" + kDigest)->WithDefaultTag().String(), "docker.io/library/busybox@" + kDigest);
}

TEST(Reference, ParseAddsNoDefaultTag) {
  absl::StatusOr<Reference> ref = Parse("busybox");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->tag, "");
  EXPECT_EQ(ref->String(), "docker.io/library/busybox");
}

TEST(Reference, StringAndRepositoryCarryTagAndDigest) {
  absl::StatusOr<Reference> ref = Parse("localhost:5000/a/b:v1@" + kDigest);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->Repository(), "localhost:5000/a/b");
  EXPECT_EQ(ref->String(), "localhost:5000/a/b:v1@" + kDigest);
}

TEST(Reference, WithDigestPinsKeepingTag) {
  absl::StatusOr<Reference> ref = Parse("busybox:1.36");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->WithDigest(kDigest).String(), "docker.io/library/busybox:1.36@" + kDigest);
}

TEST(Reference, HostCaseDoesNotMakeAnotherReference) {
  absl::StatusOr<Reference> upper = Parse("REGISTRY.Example:5000/team/app:v1");
  absl::StatusOr<Reference> lower = Parse("registry.example:5000/team/app:v1");
  ASSERT_TRUE(upper.ok()) << upper.status();
  ASSERT_TRUE(lower.ok()) << lower.status();
  EXPECT_EQ(*upper, *lower);
  EXPECT_EQ(upper->Repository(), "registry.example:5000/team/app");
}

TEST(Reference, OverlongReferenceIsRefusedNamingItsLengthNotItsText) {
  const std::string huge = "registry.example/app:" + std::string(16 << 20, 'x');
  absl::StatusOr<Reference> ref = Parse(huge);
  ASSERT_FALSE(ref.ok());
  EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(ref.status().message());
  EXPECT_THAT(message, HasSubstr(absl::StrCat(huge.size(), " bytes long, the limit is 4096")));
  EXPECT_LT(message.size(), 512u);
  // Exactly at the limit the text is parsed (and here refused for what it holds, not its length).
  absl::StatusOr<Reference> at_limit = Parse(huge.substr(0, kMaxReferenceLength));
  ASSERT_FALSE(at_limit.ok());
  EXPECT_THAT(std::string(at_limit.status().message()), HasSubstr("limit is 128"));
}

TEST(Reference, ErrorQuotesHostileInputSafely) {
  absl::StatusOr<Reference> ref = Parse(std::string("app\n\x01") + std::string(1000, 'x'));
  ASSERT_FALSE(ref.ok());
  std::string message(ref.status().message());
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_LT(message.size(), 1000u);
}

}  // namespace
}  // namespace sigshim::reference
