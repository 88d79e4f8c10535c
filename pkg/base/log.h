// Process-wide leveled logging to stderr, one line per record.
//
// The level is the only global state: it is set once by main (and on reload) and read by every
// logging call. Records are written with a single write(2) so that lines from concurrent threads
// never interleave. Callers must never pass credentials or whole request bodies.
//
// A record is always exactly one line, whatever its message holds: Write escapes every control
// character (so no text taken from a client, a registry or the disk can start a line of its own or
// drive a terminal) and cuts a message longer than kMaxMessageBytes. Names that come from outside
// (image references, tags, paths found on disk) are still passed through QuoteName, which shows at
// most kMaxNameBytes of them; the cut in Write is the backstop for a call site that forgot.
#ifndef SIGSHIM_PKG_BASE_LOG_H_
#define SIGSHIM_PKG_BASE_LOG_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sigshim::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// The most of any one outside name a log line, an error message or an audit record shows.
inline constexpr size_t kMaxNameBytes = 1024;

// The longest message Write writes; the rest is replaced by a marker giving the full length.
inline constexpr size_t kMaxMessageBytes = 8 * 1024;

// Parses "debug", "info", "warning" (or "warn") and "error"; anything else is InvalidArgument.
absl::StatusOr<Level> ParseLevel(absl::string_view name);

// Sets the lowest level that is written. Thread-safe.
void SetLevel(Level level);

// Returns true when records at `level` are written. Thread-safe and cheap.
bool Enabled(Level level);

// Writes one record, FormatLine(level, now, message), to stderr. Thread-safe.
void Write(Level level, absl::string_view message);

// Returns the record Write writes: "<RFC3339 time> <LEVEL> <message>\n", where the message is
// cut at kMaxMessageBytes (with a marker giving its full length) and escaped by EscapeControl.
// The result ends with its only '\n'.
std::string FormatLine(Level level, absl::Time time, absl::string_view message);

// Returns `text` with every control character written as an escape: "\n", "\r", "\t", other C0
// characters and DEL as "\xNN", C1 characters (U+0080..U+009F) and the Unicode line and paragraph
// separators (U+2028, U+2029) as the "\xNN" of their bytes, and every byte that is not part of
// valid UTF-8 as "\xNN". Printable ASCII, backslash included, and other valid UTF-8 are unchanged.
std::string EscapeControl(absl::string_view text);

// Returns `name` for a log line or an error message: in double quotes, C-escaped (quotes,
// backslashes, control and non-ASCII bytes), and when longer than `max_bytes` only its first
// `max_bytes` followed by a marker with its full length: "\"abc…\"... (16777216 bytes)".
std::string QuoteName(absl::string_view name, size_t max_bytes = kMaxNameBytes);

// Returns `name` cut to `max_bytes` for a sink that escapes by itself (the JSON audit log): the
// first `max_bytes` followed by "... (<n> bytes)" when longer, else `name` unchanged.
std::string TruncateName(absl::string_view name, size_t max_bytes = kMaxNameBytes);

}  // namespace sigshim::log

// Formats its arguments with absl::StrCat, only when the level is enabled.
#define SIGSHIM_LOG(level, ...)                                                   \
  do {                                                                            \
    if (::sigshim::log::Enabled(::sigshim::log::Level::level)) {                  \
      ::sigshim::log::Write(::sigshim::log::Level::level, ::absl::StrCat(__VA_ARGS__)); \
    }                                                                             \
  } while (0)

#endif  // SIGSHIM_PKG_BASE_LOG_H_
