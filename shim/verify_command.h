// `sigshim verify` and the policy and registry-hosts halves of `sigshim check-config`: one decision,
// or the effective policy and registry endpoints, printed for a person.
#ifndef SIGSHIM_SHIM_VERIFY_COMMAND_H_
#define SIGSHIM_SHIM_VERIFY_COMMAND_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pkg/config/config.h"
#include "pkg/policy/decision.h"
#include "pkg/policy/image_verifier.h"
#include "pkg/registry/registry_client.h"

namespace sigshim::shim {

// Exit codes of `sigshim verify`.
inline constexpr int kVerifyAllowed = 0;
inline constexpr int kVerifyDenied = 1;
inline constexpr int kVerifyError = 2;

struct VerifyCommandArgs {
  std::string config;          // --config FILE. Required.
  std::string namespace_name;  // --namespace NS. Default "".
  std::string image;           // IMAGE. Required.
  bool json = false;           // --output json: print one JSON object (FormatDecisionJson). Default false.
};

// Returns the registry client options [registry] asks for: insecure registries, request timeout
// (and a connection limit no longer than it), extra CAs.
registry::RegistryClientOptions RegistryClientOptionsFrom(const config::Config& config);

// Returns one artifact for a person: "<format> (<kind> <predicate type>) at <location> (<digest>):
// counted for <what>" or "…: not counted: <why>" ("unusable" when no format could read it).
std::string DescribeArtifact(const policy::ArtifactRecord& artifact);

// Returns the decision printed for a person: image, digest, decision, policy, identity, reason,
// signing time, then one "signature:" line per signature that counted (the [[keys]] name, the
// signer's full fingerprint, the signing time with its source or "unknown", the format and layer)
// and one "attestation:" line per attestation that met a [[policy.attestations]] entry, one
// "rejected:" line per artifact that did not count (why), and one "artifact:" line per artifact
// found (DescribeArtifact: format, where it was found, predicate type, why it counted or not), one
// "field: value" per line.
std::string FormatDecision(const policy::Decision& decision);

// Returns the same as one JSON object (no trailing newline): image, namespace, digest, decision,
// verdict, enforced, policy, pattern, identity, reason, signed_at, signed_at_source, signatures
// [{identity, signer_type, fingerprint, signer, layer_digest, docker_reference, format,
// attestation, predicate_type, signed_at, signed_at_source, signed_at_authority}] (every statement
// that counted, attestations included), rejected [strings], artifacts [{format, location, digest,
// kind, predicate_type, counted, counted_for [strings], reason}] (Decision::artifacts),
// unchecked_signatures, registry_requests, latency_ms. Times are RFC 3339 UTC; "" when unknown.
std::string FormatDecisionJson(const policy::Decision& decision);

// Returns kVerifyAllowed, kVerifyDenied or kVerifyError for the decision's outcome (an audited
// denial is allowed).
int ExitCodeFor(const policy::Decision& decision);

// Decides `request` under `config` with `registry` (null: a client built from [registry]) and
// prints the decision to `out` (as JSON when `json`). Problems before a decision (policy does not compile, client cannot
// be built) go to `err`. Returns the exit code.
int RunVerify(const config::Config& config, const policy::VerifyRequest& request,
              std::shared_ptr<registry::RegistryClient> registry, std::FILE* out, std::FILE* err,
              bool json = false);

// Runs `sigshim verify --config FILE [--namespace NS] [--output json] IMAGE`: loads the config (errors name the
// file and line), then RunVerify. Returns the exit code.
int RunVerifyCommand(const VerifyCommandArgs& args, std::FILE* out, std::FILE* err);

// Compiles the policy of `config` and returns the effective policy for a person (trusted keys
// with fingerprints, policies in precedence order). InvalidArgument naming the file and line of a
// bad key or glob.
absl::StatusOr<std::string> DescribeEffectivePolicy(const config::Config& config);

// Reads [registry] config_path as the daemon does (registry::RegistryHosts::Load) and returns, for
// a person, each host folder found with its endpoints in the order a pull tries them: URL, mirror
// or server, where it was defined, capabilities, TLS settings (CA files, client certificate and key
// files, skip_verify), override_path and the names (never the values) of extra headers. A line
// says so when config_path is not set. InvalidArgument for a configuration the daemon would refuse,
// "<config file>: [registry] config_path: " then RegistryHosts::Load's message (which names the
// hosts.toml and line).
absl::StatusOr<std::string> DescribeRegistryHosts(const config::Config& config);

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_VERIFY_COMMAND_H_
