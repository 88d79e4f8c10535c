// Whole-file reads with a size limit, crash-safe whole-file writes, and the checks a daemon's
// own folders must pass.
#ifndef SIGSHIM_PKG_BASE_FILE_H_
#define SIGSHIM_PKG_BASE_FILE_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim {

enum class Symlinks { kFollow, kRefuse };

// Reads all of `path`, which must be a regular file: the file is opened without blocking (a FIFO
// or a device never stalls the caller) and checked before a byte is read. A file larger than
// `max_bytes` is ResourceExhausted (never read); a missing one NotFound; anything but a regular
// file (a FIFO, a socket, a device, a directory) FailedPrecondition saying what it is; with
// Symlinks::kRefuse a symbolic link at `path` is FailedPrecondition too (a link in a folder
// above is followed); other failures carry the errno text. Every message names the path.
absl::StatusOr<std::string> ReadFile(absl::string_view path, size_t max_bytes,
                                     Symlinks symlinks = Symlinks::kFollow);

// Replaces `path` with `contents` atomically: writes a temporary file beside it with `mode`,
// fsyncs it, renames it over `path` and fsyncs the directory. On error `path` is unchanged.
absl::Status WriteFileAtomic(absl::string_view path, absl::string_view contents, int mode = 0600);

// Creates `path` and any missing parents with `mode` (like mkdir -p). OK when it already exists as
// a directory; FailedPrecondition when something else is there.
absl::Status MakeDirs(absl::string_view path, int mode = 0755);

// Checks that `path` is a folder only `owner` controls: a real directory (a symbolic link is
// refused, not followed: its target could be changed by whoever owns the link's folder), owned
// by `owner`, and writable by no group and no other user. FailedPrecondition naming the path and
// what is wrong (and how to fix it) otherwise; NotFound when it does not exist.
absl::Status CheckPrivateDirectory(absl::string_view path, uid_t owner);

}  // namespace sigshim

#endif  // SIGSHIM_PKG_BASE_FILE_H_
