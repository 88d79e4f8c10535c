#include "pkg/verify/key_verifier.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"

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

SignatureVerdict Reject(const Signature& signature, std::string reason) {
  SignatureVerdict verdict;
  verdict.layer_digest = signature.layer_digest;
  verdict.reason = std::move(reason);
  return verdict;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyVerifier>> KeyVerifier::Create(KeyVerifierOptions options) {
  if (options.keys.empty()) {
    return absl::InvalidArgumentError("a key verifier needs at least one trusted key");
  }
  for (const auto& key : options.keys) {
    if (key == nullptr) return absl::InvalidArgumentError("null trusted key");
  }
  for (const auto& key : options.rekor_keys) {
    if (key == nullptr) return absl::InvalidArgumentError("null Rekor key");
  }
  if (options.max_signatures <= 0) {
    return absl::InvalidArgumentError("max_signatures must be positive");
  }
  RETURN_IF_ERROR(ValidateIdentityRule(options.identity));
  return std::unique_ptr<KeyVerifier>(new KeyVerifier(std::move(options)));
}

absl::StatusOr<SignatureVerdict> KeyVerifier::CheckSignature(const Signature& signature,
                                                             const Target& target) const {
  if (absl::Status valid = ValidateDigest(target.manifest_digest); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("target manifest digest: ", valid.message()));
  }
  return Check(signature, target);
}

absl::StatusOr<ImageVerdict> KeyVerifier::CheckImage(absl::Span<const Signature> signatures,
                                                     const Target& target) const {
  if (absl::Status valid = ValidateDigest(target.manifest_digest); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("target manifest digest: ", valid.message()));
  }
  ImageVerdict image;
  absl::Status first_error;
  int checked = 0;
  for (const Signature& signature : signatures) {
    if (signature.media_type != kSimpleSigningMediaType) {
      ++image.ignored_layers;
      continue;
    }
    if (checked == options_.max_signatures) {
      ++image.unchecked_signatures;
      continue;
    }
    ++checked;
    absl::StatusOr<SignatureVerdict> verdict = Check(signature, target);
    if (!verdict.ok()) {
      if (first_error.ok()) first_error = verdict.status();
      continue;
    }
    if (verdict->accepted) {
      image.accepted = true;
      image.accepted_by = *std::move(verdict);
      // One accepted signature decides; the rest need no crypto work.
      return image;
    }
    image.rejected.push_back(*std::move(verdict));
  }
  // Without an accepted signature, a signature that could not be checked makes the answer unknown.
  if (!first_error.ok()) return first_error;
  return image;
}

absl::StatusOr<SignatureVerdict> KeyVerifier::Check(const Signature& signature,
                                                    const Target& target) const {
  auto annotation = signature.annotations.find(SignatureKey());
  if (annotation == signature.annotations.end()) {
    return Reject(signature, absl::StrCat("no signature annotation (", kSignatureAnnotation, ")"));
  }
  if (annotation->second.empty()) {
    return Reject(signature, absl::StrCat("signature annotation (", kSignatureAnnotation, ") is empty"));
  }
  absl::StatusOr<std::string> raw = Base64Decode(annotation->second);
  if (!raw.ok()) {
    return Reject(signature, absl::StrCat("signature annotation is not valid base64: ",
                                          raw.status().message()));
  }

  const PublicKey* signer = nullptr;
  for (const auto& key : options_.keys) {
    absl::Status verified = key->Verify(signature.payload, *raw);
    if (verified.ok()) {
      signer = key.get();
      break;
    }
    // PermissionDenied is "not this key"; anything else means the check itself failed.
    if (verified.code() != absl::StatusCode::kPermissionDenied) return verified;
  }
  if (signer == nullptr) {
    return Reject(signature,
                  absl::StrCat("signed by an unknown key: the signature does not verify with any of the ",
                               options_.keys.size(),
                               " trusted keys (another key made it, or the signature or payload was altered)"));
  }

  std::optional<RekorEntry> rekor;
  if (!options_.rekor_keys.empty()) {
    auto bundle = signature.annotations.find(BundleKey());
    if (bundle == signature.annotations.end()) {
      return Reject(signature, absl::StrCat("no Rekor bundle annotation (", kBundleAnnotation,
                                            "), but the policy requires a transparency-log proof"));
    }
    absl::StatusOr<RekorEntry> entry =
        VerifyRekorSet(bundle->second, options_.rekor_keys, signer->Der(), *raw, signature.payload);
    if (!entry.ok()) {
      if (entry.status().code() != absl::StatusCode::kPermissionDenied) return entry.status();
      return Reject(signature, std::string(entry.status().message()));
    }
    rekor = *std::move(entry);
  }

  absl::StatusOr<SimpleSigningPayload> payload = ParseSimpleSigningPayload(signature.payload);
  if (!payload.ok()) {
    return Reject(signature, absl::StrCat("signed payload is malformed: ", payload.status().message()));
  }
  if (payload->manifest_digest != target.manifest_digest) {
    return Reject(signature, absl::StrCat("payload is for ", payload->manifest_digest, ", not ",
                                          target.manifest_digest));
  }
  if (absl::Status identity = MatchIdentity(options_.identity, payload->docker_reference, target.image);
      !identity.ok()) {
    return Reject(signature, std::string(identity.message()));
  }

  SignatureVerdict verdict;
  verdict.accepted = true;
  verdict.layer_digest = signature.layer_digest;
  verdict.key_fingerprint = signer->Fingerprint();
  verdict.key_description = signer->Describe();
  verdict.payload = *std::move(payload);
  verdict.rekor = std::move(rekor);
  return verdict;
}

}  // namespace sigshim::verify
