// CurlTransport against a real HTTP server on 127.0.0.1 that the test starts and stops itself.
#include "pkg/registry/curl_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/pkg/registry/local_http_server.h"

namespace sigshim::registry {
namespace {

using ::sigshim::testing::LocalHttpServer;
using ::sigshim::testing::ReceivedRequest;
using ::sigshim::testing::Reply;
using ::testing::HasSubstr;
using ::testing::Not;

std::unique_ptr<CurlTransport> Transport() {
  absl::StatusOr<std::unique_ptr<CurlTransport>> transport = CurlTransport::Create({});
  EXPECT_TRUE(transport.ok()) << transport.status();
  return std::move(*transport);
}

std::unique_ptr<LocalHttpServer> Server(LocalHttpServer::Handler handler) {
  absl::StatusOr<std::unique_ptr<LocalHttpServer>> server = LocalHttpServer::Start(std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return std::move(*server);
}

Reply Ok(const std::string& body, const std::string& extra_headers = "") {
  return Reply{absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", body.size(), "\r\n", extra_headers,
                            "Connection: close\r\n\r\n", body)};
}

TEST(CurlTransport, ReturnsStatusHeadersAndBody) {
  auto server = Server([](const ReceivedRequest&) { return Ok("hello", "Content-Type: text/plain\r\nX-Thing: a\r\nX-Thing: b\r\n"); });
  HttpRequest request;
  request.url = server->base_url() + "/v2/";
  absl::StatusOr<HttpResponse> response = Transport()->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello");
  EXPECT_EQ(response->headers.Get("content-type").value_or(""), "text/plain");
  EXPECT_EQ(response->headers.GetAll("x-thing"), (std::vector<std::string>{"a", "b"}));
}

TEST(CurlTransport, SendsMethodHeadersAndBody) {
  auto server = Server([](const ReceivedRequest& request) { return Ok(request.body); });
  HttpRequest request;
  request.method = "POST";
  request.url = server->base_url() + "/token";
  request.headers.Add("Content-Type", "application/x-www-form-urlencoded");
  request.headers.Add("Authorization", "Basic c2VjcmV0");
  request.body = "grant_type=refresh_token";
  absl::StatusOr<HttpResponse> response = Transport()->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "grant_type=refresh_token");
  ASSERT_EQ(server->requests().size(), 1u);
  std::string head = server->requests()[0].head;
  EXPECT_THAT(head, HasSubstr("POST /token HTTP/1.1"));
  EXPECT_THAT(head, HasSubstr("Authorization: Basic c2VjcmV0"));
  EXPECT_THAT(head, HasSubstr("User-Agent: sigshim"));
}

TEST(CurlTransport, ReturnsRedirectsWithoutFollowing) {
  auto server = Server([](const ReceivedRequest&) {
    return Reply{"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"};
  });
  HttpRequest request;
  request.url = server->base_url() + "/start";
  absl::StatusOr<HttpResponse> response = Transport()->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 302);
  EXPECT_EQ(response->headers.Get("Location").value_or(""), "/elsewhere");
  EXPECT_EQ(server->requests().size(), 1u);
}

TEST(CurlTransport, HangingServerGivesDeadlineExceeded) {
  auto server = Server([](const ReceivedRequest&) { return Reply{"", /*hang=*/true}; });
  HttpRequest request;
  request.url = server->base_url() + "/v2/app/manifests/v1?sig=query-secret";
  request.headers.Add("Authorization", "Bearer header-secret");
  request.timeout = absl::Milliseconds(300);
  absl::StatusOr<HttpResponse> response = Transport()->Do(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  std::string message(response.status().message());
  EXPECT_THAT(message, HasSubstr("/v2/app/manifests/v1"));
  EXPECT_THAT(message, Not(HasSubstr("query-secret")));
  EXPECT_THAT(message, Not(HasSubstr("header-secret")));
}

TEST(CurlTransport, BodyOverTheCapIsCutOff) {
  const std::string big(4 << 20, 'x');
  auto server = Server([&big](const ReceivedRequest& request) {
    if (request.head.find("/no-length") != std::string::npos) {
      return Reply{absl::StrCat("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", big)};
    }
    return Ok(big);
  });
  auto transport = Transport();
  for (const char* path : {"/with-length", "/no-length"}) {
    HttpRequest request;
    request.url = server->base_url() + path;
    request.max_response_bytes = 1 << 20;
    absl::StatusOr<HttpResponse> response = transport->Do(request);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted) << path << ": " << response.status();
  }
  // The same transport still works afterwards (the pooled handle was reset properly).
  HttpRequest small;
  small.url = server->base_url() + "/with-length";
  small.max_response_bytes = 8 << 20;
  absl::StatusOr<HttpResponse> response = transport->Do(small);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body.size(), big.size());
}

TEST(CurlTransport, RefusedConnectionIsUnavailable) {
  // Find a free port, then close it so that nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  HttpRequest request;
  request.url = absl::StrCat("http://127.0.0.1:", ntohs(address.sin_port), "/v2/");
  EXPECT_EQ(Transport()->Do(request).status().code(), absl::StatusCode::kUnavailable);
}

TEST(CurlTransport, HttpsVerifiesThePeer) {
  // A plain-HTTP server cannot complete a TLS handshake: the request fails instead of falling back.
  auto server = Server([](const ReceivedRequest&) { return Ok("plain"); });
  HttpRequest request;
  request.url = absl::StrCat("https://127.0.0.1:", server->port(), "/v2/");
  request.timeout = absl::Seconds(5);
  absl::StatusOr<HttpResponse> response = Transport()->Do(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
}

TEST(CurlTransport, HttpsAnsweredInPlainHttpSaysSoAndIsNotRetryable) {
  // What a docker-registry without TLS does: it reads the ClientHello as a bad request and
  // answers "HTTP/1.1 400", which OpenSSL reports as "wrong version number".
  auto server = Server([](const ReceivedRequest&) { return Ok("plain"); });
  HttpRequest request;
  request.url = absl::StrCat("https://127.0.0.1:", server->port(), "/v2/app/manifests/v1?sig=query-secret");
  request.timeout = absl::Seconds(5);
  absl::StatusOr<HttpResponse> response = Transport()->Do(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_TRUE(IsPlainHttpPeer(response.status())) << response.status();
  EXPECT_TRUE(IsPermanentFailure(response.status())) << response.status();
  std::string message(response.status().message());
  EXPECT_THAT(message, HasSubstr(absl::StrCat("https://127.0.0.1:", server->port(), "/v2/app/manifests/v1: ")));
  EXPECT_THAT(message, HasSubstr("does not speak TLS"));
  EXPECT_THAT(message, HasSubstr("plain-HTTP server"));
  EXPECT_THAT(message, HasSubstr("wrong version number"));  // libcurl's own text stays, in parentheses
  EXPECT_THAT(message, Not(HasSubstr("query-secret")));
  EXPECT_TRUE(server->requests().empty());  // the ClientHello is no HTTP request
}

TEST(CurlTransport, RefusedConnectionIsNotAPlainHttpPeer) {
  auto server = Server([](const ReceivedRequest&) { return Ok("plain"); });
  const int port = server->port();
  server.reset();  // nothing listens there any more
  HttpRequest request;
  request.url = absl::StrCat("https://127.0.0.1:", port, "/v2/");
  absl::StatusOr<HttpResponse> response = Transport()->Do(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_FALSE(IsPlainHttpPeer(response.status())) << response.status();
  EXPECT_FALSE(IsPermanentFailure(response.status())) << response.status();
}

TEST(CurlTransport, RefusesOtherSchemesAndUnreadableCaFile) {
  HttpRequest request;
  request.url = "file:///etc/passwd";
  EXPECT_EQ(Transport()->Do(request).status().code(), absl::StatusCode::kInvalidArgument);
  CurlTransportOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(CurlTransport::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sigshim::registry
