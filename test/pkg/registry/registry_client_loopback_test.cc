// RegistryClient over the real CurlTransport against registries without TLS on loopback
// addresses (real sockets): the loopback convention (HTTPS first, plain HTTP when the server
// answers the handshake in plain HTTP, for localhost, 127.0.0.0/8 and [::1] only), remembered per
// registry, with authentication, retries and budgets working over the fallback; and a host that is
// not loopback as written never falls back, even when it reaches the same server.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/budget.h"
#include "pkg/base/digest.h"
#include "pkg/registry/registry_client.h"
#include "test/pkg/registry/local_http_server.h"

namespace sigshim::registry {
namespace {

using ::sigshim::testing::LocalHttpServer;
using ::sigshim::testing::ReceivedRequest;
using ::sigshim::testing::Reply;
using ::testing::HasSubstr;
using ::testing::Not;

const char kToken[] = "loopback-token-1234";

std::string ImageManifest() {
  return absl::StrCat(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
                      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
                      Sha256Digest("{}"), R"(","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",)",
                      R"("digest":")", Sha256Digest("layer"), R"(","size":5}]})");
}

Reply Answer(int status, const std::string& reason, const std::string& body, const std::string& extra_headers = "") {
  return Reply{absl::StrCat("HTTP/1.1 ", status, " ", reason, "\r\nContent-Length: ", body.size(), "\r\n", extra_headers,
                            "Connection: close\r\n\r\n", body)};
}

// Returns the value of header `name` (exact case) in a request head, or "".
std::string HeaderValue(const std::string& head, const std::string& name) {
  const std::string prefix = absl::StrCat("\r\n", name, ": ");
  size_t start = head.find(prefix);
  if (start == std::string::npos) return "";
  start += prefix.size();
  return head.substr(start, head.find("\r\n", start) - start);
}

// How the plain-HTTP registry behaves.
struct PlainRegistryOptions {
  std::string address = "127.0.0.1";  // listen address, in 127.0.0.0/8
  std::string basic;                   // "user:password": Basic auth required
  bool bearer = false;                 // Bearer auth required, realm http://<Host>/token on this server
  int unavailable_first = 0;           // this many /v2/ requests are answered 503 first
  bool hang = false;                   // /v2/ requests are never answered
};

// A distribution registry without TLS serving team/app:v1 (ImageManifest()), like docker-registry
// started without a certificate: a TLS ClientHello is answered "HTTP/1.1 400".
class PlainRegistry {
 public:
  explicit PlainRegistry(PlainRegistryOptions options) : options_(std::move(options)) {
    unavailable_left_ = options_.unavailable_first;
    auto server = LocalHttpServer::Start([this](const ReceivedRequest& request) { return Serve(request); },
                                         options_.address);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }

  bool started() const { return server_ != nullptr; }
  // "<address>:<port>"
  std::string host_port() const { return server_->host_port(); }
  int port() const { return server_->port(); }
  // The plain-HTTP requests received (a TLS ClientHello is not one).
  std::vector<ReceivedRequest> requests() const { return server_->requests(); }

 private:
  Reply Serve(const ReceivedRequest& request) {
    const std::string& head = request.head;
    if (absl::StartsWith(head, "GET /token")) {
      return Answer(200, "OK", absl::StrCat(R"({"token":")", kToken, R"(","expires_in":300})"),
                    "Content-Type: application/json\r\n");
    }
    if (options_.hang) return Reply{"", /*hang=*/true};
    if (unavailable_left_.fetch_sub(1) > 0) return Answer(503, "Service Unavailable", "");
    if (!options_.basic.empty() &&
        HeaderValue(head, "Authorization") != absl::StrCat("Basic ", Base64Encode(options_.basic))) {
      return Answer(401, "Unauthorized", "", "WWW-Authenticate: Basic realm=\"plain\"\r\n");
    }
    if (options_.bearer && HeaderValue(head, "Authorization") != absl::StrCat("Bearer ", kToken)) {
      return Answer(401, "Unauthorized", "",
                    absl::StrCat("WWW-Authenticate: Bearer realm=\"http://", HeaderValue(head, "Host"),
                                 "/token\",service=\"plain\"\r\n"));
    }
    if (absl::StartsWith(head, "GET /v2/team/app/manifests/v1 ")) {
      return Answer(200, "OK", ImageManifest(), "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n");
    }
    return Answer(404, "Not Found", R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]})");
  }

  const PlainRegistryOptions options_;
  std::atomic<int> unavailable_left_{0};
  std::unique_ptr<LocalHttpServer> server_;
};

reference::Reference Ref(const std::string& text) {
  absl::StatusOr<reference::Reference> ref = reference::Parse(text);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return *ref;
}

class LoopbackFallbackTest : public ::testing::Test {
 protected:
  // A client over the real CurlTransport (no fake anywhere), waits recorded instead of slept.
  std::unique_ptr<RegistryClient> Client(RegistryClientOptions options = {}) {
    options.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
    options.now = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  }

  std::vector<absl::Duration> sleeps_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

TEST_F(LoopbackFallbackTest, LoopbackRegistryWithoutTlsIsReachedWithoutConfigurationAndTheAnswerIsRemembered) {
  PlainRegistry registry({});
  ASSERT_TRUE(registry.started());
  for (const std::string& host : std::vector<std::string>{registry.host_port(), absl::StrCat("localhost:", registry.port())}) {
    SCOPED_TRACE(host);
    auto client = Client();
    absl::StatusOr<FetchedManifest> first = client->Resolve(Ref(host + "/team/app:v1"), {});
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->digest, Sha256Digest(ImageManifest()));
    // The failed handshake, then the same request over plain HTTP.
    EXPECT_EQ(client->RequestCount(), 2u);
    // Decided once: the next requests go straight to plain HTTP.
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<FetchedManifest> again = client->Resolve(Ref(host + "/team/app:v1"), {});
      ASSERT_TRUE(again.ok()) << again.status();
    }
    EXPECT_EQ(client->RequestCount(), 5u);
    EXPECT_TRUE(sleeps_.empty());  // the failed handshake was not retried
  }
  EXPECT_EQ(registry.requests().size(), 8u);
}

TEST_F(LoopbackFallbackTest, AnyAddressIn127Slash8FallsBack) {
  PlainRegistry registry({.address = "127.1.2.3"});
  ASSERT_TRUE(registry.started());
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref(registry.host_port() + "/team/app:v1"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->digest, Sha256Digest(ImageManifest()));
  EXPECT_EQ(client->RequestCount(), 2u);
}

TEST_F(LoopbackFallbackTest, HostNotLoopbackAsWrittenNeverFallsBackAndTheErrorNamesTheSetting) {
  // "127.1" reaches 127.0.0.1 (the resolver expands it) but is not a loopback host as written,
  // as a DNS name resolving to 127.0.0.1 would not be.
  PlainRegistry registry({});
  ASSERT_TRUE(registry.started());
  const std::string other = absl::StrCat("127.1:", registry.port());
  auto client = Client();
  // Even after the same server was found plain HTTP under a loopback name.
  ASSERT_TRUE(client->Resolve(Ref(registry.host_port() + "/team/app:v1"), {}).ok());
  const size_t plain_requests = registry.requests().size();
  const uint64_t requests = client->RequestCount();

  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref(other + "/team/app:v1"), {});
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kUnavailable) << fetched.status();
  const std::string message(fetched.status().message());
  EXPECT_THAT(message, HasSubstr(absl::StrCat("https://", other, "/v2/team/app/manifests/v1")));
  EXPECT_THAT(message, HasSubstr("plain-HTTP server"));
  EXPECT_THAT(message, HasSubstr(absl::StrCat("list it in [registry] insecure (insecure = [\"", other, "\"])")));
  EXPECT_EQ(registry.requests().size(), plain_requests);  // nothing was sent over plain HTTP
  EXPECT_EQ(client->RequestCount(), requests + 1);         // one handshake, no retries
  EXPECT_TRUE(sleeps_.empty());

  // The setting named is the one that helps.
  RegistryClientOptions listed;
  listed.insecure_registries = {other};
  auto configured = Client(listed);
  absl::StatusOr<FetchedManifest> allowed = configured->Resolve(Ref(other + "/team/app:v1"), {});
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(configured->RequestCount(), 1u);
}

TEST_F(LoopbackFallbackTest, RememberedAnswerIsCheckedAgainAfterItsTime) {
  PlainRegistry registry({});
  ASSERT_TRUE(registry.started());
  RegistryClientOptions options;
  options.loopback_plain_http_memory = absl::Minutes(10);
  auto client = Client(options);
  const reference::Reference ref = Ref(registry.host_port() + "/team/app:v1");
  ASSERT_TRUE(client->Resolve(ref, {}).ok());
  now_ += absl::Minutes(9);
  ASSERT_TRUE(client->Resolve(ref, {}).ok());
  EXPECT_EQ(client->RequestCount(), 3u);
  now_ += absl::Minutes(2);
  ASSERT_TRUE(client->Resolve(ref, {}).ok());
  EXPECT_EQ(client->RequestCount(), 5u);  // HTTPS tried first again
}

TEST_F(LoopbackFallbackTest, BasicCredentialsWorkOverTheFallback) {
  PlainRegistry registry({.basic = "alice:s3cret-pass"});
  ASSERT_TRUE(registry.started());
  auto client = Client();
  Credentials credentials;
  credentials.username = "alice";
  credentials.password = "s3cret-pass";
  absl::StatusOr<FetchedManifest> fetched =
      client->Resolve(Ref(registry.host_port() + "/team/app:v1"), credentials);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  // Handshake, anonymous 401 over plain HTTP, then with Basic credentials.
  EXPECT_EQ(client->RequestCount(), 3u);
  std::vector<ReceivedRequest> requests = registry.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(HeaderValue(requests[1].head, "Authorization"), absl::StrCat("Basic ", Base64Encode("alice:s3cret-pass")));

  credentials.password = "wrong-password";
  absl::StatusOr<FetchedManifest> refused =
      Client()->Resolve(Ref(registry.host_port() + "/team/app:v1"), credentials);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << refused.status();
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("wrong-password")));
}

TEST_F(LoopbackFallbackTest, BearerTokenFromAPlainHttpRealmWorksOverTheFallback) {
  // A loopback registry reached over plain HTTP is treated like an insecure one: its plain-HTTP
  // token realm is accepted.
  PlainRegistry registry({.bearer = true});
  ASSERT_TRUE(registry.started());
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref(registry.host_port() + "/team/app:v1"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  // Handshake, 401, token, manifest with the token.
  EXPECT_EQ(client->RequestCount(), 4u);
  std::vector<ReceivedRequest> requests = registry.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_THAT(requests[1].head, HasSubstr("GET /token?service=plain&scope=repository%3Ateam%2Fapp%3Apull "));
  EXPECT_EQ(HeaderValue(requests[2].head, "Authorization"), absl::StrCat("Bearer ", kToken));
}

TEST_F(LoopbackFallbackTest, RetriesWorkOverTheFallback) {
  PlainRegistry registry({.unavailable_first = 2});
  ASSERT_TRUE(registry.started());
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref(registry.host_port() + "/team/app:v1"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(client->RequestCount(), 4u);  // handshake, 503, 503, 200
  EXPECT_EQ(sleeps_.size(), 2u);
}

TEST_F(LoopbackFallbackTest, BudgetBoundsTheRequestAfterTheFallback) {
  PlainRegistry registry({.hang = true});
  ASSERT_TRUE(registry.started());
  // Abandoned as soon as the plain-HTTP request has arrived (and hangs there).
  Budget budget(absl::InfiniteFuture(), [&registry] { return !registry.requests().empty(); }, "test budget");
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched =
      client->Resolve(Ref(registry.host_port() + "/team/app:v1"), {}, &budget);
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kCancelled) << fetched.status();
  EXPECT_EQ(registry.requests().size(), 1u);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(LoopbackFallbackTest, ConcurrentVerificationsShareTheDecision) {
  PlainRegistry registry({});
  ASSERT_TRUE(registry.started());
  auto client = Client();
  const reference::Reference ref = Ref(absl::StrCat("localhost:", registry.port(), "/team/app:v1"));
  constexpr int kThreads = 8;
  std::atomic<int> succeeded{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 4; ++j) {
        if (client->Resolve(ref, {}).ok()) succeeded.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(succeeded.load(), kThreads * 4);
  // Every call made its plain-HTTP request; at most one handshake each for the calls that started
  // before the first fallback was remembered.
  EXPECT_EQ(registry.requests().size(), static_cast<size_t>(kThreads * 4));
  EXPECT_LE(client->RequestCount(), static_cast<uint64_t>(kThreads * 4 + kThreads));
}

}  // namespace
}  // namespace sigshim::registry
