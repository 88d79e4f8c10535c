#include "pkg/policy/policy.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/status_macros.h"
#include "pkg/policy/evaluation.h"

namespace sigshim::policy {
namespace {

absl::string_view ModeName(config::Mode mode) { return mode == config::Mode::kEnforce ? "enforce" : "audit"; }
absl::string_view UnmatchedName(config::Unmatched u) { return u == config::Unmatched::kDeny ? "deny" : "allow"; }

}  // namespace

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

  policy->rules_.reserve(config.policies.size());
  for (size_t index = 0; index < config.policies.size(); ++index) {
    const config::PolicyConfig& p = config.policies[index];
    Rule rule;
    rule.name = p.name;
    rule.origin = p.origin;
    rule.index = index;
    rule.require = p.require;
    const std::string where = absl::StrCat(p.origin, ": [[policy]] \"", p.name, "\"");
    if (p.images.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": images is empty"));
    for (size_t i = 0; i < p.images.size(); ++i) {
      absl::StatusOr<Glob> glob = Glob::Compile(p.images[i]);
      if (!glob.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": images[", i, "]: ", glob.status().message()));
      }
      rule.images.push_back(*std::move(glob));
    }
    if (p.require.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": require is empty"));
    for (const std::string& name : p.require) {
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": requires key \"", name, "\", which no [[keys]] defines"));
      }
      bool listed = false;
      for (const TrustedKey& k : rule.keys) listed = listed || k.name == name;
      if (!listed) rule.keys.push_back(*it->second);
    }
    policy->rules_.push_back(std::move(rule));
  }

  // rules_ no longer changes: pointers into it stay valid.
  for (const Rule& rule : policy->rules_) {
    for (const Glob& glob : rule.images) policy->precedence_.push_back({&rule, &glob});
  }
  std::stable_sort(policy->precedence_.begin(), policy->precedence_.end(),
                   [](const PrecedenceEntry& a, const PrecedenceEntry& b) {
                     // Longer literal prefix first, then fewer wildcards, then file order (stable).
                     return std::make_tuple(-static_cast<long>(a.glob->literal_prefix()), a.glob->wildcards(),
                                            a.rule->index) <
                            std::make_tuple(-static_cast<long>(b.glob->literal_prefix()), b.glob->wildcards(),
                                            b.rule->index);
                   });
  return policy;
}

std::optional<Match> Policy::Find(const reference::Reference& image) const {
  if (precedence_.empty()) return std::nullopt;
  const std::vector<std::string> candidates = MatchCandidates(image);
  for (const PrecedenceEntry& entry : precedence_) {
    for (const std::string& candidate : candidates) {
      if (entry.glob->Matches(candidate)) return Match{entry.rule, entry.glob};
    }
  }
  return std::nullopt;
}

std::string Policy::Describe() const {
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
  }
  absl::StrAppend(&out,
                  "policies in precedence order (longest literal prefix, then fewest wildcards, then file "
                  "order; the first matching line decides):\n");
  if (precedence_.empty()) absl::StrAppend(&out, "  (none: every image is unmatched)\n");
  int n = 0;
  for (const PrecedenceEntry& e : precedence_) {
    absl::StrAppend(&out, "  ", ++n, ". ", e.glob->pattern(), "  →  policy \"", e.rule->name, "\" (", e.rule->origin,
                    ")\n");
    for (const std::string& name : e.rule->require) {
      for (const TrustedKey& k : keys_) {
        if (k.name == name) {
          absl::StrAppend(&out, "       requires ", name, "  ", verify::KeyAlgorithmName(k.key->Algorithm()), "  ",
                          k.key->Fingerprint(), "\n");
        }
      }
    }
  }
  absl::StrAppend(&out, "  *. anything else  →  ", UnmatchedName(unmatched_), " ([enforcement] unmatched)\n");
  return out;
}

}  // namespace sigshim::policy
