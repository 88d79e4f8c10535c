// Fuzzes the Rekor bundle annotation path (strict JSON, shape checks, canonical form, SET signature
// check) with a fixed Rekor key and signer: fuzz-made bundles must be refused, never crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "pkg/verify/public_key.h"
#include "pkg/verify/rekor.h"

namespace {

constexpr char kRekorKey[] = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPnjO1WilaU+CwQDrdpZrVjFNs1qe
Nicu+2CnxGxYsZzl/ZsW/VQfPmyo172dwCqYPvGbNxduYfLjbzYAbwAY3w==
-----END PUBLIC KEY-----
)";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* keys = [] {
    auto key = sigshim::verify::ParsePublicKeyPem(kRekorKey);
    if (!key.ok()) std::abort();
    return new std::vector<std::shared_ptr<const sigshim::verify::PublicKey>>{*std::move(key)};
  }();
  absl::string_view bundle(reinterpret_cast<const char*>(data), size);
  auto entry = sigshim::verify::VerifyRekorSet(bundle, *keys, (*keys)[0]->Der(), "signature", "payload");
  if (entry.ok()) std::abort();  // nobody but the key holder can make a SET verify
  return 0;
}
