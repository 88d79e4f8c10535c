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
  struct Joiner {
    std::thread& thread;
    ~Joiner() {
      if (thread.joinable()) thread.join();
    }
  } joiner{discovery};

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
    const std::vector<verify::Descriptor> layers = manifest->SignatureLayers();
    if (layers.empty()) no_signature = absl::StrCat(signatures_at, " has no ", verify::kSimpleSigningMediaType, " layer");
    // 3. Each signature, fetched and turned into signed statements in turn; fetching stops as
    //    soon as the statements so far satisfy the rule's signatures.
    const size_t limit = std::min(layers.size(), static_cast<size_t>(options_.max_signatures));
    decision.unchecked_signatures = static_cast<int>(layers.size() - limit);
    for (size_t i = 0; i < limit && !evaluation.SignaturesSatisfied(); ++i) {
      const verify::Descriptor& layer = layers[i];
      const std::string label = SignatureLabel(i + 1, layer.digest);
      absl::StatusOr<std::string> blob =
          registry::GetDescriptorBlob(client, image, layer, options_.max_payload_bytes, credentials, budget);
      if (!blob.ok()) {
        if (IsSignatureProblem(blob.status())) {
          evaluation.AddRejection(label, absl::StrCat("payload blob unusable: ", blob.status().message()));
          continue;
        }
        return Fail(decision, RegistryFailure(absl::StrCat("fetching ", label), blob.status()));
      }
      absl::StatusOr<verify::Signature> signature = verify::SignatureFromLayer(layer, *std::move(blob));
      if (!signature.ok()) {
        evaluation.AddRejection(label, signature.status().message());
        continue;
      }
      evaluation.AddSignature(label, *signature);
    }
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
                           artifact.content, artifact.layer_digest);
    }
    for (const std::string& problem : referrers->problems) evaluation.AddRejection("referrer", problem);
    decision.unchecked_signatures += static_cast<int>(referrers->beyond_limit);
  }
  if (!no_signature.empty() && bundles == 0 && evaluation.rejections().empty()) {
    return Deny(decision, absl::StrCat("no signatures: ", no_signature, ", and no sigstore bundle refers to ",
                                       decision.digest, " (referrers API",
                                       referrers.ok() && referrers->referrers_api ? "" : " not implemented",
                                       "; referrers tag ", referrers_at, ")"));
  }
  decision.rejections = evaluation.rejections();
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
