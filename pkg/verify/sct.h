// Certificate Transparency evidence: the signed certificate timestamps (SCTs, RFC 6962) a CA such as
// Fulcio embeds in the certificates it issues, checked against a trust root's CT logs.
#ifndef SIGSHIM_PKG_VERIFY_SCT_H_
#define SIGSHIM_PKG_VERIFY_SCT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/verify/certificate.h"
#include "pkg/verify/validity.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace sigshim::verify {

// A CT log a trust root names.
struct CtLogInput {
  std::string name;    // for messages, e.g. the log's base URL
  std::string log_id;  // 32 raw bytes: the SHA-256 of key_der (RFC 6962 §3.2), as trusted_root.json states it
  std::string key_der;    // the log's DER SubjectPublicKeyInfo (ECDSA or RSA)
  ValidityWindow window;  // an SCT counts only when its timestamp lies in it (both ends inclusive)
};

// The CT logs of one trust root with their keys decoded, built once per configuration (a reload
// builds new ones). Immutable; thread-safe: any number of verifications may share one.
class CtLogs {
 public:
  // One log, its key decoded.
  struct Log {
    std::string name;
    std::string log_id;
    ValidityWindow window;
    std::shared_ptr<evp_pkey_st> key;  // never null
  };

  // Checks each log's id (32 bytes, the SHA-256 of its key) and decodes its key (one DER
  // SubjectPublicKeyInfo). InvalidArgument naming the log otherwise, or when `logs` is empty.
  static absl::StatusOr<std::shared_ptr<const CtLogs>> Create(absl::Span<const CtLogInput> logs);

  // Returns the log with this id (raw bytes), or null.
  const Log* Find(absl::string_view log_id) const;
  size_t size() const { return logs_.size(); }

 private:
  explicit CtLogs(std::vector<Log> logs) : logs_(std::move(logs)) {}
  std::vector<Log> logs_;
};

// One SCT that verified.
struct VerifiedSct {
  std::string log_id_hex;  // lowercase hex of the log id
  std::string log_name;    // CtLogInput::name of that log
  absl::Time timestamp;    // when the log promised to include the certificate (millisecond precision)
};

// Verifies the SCTs embedded in `leaf` (the precertificate SCT list extension,
// 1.3.6.1.4.1.11129.2.4.2): each SCT's signature, by the log it names, over the RFC 6962 §3.2
// precertificate entry: the leaf's TBSCertificate without that extension, and the SHA-256 of
// `issuer_der`'s SubjectPublicKeyInfo (the certificate that issued the leaf, DER). An SCT counts
// only when it is version 1, from one of `logs`, timestamped inside that log's window, signed with
// SHA-256 (ECDSA or RSA) and its signature verifies; at least one must count, as cosign and
// sigstore-go require by default. The SCT times are not compared with the clock (the windows are
// the time check). OpenSSL decodes the SCT list, re-encodes the precertificate TBSCertificate from
// a copy of the leaf without the SCT list extension (X509_dup, X509_delete_ext, i2d_re_X509_tbs, as
// its own SCT code does) and encodes the issuer's SubjectPublicKeyInfo; the RFC 6962 signed
// structure is assembled here and checked with the log's key as CtLogs decoded it. The copy of the
// leaf decodes its key once more (OpenSSL 3.0; about the cost of one ECDSA verify); SCT_validate
// would in addition rebuild the issuer's key encoding on every call. `issuer_der` is parsed on
// every call, which decodes its key too: the overload below takes an issuer parsed before.
// Returns the SCTs that count, at most one per log (sigstore-go counts logs, not SCTs);
// PermissionDenied when none does, with each SCT's reason ("no embedded SCTs", "SCT from unknown log
// …", "… outside the log's validity …", "SCT signature does not verify …") or when the issuer or the
// SCT list does not parse, or the leaf also carries the precertificate poison; Internal when the
// crypto library fails. Thread-safe; holds no state.
absl::StatusOr<std::vector<VerifiedSct>> VerifyEmbeddedScts(const Certificate& leaf, absl::string_view issuer_der,
                                                            const CtLogs& logs);

// The same with the issuer already parsed by OpenSSL (CaPool::Find: a trust root's certificate
// authority), so that its key is not decoded again. PermissionDenied when `issuer` is null.
absl::StatusOr<std::vector<VerifiedSct>> VerifyEmbeddedScts(const Certificate& leaf, const x509_st* issuer,
                                                            const CtLogs& logs);

// The same from DER certificates and plain log inputs, decoded on every call (for tests and tools).
// PermissionDenied as above, also when `leaf_der` or `issuer_der` is not one DER certificate;
// InvalidArgument when `logs` is empty or a log's key does not parse or does not match its id.
absl::StatusOr<std::vector<VerifiedSct>> VerifyEmbeddedScts(absl::string_view leaf_der,
                                                            absl::string_view issuer_der,
                                                            absl::Span<const CtLogInput> logs);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_SCT_H_
