#include "pkg/policy/glob.h"

#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigshim::policy {
namespace {

using ::testing::HasSubstr;

Glob MustCompile(const std::string& pattern) {
  absl::StatusOr<Glob> glob = Glob::Compile(pattern);
  EXPECT_TRUE(glob.ok()) << glob.status();
  return *glob;
}

std::string CompileError(const std::string& pattern) {
  absl::StatusOr<Glob> glob = Glob::Compile(pattern);
  EXPECT_FALSE(glob.ok()) << pattern;
  return glob.ok() ? "" : std::string(glob.status().message());
}

TEST(Glob, LiteralMatchesOnlyItself) {
  Glob glob = MustCompile("docker.io/library/busybox");
  EXPECT_TRUE(glob.Matches("docker.io/library/busybox"));
  EXPECT_FALSE(glob.Matches("docker.io/library/busybox:1.36"));
  EXPECT_FALSE(glob.Matches("docker.io/library/busybo"));
  EXPECT_FALSE(glob.Matches("dockerXio/library/busybox"));  // '.' is literal
  EXPECT_FALSE(glob.Matches(""));
}

TEST(Glob, StarStaysWithinOneSegment) {
  Glob glob = MustCompile("registry.test/team/*");
  EXPECT_TRUE(glob.Matches("registry.test/team/app"));
  EXPECT_TRUE(glob.Matches("registry.test/team/app:v1"));
  EXPECT_TRUE(glob.Matches("registry.test/team/"));  // "*" may match nothing
  EXPECT_FALSE(glob.Matches("registry.test/team/sub/app"));
  EXPECT_FALSE(glob.Matches("registry.test/other/app"));
  Glob middle = MustCompile("registry.test/*/app");
  EXPECT_TRUE(middle.Matches("registry.test/team/app"));
  EXPECT_FALSE(middle.Matches("registry.test/a/b/app"));
}

TEST(Glob, DoubleStarCrossesSegments) {
  Glob glob = MustCompile("registry.test/prod/**");
  EXPECT_TRUE(glob.Matches("registry.test/prod/app"));
  EXPECT_TRUE(glob.Matches("registry.test/prod/a/b/c:v1@sha256:00"));
  EXPECT_FALSE(glob.Matches("registry.test/production/app"));
  EXPECT_FALSE(glob.Matches("registry.test/prod"));
  Glob middle = MustCompile("registry.test/**/app");
  EXPECT_TRUE(middle.Matches("registry.test/a/b/c/app"));
  EXPECT_TRUE(middle.Matches("registry.test/a/app"));
  EXPECT_FALSE(middle.Matches("registry.test/a/apps"));
  EXPECT_TRUE(MustCompile("**").Matches("docker.io/library/busybox:latest"));
}

TEST(Glob, QuestionMarkIsOneCharacterOtherThanSlash) {
  Glob glob = MustCompile("registry.test/app-v?");
  EXPECT_TRUE(glob.Matches("registry.test/app-v1"));
  EXPECT_FALSE(glob.Matches("registry.test/app-v"));
  EXPECT_FALSE(glob.Matches("registry.test/app-v12"));
  EXPECT_FALSE(MustCompile("registry.test/a?b").Matches("registry.test/a/b"));
}

TEST(Glob, WildcardsInTheDomain) {
  Glob glob = MustCompile("*.example.com/**");
  EXPECT_TRUE(glob.Matches("eu.example.com/app"));
  EXPECT_FALSE(glob.Matches("evil.com/x.example.com/app"));  // "*" cannot cross '/'
  EXPECT_TRUE(MustCompile("127.0.0.1:*/**").Matches("127.0.0.1:5000/e2e/app"));
  EXPECT_TRUE(MustCompile("[::1]:5000/**").Matches("[::1]:5000/a"));
  EXPECT_TRUE(MustCompile("localhost/**").Matches("localhost/a"));
}

TEST(Glob, HostPartMatchesWithoutCaseAndTheRestWithCase) {
  // References carry their domain in lowercase (reference::Parse), so a glob written with
  // capitals in its host must still govern them.
  Glob glob = MustCompile("REGISTRY.Example:5000/team/**");
  EXPECT_TRUE(glob.Matches("registry.example:5000/team/app:v1"));
  EXPECT_EQ(glob.pattern(), "REGISTRY.Example:5000/team/**");  // reported as written
  EXPECT_TRUE(MustCompile("LOCALHOST:*/**").Matches("localhost:5000/e2e/app"));
  EXPECT_TRUE(MustCompile("*.EXAMPLE.com/**").Matches("eu.example.com/app"));
  // After the first '/' case is kept: tags are case-sensitive.
  Glob tag = MustCompile("Registry.Example/app:V1");
  EXPECT_TRUE(tag.Matches("registry.example/app:V1"));
  EXPECT_FALSE(tag.Matches("registry.example/app:v1"));
  // A glob without a '/' has no host part: "**:V1" keeps its case.
  EXPECT_TRUE(MustCompile("**:V1").Matches("registry.example/app:V1"));
  EXPECT_FALSE(MustCompile("**:V1").Matches("registry.example/app:v1"));
  // Case does not make a non-domain first segment a domain.
  EXPECT_THAT(CompileError("Library/busybox"), HasSubstr("is not a registry domain"));
}

TEST(Glob, SpecificityCountsLiteralPrefixAndWildcards) {
  Glob exact = MustCompile("docker.io/library/busybox");
  EXPECT_EQ(exact.literal_prefix(), 25u);
  EXPECT_EQ(exact.wildcards(), 0u);
  Glob glob = MustCompile("registry.test/team/a*/**?");
  EXPECT_EQ(glob.literal_prefix(), 20u);
  EXPECT_EQ(glob.wildcards(), 3u);
  EXPECT_EQ(glob.pattern(), "registry.test/team/a*/**?");
}

TEST(Glob, InvalidPatternsSayWhy) {
  EXPECT_THAT(CompileError(""), HasSubstr("is empty"));
  EXPECT_THAT(CompileError("registry.test/***"), HasSubstr("\"***\""));
  EXPECT_THAT(CompileError("registry.test/****"), HasSubstr("\"****\""));
  EXPECT_THAT(CompileError("registry.test/team app"), HasSubstr("character ' ' at offset 18"));
  EXPECT_THAT(CompileError("registry.test/{a,b}"), HasSubstr("cannot appear in an image reference"));
  EXPECT_THAT(CompileError("registry.test/a\\*"), HasSubstr("cannot appear"));
  EXPECT_THAT(CompileError("registry.test/[!a]"), HasSubstr("'!'"));
  EXPECT_THAT(CompileError(std::string("registry.test/a\0b", 17)), HasSubstr("\\000"));
  EXPECT_THAT(CompileError("registry.test/\xc3\xa9"), HasSubstr("cannot appear"));
  EXPECT_THAT(CompileError("registry.test//app"), HasSubstr("empty path segment"));
  EXPECT_THAT(CompileError("/registry.test/app"), HasSubstr("empty path segment"));
  EXPECT_THAT(CompileError("registry.test/app/"), HasSubstr("empty path segment"));
  EXPECT_THAT(CompileError("busybox"), HasSubstr("can never match"));
  EXPECT_THAT(CompileError("*"), HasSubstr("can never match"));
  EXPECT_THAT(CompileError("library/busybox"), HasSubstr("\"library\" is not a registry domain"));
  EXPECT_THAT(CompileError(std::string(2000, 'a')), HasSubstr("longer than 1024"));
}

TEST(Glob, HostilePatternsAndTextsStayCorrect) {
  // A pattern that makes naive backtracking matchers explode.
  std::string pattern = "registry.test/";
  for (int i = 0; i < 100; ++i) pattern += "*a";
  pattern += "b";
  Glob glob = MustCompile(pattern);
  EXPECT_FALSE(glob.Matches("registry.test/" + std::string(400, 'a')));
  EXPECT_TRUE(glob.Matches("registry.test/" + std::string(400, 'a') + "b"));
  std::string double_stars = "registry.test/";
  for (int i = 0; i < 100; ++i) double_stars += "**/";
  double_stars += "x";
  Glob deep = MustCompile(double_stars);
  EXPECT_FALSE(deep.Matches("registry.test/" + std::string(400, '/')));
}

// The obvious recursive matcher, as the reference for the linear one.
bool NaiveMatch(const std::string& p, size_t i, const std::string& t, size_t j) {
  if (i == p.size()) return j == t.size();
  if (p.compare(i, 2, "**") == 0) {
    for (size_t k = j; k <= t.size(); ++k) {
      if (NaiveMatch(p, i + 2, t, k)) return true;
    }
    return false;
  }
  if (p[i] == '*') {
    for (size_t k = j; k <= t.size(); ++k) {
      if (NaiveMatch(p, i + 1, t, k)) return true;
      if (k < t.size() && t[k] == '/') break;
    }
    return false;
  }
  if (j == t.size()) return false;
  if (p[i] == '?') return t[j] != '/' && NaiveMatch(p, i + 1, t, j + 1);
  return p[i] == t[j] && NaiveMatch(p, i + 1, t, j + 1);
}

TEST(Glob, AgreesWithANaiveMatcherOnRandomInputs) {
  std::mt19937 random(20261122);  // fixed seed: the same cases every run
  const std::string pattern_chars = "ab/*?";
  const std::string text_chars = "ab/";
  int compared = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string pattern = "r.test/";
    const int pattern_length = 1 + random() % 8;
    for (int i = 0; i < pattern_length; ++i) pattern += pattern_chars[random() % pattern_chars.size()];
    absl::StatusOr<Glob> glob = Glob::Compile(pattern);
    if (!glob.ok()) continue;  // "***", "//", a trailing '/'
    std::string text = "r.test/";
    const int text_length = random() % 9;
    for (int i = 0; i < text_length; ++i) text += text_chars[random() % text_chars.size()];
    ASSERT_EQ(glob->Matches(text), NaiveMatch(pattern, 0, text, 0)) << pattern << " vs " << text;
    ++compared;
  }
  EXPECT_GT(compared, 5000);
}

}  // namespace
}  // namespace sigshim::policy
