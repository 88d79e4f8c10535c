#include "pkg/verify/certificate.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "pkg/base/digest.h"
#include "pkg/verify/certificate_internal.h"
#include "pkg/verify/pem.h"

namespace sigshim::verify {
namespace {

struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct EkuFree {
  void operator()(EXTENDED_KEY_USAGE* p) const { EXTENDED_KEY_USAGE_free(p); }
};
struct BasicConstraintsFree {
  void operator()(BASIC_CONSTRAINTS* p) const { BASIC_CONSTRAINTS_free(p); }
};
struct Utf8StringFree {
  void operator()(ASN1_UTF8STRING* p) const { ASN1_UTF8STRING_free(p); }
};

const std::vector<FulcioClaimInfo>* const kClaims = new std::vector<FulcioClaimInfo>{
    {"1.3.6.1.4.1.57264.1.9", "build_signer_uri"},
    {"1.3.6.1.4.1.57264.1.10", "build_signer_digest"},
    {"1.3.6.1.4.1.57264.1.11", "runner_environment"},
    {"1.3.6.1.4.1.57264.1.12", "source_repository_uri"},
    {"1.3.6.1.4.1.57264.1.13", "source_repository_digest"},
    {"1.3.6.1.4.1.57264.1.14", "source_repository_ref"},
    {"1.3.6.1.4.1.57264.1.15", "source_repository_identifier"},
    {"1.3.6.1.4.1.57264.1.16", "source_repository_owner_uri"},
    {"1.3.6.1.4.1.57264.1.17", "source_repository_owner_identifier"},
    {"1.3.6.1.4.1.57264.1.18", "build_config_uri"},
    {"1.3.6.1.4.1.57264.1.19", "build_config_digest"},
    {"1.3.6.1.4.1.57264.1.20", "build_trigger"},
    {"1.3.6.1.4.1.57264.1.21", "run_invocation_uri"},
    {"1.3.6.1.4.1.57264.1.22", "source_repository_visibility_at_signing"},
    {"1.3.6.1.4.1.57264.1.23", "deployment_environment"},
};

const FulcioClaimInfo* FindClaimByOid(absl::string_view oid) {
  for (const FulcioClaimInfo& claim : *kClaims) {
    if (claim.oid == oid) return &claim;
  }
  return nullptr;
}

std::string AsString(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// Decodes `value` (an extension's OCTET STRING contents), which must be exactly one DER UTF8String.
absl::StatusOr<std::string> DecodeUtf8String(const ASN1_OCTET_STRING* value, absl::string_view what) {
  const unsigned char* p = ASN1_STRING_get0_data(value);
  const long len = ASN1_STRING_length(value);
  const unsigned char* end = p + len;
  std::unique_ptr<ASN1_UTF8STRING, Utf8StringFree> s(d2i_ASN1_UTF8STRING(nullptr, &p, len));
  ERR_clear_error();
  if (s == nullptr || p != end) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a DER UTF8String"));
  }
  return AsString(s.get());
}

absl::StatusOr<absl::Time> AsnTime(const ASN1_TIME* t, absl::string_view what) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("certificate ", what, " does not parse"));
  }
  return absl::FromCivil(absl::CivilSecond(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                           tm.tm_min, tm.tm_sec),
                         absl::UTCTimeZone());
}

absl::Status ParseSans(X509* x509, std::vector<SubjectAltName>* sans) {
  int crit = -1;
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x509, NID_subject_alt_name, &crit, nullptr)));
  ERR_clear_error();
  if (names == nullptr) {
    if (crit == -1) return absl::OkStatus();  // no SAN extension
    return absl::InvalidArgumentError("certificate subjectAltName extension is malformed");
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    switch (name->type) {
      case GEN_EMAIL:
        sans->push_back({SubjectAltName::Kind::kEmail, AsString(name->d.rfc822Name)});
        break;
      case GEN_URI:
        sans->push_back({SubjectAltName::Kind::kUri, AsString(name->d.uniformResourceIdentifier)});
        break;
      case GEN_DNS:
        sans->push_back({SubjectAltName::Kind::kDns, AsString(name->d.dNSName)});
        break;
      case GEN_OTHERNAME: {
        const OTHERNAME* other = name->d.otherName;
        if (ObjectText(other->type_id) != kOidFulcioOtherNameSan) break;  // not one we match
        if (other->value == nullptr || other->value->type != V_ASN1_UTF8STRING) {
          return absl::InvalidArgumentError(absl::StrCat("certificate otherName SAN ", kOidFulcioOtherNameSan,
                                                         " is not a UTF8String"));
        }
        sans->push_back({SubjectAltName::Kind::kOtherName, AsString(other->value->value.utf8string)});
        break;
      }
      default:
        break;  // IP addresses, directory names, …: never an identity here
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string ObjectText(const ASN1_OBJECT* object) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof(buf), object, /*no_name=*/1);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return "(unprintable OID)";
  return std::string(buf, static_cast<size_t>(n));
}

std::string NameText(const X509_NAME* name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (bio == nullptr || name == nullptr) return "";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

std::string OpenSslErrorText() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no detail from OpenSSL";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

std::string Printable(absl::string_view value) {
  for (char c : value) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) return absl::CHexEscape(value);
  }
  return std::string(value);
}

absl::StatusOr<std::shared_ptr<X509>> ParseX509Der(absl::string_view der) {
  if (der.empty()) return absl::InvalidArgumentError("certificate is empty");
  if (der.size() > kMaxCertificateDerBytes) {
    return absl::InvalidArgumentError(absl::StrCat("certificate of ", der.size(),
                                                   " bytes is larger than the limit of ",
                                                   kMaxCertificateDerBytes));
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = p + der.size();
  X509* raw = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (raw == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("certificate DER does not parse: ", OpenSslErrorText()));
  }
  std::shared_ptr<X509> x509(raw, X509_free);
  if (p != end) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate DER has ", end - p, " trailing bytes after the certificate"));
  }
  // RFC 5280 4.2: a certificate must not include more than one instance of an extension.
  std::set<std::string> seen;
  for (int i = 0; i < X509_get_ext_count(x509.get()); ++i) {
    std::string oid = ObjectText(X509_EXTENSION_get_object(X509_get_ext(x509.get(), i)));
    if (!seen.insert(oid).second) {
      return absl::InvalidArgumentError(absl::StrCat("certificate has extension ", oid, " twice"));
    }
  }
  // Makes OpenSSL parse the extensions it knows (and caches them, so later reads need no lock).
  const uint32_t flags = X509_get_extension_flags(x509.get());
  ERR_clear_error();
  if ((flags & EXFLAG_INVALID) != 0) {
    return absl::InvalidArgumentError("certificate has a malformed extension (OpenSSL refuses it)");
  }
  return x509;
}

const std::vector<FulcioClaimInfo>& FulcioClaims() { return *kClaims; }

const FulcioClaimInfo* FindFulcioClaim(absl::string_view name) {
  for (const FulcioClaimInfo& claim : *kClaims) {
    if (claim.name == name) return &claim;
  }
  return nullptr;
}

absl::string_view SanKindName(SubjectAltName::Kind kind) {
  switch (kind) {
    case SubjectAltName::Kind::kEmail:
      return "email";
    case SubjectAltName::Kind::kUri:
      return "URI";
    case SubjectAltName::Kind::kDns:
      return "DNS";
    case SubjectAltName::Kind::kOtherName:
      return "otherName";
  }
  return "?";
}

bool Certificate::AllowsCodeSigning() const {
  if (!parts_->has_eku) return true;
  for (const std::string& eku : parts_->ekus) {
    if (eku == kOidCodeSigning) return true;
  }
  return false;
}

std::string Certificate::Describe() const {
  std::vector<std::string> sans;
  for (const SubjectAltName& san : parts_->sans) {
    sans.push_back(absl::StrCat(SanKindName(san.kind), ":", Printable(san.value)));
  }
  std::string subject = !sans.empty() ? absl::StrJoin(sans, ", ")
                        : !parts_->subject_name.empty() ? parts_->subject_name
                                                        : "no subject";
  return absl::StrCat("certificate ", parts_->fingerprint.substr(0, 7 + 12), " (", subject,
                      ", issued by ", parts_->issuer_name, ")");
}

absl::StatusOr<Certificate> ParseCertificateDer(std::string der) {
  absl::StatusOr<std::shared_ptr<X509>> parsed = ParseX509Der(der);
  if (!parsed.ok()) return parsed.status();
  X509* x509 = parsed->get();
  auto parts = std::make_shared<Certificate::Parts>();
  parts->x509 = *std::move(parsed);

  absl::StatusOr<absl::Time> not_before = AsnTime(X509_get0_notBefore(x509), "notBefore");
  if (!not_before.ok()) return not_before.status();
  absl::StatusOr<absl::Time> not_after = AsnTime(X509_get0_notAfter(x509), "notAfter");
  if (!not_after.ok()) return not_after.status();
  parts->not_before = *not_before;
  parts->not_after = *not_after;
  parts->subject_name = NameText(X509_get_subject_name(x509));
  parts->issuer_name = NameText(X509_get_issuer_name(x509));

  // The key exactly as the certificate encodes it (SubjectPublicKeyInfo), parsed as a trusted key is.
  unsigned char* spki = nullptr;
  int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509), &spki);
  if (spki_len <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate public key does not encode: ", OpenSslErrorText()));
  }
  std::string spki_der(reinterpret_cast<char*>(spki), static_cast<size_t>(spki_len));
  OPENSSL_free(spki);
  // OpenSSL decoded the key with the certificate: it is taken over, not decoded a second time. A key
  // OpenSSL could not decode goes through ParsePublicKeyDer for the reason.
  EVP_PKEY* decoded = X509_get0_pubkey(x509);
  ERR_clear_error();
  absl::StatusOr<std::unique_ptr<const PublicKey>> key = decoded != nullptr
                                                             ? PublicKeyFromDecoded(std::move(spki_der), decoded)
                                                             : ParsePublicKeyDer(std::move(spki_der));
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate public key is not usable: ", key.status().message()));
  }
  parts->public_key = *std::move(key);

  int crit = -1;
  std::unique_ptr<BASIC_CONSTRAINTS, BasicConstraintsFree> constraints(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(x509, NID_basic_constraints, &crit, nullptr)));
  if (constraints == nullptr && crit != -1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("certificate basicConstraints extension is malformed");
  }
  parts->is_ca = constraints != nullptr && constraints->ca != 0;

  if (absl::Status status = ParseSans(x509, &parts->sans); !status.ok()) return status;

  crit = -1;
  std::unique_ptr<EXTENDED_KEY_USAGE, EkuFree> ekus(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(x509, NID_ext_key_usage, &crit, nullptr)));
  ERR_clear_error();
  if (ekus == nullptr && crit != -1) {
    return absl::InvalidArgumentError("certificate extendedKeyUsage extension is malformed");
  }
  if (ekus != nullptr) {
    parts->has_eku = true;
    for (int i = 0; i < sk_ASN1_OBJECT_num(ekus.get()); ++i) {
      parts->ekus.push_back(ObjectText(sk_ASN1_OBJECT_value(ekus.get(), i)));
    }
  }

  std::string legacy_issuer;
  bool has_legacy_issuer = false;
  for (int i = 0; i < X509_get_ext_count(x509); ++i) {
    X509_EXTENSION* ext = X509_get_ext(x509, i);
    const std::string oid = ObjectText(X509_EXTENSION_get_object(ext));
    const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
    if (oid == kOidFulcioIssuerV2) {
      absl::StatusOr<std::string> issuer =
          DecodeUtf8String(value, absl::StrCat("certificate issuer extension ", oid));
      if (!issuer.ok()) return issuer.status();
      parts->oidc_issuer = *std::move(issuer);
      parts->issuer_source = IssuerSource::kV2;
    } else if (oid == kOidFulcioIssuerV1) {
      legacy_issuer = AsString(value);
      has_legacy_issuer = true;
    } else if (const FulcioClaimInfo* claim = FindClaimByOid(oid); claim != nullptr) {
      absl::StatusOr<std::string> text = DecodeUtf8String(
          value, absl::StrCat("certificate claim ", claim->name, " (", oid, ")"));
      if (!text.ok()) return text.status();
      parts->claims[std::string(claim->name)] = *std::move(text);
    }
  }
  if (parts->issuer_source == IssuerSource::kNone && has_legacy_issuer) {
    parts->oidc_issuer = std::move(legacy_issuer);
    parts->issuer_source = IssuerSource::kV1Legacy;
  }

  parts->fingerprint = Sha256Digest(der);
  parts->der = std::move(der);
  return Certificate(std::move(parts));
}

absl::StatusOr<Certificate> ParseCertificatePem(absl::string_view pem) {
  absl::StatusOr<PemBlock> block = DecodeSinglePemBlock(pem);
  if (!block.ok()) return block.status();
  if (block->type != "CERTIFICATE") {
    return absl::InvalidArgumentError(
        absl::StrCat("PEM block is \"", Printable(block->type), "\", expected \"CERTIFICATE\""));
  }
  return ParseCertificateDer(std::move(block->der));
}

absl::StatusOr<std::vector<std::string>> ParseCertificateChainPem(absl::string_view pem) {
  return ParseCertificateChainPem(pem, [](absl::string_view) { return false; });
}

absl::StatusOr<std::vector<std::string>> ParseCertificateChainPem(
    absl::string_view pem, absl::FunctionRef<bool(absl::string_view der)> known) {
  if (pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat("certificate chain PEM of ", pem.size(),
                                                   " bytes is larger than the limit of ", kMaxPemBytes));
  }
  constexpr absl::string_view kBegin = "-----BEGIN ";
  constexpr absl::string_view kEnd = "-----END ";
  std::vector<std::string> chain;
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(pem);
  while (!rest.empty()) {
    const size_t n = chain.size() + 1;
    if (!absl::StartsWith(rest, kBegin)) {
      return absl::InvalidArgumentError(
          chain.empty() ? "certificate chain holds no PEM block (expected -----BEGIN CERTIFICATE-----)"
                        : absl::StrCat("certificate chain: unexpected text after block ", n - 1));
    }
    if (chain.size() == kMaxChainCertificates) {
      return absl::InvalidArgumentError(absl::StrCat("certificate chain holds more than ",
                                                     kMaxChainCertificates, " certificates"));
    }
    size_t end = rest.find(kEnd);
    size_t close = end == absl::string_view::npos ? end : rest.find("-----", end + kEnd.size());
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate chain: block ", n, " has no complete -----END …----- line"));
    }
    absl::StatusOr<PemBlock> block = DecodeSinglePemBlock(rest.substr(0, close + 5));
    if (!block.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate chain: block ", n, ": ", block.status().message()));
    }
    if (block->type != "CERTIFICATE") {
      return absl::InvalidArgumentError(absl::StrCat("certificate chain: block ", n, " is \"",
                                                     Printable(block->type),
                                                     "\", expected \"CERTIFICATE\""));
    }
    if (!known(block->der)) {
      absl::StatusOr<std::shared_ptr<X509>> x509 = ParseX509Der(block->der);
      if (!x509.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("certificate chain: block ", n, ": ", x509.status().message()));
      }
    }
    chain.push_back(std::move(block->der));
    rest = absl::StripLeadingAsciiWhitespace(rest.substr(close + 5));
  }
  return chain;
}

}  // namespace sigshim::verify
