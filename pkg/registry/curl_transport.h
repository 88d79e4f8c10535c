// HttpTransport over libcurl: TLS verified against the system CAs (plus an optional CA file),
// connect and total timeouts, a hard cap on the response body, and no redirect following.
#ifndef SIGSHIM_PKG_REGISTRY_CURL_TRANSPORT_H_
#define SIGSHIM_PKG_REGISTRY_CURL_TRANSPORT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pkg/registry/http_transport.h"

namespace sigshim::registry {

struct CurlTransportOptions {
  // PEM bundle of CAs trusted in addition to the system ones; "" for the system CAs only.
  // Default "".
  std::string ca_file;
  // Limit for establishing a connection (TCP and TLS); the request's own timeout still bounds the
  // whole exchange. Default 10s.
  absl::Duration connect_timeout = absl::Seconds(10);
  // User-Agent header sent when the request has none. Default "sigshim".
  std::string user_agent = "sigshim";
  // Idle curl handles kept for connection reuse between requests, all pools together. Default 8.
  size_t max_idle_handles = 8;
};

// Thread-safe: every Do call uses its own curl handle, taken from a small pool so that
// connections to a registry are reused (one pool per TlsSettings::pool_key, so that a connection
// made under some TLS settings never serves a request under others). Only http and https URLs
// are accepted; TLS peer and host verification is on unless the request's TlsSettings say
// skip_verify. Redirects are returned to the caller, never followed. Error messages
// name the URL without its query string and never contain request header values.
class CurlTransport : public HttpTransport {
 public:
  // Returns a transport; InvalidArgument when ca_file is set but cannot be read, Internal when
  // libcurl cannot be initialised.
  static absl::StatusOr<std::unique_ptr<CurlTransport>> Create(const CurlTransportOptions& options);

  ~CurlTransport() override;

  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) override;

 private:
  explicit CurlTransport(const CurlTransportOptions& options) : options_(options) {}

  // Returns an idle handle (reset) of the pool `pool_key`, or a new one; null when curl cannot
  // make one.
  void* TakeHandle(const std::string& pool_key);
  // Gives `handle` back to the pool `pool_key`, or frees it when the pools are full.
  void ReturnHandle(const std::string& pool_key, void* handle);

  const CurlTransportOptions options_;
  absl::Mutex mu_;
  // TlsSettings::pool_key ("" for requests without settings) → idle handles.
  absl::flat_hash_map<std::string, std::vector<void*>> idle_handles_ ABSL_GUARDED_BY(mu_);
  size_t idle_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_CURL_TRANSPORT_H_
