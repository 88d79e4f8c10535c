// Certificate identities: which certificate subjects (SAN), OIDC issuers and Fulcio claims a
// [[identities]] entry accepts. The chain and the signing time are checked elsewhere
// (certificate_chain.h); this is only "is this certificate the signer we expect".
#ifndef SIGSHIM_PKG_VERIFY_CERTIFICATE_IDENTITY_H_
#define SIGSHIM_PKG_VERIFY_CERTIFICATE_IDENTITY_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pkg/verify/certificate.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace sigshim::verify {

// What a certificate must say about its signer. Regular expressions are RE2 syntax and anchored:
// they must match the whole value (RE2::FullMatch), never a part of it.
struct CertificateIdentity {
  // The OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8, or .1.1 when .1.8 is absent): at most
  // one of the two; "" = not given. Required for a Fulcio trust root (see the options).
  std::string issuer{};        // exact, e.g. "https://token.actions.githubusercontent.com"
  std::string issuer_regex{};  // e.g. "https://oidc\\.example\\.com/.*"
  // The subject: some email, URI, DNS or Fulcio otherName SAN must equal / match it. Exactly one.
  std::string subject{};        // exact, e.g. "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
  std::string subject_regex{};  // e.g. "https://github\\.com/acme/.*@refs/tags/v.*"
  // Fulcio claims (names from FulcioClaims()) whose values must be equal, byte for byte.
  std::map<std::string, std::string> claims{};
};

struct CertificateIdentityOptions {
  // True for identities of a sigstore trusted_root.json trust root, whose certificates always carry
  // the OIDC issuer; false for a private PKI, where the issuer is optional. Default: true.
  bool issuer_required = true;
};

// A CertificateIdentity that passed ValidateCertificateIdentity, with its regular expressions
// compiled once. Immutable, thread-safe, cheap to copy.
class ValidatedCertificateIdentity {
 public:
  const CertificateIdentity& identity() const { return *identity_; }

 private:
  friend absl::StatusOr<ValidatedCertificateIdentity> ValidateCertificateIdentity(
      CertificateIdentity identity, const CertificateIdentityOptions& options);
  friend absl::Status MatchCertificateIdentity(const Certificate& certificate,
                                               const ValidatedCertificateIdentity& identity);
  ValidatedCertificateIdentity() = default;

  std::shared_ptr<const CertificateIdentity> identity_;
  std::shared_ptr<const re2::RE2> issuer_regex_;   // null when identity_->issuer_regex is ""
  std::shared_ptr<const re2::RE2> subject_regex_;  // null when identity_->subject_regex is ""
};

// Checks `identity` and compiles its regular expressions. InvalidArgument naming the field for: a
// regular expression that does not compile (with RE2's reason), both `issuer` and `issuer_regex`, no
// issuer when options.issuer_required, none or both of `subject` and `subject_regex`, a claim name
// that is not one of FulcioClaims() (the message lists the known names). A configuration error,
// never a verdict.
absl::StatusOr<ValidatedCertificateIdentity> ValidateCertificateIdentity(
    CertificateIdentity identity, const CertificateIdentityOptions& options = {});

// Returns OK when `certificate` names the signer `identity` describes; PermissionDenied otherwise,
// saying every difference, e.g. "issuer is https://x, expected https://y; claim
// source_repository_ref is refs/heads/dev, expected refs/heads/main", "certificate has no issuer
// extension (1.3.6.1.4.1.57264.1.8 or .1.1)", "no SAN matches subject_regex ^a$ (SANs: email:b)".
// When the identity gives no issuer, the certificate's issuer extension is not looked at.
absl::Status MatchCertificateIdentity(const Certificate& certificate,
                                      const ValidatedCertificateIdentity& identity);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_CERTIFICATE_IDENTITY_H_
