// The HTTP seam of the registry client: one request in, one response out. The client holds an
// HttpTransport so that tests can replace the network with a fake that is slow, broken or hostile.
#ifndef SIGSHIM_PKG_REGISTRY_HTTP_TRANSPORT_H_
#define SIGSHIM_PKG_REGISTRY_HTTP_TRANSPORT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/base/budget.h"

namespace sigshim::registry {

// An ordered list of header fields with case-insensitive lookup. Names are kept as received.
class HttpHeaders {
 public:
  HttpHeaders() = default;
  HttpHeaders(std::initializer_list<std::pair<std::string, std::string>> fields) : fields_(fields) {}

  // Appends a field; an existing field of the same name is kept (HTTP allows repeats).
  void Add(absl::string_view name, absl::string_view value);

  // Replaces every field named `name` (any case) with one field.
  void Set(absl::string_view name, absl::string_view value);

  // Removes every field named `name` (any case).
  void Remove(absl::string_view name);

  // Returns the value of the first field named `name` (any case), or nullopt. The view lives as
  // long as this object is not modified.
  std::optional<absl::string_view> Get(absl::string_view name) const;

  // Returns the values of every field named `name` (any case), in order.
  std::vector<std::string> GetAll(absl::string_view name) const;

  // Returns all fields in order.
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// TLS settings of one registry endpoint (containerd's hosts.toml `ca`, `client`, `skip_verify`),
// applied to a request on top of the transport's own. Immutable once shared.
struct TlsSettings {
  // PEM certificates trusted in addition to the transport's CAs (the system's and its ca_file).
  // Default "": none.
  std::string extra_ca_pem;
  // PEM client certificate (chain) presented when the server asks for one. Default "": none.
  std::string client_cert_pem;
  // The PEM private key of client_cert_pem. A secret: never logged or put in an error. Default "".
  std::string client_key_pem;
  // Turns server certificate and host name verification off. Default false.
  bool skip_verify = false;
  // Names these settings for connection pooling: a connection made under one key is never reused
  // for a request under another. Equal settings may share a key. Default "".
  std::string pool_key;
};

// One HTTP request. `url` is absolute (http or https).
struct HttpRequest {
  // "GET", "HEAD", "POST" or "PUT". Default "GET".
  std::string method = "GET";
  // Absolute URL. Default "" (invalid: must be set).
  std::string url;
  // Request header fields, sent as given. May hold Authorization: transports must never log or
  // echo it. Default none.
  HttpHeaders headers;
  // Request body (POST, PUT). Default empty.
  std::string body;
  // A response body longer than this ends the transfer with ResourceExhausted. Default 4 MiB.
  size_t max_response_bytes = 4 << 20;
  // Limit for the whole exchange, connection included; DeadlineExceeded when hit. Default 30s.
  absl::Duration timeout = absl::Seconds(30);
  // The budget of the work this request is part of: the exchange ends (DeadlineExceeded, or
  // Cancelled) as soon as it runs out or is abandoned, whatever `timeout` says. Not owned; must
  // outlive the call. Default null: only `timeout` applies.
  const Budget* budget = nullptr;
  // TLS settings for an https URL, on top of the transport's. Default null: the transport's only.
  std::shared_ptr<const TlsSettings> tls;
};

// One HTTP response, whatever its status code.
struct HttpResponse {
  // Status code, e.g. 200, 307, 404.
  int status = 0;
  // Response header fields of the final response (no interim 1xx responses).
  HttpHeaders headers;
  // Response body, at most the request's max_response_bytes.
  std::string body;
};

// The payload (absl::Status::SetPayload type URL) with which a transport marks a failure that a
// retry cannot mend, e.g. a certificate that does not verify. Callers do not retry such errors.
inline constexpr absl::string_view kPermanentFailurePayload = "type.sigshim.dev/http.permanent_failure";

// Returns true when `status` carries kPermanentFailurePayload.
bool IsPermanentFailure(const absl::Status& status);

// The payload with which a transport marks a TLS handshake that the peer answered with bytes that
// are not TLS, as a plain-HTTP server does when it is spoken TLS to (OpenSSL's "wrong version
// number"). Always set together with kPermanentFailurePayload. The registry client falls back to
// plain HTTP on it for loopback registries only.
inline constexpr absl::string_view kPlainHttpPeerPayload = "type.sigshim.dev/http.plain_http_peer";

// Returns true when `status` carries kPlainHttpPeerPayload.
bool IsPlainHttpPeer(const absl::Status& status);

// Returns an Unavailable status with `message`, marked with kPermanentFailurePayload and
// kPlainHttpPeerPayload: what a transport returns when an https URL is answered in plain HTTP.
absl::Status PlainHttpPeerError(absl::string_view message);

// Performs HTTP exchanges. Implementations never follow redirects (a 3xx is returned as is), are
// thread-safe, and never put header values in errors or logs.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // Performs `request` and returns the response, whatever its status code. Errors: a body over
  // request.max_response_bytes is ResourceExhausted; the timeout is DeadlineExceeded; a peer that
  // cannot be reached, a TLS failure or a broken connection is Unavailable; an unusable request
  // (bad URL or method) is InvalidArgument; a request.budget that runs out or is abandoned during
  // the exchange is its status (DeadlineExceeded or Cancelled). A TLS verification failure is Unavailable marked with
  // kPermanentFailurePayload; a TLS handshake answered in plain HTTP is PlainHttpPeerError.
  virtual absl::StatusOr<HttpResponse> Do(const HttpRequest& request) = 0;
};

// Decorates a transport with a count of the requests passed through it (successful or not), for
// tests and for the "registry requests per verification" measurement. Thread-safe.
class CountingHttpTransport : public HttpTransport {
 public:
  // Shares ownership of `inner`, which must not be null.
  explicit CountingHttpTransport(std::shared_ptr<HttpTransport> inner) : inner_(std::move(inner)) {}

  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) override;

  // Returns the number of Do calls so far.
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<HttpTransport> inner_;
  std::atomic<uint64_t> requests_{0};
};

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_HTTP_TRANSPORT_H_
