#include "pkg/verify/simple_signing.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::verify {

using internal::CheckExactFields;
using internal::GetString;

absl::StatusOr<SimpleSigningPayload> ParseSimpleSigningPayload(absl::string_view payload) {
  ASSIGN_OR_RETURN(nlohmann::json root,
                   internal::ParseStrictJson(payload, kMaxPayloadBytes, "signature payload"));
  RETURN_IF_ERROR(CheckExactFields(root, {"critical", "optional"}, {}, "signature payload"));
  const nlohmann::json& critical = root["critical"];
  RETURN_IF_ERROR(CheckExactFields(critical, {"identity", "image", "type"}, {}, "payload \"critical\""));

  ASSIGN_OR_RETURN(std::string type, GetString(critical, "type", "payload \"critical\""));
  if (type != kSimpleSigningType) {
    return absl::InvalidArgumentError(absl::StrCat("payload critical.type is \"", type.substr(0, 80),
                                                   "\", not \"", kSimpleSigningType, "\""));
  }

  const nlohmann::json& image = critical["image"];
  RETURN_IF_ERROR(CheckExactFields(image, {"docker-manifest-digest"}, {}, "payload critical.image"));
  SimpleSigningPayload out;
  ASSIGN_OR_RETURN(out.manifest_digest,
                   GetString(image, "docker-manifest-digest", "payload critical.image"));
  if (absl::Status valid = ValidateDigest(out.manifest_digest); !valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload critical.image.docker-manifest-digest: ", valid.message()));
  }

  const nlohmann::json& identity = critical["identity"];
  RETURN_IF_ERROR(CheckExactFields(identity, {"docker-reference"}, {}, "payload critical.identity"));
  ASSIGN_OR_RETURN(out.docker_reference,
                   GetString(identity, "docker-reference", "payload critical.identity"));

  // The lexer has already refused invalid UTF-8, so dump() cannot throw here; `replace` keeps that
  // true by construction rather than by argument.
  out.optional_json = root["optional"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return out;
}

absl::StatusOr<std::string> BuildSimpleSigningPayload(absl::string_view docker_reference,
                                                      absl::string_view manifest_digest) {
  RETURN_IF_ERROR(ValidateDigest(manifest_digest));
  for (char c : docker_reference) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "docker reference must be printable ASCII without spaces, as image references are");
    }
  }
  // nlohmann::json keeps object keys sorted and dump() without indent is compact: cosign's layout.
  nlohmann::json payload = {
      {"critical",
       {{"identity", {{"docker-reference", std::string(docker_reference)}}},
        {"image", {{"docker-manifest-digest", std::string(manifest_digest)}}},
        {"type", std::string(kSimpleSigningType)}}},
      {"optional", nullptr}};
  return payload.dump();
}

}  // namespace sigshim::verify
