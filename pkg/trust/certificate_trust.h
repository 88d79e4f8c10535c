// A trust root as the certificate identity type takes it (verify::CertificateTrust): the inputs
// pkg/verify's chain, Rekor, timestamp and SCT checks need, built once per configuration.
#ifndef SIGSHIM_PKG_TRUST_CERTIFICATE_TRUST_H_
#define SIGSHIM_PKG_TRUST_CERTIFICATE_TRUST_H_

#include "absl/status/statusor.h"
#include "pkg/trust/trust_root.h"
#include "pkg/verify/certificate_signer.h"

namespace sigshim::trust {

// Returns `root`'s trust material, decoded once here and shared immutably by every verification
// under it (a reload builds new material): each certificate authority's anchor (its last
// certificate) as a trusted root and the certificates before it as trusted intermediates, all
// within the authority's valid_for; the Rekor logs (with their ids, checkpoint key ids and base
// URLs, which sigstore bundles' entries are checked by), the timestamp authorities (their chains
// decoded) and the CT logs (their keys decoded) with their windows; require_transparency_log as
// resolved; short_lived for a sigstore trusted_root.json (Fulcio certificates count only at a
// proven signing time). InvalidArgument naming the trust root when its certificates cannot be
// pooled, a timestamp authority's chain does not decode, or a CT log's key does not decode or is
// not the key its log id names (a root without certificate authorities gets no pool: its
// certificate signatures are refused, saying so).
absl::StatusOr<verify::CertificateTrust> CertificateTrustFor(const TrustRoot& root);

}  // namespace sigshim::trust

#endif  // SIGSHIM_PKG_TRUST_CERTIFICATE_TRUST_H_
