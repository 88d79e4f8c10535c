// Strict decoding of PEM files that hold several blocks of one type (CA bundles, TSA chains,
// Rekor key lists).
#ifndef SIGSHIM_PKG_TRUST_PEM_BUNDLE_H_
#define SIGSHIM_PKG_TRUST_PEM_BUNDLE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::trust {

// A PEM file larger than this is refused before decoding (1 MiB, the config's limit for trust
// files: thousands of certificates).
inline constexpr size_t kMaxPemBundleBytes = 1 << 20;
// A PEM file with more blocks than this is refused (a real CA bundle holds a handful).
inline constexpr size_t kMaxPemBundleBlocks = 256;

// Decodes every block of `text`, which must hold one or more PEM blocks labelled `type` (e.g.
// "CERTIFICATE") with nothing but whitespace before, between and after them. Each block is
// decoded by verify::DecodeSinglePemBlock (no headers, valid base64, at most 64 KiB). Returns the
// DER bodies in file order. InvalidArgument naming the block ("block 2 (line 23): …") otherwise:
// no block, text between blocks, another label, an undecodable block, over the size or block limit.
absl::StatusOr<std::vector<std::string>> DecodePemBundle(absl::string_view text, absl::string_view type);

}  // namespace sigshim::trust

#endif  // SIGSHIM_PKG_TRUST_PEM_BUNDLE_H_
