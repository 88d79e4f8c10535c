// The cosign legacy attestation format as a statement producer: one layer of the tag
// "sha256-<hex>.att" (cosign attest, cosign ≤ v2 and v3 with --new-bundle-format=false) in, signed
// statements out. The layer blob is a DSSE envelope (application/vnd.dsse.envelope.v1+json) holding
// an in-toto statement; the layer's annotations carry the signer's certificate and chain, the Rekor
// bundle (SET) and the RFC 3161 timestamp exactly as on a ".sig" layer, except that cosign leaves
// dev.cosignproject.cosign/signature empty (the signature is inside the envelope).
//
// Every statement made here is an attestation (StatementKind::kAttestation), whatever its predicate
// type, a https://sigstore.dev/cosign/sign/v1 one included: cosign itself never reads ".att" when it
// verifies an image signature (`cosign verify` looks at ".sig" and bundles; ".att" is read by
// `cosign verify-attestation`, for any --type), so a statement found there approves nothing on its
// own; it can meet a [[policy.attestations]] entry of its predicate type.
#ifndef SIGSHIM_PKG_VERIFY_COSIGN_ATTESTATION_H_
#define SIGSHIM_PKG_VERIFY_COSIGN_ATTESTATION_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/verify/certificate_signer.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/signature_manifest.h"
#include "pkg/verify/statement.h"
#include "pkg/verify/transparency_log.h"

namespace sigshim::verify {

// StatementArtifact::format of the statements made here.
inline constexpr absl::string_view kCosignAttestationFormat = "cosign attestation";

struct AttestationProducerOptions {
  // The manifest digest the attestation must be about ("sha256:<hex>"): one of the statement's
  // subjects. Required: without it every layer is refused.
  std::string artifact_digest;
  // The keys an envelope may be signed with (each is tried; the envelope's keyid is never
  // trusted). Default empty.
  std::vector<std::shared_ptr<const PublicKey>> keys;
  // Per key fingerprint, the logs and timestamp authorities that may prove when it signed; a key
  // without an entry gets statements without a signing time. Default empty.
  std::map<std::string, KeyTimeEvidence> key_time_evidence;
  // The trust roots a certificate annotation may chain to. Default empty: the certificate
  // annotations are not looked at.
  std::vector<CertificateTrust> certificate_trust;
  // The time of the decision (a private-PKI chain without a proven time is checked at it).
  // Default InfinitePast.
  absl::Time now = absl::InfinitePast();
};

// Parses cosign's Rekor bundle annotation ({"SignedEntryTimestamp": base64, "Payload": {"body":
// base64, "integratedTime", "logIndex", "logID": hex}}) as a Rekor v1 transparency-log entry with
// its inclusion promise and no inclusion proof, its kind and version read from the body, for
// VerifyTransparencyLogEntry (which checks all of it). Strict: InvalidArgument naming the problem
// for JSON that does not parse or repeats a key, a missing or unknown field, base64 or hex that is
// not, an integer that is negative or not one, a body without a string kind and apiVersion.
absl::StatusOr<TransparencyLogEntry> ParseCosignRekorBundle(absl::string_view bundle_json);

// Produces the statements of one ".att" layer (`layer`: its media type, annotations, digest and
// blob). Checks, in this order (the first failure is the rejection given):
//  1. the layer's media type is kDsseEnvelopeMediaType;
//  2. the blob parses as a DSSE envelope (dsse.h) carrying exactly one signature;
//  3. the signature verifies over the envelope's pre-authentication encoding with a candidate key,
//     or with the key of the certificate annotation, which must chain to a trust root at the
//     signing time (CheckCertificateSignature);
//  4. time evidence per trust root (or per key's KeyTimeEvidence): the Rekor bundle annotation,
//     when there is one, must verify as an entry of one of the root's logs recording this envelope
//     signature, signer and payload (a hashedrekord, intoto or dsse body; transparency_log.h; an
//     entry that contradicts the envelope refuses the signature under that root) and proves its
//     integrated time; the RFC 3161 timestamp annotation, over the envelope's bytes as cosign
//     stamps an attestation, proves its genTime;
//  5. the payload type is application/vnd.in-toto+json and the statement (v1 or v0.1) lists
//     artifact_digest among its subjects ("statement for another digest").
// Statements are attestations (see above) with predicate_type and predicate_json; their artifact
// keeps the layer (payload: the envelope bytes) so that it can be checked again offline. Errors are
// not rejections: Internal when the crypto library fails.
absl::StatusOr<ProducedStatements> ProduceAttestationStatements(const Signature& layer,
                                                                const AttestationProducerOptions& options);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_COSIGN_ATTESTATION_H_
