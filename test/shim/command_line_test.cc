// sigshim's command line: every accepted form, every bad usage (one reason, a pointer to --help,
// exit 2) and the help of every command.
#include "shim/command_line.h"

#include <string>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigshim::shim {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Parses `sigshim <args>` as main() does, with version "1.2.3".
ParsedCommandLine Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/bin/sigshim");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  return ParseCommandLine(static_cast<int>(args.size()), argv.data(), {.version = "1.2.3"});
}

// Returns the command of `parsed` as a T, failing the test (and returning a default T) when
// parsing did not give one.
template <typename T>
T CommandOf(const ParsedCommandLine& parsed) {
  EXPECT_TRUE(parsed.command.has_value()) << parsed.err;
  EXPECT_THAT(parsed.out, IsEmpty());
  EXPECT_THAT(parsed.err, IsEmpty());
  if (!parsed.command.has_value()) return T{};
  const T* command = std::get_if<T>(&*parsed.command);
  EXPECT_NE(command, nullptr) << "another command, index " << parsed.command->index();
  return command != nullptr ? *command : T{};
}

// Expects bad usage: no command, exit 2, nothing on stdout, and on stderr exactly two lines:
// "<program>: <reason>" and the pointer to "<program> --help".
void ExpectBadUsage(const ParsedCommandLine& parsed, const std::string& program, const std::string& reason) {
  EXPECT_FALSE(parsed.command.has_value());
  EXPECT_EQ(parsed.exit_code, 2);
  EXPECT_THAT(parsed.out, IsEmpty());
  EXPECT_EQ(parsed.err, program + ": " + reason + "\nRun \"" + program + " --help\" for its usage.\n");
}

// Expects help: no command, exit 0, nothing on stderr; returns what goes to stdout.
std::string ExpectHelp(const ParsedCommandLine& parsed) {
  EXPECT_FALSE(parsed.command.has_value());
  EXPECT_EQ(parsed.exit_code, 0);
  EXPECT_THAT(parsed.err, IsEmpty());
  EXPECT_THAT(parsed.out, HasSubstr("Usage: sigshim"));
  return parsed.out;
}

TEST(CommandLine, ConfigAloneRunsTheDaemonInEveryForm) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--config", "/etc/sigshim/config.toml"},
           {"-c", "/etc/sigshim/config.toml"},
           {"--config=/etc/sigshim/config.toml"}}) {
    SCOPED_TRACE(args.front());
    EXPECT_EQ(CommandOf<DaemonCommand>(Parse(args)).config, "/etc/sigshim/config.toml");
  }
}

TEST(CommandLine, CheckConfigTakesItsConfigInEveryForm) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"check-config", "--config", "a.toml"}, {"check-config", "-c", "a.toml"}, {"check-config", "--config=a.toml"}}) {
    SCOPED_TRACE(args[1]);
    EXPECT_EQ(CommandOf<CheckConfigCommand>(Parse(args)).config, "a.toml");
  }
}

TEST(CommandLine, VerifyTakesConfigNamespaceAndImageInAnyOrder) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"verify", "--config", "a.toml", "--namespace", "prod", "registry.example/app:v1"},
           {"verify", "-c", "a.toml", "-n", "prod", "registry.example/app:v1"},
           {"verify", "--config=a.toml", "--namespace=prod", "registry.example/app:v1"},
           {"verify", "registry.example/app:v1", "-n", "prod", "-c", "a.toml"}}) {
    SCOPED_TRACE(args[1]);
    VerifyCommand verify = CommandOf<VerifyCommand>(Parse(args));
    EXPECT_EQ(verify.config, "a.toml");
    EXPECT_EQ(verify.namespace_name, "prod");
    EXPECT_EQ(verify.image, "registry.example/app:v1");
  }
}

TEST(CommandLine, VerifyWithoutNamespaceHasNone) {
  VerifyCommand verify = CommandOf<VerifyCommand>(Parse({"verify", "--config", "a.toml", "app@sha256:00"}));
  EXPECT_EQ(verify.config, "a.toml");
  EXPECT_EQ(verify.namespace_name, "");
  EXPECT_EQ(verify.image, "app@sha256:00");
}

TEST(CommandLine, PlanTakesTheNewConfigTheCurrentOneAndTheOutputInEveryForm) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"plan", "--config", "new.toml", "--current", "now.toml", "--output", "json"},
           {"plan", "-c", "new.toml", "--current=now.toml", "-o", "json"},
           {"plan", "--output=json", "--current", "now.toml", "--config=new.toml"}}) {
    SCOPED_TRACE(args[1]);
    PlanCommand plan = CommandOf<PlanCommand>(Parse(args));
    EXPECT_EQ(plan.config, "new.toml");
    EXPECT_EQ(plan.current, "now.toml");
    EXPECT_EQ(plan.output, "json");
  }
}

TEST(CommandLine, PlanWithoutCurrentComparesWithTheInstalledConfigAsText) {
  PlanCommand plan = CommandOf<PlanCommand>(Parse({"plan", "--config", "new.toml"}));
  EXPECT_EQ(plan.config, "new.toml");
  EXPECT_EQ(plan.current, "/etc/sigshim/config.toml");
  EXPECT_EQ(plan.output, "text");
}

TEST(CommandLine, PlanWithoutConfigOrWithAnImageIsBadUsage) {
  ExpectBadUsage(Parse({"plan", "--current", "now.toml"}), "sigshim plan", "--config FILE is required");
  ExpectBadUsage(Parse({"plan", "--config", "new.toml", "app:v1"}), "sigshim plan", "unexpected argument \"app:v1\"");
}

TEST(CommandLine, PlanHelpNamesItsOptionsAndExitCodes) {
  std::string help = ExpectHelp(Parse({"plan", "--help"}));
  EXPECT_THAT(help, AllOf(HasSubstr("Usage: sigshim plan [OPTIONS]"), HasSubstr("what a new configuration would refuse"),
                          HasSubstr("-c,--config FILE REQUIRED"), HasSubstr("--current FILE"),
                          HasSubstr("/etc/sigshim/config.toml"), HasSubstr("-o,--output FORMAT"),
                          HasSubstr("0  no running container would be refused"),
                          HasSubstr("1  at least one running container would be refused"), HasSubstr("2  error")));
}

TEST(CommandLine, VersionPrintsTheVersionAndExitsZero) {
  ParsedCommandLine parsed = Parse({"--version"});
  EXPECT_FALSE(parsed.command.has_value());
  EXPECT_EQ(parsed.exit_code, 0);
  EXPECT_EQ(parsed.out, "sigshim 1.2.3\n");
  EXPECT_THAT(parsed.err, IsEmpty());
}

TEST(CommandLine, HelpNamesTheCommandsTheDaemonsOptionsAndExitCodes) {
  for (const char* flag : {"--help", "-h"}) {
    SCOPED_TRACE(flag);
    std::string help = ExpectHelp(Parse({flag}));
    EXPECT_THAT(help, AllOf(HasSubstr("Usage: sigshim [OPTIONS] [COMMAND]"), HasSubstr("-c,--config FILE"),
                            HasSubstr("--version"), HasSubstr("check-config"), HasSubstr("verify"), HasSubstr("plan"),
                            HasSubstr("Exit codes:"), HasSubstr("0  the daemon stopped"),
                            HasSubstr("1  the daemon could not start"), HasSubstr("2  bad usage")));
  }
  // --help wins over whatever else is on the line, even a missing --config.
  ExpectHelp(Parse({"--frobnicate", "--help"}));
}

TEST(CommandLine, VerifyHelpNamesItsOptionsAndExitCodes) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"verify", "--help"}, {"verify", "-h"}, {"verify", "IMAGE", "--help"}}) {
    SCOPED_TRACE(args.back());
    std::string help = ExpectHelp(Parse(args));
    EXPECT_THAT(help, AllOf(HasSubstr("Usage: sigshim verify [OPTIONS] IMAGE"), HasSubstr("Decide one image"),
                            HasSubstr("-c,--config FILE REQUIRED"), HasSubstr("-n,--namespace NS"), HasSubstr("IMAGE REQUIRED"),
                            HasSubstr("0  allowed"), HasSubstr("1  denied"), HasSubstr("2  error")));
    EXPECT_THAT(help, Not(HasSubstr("check-config")));
  }
}

TEST(CommandLine, CheckConfigHelpNamesItsOptionsAndExitCodes) {
  std::string help = ExpectHelp(Parse({"check-config", "--help"}));
  EXPECT_THAT(help, AllOf(HasSubstr("Usage: sigshim check-config [OPTIONS]"), HasSubstr("Validate a configuration"),
                          HasSubstr("-c,--config FILE REQUIRED"), HasSubstr("0  the configuration is valid"),
                          HasSubstr("2  bad usage, or the configuration is not valid")));
  EXPECT_THAT(help, Not(HasSubstr("--namespace")));
  EXPECT_THAT(help, Not(HasSubstr("1  ")));
}

TEST(CommandLine, UnknownOptionIsBadUsage) {
  ExpectBadUsage(Parse({"--frobnicate"}), "sigshim", "unknown argument \"--frobnicate\"");
  ExpectBadUsage(Parse({"--config", "a.toml", "--frobnicate"}), "sigshim", "unknown argument \"--frobnicate\"");
  ExpectBadUsage(Parse({"verify", "--config", "a.toml", "--frobnicate", "app:v1"}), "sigshim verify",
                 "unknown argument \"--frobnicate\"");
  // Named even when a required argument is missing too: it may be the one that was meant.
  ExpectBadUsage(Parse({"verify", "--conifg", "a.toml", "app:v1"}), "sigshim verify", "unknown argument \"--conifg\"");
  ExpectBadUsage(Parse({"check-config", "--config", "a.toml", "-n", "prod"}), "sigshim check-config",
                 "unknown argument \"-n\"");
  ExpectBadUsage(Parse({"verify", "--version"}), "sigshim verify", "unknown argument \"--version\"");
}

TEST(CommandLine, MissingConfigIsBadUsage) {
  ExpectBadUsage(Parse({}), "sigshim", "--config FILE is required");
  ExpectBadUsage(Parse({"check-config"}), "sigshim check-config", "--config FILE is required");
  ExpectBadUsage(Parse({"verify", "app:v1"}), "sigshim verify", "--config FILE is required");
  ExpectBadUsage(Parse({"verify"}), "sigshim verify", "--config FILE is required");
}

TEST(CommandLine, EmptyConfigIsBadUsage) {
  ExpectBadUsage(Parse({"--config="}), "sigshim", "--config: 1 required FILE missing");
  ExpectBadUsage(Parse({"--config", ""}), "sigshim", "--config FILE is required");
}

TEST(CommandLine, ConfigWithoutItsFileIsBadUsage) {
  ExpectBadUsage(Parse({"--config"}), "sigshim", "--config: 1 required FILE missing");
  ExpectBadUsage(Parse({"verify", "app:v1", "--config"}), "sigshim verify", "--config: 1 required FILE missing");
  ExpectBadUsage(Parse({"verify", "--config", "a.toml", "app:v1", "--namespace"}), "sigshim verify",
                 "--namespace: 1 required NS missing");
}

TEST(CommandLine, ConfigGivenTwiceIsBadUsage) {
  ExpectBadUsage(Parse({"--config", "a.toml", "-c", "b.toml"}), "sigshim", "--config FILE is given more than once");
  ExpectBadUsage(Parse({"verify", "-c", "a.toml", "-c", "b.toml", "app:v1"}), "sigshim verify",
                 "--config FILE is given more than once");
}

TEST(CommandLine, MissingImageIsBadUsage) {
  ExpectBadUsage(Parse({"verify", "--config", "a.toml"}), "sigshim verify", "IMAGE is required");
  ExpectBadUsage(Parse({"verify", "--config", "a.toml", "--namespace", "prod"}), "sigshim verify",
                 "IMAGE is required");
}

TEST(CommandLine, ExtraPositionalIsBadUsage) {
  ExpectBadUsage(Parse({"verify", "--config", "a.toml", "app:v1", "other:v2"}), "sigshim verify",
                 "unexpected argument \"other:v2\"");
  ExpectBadUsage(Parse({"verify", "--config", "a.toml", "app:v1", "check-config"}), "sigshim verify",
                 "unexpected argument \"check-config\"");
  ExpectBadUsage(Parse({"check-config", "--config", "a.toml", "app:v1"}), "sigshim check-config",
                 "unexpected argument \"app:v1\"");
}

TEST(CommandLine, UnknownCommandIsBadUsage) {
  ExpectBadUsage(Parse({"apply", "--config", "a.toml"}), "sigshim",
                 "unknown command \"apply\" (the commands are check-config, verify, verify-bundle, plan)");
  ExpectBadUsage(Parse({"--config", "a.toml", "apply"}), "sigshim",
                 "unknown command \"apply\" (the commands are check-config, verify, verify-bundle, plan)");
}

TEST(CommandLine, ConfigBeforeTheCommandIsBadUsage) {
  ExpectBadUsage(Parse({"--config", "a.toml", "verify", "app:v1"}), "sigshim verify",
                 "--config goes after the command: sigshim verify --config FILE ...");
  ExpectBadUsage(Parse({"-c", "a.toml", "check-config", "-c", "a.toml"}), "sigshim check-config",
                 "--config goes after the command: sigshim check-config --config FILE ...");
}

TEST(CommandLine, ArgumentsAfterDoubleDashAreTheImage) {
  VerifyCommand verify = CommandOf<VerifyCommand>(Parse({"verify", "--config", "a.toml", "--", "--not-an-option"}));
  EXPECT_EQ(verify.image, "--not-an-option");
}

TEST(CommandLine, VerifyBundleTakesAnIdentityOrAKey) {
  VerifyBundleCommand identity = CommandOf<VerifyBundleCommand>(
      Parse({"verify-bundle", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity", "san",
             "--certificate-oidc-issuer", "https://issuer", "sha256:00"}));
  EXPECT_EQ(identity.bundle, "b.json");
  EXPECT_EQ(identity.trusted_root, "root.json");
  EXPECT_EQ(identity.certificate_identity, "san");
  EXPECT_EQ(identity.certificate_oidc_issuer, "https://issuer");
  EXPECT_EQ(identity.artifact, "sha256:00");
  VerifyBundleCommand key = CommandOf<VerifyBundleCommand>(
      Parse({"verify-bundle", "--bundle=b.json", "--trusted-root=root.json", "--key", "k.pem", "artifact.bin"}));
  EXPECT_EQ(key.key, "k.pem");
  EXPECT_EQ(key.artifact, "artifact.bin");
}

TEST(CommandLine, VerifyBundleBadUsage) {
  ExpectBadUsage(Parse({"verify-bundle", "--bundle", "b", "--trusted-root", "r", "x"}), "sigshim verify-bundle",
                 "--certificate-identity SAN with --certificate-oidc-issuer ISSUER, or --key PEM_FILE, is required");
  ExpectBadUsage(Parse({"verify-bundle", "--bundle", "b", "--trusted-root", "r", "--key", "k", "--certificate-identity",
                        "s", "--certificate-oidc-issuer", "i", "x"}),
                 "sigshim verify-bundle", "--certificate-identity excludes --key");
  ExpectBadUsage(Parse({"verify-bundle", "--bundle", "b", "--trusted-root", "r", "--certificate-identity", "s", "x"}),
                 "sigshim verify-bundle", "--certificate-identity requires --certificate-oidc-issuer");
  ExpectBadUsage(Parse({"verify-bundle", "--trusted-root", "r", "--key", "k", "x"}), "sigshim verify-bundle",
                 "--bundle FILE is required");
  ExpectBadUsage(Parse({"verify-bundle", "--bundle", "b", "--trusted-root", "r", "--key", "k"}),
                 "sigshim verify-bundle", "ARTIFACT is required");
  EXPECT_THAT(ExpectHelp(Parse({"verify-bundle", "--help"})), HasSubstr("sigstore's client conformance protocol"));
}

}  // namespace
}  // namespace sigshim::shim
