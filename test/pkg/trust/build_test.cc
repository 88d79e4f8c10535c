// [[trust_roots]] from the TOML text to the TrustRoot objects: pkg/config's checks and BuildTrustRoots.
#include "pkg/trust/build.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "pkg/config/config.h"
#include "test/pkg/trust/test_files.h"

namespace sigshim::trust {
namespace {

using ::sigshim::trust::testing::kCosignTrust;
using ::sigshim::trust::testing::kPki;
using ::sigshim::trust::testing::kTrustedRoots;
using ::sigshim::trust::testing::Read;
using ::testing::HasSubstr;
using ::testing::SizeIs;

class TrustRootsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigshim-trust-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // The files sit beside the config, named relative to it.
    Copy(std::string(kTrustedRoots) + "public-good.json", "public-good.json");
    Copy(std::string(kTrustedRoots) + "public-key-validity.json", "tsa-only.json");
    Copy(std::string(kCosignTrust) + "pki_root_crts.pem", "roots.pem");
    Copy(std::string(kCosignTrust) + "pki_intermediate_crts.pem", "intermediates.pem");
    Copy(std::string(kCosignTrust) + "rekor.pub", "rekor.pub");
    Copy(std::string(kPki) + "tsa-chain.pem", "tsa.pem");
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  void Copy(const std::string& from, const std::string& to) {
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/" + to, Read(from)).ok());
  }

  absl::StatusOr<std::shared_ptr<const config::Config>> Parse(const std::string& text) {
    return config::ParseConfig(text, dir_ + "/config.toml");
  }

  // Parses `text` and builds its trust roots.
  absl::StatusOr<std::vector<std::shared_ptr<const TrustRoot>>> Build(const std::string& text) {
    absl::StatusOr<std::shared_ptr<const config::Config>> cfg = Parse(text);
    if (!cfg.ok()) return cfg.status();
    return BuildTrustRoots(**cfg);
  }

  std::string dir_;
};

TEST_F(TrustRootsConfigTest, BuildsBothKindsWithTheirDefaults) {
  auto roots = Build(R"(
[[trust_roots]]
name = "sigstore"
trusted_root = "public-good.json"

[[trust_roots]]
name = "corp-pki"
ca_roots = "roots.pem"
ca_intermediates = "intermediates.pem"
timestamp_authorities = "tsa.pem"

[[trust_roots]]
name = "corp-pki-logged"
ca_roots = "roots.pem"
rekor_keys = "rekor.pub"

[[trust_roots]]
name = "tsa-only"
trusted_root = "tsa-only.json"
)");
  ASSERT_TRUE(roots.ok()) << roots.status();
  ASSERT_THAT(*roots, SizeIs(4));
  const TrustRoot& sigstore = *(*roots)[0];
  EXPECT_EQ(sigstore.name, "sigstore");
  EXPECT_EQ(sigstore.origin, dir_ + "/config.toml:2");
  EXPECT_THAT(sigstore.source, ::testing::ElementsAre(dir_ + "/public-good.json"));
  EXPECT_TRUE(sigstore.require_transparency_log);  // it lists a Rekor log
  EXPECT_THAT(sigstore.certificate_authorities, SizeIs(2));
  const TrustRoot& pki = *(*roots)[1];
  EXPECT_EQ(pki.kind, TrustRootKind::kPrivatePki);
  EXPECT_EQ(pki.origin, dir_ + "/config.toml:6");
  EXPECT_FALSE(pki.require_transparency_log);  // no logs
  EXPECT_THAT(pki.timestamp_authorities, SizeIs(1));
  EXPECT_TRUE((*roots)[2]->require_transparency_log);  // rekor_keys are logs
  EXPECT_FALSE((*roots)[3]->require_transparency_log);
}

TEST_F(TrustRootsConfigTest, RequireTransparencyLogCanBeTurnedOffButNotOnWithoutLogs) {
  auto off = Build(R"(
[[trust_roots]]
name = "sigstore"
trusted_root = "public-good.json"
require_transparency_log = false
)");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE((*off)[0]->require_transparency_log);

  auto on_without_logs = Build(R"(
[[trust_roots]]
name = "tsa-only"
trusted_root = "tsa-only.json"
require_transparency_log = true
)");
  ASSERT_FALSE(on_without_logs.ok());
  EXPECT_EQ(on_without_logs.status().message(),
            dir_ + "/config.toml:2: trust root \"tsa-only\": require_transparency_log = true, but the trust root "
                   "lists no transparency log");

  auto pki_on_without_logs = Build(R"(
[[trust_roots]]
name = "corp"
ca_roots = "roots.pem"
require_transparency_log = true
)");
  ASSERT_FALSE(pki_on_without_logs.ok());
  EXPECT_THAT(pki_on_without_logs.status().message(),
              HasSubstr("config.toml:5: trust root \"corp\": require_transparency_log = true, but it lists no "
                        "transparency log (rekor_keys)"));
}

TEST_F(TrustRootsConfigTest, NamesTheEntryWhenItsFileDoesNotParse) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/broken.json",
                              R"({"mediaType": "application/vnd.dev.sigstore.trustedroot.v0.1+json",
                                  "tlogs": [{"baseUrl": "x"}]})")
                  .ok());
  auto roots = Build(R"(
[server]

[[trust_roots]]
name = "broken"
trusted_root = "broken.json"
)");
  ASSERT_FALSE(roots.ok());
  EXPECT_EQ(roots.status().message(), dir_ + "/config.toml:4: trust root \"broken\": " + dir_ +
                                          "/broken.json: tlogs[0].hashAlgorithm: missing (required)");

  auto pki = Build(R"(
[[trust_roots]]
name = "corp"
ca_roots = "rekor.pub"
)");
  ASSERT_FALSE(pki.ok());
  EXPECT_THAT(pki.status().message(),
              HasSubstr("config.toml:2: trust root \"corp\": " + dir_ +
                        "/rekor.pub: block 1 (line 1): a PUBLIC KEY block where CERTIFICATE blocks are expected"));
}

TEST_F(TrustRootsConfigTest, RefusesEntriesThatAreNeitherOrBoth) {
  auto both = Parse(R"(
[[trust_roots]]
name = "x"
trusted_root = "public-good.json"
ca_roots = "roots.pem"
)");
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(both.status().message(),
              HasSubstr("config.toml:2: trust root \"x\" names both trusted_root and ca_roots"));
  auto neither = Parse(R"(
[[trust_roots]]
name = "x"
ca_intermediates = "intermediates.pem"
)");
  ASSERT_FALSE(neither.ok());
  EXPECT_THAT(neither.status().message(), HasSubstr("config.toml:2: trust root \"x\" needs trusted_root"));
  auto mixed = Parse(R"(
[[trust_roots]]
name = "x"
trusted_root = "public-good.json"
rekor_keys = "rekor.pub"
)");
  ASSERT_FALSE(mixed.ok());
  EXPECT_THAT(mixed.status().message(),
              HasSubstr("config.toml:5: trust root \"x\": rekor_keys belongs to a private PKI (ca_roots)"));
}

TEST_F(TrustRootsConfigTest, RefusesMissingFilesUnknownKeysWrongTypesAndDuplicates) {
  auto missing = Parse(R"(
[[trust_roots]]
name = "x"
ca_roots = "roots.pem"
timestamp_authorities = "nowhere/tsa.pem"
)");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("config.toml:5: trust root \"x\": timestamp_authorities: "));
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/nowhere/tsa.pem"));

  auto unknown = Parse(R"(
[[trust_roots]]
name = "x"
trusted_root = "public-good.json"
ctlogs = "ct.pem"
)");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("config.toml:5: unknown key \"ctlogs\" in [[trust_roots]]"));

  auto wrong_type = Parse(R"(
[[trust_roots]]
name = "x"
trusted_root = "public-good.json"
require_transparency_log = "yes"
)");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_THAT(wrong_type.status().message(),
              HasSubstr("config.toml:5: trust_roots.require_transparency_log must be a boolean, not a string"));

  auto path_type = Parse(R"(
[[trust_roots]]
name = "x"
trusted_root = ["public-good.json"]
)");
  ASSERT_FALSE(path_type.ok());
  EXPECT_THAT(path_type.status().message(), HasSubstr("config.toml:4: trust_roots.trusted_root must be a string"));

  auto no_name = Parse(R"(
[[trust_roots]]
trusted_root = "public-good.json"
)");
  ASSERT_FALSE(no_name.ok());
  EXPECT_THAT(no_name.status().message(), HasSubstr("config.toml:2: [[trust_roots]] entry has no name"));

  auto duplicate = Parse(R"(
[[trust_roots]]
name = "x"
trusted_root = "public-good.json"

[[trust_roots]]
name = "x"
ca_roots = "roots.pem"
)");
  ASSERT_FALSE(duplicate.ok());
  EXPECT_THAT(duplicate.status().message(),
              HasSubstr("config.toml:6: trust root name \"x\" is already used at " + dir_ + "/config.toml:2"));

  auto not_array = Parse(R"(
[trust_roots]
name = "x"
)");
  ASSERT_FALSE(not_array.ok());
  EXPECT_THAT(not_array.status().message(), HasSubstr("trust_roots must be an array of tables"));
}

TEST_F(TrustRootsConfigTest, RefusesOversizeFilesAtLoad) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/big.json", std::string(config::kMaxTrustFileBytes + 1, ' ')).ok());
  auto big = Parse(R"(
[[trust_roots]]
name = "x"
trusted_root = "big.json"
)");
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(), HasSubstr("config.toml:4: trust root \"x\": trusted_root: "));
}

}  // namespace
}  // namespace sigshim::trust
