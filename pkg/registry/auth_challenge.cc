#include "pkg/registry/auth_challenge.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sigshim::registry {
namespace {

constexpr size_t kMaxChallengeBytes = 8192;

bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

class Scanner {
 public:
  explicit Scanner(absl::string_view text) : text_(text) {}

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  void Advance() { ++pos_; }
  size_t pos() const { return pos_; }
  void set_pos(size_t pos) { pos_ = pos; }

  void SkipSpaces() {
    while (!AtEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  void SkipSpacesAndCommas() {
    while (!AtEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == ',')) ++pos_;
  }
  absl::string_view Token() {
    size_t start = pos_;
    while (!AtEnd() && IsTokenChar(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // Reads a quoted string starting at '"'; false when it is not terminated.
  bool Quoted(std::string* out) {
    ++pos_;  // the opening quote
    while (!AtEnd()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (AtEnd()) return false;
        c = text_[pos_++];
      }
      out->push_back(c);
    }
    return false;
  }

 private:
  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<AuthChallenge>> ParseWwwAuthenticate(absl::string_view value) {
  if (value.size() > kMaxChallengeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("WWW-Authenticate is ", value.size(), " bytes long, the limit is ", kMaxChallengeBytes));
  }
  std::vector<AuthChallenge> challenges;
  Scanner scan(value);
  scan.SkipSpacesAndCommas();
  while (!scan.AtEnd()) {
    absl::string_view scheme = scan.Token();
    if (scheme.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("WWW-Authenticate has an unexpected character at offset ", scan.pos()));
    }
    AuthChallenge challenge;
    challenge.scheme = absl::AsciiStrToLower(scheme);
    scan.SkipSpaces();
    // Parameters: name=value pairs separated by commas, until a token not followed by '='
    // (the next challenge's scheme) or the end.
    while (!scan.AtEnd()) {
      size_t mark = scan.pos();
      scan.SkipSpacesAndCommas();
      absl::string_view name = scan.Token();
      scan.SkipSpaces();
      if (name.empty() || scan.Peek() != '=') {
        // Not a parameter: the next challenge's scheme, or a character the outer loop rejects.
        scan.set_pos(mark);
        break;
      }
      scan.Advance();  // '='
      if (scan.Peek() == '=') {
        // A token68 credential with padding ("Negotiate abc=="): skip it.
        while (scan.Peek() == '=') scan.Advance();
        continue;
      }
      scan.SkipSpaces();
      std::string param_value;
      if (scan.Peek() == '"') {
        if (!scan.Quoted(&param_value)) {
          return absl::InvalidArgumentError("WWW-Authenticate has an unterminated quoted value");
        }
      } else {
        absl::string_view token = scan.Token();
        if (token.empty()) {
          return absl::InvalidArgumentError(absl::StrCat("WWW-Authenticate parameter \"",
                                                         absl::AsciiStrToLower(name), "\" has no value"));
        }
        param_value = std::string(token);
      }
      challenge.params[absl::AsciiStrToLower(name)] = std::move(param_value);
      scan.SkipSpaces();
    }
    challenges.push_back(std::move(challenge));
    scan.SkipSpacesAndCommas();
  }
  return challenges;
}

}  // namespace sigshim::registry
