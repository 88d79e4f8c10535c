// Sigstore bundles as a statement producer (cosign v3's default format, and sigstore clients'
// generally): one bundle in, signed statements out — signatures (an in-toto statement of predicate
// type https://sigstore.dev/cosign/sign/v1, or a message signature over the artifact's digest) and
// attestations (any other predicate type) — signed by a trusted key (a publicKey bundle) or a
// certificate (certificate_signer.h), with the signing time its transparency-log entries and RFC
// 3161 timestamps prove.
#ifndef SIGSHIM_PKG_VERIFY_SIGSTORE_BUNDLE_H_
#define SIGSHIM_PKG_VERIFY_SIGSTORE_BUNDLE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/verify/certificate_signer.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/statement.h"

namespace sigshim::verify {

// StatementArtifact::format of the statements made here.
inline constexpr absl::string_view kSigstoreBundleFormat = "sigstore bundle";

struct BundleProducerOptions {
  // The digests the artifact is known by, "<algorithm>:<hex>" (sha256, sha384, sha512): a bundle
  // yields statements only when its message digest, or one of its in-toto statement's subjects,
  // is one of them; that digest becomes the statements' subject. Default empty: every bundle is
  // refused ("no artifact digest to check against").
  std::vector<std::string> artifact_digests;
  // The artifact's bytes when they are known (verify-bundle ARTIFACT_FILE); null otherwise. A
  // message signature is then checked over them, else over its digest (PublicKey::VerifyDigest,
  // which no Ed25519 key can do). Not owned; must outlive the call. Default null.
  const std::string* artifact = nullptr;
  // The keys a publicKey bundle may be signed with (the hint is never trusted: each key is tried).
  // Default empty.
  std::vector<std::shared_ptr<const PublicKey>> keys;
  // Per key fingerprint, the logs and timestamp authorities that may prove when it signed; a key
  // without an entry gets statements without a signing time. Default empty.
  std::map<std::string, KeyTimeEvidence> key_time_evidence;
  // The trust roots a certificate bundle may chain to. Default empty: certificate bundles yield
  // nothing.
  std::vector<CertificateTrust> certificate_trust;
  // The time of the decision (a private-PKI chain without a proven time is checked at it).
  // Default InfinitePast.
  absl::Time now = absl::InfinitePast();
};

// Produces the statements of one bundle. Checks, in this order (the first failure is the
// rejection given):
//  1. the bundle parses (bundle.h: media types v0.1–v0.3 in both spellings, strict proto3 JSON);
//  2. a DSSE envelope carries exactly one signature;
//  3. the signature verifies — over the DSSE pre-authentication encoding, or over the artifact
//     (its bytes when given, else its digest) for a message signature — with a candidate key
//     (publicKey bundles) or with the leaf certificate's key, which must chain to a trust root
//     (certificate bundles; CheckCertificateSignature, with this time evidence);
//  4. time evidence, per trust root (or per key's KeyTimeEvidence): every transparency-log entry
//     of one of its logs verifies and records this signature, signer and content
//     (transparency_log.h; a tampered entry refuses the signature under that root); a Rekor v1 SET
//     proves its integrated time; a Rekor v2 entry counts only with an RFC 3161 timestamp of the
//     root inside the log's validity; every timestamp of the root's authorities over the
//     signature proves its genTime (timestamps that do not verify prove nothing);
//  5. the content binds the artifact: the message digest is one of artifact_digests; or the
//     envelope's payload type is application/vnd.in-toto+json and its statement (v1 or v0.1)
//     lists one of artifact_digests among its subjects ("statement for another digest").
// A statement's kind is kSignature for a message signature and for predicate type
// kCosignSignPredicateType, kAttestation for any other (with predicate_type and predicate_json);
// its artifact holds the bundle (payload: the bundle's bytes; media_type: its mediaType) so that it
// can be checked again offline. Errors are not rejections: Internal when the crypto library fails.
absl::StatusOr<ProducedStatements> ProduceBundleStatements(absl::string_view bundle_json,
                                                           const BundleProducerOptions& options);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_SIGSTORE_BUNDLE_H_
