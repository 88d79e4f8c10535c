#include "test/testbed/registry.h"

#include <crypt.h>
#include <curl/curl.h>

#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/base/status_macros.h"

namespace sigshim::testbed {
namespace {

struct HttpResponse {
  long code = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

size_t AppendHeader(char* data, size_t size, size_t count, void* out) {
  absl::string_view line(data, size * count);
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    (*static_cast<std::map<std::string, std::string>*>(out))[name] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * count;
}

// Returns an htpasswd line "name:<bcrypt hash>" (what distribution's htpasswd auth reads).
absl::StatusOr<std::string> HtpasswdLine(const std::string& name, const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  // Cost 4, the lowest: these are throwaway test passwords and hashing is on every request.
  if (crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof(salt)) == nullptr) {
    return absl::InternalError("crypt_gensalt_rn($2b$) failed: libcrypt has no bcrypt");
  }
  crypt_data data{};
  const char* hash = crypt_r(password.c_str(), salt, &data);
  if (hash == nullptr || hash[0] == '*') return absl::InternalError("bcrypt hashing failed");
  return absl::StrCat(name, ":", hash, "\n");
}

// Sends one plain-HTTP request; only transport failures are errors (any HTTP status is returned).
// `userpwd` ("name:password"), when not empty, is sent as basic auth.
absl::StatusOr<HttpResponse> Http(absl::string_view method, const std::string& url,
                                  const std::vector<std::string>& headers, absl::string_view body,
                                  const std::string& userpwd) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  HttpResponse response;
  curl_slist* header_list = nullptr;
  for (const std::string& h : headers) header_list = curl_slist_append(header_list, h.c_str());
  // An empty Expect stops curl from waiting for "100 Continue" on PUT/POST bodies.
  header_list = curl_slist_append(header_list, "Expect:");
  std::string method_text(method);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!userpwd.empty()) curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  if (method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (method == "PUT" || method == "POST" || method == "PATCH") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.code);
  curl_slist_free_all(header_list);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(method, " ", url, ": ", curl_easy_strerror(rc)));
  }
  return response;
}

absl::Status HttpError(absl::string_view what, const HttpResponse& response) {
  std::string message = absl::StrCat(what, ": HTTP ", response.code, ": ", response.body);
  if (response.code == 404) return absl::NotFoundError(message);
  if (response.code == 401) return absl::UnauthenticatedError(message);
  return absl::InternalError(message);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> Registry::Create(const RegistryOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("RegistryOptions.dir is required");
  RETURN_IF_ERROR(MakeDirs(options.dir + "/storage"));
  int port = options.port;
  if (port == 0) {
    ASSIGN_OR_RETURN(port, PickFreePort());
  }
  std::string config_path = options.dir + "/config.yml";
  std::string config = absl::StrCat(
      "version: 0.1\n"
      "log:\n"
      "  level: info\n"
      "storage:\n"
      "  filesystem:\n"
      "    rootdirectory: ", options.dir, "/storage\n"
      "  delete:\n"
      "    enabled: true\n"
      "  maintenance:\n"
      "    uploadpurging:\n"
      "      enabled: false\n"
      "http:\n"
      "  addr: 127.0.0.1:", port, "\n");
  if (!options.users.empty()) {
    std::string htpasswd;
    for (const auto& [name, password] : options.users) {
      ASSIGN_OR_RETURN(std::string line, HtpasswdLine(name, password));
      htpasswd += line;
    }
    RETURN_IF_ERROR(WriteFileAtomic(options.dir + "/htpasswd", htpasswd, 0600));
    absl::StrAppend(&config, "auth:\n  htpasswd:\n    realm: sigshim-testbed\n    path: ", options.dir,
                    "/htpasswd\n");
  }
  RETURN_IF_ERROR(WriteFileAtomic(config_path, config, 0644));
  auto registry = std::unique_ptr<Registry>(
      new Registry(options, port, config_path, options.dir + "/registry.log"));
  RETURN_IF_ERROR(registry->Start());
  return registry;
}

Registry::~Registry() { (void)Stop(); }

std::string Registry::host_port() const { return absl::StrCat("127.0.0.1:", port_); }

std::string Registry::credentials() const {
  if (options_.users.empty()) return "";
  return absl::StrCat(options_.users.front().first, ":", options_.users.front().second);
}

absl::Status Registry::Start() {
  if (process_ != nullptr && process_->Running()) return absl::OkStatus();
  SubprocessOptions options;
  options.argv = {options_.binary, "serve", config_path_};
  options.log_path = log_path_;
  options.working_dir = options_.dir;
  ASSIGN_OR_RETURN(process_, Subprocess::Start(options));
  absl::Status status = process_->WaitForTcpPort(port_, options_.start_timeout);
  if (!status.ok()) {
    (void)process_->Kill();
    process_.reset();
    return status;
  }
  return absl::OkStatus();
}

absl::Status Registry::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::Status status = process_->Stop(absl::Seconds(10));
  process_.reset();
  return status;
}

absl::StatusOr<std::string> Registry::PushBlob(absl::string_view repository,
                                               absl::string_view data) const {
  std::string digest = Sha256Digest(data);
  std::string base = absl::StrCat("http://", host_port(), "/v2/", repository);
  ASSIGN_OR_RETURN(HttpResponse head, Http("HEAD", absl::StrCat(base, "/blobs/", digest), {}, "", credentials()));
  if (head.code == 200) return digest;
  ASSIGN_OR_RETURN(HttpResponse start, Http("POST", base + "/blobs/uploads/", {}, "", credentials()));
  if (start.code != 202 || start.headers["location"].empty()) {
    return HttpError(absl::StrCat("starting upload to ", repository), start);
  }
  std::string location = start.headers["location"];
  if (!absl::StartsWith(location, "http")) location = absl::StrCat("http://", host_port(), location);
  location += absl::StrContains(location, "?") ? "&" : "?";
  location += "digest=" + digest;
  ASSIGN_OR_RETURN(HttpResponse put,
                   Http("PUT", location, {"Content-Type: application/octet-stream"}, data, credentials()));
  if (put.code != 201) return HttpError(absl::StrCat("uploading blob ", digest), put);
  return digest;
}

absl::StatusOr<std::string> Registry::PushManifest(absl::string_view repository,
                                                   absl::string_view reference,
                                                   absl::string_view media_type,
                                                   absl::string_view manifest) const {
  std::string url = absl::StrCat("http://", host_port(), "/v2/", repository, "/manifests/", reference);
  ASSIGN_OR_RETURN(HttpResponse put,
                   Http("PUT", url, {absl::StrCat("Content-Type: ", media_type)}, manifest, credentials()));
  if (put.code != 201) return HttpError(absl::StrCat("pushing manifest ", repository, ":", reference), put);
  std::string digest = Sha256Digest(manifest);
  const std::string& reported = put.headers["docker-content-digest"];
  if (!reported.empty() && reported != digest) {
    return absl::DataLossError(absl::StrCat("registry says ", reported, ", manifest bytes hash to ", digest));
  }
  return digest;
}

absl::StatusOr<std::string> Registry::GetManifest(absl::string_view repository,
                                                  absl::string_view reference,
                                                  std::string* media_type) const {
  std::string url = absl::StrCat("http://", host_port(), "/v2/", repository, "/manifests/", reference);
  ASSIGN_OR_RETURN(
      HttpResponse get,
      Http("GET", url,
           {"Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.docker.distribution.manifest.list.v2+json"},
           "", credentials()));
  if (get.code != 200) return HttpError(absl::StrCat("getting manifest ", repository, ":", reference), get);
  if (media_type != nullptr) *media_type = get.headers["content-type"];
  return get.body;
}

absl::Status Registry::DeleteManifest(absl::string_view repository, absl::string_view digest) const {
  std::string url = absl::StrCat("http://", host_port(), "/v2/", repository, "/manifests/", digest);
  ASSIGN_OR_RETURN(HttpResponse del, Http("DELETE", url, {}, "", credentials()));
  if (del.code != 202) return HttpError(absl::StrCat("deleting manifest ", repository, "@", digest), del);
  return absl::OkStatus();
}

int Registry::CountRequests(absl::string_view method, absl::string_view path,
                            absl::string_view user_agent_prefix) const {
  absl::StatusOr<std::string> log = ReadFile(log_path_, 256 << 20);
  if (!log.ok()) return 0;
  // Access log lines: 127.0.0.1 - - [date] "GET /v2/…/manifests/… HTTP/1.1" 200 104 "" "<user agent>"
  const std::string request = absl::StrCat("\"", method, " ", path, " HTTP/");
  const std::string agent = absl::StrCat("\"", user_agent_prefix);
  int count = 0;
  for (absl::string_view line : absl::StrSplit(*log, '\n')) {
    if (!absl::StrContains(line, request)) continue;
    if (!user_agent_prefix.empty() && !absl::StrContains(line.substr(line.rfind(" \"") + 1), agent)) continue;
    ++count;
  }
  return count;
}

}  // namespace sigshim::testbed
