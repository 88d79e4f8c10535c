// A timestamp authority made inside a test with OpenSSL: a root CA, optionally an intermediate, and a
// TSA signing certificate, answering RFC 3161 requests with OpenSSL's TS_RESP_CTX, so that the
// timestamp checks see real tokens, good and bad.
#ifndef SIGSHIM_TEST_PKG_VERIFY_TEST_TSA_H_
#define SIGSHIM_TEST_PKG_VERIFY_TEST_TSA_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sigshim::verify::test_tsa {

// The extended key usage of the TSA signing certificate.
enum class Eku {
  kCriticalTimestamping,        // critical, timeStamping alone (what RFC 3161 requires)
  kNonCriticalTimestamping,     // timeStamping alone, not critical
  kNone,                        // no extended key usage extension
  kTimestampingAndCodeSigning,  // critical, timeStamping and codeSigning
};

struct TsaOptions {
  std::string name = "test-tsa";  // the common names are derived from it
  Eku eku = Eku::kCriticalTimestamping;
  bool leaf_is_ca = false;                      // the signing certificate says CA:TRUE
  bool with_intermediate = false;               // root -> intermediate -> signing certificate
  bool intermediate_code_signing_only = false;  // the intermediate's EKU is codeSigning alone
  // Validity of the signing certificate; the CA certificates are valid 2000..2099.
  absl::Time leaf_not_before = absl::FromCivil(absl::CivilSecond(2024, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  absl::Time leaf_not_after =
      absl::FromCivil(absl::CivilSecond(2024, 12, 31, 23, 59, 59), absl::UTCTimeZone());
};

struct StampOptions {
  std::string hash = "sha256";       // the message imprint's hash, by OpenSSL name ("sha1", "sha512", …)
  bool include_certificates = true;  // certReq: the token carries the signing certificate (and chain)
  // The hashes the TSA accepts; a request with another is refused (status "rejection").
  std::vector<std::string> accepted_hashes = {"sha1", "sha256", "sha384", "sha512", "sha3-256"};
};

class TestTsa {
 public:
  // Makes the keys and certificates. Internal error when OpenSSL fails.
  static absl::StatusOr<std::unique_ptr<TestTsa>> Create(const TsaOptions& options);
  ~TestTsa();

  // Returns a DER TimeStampResp over `data` with genTime `when` (millisecond precision).
  absl::StatusOr<std::string> Stamp(absl::string_view data, absl::Time when,
                                    const StampOptions& options = {}) const;

  // Returns the DER certificates: signing certificate, [intermediate,] root.
  std::vector<std::string> ChainDer() const;

  struct State;

 private:
  explicit TestTsa(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Returns the TimeStampToken (CMS ContentInfo) inside a DER TimeStampResp.
absl::StatusOr<std::string> TokenOfResponse(absl::string_view response_der);

}  // namespace sigshim::verify::test_tsa

#endif  // SIGSHIM_TEST_PKG_VERIFY_TEST_TSA_H_
