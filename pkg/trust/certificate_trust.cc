#include "pkg/trust/certificate_trust.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sigshim::trust {

absl::StatusOr<verify::CertificateTrust> CertificateTrustFor(const TrustRoot& root) {
  verify::CertificateTrust trust;
  trust.name = root.name;
  trust.require_transparency_log = root.require_transparency_log;
  trust.short_lived = root.kind == TrustRootKind::kSigstore;
  if (!root.certificate_authorities.empty()) {
    std::vector<verify::TrustedCertificate> anchors;
    std::vector<verify::TrustedCertificate> intermediates;
    for (const CertificateAuthority& ca : root.certificate_authorities) {
      anchors.push_back({ca.anchor_der(), ca.valid_for});
      for (size_t i = 0; i + 1 < ca.chain_der.size(); ++i) intermediates.push_back({ca.chain_der[i], ca.valid_for});
    }
    absl::StatusOr<verify::CaPool> pool = verify::CaPool::Create(std::move(anchors), std::move(intermediates));
    if (!pool.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trust root \"", root.name, "\": certificate authorities: ", pool.status().message()));
    }
    trust.certificate_authorities = std::make_shared<const verify::CaPool>(*std::move(pool));
  }
  for (const TransparencyLog& log : root.transparency_logs) {
    verify::TransparencyLogInput input;
    input.name = log.base_url.empty() ? absl::StrCat("log ", log.LogIdHex()) : log.base_url;
    input.key = log.public_key;
    input.window = log.valid_for;
    input.log_id = log.log_id;
    input.checkpoint_key_id = log.checkpoint_key_id;
    input.base_url = log.base_url;
    trust.transparency_logs.push_back(std::move(input));
  }
  for (const CertificateAuthority& tsa : root.timestamp_authorities) {
    verify::TimestampAuthorityInput input;
    input.name = absl::StrCat(root.name, " ", tsa.uri.empty() ? tsa.subject : tsa.uri);
    input.chain_der = tsa.chain_der;
    input.window = tsa.valid_for;
    absl::StatusOr<verify::TimestampAuthorityInput> prepared = verify::PrepareTimestampAuthority(std::move(input));
    if (!prepared.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trust root \"", root.name, "\": ", prepared.status().message()));
    }
    trust.timestamp_authorities.push_back(*std::move(prepared));
  }
  std::vector<verify::CtLogInput> ct_logs;
  for (const TransparencyLog& log : root.ct_logs) {
    verify::CtLogInput input;
    input.name = log.base_url.empty() ? absl::StrCat("CT log ", log.LogIdHex()) : log.base_url;
    input.log_id = log.log_id;
    input.key_der = log.public_key->Der();
    input.window = log.valid_for;
    ct_logs.push_back(std::move(input));
  }
  if (!ct_logs.empty()) {
    absl::StatusOr<std::shared_ptr<const verify::CtLogs>> logs = verify::CtLogs::Create(ct_logs);
    if (!logs.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("trust root \"", root.name, "\": ", logs.status().message()));
    }
    trust.ct_logs = *std::move(logs);
  }
  return trust;
}

}  // namespace sigshim::trust
