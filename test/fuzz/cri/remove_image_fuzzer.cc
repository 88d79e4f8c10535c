// Fuzzes the RemoveImageRequest the remove hook decodes: it looks up the digests of the image it
// names and forwards the original bytes, so the image it read must be the one the runtime
// removes. The properties checked are in request_checks.h.
#include <cstddef>
#include <cstdint>

#include "pkg/cri/api.pb.h"
#include "test/fuzz/cri/request_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sigshim::fuzz::RequestSpec kSpec = {
      .read = {{1, 1}},          // image.image
      .rewrite = {},
  };
  return sigshim::fuzz::CheckRequest<runtime::v1::RemoveImageRequest>(data, size, kSpec);
}
