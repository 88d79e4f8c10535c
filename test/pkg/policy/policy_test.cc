#include "pkg/policy/policy.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/verify/public_key.h"
#include "test/pkg/policy/test_config.h"

namespace sigshim::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// An ECDSA P-224 key: parses as PEM, but not a supported type.
constexpr char kP224Pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "ME4wEAYHKoZIzj0CAQYFK4EEACEDOgAEpkE6FzeY79lfPtAF54BSAbndVANXUOf9\n"
    "+5F8AubenWMhCvzcBqJkqzjjdLy7u0mKMgo7fsOR+vk=\n"
    "-----END PUBLIC KEY-----\n";

reference::Reference Ref(const std::string& text) {
  auto ref = reference::Parse(text);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return *ref;
}

class PolicyTest : public ::testing::Test {
 protected:
  PolicyTest() : release_(MakeTestKey()), other_(MakeTestKey(test_signer::KeyType::kEd25519)) {}

  std::string Keys() const { return KeyTable("release", release_.pair.public_pem) + KeyTable("other", other_.pair.public_pem); }

  std::unique_ptr<Policy> MustCompile(const std::string& policies) {
    auto policy = Policy::Create(*MustParse(Keys() + policies));
    EXPECT_TRUE(policy.ok()) << policy.status();
    return policy.ok() ? *std::move(policy) : nullptr;
  }

  std::string CompileError(const std::string& text) {
    auto policy = Policy::Create(*MustParse(text));
    EXPECT_FALSE(policy.ok());
    return policy.ok() ? "" : std::string(policy.status().message());
  }

  // Returns the name of the policy deciding `image`, or "(none)".
  static std::string Decides(const Policy& policy, const std::string& image) {
    std::optional<Match> match = policy.Find(Ref(image), "");
    return match.has_value() ? match->rule->name : "(none)";
  }

  TestKey release_;
  TestKey other_;
};

TEST_F(PolicyTest, CompilesKeysRulesAndIdentities) {
  auto policy = MustCompile(PolicyTable("team", "\"registry.test/team/**\"", "\"release\", \"other\""));
  ASSERT_NE(policy, nullptr);
  ASSERT_EQ(policy->keys().size(), 2u);
  EXPECT_EQ(policy->keys()[0].name, "release");
  EXPECT_EQ(policy->keys()[0].source, "inline");
  EXPECT_EQ(policy->keys()[0].origin, absl::StrCat(kConfigPath, ":1"));
  ASSERT_EQ(policy->rules().size(), 1u);
  const Rule& rule = policy->rules()[0];
  EXPECT_EQ(rule.name, "team");
  EXPECT_THAT(rule.require, ElementsAre("release", "other"));
  ASSERT_EQ(rule.keys.size(), 2u);
  EXPECT_EQ(rule.keys[0].name, "release");
  EXPECT_EQ(rule.keys[0].key->Fingerprint(), policy->keys()[0].key->Fingerprint());
  EXPECT_EQ(rule.keys[1].name, "other");
  EXPECT_EQ(rule.keys[1].key->Fingerprint(), policy->keys()[1].key->Fingerprint());
  EXPECT_EQ(rule.keys[0].window.start, absl::InfinitePast());
  EXPECT_EQ(rule.keys[0].window.end, absl::InfiniteFuture());
  EXPECT_EQ(policy->mode(), config::Mode::kEnforce);
  EXPECT_EQ(policy->unmatched(), config::Unmatched::kDeny);
}

TEST_F(PolicyTest, UnsupportedKeyTypeNamesItsOriginAndReason) {
  std::string error = CompileError(KeyTable("release", release_.pair.public_pem) + KeyTable("legacy", kP224Pem) +
                                   PolicyTable("p", "\"registry.test/**\"", "\"legacy\""));
  EXPECT_THAT(error, StartsWith(absl::StrCat(kConfigPath, ":10: [[keys]] \"legacy\"")));
  EXPECT_THAT(error, HasSubstr("secp224r1"));
  EXPECT_THAT(CompileError(KeyTable("junk", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")),
              StartsWith(absl::StrCat(kConfigPath, ":1: [[keys]] \"junk\"")));
}

TEST_F(PolicyTest, InvalidGlobNamesThePolicyOriginAndReason) {
  std::string error = CompileError(KeyTable("release", release_.pair.public_pem) +
                                   PolicyTable("ok", "\"registry.test/**\"", "\"release\"") +
                                   PolicyTable("bad", "\"registry.test/a\", \"registry.test/***\"", "\"release\""));
  EXPECT_THAT(error, StartsWith(absl::StrCat(kConfigPath, ":15: [[policy]] \"bad\": images[1]: ")));
  EXPECT_THAT(error, HasSubstr("\"***\""));
}

TEST_F(PolicyTest, SameKeyUnderTwoNamesIsAnError) {
  std::string error = CompileError(KeyTable("a", release_.pair.public_pem) + KeyTable("b", release_.pair.public_pem));
  EXPECT_THAT(error, StartsWith(absl::StrCat(kConfigPath, ":10: [[keys]] \"b\" is the same key as \"a\"")));
}

TEST_F(PolicyTest, LongestLiteralPrefixWinsWhateverTheFileOrder) {
  auto policy = MustCompile(PolicyTable("all", "\"registry.test/**\"", "\"other\"") +
                            PolicyTable("team", "\"registry.test/team/**\"", "\"release\"") +
                            PolicyTable("app", "\"registry.test/team/app\"", "\"release\""));
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(Decides(*policy, "registry.test/team/app:v1"), "app");
  EXPECT_EQ(Decides(*policy, "registry.test/team/api:v1"), "team");
  EXPECT_EQ(Decides(*policy, "registry.test/ops/tool"), "all");
  EXPECT_EQ(Decides(*policy, "other.test/team/app"), "(none)");
  EXPECT_EQ(Decides(*policy, "busybox"), "(none)");
}

TEST_F(PolicyTest, FewestWildcardsBreakAPrefixTie) {
  auto policy = MustCompile(PolicyTable("two", "\"registry.test/team/a*-?\"", "\"other\"") +
                            PolicyTable("one", "\"registry.test/team/a*\"", "\"release\""));
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(Decides(*policy, "registry.test/team/app-1"), "one");
  EXPECT_EQ(Decides(*policy, "registry.test/team/app"), "one");
}

TEST_F(PolicyTest, FileOrderBreaksAFullTie) {
  auto first = MustCompile(PolicyTable("x", "\"registry.test/team/?pp\"", "\"other\"") +
                           PolicyTable("y", "\"registry.test/team/*\"", "\"release\""));
  ASSERT_NE(first, nullptr);
  // Both have 19 literal characters before a wildcard and one wildcard: the first policy wins.
  EXPECT_EQ(Decides(*first, "registry.test/team/app"), "x");
  auto second = MustCompile(PolicyTable("y", "\"registry.test/team/*\"", "\"release\"") +
                            PolicyTable("x", "\"registry.test/team/?pp\"", "\"other\""));
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(Decides(*second, "registry.test/team/app"), "y");
}

TEST_F(PolicyTest, ExactPatternBeatsAnEquallyLongGlob) {
  auto policy = MustCompile(PolicyTable("glob", "\"registry.test/app:v1*\"", "\"other\"") +
                            PolicyTable("exact", "\"registry.test/app:v1\"", "\"release\""));
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(Decides(*policy, "registry.test/app:v1"), "exact");
  EXPECT_EQ(Decides(*policy, "registry.test/app:v10"), "glob");
  EXPECT_EQ(Decides(*policy, "registry.test/app:v2"), "(none)");
}

TEST_F(PolicyTest, GlobsSeeTheNormalisedForms) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  auto policy = MustCompile(PolicyTable("busybox", "\"docker.io/library/busybox\"", "\"release\"") +
                            PolicyTable("latest", "\"docker.io/library/alpine:latest\"", "\"release\"") +
                            PolicyTable("pinned", absl::StrCat("\"registry.test/app@", digest, "\""), "\"release\""));
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(Decides(*policy, "busybox"), "busybox");
  EXPECT_EQ(Decides(*policy, "index.docker.io/library/busybox:1.36"), "busybox");
  EXPECT_EQ(Decides(*policy, "alpine"), "latest");  // no tag: matched as ":latest"
  EXPECT_EQ(Decides(*policy, "alpine:3"), "(none)");
  EXPECT_EQ(Decides(*policy, absl::StrCat("registry.test/app:v1@", digest)), "pinned");
  EXPECT_EQ(Decides(*policy, "registry.test/app:v1"), "(none)");
}

TEST_F(PolicyTest, HostNamesMatchWithoutCaseInGlobsAndImages) {
  auto policy = MustCompile(PolicyTable("lower", "\"registry.test/team/**\"", "\"release\"") +
                            PolicyTable("upper", "\"OTHER.Test:5000/**\"", "\"release\""));
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(Decides(*policy, "registry.test/team/app"), "lower");
  EXPECT_EQ(Decides(*policy, "REGISTRY.TEST/team/app"), "lower");
  EXPECT_EQ(Decides(*policy, "Registry.Test/team/app:V1"), "lower");
  EXPECT_EQ(Decides(*policy, "other.test:5000/x"), "upper");
  EXPECT_EQ(Decides(*policy, "OTHER.TEST:5000/x"), "upper");
}

TEST_F(PolicyTest, DescribeListsKeysWithFingerprintsInPrecedenceOrder) {
  auto policy = MustCompile(PolicyTable("all", "\"registry.test/**\"", "\"other\"") +
                            PolicyTable("app", "\"registry.test/team/app\"", "\"release\""));
  ASSERT_NE(policy, nullptr);
  const std::string text = policy->Describe(absl::FromUnixSeconds(0));
  const std::string& release = policy->keys()[0].key->Fingerprint();
  const std::string& other = policy->keys()[1].key->Fingerprint();
  EXPECT_THAT(text, HasSubstr(absl::StrCat("release  ecdsa-p256-sha256  ", release)));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("other  ed25519  ", other)));
  const size_t app = text.find("1. registry.test/team/app  →  policy \"app\"");
  const size_t all = text.find("2. registry.test/**  →  policy \"all\"");
  ASSERT_NE(app, std::string::npos) << text;
  ASSERT_NE(all, std::string::npos) << text;
  EXPECT_LT(app, all);
  EXPECT_THAT(text.substr(app, all - app), HasSubstr(absl::StrCat("requires release  ecdsa-p256-sha256  ", release)));
  EXPECT_THAT(text, HasSubstr("anything else  →  deny"));
}

TEST_F(PolicyTest, EmptyConfigMatchesNothing) {
  auto policy = Policy::Create(config::Config{});
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_FALSE((*policy)->Find(Ref("busybox"), "").has_value());
  EXPECT_THAT((*policy)->Describe(absl::FromUnixSeconds(0)), HasSubstr("(none: every image is unmatched)"));
}

}  // namespace
}  // namespace sigshim::policy
