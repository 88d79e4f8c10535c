// Whole-file reads with a size limit and crash-safe whole-file writes.
#ifndef SIGSHIM_PKG_BASE_FILE_H_
#define SIGSHIM_PKG_BASE_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim {

// Reads all of `path`. A file larger than `max_bytes` is ResourceExhausted; a missing one NotFound;
// other failures carry the errno text. Every message names the path.
absl::StatusOr<std::string> ReadFile(absl::string_view path, size_t max_bytes);

// Replaces `path` with `contents` atomically: writes a temporary file beside it with `mode`,
// fsyncs it, renames it over `path` and fsyncs the directory. On error `path` is unchanged.
absl::Status WriteFileAtomic(absl::string_view path, absl::string_view contents, int mode = 0600);

// Creates `path` and any missing parents with `mode` (like mkdir -p). OK when it already exists as
// a directory; FailedPrecondition when something else is there.
absl::Status MakeDirs(absl::string_view path, int mode = 0755);

}  // namespace sigshim

#endif  // SIGSHIM_PKG_BASE_FILE_H_
