#include "pkg/registry/observed_transport.h"

#include <utility>

namespace sigshim::registry {

ObservedTransport::ObservedTransport(std::shared_ptr<HttpTransport> inner, Observer observer)
    : inner_(std::move(inner)), observer_(std::move(observer)) {}

absl::StatusOr<HttpResponse> ObservedTransport::Do(const HttpRequest& request) {
  absl::StatusOr<HttpResponse> response = inner_->Do(request);
  if (observer_) observer_(response.ok() ? response->status : 0);
  return response;
}

}  // namespace sigshim::registry
