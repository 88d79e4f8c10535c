// The fixed ECDSA P-256 public key the verify fuzz targets trust: nothing fuzz-made can carry a
// signature it verifies (only the holder of its private key could make one), so any input a target
// finds verified is a bug.
#ifndef SIGSHIM_TEST_FUZZ_VERIFY_FIXED_KEY_H_
#define SIGSHIM_TEST_FUZZ_VERIFY_FIXED_KEY_H_

#include <cstdlib>
#include <memory>

#include "pkg/verify/public_key.h"

namespace sigshim::verify::fuzzing {

// Returns the key, parsed once; aborts if it does not parse.
inline const std::shared_ptr<const PublicKey>& FixedKey() {
  static const std::shared_ptr<const PublicKey>* key = [] {
    auto parsed = ParsePublicKeyPem(R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPnjO1WilaU+CwQDrdpZrVjFNs1qe
Nicu+2CnxGxYsZzl/ZsW/VQfPmyo172dwCqYPvGbNxduYfLjbzYAbwAY3w==
-----END PUBLIC KEY-----
)");
    if (!parsed.ok()) std::abort();
    return new std::shared_ptr<const PublicKey>(*std::move(parsed));
  }();
  return *key;
}

}  // namespace sigshim::verify::fuzzing

#endif  // SIGSHIM_TEST_FUZZ_VERIFY_FIXED_KEY_H_
