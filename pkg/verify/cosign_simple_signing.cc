#include "pkg/verify/cosign_simple_signing.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/status_macros.h"
#include "pkg/base/base64.h"
#include "pkg/verify/rekor.h"
#include "pkg/verify/simple_signing.h"

namespace sigshim::verify {
namespace {

// The annotation names as std::string, built once, so that map lookups allocate nothing.
const std::string& SignatureKey() {
  static const std::string* const key = new std::string(kSignatureAnnotation);
  return *key;
}
const std::string& BundleKey() {
  static const std::string* const key = new std::string(kBundleAnnotation);
  return *key;
}

const std::string& CertificateKey() {
  static const std::string* const key = new std::string(kCertificateAnnotation);
  return *key;
}
const std::string& ChainKey() {
  static const std::string* const key = new std::string(kChainAnnotation);
  return *key;
}
const std::string& TimestampKey() {
  static const std::string* const key = new std::string(kTimestampAnnotation);
  return *key;
}

// Returns the annotation `key` of `signature`, "" when absent.
absl::string_view Annotation(const Signature& signature, const std::string& key) {
  auto it = signature.annotations.find(key);
  return it == signature.annotations.end() ? absl::string_view() : absl::string_view(it->second);
}

ProducedStatements Reject(std::string reason) {
  ProducedStatements produced;
  produced.rejection = std::move(reason);
  return produced;
}

}  // namespace

absl::StatusOr<ProducedStatements> ProduceSimpleSigningStatements(const Signature& signature,
                                                                  const SimpleSigningProducerOptions& options) {
  if (signature.media_type != kSimpleSigningMediaType) {
    return Reject(absl::StrCat("not a signature: layer media type \"", signature.media_type.substr(0, 100),
                               "\", not ", kSimpleSigningMediaType));
  }
  auto annotation = signature.annotations.find(SignatureKey());
  if (annotation == signature.annotations.end()) {
    return Reject(absl::StrCat("no signature annotation (", kSignatureAnnotation, ")"));
  }
  if (annotation->second.empty()) {
    return Reject(absl::StrCat("signature annotation (", kSignatureAnnotation, ") is empty"));
  }
  absl::StatusOr<std::string> raw = Base64Decode(annotation->second);
  if (!raw.ok()) {
    return Reject(absl::StrCat("signature annotation is not valid base64: ", raw.status().message()));
  }

  std::vector<const PublicKey*> signers;
  for (const auto& key : options.keys) {
    if (key == nullptr) return absl::InvalidArgumentError("null candidate key");
    absl::Status verified = key->Verify(signature.payload, *raw);
    if (verified.ok()) {
      signers.push_back(key.get());
      continue;
    }
    // PermissionDenied is "not this key"; anything else means the check itself failed.
    if (verified.code() != absl::StatusCode::kPermissionDenied) return verified;
  }
  std::vector<std::string> reasons;
  if (signers.empty() && (!options.keys.empty() || options.certificate_trust.empty())) {
    reasons.push_back(absl::StrCat("signed by an unknown key: the signature does not verify with any of the ",
                                   options.keys.size(),
                                   " trusted keys (another key made it, or the signature or payload was altered)"));
  }

  // Certificate signers: every trust root the signature's certificate chains to.
  CertificateSignerResult certified;
  if (!options.certificate_trust.empty()) {
    auto certificate = signature.annotations.find(CertificateKey());
    if (certificate == signature.annotations.end()) {
      reasons.push_back(absl::StrCat("no certificate annotation (", kCertificateAnnotation, ")"));
    } else {
      CertificateSignatureInput input;
      input.certificate_pem = certificate->second;
      input.chain_pem = Annotation(signature, ChainKey());
      input.signature = *raw;
      input.signed_bytes = signature.payload;
      input.rekor_bundle = Annotation(signature, BundleKey());
      input.timestamp = Annotation(signature, TimestampKey());
      ASSIGN_OR_RETURN(certified, CheckCertificateSignature(input, options.certificate_trust, options.now));
      if (certified.signers.empty()) reasons.push_back(certified.rejection);
    }
  }
  if (signers.empty() && certified.signers.empty()) return Reject(absl::StrJoin(reasons, "; "));

  // Time evidence, per signer (a Rekor entry records one key).
  std::vector<std::optional<SigningTime>> times(signers.size());
  if (!options.rekor_keys.empty() && !signers.empty()) {
    auto bundle = signature.annotations.find(BundleKey());
    if (bundle == signature.annotations.end()) {
      return Reject(absl::StrCat("no Rekor bundle annotation (", kBundleAnnotation,
                                 "), but the policy requires a transparency-log proof"));
    }
    std::string first_failure;
    std::vector<const PublicKey*> logged;
    std::vector<std::optional<SigningTime>> logged_times;
    for (const PublicKey* signer : signers) {
      absl::StatusOr<RekorEntry> entry =
          VerifyRekorSet(bundle->second, options.rekor_keys, signer->Der(), *raw, signature.payload);
      if (!entry.ok()) {
        if (entry.status().code() != absl::StatusCode::kPermissionDenied) return entry.status();
        if (first_failure.empty()) first_failure = std::string(entry.status().message());
        continue;
      }
      SigningTime& time = logged_times.emplace_back().emplace();
      time.time = absl::FromUnixSeconds(entry->integrated_time);
      time.source = TimeSource::kTransparencyLog;
      time.authority = absl::StrCat("rekor log ", entry->log_id, " index ", entry->log_index);
      logged.push_back(signer);
    }
    if (logged.empty() && certified.signers.empty()) return Reject(std::move(first_failure));
    signers = std::move(logged);
    times = std::move(logged_times);
  }

  // Time evidence of the keys' own trust roots ([[keys]] transparency_log).
  for (size_t i = 0; i < signers.size(); ++i) {
    auto evidence = options.key_time_evidence.find(signers[i]->Fingerprint());
    if (evidence == options.key_time_evidence.end()) continue;
    const SimpleSigningProducerOptions::KeyTimeEvidence& e = evidence->second;
    absl::StatusOr<SigningTime> logged = ProveByTransparencyLog(
        Annotation(signature, BundleKey()), signers[i]->Der(), *raw, signature.payload, e.trust_root, e.transparency_logs);
    if (!logged.ok() && logged.status().code() != absl::StatusCode::kPermissionDenied) return logged.status();
    absl::StatusOr<SigningTime> stamped =
        ProveByTimestamp(Annotation(signature, TimestampKey()), *raw, e.trust_root, e.timestamp_authorities);
    if (!stamped.ok() && stamped.status().code() != absl::StatusCode::kPermissionDenied) return stamped.status();
    if (logged.ok()) times[i] = EarlierSigningTime(times[i], *logged);
    if (stamped.ok()) times[i] = EarlierSigningTime(times[i], *stamped);
  }

  // The payload is parsed only now that it is authenticated.
  absl::StatusOr<SimpleSigningPayload> payload = ParseSimpleSigningPayload(signature.payload);
  if (!payload.ok()) {
    return Reject(absl::StrCat("signed payload is malformed: ", payload.status().message()));
  }

  ProducedStatements produced;
  auto add = [&](Signer signer, std::optional<SigningTime> time) {
    SignedStatement& statement = produced.statements.emplace_back();
    statement.subject_digest = payload->manifest_digest;
    statement.kind = StatementKind::kSignature;
    statement.signer = std::move(signer);
    statement.signing_time = std::move(time);
    statement.artifact.format = std::string(kCosignSimpleSigningFormat);
    statement.artifact.media_type = signature.media_type;
    statement.artifact.layer_digest = signature.layer_digest;
    statement.artifact.payload = signature.payload;
    statement.artifact.annotations = signature.annotations;
    statement.artifact.docker_reference = payload->docker_reference;
  };
  for (size_t i = 0; i < signers.size(); ++i) {
    add(KeySigner{signers[i]->Fingerprint(), signers[i]->Describe()}, times[i]);
  }
  for (auto& [signer, time] : certified.signers) add(std::move(signer), std::move(time));
  return produced;
}

}  // namespace sigshim::verify
