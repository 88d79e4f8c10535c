#include "shim/command_line.h"

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace sigshim::shim {
namespace {

// A command declared on the root App: CLI11 parses its arguments into `app`; once it has,
// `parsed` returns them as the Command to run.
struct Subcommand {
  CLI::App* app;
  std::function<Command()> parsed;
  // After a parse: "" when the arguments go together, else why not (what CLI11 cannot say).
  std::function<std::string()> problem = [] { return std::string(); };
};

// Returns the end of a command's help: `details` (a paragraph, may be empty), then "Exit codes:"
// with one "code  meaning" line per entry.
std::string Footer(absl::string_view details, std::initializer_list<std::pair<int, absl::string_view>> exit_codes) {
  std::string text = details.empty() ? "" : absl::StrCat(details, "\n\n");
  absl::StrAppend(&text, "Exit codes:");
  for (const auto& [code, meaning] : exit_codes) absl::StrAppend(&text, "\n  ", code, "  ", meaning);
  return text;
}

// Adds the command `name` to `root`; `summary` (one line) is what `sigshim --help` lists.
CLI::App* AddCommand(CLI::App& root, const std::string& name, const std::string& summary) {
  CLI::App* app = root.add_subcommand(name, summary);
  app->group("Commands");
  return app;
}

// Adds -c,--config FILE to `app`, stored in `config` (which must outlive the parse).
CLI::Option* AddConfigOption(CLI::App& app, std::string& config, const std::string& description) {
  return app.add_option("-c,--config", config, description)->type_name("FILE");
}

// `sigshim check-config --config FILE`.
Subcommand AddCheckConfig(CLI::App& root) {
  auto command = std::make_shared<CheckConfigCommand>();
  CLI::App* app = AddCommand(root, "check-config", "Validate a configuration file and print what it puts in force.");
  AddConfigOption(*app, command->config, "The configuration file (TOML) to check.")->required();
  app->footer(Footer("Prints every setting with its value, the trusted keys with their fingerprints, the "
                     "policies in the order they take precedence, and the registry endpoints [registry] "
                     "config_path gives each host folder, in the order a pull tries them.",
                     {{0, "the configuration is valid (printed on stdout)"},
                      {2, "bad usage, or the configuration is not valid (stderr names the file and line)"}}));
  return {app, [command] { return Command(*command); }};
}

// `sigshim verify --config FILE [--namespace NS] IMAGE`.
Subcommand AddVerify(CLI::App& root) {
  auto command = std::make_shared<VerifyCommand>();
  CLI::App* app = AddCommand(root, "verify", "Decide one image as the daemon would, without pulling it.");
  AddConfigOption(*app, command->config, "The configuration file (TOML) whose policy decides.")->required();
  app->add_option("-n,--namespace", command->namespace_name,
                  "The Kubernetes namespace the image is for (default: none).")
      ->type_name("NS");
  app->add_option("-o,--output", command->output, "How to print the decision: text (default) or json (one object).")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
  app->add_option("IMAGE", command->image, "The image reference, by tag or by digest.")->type_name("")->required();
  app->footer(Footer("Matches IMAGE to a [[policy]], resolves its tag at the registry, fetches its signatures and "
                     "checks them as the daemon does for a pull. Prints the image, digest, decision, policy, "
                     "identity and reason, every signature that counted with its signer (key name and "
                     "fingerprint) and signing time, and why each other signature did not count.",
                     {{0, "allowed (also a denial that [enforcement] mode = \"audit\" only records)"},
                      {1, "denied"},
                      {2, "error: bad usage, a configuration that does not load, a bad reference, the registry "
                          "unreachable (never an allow)"}}));
  return {app, [command] { return Command(*command); }};
}

// `sigshim verify-bundle --bundle FILE --trusted-root FILE (--certificate-identity SAN
// --certificate-oidc-issuer ISSUER | --key PEM_FILE) (ARTIFACT_FILE | sha256:HEX)`.
Subcommand AddVerifyBundle(CLI::App& root) {
  auto command = std::make_shared<VerifyBundleCommand>();
  CLI::App* app = AddCommand(root, "verify-bundle", "Check one sigstore bundle offline for an artifact.");
  app->add_option("--bundle", command->bundle, "The sigstore bundle (JSON).")->type_name("FILE")->required();
  app->add_option("--trusted-root", command->trusted_root, "The sigstore trusted_root.json to trust.")
      ->type_name("FILE")
      ->required();
  CLI::Option* identity =
      app->add_option("--certificate-identity", command->certificate_identity,
                      "The SAN the signing certificate must have (exact); with --certificate-oidc-issuer.")
          ->type_name("SAN");
  CLI::Option* issuer = app->add_option("--certificate-oidc-issuer", command->certificate_oidc_issuer,
                                        "The OIDC issuer the signing certificate must name (exact).")
                            ->type_name("ISSUER");
  CLI::Option* key =
      app->add_option("--key", command->key, "The public key (PEM) of a key-signed bundle, instead of an identity.")
          ->type_name("PEM_FILE");
  identity->needs(issuer);
  issuer->needs(identity);
  key->excludes(identity);
  key->excludes(issuer);
  app->add_option("ARTIFACT", command->artifact, "The artifact: a file, or its digest as sha256:HEX.")
      ->type_name("")
      ->required();
  app->footer(Footer("Checks the bundle exactly as the daemon checks the bundles it finds: the signature over the "
                     "artifact (a message signature, or an in-toto statement listing the artifact among its subjects), "
                     "the certificate chained to the trusted root at the time its transparency-log entries or "
                     "timestamps prove, with that SAN and issuer, or the key. Follows the verify-bundle command of "
                     "sigstore's client conformance protocol.",
                     {{0, "the bundle verifies (what verified is printed on stdout)"},
                      {1, "it does not (the reason is on stderr)"},
                      {2, "bad usage, or a trusted root, key or artifact that cannot be read"}}));
  return {app, [command] { return Command(*command); },
          [command] {
            return command->key.empty() && command->certificate_identity.empty()
                       ? std::string("--certificate-identity SAN with --certificate-oidc-issuer ISSUER, or --key "
                                     "PEM_FILE, is required")
                       : std::string();
          }};
}

// `sigshim plan --config NEW_FILE [--current FILE] [--output text|json]`.
Subcommand AddPlan(CLI::App& root) {
  auto command = std::make_shared<PlanCommand>();
  CLI::App* app = AddCommand(root, "plan", "Show what a new configuration would refuse on this node, before it is rolled out.");
  AddConfigOption(*app, command->config, "The new configuration file (TOML) to plan.")->required();
  app->add_option("--current", command->current,
                  "The configuration in force (default /etc/sigshim/config.toml); its [server] names the runtime "
                  "socket and the state folder of the node.")
      ->type_name("FILE");
  app->add_option("-o,--output", command->output, "How to print the plan: text (default) or json (one object).")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
  app->footer(Footer("Asks the runtime named by the current configuration's [server] runtime_endpoint for every "
                     "image it holds and every running container (with its pod's namespace), and decides each "
                     "one as the next CreateContainer would, under the configuration in force and under the new "
                     "one: stored verdicts of [server] state_dir first (re-checked offline, as on a reload), the "
                     "registry only where none decides. Prints a table (image, namespace, now, new, why) and "
                     "names what would newly be refused. Changes nothing on the node.",
                     {{0, "no running container would be refused under the new configuration"},
                      {1, "at least one running container would be refused under the new configuration"},
                      {2, "error: bad usage, a configuration that does not load, the runtime or the state folder "
                          "unusable"}}));
  return {app, [command] { return Command(*command); }};
}

// Returns the reason for refusing "sigshim --config FILE COMMAND": the daemon's --config, which
// the command would ignore.
std::string ConfigBeforeCommand(const CLI::App& command) {
  return absl::StrCat("--config goes after the command: sigshim ", command.get_name(), " --config FILE ...");
}

// Returns `option` as the help names it: "--config FILE", "IMAGE".
std::string Spelled(const CLI::Option& option) {
  if (option.get_positional()) return option.get_name(/*positional=*/true);
  const std::string type = option.get_type_name();
  return type.empty() ? option.get_name() : absl::StrCat(option.get_name(), " ", type);
}

// Returns what was wrong with argv, in one line, given the App (root or command) that was parsing
// when CLI11 threw `error`. `root_config` is the daemon's --config.
std::string Reason(const CLI::App& root, const CLI::App& failed, const CLI::Option& root_config,
                   const std::vector<Subcommand>& commands, const CLI::ParseError& error) {
  // An argument nothing takes comes first: CLI11 checks required options before it looks at
  // leftovers, and "--config is required" would hide the misspelt option that was meant to be it.
  const std::vector<std::string> extra = failed.remaining();
  if (!extra.empty()) {
    const std::string& arg = extra.front();
    if (arg.size() > 1 && arg[0] == '-') return absl::StrCat("unknown argument \"", arg, "\"");
    if (&failed != &root) return absl::StrCat("unexpected argument \"", arg, "\"");
    return absl::StrCat("unknown command \"", arg, "\" (the commands are ",
                        absl::StrJoin(commands, ", ",
                                      [](std::string* out, const Subcommand& c) { out->append(c.app->get_name()); }),
                        ")");
  }
  if (&failed != &root && root_config.count() > 0) return ConfigBeforeCommand(failed);
  for (const CLI::Option* option : failed.get_options()) {
    if (option->count() > 1) return absl::StrCat(Spelled(*option), " is given more than once");
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
    for (const CLI::Option* option : failed.get_options()) {
      if (option->get_required() && option->count() == 0) return absl::StrCat(Spelled(*option), " is required");
    }
  }
  return error.what();  // CLI11's words, e.g. "--config: 1 required FILE missing" (no FILE after it)
}

// Returns the answer to bad usage: `reason` and where to read the usage of `failed`.
ParsedCommandLine BadUsage(const CLI::App& root, const CLI::App& failed, const std::string& reason) {
  const std::string name = &failed == &root ? "sigshim" : absl::StrCat("sigshim ", failed.get_name());
  ParsedCommandLine result;
  result.exit_code = kExitBadUsage;
  result.err = absl::StrCat(name, ": ", reason, "\nRun \"", name, " --help\" for its usage.\n");
  return result;
}

// Returns the answer that runs `command`.
ParsedCommandLine Run(Command command) {
  ParsedCommandLine result;
  result.command = std::move(command);
  return result;
}

}  // namespace

ParsedCommandLine ParseCommandLine(int argc, const char* const* argv, const CommandLineOptions& options) {
  CLI::App root("sigshim: a CRI proxy between kubelet and the container runtime that refuses images without a "
                "trusted signature.",
                "sigshim");
  root.get_formatter()->label("SUBCOMMAND", "COMMAND");  // shared with every command's App
  root.get_formatter()->label("Positionals", "Arguments");
  DaemonCommand daemon;
  CLI::Option* root_config = AddConfigOption(
      root, daemon.config, "The configuration file (TOML) the daemon runs with. Required without a command.");
  root.set_version_flag("--version", absl::StrCat("sigshim ", options.version), "Print the version and exit.");
  root.require_subcommand(0, 1);
  const std::vector<Subcommand> commands = {AddCheckConfig(root), AddVerify(root), AddVerifyBundle(root),
                                              AddPlan(root)};
  root.footer(absl::StrCat(
      Footer("Without a command, runs the daemon with --config FILE: SIGHUP reloads FILE, SIGTERM and SIGINT stop it.",
             {{0, "the daemon stopped on SIGTERM or SIGINT"},
              {1, "the daemon could not start serving, or did not stop within [server] shutdown_grace"},
              {2, "bad usage, a bad configuration or an unsafe state folder"}}),
      "\n\nRun \"sigshim COMMAND --help\" for what a command does, its options and exit codes."));

  const CLI::App* failed = &root;
  try {
    root.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    ParsedCommandLine result;
    result.out = root.help();  // The help of the command named, if one is.
    return result;
  } catch (const CLI::CallForVersion& version) {
    ParsedCommandLine result;
    result.out = absl::StrCat(version.what(), "\n");
    return result;
  } catch (const CLI::ParseError& error) {
    for (const Subcommand& command : commands) {
      if (command.app->parsed()) failed = command.app;
    }
    return BadUsage(root, *failed, Reason(root, *failed, *root_config, commands, error));
  }
  for (const Subcommand& command : commands) {
    if (!command.app->parsed()) continue;
    if (root_config->count() > 0) return BadUsage(root, *command.app, ConfigBeforeCommand(*command.app));
    if (std::string problem = command.problem(); !problem.empty()) return BadUsage(root, *command.app, problem);
    return Run(command.parsed());
  }
  if (daemon.config.empty()) return BadUsage(root, root, "--config FILE is required");
  return Run(daemon);
}

}  // namespace sigshim::shim
