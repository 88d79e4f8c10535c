#include "shim/status_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigshim {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A client socket connected to 127.0.0.1:`port`, closed when it goes out of scope.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return fd_ >= 0; }

  // Sends `bytes`; false when the server has closed the connection.
  bool Send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }

  // Returns true when the server has closed the connection (end of stream or reset), waiting up
  // to `wait_ms` for it; the bytes read on the way are appended to `received`.
  bool ClosedByServer(int wait_ms, std::string* received = nullptr) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count()))) <= 0) return false;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return true;
      if (received != nullptr) received->append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
};

// Generous: how long a test waits for something the server does at once.
constexpr int kPatienceMs = 20000;

class StatusServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(StatusServerOptions()); }

  void Start(StatusServerOptions options) {
    server_.reset();
    options.listen = "127.0.0.1:0";
    options.metrics = [this] {
      scrapes_.fetch_add(1);
      return std::string("# TYPE up gauge\nup 1\n");
    };
    options.ready = [this] {
      absl::MutexLock lock(&mu_);
      ++ready_calls_;
      mu_.Await(absl::Condition(
          +[](StatusServerTest* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu_) { return !t->hold_ready_; }, this));
      return ready_;
    };
    auto server = StatusServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
  }

  httplib::Client Client() {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_connection_timeout(5);
    client.set_read_timeout(5);
    return client;
  }

  void SetReady(absl::Status status) {
    absl::MutexLock lock(&mu_);
    ready_ = std::move(status);
  }

  // While held, the readiness callback blocks (as a probe of an unreachable runtime does).
  void HoldReady(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_ready_ = hold;
  }

  // Waits until the readiness callback has been entered `calls` times in all.
  void AwaitReadyCalls(int calls) {
    std::pair<StatusServerTest*, int> arg(this, calls);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::pair<StatusServerTest*, int>* a) ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->first->ready_calls_ >= a->second; },
        &arg));
  }

  std::atomic<int> scrapes_{0};
  absl::Mutex mu_;
  absl::Status ready_ ABSL_GUARDED_BY(mu_);
  bool hold_ready_ ABSL_GUARDED_BY(mu_) = false;
  int ready_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<StatusServer> server_;
};

TEST_F(StatusServerTest, ServesMetricsAsPrometheusText) {
  auto res = Client().Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "# TYPE up gauge\nup 1\n");
  EXPECT_THAT(res->get_header_value("Content-Type"), StartsWith("text/plain; version=0.0.4"));
  EXPECT_EQ(scrapes_.load(), 1);
}

TEST_F(StatusServerTest, HealthzAnswersOk) {
  auto res = Client().Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");
}

TEST_F(StatusServerTest, ReadyzFollowsTheReadinessCallback) {
  httplib::Client client = Client();
  auto ready = client.Get("/readyz");
  ASSERT_TRUE(ready) << httplib::to_string(ready.error());
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ok\n");

  SetReady(absl::UnavailableError("runtime /run/containerd/containerd.sock: connection refused"));
  auto not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready) << httplib::to_string(not_ready.error());
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_EQ(not_ready->body, "runtime /run/containerd/containerd.sock: connection refused\n");

  SetReady(absl::OkStatus());
  auto again = client.Get("/readyz");
  ASSERT_TRUE(again) << httplib::to_string(again.error());
  EXPECT_EQ(again->status, 200);
  // Readiness never affects liveness.
  SetReady(absl::UnavailableError("down"));
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(StatusServerTest, UnknownPathsAreNotFound) {
  for (const char* path : {"/", "/metricsx", "/metrics/", "/debug/pprof"}) {
    auto res = Client().Get(path);
    ASSERT_TRUE(res) << path << ": " << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 404) << path;
  }
}

TEST_F(StatusServerTest, OtherMethodsAreNotAllowed) {
  httplib::Client client = Client();
  auto post = client.Post("/metrics", "x=1", "application/x-www-form-urlencoded");
  ASSERT_TRUE(post) << httplib::to_string(post.error());
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  auto del = Client().Delete("/healthz");
  ASSERT_TRUE(del) << httplib::to_string(del.error());
  EXPECT_EQ(del->status, 405);
  auto put = Client().Put("/nowhere", "", "text/plain");
  ASSERT_TRUE(put) << httplib::to_string(put.error());
  EXPECT_EQ(put->status, 405);
  EXPECT_EQ(scrapes_.load(), 0);
}

TEST_F(StatusServerTest, HeadAnswersLikeGetWithoutBody) {
  auto res = Client().Head("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "");
}

TEST_F(StatusServerTest, RefusesARequestBody) {
  httplib::Request req;
  req.method = "GET";
  req.path = "/metrics";
  req.body = "unexpected";
  req.set_header("Content-Type", "text/plain");
  req.set_header("Content-Length", "10");
  auto res = Client().send(req);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(scrapes_.load(), 0);
}

TEST_F(StatusServerTest, ServesConcurrentClientsWithBoundedThreads) {
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      for (int j = 0; j < 10; ++j) {
        auto res = Client().Get("/metrics");
        if (res && res->status == 200) ok.fetch_add(1);
      }
    });
  }
  for (auto& thread : clients) thread.join();
  EXPECT_EQ(ok.load(), 40);
}

TEST_F(StatusServerTest, StopIsIdempotentAndEndsServing) {
  const int port = server_->port();
  server_->Stop();
  server_->Stop();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  auto res = client.Get("/healthz");
  EXPECT_FALSE(res);
  int scrapes = scrapes_.load();
  server_.reset();  // the destructor stops again
  EXPECT_EQ(scrapes_.load(), scrapes);
}

TEST_F(StatusServerTest, IdleConnectionsBeyondTheBoundDoNotKeepHealthzAway) {
  StatusServerOptions options;
  options.max_connections = 8;
  options.request_timeout = absl::Hours(1);  // only the connection bound may close the idle ones
  Start(std::move(options));
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 40; ++i) {
    idle.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  auto res = Client().Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");
  // Connections are accepted in order: the well-behaved one closed the oldest idle one when it
  // came, so 33 of the 40 are closed, and the 7 newest are still open, never more than 8 in all.
  for (int i = 0; i < 33; ++i) EXPECT_TRUE(idle[i]->ClosedByServer(kPatienceMs)) << i;
  for (int i = 33; i < 40; ++i) EXPECT_FALSE(idle[i]->ClosedByServer(0)) << i;
}

TEST_F(StatusServerTest, AnIdleFloodDoesNotDisplaceAnAnswerOnItsWay) {
  StatusServerOptions options;
  options.max_connections = 4;
  options.request_timeout = absl::Hours(1);
  Start(std::move(options));
  HoldReady(true);
  int status = -1;
  std::thread probe([this, &status] {
    auto res = Client().Get("/readyz");
    status = res ? res->status : -1;
  });
  AwaitReadyCalls(1);  // the probe's request is in, its answer being computed
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 12; ++i) idle.push_back(std::make_unique<RawClient>(server_->port()));
  // The last idle connection was accepted once the oldest idle ones are closed.
  EXPECT_TRUE(idle[0]->ClosedByServer(kPatienceMs));
  EXPECT_TRUE(idle[8]->ClosedByServer(kPatienceMs));
  HoldReady(false);
  probe.join();
  EXPECT_EQ(status, 200);
}

TEST_F(StatusServerTest, TricklingHeaderClientsAreCutOffAndDoNotKeepHealthzAway) {
  StatusServerOptions options;
  options.request_timeout = absl::Milliseconds(300);
  Start(std::move(options));
  // Four clients each send a request line, then one header byte at a time, never ending the head:
  // every byte comes well within any per-read timeout.
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(slow.back()->connected());
    ASSERT_TRUE(slow.back()->Send("GET /healthz HTTP/1.1\r\nX-Slow: "));
  }
  auto res = Client().Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  // Each is closed whatever it keeps sending: the time bound counts from the accept.
  for (int i = 0; i < 4; ++i) {
    bool cut_off = false;
    for (int byte = 0; byte < kPatienceMs / 20 && !cut_off; ++byte) {
      cut_off = !slow[i]->Send("a") || slow[i]->ClosedByServer(20);
    }
    EXPECT_TRUE(cut_off) << "slow client " << i << " was never cut off";
  }
}

TEST_F(StatusServerTest, ABlockedReadinessProbeDoesNotKeepHealthzAway) {
  HoldReady(true);
  std::vector<std::thread> probes;
  std::atomic<int> answered{0};
  for (int i = 0; i < 3; ++i) {
    probes.emplace_back([this, &answered] {
      auto res = Client().Get("/readyz");
      if (res && res->status == 200) answered.fetch_add(1);
    });
  }
  AwaitReadyCalls(1);
  for (int i = 0; i < 3; ++i) {
    auto res = Client().Get("/healthz");
    EXPECT_TRUE(res && res->status == 200) << "while a probe is blocked: "
                                           << (res ? absl::StrCat(res->status) : httplib::to_string(res.error()));
  }
  HoldReady(false);
  for (auto& probe : probes) probe.join();
  EXPECT_EQ(answered.load(), 3);
}

TEST_F(StatusServerTest, AnswersAnOversizedRequestHeadWith431AndCloses) {
  RawClient client(server_->port());
  ASSERT_TRUE(client.connected());
  client.Send(absl::StrCat("GET /healthz HTTP/1.1\r\nX-Big: ", std::string(9000, 'a'), "\r\n\r\n"));
  std::string received;
  EXPECT_TRUE(client.ClosedByServer(kPatienceMs, &received));
  EXPECT_THAT(received, StartsWith("HTTP/1.1 431 "));
}

TEST_F(StatusServerTest, AnswersAMalformedRequestWith400) {
  RawClient client(server_->port());
  ASSERT_TRUE(client.connected());
  client.Send("GET /healthz\r\n\r\n");
  std::string received;
  EXPECT_TRUE(client.ClosedByServer(kPatienceMs, &received));
  EXPECT_THAT(received, StartsWith("HTTP/1.1 400 "));
}

TEST(StatusServer, ServesALargeMetricsBodyWhole) {
  // Far larger than a socket buffer: written over several poll rounds.
  StatusServerOptions big;
  big.listen = "127.0.0.1:0";
  const std::string body(4 << 20, 'm');
  big.metrics = [&body] { return body; };
  auto server = StatusServer::Create(std::move(big));
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body.size(), body.size());
}

TEST(StatusServer, ReportsAnAddressInUseByName) {
  StatusServerOptions first_options;
  first_options.listen = "127.0.0.1:0";
  auto first = StatusServer::Create(first_options);
  ASSERT_TRUE(first.ok()) << first.status();
  StatusServerOptions second_options;
  second_options.listen = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = StatusServer::Create(second_options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(absl::StrCat("cannot listen on 127.0.0.1:", (*first)->port())));
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));
}

TEST(StatusServer, ServesOnIpv6Loopback) {
  StatusServerOptions options;
  options.listen = "[::1]:0";
  auto server = StatusServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("::1", (*server)->port());
  client.set_connection_timeout(5);
  auto res = client.Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");
}

TEST(StatusServer, DefaultsToAnEmptyMetricsBodyAndAlwaysReady) {
  StatusServerOptions options;
  options.listen = "localhost:0";
  auto server = StatusServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("localhost", (*server)->port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "");
  auto ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST(StatusServer, RejectsMalformedAddresses) {
  for (const char* listen : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536", ":9749", "::1:9749",
                             "[::1]", "[::1]9749", "[::1:9749"}) {
    StatusServerOptions options;
    options.listen = listen;
    auto server = StatusServer::Create(options);
    ASSERT_FALSE(server.ok()) << listen;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_THAT(server.status().message(), HasSubstr(absl::StrCat("\"", listen, "\""))) << listen;
  }
}

TEST(SplitHostPort, StripsBracketsFromIpv6) {
  std::string host;
  int port = -1;
  ASSERT_TRUE(SplitHostPort("[::1]:9749", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 9749);
  ASSERT_TRUE(SplitHostPort("127.0.0.1:0", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(SplitHostPort("localhost:65535", &host, &port).ok());
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 65535);
}

}  // namespace
}  // namespace sigshim
