#include "shim/status_server.h"

#include <httplib.h>

#include <atomic>
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

class StatusServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics = [this] {
      scrapes_.fetch_add(1);
      return std::string("# TYPE up gauge\nup 1\n");
    };
    options.ready = [this] {
      absl::MutexLock lock(&mu_);
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

  std::atomic<int> scrapes_{0};
  absl::Mutex mu_;
  absl::Status ready_ ABSL_GUARDED_BY(mu_);
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
