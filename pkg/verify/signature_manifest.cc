#include "pkg/verify/signature_manifest.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::verify {
namespace {

absl::StatusOr<Descriptor> ParseDescriptor(const nlohmann::json& json, absl::string_view what) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a JSON object"));
  }
  Descriptor out;
  ASSIGN_OR_RETURN(out.media_type, internal::GetString(json, "mediaType", what));
  ASSIGN_OR_RETURN(out.digest, internal::GetString(json, "digest", what));
  if (out.digest.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " digest \"", out.digest.substr(0, 80), "\" is not \"algorithm:encoded\""));
  }
  if (out.media_type == kSimpleSigningMediaType) {
    if (absl::Status valid = ValidateDigest(out.digest); !valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", valid.message()));
    }
  }
  auto size = json.find("size");
  if (size == json.end() || !size->is_number_integer() ||
      (size->is_number_unsigned() ? size->get<uint64_t>() > INT64_MAX : size->get<int64_t>() < 0)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " size must be a non-negative integer"));
  }
  out.size = size->get<int64_t>();
  if (auto annotations = json.find("annotations"); annotations != json.end()) {
    if (!annotations->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " annotations must be a JSON object"));
    }
    for (const auto& [key, value] : annotations->items()) {
      if (!value.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(what, " annotation \"", key.substr(0, 80),
                                                       "\" must be a string"));
      }
      out.annotations.emplace(key, value.get<std::string>());
    }
  }
  return out;
}

}  // namespace

std::vector<Descriptor> SignatureManifest::SignatureLayers() const {
  std::vector<Descriptor> out;
  for (const Descriptor& layer : layers) {
    if (layer.media_type == kSimpleSigningMediaType) out.push_back(layer);
  }
  return out;
}

absl::StatusOr<SignatureManifest> ParseSignatureManifest(absl::string_view manifest_json) {
  ASSIGN_OR_RETURN(nlohmann::json root,
                   internal::ParseStrictJson(manifest_json, kMaxSignatureManifestBytes,
                                             "signature manifest"));
  if (!root.is_object()) {
    return absl::InvalidArgumentError("signature manifest must be a JSON object");
  }
  auto schema = root.find("schemaVersion");
  if (schema == root.end() || !schema->is_number_integer() || schema->get<int64_t>() != 2) {
    return absl::InvalidArgumentError("signature manifest schemaVersion must be the integer 2");
  }
  SignatureManifest out;
  if (auto media_type = root.find("mediaType"); media_type != root.end()) {
    if (!media_type->is_string()) {
      return absl::InvalidArgumentError("signature manifest mediaType must be a string");
    }
    out.media_type = media_type->get<std::string>();
    if (out.media_type != kOciManifestMediaType && out.media_type != kDockerManifestMediaType) {
      return absl::InvalidArgumentError(
          absl::StrCat("signature manifest has media type \"", out.media_type.substr(0, 80),
                       "\", not an OCI or Docker schema 2 image manifest"));
    }
  }
  auto config = root.find("config");
  if (config == root.end()) {
    return absl::InvalidArgumentError("signature manifest has no config descriptor");
  }
  ASSIGN_OR_RETURN(out.config, ParseDescriptor(*config, "signature manifest config"));
  auto layers = root.find("layers");
  if (layers == root.end() || !layers->is_array()) {
    return absl::InvalidArgumentError("signature manifest layers must be a JSON array");
  }
  if (layers->size() > kMaxSignatureLayers) {
    return absl::InvalidArgumentError(absl::StrCat("signature manifest has ", layers->size(),
                                                   " layers, more than the limit of ",
                                                   kMaxSignatureLayers));
  }
  out.layers.reserve(layers->size());
  for (size_t i = 0; i < layers->size(); ++i) {
    ASSIGN_OR_RETURN(Descriptor layer,
                     ParseDescriptor((*layers)[i], absl::StrCat("signature manifest layer ", i)));
    out.layers.push_back(std::move(layer));
  }
  return out;
}

absl::StatusOr<Signature> SignatureFromLayer(const Descriptor& layer, std::string blob) {
  if (static_cast<int64_t>(blob.size()) != layer.size) {
    return absl::DataLossError(absl::StrCat("signature layer ", layer.digest, " should have ",
                                            layer.size, " bytes, the blob has ", blob.size()));
  }
  RETURN_IF_ERROR(CheckDigest(blob, layer.digest));
  Signature out;
  out.layer_digest = layer.digest;
  out.media_type = layer.media_type;
  out.payload = std::move(blob);
  out.annotations = layer.annotations;
  return out;
}

absl::StatusOr<std::string> SignatureTag(absl::string_view manifest_digest) {
  RETURN_IF_ERROR(ValidateDigest(manifest_digest));
  return absl::StrCat("sha256-", manifest_digest.substr(7), ".sig");
}

}  // namespace sigshim::verify
