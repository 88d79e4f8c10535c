// The cosign simple-signing format as a statement producer: one `.sig` layer (payload blob and
// annotations) in, signed statements out: by keys, and by certificates (the certificate identity
// type, certificate_signer.h) when the layer carries dev.sigstore.cosign/certificate.
#ifndef SIGSHIM_PKG_VERIFY_COSIGN_SIMPLE_SIGNING_H_
#define SIGSHIM_PKG_VERIFY_COSIGN_SIMPLE_SIGNING_H_

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

namespace sigshim::verify {

// StatementArtifact::format of the statements made here.
inline constexpr absl::string_view kCosignSimpleSigningFormat = "cosign simple signing";

struct SimpleSigningProducerOptions {
  // The keys a signature may be made with (the candidates the policy names). Each key that
  // verifies a signature yields one statement. Default empty: every signature is "signed by an
  // unknown key".
  std::vector<std::shared_ptr<const PublicKey>> keys;
  // Trusted Rekor log keys. Default empty: transparency-log entries are not looked at and
  // statements carry no signing time. When non-empty, every signature must carry a bundle
  // annotation whose SET verifies with one of these keys and records this payload, signature and
  // signer key; its integratedTime becomes the statement's signing time (source tlog).
  std::vector<std::shared_ptr<const PublicKey>> rekor_keys;
  // Time evidence for signatures by particular keys ([[keys]] transparency_log), by key
  // fingerprint: the trust root whose Rekor logs and timestamp authorities may prove when that
  // key signed. A statement by such a key carries the earliest time they prove (SigningTime's
  // trust_root names the root), or none; whether a key needs one is the policy's question.
  using KeyTimeEvidence = verify::KeyTimeEvidence;
  std::map<std::string, KeyTimeEvidence> key_time_evidence;
  // The trust roots a certificate signature may chain to (certificate_signer.h). Default empty:
  // the certificate annotations are not looked at.
  std::vector<CertificateTrust> certificate_trust;
  // The time of the decision: a private-PKI chain without a proven signing time is checked at it.
  // Default InfinitePast (no certificate is valid then).
  absl::Time now = absl::InfinitePast();
};

// Produces the statements of one cosign signature. Checks, in this order (the first failure is
// the rejection given):
//  1. the layer's media type is kSimpleSigningMediaType;
//  2. a base64 signature annotation is present;
//  3. keys verify it over the exact payload bytes ("signed by an unknown key: …" when none does);
//  4. with Rekor keys: the bundle annotation's SET verifies and records this payload, signature
//     and key ("no Rekor bundle annotation …", "Rekor SET: …");
//  5. with certificate trust: the certificate annotation's key verifies it and the certificate
//     chains to a trust root, with the chain, Rekor bundle and timestamp annotations as evidence
//     (CheckCertificateSignature; a statement per trust root that accepts it);
//  6. only then, the payload parses strictly as a simple-signing payload ("signed payload is
//     malformed: …").
// When neither a key nor a certificate signer is found, the rejection gives the reason of each.
// A statement's subject is the payload's docker-manifest-digest and its artifact carries the
// docker-reference: whether they suit the image is the policy's question, not answered here.
// Errors are not rejections: Internal when the crypto library fails (callers treat it as "could
// not be checked", never as verified).
absl::StatusOr<ProducedStatements> ProduceSimpleSigningStatements(const Signature& signature,
                                                                  const SimpleSigningProducerOptions& options);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_COSIGN_SIMPLE_SIGNING_H_
