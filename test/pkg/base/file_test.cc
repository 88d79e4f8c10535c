#include "pkg/base/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace sigshim {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigshim-file-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(FileTest, WritesAtomicallyAndReadsBack) {
  const std::string path = dir_ + "/a";
  ASSERT_TRUE(WriteFileAtomic(path, "one", 0640).ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two", 0640).ok());
  auto contents = ReadFile(path, 100);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(*contents, "two");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(FileTest, ReadEnforcesLimitAndNamesPath) {
  const std::string path = dir_ + "/big";
  ASSERT_TRUE(WriteFileAtomic(path, std::string(1000, 'x')).ok());
  auto contents = ReadFile(path, 999);
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(contents.status().message().find(path), std::string::npos);
  EXPECT_EQ(ReadFile(dir_ + "/missing", 10).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FileTest, MakeDirsCreatesParentsAndRefusesFiles) {
  ASSERT_TRUE(MakeDirs(dir_ + "/x/y/z", 0750).ok());
  ASSERT_TRUE(MakeDirs(dir_ + "/x/y/z", 0750).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/f", "").ok());
  EXPECT_EQ(MakeDirs(dir_ + "/f").code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace sigshim
