// Child processes for tests that run real components: started with fork/exec, output to a log
// file, always stopped and reaped by their owner.
#ifndef SIGSHIM_TEST_TESTBED_SUBPROCESS_H_
#define SIGSHIM_TEST_TESTBED_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sigshim::testbed {

struct SubprocessOptions {
  // The program and its arguments; argv[0] is looked up in PATH when it has no slash. Required.
  std::vector<std::string> argv;
  // "NAME=value" entries added to (or replacing in) the test's own environment. Default: none.
  std::vector<std::string> env;
  // File that receives the child's stdout and stderr (appended, created 0644). Required.
  std::string log_path;
  // Working directory of the child. Default: the test's own.
  std::string working_dir;
};

// One started child process. Not thread-safe: one owner drives it.
//
// The child gets PR_SET_PDEATHSIG=SIGKILL, so it dies with the test process even when the test
// crashes. The kernel sends that signal when the *thread* that forked exits: start long-lived
// children from a thread that outlives them (the main test thread, SetUpTestSuite). The destructor
// kills (SIGKILL) and reaps the child if it still runs.
class Subprocess {
 public:
  // Forks and execs `options.argv`. An exec failure is reported here (not as a silent exit), with
  // the log tail.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const SubprocessOptions& options);

  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Returns the child's pid (still valid, as a number, after it was reaped).
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return options_.log_path; }

  // Returns true while the child has not exited. Reaps it when it has.
  bool Running();

  // Sends SIGTERM, waits up to `grace` for the exit, then sends SIGKILL and reaps. OK when the child
  // had already exited, whatever its exit status.
  absl::Status Stop(absl::Duration grace = absl::Seconds(10));

  // Sends SIGKILL and reaps.
  absl::Status Kill();

  // Waits up to `timeout` for the child to exit; returns its wait(2) status. DeadlineExceeded when
  // it still runs.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // Polls until a unix stream socket at `path` accepts a connection. FailedPrecondition (with the
  // log tail) when the child exits first; DeadlineExceeded (with the log tail) after `timeout`.
  absl::Status WaitForUnixSocket(absl::string_view path, absl::Duration timeout);

  // Polls until 127.0.0.1:`port` accepts a TCP connection; errors as WaitForUnixSocket.
  absl::Status WaitForTcpPort(int port, absl::Duration timeout);

  // Returns up to the last `max_bytes` of the log file.
  std::string LogTail(size_t max_bytes = 4096) const;

  // Describes how the child ended ("exited with status 1", "killed by signal 6 (Aborted)"), or
  // "running" while Running() is true.
  std::string ExitDescription();

 private:
  explicit Subprocess(SubprocessOptions options) : options_(std::move(options)) {}

  // Adds the log tail and pid to `status`'s message.
  absl::Status WithContext(absl::Status status) const;

  SubprocessOptions options_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// The outcome of RunCommand.
struct CommandResult {
  int exit_code = -1;   // -1 when killed by a signal
  std::string stdout_text;
  std::string stderr_text;
};

// Runs `argv` to completion with stdout and stderr captured, killing it after `timeout`.
// A non-zero exit is an Internal error whose message has the command and the end of its output;
// a timeout is DeadlineExceeded. `env` entries are added as in SubprocessOptions.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout = absl::Seconds(120),
                                         const std::vector<std::string>& env = {});

// Returns true when a unix stream socket at `path` accepts a connection now.
bool UnixSocketAccepts(absl::string_view path);

// Returns true when 127.0.0.1:`port` accepts a TCP connection now.
bool TcpPortAccepts(int port);

// Returns a TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
absl::StatusOr<int> PickFreePort();

// Returns the last `max_bytes` of the file at `path` ("" when it cannot be read).
std::string FileTail(absl::string_view path, size_t max_bytes = 4096);

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_SUBPROCESS_H_
