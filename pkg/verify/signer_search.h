// Who made one signature, for the formats that verify their own time evidence (sigstore bundles,
// cosign attestations): each trusted key, then each trust root a certificate chains to, with the
// log entries and timestamps the format proves for that signer. The format says how a key checks
// its content and how its evidence is verified; this file holds the search both share.
#ifndef SIGSHIM_PKG_VERIFY_SIGNER_SEARCH_H_
#define SIGSHIM_PKG_VERIFY_SIGNER_SEARCH_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/verify/certificate_signer.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/statement.h"
#include "pkg/verify/transparency_log.h"

namespace sigshim::verify {

// The time evidence one trust root's logs and authorities (or a key's [[keys]] transparency_log
// settings) give one signer: the times proven and how many entries, integrated times and
// timestamps verified.
struct SignerEvidence {
  RootTimeEvidence time;
  int tlog_entries = 0;
  int integrated_times = 0;
  int timestamps = 0;
};

// A format's check of its time evidence for `binding` (signer_der set to the signer's DER)
// against the root `root_name`'s logs and authorities. PermissionDenied: the root refuses the
// signature (an entry of its logs contradicts it); any other error is returned as is.
using SignerEvidenceCheck = std::function<absl::StatusOr<SignerEvidence>(
    const LogEntryBinding& binding, absl::string_view root_name, absl::Span<const TransparencyLogInput> logs,
    absl::Span<const TimestampAuthorityInput> authorities)>;

// One signer found, with its earliest proven signing time (nullopt when none) and its evidence.
struct FoundSigner {
  Signer signer;
  std::optional<SigningTime> time;
  SignerEvidence evidence;
};

struct SignerSearch {
  std::vector<FoundSigner> signers;
  std::vector<std::string> reasons;  // one per candidate that was refused, for the rejection
};

// Tries each of `keys` with `verify` (PermissionDenied: the signature is not this key's). A key
// whose signature verifies is a signer; when `key_time_evidence` has an entry for it, its evidence
// is checked with `evidence` first, and a root that refuses it turns it into a reason instead.
// Appends to `out`; an error other than PermissionDenied is returned.
absl::Status FindKeySigners(absl::Span<const std::shared_ptr<const PublicKey>> keys,
                            const std::map<std::string, KeyTimeEvidence>& key_time_evidence,
                            const std::function<absl::Status(const PublicKey&)>& verify,
                            const LogEntryBinding& binding, const SignerEvidenceCheck& evidence, SignerSearch* out);

// Checks the certificate signature `input` against `trust` at `now` (CheckCertificateSignature),
// each root's time evidence with `evidence` (input.evidence is set here). Appends a signer per root
// the certificate counts under, or the rejection as a reason; an error other than a refusal is
// returned.
absl::Status FindCertificateSigners(CertificateSignatureInput input, absl::Span<const CertificateTrust> trust,
                                    absl::Time now, const LogEntryBinding& binding,
                                    const SignerEvidenceCheck& evidence, SignerSearch* out);

// Sets the signer, the signing time and the evidence counts of `statement` from `found`.
void FillSigner(FoundSigner found, SignedStatement& statement);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_SIGNER_SEARCH_H_
