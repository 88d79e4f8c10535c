#include "pkg/verify/certificate_signer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/verify/certificate.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/rekor.h"

namespace sigshim::verify {
namespace {

// Returns who signed and when under `root`, or why the signature does not count for it.
absl::StatusOr<std::pair<CertificateSigner, std::optional<SigningTime>>> CheckUnderRoot(
    const CertificateSignatureInput& input, const Certificate& leaf, const std::vector<std::string>& chain,
    const CertificateTrust& root, absl::Time now) {
  RootTimeEvidence evidence;
  if (input.evidence) {
    ASSIGN_OR_RETURN(evidence, input.evidence(root, leaf.Der()));
  } else {
    absl::StatusOr<SigningTime> logged = ProveByTransparencyLog(input.rekor_bundle, leaf.Der(), input.signature,
                                                                input.signed_bytes, root.name, root.transparency_logs);
    if (!logged.ok() && logged.status().code() != absl::StatusCode::kPermissionDenied) return logged.status();
    absl::StatusOr<SigningTime> stamped =
        ProveByTimestamp(input.timestamp, input.signature, root.name, root.timestamp_authorities);
    if (!stamped.ok() && stamped.status().code() != absl::StatusCode::kPermissionDenied) return stamped.status();
    evidence.logged = logged.ok();
    if (logged.ok()) evidence.log_time = *logged;
    if (stamped.ok()) evidence.timestamp_time = *stamped;
    evidence.log_failure = std::string(logged.status().message());
    evidence.timestamp_failure = std::string(stamped.status().message());
  }
  if (root.require_transparency_log && !evidence.logged) {
    return absl::PermissionDeniedError(absl::StrCat("trust root \"", root.name,
                                                    "\" requires a transparency-log entry: ", evidence.log_failure));
  }
  std::optional<SigningTime> signed_at = EarlierSigningTime(evidence.log_time, evidence.timestamp_time);
  if (!signed_at.has_value() && root.short_lived) {
    return absl::PermissionDeniedError(absl::StrCat(
        "no proven signing time (", evidence.log_failure, "; ", evidence.timestamp_failure,
        "): a certificate of trust root \"", root.name,
        "\" counts only with a transparency-log entry or timestamp proving it was used while valid"));
  }
  const absl::Time at = signed_at.has_value() ? signed_at->time : now;
  if (root.certificate_authorities == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("trust root \"", root.name, "\" lists no certificate authority"));
  }
  absl::StatusOr<std::vector<std::string>> path =
      VerifyCertificateChain(leaf, chain, *root.certificate_authorities, at);
  if (!path.ok()) {
    if (path.status().code() == absl::StatusCode::kPermissionDenied ||
        path.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::PermissionDeniedError(absl::StrCat(
          path.status().message(),
          signed_at.has_value() ? absl::StrCat(" (at the signing time, ", DescribeSigningTime(signed_at), ")")
                                : absl::StrCat(" (no proven signing time: checked at ", FormatTimeUtc(now), ")")));
    }
    return path.status();
  }
  CertificateSigner signer{leaf, root.name, *std::move(path), {}};
  if (root.ct_logs != nullptr) {
    if (signer.chain.size() < 2) {
      return absl::PermissionDeniedError("certificate chain has no issuer to check the embedded SCTs against");
    }
    // The issuer is usually one of the root's certificate authorities, parsed when the root was built.
    const x509_st* issuer = root.certificate_authorities->Find(signer.chain[1]);
    absl::StatusOr<std::vector<VerifiedSct>> scts = issuer != nullptr
                                                        ? VerifyEmbeddedScts(leaf, issuer, *root.ct_logs)
                                                        : VerifyEmbeddedScts(leaf, signer.chain[1], *root.ct_logs);
    if (!scts.ok()) {
      if (scts.status().code() == absl::StatusCode::kPermissionDenied) {
        return absl::PermissionDeniedError(absl::StrCat("certificate transparency: ", scts.status().message()));
      }
      return scts.status();
    }
    for (const VerifiedSct& sct : *scts) {
      signer.scts.push_back(absl::StrCat(sct.log_id_hex, " at ", FormatTimeUtc(sct.timestamp)));
    }
  }
  return std::make_pair(std::move(signer), signed_at);
}

}  // namespace

absl::StatusOr<SigningTime> ProveByTransparencyLog(absl::string_view rekor_bundle, absl::string_view signer_der,
                                                   absl::string_view signature, absl::string_view signed_bytes,
                                                   absl::string_view root_name,
                                                   absl::Span<const TransparencyLogInput> logs) {
  if (rekor_bundle.empty()) {
    return absl::PermissionDeniedError("the signature has no Rekor bundle (transparency-log entry)");
  }
  if (logs.empty()) {
    return absl::PermissionDeniedError(absl::StrCat("trust root \"", root_name, "\" lists no transparency log"));
  }
  std::vector<std::shared_ptr<const PublicKey>> keys;
  keys.reserve(logs.size());
  for (const TransparencyLogInput& log : logs) keys.push_back(log.key);
  // PermissionDenied: why the SET does not count, already "Rekor SET: …".
  ASSIGN_OR_RETURN(RekorEntry entry, VerifyRekorSet(rekor_bundle, keys, signer_der, signature, signed_bytes));
  const absl::Time integrated = absl::FromUnixSeconds(entry.integrated_time);
  for (const TransparencyLogInput& log : logs) {
    if (log.key->Fingerprint() != entry.rekor_key) continue;
    if (!log.window.Contains(integrated)) {
      return absl::PermissionDeniedError(absl::StrCat("Rekor entry integrated at ", FormatTimeUtc(integrated),
                                                      ", outside the validity of log ", log.name, " (",
                                                      log.window.Describe(), ")"));
    }
    SigningTime time;
    time.time = integrated;
    time.source = TimeSource::kTransparencyLog;
    time.authority = absl::StrCat("rekor log ", entry.log_id, " index ", entry.log_index);
    time.trust_root = std::string(root_name);
    return time;
  }
  return absl::InternalError("the Rekor key that verified the SET is not one of the trust root's logs");
}

absl::StatusOr<SigningTime> ProveByTimestamp(absl::string_view timestamp_annotation, absl::string_view signature,
                                             absl::string_view root_name,
                                             absl::Span<const TimestampAuthorityInput> authorities) {
  if (timestamp_annotation.empty()) return absl::PermissionDeniedError("the signature has no RFC 3161 timestamp");
  if (authorities.empty()) {
    return absl::PermissionDeniedError(absl::StrCat("trust root \"", root_name, "\" lists no timestamp authority"));
  }
  absl::StatusOr<std::string> der = ParseCosignTimestampAnnotation(timestamp_annotation);
  if (!der.ok()) return absl::PermissionDeniedError(absl::StrCat("timestamp: ", der.status().message()));
  absl::StatusOr<VerifiedTimestamp> verified = VerifyRfc3161Timestamp(*der, signature, authorities);
  if (!verified.ok()) {
    if (verified.status().code() == absl::StatusCode::kPermissionDenied) {
      return absl::PermissionDeniedError(absl::StrCat("timestamp: ", verified.status().message()));
    }
    return verified.status();
  }
  SigningTime time;
  time.time = verified->gen_time;
  time.source = TimeSource::kTimestamp;
  time.authority = absl::StrCat("timestamp authority ", verified->authority);
  time.trust_root = std::string(root_name);
  return time;
}

absl::StatusOr<CertificateSignerResult> CheckCertificateSignature(const CertificateSignatureInput& input,
                                                                  absl::Span<const CertificateTrust> roots,
                                                                  absl::Time now) {
  CertificateSignerResult result;
  absl::StatusOr<Certificate> leaf = input.certificate_pem.empty()
                                         ? ParseCertificateDer(std::string(input.certificate_der))
                                         : ParseCertificatePem(input.certificate_pem);
  if (!leaf.ok()) {
    result.rejection = absl::StrCat(input.certificate_pem.empty() ? "certificate: " : "certificate annotation: ",
                                    leaf.status().message());
    return result;
  }
  absl::Status verified = input.signed_digest.empty()
                              ? leaf->SubjectPublicKey()->Verify(input.signed_bytes, input.signature)
                              : leaf->SubjectPublicKey()->VerifyDigest(input.signed_digest, input.signature);
  if (!verified.ok()) {
    if (verified.code() != absl::StatusCode::kPermissionDenied) return verified;
    result.rejection = absl::StrCat("the signature does not verify with the key of its certificate ",
                                    leaf->Fingerprint(), " (the signature or payload was altered)");
    return result;
  }
  std::vector<std::string> chain = input.chain_der;
  if (!input.chain_pem.empty()) {
    // Certificates the trust roots hold (parsed when they were built) are not parsed again.
    auto known = [&roots](absl::string_view der) {
      for (const CertificateTrust& root : roots) {
        if (root.certificate_authorities != nullptr && root.certificate_authorities->Contains(der)) return true;
      }
      return false;
    };
    absl::StatusOr<std::vector<std::string>> parsed = ParseCertificateChainPem(input.chain_pem, known);
    if (!parsed.ok()) {
      result.rejection = absl::StrCat("chain annotation: ", parsed.status().message());
      return result;
    }
    chain = *std::move(parsed);
  }
  std::vector<std::string> reasons;
  for (const CertificateTrust& root : roots) {
    absl::StatusOr<std::pair<CertificateSigner, std::optional<SigningTime>>> checked =
        CheckUnderRoot(input, *leaf, chain, root, now);
    if (checked.ok()) {
      result.signers.push_back(*std::move(checked));
      continue;
    }
    if (checked.status().code() != absl::StatusCode::kPermissionDenied) return checked.status();
    reasons.push_back(absl::StrCat("trust root \"", root.name, "\": ", checked.status().message()));
  }
  if (result.signers.empty()) {
    result.rejection = roots.empty() ? "no trust root is configured for certificate signatures"
                                     : absl::StrCat(leaf->Describe(), ": ", absl::StrJoin(reasons, "; "));
  }
  return result;
}

}  // namespace sigshim::verify
