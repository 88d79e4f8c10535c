// Feeds arbitrary bytes to the WWW-Authenticate parser and the redirect Location resolver: both
// read headers chosen by a registry, so by an attacker.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pkg/registry/auth_challenge.h"
#include "pkg/registry/url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<sigshim::registry::AuthChallenge>> challenges =
      sigshim::registry::ParseWwwAuthenticate(text);
  if (challenges.ok()) {
    for (const auto& challenge : *challenges) {
      if (challenge.scheme.empty()) std::abort();
    }
  } else if (challenges.status().code() != absl::StatusCode::kInvalidArgument) {
    std::abort();
  }

  static const sigshim::registry::Url kBase = {"https", "registry.example.com", "/v2/a/blobs/x?q=1"};
  absl::StatusOr<sigshim::registry::Url> url = sigshim::registry::ResolveLocation(kBase, text);
  if (url.ok()) {
    if (url->scheme != "http" && url->scheme != "https") std::abort();
    if (url->authority.empty() || url->path_and_query.empty() || url->path_and_query[0] != '/') std::abort();
    if (url->authority.find('@') != std::string::npos) std::abort();
    // What we would request again must parse back to itself.
    absl::StatusOr<sigshim::registry::Url> again = sigshim::registry::ParseUrl(url->String());
    if (!again.ok() || !(*again == *url)) std::abort();
  }
  (void)sigshim::registry::RedactUrl(text);
  return 0;
}
