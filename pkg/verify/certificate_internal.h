// Helpers shared by certificate.cc, certificate_chain.cc and certificate_identity.cc; not part of
// the package's interface.
#ifndef SIGSHIM_PKG_VERIFY_CERTIFICATE_INTERNAL_H_
#define SIGSHIM_PKG_VERIFY_CERTIFICATE_INTERNAL_H_

#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::verify {

// Returns the dotted form of `object`, e.g. "1.3.6.1.4.1.57264.1.8".
std::string ObjectText(const ASN1_OBJECT* object);

// Returns `name` in RFC 2253 form, e.g. "CN=sigstore-intermediate,O=sigstore.dev"; "" when empty.
std::string NameText(const X509_NAME* name);

// Returns the text of the oldest OpenSSL error of this thread and clears the queue.
std::string OpenSslErrorText();

// Returns `value` unchanged when it is printable ASCII, else C-escaped: safe in a message.
std::string Printable(absl::string_view value);

// Parses one DER certificate with OpenSSL: size limit, no trailing bytes, no duplicate extension,
// no extension OpenSSL finds malformed. InvalidArgument naming the problem otherwise.
absl::StatusOr<std::shared_ptr<X509>> ParseX509Der(absl::string_view der);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_CERTIFICATE_INTERNAL_H_
