#include "pkg/policy/policy.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pkg/base/status_macros.h"
#include "pkg/policy/evaluation.h"
#include "pkg/trust/build.h"
#include "pkg/trust/certificate_trust.h"

namespace sigshim::policy {
namespace {

absl::string_view ModeName(config::Mode mode) { return mode == config::Mode::kEnforce ? "enforce" : "audit"; }
absl::string_view UnmatchedName(config::Unmatched u) { return u == config::Unmatched::kDeny ? "deny" : "allow"; }

// Returns e.g. "issuer https://x, subject_regex https://github\.com/acme/.*, claims
// runner_environment=github-hosted".
std::string DescribeIdentity(const verify::CertificateIdentity& identity) {
  std::vector<std::string> parts;
  if (!identity.issuer.empty()) parts.push_back(absl::StrCat("issuer ", identity.issuer));
  if (!identity.issuer_regex.empty()) parts.push_back(absl::StrCat("issuer_regex ", identity.issuer_regex));
  if (!identity.subject.empty()) parts.push_back(absl::StrCat("subject ", identity.subject));
  if (!identity.subject_regex.empty()) parts.push_back(absl::StrCat("subject_regex ", identity.subject_regex));
  if (!identity.claims.empty()) {
    std::vector<std::string> claims;
    for (const auto& [name, value] : identity.claims) claims.push_back(absl::StrCat(name, "=", value));
    parts.push_back(absl::StrCat("claims ", absl::StrJoin(claims, ", ")));
  }
  return absl::StrJoin(parts, ", ");
}

// Returns true when `globs` is empty or one of them matches the non-empty `namespace_name`.
bool NamespaceAdmitted(const std::vector<Glob>& globs, absl::string_view namespace_name) {
  if (globs.empty()) return true;
  if (namespace_name.empty()) return false;
  for (const Glob& g : globs) {
    if (g.Matches(namespace_name)) return true;
  }
  return false;
}

// Returns true when one of `globs` matches one of the forms of `image` (MatchCandidates).
bool ImageMatched(const std::vector<Glob>& globs, const std::vector<std::string>& candidates) {
  for (const Glob& g : globs) {
    for (const std::string& candidate : candidates) {
      if (g.Matches(candidate)) return true;
    }
  }
  return false;
}

// Compiles a [[policy]] or [[exceptions]] entry's `images` (not empty); errors start with `where`.
absl::StatusOr<std::vector<Glob>> CompileImages(const std::vector<std::string>& patterns, absl::string_view where) {
  if (patterns.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": images is empty"));
  std::vector<Glob> out;
  for (size_t i = 0; i < patterns.size(); ++i) {
    absl::StatusOr<Glob> glob = Glob::Compile(patterns[i]);
    if (!glob.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": images[", i, "]: ", glob.status().message()));
    }
    out.push_back(*std::move(glob));
  }
  return out;
}

absl::StatusOr<std::vector<Glob>> CompileNamespaces(const std::vector<std::string>& patterns,
                                                    absl::string_view where) {
  std::vector<Glob> out;
  for (size_t i = 0; i < patterns.size(); ++i) {
    absl::StatusOr<Glob> glob = Glob::CompileNamespace(patterns[i]);
    if (!glob.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": namespaces[", i, "]: ", glob.status().message()));
    }
    out.push_back(*std::move(glob));
  }
  return out;
}

std::string Patterns(const std::vector<Glob>& globs) {
  return absl::StrJoin(globs, ", ", [](std::string* out, const Glob& g) { absl::StrAppend(out, "\"", g.pattern(), "\""); });
}

// Returns e.g. "12d 3h 4m" for a positive duration.
std::string TimeLeft(absl::Duration d) {
  const int64_t minutes = absl::ToInt64Minutes(d);
  const int64_t days = minutes / (24 * 60);
  const int64_t hours = (minutes / 60) % 24;
  return absl::StrCat(days, "d ", hours, "h ", minutes % 60, "m");
}

}  // namespace

bool Rule::AdmitsNamespace(absl::string_view namespace_name) const {
  return NamespaceAdmitted(namespaces, namespace_name);
}

bool ExceptionRule::Covers(const reference::Reference& image, absl::string_view namespace_name, absl::Time now) const {
  return now < expires && NamespaceAdmitted(namespaces, namespace_name) && ImageMatched(images, MatchCandidates(image));
}

std::vector<std::string> MatchCandidates(const reference::Reference& image) {
  const reference::Reference ref = image.WithDefaultTag();
  const std::string repository = ref.Repository();
  std::vector<std::string> out = {repository};
  if (!ref.tag.empty()) out.push_back(absl::StrCat(repository, ":", ref.tag));
  if (!ref.digest.empty()) out.push_back(absl::StrCat(repository, "@", ref.digest));
  if (!ref.tag.empty() && !ref.digest.empty()) out.push_back(ref.String());
  return out;
}

absl::StatusOr<std::unique_ptr<Policy>> Policy::Create(const config::Config& config) {
  std::unique_ptr<Policy> policy(new Policy());
  policy->path_ = config.path;
  policy->mode_ = config.enforcement.mode;
  policy->unmatched_ = config.enforcement.unmatched;
  policy->max_exception_days_ = config.enforcement.max_exception_days;
  auto revocation = std::make_shared<Revocation>();
  revocation->keys.insert(config.revocation.keys.begin(), config.revocation.keys.end());
  revocation->certificates.insert(config.revocation.certificates.begin(), config.revocation.certificates.end());
  revocation->images.insert(config.revocation.images.begin(), config.revocation.images.end());
  policy->revocation_ = revocation;

  ASSIGN_OR_RETURN(policy->trust_roots_, trust::BuildTrustRoots(config));
  std::map<std::string, verify::CertificateTrust> trust_by_name;
  for (const auto& root : policy->trust_roots_) {
    absl::StatusOr<verify::CertificateTrust> trust = trust::CertificateTrustFor(*root);
    if (!trust.ok()) return absl::InvalidArgumentError(absl::StrCat(root->origin, ": ", trust.status().message()));
    trust_by_name.emplace(root->name, *std::move(trust));
  }
  std::map<std::string, const TrustedKey*> by_name;
  std::map<std::string, const TrustedKey*> by_fingerprint;
  policy->keys_.reserve(config.keys.size());
  for (const config::KeyConfig& k : config.keys) {
    absl::StatusOr<std::unique_ptr<const verify::PublicKey>> key = verify::ParsePublicKeyPem(k.pem);
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(k.origin, ": [[keys]] \"", k.name, "\" (", k.source,
                                                     "): unsupported or unusable key: ", key.status().message()));
    }
    TrustedKey& trusted = policy->keys_.emplace_back();
    trusted.name = k.name;
    trusted.origin = k.origin;
    trusted.source = k.source;
    trusted.key = *std::move(key);
    trusted.window.start = k.not_before;
    trusted.window.end = k.not_after;
    if (!k.transparency_log.empty()) {
      auto root = trust_by_name.find(k.transparency_log);
      if (root == trust_by_name.end()) {
        return absl::InvalidArgumentError(absl::StrCat(k.origin, ": [[keys]] \"", k.name, "\": transparency_log \"",
                                                       k.transparency_log, "\" is not a [[trust_roots]] name"));
      }
      if (root->second.transparency_logs.empty() && root->second.timestamp_authorities.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            k.origin, ": [[keys]] \"", k.name, "\": transparency_log \"", k.transparency_log,
            "\" lists neither a transparency log nor a timestamp authority: no signature could ever count"));
      }
      trusted.transparency_log = k.transparency_log;
      trusted.time_evidence = verify::SimpleSigningProducerOptions::KeyTimeEvidence{
          k.transparency_log, root->second.transparency_logs, root->second.timestamp_authorities};
    }
  }
  for (const TrustedKey& trusted : policy->keys_) {
    if (by_name.count(trusted.name) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(trusted.origin, ": [[keys]] name \"", trusted.name,
                                                     "\" is already used at ", by_name[trusted.name]->origin));
    }
    by_name[trusted.name] = &trusted;
    auto [it, inserted] = by_fingerprint.emplace(trusted.key->Fingerprint(), &trusted);
    if (!inserted) {
      // Two names for one key would make the identity in a decision ambiguous.
      return absl::InvalidArgumentError(absl::StrCat(trusted.origin, ": [[keys]] \"", trusted.name,
                                                     "\" is the same key as \"", it->second->name, "\" at ",
                                                     it->second->origin, " (", trusted.key->Fingerprint(), ")"));
    }
  }

  std::map<std::string, const TrustedIdentity*> identity_by_name;
  policy->identities_.reserve(config.identities.size());
  for (const config::IdentityConfig& i : config.identities) {
    const std::string where = absl::StrCat(i.origin, ": [[identities]] \"", i.name, "\"");
    if (by_name.count(i.name) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the name is already used by [[keys]] at ",
                                                     by_name[i.name]->origin));
    }
    const trust::TrustRoot* root = nullptr;
    for (const auto& r : policy->trust_roots_) {
      if (r->name == i.trust_root) root = r.get();
    }
    if (root == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": trust_root \"", i.trust_root, "\" is not a [[trust_roots]] name"));
    }
    verify::CertificateIdentity identity;
    identity.issuer = i.issuer;
    identity.issuer_regex = i.issuer_regex;
    identity.subject = i.subject;
    identity.subject_regex = i.subject_regex;
    for (const auto& [claim, value] : i.claims) identity.claims[claim] = value;
    absl::StatusOr<verify::ValidatedCertificateIdentity> validated = verify::ValidateCertificateIdentity(
        std::move(identity), {.issuer_required = root->kind == trust::TrustRootKind::kSigstore});
    if (!validated.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", validated.status().message()));
    policy->identities_.push_back(TrustedIdentity{i.name, i.origin, i.trust_root, *std::move(validated)});
  }
  for (const TrustedIdentity& identity : policy->identities_) identity_by_name[identity.name] = &identity;

  policy->rules_.reserve(config.policies.size());
  for (size_t index = 0; index < config.policies.size(); ++index) {
    const config::PolicyConfig& p = config.policies[index];
    Rule rule;
    rule.name = p.name;
    rule.origin = p.origin;
    rule.index = index;
    rule.require = p.require;
    rule.platform_signatures = p.platform_signatures;
    rule.threshold = p.threshold;
    rule.enforce_from = p.enforce_from;
    rule.revocation = policy->revocation_;
    const std::string where = absl::StrCat(p.origin, ": [[policy]] \"", p.name, "\"");
    ASSIGN_OR_RETURN(rule.namespaces, CompileNamespaces(p.namespaces, where));
    ASSIGN_OR_RETURN(rule.images, CompileImages(p.images, where));
    if (p.require.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": require is empty"));
    // Adds the [[keys]] or [[identities]] entry `name` to `keys` or `identities` (once), and its
    // trust root to the rule's certificate trust.
    auto add_signer = [&](const std::string& name, const std::string& at, std::vector<TrustedKey>& keys,
                          std::vector<TrustedIdentity>& identities) -> absl::Status {
      if (auto identity = identity_by_name.find(name); identity != identity_by_name.end()) {
        bool listed = false;
        for (const TrustedIdentity& i : identities) listed = listed || i.name == name;
        if (listed) return absl::OkStatus();
        identities.push_back(*identity->second);
        bool pooled = false;
        for (const verify::CertificateTrust& t : rule.certificate_trust) {
          pooled = pooled || t.name == identity->second->trust_root;
        }
        if (!pooled) rule.certificate_trust.push_back(trust_by_name.at(identity->second->trust_root));
        return absl::OkStatus();
      }
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        return absl::InvalidArgumentError(absl::StrCat(at, ": requires \"", name,
                                                       "\", which no [[keys]] or [[identities]] entry defines"));
      }
      bool listed = false;
      for (const TrustedKey& k : keys) listed = listed || k.name == name;
      if (!listed) keys.push_back(*it->second);
      return absl::OkStatus();
    };
    for (const std::string& name : p.require) RETURN_IF_ERROR(add_signer(name, where, rule.keys, rule.identities));
    for (const config::AttestationConfig& a : p.attestations) {
      AttestationRule attestation;
      attestation.name = a.name;
      attestation.origin = a.origin;
      attestation.predicate_type = a.predicate_type;
      attestation.require = a.require;
      attestation.match = a.match;
      const std::string at = absl::StrCat(a.origin, ": [[policy.attestations]] \"", a.name, "\" of policy \"", p.name, "\"");
      if (a.require.empty()) return absl::InvalidArgumentError(absl::StrCat(at, ": require is empty"));
      for (const std::string& name : a.require) {
        RETURN_IF_ERROR(add_signer(name, at, attestation.keys, attestation.identities));
      }
      rule.attestations.push_back(std::move(attestation));
    }
    const size_t distinct = rule.keys.size() + rule.identities.size();
    if (rule.threshold < 1 || static_cast<size_t>(rule.threshold) > distinct) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": threshold = ", rule.threshold, ", but it must be from 1 to the ",
                                                     distinct, " distinct entries of require"));
    }
    policy->rules_.push_back(std::move(rule));
  }

  for (const config::ExceptionConfig& e : config.exceptions) {
    const std::string where = absl::StrCat(e.origin, ": [[exceptions]] \"", e.name, "\"");
    ExceptionRule exception;
    exception.name = e.name;
    exception.origin = e.origin;
    exception.reason = e.reason;
    exception.owner = e.owner;
    exception.expires = e.expires;
    ASSIGN_OR_RETURN(exception.images, CompileImages(e.images, where));
    ASSIGN_OR_RETURN(exception.namespaces, CompileNamespaces(e.namespaces, where));
    policy->exceptions_.push_back(std::move(exception));
  }

  // rules_ no longer changes: pointers into it stay valid.
  for (const Rule& rule : policy->rules_) {
    for (const Glob& glob : rule.images) policy->precedence_.push_back({&rule, &glob});
  }
  std::stable_sort(policy->precedence_.begin(), policy->precedence_.end(),
                   [](const PrecedenceEntry& a, const PrecedenceEntry& b) {
                     // Longer literal prefix first, then fewer wildcards, then a policy naming
                     // namespaces, then file order (stable: a policy's globs in the order written).
                     return std::make_tuple(-static_cast<long>(a.glob->literal_prefix()), a.glob->wildcards(),
                                            a.rule->namespaces.empty(), a.rule->index) <
                            std::make_tuple(-static_cast<long>(b.glob->literal_prefix()), b.glob->wildcards(),
                                            b.rule->namespaces.empty(), b.rule->index);
                   });
  return policy;
}

std::optional<Match> Policy::Find(const reference::Reference& image, absl::string_view namespace_name) const {
  if (precedence_.empty()) return std::nullopt;
  const std::vector<std::string> candidates = MatchCandidates(image);
  for (const PrecedenceEntry& entry : precedence_) {
    if (!entry.rule->AdmitsNamespace(namespace_name)) continue;
    for (const std::string& candidate : candidates) {
      if (entry.glob->Matches(candidate)) return Match{entry.rule, entry.glob};
    }
  }
  return std::nullopt;
}

std::vector<const Rule*> Policy::RulesMatching(const reference::Reference& image) const {
  const std::vector<std::string> candidates = MatchCandidates(image);
  std::vector<const Rule*> out;
  for (const Rule& rule : rules_) {
    if (ImageMatched(rule.images, candidates)) out.push_back(&rule);
  }
  return out;
}

const Rule* Policy::RuleNamed(absl::string_view name) const {
  for (const Rule& rule : rules_) {
    if (rule.name == name) return &rule;
  }
  return nullptr;
}

const ExceptionRule* Policy::FindException(const reference::Reference& image, absl::string_view namespace_name,
                                           absl::Time now) const {
  if (exceptions_.empty()) return nullptr;
  for (const ExceptionRule& e : exceptions_) {
    if (e.Covers(image, namespace_name, now)) return &e;
  }
  return nullptr;
}

std::string Policy::Describe(absl::Time now) const {
  std::string out = absl::StrCat("# effective policy of ", path_, "\n", "mode = ", ModeName(mode_),
                                 "\nunmatched = ", UnmatchedName(unmatched_), "\n");
  absl::StrAppend(&out, "trusted keys:\n");
  if (keys_.empty()) absl::StrAppend(&out, "  (none)\n");
  for (const TrustedKey& k : keys_) {
    absl::StrAppend(&out, "  ", k.name, "  ", verify::KeyAlgorithmName(k.key->Algorithm()), "  ",
                    k.key->Fingerprint(), "  (", k.source, ", ", k.origin, ")\n");
    if (k.window.start != absl::InfinitePast() || k.window.end != absl::InfiniteFuture()) {
      absl::StrAppend(&out, "    valid ", DescribeWindow(k.window), "\n");
    }
    if (!k.transparency_log.empty()) {
      absl::StrAppend(&out, "    signing time proven by trust root ", k.transparency_log, "\n");
    }
  }
  absl::StrAppend(&out, "trust roots:\n");
  if (trust_roots_.empty()) absl::StrAppend(&out, "  (none)\n");
  for (const auto& root : trust_roots_) {
    for (absl::string_view line : absl::StrSplit(root->Describe(), '\n', absl::SkipEmpty())) {
      absl::StrAppend(&out, "  ", line, "\n");
    }
  }
  absl::StrAppend(&out, "certificate identities:\n");
  if (identities_.empty()) absl::StrAppend(&out, "  (none)\n");
  for (const TrustedIdentity& i : identities_) {
    absl::StrAppend(&out, "  ", i.name, "  trust root ", i.trust_root, "  (", i.origin, ")\n",
                    "    ", DescribeIdentity(i.identity.identity()), "\n");
  }
  absl::StrAppend(&out,
                  "policies in precedence order (only policies whose namespaces admit the pod's namespace "
                  "take part, and only those without namespaces when the call names none; then longest literal "
                  "prefix, fewest wildcards, a policy naming namespaces before one that does not, file order; "
                  "the first matching line decides):\n");
  if (precedence_.empty()) absl::StrAppend(&out, "  (none: every image is unmatched)\n");
  int n = 0;
  for (const PrecedenceEntry& e : precedence_) {
    absl::StrAppend(&out, "  ", ++n, ". ", e.glob->pattern(), "  →  policy \"", e.rule->name, "\" (", e.rule->origin,
                    ")\n");
    absl::StrAppend(&out, "       namespaces: ",
                    e.rule->namespaces.empty() ? "every namespace, and calls without one" : Patterns(e.rule->namespaces),
                    "\n");
    absl::StrAppend(&out, "       threshold: ", e.rule->threshold, " of ", e.rule->keys.size() + e.rule->identities.size(),
                    "\n");
    if (e.rule->enforce_from != absl::InfinitePast()) {
      absl::StrAppend(&out, "       enforce_from: ", verify::FormatTimeUtc(e.rule->enforce_from),
                      now < e.rule->enforce_from ? "  (not yet: refusals are audited, not enforced)" : "  (enforced)",
                      "\n");
    }
    for (const std::string& name : e.rule->require) {
      for (const TrustedIdentity& i : identities_) {
        if (i.name == name) absl::StrAppend(&out, "       requires ", name, "  certificate identity (trust root ", i.trust_root, ")\n");
      }
      for (const TrustedKey& k : keys_) {
        if (k.name == name) {
          absl::StrAppend(&out, "       requires ", name, "  ", verify::KeyAlgorithmName(k.key->Algorithm()), "  ",
                          k.key->Fingerprint(), "\n");
        }
      }
    }
  }
  absl::StrAppend(&out, "  *. anything else  →  ", UnmatchedName(unmatched_), " ([enforcement] unmatched)\n");
  absl::StrAppend(&out, "exceptions (max_exception_days = ", max_exception_days_, "; at ", verify::FormatTimeUtc(now),
                  "):\n");
  if (exceptions_.empty()) absl::StrAppend(&out, "  (none)\n");
  for (const ExceptionRule& e : exceptions_) {
    absl::StrAppend(&out, "  ", e.name, "  (", e.origin, ")  owner ", e.owner, "\n", "    images: ", Patterns(e.images),
                    "\n    namespaces: ", e.namespaces.empty() ? "every namespace" : Patterns(e.namespaces), "\n",
                    "    reason: ", e.reason, "\n    expires ", verify::FormatTimeUtc(e.expires),
                    now < e.expires ? absl::StrCat("  (", TimeLeft(e.expires - now), " left)")
                                    : std::string("  (EXPIRED: no longer applies)"),
                    "\n");
  }
  absl::StrAppend(&out, "revocation (counts for nothing whatever signs or excepts it):\n");
  auto sorted = [](const absl::flat_hash_set<std::string>& set) {
    std::vector<std::string> v(set.begin(), set.end());
    std::sort(v.begin(), v.end());
    return v;
  };
  for (const auto& [title, set] : {std::pair<const char*, const absl::flat_hash_set<std::string>*>{"keys", &revocation_->keys},
                                   {"certificates", &revocation_->certificates},
                                   {"images", &revocation_->images}}) {
    absl::StrAppend(&out, "  ", title, ":", set->empty() ? " (none)" : "", "\n");
    for (const std::string& digest : sorted(*set)) {
      std::string note;
      if (std::string(title) == "keys") {
        for (const TrustedKey& k : keys_) {
          if (k.key->Fingerprint() == digest) note = absl::StrCat("  ([[keys]] \"", k.name, "\")");
        }
      }
      absl::StrAppend(&out, "    ", digest, note, "\n");
    }
  }
  return out;
}

}  // namespace sigshim::policy
