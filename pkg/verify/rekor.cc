#include "pkg/verify/rekor.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/pem.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::verify {
namespace {

using internal::CheckExactFields;
using internal::GetString;

absl::Status Denied(absl::string_view what, const absl::Status& cause) {
  return absl::PermissionDeniedError(absl::StrCat("Rekor SET: ", what, ": ", cause.message()));
}

absl::Status Denied(absl::string_view what) {
  return absl::PermissionDeniedError(absl::StrCat("Rekor SET: ", what));
}

// Checks the hashedrekord body against what was signed.
absl::Status CheckBody(absl::string_view body_b64, absl::string_view signer_der,
                       absl::string_view signature, absl::string_view payload) {
  absl::StatusOr<std::string> body_text = Base64Decode(body_b64);
  if (!body_text.ok()) return Denied("body is not base64", body_text.status());
  absl::StatusOr<nlohmann::json> body =
      internal::ParseStrictJson(*body_text, kMaxRekorBundleBytes, "Rekor entry body");
  if (!body.ok()) return Denied("body", body.status());

  auto check = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckExactFields(*body, {"apiVersion", "kind", "spec"}, {}, "Rekor entry"));
    ASSIGN_OR_RETURN(std::string kind, GetString(*body, "kind", "Rekor entry"));
    ASSIGN_OR_RETURN(std::string version, GetString(*body, "apiVersion", "Rekor entry"));
    if (kind != "hashedrekord" || version != "0.0.1") {
      return absl::InvalidArgumentError(absl::StrCat("entry is ", kind.substr(0, 40), " ",
                                                     version.substr(0, 20),
                                                     ", only hashedrekord 0.0.1 is supported"));
    }
    const nlohmann::json& spec = (*body)["spec"];
    RETURN_IF_ERROR(CheckExactFields(spec, {"data", "signature"}, {}, "Rekor entry spec"));
    const nlohmann::json& data = spec["data"];
    RETURN_IF_ERROR(CheckExactFields(data, {"hash"}, {}, "Rekor entry spec.data"));
    const nlohmann::json& hash = data["hash"];
    RETURN_IF_ERROR(CheckExactFields(hash, {"algorithm", "value"}, {}, "Rekor entry hash"));
    ASSIGN_OR_RETURN(std::string algorithm, GetString(hash, "algorithm", "Rekor entry hash"));
    ASSIGN_OR_RETURN(std::string value, GetString(hash, "value", "Rekor entry hash"));
    if (algorithm != "sha256") {
      return absl::InvalidArgumentError(
          absl::StrCat("entry hash algorithm is ", algorithm.substr(0, 40), ", not sha256"));
    }
    if (value != Sha256Hex(payload)) {
      return absl::InvalidArgumentError(absl::StrCat("the log recorded payload sha256:", value.substr(0, 64),
                                                     ", this payload is ", Sha256Digest(payload)));
    }
    const nlohmann::json& sig = spec["signature"];
    RETURN_IF_ERROR(CheckExactFields(sig, {"content", "publicKey"}, {}, "Rekor entry signature"));
    ASSIGN_OR_RETURN(std::string content_b64, GetString(sig, "content", "Rekor entry signature"));
    ASSIGN_OR_RETURN(std::string content, Base64Decode(content_b64));
    if (content != signature) {
      return absl::InvalidArgumentError("the log recorded a different signature");
    }
    const nlohmann::json& key = sig["publicKey"];
    RETURN_IF_ERROR(CheckExactFields(key, {"content"}, {}, "Rekor entry publicKey"));
    ASSIGN_OR_RETURN(std::string key_b64, GetString(key, "content", "Rekor entry publicKey"));
    ASSIGN_OR_RETURN(std::string key_pem, Base64Decode(key_b64));
    absl::StatusOr<PemBlock> recorded = DecodeSinglePemBlock(key_pem);
    if (!recorded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("recorded public key: ", recorded.status().message()));
    }
    if (recorded->der != signer_der) {
      return absl::InvalidArgumentError(
          absl::StrCat("the log recorded the ", recorded->type, " ", Sha256Digest(recorded->der),
                       ", the signer is ", Sha256Digest(signer_der)));
    }
    return absl::OkStatus();
  };
  if (absl::Status status = check(); !status.ok()) return Denied("entry does not match", status);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RekorEntry> VerifyRekorSet(absl::string_view bundle_json,
                                          const std::vector<std::shared_ptr<const PublicKey>>& rekor_keys,
                                          absl::string_view signer_der, absl::string_view signature,
                                          absl::string_view payload) {
  if (rekor_keys.empty()) return absl::InvalidArgumentError("no Rekor key configured");
  absl::StatusOr<nlohmann::json> bundle =
      internal::ParseStrictJson(bundle_json, kMaxRekorBundleBytes, "bundle annotation");
  if (!bundle.ok()) return Denied("bundle", bundle.status());

  RekorEntry entry;
  std::string set_b64;
  std::string body_b64;
  auto parse = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckExactFields(*bundle, {"SignedEntryTimestamp", "Payload"}, {}, "bundle"));
    ASSIGN_OR_RETURN(set_b64, GetString(*bundle, "SignedEntryTimestamp", "bundle"));
    const nlohmann::json& p = (*bundle)["Payload"];
    RETURN_IF_ERROR(CheckExactFields(p, {"body", "integratedTime", "logIndex", "logID"}, {},
                                     "bundle Payload"));
    ASSIGN_OR_RETURN(body_b64, GetString(p, "body", "bundle Payload"));
    ASSIGN_OR_RETURN(entry.log_id, GetString(p, "logID", "bundle Payload"));
    for (const char* field : {"integratedTime", "logIndex"}) {
      const nlohmann::json& n = p[field];
      if (!n.is_number_integer() || (n.is_number_unsigned() && n.get<uint64_t>() > INT64_MAX) ||
          n.get<int64_t>() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bundle Payload ", field, " must be a non-negative integer"));
      }
    }
    entry.integrated_time = p["integratedTime"].get<int64_t>();
    entry.log_index = p["logIndex"].get<int64_t>();
    return absl::OkStatus();
  };
  if (absl::Status status = parse(); !status.ok()) return Denied("malformed bundle", status);

  absl::StatusOr<std::string> set = Base64Decode(set_b64);
  if (!set.ok()) return Denied("SignedEntryTimestamp is not base64", set.status());

  // The canonical form of Payload: keys in sorted order, no insignificant space.
  nlohmann::json canonical = {{"body", body_b64},
                              {"integratedTime", entry.integrated_time},
                              {"logID", entry.log_id},
                              {"logIndex", entry.log_index}};
  std::string signed_bytes =
      canonical.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const PublicKey* verified_by = nullptr;
  for (const auto& key : rekor_keys) {
    absl::Status verified = key->Verify(signed_bytes, *set);
    if (verified.ok()) {
      verified_by = key.get();
      break;
    }
    if (verified.code() != absl::StatusCode::kPermissionDenied) return verified;
  }
  if (verified_by == nullptr) {
    return Denied(absl::StrCat("SignedEntryTimestamp does not verify with any of the ", rekor_keys.size(),
                               " trusted Rekor keys"));
  }
  entry.rekor_key = verified_by->Fingerprint();
  RETURN_IF_ERROR(CheckBody(body_b64, signer_der, signature, payload));
  return entry;
}

absl::StatusOr<RekorEntry> VerifyRekorSetFromAnnotations(
    absl::string_view bundle_json, const std::vector<std::shared_ptr<const PublicKey>>& rekor_keys,
    absl::string_view signer_pem, absl::string_view signature_base64, absl::string_view payload) {
  absl::StatusOr<PemBlock> signer = DecodeSinglePemBlock(signer_pem);
  if (!signer.ok()) return Denied("signer key or certificate", signer.status());
  absl::StatusOr<std::string> signature = Base64Decode(signature_base64);
  if (!signature.ok()) return Denied("signature is not base64", signature.status());
  return VerifyRekorSet(bundle_json, rekor_keys, signer->der, *signature, payload);
}

}  // namespace sigshim::verify
