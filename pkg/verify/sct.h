// Certificate Transparency evidence: the signed certificate timestamps (SCTs, RFC 6962) a CA such as
// Fulcio embeds in the certificates it issues, checked against a trust root's CT logs.
#ifndef SIGSHIM_PKG_VERIFY_SCT_H_
#define SIGSHIM_PKG_VERIFY_SCT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/verify/validity.h"

namespace sigshim::verify {

// A CT log a trust root names.
struct CtLogInput {
  std::string name;    // for messages, e.g. the log's base URL
  std::string log_id;  // 32 raw bytes: the SHA-256 of key_der (RFC 6962 §3.2), as trusted_root.json states it
  std::string key_der;    // the log's DER SubjectPublicKeyInfo (ECDSA or RSA)
  ValidityWindow window;  // an SCT counts only when its timestamp lies in it (both ends inclusive)
};

// One SCT that verified.
struct VerifiedSct {
  std::string log_id_hex;  // lowercase hex of the log id
  std::string log_name;    // CtLogInput::name of that log
  absl::Time timestamp;    // when the log promised to include the certificate (millisecond precision)
};

// Verifies the SCTs embedded in `leaf_der` (the precertificate SCT list extension,
// 1.3.6.1.4.1.11129.2.4.2) with OpenSSL's CT code: each SCT's signature over the precertificate
// (the leaf without that extension) and the SHA-256 of `issuer_der`'s public key, by the log it
// names. An SCT counts only when it is version 1, from one of `logs`, timestamped inside that log's
// window, and its signature verifies; at least one must count, as cosign and sigstore-go require by
// default. The SCT times are not compared with the clock (the windows are the time check).
// Returns the SCTs that count, at most one per log (sigstore-go counts logs, not SCTs);
// PermissionDenied when none does, with each SCT's reason ("no embedded SCTs", "SCT from unknown log
// …", "… outside the log's validity …", "SCT signature does not verify …") or when the certificates
// or the SCT list do not parse; InvalidArgument when `logs` is empty or a log's key does not parse or
// does not match its id; Internal when the crypto library fails. Thread-safe; holds no state.
// Linux only: OpenSSL builds a CT log store only from a file, so the logs are handed to it through an
// anonymous in-memory file (memfd) opened by its /proc/self/fd path.
absl::StatusOr<std::vector<VerifiedSct>> VerifyEmbeddedScts(absl::string_view leaf_der,
                                                            absl::string_view issuer_der,
                                                            absl::Span<const CtLogInput> logs);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_SCT_H_
