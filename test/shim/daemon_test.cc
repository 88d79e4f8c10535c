// The sigshim binary as a process: exit codes, signals, the socket it leaves behind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "test/shim/echo_runtime.h"
#include "test/testbed/subprocess.h"

namespace sigshim {
namespace {

using ::testing::HasSubstr;

// Returns a real ECDSA P-256 public key (cosign's, from the conformance vectors beside the repo).
std::string UsableKey() {
  auto pem = ReadFile("test/testdata/cosign-conformance/trust/cosign.pub", 64 << 10);
  EXPECT_TRUE(pem.ok()) << pem.status();
  return pem.ok() ? *pem : "";
}

// Returns a real RSA public key of 1024 bits, which sigshim refuses (2048 at least).
std::string Rsa1024Key() {
  auto result = testbed::RunCommand(
      {"/bin/sh", "-c",
       "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl pkey -pubout"});
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->stdout_text : "";
}

// Returns the exit code in a wait(2) status, or -1 when the process died of a signal.
int ExitCode(int wait_status) { return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1; }

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigshim-daemon-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    listen_ = dir_ + "/run/cri.sock";
    runtime_ = dir_ + "/runtime.sock";
    config_ = dir_ + "/config.toml";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  // Writes the config: [server] (3 keys), then [metrics] with `metrics_listen` (2 lines), then
  // `extra`.
  void WriteConfig(const std::string& extra = "", const std::string& metrics_listen = "") {
    ASSERT_TRUE(WriteFileAtomic(config_, absl::StrCat("[server]\nlisten = \"", listen_, "\"\nruntime_endpoint = \"",
                                                      runtime_, "\"\nstate_dir = \"", dir_, "/state\"\n[metrics]\nlisten = \"",
                                                      metrics_listen, "\"\n", extra))
                    .ok());
  }

  std::unique_ptr<testbed::Subprocess> Start(const std::string& log_name = "sigshim.log",
                                             std::vector<std::string> argv = {}) {
    testbed::SubprocessOptions options;
    options.argv = argv.empty() ? std::vector<std::string>{SIGSHIM_BINARY, "--config", config_} : argv;
    options.log_path = dir_ + "/" + log_name;
    auto process = testbed::Subprocess::Start(options);
    EXPECT_TRUE(process.ok()) << process.status();
    return process.ok() ? *std::move(process) : nullptr;
  }

  std::string dir_, listen_, runtime_, config_;
};

TEST_F(DaemonTest, SigtermRemovesTheSocketAndExitsZero) {
  testing::EchoRuntime runtime(runtime_);
  WriteConfig();
  auto shim = Start();
  ASSERT_NE(shim, nullptr);
  ASSERT_TRUE(shim->WaitForUnixSocket(listen_, absl::Seconds(20)).ok()) << shim->LogTail();
  ASSERT_EQ(::kill(shim->pid(), SIGTERM), 0);
  auto code = shim->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(ExitCode(*code), 0) << shim->LogTail();
  EXPECT_NE(::access(listen_.c_str(), F_OK), 0) << "socket left behind";
  EXPECT_THAT(shim->LogTail(), HasSubstr("shutting down"));
}

// The metrics endpoint is not worth a node: with its port taken, sigshim still serves the CRI.
TEST_F(DaemonTest, TakenMetricsPortIsReportedAndTheCriStillServed) {
  testing::EchoRuntime runtime(runtime_);
  const int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(taken, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  WriteConfig("", absl::StrCat("127.0.0.1:", ntohs(addr.sin_port)));
  auto shim = Start();
  ASSERT_NE(shim, nullptr);
  EXPECT_TRUE(shim->WaitForUnixSocket(listen_, absl::Seconds(20)).ok()) << shim->LogTail();
  // The status endpoint is started after the CRI socket exists: its line may come a little later.
  constexpr char kReported[] = "serving without /metrics, /healthz and /readyz";
  for (const absl::Time give_up = absl::Now() + absl::Seconds(20);
       shim->LogTail().find(kReported) == std::string::npos && absl::Now() < give_up;) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(shim->LogTail(), HasSubstr(kReported));
  EXPECT_TRUE(shim->Running());
  ::close(taken);
}

TEST_F(DaemonTest, SecondInstanceOnTheSameSocketIsRefused) {
  testing::EchoRuntime runtime(runtime_);
  WriteConfig();
  auto first = Start("first.log");
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->WaitForUnixSocket(listen_, absl::Seconds(20)).ok()) << first->LogTail();
  auto second = Start("second.log");
  ASSERT_NE(second, nullptr);
  auto code = second->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(ExitCode(*code), 1);
  EXPECT_THAT(second->LogTail(), HasSubstr("already listening"));
  // The first instance is untouched and still serving.
  EXPECT_TRUE(first->Running());
  EXPECT_TRUE(first->WaitForUnixSocket(listen_, absl::Seconds(5)).ok());
}

// A FIFO named like a verdict once kept start-up waiting for a writer forever (no socket, SIGTERM
// blocked): it is now reported and skipped, and sigshim serves and stops as usual.
TEST_F(DaemonTest, FifoInTheVerdictFolderIsReportedAndDoesNotHangStartUp) {
  testing::EchoRuntime runtime(runtime_);
  WriteConfig();
  ASSERT_TRUE(MakeDirs(dir_ + "/state/verdicts", 0700).ok());
  ASSERT_EQ(::mkfifo((dir_ + "/state/verdicts/trap.json").c_str(), 0600), 0);
  auto shim = Start();
  ASSERT_NE(shim, nullptr);
  ASSERT_TRUE(shim->WaitForUnixSocket(listen_, absl::Seconds(20)).ok()) << shim->LogTail();
  EXPECT_THAT(shim->LogTail(), HasSubstr("trap.json is a FIFO (named pipe), not a regular file"));
  ASSERT_EQ(::kill(shim->pid(), SIGTERM), 0);
  auto code = shim->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(ExitCode(*code), 0) << shim->LogTail();
}

// A state folder others can write to (or one reached through a link) is refused at start-up,
// like a bad configuration: exit 2, the path and what is wrong in the log, nothing served.
TEST_F(DaemonTest, UnsafeStateFolderStopsStartUpNamingThePath) {
  testing::EchoRuntime runtime(runtime_);
  WriteConfig();
  const std::string state = dir_ + "/state";
  ASSERT_EQ(::mkdir(state.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(state.c_str(), 0777), 0);
  {
    auto shim = Start("world-writable.log");
    ASSERT_NE(shim, nullptr);
    auto code = shim->Wait(absl::Seconds(30));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(ExitCode(*code), 2) << shim->LogTail();
    EXPECT_THAT(shim->LogTail(), HasSubstr(state + " is writable by every user (mode 0777)"));
    EXPECT_NE(::access(listen_.c_str(), F_OK), 0) << "must not serve with an unsafe state folder";
  }
  // The state folder is a link to a world-writable folder of another user.
  const std::string elsewhere = dir_ + "/elsewhere";
  ASSERT_EQ(::rmdir(state.c_str()), 0);
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(elsewhere.c_str(), 0777), 0);
  ASSERT_EQ(::chown(elsewhere.c_str(), 4242, 4242), 0) << "the tests run as root";
  ASSERT_EQ(::symlink(elsewhere.c_str(), state.c_str()), 0);
  auto shim = Start("symlink.log");
  ASSERT_NE(shim, nullptr);
  auto code = shim->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(ExitCode(*code), 2) << shim->LogTail();
  EXPECT_THAT(shim->LogTail(), HasSubstr(state + " is a symbolic link"));
  EXPECT_NE(::access(listen_.c_str(), F_OK), 0) << "must not serve with an unsafe state folder";
}

TEST_F(DaemonTest, BadConfigExitsTwoNamingFileAndLine) {
  WriteConfig("[enforcement]\nmode = \"enforcing\"\n");
  auto shim = Start();
  ASSERT_NE(shim, nullptr);
  auto code = shim->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(ExitCode(*code), 2);
  EXPECT_THAT(shim->LogTail(), HasSubstr(config_ + ":8: enforcement.mode"));
  EXPECT_NE(::access(listen_.c_str(), F_OK), 0) << "must not serve with a bad config";
}

// The policy is compiled before serving: a key sigshim cannot use or a glob it cannot read stops
// start-up, naming the file and line, as a TOML error does.
TEST_F(DaemonTest, UnusablePolicyExitsTwoNamingFileAndLine) {
  struct Case {
    std::string extra, expected, why;
  };
  const std::string rsa1024 = Rsa1024Key();
  ASSERT_NE(rsa1024.find("BEGIN PUBLIC KEY"), std::string::npos);
  for (const Case& c : std::vector<Case>{
           {"[[keys]]\nname = \"k\"\ndata = \"\"\"not a key\"\"\"\n"
            "[[policy]]\nname = \"p\"\nimages = [\"docker.io/**\"]\nrequire = [\"k\"]\n",
            ":7:", "key"},
           {"[[keys]]\nname = \"k\"\ndata = \"\"\"" + rsa1024 + "\"\"\"\n"
            "[[policy]]\nname = \"p\"\nimages = [\"docker.io/**\"]\nrequire = [\"k\"]\n",
            ":7:", "1024 bits"},
       }) {
    WriteConfig(c.extra);
    auto shim = Start();
    ASSERT_NE(shim, nullptr);
    auto code = shim->Wait(absl::Seconds(30));
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(ExitCode(*code), 2) << shim->LogTail();
    EXPECT_THAT(shim->LogTail(), HasSubstr(config_ + c.expected)) << shim->LogTail();
    EXPECT_THAT(shim->LogTail(), HasSubstr(c.why)) << shim->LogTail();
    EXPECT_NE(::access(listen_.c_str(), F_OK), 0) << "must not serve with a policy it did not understand";
  }
  // An invalid glob, on a key that parses.
  WriteConfig("[[keys]]\nname = \"k\"\npath = \"" + dir_ + "/k.pub\"\n"
              "[[policy]]\nname = \"p\"\nimages = [\"docker.io/***\"]\nrequire = [\"k\"]\n");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/k.pub", UsableKey()).ok());
  auto shim = Start("glob.log");
  ASSERT_NE(shim, nullptr);
  auto code = shim->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(ExitCode(*code), 2) << shim->LogTail();
  EXPECT_THAT(shim->LogTail(), HasSubstr(config_ + ":"));
  EXPECT_THAT(shim->LogTail(), HasSubstr("***"));
}

TEST_F(DaemonTest, ReloadWithAnUnusablePolicyKeepsTheOldOne) {
  testing::EchoRuntime runtime(runtime_);
  WriteConfig();
  auto shim = Start();
  ASSERT_NE(shim, nullptr);
  ASSERT_TRUE(shim->WaitForUnixSocket(listen_, absl::Seconds(20)).ok()) << shim->LogTail();
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/k.pub", UsableKey()).ok());
  WriteConfig("[[keys]]\nname = \"k\"\npath = \"" + dir_ + "/k.pub\"\n"
              "[[policy]]\nname = \"p\"\nimages = [\"busybox\"]\nrequire = [\"k\"]\n");
  ASSERT_EQ(::kill(shim->pid(), SIGHUP), 0);
  for (int i = 0; i < 100 && shim->LogTail().find("reload failed") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(shim->LogTail(), HasSubstr("reload failed, keeping the previous configuration"));
  EXPECT_THAT(shim->LogTail(), HasSubstr("busybox"));
  EXPECT_TRUE(shim->Running());
}

TEST_F(DaemonTest, BadReloadKeepsServing) {
  testing::EchoRuntime runtime(runtime_);
  WriteConfig();
  auto shim = Start();
  ASSERT_NE(shim, nullptr);
  ASSERT_TRUE(shim->WaitForUnixSocket(listen_, absl::Seconds(20)).ok());
  ASSERT_TRUE(WriteFileAtomic(config_, "[server\n").ok());
  ASSERT_EQ(::kill(shim->pid(), SIGHUP), 0);
  for (int i = 0; i < 100 && shim->LogTail().find("reload failed") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(shim->LogTail(), HasSubstr("reload failed, keeping the previous configuration"));
  EXPECT_TRUE(shim->Running());
  EXPECT_TRUE(shim->WaitForUnixSocket(listen_, absl::Seconds(5)).ok());
}

TEST_F(DaemonTest, BadUsageExitsTwo) {
  auto unknown = Start("unknown.log", {SIGSHIM_BINARY, "--frobnicate"});
  ASSERT_NE(unknown, nullptr);
  auto code = unknown->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(ExitCode(*code), 2);
  EXPECT_THAT(unknown->LogTail(), HasSubstr("unknown argument \"--frobnicate\""));
  auto missing = Start("missing.log", {SIGSHIM_BINARY});
  ASSERT_NE(missing, nullptr);
  code = missing->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(ExitCode(*code), 2);
  EXPECT_THAT(missing->LogTail(), HasSubstr("--config FILE is required"));
}

}  // namespace
}  // namespace sigshim
