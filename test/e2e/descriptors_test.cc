// No local client can take the CRI socket away by using up sigshim's file descriptors, on a real
// node: sigshim runs under a low descriptor limit (prlimit --nofile=128:256, which it raises to
// 256 and logs) in front of a real containerd, and
//   - more idle TCP connections to its status port than that limit leave the CRI serving, with
//     /healthz answering throughout (the status server bounds its connections);
//   - more connections to the CRI socket itself than that limit run it out of descriptors for a
//     moment; once they close, the CRI answers a Version call again within seconds (the accept
//     loop waits and tries again, where gRPC's own listener stopped for good).
// Every socket and process the tests open, they close. Needs root (starts containerd).
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/testbed/poll.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kSigshimStartLimit = 128;   // sigshim's soft RLIMIT_NOFILE when started
constexpr int kSigshimDescriptors = 256;  // its hard limit, which it raises the soft one to
constexpr int kStatusFlood = 1100;        // idle connections to the status port
constexpr int kCriFlood = 2 * kSigshimDescriptors;
constexpr absl::Duration kPollInterval = absl::Milliseconds(100);
// The bound on "within seconds" after the flood ends; without the fix the CRI never came back.
constexpr absl::Duration kRecovery = absl::Seconds(15);

// Sockets opened by a test, closed when it ends.
class Sockets {
 public:
  ~Sockets() { CloseAll(); }
  void Add(int fd) { fds_.push_back(fd); }
  size_t size() const { return fds_.size(); }
  void CloseAll() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

// Starts a non-blocking connect to 127.0.0.1:`port`; returns the socket, or -1.
int ConnectTcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Connects to the unix socket at `path` without waiting; returns the socket, or -1 (the backlog is
// full, for instance).
int ConnectUnix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Returns how many descriptors process `pid` has open (-1 when it cannot be read).
int OpenDescriptors(pid_t pid) {
  std::error_code error;
  int count = 0;
  for (auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++count;
  }
  return error ? -1 : count;
}

class DescriptorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // SetUp fails every test
    // This process holds every flood socket: let it use its whole hard limit.
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    auto bed = testbed::TestBed::Create({.registry = false, .name = "sigshim-fd"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    ASSERT_TRUE(MakeDirs(bed_->dir().Path("keys")).ok());
    auto key = GenerateKey("release", test_signer::KeyType::kEcdsaP256, bed_->dir().Path("keys/release.pub"));
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = key->release();
    socket_ = new std::string(bed_->dir().Path("sigshim.sock"));
    log_path_ = new std::string(bed_->dir().Path("sigshim.log"));
    ASSERT_NO_FATAL_FAILURE(StartSigshim());
  }

  static void TearDownTestSuite() {
    if (process_ != nullptr) {
      absl::Status stopped = process_->Stop(absl::Seconds(15));
      EXPECT_TRUE(stopped.ok()) << stopped;
      delete process_;
      process_ = nullptr;
    }
    delete key_;
    key_ = nullptr;
    delete socket_;
    socket_ = nullptr;
    delete log_path_;
    log_path_ = nullptr;
    delete bed_;  // stops containerd, removes the folder
    bed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || process_ == nullptr) FAIL() << "the test bed did not start";
    ASSERT_TRUE(process_->Running()) << "sigshim " << process_->ExitDescription() << "; end of its log:\n"
                                     << process_->LogTail(16384);
  }

  void TearDown() override {
    if (process_ != nullptr && !process_->Running()) {
      ADD_FAILURE() << "sigshim " << process_->ExitDescription() << " during this test; end of its log:\n"
                    << process_->LogTail(16384);
    }
  }

  // Starts sigshim under `prlimit --nofile=256` with its status endpoint on a free loopback port;
  // picks another port when the one picked was taken meanwhile.
  static void StartSigshim() {
    const std::string config_path = bed_->dir().Path("sigshim.toml");
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto port = testbed::PickFreePort();
      ASSERT_TRUE(port.ok()) << port.status();
      metrics_port_ = *port;
      EnforcingConfig config;
      config.socket = *socket_;
      config.runtime_endpoint = bed_->containerd()->socket_path();
      config.state_dir = bed_->dir().Path("sigshim-state");
      config.audit_path = bed_->dir().Path("audit.log");
      config.metrics_listen = absl::StrCat("127.0.0.1:", metrics_port_);
      config.registry = "127.0.0.1:1";  // no image is pulled here
      config.auth_registry = "127.0.0.1:2";
      config.release_key_path = key_->public_path;
      ASSERT_TRUE(WriteFileAtomic(config_path, EnforcingConfigToml(config), 0644).ok());
      testbed::SubprocessOptions options = SigshimCommand(SIGSHIM_BINARY, config_path, *log_path_, bed_->dir().path());
      options.argv.insert(options.argv.begin(),
                          {"prlimit", absl::StrCat("--nofile=", kSigshimStartLimit, ":", kSigshimDescriptors), "--"});
      auto process = testbed::Subprocess::Start(options);
      ASSERT_TRUE(process.ok()) << process.status();
      bool up = testbed::Eventually(
          [&] {
            return !(*process)->Running() ||
                   absl::StrContains(testbed::FileTail(*log_path_, 1 << 20), "serving CRI on");
          },
          absl::Seconds(30), kPollInterval);
      if (up && (*process)->Running()) {
        process_ = process->release();
        return;
      }
      const std::string log = (*process)->LogTail(16384);
      ASSERT_TRUE((*process)->Stop(absl::Seconds(15)).ok());
      ASSERT_THAT(log, HasSubstr("[metrics] listen")) << "sigshim did not start; its log:\n" << log;
    }
    FAIL() << "sigshim could not listen on three free ports in a row";
  }

  // Calls Version through sigshim on a new connection, waiting up to `timeout`.
  static grpc::Status Version(absl::Duration timeout) {
    CriClient client(*socket_);
    runtime::v1::VersionRequest request;
    runtime::v1::VersionResponse response;
    auto context = Context(timeout);
    return client.runtime().Version(context.get(), request, &response);
  }

  // Returns the status of GET /healthz on a new connection, or -1 when there was no answer.
  static int Healthz() {
    httplib::Client client("127.0.0.1", metrics_port_);
    client.set_connection_timeout(5);
    client.set_read_timeout(5);
    auto res = client.Get("/healthz");
    return res ? res->status : -1;
  }

  static inline testbed::TestBed* bed_ = nullptr;
  static inline Key* key_ = nullptr;
  static inline std::string* socket_ = nullptr;
  static inline std::string* log_path_ = nullptr;
  static inline testbed::Subprocess* process_ = nullptr;
  static inline int metrics_port_ = 0;
};

TEST_F(DescriptorsTest, RaisesItsSoftDescriptorLimitToTheHardOne) {
  EXPECT_THAT(testbed::FileTail(*log_path_, 1 << 20),
              HasSubstr(absl::StrCat("open file limit (RLIMIT_NOFILE): ", kSigshimDescriptors, " (raised from ",
                                     kSigshimStartLimit, "), hard limit ", kSigshimDescriptors)));
  std::ifstream limits(absl::StrCat("/proc/", process_->pid(), "/limits"));
  std::string line;
  bool found = false;
  while (std::getline(limits, line)) {
    if (!absl::StartsWith(line, "Max open files")) continue;
    found = true;
    EXPECT_THAT(line, ::testing::ContainsRegex(absl::StrCat("^Max open files +", kSigshimDescriptors, " +",
                                                            kSigshimDescriptors, " ")));
  }
  EXPECT_TRUE(found) << "no \"Max open files\" in /proc/" << process_->pid() << "/limits";
}

TEST_F(DescriptorsTest, IdleStatusConnectionsBeyondTheLimitLeaveTheCriServing) {
  ASSERT_TRUE(Version(absl::Seconds(30)).ok()) << "the CRI did not answer before the flood";
  Sockets flood;
  int healthz_during = 0;
  for (int i = 0; i < kStatusFlood; ++i) {
    const int fd = ConnectTcp(metrics_port_);
    ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
    flood.Add(fd);
    // /healthz answers while the idle connections pile up.
    if (i % 100 == 99) {
      healthz_during = Healthz();
      EXPECT_EQ(healthz_during, 200) << "after " << i + 1 << " idle connections";
    }
  }
  const int open_during = OpenDescriptors(process_->pid());
  std::cout << "  sigshim has " << open_during << " descriptors open with " << flood.size()
            << " idle status connections" << std::endl;
  EXPECT_LT(open_during, kSigshimDescriptors) << "the idle connections used up sigshim's descriptors";
  grpc::Status during = Version(absl::Seconds(10));
  EXPECT_TRUE(during.ok()) << "the CRI did not answer with the idle connections open: "
                           << testbed::DescribeStatus(during);
  flood.CloseAll();

  grpc::Status after;
  EXPECT_TRUE(testbed::Eventually([&] { return (after = Version(absl::Seconds(2))).ok(); }, kRecovery, kPollInterval))
      << "the CRI did not answer within " << kRecovery << " of the idle connections closing: "
      << testbed::DescribeStatus(after) << "\nend of sigshim's log:\n"
      << process_->LogTail(8192);
  EXPECT_EQ(Healthz(), 200);
  EXPECT_THAT(testbed::FileTail(*log_path_, 1 << 20), Not(HasSubstr("Too many open files")));
}

TEST_F(DescriptorsTest, CriSocketRecoversOnceADescriptorShortageEnds) {
  Sockets flood;
  for (int i = 0; i < kCriFlood; ++i) {
    const int fd = ConnectUnix(*socket_);
    if (fd >= 0) flood.Add(fd);
  }
  std::cout << "  " << flood.size() << " connections to the CRI socket" << std::endl;
  ASSERT_GT(flood.size(), static_cast<size_t>(kSigshimDescriptors));
  // sigshim takes connections until it has no descriptor left, and says so.
  EXPECT_TRUE(testbed::Eventually(
      [] { return absl::StrContains(testbed::FileTail(*log_path_, 1 << 20), "Too many open files"); },
      absl::Seconds(30), kPollInterval))
      << "sigshim never ran out of descriptors; end of its log:\n"
      << process_->LogTail(8192);
  flood.CloseAll();

  grpc::Status after;
  EXPECT_TRUE(testbed::Eventually([&] { return (after = Version(absl::Seconds(2))).ok(); }, kRecovery, kPollInterval))
      << "the CRI did not answer within " << kRecovery << " of the connections closing: "
      << testbed::DescribeStatus(after) << "\nend of sigshim's log:\n"
      << process_->LogTail(8192);
  for (absl::string_view line : absl::StrSplit(testbed::FileTail(*log_path_, 1 << 20), '\n')) {
    if (absl::StrContains(line, "accept")) std::cout << "  sigshim: " << line << std::endl;
  }
  // The status server, out of descriptors too meanwhile, answers again as well.
  EXPECT_TRUE(testbed::Eventually([] { return Healthz() == 200; }, kRecovery, kPollInterval));
}

}  // namespace
}  // namespace sigshim::e2e
