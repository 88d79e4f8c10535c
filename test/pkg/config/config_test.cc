#include "pkg/config/config.h"

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_replace.h"
#include "pkg/base/file.h"

namespace sigshim::config {
namespace {

using ::testing::HasSubstr;

constexpr char kPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
    "-----END PUBLIC KEY-----\n";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigshim-config-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/release.pub", kPem).ok());
    // Trust-root files are only read here; pkg/trust parses them.
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/roots.pem", "roots").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/root.json", "{}").ok());
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  absl::StatusOr<std::shared_ptr<const Config>> Parse(const std::string& text) {
    return ParseConfig(text, dir_ + "/config.toml");
  }

  std::string dir_;
};

TEST_F(ConfigTest, EmptyFileGivesDocumentedDefaults) {
  auto cfg = Parse("");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ((*cfg)->server.listen, "/run/sigshim/cri.sock");
  EXPECT_EQ((*cfg)->server.runtime_endpoint, "/run/containerd/containerd.sock");
  EXPECT_EQ((*cfg)->server.state_dir, "/var/lib/sigshim");
  EXPECT_EQ((*cfg)->server.socket_mode, 0660);
  EXPECT_EQ((*cfg)->enforcement.mode, Mode::kEnforce);
  EXPECT_EQ((*cfg)->enforcement.unmatched, Unmatched::kDeny);
  EXPECT_EQ((*cfg)->log.level, log::Level::kInfo);
}

TEST_F(ConfigTest, ReadsTheContractExample) {
  auto cfg = Parse(R"(
[server]
listen = "/tmp/x/cri.sock"
runtime_endpoint = "/tmp/x/containerd.sock"
state_dir = "/tmp/x/state"
socket_mode = 0o600
shutdown_grace = "3s"

[log]
level = "debug"

[enforcement]
mode = "audit"
unmatched = "allow"

[registry]
insecure = ["127.0.0.1:5000", "Registry.LOCAL:5000"]
timeout = "5s"

[[keys]]
name = "release"
path = "release.pub"

[[keys]]
name = "inline"
data = """-----BEGIN PUBLIC KEY-----
abc
-----END PUBLIC KEY-----"""

[[policy]]
name = "prod"
images = ["registry.example.com/prod/**"]
require = ["release", "inline"]
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const Config& c = **cfg;
  EXPECT_EQ(c.server.listen, "/tmp/x/cri.sock");
  EXPECT_EQ(c.server.socket_mode, 0600);
  EXPECT_EQ(c.server.shutdown_grace, absl::Seconds(3));
  EXPECT_EQ(c.log.level, log::Level::kDebug);
  EXPECT_EQ(c.enforcement.mode, Mode::kAudit);
  EXPECT_EQ(c.enforcement.unmatched, Unmatched::kAllow);
  // Host names compare without case: lower-cased at load, as references' domains are.
  EXPECT_THAT(c.registry.insecure, ::testing::ElementsAre("127.0.0.1:5000", "registry.local:5000"));
  ASSERT_EQ(c.keys.size(), 2u);
  EXPECT_EQ(c.keys[0].pem, kPem);
  EXPECT_EQ(c.keys[0].source, dir_ + "/release.pub");
  EXPECT_EQ(c.keys[1].source, "inline");
  ASSERT_EQ(c.policies.size(), 1u);
  EXPECT_EQ(c.policies[0].name, "prod");
  EXPECT_THAT(c.policies[0].origin, HasSubstr("config.toml:30"));
}

TEST_F(ConfigTest, ReadsKeyValidityWindowsWithTheirOffsets) {
  auto cfg = Parse(R"([[keys]]
name = "a"
data = "x"
not_before = 2026-01-01T02:00:00+02:00
not_after = 2026-06-30T23:59:59.5Z
[[keys]]
name = "b"
data = "y"
not_after = 2026-01-01T00:00:00Z
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const Config& c = **cfg;
  ASSERT_EQ(c.keys.size(), 2u);
  EXPECT_EQ(c.keys[0].not_before, absl::FromUnixSeconds(1767225600));  // 2026-01-01T00:00:00Z
  EXPECT_EQ(c.keys[0].not_after, absl::FromUnixSeconds(1782863999) + absl::Milliseconds(500));
  EXPECT_EQ(c.keys[1].not_before, absl::InfinitePast());
  EXPECT_EQ(c.keys[1].not_after, absl::FromUnixSeconds(1767225600));
  // A window of one instant is allowed (both ends inclusive).
  EXPECT_TRUE(Parse("[[keys]]\nname = \"k\"\ndata = \"x\"\nnot_before = 2026-01-01T00:00:00Z\n"
                    "not_after = 2026-01-01T00:00:00Z\n")
                  .ok());
}

struct BadCase {
  const char* name;
  const char* text;
  const char* message;  // Expected in the error, after "config.toml:<line>".
};

class ConfigRejects : public ConfigTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(ConfigRejects, NamingFileLineAndProblem) {
  auto cfg = Parse(GetParam().text);
  ASSERT_FALSE(cfg.ok()) << GetParam().name;
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cfg.status().message()), HasSubstr("config.toml:"));
  EXPECT_THAT(std::string(cfg.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    BadConfigs, ConfigRejects,
    ::testing::Values(
        BadCase{"unknown top-level", "[sever]\nlisten = \"/a\"\n", "config.toml:1: unknown key \"sever\""},
        BadCase{"unknown server key", "[server]\nlisen = \"/a\"\n", "config.toml:2: unknown key \"lisen\""},
        BadCase{"wrong type", "[server]\n\nlisten = 5\n", "config.toml:3: server.listen must be a string"},
        BadCase{"relative path", "[server]\nlisten = \"cri.sock\"\n", "paths must be absolute"},
        BadCase{"same sockets", "[server]\nlisten = \"/a\"\nruntime_endpoint = \"/a\"\n", "same socket"},
        BadCase{"bad mode", "[enforcement]\nmode = \"enforcing\"\n", "config.toml:2: enforcement.mode"},
        BadCase{"bad unmatched", "[enforcement]\nunmatched = 1\n", "must be a string"},
        BadCase{"bad level", "[log]\nlevel = \"loud\"\n", "unknown log level"},
        BadCase{"bad duration", "[server]\nshutdown_grace = \"soon\"\n", "is not a duration"},
        BadCase{"zero workers", "[enforcement]\nworkers = 0\n", "config.toml:2: enforcement.workers must be"},
        BadCase{"bad sandbox image", "[enforcement]\nsandbox_image = \"Pause:3.9\"\n",
                "config.toml:2: enforcement.sandbox_image = \"Pause:3.9\" is not an image reference"},
        BadCase{"empty audit path", "[audit]\npath = \"\"\n", "config.toml:2: audit.path must not be empty"},
        BadCase{"metrics on all interfaces", "[metrics]\nlisten = \"0.0.0.0:9749\"\n",
                "config.toml:2: metrics.listen = \"0.0.0.0:9749\": the host must be a loopback address"},
        BadCase{"metrics on a public name", "[metrics]\nlisten = \"node.example.com:80\"\n", "loopback"},
        BadCase{"metrics without port", "[metrics]\nlisten = \"127.0.0.1\"\n", "with a port from 1 to 65535"},
        BadCase{"metrics port too big", "[metrics]\nlisten = \"[::1]:70000\"\n", "with a port from 1 to 65535"},
        BadCase{"syntax", "[server]\nlisten = \n", "config.toml:2: not valid TOML"},
        BadCase{"missing key file", "[[keys]]\nname = \"k\"\npath = \"nope.pub\"\n", "nope.pub"},
        BadCase{"key without name", "[[keys]]\npath = \"release.pub\"\n", "has no name"},
        BadCase{"key with both", "[[keys]]\nname = \"k\"\npath = \"release.pub\"\ndata = \"x\"\n",
                "exactly one of path or data"},
        BadCase{"duplicate key", "[[keys]]\nname = \"k\"\ndata = \"x\"\n[[keys]]\nname = \"k\"\ndata = \"y\"\n",
                "already used at"},
        BadCase{"unknown key field", "[[keys]]\nname = \"k\"\ndata = \"x\"\nkind = \"ecdsa\"\n", "unknown key \"kind\""},
        BadCase{"key window local datetime", "[[keys]]\nname = \"k\"\ndata = \"x\"\nnot_after = 2026-01-01T00:00:00\n",
                "config.toml:4: keys.not_after must be a date and time with a UTC offset"},
        BadCase{"key window date only", "[[keys]]\nname = \"k\"\ndata = \"x\"\nnot_before = 2026-01-01\n",
                "config.toml:4: keys.not_before must be a date and time with a UTC offset"},
        BadCase{"key window string", "[[keys]]\nname = \"k\"\ndata = \"x\"\nnot_before = \"2026-01-01T00:00:00Z\"\n",
                "config.toml:4: keys.not_before must be a TOML date and time with offset"},
        BadCase{"key window reversed",
                "[[keys]]\nname = \"k\"\ndata = \"x\"\nnot_before = 2026-01-02T00:00:00Z\nnot_after = 2026-01-01T00:00:00Z\n",
                "config.toml:5: key \"k\": not_after (2026-01-01T00:00:00+00:00) is before not_before"},
        BadCase{"policy unknown key", "[[policy]]\nname = \"p\"\nimages = [\"a/**\"]\nrequire = [\"nobody\"]\n",
                "requires \"nobody\", which no [[keys]] or [[identities]] entry defines"},
        BadCase{"policy no images", "[[keys]]\nname = \"k\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nrequire = [\"k\"]\n",
                "has no images"},
        BadCase{"policy empty require",
                "[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = []\n", "requires no key"},
        BadCase{"policy as table", "[policy]\nname = \"p\"\n", "array of tables"},
        BadCase{"platform_signatures not a boolean",
                "[[keys]]\nname = \"k\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"k\"]\n"
                "platform_signatures = \"yes\"\n",
                "config.toml:8: policy.platform_signatures must be a boolean (true or false), not a string"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string n = info.param.name;
      for (char& c : n) {
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return n;
    });

constexpr char kTrustRoots[] =
    "[[trust_roots]]\nname = \"sigstore\"\ntrusted_root = \"root.json\"\n"
    "[[trust_roots]]\nname = \"corp\"\nca_roots = \"roots.pem\"\n";

TEST_F(ConfigTest, ReadsIdentitiesWithClaimsAndPoliciesRequiringThem) {
  auto cfg = Parse(std::string(kTrustRoots) + R"(
[[keys]]
name = "release"
path = "release.pub"

[[identities]]
name = "ci-release"
trust_root = "sigstore"
issuer = "https://token.actions.githubusercontent.com"
subject_regex = 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*'
[identities.claims]
source_repository_uri = "https://github.com/acme/app"
runner_environment = "github-hosted"

[[identities]]
name = "corp-build"
trust_root = "corp"
subject = "build@corp.example"

[[policy]]
name = "prod"
images = ["registry.example.com/**"]
require = ["release", "ci-release", "corp-build"]
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const Config& c = **cfg;
  ASSERT_EQ(c.identities.size(), 2u);
  const IdentityConfig& ci = c.identities[0].name == "ci-release" ? c.identities[0] : c.identities[1];
  const IdentityConfig& corp = c.identities[0].name == "ci-release" ? c.identities[1] : c.identities[0];
  EXPECT_EQ(ci.trust_root, "sigstore");
  EXPECT_EQ(ci.issuer, "https://token.actions.githubusercontent.com");
  EXPECT_EQ(ci.issuer_regex, "");
  EXPECT_EQ(ci.subject, "");
  EXPECT_EQ(ci.subject_regex, "https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/v.*");
  EXPECT_THAT(ci.claims, ::testing::ElementsAre(
                             std::pair<std::string, std::string>("runner_environment", "github-hosted"),
                             std::pair<std::string, std::string>("source_repository_uri", "https://github.com/acme/app")));
  EXPECT_THAT(ci.origin, HasSubstr("config.toml:"));
  EXPECT_EQ(corp.trust_root, "corp");
  EXPECT_EQ(corp.subject, "build@corp.example");
  EXPECT_EQ(corp.issuer, "");
  EXPECT_TRUE(corp.claims.empty());
}

TEST_F(ConfigTest, RefusesIdentitiesItCannotUnderstand) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::string roots = kTrustRoots;
  const std::vector<Case> cases = {
      {"[[identities]]\ntrust_root = \"corp\"\nsubject = \"a@b\"\n", "config.toml:7: [[identities]] entry has no name"},
      {"[[identities]]\nname = \"i\"\nsubject = \"a@b\"\n", "identity \"i\" has no trust_root"},
      {"[[identities]]\nname = \"i\"\ntrust_root = \"nope\"\nsubject = \"a@b\"\n",
       "config.toml:7: identity \"i\" names trust_root \"nope\", which no [[trust_roots]] entry defines"},
      {"[[identities]]\nname = \"i\"\ntrust_root = \"corp\"\n", "needs exactly one of subject or subject_regex"},
      {"[[identities]]\nname = \"i\"\ntrust_root = \"corp\"\nsubject = \"a\"\nsubject_regex = \"b\"\n",
       "needs exactly one of subject or subject_regex"},
      {"[[identities]]\nname = \"i\"\ntrust_root = \"corp\"\nsubject = \"a\"\nissuer = \"x\"\nissuer_regex = \"y\"\n",
       "names both issuer and issuer_regex"},
      {"[[identities]]\nname = \"i\"\ntrust_root = \"sigstore\"\nsubject = \"a@b\"\n",
       "identity \"i\" needs issuer or issuer_regex: trust root \"sigstore\" is a sigstore trusted_root"},
      {"[[identities]]\nname = \"i\"\ntrust_root = \"corp\"\nsubject = \"a\"\nsubjects = \"b\"\n",
       "config.toml:11: unknown key \"subjects\" in [[identities]]"},
      {"[[identities]]\nname = \"i\"\ntrust_root = \"corp\"\nsubject = \"a\"\nclaims = \"x\"\n",
       "claims must be a table"},
      {"[[identities]]\nname = \"i\"\ntrust_root = \"corp\"\nsubject = \"a\"\n[identities.claims]\nrunner_environment = 1\n",
       "config.toml:12: identities.claims.runner_environment must be a string"},
      {"[[identities]]\nname = \"i\"\ntrust_root = \"corp\"\nsubject = \"a\"\n"
       "[[identities]]\nname = \"i\"\ntrust_root = \"corp\"\nsubject = \"b\"\n",
       "identity name \"i\" is already used at"},
      {"[[keys]]\nname = \"i\"\npath = \"release.pub\"\n[[identities]]\nname = \"i\"\ntrust_root = \"corp\"\nsubject = \"a\"\n",
       "identity name \"i\" is already used by the [[keys]] entry at"},
      {"[[keys]]\nname = \"k\"\npath = \"release.pub\"\ntransparency_log = \"nope\"\n",
       "config.toml:7: key \"k\" names transparency_log \"nope\", which no [[trust_roots]] entry defines"},
      {"[[keys]]\nname = \"k\"\npath = \"release.pub\"\ntransparency_log = 5\n",
       "config.toml:10: keys.transparency_log must be a string"},
  };
  for (const Case& c : cases) {
    auto cfg = Parse(roots + c.text);
    ASSERT_FALSE(cfg.ok()) << c.text;
    EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(cfg.status().message()), HasSubstr(c.message)) << c.text;
  }
}

// config/config.toml documents every key with its default: it must parse and give the defaults.
TEST(ShippedConfig, ExampleParsesToTheDocumentedDefaults) {
  auto shipped = LoadConfig("config/config.toml");
  ASSERT_TRUE(shipped.ok()) << shipped.status();
  auto defaults = ParseConfig("", "empty.toml");
  ASSERT_TRUE(defaults.ok());
  const Config& a = **shipped;
  const Config& b = **defaults;
  EXPECT_EQ(a.server.listen, b.server.listen);
  EXPECT_EQ(a.server.socket_mode, b.server.socket_mode);
  EXPECT_EQ(a.server.runtime_endpoint, b.server.runtime_endpoint);
  EXPECT_EQ(a.server.state_dir, b.server.state_dir);
  EXPECT_EQ(a.server.shutdown_grace, b.server.shutdown_grace);
  EXPECT_EQ(a.log.level, b.log.level);
  EXPECT_EQ(a.enforcement.mode, b.enforcement.mode);
  EXPECT_EQ(a.enforcement.unmatched, b.enforcement.unmatched);
  EXPECT_EQ(a.registry.insecure, b.registry.insecure);
  EXPECT_EQ(a.registry.timeout, b.registry.timeout);
  EXPECT_EQ(a.registry.ca_file, b.registry.ca_file);
  EXPECT_EQ(a.registry.config_path, b.registry.config_path);
  EXPECT_EQ(a.enforcement.workers, b.enforcement.workers);
  EXPECT_EQ(a.enforcement.sandbox_image, b.enforcement.sandbox_image);
  EXPECT_EQ(a.audit.path, b.audit.path);
  EXPECT_EQ(a.metrics.listen, b.metrics.listen);
  EXPECT_TRUE(a.keys.empty());
  EXPECT_TRUE(a.policies.empty());
}

TEST_F(ConfigTest, PlatformSignaturesIsOffUnlessAPolicySaysTrue) {
  auto cfg = Parse(R"([[keys]]
name = "release"
path = "release.pub"

[[policy]]
name = "strict"
images = ["registry.example.com/strict/**"]
require = ["release"]

[[policy]]
name = "multiarch"
images = ["registry.example.com/multiarch/**"]
require = ["release"]
platform_signatures = true

[[policy]]
name = "explicit"
images = ["registry.example.com/explicit/**"]
require = ["release"]
platform_signatures = false
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_EQ((*cfg)->policies.size(), 3u);
  EXPECT_FALSE((*cfg)->policies[0].platform_signatures);
  EXPECT_TRUE((*cfg)->policies[1].platform_signatures);
  EXPECT_FALSE((*cfg)->policies[2].platform_signatures);
}

TEST_F(ConfigTest, ReadsEnforcementAuditAndMetricsSettings) {
  auto cfg = Parse(R"([enforcement]
workers = 8
sandbox_image = "registry.k8s.io/pause:3.9"
[audit]
path = "audit.jsonl"
[metrics]
listen = "[::1]:9100"
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ((*cfg)->enforcement.workers, 8);
  EXPECT_EQ((*cfg)->enforcement.sandbox_image, "registry.k8s.io/pause:3.9");
  EXPECT_EQ((*cfg)->audit.path, dir_ + "/audit.jsonl");  // relative to the config file
  EXPECT_EQ((*cfg)->metrics.listen, "[::1]:9100");
  auto off = Parse("[metrics]\nlisten = \"\"\n[audit]\npath = \"-\"\n");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ((*off)->metrics.listen, "");
  EXPECT_EQ((*off)->audit.path, "-");
}

TEST_F(ConfigTest, LoadConfigReportsMissingFile) {
  auto cfg = LoadConfig(dir_ + "/absent.toml");
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(cfg.status().message()), HasSubstr("absent.toml"));
}

TEST_F(ConfigTest, RegistryConfigPathIsTakenRelativeToTheFileAndMustBeAString) {
  auto defaults = Parse("");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ((*defaults)->registry.config_path, "");
  auto cfg = Parse("[registry]\nconfig_path = \"/etc/containerd/certs.d:certs.d\"\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ((*cfg)->registry.config_path, "/etc/containerd/certs.d:" + dir_ + "/certs.d");
  auto wrong = Parse("[registry]\n\nconfig_path = [\"/etc/containerd/certs.d\"]\n");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr(dir_ + "/config.toml:3: registry.config_path must be a string"));
}

// The governance keys of issue 12: namespaces, threshold, enforce_from, exceptions, revocation.
constexpr char kTwoKeys[] =
    "[[keys]]\nname = \"a\"\ndata = \"x\"\n"   // lines 1-3
    "[[keys]]\nname = \"b\"\ndata = \"y\"\n";  // lines 4-6

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << error;
  return t;
}

TEST_F(ConfigTest, GovernanceKeysHaveTheirDocumentedDefaults) {
  auto cfg = Parse(std::string(kTwoKeys) + "[[policy]]\nname = \"p\"\nimages = [\"a/**\"]\nrequire = [\"a\", \"b\"]\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const Config& c = **cfg;
  EXPECT_EQ(c.enforcement.max_exception_days, 90);
  EXPECT_TRUE(c.policies[0].namespaces.empty());
  EXPECT_EQ(c.policies[0].threshold, 1);
  EXPECT_EQ(c.policies[0].enforce_from, absl::InfinitePast());
  EXPECT_TRUE(c.exceptions.empty());
  EXPECT_TRUE(c.revocation.keys.empty());
  EXPECT_TRUE(c.revocation.certificates.empty());
  EXPECT_TRUE(c.revocation.images.empty());
  EXPECT_TRUE(c.warnings.empty());
}

TEST_F(ConfigTest, ReadsNamespacesThresholdEnforceFromExceptionsAndRevocation) {
  const std::string hex(64, 'a');
  const std::string text = std::string(kTwoKeys) +
                           "[enforcement]\nmax_exception_days = 30\n"
                           "[[policy]]\nname = \"p\"\nimages = [\"a/**\"]\nrequire = [\"a\", \"b\"]\n"
                           "namespaces = [\"prod\", \"payments-*\"]\nthreshold = 2\n"
                           "enforce_from = 2027-03-01T01:00:00+01:00\n"
                           "[[exceptions]]\nname = \"vendor-x\"\nimages = [\"vendor.example.com/x/**\"]\n"
                           "namespaces = [\"vendor-x\"]\nreason = \"SEC-1234\"\nowner = \"sec@acme.example\"\n"
                           "expires = 2027-01-31T00:00:00Z\n"
                           "[revocation]\nkeys = [\"sha256:" + hex + "\"]\ncertificates = [\"SHA256:" +
                           std::string(64, 'B') + "\"]\nimages = [\"sha256:" + hex + "\"]\n";
  auto cfg = ParseConfig(text, dir_ + "/config.toml", At("2027-01-10T00:00:00Z"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const Config& c = **cfg;
  EXPECT_EQ(c.enforcement.max_exception_days, 30);
  EXPECT_EQ(c.policies[0].namespaces, (std::vector<std::string>{"prod", "payments-*"}));
  EXPECT_EQ(c.policies[0].threshold, 2);
  EXPECT_EQ(c.policies[0].enforce_from, At("2027-03-01T00:00:00Z"));
  ASSERT_EQ(c.exceptions.size(), 1u);
  EXPECT_EQ(c.exceptions[0].name, "vendor-x");
  EXPECT_EQ(c.exceptions[0].images, std::vector<std::string>{"vendor.example.com/x/**"});
  EXPECT_EQ(c.exceptions[0].namespaces, std::vector<std::string>{"vendor-x"});
  EXPECT_EQ(c.exceptions[0].reason, "SEC-1234");
  EXPECT_EQ(c.exceptions[0].owner, "sec@acme.example");
  EXPECT_EQ(c.exceptions[0].expires, At("2027-01-31T00:00:00Z"));
  EXPECT_THAT(c.exceptions[0].origin, HasSubstr("config.toml:16"));
  EXPECT_EQ(c.revocation.keys, std::vector<std::string>{"sha256:" + hex});
  // Upper-case hex is the same digest, lowered.
  EXPECT_EQ(c.revocation.certificates, std::vector<std::string>{"sha256:" + std::string(64, 'b')});
  EXPECT_EQ(c.revocation.images, std::vector<std::string>{"sha256:" + hex});
  EXPECT_TRUE(c.warnings.empty());
}

TEST_F(ConfigTest, AnExpiredExceptionLoadsWithAWarning) {
  const std::string text = "[[exceptions]]\nname = \"old\"\nimages = [\"a/**\"]\nreason = \"r\"\nowner = \"o\"\n"
                           "expires = 2027-01-01T00:00:00Z\n";
  auto cfg = ParseConfig(text, dir_ + "/config.toml", At("2027-01-01T00:00:00Z"));  // expires at this instant
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_EQ((*cfg)->warnings.size(), 1u);
  EXPECT_THAT((*cfg)->warnings[0], HasSubstr("config.toml:1: exception \"old\" (owner o) expired at 2027-01-01T00:00:00"));
  auto before = ParseConfig(text, dir_ + "/config.toml", At("2026-12-31T23:59:59Z"));
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_TRUE((*before)->warnings.empty());
}

TEST_F(ConfigTest, AnExceptionBeyondMaxExceptionDaysIsRefused) {
  const std::string text = "[enforcement]\nmax_exception_days = 10\n"
                           "[[exceptions]]\nname = \"long\"\nimages = [\"a/**\"]\nreason = \"r\"\nowner = \"o\"\n"
                           "expires = 2027-01-11T00:00:01Z\n";
  auto cfg = ParseConfig(text, dir_ + "/config.toml", At("2027-01-01T00:00:00Z"));
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cfg.status().message()),
              HasSubstr("config.toml:3: exception \"long\" expires at 2027-01-11T00:00:01+00:00, more than "
                        "[enforcement] max_exception_days = 10 days after now"));
  // Exactly at the limit is allowed.
  auto edge = ParseConfig(absl::StrReplaceAll(text, {{"00:00:01Z", "00:00:00Z"}}), dir_ + "/config.toml",
                          At("2027-01-01T00:00:00Z"));
  EXPECT_TRUE(edge.ok()) << edge.status();
  // The default limit is 90 days.
  auto defaults = ParseConfig(
      "[[exceptions]]\nname = \"e\"\nimages = [\"a\"]\nreason = \"r\"\nowner = \"o\"\nexpires = 2027-04-02T00:00:00Z\n",
      dir_ + "/config.toml", At("2027-01-01T00:00:00Z"));
  ASSERT_FALSE(defaults.ok());
  EXPECT_THAT(std::string(defaults.status().message()), HasSubstr("max_exception_days = 90"));
}

INSTANTIATE_TEST_SUITE_P(
    BadGovernance, ConfigRejects,
    ::testing::Values(
        BadCase{"threshold above require",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\n"
                "require = [\"a\", \"a\"]\nthreshold = 2\n",
                "config.toml:8: policy \"p\": threshold = 2, but it must be from 1 to the 1 distinct entries of require"},
        BadCase{"threshold zero",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "threshold = 0\n",
                "config.toml:8: policy \"p\": threshold = 0"},
        BadCase{"threshold string",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "threshold = \"2\"\n",
                "config.toml:8: policy.threshold must be an integer"},
        BadCase{"empty namespaces",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "namespaces = []\n",
                "config.toml:8: policy \"p\": namespaces is empty"},
        BadCase{"enforce_from local",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "enforce_from = 2027-01-01T00:00:00\n",
                "config.toml:8: policy.enforce_from must be a date and time with a UTC offset"},
        BadCase{"unknown policy key",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "namespace = [\"x\"]\n",
                "config.toml:8: unknown key \"namespace\" in [[policy]]"},
        BadCase{"attestation without predicate_type",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "[[policy.attestations]]\nname = \"provenance\"\nrequire = [\"a\"]\n",
                "config.toml:8: policy \"p\" attestation \"provenance\" has no predicate_type"},
        BadCase{"attestation match not a string",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"https://slsa.dev/provenance/v1\"\n"
                "require = [\"a\"]\n[policy.attestations.match]\n\"runDetails.builder.id\" = 3\n",
                "config.toml:13: policy.attestations.match.\"runDetails.builder.id\" must be a string, not an integer"},
        BadCase{"attestation match path with an empty segment",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"t\"\n"
                "require = [\"a\"]\n[policy.attestations.match]\n\"runDetails..id\" = \"x\"\n",
                "config.toml:13: policy \"p\" attestation \"provenance\": match path \"runDetails..id\" is not a dotted JSON path"},
        BadCase{"attestation unknown key",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"t\"\nrequire = [\"a\"]\nsigner = 1\n",
                "config.toml:12: unknown key \"signer\" in [[policy.attestations]]"},
        BadCase{"attestation without require",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"t\"\nrequire = []\n",
                "config.toml:11: policy \"p\" attestation \"provenance\" requires no signer"},
        BadCase{"duplicate attestation",
                "[[keys]]\nname = \"a\"\ndata = \"x\"\n[[policy]]\nname = \"p\"\nimages = [\"a\"]\nrequire = [\"a\"]\n"
                "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"t\"\nrequire = [\"a\"]\n"
                "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"u\"\nrequire = [\"a\"]\n",
                "config.toml:12: policy \"p\": attestation name \"provenance\" is already used at"},
        BadCase{"exception without reason",
                "[[exceptions]]\nname = \"e\"\nimages = [\"a\"]\nowner = \"o\"\nexpires = 2027-01-01T00:00:00Z\n",
                "config.toml:1: exception \"e\" has no reason"},
        BadCase{"exception without owner",
                "[[exceptions]]\nname = \"e\"\nimages = [\"a\"]\nreason = \"r\"\nexpires = 2027-01-01T00:00:00Z\n",
                "exception \"e\" has no owner"},
        BadCase{"exception without expiry",
                "[[exceptions]]\nname = \"e\"\nimages = [\"a\"]\nreason = \"r\"\nowner = \"o\"\n",
                "exception \"e\" has no expires"},
        BadCase{"exception with empty reason",
                "[[exceptions]]\nname = \"e\"\nimages = [\"a\"]\nreason = \"\"\nowner = \"o\"\n"
                "expires = 2027-01-01T00:00:00Z\n",
                "config.toml:4: exceptions.reason must not be empty"},
        BadCase{"exception expiry as string",
                "[[exceptions]]\nname = \"e\"\nimages = [\"a\"]\nreason = \"r\"\nowner = \"o\"\nexpires = \"soon\"\n",
                "config.toml:6: exceptions.expires must be a TOML date and time"},
        BadCase{"exception unknown key",
                "[[exceptions]]\nname = \"e\"\nimages = [\"a\"]\nreason = \"r\"\nowner = \"o\"\n"
                "expires = 2027-01-01T00:00:00Z\nticket = \"x\"\n",
                "config.toml:7: unknown key \"ticket\" in [[exceptions]]"},
        BadCase{"duplicate exception",
                "[[exceptions]]\nname = \"e\"\nimages = [\"a\"]\nreason = \"r\"\nowner = \"o\"\nexpires = 2027-01-01T00:00:00Z\n"
                "[[exceptions]]\nname = \"e\"\nimages = [\"b\"]\nreason = \"r\"\nowner = \"o\"\nexpires = 2027-01-01T00:00:00Z\n",
                "config.toml:7: exception name \"e\" is already used at"},
        BadCase{"revoked key not a digest", "[revocation]\nkeys = [\"sha256:abc\"]\n",
                "config.toml:2: revocation.keys: \"sha256:abc\" is not a key fingerprint"},
        BadCase{"revoked image without algorithm", "[revocation]\n\nimages = [\"0123\"]\n",
                "config.toml:3: revocation.images: \"0123\" is not a manifest digest"},
        BadCase{"revoked certificate with non-hex",
                "[revocation]\ncertificates = [\"sha256:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"]\n",
                "config.toml:2: revocation.certificates"},
        BadCase{"unknown revocation key", "[revocation]\ndigests = []\n", "unknown key \"digests\" in [revocation]"},
        BadCase{"max_exception_days negative", "[enforcement]\nmax_exception_days = -1\n",
                "config.toml:2: enforcement.max_exception_days must be an integer from 0 to 3650"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string n = info.param.name;
      for (char& c : n) {
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return n;
    });

}  // namespace
}  // namespace sigshim::config
