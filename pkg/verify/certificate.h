// X.509 certificates as signers: a Fulcio (keyless) or private-PKI leaf, parsed once into the
// facts an identity is judged by (SANs, OIDC issuer, Fulcio claims, EKU) and the public key a
// signature is checked with.
#ifndef SIGSHIM_PKG_VERIFY_CERTIFICATE_H_
#define SIGSHIM_PKG_VERIFY_CERTIFICATE_H_

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/verify/public_key.h"

struct x509_st;  // OpenSSL's X509, kept out of this header

namespace sigshim::verify {

// DER certificates larger than this are refused before parsing.
inline constexpr size_t kMaxCertificateDerBytes = 32 * 1024;
// A chain annotation (PEM) may hold at most this many certificates.
inline constexpr size_t kMaxChainCertificates = 8;

// Object identifiers read from certificates.
inline constexpr absl::string_view kOidCodeSigning = "1.3.6.1.5.5.7.3.3";
inline constexpr absl::string_view kOidAnyExtendedKeyUsage = "2.5.29.37.0";
// Fulcio's OIDC issuer: .1.8 is a DER UTF8String; .1.1 (deprecated) is the raw bytes.
inline constexpr absl::string_view kOidFulcioIssuerV2 = "1.3.6.1.4.1.57264.1.8";
inline constexpr absl::string_view kOidFulcioIssuerV1 = "1.3.6.1.4.1.57264.1.1";
// The OtherName SAN type Fulcio uses for usernames (a UTF8String value).
inline constexpr absl::string_view kOidFulcioOtherNameSan = "1.3.6.1.4.1.57264.1.7";

// A Fulcio certificate claim (extensions 1.3.6.1.4.1.57264.1.9 to .1.23, each a DER UTF8String):
// `name` is the key of `[identities.claims]`, from sigstore/fulcio docs/oid-info.md in snake_case.
struct FulcioClaimInfo {
  absl::string_view oid;
  absl::string_view name;
};

// Returns the table of Fulcio claims, in OID order: build_signer_uri (.9), build_signer_digest,
// runner_environment, source_repository_uri, source_repository_digest, source_repository_ref,
// source_repository_identifier, source_repository_owner_uri, source_repository_owner_identifier,
// build_config_uri, build_config_digest, build_trigger, run_invocation_uri,
// source_repository_visibility_at_signing, deployment_environment (.23).
// The deprecated GitHub-only extensions .1.2 to .1.6 (raw strings: trigger, sha, workflow name,
// repository, ref) are not read: each is superseded by one of these claims, and a policy that names
// a claim must not be satisfied by a different, older encoding of a similar fact.
const std::vector<FulcioClaimInfo>& FulcioClaims();

// Returns the claim named `name`, or nullptr when there is none by that name.
const FulcioClaimInfo* FindFulcioClaim(absl::string_view name);

// A Subject Alternative Name the identity checks understand.
struct SubjectAltName {
  enum class Kind {
    kEmail,      // rfc822Name
    kUri,        // uniformResourceIdentifier
    kDns,        // dNSName
    kOtherName,  // otherName of type 1.3.6.1.4.1.57264.1.7 (Fulcio username), a UTF8String
  };
  Kind kind = Kind::kEmail;
  std::string value;  // as written in the certificate, byte for byte
};

// Returns "email", "URI", "DNS" or "otherName".
absl::string_view SanKindName(SubjectAltName::Kind kind);

// Where a certificate's OIDC issuer came from.
enum class IssuerSource {
  kNone,      // the certificate carries neither extension
  kV2,        // 1.3.6.1.4.1.57264.1.8 (DER UTF8String)
  kV1Legacy,  // 1.3.6.1.4.1.57264.1.1 (raw bytes), read only when .1.8 is absent
};

// An immutable, parsed X.509 certificate. Cheap to copy (the parsed parts are shared); thread-safe.
class Certificate {
 public:
  // Returns the DER bytes the certificate was parsed from.
  const std::string& Der() const { return parts_->der; }
  // Returns "sha256:" + lowercase hex SHA-256 of Der(): the id evidence and [revocation] use.
  const std::string& Fingerprint() const { return parts_->fingerprint; }
  // Returns the validity period; both ends inclusive (RFC 5280).
  absl::Time NotBefore() const { return parts_->not_before; }
  absl::Time NotAfter() const { return parts_->not_after; }
  // Returns the subject public key, which verifies signatures exactly as a configured key does.
  const std::shared_ptr<const PublicKey>& SubjectPublicKey() const { return parts_->public_key; }
  // Returns true when basicConstraints says cA.
  bool IsCa() const { return parts_->is_ca; }
  // Returns the subject and issuer names (RFC 2253 form, e.g. "CN=sigstore-intermediate,O=sigstore.dev"),
  // for messages.
  const std::string& SubjectName() const { return parts_->subject_name; }
  const std::string& IssuerName() const { return parts_->issuer_name; }
  // Returns the email, URI, DNS and Fulcio otherName SANs in certificate order; others are not listed.
  const std::vector<SubjectAltName>& SubjectAltNames() const { return parts_->sans; }
  // Returns the extended key usages as dotted OIDs; empty when the extension is absent.
  const std::vector<std::string>& ExtendedKeyUsages() const { return parts_->ekus; }
  bool HasExtendedKeyUsage() const { return parts_->has_eku; }
  // Returns true when the certificate may sign code: it has no EKU extension, or the extension
  // lists codeSigning. anyExtendedKeyUsage alone does not count.
  bool AllowsCodeSigning() const;
  // Returns the OIDC issuer ("" when IssuerSource() is kNone).
  const std::string& OidcIssuer() const { return parts_->oidc_issuer; }
  IssuerSource OidcIssuerSource() const { return parts_->issuer_source; }
  // Returns the Fulcio claims the certificate carries, by name (see FulcioClaims()).
  const std::map<std::string, std::string>& Claims() const { return parts_->claims; }
  // Returns e.g. "certificate sha256:0123abcd4567 (URI:https://…, issuer CN=…)" for messages.
  std::string Describe() const;

  // Returns the OpenSSL object, owned by this certificate and shared by its copies; for
  // pkg/verify's chain building, which only reads it.
  x509_st* OpenSslX509() const { return parts_->x509.get(); }

 private:
  struct Parts {
    std::string der;
    std::string fingerprint;
    absl::Time not_before;
    absl::Time not_after;
    std::shared_ptr<const PublicKey> public_key;
    bool is_ca = false;
    std::string subject_name;
    std::string issuer_name;
    std::vector<SubjectAltName> sans;
    bool has_eku = false;
    std::vector<std::string> ekus;
    std::string oidc_issuer;
    IssuerSource issuer_source = IssuerSource::kNone;
    std::map<std::string, std::string> claims;
    std::shared_ptr<x509_st> x509;
  };
  explicit Certificate(std::shared_ptr<const Parts> parts) : parts_(std::move(parts)) {}
  friend absl::StatusOr<Certificate> ParseCertificateDer(std::string der);

  std::shared_ptr<const Parts> parts_;
};

// Parses one DER certificate. InvalidArgument naming the problem for: empty, oversize, DER that
// does not parse or has trailing bytes, duplicate or malformed extensions (SAN, EKU, basic
// constraints; a Fulcio .1.8–.1.23 extension that is not a DER UTF8String), a public key of a type
// PublicKey does not support (e.g. RSA below 2048 bits, P-224).
absl::StatusOr<Certificate> ParseCertificateDer(std::string der);

// Parses text that must hold exactly one PEM "CERTIFICATE" block (only blank text around it), as
// the dev.sigstore.cosign/certificate annotation does. Errors as DecodeSinglePemBlock and
// ParseCertificateDer, plus a block of another type.
absl::StatusOr<Certificate> ParseCertificatePem(absl::string_view pem);

// Parses the dev.sigstore.cosign/chain annotation: PEM "CERTIFICATE" blocks (intermediates, then
// usually the root), with only blank text around and between them. Returns the DER of each, in
// order; blank text gives an empty list (no chain). Each block must decode to one well-formed X.509
// certificate with nothing after it; the key types of CA certificates are left for chain
// verification to judge. InvalidArgument naming the block for anything else: other text, another
// block type, more than kMaxChainCertificates blocks, text larger than kMaxPemBytes.
// These certificates are untrusted: they may only help build a path to a trusted root.
absl::StatusOr<std::vector<std::string>> ParseCertificateChainPem(absl::string_view pem);

// The same, except that a block whose DER `known` returns true for is not parsed again: it is byte
// for byte a certificate that was parsed and checked when the trust material was loaded (a CA's
// intermediate or root, which keyless chain annotations usually repeat).
absl::StatusOr<std::vector<std::string>> ParseCertificateChainPem(
    absl::string_view pem, absl::FunctionRef<bool(absl::string_view der)> known);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_CERTIFICATE_H_
