#include "pkg/policy/governance.h"

#include "absl/strings/str_cat.h"
#include "pkg/verify/statement.h"

namespace sigshim::policy {

Governed Govern(const Policy& policy, const GovernanceInput& input, absl::Time now) {
  Governed g;
  g.verdict = input.verdict;
  g.reason = input.reason;
  if (input.verdict == Outcome::kError) return g;  // refused, enforced, in every mode
  for (const std::string& digest : input.digests) {
    if (!digest.empty() && policy.revocation().ImageRevoked(digest)) {
      g.verdict = Outcome::kDeny;
      g.reason = absl::StrCat("image ", digest, " is revoked ([revocation] images)");
      return g;
    }
  }
  if (g.verdict == Outcome::kAllow) {
    g.allowed = true;
    return g;
  }
  if (input.image != nullptr) {
    if (const ExceptionRule* e = policy.FindException(*input.image, input.namespace_name, now)) {
      g.verdict = Outcome::kAllow;
      g.allowed = true;
      g.exception = e;
      g.reason = absl::StrCat("exception \"", e->name, "\" (owner ", e->owner, ", expires ",
                              verify::FormatTimeUtc(e->expires), ": ", e->reason, "); otherwise refused: ", input.reason);
      return g;
    }
  }
  if (input.rule != nullptr && now < input.rule->enforce_from) {
    g.allowed = true;
    g.enforced = false;
    g.reason = absl::StrCat(input.reason, " (not enforced: policy \"", input.rule->name, "\" enforces from ",
                            verify::FormatTimeUtc(input.rule->enforce_from), ")");
    return g;
  }
  if (policy.mode() == config::Mode::kAudit) {
    g.allowed = true;
    g.enforced = false;
  }
  return g;
}

void GovernDecision(const Policy& policy, const Rule* rule, const reference::Reference* image, absl::Time now,
                    Decision& decision) {
  GovernanceInput input;
  input.verdict = decision.verdict;
  input.reason = decision.reason;
  input.image = image;
  input.digests = {decision.digest, decision.index_digest};
  input.namespace_name = decision.namespace_name;
  input.rule = rule;
  const Governed g = Govern(policy, input, now);
  decision.verdict = g.verdict;
  decision.reason = g.reason;
  decision.enforced = g.enforced;
  decision.outcome = g.allowed ? Outcome::kAllow : g.verdict;
  if (g.exception != nullptr) {
    decision.source = "exception";
    decision.exception = g.exception->name;
    decision.exception_owner = g.exception->owner;
    decision.exception_expires = g.exception->expires;
    decision.excepted_refusal = input.reason;
    // What was found stays in rejections; nothing counted for a policy.
    decision.evidence.clear();
    decision.identity.clear();
    decision.signed_at.reset();
  }
}

}  // namespace sigshim::policy
