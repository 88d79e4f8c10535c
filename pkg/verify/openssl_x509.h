// Internal to pkg/verify: owning handles for the OpenSSL X.509, TS and CT objects the timestamp and
// SCT checks use, and strict DER certificate decoding.
#ifndef SIGSHIM_PKG_VERIFY_OPENSSL_X509_H_
#define SIGSHIM_PKG_VERIFY_OPENSSL_X509_H_

#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::verify::internal {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct X509StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct X509StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
// Frees the stack and drops the reference it holds on each certificate.
struct X509StackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreFree>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509StoreCtxFree>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

// Decodes exactly one DER certificate; trailing bytes are refused. InvalidArgument naming `what`
// otherwise.
absl::StatusOr<X509Ptr> ParseDerCertificate(absl::string_view der, absl::string_view what);

// Returns the DER encoding of `cert` (empty when OpenSSL cannot encode it).
std::string CertificateDer(const X509* cert);

// Returns the subject of `cert` in RFC 2253 form, at most 200 characters, for messages.
std::string SubjectName(const X509* cert);

// Returns the text of the oldest OpenSSL error of this thread and clears the queue.
std::string TakeOpenSslError();

}  // namespace sigshim::verify::internal

#endif  // SIGSHIM_PKG_VERIFY_OPENSSL_X509_H_
