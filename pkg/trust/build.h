// Trust roots from the configuration's [[trust_roots]] entries.
#ifndef SIGSHIM_PKG_TRUST_BUILD_H_
#define SIGSHIM_PKG_TRUST_BUILD_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "pkg/config/config.h"
#include "pkg/trust/trust_root.h"

namespace sigshim::trust {

// Builds one TrustRoot per [[trust_roots]] entry of `config`, in file order, from the files
// pkg/config read at load (ParseTrustedRoot or LoadPkiTrustRoot), named and with its origin, and
// with require_transparency_log resolved: as written, else true when the root lists transparency
// logs. InvalidArgument "<file>:<line>: trust root \"<name>\": <problem>" on the first entry that
// does not build, including require_transparency_log = true on a root without transparency logs.
absl::StatusOr<std::vector<std::shared_ptr<const TrustRoot>>> BuildTrustRoots(const config::Config& config);

}  // namespace sigshim::trust

#endif  // SIGSHIM_PKG_TRUST_BUILD_H_
