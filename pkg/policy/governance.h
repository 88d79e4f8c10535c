// The rules that act on a policy's verdict after the signatures were judged: revoked image
// digests, [[exceptions]], [[policy]] enforce_from and [enforcement] mode (DESIGN.md
// "Configuration contract", Semantics). Pure functions of (verdict, image, namespace, time,
// policy): the daemon, `sigshim verify` and the re-check of stored verdicts all apply them the
// same way, and tests cross every date without sleeping.
//
// In this order:
//   1. an error (nothing could be decided: registry unreachable, bad reference) is refused in
//      every mode, and nothing below applies;
//   2. a digest in [revocation] images (the manifest decided on, or the index it was admitted
//      through) is a denial whatever signed or excepts it, refused in every mode and before any
//      enforce_from ("image sha256:… is revoked ([revocation] images)");
//   3. a denial (by the matched policy, or by unmatched = "deny") that an unexpired exception
//      covers — (image, namespace), strictly before its `expires` — becomes an allow resting on
//      that exception (source "exception");
//   4. a remaining denial under a policy whose enforce_from is still ahead, or in audit mode, is
//      let through and marked not enforced; otherwise it is refused.
#ifndef SIGSHIM_PKG_POLICY_GOVERNANCE_H_
#define SIGSHIM_PKG_POLICY_GOVERNANCE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/policy/decision.h"
#include "pkg/policy/policy.h"
#include "pkg/reference/reference.h"

namespace sigshim::policy {

// What the signatures (or unmatched) said about one image.
struct GovernanceInput {
  Outcome verdict = Outcome::kError;  // the matched rule's, or unmatched's
  std::string reason;                 // why
  // The image as decided on; null when it did not parse (then no exception can cover it).
  const reference::Reference* image = nullptr;
  // The manifest digest decided on and, when it was admitted through an image index, the
  // index's; empty strings are ignored.
  std::vector<std::string> digests;
  std::string namespace_name;  // the pod's namespace, "" when the call names none
  const Rule* rule = nullptr;  // the matched rule; null when none matched
};

// The final answer.
struct Governed {
  Outcome verdict = Outcome::kError;  // what the configuration says (an exception makes it allow)
  bool allowed = false;               // whether the call goes ahead
  bool enforced = true;               // false when a denial was let through (audit mode, enforce_from)
  std::string reason;                 // the input's, or what changed it
  // Set when an exception admitted the image (then the source of the decision is "exception").
  const ExceptionRule* exception = nullptr;
};

// Applies the rules above at `now`. `policy` must outlive the result (exception points into it).
Governed Govern(const Policy& policy, const GovernanceInput& input, absl::Time now);

// Applies Govern to `decision` (whose verdict and reason the signatures set) for `image` under
// `rule` (may be null) at `now`: sets verdict, outcome, enforced, reason, source ("exception" when
// one admitted it) and the exception's name, owner and expiry.
void GovernDecision(const Policy& policy, const Rule* rule, const reference::Reference* image, absl::Time now,
                    Decision& decision);

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_GOVERNANCE_H_
