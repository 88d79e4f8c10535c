// Deciding one image: resolve its tag to a digest at the registry, fetch the cosign signatures
// stored for that digest, verify them against the matched policy's keys.
//
// Registry requests, for an image matched by a policy (counted by the registry client; the
// minimum is what this component makes):
//   1  the manifest by tag (skipped when the reference carries a digest: the digest is what will
//      be pulled, so it needs no resolving);
//   3  at once, in one round trip: the "sha256-<hex>.sig" manifest, and the sigstore bundles'
//      referrers API and referrers tag "sha256-<hex>" (pkg/registry/referrers.h), or 2 at a
//      registry that answered the referrers API in an earlier decision of this verifier (no tag);
//      and, only when the matched rule has [[policy.attestations]], one more: the legacy
//      "sha256-<hex>.att" manifest;
//   1  per signature blob, fetched one at a time and turned into signed statements at once:
//      fetching stops as soon as the statements so far satisfy the rule's signatures (one
//      required key counted), so a signed image costs exactly one blob request;
//   2  per bundle referrer (its manifest, then its layer), all referrers in parallel, beside the
//      signature blobs: one round trip more than a ".sig" signature, whatever their number;
//   1  per ".att" DSSE envelope layer, all at once, beside the signature blobs and the bundle
//      manifests (so no round trip more than a ".sig" signature);
// So the minimum for an image signed once in a ".sig" is 5 requests by tag (4 by digest) in 3
// sequential round trips (2); signed by one bundle, 6 (5) in 4 (3); an unsigned image costs 4 (3).
// Under a rule with [[policy.attestations]], a ".sig" signature and a one-layer ".att" attestation
// cost 7 (6) in 3 (2).
// An image no policy matches costs none. test/pkg/policy/image_verifier_test.cc pins these.
// A tag resolving to an image index not signed, under [[policy]] platform_signatures = true, adds
// the platform manifest's ".sig" manifest and referrers and its signature blobs (platform.h): 8
// for a signed platform manifest; test/pkg/policy/platform_test.cc pins them.
#ifndef SIGSHIM_PKG_POLICY_IMAGE_VERIFIER_H_
#define SIGSHIM_PKG_POLICY_IMAGE_VERIFIER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pkg/base/budget.h"
#include "pkg/policy/decision.h"
#include "pkg/policy/platform.h"
#include "pkg/policy/policy.h"
#include "pkg/registry/registry_client.h"
#include "pkg/verify/simple_signing.h"

namespace sigshim::policy {

// One question: may `image` run in `namespace_name`?
struct VerifyRequest {
  std::string image;           // as the user or kubelet wrote it; parsed and normalised here
  std::string namespace_name;  // the pod's namespace ("" when none): selects the policy (Policy::Find) and exceptions
  registry::Credentials credentials;  // for the registry; never logged
  // Bounds the whole verification: every registry request and retry stops once it is spent or
  // abandoned, and the decision is then an error (RegistryUnavailable when it ran out of time).
  // Not owned; must outlive Decide. Default null: each request is bounded by its own timeout only.
  const Budget* budget = nullptr;
};

struct ImageVerifierOptions {
  // The registry client; shared so that one client (and its token cache) serves the daemon.
  // Required.
  std::shared_ptr<registry::RegistryClient> registry;
  // The clock for decided_at, latency and key windows without a proven signing time. Default
  // null: absl::Now.
  std::function<absl::Time()> now;
  // Signature layers fetched and checked per image, ".att" envelope layers fetched per image, and
  // sigstore bundle referrers fetched per image; later ones are counted as unchecked (whoever controls the registry chooses how many
  // there are). Must be positive. Default 64.
  int max_signatures = 64;
  // Largest signature payload fetched; a layer declaring more is rejected without a request.
  // Default verify::kMaxPayloadBytes (64 KiB).
  size_t max_payload_bytes = verify::kMaxPayloadBytes;
  // Largest sigstore bundle or ".att" DSSE envelope fetched; a layer declaring more is rejected
  // without a request (the registry client's max_blob_bytes caps it too). Default 1 MiB.
  size_t max_bundle_bytes = 1 << 20;
  // The node's platform, for choosing the manifest of an image index (pkg/policy/platform.h).
  // Default HostPlatform(): linux and the architecture sigshim was built for.
  Platform platform = HostPlatform();
};

// Decides images against a Policy. Implementations are thread-safe.
//
// Outcomes, before audit mode (which turns a deny into an allow, keeping the verdict):
//   allow  a signed statement (cosign ".sig" or sigstore bundle) by one of the matched policy's
//          keys or identities, over this digest and (".sig") this repository, every
//          [[policy.attestations]] entry met (by a bundle or a ".att" attestation), with the
//          key's window holding at the proven signing time (else at the time of the decision,
//          from `now`); or no policy matched and [enforcement] unmatched = "allow";
//   deny   no policy matched (unmatched = "deny"); no ".sig" manifest nor bundle referrer ("no
//          signatures"); a signature manifest without simple-signing layers or that does not
//          parse; every signature and bundle rejected (unknown key, payload or statement for
//          another digest, repository, key outside its window, blob that does not match its
//          descriptor, an attestation where a signature is needed, …), with each reason; a
//          [[policy.attestations]] entry that no attestation meets ("attestation \"provenance\"
//          (…) not met: …");
//   error  the reference does not parse ("InvalidReference"); the registry cannot be reached
//          ("RegistryUnavailable", after the client's retries); any other registry failure while
//          resolving or fetching the signature manifest, the ".att" manifest or its layers, or the
//          referrers (unless what was fetched satisfies the rule on its own), e.g. credentials refused
//          ("RegistryError"); the crypto library failed and no signature was accepted
//          ("VerificationError"). Never an allow, in any mode.
class ImageVerifier {
 public:
  // Returns a verifier; InvalidArgument when the registry is null or max_signatures < 1.
  static absl::StatusOr<std::unique_ptr<ImageVerifier>> Create(ImageVerifierOptions options);

  virtual ~ImageVerifier() = default;

  // Returns the decision for `request` under `policy`. Never fails: problems are kError decisions.
  virtual Decision Decide(const Policy& policy, const VerifyRequest& request) const = 0;
};

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_IMAGE_VERIFIER_H_
