// Multi-arch images: which manifest of an image index this node runs, chosen as containerd
// chooses it, and the decision for a pull by tag that resolved to an index the policy's
// signatures do not cover ([[policy]] platform_signatures).
//
// The rule (DESIGN.md "Multi-arch"): a signature over an index covers every manifest it lists, so
// an index signed as a whole is admitted and the pull is pinned to the index. With
// platform_signatures = true, a tag that resolves to an index that is not signed is admitted by a
// signature over the manifest for the node's platform, and the pull is then pinned to that
// manifest's digest: what runs is exactly what was signed. A pull by digest is always decided by
// the signatures over that digest alone (a platform manifest's digest by its own signature; an
// index's digest only by the index's), and so is CreateContainer, which looks up the manifest
// containerd's record points at.
//
// Choosing the platform manifest follows containerd's platforms package (platforms.Only with the
// node's default platform, the matcher CRI pulls with):
//   - platforms are compared after normalisation: os and architecture lower case; "x86_64" and
//     "x86-64" are amd64, "i386" is 386, "aarch64" is arm64, "armhf" arm/v7, "armel" arm/v6;
//     arm64 without a variant (or "8") is arm64/v8, arm without a variant (or "7") is arm/v7,
//     arm variants "5", "6", "8" gain their "v";
//   - the node runs, best first: its own platform; for amd64/vN the lower amd64 levels, then 386;
//     for arm/vN the lower arm variants down to v5; for arm64 (vN) arm/vN down to arm/v5;
//   - among the index's entries, the one matching the best of those wins; at equal rank the
//     entry listed first.
// sigshim is stricter than containerd where containerd guesses: an entry without a platform, or
// with an empty os, is never chosen (containerd would take the first as a last resort and read an
// empty os as its own), a nested index is not followed (its
// manifests would need the nested index's platform filtering; sign the nested index, or pull by
// the manifest's digest), and neither is an entry of another media type or one naming the index
// itself. Only the first kMaxIndexEntriesExamined entries are examined; a match beyond them is
// not found, and the denial says how many entries were left out.
//
// Registry requests on this path (after the tag request and the index's own signature lookup,
// counted in image_verifier.h): none to choose (the index is the manifest the tag resolved to);
// then what a pull of the platform manifest by digest costs: its ".sig" manifest and one blob per
// signature checked. So an index not signed, with a signed platform manifest, costs 4 requests
// (the tag, the index's ".sig" that is not there, the manifest's ".sig", one blob); a policy
// without platform_signatures makes none of the last two.
#ifndef SIGSHIM_PKG_POLICY_PLATFORM_H_
#define SIGSHIM_PKG_POLICY_PLATFORM_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/policy/decision.h"
#include "pkg/policy/policy.h"
#include "pkg/reference/reference.h"
#include "pkg/registry/manifest.h"
#include "pkg/registry/registry_client.h"

namespace sigshim::policy {

// Entries of an index examined when choosing the node's manifest (real indexes list a handful;
// whoever controls the registry chooses how many there are).
inline constexpr size_t kMaxIndexEntriesExamined = 256;

// An OCI platform: what an index entry says its manifest runs on, or what the node is. Names are
// Go's (GOOS/GOARCH), as OCI uses them: os "linux"; architecture "amd64", "arm64", "arm",
// "ppc64le", "s390x", "riscv64", "386", …; variant "" when none, "v8", "v7", ….
struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;

  // Returns "os/architecture" or "os/architecture/variant".
  std::string String() const;

  bool operator==(const Platform& other) const {
    return os == other.os && architecture == other.architecture && variant == other.variant;
  }
};

// Returns `platform` in containerd's normal form (see the file comment).
Platform NormalizePlatform(const Platform& platform);

// Returns the platform this binary was built for: linux and the build's architecture mapped to
// its OCI name (amd64, arm64/v8, arm/v7 (v6, v5 when built for those), ppc64le, s390x, riscv64,
// 386). On an architecture it does not know, the architecture is "unknown": no index entry
// matches it, and pulls of unsigned indexes are refused.
Platform HostPlatform();

// Returns the platforms a node of platform `node` runs, best first (containerd's
// platforms.Only): `node` normalised, then the ones it runs as well (see the file comment).
std::vector<Platform> CompatiblePlatforms(const Platform& node);

// The manifest of an index a node runs.
struct PlatformChoice {
  registry::Descriptor manifest;  // the index entry: its digest is what the pull is pinned to
  Platform platform;              // the entry's platform, normalised
};

// Chooses from `index` (an index or manifest list, whose digest is `index_digest`) the manifest
// a node of platform `node` runs, examining at most `max_entries` entries. NotFound when none
// fits, naming the index and the node's platform and listing what the index lists:
// "index sha256:… lists no manifest for linux/amd64 (it lists: linux/arm64/v8 sha256:…, …)";
// InvalidArgument when `index` is not an index.
absl::StatusOr<PlatformChoice> ChoosePlatformManifest(const registry::Manifest& index, absl::string_view index_digest,
                                                      const Platform& node,
                                                      size_t max_entries = kMaxIndexEntriesExamined);

// Decides a manifest by digest under the same rule, request, budget and time of decision: fills
// the Decision it is given (verdict, reason, digest, identity, evidence, signed_at, rejections)
// before audit mode.
using DecideManifest = std::function<void(const reference::Reference& manifest, Decision& decision)>;

// Finishes the decision for a pull of `image` by tag whose tag resolved to the image index
// `index`, after the index's own signatures were checked under `rule` and refused (`decision`
// holds that refusal, verdict kDeny). Without rule.platform_signatures, says in the reason that the
// index needs a signature of its own, and stays a denial. With it, chooses the manifest for
// `node` (a denial naming what the index lists when there is none), decides that manifest by
// digest with `decide_manifest`, and on an accepted signature turns `decision` into an allow whose
// digest is the manifest's (what the pull is pinned to), with index_digest and platform set and a
// reason naming the manifest and the index. A refusal keeps the index's digest and names both
// refusals; an error (the registry failing) is an error.
void DecideIndexByPlatform(const Rule& rule, const registry::FetchedManifest& index, const reference::Reference& image,
                           const Platform& node, const DecideManifest& decide_manifest, Decision& decision);

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_PLATFORM_H_
