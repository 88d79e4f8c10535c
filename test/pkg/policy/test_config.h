// Helpers shared by the policy tests: configs with generated keys.
#ifndef SIGSHIM_TEST_PKG_POLICY_TEST_CONFIG_H_
#define SIGSHIM_TEST_PKG_POLICY_TEST_CONFIG_H_

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/config/config.h"
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

}  // namespace sigshim::policy

#endif  // SIGSHIM_TEST_PKG_POLICY_TEST_CONFIG_H_
