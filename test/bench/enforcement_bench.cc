// Enforcement overhead benchmark, on a real containerd and registry:
//
//  1. CreateContainer with a warm verdict (the image was pulled through sigshim once), sent straight
//     to containerd and through sigshim, side by side in one run: p50/p90/mean per side, the added
//     time and ratio, and sigshim's CPU time per call. Then the runtime calls the enforcement layer
//     makes per CreateContainer (CRI ImageStatus, containerd Images.Get), timed alone. The policy
//     is scoped to the pod's namespace (sandbox_config) and an [[exceptions]] entry is in force.
//  1b. The same for an unsigned image that the exception admits (pulled through sigshim once).
//  2. A cold PullImage (a new signed image each time) by tag, straight and through sigshim (and,
//     for context, straight but pinned by digest, as sigshim forwards it), and the added time split
//     into its parts, each measured alone against the same registry and containerd: registry round
//     trips (RegistryClient: resolve, .sig manifest, payload blob), crypto (statement producer + policy evaluation: the
//     decision's check and the approval's re-check), the verdict file (VerdictStore::Put, fsync +
//     rename) and the tag step (containerd record, then CRI ImageStatus polled until it shows the
//     tag, as Enforcer::FinishPull does); "other" is what remains.
//
//   build/test/bench/enforcement_bench [--calls N] [--rounds R] [--cold K]
//
// --calls: CreateContainer calls per side, spread over --rounds alternating rounds (default 200, 4);
// --cold: cold pulls per side (default 10; 3K+1 distinct signed images are pushed first).
//
// Needs root (it starts a registry, containerd and sigshim under a temporary folder). Direct and
// proxied samples alternate (round by round, pull by pull, the first side switching each time) so
// that drift of a shared machine hits both sides alike. Results are printed, never asserted.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "test/bench/bench_util.h"
#include "pkg/containerd/image_store.h"
#include "pkg/containerd/image_store_grpc.h"
#include "pkg/cri/api.grpc.pb.h"
#include "pkg/reference/reference.h"
#include "pkg/registry/registry_client.h"
#include "pkg/verdicts/verdict_store.h"
#include "pkg/policy/evaluation.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/signature_manifest.h"
#include "test/signer/signer.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/testbed.h"

namespace sigshim::bench {
namespace {

using runtime::v1::ImageService;
using runtime::v1::RuntimeService;

constexpr char kNamespace[] = "bench";
constexpr char kWarmRepository[] = "bench/warm";
constexpr char kColdRepository[] = "bench/cold";
constexpr char kExceptedRepository[] = "bench/excepted";  // unsigned; [[exceptions]] "bench-vendor" admits it

std::shared_ptr<grpc::Channel> NewChannel(const std::string& socket) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // One connection per side.
  auto channel = grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
  channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  return channel;
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(60)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

std::string Describe(const grpc::Status& s) { return absl::StrCat("code ", s.error_code(), ": ", s.error_message()); }

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

// Returns how long `f` took, in microseconds.
double TimeMicros(const std::function<void()>& f) {
  const absl::Time start = absl::Now();
  f();
  return absl::ToDoubleMicroseconds(absl::Now() - start);
}

// The running test bed, sigshim and the clients of both sides.
struct Bench {
  std::unique_ptr<testbed::TestBed> tb;
  std::unique_ptr<testbed::Subprocess> shim;
  std::unique_ptr<test_signer::Signer> signer;
  std::shared_ptr<const verify::PublicKey> public_key;
  testbed::OciImage base;
  int images_made = 0;
  std::string shim_socket;
  std::shared_ptr<grpc::Channel> direct_channel, shim_channel;
  std::unique_ptr<RuntimeService::Stub> direct_runtime, shim_runtime;
  std::unique_ptr<ImageService::Stub> direct_images, shim_images;
  std::unique_ptr<containerd::ImageStore> image_store;  // containerd's images service, k8s.io

  RuntimeService::Stub& runtime(bool via_shim) { return via_shim ? *shim_runtime : *direct_runtime; }
  ImageService::Stub& images(bool via_shim) { return via_shim ? *shim_images : *direct_images; }

  std::string Repo(absl::string_view repository) const {
    return absl::StrCat(tb->registry()->host_port(), "/", repository);
  }

  // Makes a distinct image, pushes it as repository:tag, signs it for its repository and pushes
  // the signature (unless `sign` is false); returns the manifest digest.
  absl::StatusOr<std::string> PushSigned(const std::string& repository, const std::string& tag, bool sign = true) {
    auto image = testbed::CmdVariant(base, absl::StrCat("v", ++images_made), {"/bin/echo", tag});
    if (!image.ok()) return image.status();
    auto digest = testbed::PushImage(*image, *tb->registry(), repository, tag);
    if (!digest.ok()) return digest.status();
    if (!sign) return *digest;
    auto artifact = test_signer::SignImage(*signer, Repo(repository), *digest);
    if (!artifact.ok()) return artifact.status();
    for (const test_signer::SignatureLayer& layer : artifact->layers) {
      auto pushed = tb->registry()->PushBlob(repository, layer.payload.bytes);
      if (!pushed.ok()) return pushed.status();
    }
    auto config = tb->registry()->PushBlob(repository, artifact->config.bytes);
    if (!config.ok()) return config.status();
    auto manifest = tb->registry()->PushManifest(repository, artifact->tag, artifact->manifest.media_type,
                                                 artifact->manifest.bytes);
    if (!manifest.ok()) return manifest.status();
    return *digest;
  }

  grpc::Status Pull(bool via_shim, const std::string& image, std::string* image_ref = nullptr) {
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    request.mutable_sandbox_config()->mutable_metadata()->set_namespace_(kNamespace);
    runtime::v1::PullImageResponse response;
    grpc::Status s = images(via_shim).PullImage(Context(absl::Seconds(120)).get(), request, &response);
    if (image_ref != nullptr) *image_ref = response.image_ref();
    return s;
  }
};

std::string ConfigText(const Bench& b, const std::string& key_path) {
  const testbed::TempDir& dir = b.tb->dir();
  return absl::StrCat(
      "[server]\n"
      "listen = \"", b.shim_socket, "\"\n"
      "runtime_endpoint = \"", b.tb->containerd()->socket_path(), "\"\n"
      "state_dir = \"", dir.Path("sigshim-state"), "\"\n"
      "[log]\n"
      "level = \"info\"\n"
      "[enforcement]\n"
      "mode = \"enforce\"\n"
      "unmatched = \"deny\"\n"
      "sandbox_image = \"", b.tb->containerd()->sandbox_image(), "@", b.tb->sandbox_image_digest(), "\"\n"
      "[audit]\n"
      "path = \"", dir.Path("audit.log"), "\"\n"
      "[metrics]\n"
      "listen = \"\"\n"
      "[registry]\n"
      "insecure = [\"", b.tb->registry()->host_port(), "\"]\n"
      "\n[[keys]]\nname = \"release\"\npath = \"", key_path, "\"\n"
      "\n[[policy]]\nname = \"bench\"\nimages = [\"", b.tb->registry()->host_port(), "/**\"]\nnamespaces = [\"", kNamespace,
      "\"]\nrequire = [\"release\"]\n"
      "\n[[exceptions]]\nname = \"bench-vendor\"\nimages = [\"", b.tb->registry()->host_port(), "/", kExceptedRepository,
      "\"]\nnamespaces = [\"", kNamespace, "\"]\nreason = \"benchmark: an unsigned image admitted by an exception\"\n"
      "owner = \"bench@sigshim.test\"\nexpires = ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() + absl::Hours(24 * 30), absl::UTCTimeZone()), "\n");
}

absl::Status SetUp(Bench& b) {
  testbed::TestBedOptions tb_options;
  tb_options.name = "sigshim-ebench";
  auto tb = testbed::TestBed::Create(tb_options);
  if (!tb.ok()) return tb.status();
  b.tb = *std::move(tb);
  auto key = test_signer::GenerateSigningKey(test_signer::KeyType::kEcdsaP256);
  if (!key.ok()) return key.status();
  b.signer = std::move(key->signer);
  auto public_key = verify::ParsePublicKeyPem(key->pair.public_pem);
  if (!public_key.ok()) return public_key.status();
  b.public_key = *std::move(public_key);
  const std::string key_path = b.tb->dir().Path("release.pub");
  if (absl::Status s = WriteFileAtomic(key_path, key->pair.public_pem, 0644); !s.ok()) return s;
  auto base = b.tb->BuildImage("base", {"/bin/sh"}, "enforcement-bench");
  if (!base.ok()) return base.status();
  b.base = *base;

  b.shim_socket = b.tb->dir().Path("sigshim.sock");
  const std::string config_path = b.tb->dir().Path("sigshim.toml");
  if (absl::Status s = WriteFileAtomic(config_path, ConfigText(b, key_path), 0644); !s.ok()) return s;
  testbed::SubprocessOptions shim_options;
  shim_options.argv = {SIGSHIM_BINARY, "--config", config_path};
  shim_options.log_path = b.tb->dir().Path("sigshim.log");
  shim_options.working_dir = b.tb->dir().path();
  auto shim = testbed::Subprocess::Start(shim_options);
  if (!shim.ok()) return shim.status();
  b.shim = *std::move(shim);
  if (absl::Status s = b.shim->WaitForUnixSocket(b.shim_socket, absl::Seconds(30)); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("sigshim did not start: ", s.message(), "\n", b.shim->LogTail()));
  }
  b.direct_channel = NewChannel(b.tb->containerd()->socket_path());
  b.shim_channel = NewChannel(b.shim_socket);
  b.direct_runtime = RuntimeService::NewStub(b.direct_channel);
  b.direct_images = ImageService::NewStub(b.direct_channel);
  b.shim_runtime = RuntimeService::NewStub(b.shim_channel);
  b.shim_images = ImageService::NewStub(b.shim_channel);
  auto store = containerd::GrpcImageStore::Create(NewChannel(b.tb->containerd()->socket_path()));
  if (!store.ok()) return store.status();
  b.image_store = *std::move(store);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// 1. CreateContainer with a warm verdict.

struct Pod {
  std::string id;
  runtime::v1::PodSandboxConfig config;
};

absl::StatusOr<Pod> RunPod(Bench& b) {
  Pod pod;
  pod.config.mutable_metadata()->set_name("bench");
  pod.config.mutable_metadata()->set_uid("bench-uid");
  pod.config.mutable_metadata()->set_namespace_(kNamespace);
  pod.config.set_log_directory(b.tb->dir().Path("pods/bench"));
  pod.config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
      runtime::v1::NODE);
  if (absl::Status s = MakeDirs(pod.config.log_directory()); !s.ok()) return s;
  runtime::v1::RunPodSandboxRequest request;
  *request.mutable_config() = pod.config;
  runtime::v1::RunPodSandboxResponse response;
  grpc::Status s = b.runtime(true).RunPodSandbox(Context(absl::Seconds(120)).get(), request, &response);
  if (!s.ok()) return absl::UnknownError(absl::StrCat("RunPodSandbox through sigshim: ", Describe(s)));
  pod.id = response.pod_sandbox_id();
  return pod;
}

void RemovePod(Bench& b, const Pod& pod) {
  runtime::v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(pod.id);
  runtime::v1::StopPodSandboxResponse stopped;
  (void)b.runtime(false).StopPodSandbox(Context().get(), stop, &stopped);
  runtime::v1::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id(pod.id);
  runtime::v1::RemovePodSandboxResponse removed;
  (void)b.runtime(false).RemovePodSandbox(Context().get(), remove, &removed);
}

struct Sample {
  std::vector<double> latencies_us;
  int errors = 0;
  std::string first_error;

  void Add(double us, const grpc::Status& s, absl::string_view what) {
    latencies_us.push_back(us);
    if (!s.ok() && errors++ == 0) first_error = absl::StrCat(what, ": ", Describe(s));
  }
};

// Times `calls` CreateContainer calls on one side (as kubelet sends them: the image id from the
// pull and the name the user wrote), removing each container right after, untimed, directly.
void CreateRound(Bench& b, bool via_shim, const Pod& pod, const std::string& image_id, const std::string& tag,
                 int calls, int* serial, Sample* into) {
  for (int i = 0; i < calls; ++i) {
    const std::string name = absl::StrCat(via_shim ? "shim-" : "direct-", ++*serial);
    runtime::v1::CreateContainerRequest request;
    request.set_pod_sandbox_id(pod.id);
    request.mutable_config()->mutable_metadata()->set_name(name);
    request.mutable_config()->mutable_image()->set_image(image_id);
    request.mutable_config()->mutable_image()->set_user_specified_image(tag);
    request.mutable_config()->set_log_path(absl::StrCat(name, "_0.log"));
    *request.mutable_sandbox_config() = pod.config;
    runtime::v1::CreateContainerResponse response;
    grpc::Status s;
    const double us = TimeMicros([&] { s = b.runtime(via_shim).CreateContainer(Context().get(), request, &response); });
    if (into != nullptr) into->Add(us, s, "CreateContainer");
    if (s.ok()) {
      runtime::v1::RemoveContainerRequest remove;
      remove.set_container_id(response.container_id());
      runtime::v1::RemoveContainerResponse removed;
      grpc::Status r = b.runtime(false).RemoveContainer(Context().get(), remove, &removed);
      if (!r.ok() && into != nullptr && into->errors++ == 0) {
        into->first_error = absl::StrCat("RemoveContainer (untimed): ", Describe(r));
      }
    }
  }
}

void PrintRow(const char* label, const std::vector<double>& v, const char* extra = "") {
  printf("  %-44s %6zu %10.0f %10.0f %10.0f%s\n", label, v.size(), Percentile(v, 0.5), Percentile(v, 0.9), Mean(v),
         extra);
}

// Times warm CreateContainer calls of an image of `repository`, signed or (`excepted`) unsigned and
// admitted by the [[exceptions]] entry, direct and through sigshim, in the namespace the policy and
// the exception name; with `runtime_calls`, then times the runtime calls AdmitImage can make.
absl::Status CreateContainerBench(Bench& b, int calls, int rounds, const char* repository, bool excepted,
                                  bool runtime_calls) {
  const std::string tag = b.Repo(absl::StrCat(repository, ":v1"));
  auto digest = b.PushSigned(repository, "v1", /*sign=*/!excepted);
  if (!digest.ok()) return digest.status();
  std::string image_id;
  grpc::Status pulled = b.Pull(/*via_shim=*/true, tag, &image_id);
  if (!pulled.ok()) return absl::UnknownError(absl::StrCat("PullImage through sigshim: ", Describe(pulled)));
  absl::StatusOr<Pod> pod = RunPod(b);
  if (!pod.ok()) return pod.status();

  int serial = 0;
  for (bool via_shim : {false, true}) CreateRound(b, via_shim, *pod, image_id, tag, 10, &serial, nullptr);  // Warm-up.
  Sample direct, shim;
  double shim_cpu_us = 0;
  const int per_round = std::max(1, calls / rounds);
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      const bool via_shim = (k == 0) == (r % 2 == 1);  // Direct first in even rounds, sigshim first in odd ones.
      const double cpu_before = CpuMicros(b.shim->pid());
      CreateRound(b, via_shim, *pod, image_id, tag, per_round, &serial, via_shim ? &shim : &direct);
      if (via_shim) shim_cpu_us += CpuMicros(b.shim->pid()) - cpu_before;
    }
  }
  const double d50 = Percentile(direct.latencies_us, 0.5), s50 = Percentile(shim.latencies_us, 0.5);
  const double dm = Mean(direct.latencies_us), sm = Mean(shim.latencies_us);
  if (excepted) {
    printf("\n## 1b. CreateContainer, warm, unsigned image admitted by [[exceptions]] \"bench-vendor\" (%s pulled through\n"
           "# sigshim once; image id + user_specified_image; policy and exception scoped to namespace \"%s\")\n",
           tag.c_str(), kNamespace);
  } else {
    printf("\n## 1. CreateContainer, warm verdict (%s pulled through sigshim once; image id + user_specified_image;\n"
           "# policy \"bench\" scoped to namespace \"%s\", an exception in force for another repository)\n",
           tag.c_str(), kNamespace);
  }
  printf("# %d calls per side in %d alternating rounds; each container removed right after, untimed; microseconds\n",
         per_round * rounds, rounds);
  printf("  %-44s %6s %10s %10s %10s\n", "side", "calls", "p50", "p90", "mean");
  PrintRow("direct to containerd", direct.latencies_us);
  PrintRow("through sigshim", shim.latencies_us);
  printf("  %-44s %6s %10.0f %10.0f %10.0f\n", "added by sigshim", "", s50 - d50,
         Percentile(shim.latencies_us, 0.9) - Percentile(direct.latencies_us, 0.9), sm - dm);
  printf("  %-44s %6s %9.1f%% %10s %9.1f%%   (goal: within 10 %%)\n", "added / direct", "", 100 * (s50 - d50) / d50,
         "", 100 * (sm - dm) / dm);
  printf("  sigshim CPU per proxied CreateContainer: %.0f us (user+system, /proc/%d/stat)\n",
         shim_cpu_us / std::max<size_t>(1, shim.latencies_us.size()), b.shim->pid());
  for (const Sample* x : {&direct, &shim}) {
    if (x->errors > 0) printf("  %s: %d errors, first: %s\n", x == &direct ? "direct" : "sigshim", x->errors,
                              x->first_error.c_str());
  }
  fflush(stdout);
  if (!runtime_calls) {
    RemovePod(b, *pod);
    return absl::OkStatus();
  }

  // The runtime calls Enforcer::AdmitImage makes per CreateContainer, timed alone on their own
  // channels: CRI ImageStatus of the image, then (CandidatesOf) containerd Images.Get for each
  // repo tag plus the requested name, and for the image id.
  runtime::v1::ImageStatusRequest status_request;
  status_request.mutable_image()->set_image(image_id);
  runtime::v1::ImageStatusResponse status_response;
  grpc::Status st = b.images(false).ImageStatus(Context().get(), status_request, &status_response);
  if (!st.ok() || !status_response.has_image()) return absl::UnknownError("ImageStatus of the warm image failed");
  std::vector<std::string> names(status_response.image().repo_tags().begin(), status_response.image().repo_tags().end());
  if (std::find(names.begin(), names.end(), image_id) == names.end()) names.push_back(image_id);
  names.push_back(status_response.image().id());
  const int n = std::max(50, calls);
  std::vector<double> image_status_us, get_us, admit_us, forwarded_status_us;
  for (int i = 0; i < n; ++i) {
    for (bool via_shim : {false, true}) {
      grpc::Status s;
      const double us = TimeMicros([&] {
        runtime::v1::ImageStatusResponse response;
        s = b.images(via_shim).ImageStatus(Context().get(), status_request, &response);
      });
      (via_shim ? forwarded_status_us : image_status_us).push_back(us);
    }
    double admit = image_status_us.back();
    for (const std::string& name : names) {
      const double us = TimeMicros([&] { (void)b.image_store->Get(name); });
      get_us.push_back(us);
      admit += us;
    }
    admit_us.push_back(admit);
  }
  printf("\n# runtime calls AdmitImage can make, timed alone (%d times; microseconds): a first CreateContainer of an\n"
         "# image id makes the ImageStatus, and the Images.Get only when repo_digests do not settle it; later ones\n"
         "# of an admitted id make none (decided from the admitted-id cache)\n", n);
  printf("  %-44s %6s %10s %10s %10s\n", "call", "count", "p50", "p90", "mean");
  PrintRow("CRI ImageStatus(image id), direct", image_status_us);
  PrintRow("containerd Images.Get(name), each", get_us);
  printf("  %-44s (%zu per CreateContainer: %s)\n", "", names.size(), absl::StrJoin(names, ", ").c_str());
  PrintRow(absl::StrCat("sum: 1 ImageStatus + ", names.size(), " Images.Get").c_str(), admit_us);
  PrintRow("(context) ImageStatus forwarded by sigshim", forwarded_status_us);
  fflush(stdout);
  RemovePod(b, *pod);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// 2. Cold PullImage, and its added time split.

struct ColdImage {
  std::string tag;     // "repo:tag"
  std::string digest;  // manifest digest
};

absl::Status ColdPullBench(Bench& b, int cold) {
  // 3K+1 distinct signed images; the first is pulled directly to warm the shared busybox layer.
  std::vector<ColdImage> images;
  const absl::Time push_start = absl::Now();
  for (int i = 0; i <= 3 * cold; ++i) {
    const std::string tag = absl::StrCat("c", i);
    auto digest = b.PushSigned(kColdRepository, tag);
    if (!digest.ok()) return digest.status();
    images.push_back({b.Repo(absl::StrCat(kColdRepository, ":", tag)), *digest});
  }
  fprintf(stderr, "pushed %d signed images in %.1f s\n", 3 * cold + 1, absl::ToDoubleSeconds(absl::Now() - push_start));
  grpc::Status warm = b.Pull(false, images[0].tag);
  if (!warm.ok()) return absl::UnknownError(absl::StrCat("warm-up pull: ", Describe(warm)));

  // Three sides, in an order that rotates with each image: direct by tag, direct pinned by
  // digest (what sigshim forwards), through sigshim by tag.
  enum Side { kDirect = 0, kDirectPinned = 1, kShim = 2 };
  Sample direct, pinned, shim;
  std::vector<ColdImage> direct_images, shim_images;
  double shim_cpu_us = 0;
  for (int i = 0; i < cold; ++i) {
    for (int k = 0; k < 3; ++k) {
      const int side = (i + k) % 3;
      const ColdImage& image = images[1 + 3 * i + side];
      const double cpu_before = CpuMicros(b.shim->pid());
      grpc::Status s;
      if (side == kDirectPinned) {
        const std::string by_digest = absl::StrCat(image.tag.substr(0, image.tag.rfind(':')), "@", image.digest);
        pinned.Add(TimeMicros([&] { s = b.Pull(false, by_digest); }), s, "PullImage by digest");
        continue;
      }
      const bool via_shim = side == kShim;
      const double us = TimeMicros([&] { s = b.Pull(via_shim, image.tag); });
      if (via_shim) shim_cpu_us += CpuMicros(b.shim->pid()) - cpu_before;
      (via_shim ? shim : direct).Add(us, s, "PullImage");
      (via_shim ? shim_images : direct_images).push_back(image);
    }
  }

  // Registry round trips alone: what RegistryImageVerifier asks for one tag (resolve, the .sig
  // manifest, each payload blob), with one long-lived client as in the daemon.
  registry::RegistryClientOptions client_options;
  client_options.insecure_registries = {b.tb->registry()->host_port()};
  auto client = registry::RegistryClient::Create(client_options);
  if (!client.ok()) return client.status();
  std::vector<double> registry_us, resolve_us, sig_manifest_us, blob_us;
  std::optional<verify::Signature> signature;
  std::optional<policy::Target> target;
  uint64_t requests_per_verification = 0;
  for (int pass = 0; pass < 3; ++pass) {
    for (const ColdImage& image : shim_images) {
      auto ref = reference::Parse(image.tag);
      if (!ref.ok()) return ref.status();
      absl::Status failed;
      const uint64_t requests_before = (*client)->RequestCount();
      const double us = TimeMicros([&] {
        absl::Time step = absl::Now();
        auto lap = [&step](std::vector<double>& into) {
          const absl::Time now = absl::Now();
          into.push_back(absl::ToDoubleMicroseconds(now - step));
          step = now;
        };
        auto resolved = (*client)->Resolve(ref->WithDefaultTag(), {});
        if (!resolved.ok()) return void(failed = resolved.status());
        lap(resolve_us);
        auto tag = verify::SignatureTag(resolved->digest);
        if (!tag.ok()) return void(failed = tag.status());
        auto fetched = (*client)->GetManifest(*ref, *tag, {});
        if (!fetched.ok()) return void(failed = fetched.status());
        lap(sig_manifest_us);
        auto manifest = verify::SignatureManifestFrom(fetched->manifest);
        if (!manifest.ok()) return void(failed = manifest.status());
        for (const verify::Descriptor& layer : manifest->SignatureLayers()) {
          step = absl::Now();
          auto blob = registry::GetDescriptorBlob(**client, *ref, layer, 1 << 20, {});
          if (!blob.ok()) return void(failed = blob.status());
          lap(blob_us);
          auto sig = verify::SignatureFromLayer(layer, *std::move(blob));
          if (!sig.ok()) return void(failed = sig.status());
          signature = *std::move(sig);
          target = policy::Target{resolved->digest, *ref};
        }
      });
      if (!failed.ok()) return failed;
      requests_per_verification = (*client)->RequestCount() - requests_before;
      registry_us.push_back(us);
    }
  }

  // Crypto alone: the decision's producer + evaluation of one signature, and the approval's
  // re-check (EvaluateSignatures over the stored evidence, Enforcer::CheckVerdict) that follows it
  // in Enforcer::Record.
  policy::Rule rule;
  rule.name = "bench";
  rule.keys.push_back(policy::TrustedKey{"release", "", "inline", b.public_key, {}});
  if (!signature.has_value()) return absl::InternalError("no signature fetched");
  std::vector<double> check_us, recheck_us;
  for (int i = 0; i < 500; ++i) {
    bool accepted = false;
    check_us.push_back(TimeMicros([&] {
      policy::RuleEvaluation evaluation(rule, *target, absl::Now());
      evaluation.AddSignature("signature 1", *signature);
      accepted = evaluation.Satisfied();
    }));
    if (!accepted) return absl::InternalError("the fetched signature does not verify");
    recheck_us.push_back(TimeMicros([&] {
      accepted = policy::EvaluateSignatures(rule, *target, {*signature}, absl::Now()).Satisfied();
    }));
    if (!accepted) return absl::InternalError("EvaluateSignatures did not accept");
  }

  // The verdict file alone (fsync + rename), in a store on the same file system as sigshim's.
  auto store = verdicts::VerdictStore::Open({.dir = b.tb->dir().Path("bench-verdicts")}, nullptr);
  if (!store.ok()) return store.status();
  std::vector<double> put_us;
  for (int i = 0; i < std::max(20, 2 * cold); ++i) {
    verdicts::Verdict v;
    v.digest = Sha256Digest(absl::StrCat("bench verdict ", i));
    v.repository = b.Repo(kColdRepository);
    v.reference = absl::StrCat(v.repository, ":c", i);
    v.policy = "bench";
    v.identity = "release";
    v.counted.push_back(verdicts::CountedStatement{"release", "key", b.public_key->Fingerprint(), "",
                                                   signature->layer_digest, std::nullopt});
    v.verified_at = absl::Now();
    v.evidence.push_back(*signature);
    absl::Status s;
    put_us.push_back(TimeMicros([&] { s = (*store)->Put(v); }));
    if (!s.ok()) return s;
  }

  // The tag step alone, on the directly pulled images (whose repo@digest records exist, as after a
  // pinned pull): Images.Get of repo@digest, Create of a new tag pointing to it, then CRI
  // ImageStatus by the tag polled until it shows the digest — with FinishPull's backoff (2 ms,
  // doubling, at most 100 ms), and with a 1 ms poll to see when containerd's CRI view catches up.
  std::vector<double> tag_backoff_us, tag_tight_us;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < direct_images.size(); ++i) {
      const ColdImage& image = direct_images[i];
      auto ref = reference::Parse(image.tag);
      if (!ref.ok()) return ref.status();
      const std::string tag_name = absl::StrCat(ref->Repository(), ":tagstep-", pass, "-", i);
      absl::Status failed;
      bool seen = false;
      const double us = TimeMicros([&] {
        auto pulled = b.image_store->Get(absl::StrCat(ref->Repository(), "@", image.digest));
        if (!pulled.ok()) return void(failed = pulled.status());
        containerd::Image tag;
        tag.name = tag_name;
        tag.target = pulled->target;
        tag.labels = pulled->labels;
        tag.labels[std::string(containerd::kCriManagedLabel)] = std::string(containerd::kCriManagedValue);
        auto made = containerd::CreateOrUpdate(*b.image_store, tag);
        if (!made.ok()) return void(failed = made.status());
        absl::Duration pause = pass == 0 ? absl::Milliseconds(2) : absl::Milliseconds(1);
        const absl::Time until = absl::Now() + absl::Seconds(10);
        while (!seen && absl::Now() < until) {
          runtime::v1::ImageStatusRequest request;
          request.mutable_image()->set_image(tag_name);
          runtime::v1::ImageStatusResponse response;
          grpc::Status s = b.images(false).ImageStatus(Context().get(), request, &response);
          if (s.ok() && response.has_image()) {
            for (const std::string& rd : response.image().repo_digests()) seen |= absl::EndsWith(rd, image.digest);
          }
          if (seen) break;
          absl::SleepFor(pause);
          if (pass == 0) pause = std::min(pause * 2, absl::Milliseconds(100));
        }
      });
      if (!failed.ok()) return failed;
      if (!seen) return absl::DeadlineExceededError(absl::StrCat("the CRI never showed ", tag_name));
      (pass == 0 ? tag_backoff_us : tag_tight_us).push_back(us);
    }
  }

  const double d50 = Percentile(direct.latencies_us, 0.5), s50 = Percentile(shim.latencies_us, 0.5);
  const double dm = Mean(direct.latencies_us), sm = Mean(shim.latencies_us);
  printf("\n## 2. Cold PullImage by tag (a new signed image each time; busybox layer already present)\n");
  printf("# %d pulls per side, the order of the sides rotating; microseconds\n", cold);
  printf("  %-44s %6s %10s %10s %10s\n", "side", "pulls", "p50", "p90", "mean");
  PrintRow("direct to containerd", direct.latencies_us);
  PrintRow("(context) direct, pinned by digest", pinned.latencies_us);
  PrintRow("through sigshim (verify, pinned pull, tag)", shim.latencies_us);
  printf("  sigshim CPU per proxied cold pull: %.0f us\n", shim_cpu_us / std::max(1, cold));
  for (const Sample* x : {&direct, &pinned, &shim}) {
    if (x->errors > 0) printf("  %s: %d errors, first: %s\n", x == &shim ? "sigshim" : "direct", x->errors,
                              x->first_error.c_str());
  }
  printf("\n# parts measured alone (count = samples)\n");
  printf("  %-44s %6s %10s %10s %10s\n", "part", "count", "p50", "p90", "mean");
  PrintRow(absl::StrCat("registry round trips (", requests_per_verification, " HTTP requests)").c_str(), registry_us);
  PrintRow("  resolve tag (GET manifest)", resolve_us);
  PrintRow("  GET .sig manifest", sig_manifest_us);
  PrintRow("  GET signature payload blob", blob_us);
  PrintRow("crypto: produce + evaluate (decision)", check_us);
  PrintRow("crypto: EvaluateSignatures (approval re-check)", recheck_us);
  PrintRow("verdict file: VerdictStore::Put", put_us);
  PrintRow("tag step, FinishPull's backoff (2ms x2..100)", tag_backoff_us);
  PrintRow("tag step, 1 ms poll (CRI view catches up)", tag_tight_us);

  const double reg50 = Percentile(registry_us, 0.5), regm = Mean(registry_us);
  const double crypto50 = Percentile(check_us, 0.5) + Percentile(recheck_us, 0.5);
  const double cryptom = Mean(check_us) + Mean(recheck_us);
  const double put50 = Percentile(put_us, 0.5), putm = Mean(put_us);
  const double tag50 = Percentile(tag_backoff_us, 0.5), tagm = Mean(tag_backoff_us);
  const double add50 = s50 - d50, addm = sm - dm;
  auto pct = [](double part, double whole) { return whole > 0 ? 100 * part / whole : 0.0; };
  printf("\n# added time of a cold pull, split (p50 from p50s; mean from means; microseconds)\n");
  printf("  %-44s %10s %7s %10s %7s\n", "", "p50", "", "mean", "");
  printf("  %-44s %10.0f %6.1f%% %10.0f %6.1f%%\n", "total added by sigshim", add50, 100.0, addm, 100.0);
  printf("  %-44s %10.0f %6.1f%% %10.0f %6.1f%%\n", "registry round trips", reg50, pct(reg50, add50), regm,
         pct(regm, addm));
  printf("  %-44s %10.0f %6.1f%% %10.0f %6.1f%%\n", "crypto (check + re-check)", crypto50, pct(crypto50, add50),
         cryptom, pct(cryptom, addm));
  printf("  %-44s %10.0f %6.1f%% %10.0f %6.1f%%\n", "verdict file (fsync + rename)", put50, pct(put50, add50), putm,
         pct(putm, addm));
  printf("  %-44s %10.0f %6.1f%% %10.0f %6.1f%%\n", "tag step (record + wait for CRI)", tag50, pct(tag50, add50),
         tagm, pct(tagm, addm));
  const double other50 = add50 - reg50 - crypto50 - put50 - tag50, otherm = addm - regm - cryptom - putm - tagm;
  printf("  %-44s %10.0f %6.1f%% %10.0f %6.1f%%\n", "other (remainder)", other50, pct(other50, add50), otherm,
         pct(otherm, addm));
  const double pinned50 = Percentile(pinned.latencies_us, 0.5) - d50, pinnedm = Mean(pinned.latencies_us) - dm;
  printf("  %-44s %10.0f %6.1f%% %10.0f %6.1f%%\n", "  of which: pinned pull minus tag pull, direct", pinned50,
         pct(pinned50, add50), pinnedm, pct(pinnedm, addm));
  fflush(stdout);
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  int calls = 200;  // CreateContainer calls per side, spread over the rounds.
  int rounds = 4;
  int cold = 10;  // Cold pulls per side.
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
      calls = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--cold") && i + 1 < argc) {
      cold = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: %s [--calls N] [--rounds R] [--cold K]\n", argv[0]);
      return 2;
    }
  }
  if (calls < 1 || rounds < 1 || cold < 1) {
    fprintf(stderr, "--calls, --rounds and --cold must be positive\n");
    return 2;
  }
  if (geteuid() != 0) {
    fprintf(stderr, "needs root: it starts containerd\n");
    return 2;
  }
  printf("# reproduce: sudo %s --calls %d --rounds %d --cold %d\n", ExecutablePath(argv[0]).c_str(), calls, rounds,
         cold);
  printf("# load average at start: %s (%ld CPUs)\n", LoadAverage().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  fflush(stdout);

  Bench b;
  if (absl::Status s = SetUp(b); !s.ok()) {
    fprintf(stderr, "cannot set up: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  int rc = 0;
  if (absl::Status s = CreateContainerBench(b, calls, rounds, kWarmRepository, /*excepted=*/false,
                                           /*runtime_calls=*/true);
      !s.ok()) {
    fprintf(stderr, "CreateContainer benchmark failed: %s\n", std::string(s.message()).c_str());
    rc = 1;
  }
  if (absl::Status s = CreateContainerBench(b, calls, rounds, kExceptedRepository, /*excepted=*/true,
                                           /*runtime_calls=*/false);
      !s.ok()) {
    fprintf(stderr, "CreateContainer benchmark (excepted image) failed: %s\n", std::string(s.message()).c_str());
    rc = 1;
  }
  if (absl::Status s = ColdPullBench(b, cold); !s.ok()) {
    fprintf(stderr, "cold pull benchmark failed: %s\n", std::string(s.message()).c_str());
    rc = 1;
  }
  if (rc != 0) fprintf(stderr, "end of sigshim's log:\n%s\n", b.shim->LogTail(4096).c_str());
  printf("\n# load average at end: %s\n", LoadAverage().c_str());
  (void)b.shim->Stop();
  return rc;
}

}  // namespace
}  // namespace sigshim::bench

int main(int argc, char** argv) { return sigshim::bench::Main(argc, argv); }
