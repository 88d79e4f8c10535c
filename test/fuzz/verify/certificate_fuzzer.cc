// Fuzzes certificate parsing: X.509 DER (extensions: SANs incl. the Fulcio otherName, EKU, basic
// constraints, the OIDC issuer in both encodings, the Fulcio claims), the PEM forms, the cosign
// chain annotation, and, for a certificate that parses, identity matching and chain verification
// against a pool made of that certificate. Invariants checked: a parsed certificate's fingerprint
// is the SHA-256 of its bytes, claims carry only known names, and a chain never verifies against a
// pool that does not hold its root (here: the certificate itself, accepted only as its own anchor).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pkg/base/digest.h"
#include "pkg/verify/certificate.h"
#include "pkg/verify/certificate_chain.h"
#include "pkg/verify/certificate_identity.h"

namespace {

using namespace sigshim::verify;  // NOLINT: a fuzz target

const ValidatedCertificateIdentity& Identity() {
  static const ValidatedCertificateIdentity* identity = [] {
    auto validated = ValidateCertificateIdentity(
        {.issuer_regex = "https://.*", .subject_regex = ".*@example\\.com", .claims = {{"source_repository_ref", "refs/heads/main"}}});
    if (!validated.ok()) std::abort();
    return new ValidatedCertificateIdentity(*validated);
  }();
  return *identity;
}

void Exercise(const Certificate& cert) {
  if (cert.Fingerprint() != sigshim::Sha256Digest(cert.Der())) std::abort();
  for (const auto& [name, value] : cert.Claims()) {
    if (FindFulcioClaim(name) == nullptr) std::abort();
  }
  (void)cert.Describe();
  (void)cert.AllowsCodeSigning();
  (void)MatchCertificateIdentity(cert, Identity());
  absl::StatusOr<CaPool> pool = CaPool::Create({{cert.Der(), ValidityWindow{}}}, {});
  if (!pool.ok()) return;
  absl::StatusOr<std::vector<std::string>> path =
      VerifyCertificateChain(cert, {}, *pool, absl::FromUnixSeconds(1700000000));
  if (path.ok() && (path->empty() || (*path)[0] != cert.Der())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  if (absl::StatusOr<Certificate> cert = ParseCertificateDer(input); cert.ok()) Exercise(*cert);
  if (absl::StatusOr<Certificate> cert = ParseCertificatePem(input); cert.ok()) Exercise(*cert);
  if (absl::StatusOr<std::vector<std::string>> chain = ParseCertificateChainPem(input); chain.ok()) {
    if (chain->size() > kMaxChainCertificates) std::abort();
    for (const std::string& der : *chain) {
      if (absl::StatusOr<Certificate> cert = ParseCertificateDer(der); cert.ok()) Exercise(*cert);
    }
  }
  return 0;
}
