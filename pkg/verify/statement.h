// Signed statements: what every signature format produces and the only thing the policy reads.
//
// A format (cosign simple signing, sigstore bundles) turns registry bytes into statements once
// their cryptography holds; an identity type (a key, a certificate identity) says who signed and,
// with transparency-log or timestamp evidence, when. The policy (pkg/policy) then judges
// statements — approved signers, validity windows — and never parses a format.
#ifndef SIGSHIM_PKG_VERIFY_STATEMENT_H_
#define SIGSHIM_PKG_VERIFY_STATEMENT_H_

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/verify/certificate.h"

namespace sigshim::verify {

// What a statement asserts about its subject. Only a signature counts as an image signature; an
// attestation (an in-toto statement of any predicate type other than kCosignSignPredicateType, e.g.
// SLSA provenance) says something else about the subject, whoever signed it.
enum class StatementKind {
  kSignature,    // cosign simple signing; a sigstore bundle's cosign/sign/v1 statement or message signature
  kAttestation,  // an in-toto statement of another predicate type (SignedStatement::predicate_type)
};

// Returns "signature" or "attestation".
absl::string_view StatementKindName(StatementKind kind);

// A signer identified by a trusted key: that key verified the signature.
struct KeySigner {
  std::string fingerprint;  // PublicKey::Fingerprint(): "sha256:" + hex of the DER SPKI
  std::string description;  // PublicKey::Describe(), for people: "ecdsa-p256-sha256 sha256:0123…"
};

// A signer identified by a certificate: its key verified the signature, and the certificate chains
// to a trust root's certificate authorities at the signing time (certificate_signer.h). Which
// [[identities]] entry it is, is the policy's question: it reads `certificate`.
struct CertificateSigner {
  Certificate certificate;               // the leaf, parsed (issuer, SANs, Fulcio claims)
  std::string trust_root;                // the name of the trust root it chains to
  std::vector<std::string> chain;        // the verified path, DER, leaf first, ending with the root
  std::vector<std::string> scts;         // CT logs whose SCTs verified, "<log id hex> at <time>"
};

// Who signed.
using Signer = std::variant<KeySigner, CertificateSigner>;

// Returns the signer's full fingerprint ("sha256:<hex>").
const std::string& SignerFingerprint(const Signer& signer);

// Returns the kind of signer: "key" or "certificate".
absl::string_view SignerType(const Signer& signer);

// Returns the signer for a person, e.g. "key ecdsa-p256-sha256 sha256:0123abcd…" or
// "certificate issuer https://x subject URI:https://y (trust root sigstore)".
std::string DescribeSigner(const Signer& signer);

// Where a proven signing time comes from.
enum class TimeSource {
  kTransparencyLog,  // a transparency log recorded the signature (Rekor SET: integratedTime)
  kTimestamp,        // an RFC 3161 timestamp authority countersigned it
};

// Returns "tlog" or "timestamp", the names audit lines and verdicts use.
absl::string_view TimeSourceName(TimeSource source);

// A signing time proven by verified evidence. A statement without one has an unknown signing time.
struct SigningTime {
  absl::Time time;
  TimeSource source = TimeSource::kTransparencyLog;
  // Which log or authority vouches for it, for people and evidence: for Rekor
  // "rekor log <logID> index <logIndex>".
  std::string authority;
  // The [[trust_roots]] name whose log or authority proved it; "" when the proof came from Rekor
  // keys given without a trust root.
  std::string trust_root;
};

// Returns `t` as RFC 3339 in UTC: "2026-01-01T00:00:00Z" (fractional seconds only when non-zero).
std::string FormatTimeUtc(absl::Time t);

// Returns "2026-01-01T00:00:00Z (tlog)", or "unknown" for nullopt.
std::string DescribeSigningTime(const std::optional<SigningTime>& time);

// Returns the earlier proven time of `a` and `b` (either may be unknown).
std::optional<SigningTime> EarlierSigningTime(const std::optional<SigningTime>& a,
                                              const std::optional<SigningTime>& b);

// The artifact a statement was produced from, kept as evidence and for re-checking.
struct StatementArtifact {
  std::string format;        // the producer, e.g. kCosignSimpleSigningFormat
  std::string media_type;    // the layer's media type, as fetched
  std::string layer_digest;  // digest of the blob that was verified ("" in some tests)
  std::string payload;       // the exact signed bytes
  std::map<std::string, std::string> annotations;  // the layer's annotations, as fetched
  // The docker-reference the signer wrote in the payload (not normalised); "" for formats that
  // name no reference.
  std::string docker_reference;
};

// A statement whose signature has been verified: `signer` says `kind` about `subject_digest`.
struct SignedStatement {
  std::string subject_digest;  // the manifest digest signed, "sha256:<hex>"
  StatementKind kind = StatementKind::kSignature;
  // The in-toto predicate type and the predicate (its JSON text, as the statement holds it) of a
  // statement carried in a DSSE envelope, for signatures (kCosignSignPredicateType) and
  // attestations alike; "" for formats without one (cosign simple signing, message signatures).
  std::string predicate_type;
  std::string predicate_json;
  Signer signer;
  std::optional<SigningTime> signing_time;  // nullopt: unknown (no verified time evidence)
  // The evidence that verified for this signer (sigstore bundles; 0 for formats that do not count
  // it): transparency-log entries whose inclusion was proven, integrated times proven by a
  // signed entry timestamp, and RFC 3161 timestamps.
  int verified_tlog_entries = 0;
  int verified_integrated_times = 0;
  int verified_timestamps = 0;
  StatementArtifact artifact;
};

// What a producer made of one artifact: one statement per trusted signer that verifies it, or,
// when there is none, why the artifact yields nothing (a reason for a person).
struct ProducedStatements {
  std::vector<SignedStatement> statements;
  std::string rejection;  // "" exactly when `statements` is non-empty
};

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_STATEMENT_H_
