// OCI and Docker v2 manifests and indexes parsed from untrusted bytes into small structs.
#ifndef SIGSHIM_PKG_REGISTRY_MANIFEST_H_
#define SIGSHIM_PKG_REGISTRY_MANIFEST_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::registry {

inline constexpr absl::string_view kMediaTypeOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr absl::string_view kMediaTypeOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr absl::string_view kMediaTypeDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr absl::string_view kMediaTypeDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";

// The Accept header value for manifest requests: the four media types above.
inline constexpr absl::string_view kManifestAcceptHeader =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

// Returns true for the four manifest media types above.
bool IsSupportedManifestMediaType(absl::string_view media_type);

// Returns true for the two index (manifest list) media types.
bool IsIndexMediaType(absl::string_view media_type);

// The platform of an index entry.
struct Platform {
  std::string architecture;  // "amd64", "arm64", …
  std::string os;            // "linux", "windows", …
  std::string variant;       // "" when absent, e.g. "v8"
  std::string os_version;    // "" when absent
};

// A content descriptor: what a manifest says about a blob or a child manifest. The digest has
// been checked to be "sha256:<64 hex>" and the size to be a non-negative integer; neither has
// been checked against any content (see CheckDescriptorContent).
struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;  // index entries only, when present
  std::string artifact_type;         // "" when absent
};

// An image manifest or an index. For an image manifest `config` and `layers` are set and
// `manifests` is empty; for an index it is the other way round.
struct Manifest {
  int schema_version = 2;
  // The effective media type: the document's own mediaType, else the Content-Type it was served
  // with, else inferred from its shape. Always one of the four supported types.
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
  std::optional<Descriptor> subject;
  std::string artifact_type;

  // Returns true when media_type is an index or manifest list.
  bool IsIndex() const { return IsIndexMediaType(media_type); }
};

// Bounds applied while parsing, so that a hostile manifest cannot make the daemon allocate or
// loop without limit.
struct ManifestLimits {
  // Layers (image manifest) or manifests (index) accepted. Default 10000.
  size_t max_descriptors = 10000;
  // Annotations accepted on the manifest and on each descriptor. Default 1000.
  size_t max_annotations = 1000;
  // Longest string value accepted (annotation values carry signatures and certificates).
  // Default 256 KiB.
  size_t max_string_bytes = 256 << 10;
};

// Parses `bytes` as an OCI image manifest or index, or a Docker v2 manifest or manifest list.
// `content_type` is the Content-Type it was served with ("" when unknown; parameters are ignored).
// Errors name what is wrong ("layers[2].size: must be a non-negative integer"): not JSON, a key
// repeated within one object, or the wrong shape is InvalidArgument; a schema 1 or otherwise unsupported manifest is
// InvalidArgument; a document whose mediaType contradicts a manifest Content-Type is
// InvalidArgument.
absl::StatusOr<Manifest> ParseManifest(absl::string_view bytes, absl::string_view content_type,
                                       const ManifestLimits& limits = {});

// Checks that `content` is what `descriptor` describes: its size and its sha256 digest. A
// mismatch is DataLoss naming both values.
absl::Status CheckDescriptorContent(const Descriptor& descriptor, absl::string_view content);

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_MANIFEST_H_
