#include "pkg/verify/signature_manifest.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"

namespace sigshim::verify {

std::vector<Descriptor> SignatureManifest::SignatureLayers() const {
  std::vector<Descriptor> out;
  for (const Descriptor& layer : layers) {
    if (layer.media_type == kSimpleSigningMediaType) out.push_back(layer);
  }
  return out;
}

absl::StatusOr<SignatureManifest> SignatureManifestFrom(const registry::Manifest& manifest) {
  if (manifest.IsIndex() || !manifest.manifests.empty()) {
    return absl::InvalidArgumentError("signature manifest is an index, not an image manifest");
  }
  if (!manifest.media_type.empty() && manifest.media_type != kOciManifestMediaType &&
      manifest.media_type != kDockerManifestMediaType) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature manifest has media type \"", manifest.media_type.substr(0, 80),
                     "\", not an OCI or Docker schema 2 image manifest"));
  }
  if (manifest.layers.size() > kMaxSignatureLayers) {
    return absl::InvalidArgumentError(absl::StrCat("signature manifest has ", manifest.layers.size(),
                                                   " layers, more than the limit of ", kMaxSignatureLayers));
  }
  SignatureManifest out;
  out.media_type = manifest.media_type;
  out.config = manifest.config;
  out.layers = manifest.layers;
  return out;
}

absl::StatusOr<SignatureManifest> ParseSignatureManifest(absl::string_view manifest_json) {
  if (manifest_json.size() > kMaxSignatureManifestBytes) {
    return absl::InvalidArgumentError(absl::StrCat("signature manifest has ", manifest_json.size(),
                                                   " bytes, more than the limit of ", kMaxSignatureManifestBytes));
  }
  registry::ManifestLimits limits;
  limits.max_descriptors = kMaxSignatureLayers;
  absl::StatusOr<registry::Manifest> manifest = registry::ParseManifest(manifest_json, "", limits);
  if (!manifest.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("signature manifest: ", manifest.status().message()));
  }
  return SignatureManifestFrom(*manifest);
}

absl::StatusOr<Signature> SignatureFromLayer(const Descriptor& layer, std::string blob) {
  RETURN_IF_ERROR(registry::CheckDescriptorContent(layer, blob));
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
