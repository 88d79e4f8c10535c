// A fingerprint of the enforcement policy, exported as sigshim_policy_info{digest} so that nodes
// whose policy drifted from the fleet's stand out on a dashboard.
#ifndef SIGSHIM_PKG_METRICS_POLICY_DIGEST_H_
#define SIGSHIM_PKG_METRICS_POLICY_DIGEST_H_

#include <string>

#include "pkg/config/config.h"

namespace sigshim::metrics {

// Returns "sha256:<64 hex>" over a canonical serialisation of what decides admission in `config`:
// enforcement mode, unmatched, sandbox_image, every key (name and PEM text without surrounding
// whitespace, in name order: their order decides nothing) and every policy (name, images,
// require, in file order: order breaks ties between policies that match). Everything else (listen addresses,
// workers, registry settings, log and audit options, file paths, comments, TOML layout) leaves
// the digest unchanged. Deterministic across processes and nodes; thread-safe.
std::string PolicyDigest(const config::Config& config);

}  // namespace sigshim::metrics

#endif  // SIGSHIM_PKG_METRICS_POLICY_DIGEST_H_
