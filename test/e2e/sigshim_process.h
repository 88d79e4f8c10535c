// What the end-to-end suites and the demo share to run the sigshim binary: its command line, the
// start that waits for its CRI socket, the signing keys and the enforcing config the suites write,
// and its audit log read back.
#ifndef SIGSHIM_TEST_E2E_SIGSHIM_PROCESS_H_
#define SIGSHIM_TEST_E2E_SIGSHIM_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "test/signer/signer.h"
#include "test/testbed/registry.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {

// Returns the options that run `binary --config <config_path>` in `working_dir` (where a core file
// would go), its output appended to `log_path`. The caller may extend argv (e.g. with gdb in front).
testbed::SubprocessOptions SigshimCommand(const std::string& binary, const std::string& config_path,
                                          const std::string& log_path, const std::string& working_dir);

// What a sigshim command (verify, check-config) did.
struct CommandRun {
  int exit_code = -1;  // -1 when it did not exit normally or could not be started
  std::string output;  // stdout and stderr together
};

// Runs `binary` with `args` through the shell (each argument quoted) to completion and returns its
// exit code and output, whatever the exit code: a denial (1) is an answer here, not an error.
CommandRun RunSigshimCommand(const std::string& binary, const std::vector<std::string>& args);

// Returns "exit <code>, output:\n<output>", for assertion messages.
std::string DescribeRun(const CommandRun& run);

// Starts `options` and waits up to `timeout` for the unix socket `socket` to accept connections.
// Returns the running process, owned by the caller; an error when it did not start or its socket did
// not come up in time (the process is then stopped; the message has the end of its log).
absl::StatusOr<std::unique_ptr<testbed::Subprocess>> StartSigshim(const testbed::SubprocessOptions& options,
                                                                  const std::string& socket,
                                                                  absl::Duration timeout = absl::Seconds(30));

// Starts a second registry, in folder "registry-auth" of `bed`, that answers only with basic auth
// as `user` / `password`. Returns it, owned by the caller (destroying it stops it); an error when it
// did not start.
absl::StatusOr<std::unique_ptr<testbed::Registry>> StartAuthRegistry(const testbed::TestBed& bed,
                                                                    const std::string& user,
                                                                    const std::string& password);

// A signing key whose public half is in a PEM file a config can name.
struct Key {
  std::string name;
  std::string public_path;  // PEM file the config names
  std::unique_ptr<test_signer::Signer> signer;
};

// Generates a key of `type`, writes its public PEM to `public_path` (mode 0644; the folder must
// exist) and returns it. An error when generating or writing failed.
absl::StatusOr<std::unique_ptr<Key>> GenerateKey(const std::string& name, test_signer::KeyType type,
                                                 const std::string& public_path);

// The config the enforcing suites give sigshim: debug log, unmatched images denied, a 5 s registry
// timeout unless said otherwise, both registries insecure (plain HTTP); policy "e2e" requires key "release" (and "team"
// when `team_key_path` is set) for every image of `registry`, policy "private" key "release" for
// every image of `auth_registry`.
struct EnforcingConfig {
  std::string socket;            // [server] listen
  std::string runtime_endpoint;  // containerd's socket
  std::string state_dir;         // the verdict store
  std::string audit_path;        // [audit] path
  std::string mode = "enforce";  // [enforcement] mode
  std::string sandbox_image;     // [enforcement] sandbox_image, pinned by digest
  std::string metrics_listen;    // [metrics] listen; "" turns the status endpoint off
  std::string registry;          // host:port of the plain registry
  std::string auth_registry;     // host:port of the registry with basic auth
  std::string release_key_path;  // PEM of key "release"; required
  std::string team_key_path;     // PEM of key "team"; "" leaves the key and its requirement out
  std::string team_key_window;   // TOML lines added to key "team" (not_before / not_after); "" for none
  std::string registry_timeout = "5s";  // [registry] timeout
  std::string verification_timeout;     // [registry] verification_timeout; "" leaves the default (30 s)
  std::string extra;             // appended verbatim
};

// Returns `config` as the TOML text sigshim reads.
std::string EnforcingConfigToml(const EnforcingConfig& config);

// Returns the audit log at `path`, one parsed object per line; an unreadable file gives none. Lines
// that are not a JSON object are left out and, when `malformed` is not null, appended to it.
std::vector<nlohmann::json> ReadAuditLog(const std::string& path, std::vector<std::string>* malformed);

}  // namespace sigshim::e2e

#endif  // SIGSHIM_TEST_E2E_SIGSHIM_PROCESS_H_
