// Image globs: the patterns of [[policy]] images, matched against normalised references.
//
//   "*"   any characters within one path segment (never '/')
//   "**"  any characters, '/' included (crosses segments)
//   "?"   exactly one character other than '/'
//   other characters match themselves; only characters that can appear in a normalised
//   reference are allowed (letters, digits, '.', '_', '-', '/', ':', '@', '[', ']').
//   The host part (everything before the first '/') matches without case, as host names do:
//   it is lower-cased at compilation, as reference::Parse lower-cases a reference's domain.
//   After the first '/' case matters (repository paths are lowercase, tags keep their case).
#ifndef SIGSHIM_PKG_POLICY_GLOB_H_
#define SIGSHIM_PKG_POLICY_GLOB_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::policy {

// The longest pattern accepted (a reference is at most 255 + 1 + 128 + 1 + 71 characters).
inline constexpr size_t kMaxGlobLength = 1024;

// A compiled glob. An immutable value; Matches is thread-safe.
class Glob {
 public:
  // Compiles `pattern`. InvalidArgument, with a message that quotes the pattern and says what is
  // wrong, when it is empty, longer than kMaxGlobLength, holds "***" (or more stars), a character
  // that cannot appear in a reference, an empty path segment ("//", a leading or trailing '/'),
  // or cannot match any normalised reference (no '/' and no "**"; a literal first segment that is
  // not a registry domain, e.g. "library/busybox" instead of "docker.io/library/busybox").
  static absl::StatusOr<Glob> Compile(absl::string_view pattern);

  // Compiles `pattern` as a glob over a Kubernetes namespace ([[policy]] and [[exceptions]]
  // namespaces): "*" and "?" as above, other characters lowercase letters, digits and '-' (what
  // a namespace name holds). InvalidArgument quoting the pattern when it is empty, longer than 63
  // characters, or holds another character ("**" and '/' included: a namespace has no segments).
  static absl::StatusOr<Glob> CompileNamespace(absl::string_view pattern);

  // Returns true when the whole of `text` matches. Runs in O(pattern × text) time whatever the
  // input (no backtracking).
  bool Matches(absl::string_view text) const;

  // Returns the pattern as written.
  const std::string& pattern() const { return pattern_; }

  // Returns the number of literal characters before the first wildcard (the whole length for a
  // pattern without wildcards): the first precedence criterion.
  size_t literal_prefix() const { return literal_prefix_; }

  // Returns the number of wildcards ("*", "**" and "?" count one each): the second criterion.
  size_t wildcards() const { return wildcards_; }

 private:
  enum class Kind : char { kLiteral, kOne, kStar, kDoubleStar };
  struct Token {
    Kind kind;
    char literal;  // kLiteral only
  };

  Glob() = default;

  std::string pattern_;
  std::vector<Token> tokens_;
  size_t literal_prefix_ = 0;
  size_t wildcards_ = 0;
};

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_GLOB_H_
