// [[policy.attestations]] as a pure function over verified attestation statements: which
// requirements an image's attestations meet, and why the others are not met.
//
// An attestation statement meets an AttestationRule when
//   1. its kind is attestation and its predicate type is the rule's ("predicate type …, not …");
//   2. its subject is the target manifest digest ("statement is for sha256:…, not sha256:…");
//   3. its signer is not revoked ([revocation] keys or certificates) and is one of the rule's
//      `require`: a key whose window holds the proven signing time (else the decision time), or a
//      certificate of an identity's trust root matching that identity;
//   4. every `match` path, read through the predicate's JSON objects one dotted segment at a time,
//      names a string equal to the expected one (a missing path, or one naming anything but a
//      string, is a mismatch).
#ifndef SIGSHIM_PKG_POLICY_ATTESTATIONS_H_
#define SIGSHIM_PKG_POLICY_ATTESTATIONS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/policy/decision.h"
#include "pkg/policy/policy.h"
#include "pkg/verify/statement.h"

namespace sigshim::policy {

// What the attestations of one image meet.
struct AttestationCheck {
  // True when every requirement of the rule is met (also when it has none).
  bool satisfied = true;
  // Per met requirement, the first statement that met it; Evidence::identity is the signer's
  // [[keys]] or [[identities]] name, Evidence::attestation the requirement's name.
  std::vector<Evidence> counted;
  // One line per requirement: "attestation \"provenance\" (https://slsa.dev/provenance/v1):
  // signed by \"ci-release\" (…)" when met, else "… not met: <why>" naming every statement of
  // that type and why it did not count, or "no attestation of that type" when there is none.
  std::vector<std::string> lines;
};

// Checks `rule.attestations` against `statements` (those of kind attestation count; others are
// ignored) for the image `manifest_digest`, at `decided_at` for key windows without a proven
// signing time. Pure: no I/O, no clock.
AttestationCheck CheckAttestations(const Rule& rule, absl::string_view manifest_digest,
                                   absl::Span<const verify::SignedStatement> statements, absl::Time decided_at);

// Returns the name of the required signer (the [[keys]] or [[identities]] name) by which
// `statement` meets the requirement `attestation` of `rule` for the image `manifest_digest`, or
// PermissionDenied with why it does not (rules 1-4 above, the first that fails). Pure.
absl::StatusOr<std::string> MeetsAttestation(const Rule& rule, const AttestationRule& attestation,
                                             absl::string_view manifest_digest,
                                             const verify::SignedStatement& statement, absl::Time decided_at);

// Returns the string at the dotted `path` of the JSON object `predicate_json`; NotFound naming the
// first missing segment, InvalidArgument when the text is not JSON or the value is not a string.
absl::StatusOr<std::string> PredicateString(absl::string_view predicate_json, absl::string_view path);

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_ATTESTATIONS_H_
