#include "pkg/audit/audit_log.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "pkg/base/log.h"

namespace sigshim::audit {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

AuditRecord Record() {
  AuditRecord r;
  r.time = absl::FromUnixSeconds(1700000000);
  r.method = "PullImage";
  r.image = "registry.test/team/app:v1";
  r.decision = "deny";
  r.reason = "no signatures";
  r.source = "registry";
  return r;
}

TEST(EncodeAuditLine, CarriesEveryIdentityAndTheSigningTimeInTheDocumentedOrder) {
  AuditRecord r = Record();
  r.decision = "allow";
  r.identity = "release,ci";
  r.signed_at = "2026-01-01T00:00:00Z";
  r.signed_at_source = "tlog";
  const std::string line = EncodeAuditLine(r);
  EXPECT_THAT(line, HasSubstr(R"("identity":"release,ci","signed_at":"2026-01-01T00:00:00Z","signed_at_source":"tlog","source":"registry")"));
  // Unknown signing time: both empty, never absent.
  EXPECT_THAT(EncodeAuditLine(Record()), HasSubstr(R"("identity":"","signed_at":"","signed_at_source":"","source")"));
}

TEST(EncodeAuditLine, AnExceptionNamesItselfItsOwnerAndExpiryAfterTheSource) {
  AuditRecord r = Record();
  r.decision = "allow";
  r.source = "exception";
  r.exception = "vendor-x";
  r.owner = "sec@acme.test";
  r.expires = "2027-01-31T00:00:00Z";
  EXPECT_THAT(EncodeAuditLine(r),
              HasSubstr(R"("source":"exception","exception":"vendor-x","owner":"sec@acme.test","expires":"2027-01-31T00:00:00Z","latency_ms")"));
  // Other lines keep their keys, without these three.
  EXPECT_THAT(EncodeAuditLine(Record()), HasSubstr(R"("source":"registry","latency_ms")"));
}

TEST(EncodeAuditLine, HugeNamesAreCutAtOneKibWithTheirLength) {
  AuditRecord r = Record();
  r.image = std::string(16 << 20, 'a');
  r.pod = std::string(5000, 'p');
  r.container = std::string(log::kMaxNameBytes, 'c');  // exactly at the limit: kept whole
  r.reason = std::string(1 << 20, 'r');
  const std::string line = EncodeAuditLine(r);
  EXPECT_LT(line.size(), log::kMaxMessageBytes + 8 * 1024);
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["image"], absl::StrCat(std::string(log::kMaxNameBytes, 'a'), "... (16777216 bytes)"));
  EXPECT_EQ(j["pod"], absl::StrCat(std::string(log::kMaxNameBytes, 'p'), "... (5000 bytes)"));
  EXPECT_EQ(j["container"], std::string(log::kMaxNameBytes, 'c'));
  EXPECT_THAT(j["reason"].get<std::string>(), EndsWith("... (1048576 bytes)"));
}

TEST(EncodeAuditLine, ControlCharactersNeverEndTheLine) {
  AuditRecord r = Record();
  r.image = "app\n{\"time\":\"forged\"}\r\x1b[2J";
  r.pod = std::string("a\0b", 3);
  r.namespace_name = "ns\xe2\x80\xa8x";  // U+2028
  r.reason = "bad \xff utf-8";
  const std::string line = EncodeAuditLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_EQ(line.find('\0'), std::string::npos);
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["image"], "app\n{\"time\":\"forged\"}\r\x1b[2J");  // the value survives, escaped
  EXPECT_EQ(j["pod"], std::string("a\0b", 3));
  EXPECT_THAT(j["reason"].get<std::string>(), StartsWith("bad "));
}

TEST(AuditLog, EachRecordIsExactlyOneBoundedLine) {
  char dir[] = "/tmp/sigshim-audit-test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/audit.log");
  auto log = AuditLog::Open({.path = path});
  ASSERT_TRUE(log.ok()) << log.status();
  AuditRecord hostile = Record();
  hostile.image = absl::StrCat("x\n", std::string(4 << 20, 'y'));
  (*log)->Write(hostile);
  (*log)->Write(Record());
  absl::StatusOr<std::string> text = ReadFile(path, 1 << 20);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_LT(text->size(), 8u * 1024);
  std::vector<std::string> lines = absl::StrSplit(*text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("\"image\":\"x\\nyyy"));
  EXPECT_THAT(lines[0], HasSubstr("... (4194306 bytes)"));
  EXPECT_EQ(nlohmann::json::parse(lines[1])["image"], "registry.test/team/app:v1");
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST(AuditLog, FifoOrDeviceAtThePathIsRefusedWithoutBlocking) {
  char dir[] = "/tmp/sigshim-audit-test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string fifo = absl::StrCat(dir, "/audit.log");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto log = AuditLog::Open({.path = fifo});
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(std::string(log.status().message()), HasSubstr(fifo));
  auto device = AuditLog::Open({.path = "/dev/null"});
  ASSERT_FALSE(device.ok());
  EXPECT_THAT(std::string(device.status().message()), HasSubstr("not a regular file"));
  ::unlink(fifo.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace sigshim::audit
