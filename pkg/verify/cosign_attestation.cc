#include "pkg/verify/cosign_attestation.h"

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/base64.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/intoto.h"
#include "pkg/verify/rekor.h"
#include "pkg/verify/signer_search.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::verify {
namespace {

ProducedStatements Reject(std::string reason) {
  ProducedStatements produced;
  produced.rejection = std::move(reason);
  return produced;
}

// Returns the annotation `key` of `layer`, "" when absent.
absl::string_view Annotation(const Signature& layer, absl::string_view key) {
  auto it = layer.annotations.find(std::string(key));
  return it == layer.annotations.end() ? absl::string_view() : absl::string_view(it->second);
}

// Returns true when `text` is lower- or upper-case hex of even length.
bool IsHex(absl::string_view text) {
  if (text.empty() || text.size() % 2 != 0) return false;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Verifies the Rekor bundle and timestamp annotations of `layer` for the signature `binding`
// records. PermissionDenied when the Rekor entry is of one of `logs` and contradicts the envelope;
// Internal when the crypto library fails.
absl::StatusOr<SignerEvidence> VerifyAnnotations(const Signature& layer, const LogEntryBinding& binding,
                                                 absl::string_view root_name,
                                                 absl::Span<const TransparencyLogInput> logs,
                                                 absl::Span<const TimestampAuthorityInput> authorities) {
  SignerEvidence evidence;
  const absl::string_view rekor = Annotation(layer, kBundleAnnotation);
  if (rekor.empty()) {
    evidence.time.log_failure = "the attestation has no Rekor bundle (transparency-log entry)";
  } else if (logs.empty()) {
    evidence.time.log_failure = absl::StrCat("trust root \"", root_name, "\" lists no transparency log");
  } else if (absl::StatusOr<TransparencyLogEntry> entry = ParseCosignRekorBundle(rekor); !entry.ok()) {
    evidence.time.log_failure = absl::StrCat("Rekor bundle: ", entry.status().message());
  } else {
    absl::StatusOr<VerifiedLogEntry> verified = VerifyTransparencyLogEntry(*entry, binding, logs);
    if (!verified.ok()) {
      if (verified.status().code() != absl::StatusCode::kNotFound) return verified.status();
      evidence.time.log_failure = std::string(verified.status().message());
    } else {
      ++evidence.tlog_entries;
      evidence.time.logged = true;
      if (verified->integrated_time.has_value()) {
        ++evidence.integrated_times;
        SigningTime time;
        time.time = *verified->integrated_time;
        time.source = TimeSource::kTransparencyLog;
        time.authority = verified->description;
        time.trust_root = std::string(root_name);
        evidence.time.log_time = time;
      }
    }
  }
  // cosign stamps an attestation's envelope bytes (its signature annotation is empty).
  absl::StatusOr<SigningTime> stamped =
      ProveByTimestamp(Annotation(layer, kTimestampAnnotation), layer.payload, root_name, authorities);
  if (stamped.ok()) {
    ++evidence.timestamps;
    evidence.time.timestamp_time = *stamped;
  } else if (stamped.status().code() != absl::StatusCode::kPermissionDenied) {
    return stamped.status();
  } else {
    evidence.time.timestamp_failure = std::string(stamped.status().message());
  }
  return evidence;
}

}  // namespace

absl::StatusOr<TransparencyLogEntry> ParseCosignRekorBundle(absl::string_view bundle_json) {
  ASSIGN_OR_RETURN(nlohmann::json bundle,
                   internal::ParseStrictJson(bundle_json, kMaxRekorBundleBytes, "Rekor bundle annotation"));
  RETURN_IF_ERROR(internal::CheckExactFields(bundle, {"SignedEntryTimestamp", "Payload"}, {}, "Rekor bundle"));
  ASSIGN_OR_RETURN(std::string set_b64, internal::GetString(bundle, "SignedEntryTimestamp", "Rekor bundle"));
  const nlohmann::json& payload = bundle["Payload"];
  RETURN_IF_ERROR(internal::CheckExactFields(payload, {"body", "integratedTime", "logIndex", "logID"}, {},
                                             "Rekor bundle Payload"));
  ASSIGN_OR_RETURN(std::string body_b64, internal::GetString(payload, "body", "Rekor bundle Payload"));
  ASSIGN_OR_RETURN(std::string log_id_hex, internal::GetString(payload, "logID", "Rekor bundle Payload"));
  for (const char* field : {"integratedTime", "logIndex"}) {
    const nlohmann::json& n = payload[field];
    if (!n.is_number_integer() || (n.is_number_unsigned() && n.get<uint64_t>() > INT64_MAX) ||
        n.get<int64_t>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("Rekor bundle Payload ", field, " must be a non-negative integer"));
    }
  }
  if (!IsHex(log_id_hex)) return absl::InvalidArgumentError("Rekor bundle Payload logID is not hex");
  TransparencyLogEntry entry;
  entry.log_id = absl::HexStringToBytes(log_id_hex);
  entry.log_index = payload["logIndex"].get<int64_t>();
  entry.integrated_time = payload["integratedTime"].get<int64_t>();
  absl::StatusOr<std::string> set = Base64Decode(set_b64);
  if (!set.ok() || set->empty()) {
    return absl::InvalidArgumentError("Rekor bundle SignedEntryTimestamp is not base64 of a signature");
  }
  entry.signed_entry_timestamp = *std::move(set);
  absl::StatusOr<std::string> body = Base64Decode(body_b64);
  if (!body.ok()) return absl::InvalidArgumentError("Rekor bundle Payload body is not base64");
  entry.canonicalized_body = *std::move(body);
  ASSIGN_OR_RETURN(nlohmann::json parsed, internal::ParseStrictJson(entry.canonicalized_body, kMaxLogEntryBodyBytes,
                                                                    "Rekor bundle Payload body"));
  if (!parsed.is_object()) return absl::InvalidArgumentError("Rekor bundle Payload body is not a JSON object");
  ASSIGN_OR_RETURN(entry.kind, internal::GetString(parsed, "kind", "Rekor bundle Payload body"));
  ASSIGN_OR_RETURN(entry.version, internal::GetString(parsed, "apiVersion", "Rekor bundle Payload body"));
  return entry;
}

absl::StatusOr<ProducedStatements> ProduceAttestationStatements(const Signature& layer,
                                                                const AttestationProducerOptions& options) {
  if (layer.media_type != kDsseEnvelopeMediaType) {
    return Reject(absl::StrCat("not an attestation: layer media type \"", layer.media_type.substr(0, 100),
                               "\", not ", kDsseEnvelopeMediaType));
  }
  if (options.artifact_digest.empty()) return Reject("no artifact digest to check the attestation against");
  absl::StatusOr<DsseEnvelope> envelope = ParseDsseEnvelope(layer.payload);
  if (!envelope.ok()) return Reject(absl::StrCat("DSSE envelope: ", envelope.status().message()));
  if (envelope->signatures.size() != 1) {
    return Reject(absl::StrCat("the DSSE envelope carries ", envelope->signatures.size(),
                               " signatures; exactly one signature is required"));
  }
  const std::string pae = DssePae(envelope->payload_type, envelope->payload);
  LogEntryBinding binding;
  binding.signature = envelope->signatures[0].sig;
  binding.dsse = true;
  binding.dsse_payload_type = envelope->payload_type;
  binding.dsse_payload = envelope->payload;

  const SignerEvidenceCheck evidence = [&](const LogEntryBinding& bound, absl::string_view root_name,
                                            absl::Span<const TransparencyLogInput> logs,
                                            absl::Span<const TimestampAuthorityInput> authorities) {
    return VerifyAnnotations(layer, bound, root_name, logs, authorities);
  };
  SignerSearch found;
  RETURN_IF_ERROR(FindKeySigners(
      options.keys, options.key_time_evidence, [&](const PublicKey& key) { return key.Verify(pae, binding.signature); },
      binding, evidence, &found));
  if (found.signers.empty() && found.reasons.empty() && (!options.keys.empty() || options.certificate_trust.empty())) {
    found.reasons.push_back(
        absl::StrCat("signed by an unknown key: the envelope's signature does not verify with any of the ",
                     options.keys.size(),
                     " trusted keys (another key made it, or the signature or payload was altered)"));
  }

  // Certificate signers: every trust root the certificate annotation chains to.
  if (!options.certificate_trust.empty()) {
    const absl::string_view certificate = Annotation(layer, kCertificateAnnotation);
    if (certificate.empty()) {
      found.reasons.push_back(absl::StrCat("no certificate annotation (", kCertificateAnnotation, ")"));
    } else {
      CertificateSignatureInput input;
      input.certificate_pem = certificate;
      input.chain_pem = Annotation(layer, kChainAnnotation);
      input.signature = binding.signature;
      input.signed_bytes = pae;
      RETURN_IF_ERROR(FindCertificateSigners(std::move(input), options.certificate_trust, options.now, binding,
                                             evidence, &found));
    }
  }
  if (found.signers.empty()) return Reject(absl::StrJoin(found.reasons, "; "));

  // The content, now that it is authenticated.
  if (envelope->payload_type != kInTotoPayloadType) {
    return Reject(absl::StrCat("the DSSE payload type is \"", envelope->payload_type.substr(0, 100), "\", not ",
                               kInTotoPayloadType));
  }
  absl::StatusOr<InTotoStatement> statement = ParseInTotoStatement(envelope->payload);
  if (!statement.ok()) return Reject(absl::StrCat("signed payload is malformed: ", statement.status().message()));
  if (!StatementHasSubject(*statement, options.artifact_digest)) {
    return Reject(absl::StrCat("statement for another digest: its subjects are ", DescribeSubjects(*statement),
                               ", not ", options.artifact_digest));
  }

  ProducedStatements produced;
  for (FoundSigner& signer : found.signers) {
    SignedStatement& s = produced.statements.emplace_back();
    s.subject_digest = options.artifact_digest;
    s.kind = StatementKind::kAttestation;
    s.predicate_type = statement->predicate_type;
    s.predicate_json = statement->predicate_json;
    FillSigner(std::move(signer), s);
    s.artifact.format = std::string(kCosignAttestationFormat);
    s.artifact.media_type = layer.media_type;
    s.artifact.layer_digest = layer.layer_digest;
    s.artifact.payload = layer.payload;
    s.artifact.annotations = layer.annotations;
  }
  return produced;
}

}  // namespace sigshim::verify
