// RFC 3161 timestamps as signing-time evidence: cosign's "dev.sigstore.cosign/rfc3161timestamp"
// annotation and a sigstore bundle's `timestampVerificationData.rfc3161Timestamps[].signedTimestamp`
// both carry a DER TimeStampResp from a timestamp authority (TSA) over the raw signature bytes.
#ifndef SIGSHIM_PKG_VERIFY_TIMESTAMP_H_
#define SIGSHIM_PKG_VERIFY_TIMESTAMP_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/verify/validity.h"

namespace sigshim::verify {

// Timestamp annotations larger than this are refused before parsing.
inline constexpr size_t kMaxTimestampAnnotationBytes = 64 * 1024;
// DER timestamps (TimeStampResp) larger than this are refused before parsing. A response with a
// TSA chain of a few certificates is 2–6 KiB.
inline constexpr size_t kMaxTimestampDerBytes = 32 * 1024;

// Decodes cosign's rfc3161timestamp annotation, `{"SignedRFC3161Timestamp": "<base64 DER>"}` (the
// JSON form of cosign's bundle.RFC3161Timestamp; its only field, a Go []byte, is standard base64),
// into the DER TimeStampResp. Strict: exactly that one key, a non-empty base64 string, no duplicate
// keys, at most kMaxTimestampAnnotationBytes of JSON and kMaxTimestampDerBytes of DER.
// InvalidArgument naming the problem otherwise. It does not look inside the DER.
absl::StatusOr<std::string> ParseCosignTimestampAnnotation(absl::string_view annotation_json);

// The certificates of a timestamp authority, decoded (PrepareTimestampAuthority); defined in
// timestamp.cc. Immutable; thread-safe.
class TimestampAuthorityChain;

// A timestamp authority a trust root names: its certificates and when it may be relied on.
struct TimestampAuthorityInput {
  std::string name;  // for messages, e.g. the trust root's name and the TSA's URI
  // DER certificates, the TSA's signing (leaf) certificate first, then intermediates, the root
  // last. With one certificate, it is the root and the timestamp must carry its signing
  // certificate; with more, the timestamp must be signed by exactly the first.
  std::vector<std::string> chain_der;
  ValidityWindow window;  // genTime must lie in it (sigstore's `validFor`, both ends inclusive)
  // chain_der decoded, set only by PrepareTimestampAuthority (when the trust material is built) so
  // that verifications decode none of the authority's certificates. Default null: chain_der is
  // decoded on every verification.
  std::shared_ptr<const TimestampAuthorityChain> parsed;
};

// Returns `authority` with `parsed` set: its chain_der decoded once, to be shared by every
// verification. InvalidArgument naming the authority when the chain is empty or a certificate is
// not one DER certificate.
absl::StatusOr<TimestampAuthorityInput> PrepareTimestampAuthority(TimestampAuthorityInput authority);

// What a verified timestamp proves.
struct VerifiedTimestamp {
  absl::Time gen_time;               // the TSTInfo genTime, with its fraction of a second
  std::string authority;             // TimestampAuthorityInput::name of the authority that verified it
  std::string tsa_leaf_fingerprint;  // "sha256:" + hex SHA-256 of the signing certificate's DER
  std::string hash_algorithm;        // the message imprint's hash: "sha256", "sha384" or "sha512"
};

// Verifies `timestamp_der`, a DER TimeStampResp (what cosign and sigstore bundles store; a bare
// TimeStampToken is refused), as proof that `signed_bytes` existed at its genTime. Accepted only
// when all hold:
//  - the response parses with nothing after it, its status is granted (or granted with
//    modifications), and its TSTInfo is version 1;
//  - the message imprint is the SHA-256, SHA-384 or SHA-512 (no other hash) of `signed_bytes`;
//  - for at least one of `authorities`, in order: genTime lies in its window; the signing
//    certificate (from the token or the authority's chain) is an end-entity certificate whose
//    extended key usage is critical and is id-kp-timeStamping alone; every intermediate's EKU, if
//    present, allows timestamping; it chains to the authority's root with every certificate valid at
//    genTime; and the CMS signature and the ESS signing-certificate attribute verify.
// Returns what the timestamp proves; PermissionDenied with a reason for a person otherwise (a
// malformed timestamp included; with several authorities the reason lists each one's refusal);
// InvalidArgument when `authorities` is empty or an authority's chain is empty or not DER
// certificates; Internal when the crypto library fails. Thread-safe; holds no state.
absl::StatusOr<VerifiedTimestamp> VerifyRfc3161Timestamp(
    absl::string_view timestamp_der, absl::string_view signed_bytes,
    absl::Span<const TimestampAuthorityInput> authorities);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_TIMESTAMP_H_
