// sigshim: a CRI proxy between kubelet and the container runtime.
//
//   sigshim --config FILE               run the daemon (SIGHUP reloads, SIGTERM/SIGINT stop)
//   sigshim check-config --config FILE  validate the configuration and print the effective one
//   sigshim verify --config FILE [--namespace NS] IMAGE
//                                       decide one image; exit 0 allowed, 1 denied, 2 error
//   sigshim [COMMAND] --help            what the command does, its options and exit codes
//   sigshim --version
//
// -c is short for --config, -n for --namespace. The command line is parsed by shim/command_line.h
// (CLI11); this file runs the command it names.
//
// Exit codes: 0 success; 1 failure while running; 2 bad usage or bad configuration.
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pkg/audit/audit_log.h"
#include "pkg/base/log.h"
#include "pkg/config/config.h"
#include "pkg/containerd/content_store.h"
#include "pkg/containerd/image_store_grpc.h"
#include "pkg/metrics/policy_digest.h"
#include "pkg/metrics/sigshim_metrics.h"
#include "pkg/policy/image_verifier.h"
#include "pkg/policy/policy.h"
#include "pkg/registry/curl_transport.h"
#include "pkg/registry/observed_transport.h"
#include "pkg/registry/registry_client.h"
#include "pkg/verdicts/verdict_store.h"
#include "shim/command_line.h"
#include "shim/descriptor_limit.h"
#include "shim/enforcement_hooks.h"
#include "shim/enforcer.h"
#include "shim/plan_command.h"
#include "shim/runtime_client.h"
#include "shim/server.h"
#include "shim/status_server.h"
#include "shim/verify_bundle_command.h"
#include "shim/verify_command.h"
#include "shim/work_queue.h"

namespace sigshim {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Image decisions that may wait for a worker thread; beyond that, calls are refused (UNAVAILABLE)
// rather than queued without bound.
constexpr size_t kMaxQueuedDecisions = 4096;

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
  printf("[enforcement]\nmode = \"%s\"\nunmatched = \"%s\"\nworkers = %d\nsandbox_image = \"%s\"\n\n",
         ModeName(c.enforcement.mode), UnmatchedName(c.enforcement.unmatched), c.enforcement.workers,
         c.enforcement.sandbox_image.c_str());
  printf("[audit]\npath = \"%s\"\n\n[metrics]\nlisten = \"%s\"\n\n", c.audit.path.c_str(), c.metrics.listen.c_str());
  printf("[registry]\ninsecure = [%s]\ntimeout = \"%s\"\nverification_timeout = \"%s\"\nca_file = \"%s\"\n"
         "config_path = \"%s\"\n",
         absl::StrJoin(c.registry.insecure, ", ",
                       [](std::string* out, const std::string& s) { absl::StrAppend(out, "\"", s, "\""); })
             .c_str(),
         absl::FormatDuration(c.registry.timeout).c_str(),
         absl::FormatDuration(c.registry.verification_timeout).c_str(), c.registry.ca_file.c_str(),
         c.registry.config_path.c_str());
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

int CheckConfig(const shim::CheckConfigCommand& args) {
  absl::StatusOr<std::shared_ptr<const config::Config>> cfg = config::LoadConfig(args.config);
  if (!cfg.ok()) {
    fprintf(stderr, "sigshim: %s\n", std::string(cfg.status().message()).c_str());
    return kExitUsage;
  }
  for (const std::string& warning : (*cfg)->warnings) fprintf(stderr, "sigshim: warning: %s\n", warning.c_str());
  absl::StatusOr<std::string> effective_policy = shim::DescribeEffectivePolicy(**cfg);
  if (!effective_policy.ok()) {
    fprintf(stderr, "sigshim: %s\n", std::string(effective_policy.status().message()).c_str());
    return kExitUsage;
  }
  absl::StatusOr<std::string> registry_hosts = shim::DescribeRegistryHosts(**cfg);
  if (!registry_hosts.ok()) {
    fprintf(stderr, "sigshim: %s\n", std::string(registry_hosts.status().message()).c_str());
    return kExitUsage;
  }
  PrintConfig(**cfg);
  printf("\n%s", effective_policy->c_str());
  printf("\n%s", registry_hosts->c_str());
  return kExitOk;
}

shim::ServerOptions ServerOptionsFrom(const config::Config& c) {
  shim::ServerOptions options;
  options.listen = c.server.listen;
  options.socket_mode = c.server.socket_mode;
  options.runtime_endpoint = c.server.runtime_endpoint;
  return options;
}

// A configuration the daemon may use: parsed, its policy compiled (keys parsed, globs compiled)
// and a verifier built from its [registry]. All must succeed, so that the daemon never serves
// with a policy it did not understand.
struct Loaded {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const policy::Policy> policy;
  std::shared_ptr<const policy::ImageVerifier> verifier;
};

// Returns the configuration at `path`, its compiled policy and its verifier, whose registry
// requests are counted in `metrics`; the error names the file and line.
absl::StatusOr<Loaded> LoadAndCompile(const std::string& path, metrics::SigshimMetrics* metrics) {
  absl::StatusOr<std::shared_ptr<const config::Config>> config = config::LoadConfig(path);
  if (!config.ok()) return config.status();
  for (const std::string& warning : (*config)->warnings) SIGSHIM_LOG(kWarning, warning);
  absl::StatusOr<std::unique_ptr<policy::Policy>> compiled = policy::Policy::Create(**config);
  if (!compiled.ok()) return compiled.status();
  registry::RegistryClientOptions client_options = shim::RegistryClientOptionsFrom(**config);
  absl::StatusOr<std::unique_ptr<registry::CurlTransport>> curl =
      registry::CurlTransport::Create({.ca_file = client_options.ca_file, .connect_timeout = client_options.connect_timeout});
  if (!curl.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": [registry]: ", curl.status().message()));
  client_options.transport = std::make_shared<registry::ObservedTransport>(
      std::shared_ptr<registry::HttpTransport>(*std::move(curl)),
      [metrics](int http_status) { metrics->CountRegistryRequest(http_status); });
  absl::StatusOr<std::unique_ptr<registry::RegistryClient>> client = registry::RegistryClient::Create(client_options);
  if (!client.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": [registry]: ", client.status().message()));
  policy::ImageVerifierOptions verifier_options;
  verifier_options.registry = *std::move(client);
  absl::StatusOr<std::unique_ptr<policy::ImageVerifier>> verifier =
      policy::ImageVerifier::Create(std::move(verifier_options));
  if (!verifier.ok()) return verifier.status();
  return Loaded{*std::move(config), std::shared_ptr<const policy::Policy>(*std::move(compiled)),
                std::shared_ptr<const policy::ImageVerifier>(*std::move(verifier))};
}

// Returns each [[exceptions]] entry's name and expiry, for sigshim_exception_expiry_timestamp_seconds.
std::vector<std::pair<std::string, absl::Time>> ExceptionExpiries(const config::Config& c) {
  std::vector<std::pair<std::string, absl::Time>> out;
  for (const config::ExceptionConfig& e : c.exceptions) out.emplace_back(e.name, e.expires);
  return out;
}

// Returns the short reason class of a decision, a label of sigshim_decisions_total.
std::string ReasonClass(const audit::AuditRecord& r) {
  if (r.decision == "allow") return r.source == "registry" ? "verified" : r.source;
  struct Prefix {
    absl::string_view text;
    absl::string_view label;
  };
  static constexpr Prefix kClasses[] = {
      {"RegistryUnavailable", "registry_unavailable"}, {"RegistryError", "registry_error"},
      {"InvalidReference", "invalid_reference"},       {"VerificationError", "verification_error"},
      {"no signatures", "no_signatures"},              {"no policy matches", "unmatched"},
      {"the image is not on the node", "not_found"},
  };
  for (const Prefix& p : kClasses) {
    if (absl::StrContains(r.reason, p.text)) return std::string(p.label);
  }
  return "rejected";
}

// Returns OK when the runtime's socket accepts a connection (waiting up to `wait` for one).
absl::Status RuntimeReachable(grpc::Channel& channel, const std::string& endpoint, absl::Duration wait) {
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  const absl::Time until = absl::Now() + wait;
  while (state != GRPC_CHANNEL_READY && absl::Now() < until) {
    channel.WaitForStateChange(state, absl::ToChronoTime(until));
    state = channel.GetState(/*try_to_connect=*/true);
  }
  if (state == GRPC_CHANNEL_READY) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("the runtime at ", endpoint, " is not reachable"));
}

// Puts `loaded` in force and logs what the stored verdicts look like under it.
void Apply(shim::Enforcer& enforcer, const Loaded& loaded) {
  shim::RecheckReport report = enforcer.SetPolicy(loaded.policy, loaded.verifier, loaded.config->enforcement.sandbox_image,
                                                 loaded.config->registry.verification_timeout);
  SIGSHIM_LOG(kInfo, "policy: ", loaded.policy->rules().size(), " [[policy]] entries, ", loaded.config->keys.size(),
              " trusted keys; stored verdicts valid under it: ", report.valid, ", no longer valid: ",
              report.invalid.size());
  for (const std::string& line : report.invalid) SIGSHIM_LOG(kWarning, "verdict not valid any more: ", line);
}

int RunDaemon(const shim::DaemonCommand& args) {
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
  // Large blocks (a 16 MiB request, the copies made while refusing it) come from mmap and go back
  // to the system when freed. Left to glibc's sliding threshold, they were kept in the heap after
  // the first one: a few hostile calls left the daemon hundreds of MiB larger for good.
  mallopt(M_MMAP_THRESHOLD, 256 << 10);

  metrics::SigshimMetrics metrics;
  absl::StatusOr<Loaded> loaded = LoadAndCompile(args.config, &metrics);
  if (!loaded.ok()) {
    fprintf(stderr, "sigshim: %s\n", std::string(loaded.status().message()).c_str());
    return kExitUsage;
  }
  uint64_t generation = 1;
  metrics.SetConfig(generation, metrics::PolicyDigest(*loaded->config));
  metrics.SetExceptions(ExceptionExpiries(*loaded->config));
  std::shared_ptr<const config::Config> cfg = loaded->config;
  log::SetLevel(cfg->log.level);
  (void)shim::RaiseDescriptorLimit();  // logged; on failure the inherited limit stays

  // The verdict store: evidence of earlier verifications, re-checked below under this policy.
  verdicts::LoadReport store_report;
  absl::StatusOr<std::unique_ptr<verdicts::VerdictStore>> store =
      verdicts::VerdictStore::Open({.dir = cfg->server.state_dir + "/verdicts"}, &store_report);
  if (!store.ok()) {
    SIGSHIM_LOG(kError, "cannot start: verdict store: ", store.status().message());
    return absl::IsFailedPrecondition(store.status()) ? kExitUsage : kExitFailure;  // unsafe state folder: like a bad config
  }
  for (const std::string& line : store_report.ignored) SIGSHIM_LOG(kWarning, "verdict store: ignored ", line);
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> audit_log = audit::AuditLog::Open({.path = cfg->audit.path});
  if (!audit_log.ok()) {
    SIGSHIM_LOG(kError, "cannot start: ", audit_log.status().message());
    return kExitFailure;
  }

  // The runtime, asked directly by the enforcement layer (image records, pinned pulls).
  shim::ServerOptions server_options = ServerOptionsFrom(*cfg);
  server_options.on_refused_method = [&metrics] { metrics.CountRefusedCall(); };
  absl::StatusOr<std::string> runtime_socket = shim::UnixSocketPath(cfg->server.runtime_endpoint);
  if (!runtime_socket.ok()) {
    SIGSHIM_LOG(kError, "cannot start: server.runtime_endpoint: ", runtime_socket.status().message());
    return kExitUsage;
  }
  std::shared_ptr<grpc::Channel> runtime_channel = shim::MakeRuntimeChannel(*runtime_socket, server_options);
  std::unique_ptr<shim::RuntimeClient> runtime = shim::NewGrpcRuntimeClient(runtime_channel);
  absl::StatusOr<std::unique_ptr<containerd::ImageStore>> images = containerd::GrpcImageStore::Create(runtime_channel);
  if (!images.ok()) {
    SIGSHIM_LOG(kError, "cannot start: ", images.status().message());
    return kExitFailure;
  }

  absl::StatusOr<std::unique_ptr<containerd::ContentStore>> content = containerd::NewGrpcContentStore(runtime_channel);
  if (!content.ok()) {
    SIGSHIM_LOG(kError, "cannot start: ", content.status().message());
    return kExitFailure;
  }

  shim::EnforcerOptions enforcer_options;
  enforcer_options.runtime = runtime.get();
  enforcer_options.images = images->get();
  enforcer_options.content = content->get();
  enforcer_options.store = store->get();
  audit::AuditLog* audit_sink = audit_log->get();
  enforcer_options.on_decision = [audit_sink, &metrics](const audit::AuditRecord& record) {
    audit_sink->Write(record);
    metrics.CountDecision(record.method, record.decision, ReasonClass(record));
    if (!record.exception.empty()) metrics.CountExceptionAdmission(record.exception);
  };
  enforcer_options.on_verification = [&metrics](absl::string_view outcome, absl::Duration latency) {
    metrics.ObserveVerification(outcome, latency);
  };
  absl::StatusOr<std::unique_ptr<shim::Enforcer>> enforcer = shim::Enforcer::Create(std::move(enforcer_options));
  if (!enforcer.ok()) {
    SIGSHIM_LOG(kError, "cannot start: ", enforcer.status().message());
    return kExitFailure;
  }
  Apply(**enforcer, *loaded);

  // Declared before the server so that they outlive every call the server may still hold. Two
  // lanes: decisions the node makes by itself never wait behind registry work.
  auto local_queue = std::make_unique<shim::WorkQueue>(cfg->enforcement.workers, kMaxQueuedDecisions);
  auto registry_queue = std::make_unique<shim::WorkQueue>(cfg->enforcement.workers, kMaxQueuedDecisions);
  shim::EnforcementHooks hooks(enforcer->get(), local_queue.get(), registry_queue.get());
  absl::StatusOr<std::unique_ptr<shim::Server>> server = shim::Server::Create(server_options, &hooks.table());
  if (!server.ok()) {
    SIGSHIM_LOG(kError, "cannot start: ", server.status().message());
    return kExitFailure;
  }
  // /metrics, /healthz, /readyz. Ready once serving, while the runtime is reachable.
  std::unique_ptr<StatusServer> status_server;
  if (!cfg->metrics.listen.empty()) {
    StatusServerOptions status_options;
    status_options.listen = cfg->metrics.listen;
    shim::Enforcer* enforcer_ptr = enforcer->get();
    status_options.metrics = [&metrics, enforcer_ptr] {
      metrics.SetVerdicts(enforcer_ptr->VerdictCounts().first);
      return metrics.Render();
    };
    const std::string endpoint = cfg->server.runtime_endpoint;
    status_options.ready = [runtime_channel, endpoint] {
      return RuntimeReachable(*runtime_channel, endpoint, absl::Seconds(1));
    };
    absl::StatusOr<std::unique_ptr<StatusServer>> started = StatusServer::Create(std::move(status_options));
    if (started.ok()) {
      status_server = *std::move(started);
    } else {
      // Metrics are not worth a node: kubelet cannot start a container while sigshim is down. The
      // missing endpoint shows as a failed scrape; the journal says why.
      SIGSHIM_LOG(kError, "serving without /metrics, /healthz and /readyz: [metrics] listen: ",
                  started.status().message());
    }
  }
  SIGSHIM_LOG(kInfo, "serving CRI on ", cfg->server.listen, ", forwarding to ", cfg->server.runtime_endpoint,
              " (config ", cfg->path, ", mode ", ModeName(cfg->enforcement.mode), ", audit log ", cfg->audit.path, ")");
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
      absl::Status reopened = (*audit_log)->Reopen();
      if (!reopened.ok()) SIGSHIM_LOG(kError, "audit log kept open on the previous file: ", reopened.message());
      absl::StatusOr<Loaded> next = LoadAndCompile(args.config, &metrics);
      metrics.CountReload(next.ok());
      if (!next.ok()) {
        SIGSHIM_LOG(kError, "reload failed, keeping the previous configuration: ", next.status().message());
        sd_notify(0, absl::StrCat(ready, " (reload failed, previous configuration kept)").c_str());
        continue;
      }
      if (next->config->server.listen != cfg->server.listen ||
          next->config->server.runtime_endpoint != cfg->server.runtime_endpoint ||
          next->config->server.socket_mode != cfg->server.socket_mode ||
          next->config->server.state_dir != cfg->server.state_dir ||
          next->config->enforcement.workers != cfg->enforcement.workers ||
          next->config->audit.path != cfg->audit.path || next->config->metrics.listen != cfg->metrics.listen) {
        SIGSHIM_LOG(kWarning, "[server] settings, [enforcement] workers, [audit] path and [metrics] listen take "
                              "effect at the next restart");
      }
      cfg = next->config;
      Apply(**enforcer, *next);
      metrics.SetConfig(++generation, metrics::PolicyDigest(*cfg));
      metrics.SetExceptions(ExceptionExpiries(*cfg));
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
  // Whatever is in flight, the process ends within shutdown_grace: past it, a watchdog removes the
  // socket and exits. The server's own grace ends a little earlier, so that cancelled calls (and
  // the verifications only they waited for) can wind down in time.
  const absl::Duration grace = cfg->server.shutdown_grace;
  const std::string socket_path = cfg->server.listen;
  std::thread([grace, socket_path] {
    absl::SleepFor(grace);
    SIGSHIM_LOG(kError, "shutdown took longer than shutdown_grace (", absl::FormatDuration(grace),
                "): exiting with work still in flight");
    absl::StatusOr<std::string> path = shim::UnixSocketPath(socket_path);
    if (path.ok()) ::unlink(path->c_str());
    _exit(kExitFailure);
  }).detach();
  if (status_server != nullptr) status_server->Stop();
  (*server)->Shutdown(grace - std::min(absl::Seconds(2), grace / 4));
  (*enforcer)->Shutdown();  // What the server cancelled stops now; nothing new arrives.
  server->reset();
  registry_queue.reset();  // Each task left answers at once: its budget is abandoned.
  local_queue.reset();     // Runs what is still queued: every waiting call gets its answer.
  SIGSHIM_LOG(kInfo, "stopped");
  return kExitOk;
}

}  // namespace
}  // namespace sigshim

int main(int argc, char** argv) {
  namespace shim = sigshim::shim;
  const shim::ParsedCommandLine parsed = shim::ParseCommandLine(argc, argv, {.version = SIGSHIM_VERSION});
  if (!parsed.command.has_value()) {  // --help, --version or bad usage
    fputs(parsed.out.c_str(), stdout);
    fputs(parsed.err.c_str(), stderr);
    return parsed.exit_code;
  }
  // One case per command of shim::Command (a command without one does not compile).
  struct Dispatch {
    int operator()(const shim::DaemonCommand& command) const { return sigshim::RunDaemon(command); }
    int operator()(const shim::CheckConfigCommand& command) const { return sigshim::CheckConfig(command); }
    int operator()(const shim::VerifyCommand& command) const {
      return shim::RunVerifyCommand({command.config, command.namespace_name, command.image, command.output == "json"},
                                     stdout, stderr);
    }
    int operator()(const shim::VerifyBundleCommand& command) const {
      return shim::RunVerifyBundle({command.bundle, command.trusted_root, command.certificate_identity,
                                    command.certificate_oidc_issuer, command.key, command.artifact},
                                   absl::Now(), stdout, stderr);
    }
    int operator()(const shim::PlanCommand& command) const {
      return shim::RunPlanCommand({command.config, command.current, command.output == "json"}, stdout, stderr);
    }
  };
  return std::visit(Dispatch{}, *parsed.command);
}
