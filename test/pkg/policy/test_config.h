// Helpers shared by the policy tests: configs with generated keys.
#ifndef SIGSHIM_TEST_PKG_POLICY_TEST_CONFIG_H_
#define SIGSHIM_TEST_PKG_POLICY_TEST_CONFIG_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pkg/base/base64.h"
#include "pkg/config/config.h"
#include "pkg/base/digest.h"
#include "pkg/verify/dsse.h"
#include "test/fakes/fake_registry.h"
#include "test/signer/signer.h"

namespace sigshim::policy {

inline constexpr char kConfigPath[] = "/etc/sigshim/config.toml";

// A generated key pair with its signer.
struct TestKey {
  test_signer::KeyPair pair;
  std::shared_ptr<test_signer::Signer> signer;
};

inline TestKey MakeTestKey(test_signer::KeyType type = test_signer::KeyType::kEcdsaP256) {
  TestKey key;
  auto generated = test_signer::GenerateSigningKey(type);
  EXPECT_TRUE(generated.ok()) << generated.status();
  if (!generated.ok()) return key;
  key.pair = generated->pair;
  key.signer = std::move(generated->signer);
  return key;
}

// Returns a [[keys]] table with `pem` inline (6 lines with the PEM of a P-256 key: the table
// header is the first).
inline std::string KeyTable(const std::string& name, const std::string& pem) {
  return absl::StrCat("[[keys]]\nname = \"", name, "\"\ndata = \"\"\"\n", pem, "\"\"\"\n\n");
}

// Returns a [[policy]] table.
inline std::string PolicyTable(const std::string& name, const std::string& images, const std::string& require) {
  return absl::StrCat("[[policy]]\nname = \"", name, "\"\nimages = [", images, "]\nrequire = [", require, "]\n\n");
}

inline std::shared_ptr<const config::Config> MustParse(const std::string& text) {
  auto config = config::ParseConfig(text, kConfigPath);
  EXPECT_TRUE(config.ok()) << config.status() << "\n" << text;
  return config.ok() ? *config : std::make_shared<const config::Config>();
}

// Returns a sigstore bundle (v0.3, publicKey, DSSE) signed by `key`: an in-toto statement v1
// about `subject` ("sha256:<hex>") with `predicate_type` and the JSON `predicate`.
inline std::string SignedBundle(const TestKey& key, const std::string& subject, const std::string& predicate_type,
                                const std::string& predicate = "{}") {
  const std::string statement =
      nlohmann::json({{"_type", "https://in-toto.io/Statement/v1"},
                      {"subject", {{{"name", "registry.test/team/app"}, {"digest", {{"sha256", subject.substr(7)}}}}}},
                      {"predicateType", predicate_type},
                      {"predicate", nlohmann::json::parse(predicate)}})
          .dump();
  auto signature = key.signer->Sign(verify::DssePae("application/vnd.in-toto+json", statement));
  EXPECT_TRUE(signature.ok()) << signature.status();
  return nlohmann::json({{"mediaType", "application/vnd.dev.sigstore.bundle.v0.3+json"},
                         {"verificationMaterial", {{"publicKey", {{"hint", "test"}}}}},
                         {"dsseEnvelope",
                          {{"payloadType", "application/vnd.in-toto+json"},
                           {"payload", Base64Encode(statement)},
                           {"signatures", {{{"sig", Base64Encode(signature.ok() ? *signature : "")}, {"keyid", ""}}}}}}})
      .dump();
}

// Attaches `bundles` (v0.3 JSON each) to the manifest `subject` (of `subject_size` bytes) in
// repository `name` of `registry`, as OCI referrers listed under the referrers tag schema's tag
// "sha256-<hex>" (replacing what that tag listed), as clients do for registries without the
// referrers API.
inline void AttachBundles(fakes::FakeRegistry& registry, const std::string& name, const std::string& subject,
                          size_t subject_size, const std::vector<std::string>& bundles) {
  const std::string type = "application/vnd.dev.sigstore.bundle.v0.3+json";
  nlohmann::json listed = nlohmann::json::array();
  registry.PutBlob(name, "{}");
  for (const std::string& bundle : bundles) {
    const std::string layer = registry.PutBlob(name, bundle);
    const std::string manifest =
        nlohmann::json(
            {{"schemaVersion", 2},
             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
             {"artifactType", type},
             {"config", {{"mediaType", "application/vnd.oci.empty.v1+json"}, {"digest", Sha256Digest("{}")}, {"size", 2}}},
             {"layers", {{{"mediaType", type}, {"digest", layer}, {"size", bundle.size()}}}},
             {"subject",
              {{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", subject}, {"size", subject_size}}}})
            .dump();
    listed.push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                      {"digest", registry.PutManifest(name, "", manifest)},
                      {"size", manifest.size()},
                      {"artifactType", type}});
  }
  registry.PutManifest(
      name, absl::StrCat("sha256-", subject.substr(7)),
      nlohmann::json({{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}, {"manifests", listed}})
          .dump(),
      "application/vnd.oci.image.index.v1+json");
}

}  // namespace sigshim::policy

#endif  // SIGSHIM_TEST_PKG_POLICY_TEST_CONFIG_H_
