#include "pkg/verify/signer_search.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/base/status_macros.h"

namespace sigshim::verify {

absl::Status FindKeySigners(absl::Span<const std::shared_ptr<const PublicKey>> keys,
                            const std::map<std::string, KeyTimeEvidence>& key_time_evidence,
                            const std::function<absl::Status(const PublicKey&)>& verify,
                            const LogEntryBinding& binding, const SignerEvidenceCheck& evidence, SignerSearch* out) {
  for (const auto& key : keys) {
    if (key == nullptr) return absl::InvalidArgumentError("null candidate key");
    absl::Status verified = verify(*key);
    if (!verified.ok()) {
      if (verified.code() != absl::StatusCode::kPermissionDenied) return verified;
      continue;
    }
    FoundSigner found;
    found.signer = KeySigner{key->Fingerprint(), key->Describe()};
    auto e = key_time_evidence.find(key->Fingerprint());
    if (e != key_time_evidence.end()) {
      LogEntryBinding bound = binding;
      bound.signer_der = key->Der();
      absl::StatusOr<SignerEvidence> proven =
          evidence(bound, e->second.trust_root, e->second.transparency_logs, e->second.timestamp_authorities);
      if (!proven.ok()) {
        if (proven.status().code() != absl::StatusCode::kPermissionDenied) return proven.status();
        out->reasons.push_back(absl::StrCat("key ", key->Describe(), ": ", proven.status().message()));
        continue;
      }
      found.time = EarlierSigningTime(proven->time.log_time, proven->time.timestamp_time);
      found.evidence = *std::move(proven);
    }
    out->signers.push_back(std::move(found));
  }
  return absl::OkStatus();
}

absl::Status FindCertificateSigners(CertificateSignatureInput input, absl::Span<const CertificateTrust> trust,
                                    absl::Time now, const LogEntryBinding& binding,
                                    const SignerEvidenceCheck& evidence, SignerSearch* out) {
  std::map<std::string, SignerEvidence> by_root;
  input.evidence = [&](const CertificateTrust& root, absl::string_view leaf_der) -> absl::StatusOr<RootTimeEvidence> {
    LogEntryBinding bound = binding;
    bound.signer_der = leaf_der;
    ASSIGN_OR_RETURN(SignerEvidence proven, evidence(bound, root.name, root.transparency_logs,
                                                     root.timestamp_authorities));
    by_root[root.name] = proven;
    return proven.time;
  };
  ASSIGN_OR_RETURN(CertificateSignerResult certified, CheckCertificateSignature(input, trust, now));
  if (certified.signers.empty()) {
    out->reasons.push_back(std::move(certified.rejection));
    return absl::OkStatus();
  }
  for (auto& [signer, time] : certified.signers) {
    FoundSigner& found = out->signers.emplace_back();
    found.evidence = by_root[signer.trust_root];
    found.signer = std::move(signer);
    found.time = std::move(time);
  }
  return absl::OkStatus();
}

void FillSigner(FoundSigner found, SignedStatement& statement) {
  statement.signer = std::move(found.signer);
  statement.signing_time = std::move(found.time);
  statement.verified_tlog_entries = found.evidence.tlog_entries;
  statement.verified_integrated_times = found.evidence.integrated_times;
  statement.verified_timestamps = found.evidence.timestamps;
}

}  // namespace sigshim::verify
