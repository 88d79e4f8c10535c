// Chain verification: does a leaf certificate chain to a trusted certificate authority at a given
// time (the proven signing time, or the time of the decision)?
#ifndef SIGSHIM_PKG_VERIFY_CERTIFICATE_CHAIN_H_
#define SIGSHIM_PKG_VERIFY_CERTIFICATE_CHAIN_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/verify/certificate.h"
#include "pkg/verify/validity.h"

namespace sigshim::verify {

// A CA certificate from trust material (a trusted_root.json certificate authority, a PEM file of a
// private PKI) and the time it may be relied on (sigstore's `validFor`; "always" for a PEM file).
struct TrustedCertificate {
  std::string der{};
  ValidityWindow validity{};  // default: always
};

// The certificate authorities of one trust root. Immutable once created; thread-safe; cheap to copy.
//
// Roots are trust anchors: a path ends at the first root it reaches, self-signed or not (as a Go
// x509.CertPool of roots does). Intermediates are trusted path material: a leaf may be issued by
// one, but the path must still reach a root. A root or intermediate counts only at times inside
// its window (both ends inclusive).
class CaPool {
 public:
  // Parses every certificate. InvalidArgument naming the entry ("root 2: …") when one does not
  // parse; a pool without roots is InvalidArgument too (nothing could ever verify).
  static absl::StatusOr<CaPool> Create(std::vector<TrustedCertificate> roots,
                                       std::vector<TrustedCertificate> intermediates);

  size_t RootCount() const;
  // Returns true when `der` is, byte for byte, one of the pool's roots or intermediates.
  bool Contains(absl::string_view der) const;
  // Returns OpenSSL's parse of the root or intermediate whose DER is, byte for byte, `der`, or null.
  // Owned by the pool and valid while any copy of it lives; for pkg/verify, which only reads it (the
  // SCT check takes the issuer's key from it instead of parsing the issuer again).
  const x509_st* Find(absl::string_view der) const;
  size_t IntermediateCount() const;

 private:
  struct Entry;
  struct Entries;
  explicit CaPool(std::shared_ptr<const Entries> entries) : entries_(std::move(entries)) {}
  friend absl::StatusOr<std::vector<std::string>> VerifyCertificateChain(
      const Certificate& leaf, absl::Span<const std::string> untrusted_intermediates,
      const CaPool& pool, absl::Time at);

  std::shared_ptr<const Entries> entries_;
};

// Checks that `leaf` chains to a root of `pool` at time `at`, and returns the path (DER, leaf
// first, ending with the root) as evidence.
//
// - `untrusted_intermediates` (DER; the dev.sigstore.cosign/chain annotation, in any order) may help
//   build the path but never end it: a root given there counts only if the pool has it as a root.
//   One that equals a pool certificate whose window excludes `at` is not used.
// - Every certificate of the path must be valid at `at` (notBefore and notAfter inclusive, to the
//   second: `at` is also compared at full precision), and every root and trusted intermediate of the
//   pool must have `at` inside its window; CA certificates must be CAs (basicConstraints), signatures
//   must verify, path length constraints hold (OpenSSL's X509_verify_cert at `at`).
//   X509_V_FLAG_X509_STRICT is not used: it refuses real private-PKI roots without a keyUsage
//   extension (OpenSSL: "CA cert does not include key usage extension").
// - The leaf must allow code signing (no EKU extension, or one listing codeSigning); a CA on the path
//   that has an EKU extension must list codeSigning or anyExtendedKeyUsage (as Go's x509 does).
//
// PermissionDenied, with a message for a person that starts "certificate chain: " and ends with
// OpenSSL's reason in parentheses when OpenSSL gave one, when the leaf does not chain (the signature
// then counts for nothing); InvalidArgument when an untrusted intermediate is not a well-formed
// certificate; Internal when OpenSSL fails to run.
absl::StatusOr<std::vector<std::string>> VerifyCertificateChain(
    const Certificate& leaf, absl::Span<const std::string> untrusted_intermediates,
    const CaPool& pool, absl::Time at);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_CERTIFICATE_CHAIN_H_
