// A test-only certificate factory: keys and X.509 certificates made with OpenSSL's API, so that
// tests can cross every edge (validity, CA flags, EKU, SANs, Fulcio extensions) without fixtures.
#ifndef SIGSHIM_TEST_PKG_VERIFY_TEST_CA_H_
#define SIGSHIM_TEST_PKG_VERIFY_TEST_CA_H_

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sigshim::verify::test_ca {

using Key = std::shared_ptr<EVP_PKEY>;

// Returns a new ECDSA P-256 key, or an RSA key of `bits`. Aborts the test binary on failure.
Key NewEcKey();
Key NewRsaKey(int bits);

// What a made certificate says.
struct Spec {
  std::string common_name = "test";
  absl::Time not_before = absl::FromUnixSeconds(1700000000);  // 2023-11-14T22:13:20Z
  absl::Time not_after = absl::FromUnixSeconds(1800000000);   // 2027-01-15T08:00:00Z
  // true: basicConstraints critical CA:TRUE and keyUsage keyCertSign, cRLSign.
  bool is_ca = false;
  // Dotted OIDs of the EKU extension; nullopt: no extension.
  std::optional<std::vector<std::string>> ekus = std::vector<std::string>{"1.3.6.1.5.5.7.3.3"};
  // OpenSSL's subjectAltName syntax, e.g. "email:a@b.c,URI:https://x,DNS:h,
  // otherName:1.3.6.1.4.1.57264.1.7;UTF8:user!idp"; "" = no extension.
  std::string sans{};
  // Extensions given as (dotted OID, extnValue contents), added as they are (non-critical).
  std::vector<std::pair<std::string, std::string>> raw_extensions{};
};

// A certificate and the key it was issued for.
struct Issued {
  std::string der{};
  Key key{};
};

// Makes a certificate for `subject_key` described by `spec`, signed by `issuer` (its DER and key),
// or self-signed when `issuer` is null. Aborts the test binary on failure.
std::string MakeCertificate(const Spec& spec, const Key& subject_key, const Issued* issuer);

// Shorthands: a self-signed root CA, a CA issued by `issuer`, a code-signing leaf.
Issued MakeRoot(const std::string& name, absl::Time not_before = absl::FromUnixSeconds(1600000000),
                absl::Time not_after = absl::FromUnixSeconds(1900000000));
Issued MakeIntermediate(const std::string& name, const Issued& issuer,
                        absl::Time not_before = absl::FromUnixSeconds(1600000000),
                        absl::Time not_after = absl::FromUnixSeconds(1900000000));
Issued MakeLeaf(Spec spec, const Issued& issuer);

// Returns the DER encoding of a UTF8String holding `text`, and a PEM CERTIFICATE block for `der`.
std::string Utf8StringDer(absl::string_view text);
std::string PemCertificate(absl::string_view der);

}  // namespace sigshim::verify::test_ca

#endif  // SIGSHIM_TEST_PKG_VERIFY_TEST_CA_H_
