#include "pkg/verify/certificate_identity.h"

#include <re2/re2.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/verify/certificate_internal.h"

namespace sigshim::verify {
namespace {

// Compiles `pattern` for FullMatch; InvalidArgument naming `field` when RE2 refuses it.
absl::StatusOr<std::shared_ptr<const re2::RE2>> Compile(const std::string& pattern,
                                                         absl::string_view field) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(pattern, options);
  if (!re->ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " \"", Printable(pattern),
                                                   "\" is not a valid regular expression: ", re->error()));
  }
  return re;
}

std::string SanList(const Certificate& certificate) {
  std::vector<std::string> sans;
  for (const SubjectAltName& san : certificate.SubjectAltNames()) {
    sans.push_back(absl::StrCat(SanKindName(san.kind), ":", Printable(san.value)));
  }
  return sans.empty() ? "none" : absl::StrJoin(sans, ", ");
}

}  // namespace

absl::StatusOr<ValidatedCertificateIdentity> ValidateCertificateIdentity(
    CertificateIdentity identity, const CertificateIdentityOptions& options) {
  ValidatedCertificateIdentity out;
  if (!identity.issuer.empty() && !identity.issuer_regex.empty()) {
    return absl::InvalidArgumentError("identity gives both issuer and issuer_regex; give one");
  }
  if (options.issuer_required && identity.issuer.empty() && identity.issuer_regex.empty()) {
    return absl::InvalidArgumentError(
        "identity needs issuer or issuer_regex (certificates of this trust root carry the OIDC issuer)");
  }
  if (identity.subject.empty() == identity.subject_regex.empty()) {
    return absl::InvalidArgumentError(identity.subject.empty()
                                          ? "identity needs subject or subject_regex"
                                          : "identity gives both subject and subject_regex; give one");
  }
  if (!identity.issuer_regex.empty()) {
    absl::StatusOr<std::shared_ptr<const re2::RE2>> re = Compile(identity.issuer_regex, "issuer_regex");
    if (!re.ok()) return re.status();
    out.issuer_regex_ = *std::move(re);
  }
  if (!identity.subject_regex.empty()) {
    absl::StatusOr<std::shared_ptr<const re2::RE2>> re =
        Compile(identity.subject_regex, "subject_regex");
    if (!re.ok()) return re.status();
    out.subject_regex_ = *std::move(re);
  }
  for (const auto& [name, value] : identity.claims) {
    if (FindFulcioClaim(name) == nullptr) {
      std::vector<absl::string_view> known;
      for (const FulcioClaimInfo& claim : FulcioClaims()) known.push_back(claim.name);
      return absl::InvalidArgumentError(absl::StrCat("unknown claim \"", Printable(name),
                                                     "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  out.identity_ = std::make_shared<const CertificateIdentity>(std::move(identity));
  return out;
}

absl::Status MatchCertificateIdentity(const Certificate& certificate,
                                      const ValidatedCertificateIdentity& validated) {
  const CertificateIdentity& identity = *validated.identity_;
  std::vector<std::string> differences;

  if (!identity.issuer.empty() || validated.issuer_regex_ != nullptr) {
    if (certificate.OidcIssuerSource() == IssuerSource::kNone) {
      differences.push_back(absl::StrCat("certificate has no issuer extension (", kOidFulcioIssuerV2,
                                         " or ", kOidFulcioIssuerV1, ")"));
    } else if (!identity.issuer.empty()) {
      if (certificate.OidcIssuer() != identity.issuer) {
        differences.push_back(absl::StrCat("issuer is ", Printable(certificate.OidcIssuer()),
                                           ", expected ", Printable(identity.issuer)));
      }
    } else if (!re2::RE2::FullMatch(certificate.OidcIssuer(), *validated.issuer_regex_)) {
      differences.push_back(absl::StrCat("issuer is ", Printable(certificate.OidcIssuer()),
                                         ", which does not match issuer_regex ",
                                         Printable(identity.issuer_regex)));
    }
  }

  bool subject_found = false;
  for (const SubjectAltName& san : certificate.SubjectAltNames()) {
    subject_found = validated.subject_regex_ != nullptr
                        ? re2::RE2::FullMatch(san.value, *validated.subject_regex_)
                        : san.value == identity.subject;
    if (subject_found) break;
  }
  if (!subject_found) {
    differences.push_back(
        validated.subject_regex_ != nullptr
            ? absl::StrCat("no SAN matches subject_regex ", Printable(identity.subject_regex),
                           " (SANs: ", SanList(certificate), ")")
            : absl::StrCat("no SAN is ", Printable(identity.subject), " (SANs: ", SanList(certificate),
                           ")"));
  }

  for (const auto& [name, expected] : identity.claims) {
    auto it = certificate.Claims().find(name);
    if (it == certificate.Claims().end()) {
      differences.push_back(absl::StrCat("certificate has no claim ", name, " (",
                                         FindFulcioClaim(name)->oid, "), expected ", Printable(expected)));
    } else if (it->second != expected) {
      differences.push_back(absl::StrCat("claim ", name, " is ", Printable(it->second), ", expected ",
                                         Printable(expected)));
    }
  }
  if (differences.empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrJoin(differences, "; "));
}

}  // namespace sigshim::verify
