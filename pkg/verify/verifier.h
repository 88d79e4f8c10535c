// Deciding whether an image's signatures are acceptable: the interface callers hold, and the verdicts.
#ifndef SIGSHIM_PKG_VERIFY_VERIFIER_H_
#define SIGSHIM_PKG_VERIFY_VERIFIER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pkg/reference/reference.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/rekor.h"
#include "pkg/verify/signature_manifest.h"
#include "pkg/verify/simple_signing.h"

namespace sigshim::verify {

// The image a signature must be for.
struct Target {
  std::string manifest_digest;  // the digest being verified (what will be pulled), "sha256:<hex>"
  reference::Reference image;   // the image as the user named it, normalised
};

// The outcome for one signature. Never a bare bool: an acceptance names its evidence, a rejection
// says what a person can fix.
struct SignatureVerdict {
  bool accepted = false;
  std::string layer_digest;  // Signature::layer_digest, for evidence and messages
  std::string reason;        // when rejected: why, e.g. "signed by an unknown key"; "" when accepted

  // Set when accepted.
  std::string key_fingerprint;  // PublicKey::Fingerprint() of the key that verified
  std::string key_description;  // PublicKey::Describe() of that key
  SimpleSigningPayload payload;
  std::optional<RekorEntry> rekor;  // when a Rekor SET was required and verified
};

// The outcome for an image: accepted when any signature is.
struct ImageVerdict {
  bool accepted = false;
  std::optional<SignatureVerdict> accepted_by;  // the first accepted signature, when accepted
  std::vector<SignatureVerdict> rejected;       // every rejected signature, in the order given
  int ignored_layers = 0;                       // layers that are not simple-signing signatures
  int unchecked_signatures = 0;                 // signatures beyond the verifier's limit, not checked

  // Returns a one-line explanation for a person: "accepted: …" or the reasons of each rejected
  // signature ("no signature layer" when there was none).
  std::string Explain() const;
};

// Checks cosign signatures against a fixed trust configuration. Implementations are immutable and
// thread-safe.
class Verifier {
 public:
  virtual ~Verifier() = default;

  // Returns the verdict for one signature (its media type is not looked at). An error is not a
  // verdict: InvalidArgument when `target` is unusable (a malformed manifest digest), Internal when
  // the check itself failed (crypto library failure). Callers must treat errors as "not verified".
  virtual absl::StatusOr<SignatureVerdict> CheckSignature(const Signature& signature,
                                                          const Target& target) const = 0;

  // Returns the verdict for an image whose signature layers are `signatures`: layers whose media type
  // is not kSimpleSigningMediaType are counted and ignored; the image is accepted when any remaining
  // signature is accepted. No signature at all is a rejection. Errors as for CheckSignature; a
  // signature that could not be checked is an error only when no other signature is accepted.
  virtual absl::StatusOr<ImageVerdict> CheckImage(absl::Span<const Signature> signatures,
                                                  const Target& target) const = 0;
};

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_VERIFIER_H_
