// Fuzzes the CreateContainerRequest the create hook decodes: it decides on the container's image,
// the container's name and the pod, and forwards the request re-encoded with the image pinned to
// the image id it admitted. The properties checked are in request_checks.h.
#include <cstddef>
#include <cstdint>

#include "pkg/cri/api.pb.h"
#include "test/fuzz/cri/request_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sigshim::fuzz::RequestSpec kSpec = {
      .read = {{2, 2, 1},        // config.image.image
               {2, 1, 1},        // config.metadata.name
               {3, 1, 1},        // sandbox_config.metadata.name
               {3, 1, 3}},       // sandbox_config.metadata.namespace
      .rewrite = {2, 2, 1},
  };
  return sigshim::fuzz::CheckRequest<runtime::v1::CreateContainerRequest>(data, size, kSpec);
}
