// Parsing of WWW-Authenticate challenges (RFC 7235 §4.1) as registries send them:
//   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull"
#ifndef SIGSHIM_PKG_REGISTRY_AUTH_CHALLENGE_H_
#define SIGSHIM_PKG_REGISTRY_AUTH_CHALLENGE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::registry {

struct AuthChallenge {
  std::string scheme;                         // lowercase: "basic", "bearer", …
  std::map<std::string, std::string> params;  // lowercase names; quoted values unescaped
};

// Parses one WWW-Authenticate field value, which may hold several challenges separated by commas;
// quoted values may contain commas and backslash escapes. A token68 credential after the scheme is
// ignored. A malformed value (unterminated quote, missing '=' value, more than 8 KiB) is
// InvalidArgument.
absl::StatusOr<std::vector<AuthChallenge>> ParseWwwAuthenticate(absl::string_view value);

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_AUTH_CHALLENGE_H_
