// Proxy overhead benchmark: latency (p50/p99) and throughput of ImageStatus and ListContainers
// sent straight to containerd and through sigshim, side by side in one run, with 1 and with 64
// concurrent clients (one channel each, as separate kubelet-like clients).
//
//   build/test/bench/proxy_bench [--calls N] [--rounds R] [--clients C] [--callgrind DIR]
//
// --clients runs only that number of clients (for profiling one cell) instead of 1 and 64.
// --callgrind DIR runs sigshim under `valgrind --tool=callgrind` and, instead of timing, counts the
// instructions sigshim executes per proxied call (callgrind's Ir, zeroed before the measured calls
// and dumped right after them: start-up, warm-up and shutdown are not counted). Instruction counts do not move with the
// load of a shared machine, so a change to the proxy can be compared run against run. Each cell's
// profile is written to DIR (created if missing) for callgrind_annotate.
//
// Needs root (it starts a real containerd and sigshim under a temporary folder, both on unix
// sockets). Each (method, clients) cell alternates direct and proxied rounds so that drift of a
// shared machine hits both sides alike. Results are printed, never asserted.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <mutex>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "pkg/base/file.h"
#include "test/bench/bench_util.h"
#include "pkg/cri/api.grpc.pb.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/testbed.h"

namespace sigshim::bench {
namespace {

using runtime::v1::ImageService;
using runtime::v1::RuntimeService;

struct Sample {
  std::vector<double> latencies_us;
  double seconds = 0;
  int errors = 0;
  std::string first_error;
};

std::shared_ptr<grpc::Channel> NewChannel(const std::string& socket) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // One connection per client.
  return grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
}

// Runs `calls_per_client` calls of `method` from `clients` threads against `socket`.
Sample Run(const std::string& socket, const std::string& method, const std::string& image, int clients,
           int calls_per_client) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < clients; ++i) {
    channels.push_back(NewChannel(socket));
    channels.back()->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  }
  std::vector<std::vector<double>> per_thread(clients);
  std::atomic<int> errors{0};
  std::mutex error_mu;
  std::string first_error;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      auto images = ImageService::NewStub(channels[t]);
      auto runtime = RuntimeService::NewStub(channels[t]);
      per_thread[t].reserve(calls_per_client);
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < calls_per_client; ++i) {
        grpc::ClientContext ctx;
        const absl::Time start = absl::Now();
        grpc::Status s;
        if (method == "ImageStatus") {
          runtime::v1::ImageStatusRequest req;
          req.mutable_image()->set_image(image);
          runtime::v1::ImageStatusResponse resp;
          s = images->ImageStatus(&ctx, req, &resp);
        } else {
          runtime::v1::ListContainersRequest req;
          runtime::v1::ListContainersResponse resp;
          s = runtime->ListContainers(&ctx, req, &resp);
        }
        per_thread[t].push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
        if (!s.ok() && errors.fetch_add(1) == 0) {
          std::lock_guard<std::mutex> lock(error_mu);
          first_error = absl::StrCat(s.error_code(), ": ", s.error_message());
        }
      }
    });
  }
  while (ready.load() < clients) std::this_thread::yield();
  const absl::Time start = absl::Now();
  go.store(true);
  for (auto& th : threads) th.join();
  Sample sample;
  sample.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  sample.errors = errors.load();
  sample.first_error = first_error;
  for (auto& v : per_thread) sample.latencies_us.insert(sample.latencies_us.end(), v.begin(), v.end());
  return sample;
}

// Runs `callgrind_control <args>` for the process `pid`; false when it fails.
bool CallgrindControl(pid_t pid, const std::string& args) {
  const std::string command = absl::StrCat("callgrind_control ", args, " ", pid, " >/dev/null 2>&1");
  return std::system(command.c_str()) == 0;
}

// Returns the instruction count (Ir) on the "summary:" or "totals:" line of a callgrind output
// file; -1 when there is none.
double CallgrindInstructions(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 64 << 20);
  if (!text.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    for (absl::string_view prefix : {"summary:", "totals:"}) {
      if (!absl::ConsumePrefix(&line, prefix)) continue;
      double ir = 0;
      if (absl::SimpleAtod(absl::StripAsciiWhitespace(line), &ir)) return ir;
    }
  }
  return -1;
}

// --callgrind: one cell per (method, clients), instructions per call in sigshim.
int MeasureInstructions(const std::string& direct, const std::string& image, int calls,
                        const std::vector<int>& client_counts, const std::string& config_path,
                        const std::string& shim_socket, const std::string& dir) {
  printf("# proxy_bench --callgrind: %d proxied calls per cell; instructions executed by sigshim per call\n",
         calls);
  printf("%-15s %7s | %14s | %s\n", "method", "clients", "instr/call", "profile");
  for (const char* method : {"ImageStatus", "ListContainers"}) {
    for (int clients : client_counts) {
      const std::string out = absl::StrCat(dir, "/callgrind.", method, ".", clients, ".out");
      testbed::SubprocessOptions options;
      options.argv = {"valgrind", "--tool=callgrind", absl::StrCat("--callgrind-out-file=", out), SIGSHIM_BINARY,
                      "--config", config_path};
      options.log_path = absl::StrCat(dir, "/sigshim.callgrind.log");
      (void)std::remove(shim_socket.c_str());
      auto shim = testbed::Subprocess::Start(options);
      if (!shim.ok() || !(*shim)->WaitForUnixSocket(shim_socket, absl::Seconds(120)).ok()) {
        fprintf(stderr, "cannot start sigshim under valgrind (is valgrind installed?)\n");
        return 1;
      }
      Run(direct, method, image, clients, 5);
      Run(shim_socket, method, image, clients, 20);  // Warm-up: connections, first allocations.
      const int per_client = std::max(1, calls / clients);
      if (!CallgrindControl((*shim)->pid(), "-z")) {
        fprintf(stderr, "callgrind_control -z failed\n");
        return 1;
      }
      Sample s = Run(shim_socket, method, image, clients, per_client);
      const bool dumped = CallgrindControl((*shim)->pid(), "-d");  // Writes "<out>.1".
      (void)(*shim)->Stop();
      const double ir = dumped ? CallgrindInstructions(absl::StrCat(out, ".1")) : -1;
      const double ops = static_cast<double>(s.latencies_us.size());
      printf("%-15s %7d | %14.0f | %s.1%s\n", method, clients, ir < 0 ? -1 : ir / ops, out.c_str(),
             s.errors ? "  ERRORS" : "");
      if (s.errors) printf("  %d errors, first: %s\n", s.errors, s.first_error.c_str());
      fflush(stdout);
    }
  }
  return 0;
}

int Main(int argc, char** argv) {
  int calls = 4000;  // Per (side, method, clients) cell, spread over the rounds and clients.
  int rounds = 4;
  std::vector<int> client_counts = {1, 64};
  std::string callgrind_dir;  // --callgrind DIR: count instructions instead of timing
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--calls") && i + 1 < argc) calls = atoi(argv[++i]);
    if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    if (!strcmp(argv[i], "--clients") && i + 1 < argc) client_counts = {atoi(argv[++i])};
    if (!strcmp(argv[i], "--callgrind") && i + 1 < argc) callgrind_dir = argv[++i];
  }
  testbed::TestBedOptions tb_options;
  tb_options.registry = false;
  tb_options.name = "sigshim-bench";
  auto tb = testbed::TestBed::Create(tb_options);
  if (!tb.ok()) {
    fprintf(stderr, "cannot start the test bed: %s\n", std::string(tb.status().message()).c_str());
    return 1;
  }
  const std::string shim_socket = (*tb)->dir().Path("sigshim.sock");
  const std::string config_path = (*tb)->dir().Path("sigshim.toml");
  absl::Status written = WriteFileAtomic(
      config_path, absl::StrCat("[server]\nlisten = \"", shim_socket, "\"\nruntime_endpoint = \"",
                                (*tb)->containerd()->socket_path(), "\"\nstate_dir = \"",
                                (*tb)->dir().Path("state"), "\"\n[log]\nlevel = \"info\"\n[metrics]\nlisten = \"\"\n"));
  if (!written.ok()) return 1;
  if (!callgrind_dir.empty()) {
    (void)mkdir(callgrind_dir.c_str(), 0755);
    return MeasureInstructions((*tb)->containerd()->socket_path(), (*tb)->containerd()->sandbox_image(), calls,
                               client_counts, config_path, shim_socket, callgrind_dir);
  }
  testbed::SubprocessOptions shim_options;
  shim_options.argv = {SIGSHIM_BINARY, "--config", config_path};
  shim_options.log_path = (*tb)->dir().Path("sigshim.log");
  auto shim = testbed::Subprocess::Start(shim_options);
  if (!shim.ok() || !(*shim)->WaitForUnixSocket(shim_socket, absl::Seconds(20)).ok()) {
    fprintf(stderr, "cannot start sigshim\n");
    return 1;
  }
  const std::string image = (*tb)->containerd()->sandbox_image();
  const std::string direct = (*tb)->containerd()->socket_path();

  printf("# proxy_bench: %d calls per cell in %d alternating rounds; latencies in microseconds\n", calls, rounds);
  printf("%-15s %7s | %9s %9s %11s | %9s %9s %11s | %9s %8s | %11s %11s\n", "method", "clients", "direct50",
         "direct99", "direct/s", "shim50", "shim99", "shim/s", "added50", "thru%", "shim-cpu/op", "ctrd-cpu/op");
  for (const char* method : {"ImageStatus", "ListContainers"}) {
    for (int clients : client_counts) {
      Run(direct, method, image, clients, 20);  // Warm-up both paths.
      Run(shim_socket, method, image, clients, 20);
      Sample d, s;
      const int per_client = std::max(1, calls / rounds / clients);
      double shim_cpu = 0, ctrd_cpu = 0;
      for (int r = 0; r < rounds; ++r) {
        for (int side = 0; side < 2; ++side) {
          const double shim_before = CpuMicros((*shim)->pid());
          const double ctrd_before = CpuMicros((*tb)->containerd()->pid());
          Sample x = Run(side == 0 ? direct : shim_socket, method, image, clients, per_client);
          if (side == 1) {
            shim_cpu += CpuMicros((*shim)->pid()) - shim_before;
            ctrd_cpu += CpuMicros((*tb)->containerd()->pid()) - ctrd_before;
          }
          Sample& into = side == 0 ? d : s;
          into.latencies_us.insert(into.latencies_us.end(), x.latencies_us.begin(), x.latencies_us.end());
          into.seconds += x.seconds;
          into.errors += x.errors;
          if (into.first_error.empty()) into.first_error = x.first_error;
        }
      }
      const double d50 = Percentile(d.latencies_us, 0.5), s50 = Percentile(s.latencies_us, 0.5);
      const double d_rate = d.latencies_us.size() / d.seconds, s_rate = s.latencies_us.size() / s.seconds;
      const double ops = static_cast<double>(s.latencies_us.size());
      printf("%-15s %7d | %9.0f %9.0f %11.0f | %9.0f %9.0f %11.0f | %9.0f %7.1f%% | %11.1f %11.1f%s\n", method,
             clients, d50, Percentile(d.latencies_us, 0.99), d_rate, s50, Percentile(s.latencies_us, 0.99), s_rate,
             s50 - d50, 100.0 * s_rate / d_rate, shim_cpu / ops, ctrd_cpu / ops,
             (d.errors + s.errors) ? "  ERRORS" : "");
      for (const Sample* x : {&d, &s}) {
        if (x->errors > 0) {
          printf("  %s: %d errors, first: %s\n", x == &d ? "direct" : "sigshim", x->errors, x->first_error.c_str());
        }
      }
      fflush(stdout);
    }
  }
  (void)(*shim)->Stop();
  return 0;
}

}  // namespace
}  // namespace sigshim::bench

int main(int argc, char** argv) { return sigshim::bench::Main(argc, argv); }
