// One test bed: a temporary folder, a registry and a containerd ready to run pods.
#ifndef SIGSHIM_TEST_TESTBED_TESTBED_H_
#define SIGSHIM_TEST_TESTBED_TESTBED_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "test/testbed/containerd.h"
#include "test/testbed/images.h"
#include "test/testbed/registry.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/temp_dir.h"

namespace sigshim::testbed {

struct TestBedOptions {
  // Start a registry. Default true.
  bool registry = true;
  // Start a containerd and import the sandbox image into it. Default true.
  bool containerd = true;
  // The containerd CRI plugin's registry config_path (see ContainerdOptions). Default "": none.
  std::string registry_config_path = "";
  // Prefix of the temporary folder's name. Default "sigshim-tb".
  std::string name = "sigshim-tb";
};

// Owns, in this order, a TempDir, a Registry and a Containerd whose sandbox image is a busybox
// image (Cmd "sleep 2147483647") imported by hand. The destructor stops them in reverse order and
// removes the folder. Not thread-safe.
class TestBed {
 public:
  static absl::StatusOr<std::unique_ptr<TestBed>> Create(const TestBedOptions& options = {});
  ~TestBed();

  const TempDir& dir() const { return *dir_; }
  // Null when not requested.
  Registry* registry() const { return registry_.get(); }
  Containerd* containerd() const { return containerd_.get(); }
  // Returns the manifest digest ("sha256:…") of the sandbox image imported into containerd (whose
  // name is containerd()->sandbox_image()), or "" without a containerd.
  const std::string& sandbox_image_digest() const { return sandbox_image_digest_; }
  // Returns the OCI layout folder that the test bed's images are built into.
  std::string layout_dir() const { return dir_->Path("images/layout"); }

  // Builds a busybox image with `cmd` into layout_dir() under `tag` (see BuildBusyboxImage).
  absl::StatusOr<OciImage> BuildImage(const std::string& tag, std::vector<std::string> cmd = {"/bin/sh"},
                                      const std::string& marker = "");

 private:
  TestBed() = default;

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<Containerd> containerd_;
  std::string sandbox_image_digest_;
};

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_TESTBED_H_
