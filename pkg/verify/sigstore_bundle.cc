#include "pkg/verify/sigstore_bundle.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/bundle.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/intoto.h"
#include "pkg/verify/signer_search.h"
#include "pkg/verify/timestamp.h"
#include "pkg/verify/transparency_log.h"

namespace sigshim::verify {
namespace {

ProducedStatements Reject(std::string reason) {
  ProducedStatements produced;
  produced.rejection = std::move(reason);
  return produced;
}

// Verifies the bundle's log entries and timestamps against one root's logs and authorities.
// PermissionDenied when an entry of one of its logs does not verify (the root refuses the
// signature); Internal when the crypto library fails.
absl::StatusOr<SignerEvidence> VerifyEvidence(const Bundle& bundle, const LogEntryBinding& binding,
                                              absl::string_view root_name,
                                              absl::Span<const TransparencyLogInput> logs,
                                              absl::Span<const TimestampAuthorityInput> authorities) {
  SignerEvidence evidence;
  std::vector<std::string> stamp_failures;
  if (bundle.rfc3161_timestamps.empty()) stamp_failures.push_back("the bundle has no RFC 3161 timestamp");
  if (!bundle.rfc3161_timestamps.empty() && authorities.empty()) {
    stamp_failures.push_back(absl::StrCat("trust root \"", root_name, "\" lists no timestamp authority"));
  }
  if (!authorities.empty()) {
    for (const std::string& der : bundle.rfc3161_timestamps) {
      absl::StatusOr<VerifiedTimestamp> verified = VerifyRfc3161Timestamp(der, binding.signature, authorities);
      if (!verified.ok()) {
        if (verified.status().code() != absl::StatusCode::kPermissionDenied) return verified.status();
        stamp_failures.push_back(absl::StrCat("timestamp: ", verified.status().message()));
        continue;
      }
      ++evidence.timestamps;
      SigningTime time;
      time.time = verified->gen_time;
      time.source = TimeSource::kTimestamp;
      time.authority = absl::StrCat("timestamp authority ", verified->authority);
      time.trust_root = std::string(root_name);
      evidence.time.timestamp_time = EarlierSigningTime(evidence.time.timestamp_time, time);
    }
  }
  if (!evidence.time.timestamp_time.has_value()) evidence.time.timestamp_failure = absl::StrJoin(stamp_failures, "; ");

  std::vector<std::string> log_failures;
  if (bundle.tlog_entries.empty()) log_failures.push_back("the bundle has no transparency-log entry");
  if (!bundle.tlog_entries.empty() && logs.empty()) {
    log_failures.push_back(absl::StrCat("trust root \"", root_name, "\" lists no transparency log"));
  }
  if (!logs.empty()) {
    for (const TransparencyLogEntry& entry : bundle.tlog_entries) {
      absl::StatusOr<VerifiedLogEntry> verified = VerifyTransparencyLogEntry(entry, binding, logs);
      if (!verified.ok()) {
        if (verified.status().code() == absl::StatusCode::kNotFound) {
          log_failures.push_back(std::string(verified.status().message()));
          continue;
        }
        return verified.status();  // PermissionDenied: a log of this root contradicts the bundle
      }
      if (verified->rekor_v2) {
        const std::optional<SigningTime>& stamped = evidence.time.timestamp_time;
        if (!stamped.has_value()) {
          log_failures.push_back(absl::StrCat(verified->description,
                                              ": a Rekor v2 entry has no integrated time, and no RFC 3161 timestamp "
                                              "proves when it was made (",
                                              evidence.time.timestamp_failure, ")"));
          continue;
        }
        if (!verified->log->window.Contains(stamped->time)) {
          log_failures.push_back(absl::StrCat(verified->description, ": timestamped at ", FormatTimeUtc(stamped->time),
                                              ", outside the validity of log ", verified->log->name, " (",
                                              verified->log->window.Describe(), ")"));
          continue;
        }
      }
      ++evidence.tlog_entries;
      evidence.time.logged = true;
      if (verified->integrated_time.has_value()) {
        ++evidence.integrated_times;
        SigningTime time;
        time.time = *verified->integrated_time;
        time.source = TimeSource::kTransparencyLog;
        time.authority = verified->description;
        time.trust_root = std::string(root_name);
        evidence.time.log_time = EarlierSigningTime(evidence.time.log_time, time);
      }
    }
  }
  if (!evidence.time.logged) {
    evidence.time.log_failure = absl::StrJoin(log_failures, "; ");
  } else if (!evidence.time.log_time.has_value()) {
    evidence.time.log_failure = "the verified transparency-log entries prove no integrated time";
  }
  return evidence;
}

// Returns "<algorithm>:<hex>" of a message signature's digest.
std::string MessageDigestString(const BundleMessageSignature& message) {
  return absl::StrCat(message.digest_algorithm, ":", absl::BytesToHexString(message.digest));
}

}  // namespace

absl::StatusOr<ProducedStatements> ProduceBundleStatements(absl::string_view bundle_json,
                                                           const BundleProducerOptions& options) {
  if (options.artifact_digests.empty()) return Reject("no artifact digest to check the bundle against");
  absl::StatusOr<Bundle> bundle = ParseBundle(bundle_json);
  if (!bundle.ok()) return Reject(std::string(bundle.status().message()));

  // What was signed, and how a log entry must record it.
  LogEntryBinding binding;
  std::string pae;
  if (bundle->dsse_envelope.has_value()) {
    const DsseEnvelope& envelope = *bundle->dsse_envelope;
    if (envelope.signatures.size() != 1) {
      return Reject(absl::StrCat("the DSSE envelope carries ", envelope.signatures.size(),
                                 " signatures; exactly one signature is required"));
    }
    pae = DssePae(envelope.payload_type, envelope.payload);
    binding.signature = envelope.signatures[0].sig;
    binding.dsse = true;
    binding.dsse_payload_type = envelope.payload_type;
    binding.dsse_payload = envelope.payload;
  } else {
    const BundleMessageSignature& message = *bundle->message_signature;
    binding.signature = message.signature;
    binding.message_digest_algorithm = message.digest_algorithm;
    binding.message_digest = message.digest;
  }
  // Checks `key` against the signed content; PermissionDenied when it does not verify.
  auto verify_with = [&](const PublicKey& key) -> absl::Status {
    if (binding.dsse) return key.Verify(pae, binding.signature);
    if (options.artifact != nullptr) return key.Verify(*options.artifact, binding.signature);
    return key.VerifyDigest(binding.message_digest, binding.signature);
  };

  const SignerEvidenceCheck evidence = [&](const LogEntryBinding& bound, absl::string_view root_name,
                                            absl::Span<const TransparencyLogInput> logs,
                                            absl::Span<const TimestampAuthorityInput> authorities) {
    return VerifyEvidence(*bundle, bound, root_name, logs, authorities);
  };
  SignerSearch found;
  if (bundle->public_key) {
    RETURN_IF_ERROR(FindKeySigners(options.keys, options.key_time_evidence, verify_with, binding, evidence, &found));
    if (found.signers.empty() && found.reasons.empty()) {
      found.reasons.push_back(absl::StrCat("signed by an unknown key: the signature does not verify with any of the ",
                                           options.keys.size(),
                                           " trusted keys (another key made it, or the signature or content was altered)"));
    }
  } else if (options.certificate_trust.empty()) {
    found.reasons.push_back("a certificate signature, and no trust root is configured for certificates");
  } else {
    CertificateSignatureInput input;
    input.certificate_der = bundle->certificates.front();
    input.chain_der.assign(bundle->certificates.begin() + 1, bundle->certificates.end());
    input.signature = binding.signature;
    if (binding.dsse) {
      input.signed_bytes = pae;
    } else if (options.artifact != nullptr) {
      input.signed_bytes = *options.artifact;
    } else {
      input.signed_digest = binding.message_digest;
    }
    RETURN_IF_ERROR(
        FindCertificateSigners(std::move(input), options.certificate_trust, options.now, binding, evidence, &found));
  }
  if (found.signers.empty()) return Reject(absl::StrJoin(found.reasons, "; "));

  // The content, now that it is authenticated.
  ProducedStatements produced;
  std::string subject;
  StatementKind kind = StatementKind::kSignature;
  std::string predicate_type;
  std::string predicate_json;
  if (binding.dsse) {
    const DsseEnvelope& envelope = *bundle->dsse_envelope;
    if (envelope.payload_type != kInTotoPayloadType) {
      return Reject(absl::StrCat("the DSSE payload type is \"", envelope.payload_type.substr(0, 100), "\", not ",
                                 kInTotoPayloadType));
    }
    absl::StatusOr<InTotoStatement> statement = ParseInTotoStatement(envelope.payload);
    if (!statement.ok()) return Reject(absl::StrCat("signed payload is malformed: ", statement.status().message()));
    for (const std::string& digest : options.artifact_digests) {
      if (StatementHasSubject(*statement, digest)) {
        subject = digest;
        break;
      }
    }
    if (subject.empty()) {
      return Reject(absl::StrCat("statement for another digest: its subjects are ", DescribeSubjects(*statement),
                                 ", not ", absl::StrJoin(options.artifact_digests, " or ")));
    }
    predicate_type = statement->predicate_type;
    predicate_json = statement->predicate_json;
    if (predicate_type != kCosignSignPredicateType) kind = StatementKind::kAttestation;
  } else {
    const std::string signed_digest = MessageDigestString(*bundle->message_signature);
    if (std::find(options.artifact_digests.begin(), options.artifact_digests.end(), signed_digest) ==
        options.artifact_digests.end()) {
      return Reject(absl::StrCat("message signature for another digest: it signs ", signed_digest, ", not ",
                                 absl::StrJoin(options.artifact_digests, " or ")));
    }
    subject = signed_digest;
  }

  for (FoundSigner& signer : found.signers) {
    SignedStatement& statement = produced.statements.emplace_back();
    statement.subject_digest = subject;
    statement.kind = kind;
    statement.predicate_type = predicate_type;
    statement.predicate_json = predicate_json;
    FillSigner(std::move(signer), statement);
    statement.artifact.format = std::string(kSigstoreBundleFormat);
    statement.artifact.media_type = bundle->media_type;
    statement.artifact.payload = std::string(bundle_json);
  }
  return produced;
}

}  // namespace sigshim::verify
