// Strict decoding of a single PEM block, the form in which keys and certificates reach pkg/verify.
#ifndef SIGSHIM_PKG_VERIFY_PEM_H_
#define SIGSHIM_PKG_VERIFY_PEM_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::verify {

// PEM text larger than this is refused before decoding.
inline constexpr size_t kMaxPemBytes = 64 * 1024;

struct PemBlock {
  std::string type;  // the label, e.g. "PUBLIC KEY", "CERTIFICATE"
  std::string der;   // the decoded body
};

// Decodes `text`, which must hold exactly one PEM block with only blank text around it and no
// headers. InvalidArgument naming the problem otherwise: no block, several blocks, text before or
// after, mismatched BEGIN/END labels, body that is not base64, oversize input.
absl::StatusOr<PemBlock> DecodeSinglePemBlock(absl::string_view text);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_PEM_H_
