#include "test/fakes/fake_http_transport.h"

#include "absl/strings/str_cat.h"

namespace sigshim::fakes {
namespace {

std::string Key(const std::string& method, absl::string_view url) { return absl::StrCat(method, " ", url); }

}  // namespace

registry::HttpResponse FakeHttpTransport::Response(int status, std::string body, registry::HttpHeaders headers) {
  registry::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

void FakeHttpTransport::Respond(const std::string& method, const std::string& url,
                                absl::StatusOr<registry::HttpResponse> response) {
  absl::MutexLock lock(&mu_);
  routes_.insert_or_assign(Key(method, url), std::move(response));
}

void FakeHttpTransport::Enqueue(const std::string& method, const std::string& url,
                                absl::StatusOr<registry::HttpResponse> response) {
  absl::MutexLock lock(&mu_);
  queues_[Key(method, url)].push_back(std::move(response));
}

void FakeHttpTransport::SetFallback(Handler handler) {
  absl::MutexLock lock(&mu_);
  fallback_ = std::move(handler);
}

std::vector<registry::HttpRequest> FakeHttpTransport::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

size_t FakeHttpTransport::request_count() const {
  absl::MutexLock lock(&mu_);
  return requests_.size();
}

absl::StatusOr<registry::HttpResponse> FakeHttpTransport::Do(const registry::HttpRequest& request) {
  absl::StatusOr<registry::HttpResponse> answer = Response(404);
  Handler fallback;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    absl::string_view without_query = absl::string_view(request.url).substr(0, request.url.find('?'));
    bool found = false;
    for (const std::string& key : {Key(request.method, request.url), Key(request.method, without_query)}) {
      if (auto queue = queues_.find(key); queue != queues_.end() && !queue->second.empty()) {
        answer = std::move(queue->second.front());
        queue->second.pop_front();
        found = true;
        break;
      }
      if (auto route = routes_.find(key); route != routes_.end()) {
        answer = route->second;
        found = true;
        break;
      }
    }
    if (!found) fallback = fallback_;
  }
  if (fallback) answer = fallback(request);
  if (answer.ok() && answer->body.size() > request.max_response_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(request.url, ": response body is larger than the limit of ",
                                                     request.max_response_bytes, " bytes"));
  }
  return answer;
}

}  // namespace sigshim::fakes
