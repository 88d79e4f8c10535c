// Process-wide leveled logging to stderr, one line per record.
//
// The level is the only global state: it is set once by main (and on reload) and read by every
// logging call. Records are written with a single write(2) so that lines from concurrent threads
// never interleave. Callers must never pass credentials or whole request bodies.
#ifndef SIGSHIM_PKG_BASE_LOG_H_
#define SIGSHIM_PKG_BASE_LOG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sigshim::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Parses "debug", "info", "warning" (or "warn") and "error"; anything else is InvalidArgument.
absl::StatusOr<Level> ParseLevel(absl::string_view name);

// Sets the lowest level that is written. Thread-safe.
void SetLevel(Level level);

// Returns true when records at `level` are written. Thread-safe and cheap.
bool Enabled(Level level);

// Writes one record: "<RFC3339 time> <LEVEL> <message>\n". Thread-safe.
void Write(Level level, absl::string_view message);

}  // namespace sigshim::log

// Formats its arguments with absl::StrCat, only when the level is enabled.
#define SIGSHIM_LOG(level, ...)                                                   \
  do {                                                                            \
    if (::sigshim::log::Enabled(::sigshim::log::Level::level)) {                  \
      ::sigshim::log::Write(::sigshim::log::Level::level, ::absl::StrCat(__VA_ARGS__)); \
    }                                                                             \
  } while (0)

#endif  // SIGSHIM_PKG_BASE_LOG_H_
