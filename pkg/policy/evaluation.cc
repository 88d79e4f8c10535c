#include "pkg/policy/evaluation.h"

#include <algorithm>
#include <functional>
#include <utility>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/digest.h"
#include "pkg/verify/certificate_identity.h"
#include "pkg/verify/bundle.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/identity.h"

namespace sigshim::policy {
namespace {

std::string ShortDigest(absl::string_view digest) {
  if (digest.empty()) return "(no layer digest)";
  return absl::StrCat(digest.substr(0, 7 + 12), "…");
}

}  // namespace

std::string DescribeWindow(const verify::ValidityWindow& window) {
  const bool has_start = window.start != absl::InfinitePast();
  const bool has_end = window.end != absl::InfiniteFuture();
  if (has_start && has_end) {
    return absl::StrCat("from ", verify::FormatTimeUtc(window.start), " to ", verify::FormatTimeUtc(window.end));
  }
  if (has_start) return absl::StrCat("from ", verify::FormatTimeUtc(window.start));
  if (has_end) return absl::StrCat("until ", verify::FormatTimeUtc(window.end));
  return "always";
}

verify::SimpleSigningProducerOptions ProducerOptionsFor(const Rule& rule) {
  verify::SimpleSigningProducerOptions options;
  options.keys.reserve(rule.keys.size());
  auto add = [&](const TrustedKey& key) {
    for (const auto& k : options.keys) {
      if (k->Fingerprint() == key.key->Fingerprint()) return;
    }
    options.keys.push_back(key.key);
    if (key.time_evidence.has_value()) options.key_time_evidence[key.key->Fingerprint()] = *key.time_evidence;
  };
  for (const TrustedKey& key : rule.keys) add(key);
  for (const AttestationRule& attestation : rule.attestations) {
    for (const TrustedKey& key : attestation.keys) add(key);
  }
  options.certificate_trust = rule.certificate_trust;
  return options;
}

verify::BundleProducerOptions BundleOptionsFor(const Rule& rule, absl::string_view manifest_digest,
                                               absl::Time decided_at) {
  verify::SimpleSigningProducerOptions signers = ProducerOptionsFor(rule);
  verify::BundleProducerOptions options;
  options.artifact_digests = {std::string(manifest_digest)};
  options.keys = std::move(signers.keys);
  options.key_time_evidence = std::move(signers.key_time_evidence);
  options.certificate_trust = std::move(signers.certificate_trust);
  options.now = decided_at;
  return options;
}

verify::AttestationProducerOptions AttestationOptionsFor(const Rule& rule, absl::string_view manifest_digest,
                                                         absl::Time decided_at) {
  verify::BundleProducerOptions bundle = BundleOptionsFor(rule, manifest_digest, decided_at);
  verify::AttestationProducerOptions options;
  options.artifact_digest = std::string(manifest_digest);
  options.keys = std::move(bundle.keys);
  options.key_time_evidence = std::move(bundle.key_time_evidence);
  options.certificate_trust = std::move(bundle.certificate_trust);
  options.now = decided_at;
  return options;
}

std::string SignatureLabel(size_t n, absl::string_view layer_digest) {
  return absl::StrCat("signature ", n, " (", ShortDigest(layer_digest), ")");
}

RuleEvaluation::RuleEvaluation(const Rule& rule, Target target, absl::Time decided_at)
    : rule_(rule), target_(std::move(target)), decided_at_(decided_at) {}

absl::Status RuleEvaluation::ValidateTarget(const Target& target) {
  if (absl::Status valid = ValidateDigest(target.manifest_digest); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("target manifest digest: ", valid.message()));
  }
  return absl::OkStatus();
}

void RuleEvaluation::AddSignature(absl::string_view label, const verify::Signature& signature,
                                  ArtifactSource source) {
  verify::SimpleSigningProducerOptions options = ProducerOptionsFor(rule_);
  options.now = decided_at_;
  if (source.format.empty()) source.format = std::string(verify::kCosignSimpleSigningFormat);
  if (source.digest.empty()) source.digest = signature.layer_digest;
  AddProduced(label, verify::ProduceSimpleSigningStatements(signature, options), std::move(source));
}

void RuleEvaluation::AddAttestation(absl::string_view label, const verify::Signature& layer, ArtifactSource source) {
  if (source.format.empty()) source.format = std::string(verify::kCosignAttestationFormat);
  if (source.digest.empty()) source.digest = layer.layer_digest;
  AddProduced(label,
              verify::ProduceAttestationStatements(layer, AttestationOptionsFor(rule_, target_.manifest_digest, decided_at_)),
              std::move(source));
}

void RuleEvaluation::AddBundle(absl::string_view label, absl::string_view bundle_json,
                               absl::string_view layer_digest, ArtifactSource source) {
  if (source.format.empty()) source.format = std::string(verify::kSigstoreBundleFormat);
  if (source.digest.empty()) source.digest = std::string(layer_digest);
  absl::StatusOr<verify::ProducedStatements> produced =
      verify::ProduceBundleStatements(bundle_json, BundleOptionsFor(rule_, target_.manifest_digest, decided_at_));
  if (produced.ok()) {
    for (verify::SignedStatement& statement : produced->statements) {
      statement.artifact.layer_digest = std::string(layer_digest);
    }
  }
  AddProduced(label, produced, std::move(source));
}

bool RuleEvaluation::AddStored(absl::string_view label, const verify::Signature& artifact) {
  if (artifact.media_type == verify::kSimpleSigningMediaType) {
    AddSignature(label, artifact);
    return true;
  }
  if (verify::BundleMinorVersion(artifact.media_type) != 0) {
    AddBundle(label, artifact.payload, artifact.layer_digest);
    return true;
  }
  if (artifact.media_type == verify::kDsseEnvelopeMediaType) {
    AddAttestation(label, artifact);
    return true;
  }
  return false;
}

void RuleEvaluation::AddProduced(absl::string_view label,
                                 const absl::StatusOr<verify::ProducedStatements>& produced, ArtifactSource source) {
  AddedArtifact& added = artifacts_.emplace_back();
  added.record.format = std::move(source.format);
  added.record.location = source.location.empty() ? std::string(label) : std::move(source.location);
  added.record.digest = std::move(source.digest);
  if (!produced.ok()) {
    if (error_.ok()) error_ = produced.status();
    rejections_.push_back(absl::StrCat(label, ": could not be checked: ", produced.status().message()));
    rejection_artifact_.push_back(artifacts_.size() - 1);
    added.reasons.push_back(absl::StrCat("could not be checked: ", produced.status().message()));
    return;
  }
  if (produced->statements.empty()) {
    rejections_.push_back(absl::StrCat(label, ": ", produced->rejection));
    rejection_artifact_.push_back(artifacts_.size() - 1);
    added.reasons.push_back(produced->rejection);
    return;
  }
  added.record.kind = std::string(verify::StatementKindName(produced->statements.front().kind));
  added.record.predicate_type = produced->statements.front().predicate_type;
  std::vector<std::string> reasons;
  for (const verify::SignedStatement& statement : produced->statements) {
    if (statement.kind == verify::StatementKind::kAttestation) {
      attestations_.push_back(statement);
      added.attestations.push_back(statement);
    }
    absl::StatusOr<Counted> counted = Judge(statement);
    if (!counted.ok()) {
      reasons.push_back(std::string(counted.status().message()));
      if (statement.kind == verify::StatementKind::kSignature) added.reasons.push_back(reasons.back());
      continue;
    }
    counted_.push_back(Evidence{counted->name, statement, /*attestation=*/""});
    added.record.counted_for.push_back(absl::StrCat("identity \"", counted->name, "\""));
    const absl::Time until = statement.signing_time.has_value() ? absl::InfiniteFuture() : counted->valid_until;
    bool known = false;
    for (auto& [name, latest] : until_by_name_) {
      if (name != counted->name) continue;
      latest = std::max(latest, until);
      known = true;
    }
    if (!known) until_by_name_.emplace_back(counted->name, until);
  }
  if (reasons.size() == produced->statements.size()) {
    rejections_.push_back(absl::StrCat(label, ": ", absl::StrJoin(reasons, "; ")));
    rejection_artifact_.push_back(artifacts_.size() - 1);
  }
}

void RuleEvaluation::AddRejection(absl::string_view label, absl::string_view reason, ArtifactSource source) {
  rejections_.push_back(absl::StrCat(label, ": ", reason));
  rejection_artifact_.push_back(artifacts_.size());
  AddedArtifact& added = artifacts_.emplace_back();
  added.record.format = std::move(source.format);
  added.record.location = source.location.empty() ? std::string(label) : std::move(source.location);
  added.record.digest = std::move(source.digest);
  added.reasons.emplace_back(reason);
}

void RuleEvaluation::AddUnexamined(ArtifactSource source, absl::string_view reason) {
  AddedArtifact& added = artifacts_.emplace_back();
  added.record.format = std::move(source.format);
  added.record.location = std::move(source.location);
  added.record.digest = std::move(source.digest);
  added.reasons.emplace_back(reason);
}

std::vector<std::string> RuleEvaluation::UncountedRejections() const {
  const std::vector<ArtifactRecord> records = Artifacts();
  std::vector<std::string> lines;
  for (size_t i = 0; i < rejections_.size(); ++i) {
    const size_t artifact = i < rejection_artifact_.size() ? rejection_artifact_[i] : records.size();
    if (artifact < records.size() && !records[artifact].counted_for.empty()) continue;
    lines.push_back(rejections_[i]);
  }
  return lines;
}

std::vector<ArtifactRecord> RuleEvaluation::Artifacts() const {
  std::vector<ArtifactRecord> records;
  records.reserve(artifacts_.size());
  for (const AddedArtifact& added : artifacts_) {
    ArtifactRecord record = added.record;
    std::vector<std::string> reasons = added.reasons;
    for (const verify::SignedStatement& statement : added.attestations) {
      bool asked = false;
      for (const AttestationRule& attestation : rule_.attestations) {
        if (attestation.predicate_type != statement.predicate_type) continue;
        asked = true;
        absl::StatusOr<std::string> signer =
            MeetsAttestation(rule_, attestation, target_.manifest_digest, statement, decided_at_);
        if (signer.ok()) {
          record.counted_for.push_back(
              absl::StrCat("attestation \"", attestation.name, "\" (signed by \"", *signer, "\")"));
        } else {
          reasons.push_back(absl::StrCat("not attestation \"", attestation.name, "\": ", signer.status().message()));
        }
      }
      if (!asked) {
        reasons.push_back(absl::StrCat("an attestation (predicate type ", statement.predicate_type.substr(0, 200),
                                       "), and no [[policy.attestations]] entry of policy \"", rule_.name,
                                       "\" asks for that type"));
      }
    }
    if (record.counted_for.empty()) {
      std::vector<std::string> unique;
      for (std::string& r : reasons) {
        if (std::find(unique.begin(), unique.end(), r) == unique.end()) unique.push_back(std::move(r));
      }
      record.reason = absl::StrJoin(unique, "; ");
    }
    records.push_back(std::move(record));
  }
  return records;
}

int RuleEvaluation::DistinctCounted() const { return static_cast<int>(until_by_name_.size()); }

bool RuleEvaluation::SignaturesSatisfied() const { return DistinctCounted() >= std::max(rule_.threshold, 1); }

bool RuleEvaluation::Satisfied() const {
  return SignaturesSatisfied() && (rule_.attestations.empty() || Attestations().satisfied);
}

AttestationCheck RuleEvaluation::Attestations() const {
  return CheckAttestations(rule_, target_.manifest_digest, attestations_, decided_at_);
}

std::vector<Evidence> RuleEvaluation::AllEvidence() const {
  std::vector<Evidence> all = counted_;
  if (!rule_.attestations.empty()) {
    for (Evidence& e : Attestations().counted) all.push_back(std::move(e));
  }
  return all;
}

absl::Time RuleEvaluation::CountsUntil() const {
  if (!Satisfied()) return absl::InfinitePast();
  std::vector<absl::Time> until;
  for (const auto& [name, latest] : until_by_name_) until.push_back(latest);
  std::sort(until.begin(), until.end(), std::greater<absl::Time>());
  return until[std::max(rule_.threshold, 1) - 1];
}

absl::StatusOr<RuleEvaluation::Counted> RuleEvaluation::Judge(const verify::SignedStatement& statement) const {
  // Only a signature says "this image is approved": an attestation (SLSA provenance, a scan result)
  // by the right signer is not one.
  if (statement.kind != verify::StatementKind::kSignature) {
    return absl::PermissionDeniedError(absl::StrCat("an attestation (predicate type ",
                                                    statement.predicate_type.substr(0, 200),
                                                    "), not a signature"));
  }
  if (rule_.revocation != nullptr) {
    if (const auto* certificate = std::get_if<verify::CertificateSigner>(&statement.signer)) {
      if (rule_.revocation->certificates.contains(certificate->certificate.Fingerprint())) {
        return absl::PermissionDeniedError(absl::StrCat("certificate ", certificate->certificate.Fingerprint(),
                                                        " is revoked ([revocation] certificates)"));
      }
      for (size_t i = 0; i < certificate->chain.size(); ++i) {
        const std::string digest = Sha256Digest(certificate->chain[i]);
        if (rule_.revocation->certificates.contains(digest)) {
          return absl::PermissionDeniedError(absl::StrCat("certificate ", digest, " (", i == 0 ? "the leaf" : "a CA",
                                                          " of its verified chain) is revoked ([revocation] certificates)"));
        }
      }
    } else if (rule_.revocation->keys.contains(verify::SignerFingerprint(statement.signer))) {
      return absl::PermissionDeniedError(
          absl::StrCat("key ", verify::SignerFingerprint(statement.signer), " is revoked ([revocation] keys)"));
    }
  }
  if (statement.subject_digest != target_.manifest_digest) {
    return absl::PermissionDeniedError(
        absl::StrCat("payload is for ", statement.subject_digest, ", not ", target_.manifest_digest));
  }
  if (const auto* certificate = std::get_if<verify::CertificateSigner>(&statement.signer)) {
    return JudgeCertificate(statement, *certificate);
  }
  const TrustedKey* key = nullptr;
  for (const TrustedKey& k : rule_.keys) {
    if (k.key->Fingerprint() == verify::SignerFingerprint(statement.signer)) key = &k;
  }
  if (key == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("signed by an unknown key: ",
                                                    verify::DescribeSigner(statement.signer),
                                                    " is not required by policy \"", rule_.name, "\""));
  }
  if (absl::Status identity = MatchReference(statement); !identity.ok()) return identity;
  if (!key->transparency_log.empty() &&
      (!statement.signing_time.has_value() || statement.signing_time->trust_root != key->transparency_log)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "key \"", key->name, "\" counts only with a transparency-log entry or timestamp of trust root \"",
        key->transparency_log, "\", and this signature carries none that verifies"));
  }
  if (statement.signing_time.has_value()) {
    if (!key->window.Contains(statement.signing_time->time)) {
      return absl::PermissionDeniedError(absl::StrCat("key \"", key->name, "\" is valid ",
                                                      DescribeWindow(key->window), "; signed at ",
                                                      verify::DescribeSigningTime(statement.signing_time)));
    }
  } else if (!key->window.Contains(decided_at_)) {
    return absl::PermissionDeniedError(absl::StrCat("key \"", key->name, "\" is valid ", DescribeWindow(key->window),
                                                    "; no proven signing time, decided at ",
                                                    verify::FormatTimeUtc(decided_at_)));
  }
  return Counted{key->name, key->window.end};
}

absl::StatusOr<RuleEvaluation::Counted> RuleEvaluation::JudgeCertificate(
    const verify::SignedStatement& statement, const verify::CertificateSigner& signer) const {
  std::vector<std::string> reasons;
  const TrustedIdentity* identity = nullptr;
  for (const TrustedIdentity& i : rule_.identities) {
    if (i.trust_root != signer.trust_root) continue;
    absl::Status matched = verify::MatchCertificateIdentity(signer.certificate, i.identity);
    if (matched.ok()) {
      identity = &i;
      break;
    }
    reasons.push_back(absl::StrCat("not identity \"", i.name, "\": ", matched.message()));
  }
  if (identity == nullptr) {
    if (reasons.empty()) {
      return absl::PermissionDeniedError(absl::StrCat(verify::DescribeSigner(statement.signer), " is not required by policy \"",
                                                      rule_.name, "\""));
    }
    return absl::PermissionDeniedError(absl::StrJoin(reasons, "; "));
  }
  if (absl::Status reference = MatchReference(statement); !reference.ok()) return reference;
  // Without a proven signing time (a private PKI), the chain was judged at the decision time: it
  // counts until the leaf expires.
  return Counted{identity->name, signer.certificate.NotAfter()};
}

absl::Status RuleEvaluation::MatchReference(const verify::SignedStatement& statement) const {
  // A sigstore bundle names no docker-reference: its in-toto subject (or message digest) binds it
  // to the manifest digest alone.
  if (statement.artifact.format == verify::kSigstoreBundleFormat) return absl::OkStatus();
  return verify::MatchIdentity(rule_.reference_rule, statement.artifact.docker_reference, target_.image);
}

std::string RuleEvaluation::Identities() const {
  std::vector<std::string> names;
  for (const Evidence& e : counted_) {
    bool seen = false;
    for (const std::string& n : names) seen = seen || n == e.identity;
    if (!seen) names.push_back(e.identity);
  }
  return absl::StrJoin(names, ",");
}

std::optional<verify::SigningTime> RuleEvaluation::EarliestSigningTime() const {
  std::optional<verify::SigningTime> earliest;
  for (const Evidence& e : counted_) earliest = verify::EarlierSigningTime(earliest, e.statement.signing_time);
  return earliest;
}

std::string RuleEvaluation::Explain() const {
  if (SignaturesSatisfied() && !rule_.attestations.empty()) {
    const AttestationCheck check = Attestations();
    std::string signatures = ExplainSignatures();
    if (check.satisfied) return absl::StrCat(signatures, "; ", absl::StrJoin(check.lines, "; "));
    std::vector<std::string> unmet;
    for (const std::string& line : check.lines) {
      if (absl::StrContains(line, " not met: ")) unmet.push_back(line);
    }
    return absl::StrCat(absl::StrJoin(unmet, "; "), " (signatures: ", signatures, ")");
  }
  return ExplainSignatures();
}

std::string RuleEvaluation::ExplainSignatures() const {
  if (SignaturesSatisfied() || (!counted_.empty() && rejections_.empty())) {
    std::vector<std::string> parts;
    for (const Evidence& e : counted_) {
      // A bundle names no docker-reference: its statement is about the digest alone.
      const std::string what = e.statement.artifact.docker_reference.empty()
                                   ? absl::StrCat(e.statement.subject_digest, " (", e.statement.artifact.format, ")")
                                   : e.statement.artifact.docker_reference;
      std::string part = absl::StrCat("signed by \"", e.identity, "\" (", verify::DescribeSigner(e.statement.signer),
                                       ") for ", what);
      if (e.statement.signing_time.has_value()) {
        absl::StrAppend(&part, ", at ", verify::DescribeSigningTime(e.statement.signing_time));
      }
      parts.push_back(std::move(part));
    }
    std::string explained = absl::StrJoin(parts, "; ");
    if (SignaturesSatisfied()) return explained;
    return absl::StrCat(ShortOfThreshold(), ": ", explained);
  }
  if (!counted_.empty()) return absl::StrCat(ShortOfThreshold(), "; the others: ", absl::StrJoin(rejections_, "; "));
  if (rejections_.empty()) return "no signature";
  return absl::StrCat("no valid signature: ", absl::StrJoin(rejections_, "; "));
}

std::string RuleEvaluation::ShortOfThreshold() const {
  std::vector<std::string> names;
  for (const TrustedKey& k : rule_.keys) names.push_back(k.name);
  for (const TrustedIdentity& i : rule_.identities) names.push_back(i.name);
  std::vector<std::string> counted;
  for (const auto& [name, until] : until_by_name_) counted.push_back(absl::StrCat("\"", name, "\""));
  return absl::StrCat(DistinctCounted(), " of ", names.size(), " required signers counted (", absl::StrJoin(counted, ", "),
                      "); policy \"", rule_.name, "\" needs ", rule_.threshold, " of ", absl::StrJoin(names, ", "));
}

RuleEvaluation EvaluateSignatures(const Rule& rule, const Target& target,
                                  absl::Span<const verify::Signature> signatures, absl::Time decided_at,
                                  int max_signatures, int* ignored) {
  RuleEvaluation evaluation(rule, target, decided_at);
  int skipped = 0;
  int checked = 0;
  int unchecked = 0;
  for (const verify::Signature& signature : signatures) {
    if (signature.media_type != verify::kSimpleSigningMediaType &&
        verify::BundleMinorVersion(signature.media_type) == 0 && signature.media_type != verify::kDsseEnvelopeMediaType) {
      ++skipped;
      continue;
    }
    if (checked == max_signatures) {
      ++unchecked;
      continue;
    }
    ++checked;
    evaluation.AddStored(SignatureLabel(checked, signature.layer_digest), signature);
  }
  if (unchecked > 0) {
    evaluation.AddRejection(absl::StrCat(unchecked, " further signature(s)"),
                            absl::StrCat("not checked (limit of ", max_signatures, " reached)"));
  }
  if (ignored != nullptr) *ignored = skipped;
  return evaluation;
}

}  // namespace sigshim::policy
