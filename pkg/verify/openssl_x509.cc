#include "pkg/verify/openssl_x509.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace sigshim::verify::internal {

absl::StatusOr<X509Ptr> ParseDerCertificate(absl::string_view der, absl::string_view what) {
  if (der.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = p + der.size();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a DER certificate (", TakeOpenSslError(), ")"));
  }
  if (p != end) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has ", end - p, " bytes after the certificate"));
  }
  return cert;
}

std::string CertificateDer(const X509* cert) {
  unsigned char* out = nullptr;
  int len = i2d_X509(cert, &out);
  if (len <= 0) {
    ERR_clear_error();
    return "";
  }
  std::string der(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

std::string SubjectName(const X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "(unprintable subject)";
  std::string name;
  if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    if (len > 0) name.assign(data, static_cast<size_t>(len));
  }
  BIO_free(bio);
  ERR_clear_error();
  if (name.empty()) return "(empty subject)";
  if (name.size() > 200) name = name.substr(0, 200) + "…";
  return name;
}

std::string TakeOpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no detail from OpenSSL";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

}  // namespace sigshim::verify::internal
