// The sigshim binary's command line as a process: main() prints what parsing asked for on the
// right stream and exits with its code, and runs nothing else.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testbed/subprocess.h"

namespace sigshim {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `sigshim <args>` and returns its exit code, stdout and stderr.
Outcome Sigshim(const std::vector<std::string>& args) {
  // Through sh, which reports the exit code on stderr's last line: RunCommand keeps the output
  // of a command that exits 0 only.
  std::vector<std::string> argv = {"/bin/sh", "-c", "\"$@\"; echo \"exit=$?\" >&2", "sh", SIGSHIM_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<testbed::CommandResult> result = testbed::RunCommand(argv);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  Outcome outcome{.out = result->stdout_text, .err = result->stderr_text};
  const size_t at = outcome.err.rfind("exit=");
  EXPECT_NE(at, std::string::npos) << outcome.err;
  if (at == std::string::npos) return outcome;
  outcome.exit_code = std::stoi(outcome.err.substr(at + 5));
  outcome.err.resize(at);
  return outcome;
}

TEST(SigshimCommandLine, CommandHelpGoesToStdoutAndExitsZero) {
  Outcome verify = Sigshim({"verify", "--help"});
  EXPECT_EQ(verify.exit_code, 0);
  EXPECT_THAT(verify.out, AllOf(HasSubstr("Usage: sigshim verify [OPTIONS] IMAGE"), HasSubstr("--namespace NS"),
                                HasSubstr("1  denied")));
  EXPECT_THAT(verify.err, IsEmpty());
  Outcome check = Sigshim({"check-config", "--help"});
  EXPECT_EQ(check.exit_code, 0);
  EXPECT_THAT(check.out, HasSubstr("Usage: sigshim check-config [OPTIONS]"));
  EXPECT_THAT(check.err, IsEmpty());
}

TEST(SigshimCommandLine, VersionGoesToStdoutAndExitsZero) {
  Outcome version = Sigshim({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("sigshim "));
  EXPECT_THAT(version.err, IsEmpty());
}

TEST(SigshimCommandLine, BadUsageGoesToStderrAndExitsTwo) {
  Outcome missing = Sigshim({"verify", "--config", "/nonexistent/config.toml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.out, IsEmpty());
  EXPECT_EQ(missing.err, "sigshim verify: IMAGE is required\nRun \"sigshim verify --help\" for its usage.\n");
  Outcome unknown = Sigshim({"plan", "--config", "/nonexistent/config.toml"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.out, IsEmpty());
  EXPECT_EQ(unknown.err, absl::StrCat("sigshim: unknown command \"plan\" (the commands are check-config, verify, verify-bundle)\n",
                                      "Run \"sigshim --help\" for its usage.\n"));
}

}  // namespace
}  // namespace sigshim
