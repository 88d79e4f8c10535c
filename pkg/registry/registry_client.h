// A client for the OCI distribution (v2) API: resolve a tag to a manifest digest computed from the
// bytes, fetch manifests and blobs checked against their digests, authenticate like docker does.
#ifndef SIGSHIM_PKG_REGISTRY_REGISTRY_CLIENT_H_
#define SIGSHIM_PKG_REGISTRY_REGISTRY_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/reference/reference.h"
#include "pkg/registry/http_transport.h"
#include "pkg/registry/manifest.h"

namespace sigshim::registry {

// Registry credentials as kubelet passes them in the CRI AuthConfig. All fields are secrets
// except `username`; none is ever logged or put in an error message. Empty fields are unset.
struct Credentials {
  std::string username;
  std::string password;
  std::string auth;            // base64 "username:password", used when username/password are empty
  std::string identity_token;  // OAuth2 refresh token, exchanged at the token realm
  std::string registry_token;  // a bearer token sent to the registry as is

  // Returns true when no field is set (anonymous access).
  bool empty() const {
    return username.empty() && password.empty() && auth.empty() && identity_token.empty() &&
           registry_token.empty();
  }
};

// A manifest as fetched: its exact bytes, the digest computed locally from them, and the parse.
struct FetchedManifest {
  std::string digest;      // "sha256:<hex>" of `bytes`, computed here, never taken from a header
  std::string media_type;  // the effective media type (see Manifest::media_type)
  std::string bytes;       // the bytes as served
  Manifest manifest;       // `bytes` parsed
};

struct RegistryClientOptions {
  // The HTTP transport; shared so that tests can keep a handle on a fake. Default null: a
  // CurlTransport built from ca_file and connect_timeout.
  std::shared_ptr<HttpTransport> transport;
  // PEM bundle of extra CAs for the default transport; "" for the system CAs only. Default "".
  std::string ca_file;
  // Connection limit for the default transport. Default 10s.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Limit for one HTTP exchange, connection included. Default 30s.
  absl::Duration request_timeout = absl::Seconds(30);
  // Largest manifest accepted; a larger one is ResourceExhausted. Default 4 MiB.
  size_t max_manifest_bytes = 4 << 20;
  // Largest blob GetBlob ever reads; a larger per-call max_bytes is lowered to it (signature
  // payloads are small). Default 1 MiB.
  size_t max_blob_bytes = 1 << 20;
  // Largest token-server or error response read. Default 1 MiB.
  size_t max_auxiliary_bytes = 1 << 20;
  // Retries after a 429, a 5xx or a transport failure (so max_retries + 1 attempts per request).
  // Default 3.
  int max_retries = 3;
  // Wait before the first retry; doubles on each retry up to max_backoff. A Retry-After header
  // (in seconds) is honoured up to max_backoff. Default 500ms.
  absl::Duration initial_backoff = absl::Milliseconds(500);
  // Longest wait between two attempts. Default 10s.
  absl::Duration max_backoff = absl::Seconds(10);
  // Redirects followed per request; more is FailedPrecondition. Default 5.
  int max_redirects = 5;
  // Registries (reference domains, "host" or "host:port") reached over plain HTTP, their token
  // realm included. All others use HTTPS, except that a loopback registry (its host written as
  // "localhost", an address in 127.0.0.0/8 or [::1]; see IsLoopbackHost) whose server answers the
  // TLS handshake in plain HTTP is then reached over plain HTTP as if listed here. Any other host
  // never falls back. Default none.
  std::set<std::string> insecure_registries;
  // How long a loopback registry found to serve plain HTTP is remembered so (its later requests
  // skip the failed handshake); after that its next request tries HTTPS first again. Zero: never
  // remembered. Default 10 min.
  absl::Duration loopback_plain_http_memory = absl::Minutes(10);
  // Loopback registries remembered at once; when full, the expired ones are forgotten, then all.
  // Default 256.
  size_t max_remembered_loopback = 256;
  // containerd's registry host configuration (its CRI `config_path`: one folder, or several
  // separated by ':'; see hosts.h), read once by Create. When set, a registry is reached through
  // the endpoints its hosts.toml lists, in order, as containerd pulls: a tag is resolved through
  // those that may resolve and pull, content by digest fetched through those that may pull; an
  // endpoint that cannot be reached, fails, or answers an HTTP error (404 included) passes the
  // request to the next, and when all fail the first error that was not a 404 is returned (else
  // NotFound). Credentials are sent to every endpoint, as containerd does. `endpoints` is not
  // used; insecure_registries still makes a registry's own (defaulted) endpoint plain HTTP.
  // Default "": every registry is reached directly, as described above.
  std::string hosts_config_path;
  // Reference domain → the host (and port) actually contacted. Default docker.io →
  // registry-1.docker.io.
  std::map<std::string, std::string> endpoints = {{"docker.io", "registry-1.docker.io"}};
  // Waits between retries; injected so tests never sleep. Default null: absl::SleepFor.
  std::function<void(absl::Duration)> sleep;
  // The clock for token expiry. Default null: absl::Now.
  std::function<absl::Time()> now;
  // Token lifetime assumed when the token server gives none (docker's default). Default 60s.
  absl::Duration default_token_lifetime = absl::Seconds(60);
  // Bearer tokens kept in the cache (per registry, scope and credentials). Default 1024.
  size_t max_cached_tokens = 1024;
  // Sent as User-Agent. Default "sigshim".
  std::string user_agent = "sigshim";
};

// Thread-safe; one client serves the whole daemon. Errors, for every call:
//   NotFound          the registry has no such repository, tag, manifest or blob (404);
//   Unavailable       the registry could not be reached, timed out, or answered 429/5xx on every
//                     attempt (the daemon reports "RegistryUnavailable"); a registry that is not
//                     loopback and answers HTTPS in plain HTTP is this at once, with a message
//                     that says so and names [registry] insecure;
//   Unauthenticated   credentials were needed but missing, or were rejected (401);
//   PermissionDenied  access refused (403), an https→http redirect, or a plain-HTTP token realm
//                     for an HTTPS registry (a loopback registry reached over plain HTTP counts
//                     as a plain-HTTP registry);
//   DataLoss          content that does not match its digest or declared length;
//   InvalidArgument   a manifest of the wrong shape or type, a malformed challenge or token answer;
//   ResourceExhausted a response larger than its limit;
//   FailedPrecondition a redirect loop, too many redirects, or another unexpected status.
//   DeadlineExceeded  the call's budget ran out (the whole call: every request, retry and wait);
//   Cancelled         the call's budget was abandoned (nobody waits for the answer).
// Every call takes an optional Budget (not owned; must outlive the call): no request starts, and
// no retry waits, past it. No message contains a credential, an Authorization header or a URL
// query string.
class RegistryClient {
 public:
  // Returns a client; InvalidArgument for unusable options (e.g. an unreadable ca_file, or a
  // hosts_config_path whose hosts.toml is malformed: the message starts "<file>:<line>: "), and
  // the errors of RegistryHosts::Load for a hosts_config_path that cannot be read.
  static absl::StatusOr<std::unique_ptr<RegistryClient>> Create(const RegistryClientOptions& options);

  virtual ~RegistryClient() = default;

  // Fetches the manifest `ref` names: by digest when it has one (the bytes must match it, else
  // DataLoss), otherwise by tag ("latest" when it has neither). The digest returned is computed
  // from the bytes; a Docker-Content-Digest header that disagrees with them is DataLoss.
  virtual absl::StatusOr<FetchedManifest> Resolve(const reference::Reference& ref, const Credentials& credentials,
                                                  const Budget* budget = nullptr) = 0;

  // Fetches the manifest `tag_or_digest` ("v1", "sha256-<hex>.sig" or "sha256:<hex>") from the
  // repository `repository` names (only its domain and path are used). A digest is checked
  // against the bytes as in Resolve.
  virtual absl::StatusOr<FetchedManifest> GetManifest(const reference::Reference& repository,
                                                      absl::string_view tag_or_digest, const Credentials& credentials,
                                                      const Budget* budget = nullptr) = 0;

  // Fetches the blob `digest` from `repository` (domain and path), at most
  // min(`max_bytes`, options.max_blob_bytes) long (ResourceExhausted beyond), and checks it
  // against `digest` (DataLoss on mismatch).
  virtual absl::StatusOr<std::string> GetBlob(const reference::Reference& repository, absl::string_view digest,
                                              size_t max_bytes, const Credentials& credentials,
                                              const Budget* budget = nullptr) = 0;

  // Fetches the OCI 1.1 referrers list of the manifest `digest` in `repository` (domain and path):
  // GET /v2/<path>/referrers/<digest>, an image index whose manifests are the referrers (with
  // their artifactType). Unimplemented when the registry does not implement the referrers API:
  // it answers 404, 400 or 405, or something that is not an image index. Other errors as for
  // GetManifest (the index is at most max_manifest_bytes).
  virtual absl::StatusOr<FetchedManifest> GetReferrers(const reference::Reference& repository,
                                                       absl::string_view digest, const Credentials& credentials,
                                                       const Budget* budget = nullptr) = 0;

  // Returns the number of HTTP requests made so far: registry calls, token fetches, redirects
  // and retries each count one.
  virtual uint64_t RequestCount() const = 0;
};

// Fetches through `client` the blob `descriptor` describes (a signature payload, a config) from
// `repository`, and checks it against the descriptor's size and digest. A size over `max_bytes` is
// ResourceExhausted before any request; content longer or shorter than the size, or with another
// digest, is DataLoss. Other errors as for RegistryClient::GetBlob.
absl::StatusOr<std::string> GetDescriptorBlob(RegistryClient& client, const reference::Reference& repository,
                                              const Descriptor& descriptor, size_t max_bytes,
                                              const Credentials& credentials, const Budget* budget = nullptr);

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_REGISTRY_CLIENT_H_
