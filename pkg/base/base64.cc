#include "pkg/base/base64.h"

#include <array>

#include "absl/strings/str_cat.h"

namespace sigshim {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int, 256> MakeReverse() {
  std::array<int, 256> table{};
  for (int& v : table) v = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = i;
  return table;
}
constexpr std::array<int, 256> kReverse = MakeReverse();

}  // namespace

std::string Base64Encode(absl::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8) | static_cast<unsigned char>(data[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = static_cast<unsigned char>(data[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (rest == 2) {
    uint32_t v = (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

absl::StatusOr<std::string> Base64Decode(absl::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  int symbols = 0;  // Alphabet characters seen.
  int padding = 0;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const unsigned char c = static_cast<unsigned char>(text[pos]);
    if (c == '\n' || c == '\r') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("base64: data after padding at offset ", pos));
    }
    const int v = kReverse[c];
    if (v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("base64: invalid character at offset ", pos));
    }
    ++symbols;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  const int tail = symbols % 4;
  if (tail == 1) return absl::InvalidArgumentError("base64: truncated final group");
  if (padding > 2 || (padding > 0 && (symbols + padding) % 4 != 0)) {
    return absl::InvalidArgumentError("base64: wrong padding");
  }
  // Non-canonical encodings leave set bits in the discarded remainder.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return absl::InvalidArgumentError("base64: non-zero trailing bits");
  }
  return out;
}

absl::StatusOr<std::string> Base64DecodeProtoJson(absl::string_view text) {
  const bool standard = text.find_first_of("+/") != absl::string_view::npos;
  const bool url_safe = text.find_first_of("-_") != absl::string_view::npos;
  if (standard && url_safe) return absl::InvalidArgumentError("base64: mixes the standard and URL-safe alphabets");
  if (text.find_first_of("\r\n") != absl::string_view::npos) {
    return absl::InvalidArgumentError("base64: line breaks are not allowed");
  }
  if (!url_safe) return Base64Decode(text);
  std::string standard_text(text);
  for (char& c : standard_text) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  return Base64Decode(standard_text);
}

}  // namespace sigshim
