// Fuzzes the RunPodSandboxRequest the sandbox hook decodes: it decides on the pod it names and
// forwards the original bytes, so what it read must be what the runtime reads. The properties
// checked are in request_checks.h.
#include <cstddef>
#include <cstdint>

#include "pkg/cri/api.pb.h"
#include "test/fuzz/cri/request_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sigshim::fuzz::RequestSpec kSpec = {
      .read = {{1, 1, 1},        // config.metadata.name
               {1, 1, 3},        // config.metadata.namespace
               {2}},             // runtime_handler
      .rewrite = {},
  };
  return sigshim::fuzz::CheckRequest<runtime::v1::RunPodSandboxRequest>(data, size, kSpec);
}
