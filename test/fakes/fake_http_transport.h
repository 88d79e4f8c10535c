// An in-memory registry::HttpTransport for tests: scripted responses per URL, a fallback handler,
// and a record of every request. Thread-safe.
#ifndef SIGSHIM_TEST_FAKES_FAKE_HTTP_TRANSPORT_H_
#define SIGSHIM_TEST_FAKES_FAKE_HTTP_TRANSPORT_H_

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pkg/registry/http_transport.h"

namespace sigshim::fakes {

class FakeHttpTransport : public registry::HttpTransport {
 public:
  using Handler = std::function<absl::StatusOr<registry::HttpResponse>(const registry::HttpRequest&)>;

  // Returns a response with `status`, `body` and the given header fields.
  static registry::HttpResponse Response(int status, std::string body = "",
                                         registry::HttpHeaders headers = {});

  // Answers every `method` request for `url` (exact match, query included; when no exact route
  // exists the URL without its query is tried) with `response`, unless a queued answer exists.
  void Respond(const std::string& method, const std::string& url, absl::StatusOr<registry::HttpResponse> response);

  // Queues one answer for `method` `url`, used before any standing route; queued answers are used
  // in order, one per request.
  void Enqueue(const std::string& method, const std::string& url, absl::StatusOr<registry::HttpResponse> response);

  // Answers requests that match no route and no queue. Default: 404 with an empty body.
  void SetFallback(Handler handler);

  // Returns every request received so far, in order.
  std::vector<registry::HttpRequest> requests() const;

  // Returns the number of requests received so far.
  size_t request_count() const;

  // Answers as configured; a body longer than request.max_response_bytes becomes
  // ResourceExhausted, as a real transport would do.
  absl::StatusOr<registry::HttpResponse> Do(const registry::HttpRequest& request) override;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, absl::StatusOr<registry::HttpResponse>> routes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::deque<absl::StatusOr<registry::HttpResponse>>> queues_ ABSL_GUARDED_BY(mu_);
  Handler fallback_ ABSL_GUARDED_BY(mu_);
  std::vector<registry::HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sigshim::fakes

#endif  // SIGSHIM_TEST_FAKES_FAKE_HTTP_TRANSPORT_H_
