#include "pkg/base/log.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"

namespace sigshim::log {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const absl::Time kTime = absl::FromUnixSeconds(1700000000);

TEST(FormatLine, IsOneLineWithTimeLevelAndMessage) {
  EXPECT_EQ(FormatLine(Level::kWarning, kTime, "hello"), "2023-11-14T22:13:20.000000Z WARNING hello\n");
}

TEST(FormatLine, NewlineInAMessageCannotStartALine) {
  const std::string forged = "pull of \"app\n2023-11-14T22:13:20.000000Z INFO PullImage: allowed\"";
  const std::string line = FormatLine(Level::kInfo, kTime, forged);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_THAT(line, HasSubstr("app\\n2023-11-14T22:13:20.000000Z INFO PullImage"));
}

TEST(FormatLine, LongMessageIsCutWithItsLength) {
  const std::string line = FormatLine(Level::kInfo, kTime, std::string(16 << 20, 'x'));
  EXPECT_LT(line.size(), kMaxMessageBytes + 200);
  EXPECT_THAT(line, EndsWith("... (message of 16777216 bytes cut)\n"));
}

TEST(EscapeControl, EscapesEveryControlCharacterAndKeepsTheRest) {
  EXPECT_EQ(EscapeControl("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(EscapeControl(std::string("nul\0esc\x1b[2Jdel\x7f", 15)), "nul\\x00esc\\x1b[2Jdel\\x7f");
  EXPECT_EQ(EscapeControl("plain \\ \"quoted\" ~"), "plain \\ \"quoted\" ~");
  // Valid UTF-8 stays; C1 controls, line/paragraph separators and invalid bytes are escaped.
  EXPECT_EQ(EscapeControl("caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80");
  EXPECT_EQ(EscapeControl("nel\xc2\x85"), "nel\\xc2\\x85");
  EXPECT_EQ(EscapeControl("csi\x9b"), "csi\\x9b");
  EXPECT_EQ(EscapeControl("ls\xe2\x80\xa8ps\xe2\x80\xa9"), "ls\\xe2\\x80\\xa8ps\\xe2\\x80\\xa9");
  EXPECT_EQ(EscapeControl("overlong\xc0\x8a"), "overlong\\xc0\\x8a");
  EXPECT_EQ(EscapeControl("cut\xe2\x80"), "cut\\xe2\\x80");
  EXPECT_EQ(EscapeControl("surrogate\xed\xa0\x80"), "surrogate\\xed\\xa0\\x80");
}

TEST(QuoteName, QuotesEscapesAndCutsAtOneKib) {
  EXPECT_EQ(QuoteName("docker.io/library/busybox"), "\"docker.io/library/busybox\"");
  EXPECT_EQ(QuoteName("a\nb\"c"), "\"a\\nb\\\"c\"");
  const std::string at_limit(kMaxNameBytes, 'n');
  EXPECT_EQ(QuoteName(at_limit), absl::StrCat("\"", at_limit, "\""));
  EXPECT_EQ(QuoteName(std::string(16 << 20, 'n')), absl::StrCat("\"", at_limit, "\"... (16777216 bytes)"));
  EXPECT_EQ(QuoteName("abcdef", 3), "\"abc\"... (6 bytes)");
}

TEST(TruncateName, CutsWithoutEscaping) {
  EXPECT_EQ(TruncateName("a\nb"), "a\nb");
  EXPECT_EQ(TruncateName("abcdef", 3), "abc... (6 bytes)");
}

// Write goes to the real stderr: it is pointed at a file for the test.
TEST(Write, AHostileMessageIsOneBoundedLineOnStderr) {
  char path[] = "/tmp/sigshim-log-test.XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const int saved = ::dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(::dup2(fd, STDERR_FILENO), STDERR_FILENO);
  const std::string name = absl::StrCat("x\n2023-11-14T22:13:20.000000Z INFO forged", std::string(4 << 20, 'y'));
  SIGSHIM_LOG(kError, "refused ", name);
  SIGSHIM_LOG(kError, "refused ", QuoteName(name));
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fd);
  absl::StatusOr<std::string> text = ReadFile(path, 1 << 20);
  ::unlink(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_LT(text->size(), kMaxMessageBytes + 4 * kMaxNameBytes + 400);
  size_t lines = 0;
  for (size_t at = text->find('\n'); at != std::string::npos; at = text->find('\n', at + 1)) {
    ++lines;
    EXPECT_THAT(text->substr(at + 1), ::testing::AnyOf("", StartsWith("20")));
    EXPECT_FALSE(absl::StartsWith(text->substr(at + 1), "2023-11-14T22:13:20.000000Z INFO forged"));
  }
  EXPECT_EQ(lines, 2u);
  EXPECT_THAT(*text, HasSubstr("... (4194345 bytes)"));
}

}  // namespace
}  // namespace sigshim::log
