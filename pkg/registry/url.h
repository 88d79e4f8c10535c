// The URL handling the registry client needs: absolute http(s) URLs and resolving a redirect's
// Location against the URL that answered, on libcurl's URL API (CURLU), with the checks libcurl does
// not make (see url.cc); percent-encoding (libcurl's); and, written here, a form of a URL that is
// safe to log and the loopback rule, which must see a URL as written, not as libcurl rewrites it.
#ifndef SIGSHIM_PKG_REGISTRY_URL_H_
#define SIGSHIM_PKG_REGISTRY_URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::registry {

// An absolute http or https URL split in three, as libcurl normalises it.
struct Url {
  std::string scheme;          // "http" or "https", lowercase
  std::string authority;       // "host", "host:port" or "[v6]:port"; never user information. The host
                               // keeps its case; a numeric IPv4 host is written as a dotted quad
                               // ("127.1" becomes "127.0.0.1", as libcurl connects to it)
  std::string path_and_query;  // starts with '/'; "/" when the URL had no path; dot segments removed;
                               // "?query" when the URL had a '?', even an empty one; no fragment

  // Returns scheme + "://" + authority + path_and_query.
  std::string String() const;

  friend bool operator==(const Url&, const Url&) = default;
};

// Parses an absolute http or https URL written "scheme://authority…". Another scheme, a missing
// or empty host ("https:///x", "https:/x"), user information ("user:pass@host"), a port that is not
// a number up to 65535, whitespace or control characters, or more than 8 KiB are InvalidArgument
// (the message never repeats user information or the query).
absl::StatusOr<Url> ParseUrl(absl::string_view text);

// Resolves a redirect's Location header against `base` (RFC 3986 §5.2, by libcurl): an absolute
// URL, a scheme-relative one ("//host/path"), an absolute path or a relative path. An empty
// Location and the cases ParseUrl refuses are InvalidArgument.
absl::StatusOr<Url> ResolveLocation(const Url& base, absl::string_view location);

// Returns `url` as written but without its query string, fragment or user information, for logs
// and errors (pre-signed blob URLs carry credentials in their query), C-escaped and cut at 512
// bytes. Any text is accepted, a URL libcurl would refuse included.
std::string RedactUrl(absl::string_view url);

// Returns true when `authority` ("host", "host:port", "[v6]" or "[v6]:port") names the loopback
// interface as written: the name "localhost" (any case), an IPv4 address in 127.0.0.0/8 in
// dotted-quad form, or the IPv6 address ::1 (or an IPv4-mapped 127.0.0.0/8 address) in brackets.
// Nothing is resolved: a DNS name that resolves to 127.0.0.1, "localhost.", "127.1" or
// "0x7f000001" are not loopback here (containerd's docker.IsLocalhost decides the same way).
bool IsLoopbackHost(absl::string_view authority);

// Percent-encodes everything but unreserved characters (RFC 3986 §2.3), for query values and
// form bodies (libcurl's curl_easy_escape). ResourceExhausted when libcurl cannot (out of memory,
// or a value over libcurl's input limit of 8 MB).
absl::StatusOr<std::string> UrlEncode(absl::string_view value);

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_URL_H_
