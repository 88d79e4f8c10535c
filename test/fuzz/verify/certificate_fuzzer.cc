// Fuzzes certificate parsing: X.509 DER (extensions: SANs incl. the Fulcio otherName, EKU, basic
// constraints, the OIDC issuer in both encodings, the Fulcio claims), the PEM forms, the cosign
// chain annotation, and, for a certificate that parses, identity matching and chain verification
// against a pool made of that certificate. Invariants checked: a parsed certificate's fingerprint
// is the SHA-256 of its bytes, claims carry only known names, and a chain never verifies against a
// pool that does not hold its root (here: the certificate itself, accepted only as its own anchor),
// and its embedded SCTs (whose precertificate entry is rebuilt from its DER) never verify with a
// CT log key made here, which no input can have signed with.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "pkg/base/digest.h"
#include "pkg/verify/certificate.h"
#include "pkg/verify/certificate_chain.h"
#include "pkg/verify/certificate_identity.h"
#include "pkg/verify/sct.h"

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

// A CT log whose key is made at start-up.
const CtLogs& FreshLogs() {
  static const CtLogs* logs = [] {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    unsigned char* der = nullptr;
    int len = key != nullptr ? i2d_PUBKEY(key, &der) : 0;
    if (len <= 0) std::abort();
    CtLogInput input;
    input.name = "fuzz log";
    input.key_der.assign(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    input.log_id = absl::HexStringToBytes(sigshim::Sha256Hex(input.key_der));
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    absl::StatusOr<std::shared_ptr<const CtLogs>> created = CtLogs::Create({input});
    if (!created.ok()) std::abort();
    return new CtLogs(**created);
  }();
  return *logs;
}

void Exercise(const Certificate& cert) {
  if (VerifyEmbeddedScts(cert, cert.Der(), FreshLogs()).ok()) std::abort();
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
