// Discovery of OCI 1.1 referrers that hold one artifact each (sigstore bundles): the referrers API
// and, when the registry does not implement it, the referrers tag schema.
//
// For a manifest digest D in repository R (OCI distribution spec 1.1, "Listing Referrers" and
// "Referrers Tag Schema"):
//   - GET /v2/R/referrers/D, an image index listing the referrers with their artifactType;
//   - the tag R:sha256-<hex of D>, an image index kept by clients for registries without the API.
// Both are asked at once (one round trip); the referrers of both are taken together, each
// manifest digest once. Once a registry has answered the API, later lookups there (with the same
// ReferrersApiMemory) ask the API alone, as the distribution spec has clients do (the tag schema is
// the fallback for registries without the API): the tag is asked again, right after, only when the
// API then does not answer. Each referrer whose artifactType (as the index lists it: the spec has
// clients write it in both places) is wanted is then fetched: its manifest, which must declare a
// wanted artifactType or config media type and hold exactly one layer of a wanted media type, then
// that layer; all referrers in parallel: so a cold lookup costs two sequential round
// trips after the first, whatever the number of referrers.
#ifndef SIGSHIM_PKG_REGISTRY_REFERRERS_H_
#define SIGSHIM_PKG_REGISTRY_REFERRERS_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "pkg/base/budget.h"
#include "pkg/reference/reference.h"
#include "pkg/registry/registry_client.h"

namespace sigshim::registry {

// Which registries (reference domains) have answered the referrers API. Thread-safe; one per
// daemon configuration, shared by its verifications.
class ReferrersApiMemory {
 public:
  // At most this many registries are remembered; lookups at others ask API and tag at once.
  static constexpr size_t kMaxRegistries = 1024;

  // Returns true when `registry` answered the API the last time it was asked.
  bool Implemented(absl::string_view registry) const;
  // Records whether `registry` answered the API.
  void Remember(absl::string_view registry, bool implemented);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> implemented_ ABSL_GUARDED_BY(mu_);
};

struct ReferrerDiscoveryOptions {
  // Which artifact types are wanted (e.g. the sigstore bundle media types). Required.
  std::function<bool(absl::string_view)> wanted;
  // Wanted referrers fetched; the others are counted in ReferrerDiscovery::beyond_limit and
  // reported. Must be positive. Default 16.
  size_t max_artifacts = 16;
  // Largest artifact layer fetched; a larger one is a problem, not fetched. Default 1 MiB (the
  // registry client's blob limit caps it anyway).
  size_t max_artifact_bytes = 1 << 20;
  // What is known of registries' referrers API, updated by each lookup. Not owned; must outlive
  // the call. Default null: the API and the tag are asked at once every time.
  ReferrersApiMemory* api_memory = nullptr;
};

// One artifact found and fetched.
struct ReferrerArtifact {
  std::string manifest_digest;  // the referrer manifest's digest
  std::string found_at;         // "referrers API" or "tag sha256-<hex>"
  std::string artifact_type;    // the accepted type
  std::string layer_digest;     // the layer holding the artifact
  std::string content;          // its bytes, checked against the layer descriptor
};

struct ReferrerDiscovery {
  // True when the registry implements the referrers API.
  bool referrers_api = false;
  std::vector<ReferrerArtifact> artifacts;
  // Wanted referrers that could not be used: "<manifest digest> (<found at>): <why>" (a manifest
  // without exactly one layer of its type, a layer too large, content that does not match).
  std::vector<std::string> problems;
  // Wanted referrers beyond max_artifacts, neither fetched nor checked.
  size_t beyond_limit = 0;
};

// Finds and fetches the wanted referrers of `digest` in `repository` through `client`. A registry
// without the API and without the tag (404) has none: an empty discovery. Errors: the client's
// errors other than NotFound, InvalidArgument, DataLoss and ResourceExhausted (which make a
// referrer a problem), i.e. a registry that cannot be used (Unavailable, Unauthenticated, …).
// InvalidArgument for options without `wanted` or with max_artifacts 0.
absl::StatusOr<ReferrerDiscovery> DiscoverReferrers(RegistryClient& client, const reference::Reference& repository,
                                                    absl::string_view digest, const Credentials& credentials,
                                                    const Budget* budget, const ReferrerDiscoveryOptions& options);

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_REFERRERS_H_
