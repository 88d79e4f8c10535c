#include "test/testbed/referrers_registry.h"

#include <httplib.h>

#include <regex>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sigshim::testbed {
namespace {

constexpr char kIndexMediaType[] = "application/vnd.oci.image.index.v1+json";

// Headers that belong to one hop (or that cpp-httplib adds or computes itself): never copied.
bool IsHopHeader(const std::string& name) {
  for (const char* hop : {"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Content-Type",
                          "REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT"}) {
    if (absl::EqualsIgnoreCase(name, hop)) return true;
  }
  return false;
}

void ErrorJson(httplib::Response& response, int status, const std::string& code, const std::string& message) {
  response.status = status;
  response.set_content(nlohmann::json({{"errors", {{{"code", code}, {"message", message}}}}}).dump(),
                       "application/json");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReferrersRegistry>> ReferrersRegistry::Start(const ReferrersRegistryOptions& options) {
  if (options.upstream_port <= 0) return absl::InvalidArgumentError("ReferrersRegistry: upstream_port is required");
  auto server = std::make_unique<httplib::Server>();
  // Clients (containerd) keep connections open, each holding a worker: more workers than the
  // default 8 so that idle keep-alive connections never starve new ones.
  server->new_task_queue = [] { return new httplib::ThreadPool(32); };
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
  // peer's delayed ACK hold the second write for up to 40 ms.
  server->set_tcp_nodelay(true);
  const int port = server->bind_to_any_port("127.0.0.1");
  if (port <= 0) return absl::UnavailableError("ReferrersRegistry: cannot listen on 127.0.0.1");
  std::unique_ptr<ReferrersRegistry> registry(new ReferrersRegistry(options, std::move(server), port));
  auto handler = [r = registry.get()](const httplib::Request& request, httplib::Response& response) {
    r->Handle(request, response);
  };
  registry->server_->Get(".*", handler);  // GET and HEAD
  registry->server_->Post(".*", handler);
  registry->server_->Put(".*", handler);
  registry->server_->Patch(".*", handler);
  registry->server_->Delete(".*", handler);
  httplib::Server* serving = registry->server_.get();
  registry->serving_ = std::thread([serving] { serving->listen_after_bind(); });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!serving->is_running()) {
    if (absl::Now() > deadline) return absl::DeadlineExceededError("ReferrersRegistry: the server did not start");
    absl::SleepFor(absl::Milliseconds(5));
  }
  return registry;
}

ReferrersRegistry::ReferrersRegistry(ReferrersRegistryOptions options, std::unique_ptr<httplib::Server> server,
                                     int port)
    : options_(std::move(options)), server_(std::move(server)), port_(port) {}

ReferrersRegistry::~ReferrersRegistry() {
  server_->stop();
  if (serving_.joinable()) serving_.join();
}

std::string ReferrersRegistry::host_port() const { return absl::StrCat("127.0.0.1:", port_); }

std::vector<ReceivedRequest> ReferrersRegistry::Requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

void ReferrersRegistry::Handle(const httplib::Request& request, httplib::Response& response) {
  ReceivedRequest received{request.method, request.target, request.get_header_value("User-Agent"), absl::Now(),
                           absl::InfinitePast()};
  static const std::regex kReferrers(R"(/v2/(.+)/referrers/([^/]+))");
  static const std::regex kManifest(R"(/v2/(.+)/manifests/([^/]+))");
  std::smatch match;
  if (options_.referrers_api && (request.method == "GET" || request.method == "HEAD") &&
      std::regex_match(request.path, match, kReferrers)) {
    AnswerReferrers(match[1], match[2], request, response);
  } else {
    Forward(request, response);
    if (options_.referrers_api && request.method == "PUT" && response.status == 201 &&
        std::regex_match(request.path, match, kManifest)) {
      RecordReferrer(match[1], request, response);
    }
  }
  absl::Duration delay;
  {
    absl::MutexLock lock(&mu_);
    delay = answer_delay_;
  }
  if (delay > absl::ZeroDuration()) absl::SleepFor(delay);
  received.answered = absl::Now();
  absl::MutexLock lock(&mu_);
  requests_.push_back(std::move(received));
}

void ReferrersRegistry::SetAnswerDelay(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  answer_delay_ = delay;
}

void ReferrersRegistry::Forward(const httplib::Request& request, httplib::Response& response) {
  httplib::Client client("127.0.0.1", options_.upstream_port);
  client.set_url_encode(false);  // the target is sent as it came
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(10);
  client.set_read_timeout(120);
  client.set_write_timeout(120);
  httplib::Request upstream;
  upstream.method = request.method;
  upstream.path = request.target;
  // Host is kept: docker-registry builds its upload locations from it, so they lead back here.
  for (const auto& [name, value] : request.headers) {
    if (!IsHopHeader(name)) upstream.headers.emplace(name, value);
  }
  if (request.has_header("Content-Type")) upstream.headers.emplace("Content-Type", request.get_header_value("Content-Type"));
  upstream.body = request.body;
  httplib::Result result = client.send(upstream);
  if (!result) {
    ErrorJson(response, 502, "UNAVAILABLE", absl::StrCat("upstream: ", httplib::to_string(result.error())));
    return;
  }
  response.status = result->status;
  for (const auto& [name, value] : result->headers) {
    if (!IsHopHeader(name)) response.headers.emplace(name, value);
  }
  const std::string type = result->get_header_value("Content-Type");
  if (request.method == "HEAD") {
    // No body, but the length of the one a GET would get (containerd reads it from a HEAD).
    const size_t length = std::stoul(result->get_header_value("Content-Length").empty()
                                         ? std::string("0")
                                         : result->get_header_value("Content-Length"));
    if (length > 0) {
      response.set_content_provider(length, type.empty() ? "application/octet-stream" : type,
                                    [](size_t, size_t, httplib::DataSink&) { return false; });
    } else if (!type.empty()) {
      response.set_header("Content-Type", type);
    }
    return;
  }
  if (!result->body.empty() || !type.empty()) {
    response.set_content(result->body, type.empty() ? "application/octet-stream" : type);
  }
}

void ReferrersRegistry::RecordReferrer(const std::string& repository, const httplib::Request& request,
                                       httplib::Response& response) {
  const nlohmann::json manifest = nlohmann::json::parse(request.body, nullptr, false);
  if (!manifest.is_object() || !manifest.contains("subject") || !manifest["subject"].is_object()) return;
  const std::string subject = manifest["subject"].value("digest", "");
  const std::string digest = response.get_header_value("Docker-Content-Digest");
  if (subject.empty() || digest.empty()) return;
  nlohmann::json descriptor = {
      {"mediaType", manifest.value("mediaType", request.get_header_value("Content-Type"))},
      {"digest", digest},
      {"size", request.body.size()}};
  // distribution-spec 1.1: the artifactType, else the config's media type.
  std::string artifact_type = manifest.value("artifactType", "");
  if (artifact_type.empty() && manifest.contains("config") && manifest["config"].is_object()) {
    artifact_type = manifest["config"].value("mediaType", "");
  }
  if (!artifact_type.empty()) descriptor["artifactType"] = artifact_type;
  if (manifest.contains("annotations") && manifest["annotations"].is_object()) {
    descriptor["annotations"] = manifest["annotations"];
  }
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::string>& list = referrers_[absl::StrCat(repository, "@", subject)];
    const std::string text = descriptor.dump();
    bool known = false;
    for (const std::string& d : list) known = known || d == text;
    if (!known) list.push_back(text);
  }
  response.set_header("OCI-Subject", subject);
}

void ReferrersRegistry::AnswerReferrers(const std::string& repository, const std::string& digest,
                                        const httplib::Request& request, httplib::Response& response) {
  static const std::regex kDigest(R"([a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)");
  if (!std::regex_match(digest, kDigest)) {
    ErrorJson(response, 400, "DIGEST_INVALID", absl::StrCat("not a digest: ", digest));
    return;
  }
  std::vector<std::string> wanted;
  for (size_t i = 0; i < request.get_param_value_count("artifactType"); ++i) {
    wanted.push_back(request.get_param_value("artifactType", i));
  }
  nlohmann::json manifests = nlohmann::json::array();
  {
    absl::MutexLock lock(&mu_);
    auto it = referrers_.find(absl::StrCat(repository, "@", digest));
    if (it != referrers_.end()) {
      for (const std::string& text : it->second) {
        nlohmann::json descriptor = nlohmann::json::parse(text);
        bool keep = wanted.empty();
        for (const std::string& type : wanted) keep = keep || descriptor.value("artifactType", "") == type;
        if (keep) manifests.push_back(std::move(descriptor));
      }
    }
  }
  if (!wanted.empty()) response.set_header("OCI-Filters-Applied", "artifactType");
  response.status = 200;
  response.set_content(
      nlohmann::json({{"schemaVersion", 2}, {"mediaType", kIndexMediaType}, {"manifests", manifests}}).dump(),
      kIndexMediaType);
}

}  // namespace sigshim::testbed
