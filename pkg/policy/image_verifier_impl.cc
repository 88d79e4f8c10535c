#include "pkg/policy/image_verifier_impl.h"

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "pkg/base/log.h"
#include "pkg/policy/evaluation.h"
#include "pkg/policy/governance.h"
#include "pkg/registry/referrers.h"
#include "pkg/verify/bundle.h"
#include "pkg/verify/cosign_attestation.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/signature_manifest.h"

namespace sigshim::policy {
namespace {

void Deny(Decision& decision, std::string reason) {
  decision.verdict = Outcome::kDeny;
  decision.reason = std::move(reason);
}

void Fail(Decision& decision, std::string reason) {
  decision.verdict = Outcome::kError;
  decision.reason = std::move(reason);
}

// Returns the error reason for a registry failure: "RegistryUnavailable: …" or "RegistryError: …".
std::string RegistryFailure(absl::string_view what, const absl::Status& status) {
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    return absl::StrCat("RegistryUnavailable: ", what, ": ", status.message());
  }
  return absl::StrCat("RegistryError: ", what, ": ", absl::StatusCodeToString(status.code()), ": ",
                      status.message());
}

// Returns true for blob failures that mean "this signature is unusable" rather than "the registry
// cannot be used": the image may still have another, valid signature.
bool IsSignatureProblem(const absl::Status& status) {
  return absl::IsNotFound(status) || absl::IsDataLoss(status) || absl::IsResourceExhausted(status) ||
         absl::IsInvalidArgument(status);
}

// One ".att" layer, fetched.
struct FetchedAttestation {
  size_t position = 0;  // its place among the manifest's layers, from 1
  verify::Descriptor layer;
  absl::StatusOr<std::string> blob = absl::UnknownError("not fetched");
};

// What the ".att" tag holds.
struct AttestationDiscovery {
  absl::Status error;            // the registry could not be used (not a problem of the artifact)
  std::string manifest_problem;  // the manifest exists but cannot be used; "" otherwise
  bool found = false;            // the tag exists
  std::vector<FetchedAttestation> layers;                       // fetched, at most the limit
  std::vector<std::pair<size_t, verify::Descriptor>> beyond;    // DSSE layers beyond the limit
  bool any_dsse = false;                                        // it has a DSSE envelope layer
};

// Fetches the manifest `tag` (cosign's "sha256-<hex>.att") and then its DSSE envelope layers, at
// most `limit`, all at once (one round trip whatever their number).
AttestationDiscovery DiscoverAttestations(registry::RegistryClient& client, const reference::Reference& image,
                                          const std::string& tag, const registry::Credentials& credentials,
                                          const Budget* budget, size_t limit, size_t max_bytes) {
  AttestationDiscovery out;
  absl::StatusOr<registry::FetchedManifest> fetched = client.GetManifest(image, tag, credentials, budget);
  if (!fetched.ok()) {
    if (absl::IsNotFound(fetched.status())) return out;
    out.found = true;
    if (absl::IsInvalidArgument(fetched.status()) || absl::IsResourceExhausted(fetched.status())) {
      out.manifest_problem = std::string(fetched.status().message());
    } else {
      out.error = fetched.status();
    }
    return out;
  }
  out.found = true;
  absl::StatusOr<verify::SignatureManifest> manifest = verify::SignatureManifestFrom(fetched->manifest);
  if (!manifest.ok()) {
    out.manifest_problem = std::string(manifest.status().message());
    return out;
  }
  for (size_t i = 0; i < manifest->layers.size(); ++i) {
    const verify::Descriptor& layer = manifest->layers[i];
    if (layer.media_type != verify::kDsseEnvelopeMediaType) continue;
    out.any_dsse = true;
    if (out.layers.size() >= limit) {
      out.beyond.emplace_back(i + 1, layer);
      continue;
    }
    FetchedAttestation& f = out.layers.emplace_back();
    f.position = i + 1;
    f.layer = layer;
  }
  std::vector<std::thread> workers;
  workers.reserve(out.layers.size());
  for (size_t i = 1; i < out.layers.size(); ++i) {
    workers.emplace_back([&, i] {
      out.layers[i].blob = registry::GetDescriptorBlob(client, image, out.layers[i].layer, max_bytes, credentials, budget);
    });
  }
  if (!out.layers.empty()) {
    out.layers[0].blob = registry::GetDescriptorBlob(client, image, out.layers[0].layer, max_bytes, credentials, budget);
  }
  for (std::thread& worker : workers) worker.join();
  return out;
}

}  // namespace

absl::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kAllow:
      return "allow";
    case Outcome::kDeny:
      return "deny";
    case Outcome::kError:
      return "error";
  }
  return "error";
}

absl::StatusOr<std::unique_ptr<ImageVerifier>> ImageVerifier::Create(ImageVerifierOptions options) {
  if (options.registry == nullptr) return absl::InvalidArgumentError("ImageVerifierOptions.registry is null");
  if (options.max_signatures < 1) {
    return absl::InvalidArgumentError("ImageVerifierOptions.max_signatures must be positive");
  }
  if (!options.now) options.now = [] { return absl::Now(); };
  return std::make_unique<RegistryImageVerifier>(std::move(options));
}

Decision RegistryImageVerifier::Decide(const Policy& policy, const VerifyRequest& request) const {
  const absl::Time start = options_.now();
  const uint64_t requests_before = options_.registry->RequestCount();
  Decision decision;
  decision.namespace_name = request.namespace_name;

  absl::StatusOr<reference::Reference> image = reference::Parse(request.image);
  const Rule* rule = nullptr;
  if (!image.ok()) {
    Fail(decision, absl::StrCat("InvalidReference: ", image.status().message()));
  } else {
    decision.image = image->WithDefaultTag().String();
    std::optional<Match> match = policy.Find(*image, request.namespace_name);
    if (!match.has_value()) {
      if (policy.unmatched() == config::Unmatched::kAllow) {
        decision.source = "unmatched";
        decision.verdict = Outcome::kAllow;
        decision.reason = "no policy matches this image; [enforcement] unmatched = \"allow\"";
      } else {
        Deny(decision, "no policy matches this image; [enforcement] unmatched = \"deny\"");
      }
    } else {
      rule = match->rule;
      decision.policy = match->rule->name;
      decision.pattern = match->glob->pattern();
      std::optional<registry::FetchedManifest> resolved;
      DecideMatched(*match->rule, *image, request.credentials, request.budget, start, decision, &resolved);
      if (decision.verdict == Outcome::kDeny && resolved.has_value() && resolved->manifest.IsIndex()) {
        // Multi-arch: the tag named an index its signatures do not cover (pkg/policy/platform.h).
        DecideIndexByPlatform(
            *match->rule, *resolved, *image, options_.platform,
            [&](const reference::Reference& manifest, Decision& d) {
              DecideMatched(*match->rule, manifest, request.credentials, request.budget, start, d);
            },
            decision);
      }
    }
  }

  // Revocation, exceptions, enforce_from and audit mode (governance.h), at the time the decision started.
  GovernDecision(policy, rule, image.ok() ? &*image : nullptr, start, decision);
  if (!decision.enforced) {
    SIGSHIM_LOG(kWarning, "not enforced: allowing ",
                decision.image.empty() ? log::QuoteName(request.image) : decision.image,
                " that would be refused: ", decision.reason);
  }
  decision.registry_requests = options_.registry->RequestCount() - requests_before;
  decision.decided_at = options_.now();
  decision.latency = decision.decided_at - start;
  return decision;
}

void RegistryImageVerifier::DecideMatched(const Rule& rule, const reference::Reference& image,
                                          const registry::Credentials& credentials, const Budget* budget,
                                          absl::Time now, Decision& decision,
                                          std::optional<registry::FetchedManifest>* resolved) const {
  registry::RegistryClient& client = *options_.registry;

  // 1. The digest. A digest in the reference is what will be pulled: no request needed.
  if (!image.digest.empty()) {
    decision.digest = image.digest;
  } else {
    absl::StatusOr<registry::FetchedManifest> manifest = client.Resolve(image.WithDefaultTag(), credentials, budget);
    if (!manifest.ok()) {
      return Fail(decision, RegistryFailure(absl::StrCat("resolving ", image.WithDefaultTag().String()),
                                            manifest.status()));
    }
    decision.digest = manifest->digest;
    if (resolved != nullptr) *resolved = *std::move(manifest);
  }

  const Target target{decision.digest, image};
  if (absl::Status valid = RuleEvaluation::ValidateTarget(target); !valid.ok()) {
    return Fail(decision, absl::StrCat("VerificationError: ", valid.message()));
  }
  absl::StatusOr<std::string> tag = verify::SignatureTag(decision.digest);
  if (!tag.ok()) return Fail(decision, absl::StrCat("RegistryError: unusable digest: ", tag.status().message()));
  const std::string signatures_at = absl::StrCat(image.Repository(), ":", *tag);
  RuleEvaluation evaluation(rule, target, now);

  // 2. At once: the sigstore bundles that refer to the digest (referrers API and tag schema, then
  //    each bundle; pkg/registry/referrers.h) on another thread, and the ".sig" manifest here.
  absl::StatusOr<registry::ReferrerDiscovery> referrers = absl::UnknownError("not looked up");
  std::thread discovery([&] {
    registry::ReferrerDiscoveryOptions discovery_options;
    discovery_options.wanted = [](absl::string_view type) { return verify::BundleMinorVersion(type) != 0; };
    discovery_options.max_artifacts = static_cast<size_t>(options_.max_signatures);
    discovery_options.max_artifact_bytes = options_.max_bundle_bytes;
    discovery_options.api_memory = referrers_api_.get();
    referrers = registry::DiscoverReferrers(client, image, decision.digest, credentials, budget, discovery_options);
  });
  // And, when the rule requires attestations, the legacy ".att" tag and its layers on a third.
  const std::string attestation_tag = absl::StrReplaceAll(*tag, {{".sig", ".att"}});
  const std::string attestations_at = absl::StrCat(image.Repository(), ":", attestation_tag);
  AttestationDiscovery attestation_discovery;
  std::thread attestation_lookup;
  if (!rule.attestations.empty()) {
    attestation_lookup = std::thread([&] {
      attestation_discovery = DiscoverAttestations(client, image, attestation_tag, credentials, budget,
                                                   static_cast<size_t>(options_.max_signatures),
                                                   options_.max_bundle_bytes);
    });
  }
  struct Joiner {
    std::thread& thread;
    ~Joiner() {
      if (thread.joinable()) thread.join();
    }
  } joiner{discovery}, attestation_joiner{attestation_lookup};

  // Why there is no cosign signature at all ("" when the ".sig" manifest has signature layers).
  std::string no_signature;
  absl::StatusOr<registry::FetchedManifest> fetched = client.GetManifest(image, *tag, credentials, budget);
  if (!fetched.ok()) {
    if (absl::IsInvalidArgument(fetched.status()) || absl::IsResourceExhausted(fetched.status())) {
      evaluation.AddRejection(signatures_at,
                              absl::StrCat("the signature manifest is unusable: ", fetched.status().message()));
    } else if (absl::IsNotFound(fetched.status())) {
      no_signature = absl::StrCat(signatures_at, " does not exist");
    } else {
      return Fail(decision, RegistryFailure(absl::StrCat("fetching ", signatures_at), fetched.status()));
    }
  } else if (absl::StatusOr<verify::SignatureManifest> manifest = verify::SignatureManifestFrom(fetched->manifest);
             !manifest.ok()) {
    // Already parsed by the registry client (the project's one manifest parser).
    evaluation.AddRejection(signatures_at,
                            absl::StrCat("the signature manifest is unusable: ", manifest.status().message()));
  } else {
    std::vector<std::pair<size_t, verify::Descriptor>> layers;  // (place among the manifest's layers, layer)
    for (size_t i = 0; i < manifest->layers.size(); ++i) {
      if (manifest->layers[i].media_type == verify::kSimpleSigningMediaType) layers.emplace_back(i + 1, manifest->layers[i]);
    }
    if (layers.empty()) no_signature = absl::StrCat(signatures_at, " has no ", verify::kSimpleSigningMediaType, " layer");
    // 3. Each signature, fetched and turned into signed statements in turn; fetching stops as
    //    soon as the statements so far satisfy the rule's signatures.
    const size_t limit = std::min(layers.size(), static_cast<size_t>(options_.max_signatures));
    decision.unchecked_signatures = static_cast<int>(layers.size() - limit);
    for (size_t i = 0; i < layers.size(); ++i) {
      const verify::Descriptor& layer = layers[i].second;
      const ArtifactSource source{std::string(verify::kCosignSimpleSigningFormat),
                                  absl::StrCat("tag ", *tag, " layer ", layers[i].first), layer.digest};
      if (i >= limit) {
        evaluation.AddUnexamined(source, absl::StrCat("not checked: beyond the limit of ", options_.max_signatures,
                                                      " signatures"));
        continue;
      }
      if (evaluation.SignaturesSatisfied()) {
        evaluation.AddUnexamined(source, "not fetched: the signatures before it already satisfy the policy");
        continue;
      }
      const std::string label = SignatureLabel(i + 1, layer.digest);
      absl::StatusOr<std::string> blob =
          registry::GetDescriptorBlob(client, image, layer, options_.max_payload_bytes, credentials, budget);
      if (!blob.ok()) {
        if (IsSignatureProblem(blob.status())) {
          evaluation.AddRejection(label, absl::StrCat("payload blob unusable: ", blob.status().message()), source);
          continue;
        }
        return Fail(decision, RegistryFailure(absl::StrCat("fetching ", label), blob.status()));
      }
      absl::StatusOr<verify::Signature> signature = verify::SignatureFromLayer(layer, *std::move(blob));
      if (!signature.ok()) {
        evaluation.AddRejection(label, signature.status().message(), source);
        continue;
      }
      evaluation.AddSignature(label, *signature, source);
    }
  }

  // 3b. The ".att" layers, each turned into attestation statements.
  if (attestation_lookup.joinable()) attestation_lookup.join();
  size_t attestation_layers = 0;
  // A registry failure while fetching ".att": an error unless the rest satisfies the rule (judged
  // once the bundles are in).
  std::string attestation_failure;
  if (!attestation_discovery.error.ok()) {
    attestation_failure = RegistryFailure(absl::StrCat("fetching ", attestations_at), attestation_discovery.error);
  } else if (!attestation_discovery.manifest_problem.empty()) {
    evaluation.AddRejection(attestations_at,
                            absl::StrCat("the attestation manifest is unusable: ", attestation_discovery.manifest_problem),
                            ArtifactSource{std::string(verify::kCosignAttestationFormat),
                                           absl::StrCat("tag ", attestation_tag), ""});
  } else {
    for (FetchedAttestation& f : attestation_discovery.layers) {
      ++attestation_layers;
      const std::string label = absl::StrCat("attestation ", attestation_layers, " (", f.layer.digest.substr(0, 19),
                                             "…, tag ", attestation_tag, ")");
      const ArtifactSource source{std::string(verify::kCosignAttestationFormat),
                                  absl::StrCat("tag ", attestation_tag, " layer ", f.position), f.layer.digest};
      if (!f.blob.ok()) {
        if (IsSignatureProblem(f.blob.status())) {
          evaluation.AddRejection(label, absl::StrCat("envelope blob unusable: ", f.blob.status().message()), source);
          continue;
        }
        if (attestation_failure.empty()) {
          attestation_failure = RegistryFailure(absl::StrCat("fetching ", label), f.blob.status());
        }
        continue;
      }
      absl::StatusOr<verify::Signature> layer = verify::SignatureFromLayer(f.layer, *std::move(f.blob));
      if (!layer.ok()) {
        evaluation.AddRejection(label, layer.status().message(), source);
        continue;
      }
      evaluation.AddAttestation(label, *layer, source);
    }
    for (const auto& [position, layer] : attestation_discovery.beyond) {
      evaluation.AddUnexamined(ArtifactSource{std::string(verify::kCosignAttestationFormat),
                                              absl::StrCat("tag ", attestation_tag, " layer ", position), layer.digest},
                               absl::StrCat("not checked: beyond the limit of ", options_.max_signatures, " attestations"));
    }
    decision.unchecked_signatures += static_cast<int>(attestation_discovery.beyond.size());
  }

  // 4. The bundles, each turned into signed statements (signatures and attestations).
  discovery.join();
  const std::string referrers_at = absl::StrCat(image.Repository(), ":", absl::StrReplaceAll(decision.digest, {{":", "-"}}));
  size_t bundles = 0;
  if (!referrers.ok()) {
    // What the ".sig" signatures prove is enough on its own; anything less needs the referrers.
    if (!evaluation.Satisfied()) {
      return Fail(decision, RegistryFailure(absl::StrCat("looking up the referrers of ", decision.digest),
                                            referrers.status()));
    }
    SIGSHIM_LOG(kWarning, "referrers of ", image.Repository(), "@", decision.digest,
                " not looked up (the signatures suffice): ", referrers.status().message());
  } else {
    for (const registry::ReferrerArtifact& artifact : referrers->artifacts) {
      ++bundles;
      evaluation.AddBundle(absl::StrCat("bundle ", bundles, " (", artifact.layer_digest.substr(0, 19), "…, ",
                                        artifact.found_at, ")"),
                           artifact.content, artifact.layer_digest,
                           ArtifactSource{std::string(verify::kSigstoreBundleFormat),
                                          absl::StrCat("referrer ", artifact.manifest_digest, " (", artifact.found_at, ")"),
                                          artifact.layer_digest});
    }
    for (const std::string& problem : referrers->problems) {
      evaluation.AddRejection("referrer", problem, ArtifactSource{"", "referrers", ""});
    }
    decision.unchecked_signatures += static_cast<int>(referrers->beyond_limit);
  }
  if (!attestation_failure.empty()) {
    if (!evaluation.Satisfied()) return Fail(decision, attestation_failure);
    SIGSHIM_LOG(kWarning, attestations_at, " not used (the rest suffices): ", attestation_failure);
  }
  decision.artifacts = evaluation.Artifacts();
  if (!no_signature.empty() && bundles == 0 && evaluation.rejections().empty()) {
    return Deny(decision, absl::StrCat("no signatures: ", no_signature, ", and no sigstore bundle refers to ",
                                       decision.digest, " (referrers API",
                                       referrers.ok() && referrers->referrers_api ? "" : " not implemented",
                                       "; referrers tag ", referrers_at, ")"));
  }
  decision.rejections = evaluation.UncountedRejections();
  if (evaluation.Satisfied()) {
    decision.identity = evaluation.Identities();
    decision.evidence = evaluation.AllEvidence();
    decision.signed_at = evaluation.EarliestSigningTime();
    decision.verdict = Outcome::kAllow;
    decision.reason = evaluation.Explain();
    return;
  }
  if (!evaluation.error().ok()) {
    return Fail(decision, absl::StrCat("VerificationError: ", evaluation.error().message()));
  }
  std::string reason = evaluation.Explain();
  if (decision.unchecked_signatures > 0) {
    absl::StrAppend(&reason, " (", decision.unchecked_signatures, " more signature(s) beyond the limit of ",
                    options_.max_signatures, " not checked)");
  }
  Deny(decision, std::move(reason));
}

}  // namespace sigshim::policy
