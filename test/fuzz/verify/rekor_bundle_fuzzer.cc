// Fuzzes the Rekor bundle annotation path (strict JSON, shape checks, canonical form, SET signature
// check) with a fixed Rekor key and signer: fuzz-made bundles must be refused, never crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "pkg/verify/public_key.h"
#include "pkg/verify/rekor.h"
#include "test/fuzz/verify/fixed_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* keys =
      new std::vector<std::shared_ptr<const sigshim::verify::PublicKey>>{sigshim::verify::fuzzing::FixedKey()};
  absl::string_view bundle(reinterpret_cast<const char*>(data), size);
  auto entry = sigshim::verify::VerifyRekorSet(bundle, *keys, (*keys)[0]->Der(), "signature", "payload");
  if (entry.ok()) std::abort();  // nobody but the key holder can make a SET verify
  return 0;
}
