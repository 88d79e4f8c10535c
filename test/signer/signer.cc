#include "test/signer/signer.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/signature_manifest.h"
#include "pkg/verify/simple_signing.h"

namespace sigshim::test_signer {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no detail from OpenSSL";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

// Returns the digest name for `type`, or nullptr for Ed25519 (which hashes internally).
const char* DigestFor(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
      return "SHA256";
    case KeyType::kEcdsaP384:
      return "SHA384";
    case KeyType::kEcdsaP521:
      return "SHA512";
    case KeyType::kEd25519:
      return nullptr;
  }
  return nullptr;
}

absl::StatusOr<KeyType> TypeOf(EVP_PKEY* pkey) {
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC: {
      char group[80] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &len) != 1) {
        return absl::InvalidArgumentError("EC key without a named curve");
      }
      absl::string_view name(group, len);
      if (name == "prime256v1") return KeyType::kEcdsaP256;
      if (name == "secp384r1") return KeyType::kEcdsaP384;
      if (name == "secp521r1") return KeyType::kEcdsaP521;
      return absl::InvalidArgumentError(absl::StrCat("EC curve ", name, " is not supported"));
    }
    case EVP_PKEY_RSA: {
      int bits = EVP_PKEY_get_bits(pkey);
      if (bits == 2048) return KeyType::kRsa2048;
      if (bits == 3072) return KeyType::kRsa3072;
      return absl::InvalidArgumentError(absl::StrCat("RSA key of ", bits, " bits: use 2048 or 3072"));
    }
    case EVP_PKEY_ED25519:
      return KeyType::kEd25519;
    default:
      return absl::InvalidArgumentError("unsupported private key type");
  }
}

absl::StatusOr<std::string> PublicPem(EVP_PKEY* pkey) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), pkey) != 1) {
    return absl::InternalError(absl::StrCat("writing the public key: ", OpenSslError()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

absl::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return "ecdsa-p256";
    case KeyType::kEcdsaP384:
      return "ecdsa-p384";
    case KeyType::kEcdsaP521:
      return "ecdsa-p521";
    case KeyType::kRsa2048:
      return "rsa-2048";
    case KeyType::kRsa3072:
      return "rsa-3072";
    case KeyType::kEd25519:
      return "ed25519";
  }
  return "unknown";
}

std::vector<KeyType> AllKeyTypes() {
  return {KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521,
          KeyType::kRsa2048,   KeyType::kRsa3072,   KeyType::kEd25519};
}

absl::StatusOr<KeyType> ParseKeyType(absl::string_view name) {
  std::vector<std::string> names;
  for (KeyType type : AllKeyTypes()) {
    if (KeyTypeName(type) == name) return type;
    names.emplace_back(KeyTypeName(type));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown key type \"", name, "\"; one of: ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<KeyPair> GenerateKey(KeyType type) {
  EVP_PKEY* raw = nullptr;
  switch (type) {
    case KeyType::kEcdsaP256:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEcdsaP384:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case KeyType::kEcdsaP521:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521");
      break;
    case KeyType::kRsa2048:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
      break;
    case KeyType::kRsa3072:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(3072));
      break;
    case KeyType::kEd25519:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  PkeyPtr pkey(raw);
  if (pkey == nullptr) {
    return absl::InternalError(
        absl::StrCat("generating a ", KeyTypeName(type), " key: ", OpenSslError()));
  }
  KeyPair out;
  out.type = type;
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(absl::StrCat("writing the private key: ", OpenSslError()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  out.private_pem.assign(data, static_cast<size_t>(len));
  ASSIGN_OR_RETURN(out.public_pem, PublicPem(pkey.get()));
  return out;
}

struct Signer::Key {
  PkeyPtr pkey;
};

Signer::Signer(KeyType type, std::unique_ptr<Key> key, std::string public_pem)
    : type_(type), key_(std::move(key)), public_pem_(std::move(public_pem)) {}

Signer::~Signer() = default;

absl::StatusOr<std::unique_ptr<Signer>> Signer::Create(absl::string_view private_pem) {
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size())));
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an unencrypted PEM private key: ", OpenSslError()));
  }
  ASSIGN_OR_RETURN(KeyType type, TypeOf(pkey.get()));
  ASSIGN_OR_RETURN(std::string public_pem, PublicPem(pkey.get()));
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return std::unique_ptr<Signer>(new Signer(type, std::move(key), std::move(public_pem)));
}

absl::StatusOr<SigningKey> GenerateSigningKey(KeyType type) {
  SigningKey key;
  ASSIGN_OR_RETURN(key.pair, GenerateKey(type));
  ASSIGN_OR_RETURN(key.signer, Signer::Create(key.pair.private_pem));
  return key;
}

absl::StatusOr<std::string> Signer::Sign(absl::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, DigestFor(type_), nullptr, nullptr, key_->pkey.get(),
                            nullptr) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestSignInit_ex: ", OpenSslError()));
  }
  const auto* in = reinterpret_cast<const unsigned char*>(message.data());
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, message.size()) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestSign: ", OpenSslError()));
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, in,
                     message.size()) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestSign: ", OpenSslError()));
  }
  signature.resize(len);
  return signature;
}

Blob MakeBlob(std::string media_type, std::string bytes) {
  Blob blob;
  blob.media_type = std::move(media_type);
  blob.digest = Sha256Digest(bytes);
  blob.bytes = std::move(bytes);
  return blob;
}

absl::StatusOr<SignatureLayer> SignPayload(const Signer& signer, std::string payload) {
  ASSIGN_OR_RETURN(std::string signature, signer.Sign(payload));
  SignatureLayer layer;
  layer.payload = MakeBlob(std::string(verify::kSimpleSigningMediaType), std::move(payload));
  layer.annotations[std::string(verify::kSignatureAnnotation)] = Base64Encode(signature);
  return layer;
}

SignatureLayer LayerWithAnnotations(std::string payload, std::map<std::string, std::string> annotations) {
  SignatureLayer layer;
  layer.payload = MakeBlob(std::string(verify::kSimpleSigningMediaType), std::move(payload));
  layer.annotations = std::move(annotations);
  return layer;
}

absl::StatusOr<SignatureLayer> SignImageLayer(const Signer& signer, absl::string_view docker_reference,
                                              absl::string_view manifest_digest) {
  ASSIGN_OR_RETURN(std::string payload,
                   verify::BuildSimpleSigningPayload(docker_reference, manifest_digest));
  return SignPayload(signer, std::move(payload));
}

absl::StatusOr<SignatureArtifact> BuildSignatureArtifact(absl::string_view manifest_digest,
                                                         std::vector<SignatureLayer> layers) {
  if (layers.empty()) return absl::InvalidArgumentError("a signature manifest needs a layer");
  SignatureArtifact out;
  ASSIGN_OR_RETURN(out.tag, verify::SignatureTag(manifest_digest));
  out.config = MakeBlob(std::string(verify::kOciConfigMediaType), "{}");
  auto descriptor = [](const Blob& blob) {
    return nlohmann::ordered_json{{"mediaType", blob.media_type},
                                  {"size", blob.bytes.size()},
                                  {"digest", blob.digest}};
  };
  nlohmann::ordered_json manifest = {{"schemaVersion", 2},
                                     {"mediaType", std::string(verify::kOciManifestMediaType)},
                                     {"config", descriptor(out.config)},
                                     {"layers", nlohmann::ordered_json::array()}};
  for (const SignatureLayer& layer : layers) {
    nlohmann::ordered_json d = descriptor(layer.payload);
    d["annotations"] = layer.annotations;
    manifest["layers"].push_back(std::move(d));
  }
  out.manifest = MakeBlob(std::string(verify::kOciManifestMediaType),
                          manifest.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  out.layers = std::move(layers);
  return out;
}

absl::StatusOr<SignatureArtifact> SignImage(const Signer& signer, absl::string_view docker_reference,
                                            absl::string_view manifest_digest) {
  ASSIGN_OR_RETURN(SignatureLayer layer, SignImageLayer(signer, docker_reference, manifest_digest));
  std::vector<SignatureLayer> layers;
  layers.push_back(std::move(layer));
  return BuildSignatureArtifact(manifest_digest, std::move(layers));
}

absl::Status WriteOciLayout(const SignatureArtifact& artifact, absl::string_view dir) {
  const std::string blobs = absl::StrCat(dir, "/blobs/sha256");
  RETURN_IF_ERROR(MakeDirs(blobs));
  auto write_blob = [&](const Blob& blob) {
    return WriteFileAtomic(absl::StrCat(blobs, "/", blob.digest.substr(7)), blob.bytes, 0644);
  };
  for (const SignatureLayer& layer : artifact.layers) RETURN_IF_ERROR(write_blob(layer.payload));
  RETURN_IF_ERROR(write_blob(artifact.config));
  RETURN_IF_ERROR(write_blob(artifact.manifest));
  RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(dir, "/oci-layout"),
                                  R"({"imageLayoutVersion":"1.0.0"})", 0644));
  nlohmann::ordered_json index = {
      {"schemaVersion", 2},
      {"manifests",
       {{{"mediaType", artifact.manifest.media_type},
         {"digest", artifact.manifest.digest},
         {"size", artifact.manifest.bytes.size()},
         {"annotations", {{"org.opencontainers.image.ref.name", artifact.tag}}}}}}};
  return WriteFileAtomic(absl::StrCat(dir, "/index.json"), index.dump(), 0644);
}

absl::StatusOr<std::string> MakeRekorBundle(const Signer& log, absl::string_view signer_public_pem,
                                            absl::string_view signature, absl::string_view payload,
                                            int64_t integrated_time, int64_t log_index) {
  nlohmann::json body = {
      {"apiVersion", "0.0.1"},
      {"kind", "hashedrekord"},
      {"spec",
       {{"data", {{"hash", {{"algorithm", "sha256"}, {"value", Sha256Hex(payload)}}}}},
        {"signature",
         {{"content", Base64Encode(signature)},
          {"publicKey", {{"content", Base64Encode(signer_public_pem)}}}}}}}};
  const std::string body_b64 = Base64Encode(body.dump());
  const std::string log_id = Sha256Hex(log.public_pem());
  // What the log signs: the canonical JSON of Payload (keys sorted, no spaces).
  nlohmann::json canonical = {{"body", body_b64},
                              {"integratedTime", integrated_time},
                              {"logID", log_id},
                              {"logIndex", log_index}};
  ASSIGN_OR_RETURN(std::string set, log.Sign(canonical.dump()));
  nlohmann::json bundle = {{"SignedEntryTimestamp", Base64Encode(set)}, {"Payload", canonical}};
  return bundle.dump();
}

}  // namespace sigshim::test_signer
