// sigshim: a CRI proxy between kubelet and the container runtime.
//
//   sigshim --config FILE               run the daemon (SIGHUP reloads, SIGTERM/SIGINT stop)
//   sigshim check-config --config FILE  validate the configuration and print the effective one
//   sigshim verify --config FILE [--namespace NS] IMAGE
//                                       decide one image; exit 0 allowed, 1 denied, 2 error
//
// Exit codes: 0 success; 1 failure while running; 2 bad usage or bad configuration.
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pkg/base/log.h"
#include "pkg/config/config.h"
#include "pkg/policy/policy.h"
#include "shim/hooks.h"
#include "shim/server.h"
#include "shim/verify_command.h"

namespace sigshim {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage:\n"
    "  sigshim --config FILE               run the CRI proxy daemon\n"
    "  sigshim check-config --config FILE  validate FILE and print the effective configuration\n"
    "  sigshim verify --config FILE [--namespace NS] IMAGE\n"
    "                                      decide IMAGE: exit 0 allowed, 1 denied, 2 error\n"
    "  sigshim --help | --version\n";

struct Args {
  std::string command;  // "run", "check-config" or "verify".
  std::string config;
  std::string namespace_name;  // verify only
  std::string image;           // verify only
};

// Parses argv; on failure prints why and the usage, and returns false.
bool ParseArgs(int argc, char** argv, Args& args) {
  std::vector<std::string> rest(argv + 1, argv + argc);
  args.command = "run";
  size_t i = 0;
  if (!rest.empty() && (rest[0] == "check-config" || rest[0] == "verify")) {
    args.command = rest[0];
    i = 1;
  }
  for (; i < rest.size(); ++i) {
    const std::string& a = rest[i];
    if (a == "--config" || a == "-c") {
      if (i + 1 >= rest.size()) {
        fprintf(stderr, "sigshim: %s needs a file\n%s", a.c_str(), kUsage);
        return false;
      }
      args.config = rest[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      args.config = a.substr(strlen("--config="));
    } else if (args.command == "verify" && (a == "--namespace" || a == "-n")) {
      if (i + 1 >= rest.size()) {
        fprintf(stderr, "sigshim: %s needs a namespace\n%s", a.c_str(), kUsage);
        return false;
      }
      args.namespace_name = rest[++i];
    } else if (args.command == "verify" && a.rfind("--namespace=", 0) == 0) {
      args.namespace_name = a.substr(strlen("--namespace="));
    } else if (args.command == "verify" && !a.empty() && a[0] != '-' && args.image.empty()) {
      args.image = a;
    } else {
      fprintf(stderr, "sigshim: unknown argument \"%s\"\n%s", a.c_str(), kUsage);
      return false;
    }
  }
  if (args.config.empty()) {
    fprintf(stderr, "sigshim: --config FILE is required\n%s", kUsage);
    return false;
  }
  if (args.command == "verify" && args.image.empty()) {
    fprintf(stderr, "sigshim: verify needs an IMAGE\n%s", kUsage);
    return false;
  }
  return true;
}

const char* ModeName(config::Mode m) { return m == config::Mode::kEnforce ? "enforce" : "audit"; }
const char* UnmatchedName(config::Unmatched u) { return u == config::Unmatched::kDeny ? "deny" : "allow"; }

void PrintConfig(const config::Config& c) {
  printf("# effective configuration of %s\n", c.path.c_str());
  printf("[server]\nlisten = \"%s\"\nsocket_mode = 0o%o\nruntime_endpoint = \"%s\"\nstate_dir = \"%s\"\n"
         "shutdown_grace = \"%s\"\n\n",
         c.server.listen.c_str(), c.server.socket_mode, c.server.runtime_endpoint.c_str(),
         c.server.state_dir.c_str(), absl::FormatDuration(c.server.shutdown_grace).c_str());
  static const char* kLevels[] = {"debug", "info", "warning", "error"};
  printf("[log]\nlevel = \"%s\"\n\n", kLevels[static_cast<int>(c.log.level)]);
  printf("[enforcement]\nmode = \"%s\"\nunmatched = \"%s\"\n\n", ModeName(c.enforcement.mode),
         UnmatchedName(c.enforcement.unmatched));
  printf("[registry]\ninsecure = [%s]\ntimeout = \"%s\"\nca_file = \"%s\"\n",
         absl::StrJoin(c.registry.insecure, ", ",
                       [](std::string* out, const std::string& s) { absl::StrAppend(out, "\"", s, "\""); })
             .c_str(),
         absl::FormatDuration(c.registry.timeout).c_str(), c.registry.ca_file.c_str());
  for (const config::KeyConfig& k : c.keys) {
    printf("\n[[keys]]  # %s\nname = \"%s\"\nsource = \"%s\"\n", k.origin.c_str(), k.name.c_str(), k.source.c_str());
  }
  for (const config::PolicyConfig& p : c.policies) {
    auto quote = [](std::string* out, const std::string& s) { absl::StrAppend(out, "\"", s, "\""); };
    printf("\n[[policy]]  # %s\nname = \"%s\"\nimages = [%s]\nrequire = [%s]\n", p.origin.c_str(),
           p.name.c_str(), absl::StrJoin(p.images, ", ", quote).c_str(),
           absl::StrJoin(p.require, ", ", quote).c_str());
  }
}

int CheckConfig(const Args& args) {
  absl::StatusOr<std::shared_ptr<const config::Config>> cfg = config::LoadConfig(args.config);
  if (!cfg.ok()) {
    fprintf(stderr, "sigshim: %s\n", std::string(cfg.status().message()).c_str());
    return kExitUsage;
  }
  absl::StatusOr<std::string> effective_policy = shim::DescribeEffectivePolicy(**cfg);
  if (!effective_policy.ok()) {
    fprintf(stderr, "sigshim: %s\n", std::string(effective_policy.status().message()).c_str());
    return kExitUsage;
  }
  PrintConfig(**cfg);
  printf("\n%s", effective_policy->c_str());
  return kExitOk;
}

shim::ServerOptions ServerOptionsFrom(const config::Config& c) {
  shim::ServerOptions options;
  options.listen = c.server.listen;
  options.socket_mode = c.server.socket_mode;
  options.runtime_endpoint = c.server.runtime_endpoint;
  return options;
}

// A configuration the daemon may use: parsed, and its policy compiled (keys parsed, globs
// compiled). Both must succeed, so that the daemon never serves with a policy it did not understand.
struct Loaded {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const policy::Policy> policy;
};

// Returns the configuration at `path` and its compiled policy; the error names the file and line.
absl::StatusOr<Loaded> LoadAndCompile(const std::string& path) {
  absl::StatusOr<std::shared_ptr<const config::Config>> config = config::LoadConfig(path);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<policy::Policy>> compiled = policy::Policy::Create(**config);
  if (!compiled.ok()) return compiled.status();
  return Loaded{*std::move(config), std::shared_ptr<const policy::Policy>(*std::move(compiled))};
}

int RunDaemon(const Args& args) {
  // Signals are taken synchronously by this thread; block them before gRPC starts its threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Debian's abseil is built with mutex deadlock detection on: it costs every lock in gRPC a
  // graph update (about 10 % of sigshim's CPU per call in proxy_bench A/B runs) and aborts the
  // process on a suspected lock-order cycle. A node daemon must not die of a debugging aid.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<Loaded> loaded = LoadAndCompile(args.config);
  if (!loaded.ok()) {
    fprintf(stderr, "sigshim: %s\n", std::string(loaded.status().message()).c_str());
    return kExitUsage;
  }
  std::shared_ptr<const config::Config> cfg = loaded->config;
  // Held for the enforcement hooks; replaced only by a reload that compiles.
  std::shared_ptr<const policy::Policy> policy = loaded->policy;
  log::SetLevel(cfg->log.level);
  SIGSHIM_LOG(kInfo, "policy: ", policy->rules().size(), " [[policy]] entries, ", cfg->keys.size(),
              " trusted keys");

  shim::PassThroughHooks hooks;
  absl::StatusOr<std::unique_ptr<shim::Server>> server = shim::Server::Create(ServerOptionsFrom(*cfg), &hooks.table());
  if (!server.ok()) {
    SIGSHIM_LOG(kError, "cannot start: ", server.status().message());
    return kExitFailure;
  }
  SIGSHIM_LOG(kInfo, "serving CRI on ", cfg->server.listen, ", forwarding to ", cfg->server.runtime_endpoint,
              " (config ", cfg->path, ")");
  // systemd (Type=notify): the socket accepts calls from here on. A no-op without NOTIFY_SOCKET.
  const std::string ready = absl::StrCat("READY=1\nSTATUS=serving on ", cfg->server.listen, ", forwarding to ",
                                         cfg->server.runtime_endpoint);
  sd_notify(0, ready.c_str());

  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      // systemd: a reload is under way until READY=1 (sent whether or not the new file was good).
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                 static_cast<unsigned long long>(now.tv_sec) * 1000000ULL + now.tv_nsec / 1000);
      absl::StatusOr<Loaded> next = LoadAndCompile(args.config);
      if (!next.ok()) {
        SIGSHIM_LOG(kError, "reload failed, keeping the previous configuration: ", next.status().message());
        sd_notify(0, absl::StrCat(ready, " (reload failed, previous configuration kept)").c_str());
        continue;
      }
      if (next->config->server.listen != cfg->server.listen ||
          next->config->server.runtime_endpoint != cfg->server.runtime_endpoint ||
          next->config->server.socket_mode != cfg->server.socket_mode) {
        SIGSHIM_LOG(kWarning, "[server] socket settings changed; they take effect at the next restart");
      }
      cfg = next->config;
      policy = next->policy;
      log::SetLevel(cfg->log.level);
      SIGSHIM_LOG(kInfo, "configuration reloaded from ", cfg->path);
      sd_notify(0, ready.c_str());
      continue;
    }
    SIGSHIM_LOG(kInfo, "received ", strsignal(sig), ", shutting down (grace ",
                absl::FormatDuration(cfg->server.shutdown_grace), ")");
    sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
    break;
  }
  (*server)->Shutdown(cfg->server.shutdown_grace);
  SIGSHIM_LOG(kInfo, "stopped");
  return kExitOk;
}

}  // namespace
}  // namespace sigshim

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(sigshim::kUsage, stdout);
      return sigshim::kExitOk;
    }
    if (strcmp(argv[i], "--version") == 0) {
      puts("sigshim " SIGSHIM_VERSION);
      return sigshim::kExitOk;
    }
  }
  sigshim::Args args;
  if (!sigshim::ParseArgs(argc, argv, args)) return sigshim::kExitUsage;
  if (args.command == "check-config") return sigshim::CheckConfig(args);
  if (args.command == "verify") {
    return sigshim::shim::RunVerifyCommand({args.config, args.namespace_name, args.image}, stdout, stderr);
  }
  return sigshim::RunDaemon(args);
}
