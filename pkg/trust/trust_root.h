// Trust roots: the certificate authorities, transparency logs, CT logs and timestamp authorities a
// certificate signature may rest on, parsed once from a sigstore trusted_root.json or from a
// private PKI's PEM files, then shared immutably with the verifiers.
#ifndef SIGSHIM_PKG_TRUST_TRUST_ROOT_H_
#define SIGSHIM_PKG_TRUST_TRUST_ROOT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/validity.h"

namespace sigshim::trust {

enum class TrustRootKind {
  kSigstore,    // a sigstore trusted_root.json ([[trust_roots]] trusted_root)
  kPrivatePki,  // PEM files of a private PKI ([[trust_roots]] ca_roots, …)
};

// Returns "sigstore trusted_root" or "private PKI".
absl::string_view TrustRootKindName(TrustRootKind kind);

// A certificate authority (Fulcio, a private CA) or a timestamp authority.
struct CertificateAuthority {
  // The authority's URI from trusted_root.json ("" when not given, and for a private PKI).
  std::string uri;
  // The trust anchor's subject, its CN and O, e.g. "CN=sigstore, O=sigstore.dev"; for messages.
  std::string subject;
  // The operator (trusted_root.json v0.2), "" when not given.
  std::string operator_name;
  // DER certificates, never empty, in the order given: the certificate closest to the signer
  // first, the trust anchor last. A certificate authority from trusted_root.json lists its
  // intermediates, then its root; a private PKI's authority is one of its ca_roots, after every
  // ca_intermediates certificate (a pool: chain building uses those that lead to this root). A
  // timestamp authority lists its leaf (when the file gives it), the intermediates, the root.
  std::vector<std::string> chain_der;
  // When the authority may be relied on: trusted_root.json's validFor, or for a private PKI the
  // validity of its certificates (the root's for a CA; the intersection of the chain's for a
  // TSA). Both ends inclusive. Chain verification checks each certificate's own validity too.
  verify::ValidityWindow valid_for;

  // Returns the trust anchor (the last certificate).
  const std::string& anchor_der() const { return chain_der.back(); }
};

// A transparency log (Rekor) or a certificate-transparency log.
struct TransparencyLog {
  // The log's base URL ("" for a private PKI's rekor_keys).
  std::string base_url;
  // The log's id: the bytes of logId.keyId, or SHA-256 of the DER key for a private PKI's
  // rekor_keys (as Rekor computes it). Unique within its list of the trust root.
  std::string log_id;
  // The v0.2 checkpoint key id bytes; "" when not given.
  std::string checkpoint_key_id;
  // The operator (trusted_root.json v0.2), "" when not given.
  std::string operator_name;
  // The key the log signs with (its algorithm agrees with the file's keyDetails). Never null.
  std::shared_ptr<const verify::PublicKey> public_key;
  // publicKey.validFor (open at both ends for a private PKI's rekor_keys). Both ends inclusive.
  verify::ValidityWindow valid_for;

  // Returns the log id in lowercase hex.
  std::string LogIdHex() const;
};

// One [[trust_roots]] entry, immutable once built; shared as std::shared_ptr<const TrustRoot>.
// Thread-safe for concurrent readers. Lookups return pointers into this object, valid as long
// as it lives.
struct TrustRoot {
  // The entry's name ([[trust_roots]] name); "" before BuildTrustRoots names it.
  std::string name;
  // "<config file>:<line>" of the entry; "" when not built from a config.
  std::string origin;
  // The files it was read from (trusted_root.json, or the PEM files in config order).
  std::vector<std::string> source;
  TrustRootKind kind = TrustRootKind::kSigstore;
  std::vector<CertificateAuthority> certificate_authorities;
  // Rekor logs.
  std::vector<TransparencyLog> transparency_logs;
  // Certificate-transparency logs (SCTs in Fulcio certificates).
  std::vector<TransparencyLog> ct_logs;
  std::vector<CertificateAuthority> timestamp_authorities;
  // A certificate signature needs a verified entry in one of transparency_logs. False when the
  // root lists none (BuildTrustRoots refuses `true` then).
  bool require_transparency_log = false;

  // Returns the Rekor log with this id (raw bytes), or null.
  const TransparencyLog* FindTransparencyLog(absl::string_view log_id) const;
  // Returns the CT log with this id (raw bytes), or null.
  const TransparencyLog* FindCtLog(absl::string_view log_id) const;
  // Returns the certificate authorities whose valid_for contains `time`, in file order.
  std::vector<const CertificateAuthority*> CertificateAuthoritiesAt(absl::Time time) const;
  // Returns the timestamp authorities whose valid_for contains `time`, in file order.
  std::vector<const CertificateAuthority*> TimestampAuthoritiesAt(absl::Time time) const;

  // Returns what check-config prints: a heading line, then one line per CA, Rekor log, CT log and
  // TSA (subject or URL, key algorithm and full fingerprint, log id hex, validity), each line
  // indented by two spaces and ended by '\n'.
  std::string Describe() const;
};

}  // namespace sigshim::trust

#endif  // SIGSHIM_PKG_TRUST_TRUST_ROOT_H_
