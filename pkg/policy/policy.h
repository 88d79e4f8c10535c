// The compiled policy: which [[policy]] decides an image, which trusted keys it accepts, and
// what happens to images no policy names. Built once from a validated Config and shared
// immutably (handlers hold a std::shared_ptr<const Policy> snapshot; a reload builds a new one).
//
// Precedence (DESIGN.md "Which policy decides"). Only the policies whose `namespaces` admit the
// pod's namespace take part (a policy without `namespaces` admits every namespace; a call without
// a namespace is matched only by such policies). Among them, the most specific glob decides:
//   1. the longest literal prefix (characters before the first wildcard; a glob without
//      wildcards counts its whole length) wins;
//   2. then the fewest wildcards ("*", "**" and "?" count one each);
//   3. then, at equal specificity, a policy that names namespaces beats one that does not;
//   4. then the policy written first in the file (and, within one policy, the glob listed first).
// This is a total order on (glob, policy) pairs, so the effective policy can be printed as one
// ordered list (Precedence()): an image is decided by the first entry whose glob matches it and
// whose policy admits the namespace.
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

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
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

// [revocation], as sets of "sha256:<hex>" (lowercase).
struct Revocation {
  absl::flat_hash_set<std::string> keys;          // key fingerprints
  absl::flat_hash_set<std::string> certificates;  // SHA-256 of a certificate's DER
  absl::flat_hash_set<std::string> images;        // manifest or index digests

  // Returns true when `digest` is a revoked image.
  bool ImageRevoked(absl::string_view digest) const { return images.contains(digest); }
};

// A compiled [[exceptions]] entry.
struct ExceptionRule {
  std::string name;
  std::string origin;  // "<config file>:<line>"
  std::vector<Glob> images;
  std::vector<Glob> namespaces;  // empty: every namespace, and calls without one
  std::string reason;
  std::string owner;
  absl::Time expires;  // applies strictly before this instant

  // Returns true when the entry covers `image` in `namespace_name` ("" when the call names no
  // namespace) at `now`.
  bool Covers(const reference::Reference& image, absl::string_view namespace_name, absl::Time now) const;
};

// An [[identities]] entry, compiled: who a certificate must name, and the trust root it must
// chain to.
struct TrustedIdentity {
  std::string name;        // the [[identities]] name: the identity reported in decisions
  std::string origin;      // "<config file>:<line>"
  std::string trust_root;  // the [[trust_roots]] name
  verify::ValidatedCertificateIdentity identity;
};

// A compiled [[policy.attestations]] entry: an attestation of `predicate_type` over the image,
// signed by one of `keys` or `identities`, whose predicate has every `match` field.
struct AttestationRule {
  std::string name;
  std::string origin;          // "<config file>:<line>"
  std::string predicate_type;  // e.g. "https://slsa.dev/provenance/v1"
  std::vector<std::string> require;  // [[keys]] and [[identities]] names, in the order written
  // The required signers, in `require` order (copies, as in Rule).
  std::vector<TrustedKey> keys;
  std::vector<TrustedIdentity> identities;
  // Dotted JSON path into the predicate → the string it must equal; sorted by path.
  std::vector<std::pair<std::string, std::string>> match;
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
  // [[policy]] namespaces, compiled (Glob::CompileNamespace); empty: every namespace.
  std::vector<Glob> namespaces;
  // [[policy]] threshold: distinct `require` entries that must have signed. Default 1.
  int threshold = 1;
  // [[policy]] enforce_from: before it a refusal under this rule is audited, not enforced.
  // Default InfinitePast (always enforced).
  absl::Time enforce_from = absl::InfinitePast();
  // The configuration's [revocation], shared by every rule; never null once Policy::Create made
  // the rule (a Rule built by hand with none revokes nothing).
  std::shared_ptr<const Revocation> revocation;
  // [[policy.attestations]], in file order: each one is required in addition to the signatures.
  // `certificate_trust` also holds the trust roots their identities name.
  std::vector<AttestationRule> attestations;

  // Returns true when the rule admits `namespace_name` ("" for a call without one).
  bool AdmitsNamespace(absl::string_view namespace_name) const;
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

  // Returns the rule that decides `image` for a pod in `namespace_name` ("" when the call names
  // no pod namespace: then only policies without `namespaces` take part; see Precedence above), or
  // nullopt when none matches.
  std::optional<Match> Find(const reference::Reference& image, absl::string_view namespace_name) const;

  // Returns every rule with a glob matching `image`, whatever its namespaces, in file order: the
  // rules a stored verdict may have to be judged under.
  std::vector<const Rule*> RulesMatching(const reference::Reference& image) const;

  // Returns the rule named `name`, or null.
  const Rule* RuleNamed(absl::string_view name) const;

  // Returns the first [[exceptions]] entry (file order) that covers `image` in `namespace_name` at
  // `now`, or null.
  const ExceptionRule* FindException(const reference::Reference& image, absl::string_view namespace_name,
                                     absl::Time now) const;

  const std::vector<ExceptionRule>& exceptions() const { return exceptions_; }
  const Revocation& revocation() const { return *revocation_; }

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
  // keys with their algorithm, full fingerprint (in the form [revocation] keys takes) and validity
  // window, the trust roots with their authorities and logs, the identities, the precedence order
  // with each policy's namespaces, threshold and enforce_from, the exceptions with their time left
  // at `now`, and the revocations.
  std::string Describe(absl::Time now) const;

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
  std::vector<ExceptionRule> exceptions_;
  int max_exception_days_ = 90;
  std::shared_ptr<const Revocation> revocation_ = std::make_shared<const Revocation>();
};

// Returns the normalised forms of `image` a glob is matched against (see the file comment).
std::vector<std::string> MatchCandidates(const reference::Reference& image);

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_POLICY_H_
