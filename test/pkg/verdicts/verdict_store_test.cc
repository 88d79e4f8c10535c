#include "pkg/verdicts/verdict_store.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"

namespace sigshim::verdicts {
namespace {

using ::testing::Not;
using ::testing::HasSubstr;
using ::testing::SizeIs;

Verdict MakeVerdict(const std::string& content, const std::string& repository) {
  Verdict v;
  v.digest = Sha256Digest(content);
  v.repository = repository;
  v.reference = repository + ":1.0";
  v.policy = "prod";
  v.identity = "release";
  v.counted.push_back(CountedStatement{"release", "certificate", Sha256Digest("key"), "sigstore",
                                       Sha256Digest("payload"),
                                       verify::SigningTime{absl::FromUnixSeconds(1690000000),
                                                           verify::TimeSource::kTransparencyLog, "rekor log ab index 7",
                                                           "sigstore"}});
  v.verified_at = absl::FromUnixSeconds(1700000000) + absl::Milliseconds(250);
  verify::Signature s;
  s.layer_digest = Sha256Digest("payload");
  s.media_type = "application/vnd.dev.cosign.simplesigning.v1+json";
  s.payload = std::string("{\"critical\":{}}\n\x01\xff", 18);  // Exact bytes, even odd ones.
  s.annotations["dev.cosignproject.cosign/signature"] = "MEUCIQ==";
  v.evidence.push_back(s);
  return v;
}

class VerdictStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigshim-verdicts-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = std::string(tmpl) + "/verdicts";
  }
  void TearDown() override { std::system(("rm -rf " + dir_.substr(0, dir_.rfind('/'))).c_str()); }

  std::unique_ptr<VerdictStore> Open(LoadReport* report = nullptr) {
    auto store = VerdictStore::Open(StoreOptions{.dir = dir_}, report);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::string dir_;
};

TEST_F(VerdictStoreTest, KeepsEvidenceAcrossRestarts) {
  const Verdict v = MakeVerdict("image", "registry.example.com/app");
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(v).ok());
  }
  LoadReport report;
  auto store = Open(&report);
  EXPECT_EQ(report.loaded, 1);
  EXPECT_TRUE(report.ignored.empty());
  auto got = store->Get(v.digest, v.repository);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->reference, v.reference);
  EXPECT_EQ(got->policy, "prod");
  EXPECT_EQ(got->identity, "release");
  ASSERT_THAT(got->counted, SizeIs(1));
  EXPECT_EQ(got->counted[0].identity, "release");
  EXPECT_EQ(got->counted[0].signer_type, "certificate");
  EXPECT_EQ(got->counted[0].fingerprint, Sha256Digest("key"));
  EXPECT_EQ(got->counted[0].trust_root, "sigstore");
  EXPECT_EQ(got->counted[0].layer_digest, Sha256Digest("payload"));
  ASSERT_TRUE(got->counted[0].signing_time.has_value());
  EXPECT_EQ(got->counted[0].signing_time->time, absl::FromUnixSeconds(1690000000));
  EXPECT_EQ(got->counted[0].signing_time->source, verify::TimeSource::kTransparencyLog);
  EXPECT_EQ(got->counted[0].signing_time->authority, "rekor log ab index 7");
  EXPECT_EQ(got->counted[0].signing_time->trust_root, "sigstore");
  EXPECT_EQ(got->verified_at, v.verified_at);
  ASSERT_THAT(got->evidence, SizeIs(1));
  EXPECT_EQ(got->evidence[0].payload, v.evidence[0].payload);
  EXPECT_EQ(got->evidence[0].annotations, v.evidence[0].annotations);
  EXPECT_EQ(got->evidence[0].layer_digest, v.evidence[0].layer_digest);
}

TEST_F(VerdictStoreTest, KeepsTheIndexAPlatformManifestCameThroughAndReadsFilesWithoutOne) {
  Verdict v = MakeVerdict("image", "registry.example.com/app");
  EXPECT_THAT(EncodeVerdict(v), Not(HasSubstr("index_digest")));  // files without it, as before
  v.index_digest = Sha256Digest("index");
  auto decoded = DecodeVerdict(EncodeVerdict(v));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->index_digest, v.index_digest);
  auto without = DecodeVerdict(EncodeVerdict(MakeVerdict("image", "registry.example.com/app")));
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->index_digest, "");
  std::string bad = EncodeVerdict(v);
  bad.replace(bad.find(v.index_digest), v.index_digest.size(), "sha256:nothex");
  auto refused = DecodeVerdict(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("index_digest"));
}

TEST_F(VerdictStoreTest, FilesArePrivateAndNamedByDigestAndRepository) {
  auto store = Open();
  const Verdict v = MakeVerdict("image", "registry.example.com/app");
  ASSERT_TRUE(store->Put(v).ok());
  const std::string path = dir_ + "/" + VerdictStore::FileName(v.digest, v.repository);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_THAT(VerdictStore::FileName(v.digest, v.repository), HasSubstr(v.digest.substr(7)));
}

TEST_F(VerdictStoreTest, OneDigestCanHaveVerdictsForSeveralRepositories) {
  auto store = Open();
  Verdict a = MakeVerdict("image", "registry.example.com/app");
  Verdict b = MakeVerdict("image", "mirror.example.com/app");
  Verdict other = MakeVerdict("other", "registry.example.com/app");
  ASSERT_TRUE(store->Put(a).ok());
  ASSERT_TRUE(store->Put(b).ok());
  ASSERT_TRUE(store->Put(other).ok());
  EXPECT_THAT(store->FindByDigest(a.digest), SizeIs(2));
  EXPECT_FALSE(store->Get(a.digest, "elsewhere.example.com/app").has_value());
  ASSERT_TRUE(store->RemoveDigest(a.digest).ok());
  EXPECT_THAT(store->FindByDigest(a.digest), SizeIs(0));
  EXPECT_EQ(store->size(), 1u);
  // Removal reached the disk.
  LoadReport report;
  auto reopened = Open(&report);
  EXPECT_EQ(report.loaded, 1);
  EXPECT_TRUE(reopened->Get(other.digest, other.repository).has_value());
}

TEST_F(VerdictStoreTest, RemoveOfAnAbsentVerdictIsFine) {
  auto store = Open();
  EXPECT_TRUE(store->Remove(Sha256Digest("x"), "r/a").ok());
  EXPECT_TRUE(store->RemoveDigest(Sha256Digest("x")).ok());
}

TEST_F(VerdictStoreTest, RefusesVerdictsWithoutDigestRepositoryOrEvidence) {
  auto store = Open();
  Verdict v = MakeVerdict("image", "r/a");
  v.digest = "sha256:abc";
  EXPECT_EQ(store->Put(v).code(), absl::StatusCode::kInvalidArgument);
  v = MakeVerdict("image", "");
  EXPECT_EQ(store->Put(v).code(), absl::StatusCode::kInvalidArgument);
  v = MakeVerdict("image", "r/a");
  v.evidence.clear();
  EXPECT_EQ(store->Put(v).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->size(), 0u);
}

TEST_F(VerdictStoreTest, CorruptAndForeignFilesAreReportedAndIgnored) {
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(MakeVerdict("good", "r/a")).ok());
  }
  const Verdict moved = MakeVerdict("moved", "r/a");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/truncated.json", "{\"format\": \"sigshim.verdict.v1\", \"dig").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/foreign.json", "{\"format\": \"something-else\"}").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/array.json", "[1,2,3]").ok());
  // A valid verdict under another verdict's name (copied or renamed by hand).
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/" + VerdictStore::FileName(Sha256Digest("x"), "r/a"), EncodeVerdict(moved)).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/huge.json", std::string(2 << 20, ' ')).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/notes.txt", "not a verdict").ok());
  LoadReport report;
  auto store = Open(&report);
  EXPECT_EQ(report.loaded, 1);
  EXPECT_THAT(report.ignored, SizeIs(5));
  std::string all;
  for (const auto& line : report.ignored) all += line + "\n";
  EXPECT_THAT(all, HasSubstr("truncated.json: not valid JSON"));
  EXPECT_THAT(all, HasSubstr("foreign.json: format is \"something-else\""));
  EXPECT_THAT(all, HasSubstr("array.json: not a JSON object"));
  EXPECT_THAT(all, HasSubstr("does not match its digest and repository"));
  EXPECT_THAT(all, HasSubstr("huge.json"));
  EXPECT_FALSE(store->Get(moved.digest, moved.repository).has_value());
}

// Opening a FIFO for reading waits for a writer: the store must neither open it that way nor
// read it. Before the fix this test never returned (ctest's timeout ended it).
TEST_F(VerdictStoreTest, FifoSocketFolderAndSymlinkAreReportedNeverBlockNeverTrusted) {
  const Verdict good = MakeVerdict("good", "registry.example.com/app");
  {
    auto store = Open();
    ASSERT_TRUE(store->Put(good).ok());
  }
  // A valid verdict, reached through a link: still not trusted (a link can point anywhere).
  const Verdict linked = MakeVerdict("linked", "registry.example.com/app");
  const std::string outside = dir_ + "/../outside.json";
  ASSERT_TRUE(WriteFileAtomic(outside, EncodeVerdict(linked)).ok());
  const std::string linked_name = VerdictStore::FileName(linked.digest, linked.repository);
  ASSERT_EQ(::symlink(outside.c_str(), (dir_ + "/" + linked_name).c_str()), 0);
  ASSERT_EQ(::symlink("/dev/zero", (dir_ + "/zero.json").c_str()), 0);
  ASSERT_EQ(::mkfifo((dir_ + "/fifo.json").c_str(), 0600), 0);
  ASSERT_EQ(::mkdir((dir_ + "/folder.json").c_str(), 0700), 0);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = dir_ + "/socket.json";
  ASSERT_LT(sock_path.size(), sizeof(addr.sun_path));
  std::strcpy(addr.sun_path, sock_path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  LoadReport report;
  auto store = Open(&report);
  ::close(sock);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(report.loaded, 1);
  std::string all;
  for (const auto& line : report.ignored) all += line + "\n";
  EXPECT_THAT(report.ignored, SizeIs(5)) << all;
  EXPECT_THAT(all, HasSubstr("fifo.json is a FIFO (named pipe), not a regular file"));
  EXPECT_THAT(all, HasSubstr("socket.json is a socket, not a regular file"));
  EXPECT_THAT(all, HasSubstr("folder.json is a directory, not a regular file"));
  EXPECT_THAT(all, HasSubstr("zero.json is a symbolic link, not a regular file"));
  EXPECT_THAT(all, HasSubstr(linked_name + " is a symbolic link, not a regular file"));
  EXPECT_FALSE(store->Get(linked.digest, linked.repository).has_value());
  EXPECT_TRUE(store->Get(good.digest, good.repository).has_value());
}

TEST_F(VerdictStoreTest, OversizedFileIsRefusedUnread) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  const std::string path = dir_ + "/big.json";
  // Sparse: 1 GiB long, nothing stored. Refused on its size, before any read.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, off_t{1} << 30), 0);
  ::close(fd);
  LoadReport report;
  auto store = VerdictStore::Open({.dir = dir_, .max_file_bytes = 4096}, &report);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_THAT(report.ignored, SizeIs(1));
  EXPECT_THAT(report.ignored[0], HasSubstr("big.json is larger than the limit of 4096 bytes (1073741824 bytes)"));
}

// The folder checks: the store folder and the state folder that holds it.
class VerdictStoreFolderTest : public VerdictStoreTest {
 protected:
  std::string state() const { return dir_.substr(0, dir_.rfind('/')); }

  // Returns the message of the error Open must give.
  std::string OpenError() {
    auto store = VerdictStore::Open({.dir = dir_}, nullptr);
    EXPECT_FALSE(store.ok());
    if (store.ok()) return "";
    EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
    return std::string(store.status().message());
  }
};

TEST_F(VerdictStoreFolderTest, WorldWritableStateFolderIsRefused) {
  ASSERT_EQ(::chmod(state().c_str(), 0777), 0);
  EXPECT_THAT(OpenError(), HasSubstr(state() + " is writable by every user (mode 0777)"));
}

TEST_F(VerdictStoreFolderTest, GroupWritableVerdictFolderIsRefused) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0770), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0770), 0);
  EXPECT_THAT(OpenError(), HasSubstr(dir_ + " is writable by its group (mode 0770)"));
}

TEST_F(VerdictStoreFolderTest, FolderOwnedByAnotherUserIsRefused) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  ASSERT_EQ(::chown(dir_.c_str(), 4242, 4242), 0) << "the tests run as root";
  EXPECT_THAT(OpenError(), HasSubstr(dir_ + " is owned by uid 4242, not by uid " + std::to_string(::geteuid())));
  // The same folders are accepted for the user who owns them.
  ASSERT_EQ(::chown(state().c_str(), 4242, 4242), 0);
  auto store = VerdictStore::Open({.dir = dir_, .owner = 4242}, nullptr);
  EXPECT_TRUE(store.ok()) << store.status();
}

TEST_F(VerdictStoreFolderTest, SymlinkedStateFolderIsRefusedNotFollowed) {
  // The observed attack: the state folder is a link to a world-writable folder of another user.
  char target[] = "/tmp/sigshim-verdicts-target.XXXXXX";
  ASSERT_NE(::mkdtemp(target), nullptr);
  ASSERT_EQ(::chmod(target, 01777), 0);
  ASSERT_EQ(::chown(target, 4242, 4242), 0);
  const std::string link = state() + "/state";
  ASSERT_EQ(::symlink(target, link.c_str()), 0);
  dir_ = link + "/verdicts";
  EXPECT_THAT(OpenError(), HasSubstr(link + " is a symbolic link"));
  EXPECT_NE(::access((std::string(target) + "/verdicts").c_str(), F_OK), 0) << "created through the link";
  std::system((std::string("rm -rf ") + target).c_str());
}

TEST_F(VerdictStoreFolderTest, SymlinkedStoreFolderIsRefused) {
  char target[] = "/tmp/sigshim-verdicts-target.XXXXXX";
  ASSERT_NE(::mkdtemp(target), nullptr);
  ASSERT_EQ(::symlink(target, dir_.c_str()), 0);
  EXPECT_THAT(OpenError(), HasSubstr(dir_ + " is a symbolic link"));
  std::system((std::string("rm -rf ") + target).c_str());
}

TEST_F(VerdictStoreFolderTest, StoreFolderThatIsAFileIsRefused) {
  ASSERT_TRUE(WriteFileAtomic(dir_, "x").ok());
  auto store = VerdictStore::Open({.dir = dir_}, nullptr);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("not a directory"));
}

TEST(VerdictCodec, WritesV2AndReadsFilesTheV1CodeWrote) {
  EXPECT_THAT(EncodeVerdict(MakeVerdict("image", "r/a")), HasSubstr("\"format\": \"sigshim.verdict.v2\""));
  // Byte for byte what the v1 encoder wrote (nlohmann::json, sorted keys, two-space indent).
  const std::string v1 = absl::StrCat(R"({
  "digest": ")", Sha256Digest("image"), R"(",
  "evidence": [
    {
      "annotations": {
        "dev.cosignproject.cosign/signature": "MEUCIQ=="
      },
      "layer_digest": ")", Sha256Digest("payload"), R"(",
      "media_type": "application/vnd.dev.cosign.simplesigning.v1+json",
      "payload_base64": "eyJjcml0aWNhbCI6e319"
    }
  ],
  "format": "sigshim.verdict.v1",
  "identity": "release",
  "key_fingerprint": ")", Sha256Digest("key"), R"(",
  "policy": "prod",
  "reference": "r/a:1.0",
  "repository": "r/a",
  "verified_at": "2023-11-14T22:13:20.25+00:00"
}
)");
  auto decoded = DecodeVerdict(v1);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->identity, "release");
  EXPECT_EQ(decoded->verified_at, absl::FromUnixSeconds(1700000000) + absl::Milliseconds(250));
  ASSERT_THAT(decoded->evidence, SizeIs(1));
  EXPECT_EQ(decoded->evidence[0].payload, "{\"critical\":{}}");
  ASSERT_THAT(decoded->counted, SizeIs(1));
  EXPECT_EQ(decoded->counted[0].identity, "release");
  EXPECT_EQ(decoded->counted[0].signer_type, "key");
  EXPECT_EQ(decoded->counted[0].fingerprint, Sha256Digest("key"));
  EXPECT_EQ(decoded->counted[0].layer_digest, Sha256Digest("payload"));
  EXPECT_FALSE(decoded->counted[0].signing_time.has_value());
  // Re-encoded, it is a v2 file that reads back the same.
  auto again = DecodeVerdict(EncodeVerdict(*decoded));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->counted[0].fingerprint, Sha256Digest("key"));
  // A v1 file without its key fingerprint is refused.
  std::string broken = v1;
  broken.replace(broken.find("\"key_fingerprint\""), 17, "\"key_print\"");
  EXPECT_FALSE(DecodeVerdict(broken).ok());
}

TEST(VerdictCodec, StoresEachArtifactWithItsFormatAndTheAttestationItMet) {
  Verdict v = MakeVerdict("image", "r/a");
  verify::Signature& bundle = v.evidence.emplace_back();
  bundle.layer_digest = Sha256Digest("bundle");
  bundle.media_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
  bundle.payload = "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}";
  CountedStatement& counted = v.counted.emplace_back();
  counted.identity = "ci";
  counted.signer_type = "certificate";
  counted.fingerprint = Sha256Digest("certificate");
  counted.attestation = "provenance";
  counted.layer_digest = bundle.layer_digest;
  const std::string encoded = EncodeVerdict(v);
  EXPECT_THAT(encoded, HasSubstr("\"format\": \"cosign simple signing\""));
  EXPECT_THAT(encoded, HasSubstr("\"format\": \"sigstore bundle\""));
  auto decoded = DecodeVerdict(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_THAT(decoded->evidence, SizeIs(2));
  EXPECT_EQ(decoded->evidence[1].media_type, bundle.media_type);
  EXPECT_EQ(decoded->evidence[1].payload, bundle.payload);
  EXPECT_EQ(decoded->counted.back().attestation, "provenance");
  EXPECT_EQ(EvidenceFormat("application/vnd.dev.sigstore.bundle+json;version=0.1"), "sigstore bundle");
  EXPECT_EQ(EvidenceFormat("application/octet-stream"), "");

  // A format that does not match the media type is refused.
  std::string lying = encoded;
  const std::string bundle_format = "\"format\": \"sigstore bundle\"";
  lying.replace(lying.find(bundle_format), bundle_format.size(), "\"format\": \"cosign simple signing\"");
  auto refused = DecodeVerdict(lying);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("does not match its media type"));
}

TEST(VerdictCodec, StoresACosignAttLayerAsACosignAttestation) {
  Verdict v = MakeVerdict("image", "r/a");
  verify::Signature& att = v.evidence.emplace_back();
  att.layer_digest = Sha256Digest("envelope");
  att.media_type = "application/vnd.dsse.envelope.v1+json";
  att.payload = "{\"payloadType\":\"application/vnd.in-toto+json\"}";
  att.annotations["dev.cosignproject.cosign/signature"] = "";
  const std::string encoded = EncodeVerdict(v);
  EXPECT_THAT(encoded, HasSubstr("\"format\": \"cosign attestation\""));
  auto decoded = DecodeVerdict(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_THAT(decoded->evidence, SizeIs(2));
  EXPECT_EQ(decoded->evidence[1].media_type, att.media_type);
  EXPECT_EQ(decoded->evidence[1].payload, att.payload);
  EXPECT_EQ(decoded->evidence[1].annotations, att.annotations);
  EXPECT_EQ(EvidenceFormat("application/vnd.dsse.envelope.v1+json"), "cosign attestation");

  // Stored as a bundle, it is refused when read.
  std::string lying = encoded;
  const std::string format = "\"format\": \"cosign attestation\"";
  lying.replace(lying.find(format), format.size(), "\"format\": \"sigstore bundle\"");
  EXPECT_FALSE(DecodeVerdict(lying).ok());
}

TEST(VerdictCodec, RejectsWrongShapes) {
  const std::string good = EncodeVerdict(MakeVerdict("image", "r/a"));
  ASSERT_TRUE(DecodeVerdict(good).ok());
  struct Case {
    std::string from, to, why;
  };
  for (const Case& c : std::vector<Case>{
           {"\"repository\": \"r/a\"", "\"repository\": 5", "\"repository\" is missing or not a string"},
           {"\"verified_at\": \"", "\"verified_at\": \"yesterday", "verified_at"},
           {"\"payload_base64\": \"", "\"payload_base64\": \"!!", "evidence payload"},
           {"\"evidence\": [", "\"evidence\": 7, \"x\": [", "\"evidence\" is missing or not an array"},
           {"\"counted\": [", "\"counted\": 7, \"x\": [", "\"counted\" is missing or not an array"},
           {"\"signed_at_source\": \"tlog\"", "\"signed_at_source\": \"sundial\"", "is not tlog or timestamp"},
           {"\"signed_at\": \"", "\"signed_at\": \"noon", "signed_at"},
           {"sigshim.verdict.v2", "sigshim.verdict.v9", "format is"},
           {"\"dev.cosignproject.cosign/signature\": \"MEUCIQ==\"", "\"dev.cosignproject.cosign/signature\": 1",
            "is not a string"},
       }) {
    std::string bad = good;
    const size_t at = bad.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    bad.replace(at, c.from.size(), c.to);
    auto decoded = DecodeVerdict(bad);
    ASSERT_FALSE(decoded.ok()) << c.to;
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr(c.why)) << c.to;
  }
}

TEST_F(VerdictStoreTest, ConcurrentWritersAndReadersAgree) {
  auto store = Open();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        Verdict v = MakeVerdict("image-" + std::to_string(i), "r/app" + std::to_string(t));
        ASSERT_TRUE(store->Put(v).ok());
        ASSERT_TRUE(store->Get(v.digest, v.repository).has_value());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store->size(), 160u);
  LoadReport report;
  auto reopened = Open(&report);
  EXPECT_EQ(report.loaded, 160);
  EXPECT_TRUE(report.ignored.empty());
}

}  // namespace
}  // namespace sigshim::verdicts
