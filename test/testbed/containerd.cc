#include "test/testbed/containerd.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "pkg/base/file.h"
#include "pkg/base/log.h"
#include "pkg/base/status_macros.h"
#include "pkg/cri/api.grpc.pb.h"
#include "test/testbed/temp_dir.h"

namespace sigshim::testbed {
namespace {

// The config (version 2) of a containerd that keeps all of its files under DIR.
//
// Why each setting (found by running containerd 1.6.20 on the test machines):
// - opt path: the opt plugin otherwise creates /opt/containerd.
// - ttrpc address: otherwise <grpc address>.ttrpc, which is fine, but written out for clarity.
// - disabled plugins: btrfs/zfs/devmapper/aufs snapshotters only log errors on ext4 hosts; tracing
//   is not needed. (io.containerd.runtime.v1.linux must stay: the tasks service, and with it the
//   CRI plugin, fails to load without it.)
// - runc Root: runc's own state, default /run/containerd/runc/k8s.io, shared with any other
//   containerd on the host.
// - cni dirs: empty folders under DIR. CNI is never used (pods run with host networking);
//   containerd logs "failed to load cni during init" once, which is harmless.
// - disable_apparmor: the test machines have no AppArmor; restrict_oom_score_adj: the daemon may
//   run with a raised oom_score_adj inherited from the test runner.
// - The CRI plugin finds the sandbox image locally (imported with ctr); it never pulls it because
//   the image is present.
// Not configurable in 1.6: the shims' sockets go to /run/containerd/s/<hash of the address>, and
// shims remove them when they exit.
constexpr char kConfigTemplate[] = R"(version = 2
root = "DIR/root"
state = "DIR/state"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "DIR/containerd.sock"

[ttrpc]
  address = "DIR/containerd.sock.ttrpc"

[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "DIR/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "SANDBOX_IMAGE"
  disable_apparmor = true
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "DIR/runc"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "DIR/cni/bin"
    conf_dir = "DIR/cni/conf"
)";

struct ProcInfo {
  pid_t ppid = 0;
  char state = '?';
  std::string comm;
  std::string cmdline;  // NULs replaced by spaces
};

std::map<pid_t, ProcInfo> ListProcesses() {
  std::map<pid_t, ProcInfo> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* entry = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    std::string base = absl::StrCat("/proc/", pid);
    std::ifstream stat_file(base + "/stat");
    std::string stat;
    if (!std::getline(stat_file, stat)) continue;
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses; the last ')' ends it.
    size_t open = stat.find('(');
    size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 > stat.size()) continue;
    ProcInfo info;
    info.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 2));
    rest >> info.state >> info.ppid;
    std::ifstream cmd_file(base + "/cmdline", std::ios::binary);
    std::stringstream cmd;
    cmd << cmd_file.rdbuf();
    info.cmdline = absl::StrReplaceAll(cmd.str(), {{std::string(1, '\0'), " "}});
    out[pid] = std::move(info);
  }
  closedir(proc);
  return out;
}

// Reaps our zombie children that are not tracked by a Subprocess: shims that became ours through
// PR_SET_CHILD_SUBREAPER, and their containers.
void ReapZombieShims(const std::set<pid_t>& also) {
  pid_t self = getpid();
  for (const auto& [pid, info] : ListProcesses()) {
    if (info.ppid != self || info.state != 'Z') continue;
    if (absl::StartsWith(info.comm, "containerd-shim") || also.count(pid) > 0) {
      waitpid(pid, nullptr, WNOHANG);
    }
  }
}

}  // namespace

Containerd::Containerd(ContainerdOptions options)
    : options_(std::move(options)),
      config_path_(options_.dir + "/config.toml"),
      socket_path_(options_.dir + "/containerd.sock"),
      log_path_(options_.dir + "/containerd.log") {}

absl::StatusOr<std::unique_ptr<Containerd>> Containerd::Create(const ContainerdOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("ContainerdOptions.dir is required");
  if (options.dir.size() + sizeof("/containerd.sock.ttrpc") > 100) {
    return absl::InvalidArgumentError(absl::StrCat("folder name too long for a unix socket: ", options.dir));
  }
  for (const char* sub : {"root", "state", "opt", "runc", "cni/bin", "cni/conf"}) {
    RETURN_IF_ERROR(MakeDirs(absl::StrCat(options.dir, "/", sub), 0711));
  }
  // Shims re-parent to the nearest subreaper when containerd starts them: make that us, so that
  // KillLeftovers can reap them instead of leaving zombies to whatever init the machine has.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  auto containerd = std::unique_ptr<Containerd>(new Containerd(options));
  std::string config = absl::StrReplaceAll(
      kConfigTemplate, {{"DIR", options.dir}, {"SANDBOX_IMAGE", options.sandbox_image}});
  if (!options.registry_config_path.empty()) {
    absl::StrAppend(&config, "\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"",
                    options.registry_config_path, "\"\n");
  }
  RETURN_IF_ERROR(WriteFileAtomic(containerd->config_path_, config, 0644));
  KillStaleTestBeds();
  RETURN_IF_ERROR(containerd->Start());
  return containerd;
}

Containerd::~Containerd() {
  (void)Stop();
  KillLeftovers();
}

absl::Status Containerd::Start() {
  if (process_ != nullptr && process_->Running()) return absl::OkStatus();
  SubprocessOptions options;
  options.argv = {options_.binary, "--config", config_path_};
  options.log_path = log_path_;
  options.working_dir = options_.dir;
  ASSIGN_OR_RETURN(process_, Subprocess::Start(options));
  absl::Status status = process_->WaitForUnixSocket(socket_path_, options_.start_timeout);
  if (status.ok()) status = WaitForCri();
  if (!status.ok()) {
    (void)process_->Kill();
    process_.reset();
    return status;
  }
  return absl::OkStatus();
}

absl::Status Containerd::WaitForCri() {
  auto channel = grpc::CreateChannel("unix:" + socket_path_, grpc::InsecureChannelCredentials());
  auto stub = runtime::v1::RuntimeService::NewStub(channel);
  absl::Time deadline = absl::Now() + options_.start_timeout;
  std::string last_error;
  while (absl::Now() < deadline) {
    if (!process_->Running()) {
      return absl::FailedPreconditionError(absl::StrCat("containerd exited during start-up; end of ",
                                                        log_path_, ":\n", process_->LogTail()));
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    runtime::v1::VersionRequest request;
    runtime::v1::VersionResponse response;
    grpc::Status status = stub->Version(&context, request, &response);
    if (status.ok()) return absl::OkStatus();
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      // The socket serves once every plugin has loaded: a missing CRI service never comes back.
      return absl::FailedPreconditionError(absl::StrCat(
          "containerd serves no CRI (its CRI plugin failed to load: look for \"failed to load plugin\"); end of ",
          log_path_, ":\n", process_->LogTail(16384)));
    }
    last_error = status.error_message();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("containerd's CRI service did not answer (", last_error,
                                                  "); end of ", log_path_, ":\n", process_->LogTail()));
}

absl::Status Containerd::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::Status status = process_->Stop(absl::Seconds(15));
  process_.reset();
  return status;
}

absl::Status Containerd::Kill() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::Status status = process_->Kill();
  process_.reset();
  return status;
}

absl::StatusOr<std::string> Containerd::Ctr(const std::vector<std::string>& args,
                                            absl::Duration timeout) const {
  std::vector<std::string> argv = {"ctr", "--address", socket_path_, "-n", "k8s.io"};
  argv.insert(argv.end(), args.begin(), args.end());
  ASSIGN_OR_RETURN(CommandResult result, RunCommand(argv, timeout));
  return result.stdout_text;
}

namespace {

// Returns `roots` and all their descendants in `processes`.
std::set<pid_t> WithDescendants(const std::map<pid_t, ProcInfo>& processes, std::set<pid_t> doomed) {
  bool grew = !doomed.empty();
  while (grew) {
    grew = false;
    for (const auto& [pid, info] : processes) {
      if (doomed.count(pid) == 0 && doomed.count(info.ppid) > 0) {
        doomed.insert(pid);
        grew = true;
      }
    }
  }
  return doomed;
}

// Returns the value following `flag` on a space-joined command line ("" when absent).
std::string FlagValue(const std::string& cmdline, absl::string_view flag) {
  std::vector<std::string> words = absl::StrSplit(cmdline, ' ', absl::SkipEmpty());
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    if (words[i] == flag) return words[i + 1];
  }
  return "";
}

}  // namespace

int Containerd::KillStaleTestBeds() {
  std::map<pid_t, ProcInfo> processes = ListProcesses();
  std::set<pid_t> roots;
  std::set<std::string> dirs;
  for (const auto& [pid, info] : processes) {
    if (!absl::StrContains(info.comm, "containerd-shim") || info.ppid != 1) continue;
    std::string address = FlagValue(info.cmdline, "-address");
    if (!absl::StartsWith(address, "/tmp/sigshim-")) continue;
    // A containerd that still answers there belongs to a live test (one that does not use this
    // test bed, so its shims have no subreaper): leave it alone.
    if (UnixSocketAccepts(address)) continue;
    roots.insert(pid);
    dirs.insert(address.substr(0, address.find('/', sizeof("/tmp/sigshim-"))));
  }
  std::set<pid_t> doomed = WithDescendants(processes, roots);
  for (pid_t pid : doomed) kill(pid, SIGKILL);
  for (const std::string& dir : dirs) {
    SIGSHIM_LOG(kWarning, "testbed: killing processes left by a dead test bed in ", dir);
    UnmountAllBelow(dir);
  }
  return static_cast<int>(doomed.size());
}

void Containerd::KillLeftovers() {
  std::map<pid_t, ProcInfo> processes = ListProcesses();
  // Shims carry "-address <our socket>" on their command line.
  std::set<pid_t> roots;
  for (const auto& [pid, info] : processes) {
    if (absl::StrContains(info.comm, "containerd-shim") &&
        FlagValue(info.cmdline, "-address") == socket_path_) {
      roots.insert(pid);
    }
  }
  // Add their descendants (the containers), collected before anything is killed.
  std::set<pid_t> doomed = WithDescendants(processes, roots);
  for (pid_t pid : doomed) kill(pid, SIGKILL);
  if (!doomed.empty()) {
    SIGSHIM_LOG(kInfo, "testbed: killed ", doomed.size(), " process(es) left behind by containerd");
  }
  // Wait (bounded) for them to be gone, reaping the ones that are our children.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    ReapZombieShims(doomed);
    bool alive = false;
    for (pid_t pid : doomed) {
      if (kill(pid, 0) == 0) {
        std::ifstream stat_file(absl::StrCat("/proc/", pid, "/stat"));
        std::string stat;
        std::getline(stat_file, stat);
        size_t close = stat.rfind(')');
        if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z') continue;
        alive = true;
      }
    }
    if (!alive) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ReapZombieShims(doomed);
  UnmountAllBelow(options_.dir);
}

}  // namespace sigshim::testbed
