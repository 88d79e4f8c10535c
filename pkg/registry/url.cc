#include "pkg/registry/url.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sigshim::registry {
namespace {

constexpr size_t kMaxUrlLength = 8192;

bool HasForbiddenCharacter(absl::string_view text) {
  for (unsigned char c : text) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::string StripFragment(absl::string_view text) {
  size_t hash = text.find('#');
  return std::string(hash == absl::string_view::npos ? text : text.substr(0, hash));
}

// Returns true when `text` starts with "scheme:" (RFC 3986 §3.1).
bool HasScheme(absl::string_view text) {
  size_t colon = text.find(':');
  if (colon == absl::string_view::npos || colon == 0 || colon > text.find_first_of("/?#")) return false;
  if (!absl::ascii_isalpha(text[0])) return false;
  for (char c : text.substr(0, colon)) {
    if (!absl::ascii_isalnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace

std::string Url::String() const { return absl::StrCat(scheme, "://", authority, path_and_query); }

absl::StatusOr<Url> ParseUrl(absl::string_view text) {
  if (text.size() > kMaxUrlLength) {
    return absl::InvalidArgumentError(absl::StrCat("URL is ", text.size(), " bytes long, the limit is ", kMaxUrlLength));
  }
  if (HasForbiddenCharacter(text)) {
    return absl::InvalidArgumentError("URL contains whitespace or control characters");
  }
  size_t colon = text.find("://");
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("URL \"", RedactUrl(text), "\" is not absolute"));
  }
  Url url;
  url.scheme = absl::AsciiStrToLower(text.substr(0, colon));
  if (url.scheme != "http" && url.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("URL scheme \"", absl::CHexEscape(url.scheme.substr(0, 16)), "\" is not http or https"));
  }
  absl::string_view rest = text.substr(colon + 3);
  size_t end = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, end);
  if (absl::StrContains(authority, '@')) {
    return absl::InvalidArgumentError("URL carries user information (user:password@host), which is refused");
  }
  if (authority.empty()) return absl::InvalidArgumentError("URL has an empty host");
  url.authority = std::string(authority);
  if (end == absl::string_view::npos) {
    url.path_and_query.assign(1, '/');  // (assign: GCC 12 warns falsely on operator=)
  } else {
    std::string tail = StripFragment(rest.substr(end));
    if (tail.empty() || tail[0] != '/') tail = absl::StrCat("/", tail);
    url.path_and_query = tail;
  }
  return url;
}

absl::StatusOr<Url> ResolveLocation(const Url& base, absl::string_view location) {
  if (location.empty()) return absl::InvalidArgumentError("redirect has an empty Location");
  if (HasForbiddenCharacter(location)) {
    return absl::InvalidArgumentError("redirect Location contains whitespace or control characters");
  }
  if (HasScheme(location)) return ParseUrl(location);
  if (absl::StartsWith(location, "//")) return ParseUrl(absl::StrCat(base.scheme, ":", location));
  if (location.size() > kMaxUrlLength) return absl::InvalidArgumentError("redirect Location is too long");
  Url url = base;
  if (location[0] == '/') {
    url.path_and_query = StripFragment(location);
    return url;
  }
  // A relative path: replace the last segment of the base path (RFC 3986 §5.2.3, without
  // dot-segment removal; registries send absolute locations in practice).
  std::string base_path = base.path_and_query.substr(0, base.path_and_query.find('?'));
  size_t slash = base_path.rfind('/');
  url.path_and_query = absl::StrCat(base_path.substr(0, slash + 1), StripFragment(location));
  return url;
}

std::string RedactUrl(absl::string_view url) {
  absl::string_view out = url.substr(0, url.find_first_of("?#"));
  size_t scheme_end = out.find("://");
  std::string result;
  if (scheme_end != absl::string_view::npos) {
    absl::string_view after = out.substr(scheme_end + 3);
    size_t path_start = after.find('/');
    absl::string_view authority = after.substr(0, path_start);
    size_t at = authority.rfind('@');
    if (at != absl::string_view::npos) authority = authority.substr(at + 1);
    result = absl::StrCat(out.substr(0, scheme_end + 3), authority,
                          path_start == absl::string_view::npos ? "" : after.substr(path_start));
  } else {
    result = std::string(out);
  }
  if (result.size() > 512) result = absl::StrCat(result.substr(0, 512), "...");
  return absl::CHexEscape(result);
}

bool IsLoopbackHost(absl::string_view authority) {
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return false;
    absl::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    const std::string address(authority.substr(1, close - 1));
    in6_addr v6{};
    if (inet_pton(AF_INET6, address.c_str(), &v6) != 1) return false;
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  const size_t colon = authority.find(':');
  if (colon != absl::string_view::npos && authority.find(':', colon + 1) != absl::string_view::npos) {
    return false;  // An IPv6 address without brackets is not a registry host.
  }
  const std::string host(authority.substr(0, colon));
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  in_addr v4{};
  // inet_pton accepts only the four-part dotted-decimal form, as Go's net.ParseIP does.
  if (inet_pton(AF_INET, host.c_str(), &v4) != 1) return false;
  return (ntohl(v4.s_addr) >> 24) == 127;
}

std::string UrlEncode(absl::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

}  // namespace sigshim::registry
