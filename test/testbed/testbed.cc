#include "test/testbed/testbed.h"

#include "pkg/base/status_macros.h"

namespace sigshim::testbed {

absl::StatusOr<std::unique_ptr<TestBed>> TestBed::Create(const TestBedOptions& options) {
  auto bed = std::unique_ptr<TestBed>(new TestBed());
  ASSIGN_OR_RETURN(bed->dir_, TempDir::Create(options.name));
  if (options.registry) {
    RegistryOptions registry;
    registry.dir = bed->dir_->Path("registry");
    ASSIGN_OR_RETURN(bed->registry_, Registry::Create(registry));
  }
  if (options.containerd) {
    ContainerdOptions containerd;
    containerd.dir = bed->dir_->Path("ctrd");
    containerd.registry_config_path = options.registry_config_path;
    ASSIGN_OR_RETURN(bed->containerd_, Containerd::Create(containerd));
    ASSIGN_OR_RETURN(OciImage pause, bed->BuildImage("pause", {"/bin/sleep", "2147483647"}));
    ASSIGN_OR_RETURN(bed->sandbox_image_digest_,
                     ImportImage(pause, *bed->containerd_, bed->containerd_->sandbox_image(),
                                 bed->dir_->Path("images/scratch")));
  }
  return bed;
}

TestBed::~TestBed() {
  containerd_.reset();
  registry_.reset();
  dir_.reset();
}

absl::StatusOr<OciImage> TestBed::BuildImage(const std::string& tag, std::vector<std::string> cmd,
                                             const std::string& marker) {
  BusyboxImageOptions options;
  options.layout_dir = layout_dir();
  options.tag = tag;
  options.cmd = std::move(cmd);
  options.marker = marker;
  return BuildBusyboxImage(options);
}

}  // namespace sigshim::testbed
