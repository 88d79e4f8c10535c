// The sigshim binary under systemd's Type=notify: READY=1 once its socket serves, RELOADING=1 then
// READY=1 on SIGHUP, STOPPING=1 on SIGTERM. The test plays systemd: it owns the unix datagram socket
// that NOTIFY_SOCKET names.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "test/shim/echo_runtime.h"
#include "test/testbed/subprocess.h"

namespace sigshim {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

// How long a message may take before the test gives up: a liveness bound, not a measurement.
constexpr int kReceiveTimeoutMs = 30000;

// Returns true when a unix stream socket at `path` accepts a connection right now (no retry).
bool AcceptsConnections(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

class NotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigshim-notify-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    listen_ = dir_ + "/run/cri.sock";
    runtime_ = dir_ + "/runtime.sock";
    config_ = dir_ + "/config.toml";
    notify_path_ = dir_ + "/notify.sock";
    notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(notify_fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(notify_path_.size(), sizeof(addr.sun_path));
    strncpy(addr.sun_path, notify_path_.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(notify_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
    ASSERT_TRUE(WriteFileAtomic(config_, absl::StrCat("[server]\nlisten = \"", listen_, "\"\nruntime_endpoint = \"",
                                                      runtime_, "\"\nstate_dir = \"", dir_, "/state\"\n[metrics]\nlisten = \"\"\n"))
                    .ok());
  }
  void TearDown() override {
    if (notify_fd_ >= 0) ::close(notify_fd_);
    std::system(("rm -rf " + dir_).c_str());
  }

  std::unique_ptr<testbed::Subprocess> Start(const std::string& notify_socket) {
    testbed::SubprocessOptions options;
    options.argv = {SIGSHIM_BINARY, "--config", config_};
    options.env = {"NOTIFY_SOCKET=" + notify_socket};
    options.log_path = dir_ + "/sigshim.log";
    auto process = testbed::Subprocess::Start(options);
    EXPECT_TRUE(process.ok()) << process.status();
    return process.ok() ? *std::move(process) : nullptr;
  }

  // Returns the lines of the next notification, or {} when none came within kReceiveTimeoutMs.
  std::vector<std::string> Receive() {
    pollfd p{notify_fd_, POLLIN, 0};
    if (::poll(&p, 1, kReceiveTimeoutMs) != 1) return {};
    char buf[4096];
    ssize_t n = ::recv(notify_fd_, buf, sizeof(buf), 0);
    if (n <= 0) return {};
    return absl::StrSplit(std::string(buf, static_cast<size_t>(n)), '\n', absl::SkipEmpty());
  }

  std::string dir_, listen_, runtime_, config_, notify_path_;
  int notify_fd_ = -1;
};

int ExitCode(int wait_status) { return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1; }

TEST_F(NotifyTest, ReadyOnlyOnceServingThenReloadingReadyThenStopping) {
  testing::EchoRuntime runtime(runtime_);
  auto shim = Start(notify_path_);
  ASSERT_NE(shim, nullptr);

  std::vector<std::string> ready = Receive();
  ASSERT_THAT(ready, Contains("READY=1")) << shim->LogTail();
  // At READY=1 the socket already serves: kubelet may connect at once.
  EXPECT_TRUE(AcceptsConnections(listen_));
  EXPECT_THAT(ready, Contains(absl::StrCat("STATUS=serving on ", listen_, ", forwarding to ", runtime_)));

  ASSERT_EQ(::kill(shim->pid(), SIGHUP), 0);
  std::vector<std::string> reloading = Receive();
  EXPECT_THAT(reloading, Contains("RELOADING=1")) << shim->LogTail();
  EXPECT_THAT(Receive(), Contains("READY=1")) << shim->LogTail();
  EXPECT_THAT(shim->LogTail(), HasSubstr("configuration reloaded"));

  // A bad file still ends the reload with READY=1 (the old configuration serves on).
  ASSERT_TRUE(WriteFileAtomic(config_, "[server\n").ok());
  ASSERT_EQ(::kill(shim->pid(), SIGHUP), 0);
  EXPECT_THAT(Receive(), Contains("RELOADING=1"));
  std::vector<std::string> after_bad = Receive();
  EXPECT_THAT(after_bad, Contains("READY=1"));
  EXPECT_THAT(absl::StrJoin(after_bad, "\n"), HasSubstr("reload failed"));
  EXPECT_TRUE(AcceptsConnections(listen_));

  ASSERT_EQ(::kill(shim->pid(), SIGTERM), 0);
  EXPECT_THAT(Receive(), Contains("STOPPING=1")) << shim->LogTail();
  auto code = shim->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(ExitCode(*code), 0) << shim->LogTail();
  EXPECT_NE(::access(listen_.c_str(), F_OK), 0) << "socket left behind";
}

TEST_F(NotifyTest, UnreachableNotifySocketDoesNotStopServing) {
  testing::EchoRuntime runtime(runtime_);
  auto shim = Start(dir_ + "/nobody-listens-here.sock");
  ASSERT_NE(shim, nullptr);
  ASSERT_TRUE(shim->WaitForUnixSocket(listen_, absl::Seconds(20)).ok()) << shim->LogTail();
  EXPECT_TRUE(shim->Running());
  ASSERT_EQ(::kill(shim->pid(), SIGTERM), 0);
  auto code = shim->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(ExitCode(*code), 0) << shim->LogTail();
}

}  // namespace
}  // namespace sigshim
