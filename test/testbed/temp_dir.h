// A private temporary folder for one test bed, removed with everything mounted in it.
#ifndef SIGSHIM_TEST_TESTBED_TEMP_DIR_H_
#define SIGSHIM_TEST_TESTBED_TEMP_DIR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::testbed {

// A folder /tmp/<prefix>-XXXXXX (short, so that unix socket paths inside it stay under 108 bytes).
// The destructor unmounts whatever is still mounted below it (containerd leaves overlay and shm
// mounts behind when it is killed) and removes it, without crossing into other file systems.
// Setting SIGSHIM_TESTBED_KEEP=1 in the environment keeps the folder for a post-mortem.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Create(absl::string_view prefix = "sigshim-tb");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  // Returns path()/`relative`.
  std::string Path(absl::string_view relative) const;

  // Creates path()/`relative` (and parents) and returns its full path.
  absl::StatusOr<std::string> MakeDir(absl::string_view relative) const;

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Unmounts (lazily, deepest first) every mount point at or below `dir`. Returns how many it
// unmounted.
int UnmountAllBelow(absl::string_view dir);

// Removes `dir` recursively without following symlinks or crossing mount points.
absl::Status RemoveTree(absl::string_view dir);

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_TEMP_DIR_H_
