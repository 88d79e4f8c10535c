// The compiled policy: which [[policy]] decides an image, which trusted keys it accepts, and
// what happens to images no policy names. Built once from a validated Config and shared
// immutably (handlers hold a std::shared_ptr<const Policy> snapshot; a reload builds a new one).
//
// Precedence. When several [[policy]] entries have a glob matching an image, the most specific
// glob decides:
//   1. the longest literal prefix (characters before the first wildcard; a glob without
//      wildcards counts its whole length) wins;
//   2. then the fewest wildcards ("*", "**" and "?" count one each);
//   3. then the policy written first in the file (and, within one policy, the glob listed first).
// This is a total order on (glob, policy) pairs, so the effective policy can be printed as one
// ordered list (Precedence()): an image is decided by the first entry whose glob matches it.
//
// A glob matches an image when it matches any of the image's normalised forms: the repository
// ("docker.io/library/busybox"), the repository with the tag ("…:1.36", "latest" when the reference
// has neither tag nor digest), the repository with the digest ("…@sha256:…"), or the full string.
#ifndef SIGSHIM_PKG_POLICY_POLICY_H_
#define SIGSHIM_PKG_POLICY_POLICY_H_

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/config/config.h"
#include "pkg/policy/glob.h"
#include "pkg/reference/reference.h"
#include "pkg/verify/identity.h"
#include "pkg/trust/trust_root.h"
#include "pkg/verify/certificate_identity.h"
#include "pkg/verify/certificate_signer.h"
#include "pkg/verify/cosign_simple_signing.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/validity.h"

namespace sigshim::policy {

// A [[keys]] entry with its parsed key.
struct TrustedKey {
  std::string name;    // the [[keys]] name: the identity reported in decisions
  std::string origin;  // "<config file>:<line>"
  std::string source;  // the key file's path, or "inline"
  std::shared_ptr<const verify::PublicKey> key;
  // [[keys]] not_before / not_after: a signature by this key counts only when its proven signing
  // time, or else the time of the decision, lies in this window (both ends inclusive). Default:
  // always.
  verify::ValidityWindow window;
  // [[keys]] transparency_log: the trust root whose transparency logs or timestamp authorities
  // must prove when this key signed (the window is then judged by that time); "" when none is
  // required. `time_evidence` holds that root's logs and authorities.
  std::string transparency_log;
  std::optional<verify::SimpleSigningProducerOptions::KeyTimeEvidence> time_evidence;
};

// An [[identities]] entry, compiled: who a certificate must name, and the trust root it must
// chain to.
struct TrustedIdentity {
  std::string name;        // the [[identities]] name: the identity reported in decisions
  std::string origin;      // "<config file>:<line>"
  std::string trust_root;  // the [[trust_roots]] name
  verify::ValidatedCertificateIdentity identity;
};

// A compiled [[policy]] entry.
struct Rule {
  std::string name;
  std::string origin;            // "<config file>:<line>"
  size_t index = 0;              // position in the file, from 0
  std::vector<Glob> images;      // in the order written
  std::vector<std::string> require;  // [[keys]] names, in the order written
  // The required keys, in `require` order (copies of the Policy's TrustedKey entries, so that a
  // Rule can be judged on its own).
  std::vector<TrustedKey> keys;
  // The required certificate identities, in `require` order (copies), and the trust material of
  // the trust roots they name (each root once).
  std::vector<TrustedIdentity> identities;
  std::vector<verify::CertificateTrust> certificate_trust;
  // What a signature's docker-reference must be. matchRepository (the configuration has no
  // setting for it yet).
  verify::IdentityRule reference_rule;
  // [[policy]] platform_signatures: a tag resolving to an index not signed may be admitted by a
  // signature over the node's platform manifest (pkg/policy/platform.h).
  bool platform_signatures = false;
};

// One line of the precedence order: `glob` of `rule`.
struct PrecedenceEntry {
  const Rule* rule;  // owned by the Policy
  const Glob* glob;  // owned by the Policy
};

// The rule that decides an image, and the glob that matched.
struct Match {
  const Rule* rule;  // owned by the Policy
  const Glob* glob;  // owned by the Policy
};

// Immutable after Create; every method is thread-safe. Match pointers live as long as the Policy.
class Policy {
 public:
  // Compiles `config`: parses every [[keys]] PEM with pkg/verify (with its validity window), builds
  // every [[trust_roots]] entry (pkg/trust) and [[identities]] entry (RE2 regexes, claim names),
  // and every [[policy]] glob. InvalidArgument starting with the entry's "<file>:<line>: " on any
  // problem: a key of an unsupported type (with pkg/verify's reason), the same key material under
  // two names, a trust root that does not build, an identity that does not compile, an invalid glob
  // (with the reason), a policy requiring an unknown name.
  static absl::StatusOr<std::unique_ptr<Policy>> Create(const config::Config& config);

  // Returns the rule that decides `image` (see Precedence above), or nullopt when no glob
  // matches.
  std::optional<Match> Find(const reference::Reference& image) const;

  // Returns every (glob, rule) pair in precedence order.
  const std::vector<PrecedenceEntry>& Precedence() const { return precedence_; }

  const std::vector<Rule>& rules() const { return rules_; }
  const std::vector<TrustedKey>& keys() const { return keys_; }
  const std::vector<TrustedIdentity>& identities() const { return identities_; }
  const std::vector<std::shared_ptr<const trust::TrustRoot>>& trust_roots() const { return trust_roots_; }
  config::Mode mode() const { return mode_; }
  config::Unmatched unmatched() const { return unmatched_; }
  // The config file this was compiled from.
  const std::string& path() const { return path_; }

  // Returns the effective policy for a person, several lines: enforcement settings, the trusted
  // keys with their algorithm, full fingerprint and validity window, the trust roots with their
  // authorities and logs, the identities, and the precedence order.
  std::string Describe() const;

 private:
  Policy() = default;

  std::string path_;
  config::Mode mode_ = config::Mode::kEnforce;
  config::Unmatched unmatched_ = config::Unmatched::kDeny;
  std::vector<TrustedKey> keys_;
  std::vector<std::shared_ptr<const trust::TrustRoot>> trust_roots_;
  std::vector<TrustedIdentity> identities_;
  std::vector<Rule> rules_;
  std::vector<PrecedenceEntry> precedence_;
};

// Returns the normalised forms of `image` a glob is matched against (see the file comment).
std::vector<std::string> MatchCandidates(const reference::Reference& image);

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_POLICY_H_
