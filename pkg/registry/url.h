// The little URL handling the registry client needs: absolute http(s) URLs, resolving a redirect's
// Location against the URL that answered, and a form of a URL that is safe to log.
#ifndef SIGSHIM_PKG_REGISTRY_URL_H_
#define SIGSHIM_PKG_REGISTRY_URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::registry {

// An absolute http or https URL split in three.
struct Url {
  std::string scheme;          // "http" or "https", lowercase
  std::string authority;       // "host", "host:port" or "[v6]:port"; never user information
  std::string path_and_query;  // starts with '/'; "/" when the URL had no path; no fragment

  // Returns scheme + "://" + authority + path_and_query.
  std::string String() const;

  friend bool operator==(const Url&, const Url&) = default;
};

// Parses an absolute http or https URL. Another scheme, an empty host, user information
// ("user:pass@host"), whitespace or control characters are InvalidArgument (the message never
// repeats user information).
absl::StatusOr<Url> ParseUrl(absl::string_view text);

// Resolves a redirect's Location header against `base`: an absolute URL, a scheme-relative one
// ("//host/path"), an absolute path or a relative path. InvalidArgument as for ParseUrl.
absl::StatusOr<Url> ResolveLocation(const Url& base, absl::string_view location);

// Returns `url` without its query string, fragment or user information, for logs and errors
// (pre-signed blob URLs carry credentials in their query).
std::string RedactUrl(absl::string_view url);

// Returns true when `authority` ("host", "host:port", "[v6]" or "[v6]:port") names the loopback
// interface as written: the name "localhost" (any case), an IPv4 address in 127.0.0.0/8 in
// dotted-quad form, or the IPv6 address ::1 (or an IPv4-mapped 127.0.0.0/8 address) in brackets.
// Nothing is resolved: a DNS name that resolves to 127.0.0.1, "localhost.", "127.1" or
// "0x7f000001" are not loopback here (containerd's docker.IsLocalhost decides the same way).
bool IsLoopbackHost(absl::string_view authority);

// Percent-encodes everything but unreserved characters (RFC 3986 §2.3), for query values and
// form bodies.
std::string UrlEncode(absl::string_view value);

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_URL_H_
