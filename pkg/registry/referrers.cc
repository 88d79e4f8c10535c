#include "pkg/registry/referrers.h"

#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "pkg/base/digest.h"

namespace sigshim::registry {
namespace {

// Returns true for failures that make one referrer unusable rather than the registry.
bool IsArtifactProblem(const absl::Status& status) {
  return absl::IsNotFound(status) || absl::IsInvalidArgument(status) || absl::IsDataLoss(status) ||
         absl::IsResourceExhausted(status);
}

// A referrer to fetch.
struct Candidate {
  Descriptor descriptor;
  std::string found_at;
};

// What fetching one candidate gave: the artifact, a problem, or an error.
struct Fetched {
  std::optional<ReferrerArtifact> artifact;
  std::string problem;
  absl::Status error;
};

Fetched FetchCandidate(RegistryClient& client, const reference::Reference& repository, const Candidate& candidate,
                       const Credentials& credentials, const Budget* budget, const ReferrerDiscoveryOptions& options) {
  Fetched out;
  const std::string label = absl::StrCat(candidate.descriptor.digest, " (", candidate.found_at, ")");
  absl::StatusOr<FetchedManifest> manifest =
      client.GetManifest(repository, candidate.descriptor.digest, credentials, budget);
  if (!manifest.ok()) {
    if (IsArtifactProblem(manifest.status())) {
      out.problem = absl::StrCat(label, ": ", manifest.status().message());
    } else {
      out.error = manifest.status();
    }
    return out;
  }
  const Manifest& m = manifest->manifest;
  if (m.IsIndex() || !(options.wanted(m.artifact_type) || options.wanted(m.config.media_type))) {
    out.problem = absl::StrCat(label, ": the index lists artifactType ", candidate.descriptor.artifact_type,
                               " but the manifest is ", m.IsIndex() ? "an index" : "of another artifact type");
    return out;
  }
  const Descriptor* layer = nullptr;
  for (const Descriptor& l : m.layers) {
    if (!options.wanted(l.media_type)) continue;
    if (layer != nullptr) {
      out.problem = absl::StrCat(label, ": more than one layer of type ", l.media_type, " (one artifact per referrer)");
      return out;
    }
    layer = &l;
  }
  if (layer == nullptr) {
    out.problem = absl::StrCat(label, ": no layer of type ", candidate.descriptor.artifact_type);
    return out;
  }
  absl::StatusOr<std::string> content =
      GetDescriptorBlob(client, repository, *layer, options.max_artifact_bytes, credentials, budget);
  if (!content.ok()) {
    if (IsArtifactProblem(content.status())) {
      out.problem = absl::StrCat(label, ": layer ", layer->digest, ": ", content.status().message());
    } else {
      out.error = content.status();
    }
    return out;
  }
  out.artifact = ReferrerArtifact{candidate.descriptor.digest, candidate.found_at, layer->media_type, layer->digest,
                                  *std::move(content)};
  return out;
}

}  // namespace

bool ReferrersApiMemory::Implemented(absl::string_view registry) const {
  absl::MutexLock lock(&mu_);
  return implemented_.contains(registry);
}

void ReferrersApiMemory::Remember(absl::string_view registry, bool implemented) {
  absl::MutexLock lock(&mu_);
  if (!implemented) {
    implemented_.erase(registry);
  } else if (implemented_.size() < kMaxRegistries) {
    implemented_.insert(std::string(registry));
  }
}

absl::StatusOr<ReferrerDiscovery> DiscoverReferrers(RegistryClient& client, const reference::Reference& repository,
                                                    absl::string_view digest, const Credentials& credentials,
                                                    const Budget* budget, const ReferrerDiscoveryOptions& options) {
  if (!options.wanted || options.max_artifacts == 0) {
    return absl::InvalidArgumentError("referrer discovery needs a `wanted` filter and a positive max_artifacts");
  }
  if (absl::Status valid = ValidateDigest(digest); !valid.ok()) return valid;
  const std::string tag = absl::StrReplaceAll(digest, {{":", "-"}});
  const std::string digest_copy(digest);

  // The referrers API and the tag schema at once; the API alone at a registry known to answer it
  // (then the tag only when it no longer does).
  absl::StatusOr<FetchedManifest> by_tag = absl::NotFoundError("not asked");
  absl::StatusOr<FetchedManifest> by_api = absl::UnknownError("not asked");
  if (options.api_memory != nullptr && options.api_memory->Implemented(repository.domain)) {
    by_api = client.GetReferrers(repository, digest_copy, credentials, budget);
    if (!by_api.ok()) by_tag = client.GetManifest(repository, tag, credentials, budget);
  } else {
    std::thread tag_lookup([&] { by_tag = client.GetManifest(repository, tag, credentials, budget); });
    by_api = client.GetReferrers(repository, digest_copy, credentials, budget);
    tag_lookup.join();
  }
  if (options.api_memory != nullptr) options.api_memory->Remember(repository.domain, by_api.ok());

  ReferrerDiscovery discovery;
  std::vector<Candidate> candidates;
  std::set<std::string> seen;
  size_t wanted = 0;
  auto collect = [&](const Manifest& index, const std::string& found_at) {
    for (const Descriptor& d : index.manifests) {
      if (!options.wanted(d.artifact_type) || !seen.insert(d.digest).second) continue;
      ++wanted;
      if (candidates.size() >= options.max_artifacts) continue;
      candidates.push_back(Candidate{d, found_at});
    }
  };
  if (by_api.ok()) {
    discovery.referrers_api = true;
    collect(by_api->manifest, "referrers API");
  } else if (!absl::IsUnimplemented(by_api.status())) {
    if (!IsArtifactProblem(by_api.status())) return by_api.status();
    discovery.problems.push_back(std::string(by_api.status().message()));
  }
  const std::string tag_name = absl::StrCat("tag ", tag);
  if (by_tag.ok()) {
    if (by_tag->manifest.IsIndex()) {
      collect(by_tag->manifest, tag_name);
    } else {
      discovery.problems.push_back(absl::StrCat(tag_name, ": not an image index, so not a referrers list"));
    }
  } else if (!absl::IsNotFound(by_tag.status())) {
    if (!IsArtifactProblem(by_tag.status())) return by_tag.status();
    discovery.problems.push_back(absl::StrCat(tag_name, ": ", by_tag.status().message()));
  }
  discovery.beyond_limit = wanted - candidates.size();
  if (discovery.beyond_limit > 0) {
    discovery.problems.push_back(absl::StrCat(discovery.beyond_limit, " more referrer(s) beyond the limit of ",
                                              options.max_artifacts, " not fetched"));
  }

  // Every referrer at once.
  std::vector<Fetched> fetched(candidates.size());
  std::vector<std::thread> workers;
  workers.reserve(candidates.size());
  for (size_t i = 1; i < candidates.size(); ++i) {
    workers.emplace_back([&, i] {
      fetched[i] = FetchCandidate(client, repository, candidates[i], credentials, budget, options);
    });
  }
  if (!candidates.empty()) fetched[0] = FetchCandidate(client, repository, candidates[0], credentials, budget, options);
  for (std::thread& worker : workers) worker.join();
  for (Fetched& f : fetched) {
    if (!f.error.ok()) return f.error;
    if (f.artifact.has_value()) {
      discovery.artifacts.push_back(*std::move(f.artifact));
    } else {
      discovery.problems.push_back(std::move(f.problem));
    }
  }
  return discovery;
}

}  // namespace sigshim::registry
