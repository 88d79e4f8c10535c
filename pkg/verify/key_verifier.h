// The Verifier for cosign signatures made with long-lived keys, optionally logged in Rekor.
#ifndef SIGSHIM_PKG_VERIFY_KEY_VERIFIER_H_
#define SIGSHIM_PKG_VERIFY_KEY_VERIFIER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/verify/identity.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/verifier.h"

namespace sigshim::verify {

struct KeyVerifierOptions {
  // Trusted signing keys; a signature verifying with any one of them is enough. Required (non-empty).
  std::vector<std::shared_ptr<const PublicKey>> keys;
  // Trusted Rekor log keys. Default empty: no transparency-log proof is required. When non-empty,
  // every signature must carry a bundle annotation whose SET verifies with one of these keys.
  std::vector<std::shared_ptr<const PublicKey>> rekor_keys;
  // What the signed docker-reference must be. Default: matchRepository.
  IdentityRule identity;
  // Signature layers checked per image; later ones are not looked at (each costs up to one
  // verification per trusted key, and whoever controls the registry chooses how many there are).
  // Must be positive. Default 64.
  int max_signatures = 64;
};

// Checks, for each signature, in this order (first failure is the reason given):
//  1. a base64 signature annotation is present;
//  2. one of the trusted keys verifies it over the payload bytes ("signed by an unknown key: …");
//  3. with Rekor keys: the bundle annotation's SET verifies and records this payload, signature and key;
//  4. the payload parses as a simple-signing payload (only after it is authenticated);
//  5. its digest is the target digest ("payload is for sha256:…, not sha256:…");
//  6. its docker-reference satisfies the identity rule ("reference mismatch: …").
class KeyVerifier final : public Verifier {
 public:
  // Returns a verifier, or InvalidArgument when `options` has no key, a null key, an invalid
  // identity rule or a non-positive max_signatures.
  static absl::StatusOr<std::unique_ptr<KeyVerifier>> Create(KeyVerifierOptions options);

  absl::StatusOr<SignatureVerdict> CheckSignature(const Signature& signature,
                                                  const Target& target) const override;
  absl::StatusOr<ImageVerdict> CheckImage(absl::Span<const Signature> signatures,
                                          const Target& target) const override;

 private:
  explicit KeyVerifier(KeyVerifierOptions options) : options_(std::move(options)) {}

  // Returns the verdict for `signature`; `target` was validated by the caller. An error (not a
  // rejection) when the crypto library fails.
  absl::StatusOr<SignatureVerdict> Check(const Signature& signature, const Target& target) const;

  const KeyVerifierOptions options_;
};

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_KEY_VERIFIER_H_
