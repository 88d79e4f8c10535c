#include "test/testbed/temp_dir.h"

#include <ftw.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pkg/base/file.h"
#include "pkg/base/log.h"

namespace sigshim::testbed {
namespace {

// Decodes the octal escapes (\040 for space, ...) of /proc/self/mountinfo fields.
std::string UnescapeMountField(absl::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      int value = 0;
      bool octal = true;
      for (size_t j = 1; j <= 3; ++j) {
        char c = field[i + j];
        if (c < '0' || c > '7') octal = false;
        value = value * 8 + (c - '0');
      }
      if (octal) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

int RemoveEntry(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_DP) {
    rmdir(path);
  } else {
    unlink(path);
  }
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TempDir>> TempDir::Create(absl::string_view prefix) {
  std::string pattern = absl::StrCat("/tmp/", prefix, "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<TempDir>(new TempDir(pattern));
}

TempDir::~TempDir() {
  const char* keep = std::getenv("SIGSHIM_TESTBED_KEEP");
  UnmountAllBelow(path_);
  if (keep != nullptr && std::string(keep) == "1") {
    SIGSHIM_LOG(kInfo, "testbed: keeping ", path_);
    return;
  }
  absl::Status status = RemoveTree(path_);
  if (!status.ok()) SIGSHIM_LOG(kWarning, "testbed: ", status.message());
}

std::string TempDir::Path(absl::string_view relative) const { return absl::StrCat(path_, "/", relative); }

absl::StatusOr<std::string> TempDir::MakeDir(absl::string_view relative) const {
  std::string path = Path(relative);
  absl::Status status = MakeDirs(path);
  if (!status.ok()) return status;
  return path;
}

int UnmountAllBelow(absl::string_view dir) {
  std::string prefix(dir);
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  std::vector<std::string> targets;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5) continue;
    std::string mount_point = UnescapeMountField(fields[4]);
    if (mount_point == prefix || absl::StartsWith(mount_point, prefix + "/")) {
      targets.push_back(mount_point);
    }
  }
  // Deepest first, so that nested mounts go before their parents.
  std::sort(targets.begin(), targets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  int count = 0;
  for (const std::string& target : targets) {
    if (umount2(target.c_str(), MNT_DETACH) == 0) ++count;
  }
  return count;
}

absl::Status RemoveTree(absl::string_view dir) {
  std::string path(dir);
  if (path.empty() || path == "/") return absl::InvalidArgumentError("refusing to remove /");
  if (nftw(path.c_str(), RemoveEntry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("removing ", path, ": ", std::strerror(errno)));
  }
  if (access(path.c_str(), F_OK) == 0) {
    return absl::InternalError(absl::StrCat("could not remove all of ", path));
  }
  return absl::OkStatus();
}

}  // namespace sigshim::testbed
