// The answer for one image: allow, deny or error — never a bare bool — with the reason and the
// evidence a person or an audit log needs.
#ifndef SIGSHIM_PKG_POLICY_DECISION_H_
#define SIGSHIM_PKG_POLICY_DECISION_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/verify/statement.h"

namespace sigshim::policy {

// Three outcomes. An error means "could not decide" (registry unreachable, unusable reference,
// crypto failure): callers refuse the image (fail closed) and report it as an error, not a denial.
enum class Outcome { kAllow, kDeny, kError };

// Returns "allow", "deny" or "error".
absl::string_view OutcomeName(Outcome outcome);

// A signed statement that counted for the matched rule: a signature, or an attestation that met
// a [[policy.attestations]] entry.
struct Evidence {
  std::string identity;               // the [[keys]] or [[identities]] name it counted for
  verify::SignedStatement statement;  // signer, signing time, and the artifact as fetched
  std::string attestation;            // the [[policy.attestations]] name it met; "" for a signature
};

// One artifact found for the image's digest (a ".sig" layer, a sigstore bundle referrer, a ".att"
// layer, or a manifest or referrer that could not be used), and what became of it: what `sigshim
// verify` lists.
struct ArtifactRecord {
  // The format that read it: verify::kCosignSimpleSigningFormat, kSigstoreBundleFormat or
  // kCosignAttestationFormat; "" when nothing could be read (an unusable manifest or referrer).
  std::string format;
  // Where it was found, e.g. "tag sha256-<hex>.sig layer 2", "referrer sha256:<hex> (referrers
  // API)", "referrer sha256:<hex> (tag sha256-<hex>)", "tag sha256-<hex>.att layer 1".
  std::string location;
  std::string digest;  // the blob (layer) holding it; "" when none
  // What its verified statements are ("signature" or "attestation"), and their in-toto predicate
  // type ("" for formats without one); both "" when no statement verified.
  std::string kind;
  std::string predicate_type;
  // Why it counted, one line per use: "identity \"release\"" for a signature, "attestation
  // \"provenance\" (signed by \"release\")" for a met [[policy.attestations]] entry. Empty when
  // it did not count.
  std::vector<std::string> counted_for;
  // Why it did not count (the rejection, or "not fetched: …"); "" when it counted.
  std::string reason;
};

struct Decision {
  // What to do. Equals `verdict` except when a denial is let through (audit mode, or before its
  // policy's enforce_from: then `enforced` is false).
  Outcome outcome = Outcome::kError;
  // What the configuration says (signatures, revocation, exceptions; governance.h), before audit
  // mode and enforce_from: kept so that an audited denial stays visible.
  Outcome verdict = Outcome::kError;
  // False when a denial was let through (audit mode, enforce_from still ahead).
  bool enforced = true;
  // What the decision rests on: "registry" (verified now), "unmatched" (no policy matched),
  // "exception" (an [[exceptions]] entry admitted it); the daemon adds "verdict" and "config".
  std::string source = "registry";
  // The [[exceptions]] entry that admitted the image: its name, owner and expiry; "" and
  // InfinitePast when none.
  std::string exception;
  std::string exception_owner;
  absl::Time exception_expires = absl::InfinitePast();
  // Set when an exception admitted the image: the reason the configuration would otherwise have
  // refused it (the verdict was then kDeny); "" otherwise.
  std::string excepted_refusal;
  // For a person: why. For an error, starts with a class: "InvalidReference: ",
  // "RegistryUnavailable: ", "RegistryError: ", "VerificationError: ".
  std::string reason;

  std::string image;           // the normalised reference (":latest" added when it had neither tag nor digest); "" when it did not parse
  std::string namespace_name;  // the Kubernetes namespace asked about ("" when none)
  std::string digest;          // the manifest digest decided on (what a pull is pinned to); "" when not established
  // Set when the tag resolved to an image index and a signature over the node's platform manifest
  // admitted it ([[policy]] platform_signatures, pkg/policy/platform.h): the index's digest, and
  // that manifest's platform ("linux/amd64"). `digest` is then the manifest's. "" otherwise.
  std::string index_digest;
  std::string platform;
  std::string policy;          // the matched [[policy]] name; "" when none matched
  std::string pattern;         // the glob of that policy that matched; "" when none
  // Every [[keys]] or [[identities]] name whose signature counted, comma-separated in the order they counted; ""
  // when none did.
  std::string identity;
  // Every statement that counted (empty unless allowed by signatures): the signatures, then the
  // attestations that met the policy's [[policy.attestations]].
  std::vector<Evidence> evidence;
  // The earliest proven signing time of the statements that counted; nullopt when unknown.
  std::optional<verify::SigningTime> signed_at;
  std::vector<std::string> rejections;  // one line per signature that did not count
  // Every artifact found for `digest`, in the order examined: ".sig" layers, ".att" layers, then
  // referrers; each with why it counted or not. Empty when no policy matched or the digest was not
  // established.
  std::vector<ArtifactRecord> artifacts;
  int unchecked_signatures = 0;         // signature layers beyond the limit, neither fetched nor checked
  // Registry HTTP requests made for this decision (token round trips included). Exact when no
  // other decision uses the same registry client at the same time.
  uint64_t registry_requests = 0;
  absl::Time decided_at;       // from the injected clock
  absl::Duration latency;      // from the injected clock

  // Returns true when audit mode turned a denial into an allow.
  bool audited() const { return outcome != verdict; }
};

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_DECISION_H_
