#include "pkg/registry/http_transport.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"

namespace sigshim::registry {

void HttpHeaders::Add(absl::string_view name, absl::string_view value) {
  fields_.emplace_back(std::string(name), std::string(value));
}

void HttpHeaders::Set(absl::string_view name, absl::string_view value) {
  Remove(name);
  Add(name, value);
}

void HttpHeaders::Remove(absl::string_view name) {
  fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                               [name](const auto& field) { return absl::EqualsIgnoreCase(field.first, name); }),
                fields_.end());
}

std::optional<absl::string_view> HttpHeaders::Get(absl::string_view name) const {
  for (const auto& [field_name, value] : fields_) {
    if (absl::EqualsIgnoreCase(field_name, name)) return absl::string_view(value);
  }
  return std::nullopt;
}

std::vector<std::string> HttpHeaders::GetAll(absl::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [field_name, value] : fields_) {
    if (absl::EqualsIgnoreCase(field_name, name)) values.push_back(value);
  }
  return values;
}

bool IsPermanentFailure(const absl::Status& status) {
  return status.GetPayload(kPermanentFailurePayload).has_value();
}

bool IsPlainHttpPeer(const absl::Status& status) { return status.GetPayload(kPlainHttpPeerPayload).has_value(); }

absl::Status PlainHttpPeerError(absl::string_view message) {
  absl::Status status = absl::UnavailableError(message);
  status.SetPayload(kPermanentFailurePayload, absl::Cord("tls"));
  status.SetPayload(kPlainHttpPeerPayload, absl::Cord("plain-http"));
  return status;
}

absl::StatusOr<HttpResponse> CountingHttpTransport::Do(const HttpRequest& request) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  return inner_->Do(request);
}

}  // namespace sigshim::registry
