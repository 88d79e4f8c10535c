// Content digests in the OCI form "sha256:<64 lowercase hex>". The one digest helper of the project.
#ifndef SIGSHIM_PKG_BASE_DIGEST_H_
#define SIGSHIM_PKG_BASE_DIGEST_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sigshim {

// Returns the lowercase hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(absl::string_view data);

// Returns "sha256:" + Sha256Hex(data).
std::string Sha256Digest(absl::string_view data);

// Checks that `digest` is "sha256:" followed by exactly 64 lowercase hex characters (the only
// algorithm accepted); InvalidArgument naming the problem otherwise.
absl::Status ValidateDigest(absl::string_view digest);

// Returns OK when Sha256Digest(data) == expected; DataLoss naming both digests otherwise.
absl::Status CheckDigest(absl::string_view data, absl::string_view expected);

}  // namespace sigshim

#endif  // SIGSHIM_PKG_BASE_DIGEST_H_
