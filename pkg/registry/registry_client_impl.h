// The RegistryClient implementation over an HttpTransport. Internal to pkg/registry: callers use
// RegistryClient::Create.
#ifndef SIGSHIM_PKG_REGISTRY_REGISTRY_CLIENT_IMPL_H_
#define SIGSHIM_PKG_REGISTRY_REGISTRY_CLIENT_IMPL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pkg/registry/auth_challenge.h"
#include "pkg/registry/hosts.h"
#include "pkg/registry/registry_client.h"

namespace sigshim::registry {

class RegistryClientImpl : public RegistryClient {
 public:
  // `transport` must not be null; options are validated by RegistryClient::Create. `hosts` is
  // null without options.hosts_config_path.
  RegistryClientImpl(const RegistryClientOptions& options, std::shared_ptr<HttpTransport> transport,
                     std::shared_ptr<const RegistryHosts> hosts);

  absl::StatusOr<FetchedManifest> Resolve(const reference::Reference& ref, const Credentials& credentials,
                                          const Budget* budget) override;
  absl::StatusOr<FetchedManifest> GetManifest(const reference::Reference& repository, absl::string_view tag_or_digest,
                                              const Credentials& credentials, const Budget* budget) override;
  absl::StatusOr<std::string> GetBlob(const reference::Reference& repository, absl::string_view digest,
                                      size_t max_bytes, const Credentials& credentials, const Budget* budget) override;
  absl::StatusOr<FetchedManifest> GetReferrers(const reference::Reference& repository, absl::string_view digest,
                                               const Credentials& credentials, const Budget* budget) override;
  uint64_t RequestCount() const override { return transport_->requests(); }

 private:
  // One place a registry is reached.
  struct Endpoint {
    std::string domain;     // the reference domain, "docker.io"
    std::string authority;  // the host (and port) contacted, "registry-1.docker.io"
    std::string base_url;   // "https://registry-1.docker.io"
    std::string api_root = "/v2";  // the path requests start with (hosts.toml may give another)
    // Plain HTTP, its token realm included: listed in insecure_registries, an http:// hosts.toml
    // endpoint, or one that answered HTTPS in plain HTTP and may fall back (http_fallback).
    bool insecure = false;
    // HTTPS to a host that may answer in plain HTTP: if it does, the endpoint becomes plain HTTP.
    // Only a loopback registry, or a hosts.toml endpoint containerd treats so (HostEndpoint).
    bool http_fallback = false;
    // Listed in a hosts.toml of hosts_config_path (not defaulted); `origin` names where
    // ("<file>:<line>", or "default"), `capabilities` its kCapability* bits.
    bool configured = false;
    std::string origin;
    uint32_t capabilities = 0;
    // Requests carry ?ns=<domain>, as containerd's do to an endpoint that is not the registry.
    bool proxy = false;
    // A [host."…"] mirror of hosts_config_path (not the registry itself, HostEndpoint::server):
    // asked without the pull credentials, which are the registry's.
    bool mirror = false;
    std::shared_ptr<const TlsSettings> tls;                   // null: the transport's own
    std::vector<std::pair<std::string, std::string>> headers;  // hosts.toml header; never logged
  };

  // An authorization remembered for one (registry, scope, credentials).
  struct CachedAuth {
    bool basic = false;        // send Basic from the credentials
    std::string bearer_token;  // else this Bearer token
    absl::Time expiry;
  };

  // Returns where `domain` is reached now without hosts_config_path: plain HTTP when it is listed
  // as insecure or is a loopback registry remembered as plain HTTP, else HTTPS.
  Endpoint EndpointFor(absl::string_view domain);

  // Returns the endpoints of `domain` that have every bit of `capabilities`, in the order they
  // are tried: from hosts_ when set, else EndpointFor alone.
  std::vector<Endpoint> EndpointsFor(absl::string_view domain, uint32_t capabilities);

  // Returns true (and forgets expired entries) when `authority` is remembered as plain HTTP.
  bool RememberedPlainHttp(const std::string& authority);

  // Returns the URL of `relative` ("<repository>/manifests/<ref>") on `endpoint`; an error only
  // when libcurl cannot percent-encode the mirror's ns parameter (out of memory).
  static absl::StatusOr<std::string> UrlOn(const Endpoint& endpoint, absl::string_view relative);

  // Handles `failure`, a plain-HTTP answer to the TLS handshake of `url` on `endpoint`. For an
  // endpoint that may fall back: remembers it as plain HTTP, switches `endpoint` to it and returns
  // `url` on plain HTTP. For any other: returns Unavailable saying so and naming the setting to
  // change ([registry] insecure, or the hosts.toml that lists the endpoint).
  absl::StatusOr<std::string> FallBackToPlainHttp(Endpoint& endpoint, const std::string& url,
                                                  const absl::Status& failure);

  absl::StatusOr<FetchedManifest> GetManifestImpl(const reference::Reference& repository,
                                                  absl::string_view tag_or_digest, const Credentials& credentials,
                                                  const Budget* budget);
  absl::StatusOr<FetchedManifest> GetReferrersImpl(const reference::Reference& repository, absl::string_view digest,
                                                   const Credentials& credentials, const Budget* budget);
  absl::StatusOr<std::string> GetBlobImpl(const reference::Reference& repository, absl::string_view digest,
                                          size_t max_bytes, const Credentials& credentials, const Budget* budget);

  // Performs one exchange, retrying 429, 5xx and transport failures with backoff; after the last
  // attempt those are Unavailable. request.budget bounds it all: each attempt's timeout and each
  // wait are cut to what is left, and nothing starts once it is spent.
  absl::StatusOr<HttpResponse> Exchange(const HttpRequest& request);

  // Performs `request` through Exchange, following redirects up to the limit; refuses loops and
  // https→http, drops Authorization when the redirect leaves the origin. When `endpoint` is not
  // null, request.url is on it, and a plain-HTTP answer to that first URL's TLS handshake goes
  // through FallBackToPlainHttp (which may change `endpoint`); redirect targets never fall back.
  absl::StatusOr<HttpResponse> Fetch(HttpRequest request, Endpoint* endpoint = nullptr);

  // GETs `relative` ("<repository>/manifests/<ref>") of `repository`'s registry through its
  // endpoints that have `capabilities`, in order, passing to the next one as
  // RegistryClientOptions::hosts_config_path says. Returns the first 2xx response; when every
  // endpoint fails, the first failure that was not a 404 (a response or an error), else the 404.
  absl::StatusOr<HttpResponse> AuthorizedGet(const reference::Reference& repository, const std::string& relative,
                                             absl::string_view accept, size_t max_bytes,
                                             const Credentials& credentials, const Budget* budget,
                                             uint32_t capabilities);

  // GETs `relative` on `endpoint` with `accept`, authenticating as needed (anonymous first, then
  // the challenge's scheme) and caching the result per endpoint host. Returns the final response
  // whatever its status, except 401 which is Unauthenticated.
  absl::StatusOr<HttpResponse> GetFromEndpoint(Endpoint endpoint, const reference::Reference& repository,
                                               const std::string& relative, absl::string_view accept,
                                               size_t max_bytes, const Credentials& credentials,
                                               const Budget* budget);

  // Answers a 401: picks a challenge, obtains the authorization, caches it under `cache_key`
  // and returns the Authorization header value.
  absl::StatusOr<std::string> Authenticate(const HttpResponse& unauthorized, const reference::Reference& repository,
                                           const std::string& scope, const std::string& cache_key,
                                           const Credentials& credentials, const Endpoint& endpoint,
                                           const Budget* budget);

  // Gets a token from the realm of a Bearer challenge; stores its lifetime in `lifetime`.
  absl::StatusOr<std::string> FetchBearerToken(const AuthChallenge& challenge, const std::string& scope,
                                               const Credentials& credentials, const Endpoint& endpoint,
                                               absl::string_view domain, absl::Duration* lifetime,
                                               const Budget* budget);

  // Returns the cached Authorization header value for `key`, or "" when none is valid.
  std::string CachedAuthorization(const std::string& key, const Credentials& credentials);
  void StoreAuth(const std::string& key, CachedAuth auth);
  void ForgetAuth(const std::string& key);

  const RegistryClientOptions options_;
  const std::shared_ptr<CountingHttpTransport> transport_;
  // The host configuration read from options_.hosts_config_path; null without one.
  const std::shared_ptr<const RegistryHosts> hosts_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, CachedAuth> auth_cache_ ABSL_GUARDED_BY(mu_);
  // Authorities allowed to fall back (Endpoint::http_fallback: loopback ones, or hosts.toml
  // endpoints containerd lets fall back) found to serve plain HTTP → until when that holds.
  absl::flat_hash_map<std::string, absl::Time> plain_http_loopback_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_REGISTRY_CLIENT_IMPL_H_
