// sigstore trusted_root.json (protobuf-specs dev.sigstore.trustroot.v1.TrustedRoot, proto3 JSON).
#ifndef SIGSHIM_PKG_TRUST_TRUSTED_ROOT_JSON_H_
#define SIGSHIM_PKG_TRUST_TRUSTED_ROOT_JSON_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/trust/trust_root.h"

namespace sigshim::trust {

// A trusted_root.json larger than this is refused (1 MiB: the public-good instance's is under
// 16 KiB; the limit leaves room for years of rotations and stays cheap to parse).
inline constexpr size_t kMaxTrustedRootBytes = 1 << 20;

// The media types accepted in `mediaType`.
inline constexpr absl::string_view kTrustedRootMediaTypeV01 = "application/vnd.dev.sigstore.trustedroot.v0.1+json";
inline constexpr absl::string_view kTrustedRootMediaTypeV02 = "application/vnd.dev.sigstore.trustedroot.v0.2+json";
inline constexpr absl::string_view kTrustedRootMediaTypeLegacy =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

// Parses a sigstore trusted_root.json read from `source` (a path, for the result's `source` and
// for messages). Returns a TrustRoot of kind kSigstore with no name or origin, and
// require_transparency_log set when it lists transparency logs.
//
// Strict, and fail-closed; InvalidArgument "<source>: <JSON path>: <problem>", e.g.
// "…/root.json: tlogs[1].publicKey.rawBytes: not base64", on:
//  - JSON that does not parse, repeats a key in an object, nests deeper than 32 levels, or is
//    over kMaxTrustedRootBytes; a field of the wrong JSON type; null for any field;
//  - a `mediaType` other than the three above;
//  - a field this version does not know. proto3 JSON parsers (protojson, which sigstore-go uses)
//    refuse unknown fields by default, and so does this: a trust root is what every other check
//    rests on, and a field added later may narrow what it trusts; ignoring it could trust more
//    than its author meant. Every field of protobuf-specs' TrustedRoot is known, v0.2's
//    `checkpointKeyId` and `operator` included. Fields may be spelled as in JSON (lowerCamelCase)
//    or as in the .proto (snake_case), as protojson accepts; both at once is an error;
//  - a required field missing: a log's baseUrl, hashAlgorithm, publicKey.{rawBytes, keyDetails,
//    validFor.start} and logId.keyId; an authority's certChain.certificates (one or more, each
//    with rawBytes) and validFor.start (sigstore-go leaves an authority's validFor optional;
//    here every piece of trust material has a stated start). validFor.end is optional (open);
//    an end before its start is an error;
//  - bytes that are not base64 (standard or URL-safe, padded or not, as proto3 JSON allows);
//    timestamps that are not RFC 3339 (at most 9 fractional digits, `Z` or an offset);
//    enums other than by name;
//  - a hashAlgorithm other than SHA2_256; a public key that verify::ParsePublicKeyDer refuses, or
//    whose keyDetails disagrees with it (PKIX_ECDSA_P256_SHA_256, PKIX_ECDSA_P384_SHA_384,
//    PKIX_ECDSA_P521_SHA_512, PKIX_ED25519, PKIX_RSA_PKCS1V15_{2048,3072,4096}_SHA256 with that
//    many bits); any other keyDetails (RSA-PSS, PKCS#1 keys, pre-hashed Ed25519, LMS, ML-DSA, …)
//    is unsupported and an error, not skipped;
//  - two logs with one log id in the same list;
//  - a certificate that OpenSSL does not parse (or with bytes after it); in a certificate
//    authority's chain, a certificate that is not a CA (basicConstraints CA:TRUE); in a timestamp
//    authority's chain, a certificate after the first that is not a CA, or a first certificate
//    that is neither a CA nor has the timeStamping extended key usage; a chain over 10 long;
//  - a root that lists no certificate authority, transparency log or timestamp authority.
absl::StatusOr<TrustRoot> ParseTrustedRoot(absl::string_view json_text, absl::string_view source);

}  // namespace sigshim::trust

#endif  // SIGSHIM_PKG_TRUST_TRUSTED_ROOT_JSON_H_
