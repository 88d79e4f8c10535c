#include "pkg/trust/pem_bundle.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "pkg/verify/pem.h"

namespace sigshim::trust {
namespace {

constexpr absl::string_view kBegin = "-----BEGIN ";
constexpr absl::string_view kEnd = "-----END ";
constexpr absl::string_view kDashes = "-----";

size_t LineOf(absl::string_view text, size_t offset) {
  return 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + offset, '\n'));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> DecodePemBundle(absl::string_view text, absl::string_view type) {
  if (text.size() > kMaxPemBundleBytes) {
    return absl::InvalidArgumentError(absl::StrCat("PEM file of ", text.size(),
                                                   " bytes is larger than the limit of ", kMaxPemBundleBytes));
  }
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    // Only whitespace may separate blocks.
    while (pos < text.size() && absl::ascii_isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos == text.size()) break;
    const size_t line = LineOf(text, pos);
    const std::string where = absl::StrCat("block ", out.size() + 1, " (line ", line, ")");
    if (text.substr(pos, kBegin.size()) != kBegin) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line,
                       out.empty() ? ": text before the first PEM block (only PEM blocks and blank lines are allowed)"
                                   : ": text between PEM blocks (only PEM blocks and blank lines are allowed)"));
    }
    if (out.size() == kMaxPemBundleBlocks) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", kMaxPemBundleBlocks, " PEM blocks (the limit)"));
    }
    const size_t end = text.find(kEnd, pos);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no -----END …----- line"));
    }
    const size_t close = text.find(kDashes, end + kEnd.size());
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": malformed -----END …----- line"));
    }
    const size_t next = close + kDashes.size();
    absl::StatusOr<verify::PemBlock> block = verify::DecodeSinglePemBlock(text.substr(pos, next - pos));
    if (!block.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", block.status().message()));
    if (block->type != type) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": a ", block->type.substr(0, 64), " block where ", type, " blocks are expected"));
    }
    out.push_back(std::move(block->der));
    pos = next;
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no PEM ", type, " block found"));
  }
  return out;
}

}  // namespace sigshim::trust
