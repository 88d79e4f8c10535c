#include "pkg/policy/attestations.h"

#include <utility>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "pkg/base/digest.h"
#include "pkg/policy/evaluation.h"
#include "pkg/verify/certificate_identity.h"

namespace sigshim::policy {
namespace {

// Returns the name of the required signer that signed `statement`, or why none did.
absl::StatusOr<std::string> RequiredSigner(const Rule& rule, const AttestationRule& attestation,
                                           const verify::SignedStatement& statement, absl::Time decided_at) {
  if (const auto* certificate = std::get_if<verify::CertificateSigner>(&statement.signer)) {
    if (rule.revocation != nullptr) {
      for (const std::string& der : certificate->chain) {
        if (rule.revocation->certificates.contains(Sha256Digest(der))) {
          return absl::PermissionDeniedError(
              absl::StrCat("certificate ", Sha256Digest(der), " of its chain is revoked ([revocation] certificates)"));
        }
      }
      if (rule.revocation->certificates.contains(certificate->certificate.Fingerprint())) {
        return absl::PermissionDeniedError(absl::StrCat("certificate ", certificate->certificate.Fingerprint(),
                                                        " is revoked ([revocation] certificates)"));
      }
    }
    std::vector<std::string> reasons;
    for (const TrustedIdentity& identity : attestation.identities) {
      if (identity.trust_root != certificate->trust_root) continue;
      absl::Status matched = verify::MatchCertificateIdentity(certificate->certificate, identity.identity);
      if (matched.ok()) return identity.name;
      reasons.push_back(absl::StrCat("not identity \"", identity.name, "\": ", matched.message()));
    }
    if (reasons.empty()) {
      return absl::PermissionDeniedError(
          absl::StrCat(verify::DescribeSigner(statement.signer), " is not among its require"));
    }
    return absl::PermissionDeniedError(absl::StrJoin(reasons, "; "));
  }
  const std::string& fingerprint = verify::SignerFingerprint(statement.signer);
  if (rule.revocation != nullptr && rule.revocation->keys.contains(fingerprint)) {
    return absl::PermissionDeniedError(absl::StrCat("key ", fingerprint, " is revoked ([revocation] keys)"));
  }
  for (const TrustedKey& key : attestation.keys) {
    if (key.key->Fingerprint() != fingerprint) continue;
    const absl::Time at = statement.signing_time.has_value() ? statement.signing_time->time : decided_at;
    if (!key.window.Contains(at)) {
      return absl::PermissionDeniedError(absl::StrCat("key \"", key.name, "\" is valid ", DescribeWindow(key.window),
                                                      "; signed at ",
                                                      verify::DescribeSigningTime(statement.signing_time)));
    }
    return key.name;
  }
  return absl::PermissionDeniedError(
      absl::StrCat("signed by an unknown key: ", verify::DescribeSigner(statement.signer), " is not among its require"));
}

}  // namespace

absl::StatusOr<std::string> PredicateString(absl::string_view predicate_json, absl::string_view path) {
  const nlohmann::json document = nlohmann::json::parse(predicate_json.begin(), predicate_json.end(), nullptr, false);
  if (document.is_discarded()) return absl::InvalidArgumentError("the predicate is not JSON");
  const nlohmann::json* at = &document;
  for (absl::string_view segment : absl::StrSplit(path, '.')) {
    if (!at->is_object()) return absl::NotFoundError(absl::StrCat("\"", path, "\" is missing (at \"", segment, "\")"));
    auto next = at->find(std::string(segment));
    if (next == at->end()) return absl::NotFoundError(absl::StrCat("\"", path, "\" is missing (at \"", segment, "\")"));
    at = &*next;
  }
  if (!at->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", path, "\" is a ", at->type_name(), ", not a string"));
  }
  return at->get<std::string>();
}

absl::StatusOr<std::string> MeetsAttestation(const Rule& rule, const AttestationRule& attestation,
                                             absl::string_view manifest_digest,
                                             const verify::SignedStatement& statement, absl::Time decided_at) {
  if (statement.kind != verify::StatementKind::kAttestation) {
    return absl::PermissionDeniedError("a signature, not an attestation");
  }
  if (statement.predicate_type != attestation.predicate_type) {
    return absl::PermissionDeniedError(absl::StrCat("predicate type ", statement.predicate_type.substr(0, 200),
                                                    ", not ", attestation.predicate_type));
  }
  if (statement.subject_digest != manifest_digest) {
    return absl::PermissionDeniedError(
        absl::StrCat("statement is for ", statement.subject_digest, ", not ", manifest_digest));
  }
  absl::StatusOr<std::string> signer = RequiredSigner(rule, attestation, statement, decided_at);
  if (!signer.ok()) return signer.status();
  std::vector<std::string> mismatches;
  for (const auto& [path, expected] : attestation.match) {
    absl::StatusOr<std::string> actual = PredicateString(statement.predicate_json, path);
    if (!actual.ok()) {
      mismatches.emplace_back(actual.status().message());
    } else if (*actual != expected) {
      mismatches.push_back(absl::StrCat("\"", path, "\" is \"", actual->substr(0, 200), "\", not \"", expected, "\""));
    }
  }
  if (!mismatches.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat("signed by \"", *signer, "\" but ", absl::StrJoin(mismatches, ", ")));
  }
  return signer;
}

AttestationCheck CheckAttestations(const Rule& rule, absl::string_view manifest_digest,
                                   absl::Span<const verify::SignedStatement> statements, absl::Time decided_at) {
  AttestationCheck check;
  for (const AttestationRule& attestation : rule.attestations) {
    const std::string title =
        absl::StrCat("attestation \"", attestation.name, "\" (", attestation.predicate_type, ")");
    std::vector<std::string> reasons;
    bool met = false;
    for (const verify::SignedStatement& statement : statements) {
      if (statement.kind != verify::StatementKind::kAttestation) continue;
      if (statement.predicate_type != attestation.predicate_type) continue;
      absl::StatusOr<std::string> signer = MeetsAttestation(rule, attestation, manifest_digest, statement, decided_at);
      if (!signer.ok()) {
        reasons.emplace_back(signer.status().message());
        continue;
      }
      check.counted.push_back(Evidence{*signer, statement, attestation.name});
      check.lines.push_back(absl::StrCat(title, ": signed by \"", *signer, "\" (",
                                         verify::DescribeSigner(statement.signer), ")"));
      met = true;
      break;
    }
    if (met) continue;
    check.satisfied = false;
    check.lines.push_back(absl::StrCat(title, " not met: ",
                                       reasons.empty() ? "no attestation of that type" : absl::StrJoin(reasons, "; ")));
  }
  return check;
}

}  // namespace sigshim::policy
