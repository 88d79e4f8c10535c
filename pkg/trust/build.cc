#include "pkg/trust/build.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/trust/pki.h"
#include "pkg/trust/trusted_root_json.h"

namespace sigshim::trust {
namespace {

PemFile ToPem(const config::TrustFile& file) { return PemFile{file.path, file.contents}; }

absl::StatusOr<TrustRoot> Build(const config::TrustRootConfig& entry) {
  absl::StatusOr<TrustRoot> root;
  if (entry.trusted_root.has_value()) {
    root = ParseTrustedRoot(entry.trusted_root->contents, entry.trusted_root->path);
  } else if (entry.ca_roots.has_value()) {
    PkiFiles files;
    files.ca_roots = ToPem(*entry.ca_roots);
    if (entry.ca_intermediates.has_value()) files.ca_intermediates = ToPem(*entry.ca_intermediates);
    if (entry.timestamp_authorities.has_value()) files.timestamp_authorities = ToPem(*entry.timestamp_authorities);
    if (entry.rekor_keys.has_value()) files.rekor_keys = ToPem(*entry.rekor_keys);
    root = LoadPkiTrustRoot(files);
  } else {
    return absl::InvalidArgumentError("names neither trusted_root nor ca_roots");
  }
  if (!root.ok()) return root.status();
  if (entry.require_transparency_log.has_value()) {
    if (*entry.require_transparency_log && root->transparency_logs.empty()) {
      return absl::InvalidArgumentError(
          "require_transparency_log = true, but the trust root lists no transparency log");
    }
    root->require_transparency_log = *entry.require_transparency_log;
  }
  root->name = entry.name;
  root->origin = entry.origin;
  return root;
}

}  // namespace

absl::StatusOr<std::vector<std::shared_ptr<const TrustRoot>>> BuildTrustRoots(const config::Config& config) {
  std::vector<std::shared_ptr<const TrustRoot>> out;
  for (const config::TrustRootConfig& entry : config.trust_roots) {
    absl::StatusOr<TrustRoot> root = Build(entry);
    if (!root.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(entry.origin, ": trust root \"", entry.name, "\": ", root.status().message()));
    }
    out.push_back(std::make_shared<const TrustRoot>(*std::move(root)));
  }
  return out;
}

}  // namespace sigshim::trust
