#include "pkg/policy/glob.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"

namespace sigshim::policy {
namespace {

bool IsReferenceChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/' ||
         c == ':' || c == '@' || c == '[' || c == ']';
}

absl::Status Invalid(absl::string_view pattern, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("image glob \"", absl::CEscape(pattern), "\": ", why));
}

}  // namespace

absl::StatusOr<Glob> Glob::Compile(absl::string_view pattern) {
  if (pattern.empty()) return Invalid(pattern, "is empty");
  if (pattern.size() > kMaxGlobLength) {
    return Invalid(pattern.substr(0, 64), absl::StrCat("is longer than ", kMaxGlobLength, " characters"));
  }
  Glob glob;
  glob.pattern_ = std::string(pattern);
  // The host part (before the first '/') is matched in lowercase: normalised references carry
  // their domain in lowercase (host names compare without case), so "REGISTRY.example/**" must
  // govern what "registry.example/**" governs. The path and the tag keep their case.
  // A pattern without '/' ("**", "**:V1") has no host part.
  const size_t slash = pattern.find('/');
  const size_t host_end = slash == absl::string_view::npos ? 0 : slash;
  bool seen_wildcard = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = i < host_end ? absl::ascii_tolower(static_cast<unsigned char>(pattern[i])) : pattern[i];
    if (c == '*') {
      size_t run = 1;
      while (i + run < pattern.size() && pattern[i + run] == '*') ++run;
      if (run > 2) return Invalid(pattern, absl::StrCat("\"", std::string(run, '*'), "\" at offset ", i,
                                                        " (use \"*\" within a segment or \"**\" across segments)"));
      glob.tokens_.push_back({run == 2 ? Kind::kDoubleStar : Kind::kStar, 0});
      i += run - 1;
      ++glob.wildcards_;
      seen_wildcard = true;
    } else if (c == '?') {
      glob.tokens_.push_back({Kind::kOne, 0});
      ++glob.wildcards_;
      seen_wildcard = true;
    } else if (IsReferenceChar(c)) {
      glob.tokens_.push_back({Kind::kLiteral, c});
      if (!seen_wildcard) ++glob.literal_prefix_;
    } else {
      return Invalid(pattern, absl::StrFormat("character '%s' at offset %d cannot appear in an image reference",
                                              absl::CEscape(absl::string_view(&pattern[i], 1)), i));
    }
  }
  if (pattern.front() == '/' || pattern.back() == '/' || absl::StrContains(pattern, "//")) {
    return Invalid(pattern, "has an empty path segment");
  }
  if (!absl::StrContains(pattern, '/') && !absl::StrContains(pattern, "**")) {
    return Invalid(pattern,
                   "can never match: normalised references always have a domain and a path, "
                   "e.g. \"docker.io/library/busybox\"; use \"**\" to match every image");
  }
  const std::string first = absl::AsciiStrToLower(pattern.substr(0, slash));
  const bool first_has_wildcard = first.find_first_of("*?") != absl::string_view::npos;
  if (!first_has_wildcard && first != "localhost" && first.find_first_of(".:[") == absl::string_view::npos) {
    return Invalid(pattern, absl::StrCat("can never match: its first segment \"", first,
                                         "\" is not a registry domain; images are matched in their normalised form, "
                                         "e.g. \"docker.io/library/busybox\" for \"busybox\""));
  }
  return glob;
}

absl::StatusOr<Glob> Glob::CompileNamespace(absl::string_view pattern) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("namespace glob \"", absl::CEscape(pattern.substr(0, 64)), "\": ", why));
  };
  if (pattern.empty()) return invalid("is empty");
  // A namespace is a DNS label: at most 63 characters.
  if (pattern.size() > 63) return invalid("is longer than 63 characters, the longest namespace name");
  Glob glob;
  glob.pattern_ = std::string(pattern);
  bool seen_wildcard = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '*') {
      if (i + 1 < pattern.size() && pattern[i + 1] == '*') {
        return invalid(absl::StrCat("\"**\" at offset ", i, ": a namespace has no segments, use \"*\""));
      }
      glob.tokens_.push_back({Kind::kStar, 0});
      ++glob.wildcards_;
      seen_wildcard = true;
    } else if (c == '?') {
      glob.tokens_.push_back({Kind::kOne, 0});
      ++glob.wildcards_;
      seen_wildcard = true;
    } else if (absl::ascii_islower(static_cast<unsigned char>(c)) || absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
               c == '-') {
      glob.tokens_.push_back({Kind::kLiteral, c});
      if (!seen_wildcard) ++glob.literal_prefix_;
    } else {
      return invalid(absl::StrFormat("character '%s' at offset %d cannot appear in a namespace name (lowercase "
                                     "letters, digits and '-')",
                                     absl::CEscape(absl::string_view(&pattern[i], 1)), i));
    }
  }
  return glob;
}

bool Glob::Matches(absl::string_view text) const {
  // reachable[i]: the tokens consumed so far can match text[0, i).
  std::vector<char> reachable(text.size() + 1, 0);
  std::vector<char> next(text.size() + 1, 0);
  reachable[0] = 1;
  for (const Token& token : tokens_) {
    std::fill(next.begin(), next.end(), 0);
    switch (token.kind) {
      case Kind::kLiteral:
        for (size_t i = 0; i < text.size(); ++i) next[i + 1] = reachable[i] && text[i] == token.literal;
        break;
      case Kind::kOne:
        for (size_t i = 0; i < text.size(); ++i) next[i + 1] = reachable[i] && text[i] != '/';
        break;
      case Kind::kStar:
        next[0] = reachable[0];
        for (size_t i = 1; i <= text.size(); ++i) next[i] = reachable[i] || (next[i - 1] && text[i - 1] != '/');
        break;
      case Kind::kDoubleStar:
        next[0] = reachable[0];
        for (size_t i = 1; i <= text.size(); ++i) next[i] = reachable[i] || next[i - 1];
        break;
    }
    reachable.swap(next);
  }
  return reachable[text.size()] != 0;
}

}  // namespace sigshim::policy
