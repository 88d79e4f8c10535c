// A registry that implements the OCI 1.1 referrers API, for tests: a small HTTP server on
// 127.0.0.1 (cpp-httplib) in front of a docker-registry (which has no such API). It forwards every
// request byte for byte (method, target, headers, body; Host kept, so the registry's upload
// locations point back here) and answers itself only `GET /v2/<repository>/referrers/<digest>`:
// an OCI image index of the manifests pushed through it whose `subject` is that digest
// (distribution-spec 1.1 "Listing Referrers"), filtered by `artifactType=` when asked (then with
// the `OCI-Filters-Applied: artifactType` header). A manifest with a subject pushed through it gets
// the `OCI-Subject` response header, which tells clients such as @sigstore/oci that the registry
// keeps the referrers list, so they push no referrers tag schema index.
//
// Referrers are recorded when they are pushed through this server and kept in memory only.
// Every request is recorded (method, target, User-Agent, when it came and when it was answered)
// so that tests can pin what a client asked for, and benchmarks count its sequential round trips.
#ifndef SIGSHIM_TEST_TESTBED_REFERRERS_REGISTRY_H_
#define SIGSHIM_TEST_TESTBED_REFERRERS_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace sigshim::testbed {

struct ReferrersRegistryOptions {
  // The registry forwarded to, on 127.0.0.1. Required.
  int upstream_port = 0;
  // Whether the referrers API is answered here. false: the referrers requests are forwarded too
  // (docker-registry answers 404) and pushed subjects are not recorded, which makes the server a
  // plain recording proxy (for counting what a client asks). Default true.
  bool referrers_api = true;
};

// One request the server received.
struct ReceivedRequest {
  std::string method;      // "GET", "HEAD", …
  std::string target;      // path and query as sent, e.g. "/v2/a/referrers/sha256:…?artifactType=…"
  std::string user_agent;  // "" when none
  absl::Time received;     // when its headers and body had been read
  absl::Time answered;     // when its answer was ready (the upstream's, or this server's)
};

// One running server. Thread-safe; the destructor stops it.
class ReferrersRegistry {
 public:
  // Listens on 127.0.0.1 on a free port and serves on a thread of its own.
  static absl::StatusOr<std::unique_ptr<ReferrersRegistry>> Start(const ReferrersRegistryOptions& options);
  ~ReferrersRegistry();  // stops the server and joins its thread
  ReferrersRegistry(const ReferrersRegistry&) = delete;
  ReferrersRegistry& operator=(const ReferrersRegistry&) = delete;

  // Returns "127.0.0.1:<port>", the registry part of image references that go through it.
  std::string host_port() const;

  // Returns every request received so far, in the order they were answered.
  std::vector<ReceivedRequest> Requests() const;

  // Holds every later answer back by `delay` (zero: none) before sending it, so that requests a
  // client sends at once are all received long before any is answered: their order then shows
  // which waited for another's answer (sequential round trips), whatever the scheduling noise.
  void SetAnswerDelay(absl::Duration delay);

 private:
  ReferrersRegistry(ReferrersRegistryOptions options, std::unique_ptr<httplib::Server> server, int port);
  void Handle(const httplib::Request& request, httplib::Response& response);
  void Forward(const httplib::Request& request, httplib::Response& response);
  void AnswerReferrers(const std::string& repository, const std::string& digest, const httplib::Request& request,
                       httplib::Response& response);
  void RecordReferrer(const std::string& repository, const httplib::Request& request, httplib::Response& response);

  const ReferrersRegistryOptions options_;
  const std::unique_ptr<httplib::Server> server_;
  const int port_;
  std::thread serving_;
  mutable absl::Mutex mu_;
  std::vector<ReceivedRequest> requests_ ABSL_GUARDED_BY(mu_);
  absl::Duration answer_delay_ ABSL_GUARDED_BY(mu_);
  // Descriptors (JSON) of the manifests whose subject is a digest, by "<repository>@<digest>".
  std::map<std::string, std::vector<std::string>> referrers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_REFERRERS_REGISTRY_H_
