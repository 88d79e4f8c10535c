// An HttpTransport decorator that reports the outcome of every request, e.g. to count registry
// requests by status code. It knows nothing of metrics: the observer is any callback.
#ifndef SIGSHIM_PKG_REGISTRY_OBSERVED_TRANSPORT_H_
#define SIGSHIM_PKG_REGISTRY_OBSERVED_TRANSPORT_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "pkg/registry/http_transport.h"

namespace sigshim::registry {

// Forwards every request to an inner transport and reports its outcome. Thread-safe when the
// inner transport and the observer are.
class ObservedTransport : public HttpTransport {
 public:
  // Receives the HTTP status of each response (any code, 1xx..5xx), or 0 when the transport
  // produced no response (connection, TLS, timeout or size-limit error). Called once per request,
  // on the requesting thread, after the exchange and before Do returns.
  using Observer = std::function<void(int http_status)>;

  // Shares ownership of `inner`, which must not be null. An empty `observer` observes nothing.
  ObservedTransport(std::shared_ptr<HttpTransport> inner, Observer observer);

  // Returns exactly what the inner transport returns.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) override;

 private:
  std::shared_ptr<HttpTransport> inner_;
  Observer observer_;
};

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_OBSERVED_TRANSPORT_H_
