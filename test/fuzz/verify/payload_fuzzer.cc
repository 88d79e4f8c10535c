// Fuzzes the cosign simple-signing payload parser: any bytes must give a payload or an error, and a
// payload that parses must survive a rebuild-and-reparse unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pkg/verify/simple_signing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = sigshim::verify::ParseSimpleSigningPayload(input);
  if (!parsed.ok()) return 0;
  auto rebuilt =
      sigshim::verify::BuildSimpleSigningPayload(parsed->docker_reference, parsed->manifest_digest);
  if (!rebuilt.ok()) return 0;  // references with characters no image reference has
  auto again = sigshim::verify::ParseSimpleSigningPayload(*rebuilt);
  if (!again.ok() || again->docker_reference != parsed->docker_reference ||
      again->manifest_digest != parsed->manifest_digest) {
    std::abort();
  }
  return 0;
}
