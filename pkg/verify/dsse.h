// DSSE (Dead Simple Signing Envelope, secure-systems-lab/dsse v1.0): the envelope a sigstore
// bundle's `dsseEnvelope` and a cosign `.att` layer carry, and the pre-authentication encoding
// (PAE) its signature is made over.
#ifndef SIGSHIM_PKG_VERIFY_DSSE_H_
#define SIGSHIM_PKG_VERIFY_DSSE_H_

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::verify {

// The payload type of an in-toto statement.
inline constexpr absl::string_view kInTotoPayloadType = "application/vnd.in-toto+json";
// The media type of a cosign `.att` layer (a DSSE envelope as JSON).
inline constexpr absl::string_view kDsseEnvelopeMediaType = "application/vnd.dsse.envelope.v1+json";
// Envelopes (JSON) larger than this are refused before parsing.
inline constexpr size_t kMaxDsseEnvelopeBytes = 4 * 1024 * 1024;
// An envelope may list at most this many signatures (a verifier then insists on exactly one).
inline constexpr size_t kMaxDsseSignatures = 16;

struct DsseSignature {
  std::string keyid;  // "" when not given; a hint only, never trusted
  std::string sig;    // the raw signature bytes (decoded)
};

// A parsed envelope; nothing in it is verified.
struct DsseEnvelope {
  std::string payload_type;
  std::string payload;  // the raw payload bytes (decoded)
  std::vector<DsseSignature> signatures;
};

// Returns the DSSE v1 pre-authentication encoding, the bytes a DSSE signature signs:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal.
std::string DssePae(absl::string_view payload_type, absl::string_view payload);

// Parses an envelope as JSON text: {"payloadType": string, "payload": base64, "signatures":
// [{"sig": base64, "keyid": string}]} (the proto field names payload_type is accepted too, as
// protojson does). Strict: no unknown or repeated field, payload type and at least one signature
// present, each `sig` non-empty, at most kMaxDsseSignatures signatures, base64 in either proto3
// alphabet. InvalidArgument naming the problem otherwise. A null field counts as absent.
absl::StatusOr<DsseEnvelope> ParseDsseEnvelope(absl::string_view json_text);

namespace internal {
// The same for an envelope already parsed as JSON (within a sigstore bundle); `what` names it in
// messages ("dsseEnvelope").
absl::StatusOr<DsseEnvelope> DsseEnvelopeFromJson(const nlohmann::json& json, absl::string_view what);
}  // namespace internal

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_DSSE_H_
