#include "pkg/registry/url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include <climits>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sigshim::registry {
namespace {

// libcurl's own limit is 8 MB (CURL_MAX_INPUT_LENGTH); a registry URL is far shorter.
constexpr size_t kMaxUrlLength = 8192;
constexpr size_t kMaxLoggedLength = 512;

struct CurlUrlDeleter {
  void operator()(CURLU* handle) const { curl_url_cleanup(handle); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

struct CurlStringDeleter {
  void operator()(char* text) const { curl_free(text); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

// libcurl refuses whitespace and control characters in an absolute URL, but percent-encodes
// spaces in a relative reference it resolves; and a NUL would cut the C string libcurl reads.
// Checked here for both, before libcurl sees the text.
bool HasForbiddenCharacter(absl::string_view text) {
  for (unsigned char c : text) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

// Returns the part `part` of the URL in `handle`; `present` (when not null) says whether the URL
// has it at all (libcurl's "no such part" codes), an absent part reads as "".
absl::StatusOr<std::string> GetPart(CURLU* handle, CURLUPart part, bool* present = nullptr) {
  char* raw = nullptr;
  CURLUcode code = curl_url_get(handle, part, &raw, 0);
  CurlString value(raw);
  if (present != nullptr) *present = code == CURLUE_OK;
  if (code == CURLUE_OK) return std::string(value.get());
  switch (code) {
    case CURLUE_NO_SCHEME:
    case CURLUE_NO_USER:
    case CURLUE_NO_PASSWORD:
    case CURLUE_NO_OPTIONS:
    case CURLUE_NO_HOST:
    case CURLUE_NO_PORT:
    case CURLUE_NO_QUERY:
    case CURLUE_NO_FRAGMENT:
    case CURLUE_NO_ZONEID:
      return std::string();
    default:
      return absl::InternalError(absl::StrCat("libcurl could not read a URL part: ", curl_url_strerror(code)));
  }
}

// Checks what libcurl accepts but a registry URL must not be: libcurl takes "https:/h/x" and
// "https:///h/x" (one or three slashes) as "https://h/x", where the URL has no host as written (Go's
// net/url, which containerd uses, reads an empty host). `written` is the text the URL came from,
// `scheme` the scheme libcurl found (lowercase). A relative path reference (no scheme, no "//") has
// the base's authority and passes.
absl::Status CheckAuthorityWritten(absl::string_view written, absl::string_view scheme) {
  absl::string_view rest = written;
  if (absl::StartsWithIgnoreCase(written, absl::StrCat(scheme, ":"))) {
    rest = written.substr(scheme.size() + 1);
    if (!absl::StartsWith(rest, "//")) {
      return absl::InvalidArgumentError(absl::StrCat("URL must be written ", scheme, "://host/…"));
    }
  } else if (!absl::StartsWith(written, "//")) {
    return absl::OkStatus();
  }
  if (rest.size() > 2 && rest[2] == '/') return absl::InvalidArgumentError("URL has an empty host");
  return absl::OkStatus();
}

// Reads the URL `handle` holds, which libcurl parsed from `written`, into a Url, with the checks
// libcurl does not make: libcurl parses every scheme it was built with (ftp, file, …; only http and
// https are taken here), and CheckAuthorityWritten.
absl::StatusOr<Url> FromHandle(CURLU* handle, absl::string_view written) {
  Url url;
  auto scheme = GetPart(handle, CURLUPART_SCHEME);
  if (!scheme.ok()) return scheme.status();
  url.scheme = absl::AsciiStrToLower(*scheme);
  if (url.scheme != "http" && url.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("URL scheme \"", absl::CHexEscape(url.scheme.substr(0, 16)), "\" is not http or https"));
  }
  if (absl::Status written_ok = CheckAuthorityWritten(written, url.scheme); !written_ok.ok()) return written_ok;

  auto host = GetPart(handle, CURLUPART_HOST);
  if (!host.ok()) return host.status();
  if (host->empty()) return absl::InvalidArgumentError("URL has an empty host");
  url.authority = *std::move(host);
  auto zone = GetPart(handle, CURLUPART_ZONEID);
  if (!zone.ok()) return zone.status();
  if (!zone->empty() && absl::EndsWith(url.authority, "]")) {
    // libcurl reports an IPv6 zone ("[fe80::1%25eth0]") apart from the address; the authority keeps it.
    url.authority.insert(url.authority.size() - 1, absl::StrCat("%25", *zone));
  }
  auto port = GetPart(handle, CURLUPART_PORT);  // only a port written in the URL
  if (!port.ok()) return port.status();
  if (!port->empty()) absl::StrAppend(&url.authority, ":", *port);

  auto path = GetPart(handle, CURLUPART_PATH);
  if (!path.ok()) return path.status();
  url.path_and_query = path->empty() ? "/" : *std::move(path);
  if (url.path_and_query[0] != '/') url.path_and_query.insert(0, 1, '/');
  bool has_query = false;
  auto query = GetPart(handle, CURLUPART_QUERY, &has_query);
  if (!query.ok()) return query.status();
  if (has_query) absl::StrAppend(&url.path_and_query, "?", *query);
  return url;
}

absl::Status UnusableUrl(absl::string_view text, CURLUcode code) {
  if (!absl::StrContains(text, "://")) {  // libcurl would only say "Bad scheme"
    return absl::InvalidArgumentError(absl::StrCat("URL \"", RedactUrl(text), "\" is not absolute (scheme://host/…)"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("URL \"", RedactUrl(text), "\" is unusable: ", curl_url_strerror(code)));
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
  CurlUrl handle(curl_url());
  if (handle == nullptr) return absl::ResourceExhaustedError("libcurl could not allocate a URL handle");
  // No CURLU_DEFAULT_SCHEME or CURLU_GUESS_SCHEME: a URL without a scheme is refused.
  // CURLU_DISALLOW_USER: user information is refused, not kept.
  const std::string copy(text);
  CURLUcode code = curl_url_set(handle.get(), CURLUPART_URL, copy.c_str(), CURLU_DISALLOW_USER);
  if (code == CURLUE_USER_NOT_ALLOWED) {
    return absl::InvalidArgumentError("URL carries user information (user:password@host), which is refused");
  }
  if (code != CURLUE_OK) return UnusableUrl(text, code);
  return FromHandle(handle.get(), text);
}

absl::StatusOr<Url> ResolveLocation(const Url& base, absl::string_view location) {
  // libcurl resolves an empty reference to the base's folder.
  if (location.empty()) return absl::InvalidArgumentError("redirect has an empty Location");
  if (HasForbiddenCharacter(location)) {
    return absl::InvalidArgumentError("redirect Location contains whitespace or control characters");
  }
  if (location.size() > kMaxUrlLength) return absl::InvalidArgumentError("redirect Location is too long");
  CurlUrl handle(curl_url());
  if (handle == nullptr) return absl::ResourceExhaustedError("libcurl could not allocate a URL handle");
  const std::string base_text = base.String();
  CURLUcode code = curl_url_set(handle.get(), CURLUPART_URL, base_text.c_str(), CURLU_DISALLOW_USER);
  if (code != CURLUE_OK) return UnusableUrl(base_text, code);
  // Setting a URL on a handle that holds one resolves it against that one when it is relative.
  const std::string copy(location);
  code = curl_url_set(handle.get(), CURLUPART_URL, copy.c_str(), CURLU_DISALLOW_USER);
  if (code == CURLUE_USER_NOT_ALLOWED) {
    return absl::InvalidArgumentError("redirect Location carries user information (user:password@host), which is refused");
  }
  if (code != CURLUE_OK) return UnusableUrl(location, code);
  absl::StatusOr<Url> url = FromHandle(handle.get(), location);
  if (url.ok() && url->String().size() > kMaxUrlLength) {
    return absl::InvalidArgumentError("redirect Location resolves to a URL over the length limit");
  }
  return url;
}

// Not libcurl's parser either: a log shows the URL as it was used (libcurl would write "127.1" as
// 127.0.0.1 and drop dot segments), and text libcurl cannot parse must be redacted too.
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
  if (result.size() > kMaxLoggedLength) result = absl::StrCat(result.substr(0, kMaxLoggedLength), "...");
  return absl::CHexEscape(result);
}

// Not libcurl's parser: it rewrites numeric IPv4 forms ("127.1", "0x7f000001") as dotted quads,
// and the loopback rule is on the host as written, as containerd's.
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

absl::StatusOr<std::string> UrlEncode(absl::string_view value) {
  if (value.empty()) return std::string();
  if (value.size() > static_cast<size_t>(INT_MAX)) return absl::ResourceExhaustedError("value too long to URL-encode");
  // curl_easy_escape ignores its handle argument since libcurl 7.82.
  CurlString encoded(curl_easy_escape(nullptr, value.data(), static_cast<int>(value.size())));
  if (encoded == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("libcurl could not URL-encode a value of ", value.size(), " bytes"));
  }
  return std::string(encoded.get());
}

}  // namespace sigshim::registry
