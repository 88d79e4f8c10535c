// in-toto attestation Statements (v1 and v0.1): what a DSSE envelope of payload type
// application/vnd.in-toto+json says, about which subjects.
#ifndef SIGSHIM_PKG_VERIFY_INTOTO_H_
#define SIGSHIM_PKG_VERIFY_INTOTO_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::verify {

inline constexpr absl::string_view kInTotoStatementV1 = "https://in-toto.io/Statement/v1";
inline constexpr absl::string_view kInTotoStatementV01 = "https://in-toto.io/Statement/v0.1";
// The predicate type of cosign v3's image signature: the only one that counts as a signature.
inline constexpr absl::string_view kCosignSignPredicateType = "https://sigstore.dev/cosign/sign/v1";
// Statements (JSON) larger than this are refused before parsing.
inline constexpr size_t kMaxInTotoStatementBytes = 4 * 1024 * 1024;
// A statement may name at most this many subjects.
inline constexpr size_t kMaxInTotoSubjects = 1024;

struct InTotoSubject {
  std::string name;                           // "" when not given
  std::map<std::string, std::string> digest;  // algorithm ("sha256", …) -> lowercase hex
};

struct InTotoStatement {
  std::string type;  // kInTotoStatementV1 or kInTotoStatementV01
  std::vector<InTotoSubject> subjects;
  std::string predicate_type;
  std::string predicate_json;  // the predicate as compact JSON; "" when there is none
};

// Parses `payload` (the envelope's payload bytes) strictly: one JSON object with no repeated key;
// `_type` one of the two statement types; `subject` a non-empty array (at most kMaxInTotoSubjects)
// of objects with a non-empty `digest` object of algorithm -> hex string (lower-cased here);
// `predicateType` a non-empty string; `predicate`, when present, an object. Other fields are
// ignored, as the in-toto specification asks of consumers. InvalidArgument naming the problem.
absl::StatusOr<InTotoStatement> ParseInTotoStatement(absl::string_view payload);

// Returns true when one of the statement's subjects has the digest `digest` ("<algorithm>:<hex>",
// hex compared without regard to case).
bool StatementHasSubject(const InTotoStatement& statement, absl::string_view digest);

// Returns the subjects' digests for a message, e.g. "sha256:0123…, sha512:4567…" (at most 8).
std::string DescribeSubjects(const InTotoStatement& statement);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_INTOTO_H_
