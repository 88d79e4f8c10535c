// sigshim's command line (DESIGN.md "Command line contract"), parsed with CLI11:
//
//   sigshim --config FILE                              run the daemon
//   sigshim check-config --config FILE                 validate FILE, print the effective configuration
//   sigshim verify --config FILE [--namespace NS] [--output text|json] IMAGE  decide one image
//   sigshim verify-bundle --bundle FILE --trusted-root FILE (--certificate-identity SAN
//       --certificate-oidc-issuer ISSUER | --key PEM_FILE) (ARTIFACT_FILE | sha256:HEX)
//   sigshim plan --config NEW_FILE [--current FILE] [--output text|json]     what NEW_FILE would refuse here
//   sigshim [COMMAND] --help, sigshim --version
//
// `-c` is short for --config and `-n` for --namespace; `--config=FILE` works as well. Parsing runs
// nothing and touches no file: it returns the command to run, or what to print and the exit code
// for --help, --version and bad usage.
//
// Adding a command: one Add<Command> function in command_line.cc (its options, help and exit
// codes) listed in ParseCommandLine's `commands`, its struct below in `Command`, and its case in
// main()'s dispatch (std::visit fails to compile until there is one).
#ifndef SIGSHIM_SHIM_COMMAND_LINE_H_
#define SIGSHIM_SHIM_COMMAND_LINE_H_

#include <optional>
#include <string>
#include <variant>

namespace sigshim::shim {

// Exit code of bad usage (an unknown option or command, a missing --config or IMAGE, an extra
// argument), as for a bad configuration.
inline constexpr int kExitBadUsage = 2;

// `sigshim --config FILE`: run the daemon.
struct DaemonCommand {
  std::string config;  // --config FILE. Required.
};

// `sigshim check-config --config FILE`.
struct CheckConfigCommand {
  std::string config;  // --config FILE. Required.
};

// `sigshim verify --config FILE [--namespace NS] [--output text|json] IMAGE`.
struct VerifyCommand {
  std::string config;          // --config FILE. Required.
  std::string namespace_name;  // --namespace NS. Default "" (no namespace).
  std::string output = "text";  // --output: "text" (for a person) or "json" (one object). Default "text".
  std::string image;           // IMAGE. Required.
};

// `sigshim verify-bundle --bundle FILE --trusted-root FILE (--certificate-identity SAN
// --certificate-oidc-issuer ISSUER | --key PEM_FILE) (ARTIFACT_FILE | sha256:HEX)`.
struct VerifyBundleCommand {
  std::string bundle;                   // --bundle FILE. Required.
  std::string trusted_root;             // --trusted-root FILE. Required.
  std::string certificate_identity;     // --certificate-identity SAN: with the issuer, instead of --key.
  std::string certificate_oidc_issuer;  // --certificate-oidc-issuer ISSUER: with the identity.
  std::string key;                      // --key PEM_FILE: instead of the identity and issuer.
  std::string artifact;                 // ARTIFACT_FILE or sha256:HEX. Required.
};

// `sigshim plan --config NEW_FILE [--current FILE] [--output text|json]`.
struct PlanCommand {
  std::string config;                                 // --config NEW_FILE. Required.
  std::string current = "/etc/sigshim/config.toml";  // --current FILE: the configuration in force. Default as written.
  std::string output = "text";  // --output: "text" (tables for a person) or "json" (one object). Default "text".
};

using Command = std::variant<DaemonCommand, CheckConfigCommand, VerifyCommand, VerifyBundleCommand, PlanCommand>;

// The outcome of parsing: a command to run, or text to print and an exit code.
struct ParsedCommandLine {
  // The command to run. Unset when the process should print `out` and `err` and exit with
  // `exit_code` instead.
  std::optional<Command> command;
  // Without a command: 0 after --help or --version, kExitBadUsage after bad usage.
  int exit_code = 0;
  // Without a command: the help or the version (for stdout), ending in a newline; else empty.
  std::string out;
  // Without a command, after bad usage: one line naming what was wrong, then one line pointing
  // at the --help of the command concerned (for stderr); else empty.
  std::string err;
};

struct CommandLineOptions {
  std::string version;  // Printed by --version after "sigshim ". Default "" (prints "sigshim ").
};

// Parses `argv` (argc entries; argv[0], the program's path, is ignored: the help says "sigshim").
// Never throws, never exits, prints nothing. Thread-safe (no shared state).
ParsedCommandLine ParseCommandLine(int argc, const char* const* argv, const CommandLineOptions& options);

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_COMMAND_LINE_H_
