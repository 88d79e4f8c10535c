// `sigshim verify-bundle`: one sigstore bundle checked offline, the way the daemon checks the
// bundles it finds (pkg/verify/sigstore_bundle.h with the trust material pkg/trust builds), for an
// artifact given as a file or as its digest. Its command line follows the `verify-bundle` command
// of sigstore's client conformance protocol.
#ifndef SIGSHIM_SHIM_VERIFY_BUNDLE_COMMAND_H_
#define SIGSHIM_SHIM_VERIFY_BUNDLE_COMMAND_H_

#include <cstdio>
#include <string>

#include "absl/time/time.h"

namespace sigshim::shim {

// Exit codes of `sigshim verify-bundle`.
inline constexpr int kBundleVerified = 0;
inline constexpr int kBundleNotVerified = 1;
inline constexpr int kBundleBadUsage = 2;

struct VerifyBundleArgs {
  std::string bundle;                   // --bundle FILE. Required.
  std::string trusted_root;             // --trusted-root FILE (a sigstore trusted_root.json). Required.
  std::string certificate_identity;     // --certificate-identity SAN (exact); with the issuer, or --key.
  std::string certificate_oidc_issuer;  // --certificate-oidc-issuer ISSUER (exact).
  std::string key;                      // --key PEM_FILE: a key-signed bundle's key.
  std::string artifact;                 // ARTIFACT_FILE, or sha256:HEX. Required.
};

// Checks the bundle and prints one line: on `out` what verified (kind, predicate type, signer,
// signing time) and returns kBundleVerified; on `err` why not and returns kBundleNotVerified; a
// trusted root, key or artifact file that cannot be read or parsed, or a digest that is not
// sha256:<64 hex>, is kBundleBadUsage with the reason on `err`. With a certificate identity, a
// statement counts when its certificate chains to the trusted root at a proven signing time (a
// transparency-log entry when the root lists logs; SCTs when it lists CT logs) and has exactly that
// SAN and OIDC issuer. With a key, when the key verifies it and, if the root lists transparency
// logs, a log entry verifies; if the root lists logs or timestamp authorities, a signing time must
// be proven. Any predicate type counts (an attestation verifies as a bundle); the artifact must be
// the message digest or a subject of the statement. `now` is the time of the decision.
int RunVerifyBundle(const VerifyBundleArgs& args, absl::Time now, std::FILE* out, std::FILE* err);

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_VERIFY_BUNDLE_COMMAND_H_
