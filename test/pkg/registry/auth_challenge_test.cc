#include "pkg/registry/auth_challenge.h"

#include "gtest/gtest.h"

namespace sigshim::registry {
namespace {

TEST(AuthChallenge, ParsesBearerWithQuotedCommas) {
  absl::StatusOr<std::vector<AuthChallenge>> parsed = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",)"
      R"(scope="repository:a/b:pull,push")");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].scheme, "bearer");
  EXPECT_EQ((*parsed)[0].params.at("realm"), "https://auth.example.com/token");
  EXPECT_EQ((*parsed)[0].params.at("service"), "registry.example.com");
  EXPECT_EQ((*parsed)[0].params.at("scope"), "repository:a/b:pull,push");
}

TEST(AuthChallenge, ParsesSeveralChallengesAndAnyCase) {
  absl::StatusOr<std::vector<AuthChallenge>> parsed =
      ParseWwwAuthenticate(R"(BASIC Realm="r1", Bearer realm=tokenrealm , service = "s")");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].scheme, "basic");
  EXPECT_EQ((*parsed)[0].params.at("realm"), "r1");
  EXPECT_EQ((*parsed)[1].scheme, "bearer");
  EXPECT_EQ((*parsed)[1].params.at("realm"), "tokenrealm");
  EXPECT_EQ((*parsed)[1].params.at("service"), "s");
}

TEST(AuthChallenge, UnescapesQuotedPairs) {
  absl::StatusOr<std::vector<AuthChallenge>> parsed = ParseWwwAuthenticate(R"(Basic realm="a \"quoted\" \\ realm")");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].params.at("realm"), R"(a "quoted" \ realm)");
}

TEST(AuthChallenge, SkipsToken68AndBareSchemes) {
  absl::StatusOr<std::vector<AuthChallenge>> parsed = ParseWwwAuthenticate("Negotiate abc==, Basic");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[1].scheme, "basic");
}

TEST(AuthChallenge, RejectsMalformedValues) {
  EXPECT_EQ(ParseWwwAuthenticate(R"(Bearer realm="unterminated)").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseWwwAuthenticate("Bearer realm=").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseWwwAuthenticate("\"quoted\"").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseWwwAuthenticate(std::string(10000, 'a')).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sigshim::registry
