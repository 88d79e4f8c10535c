#include "pkg/reference/reference.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pkg/base/digest.h"
#include "pkg/base/log.h"
#include "pkg/base/status_macros.h"

namespace sigshim::reference {
namespace {

constexpr absl::string_view kLegacyDockerHubDomain = "index.docker.io";
constexpr absl::string_view kOfficialRepositoryPrefix = "library/";
// Inputs are quoted in error messages up to this many bytes (less than log::kMaxNameBytes: a
// message may quote the input and a part of it), so that a hostile input cannot make a log line
// arbitrarily long.
constexpr size_t kMaxQuotedLength = 300;

std::string Quote(absl::string_view text) { return log::QuoteName(text, kMaxQuotedLength); }

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsHexString(absl::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Checks one path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*.
absl::Status ValidatePathComponent(absl::string_view component) {
  if (component.empty()) {
    return absl::InvalidArgumentError("repository path has an empty component (\"//\", or a leading or trailing '/')");
  }
  for (char c : component) {
    if (!IsLowerAlnum(c) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "repository path component ", Quote(component), " has the character ",
          Quote(absl::string_view(&c, 1)),
          "; only lowercase letters, digits and the separators '.', '_', '__', '-' are allowed"));
    }
  }
  if (!IsLowerAlnum(component.front()) || !IsLowerAlnum(component.back())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "repository path component ", Quote(component),
        " must start and end with a lowercase letter or digit"));
  }
  size_t i = 0;
  while (i < component.size()) {
    if (IsLowerAlnum(component[i])) {
      ++i;
      continue;
    }
    // A separator: ".", "_", "__" or one or more "-", always followed by a letter or digit.
    size_t start = i;
    char c = component[i];
    if (c == '-') {
      while (i < component.size() && component[i] == '-') ++i;
    } else if (c == '_') {
      ++i;
      if (i < component.size() && component[i] == '_') ++i;
    } else {
      ++i;  // '.'; every other character was rejected above.
    }
    if (i >= component.size() || !IsLowerAlnum(component[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("repository path component ", Quote(component), " has the separator ",
                       Quote(component.substr(start, i - start)),
                       " where a lowercase letter or digit must follow"));
    }
  }
  return absl::OkStatus();
}

// Checks one DNS-style label: [A-Za-z0-9] ([A-Za-z0-9-]* [A-Za-z0-9])?.
bool IsDomainLabel(absl::string_view label) {
  if (label.empty()) return false;
  if (!absl::ascii_isalnum(label.front()) || !absl::ascii_isalnum(label.back())) return false;
  for (char c : label) {
    if (!absl::ascii_isalnum(c) && c != '-') return false;
  }
  return true;
}

absl::Status ValidatePort(absl::string_view port) {
  if (port.empty() || port.size() > 5) {
    return absl::InvalidArgumentError(absl::StrCat("registry port ", Quote(port), " must be 1 to 5 digits"));
  }
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(absl::StrCat("registry port ", Quote(port), " must be a number"));
    }
    value = value * 10 + (c - '0');
  }
  if (value == 0 || value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("registry port ", port, " is out of range 1-65535"));
  }
  return absl::OkStatus();
}

// Checks host[:port], where host is a DNS-style name or an IPv6 address in brackets.
absl::Status ValidateDomain(absl::string_view domain) {
  absl::string_view host = domain;
  absl::string_view port;
  bool has_port = false;
  if (absl::StartsWith(domain, "[")) {
    size_t close = domain.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("registry ", Quote(domain), " has '[' without ']'"));
    }
    absl::string_view address = domain.substr(1, close - 1);
    if (address.empty() || address.find_first_not_of("0123456789abcdefABCDEF:") != absl::string_view::npos ||
        address.find(':') == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("registry ", Quote(domain), " has an invalid IPv6 address in brackets"));
    }
    absl::string_view rest = domain.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("registry ", Quote(domain), " has characters after ']' that are not a port"));
      }
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    size_t colon = domain.find(':');
    if (colon != absl::string_view::npos) {
      host = domain.substr(0, colon);
      port = domain.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("registry ", Quote(domain), " has an empty host name"));
    }
    for (absl::string_view label : absl::StrSplit(host, '.')) {
      if (!IsDomainLabel(label)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "registry host ", Quote(host),
            " is not a valid host name (labels of letters, digits and inner '-', separated by '.')"));
      }
    }
  }
  if (has_port) RETURN_IF_ERROR(ValidatePort(port));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTag(absl::string_view tag) {
  if (tag.empty()) return absl::InvalidArgumentError("tag after ':' is empty");
  if (tag.size() > kMaxTagLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("tag is ", tag.size(), " characters long, the limit is ", kMaxTagLength));
  }
  if (!(absl::ascii_isalnum(tag.front()) || tag.front() == '_')) {
    return absl::InvalidArgumentError(
        absl::StrCat("tag ", Quote(tag), " must start with a letter, digit or '_'"));
  }
  for (char c : tag) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tag ", Quote(tag), " has the character ", Quote(absl::string_view(&c, 1)),
          "; only letters, digits, '_', '.' and '-' are allowed"));
    }
  }
  return absl::OkStatus();
}

namespace {

// Returns true when docker's rule takes `first`, the first component of a name, for a registry
// domain rather than a Docker Hub path component.
bool LooksLikeDomain(absl::string_view first) {
  return absl::StrContains(first, '.') || absl::StrContains(first, ':') || first == "localhost" ||
         absl::AsciiStrToLower(first) != first;
}

absl::StatusOr<Reference> ParseImpl(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("the reference is empty");
  if (text.size() == 64 && IsHexString(text)) {
    return absl::InvalidArgumentError(
        "a 64-character hex string is an image ID, not a reference; name the image as "
        "repository@sha256:<hex> instead");
  }

  Reference ref;
  absl::string_view name_and_tag = text;
  size_t at = text.find('@');
  if (at != absl::string_view::npos) {
    absl::string_view digest = text.substr(at + 1);
    name_and_tag = text.substr(0, at);
    if (digest.empty()) return absl::InvalidArgumentError("'@' must be followed by a digest (sha256:<64 hex>)");
    absl::Status valid = ValidateDigest(digest);
    if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat("bad digest: ", valid.message()));
    ref.digest = std::string(digest);
  }

  absl::string_view name = name_and_tag;
  size_t colon = name_and_tag.rfind(':');
  size_t slash = name_and_tag.rfind('/');
  if (colon != absl::string_view::npos && (slash == absl::string_view::npos || colon > slash)) {
    absl::string_view tag = name_and_tag.substr(colon + 1);
    name = name_and_tag.substr(0, colon);
    RETURN_IF_ERROR(ValidateTag(tag));
    ref.tag = std::string(tag);
  }
  if (name.empty()) return absl::InvalidArgumentError("the repository name is empty");

  // Split off the domain the way docker does.
  absl::string_view domain = kDockerHubDomain;
  absl::string_view path = name;
  size_t first_slash = name.find('/');
  if (first_slash != absl::string_view::npos) {
    absl::string_view first = name.substr(0, first_slash);
    if (LooksLikeDomain(first)) {
      domain = first;
      path = name.substr(first_slash + 1);
    }
  }
  RETURN_IF_ERROR(ValidateDomain(domain));
  // Host names compare case-insensitively, as DNS does: one spelling for every consumer (policy
  // globs, verdict keys, signature identities, registry endpoints).
  const std::string lower_domain = absl::AsciiStrToLower(domain);
  if (!LooksLikeDomain(lower_domain)) {
    // "Registry/app" names the host "Registry" only because of its capital; lower-cased it would
    // read as the Docker Hub repository "registry/app". Refused rather than given two meanings.
    return absl::InvalidArgumentError(absl::StrCat(
        "registry host ", Quote(domain),
        " is a registry only because of its capital letters, and host names are compared without "
        "case; name it with its domain or port (e.g. \"", lower_domain, ":5000\")"));
  }
  domain = lower_domain == kLegacyDockerHubDomain ? kDockerHubDomain : absl::string_view(lower_domain);

  if (absl::AsciiStrToLower(path) != path) {
    return absl::InvalidArgumentError(
        absl::StrCat("repository name must be lowercase: ", Quote(path)));
  }
  if (path.empty()) return absl::InvalidArgumentError("the repository path after the registry is empty");
  for (absl::string_view component : absl::StrSplit(path, '/')) {
    RETURN_IF_ERROR(ValidatePathComponent(component));
  }

  ref.domain = std::string(domain);
  ref.path = std::string(path);
  if (ref.domain == kDockerHubDomain && !absl::StrContains(path, '/')) {
    ref.path = absl::StrCat(kOfficialRepositoryPrefix, path);
  }
  size_t name_length = ref.domain.size() + 1 + ref.path.size();
  if (name_length > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat("the repository name is ", name_length,
                                                   " characters long, the limit is ", kMaxNameLength));
  }
  return ref;
}

}  // namespace

std::string Reference::Repository() const { return absl::StrCat(domain, "/", path); }

std::string Reference::String() const {
  std::string out = Repository();
  if (!tag.empty()) absl::StrAppend(&out, ":", tag);
  if (!digest.empty()) absl::StrAppend(&out, "@", digest);
  return out;
}

Reference Reference::WithDefaultTag() const {
  Reference copy = *this;
  if (copy.tag.empty() && copy.digest.empty()) copy.tag = std::string(kDefaultTag);
  return copy;
}

Reference Reference::WithDigest(absl::string_view new_digest) const {
  Reference copy = *this;
  copy.digest = std::string(new_digest);
  return copy;
}

absl::StatusOr<Reference> Parse(absl::string_view text) {
  if (text.size() > kMaxReferenceLength) {
    // Checked before anything else looks at the text, and never echoed whole.
    return absl::InvalidArgumentError(absl::StrCat("invalid image reference ", Quote(text.substr(0, 64)),
                                                   "...: it is ", text.size(), " bytes long, the limit is ",
                                                   kMaxReferenceLength));
  }
  absl::StatusOr<Reference> ref = ParseImpl(text);
  if (!ref.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid image reference ", Quote(text), ": ", ref.status().message()));
  }
  return ref;
}

}  // namespace sigshim::reference
