// Image references ("busybox", "registry.example.com:5000/team/app:v1@sha256:…") parsed and
// normalised the way docker and containerd do, so that a policy glob, a verdict and a pull all
// talk about the same name.
#ifndef SIGSHIM_PKG_REFERENCE_REFERENCE_H_
#define SIGSHIM_PKG_REFERENCE_REFERENCE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::reference {

// The domain of Docker Hub after normalisation ("index.docker.io" is rewritten to it).
inline constexpr absl::string_view kDockerHubDomain = "docker.io";

// The tag WithDefaultTag() adds.
inline constexpr absl::string_view kDefaultTag = "latest";

// The longest repository name (domain + "/" + path) accepted, as in docker.
inline constexpr size_t kMaxNameLength = 255;

// The longest reference text Parse looks at; anything longer is refused as invalid before it is
// parsed (a valid reference is at most 255 + 1 + 128 + 1 + 71 bytes).
inline constexpr size_t kMaxReferenceLength = 4096;

// The longest tag accepted, as in docker.
inline constexpr size_t kMaxTagLength = 128;

// A parsed, normalised image reference. A value type; every field is validated by Parse, and
// code that builds one by hand is responsible for keeping it valid.
struct Reference {
  std::string domain;  // "docker.io", "registry.example.com:5000", "localhost", "[::1]:5000"; lowercase
  std::string path;    // "library/busybox": lowercase components separated by '/'
  std::string tag;     // "" when absent
  std::string digest;  // "" when absent, else "sha256:<64 lowercase hex>"

  // Returns domain + "/" + path, e.g. "docker.io/library/busybox".
  std::string Repository() const;

  // Returns the full normalised form: Repository() + (":" + tag if any) + ("@" + digest if any).
  std::string String() const;

  // Returns a copy with tag "latest" when both tag and digest are empty; otherwise an unchanged copy.
  Reference WithDefaultTag() const;

  // Returns a copy whose digest is `digest` (the tag is kept); the caller guarantees `digest`
  // passed ValidateDigest.
  Reference WithDigest(absl::string_view digest) const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

// Checks a tag on its own: 1 to 128 characters, letters, digits, '_', '.', '-', not starting with
// '.' or '-'. InvalidArgument saying what is wrong otherwise.
absl::Status ValidateTag(absl::string_view tag);

// Parses `text` and normalises it like docker's ParseNormalizedNamed: a name without a domain
// gets "docker.io", a single-component Docker Hub name gets "library/", "index.docker.io"
// becomes "docker.io". The first component is taken as a domain only when it contains '.' or ':',
// is "localhost", or has an uppercase letter. The domain is lower-cased (host names compare
// without case, as in DNS), so "REGISTRY.example:5000/app" and "registry.example:5000/app" are one
// reference; a domain recognised only by its capitals ("Registry/app") is refused, since
// lower-cased it would name a Docker Hub repository. No default tag is added (see WithDefaultTag).
// Only sha256 digests are accepted. Text longer than kMaxReferenceLength is refused unread. Any
// invalid input is InvalidArgument with a message that quotes (at most 300 bytes of) the input
// and says what is wrong with it.
absl::StatusOr<Reference> Parse(absl::string_view text);

}  // namespace sigshim::reference

#endif  // SIGSHIM_PKG_REFERENCE_REFERENCE_H_
