#include "pkg/verify/public_key.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "pkg/base/digest.h"
#include "pkg/verify/pem.h"

namespace sigshim::verify {
namespace {

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;
// Larger than any signature of the supported schemes (RSA-16384: 2048 bytes); bigger input is
// refused before any crypto work.
constexpr size_t kMaxSignatureBytes = 4096;

struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct EvpPkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct EvpMdFree {
  void operator()(EVP_MD* p) const { EVP_MD_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxFree>;
using EvpMdPtr = std::unique_ptr<EVP_MD, EvpMdFree>;

// Returns the text of the oldest OpenSSL error of this thread and clears the queue.
std::string TakeOpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no detail from OpenSSL";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

std::string ShortFingerprint(const std::string& fingerprint) {
  // "sha256:" + 12 hex digits.
  return fingerprint.substr(0, 7 + 12);
}

// A key verified through OpenSSL: ECDSA or RSA PKCS#1 v1.5. `prototype_` is a verify context set up
// once; each call works on a context of its own (a reused idle one or a copy of the prototype), so
// concurrent calls never share a context.
class EvpPublicKey final : public PublicKey {
 public:
  EvpPublicKey(KeyAlgorithm algorithm, std::string der, EvpPkeyPtr pkey, EvpMdPtr md,
               EvpPkeyCtxPtr prototype)
      : algorithm_(algorithm),
        der_(std::move(der)),
        fingerprint_(Sha256Digest(der_)),
        pkey_(std::move(pkey)),
        md_(std::move(md)),
        prototype_(std::move(prototype)) {}

  absl::Status Verify(absl::string_view message, absl::string_view signature) const override {
    if (signature.empty() || signature.size() > kMaxSignatureBytes) {
      return absl::PermissionDeniedError(
          absl::StrCat("signature of ", signature.size(), " bytes cannot be a ",
                       KeyAlgorithmName(algorithm_), " signature"));
    }
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len = 0;
    if (EVP_Digest(message.data(), message.size(), hash, &hash_len, md_.get(), nullptr) != 1) {
      return absl::InternalError(absl::StrCat("hashing failed: ", TakeOpenSslError()));
    }
    return VerifyDigest(absl::string_view(reinterpret_cast<const char*>(hash), hash_len), signature);
  }

  absl::Status VerifyDigest(absl::string_view digest, absl::string_view signature) const override {
    if (signature.empty() || signature.size() > kMaxSignatureBytes) {
      return absl::PermissionDeniedError(
          absl::StrCat("signature of ", signature.size(), " bytes cannot be a ",
                       KeyAlgorithmName(algorithm_), " signature"));
    }
    if (digest.size() != static_cast<size_t>(EVP_MD_get_size(md_.get()))) {
      return absl::PermissionDeniedError(absl::StrCat("a digest of ", digest.size(), " bytes is not the ",
                                                      EVP_MD_get0_name(md_.get()), " hash a ",
                                                      KeyAlgorithmName(algorithm_), " key signs"));
    }
    const unsigned char* hash = reinterpret_cast<const unsigned char*>(digest.data());
    const size_t hash_len = digest.size();
    EvpPkeyCtxPtr ctx = AcquireContext();
    if (ctx == nullptr) {
      return absl::InternalError(absl::StrCat("EVP_PKEY_CTX_dup: ", TakeOpenSslError()));
    }
    int rc = EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), hash, hash_len);
    ERR_clear_error();
    ReleaseContext(std::move(ctx));
    if (rc != 1) {
      return absl::PermissionDeniedError(
          absl::StrCat("signature does not verify with key ", Describe()));
    }
    return absl::OkStatus();
  }

  KeyAlgorithm Algorithm() const override { return algorithm_; }
  const std::string& Fingerprint() const override { return fingerprint_; }
  const std::string& Der() const override { return der_; }

 private:
  // At most this many idle verify contexts are kept for reuse (about one per concurrent caller).
  static constexpr size_t kMaxIdleContexts = 16;

  // Returns a verify context ready for EVP_PKEY_verify: an idle one, or a fresh copy of prototype_.
  // nullptr when OpenSSL fails.
  EvpPkeyCtxPtr AcquireContext() const {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      EvpPkeyCtxPtr ctx = std::move(idle_.back());
      idle_.pop_back();
      return ctx;
    }
    return EvpPkeyCtxPtr(EVP_PKEY_CTX_dup(prototype_.get()));
  }

  // Returns `ctx` to the idle list (a verify context holds no per-call state and is reusable).
  void ReleaseContext(EvpPkeyCtxPtr ctx) const {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleContexts) idle_.push_back(std::move(ctx));
  }

  const KeyAlgorithm algorithm_;
  const std::string der_;
  const std::string fingerprint_;
  const EvpPkeyPtr pkey_;  // owns the key that prototype_ refers to
  const EvpMdPtr md_;
  // A context initialised for verification with md_ (and PKCS#1 v1.5 for RSA). Only copied, under mu_.
  const EvpPkeyCtxPtr prototype_;
  // Setting a context up costs about as much as an RSA verification; reusing them keeps Verify close
  // to the bare primitive. The cache is invisible to callers: Verify stays logically const.
  mutable absl::Mutex mu_;
  mutable std::vector<EvpPkeyCtxPtr> idle_ ABSL_GUARDED_BY(mu_);
};

// An Ed25519 key verified with libsodium (pure Ed25519 over the message).
class Ed25519PublicKey final : public PublicKey {
 public:
  Ed25519PublicKey(std::string der, const unsigned char (&raw)[crypto_sign_PUBLICKEYBYTES])
      : der_(std::move(der)), fingerprint_(Sha256Digest(der_)) {
    std::copy(raw, raw + crypto_sign_PUBLICKEYBYTES, raw_);
  }

  absl::Status Verify(absl::string_view message, absl::string_view signature) const override {
    if (signature.size() != crypto_sign_BYTES) {
      return absl::PermissionDeniedError(absl::StrCat("an Ed25519 signature has ", crypto_sign_BYTES,
                                                      " bytes, this one has ", signature.size()));
    }
    if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                    reinterpret_cast<const unsigned char*>(message.data()),
                                    message.size(), raw_) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("signature does not verify with key ", Describe()));
    }
    return absl::OkStatus();
  }

  absl::Status VerifyDigest(absl::string_view, absl::string_view) const override {
    return absl::PermissionDeniedError("an Ed25519 key signs the message itself, not a digest of it");
  }

  KeyAlgorithm Algorithm() const override { return KeyAlgorithm::kEd25519; }
  const std::string& Fingerprint() const override { return fingerprint_; }
  const std::string& Der() const override { return der_; }

 private:
  const std::string der_;
  const std::string fingerprint_;
  unsigned char raw_[crypto_sign_PUBLICKEYBYTES];
};

absl::StatusOr<std::unique_ptr<const PublicKey>> MakeEvpKey(KeyAlgorithm algorithm, std::string der,
                                                            EvpPkeyPtr pkey, const char* md_name) {
  EvpMdPtr md(EVP_MD_fetch(nullptr, md_name, nullptr));
  if (md == nullptr) {
    return absl::InternalError(absl::StrCat("cannot fetch ", md_name, ": ", TakeOpenSslError()));
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_verify_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), md.get()) <= 0) {
    return absl::InternalError(absl::StrCat("cannot set up verification: ", TakeOpenSslError()));
  }
  if (algorithm == KeyAlgorithm::kRsaPkcs1Sha256 &&
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) <= 0) {
    return absl::InternalError(absl::StrCat("cannot select PKCS#1 v1.5: ", TakeOpenSslError()));
  }
  return std::unique_ptr<const PublicKey>(new EvpPublicKey(algorithm, std::move(der), std::move(pkey),
                                                           std::move(md), std::move(ctx)));
}

// Returns the PublicKey for `pkey`, decoded from `der`: the key types and errors of ParsePublicKeyDer.
absl::StatusOr<std::unique_ptr<const PublicKey>> FromDecoded(std::string der, EvpPkeyPtr pkey);

}  // namespace

absl::string_view KeyAlgorithmName(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::kEcdsaP256Sha256:
      return "ecdsa-p256-sha256";
    case KeyAlgorithm::kEcdsaP384Sha384:
      return "ecdsa-p384-sha384";
    case KeyAlgorithm::kEcdsaP521Sha512:
      return "ecdsa-p521-sha512";
    case KeyAlgorithm::kRsaPkcs1Sha256:
      return "rsa-pkcs1-sha256";
    case KeyAlgorithm::kEd25519:
      return "ed25519";
  }
  return "unknown";
}

std::string PublicKey::Describe() const {
  return absl::StrCat(KeyAlgorithmName(Algorithm()), " ", ShortFingerprint(Fingerprint()));
}

absl::StatusOr<std::unique_ptr<const PublicKey>> ParsePublicKeyPem(absl::string_view pem) {
  absl::StatusOr<PemBlock> block = DecodeSinglePemBlock(pem);
  if (!block.ok()) return block.status();
  if (block->type != "PUBLIC KEY") {
    if (absl::StrContains(block->type, "PRIVATE KEY")) {
      return absl::InvalidArgumentError(absl::StrCat("PEM block is a private key (", block->type,
                                                     "); give the public key (PEM PUBLIC KEY) instead"));
    }
    if (block->type == "RSA PUBLIC KEY") {
      return absl::InvalidArgumentError(
          "PEM block is a PKCS#1 RSA PUBLIC KEY; a SubjectPublicKeyInfo (PEM PUBLIC KEY) is required");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("PEM block is a ", block->type, ", not a PUBLIC KEY"));
  }
  return ParsePublicKeyDer(std::move(block->der));
}

absl::StatusOr<std::unique_ptr<const PublicKey>> ParsePublicKeyDer(std::string der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  EvpPkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PUBLIC KEY is not a valid SubjectPublicKeyInfo or uses an unsupported algorithm: ",
        TakeOpenSslError()));
  }
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return absl::InvalidArgumentError("PUBLIC KEY has trailing bytes after the SubjectPublicKeyInfo");
  }
  return FromDecoded(std::move(der), std::move(pkey));
}

absl::StatusOr<std::unique_ptr<const PublicKey>> PublicKeyFromDecoded(std::string der, evp_pkey_st* key) {
  if (key == nullptr) return absl::InvalidArgumentError("no decoded key");
  if (EVP_PKEY_up_ref(key) != 1) return absl::InternalError(absl::StrCat("EVP_PKEY_up_ref: ", TakeOpenSslError()));
  return FromDecoded(std::move(der), EvpPkeyPtr(key));
}

namespace {

absl::StatusOr<std::unique_ptr<const PublicKey>> FromDecoded(std::string der, EvpPkeyPtr pkey) {
  switch (EVP_PKEY_get_base_id(pkey.get())) {
    case EVP_PKEY_EC: {
      char group[80] = {0};
      size_t group_len = 0;
      if (EVP_PKEY_get_group_name(pkey.get(), group, sizeof(group), &group_len) != 1) {
        ERR_clear_error();
        return absl::InvalidArgumentError(
            "EC key with explicit curve parameters: only the named curves P-256, P-384 and P-521 are "
            "supported");
      }
      absl::string_view name(group, group_len);
      if (name == "prime256v1" || name == "P-256") {
        return MakeEvpKey(KeyAlgorithm::kEcdsaP256Sha256, std::move(der), std::move(pkey), "SHA256");
      }
      if (name == "secp384r1" || name == "P-384") {
        return MakeEvpKey(KeyAlgorithm::kEcdsaP384Sha384, std::move(der), std::move(pkey), "SHA384");
      }
      if (name == "secp521r1" || name == "P-521") {
        return MakeEvpKey(KeyAlgorithm::kEcdsaP521Sha512, std::move(der), std::move(pkey), "SHA512");
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "EC key on curve ", name, ": only P-256, P-384 and P-521 are supported"));
    }
    case EVP_PKEY_RSA: {
      int bits = EVP_PKEY_get_bits(pkey.get());
      if (bits < kMinRsaBits) {
        return absl::InvalidArgumentError(
            absl::StrCat("RSA key of ", bits, " bits: at least ", kMinRsaBits, " required"));
      }
      if (bits > kMaxRsaBits) {
        return absl::InvalidArgumentError(
            absl::StrCat("RSA key of ", bits, " bits: at most ", kMaxRsaBits, " supported"));
      }
      return MakeEvpKey(KeyAlgorithm::kRsaPkcs1Sha256, std::move(der), std::move(pkey), "SHA256");
    }
    case EVP_PKEY_ED25519: {
      if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
      unsigned char raw[crypto_sign_PUBLICKEYBYTES];
      size_t raw_len = sizeof(raw);
      if (EVP_PKEY_get_raw_public_key(pkey.get(), raw, &raw_len) != 1 || raw_len != sizeof(raw)) {
        return absl::InvalidArgumentError(
            absl::StrCat("Ed25519 key does not hold 32 bytes: ", TakeOpenSslError()));
      }
      return std::unique_ptr<const PublicKey>(new Ed25519PublicKey(std::move(der), raw));
    }
    case EVP_PKEY_RSA_PSS:
      return absl::InvalidArgumentError(
          "RSA-PSS key: only RSA keys for PKCS#1 v1.5 (rsaEncryption) are supported");
    case EVP_PKEY_DSA:
      return absl::InvalidArgumentError("DSA key: not supported (use ECDSA, RSA or Ed25519)");
    case EVP_PKEY_ED448:
      return absl::InvalidArgumentError("Ed448 key: not supported (use Ed25519)");
    default: {
      const char* name = OBJ_nid2sn(EVP_PKEY_get_base_id(pkey.get()));
      return absl::InvalidArgumentError(
          absl::StrCat("key type ", name != nullptr ? name : "(unnamed)",
                       " is not supported (use ECDSA P-256/P-384/P-521, RSA >= 2048 or Ed25519)"));
    }
  }
}

}  // namespace

}  // namespace sigshim::verify
