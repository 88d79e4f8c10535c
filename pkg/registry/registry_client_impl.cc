#include "pkg/registry/registry_client_impl.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/log.h"
#include "pkg/base/status_macros.h"
#include "pkg/registry/curl_transport.h"
#include "pkg/registry/url.h"

namespace sigshim::registry {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kClientId = "sigshim";
// Registry error messages are quoted up to this length.
constexpr size_t kMaxQuotedErrorBytes = 200;
// Token lifetimes are capped, so that a token server cannot make a token live for ever here.
constexpr absl::Duration kMaxTokenLifetime = absl::Hours(24);

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool IsRetryableStatus(int status) { return status == 429 || (status >= 500 && status <= 599); }

bool IsRetryableError(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kAborted;
}

// Returns true when `value` can be sent in an HTTP header as is (visible ASCII only).
bool IsHeaderSafe(absl::string_view value) {
  for (unsigned char c : value) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return !value.empty();
}

// Summarises a registry error body ({"errors":[{"code":…,"message":…}]}) as " (CODE: message)",
// or "" when the body is not one.
std::string RegistryErrorSummary(absl::string_view body) {
  Json document = Json::parse(body.begin(), body.end(), nullptr, false);
  if (document.is_discarded() || !document.is_object()) return "";
  auto errors = document.find("errors");
  if (errors == document.end() || !errors->is_array()) return "";
  std::vector<std::string> parts;
  for (size_t i = 0; i < errors->size() && i < 3; ++i) {
    const Json& error = (*errors)[i];
    if (!error.is_object()) continue;
    std::string code, message;
    auto c = error.find("code");
    if (c != error.end() && c->is_string()) code = c->get<std::string>();
    auto m = error.find("message");
    if (m != error.end() && m->is_string()) message = m->get<std::string>();
    if (code.empty() && message.empty()) continue;
    parts.push_back(absl::CHexEscape(absl::StrCat(code.substr(0, 64), code.empty() ? "" : ": ",
                                                  message.substr(0, kMaxQuotedErrorBytes))));
  }
  if (parts.empty()) return "";
  return absl::StrCat(" (", absl::StrJoin(parts, "; "), ")");
}

// Maps a final non-success response to a status; `what` names the object ("manifest a/b:v1").
absl::Status StatusFromResponse(const HttpResponse& response, absl::string_view what) {
  std::string detail = absl::StrCat(what, ": registry answered HTTP ", response.status,
                                    RegistryErrorSummary(response.body));
  switch (response.status) {
    case 404:
      return absl::NotFoundError(detail);
    case 401:
      return absl::UnauthenticatedError(detail);
    case 403:
      return absl::PermissionDeniedError(detail);
    case 400:
      return absl::InvalidArgumentError(detail);
    default:
      if (IsRetryableStatus(response.status)) return absl::UnavailableError(detail);
      return absl::FailedPreconditionError(absl::StrCat(detail, ", which was not expected"));
  }
}

// Returns a copy of `status` with every credential value in its message replaced by "<redacted>".
absl::Status Redact(const absl::Status& status, const Credentials& credentials) {
  if (status.ok()) return status;
  std::string message(status.message());
  std::vector<std::string> secrets = {credentials.password, credentials.auth, credentials.identity_token,
                                      credentials.registry_token};
  if (!credentials.username.empty() || !credentials.password.empty()) {
    secrets.push_back(Base64Encode(absl::StrCat(credentials.username, ":", credentials.password)));
  }
  bool changed = false;
  for (const std::string& secret : secrets) {
    if (secret.size() < 4) continue;  // Too short to find without mangling unrelated text.
    if (absl::StrContains(message, secret)) {
      absl::StrReplaceAll({{secret, "<redacted>"}}, &message);
      changed = true;
    }
  }
  if (!changed) return status;
  return absl::Status(status.code(), message);
}

template <typename T>
absl::StatusOr<T> Redact(absl::StatusOr<T> result, const Credentials& credentials) {
  if (result.ok()) return result;
  return Redact(result.status(), credentials);
}

// Returns the user name and password from `credentials` (username/password, else the base64
// `auth`), or nullopt when there are none. InvalidArgument when `auth` is malformed.
absl::StatusOr<std::optional<std::pair<std::string, std::string>>> BasicCredentials(const Credentials& credentials) {
  if (!credentials.username.empty() || !credentials.password.empty()) {
    return std::make_optional(std::make_pair(credentials.username, credentials.password));
  }
  if (credentials.auth.empty()) return std::optional<std::pair<std::string, std::string>>();
  absl::StatusOr<std::string> decoded = Base64Decode(credentials.auth);
  if (!decoded.ok()) return absl::InvalidArgumentError("the credentials' auth field is not valid base64");
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("the credentials' auth field does not decode to \"username:password\"");
  }
  return std::make_optional(std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1)));
}

// Returns a fingerprint of the credentials for cache keys: tokens obtained with one set of
// credentials must never be used for a request made with another.
std::string CredentialsFingerprint(const Credentials& credentials) {
  std::string material = absl::StrCat(credentials.username.size(), ":", credentials.username, "|",
                                      credentials.password.size(), ":", credentials.password, "|",
                                      credentials.auth.size(), ":", credentials.auth, "|",
                                      credentials.identity_token.size(), ":", credentials.identity_token, "|",
                                      credentials.registry_token.size(), ":", credentials.registry_token);
  return Sha256Hex(material);
}

// Parses Retry-After given in seconds; anything else (an HTTP date included) is zero.
absl::Duration RetryAfter(const HttpResponse& response) {
  std::optional<absl::string_view> value = response.headers.Get("Retry-After");
  int64_t seconds = 0;
  if (value && absl::SimpleAtoi(*value, &seconds) && seconds > 0) return absl::Seconds(seconds);
  return absl::ZeroDuration();
}

// Checks the repository part of a hand-built Reference, so that nothing unexpected reaches a URL.
absl::Status ValidateRepository(const reference::Reference& repository) {
  absl::StatusOr<reference::Reference> parsed = reference::Parse(repository.Repository());
  if (!parsed.ok() || parsed->domain != repository.domain || parsed->path != repository.path) {
    return absl::InvalidArgumentError(absl::StrCat("repository \"", absl::CHexEscape(repository.Repository().substr(0, 300)),
                                                   "\" is not a normalised repository name"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RegistryClient>> RegistryClient::Create(const RegistryClientOptions& options) {
  if (options.loopback_plain_http_memory < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("registry client: loopback_plain_http_memory must not be negative");
  }
  if (options.max_retries < 0 || options.max_redirects < 0) {
    return absl::InvalidArgumentError("registry client: max_retries and max_redirects must not be negative");
  }
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("registry client: request_timeout must be positive");
  }
  if (options.max_manifest_bytes == 0 || options.max_blob_bytes == 0 || options.max_auxiliary_bytes == 0) {
    return absl::InvalidArgumentError("registry client: size limits must be positive");
  }
  std::shared_ptr<const RegistryHosts> hosts;
  if (!options.hosts_config_path.empty()) {
    absl::StatusOr<std::shared_ptr<const RegistryHosts>> loaded =
        RegistryHosts::Load({.config_path = options.hosts_config_path});
    if (!loaded.ok()) {
      return absl::Status(absl::IsResourceExhausted(loaded.status()) ? loaded.status().code()
                                                                      : absl::StatusCode::kInvalidArgument,
                          loaded.status().message());
    }
    hosts = *std::move(loaded);
  }
  std::shared_ptr<HttpTransport> transport = options.transport;
  if (transport == nullptr) {
    CurlTransportOptions curl_options;
    curl_options.ca_file = options.ca_file;
    curl_options.connect_timeout = options.connect_timeout;
    curl_options.user_agent = options.user_agent;
    ASSIGN_OR_RETURN(transport, CurlTransport::Create(curl_options));
  }
  return std::unique_ptr<RegistryClient>(new RegistryClientImpl(options, std::move(transport), std::move(hosts)));
}

RegistryClientImpl::RegistryClientImpl(const RegistryClientOptions& options, std::shared_ptr<HttpTransport> transport,
                                       std::shared_ptr<const RegistryHosts> hosts)
    : options_(options),
      transport_(std::make_shared<CountingHttpTransport>(std::move(transport))),
      hosts_(std::move(hosts)) {}

bool RegistryClientImpl::RememberedPlainHttp(const std::string& authority) {
  absl::Time now = options_.now ? options_.now() : absl::Now();
  absl::MutexLock lock(&mu_);
  auto remembered = plain_http_loopback_.find(authority);
  if (remembered == plain_http_loopback_.end()) return false;
  if (remembered->second > now) return true;
  plain_http_loopback_.erase(remembered);
  return false;
}

absl::StatusOr<std::string> RegistryClientImpl::UrlOn(const Endpoint& endpoint, absl::string_view relative) {
  std::string url = absl::StrCat(endpoint.base_url, endpoint.api_root, "/", relative);
  if (endpoint.proxy) {
    ASSIGN_OR_RETURN(std::string ns, UrlEncode(endpoint.domain));
    absl::StrAppend(&url, "?ns=", ns);
  }
  return url;
}

std::vector<RegistryClientImpl::Endpoint> RegistryClientImpl::EndpointsFor(absl::string_view domain,
                                                                          uint32_t capabilities) {
  if (hosts_ == nullptr) return {EndpointFor(domain)};
  std::vector<Endpoint> endpoints;
  for (const HostEndpoint& host : hosts_->EndpointsFor(domain)) {
    if ((host.capabilities & capabilities) != capabilities) continue;
    Endpoint endpoint;
    endpoint.domain = std::string(domain);
    endpoint.authority = host.host;
    endpoint.api_root = host.path;
    // A defaulted endpoint is the registry itself, as without configuration: its hint for a
    // plain-HTTP answer is [registry] insecure, not a hosts.toml line.
    endpoint.configured = !host.defaulted;
    endpoint.origin = host.origin;
    endpoint.capabilities = host.capabilities;
    endpoint.mirror = !host.server;
    endpoint.tls = host.tls;
    endpoint.headers = host.headers;
    endpoint.proxy = host.host != domain && !(domain == "docker.io" && host.host == "registry-1.docker.io");
    std::string scheme = host.scheme;
    endpoint.http_fallback = host.http_fallback;
    if (host.defaulted && options_.insecure_registries.count(endpoint.domain) > 0) {
      // [registry] insecure still names registries reached over plain HTTP.
      scheme = "http";
      endpoint.http_fallback = false;
    } else if (endpoint.http_fallback && RememberedPlainHttp(endpoint.authority)) {
      scheme = "http";
      endpoint.http_fallback = false;
    }
    endpoint.insecure = scheme == "http";
    endpoint.base_url = absl::StrCat(scheme, "://", endpoint.authority);
    endpoints.push_back(std::move(endpoint));
  }
  return endpoints;
}

RegistryClientImpl::Endpoint RegistryClientImpl::EndpointFor(absl::string_view domain) {
  Endpoint endpoint;
  endpoint.domain = std::string(domain);
  endpoint.insecure = options_.insecure_registries.count(endpoint.domain) > 0;
  auto mapped = options_.endpoints.find(endpoint.domain);
  endpoint.authority = mapped == options_.endpoints.end() ? endpoint.domain : mapped->second;
  // Only a host that is loopback as written may ever be plain HTTP without configuration; the
  // memory below holds nothing else, and is not even consulted for other hosts.
  if (!endpoint.insecure && IsLoopbackHost(endpoint.authority)) {
    if (RememberedPlainHttp(endpoint.authority)) {
      endpoint.insecure = true;
    } else {
      endpoint.http_fallback = true;
    }
  }
  endpoint.base_url = absl::StrCat(endpoint.insecure ? "http" : "https", "://", endpoint.authority);
  return endpoint;
}

absl::StatusOr<std::string> RegistryClientImpl::FallBackToPlainHttp(Endpoint& endpoint, const std::string& url,
                                                                    const absl::Status& failure) {
  if (endpoint.configured && (!endpoint.http_fallback || !absl::StartsWith(url, endpoint.base_url))) {
    absl::Status status = absl::UnavailableError(absl::StrCat(
        failure.message(), "; the endpoint ", endpoint.base_url, " of registry ", endpoint.domain, " (", endpoint.origin,
        ") serves only plain HTTP: write it as http://", endpoint.authority, " in that hosts.toml"));
    status.SetPayload(kPermanentFailurePayload, absl::Cord("tls"));
    return status;
  }
  if (!endpoint.http_fallback || !absl::StartsWith(url, endpoint.base_url)) {
    absl::Status status = absl::UnavailableError(absl::StrCat(
        failure.message(), "; if registry ", endpoint.domain,
        " serves only plain HTTP, list it in [registry] insecure (insecure = [\"", endpoint.domain,
        "\"]); only localhost, 127.0.0.0/8 and [::1] fall back to plain HTTP without it"));
    status.SetPayload(kPermanentFailurePayload, absl::Cord("tls"));
    return status;
  }
  const std::string rest = url.substr(endpoint.base_url.size());
  endpoint.insecure = true;
  endpoint.http_fallback = false;
  endpoint.base_url = absl::StrCat("http://", endpoint.authority);
  if (options_.loopback_plain_http_memory > absl::ZeroDuration()) {
    absl::Time now = options_.now ? options_.now() : absl::Now();
    absl::MutexLock lock(&mu_);
    if (plain_http_loopback_.size() >= options_.max_remembered_loopback) {
      absl::erase_if(plain_http_loopback_, [now](const auto& entry) { return entry.second <= now; });
      if (plain_http_loopback_.size() >= options_.max_remembered_loopback) plain_http_loopback_.clear();
    }
    plain_http_loopback_[endpoint.authority] = now + options_.loopback_plain_http_memory;
  }
  SIGSHIM_LOG(kInfo, "registry: ", endpoint.configured ? "endpoint " : "loopback registry ", endpoint.authority,
              " answered HTTPS in plain HTTP; it is reached over plain HTTP");
  return absl::StrCat(endpoint.base_url, rest);
}

absl::StatusOr<HttpResponse> RegistryClientImpl::Exchange(const HttpRequest& request) {
  for (int attempt = 0;; ++attempt) {
    // Nothing starts once the budget is spent; the transport cuts the attempt to what is left.
    if (absl::Status within = CheckBudget(request.budget); !within.ok()) {
      return absl::Status(within.code(), absl::StrCat(RedactUrl(request.url), ": ", within.message()));
    }
    absl::StatusOr<HttpResponse> response = transport_->Do(request);
    absl::Status failure;
    absl::Duration retry_after;
    if (!response.ok()) {
      if (!IsRetryableError(response.status().code())) return response.status();
      // A timeout or abort caused by the budget is not retried.
      if (absl::Status within = CheckBudget(request.budget); !within.ok()) return response.status();
      if (IsPermanentFailure(response.status())) {
        absl::Status permanent = absl::UnavailableError(response.status().message());
        response.status().ForEachPayload(
            [&permanent](absl::string_view type, const absl::Cord& payload) { permanent.SetPayload(type, payload); });
        return permanent;
      }
      failure = response.status();
    } else if (IsRetryableStatus(response->status)) {
      failure = absl::UnavailableError(absl::StrCat(RedactUrl(request.url), ": registry answered HTTP ",
                                                    response->status, RegistryErrorSummary(response->body)));
      retry_after = RetryAfter(*response);
    } else {
      return response;
    }
    if (attempt >= options_.max_retries) {
      return absl::UnavailableError(
          absl::StrCat(failure.message(), " (gave up after ", attempt + 1, attempt == 0 ? " attempt)" : " attempts)"));
    }
    absl::Duration wait = options_.initial_backoff;
    for (int i = 0; i < attempt && wait < options_.max_backoff; ++i) wait *= 2;
    wait = std::min(std::max(wait, retry_after), options_.max_backoff);
    SIGSHIM_LOG(kDebug, "registry: retrying ", request.method, " ", RedactUrl(request.url), " in ", absl::FormatDuration(wait),
                " after: ", failure.message());
    if (request.budget != nullptr && wait >= request.budget->Remaining()) {
      return absl::DeadlineExceededError(absl::StrCat(
          failure.message(), " (", attempt + 1, attempt == 0 ? " attempt" : " attempts", "; no time left in ",
          request.budget->what(), " to wait ", absl::FormatDuration(wait), " and retry)"));
    }
    if (options_.sleep) {
      options_.sleep(wait);
    } else if (absl::Status waited = SleepWithin(request.budget, wait); !waited.ok()) {
      return absl::Status(waited.code(), absl::StrCat(failure.message(), "; then: ", waited.message()));
    }
  }
}

absl::StatusOr<HttpResponse> RegistryClientImpl::Fetch(HttpRequest request, Endpoint* endpoint) {
  std::set<std::string> visited = {request.url};
  std::string first_url = RedactUrl(request.url);
  for (int hops = 0;; ++hops) {
    absl::StatusOr<HttpResponse> exchanged = Exchange(request);
    if (!exchanged.ok() && hops == 0 && endpoint != nullptr && IsPlainHttpPeer(exchanged.status())) {
      ASSIGN_OR_RETURN(request.url, FallBackToPlainHttp(*endpoint, request.url, exchanged.status()));
      visited = {request.url};
      first_url = RedactUrl(request.url);
      exchanged = Exchange(request);
    }
    ASSIGN_OR_RETURN(HttpResponse response, std::move(exchanged));
    if (!IsRedirect(response.status)) return response;

    std::optional<absl::string_view> location = response.headers.Get("Location");
    if (!location) {
      return absl::FailedPreconditionError(absl::StrCat(RedactUrl(request.url), " answered HTTP ", response.status,
                                                        " without a Location header"));
    }
    ASSIGN_OR_RETURN(Url from, ParseUrl(request.url));
    absl::StatusOr<Url> to = ResolveLocation(from, *location);
    if (!to.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("redirect from ", RedactUrl(request.url), " is unusable: ", to.status().message()));
    }
    std::string next = to->String();
    if (from.scheme == "https" && to->scheme == "http") {
      return absl::PermissionDeniedError(absl::StrCat("refusing a redirect from https to plain http: ",
                                                      RedactUrl(request.url), " -> ", RedactUrl(next)));
    }
    if (visited.count(next) > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("redirect loop: ", RedactUrl(request.url), " -> ", RedactUrl(next), " was already visited"));
    }
    if (hops >= options_.max_redirects) {
      return absl::FailedPreconditionError(
          absl::StrCat("more than ", options_.max_redirects, " redirects starting at ", first_url));
    }
    visited.insert(next);
    if (to->scheme != from.scheme || to->authority != from.authority) {
      // Never hand the registry's authorization to another origin (blob storage, CDN).
      request.headers.Remove("Authorization");
    }
    if (response.status == 303 || (request.method == "POST" && (response.status == 301 || response.status == 302))) {
      request.method = "GET";
      request.body.clear();
      request.headers.Remove("Content-Type");
    }
    request.url = std::move(next);
  }
}

std::string RegistryClientImpl::CachedAuthorization(const std::string& key, const Credentials& credentials) {
  absl::Time now = options_.now ? options_.now() : absl::Now();
  absl::MutexLock lock(&mu_);
  auto it = auth_cache_.find(key);
  if (it == auth_cache_.end()) return "";
  if (it->second.expiry <= now) {
    auth_cache_.erase(it);
    return "";
  }
  if (it->second.basic) {
    absl::StatusOr<std::optional<std::pair<std::string, std::string>>> basic = BasicCredentials(credentials);
    if (!basic.ok() || !basic->has_value()) return "";
    return absl::StrCat("Basic ", Base64Encode(absl::StrCat((*basic)->first, ":", (*basic)->second)));
  }
  return absl::StrCat("Bearer ", it->second.bearer_token);
}

void RegistryClientImpl::StoreAuth(const std::string& key, CachedAuth auth) {
  absl::Time now = options_.now ? options_.now() : absl::Now();
  absl::MutexLock lock(&mu_);
  if (auth_cache_.size() >= options_.max_cached_tokens) {
    absl::erase_if(auth_cache_, [now](const auto& entry) { return entry.second.expiry <= now; });
    if (auth_cache_.size() >= options_.max_cached_tokens) auth_cache_.clear();
  }
  auth_cache_[key] = std::move(auth);
}

void RegistryClientImpl::ForgetAuth(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auth_cache_.erase(key);
}

absl::StatusOr<std::string> RegistryClientImpl::FetchBearerToken(const AuthChallenge& challenge,
                                                                  const std::string& scope,
                                                                  const Credentials& credentials,
                                                                  const Endpoint& endpoint, absl::string_view domain,
                                                                  absl::Duration* lifetime, const Budget* budget) {
  auto realm_param = challenge.params.find("realm");
  if (realm_param == challenge.params.end() || realm_param->second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("registry ", domain, " sent a Bearer challenge without a realm"));
  }
  absl::StatusOr<Url> realm = ParseUrl(realm_param->second);
  if (!realm.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("registry ", domain, " named an unusable token realm: ", realm.status().message()));
  }
  if (realm->scheme != "https" && !endpoint.insecure) {
    return absl::PermissionDeniedError(absl::StrCat("registry ", domain, " named the token realm ",
                                                    RedactUrl(realm->String()),
                                                    ", which is not https; refusing to fetch a token over plain HTTP"));
  }
  std::string service;
  if (auto it = challenge.params.find("service"); it != challenge.params.end()) service = it->second;
  std::string token_scope = scope;
  if (auto it = challenge.params.find("scope"); it != challenge.params.end() && !it->second.empty()) {
    token_scope = it->second;
  }

  HttpRequest request;
  request.max_response_bytes = options_.max_auxiliary_bytes;
  request.timeout = options_.request_timeout;
  request.budget = budget;
  request.tls = endpoint.tls;  // containerd fetches tokens with the endpoint's TLS settings too
  request.headers.Set("User-Agent", options_.user_agent);
  request.headers.Set("Accept", "application/json");
  ASSIGN_OR_RETURN(auto basic, BasicCredentials(credentials));
  ASSIGN_OR_RETURN(const std::string encoded_service, UrlEncode(service));
  ASSIGN_OR_RETURN(const std::string encoded_scope, UrlEncode(token_scope));
  if (!credentials.identity_token.empty()) {
    // OAuth2 refresh-token grant, as docker does with an identity token.
    request.method = "POST";
    request.url = realm->String();
    request.headers.Set("Content-Type", "application/x-www-form-urlencoded");
    ASSIGN_OR_RETURN(std::string client_id, UrlEncode(kClientId));
    ASSIGN_OR_RETURN(std::string refresh_token, UrlEncode(credentials.identity_token));
    request.body = absl::StrCat("grant_type=refresh_token&client_id=", client_id, "&refresh_token=", refresh_token);
    if (!service.empty()) absl::StrAppend(&request.body, "&service=", encoded_service);
    if (!token_scope.empty()) absl::StrAppend(&request.body, "&scope=", encoded_scope);
  } else {
    std::string query;
    if (!service.empty()) absl::StrAppend(&query, "service=", encoded_service);
    if (!token_scope.empty()) absl::StrAppend(&query, query.empty() ? "" : "&", "scope=", encoded_scope);
    request.url = realm->String();
    if (!query.empty()) {
      absl::StrAppend(&request.url, absl::StrContains(realm->path_and_query, '?') ? "&" : "?", query);
    }
    if (basic.has_value()) {
      request.headers.Set("Authorization",
                          absl::StrCat("Basic ", Base64Encode(absl::StrCat(basic->first, ":", basic->second))));
    }
  }
  SIGSHIM_LOG(kDebug, "registry: fetching a token for ", domain, " scope ", token_scope, " from ",
              RedactUrl(request.url), credentials.empty() ? " anonymously" : " with credentials");

  ASSIGN_OR_RETURN(HttpResponse response, Fetch(request));
  const std::string what = absl::StrCat("token request to ", RedactUrl(realm->String()), " for registry ", domain);
  if (response.status == 401 || response.status == 403) {
    return absl::UnauthenticatedError(absl::StrCat(
        what, ": the token server answered HTTP ", response.status,
        credentials.empty() ? " to an anonymous request; the image needs credentials"
                            : "; the credentials were rejected",
        RegistryErrorSummary(response.body)));
  }
  if (response.status != 200) {
    absl::Status status = StatusFromResponse(response, what);
    // A token server's 404 must not read as "no such manifest" to callers.
    if (absl::IsNotFound(status)) return absl::FailedPreconditionError(status.message());
    return status;
  }
  Json document = Json::parse(response.body.begin(), response.body.end(), nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the answer is not a JSON object"));
  }
  std::string token;
  for (const char* key : {"token", "access_token"}) {
    auto it = document.find(key);
    if (it != document.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      token = it->get<std::string>();
      break;
    }
  }
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": the answer has no token"));
  if (!IsHeaderSafe(token)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the token has characters not allowed in a header"));
  }
  *lifetime = options_.default_token_lifetime;
  if (auto it = document.find("expires_in"); it != document.end() && it->is_number_integer()) {
    int64_t seconds = it->get<int64_t>();
    if (seconds > 0) *lifetime = std::min(absl::Seconds(seconds), kMaxTokenLifetime);
  }
  return token;
}

absl::StatusOr<std::string> RegistryClientImpl::Authenticate(const HttpResponse& unauthorized,
                                                              const reference::Reference& repository,
                                                              const std::string& scope, const std::string& cache_key,
                                                              const Credentials& credentials,
                                                              const Endpoint& endpoint, const Budget* budget) {
  std::vector<AuthChallenge> challenges;
  for (const std::string& value : unauthorized.headers.GetAll("WWW-Authenticate")) {
    absl::StatusOr<std::vector<AuthChallenge>> parsed = ParseWwwAuthenticate(value);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("registry ", repository.domain, " sent a malformed challenge: ", parsed.status().message()));
    }
    for (AuthChallenge& challenge : *parsed) challenges.push_back(std::move(challenge));
  }
  const AuthChallenge* bearer = nullptr;
  const AuthChallenge* basic = nullptr;
  std::vector<std::string> schemes;
  for (const AuthChallenge& challenge : challenges) {
    schemes.push_back(challenge.scheme);
    if (challenge.scheme == "bearer" && bearer == nullptr) bearer = &challenge;
    if (challenge.scheme == "basic" && basic == nullptr) basic = &challenge;
  }
  absl::Time now = options_.now ? options_.now() : absl::Now();

  if (bearer != nullptr) {
    absl::Duration lifetime;
    ASSIGN_OR_RETURN(std::string token,
                     FetchBearerToken(*bearer, scope, credentials, endpoint, repository.domain, &lifetime, budget));
    CachedAuth cached;
    cached.bearer_token = token;
    cached.expiry = now + lifetime - std::min(absl::Seconds(10), lifetime / 2);
    StoreAuth(cache_key, std::move(cached));
    return absl::StrCat("Bearer ", token);
  }
  if (basic != nullptr) {
    ASSIGN_OR_RETURN(auto pair, BasicCredentials(credentials));
    if (!pair.has_value()) {
      return absl::UnauthenticatedError(absl::StrCat("registry ", repository.domain,
                                                     " requires a user name and password for ", repository.path,
                                                     " and none were given"));
    }
    if (endpoint.base_url.rfind("http://", 0) == 0) {
      SIGSHIM_LOG(kWarning, "registry: sending Basic credentials over plain HTTP to insecure registry ",
                  repository.domain);
    }
    CachedAuth cached;
    cached.basic = true;
    cached.expiry = absl::InfiniteFuture();
    StoreAuth(cache_key, std::move(cached));
    return absl::StrCat("Basic ", Base64Encode(absl::StrCat(pair->first, ":", pair->second)));
  }
  if (challenges.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("registry ", repository.domain, " answered 401 without a WWW-Authenticate challenge"));
  }
  return absl::UnauthenticatedError(absl::StrCat("registry ", repository.domain,
                                                 " asks for unsupported authentication schemes: ",
                                                 absl::CHexEscape(absl::StrJoin(schemes, ", ").substr(0, 200))));
}

absl::StatusOr<HttpResponse> RegistryClientImpl::AuthorizedGet(const reference::Reference& repository,
                                                               const std::string& relative, absl::string_view accept,
                                                               size_t max_bytes, const Credentials& credentials,
                                                               const Budget* budget, uint32_t capabilities) {
  std::vector<Endpoint> endpoints = EndpointsFor(repository.domain, capabilities);
  if (endpoints.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "registry ", repository.domain, ": no endpoint in ", hosts_->FolderFor(repository.domain),
        "/hosts.toml has the capabilities ", (capabilities & kCapabilityResolve) != 0 ? "pull and resolve" : "pull",
        " (containerd cannot pull this either)"));
  }
  if (endpoints.size() == 1) {
    return GetFromEndpoint(std::move(endpoints[0]), repository, relative, accept, max_bytes, credentials, budget);
  }
  // As containerd's resolver and fetcher: every failure passes to the next endpoint; a 404 is
  // returned only when no endpoint failed otherwise.
  std::optional<absl::StatusOr<HttpResponse>> first_failure;
  std::optional<HttpResponse> not_found;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const std::string where = absl::StrCat(endpoints[i].base_url, endpoints[i].api_root, " (", endpoints[i].origin, ")");
    absl::StatusOr<HttpResponse> response =
        GetFromEndpoint(endpoints[i], repository, relative, accept, max_bytes, credentials, budget);
    if (response.ok() && response->status >= 200 && response->status <= 299) return response;
    if (absl::Status within = CheckBudget(budget); !within.ok()) return response.ok() ? within : response.status();
    std::string what;
    if (response.ok() && response->status == 404) {
      what = "HTTP 404";
      if (!not_found.has_value()) not_found = *std::move(response);
    } else {
      what = response.ok() ? absl::StrCat("HTTP ", response->status) : std::string(response.status().message());
      if (!first_failure.has_value()) first_failure = std::move(response);
    }
    if (i + 1 < endpoints.size()) {
      SIGSHIM_LOG(kInfo, "registry: ", repository.domain, ": ", relative, " via ", where, ": ",
                  Redact(absl::UnknownError(what), credentials).message(), "; trying the next endpoint, ",
                  endpoints[i + 1].base_url, endpoints[i + 1].api_root);
    }
  }
  if (first_failure.has_value()) return *std::move(first_failure);
  return *std::move(not_found);
}

absl::StatusOr<HttpResponse> RegistryClientImpl::GetFromEndpoint(Endpoint endpoint,
                                                                 const reference::Reference& repository,
                                                                 const std::string& relative, absl::string_view accept,
                                                                 size_t max_bytes, const Credentials& registry_credentials,
                                                                 const Budget* budget) {
  // The credentials kubelet gave are for the image's registry: a mirror named in hosts.toml
  // never gets them (it is asked anonymously; when it refuses, the next endpoint, in the end the
  // registry itself, is tried).
  static const Credentials kAnonymous;
  const Credentials& credentials = endpoint.mirror ? kAnonymous : registry_credentials;
  const std::string scope = absl::StrCat("repository:", repository.path, ":pull");
  // Authorizations belong to the host that granted them: a mirror's token never goes upstream.
  const std::string cache_key =
      absl::StrCat(endpoint.authority, "\n", scope, "\n", CredentialsFingerprint(credentials));

  HttpRequest request;
  ASSIGN_OR_RETURN(request.url, UrlOn(endpoint, relative));
  request.max_response_bytes = max_bytes;
  request.timeout = options_.request_timeout;
  request.budget = budget;
  request.tls = endpoint.tls;
  for (const auto& [name, value] : endpoint.headers) request.headers.Add(name, value);
  request.headers.Set("User-Agent", options_.user_agent);
  if (!accept.empty()) request.headers.Set("Accept", accept);
  std::string authorization;
  const bool has_registry_token = !credentials.registry_token.empty();
  if (has_registry_token) {
    if (!IsHeaderSafe(credentials.registry_token)) {
      return absl::InvalidArgumentError("the registry token has characters not allowed in an HTTP header");
    }
    authorization = absl::StrCat("Bearer ", credentials.registry_token);
  } else {
    authorization = CachedAuthorization(cache_key, credentials);
  }
  const bool preemptive = !authorization.empty();
  if (preemptive) request.headers.Set("Authorization", authorization);

  ASSIGN_OR_RETURN(HttpResponse response, Fetch(request, &endpoint));
  if (response.status != 401) return response;
  ASSIGN_OR_RETURN(request.url, UrlOn(endpoint, relative));  // Plain HTTP when the endpoint has just fallen back.
  if (has_registry_token) {
    return absl::UnauthenticatedError(absl::StrCat("registry ", repository.domain,
                                                   " rejected the registry token for ", repository.path));
  }
  if (preemptive) ForgetAuth(cache_key);  // Revoked or expired early: start over once.

  ASSIGN_OR_RETURN(authorization, Authenticate(response, repository, scope, cache_key, credentials, endpoint, budget));
  request.headers.Set("Authorization", authorization);
  ASSIGN_OR_RETURN(response, Fetch(request, &endpoint));
  if (response.status == 401) {
    ForgetAuth(cache_key);
    return absl::UnauthenticatedError(absl::StrCat(
        "registry ", repository.domain, " refused access to ", repository.path,
        credentials.empty() ? " without credentials; the pull needs credentials" : " with the credentials given",
        RegistryErrorSummary(response.body)));
  }
  return response;
}

absl::StatusOr<FetchedManifest> RegistryClientImpl::GetManifestImpl(const reference::Reference& repository,
                                                                    absl::string_view tag_or_digest,
                                                                    const Credentials& credentials,
                                                                    const Budget* budget) {
  RETURN_IF_ERROR(ValidateRepository(repository));
  const bool by_digest = absl::StrContains(tag_or_digest, ':');
  if (by_digest) {
    RETURN_IF_ERROR(ValidateDigest(tag_or_digest));
  } else {
    RETURN_IF_ERROR(reference::ValidateTag(tag_or_digest));
  }
  const std::string what = absl::StrCat("manifest ", repository.Repository(), by_digest ? "@" : ":", tag_or_digest);
  const std::string relative = absl::StrCat(repository.path, "/manifests/", tag_or_digest);

  // A tag is resolved only through endpoints that may resolve, as containerd does.
  absl::StatusOr<HttpResponse> response =
      AuthorizedGet(repository, relative, kManifestAcceptHeader, options_.max_manifest_bytes, credentials, budget,
                    by_digest ? kCapabilityPull : kCapabilityPull | kCapabilityResolve);
  if (!response.ok()) {
    if (absl::IsResourceExhausted(response.status())) {
      return absl::ResourceExhaustedError(absl::StrCat(what, " is larger than the limit of ",
                                                       options_.max_manifest_bytes, " bytes"));
    }
    return absl::Status(response.status().code(), absl::StrCat(what, ": ", response.status().message()));
  }
  if (response->status != 200) return StatusFromResponse(*response, what);
  if (response->body.size() > options_.max_manifest_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, " is larger than the limit of ", options_.max_manifest_bytes, " bytes"));
  }
  if (std::optional<absl::string_view> length = response->headers.Get("Content-Length")) {
    uint64_t declared = 0;
    if (absl::SimpleAtoi(*length, &declared) && declared != response->body.size()) {
      return absl::DataLossError(absl::StrCat(what, ": received ", response->body.size(),
                                              " bytes but Content-Length says ", declared, " (truncated?)"));
    }
  }

  FetchedManifest fetched;
  fetched.bytes = std::move(response->body);
  fetched.digest = Sha256Digest(fetched.bytes);
  if (by_digest && fetched.digest != tag_or_digest) {
    return absl::DataLossError(absl::StrCat(what, ": the registry served bytes whose digest is ", fetched.digest));
  }
  if (std::optional<absl::string_view> header = response->headers.Get("Docker-Content-Digest")) {
    if (absl::StartsWith(*header, "sha256:") && *header != fetched.digest) {
      return absl::DataLossError(absl::StrCat(what, ": the registry's Docker-Content-Digest \"",
                                              absl::CHexEscape(header->substr(0, 80)),
                                              "\" does not match the digest of the bytes served, ", fetched.digest));
    }
  }
  absl::string_view content_type = response->headers.Get("Content-Type").value_or("");
  absl::StatusOr<Manifest> manifest = ParseManifest(fetched.bytes, content_type);
  if (!manifest.ok()) {
    return absl::Status(manifest.status().code(), absl::StrCat(what, " (", fetched.digest, "): ", manifest.status().message()));
  }
  fetched.media_type = manifest->media_type;
  fetched.manifest = std::move(*manifest);
  SIGSHIM_LOG(kDebug, "registry: ", what, " is ", fetched.digest, " (", fetched.media_type, ")");
  return fetched;
}

absl::StatusOr<FetchedManifest> RegistryClientImpl::GetReferrersImpl(const reference::Reference& repository,
                                                                     absl::string_view digest,
                                                                     const Credentials& credentials,
                                                                     const Budget* budget) {
  RETURN_IF_ERROR(ValidateRepository(repository));
  RETURN_IF_ERROR(ValidateDigest(digest));
  const std::string what = absl::StrCat("referrers of ", repository.Repository(), "@", digest);
  const std::string relative = absl::StrCat(repository.path, "/referrers/", digest);
  absl::StatusOr<HttpResponse> response =
      AuthorizedGet(repository, relative, kMediaTypeOciIndex, options_.max_manifest_bytes, credentials, budget,
                    kCapabilityPull);
  if (!response.ok()) {
    if (absl::IsResourceExhausted(response.status())) {
      return absl::ResourceExhaustedError(absl::StrCat(what, " is larger than the limit of ",
                                                       options_.max_manifest_bytes, " bytes"));
    }
    return absl::Status(response.status().code(), absl::StrCat(what, ": ", response.status().message()));
  }
  if (response->status == 404 || response->status == 400 || response->status == 405) {
    return absl::UnimplementedError(absl::StrCat(what, ": the registry does not implement the referrers API (HTTP ",
                                                 response->status, ")"));
  }
  if (response->status != 200) return StatusFromResponse(*response, what);
  if (response->body.size() > options_.max_manifest_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, " is larger than the limit of ", options_.max_manifest_bytes, " bytes"));
  }
  absl::string_view content_type = response->headers.Get("Content-Type").value_or("");
  absl::StatusOr<Manifest> index = ParseManifest(response->body, content_type);
  if (!index.ok() || !index->IsIndex()) {
    return absl::UnimplementedError(absl::StrCat(what, ": the answer is not an image index, so the registry does not "
                                                 "implement the referrers API"));
  }
  FetchedManifest fetched;
  fetched.bytes = std::move(response->body);
  fetched.digest = Sha256Digest(fetched.bytes);
  fetched.media_type = index->media_type;
  fetched.manifest = *std::move(index);
  return fetched;
}

absl::StatusOr<std::string> RegistryClientImpl::GetBlobImpl(const reference::Reference& repository,
                                                            absl::string_view digest, size_t max_bytes,
                                                            const Credentials& credentials, const Budget* budget) {
  RETURN_IF_ERROR(ValidateRepository(repository));
  RETURN_IF_ERROR(ValidateDigest(digest));
  max_bytes = std::min(max_bytes, options_.max_blob_bytes);
  const std::string what = absl::StrCat("blob ", repository.Repository(), "@", digest);
  const std::string relative = absl::StrCat(repository.path, "/blobs/", digest);
  absl::StatusOr<HttpResponse> response =
      AuthorizedGet(repository, relative, "", max_bytes, credentials, budget, kCapabilityPull);
  if (!response.ok()) {
    if (absl::IsResourceExhausted(response.status())) {
      return absl::ResourceExhaustedError(absl::StrCat(what, " is larger than the limit of ", max_bytes, " bytes"));
    }
    return absl::Status(response.status().code(), absl::StrCat(what, ": ", response.status().message()));
  }
  if (response->status != 200) return StatusFromResponse(*response, what);
  if (response->body.size() > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(what, " is larger than the limit of ", max_bytes, " bytes"));
  }
  absl::Status matches = CheckDigest(response->body, digest);
  if (!matches.ok()) return absl::DataLossError(absl::StrCat(what, ": ", matches.message()));
  return std::move(response->body);
}

absl::StatusOr<std::string> GetDescriptorBlob(RegistryClient& client, const reference::Reference& repository,
                                              const Descriptor& descriptor, size_t max_bytes,
                                              const Credentials& credentials, const Budget* budget) {
  const std::string what = absl::StrCat("blob ", repository.Repository(), "@", descriptor.digest);
  if (descriptor.size < 0 || static_cast<uint64_t>(descriptor.size) > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": its descriptor says ", descriptor.size, " bytes, the limit is ", max_bytes));
  }
  absl::StatusOr<std::string> blob =
      client.GetBlob(repository, descriptor.digest, static_cast<size_t>(descriptor.size), credentials, budget);
  if (absl::IsResourceExhausted(blob.status())) {
    return absl::DataLossError(
        absl::StrCat(what, ": the registry sent more than the ", descriptor.size, " bytes its descriptor says"));
  }
  if (!blob.ok()) return blob.status();
  absl::Status matches = CheckDescriptorContent(descriptor, *blob);
  if (!matches.ok()) return absl::DataLossError(absl::StrCat(what, ": ", matches.message()));
  return blob;
}

absl::StatusOr<FetchedManifest> RegistryClientImpl::Resolve(const reference::Reference& ref,
                                                            const Credentials& credentials, const Budget* budget) {
  std::string tag_or_digest = !ref.digest.empty() ? ref.digest : ref.WithDefaultTag().tag;
  return Redact(GetManifestImpl(ref, tag_or_digest, credentials, budget), credentials);
}

absl::StatusOr<FetchedManifest> RegistryClientImpl::GetManifest(const reference::Reference& repository,
                                                                absl::string_view tag_or_digest,
                                                                const Credentials& credentials, const Budget* budget) {
  return Redact(GetManifestImpl(repository, tag_or_digest, credentials, budget), credentials);
}

absl::StatusOr<FetchedManifest> RegistryClientImpl::GetReferrers(const reference::Reference& repository,
                                                                 absl::string_view digest,
                                                                 const Credentials& credentials, const Budget* budget) {
  return Redact(GetReferrersImpl(repository, digest, credentials, budget), credentials);
}

absl::StatusOr<std::string> RegistryClientImpl::GetBlob(const reference::Reference& repository,
                                                        absl::string_view digest, size_t max_bytes,
                                                        const Credentials& credentials, const Budget* budget) {
  return Redact(GetBlobImpl(repository, digest, max_bytes, credentials, budget), credentials);
}

}  // namespace sigshim::registry
