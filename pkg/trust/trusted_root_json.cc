#include "pkg/trust/trusted_root_json.h"

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "pkg/base/base64.h"
#include "pkg/base/status_macros.h"
#include "pkg/trust/certificate_facts.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::trust {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxChainLength = 10;

// A message field: its proto3 JSON name and its .proto name (protojson accepts either).
struct Field {
  const char* json;
  const char* proto;
};

// TrustedRoot
constexpr Field kMediaType{"mediaType", "media_type"};
constexpr Field kTlogs{"tlogs", "tlogs"};
constexpr Field kCertificateAuthorities{"certificateAuthorities", "certificate_authorities"};
constexpr Field kCtlogs{"ctlogs", "ctlogs"};
constexpr Field kTimestampAuthorities{"timestampAuthorities", "timestamp_authorities"};
// TransparencyLogInstance
constexpr Field kBaseUrl{"baseUrl", "base_url"};
constexpr Field kHashAlgorithm{"hashAlgorithm", "hash_algorithm"};
constexpr Field kPublicKey{"publicKey", "public_key"};
constexpr Field kLogId{"logId", "log_id"};
constexpr Field kCheckpointKeyId{"checkpointKeyId", "checkpoint_key_id"};
constexpr Field kOperator{"operator", "operator"};
// PublicKey
constexpr Field kRawBytes{"rawBytes", "raw_bytes"};
constexpr Field kKeyDetails{"keyDetails", "key_details"};
constexpr Field kValidFor{"validFor", "valid_for"};
// LogId
constexpr Field kKeyId{"keyId", "key_id"};
// CertificateAuthority
constexpr Field kSubject{"subject", "subject"};
constexpr Field kUri{"uri", "uri"};
constexpr Field kCertChain{"certChain", "cert_chain"};
// DistinguishedName
constexpr Field kOrganization{"organization", "organization"};
constexpr Field kCommonName{"commonName", "common_name"};
// X509CertificateChain
constexpr Field kCertificates{"certificates", "certificates"};
// TimeRange
constexpr Field kStart{"start", "start"};
constexpr Field kEnd{"end", "end"};

absl::Status Problem(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path.empty() ? "trusted root" : path, ": ", message));
}

std::string Child(const std::string& path, absl::string_view name) {
  return path.empty() ? std::string(name) : absl::StrCat(path, ".", name);
}

std::string Item(const std::string& path, size_t index) { return absl::StrCat(path, "[", index, "]"); }

// A JSON object whose fields have been checked against the message's known fields.
class Object {
 public:
  static absl::StatusOr<Object> Open(const Json& value, std::string path, std::initializer_list<Field> known) {
    if (!value.is_object()) return Problem(path, absl::StrCat("must be a JSON object, is ", value.type_name()));
    for (const auto& [key, unused] : value.items()) {
      bool found = false;
      for (const Field& f : known) found = found || key == f.json || key == f.proto;
      if (!found) {
        std::vector<std::string> names;
        for (const Field& f : known) names.push_back(f.json);
        return Problem(path, absl::StrCat("unknown field \"", key.substr(0, 64),
                                          "\" (a trusted root is refused rather than partly understood; known "
                                          "fields: ",
                                          absl::StrJoin(names, ", "), ")"));
      }
    }
    return Object(value, std::move(path));
  }

  // Returns the field's value, or null when absent. Null values and both spellings at once are errors.
  absl::StatusOr<const Json*> Find(Field f) const {
    const Json* found = nullptr;
    auto json_it = value_.find(f.json);
    if (json_it != value_.end()) found = &*json_it;
    if (std::string(f.json) != f.proto) {
      auto proto_it = value_.find(f.proto);
      if (proto_it != value_.end()) {
        if (found != nullptr) {
          return Problem(PathOf(f), absl::StrCat("given twice (as ", f.json, " and ", f.proto, ")"));
        }
        found = &*proto_it;
      }
    }
    if (found != nullptr && found->is_null()) return Problem(PathOf(f), "is null (omit the field instead)");
    return found;
  }

  // Returns the field's value; an error naming it when absent.
  absl::StatusOr<const Json*> Require(Field f) const {
    ASSIGN_OR_RETURN(const Json* found, Find(f));
    if (found == nullptr) return Problem(PathOf(f), "missing (required)");
    return found;
  }

  std::string PathOf(Field f) const { return Child(path_, f.json); }
  const std::string& path() const { return path_; }

 private:
  Object(const Json& value, std::string path) : value_(value), path_(std::move(path)) {}
  const Json& value_;
  std::string path_;
};

absl::StatusOr<std::string> String(const Json& v, const std::string& path) {
  if (!v.is_string()) return Problem(path, absl::StrCat("must be a string, is ", v.type_name()));
  return v.get<std::string>();
}

absl::StatusOr<std::string> OptionalString(const Object& o, Field f) {
  ASSIGN_OR_RETURN(const Json* v, o.Find(f));
  if (v == nullptr) return std::string();
  return String(*v, o.PathOf(f));
}

// proto3 JSON bytes: standard or URL-safe base64, padded or not.
absl::StatusOr<std::string> Bytes(const Json& v, const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, String(v, path));
  absl::StatusOr<std::string> decoded = Base64DecodeProtoJson(text);
  if (!decoded.ok()) return Problem(path, absl::StrCat("not base64 (", decoded.status().message(), ")"));
  return *std::move(decoded);
}

absl::StatusOr<std::string> RequiredBytes(const Object& o, Field f) {
  ASSIGN_OR_RETURN(const Json* v, o.Require(f));
  ASSIGN_OR_RETURN(std::string bytes, Bytes(*v, o.PathOf(f)));
  if (bytes.empty()) return Problem(o.PathOf(f), "empty (required)");
  return bytes;
}

bool Digits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// google.protobuf.Timestamp in proto3 JSON: RFC 3339, "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)".
absl::StatusOr<absl::Time> Timestamp(const Json& v, const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, String(v, path));
  absl::string_view s = text;
  auto bad = [&]() {
    return Problem(path, absl::StrCat("\"", s.substr(0, 64),
                                      "\" is not an RFC 3339 timestamp (e.g. 2021-03-07T03:20:29.000Z)"));
  };
  if (s.size() < 20 || !Digits(s.substr(0, 4)) || s[4] != '-' || !Digits(s.substr(5, 2)) || s[7] != '-' ||
      !Digits(s.substr(8, 2)) || (s[10] != 'T' && s[10] != 't') || !Digits(s.substr(11, 2)) || s[13] != ':' ||
      !Digits(s.substr(14, 2)) || s[16] != ':' || !Digits(s.substr(17, 2)) || s.substr(0, 4) == "0000") {
    return bad();
  }
  absl::string_view rest = s.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t digits = 1;
    while (digits < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
    if (digits == 1 || digits > 10) return bad();
    rest.remove_prefix(digits);
  }
  const bool zulu = rest == "Z" || rest == "z";
  const bool offset = rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && Digits(rest.substr(1, 2)) &&
                      rest[3] == ':' && Digits(rest.substr(4, 2));
  if (!zulu && !offset) return bad();
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return bad();
  return t;
}

absl::StatusOr<verify::ValidityWindow> TimeRange(const Object& parent, Field f) {
  ASSIGN_OR_RETURN(const Json* v, parent.Require(f));
  ASSIGN_OR_RETURN(Object range, Object::Open(*v, parent.PathOf(f), {kStart, kEnd}));
  verify::ValidityWindow window;
  ASSIGN_OR_RETURN(const Json* start, range.Require(kStart));
  ASSIGN_OR_RETURN(window.start, Timestamp(*start, range.PathOf(kStart)));
  ASSIGN_OR_RETURN(const Json* end, range.Find(kEnd));
  if (end != nullptr) {
    ASSIGN_OR_RETURN(window.end, Timestamp(*end, range.PathOf(kEnd)));
    if (window.end < window.start) return Problem(range.PathOf(kEnd), "is before validFor.start");
  }
  return window;
}

// What a keyDetails name promises about the key.
struct KeyDetails {
  const char* name;
  bool supported;
  verify::KeyAlgorithm algorithm;
  int rsa_bits;  // 0: not RSA
};

constexpr KeyDetails kKeyTypes[] = {
    {"PKIX_ECDSA_P256_SHA_256", true, verify::KeyAlgorithm::kEcdsaP256Sha256, 0},
    {"PKIX_ECDSA_P384_SHA_384", true, verify::KeyAlgorithm::kEcdsaP384Sha384, 0},
    {"PKIX_ECDSA_P521_SHA_512", true, verify::KeyAlgorithm::kEcdsaP521Sha512, 0},
    {"PKIX_ED25519", true, verify::KeyAlgorithm::kEd25519, 0},
    {"PKIX_RSA_PKCS1V15_2048_SHA256", true, verify::KeyAlgorithm::kRsaPkcs1Sha256, 2048},
    {"PKIX_RSA_PKCS1V15_3072_SHA256", true, verify::KeyAlgorithm::kRsaPkcs1Sha256, 3072},
    {"PKIX_RSA_PKCS1V15_4096_SHA256", true, verify::KeyAlgorithm::kRsaPkcs1Sha256, 4096},
    // Known to protobuf-specs, not verifiable by sigshim.
    {"PUBLIC_KEY_DETAILS_UNSPECIFIED", false, {}, 0},
    {"PKCS1_RSA_PKCS1V5", false, {}, 0},
    {"PKCS1_RSA_PSS", false, {}, 0},
    {"PKIX_RSA_PKCS1V5", false, {}, 0},
    {"PKIX_RSA_PSS", false, {}, 0},
    {"PKIX_RSA_PSS_2048_SHA256", false, {}, 0},
    {"PKIX_RSA_PSS_3072_SHA256", false, {}, 0},
    {"PKIX_RSA_PSS_4096_SHA256", false, {}, 0},
    {"PKIX_ECDSA_P256_HMAC_SHA_256", false, {}, 0},
    {"PKIX_ED25519_PH", false, {}, 0},
    {"PKIX_ECDSA_P384_SHA_256", false, {}, 0},
    {"PKIX_ECDSA_P521_SHA_256", false, {}, 0},
    {"LMS_SHA256", false, {}, 0},
    {"LMOTS_SHA256", false, {}, 0},
    {"ML_DSA_44", false, {}, 0},
    {"ML_DSA_65", false, {}, 0},
    {"ML_DSA_87", false, {}, 0},
};

// Parses a PublicKey message of a log: the key, its details and its validFor.
absl::Status ParseLogKey(const Object& log, TransparencyLog& out) {
  ASSIGN_OR_RETURN(const Json* v, log.Require(kPublicKey));
  ASSIGN_OR_RETURN(Object key, Object::Open(*v, log.PathOf(kPublicKey), {kRawBytes, kKeyDetails, kValidFor}));
  ASSIGN_OR_RETURN(std::string der, RequiredBytes(key, kRawBytes));
  ASSIGN_OR_RETURN(const Json* details_json, key.Require(kKeyDetails));
  if (!details_json->is_string()) {
    return Problem(key.PathOf(kKeyDetails), absl::StrCat("must be an enum name (a string), is ",
                                                         details_json->type_name()));
  }
  const std::string details_name = details_json->get<std::string>();
  const KeyDetails* details = nullptr;
  for (const KeyDetails& d : kKeyTypes) {
    if (details_name == d.name) details = &d;
  }
  if (details == nullptr) {
    return Problem(key.PathOf(kKeyDetails), absl::StrCat("unknown key type \"", details_name.substr(0, 64), "\""));
  }
  if (!details->supported) {
    return Problem(key.PathOf(kKeyDetails),
                   absl::StrCat("key type ", details_name,
                                " is not supported (supported: ECDSA P-256/P-384/P-521 with SHA-256/384/512, "
                                "Ed25519, RSA PKCS#1 v1.5 2048/3072/4096 with SHA-256)"));
  }
  absl::StatusOr<std::unique_ptr<const verify::PublicKey>> parsed = verify::ParsePublicKeyDer(der);
  if (!parsed.ok()) {
    return Problem(key.PathOf(kRawBytes), absl::StrCat("not a usable public key: ", parsed.status().message()));
  }
  if ((*parsed)->Algorithm() != details->algorithm) {
    return Problem(key.PathOf(kKeyDetails),
                   absl::StrCat(details_name, " disagrees with the key in rawBytes, which is ",
                                verify::KeyAlgorithmName((*parsed)->Algorithm())));
  }
  if (details->rsa_bits != 0) {
    ASSIGN_OR_RETURN(int bits, internal::RsaKeyBits(der));
    if (bits != details->rsa_bits) {
      return Problem(key.PathOf(kKeyDetails),
                     absl::StrCat(details_name, " disagrees with the key in rawBytes, which has ", bits, " bits"));
    }
  }
  out.public_key = std::shared_ptr<const verify::PublicKey>(*std::move(parsed));
  ASSIGN_OR_RETURN(out.valid_for, TimeRange(key, kValidFor));
  return absl::OkStatus();
}

absl::StatusOr<std::string> LogIdBytes(const Object& log, Field f) {
  ASSIGN_OR_RETURN(const Json* v, log.Find(f));
  if (v == nullptr) return std::string();
  ASSIGN_OR_RETURN(Object id, Object::Open(*v, log.PathOf(f), {kKeyId}));
  return RequiredBytes(id, kKeyId);
}

absl::StatusOr<std::vector<TransparencyLog>> ParseLogs(const Object& root, Field f) {
  std::vector<TransparencyLog> logs;
  ASSIGN_OR_RETURN(const Json* list, root.Find(f));
  if (list == nullptr) return logs;
  if (!list->is_array()) return Problem(root.PathOf(f), absl::StrCat("must be an array, is ", list->type_name()));
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string path = Item(root.PathOf(f), i);
    ASSIGN_OR_RETURN(Object o, Object::Open((*list)[i], path,
                                            {kBaseUrl, kHashAlgorithm, kPublicKey, kLogId, kCheckpointKeyId,
                                             kOperator}));
    TransparencyLog log;
    ASSIGN_OR_RETURN(const Json* url, o.Require(kBaseUrl));
    ASSIGN_OR_RETURN(log.base_url, String(*url, o.PathOf(kBaseUrl)));
    if (log.base_url.empty()) return Problem(o.PathOf(kBaseUrl), "empty (required)");
    ASSIGN_OR_RETURN(const Json* hash, o.Require(kHashAlgorithm));
    ASSIGN_OR_RETURN(std::string hash_name, String(*hash, o.PathOf(kHashAlgorithm)));
    if (hash_name != "SHA2_256") {
      return Problem(o.PathOf(kHashAlgorithm),
                     absl::StrCat("\"", hash_name.substr(0, 64), "\" is not supported (only SHA2_256)"));
    }
    RETURN_IF_ERROR(ParseLogKey(o, log));
    ASSIGN_OR_RETURN(const Json* unused, o.Require(kLogId));
    (void)unused;
    ASSIGN_OR_RETURN(log.log_id, LogIdBytes(o, kLogId));
    ASSIGN_OR_RETURN(log.checkpoint_key_id, LogIdBytes(o, kCheckpointKeyId));
    ASSIGN_OR_RETURN(log.operator_name, OptionalString(o, kOperator));
    for (size_t j = 0; j < logs.size(); ++j) {
      if (logs[j].log_id == log.log_id) {
        return Problem(Child(o.PathOf(kLogId), "keyId"),
                       absl::StrCat("the same log id as ", Item(root.PathOf(f), j), " (", log.LogIdHex(), ")"));
      }
    }
    logs.push_back(std::move(log));
  }
  return logs;
}

enum class AuthorityKind { kCertificate, kTimestamp };

absl::StatusOr<std::vector<CertificateAuthority>> ParseAuthorities(const Object& root, Field f,
                                                                   AuthorityKind kind) {
  std::vector<CertificateAuthority> authorities;
  ASSIGN_OR_RETURN(const Json* list, root.Find(f));
  if (list == nullptr) return authorities;
  if (!list->is_array()) return Problem(root.PathOf(f), absl::StrCat("must be an array, is ", list->type_name()));
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string path = Item(root.PathOf(f), i);
    ASSIGN_OR_RETURN(Object o, Object::Open((*list)[i], path, {kSubject, kUri, kCertChain, kValidFor, kOperator}));
    CertificateAuthority authority;
    ASSIGN_OR_RETURN(const Json* subject_json, o.Find(kSubject));
    if (subject_json != nullptr) {
      ASSIGN_OR_RETURN(Object subject, Object::Open(*subject_json, o.PathOf(kSubject), {kOrganization, kCommonName}));
      RETURN_IF_ERROR(OptionalString(subject, kOrganization).status());
      RETURN_IF_ERROR(OptionalString(subject, kCommonName).status());
    }
    ASSIGN_OR_RETURN(authority.uri, OptionalString(o, kUri));
    ASSIGN_OR_RETURN(authority.operator_name, OptionalString(o, kOperator));
    ASSIGN_OR_RETURN(const Json* chain_json, o.Require(kCertChain));
    ASSIGN_OR_RETURN(Object chain, Object::Open(*chain_json, o.PathOf(kCertChain), {kCertificates}));
    ASSIGN_OR_RETURN(const Json* certificates, chain.Require(kCertificates));
    if (!certificates->is_array()) {
      return Problem(chain.PathOf(kCertificates), absl::StrCat("must be an array, is ", certificates->type_name()));
    }
    if (certificates->empty()) return Problem(chain.PathOf(kCertificates), "empty (one or more required)");
    if (certificates->size() > kMaxChainLength) {
      return Problem(chain.PathOf(kCertificates),
                     absl::StrCat(certificates->size(), " certificates; at most ", kMaxChainLength, " are accepted"));
    }
    for (size_t j = 0; j < certificates->size(); ++j) {
      ASSIGN_OR_RETURN(Object certificate,
                       Object::Open((*certificates)[j], Item(chain.PathOf(kCertificates), j), {kRawBytes}));
      ASSIGN_OR_RETURN(std::string der, RequiredBytes(certificate, kRawBytes));
      absl::StatusOr<internal::CertificateFacts> facts = internal::InspectCertificate(der);
      if (!facts.ok()) return Problem(certificate.PathOf(kRawBytes), facts.status().message());
      const bool leaf_allowed = kind == AuthorityKind::kTimestamp && j == 0;
      if (!facts->is_ca && !leaf_allowed) {
        return Problem(certificate.PathOf(kRawBytes),
                       absl::StrCat("certificate ", facts->subject, " is not a CA certificate (no basicConstraints "
                                    "CA:TRUE); ",
                                    kind == AuthorityKind::kCertificate
                                        ? "a certificate authority's chain holds CA certificates only"
                                        : "only a timestamp authority's first certificate may be its leaf"));
      }
      if (!facts->is_ca && leaf_allowed && !facts->time_stamping_eku) {
        return Problem(certificate.PathOf(kRawBytes),
                       absl::StrCat("timestamp authority leaf ", facts->subject,
                                    " lacks the timeStamping extended key usage"));
      }
      if (j + 1 == certificates->size()) authority.subject = facts->subject;
      authority.chain_der.push_back(std::move(der));
    }
    ASSIGN_OR_RETURN(authority.valid_for, TimeRange(o, kValidFor));
    authorities.push_back(std::move(authority));
  }
  return authorities;
}

absl::StatusOr<TrustRoot> Parse(absl::string_view json_text) {
  ASSIGN_OR_RETURN(Json json, verify::internal::ParseStrictJson(json_text, kMaxTrustedRootBytes, "trusted root"));
  ASSIGN_OR_RETURN(Object root, Object::Open(json, "",
                                             {kMediaType, kTlogs, kCertificateAuthorities, kCtlogs,
                                              kTimestampAuthorities}));
  ASSIGN_OR_RETURN(const Json* media_type_json, root.Require(kMediaType));
  ASSIGN_OR_RETURN(std::string media_type, String(*media_type_json, root.PathOf(kMediaType)));
  if (media_type != kTrustedRootMediaTypeV01 && media_type != kTrustedRootMediaTypeV02 &&
      media_type != kTrustedRootMediaTypeLegacy) {
    return Problem(root.PathOf(kMediaType),
                   absl::StrCat("unsupported media type \"", media_type.substr(0, 100), "\" (supported: ",
                                kTrustedRootMediaTypeV01, ", ", kTrustedRootMediaTypeV02, ", ",
                                kTrustedRootMediaTypeLegacy, ")"));
  }
  TrustRoot out;
  out.kind = TrustRootKind::kSigstore;
  ASSIGN_OR_RETURN(out.transparency_logs, ParseLogs(root, kTlogs));
  ASSIGN_OR_RETURN(out.certificate_authorities,
                   ParseAuthorities(root, kCertificateAuthorities, AuthorityKind::kCertificate));
  ASSIGN_OR_RETURN(out.ct_logs, ParseLogs(root, kCtlogs));
  ASSIGN_OR_RETURN(out.timestamp_authorities,
                   ParseAuthorities(root, kTimestampAuthorities, AuthorityKind::kTimestamp));
  if (out.transparency_logs.empty() && out.certificate_authorities.empty() && out.timestamp_authorities.empty()) {
    return Problem("", "lists no certificate authority, transparency log or timestamp authority");
  }
  out.require_transparency_log = !out.transparency_logs.empty();
  return out;
}

}  // namespace

absl::StatusOr<TrustRoot> ParseTrustedRoot(absl::string_view json_text, absl::string_view source) {
  absl::StatusOr<TrustRoot> root = Parse(json_text);
  if (!root.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", root.status().message()));
  root->source.push_back(std::string(source));
  return root;
}

}  // namespace sigshim::trust
