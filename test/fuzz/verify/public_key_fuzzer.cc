// Fuzzes public key loading (PEM framing, SubjectPublicKeyInfo DER, key type checks) and, for keys
// that load, verification of an arbitrary signature. Loaded keys must have a well-formed fingerprint;
// otherwise only crashes and sanitizer reports count.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pkg/verify/public_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  // The first half is taken as PEM text, the second as a signature.
  absl::string_view pem = input.substr(0, size / 2);
  absl::string_view signature = input.substr(size / 2);
  auto key = sigshim::verify::ParsePublicKeyPem(pem);
  if (!key.ok()) return 0;
  if ((*key)->Fingerprint().size() != 7 + 64) std::abort();
  (void)(*key)->Verify("message", signature);
  return 0;
}
