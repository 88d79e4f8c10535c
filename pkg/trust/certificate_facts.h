// Internal to pkg/trust: what a trust root needs to know about one DER certificate at load.
#ifndef SIGSHIM_PKG_TRUST_CERTIFICATE_FACTS_H_
#define SIGSHIM_PKG_TRUST_CERTIFICATE_FACTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/verify/validity.h"

namespace sigshim::trust::internal {

struct CertificateFacts {
  // basicConstraints says CA:TRUE.
  bool is_ca = false;
  // extendedKeyUsage is present and lists id-kp-timeStamping.
  bool time_stamping_eku = false;
  // notBefore .. notAfter, both inclusive.
  verify::ValidityWindow validity;
  // The subject's CN and O, e.g. "CN=sigstore, O=sigstore.dev" ("(no CN or O)" when neither);
  // characters outside printable ASCII are shown as '?'.
  std::string subject;
  // "sha256:" + hex SHA-256 of the DER.
  std::string fingerprint;
};

// Parses `der` as one X.509 certificate with OpenSSL. InvalidArgument naming the problem when it
// does not parse, has bytes after the certificate, or carries extensions that do not decode.
absl::StatusOr<CertificateFacts> InspectCertificate(absl::string_view der);

// Returns the size in bits of the RSA key in the DER SubjectPublicKeyInfo `der`;
// InvalidArgument when it is not one.
absl::StatusOr<int> RsaKeyBits(absl::string_view der);

}  // namespace sigshim::trust::internal

#endif  // SIGSHIM_PKG_TRUST_CERTIFICATE_FACTS_H_
