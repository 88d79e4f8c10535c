// Fuzzes the PullImageRequest the pull hook decodes: it decides on the image, the credentials and
// the pod, and forwards the request re-encoded with the image pinned to the verified digest.
// The properties checked are in request_checks.h.
#include <cstddef>
#include <cstdint>

#include "pkg/cri/api.pb.h"
#include "test/fuzz/cri/request_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sigshim::fuzz::RequestSpec kSpec = {
      .read = {{1, 1},           // image.image
               {2, 1},           // auth.username
               {2, 2},           // auth.password
               {2, 3},           // auth.auth
               {2, 4},           // auth.server_address
               {2, 5},           // auth.identity_token
               {2, 6},           // auth.registry_token
               {3, 1, 1},        // sandbox_config.metadata.name
               {3, 1, 3}},       // sandbox_config.metadata.namespace
      .rewrite = {1, 1},
  };
  return sigshim::fuzz::CheckRequest<runtime::v1::PullImageRequest>(data, size, kSpec);
}
