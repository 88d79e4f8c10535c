// The cosign "simple signing" payload: the exact bytes a cosign key signs.
//
//   {"critical":{"identity":{"docker-reference":"…"},
//                "image":{"docker-manifest-digest":"sha256:…"},
//                "type":"cosign container image signature"},
//    "optional":null | {…}}
#ifndef SIGSHIM_PKG_VERIFY_SIMPLE_SIGNING_H_
#define SIGSHIM_PKG_VERIFY_SIMPLE_SIGNING_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::verify {

// The value critical.type must have.
inline constexpr absl::string_view kSimpleSigningType = "cosign container image signature";

// Payloads larger than this are refused before parsing (cosign's are about 250 bytes).
inline constexpr size_t kMaxPayloadBytes = 64 * 1024;

// What a payload claims. Only meaningful once the payload's signature has been verified.
struct SimpleSigningPayload {
  std::string docker_reference;  // critical.identity.docker-reference, as written (not normalised)
  std::string manifest_digest;   // critical.image.docker-manifest-digest, a valid "sha256:<hex>"
  std::string optional_json;     // the "optional" member re-serialised compactly; "null" when null
};

// Parses payload bytes strictly: a JSON object with exactly "critical" and "optional"; "critical"
// with exactly "identity", "image" and "type"; type equal to kSimpleSigningType; "image" with exactly
// a valid sha256 "docker-manifest-digest"; "identity" with exactly a string "docker-reference".
// "optional" may hold any JSON value. Duplicate keys, invalid UTF-8 and more than kMaxPayloadBytes are
// refused. Every failure is InvalidArgument naming the offending field.
absl::StatusOr<SimpleSigningPayload> ParseSimpleSigningPayload(absl::string_view payload);

// Returns the payload cosign writes for (docker_reference, manifest_digest), with "optional": null,
// byte for byte: compact JSON, keys sorted. InvalidArgument when `manifest_digest` is not a valid
// sha256 digest or `docker_reference` holds anything but printable ASCII.
absl::StatusOr<std::string> BuildSimpleSigningPayload(absl::string_view docker_reference,
                                                      absl::string_view manifest_digest);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_SIMPLE_SIGNING_H_
