// The sigshim binary's command line as a process: main() prints what parsing asked for on the
// right stream and exits with its code, and runs nothing else; `check-config` reads [registry]
// config_path as the daemon does and lists the endpoints of each host folder.
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "test/testbed/subprocess.h"

namespace sigshim {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `sigshim <args>` and returns its exit code, stdout and stderr.
Outcome Sigshim(const std::vector<std::string>& args) {
  // Through sh, which reports the exit code on stderr's last line: RunCommand keeps the output
  // of a command that exits 0 only.
  std::vector<std::string> argv = {"/bin/sh", "-c", "\"$@\"; echo \"exit=$?\" >&2", "sh", SIGSHIM_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<testbed::CommandResult> result = testbed::RunCommand(argv);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  Outcome outcome{.out = result->stdout_text, .err = result->stderr_text};
  const size_t at = outcome.err.rfind("exit=");
  EXPECT_NE(at, std::string::npos) << outcome.err;
  if (at == std::string::npos) return outcome;
  outcome.exit_code = std::stoi(outcome.err.substr(at + 5));
  outcome.err.resize(at);
  return outcome;
}

TEST(SigshimCommandLine, CommandHelpGoesToStdoutAndExitsZero) {
  Outcome verify = Sigshim({"verify", "--help"});
  EXPECT_EQ(verify.exit_code, 0);
  EXPECT_THAT(verify.out, AllOf(HasSubstr("Usage: sigshim verify [OPTIONS] IMAGE"), HasSubstr("--namespace NS"),
                                HasSubstr("1  denied")));
  EXPECT_THAT(verify.err, IsEmpty());
  Outcome check = Sigshim({"check-config", "--help"});
  EXPECT_EQ(check.exit_code, 0);
  EXPECT_THAT(check.out, HasSubstr("Usage: sigshim check-config [OPTIONS]"));
  EXPECT_THAT(check.err, IsEmpty());
}

TEST(SigshimCommandLine, VersionGoesToStdoutAndExitsZero) {
  Outcome version = Sigshim({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("sigshim "));
  EXPECT_THAT(version.err, IsEmpty());
}

TEST(SigshimCommandLine, BadUsageGoesToStderrAndExitsTwo) {
  Outcome missing = Sigshim({"verify", "--config", "/nonexistent/config.toml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.out, IsEmpty());
  EXPECT_EQ(missing.err, "sigshim verify: IMAGE is required\nRun \"sigshim verify --help\" for its usage.\n");
  Outcome unknown = Sigshim({"apply", "--config", "/nonexistent/config.toml"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.out, IsEmpty());
  EXPECT_EQ(unknown.err, absl::StrCat("sigshim: unknown command \"apply\" (the commands are check-config, verify, verify-bundle, plan)\n",
                                      "Run \"sigshim --help\" for its usage.\n"));
}

// A temporary folder for a config file and a containerd config_path, removed at the end.
class ConfigFolder {
 public:
  ConfigFolder() {
    char dir_template[] = "/tmp/sigshim-check-config-XXXXXX";
    EXPECT_NE(mkdtemp(dir_template), nullptr);
    root_ = dir_template;
  }
  ~ConfigFolder() { std::filesystem::remove_all(root_); }

  std::string Path(const std::string& relative) const { return absl::StrCat(root_, "/", relative); }

  // Writes `text` to root/<relative>, creating folders; returns its path.
  std::string Write(const std::string& relative, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(Path(relative)).parent_path());
    EXPECT_TRUE(WriteFileAtomic(Path(relative), text, 0644).ok());
    return Path(relative);
  }

  // Makes a CA certificate (ca.pem) and a client certificate with its key (client.pem, client.key)
  // in root/<folder> with the openssl command.
  void MakeCertificates(const std::string& folder) const {
    std::filesystem::create_directories(Path(folder));
    const std::string command = absl::StrCat(
        "cd ", Path(folder), " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 ",
        "-subj /CN=ca -keyout ca.key -out ca.pem >/dev/null 2>&1 && openssl req -x509 -newkey ec -pkeyopt ",
        "ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=client -keyout client.key -out client.pem >/dev/null 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0) << "openssl could not make certificates";
  }

  // Writes a sigshim config whose [registry] config_path is root/certs.d; returns its path.
  std::string WriteConfig() const {
    return Write("sigshim.toml", absl::StrCat("[registry]\nconfig_path = \"", Path("certs.d"), "\"\n"));
  }

 private:
  std::string root_;
};

TEST(SigshimCheckConfig, MalformedHostsTomlIsAnErrorNamingFileAndLine) {
  ConfigFolder folder;
  const std::string hosts = folder.Write("certs.d/registry.example/hosts.toml",
                                         "server = \"https://registry.example\"\n\n"
                                         "[host.\"https://mirror.example\"]\n  colour = \"blue\"\n");
  Outcome check = Sigshim({"check-config", "--config", folder.WriteConfig()});
  EXPECT_EQ(check.exit_code, 2);
  EXPECT_THAT(check.out, IsEmpty());
  EXPECT_THAT(check.err, AllOf(HasSubstr(absl::StrCat(hosts, ":4: ")), HasSubstr("unknown key \"colour\""),
                               HasSubstr("[registry] config_path")));
}

TEST(SigshimCheckConfig, ConfigPathThatIsNoFolderIsAnError) {
  ConfigFolder folder;
  Outcome check = Sigshim({"check-config", "--config", folder.WriteConfig()});  // certs.d not made
  EXPECT_EQ(check.exit_code, 2);
  EXPECT_THAT(check.err, HasSubstr(folder.Path("certs.d")));
}

TEST(SigshimCheckConfig, ListsEachHostFoldersEndpointsInTheOrderTried) {
  ConfigFolder folder;
  ASSERT_NO_FATAL_FAILURE(folder.MakeCertificates("certs.d/registry.example_5000_"));
  const std::string hosts = folder.Write("certs.d/registry.example_5000_/hosts.toml", R"(server = "https://registry.example:5000"

[host."https://mirror-b.example"]
  capabilities = ["pull"]
  ca = "ca.pem"
  client = [["client.pem", "client.key"]]

[host."http://mirror-a.example:8080/custom/v2"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
  override_path = true
  header = { Authorization = "Bearer s3cret-header-value" }
)");
  // Shadowed: containerd reads "host_port_" first.
  folder.Write("certs.d/registry.example:5000/hosts.toml", "[host.\"https://never.example\"]\n");
  folder.Write("certs.d/_default/hosts.toml", "[host.\"https://default-mirror.example\"]\n  capabilities = [\"pull\"]\n");
  Outcome check = Sigshim({"check-config", "--config", folder.WriteConfig()});
  ASSERT_EQ(check.exit_code, 0) << check.err;
  const std::string& out = check.out;
  const std::string dir = folder.Path("certs.d/registry.example_5000_");
  EXPECT_THAT(out, HasSubstr(absl::StrCat("  ", dir, "  (registry registry.example:5000)\n")));
  // Mirrors in file order, then the server, each with what it was read from.
  const size_t b = out.find(absl::StrCat("1. https://mirror-b.example/v2  mirror  (", hosts, ":3)\n"));
  const size_t a = out.find(absl::StrCat("2. https://mirror-a.example:8080/custom/v2  mirror  (", hosts, ":8)\n"));
  const size_t server = out.find(absl::StrCat("3. https://registry.example:5000/v2  server  (", hosts, ":1)\n"));
  ASSERT_NE(b, std::string::npos) << out;
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(server, std::string::npos) << out;
  EXPECT_LT(b, a);
  EXPECT_LT(a, server);
  const std::string mirror_b = out.substr(b, a - b);
  EXPECT_THAT(mirror_b, AllOf(HasSubstr("capabilities: pull\n"),
                              HasSubstr(absl::StrCat("tls: ca ", dir, "/ca.pem; client ", dir, "/client.pem (key ", dir,
                                                     "/client.key); skip_verify false\n")),
                              HasSubstr("override_path: false\n")));
  const std::string mirror_a = out.substr(a, server - a);
  EXPECT_THAT(mirror_a, AllOf(HasSubstr("capabilities: pull, resolve\n"),
                              HasSubstr("HTTPS first, plain HTTP when the server answers in HTTP\n"),
                              HasSubstr("tls: ca (none added); client (none); skip_verify true\n"),
                              HasSubstr("override_path: true\n"), HasSubstr("headers: Authorization (values not shown)")));
  EXPECT_THAT(out.substr(server), HasSubstr("capabilities: pull, resolve, push\n"));
  EXPECT_THAT(out, Not(HasSubstr("s3cret-header-value")));
  EXPECT_THAT(out, HasSubstr(absl::StrCat(folder.Path("certs.d/registry.example:5000"), "  (registry registry.example:5000): not used, ",
                                          dir, " is read for it first\n")));
  EXPECT_THAT(out, AllOf(HasSubstr(absl::StrCat(folder.Path("certs.d/_default"), "  (every registry without a folder of its own)\n")),
                         HasSubstr("1. https://default-mirror.example/v2  mirror"),
                         HasSubstr("2. the registry itself, as containerd defaults it  server")));
}

TEST(SigshimCheckConfig, WithoutConfigPathSaysRegistriesAreReachedAtTheirOwnName) {
  ConfigFolder folder;
  Outcome check = Sigshim({"check-config", "--config", folder.Write("sigshim.toml", "[registry]\ntimeout = \"5s\"\n")});
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_THAT(check.out, HasSubstr("[registry] config_path is not set"));
}

}  // namespace
}  // namespace sigshim
