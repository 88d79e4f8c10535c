#include "pkg/base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sigshim {
namespace {

absl::Status ErrnoStatus(absl::string_view what, absl::string_view path, int err) {
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

std::string Dirname(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISREG(mode)) return "a regular file";
  return "of an unknown type";
}

}  // namespace

absl::StatusOr<std::string> ReadFile(absl::string_view path_view, size_t max_bytes, Symlinks symlinks) {
  const std::string path(path_view);
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  if (symlinks == Symlinks::kRefuse) flags |= O_NOFOLLOW;
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    const int err = errno;
    // Some types cannot even be opened (a socket: ENXIO; a link with O_NOFOLLOW: ELOOP): say what is there.
    struct stat st;
    if (err != ENOENT && ::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) &&
        !(S_ISLNK(st.st_mode) && symlinks == Symlinks::kFollow)) {
      return absl::FailedPreconditionError(absl::StrCat(path, " is ", FileTypeName(st.st_mode), ", not a regular file"));
    }
    return ErrnoStatus("cannot open", path, err);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("cannot stat", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, " is ", FileTypeName(st.st_mode), ", not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return absl::ResourceExhaustedError(
        absl::StrCat(path, " is larger than the limit of ", max_bytes, " bytes (", st.st_size, " bytes)"));
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoStatus("cannot read", path, err);
    }
    if (n == 0) break;
    // The file may grow after fstat: the limit holds on what is read.
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      ::close(fd);
      return absl::ResourceExhaustedError(
          absl::StrCat(path, " is larger than the limit of ", max_bytes, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::Status WriteFileAtomic(absl::string_view path_view, absl::string_view contents, int mode) {
  const std::string path(path_view);
  const std::string dir = Dirname(path);
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return ErrnoStatus("cannot create a temporary file for", path, errno);
  auto fail = [&](absl::string_view what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return ErrnoStatus(what, tmp, err);
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("cannot chmod");
  const char* data = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("cannot close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("cannot rename over", path, err);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

absl::Status MakeDirs(absl::string_view path_view, int mode) {
  std::string path(path_view);
  if (path.empty()) return absl::InvalidArgumentError("empty directory path");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  const std::string parent = Dirname(path);
  if (parent != path && parent != "." && parent != "/") {
    absl::Status s = MakeDirs(parent, mode);
    if (!s.ok()) return s;
  }
  if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) {
    return ErrnoStatus("cannot create directory", path, errno);
  }
  return absl::OkStatus();
}

absl::Status CheckPrivateDirectory(absl::string_view path_view, uid_t owner) {
  const std::string path(path_view);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("cannot inspect", path, errno);
  if (S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is a symbolic link; name the directory itself (a link's target can be changed by whoever "
              "owns the folder that holds the link)"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is ", FileTypeName(st.st_mode), ", not a directory"));
  }
  if (st.st_uid != owner) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is owned by uid ", st.st_uid, ", not by uid ", owner,
                                                      " which runs sigshim (chown it, or remove it)"));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is writable by ", (st.st_mode & S_IWOTH) != 0 ? "every user" : "its group", " (mode 0",
        absl::StrFormat("%o", st.st_mode & 07777), "); it must be writable by its owner only (chmod go-w)"));
  }
  return absl::OkStatus();
}

}  // namespace sigshim
