#include "test/testbed/subprocess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace sigshim::testbed {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(20);

// Returns the test's environment with `extra` ("NAME=value") added or replacing.
std::vector<std::string> MergedEnvironment(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    vars[entry.substr(0, entry.find('='))] = entry;
  }
  for (const std::string& entry : extra) vars[entry.substr(0, entry.find('='))] = entry;
  std::vector<std::string> out;
  for (auto& [name, entry] : vars) out.push_back(entry);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string ErrnoText(absl::string_view what) {
  return absl::StrCat(what, ": ", std::strerror(errno));
}

// Forks and execs; the child's stdin is /dev/null, stdout goes to `out_fd` and stderr to `err_fd`.
// Returns the pid, or an error when fork or exec failed (exec errors come back through a
// close-on-exec pipe).
absl::StatusOr<pid_t> ForkExec(const std::vector<std::string>& argv_in,
                               const std::vector<std::string>& env_in, int out_fd, int err_fd,
                               const std::string& working_dir) {
  if (argv_in.empty()) return absl::InvalidArgumentError("empty argv");
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = MergedEnvironment(env_in);
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) return absl::InternalError(ErrnoText("open /dev/null"));
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    close(null_fd);
    return absl::InternalError(ErrnoText("pipe2"));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(null_fd);
    close(report[0]);
    close(report[1]);
    return absl::InternalError(ErrnoText("fork"));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    // Signals blocked or ignored by the test runner must not leak into the child.
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    signal(SIGPIPE, SIG_DFL);
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    int err = 0;
    if (!working_dir.empty() && chdir(working_dir.c_str()) != 0) {
      err = errno;
    } else {
      execvpe(c_argv[0], c_argv.data(), c_env.data());
      err = errno;
    }
    (void)!write(report[1], &err, sizeof(err));
    _exit(127);
  }
  close(null_fd);
  close(report[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == sizeof(child_errno)) {
    waitpid(pid, nullptr, 0);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot exec ", absl::StrJoin(argv_in, " "), ": ", std::strerror(child_errno)));
  }
  return pid;
}

// Polls `ready` until it returns true, `exited` returns true, or `timeout` passes.
absl::Status PollUntil(const std::function<bool()>& ready, const std::function<bool()>& exited,
                       absl::Duration timeout, absl::string_view what) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (ready()) return absl::OkStatus();
    if (exited()) return absl::FailedPreconditionError(absl::StrCat("process exited before ", what));
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("timed out after ", absl::FormatDuration(timeout),
                                                      " waiting for ", what));
    }
    absl::SleepFor(kPollInterval);
  }
}

}  // namespace

std::string FileTail(absl::string_view path, size_t max_bytes) {
  std::ifstream in(std::string(path), std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes) ? size - max_bytes : 0;
  in.seekg(start);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool UnixSocketAccepts(absl::string_view path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

bool TcpPortAccepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

absl::StatusOr<int> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(ErrnoText("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status status = absl::InternalError(ErrnoText("bind 127.0.0.1:0"));
    close(fd);
    return status;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const SubprocessOptions& options) {
  if (options.log_path.empty()) return absl::InvalidArgumentError("Subprocess needs a log_path");
  int log_fd = open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(ErrnoText(absl::StrCat("open ", options.log_path)));
  auto process = std::unique_ptr<Subprocess>(new Subprocess(options));
  absl::StatusOr<pid_t> pid = ForkExec(options.argv, options.env, log_fd, log_fd, options.working_dir);
  close(log_fd);
  if (!pid.ok()) return pid.status();
  process->pid_ = *pid;
  return process;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !reaped_) (void)Kill();
}

bool Subprocess::Running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    wait_status_ = status;
    return false;
  }
  return true;
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("pid ", pid_, " still runs after ",
                                                      absl::FormatDuration(timeout)));
    }
    absl::SleepFor(kPollInterval);
  }
  return wait_status_;
}

absl::Status Subprocess::Stop(absl::Duration grace) {
  if (!Running()) return absl::OkStatus();
  kill(pid_, SIGTERM);
  if (Wait(grace).ok()) return absl::OkStatus();
  return Kill();
}

absl::Status Subprocess::Kill() {
  if (!Running()) return absl::OkStatus();
  kill(pid_, SIGKILL);
  // A SIGKILLed process exits promptly unless it is stuck in the kernel (D state).
  absl::StatusOr<int> status = Wait(absl::Seconds(30));
  if (!status.ok()) return WithContext(status.status());
  return absl::OkStatus();
}

absl::Status Subprocess::WaitForUnixSocket(absl::string_view path, absl::Duration timeout) {
  std::string p(path);
  absl::Status status = PollUntil([&] { return UnixSocketAccepts(p); }, [&] { return !Running(); },
                                  timeout, absl::StrCat("unix socket ", p));
  return status.ok() ? status : WithContext(status);
}

absl::Status Subprocess::WaitForTcpPort(int port, absl::Duration timeout) {
  absl::Status status = PollUntil([&] { return TcpPortAccepts(port); }, [&] { return !Running(); },
                                  timeout, absl::StrCat("127.0.0.1:", port));
  return status.ok() ? status : WithContext(status);
}

std::string Subprocess::ExitDescription() {
  if (Running()) return "running";
  if (WIFEXITED(wait_status_)) return absl::StrCat("exited with status ", WEXITSTATUS(wait_status_));
  if (WIFSIGNALED(wait_status_)) {
    return absl::StrCat("killed by signal ", WTERMSIG(wait_status_), " (", strsignal(WTERMSIG(wait_status_)), ")",
                        WCOREDUMP(wait_status_) ? ", core dumped" : "");
  }
  return absl::StrCat("ended with wait status ", wait_status_);
}

std::string Subprocess::LogTail(size_t max_bytes) const { return FileTail(options_.log_path, max_bytes); }

absl::Status Subprocess::WithContext(absl::Status status) const {
  return absl::Status(status.code(),
                      absl::StrCat(status.message(), " [pid ", pid_, ", ", options_.argv.front(),
                                   "; end of ", options_.log_path, ":]\n", LogTail()));
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, absl::Duration timeout,
                                         const std::vector<std::string>& env) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError(ErrnoText("pipe2"));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return absl::InternalError(ErrnoText("pipe2"));
  }
  absl::StatusOr<pid_t> pid = ForkExec(argv, env, out[1], err[1], "");
  close(out[1]);
  close(err[1]);
  if (!pid.ok()) {
    close(out[0]);
    close(err[0]);
    return pid.status();
  }
  CommandResult result;
  absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.stdout_text, &result.stderr_text};
  int open_fds = 2;
  while (open_fds > 0) {
    int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0) {
      timed_out = true;
      break;
    }
    int n = poll(fds, 2, wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  if (timed_out) kill(*pid, SIGKILL);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string command = absl::StrJoin(argv, " ");
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat("`", command, "` killed after ",
                                                    absl::FormatDuration(timeout)));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (result.exit_code != 0) {
    auto tail = [](const std::string& s) { return s.size() > 4096 ? s.substr(s.size() - 4096) : s; };
    return absl::InternalError(absl::StrCat("`", command, "` exited with status ", status, "\nstdout: ",
                                            tail(result.stdout_text), "\nstderr: ",
                                            tail(result.stderr_text)));
  }
  return result;
}

}  // namespace sigshim::testbed
