#include "pkg/trust/trust_root.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pkg/trust/certificate_facts.h"

namespace sigshim::trust {
namespace {

const TransparencyLog* FindLog(const std::vector<TransparencyLog>& logs, absl::string_view log_id) {
  for (const TransparencyLog& log : logs) {
    if (log.log_id == log_id) return &log;
  }
  return nullptr;
}

std::vector<const CertificateAuthority*> At(const std::vector<CertificateAuthority>& authorities, absl::Time time) {
  std::vector<const CertificateAuthority*> out;
  for (const CertificateAuthority& authority : authorities) {
    if (authority.valid_for.Contains(time)) out.push_back(&authority);
  }
  return out;
}

void DescribeAuthority(absl::string_view what, const CertificateAuthority& authority, std::string& out) {
  absl::StrAppend(&out, "  ", what, " ", authority.subject);
  if (!authority.uri.empty()) absl::StrAppend(&out, " ", authority.uri);
  // The anchor's fingerprint: what [revocation] certificates takes.
  absl::StatusOr<internal::CertificateFacts> anchor = internal::InspectCertificate(authority.anchor_der());
  absl::StrAppend(&out, " anchor ", anchor.ok() ? anchor->fingerprint : "(unreadable)", ", ",
                  authority.chain_der.size(), authority.chain_der.size() == 1 ? " certificate" : " certificates",
                  ", valid ", authority.valid_for.Describe(), "\n");
}

void DescribeLog(absl::string_view what, const TransparencyLog& log, std::string& out) {
  absl::StrAppend(&out, "  ", what, " ", log.base_url.empty() ? "(no URL)" : log.base_url, " ",
                  verify::KeyAlgorithmName(log.public_key->Algorithm()), " ", log.public_key->Fingerprint(),
                  " log id ", log.LogIdHex(), ", valid ", log.valid_for.Describe(), "\n");
}

}  // namespace

absl::string_view TrustRootKindName(TrustRootKind kind) {
  switch (kind) {
    case TrustRootKind::kSigstore:
      return "sigstore trusted_root";
    case TrustRootKind::kPrivatePki:
      return "private PKI";
  }
  return "unknown";
}

std::string TransparencyLog::LogIdHex() const { return absl::BytesToHexString(log_id); }

const TransparencyLog* TrustRoot::FindTransparencyLog(absl::string_view log_id) const {
  return FindLog(transparency_logs, log_id);
}

const TransparencyLog* TrustRoot::FindCtLog(absl::string_view log_id) const { return FindLog(ct_logs, log_id); }

std::vector<const CertificateAuthority*> TrustRoot::CertificateAuthoritiesAt(absl::Time time) const {
  return At(certificate_authorities, time);
}

std::vector<const CertificateAuthority*> TrustRoot::TimestampAuthoritiesAt(absl::Time time) const {
  return At(timestamp_authorities, time);
}

std::string TrustRoot::Describe() const {
  std::string out = absl::StrCat("trust root \"", name, "\" (", TrustRootKindName(kind));
  for (const std::string& file : source) absl::StrAppend(&out, " ", file);
  absl::StrAppend(&out, "), transparency log ", require_transparency_log ? "required" : "not required", "\n");
  for (const CertificateAuthority& ca : certificate_authorities) DescribeAuthority("ca", ca, out);
  for (const TransparencyLog& log : transparency_logs) DescribeLog("tlog", log, out);
  for (const TransparencyLog& log : ct_logs) DescribeLog("ctlog", log, out);
  for (const CertificateAuthority& tsa : timestamp_authorities) DescribeAuthority("tsa", tsa, out);
  return out;
}

}  // namespace sigshim::trust
