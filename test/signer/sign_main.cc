// sigshim-test-sign: generate keys and sign images in cosign's format, for tests and demos.
//
//   sigshim-test-sign keygen --type ecdsa-p256 --out DIR
//       writes DIR/cosign.key (PKCS#8, mode 0600) and DIR/cosign.pub (SubjectPublicKeyInfo)
//   sigshim-test-sign sign --key PRIV.pem --reference REF --digest sha256:… --out DIR
//       writes the ".sig" artifact as an OCI image layout in DIR (blobs/sha256/<hex> for the payload,
//       config and manifest; index.json names the manifest with the tag sha256-<hex>.sig) and prints
//       a JSON summary (tag, digests, sizes) on stdout. Push it with
//       skopeo copy oci:DIR:sha256-<hex>.sig docker://REGISTRY/REPO:sha256-<hex>.sig
//
// Exit status: 0 on success, 2 on a usage or any other error (message on stderr).
#include <iostream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "pkg/base/file.h"
#include "test/signer/signer.h"

namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  sigshim-test-sign keygen --type ecdsa-p256|ecdsa-p384|ecdsa-p521|rsa-2048|rsa-3072|ed25519 "
    "--out DIR\n"
    "  sigshim-test-sign sign --key PRIV.pem --reference REF --digest sha256:HEX --out DIR\n";

int Fail(absl::string_view message) {
  std::cerr << "sigshim-test-sign: " << message << "\n";
  return 2;
}

// Parses "--name value" pairs; returns false on anything else.
bool ParseFlags(int argc, char** argv, std::map<std::string, std::string>* flags) {
  for (int i = 2; i < argc; i += 2) {
    std::string name = argv[i];
    if (name.rfind("--", 0) != 0 || i + 1 >= argc) return false;
    (*flags)[name.substr(2)] = argv[i + 1];
  }
  return true;
}

int Keygen(const std::map<std::string, std::string>& flags) {
  if (!flags.count("type") || !flags.count("out") || flags.size() != 2) return Fail(kUsage);
  auto type = sigshim::test_signer::ParseKeyType(flags.at("type"));
  if (!type.ok()) return Fail(type.status().message());
  auto pair = sigshim::test_signer::GenerateKey(*type);
  if (!pair.ok()) return Fail(pair.status().message());
  const std::string& out = flags.at("out");
  if (auto s = sigshim::MakeDirs(out); !s.ok()) return Fail(s.message());
  if (auto s = sigshim::WriteFileAtomic(out + "/cosign.key", pair->private_pem, 0600); !s.ok()) {
    return Fail(s.message());
  }
  if (auto s = sigshim::WriteFileAtomic(out + "/cosign.pub", pair->public_pem, 0644); !s.ok()) {
    return Fail(s.message());
  }
  std::cout << out << "/cosign.key\n" << out << "/cosign.pub\n";
  return 0;
}

int Sign(const std::map<std::string, std::string>& flags) {
  for (const char* required : {"key", "reference", "digest", "out"}) {
    if (!flags.count(required)) return Fail(kUsage);
  }
  if (flags.size() != 4) return Fail(kUsage);
  auto pem = sigshim::ReadFile(flags.at("key"), 1 << 20);
  if (!pem.ok()) return Fail(pem.status().message());
  auto signer = sigshim::test_signer::Signer::Create(*pem);
  if (!signer.ok()) return Fail(absl::StrCat(flags.at("key"), ": ", signer.status().message()));
  auto artifact =
      sigshim::test_signer::SignImage(**signer, flags.at("reference"), flags.at("digest"));
  if (!artifact.ok()) return Fail(artifact.status().message());
  if (auto s = sigshim::test_signer::WriteOciLayout(*artifact, flags.at("out")); !s.ok()) {
    return Fail(s.message());
  }
  auto blob = [](const sigshim::test_signer::Blob& b) {
    return nlohmann::ordered_json{{"mediaType", b.media_type}, {"digest", b.digest},
                                  {"size", b.bytes.size()}};
  };
  nlohmann::ordered_json summary = {{"tag", artifact->tag},
                                    {"manifest", blob(artifact->manifest)},
                                    {"config", blob(artifact->config)},
                                    {"layers", nlohmann::ordered_json::array()}};
  for (const auto& layer : artifact->layers) summary["layers"].push_back(blob(layer.payload));
  std::cout << summary.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail(kUsage);
  std::map<std::string, std::string> flags;
  if (!ParseFlags(argc, argv, &flags)) return Fail(kUsage);
  std::string command = argv[1];
  if (command == "keygen") return Keygen(flags);
  if (command == "sign") return Sign(flags);
  return Fail(kUsage);
}
