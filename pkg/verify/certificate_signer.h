// The certificate identity type: given a signature made with the key of a certificate (keyless
// Fulcio or a private PKI) and the trust material of a trust root, says who signed — the
// certificate, chained to the root's certificate authorities — and when, as a transparency log or
// timestamp authority of that root proves it. Plain inputs (pkg/trust builds them from
// [[trust_roots]]); it never decides whether the signer is one a policy wants.
#ifndef SIGSHIM_PKG_VERIFY_CERTIFICATE_SIGNER_H_
#define SIGSHIM_PKG_VERIFY_CERTIFICATE_SIGNER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/verify/certificate_chain.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/sct.h"
#include "pkg/verify/statement.h"
#include "pkg/verify/timestamp.h"
#include "pkg/verify/validity.h"

namespace sigshim::verify {

// A transparency log (Rekor) of a trust root.
struct TransparencyLogInput {
  std::string name;                       // for messages, e.g. the log's base URL
  std::shared_ptr<const PublicKey> key;   // verifies its signed entry timestamps and checkpoints
  ValidityWindow window;                  // an entry counts only when integrated inside it
  // For sigstore bundles' entries (transparency_log.h): the log id (raw bytes, trusted_root.json's
  // logId.keyId; "" matches no entry), the checkpoint key id ("" when the log's id is also its
  // checkpoint key id) and the base URL (a Rekor v2 checkpoint's origin is its host). Default "".
  std::string log_id;
  std::string checkpoint_key_id;
  std::string base_url;
};

// Time evidence for signatures by a trusted key ([[keys]] transparency_log): the trust root whose
// Rekor logs and timestamp authorities may prove when that key signed.
struct KeyTimeEvidence {
  std::string trust_root;
  std::vector<TransparencyLogInput> transparency_logs;
  std::vector<TimestampAuthorityInput> timestamp_authorities;
};

// The trust material of one trust root, as the certificate identity type needs it. pkg/trust builds
// it once per policy (trust::CertificateTrustFor) with everything decoded: the CA pool, the Rekor
// keys, the CT logs, and the timestamp authorities prepared (PrepareTimestampAuthority). Copies
// share that material; it is immutable, so any number of verifications may use it at once.
struct CertificateTrust {
  std::string name;  // the [[trust_roots]] name, reported as CertificateSigner::trust_root
  // The certificate authorities; a leaf must chain to one of them at the signing time.
  std::shared_ptr<const CaPool> certificate_authorities;
  std::vector<TransparencyLogInput> transparency_logs;
  std::vector<TimestampAuthorityInput> timestamp_authorities;
  // The CT logs; not null: the leaf must carry a verifying SCT from one of them.
  std::shared_ptr<const CtLogs> ct_logs;
  // A certificate signature needs a verified entry in one of transparency_logs (a timestamp alone
  // is not enough).
  bool require_transparency_log = false;
  // The certificates are short-lived (a sigstore trusted_root.json): the chain is checked only at
  // a proven signing time, never at the time of the decision. False for a private PKI, whose chain
  // is checked at the time of the decision when no signing time is proven.
  bool short_lived = false;
};

// The time evidence a format has verified itself against one trust root (a sigstore bundle's
// transparency-log entries and timestamps).
struct RootTimeEvidence {
  bool logged = false;                        // an entry in one of the root's logs verified
  std::optional<SigningTime> log_time;        // the earliest time such an entry proves
  std::optional<SigningTime> timestamp_time;  // the earliest time a timestamp of the root proves
  std::string log_failure;                    // why there is no log entry / time, for messages
  std::string timestamp_failure;              // why there is no timestamp, for messages
};

// One signature made with a certificate's key, as a format carries it.
struct CertificateSignatureInput {
  absl::string_view certificate_pem;  // the leaf (cosign: dev.sigstore.cosign/certificate)
  absl::string_view chain_pem;        // untrusted intermediates, "" when none (…/chain)
  absl::string_view signature;        // the raw signature bytes
  absl::string_view signed_bytes;     // what was signed (the payload)
  absl::string_view rekor_bundle;     // the Rekor SET JSON, "" when none (…/bundle)
  absl::string_view timestamp;        // the RFC 3161 timestamp annotation JSON, "" when none
  // A format that carries certificates as DER (sigstore bundles): the leaf and the untrusted
  // certificates after it, used when certificate_pem is "".
  absl::string_view certificate_der;
  std::vector<std::string> chain_der;
  // When not "", the signature is over a message with this digest (PublicKey::VerifyDigest), and
  // signed_bytes is not used to check it.
  absl::string_view signed_digest;
  // When set, the time evidence for a trust root, instead of rekor_bundle and timestamp: the
  // format verifies it (given the leaf's DER). PermissionDenied: the root refuses the signature
  // for that reason (a tampered log entry); any other error is returned as is.
  std::function<absl::StatusOr<RootTimeEvidence>(const CertificateTrust& root, absl::string_view leaf_der)> evidence;
};

// Who signed and when, for each trust root the signature's certificate chains to.
struct CertificateSignerResult {
  std::vector<std::pair<CertificateSigner, std::optional<SigningTime>>> signers;
  std::string rejection;  // "" exactly when `signers` is non-empty
};

// The signing time a Rekor SET of one of `logs` (the trust root `root_name`'s) proves for a
// signature whose log entry must record `signer_der` (the signer's DER: a key's SubjectPublicKeyInfo
// or a certificate), the raw `signature` and `signed_bytes`; the entry must be integrated inside
// that log's window. PermissionDenied with the reason when there is no such proof (no bundle, a SET
// that does not verify, …); Internal when the crypto library fails.
absl::StatusOr<SigningTime> ProveByTransparencyLog(absl::string_view rekor_bundle, absl::string_view signer_der,
                                                   absl::string_view signature, absl::string_view signed_bytes,
                                                   absl::string_view root_name,
                                                   absl::Span<const TransparencyLogInput> logs);

// The signing time an RFC 3161 timestamp (cosign's annotation JSON) of one of `authorities` proves
// for the raw `signature` (cosign timestamps the signature bytes). PermissionDenied with the reason
// when there is no such proof; Internal when the crypto library fails.
absl::StatusOr<SigningTime> ProveByTimestamp(absl::string_view timestamp_annotation, absl::string_view signature,
                                             absl::string_view root_name,
                                             absl::Span<const TimestampAuthorityInput> authorities);

// Checks, in this order (the first failure is the reason given):
//  1. the certificate parses, and its key verifies `signature` over `signed_bytes`;
//  2. per trust root: the signing time, the earliest of a Rekor SET that verifies with one of its
//     logs (inside that log's window, recording this certificate, signature and payload) and an
//     RFC 3161 timestamp over the signature from one of its authorities; a log entry when the
//     root requires one; the chain to its authorities at the signing time — or, for a private PKI
//     without one, at `now`; a short-lived certificate without a proven signing time counts for
//     nothing; a verifying embedded SCT when the root lists CT logs.
// Returns the roots that accept it, or the reasons of every root. Errors are not rejections:
// Internal when the crypto library fails.
absl::StatusOr<CertificateSignerResult> CheckCertificateSignature(const CertificateSignatureInput& input,
                                                                  absl::Span<const CertificateTrust> roots,
                                                                  absl::Time now);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_CERTIFICATE_SIGNER_H_
