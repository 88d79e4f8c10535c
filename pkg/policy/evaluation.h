// Policy evaluation over signed statements: which of a rule's required signers vouch for an image.
//
// The formats (pkg/verify producers) turn fetched artifacts into signed statements; this is the
// only place that decides whether a statement counts for a [[policy]] rule. A statement counts for
// the required [[keys]] entry whose key signed it when
//   1. its subject is the target manifest digest ("payload is for sha256:…, not sha256:…");
//   2. its signer is one of the rule's required keys ("signed by an unknown key: …");
//   3. its docker-reference satisfies the rule's reference rule ("reference mismatch: …");
//   4. the key's validity window holds the proven signing time or, when there is none, the time
//      of the decision ("key \"release\" is valid from … to …; signed at … (tlog)" / "…; no proven
//      signing time, decided at …").
// A statement signed by a certificate counts for the first required [[identities]] entry of the
// trust root it chains to (certificate_signer.h checked the chain, signing time and SCTs) whose
// issuer, subject and claims it matches, when 1 and 3 hold too.
// A rule is satisfied once `threshold` distinct required entries counted (k of n): two statements
// that count for one entry count once. A revoked image digest is not judged here (governance.h
// refuses it whatever signs it).
#ifndef SIGSHIM_PKG_POLICY_EVALUATION_H_
#define SIGSHIM_PKG_POLICY_EVALUATION_H_

#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/policy/attestations.h"
#include "pkg/policy/decision.h"
#include "pkg/policy/policy.h"
#include "pkg/reference/reference.h"
#include "pkg/verify/cosign_attestation.h"
#include "pkg/verify/cosign_simple_signing.h"
#include "pkg/verify/signature_manifest.h"
#include "pkg/verify/sigstore_bundle.h"
#include "pkg/verify/statement.h"
#include "pkg/verify/validity.h"

namespace sigshim::policy {

// The image a statement must be about.
struct Target {
  std::string manifest_digest;  // the digest decided on (what will be pulled), "sha256:<hex>"
  reference::Reference image;   // the image as named, normalised
};

// Returns e.g. "from 2026-01-01T00:00:00Z to 2027-01-01T00:00:00Z", "from …", "until …" or
// "always".
std::string DescribeWindow(const verify::ValidityWindow& window);

// Returns the producer options for a rule: its required keys, and those of its
// [[policy.attestations]], as the candidate signers.
verify::SimpleSigningProducerOptions ProducerOptionsFor(const Rule& rule);

// Returns the sigstore bundle producer options for a rule and the image `manifest_digest`: the same
// candidate signers, trust roots and time evidence, that digest as the only artifact digest, and
// `decided_at` as the time of the decision.
verify::BundleProducerOptions BundleOptionsFor(const Rule& rule, absl::string_view manifest_digest,
                                               absl::Time decided_at);

// Returns the cosign ".att" producer options for a rule and the image `manifest_digest`: the same
// candidate signers, trust roots and time evidence as BundleOptionsFor.
verify::AttestationProducerOptions AttestationOptionsFor(const Rule& rule, absl::string_view manifest_digest,
                                                         absl::Time decided_at);

// Where an artifact was found, for Decision::artifacts. Empty fields take defaults: `format` the
// adding method's format, `location` the label, `digest` the artifact's layer digest.
struct ArtifactSource {
  std::string format;
  std::string location;
  std::string digest;
};

// Accumulates the statements of an image's artifacts, one artifact at a time, and judges them
// against one rule. Not thread-safe; `rule` must outlive it.
class RuleEvaluation {
 public:
  // `decided_at` is the time of the decision (the injected clock), used for key windows when a
  // statement has no proven signing time.
  RuleEvaluation(const Rule& rule, Target target, absl::Time decided_at);

  // Returns InvalidArgument ("target manifest digest: …") when `target` cannot be judged against.
  static absl::Status ValidateTarget(const Target& target);

  // Runs the cosign simple-signing producer over `signature` with the rule's keys
  // (ProducerOptionsFor) and judges what it made. `label` names the artifact in rejections, e.g.
  // "signature 1 (sha256:0123…)".
  void AddSignature(absl::string_view label, const verify::Signature& signature, ArtifactSource source = {});

  // Runs the sigstore bundle producer over `bundle_json` (BundleOptionsFor) and judges what it
  // made; the statements' artifact keeps `layer_digest` (the blob it was fetched as).
  void AddBundle(absl::string_view label, absl::string_view bundle_json, absl::string_view layer_digest,
                 ArtifactSource source = {});

  // Runs the cosign ".att" producer over `layer` (AttestationOptionsFor) and judges what it made:
  // attestations only, kept for the rule's [[policy.attestations]].
  void AddAttestation(absl::string_view label, const verify::Signature& layer, ArtifactSource source = {});

  // Dispatches a stored artifact on its format (its media type): cosign simple signing to
  // AddSignature, a sigstore bundle media type (any version) to AddBundle, a DSSE envelope (a
  // cosign ".att" layer) to AddAttestation. Returns false, adding nothing, for any other media type.
  bool AddStored(absl::string_view label, const verify::Signature& artifact);

  // Judges what a producer made of one artifact (or records its error: a check that could not be
  // made). Every statement that counts is kept; when none does, one rejection line gives the
  // reasons. Only statements of kind kSignature count: an attestation (SLSA provenance, …) by a
  // required signer is not an image signature; attestations are kept for the rule's
  // [[policy.attestations]] (attestations.h).
  // `source` describes the artifact for Artifacts() (format "" unless given).
  void AddProduced(absl::string_view label, const absl::StatusOr<verify::ProducedStatements>& produced,
                   ArtifactSource source = {});

  // Records an artifact that could not be used at all (e.g. a blob that does not match its
  // descriptor): "<label>: <reason>".
  void AddRejection(absl::string_view label, absl::string_view reason, ArtifactSource source = {});

  // Records, for Artifacts() only, an artifact found but not examined (a ".sig" layer not fetched
  // once the signatures sufficed, one beyond a limit): it changes no judgement.
  void AddUnexamined(ArtifactSource source, absl::string_view reason);

  // Returns every artifact added, in order, each with why it counted or not: signatures by the
  // [[keys]] or [[identities]] entry they counted for, attestations by the [[policy.attestations]]
  // entries they meet (judged now, with MeetsAttestation).
  std::vector<ArtifactRecord> Artifacts() const;

  // Returns true when the rule is satisfied by what was added so far: at least `threshold`
  // distinct required entries counted, and every [[policy.attestations]] entry is met.
  bool Satisfied() const;
  // Returns true when at least `threshold` distinct required entries counted (attestations aside).
  bool SignaturesSatisfied() const;
  // Returns what the attestations added so far meet (attestations.h).
  AttestationCheck Attestations() const;
  // Returns the number of distinct required entries that counted so far.
  int DistinctCounted() const;

  // Every signature statement that counted, in the order added, with the [[keys]] or
  // [[identities]] name it counted for.
  const std::vector<Evidence>& counted() const { return counted_; }
  // The signatures that counted, then the attestations that met a requirement (what a verdict
  // stores).
  std::vector<Evidence> AllEvidence() const;
  // One line per artifact that did not count as a signature: "<label>: <why>" (an attestation is
  // one, even when it meets a [[policy.attestations]] entry: Explain reads these).
  const std::vector<std::string>& rejections() const { return rejections_; }
  // The same without the lines of artifacts that counted after all (attestations that meet a
  // [[policy.attestations]] entry): what a decision reports as rejected.
  std::vector<std::string> UncountedRejections() const;
  // The first check that could not be made (crypto failure); OK when none.
  const absl::Status& error() const { return error_; }

  // Returns the distinct [[keys]] and [[identities]] names that counted, comma-separated, in the order they counted.
  std::string Identities() const;
  // Returns the earliest proven signing time of the statements that counted; nullopt when none
  // has one.
  std::optional<verify::SigningTime> EarliestSigningTime() const;
  // Returns the last instant at which what counted still satisfies the rule: per required entry,
  // InfiniteFuture once one of its statements with a proven signing time counted, else the latest
  // not_after of its statements (windows judged by the decision time); of those, the
  // threshold-th latest. InfinitePast when the rule is not satisfied.
  absl::Time CountsUntil() const;
  // Returns why the rule is satisfied ("signed by \"release\" (key …) for …", every statement that
  // counted, then one line per [[policy.attestations]] entry naming the attestation that met it)
  // or, when it is not, the reasons (for unmet attestations, why none met them) ("no signature" when nothing was added); when some
  // entries counted but fewer than the threshold: "1 of 2 required signers counted (\"a\"); policy
  // \"p\" needs 2 of a, b: …".
  std::string Explain() const;

 private:
  // What a statement counted for: the [[keys]] or [[identities]] name, and the last instant at
  // which it counts when its signing time is not proven.
  struct Counted {
    std::string name;
    absl::Time valid_until;
  };
  // Returns "1 of 2 required signers counted (\"a\"); policy \"p\" needs 2 of a, b".
  std::string ShortOfThreshold() const;
  // Returns Explain() for the signatures alone.
  std::string ExplainSignatures() const;
  // Returns OK when the statement's docker-reference satisfies the rule's reference rule (always
  // for a sigstore bundle, which names none).
  absl::Status MatchReference(const verify::SignedStatement& statement) const;
  // Returns what `statement` counts for, or the reason it does not.
  absl::StatusOr<Counted> Judge(const verify::SignedStatement& statement) const;
  // The same for a statement signed by a certificate: the first of the rule's identities of the
  // signer's trust root that the certificate matches.
  absl::StatusOr<Counted> JudgeCertificate(const verify::SignedStatement& statement,
                                           const verify::CertificateSigner& signer) const;

  // An artifact as added: its record so far, and its verified attestations (judged by Artifacts()).
  struct AddedArtifact {
    ArtifactRecord record;
    std::vector<std::string> reasons;  // why its signature statements did not count
    std::vector<verify::SignedStatement> attestations;
  };

  const Rule& rule_;
  const Target target_;
  const absl::Time decided_at_;
  std::vector<Evidence> counted_;
  std::vector<verify::SignedStatement> attestations_;  // every verified attestation added
  std::vector<std::string> rejections_;
  std::vector<size_t> rejection_artifact_;  // per line of rejections_, its index in artifacts_
  std::vector<AddedArtifact> artifacts_;
  absl::Status error_;
  // Per required entry that counted: the last instant its statements count.
  std::vector<std::pair<std::string, absl::Time>> until_by_name_;
};

// Evaluates the signatures of one image at once, as stored in a verdict or given by a test, each
// dispatched on its format (RuleEvaluation::AddStored: cosign simple signing or sigstore bundle,
// attestations included); artifacts of any other media type are skipped and counted in `ignored`
// (may be null); at most `max_signatures` are checked. `target` must pass ValidateTarget.
RuleEvaluation EvaluateSignatures(const Rule& rule, const Target& target,
                                  absl::Span<const verify::Signature> signatures, absl::Time decided_at,
                                  int max_signatures = 64, int* ignored = nullptr);

// Returns "signature <n> (<12 hex digits of the digest>…)", the label of the n-th signature (from 1).
std::string SignatureLabel(size_t n, absl::string_view layer_digest);

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_EVALUATION_H_
