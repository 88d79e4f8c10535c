// Trusted public keys: parsed once from PEM SubjectPublicKeyInfo, then used to verify signatures.
#ifndef SIGSHIM_PKG_VERIFY_PUBLIC_KEY_H_
#define SIGSHIM_PKG_VERIFY_PUBLIC_KEY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace sigshim::verify {

// The signature schemes a key may verify. The hash is fixed by the key type, as cosign does.
enum class KeyAlgorithm {
  kEcdsaP256Sha256,  // ECDSA over NIST P-256, DER (r,s), SHA-256
  kEcdsaP384Sha384,  // ECDSA over NIST P-384, DER (r,s), SHA-384
  kEcdsaP521Sha512,  // ECDSA over NIST P-521, DER (r,s), SHA-512
  kRsaPkcs1Sha256,   // RSA >= 2048 bits, PKCS#1 v1.5 padding, SHA-256
  kEd25519,          // pure Ed25519 over the message bytes (RFC 8032)
};

// Returns a short stable name: "ecdsa-p256-sha256", "ecdsa-p384-sha384", "ecdsa-p521-sha512",
// "rsa-pkcs1-sha256", "ed25519".
absl::string_view KeyAlgorithmName(KeyAlgorithm algorithm);

// An immutable public key. Thread-safe: Verify may be called concurrently from any thread.
class PublicKey {
 public:
  virtual ~PublicKey() = default;

  // Checks that `signature` is a valid signature of `message` (the whole message, hashed here) under
  // this key. OK only when it verifies; PermissionDenied when it does not (wrong key, altered message,
  // malformed signature encoding); Internal when the crypto library fails. Never OK by accident.
  virtual absl::Status Verify(absl::string_view message, absl::string_view signature) const = 0;

  // Checks that `signature` is a valid signature under this key of a message whose hash, with the
  // key's own hash function (SHA-256 for P-256 and RSA, SHA-384 for P-384, SHA-512 for P-521), is
  // `digest`: what a sigstore bundle's message signature over an artifact known only by its
  // digest needs. PermissionDenied when it does not verify, when `digest` is not that hash's length,
  // and always for Ed25519 (pure Ed25519 signs the message, never a digest); Internal when the
  // crypto library fails.
  virtual absl::Status VerifyDigest(absl::string_view digest, absl::string_view signature) const = 0;

  // Returns the scheme this key verifies.
  virtual KeyAlgorithm Algorithm() const = 0;

  // Returns "sha256:" + lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: a stable id for
  // evidence and logs, identical for the same key whatever its PEM line wrapping.
  virtual const std::string& Fingerprint() const = 0;

  // Returns the DER SubjectPublicKeyInfo bytes.
  virtual const std::string& Der() const = 0;

  // Returns e.g. "ecdsa-p256-sha256 sha256:0123abcd…" (algorithm and 12 hex digits of the
  // fingerprint) for messages meant for a person.
  std::string Describe() const;
};

// Parses exactly one PEM "PUBLIC KEY" block (SubjectPublicKeyInfo) holding an ECDSA P-256/P-384/P-521,
// RSA (2048..16384 bits) or Ed25519 key. Everything else is InvalidArgument with a message naming the
// problem: no PEM block, several blocks, a private key, a certificate, a PKCS#1 "RSA PUBLIC KEY",
// DER that does not parse, an RSA key below 2048 bits, another curve, DSA, etc. Blank text around the
// block is allowed; other text is not.
absl::StatusOr<std::unique_ptr<const PublicKey>> ParsePublicKeyPem(absl::string_view pem);

// The same for the DER SubjectPublicKeyInfo itself (as trusted_root.json and certificates carry
// keys): the same key types and the same errors; trailing bytes after the structure are refused.
absl::StatusOr<std::unique_ptr<const PublicKey>> ParsePublicKeyDer(std::string der);

// The same for a key OpenSSL has already decoded (a parsed certificate's subject key): `der` is its
// DER SubjectPublicKeyInfo and `key` the decoded key, to which the result takes a reference of its
// own. Nothing is decoded again (OpenSSL 3.0's key decoder costs about as much as a verify). The
// same key types and errors as ParsePublicKeyDer.
absl::StatusOr<std::unique_ptr<const PublicKey>> PublicKeyFromDecoded(std::string der, evp_pkey_st* key);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_PUBLIC_KEY_H_
