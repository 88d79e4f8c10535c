#include "test/e2e/sigshim_process.h"

#include <stdio.h>
#include <sys/wait.h>

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "pkg/base/file.h"

namespace sigshim::e2e {

CommandRun RunSigshimCommand(const std::string& binary, const std::vector<std::string>& args) {
  auto quote = [](const std::string& arg) { return absl::StrCat("'", absl::StrReplaceAll(arg, {{"'", "'\\''"}}), "'"); };
  std::vector<std::string> quoted = {quote(binary)};
  for (const std::string& a : args) quoted.push_back(quote(a));
  const std::string command = absl::StrCat(absl::StrJoin(quoted, " "), " 2>&1");
  CommandRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string DescribeRun(const CommandRun& run) {
  return absl::StrCat("exit ", run.exit_code, ", output:\n", run.output);
}

testbed::SubprocessOptions SigshimCommand(const std::string& binary, const std::string& config_path,
                                          const std::string& log_path, const std::string& working_dir) {
  testbed::SubprocessOptions options;
  options.argv = {binary, "--config", config_path};
  options.log_path = log_path;
  options.working_dir = working_dir;
  return options;
}

absl::StatusOr<std::unique_ptr<testbed::Subprocess>> StartSigshim(const testbed::SubprocessOptions& options,
                                                                  const std::string& socket,
                                                                  absl::Duration timeout) {
  auto process = testbed::Subprocess::Start(options);
  if (!process.ok()) return process.status();
  absl::Status ready = (*process)->WaitForUnixSocket(socket, timeout);
  if (!ready.ok()) {
    (void)(*process)->Stop(absl::Seconds(15));
    return ready;
  }
  return process;
}

absl::StatusOr<std::unique_ptr<testbed::Registry>> StartAuthRegistry(const testbed::TestBed& bed,
                                                                    const std::string& user,
                                                                    const std::string& password) {
  testbed::RegistryOptions options;
  options.dir = bed.dir().Path("registry-auth");
  options.users = {{user, password}};
  return testbed::Registry::Create(options);
}

absl::StatusOr<std::unique_ptr<Key>> GenerateKey(const std::string& name, test_signer::KeyType type,
                                                 const std::string& public_path) {
  auto generated = test_signer::GenerateSigningKey(type);
  if (!generated.ok()) return generated.status();
  absl::Status written = WriteFileAtomic(public_path, generated->pair.public_pem, 0644);
  if (!written.ok()) return written;
  return std::make_unique<Key>(Key{name, public_path, std::move(generated->signer)});
}

std::string EnforcingConfigToml(const EnforcingConfig& config) {
  const bool with_team = !config.team_key_path.empty();
  std::string text = absl::StrCat(
      "[server]\n"
      "listen = \"", config.socket, "\"\n"
      "runtime_endpoint = \"", config.runtime_endpoint, "\"\n"
      "state_dir = \"", config.state_dir, "\"\n"
      "[log]\n"
      "level = \"debug\"\n"
      "[enforcement]\n"
      "mode = \"", config.mode, "\"\n"
      "unmatched = \"deny\"\n"
      "sandbox_image = \"", config.sandbox_image, "\"\n"
      "[audit]\n"
      "path = \"", config.audit_path, "\"\n"
      "[metrics]\n"
      "listen = \"", config.metrics_listen, "\"\n"
      "[registry]\n"
      "insecure = [\"", config.registry, "\", \"", config.auth_registry, "\"]\n"
      "timeout = \"", config.registry_timeout, "\"\n",
      config.verification_timeout.empty() ? "" : absl::StrCat("verification_timeout = \"", config.verification_timeout, "\"\n"),
      "\n[[keys]]\nname = \"release\"\npath = \"", config.release_key_path, "\"\n");
  if (with_team) {
    absl::StrAppend(&text, "\n[[keys]]\nname = \"team\"\npath = \"", config.team_key_path, "\"\n",
                    config.team_key_window);
  }
  absl::StrAppend(&text, "\n[[policy]]\nname = \"e2e\"\nimages = [\"", config.registry,
                  "/**\"]\nrequire = [\"release\"", with_team ? ", \"team\"" : "", "]\n",
                  "\n[[policy]]\nname = \"private\"\nimages = [\"", config.auth_registry,
                  "/**\"]\nrequire = [\"release\"]\n", config.extra);
  return text;
}

std::vector<nlohmann::json> ReadAuditLog(const std::string& path, std::vector<std::string>* malformed) {
  std::vector<nlohmann::json> out;
  auto text = ReadFile(path, 64 << 20);
  if (!text.ok()) return out;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object()) {
      out.push_back(std::move(parsed));
    } else if (malformed != nullptr) {
      malformed->emplace_back(line);
    }
  }
  return out;
}

}  // namespace sigshim::e2e
