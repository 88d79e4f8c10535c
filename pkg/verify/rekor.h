// Offline check of a Rekor signed entry timestamp (SET): cosign's "dev.sigstore.cosign/bundle"
// annotation proves that a transparency log recorded this signature, by this key, of this payload.
#ifndef SIGSHIM_PKG_VERIFY_REKOR_H_
#define SIGSHIM_PKG_VERIFY_REKOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/verify/public_key.h"

namespace sigshim::verify {

// Bundle annotations larger than this are refused before parsing.
inline constexpr size_t kMaxRekorBundleBytes = 64 * 1024;

// What a verified SET establishes, for evidence.
struct RekorEntry {
  int64_t integrated_time = 0;    // Unix seconds at which the log recorded the entry
  int64_t log_index = 0;
  std::string log_id;             // hex SHA-256 of the log's public key, as the bundle states it
  std::string rekor_key;          // Fingerprint() of the Rekor key that verified the SET
};

// Verifies `bundle_json` (the bundle annotation) offline:
//  1. it is {"SignedEntryTimestamp": base64, "Payload": {"body", "integratedTime", "logIndex", "logID"}};
//  2. one of `rekor_keys` verifies SignedEntryTimestamp over the canonical JSON of Payload
//     (keys sorted, no spaces);
//  3. body is a hashedrekord 0.0.1 entry whose data hash is sha256(`payload`), whose signature is
//     `signature` (raw bytes) and whose public key is one PEM block whose DER body is `signer_der`
//     (the signer's SubjectPublicKeyInfo, or its certificate for keyless signatures).
// Returns the entry on success; PermissionDenied with a reason for a person otherwise (malformed
// bundles included); Internal when the crypto library fails. `rekor_keys` must not be empty
// (InvalidArgument).
absl::StatusOr<RekorEntry> VerifyRekorSet(absl::string_view bundle_json,
                                          const std::vector<std::shared_ptr<const PublicKey>>& rekor_keys,
                                          absl::string_view signer_der, absl::string_view signature,
                                          absl::string_view payload);

// The same check from the annotation values as they arrive: `signer_pem` is the signer's key or
// certificate as exactly one PEM block, `signature_base64` the signature annotation. A signer that is
// not exactly one PEM block, or a signature that is not base64, is PermissionDenied.
absl::StatusOr<RekorEntry> VerifyRekorSetFromAnnotations(
    absl::string_view bundle_json, const std::vector<std::shared_ptr<const PublicKey>>& rekor_keys,
    absl::string_view signer_pem, absl::string_view signature_base64, absl::string_view payload);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_REKOR_H_
