// An in-memory OCI distribution registry served through FakeHttpTransport, for tests of code that
// talks to registries (pkg/registry, pkg/verify, the pull interceptor). Thread-safe.
//
//   auto registry = std::make_shared<FakeRegistry>("registry.test");
//   std::string digest = registry->PutManifest("team/app", "v1", manifest_json);
//   options.transport = registry->transport();
//
// It serves https://<host>/v2/<name>/manifests/<tag or digest> and /v2/<name>/blobs/<digest>
// with Content-Type, Content-Length and Docker-Content-Digest, and 404 MANIFEST_UNKNOWN,
// BLOB_UNKNOWN or NAME_UNKNOWN like distribution does. Optionally it demands Basic or Bearer auth
// (with a token server at https://auth.<host>/token).
#ifndef SIGSHIM_TEST_FAKES_FAKE_REGISTRY_H_
#define SIGSHIM_TEST_FAKES_FAKE_REGISTRY_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "test/fakes/fake_http_transport.h"

namespace sigshim::fakes {

class FakeRegistry {
 public:
  // Serves `host` ("registry.test" or "127.0.0.1:5000") over `scheme` ("https" or "http").
  explicit FakeRegistry(std::string host, std::string scheme = "https");

  // Returns the transport to give to the client; further routes can be scripted on it, and they
  // take precedence over the registry.
  std::shared_ptr<FakeHttpTransport> transport() const { return transport_; }

  // Stores a manifest in repository `name` ("team/app") and returns its digest; when `tag` is not
  // empty the tag points at it. `media_type` is served as Content-Type; "" means the OCI manifest
  // type.
  std::string PutManifest(const std::string& name, const std::string& tag, const std::string& bytes,
                          const std::string& media_type = "");

  // Stores a blob in repository `name` and returns its digest.
  std::string PutBlob(const std::string& name, const std::string& bytes);

  // Requires Basic auth with `username` and `password` for every /v2/ request.
  void RequireBasic(const std::string& username, const std::string& password);

  // Requires a Bearer token from the token server https://auth.<host>/token (service
  // "fake-registry"). The token server gives tokens anonymously when `username` is empty, else
  // only for Basic `username`:`password` or for an OAuth2 refresh_token grant with
  // `refresh_token`. Tokens live `expires_in` seconds (as announced; the fake never expires them).
  void RequireBearer(const std::string& username, const std::string& password,
                     const std::string& refresh_token = "", int expires_in = 300);

  // Invalidates every token issued so far (as a token server restart or a revocation would).
  void RevokeTokens();

  // Returns the number of tokens the token server has issued.
  int tokens_issued() const;

  // Returns the URL of the token realm.
  std::string realm() const { return "https://auth." + host_ + "/token"; }

 private:
  enum class Auth { kNone, kBasic, kBearer };
  struct Blob {
    std::string bytes;
    std::string media_type;
  };

  absl::StatusOr<registry::HttpResponse> Serve(const registry::HttpRequest& request);
  registry::HttpResponse ServeToken(const registry::HttpRequest& request);
  bool Authorized(const registry::HttpRequest& request) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string host_;
  const std::string scheme_;
  const std::shared_ptr<FakeHttpTransport> transport_;
  mutable absl::Mutex mu_;
  Auth auth_ ABSL_GUARDED_BY(mu_) = Auth::kNone;
  std::string username_ ABSL_GUARDED_BY(mu_);
  std::string password_ ABSL_GUARDED_BY(mu_);
  std::string refresh_token_ ABSL_GUARDED_BY(mu_);
  int expires_in_ ABSL_GUARDED_BY(mu_) = 300;
  int tokens_issued_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::string> valid_tokens_ ABSL_GUARDED_BY(mu_);  // token → scope
  std::map<std::string, std::map<std::string, Blob>> manifests_ ABSL_GUARDED_BY(mu_);  // name → digest → blob
  std::map<std::string, std::map<std::string, std::string>> tags_ ABSL_GUARDED_BY(mu_);  // name → tag → digest
  std::map<std::string, std::map<std::string, std::string>> blobs_ ABSL_GUARDED_BY(mu_);  // name → digest → bytes
};

}  // namespace sigshim::fakes

#endif  // SIGSHIM_TEST_FAKES_FAKE_REGISTRY_H_
