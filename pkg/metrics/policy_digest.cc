#include "pkg/metrics/policy_digest.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "pkg/base/digest.h"

namespace sigshim::metrics {
namespace {

// Appends `tag`, the length of `value` and `value`: no two different field sequences serialise alike.
void Field(std::string* out, absl::string_view tag, absl::string_view value) {
  absl::StrAppend(out, tag, " ", value.size(), ":", value, "\n");
}

}  // namespace

std::string PolicyDigest(const config::Config& config) {
  std::string canonical = "sigshim-policy-v1\n";
  Field(&canonical, "mode", config.enforcement.mode == config::Mode::kEnforce ? "enforce" : "audit");
  Field(&canonical, "unmatched", config.enforcement.unmatched == config::Unmatched::kDeny ? "deny" : "allow");
  Field(&canonical, "sandbox_image", config.enforcement.sandbox_image);

  std::vector<const config::KeyConfig*> keys;
  for (const config::KeyConfig& key : config.keys) keys.push_back(&key);
  std::sort(keys.begin(), keys.end(),
            [](const config::KeyConfig* a, const config::KeyConfig* b) { return a->name < b->name; });
  absl::StrAppend(&canonical, "keys ", keys.size(), "\n");
  for (const config::KeyConfig* key : keys) {
    Field(&canonical, "key", key->name);
    Field(&canonical, "pem", absl::StripAsciiWhitespace(key->pem));
    // Windows decide admission too; a key without one serialises as before windows existed.
    if (key->not_before != absl::InfinitePast()) {
      Field(&canonical, "not_before", absl::FormatTime(absl::RFC3339_full, key->not_before, absl::UTCTimeZone()));
    }
    if (key->not_after != absl::InfiniteFuture()) {
      Field(&canonical, "not_after", absl::FormatTime(absl::RFC3339_full, key->not_after, absl::UTCTimeZone()));
    }
  }

  absl::StrAppend(&canonical, "policies ", config.policies.size(), "\n");
  for (const config::PolicyConfig& policy : config.policies) {
    Field(&canonical, "policy", policy.name);
    absl::StrAppend(&canonical, "images ", policy.images.size(), "\n");
    for (const std::string& image : policy.images) Field(&canonical, "image", image);
    absl::StrAppend(&canonical, "require ", policy.require.size(), "\n");
    for (const std::string& name : policy.require) Field(&canonical, "require", name);
    // The governance keys decide admission too; a policy without them serialises as before.
    if (!policy.namespaces.empty()) {
      absl::StrAppend(&canonical, "namespaces ", policy.namespaces.size(), "\n");
      for (const std::string& ns : policy.namespaces) Field(&canonical, "namespace", ns);
    }
    if (policy.threshold != 1) Field(&canonical, "threshold", absl::StrCat(policy.threshold));
    if (policy.enforce_from != absl::InfinitePast()) {
      Field(&canonical, "enforce_from", absl::FormatTime(absl::RFC3339_full, policy.enforce_from, absl::UTCTimeZone()));
    }
  }
  if (!config.exceptions.empty()) {
    absl::StrAppend(&canonical, "exceptions ", config.exceptions.size(), "\n");
    for (const config::ExceptionConfig& e : config.exceptions) {
      Field(&canonical, "exception", e.name);
      for (const std::string& image : e.images) Field(&canonical, "image", image);
      for (const std::string& ns : e.namespaces) Field(&canonical, "namespace", ns);
      Field(&canonical, "expires", absl::FormatTime(absl::RFC3339_full, e.expires, absl::UTCTimeZone()));
    }
  }
  for (const auto& [tag, list] : {std::pair<const char*, const std::vector<std::string>*>{"revoked_key", &config.revocation.keys},
                                  {"revoked_certificate", &config.revocation.certificates},
                                  {"revoked_image", &config.revocation.images}}) {
    std::vector<std::string> sorted = *list;
    std::sort(sorted.begin(), sorted.end());
    for (const std::string& digest : sorted) Field(&canonical, tag, digest);
  }
  return Sha256Digest(canonical);
}

}  // namespace sigshim::metrics
