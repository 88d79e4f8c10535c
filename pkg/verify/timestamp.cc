#include "pkg/verify/timestamp.h"

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/openssl_x509.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::verify {

class TimestampAuthorityChain {
 public:
  std::vector<internal::X509Ptr> certs;  // chain_der decoded, in its order; never empty
};

namespace {

using internal::CertificateDer;
using internal::ParseDerCertificate;
using internal::SubjectName;
using internal::TakeOpenSslError;
using internal::X509Ptr;
using internal::X509StackPtr;
using internal::X509StoreCtxPtr;
using internal::X509StorePtr;

constexpr char kAnnotationKey[] = "SignedRFC3161Timestamp";
// PKIStatus values that mean a token was issued (RFC 3161 §2.4.2).
constexpr long kStatusGranted = 0;
constexpr long kStatusGrantedWithMods = 1;

struct TsRespFree {
  void operator()(TS_RESP* p) const { TS_RESP_free(p); }
};
using TsRespPtr = std::unique_ptr<TS_RESP, TsRespFree>;
// A stack that does not own its certificates.
struct X509StackShallowFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }
};
using X509ShallowStackPtr = std::unique_ptr<STACK_OF(X509), X509StackShallowFree>;
struct EkuFree {
  void operator()(EXTENDED_KEY_USAGE* p) const { EXTENDED_KEY_USAGE_free(p); }
};

absl::Status Denied(absl::string_view what) {
  return absl::PermissionDeniedError(absl::StrCat("RFC 3161 timestamp: ", what));
}

// Decodes an authority's chain_der. InvalidArgument naming the authority and certificate otherwise.
absl::StatusOr<std::shared_ptr<const TimestampAuthorityChain>> DecodeChain(const TimestampAuthorityInput& authority);

// What the parse step takes from a TimeStampResp before any authority is consulted.
struct ParsedTimestamp {
  TsRespPtr response;
  PKCS7* token = nullptr;  // owned by `response`
  absl::Time gen_time;
  const EVP_MD* md = nullptr;
  std::string hash_name;
  std::string imprint;
};

// Parses a DER GeneralizedTime "YYYYMMDDHHMMSS[.f…]Z" (UTC, as RFC 3161 requires) to an absl::Time
// with up to nanosecond precision.
absl::StatusOr<absl::Time> ParseGenTime(const ASN1_GENERALIZEDTIME* time) {
  if (time == nullptr) return absl::InvalidArgumentError("no genTime");
  std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(time)),
                   static_cast<size_t>(ASN1_STRING_length(time)));
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("genTime \"", absl::CHexEscape(text.substr(0, 40)),
                                                   "\" is not a UTC GeneralizedTime YYYYMMDDHHMMSS[.fff]Z"));
  };
  if (text.size() < 15 || text.size() > 40 || text.back() != 'Z') return bad();
  for (size_t i = 0; i < 14; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return bad();
  }
  auto number = [&](size_t pos, size_t len) {
    int n = 0;
    for (size_t i = pos; i < pos + len; ++i) n = n * 10 + (text[i] - '0');
    return n;
  };
  int year = number(0, 4), month = number(4, 2), day = number(6, 2);
  int hour = number(8, 2), minute = number(10, 2), second = number(12, 2);
  absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.year() != year || civil.month() != month || civil.day() != day || civil.hour() != hour ||
      civil.minute() != minute || civil.second() != second) {
    return bad();  // e.g. month 13 or 31 February, which CivilSecond would normalise
  }
  absl::Duration fraction;
  size_t fraction_end = text.size() - 1;
  if (fraction_end > 14) {
    if (text[14] != '.' || fraction_end == 15) return bad();
    int64_t nanos = 0;
    int digits = 0;
    for (size_t i = 15; i < fraction_end; ++i) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return bad();
      if (digits < 9) {
        nanos = nanos * 10 + (text[i] - '0');
        ++digits;
      }
    }
    for (; digits < 9; ++digits) nanos *= 10;
    fraction = absl::Nanoseconds(nanos);
  }
  return absl::FromCivil(civil, absl::UTCTimeZone()) + fraction;
}

absl::StatusOr<ParsedTimestamp> ParseTimestamp(absl::string_view der) {
  if (der.empty()) return Denied("empty");
  if (der.size() > kMaxTimestampDerBytes) {
    return Denied(absl::StrCat(der.size(), " bytes, more than the limit of ", kMaxTimestampDerBytes));
  }
  ParsedTimestamp parsed;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = p + der.size();
  parsed.response.reset(d2i_TS_RESP(nullptr, &p, static_cast<long>(der.size())));
  if (parsed.response == nullptr) {
    std::string detail = TakeOpenSslError();
    // Say so when it is a bare TimeStampToken (a CMS ContentInfo), the other form people meet.
    const unsigned char* q = reinterpret_cast<const unsigned char*>(der.data());
    PKCS7* token = d2i_PKCS7(nullptr, &q, static_cast<long>(der.size()));
    if (token != nullptr) {
      PKCS7_free(token);
      ERR_clear_error();
      return Denied(
          "a bare TimeStampToken, not a TimeStampResp (cosign and sigstore bundles store "
          "the TSA's whole response)");
    }
    ERR_clear_error();
    return Denied(absl::StrCat("not a DER TimeStampResp (", detail, ")"));
  }
  if (p != end) return Denied(absl::StrCat(end - p, " bytes after the TimeStampResp"));

  TS_STATUS_INFO* status_info = TS_RESP_get_status_info(parsed.response.get());
  long status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(status_info));
  if (status != kStatusGranted && status != kStatusGrantedWithMods) {
    return Denied(absl::StrCat("the TSA refused the request (PKIStatus ", status, ")"));
  }
  parsed.token = TS_RESP_get_token(parsed.response.get());
  TS_TST_INFO* info = TS_RESP_get_tst_info(parsed.response.get());
  if (parsed.token == nullptr || info == nullptr) return Denied("the response holds no token");
  if (long version = TS_TST_INFO_get_version(info); version != 1) {
    return Denied(absl::StrCat("TSTInfo version ", version, ", only version 1 exists"));
  }

  TS_MSG_IMPRINT* imprint = TS_TST_INFO_get_msg_imprint(info);
  const ASN1_OBJECT* algorithm = nullptr;
  int parameter_type = V_ASN1_UNDEF;
  X509_ALGOR_get0(&algorithm, &parameter_type, nullptr, TS_MSG_IMPRINT_get_algo(imprint));
  switch (OBJ_obj2nid(algorithm)) {
    case NID_sha256:
      parsed.md = EVP_sha256();
      parsed.hash_name = "sha256";
      break;
    case NID_sha384:
      parsed.md = EVP_sha384();
      parsed.hash_name = "sha384";
      break;
    case NID_sha512:
      parsed.md = EVP_sha512();
      parsed.hash_name = "sha512";
      break;
    default: {
      char name[80] = "?";
      OBJ_obj2txt(name, sizeof(name), algorithm, 0);
      return Denied(
          absl::StrCat("message imprint hash ", name, " is not supported (only SHA-256, SHA-384, SHA-512)"));
    }
  }
  if (parameter_type != V_ASN1_UNDEF && parameter_type != V_ASN1_NULL) {
    return Denied("message imprint hash algorithm has parameters");
  }
  const ASN1_OCTET_STRING* message = TS_MSG_IMPRINT_get_msg(imprint);
  parsed.imprint.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(message)),
                        static_cast<size_t>(ASN1_STRING_length(message)));
  if (parsed.imprint.size() != static_cast<size_t>(EVP_MD_get_size(parsed.md))) {
    return Denied(absl::StrCat("message imprint is ", parsed.imprint.size(), " bytes, a ", parsed.hash_name,
                               " digest is ", EVP_MD_get_size(parsed.md)));
  }
  absl::StatusOr<absl::Time> gen_time = ParseGenTime(TS_TST_INFO_get_time(info));
  if (!gen_time.ok()) return Denied(gen_time.status().message());
  parsed.gen_time = *gen_time;
  return parsed;
}

std::string FormatGenTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

// Checks that `leaf` may sign timestamps: an end-entity certificate whose extended key usage
// extension is present once, critical, and holds id-kp-timeStamping alone (RFC 3161 §2.3).
absl::Status CheckSigningCertificate(X509* leaf) {
  std::string who = absl::StrCat("the TSA certificate ", SubjectName(leaf));
  if (X509_check_ca(leaf) != 0) return absl::InvalidArgumentError(absl::StrCat(who, " is a CA certificate"));
  int index = X509_get_ext_by_NID(leaf, NID_ext_key_usage, -1);
  if (index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, " has no extended key usage (timeStamping required)"));
  }
  if (X509_get_ext_by_NID(leaf, NID_ext_key_usage, index) >= 0) {
    return absl::InvalidArgumentError(absl::StrCat(who, " has two extended key usage extensions"));
  }
  if (X509_EXTENSION_get_critical(X509_get_ext(leaf, index)) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(who, " has a non-critical extended key usage"));
  }
  int critical = 0;
  std::unique_ptr<EXTENDED_KEY_USAGE, EkuFree> eku(
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(leaf, NID_ext_key_usage, &critical, nullptr)));
  if (eku == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(who, " has an undecodable extended key usage"));
  }
  if (sk_ASN1_OBJECT_num(eku.get()) != 1 ||
      OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), 0)) != NID_time_stamp) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, " has an extended key usage other than timeStamping alone"));
  }
  return absl::OkStatus();
}

// Checks that each intermediate of a verified `chain` (leaf first, anchor last) that restricts its
// extended key usage allows timestamping or any purpose.
absl::Status CheckIntermediateUsage(STACK_OF(X509) * chain) {
  int n = sk_X509_num(chain);
  for (int i = 1; i + 1 < n; ++i) {
    X509* cert = sk_X509_value(chain, i);
    if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0) continue;
    if ((X509_get_extended_key_usage(cert) & (XKU_TIMESTAMP | XKU_ANYEKU)) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the intermediate ", SubjectName(cert), " does not allow timestamping"));
    }
  }
  return absl::OkStatus();
}

// One authority's verdict on a parsed timestamp. InvalidArgument for a refusal (turned into a reason
// by the caller), Internal for a library failure.
absl::StatusOr<std::string> VerifyWithAuthority(const ParsedTimestamp& parsed,
                                                const TimestampAuthorityInput& authority,
                                                const std::vector<X509Ptr>& chain) {
  if (!authority.window.Contains(parsed.gen_time)) {
    return absl::InvalidArgumentError(absl::StrCat("genTime ", FormatGenTime(parsed.gen_time),
                                                   " is outside the authority's validity ",
                                                   authority.window.Describe()));
  }
  X509StorePtr store(X509_STORE_new());
  X509StackPtr untrusted(sk_X509_new_null());
  if (store == nullptr || untrusted == nullptr) return absl::InternalError("out of memory");
  if (X509_STORE_add_cert(store.get(), chain.back().get()) != 1) {
    return absl::InternalError(absl::StrCat("X509_STORE_add_cert: ", TakeOpenSslError()));
  }
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    if (X509_add_cert(untrusted.get(), chain[i].get(), X509_ADD_FLAG_UP_REF) != 1) {
      return absl::InternalError(absl::StrCat("X509_add_cert: ", TakeOpenSslError()));
    }
  }
  // Certificates are judged at genTime, not now: a TSA certificate may expire after it stamped.
  // The last certificate of the chain is the anchor even when it is not self-signed, as it is for
  // sigstore-go's and the Go standard library's root pools.
  X509_VERIFY_PARAM* param = X509_STORE_get0_param(store.get());
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(parsed.gen_time));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);

  // The signer: found by the SignerInfo's issuer and serial among the authority's certificates,
  // then the token's.
  if (sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(parsed.token)) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the token does not have exactly one signer");
  }
  X509ShallowStackPtr signers(PKCS7_get0_signers(parsed.token, untrusted.get(), 0));
  if (signers == nullptr || sk_X509_num(signers.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        chain.size() > 1 ? "it is not signed by the authority's TSA certificate (nor carries its signer)"
                         : "the token does not carry its signing certificate");
  }
  X509* signer = sk_X509_value(signers.get(), 0);
  if (chain.size() > 1 && X509_cmp(signer, chain.front().get()) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("it is signed by ", SubjectName(signer),
                                                   ", not by the authority's TSA certificate ",
                                                   SubjectName(chain.front().get())));
  }
  RETURN_IF_ERROR(CheckSigningCertificate(signer));

  // The chain, checked here for a message that names the problem and for the intermediates' usage;
  // TS_RESP_verify_signature below builds it again the same way.
  X509StackPtr all_untrusted(sk_X509_new_null());
  if (all_untrusted == nullptr ||
      X509_add_certs(all_untrusted.get(), untrusted.get(), X509_ADD_FLAG_UP_REF) != 1 ||
      (parsed.token->d.sign->cert != nullptr &&
       X509_add_certs(all_untrusted.get(), parsed.token->d.sign->cert, X509_ADD_FLAG_UP_REF) != 1)) {
    return absl::InternalError(absl::StrCat("X509_add_certs: ", TakeOpenSslError()));
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store.get(), signer, all_untrusted.get()) != 1) {
    return absl::InternalError(absl::StrCat("X509_STORE_CTX_init: ", TakeOpenSslError()));
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_TIMESTAMP_SIGN);
  if (X509_verify_cert(ctx.get()) != 1) {
    int error = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
    std::string where = at != nullptr ? SubjectName(at) : absl::StrCat("depth ", depth);
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "the TSA certificate does not chain to the authority's root at genTime ",
        FormatGenTime(parsed.gen_time), ": ", X509_verify_cert_error_string(error), " (", where, ")"));
  }
  RETURN_IF_ERROR(CheckIntermediateUsage(X509_STORE_CTX_get0_chain(ctx.get())));

  // The CMS signature over the TSTInfo and the ESS signing-certificate attribute.
  X509* verified_signer = nullptr;
  int ok = TS_RESP_verify_signature(parsed.token, untrusted.get(), store.get(), &verified_signer);
  X509Ptr verified_signer_owner(verified_signer);
  if (ok != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("its signature does not verify (", TakeOpenSslError(), ")"));
  }
  ERR_clear_error();
  if (X509_cmp(verified_signer, signer) != 0) {
    return absl::InternalError("OpenSSL verified a different signer than the one checked");
  }
  return Sha256Digest(CertificateDer(signer));
}

absl::StatusOr<std::shared_ptr<const TimestampAuthorityChain>> DecodeChain(const TimestampAuthorityInput& authority) {
  if (authority.chain_der.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("timestamp authority ", authority.name, " has no certificates"));
  }
  auto chain = std::make_shared<TimestampAuthorityChain>();
  for (size_t i = 0; i < authority.chain_der.size(); ++i) {
    ASSIGN_OR_RETURN(X509Ptr cert, ParseDerCertificate(authority.chain_der[i],
                                                       absl::StrCat("timestamp authority ", authority.name,
                                                                    " certificate ", i + 1)));
    // Caches the decoded extensions now, so that concurrent verifications only read them.
    X509_get_extension_flags(cert.get());
    chain->certs.push_back(std::move(cert));
  }
  ERR_clear_error();
  return chain;
}

}  // namespace

absl::StatusOr<TimestampAuthorityInput> PrepareTimestampAuthority(TimestampAuthorityInput authority) {
  ASSIGN_OR_RETURN(authority.parsed, DecodeChain(authority));
  return authority;
}

absl::StatusOr<std::string> ParseCosignTimestampAnnotation(absl::string_view annotation_json) {
  auto invalid = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("rfc3161timestamp annotation: ", what));
  };
  absl::StatusOr<nlohmann::json> json =
      internal::ParseStrictJson(annotation_json, kMaxTimestampAnnotationBytes, "rfc3161timestamp annotation");
  if (!json.ok()) return json.status();
  if (absl::Status fields =
          internal::CheckExactFields(*json, {kAnnotationKey}, {}, "rfc3161timestamp annotation");
      !fields.ok()) {
    return fields;
  }
  absl::StatusOr<std::string> b64 = internal::GetString(*json, kAnnotationKey, "rfc3161timestamp annotation");
  if (!b64.ok()) return b64.status();
  if (b64->empty()) return invalid(absl::StrCat(kAnnotationKey, " is empty"));
  if (b64->size() > (kMaxTimestampDerBytes + 2) / 3 * 4 + 2) {
    return invalid(absl::StrCat(kAnnotationKey, " is longer than ", kMaxTimestampDerBytes, " bytes"));
  }
  absl::StatusOr<std::string> der = Base64Decode(*b64);
  if (!der.ok()) return invalid(absl::StrCat(kAnnotationKey, " is not base64: ", der.status().message()));
  if (der->empty()) return invalid(absl::StrCat(kAnnotationKey, " is empty"));
  if (der->size() > kMaxTimestampDerBytes) {
    return invalid(absl::StrCat(kAnnotationKey, " is longer than ", kMaxTimestampDerBytes, " bytes"));
  }
  return *std::move(der);
}

absl::StatusOr<VerifiedTimestamp> VerifyRfc3161Timestamp(
    absl::string_view timestamp_der, absl::string_view signed_bytes,
    absl::Span<const TimestampAuthorityInput> authorities) {
  if (authorities.empty()) return absl::InvalidArgumentError("no timestamp authority to verify against");
  std::vector<std::shared_ptr<const TimestampAuthorityChain>> chains;
  chains.reserve(authorities.size());
  for (const TimestampAuthorityInput& authority : authorities) {
    if (authority.parsed != nullptr) {
      chains.push_back(authority.parsed);
      continue;
    }
    ASSIGN_OR_RETURN(chains.emplace_back(), DecodeChain(authority));
  }

  ASSIGN_OR_RETURN(ParsedTimestamp parsed, ParseTimestamp(timestamp_der));

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(signed_bytes.data(), signed_bytes.size(), digest, &digest_len, parsed.md, nullptr) != 1) {
    return absl::InternalError(absl::StrCat("EVP_Digest: ", TakeOpenSslError()));
  }
  if (digest_len != parsed.imprint.size() || CRYPTO_memcmp(digest, parsed.imprint.data(), digest_len) != 0) {
    return Denied(absl::StrCat("its message imprint is not the ", parsed.hash_name,
                               " of the signed bytes (a timestamp over other data)"));
  }

  std::vector<std::string> refusals;
  for (size_t i = 0; i < authorities.size(); ++i) {
    absl::StatusOr<std::string> fingerprint = VerifyWithAuthority(parsed, authorities[i], chains[i]->certs);
    if (fingerprint.ok()) {
      return VerifiedTimestamp{parsed.gen_time, authorities[i].name, *std::move(fingerprint),
                               parsed.hash_name};
    }
    if (fingerprint.status().code() != absl::StatusCode::kInvalidArgument) return fingerprint.status();
    refusals.push_back(absl::StrCat(authorities[i].name, ": ", fingerprint.status().message()));
  }
  return Denied(absl::StrCat("no trusted timestamp authority verifies it: ", absl::StrJoin(refusals, "; ")));
}

}  // namespace sigshim::verify
