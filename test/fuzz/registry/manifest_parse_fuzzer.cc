// Feeds arbitrary bytes to ParseManifest (under each Content-Type a registry might send) and
// checks that an accepted manifest keeps the invariants callers rely on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pkg/base/digest.h"
#include "pkg/registry/manifest.h"

namespace {

void CheckDescriptor(const sigshim::registry::Descriptor& descriptor) {
  if (!sigshim::ValidateDigest(descriptor.digest).ok()) std::abort();
  if (descriptor.size < 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr absl::string_view kContentTypes[] = {
      "", "application/json", sigshim::registry::kMediaTypeOciManifest, sigshim::registry::kMediaTypeOciIndex,
      sigshim::registry::kMediaTypeDockerManifest, sigshim::registry::kMediaTypeDockerManifestList};
  absl::string_view content_type = kContentTypes[data[0] % 6];
  absl::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  sigshim::registry::ManifestLimits limits;
  limits.max_descriptors = 64;
  absl::StatusOr<sigshim::registry::Manifest> manifest = sigshim::registry::ParseManifest(bytes, content_type, limits);
  if (!manifest.ok()) {
    if (manifest.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  if (!sigshim::registry::IsSupportedManifestMediaType(manifest->media_type)) std::abort();
  if (manifest->IsIndex()) {
    if (!manifest->layers.empty()) std::abort();
    if (manifest->manifests.size() > limits.max_descriptors) std::abort();
    for (const auto& d : manifest->manifests) CheckDescriptor(d);
  } else {
    CheckDescriptor(manifest->config);
    if (!manifest->manifests.empty()) std::abort();
    if (manifest->layers.size() > limits.max_descriptors) std::abort();
    for (const auto& d : manifest->layers) CheckDescriptor(d);
  }
  return 0;
}
