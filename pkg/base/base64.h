// Standard base64 (RFC 4648 §4, with padding). The one base64 codec of the project.
#ifndef SIGSHIM_PKG_BASE_BASE64_H_
#define SIGSHIM_PKG_BASE_BASE64_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim {

// Returns the padded base64 encoding of `data`.
std::string Base64Encode(absl::string_view data);

// Decodes padded or unpadded standard base64. Line breaks (\r, \n) are ignored, as PEM and some
// cosign signatures carry them; any other character outside the alphabet, misplaced padding or
// a truncated final group is InvalidArgument.
absl::StatusOr<std::string> Base64Decode(absl::string_view text);

// Decodes proto3 JSON `bytes`: standard or URL-safe base64 (not both in one value), padded or not,
// without line breaks (protojson's rules; sigstore bundles and trusted roots are proto3 JSON).
// InvalidArgument naming the problem otherwise.
absl::StatusOr<std::string> Base64DecodeProtoJson(absl::string_view text);

}  // namespace sigshim

#endif  // SIGSHIM_PKG_BASE_BASE64_H_
