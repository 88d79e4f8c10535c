#include "test/fakes/fake_registry.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/registry/manifest.h"

namespace sigshim::fakes {
namespace {

using registry::HttpHeaders;
using registry::HttpRequest;
using registry::HttpResponse;

HttpResponse ErrorResponse(int status, absl::string_view code, absl::string_view message) {
  HttpHeaders headers;
  headers.Add("Content-Type", "application/json");
  return FakeHttpTransport::Response(
      status, absl::StrCat(R"({"errors":[{"code":")", code, R"(","message":")", message, R"("}]})"), headers);
}

// Returns the value of `name` in an application/x-www-form-urlencoded body or a query string
// (no percent-decoding: the fake's values are plain).
std::string FormValue(absl::string_view form, absl::string_view name) {
  for (absl::string_view pair : absl::StrSplit(form, '&')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.first == name) return std::string(kv.second);
  }
  return "";
}

}  // namespace

FakeRegistry::FakeRegistry(std::string host, std::string scheme)
    : host_(std::move(host)), scheme_(std::move(scheme)), transport_(std::make_shared<FakeHttpTransport>()) {
  transport_->SetFallback([this](const HttpRequest& request) { return Serve(request); });
}

std::string FakeRegistry::PutManifest(const std::string& name, const std::string& tag, const std::string& bytes,
                                      const std::string& media_type) {
  std::string digest = Sha256Digest(bytes);
  absl::MutexLock lock(&mu_);
  manifests_[name][digest] = Blob{bytes, media_type.empty() ? std::string(registry::kMediaTypeOciManifest) : media_type};
  if (!tag.empty()) tags_[name][tag] = digest;
  return digest;
}

std::string FakeRegistry::PutBlob(const std::string& name, const std::string& bytes) {
  std::string digest = Sha256Digest(bytes);
  absl::MutexLock lock(&mu_);
  blobs_[name][digest] = bytes;
  return digest;
}

void FakeRegistry::RequireBasic(const std::string& username, const std::string& password) {
  absl::MutexLock lock(&mu_);
  auth_ = Auth::kBasic;
  username_ = username;
  password_ = password;
}

void FakeRegistry::RequireBearer(const std::string& username, const std::string& password,
                                 const std::string& refresh_token, int expires_in) {
  absl::MutexLock lock(&mu_);
  auth_ = Auth::kBearer;
  username_ = username;
  password_ = password;
  refresh_token_ = refresh_token;
  expires_in_ = expires_in;
}

void FakeRegistry::RevokeTokens() {
  absl::MutexLock lock(&mu_);
  valid_tokens_.clear();
}

int FakeRegistry::tokens_issued() const {
  absl::MutexLock lock(&mu_);
  return tokens_issued_;
}

bool FakeRegistry::Authorized(const HttpRequest& request) const {
  std::optional<absl::string_view> header = request.headers.Get("Authorization");
  switch (auth_) {
    case Auth::kNone:
      return true;
    case Auth::kBasic:
      return header && *header == absl::StrCat("Basic ", Base64Encode(absl::StrCat(username_, ":", password_)));
    case Auth::kBearer:
      return header && absl::StartsWith(*header, "Bearer ") &&
             valid_tokens_.count(std::string(header->substr(7))) > 0;
  }
  return false;
}

HttpResponse FakeRegistry::ServeToken(const HttpRequest& request) {
  absl::MutexLock lock(&mu_);
  absl::string_view url = request.url;
  absl::string_view query = url.find('?') == absl::string_view::npos ? "" : url.substr(url.find('?') + 1);
  bool allowed = false;
  std::string scope;
  if (request.method == "POST") {
    allowed = FormValue(request.body, "grant_type") == "refresh_token" && !refresh_token_.empty() &&
              FormValue(request.body, "refresh_token") == refresh_token_;
    scope = FormValue(request.body, "scope");
  } else {
    std::optional<absl::string_view> header = request.headers.Get("Authorization");
    allowed = username_.empty() ||
              (header && *header == absl::StrCat("Basic ", Base64Encode(absl::StrCat(username_, ":", password_))));
    scope = FormValue(query, "scope");
  }
  if (!allowed) return ErrorResponse(401, "UNAUTHORIZED", "bad credentials");
  std::string token = absl::StrCat("token-", ++tokens_issued_);
  valid_tokens_[token] = scope;
  HttpHeaders headers;
  headers.Add("Content-Type", "application/json");
  return FakeHttpTransport::Response(
      200, absl::StrCat(R"({"token":")", token, R"(","expires_in":)", expires_in_, "}"), headers);
}

absl::StatusOr<HttpResponse> FakeRegistry::Serve(const HttpRequest& request) {
  const std::string auth_prefix = absl::StrCat("https://auth.", host_, "/token");
  if (absl::StartsWith(request.url, auth_prefix)) return ServeToken(request);

  const std::string prefix = absl::StrCat(scheme_, "://", host_, "/v2/");
  if (!absl::StartsWith(request.url, prefix)) return FakeHttpTransport::Response(404);
  std::string path = request.url.substr(prefix.size());
  path = path.substr(0, path.find('?'));

  absl::MutexLock lock(&mu_);
  if (!Authorized(request)) {
    HttpHeaders headers;
    if (auth_ == Auth::kBasic) {
      headers.Add("WWW-Authenticate", R"(Basic realm="fake-registry")");
    } else {
      size_t kind = path.rfind("/manifests/") != std::string::npos ? path.rfind("/manifests/") : path.rfind("/blobs/");
      std::string name = kind == std::string::npos ? "" : path.substr(0, kind);
      headers.Add("WWW-Authenticate",
                  absl::StrCat(R"(Bearer realm=")", "https://auth.", host_, "/token",
                               R"(",service="fake-registry",scope="repository:)", name, R"(:pull")"));
    }
    HttpResponse response = ErrorResponse(401, "UNAUTHORIZED", "authentication required");
    for (const auto& [name, value] : headers.fields()) response.headers.Add(name, value);
    return response;
  }
  if (path.empty()) return FakeHttpTransport::Response(200, "{}");

  HttpHeaders headers;
  if (size_t at = path.rfind("/manifests/"); at != std::string::npos) {
    std::string name = path.substr(0, at);
    std::string ref = path.substr(at + 11);
    if (manifests_.count(name) == 0 && tags_.count(name) == 0) {
      return ErrorResponse(404, "NAME_UNKNOWN", "repository name not known to registry");
    }
    std::string digest = ref;
    if (!absl::StrContains(ref, ':')) {
      auto tag = tags_[name].find(ref);
      if (tag == tags_[name].end()) return ErrorResponse(404, "MANIFEST_UNKNOWN", "manifest unknown");
      digest = tag->second;
    }
    auto manifest = manifests_[name].find(digest);
    if (manifest == manifests_[name].end()) return ErrorResponse(404, "MANIFEST_UNKNOWN", "manifest unknown");
    headers.Add("Content-Type", manifest->second.media_type);
    headers.Add("Content-Length", absl::StrCat(manifest->second.bytes.size()));
    headers.Add("Docker-Content-Digest", digest);
    return FakeHttpTransport::Response(200, request.method == "HEAD" ? "" : manifest->second.bytes, headers);
  }
  if (size_t at = path.rfind("/blobs/"); at != std::string::npos) {
    std::string name = path.substr(0, at);
    std::string digest = path.substr(at + 7);
    auto blob = blobs_[name].find(digest);
    if (blob == blobs_[name].end()) return ErrorResponse(404, "BLOB_UNKNOWN", "blob unknown to registry");
    headers.Add("Content-Type", "application/octet-stream");
    headers.Add("Docker-Content-Digest", digest);
    return FakeHttpTransport::Response(200, request.method == "HEAD" ? "" : blob->second, headers);
  }
  return ErrorResponse(404, "NOT_FOUND", "unknown path");
}

}  // namespace sigshim::fakes
