#include "pkg/trust/certificate_facts.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "pkg/base/digest.h"

namespace sigshim::trust::internal {
namespace {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};

std::string OpenSslDetail() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no detail from OpenSSL";
  char detail[256];
  ERR_error_string_n(code, detail, sizeof(detail));
  return detail;
}

absl::StatusOr<absl::Time> ToTime(const ASN1_TIME* t, absl::string_view what) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("certificate ", what, " time does not decode"));
  }
  absl::CivilSecond civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return absl::FromCivil(civil, absl::UTCTimeZone());
}

// Returns the first entry of `nid` in `name` as printable ASCII, or "".
std::string NameEntry(const X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) {
    ERR_clear_error();
    return "?";
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

}  // namespace

absl::StatusOr<CertificateFacts> InspectCertificate(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509, X509Deleter> x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (x509 == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("not an X.509 certificate (", OpenSslDetail(), ")"));
  }
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return absl::InvalidArgumentError("bytes after the X.509 certificate");
  }
  // Decodes and caches the extensions; EXFLAG_INVALID marks one that does not decode.
  X509_check_purpose(x509.get(), -1, 0);
  const uint32_t flags = X509_get_extension_flags(x509.get());
  if ((flags & EXFLAG_INVALID) != 0) {
    ERR_clear_error();
    return absl::InvalidArgumentError("X.509 certificate has extensions that do not decode");
  }
  CertificateFacts facts;
  facts.is_ca = (flags & EXFLAG_BCONS) != 0 && (flags & EXFLAG_CA) != 0;
  facts.time_stamping_eku =
      (flags & EXFLAG_XKUSAGE) != 0 && (X509_get_extended_key_usage(x509.get()) & XKU_TIMESTAMP) != 0;
  auto not_before = ToTime(X509_get0_notBefore(x509.get()), "notBefore");
  if (!not_before.ok()) return not_before.status();
  auto not_after = ToTime(X509_get0_notAfter(x509.get()), "notAfter");
  if (!not_after.ok()) return not_after.status();
  facts.validity.start = *not_before;
  facts.validity.end = *not_after;
  const X509_NAME* subject = X509_get_subject_name(x509.get());
  std::vector<std::string> parts;
  if (std::string cn = NameEntry(subject, NID_commonName); !cn.empty()) parts.push_back("CN=" + cn);
  if (std::string o = NameEntry(subject, NID_organizationName); !o.empty()) parts.push_back("O=" + o);
  facts.subject = parts.empty() ? "(no CN or O)" : absl::StrJoin(parts, ", ");
  facts.fingerprint = Sha256Digest(der);
  return facts;
}

absl::StatusOr<int> RsaKeyBits(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())),
                                                          &EVP_PKEY_free);
  if (key == nullptr || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not an RSA public key");
  }
  return EVP_PKEY_get_bits(key.get());
}

}  // namespace sigshim::trust::internal
