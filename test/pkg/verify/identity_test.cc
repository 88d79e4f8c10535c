#include "pkg/verify/identity.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/reference/reference.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;
using Kind = IdentityRule::Kind;

reference::Reference Image(absl::string_view text) {
  auto parsed = reference::Parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : reference::Reference{};
}

IdentityRule Rule(Kind kind) {
  IdentityRule rule;
  rule.kind = kind;
  return rule;
}

TEST(MatchIdentity, RepositoryMatchNormalisesAndIgnoresTags) {
  IdentityRule rule;  // default: matchRepository
  EXPECT_TRUE(MatchIdentity(rule, "busybox", Image("docker.io/library/busybox:1.36")).ok());
  EXPECT_TRUE(MatchIdentity(rule, "index.docker.io/library/busybox:latest", Image("busybox")).ok());
  EXPECT_TRUE(MatchIdentity(rule, "testing/manifest", Image("docker.io/testing/manifest:notlatest")).ok());
  absl::Status other = MatchIdentity(rule, "example.com/a", Image("example.com/b"));
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(other.message(),
              HasSubstr("reference mismatch: payload names example.com/a, image is example.com/b"));
}

TEST(MatchIdentity, UnparsableSignedReferenceIsAMismatchNotAnError) {
  absl::Status status = MatchIdentity(IdentityRule{}, "Not A Reference!", Image("busybox"));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("not a valid image reference"));
}

TEST(MatchIdentity, ExactMatchNeedsEqualTagsOnBothSides) {
  IdentityRule rule = Rule(Kind::kMatchExact);
  EXPECT_TRUE(MatchIdentity(rule, "example.com/app:v1", Image("example.com/app:v1")).ok());
  EXPECT_THAT(MatchIdentity(rule, "example.com/app:v1", Image("example.com/app:v2")).message(),
              HasSubstr("reference mismatch"));
  EXPECT_THAT(MatchIdentity(rule, "example.com/app", Image("example.com/app")).message(),
              HasSubstr("signed reference has no tag"));
  EXPECT_THAT(MatchIdentity(rule, "example.com/app:v1", Image("example.com/app")).message(),
              HasSubstr("image reference has no tag"));
}

TEST(MatchIdentity, ExactReferenceIgnoresTheImage) {
  IdentityRule rule = Rule(Kind::kExactReference);
  rule.reference = "example.com/release/app:v1";
  ASSERT_TRUE(ValidateIdentityRule(rule).ok());
  EXPECT_TRUE(MatchIdentity(rule, "example.com/release/app:v1", Image("mirror.local/app:x")).ok());
  EXPECT_THAT(MatchIdentity(rule, "example.com/release/app", Image("example.com/release/app:v1")).message(),
              HasSubstr("requires exactly example.com/release/app:v1"));
}

TEST(MatchIdentity, RemapReplacesThePrefixBeforeComparingRepositories) {
  IdentityRule rule = Rule(Kind::kRemapIdentity);
  rule.prefix = "mirror.local/hub";
  rule.signed_prefix = "docker.io";
  ASSERT_TRUE(ValidateIdentityRule(rule).ok());
  EXPECT_TRUE(MatchIdentity(rule, "docker.io/library/busybox", Image("mirror.local/hub/library/busybox:1")).ok());
  EXPECT_THAT(MatchIdentity(rule, "docker.io/library/alpine", Image("mirror.local/hub/library/busybox")).message(),
              HasSubstr("remapped to docker.io/library/busybox"));
  // "mirror.local/hubx" is not under the prefix: compared as is.
  EXPECT_FALSE(MatchIdentity(rule, "docker.io/x/app", Image("mirror.local/hubx/app")).ok());
  EXPECT_TRUE(MatchIdentity(rule, "mirror.local/hubx/app", Image("mirror.local/hubx/app")).ok());
}

TEST(MatchIdentity, RegistryHostComparesWithoutCase) {
  IdentityRule rule;  // matchRepository
  EXPECT_TRUE(MatchIdentity(rule, "REGISTRY.Example:5000/team/app", Image("registry.example:5000/team/app:v1")).ok());
  EXPECT_TRUE(MatchIdentity(rule, "registry.example:5000/team/app", Image("Registry.EXAMPLE:5000/team/app")).ok());
  // The path is not a host name: a capital there is no valid reference, so no match.
  EXPECT_FALSE(MatchIdentity(rule, "registry.example:5000/Team/app", Image("registry.example:5000/team/app")).ok());
  IdentityRule exact = Rule(Kind::kMatchExact);
  EXPECT_TRUE(MatchIdentity(exact, "LOCALHOST:5000/app:v1", Image("localhost:5000/app:v1")).ok());
  EXPECT_FALSE(MatchIdentity(exact, "localhost:5000/app:V1", Image("localhost:5000/app:v1")).ok());  // tags keep case
  IdentityRule remap = Rule(Kind::kRemapIdentity);
  remap.prefix = "Mirror.LOCAL/hub";
  remap.signed_prefix = "DOCKER.IO";
  ASSERT_TRUE(ValidateIdentityRule(remap).ok());
  EXPECT_TRUE(MatchIdentity(remap, "docker.io/library/busybox", Image("mirror.local/hub/library/busybox:1")).ok());
}

TEST(ValidateIdentityRule, RefusesUnusableRules) {
  IdentityRule exact = Rule(Kind::kExactReference);
  exact.reference = "example.com/app";
  EXPECT_THAT(ValidateIdentityRule(exact).message(), HasSubstr("must carry a tag"));
  exact.reference = "not a reference";
  EXPECT_FALSE(ValidateIdentityRule(exact).ok());
  IdentityRule remap = Rule(Kind::kRemapIdentity);
  EXPECT_FALSE(ValidateIdentityRule(remap).ok());
  remap.prefix = "mirror.local/";
  remap.signed_prefix = "docker.io";
  EXPECT_THAT(ValidateIdentityRule(remap).message(), HasSubstr("must not end with '/'"));
  EXPECT_TRUE(ValidateIdentityRule(Rule(Kind::kMatchRepository)).ok());
}

}  // namespace
}  // namespace sigshim::verify
