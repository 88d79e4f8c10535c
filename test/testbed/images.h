// Small OCI images for tests, built from busybox-static with umoci, moved with skopeo and ctr.
#ifndef SIGSHIM_TEST_TESTBED_IMAGES_H_
#define SIGSHIM_TEST_TESTBED_IMAGES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "test/testbed/containerd.h"
#include "test/testbed/registry.h"

namespace sigshim::testbed {

struct BusyboxImageOptions {
  // OCI layout folder the image goes into (created by umoci when missing; several images may
  // share one layout under different tags). Required.
  std::string layout_dir;
  // Tag inside the layout. Default "latest".
  std::string tag = "latest";
  // Folder for umoci's unpacked bundle (removed afterwards). Default: layout_dir + ".bundle-" + tag.
  std::string work_dir;
  // The image's Cmd. Default: a shell.
  std::vector<std::string> cmd = {"/bin/sh"};
  // busybox applets linked into /bin besides /bin/busybox itself.
  std::vector<std::string> applets = {"sh", "echo", "sleep", "cat", "true", "ls"};
  // When not empty, written to /etc/sigshim-marker: images with different markers have different
  // layer and manifest digests (tests that need several distinct images set it).
  std::string marker;
  // The busybox binary copied in; it must be static. Default: the busybox-static package's.
  std::string busybox = "/bin/busybox";
};

// An image in an OCI layout on disk.
struct OciImage {
  std::string layout_dir;
  std::string tag;
  std::string manifest_digest;  // "sha256:…" of the manifest bytes in the layout

  // Returns skopeo's name for it: "oci:<layout_dir>:<tag>".
  std::string SkopeoName() const { return "oci:" + layout_dir + ":" + tag; }
};

// Builds a one-layer linux image holding busybox and a few applets (umoci, rootless unpack).
absl::StatusOr<OciImage> BuildBusyboxImage(const BusyboxImageOptions& options);

// Writes a variant of `image` under `tag` in the same layout whose only difference is its Cmd
// (`umoci config --tag`, no unpacking): the same layer, a new config and a new manifest digest, in
// milliseconds. Tests that need many distinct images build one and derive the rest.
absl::StatusOr<OciImage> CmdVariant(const OciImage& image, const std::string& tag,
                                    const std::vector<std::string>& cmd);

// Writes a copy of `image` under `tag` in the same layout whose config says it runs on
// `os`/`architecture` (`umoci config --os --architecture`, no unpacking), with Cmd `cmd`: the same
// layer, its own config and manifest digest. The binaries stay the build machine's: it is an image
// "for another platform" to list beside a real one in an index, never to be run. (The variant is
// not in the config; an index entry states it.)
absl::StatusOr<OciImage> PlatformVariant(const OciImage& image, const std::string& tag, const std::string& os,
                                         const std::string& architecture, const std::vector<std::string>& cmd);

// One manifest listed in an image index: a manifest already in the registry repository, and the
// platform the index says it runs on.
struct IndexEntry {
  std::string digest;        // "sha256:…" of the manifest in the repository
  std::string os = "linux";
  std::string architecture;  // "amd64", "arm64", "s390x", …
  std::string variant;       // "" for none, "v8", …
};

// Pushes to `registry`, as `repository`:`tag`, an OCI image index
// (application/vnd.oci.image.index.v1+json) listing `entries` in order with their platforms; each
// manifest's media type and size are read from the registry. Returns the index's digest (the
// sha256 of the exact bytes pushed).
absl::StatusOr<std::string> PushIndex(const Registry& registry, absl::string_view repository, absl::string_view tag,
                                      const std::vector<IndexEntry>& entries);

// Copies `image` to `registry` as `repository`:`tag` with skopeo (plain HTTP). Returns the manifest
// digest the registry serves (the sha256 of the exact bytes pushed).
absl::StatusOr<std::string> PushImage(const OciImage& image, const Registry& registry,
                                      absl::string_view repository, absl::string_view tag);

// Imports `image` into containerd's k8s.io namespace as `name` (a full reference such as
// "localhost/sigshim-testbed/pause:1") without any registry: skopeo writes an oci-archive into
// `scratch_dir`, `ctr images import` reads it. Returns the manifest digest. The CRI plugin sees
// the image at once (ImageStatus, ListImages, RunPodSandbox's sandbox image).
//
// Note (containerd 1.6): an image imported this way has no repo_digests in CRI ImageStatus, only
// its tag and its id (the config digest). With `with_digest_ref`, the reference
// "<repository>@<manifest digest>" is added too (`ctr images tag`), and repo_digests lists it, as
// for a pulled image. `name` must then be "<repository>:<tag>".
absl::StatusOr<std::string> ImportImage(const OciImage& image, const Containerd& containerd,
                                        absl::string_view name, absl::string_view scratch_dir,
                                        bool with_digest_ref = false);

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_IMAGES_H_
