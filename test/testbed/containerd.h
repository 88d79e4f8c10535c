// A real containerd 1.6 daemon with its CRI plugin, everything under one test folder.
#ifndef SIGSHIM_TEST_TESTBED_CONTAINERD_H_
#define SIGSHIM_TEST_TESTBED_CONTAINERD_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "test/testbed/subprocess.h"

namespace sigshim::testbed {

struct ContainerdOptions {
  // Folder (created if missing) for root/, state/, opt/, cni/, the config, the socket and the log.
  // Keep it short: the socket path must stay under 108 bytes. Required.
  std::string dir;
  // Image the CRI plugin uses for pod sandboxes. It must be present in the k8s.io namespace
  // before RunPodSandbox (ImportImage puts it there). Default: a local name that no registry serves.
  std::string sandbox_image = "localhost/sigshim-testbed/pause:1";
  // Path of the daemon binary. Default: the Debian package's.
  std::string binary = "/usr/bin/containerd";
  // The CRI plugin's registry config_path (containerd's hosts.toml folders). Default "": none.
  std::string registry_config_path = "";
  // How long Start() waits for the CRI service to answer Version. Default 60 s.
  absl::Duration start_timeout = absl::Seconds(60);
};

// One containerd process, run as root. Not thread-safe: one owner drives Start/Stop/Kill; Ctr may
// be called from any thread.
//
// The destructor stops containerd, then kills whatever it left running (the runc shims, which
// outlive containerd by design, and the containers under them), reaps what it can and unmounts
// the overlay and shm mounts below `dir`, so that a failing test leaves nothing behind.
class Containerd {
 public:
  // Writes the config and starts containerd; returns once the CRI service answers.
  static absl::StatusOr<std::unique_ptr<Containerd>> Create(const ContainerdOptions& options);
  ~Containerd();

  // Returns the path of the gRPC socket (the CRI endpoint, without "unix://").
  const std::string& socket_path() const { return socket_path_; }
  const std::string& log_path() const { return log_path_; }
  const std::string& sandbox_image() const { return options_.sandbox_image; }
  // Returns the pid of the running daemon, or -1.
  pid_t pid() const { return process_ == nullptr ? -1 : process_->pid(); }
  bool running() const { return process_ != nullptr; }

  // Stops the daemon (SIGTERM, then SIGKILL). Containers keep running under their shims.
  absl::Status Stop();
  // Kills the daemon with SIGKILL, as a crash would.
  absl::Status Kill();
  // Starts the daemon again with the same config and state; returns once the CRI service answers.
  // OK when it already runs.
  absl::Status Start();

  // Runs `ctr --address SOCKET -n k8s.io ARGS...` and returns its stdout.
  absl::StatusOr<std::string> Ctr(const std::vector<std::string>& args,
                                  absl::Duration timeout = absl::Seconds(120)) const;

  // Kills every process started for this containerd (shims and their containers), reaps the ones
  // that became our children and unmounts everything below `dir`. Called by the destructor after
  // Stop(); callable by tests when containerd is down.
  void KillLeftovers();

  // Kills the shims (and their containers) of test beds whose test process died without cleaning
  // up (a SIGKILL, a ctest timeout): shims under a /tmp/sigshim-* address that were re-parented
  // to pid 1 (their subreaper test process is gone) and whose containerd no longer answers; then
  // unmounts below their folders.
  // Create() calls it; returns how many processes it killed.
  static int KillStaleTestBeds();

 private:
  explicit Containerd(ContainerdOptions options);

  // Waits until RuntimeService/Version answers on the socket.
  absl::Status WaitForCri();

  ContainerdOptions options_;
  std::string config_path_;
  std::string socket_path_;
  std::string log_path_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_CONTAINERD_H_
