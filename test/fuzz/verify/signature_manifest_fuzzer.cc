// Fuzzes the ".sig" manifest parser and the descriptor check: any bytes must give a manifest or an
// error; every signature layer of a parsed manifest has a valid sha256 digest and a size >= 0.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pkg/base/digest.h"
#include "pkg/verify/signature_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  auto manifest = sigshim::verify::ParseSignatureManifest(input);
  if (!manifest.ok()) return 0;
  for (const sigshim::verify::Descriptor& layer : manifest->SignatureLayers()) {
    if (!sigshim::ValidateDigest(layer.digest).ok() || layer.size < 0) std::abort();
    // The manifest bytes themselves as a blob: must be refused unless digest and size match.
    auto signature = sigshim::verify::SignatureFromLayer(layer, std::string(input));
    if (signature.ok() && sigshim::Sha256Digest(input) != layer.digest) std::abort();
  }
  return 0;
}
