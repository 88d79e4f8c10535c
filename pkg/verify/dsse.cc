#include "pkg/verify/dsse.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/proto_json.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::verify {

using internal::ProtoField;
using internal::ProtoObject;

std::string DssePae(absl::string_view payload_type, absl::string_view payload) {
  return absl::StrCat("DSSEv1 ", payload_type.size(), " ", payload_type, " ", payload.size(), " ", payload);
}

absl::StatusOr<DsseEnvelope> ParseDsseEnvelope(absl::string_view json_text) {
  ASSIGN_OR_RETURN(nlohmann::json json, internal::ParseStrictJson(json_text, kMaxDsseEnvelopeBytes, "DSSE envelope"));
  return internal::DsseEnvelopeFromJson(json, "DSSE envelope");
}

namespace internal {

absl::StatusOr<DsseEnvelope> DsseEnvelopeFromJson(const nlohmann::json& json, absl::string_view what) {
  constexpr ProtoField kPayload{"payload", "payload"};
  constexpr ProtoField kPayloadType{"payloadType", "payload_type"};
  constexpr ProtoField kSignatures{"signatures", "signatures"};
  constexpr ProtoField kSig{"sig", "sig"};
  constexpr ProtoField kKeyid{"keyid", "keyid"};
  ASSIGN_OR_RETURN(ProtoObject envelope, ProtoObject::Make(json, std::string(what), {kPayload, kPayloadType, kSignatures}));
  DsseEnvelope out;
  ASSIGN_OR_RETURN(out.payload_type, envelope.String(kPayloadType, /*required=*/true));
  ASSIGN_OR_RETURN(out.payload, envelope.Bytes(kPayload, /*required=*/false));
  ASSIGN_OR_RETURN(std::vector<const nlohmann::json*> signatures,
                   envelope.Array(kSignatures, /*required=*/true, kMaxDsseSignatures));
  for (size_t i = 0; i < signatures.size(); ++i) {
    ASSIGN_OR_RETURN(ProtoObject signature,
                     ProtoObject::Make(*signatures[i], absl::StrCat(envelope.PathOf(kSignatures), "[", i, "]"),
                                       {kSig, kKeyid}));
    DsseSignature& s = out.signatures.emplace_back();
    ASSIGN_OR_RETURN(s.sig, signature.Bytes(kSig, /*required=*/true));
    ASSIGN_OR_RETURN(s.keyid, signature.String(kKeyid, /*required=*/false));
  }
  return out;
}

}  // namespace internal
}  // namespace sigshim::verify
