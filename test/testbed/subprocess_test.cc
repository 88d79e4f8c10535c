#include "test/testbed/subprocess.h"

#include <signal.h>
#include <sys/wait.h>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testbed/temp_dir.h"

namespace sigshim::testbed {
namespace {

using ::testing::HasSubstr;

class SubprocessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("sigshim-sp");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::move(*dir);
  }
  SubprocessOptions Shell(const std::string& script) {
    SubprocessOptions options;
    options.argv = {"/bin/sh", "-c", script};
    options.log_path = dir_->Path("child.log");
    return options;
  }
  std::unique_ptr<TempDir> dir_;
};

TEST_F(SubprocessTest, WritesOutputToLogAndReportsExit) {
  auto child = Subprocess::Start(Shell("echo out; echo err >&2; exit 3"));
  ASSERT_TRUE(child.ok()) << child.status();
  auto status = (*child)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  EXPECT_THAT((*child)->LogTail(), HasSubstr("out\nerr\n"));
  EXPECT_FALSE((*child)->Running());
}

TEST_F(SubprocessTest, PassesEnvironment) {
  SubprocessOptions options = Shell("echo value=$SIGSHIM_TB_VAR");
  options.env = {"SIGSHIM_TB_VAR=42"};
  auto child = Subprocess::Start(options);
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->Wait(absl::Seconds(30)).ok());
  EXPECT_THAT((*child)->LogTail(), HasSubstr("value=42"));
}

TEST_F(SubprocessTest, StopEscalatesToSigkillWhenTermIsIgnored) {
  auto child = Subprocess::Start(Shell("trap '' TERM; echo ready; while true; do sleep 1; done"));
  ASSERT_TRUE(child.ok()) << child.status();
  while ((*child)->LogTail().find("ready") == std::string::npos) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE((*child)->Stop(absl::Milliseconds(200)).ok());
  EXPECT_FALSE((*child)->Running());
  EXPECT_EQ(kill((*child)->pid(), 0), -1);
}

TEST_F(SubprocessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    auto child = Subprocess::Start(Shell("exec sleep 1000"));
    ASSERT_TRUE(child.ok()) << child.status();
    pid = (*child)->pid();
    EXPECT_TRUE((*child)->Running());
  }
  EXPECT_EQ(kill(pid, 0), -1);
}

TEST_F(SubprocessTest, ExecFailureIsAnError) {
  SubprocessOptions options;
  options.argv = {"/nonexistent/program"};
  options.log_path = dir_->Path("child.log");
  auto child = Subprocess::Start(options);
  EXPECT_FALSE(child.ok());
  EXPECT_THAT(std::string(child.status().message()), HasSubstr("/nonexistent/program"));
}

TEST_F(SubprocessTest, WaitForUnixSocketFailsWithLogTailWhenChildExits) {
  auto child = Subprocess::Start(Shell("echo cannot listen; exit 1"));
  ASSERT_TRUE(child.ok()) << child.status();
  absl::Status status = (*child)->WaitForUnixSocket(dir_->Path("never.sock"), absl::Seconds(30));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cannot listen"));
}

TEST_F(SubprocessTest, WaitForTcpPortTimesOut) {
  auto port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  auto child = Subprocess::Start(Shell("exec sleep 1000"));
  ASSERT_TRUE(child.ok()) << child.status();
  absl::Status status = (*child)->WaitForTcpPort(*port, absl::Milliseconds(100));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(RunCommand, CapturesStdoutAndStderrSeparately) {
  auto result = RunCommand({"/bin/sh", "-c", "printf out; printf err >&2"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_text, "out");
  EXPECT_EQ(result->stderr_text, "err");
  EXPECT_EQ(result->exit_code, 0);
}

TEST(RunCommand, NonZeroExitIsAnErrorWithOutput) {
  auto result = RunCommand({"/bin/sh", "-c", "echo broken >&2; exit 2"});
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("broken"));
}

TEST(RunCommand, KillsOnTimeout) {
  auto result = RunCommand({"/bin/sleep", "1000"}, absl::Milliseconds(100));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(TempDirTest, RemovesItselfWithContents) {
  std::string path;
  {
    auto dir = TempDir::Create("sigshim-td");
    ASSERT_TRUE(dir.ok()) << dir.status();
    path = (*dir)->path();
    ASSERT_TRUE((*dir)->MakeDir("a/b/c").ok());
    ASSERT_EQ(symlink("/etc", (*dir)->Path("a/link").c_str()), 0);
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0);
  EXPECT_EQ(access("/etc/hostname", F_OK) == 0 || access("/etc/passwd", F_OK) == 0, true);
}

}  // namespace
}  // namespace sigshim::testbed
