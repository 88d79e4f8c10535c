#include "pkg/base/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/time/clock.h"

namespace sigshim::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarning:
      return "WARNING";
    case Level::kError:
      return "ERROR";
  }
  return "?";
}

void AppendHex(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.append("\\x");
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xf]);
}

// Returns the length of the valid UTF-8 sequence of two or more bytes starting at text[i], or 0
// when the bytes there are not one (a stray continuation byte, an overlong form, a surrogate, a
// code point above U+10FFFF, a truncated sequence).
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const unsigned char lead = static_cast<unsigned char>(text[i]);
  size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // the range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    const unsigned char c = static_cast<unsigned char>(text[i + k]);
    if (k == 1 ? (c < low || c > high) : (c < 0x80 || c > 0xbf)) return 0;
  }
  return length;
}

}  // namespace

absl::StatusOr<Level> ParseLevel(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "debug") return Level::kDebug;
  if (lower == "info") return Level::kInfo;
  if (lower == "warning" || lower == "warn") return Level::kWarning;
  if (lower == "error") return Level::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level ", QuoteName(name, 64), " (expected debug, info, warning or error)"));
}

void SetLevel(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string EscapeControl(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c == '\n') {
      out.append("\\n");
      ++i;
    } else if (c == '\r') {
      out.append("\\r");
      ++i;
    } else if (c == '\t') {
      out.append("\\t");
      ++i;
    } else if (c < 0x80) {  // other C0 characters and DEL
      AppendHex(out, c);
      ++i;
    } else {
      const size_t length = Utf8SequenceLength(text, i);
      const unsigned char second = length > 0 ? static_cast<unsigned char>(text[i + 1]) : 0;
      const bool c1 = length == 2 && c == 0xc2 && second <= 0x9f;
      const bool separator = length == 3 && c == 0xe2 && second == 0x80 &&
                             (text[i + 2] == '\xa8' || text[i + 2] == '\xa9');
      if (length == 0) {
        AppendHex(out, c);
        ++i;
      } else if (c1 || separator) {
        for (size_t k = 0; k < length; ++k) AppendHex(out, static_cast<unsigned char>(text[i + k]));
        i += length;
      } else {
        out.append(text.data() + i, length);
        i += length;
      }
    }
  }
  return out;
}

std::string QuoteName(absl::string_view name, size_t max_bytes) {
  if (name.size() <= max_bytes) return absl::StrCat("\"", absl::CHexEscape(name), "\"");
  return absl::StrCat("\"", absl::CHexEscape(name.substr(0, max_bytes)), "\"... (", name.size(), " bytes)");
}

std::string TruncateName(absl::string_view name, size_t max_bytes) {
  if (name.size() <= max_bytes) return std::string(name);
  return absl::StrCat(name.substr(0, max_bytes), "... (", name.size(), " bytes)");
}

std::string FormatLine(Level level, absl::Time time, absl::string_view message) {
  std::string shown;
  if (message.size() > kMaxMessageBytes) {
    shown = absl::StrCat(EscapeControl(message.substr(0, kMaxMessageBytes)), "... (message of ",
                         message.size(), " bytes cut)");
  } else {
    shown = EscapeControl(message);
  }
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone()), " ",
                      LevelName(level), " ", shown, "\n");
}

void Write(Level level, absl::string_view message) {
  const std::string line = FormatLine(level, absl::Now(), message);
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, data, left);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;  // Nowhere left to report a failing stderr.
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace sigshim::log
