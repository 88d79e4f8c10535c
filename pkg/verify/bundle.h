// Sigstore bundles (protobuf-specs dev.sigstore.bundle.v1.Bundle, proto3 JSON), parsed strictly:
// the verification material (a key hint, a certificate or a certificate chain; transparency-log
// entries; RFC 3161 timestamps) and the signed content (a message signature or a DSSE envelope).
// Nothing is verified here: sigstore_bundle.h makes signed statements of a bundle.
#ifndef SIGSHIM_PKG_VERIFY_BUNDLE_H_
#define SIGSHIM_PKG_VERIFY_BUNDLE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/transparency_log.h"

namespace sigshim::verify {

// The media types accepted, both spellings of each version (the OCI artifactType of a bundle
// referrer is the same string).
inline constexpr absl::string_view kBundleMediaTypeV01 = "application/vnd.dev.sigstore.bundle+json;version=0.1";
inline constexpr absl::string_view kBundleMediaTypeV02 = "application/vnd.dev.sigstore.bundle+json;version=0.2";
inline constexpr absl::string_view kBundleMediaTypeV03 = "application/vnd.dev.sigstore.bundle+json;version=0.3";
inline constexpr absl::string_view kBundleMediaTypeV01Short = "application/vnd.dev.sigstore.bundle.v0.1+json";
inline constexpr absl::string_view kBundleMediaTypeV02Short = "application/vnd.dev.sigstore.bundle.v0.2+json";
inline constexpr absl::string_view kBundleMediaTypeV03Short = "application/vnd.dev.sigstore.bundle.v0.3+json";

// Bundles (JSON) larger than this are refused before parsing.
inline constexpr size_t kMaxBundleBytes = 8 * 1024 * 1024;
// A bundle may carry at most this many transparency-log entries and timestamps.
inline constexpr size_t kMaxBundleTlogEntries = 8;
inline constexpr size_t kMaxBundleTimestamps = 8;

// Returns the bundle version (1, 2 or 3 for v0.1 … v0.3) a media type names, or 0 when it is not
// one of the six above.
int BundleMinorVersion(absl::string_view media_type);

// A message signature: a signature over an artifact, with the artifact's digest.
struct BundleMessageSignature {
  std::string digest_algorithm;  // "sha256", "sha384" or "sha512" (SHA2_256, SHA2_384, SHA2_512)
  std::string digest;            // raw bytes, that algorithm's length
  std::string signature;         // raw bytes
};

struct Bundle {
  std::string media_type;
  int minor_version = 0;  // 1, 2 or 3
  // The verification material: exactly one of a public-key hint (the key is the verifier's to
  // know) and certificates (DER, the leaf first; a `certificate` gives one, an
  // x509CertificateChain one or more).
  bool public_key = false;
  std::string public_key_hint;  // "" when not given; a hint only, never trusted
  std::vector<std::string> certificates;
  std::vector<TransparencyLogEntry> tlog_entries;
  std::vector<std::string> rfc3161_timestamps;  // DER TimeStampResp each
  // The content: exactly one of the two.
  std::optional<BundleMessageSignature> message_signature;
  std::optional<DsseEnvelope> dsse_envelope;
};

// Parses `json_text` as a bundle. Strict and fail-closed; InvalidArgument "bundle: <JSON path>:
// <problem>" for: JSON that does not parse, repeats a key or nests over 32 levels, more than
// kMaxBundleBytes; a media type other than the six above (unknown versions included); an unknown
// field or one given by both its JSON and .proto names; a field of the wrong type; bytes that are
// not base64; an int64 that is negative, not decimal or over 2^63-1; none or several of publicKey,
// certificate and x509CertificateChain (v0.3 allows no chain), none or both of messageSignature and
// dsseEnvelope; an empty certificate, signature or digest; a digest algorithm other than SHA2_256,
// SHA2_384, SHA2_512 or of the wrong length; a transparency-log entry without logId, kindVersion
// or canonicalizedBody, a v0.1 entry without an inclusion promise, a v0.2+ entry without an
// inclusion proof, a proof without root hash, checkpoint or with a hash that is not 32 bytes;
// more entries, timestamps or certificates than the limits. A null field counts as absent, as
// protojson reads it.
absl::StatusOr<Bundle> ParseBundle(absl::string_view json_text);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_BUNDLE_H_
