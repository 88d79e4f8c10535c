#include "pkg/registry/observed_transport.h"

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/fake_http_transport.h"

namespace sigshim::registry {
namespace {

using ::sigshim::fakes::FakeHttpTransport;
using ::testing::ElementsAre;

class ObservedTransportTest : public ::testing::Test {
 protected:
  ObservedTransportTest()
      : fake_(std::make_shared<FakeHttpTransport>()),
        transport_(fake_, [this](int status) {
          absl::MutexLock lock(&mu_);
          seen_.push_back(status);
        }) {}

  std::vector<int> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

  static HttpRequest Get(std::string url) {
    HttpRequest request;
    request.url = std::move(url);
    return request;
  }

  std::shared_ptr<FakeHttpTransport> fake_;
  absl::Mutex mu_;
  std::vector<int> seen_ ABSL_GUARDED_BY(mu_);
  ObservedTransport transport_;
};

TEST_F(ObservedTransportTest, ReportsTheStatusOfEveryResponseAndReturnsItUnchanged) {
  fake_->Respond("GET", "https://r.example/v2/", FakeHttpTransport::Response(401, "auth", {{"Www-Authenticate", "Bearer"}}));
  fake_->Respond("GET", "https://r.example/v2/a/manifests/1", FakeHttpTransport::Response(200, "{}"));
  auto first = transport_.Do(Get("https://r.example/v2/"));
  auto second = transport_.Do(Get("https://r.example/v2/a/manifests/1"));
  auto third = transport_.Do(Get("https://r.example/v2/missing"));  // the fake's fallback: 404
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status, 401);
  EXPECT_EQ(first->body, "auth");
  EXPECT_EQ(first->headers.Get("www-authenticate"), "Bearer");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->body, "{}");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_THAT(seen(), ElementsAre(401, 200, 404));
  EXPECT_EQ(fake_->request_count(), 3u);
}

TEST_F(ObservedTransportTest, ReportsZeroForATransportErrorAndReturnsTheError) {
  fake_->Respond("GET", "https://down.example/v2/", absl::UnavailableError("connection refused"));
  fake_->Respond("GET", "https://slow.example/v2/", absl::DeadlineExceededError("timed out"));
  auto down = transport_.Do(Get("https://down.example/v2/"));
  auto slow = transport_.Do(Get("https://slow.example/v2/"));
  EXPECT_EQ(down.status(), absl::UnavailableError("connection refused"));
  EXPECT_EQ(slow.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(seen(), ElementsAre(0, 0));
}

TEST_F(ObservedTransportTest, ForwardsTheRequestAsGiven) {
  HttpRequest request = Get("https://r.example/v2/a/blobs/sha256:00");
  request.method = "HEAD";
  request.headers.Add("Authorization", "Bearer secret");
  request.max_response_bytes = 10;
  (void)transport_.Do(request);
  std::vector<HttpRequest> received = fake_->requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, "HEAD");
  EXPECT_EQ(received[0].url, request.url);
  EXPECT_EQ(received[0].headers.Get("authorization"), "Bearer secret");
  EXPECT_EQ(received[0].max_response_bytes, 10u);
}

TEST(ObservedTransport, WithoutAnObserverOnlyForwards) {
  auto fake = std::make_shared<FakeHttpTransport>();
  ObservedTransport transport(fake, nullptr);
  HttpRequest request;
  request.url = "https://r.example/v2/";
  auto response = transport.Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
}

}  // namespace
}  // namespace sigshim::registry
