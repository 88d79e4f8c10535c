#include "pkg/metrics/policy_digest.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/config/config.h"

namespace sigshim::metrics {
namespace {

constexpr char kHead[] = R"(
[enforcement]
mode = "enforce"
unmatched = "deny"
sandbox_image = "registry.k8s.io/pause:3.9"
)";

constexpr char kReleaseKey[] = R"(
[[keys]]
name = "release"
data = """-----BEGIN PUBLIC KEY-----
AAAA
-----END PUBLIC KEY-----"""
)";

constexpr char kStagingKey[] = R"(
[[keys]]
name = "staging"
data = """-----BEGIN PUBLIC KEY-----
BBBB
-----END PUBLIC KEY-----"""
)";

constexpr char kSpareKey[] = R"(
[[keys]]
name = "spare"
data = """-----BEGIN PUBLIC KEY-----
CCCC
-----END PUBLIC KEY-----"""
)";

constexpr char kPolicies[] = R"(
[[policy]]
name = "prod"
images = ["registry.example.com/prod/**", "registry.example.com/base/*"]
require = ["release"]

[[policy]]
name = "staging"
images = ["registry.example.com/staging/**"]
require = ["staging", "release"]
)";

const std::string kBase = absl::StrCat(kHead, kReleaseKey, kStagingKey, kSpareKey, kPolicies);

std::string DigestOf(const std::string& text) {
  auto config = config::ParseConfig(text, "/etc/sigshim/config.toml");
  EXPECT_TRUE(config.ok()) << config.status() << "\n" << text;
  if (!config.ok()) return "";
  return PolicyDigest(**config);
}

// Returns kBase with `from` replaced by `to`, which must occur.
std::string Edited(absl::string_view from, absl::string_view to) {
  std::string text = kBase;
  EXPECT_TRUE(absl::StrContains(text, from)) << from;
  return absl::StrReplaceAll(text, {{from, to}});
}

TEST(PolicyDigest, IsAValidSha256DigestAndStable) {
  std::string digest = DigestOf(kBase);
  EXPECT_TRUE(ValidateDigest(digest).ok()) << digest;
  EXPECT_EQ(DigestOf(kBase), digest);
  // Pinned: a change of the serialisation changes the digest every node exports, which shows as
  // drift while a fleet upgrades. Change it only on purpose (and bump "sigshim-policy-v1").
  EXPECT_EQ(digest, "sha256:9ea27833297ba94b1220454b62907bd5546e8a660b0212d85fd349555acdc345");
}

TEST(PolicyDigest, IgnoresCommentsLayoutAndSettingsThatDoNotDecideAdmission) {
  std::string base = DigestOf(kBase);
  std::string reformatted = absl::StrReplaceAll(
      kBase, {{"[enforcement]\n", "# the fleet policy\n[enforcement]   # comment\n\n"},
              {"mode = \"enforce\"", "mode=\"enforce\"   # enforce it"},
              {"images = [\"registry.example.com/prod/**\", \"registry.example.com/base/*\"]",
               "images = [\n  \"registry.example.com/prod/**\",\n  \"registry.example.com/base/*\",\n]"}});
  EXPECT_EQ(DigestOf(reformatted), base);
  std::string other_settings = std::string(kBase) +
                               "\n[server]\nstate_dir = \"/tmp/elsewhere\"\n[metrics]\nlisten = \"\"\n"
                               "[registry]\ninsecure = [\"127.0.0.1:5000\"]\n[log]\nlevel = \"debug\"\n";
  EXPECT_EQ(DigestOf(other_settings), base);
  EXPECT_EQ(DigestOf(Edited("AAAA\n-----END PUBLIC KEY-----\"\"\"", "AAAA\n-----END PUBLIC KEY-----\n\"\"\"")), base);
}

TEST(PolicyDigest, IgnoresTheOrderOfKeys) {
  EXPECT_EQ(DigestOf(absl::StrCat(kHead, kSpareKey, kStagingKey, kReleaseKey, kPolicies)), DigestOf(kBase));
}

struct Change {
  const char* name;
  const char* from;
  const char* to;
};

class PolicyDigestChanges : public ::testing::TestWithParam<Change> {};

TEST_P(PolicyDigestChanges, WhenAnythingThatDecidesAdmissionChanges) {
  EXPECT_NE(DigestOf(Edited(GetParam().from, GetParam().to)), DigestOf(kBase));
}

INSTANTIATE_TEST_SUITE_P(
    EachField, PolicyDigestChanges,
    ::testing::Values(
        Change{"Mode", "mode = \"enforce\"", "mode = \"audit\""},
        Change{"Unmatched", "unmatched = \"deny\"", "unmatched = \"allow\""},
        Change{"SandboxImage", "pause:3.9", "pause:3.10"},
        Change{"UnusedKeyName", "name = \"spare\"", "name = \"spare2\""},
        Change{"KeyAdded", "[[policy]]\nname = \"prod\"",
               "[[keys]]\nname = \"extra\"\ndata = \"x\"\n[[policy]]\nname = \"prod\""},
        Change{"KeyPem", "AAAA", "AAAB"},
        Change{"KeyNotAfterAdded", "name = \"spare\"", "name = \"spare\"\nnot_after = 2027-01-01T00:00:00Z"},
        Change{"KeyNotBeforeAdded", "name = \"spare\"", "name = \"spare\"\nnot_before = 2026-01-01T00:00:00Z"},
        Change{"PolicyName", "name = \"prod\"", "name = \"production\""},
        Change{"PolicyImage", "prod/**", "prod/*"},
        Change{"PolicyImageOrder", "\"registry.example.com/prod/**\", \"registry.example.com/base/*\"",
               "\"registry.example.com/base/*\", \"registry.example.com/prod/**\""},
        Change{"PolicyRequire", "require = [\"release\"]", "require = [\"staging\"]"},
        Change{"PolicyRequireAdded", "require = [\"release\"]", "require = [\"release\", \"staging\"]"},
        Change{"ImagesAndRequireBoundary", "require = [\"staging\", \"release\"]", "require = [\"staging\"]"}),
    [](const ::testing::TestParamInfo<Change>& info) { return std::string(info.param.name); });

TEST(PolicyDigest, ChangesWhenPoliciesAreReordered) {
  std::string a = DigestOf(kBase);
  auto config = config::ParseConfig(kBase, "/etc/sigshim/config.toml");
  ASSERT_TRUE(config.ok()) << config.status();
  config::Config reordered = **config;
  std::swap(reordered.policies[0], reordered.policies[1]);
  EXPECT_NE(PolicyDigest(reordered), a);
}

TEST(PolicyDigest, ChangesWithEveryGovernanceSetting) {
  const std::string base = DigestOf(kBase);
  const std::string policy = "require = [\"staging\", \"release\"]\n";
  const std::string hex(64, 'a');
  for (const std::string& edited :
       {Edited(policy, policy + "namespaces = [\"staging\"]\n"), Edited(policy, policy + "threshold = 2\n"),
        Edited(policy, policy + "enforce_from = 2027-01-01T00:00:00Z\n"),
        kBase + "[[exceptions]]\nname = \"e\"\nimages = [\"registry.example.com/x/**\"]\nreason = \"r\"\n"
                "owner = \"o\"\nexpires = 2000-01-01T00:00:00Z\n",
        kBase + "[revocation]\nkeys = [\"sha256:" + hex + "\"]\n", kBase + "[revocation]\ncertificates = [\"sha256:" + hex + "\"]\n",
        kBase + "[revocation]\nimages = [\"sha256:" + hex + "\"]\n"}) {
    EXPECT_NE(DigestOf(edited), base) << edited;
  }
  // Revoking a key and revoking an image with the same digest are different policies.
  EXPECT_NE(DigestOf(kBase + "[revocation]\nkeys = [\"sha256:" + hex + "\"]\n"),
            DigestOf(kBase + "[revocation]\nimages = [\"sha256:" + hex + "\"]\n"));
}

}  // namespace
}  // namespace sigshim::metrics
