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
