// Cold PullImage of a sigstore-bundle-signed image vs a ".sig"-signed one vs direct, on a real
// containerd and docker-registry, in one run (issue 11's benchmark; goal: a bundle adds at most one
// sequential registry round trip over ".sig").
//
// Every image is new (pushed before the timing starts) and signed keyless by sigstore-js against
// the mock Fulcio and Rekor v1 (test/testbed/sigstore_mock.h): a ".sig" signature (cosign's simple
// signing, with the certificate and SET annotations), or a DSSE bundle of an in-toto statement
// attached with @sigstore/oci through the referrers tag schema (docker-registry has no referrers
// API). The three sides alternate, the first side rotating with each image: direct to containerd
// by tag (no sigshim), through sigshim by tag for a ".sig" image, through sigshim by tag for a
// bundle image. --cold (default 10) pulls per side.
//
// Everything reaches the registry through test/testbed/referrers_registry.h in its plain
// recording mode (referrers_api = false: all is forwarded), on every side alike, so that sigshim's
// requests (User-Agent "sigshim") of each verification are counted. The proxy opens an upstream
// connection per request, which adds the same small cost to every request of every side. The
// verification's own time is read from sigshim's audit log (latency_ms of the PullImage line).
// Sequential round trips are measured afterwards, on --probe (default 3) more images per signed
// side, with every answer held back 20 ms by the proxy: requests sigshim sends at once are then all
// received before any is answered, and the longest chain of requests in which each was received
// after the previous was answered is the number of round trips, free of scheduling noise.
//
//   build/test/bench/bundle_pull_bench [--cold K] [--probe P]
//
// Needs root (containerd), Node.js and `make node-deps`. Results are printed, never asserted.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "pkg/base/file.h"
#include "pkg/cri/api.grpc.pb.h"
#include "pkg/verify/simple_signing.h"
#include "test/bench/bench_util.h"
#include "test/signer/signer.h"
#include "test/testbed/referrers_registry.h"
#include "test/testbed/sigstore_mock.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/testbed.h"

namespace sigshim::bench {
namespace {

using runtime::v1::ImageService;

constexpr char kNamespace[] = "bench";
constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
constexpr char kSubject[] = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";

enum Side { kDirect = 0, kSig = 1, kBundle = 2 };
constexpr const char* kSideNames[] = {"direct to containerd (no sigshim)", "through sigshim, .sig-signed",
                                      "through sigshim, bundle-signed"};

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

std::string Describe(const grpc::Status& s) { return absl::StrCat("code ", s.error_code(), ": ", s.error_message()); }

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

// Returns the longest chain of `requests` in which each started after the previous was answered.
int SequentialRoundTrips(std::vector<testbed::ReceivedRequest> requests) {
  std::sort(requests.begin(), requests.end(),
            [](const auto& a, const auto& b) { return a.received < b.received; });
  std::vector<int> chain(requests.size(), 1);
  int longest = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (requests[j].answered <= requests[i].received) chain[i] = std::max(chain[i], chain[j] + 1);
    }
    longest = std::max(longest, chain[i]);
  }
  return longest;
}

struct Bench {
  std::unique_ptr<testbed::TestBed> tb;
  std::unique_ptr<testbed::SigstoreMock> mock;
  std::unique_ptr<testbed::ReferrersRegistry> proxy;
  std::unique_ptr<testbed::Subprocess> shim;
  testbed::OciImage base;
  std::string shim_socket;
  std::unique_ptr<ImageService::Stub> direct_images, shim_images;
  int images_made = 0;

  std::string Name(const std::string& repository) const { return absl::StrCat(proxy->host_port(), "/", repository); }

  grpc::Status Pull(bool via_shim, const std::string& image) {
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    request.mutable_sandbox_config()->mutable_metadata()->set_namespace_(kNamespace);
    runtime::v1::PullImageResponse response;
    return (via_shim ? *shim_images : *direct_images).PullImage(Context(absl::Seconds(120)).get(), request, &response);
  }

  // Pushes a distinct image as <repository>:v1 and signs it the way `side` needs (direct: a ".sig",
  // as the others, so that all images are alike); returns "<name>:v1".
  absl::StatusOr<std::string> PushImage(Side side, const std::string& repository) {
    auto image = testbed::CmdVariant(base, absl::StrCat("b", ++images_made), {"/bin/echo", repository});
    if (!image.ok()) return image.status();
    auto digest = testbed::PushImage(*image, *tb->registry(), repository, "v1");
    if (!digest.ok()) return digest.status();
    testbed::KeylessSignOptions options;
    options.issuer = kIssuer;
    options.subject = kSubject;
    if (side == kBundle) {
      const std::string statement =
          nlohmann::json({{"_type", "https://in-toto.io/Statement/v1"},
                          {"subject", {{{"name", Name(repository)}, {"digest", {{"sha256", digest->substr(7)}}}}}},
                          {"predicateType", "https://sigstore.dev/cosign/sign/v1"},
                          {"predicate", nlohmann::json::object()}})
              .dump();
      options.dsse_payload_type = "application/vnd.in-toto+json";
      auto signed_bundle = mock->Sign(statement, options);
      if (!signed_bundle.ok()) return signed_bundle.status();
      const std::string path = tb->dir().Path(absl::StrCat("bundle-", images_made, ".json"));
      if (absl::Status s = WriteFileAtomic(path, signed_bundle->bundle_json, 0644); !s.ok()) return s;
      auto attached = testbed::RunCommand({mock->node(), mock->program_dir() + "/attach_bundle.mjs", "--image",
                                           Name(repository), "--digest", *digest, "--bundle", path},
                                          absl::Seconds(60));
      if (!attached.ok()) return attached.status();
    } else {
      auto payload = verify::BuildSimpleSigningPayload(Name(repository), *digest);
      if (!payload.ok()) return payload.status();
      auto signature = mock->Sign(*payload, options);
      if (!signature.ok()) return signature.status();
      std::vector<test_signer::SignatureLayer> layers;
      layers.push_back(test_signer::LayerWithAnnotations(*payload, signature->annotations));
      auto artifact = test_signer::BuildSignatureArtifact(*digest, std::move(layers));
      if (!artifact.ok()) return artifact.status();
      for (const test_signer::SignatureLayer& layer : artifact->layers) {
        if (auto pushed = tb->registry()->PushBlob(repository, layer.payload.bytes); !pushed.ok()) return pushed.status();
      }
      if (auto pushed = tb->registry()->PushBlob(repository, artifact->config.bytes); !pushed.ok()) {
        return pushed.status();
      }
      auto manifest = tb->registry()->PushManifest(repository, artifact->tag, artifact->manifest.media_type,
                                                   artifact->manifest.bytes);
      if (!manifest.ok()) return manifest.status();
    }
    return absl::StrCat(Name(repository), ":v1");
  }
};

std::string ConfigText(const Bench& b) {
  const testbed::TempDir& dir = b.tb->dir();
  return absl::StrCat(
      "[server]\nlisten = \"", b.shim_socket, "\"\nruntime_endpoint = \"", b.tb->containerd()->socket_path(),
      "\"\nstate_dir = \"", dir.Path("sigshim-state"), "\"\n[log]\nlevel = \"info\"\n",
      "[enforcement]\nmode = \"enforce\"\nunmatched = \"deny\"\nsandbox_image = \"",
      b.tb->containerd()->sandbox_image(), "@", b.tb->sandbox_image_digest(), "\"\n[audit]\npath = \"",
      dir.Path("audit.log"), "\"\n[metrics]\nlisten = \"\"\n",
      "[[trust_roots]]\nname = \"sigstore\"\ntrusted_root = \"", b.mock->trusted_root_path(), "\"\n",
      "[[identities]]\nname = \"ci\"\ntrust_root = \"sigstore\"\nissuer = \"", kIssuer, "\"\nsubject = \"", kSubject,
      "\"\n[[policy]]\nname = \"bench\"\nimages = [\"", b.proxy->host_port(), "/**\"]\nrequire = [\"ci\"]\n");
}

absl::Status SetUp(Bench& b) {
  auto tb = testbed::TestBed::Create({.name = "sigshim-bundle-bench"});
  if (!tb.ok()) return tb.status();
  b.tb = *std::move(tb);
  testbed::SigstoreMockOptions mock_options;
  mock_options.dir = b.tb->dir().Path("sigstore");
  auto mock = testbed::SigstoreMock::Start(mock_options);
  if (!mock.ok()) return mock.status();
  b.mock = *std::move(mock);
  auto proxy = testbed::ReferrersRegistry::Start({.upstream_port = b.tb->registry()->port(), .referrers_api = false});
  if (!proxy.ok()) return proxy.status();
  b.proxy = *std::move(proxy);
  auto base = b.tb->BuildImage("base", {"/bin/sh"}, "bundle-bench");
  if (!base.ok()) return base.status();
  b.base = *base;
  b.shim_socket = b.tb->dir().Path("sigshim.sock");
  const std::string config_path = b.tb->dir().Path("sigshim.toml");
  if (absl::Status s = WriteFileAtomic(config_path, ConfigText(b), 0644); !s.ok()) return s;
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
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  b.direct_images = ImageService::NewStub(grpc::CreateCustomChannel(
      "unix:" + b.tb->containerd()->socket_path(), grpc::InsecureChannelCredentials(), args));
  b.shim_images =
      ImageService::NewStub(grpc::CreateCustomChannel("unix:" + b.shim_socket, grpc::InsecureChannelCredentials(), args));
  return absl::OkStatus();
}

struct SideResult {
  std::vector<double> latencies_us;
  std::map<std::string, int> requests;  // "METHOD path-kind" of sigshim's requests, over all pulls
  std::vector<int> request_counts;      // per verification
  std::vector<int> round_trips;         // per probe verification
  int errors = 0;
  std::string first_error;
};

// Returns the kind of a registry request, for the table: "GET manifests/<tag>" and so on.
std::string RequestKind(const testbed::ReceivedRequest& r) {
  std::string path = r.target.substr(0, r.target.find('?'));
  for (const char* part : {"/manifests/", "/blobs/", "/referrers/"}) {
    const size_t at = path.find(part);
    if (at == std::string::npos) continue;
    std::string what = path.substr(at + strlen(part));
    if (absl::StrContains(part, "manifests")) {
      what = absl::EndsWith(what, ".sig")           ? "sha256-<hex>.sig (.sig)"
             : absl::StartsWith(what, "sha256-")    ? "sha256-<hex> (referrers tag)"
             : absl::StartsWith(what, "sha256:")    ? "<digest> (by digest)"
                                                    : "<tag>";
    } else {
      what = "<digest>";
    }
    return absl::StrCat(r.method, " ", std::string(part).substr(1), what);
  }
  return absl::StrCat(r.method, " ", path);
}

// Returns sigshim's requests among `all` from the `from`-th on.
std::vector<testbed::ReceivedRequest> SigshimRequests(const std::vector<testbed::ReceivedRequest>& all, size_t from) {
  std::vector<testbed::ReceivedRequest> mine;
  for (size_t r = from; r < all.size(); ++r) {
    if (absl::StartsWith(all[r].user_agent, "sigshim")) mine.push_back(all[r]);
  }
  return mine;
}

// Returns latency_ms of the PullImage audit lines, by image.
std::map<std::string, double> AuditLatencies(const std::string& path) {
  std::map<std::string, double> out;
  auto text = ReadFile(path, 64 << 20);
  if (!text.ok()) return out;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("method", "") == "PullImage") out[j.value("image", "")] = j.value("latency_ms", 0.0);
  }
  return out;
}

int Main(int argc, char** argv) {
  int cold = 10;
  int probe = 3;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--cold") && i + 1 < argc) {
      cold = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--probe") && i + 1 < argc) {
      probe = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: %s [--cold K] [--probe P]\n", argv[0]);
      return 2;
    }
  }
  if (cold < 1 || probe < 1) {
    fprintf(stderr, "--cold and --probe must be positive\n");
    return 2;
  }
  if (geteuid() != 0) {
    fprintf(stderr, "needs root: it starts containerd\n");
    return 2;
  }
  printf("# reproduce: sudo %s --cold %d --probe %d\n", ExecutablePath(argv[0]).c_str(), cold, probe);
  printf("# load average at start: %s\n", LoadAverage().c_str());
  fflush(stdout);

  Bench b;
  if (absl::Status s = SetUp(b); !s.ok()) {
    fprintf(stderr, "cannot set up: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  // One image to warm the shared busybox layer, K per side to time, P per signed side to probe.
  std::vector<std::vector<std::string>> images(3), probes(3);
  const absl::Time push_start = absl::Now();
  auto warm = b.PushImage(kSig, "bench/warm");
  if (!warm.ok()) {
    fprintf(stderr, "push: %s\n", std::string(warm.status().message()).c_str());
    return 1;
  }
  for (int i = 0; i < cold + probe; ++i) {
    for (Side side : {kDirect, kSig, kBundle}) {
      if (i >= cold && side == kDirect) continue;
      const char* name = side == kDirect ? "direct" : side == kSig ? "sig" : "bundle";
      auto image = b.PushImage(side, absl::StrCat("bench/", name, "-", i));
      if (!image.ok()) {
        fprintf(stderr, "push: %s\n", std::string(image.status().message()).c_str());
        return 1;
      }
      (i < cold ? images : probes)[side].push_back(*image);
    }
  }
  fprintf(stderr, "pushed and signed %d images in %.1f s\n", 3 * cold + 2 * probe + 1,
          absl::ToDoubleSeconds(absl::Now() - push_start));
  if (grpc::Status s = b.Pull(false, *warm); !s.ok()) {
    fprintf(stderr, "warm-up pull: %s\n", Describe(s).c_str());
    return 1;
  }

  SideResult results[3];
  for (int i = 0; i < cold; ++i) {
    for (int k = 0; k < 3; ++k) {
      const Side side = static_cast<Side>((i + k) % 3);
      SideResult& result = results[side];
      const size_t before = b.proxy->Requests().size();
      const absl::Time start = absl::Now();
      grpc::Status s = b.Pull(side != kDirect, images[side][i]);
      result.latencies_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
      if (!s.ok() && result.errors++ == 0) result.first_error = Describe(s);
      if (side == kDirect) continue;
      std::vector<testbed::ReceivedRequest> mine = SigshimRequests(b.proxy->Requests(), before);
      for (const testbed::ReceivedRequest& r : mine) ++result.requests[RequestKind(r)];
      result.request_counts.push_back(static_cast<int>(mine.size()));
    }
  }
  // The round-trip probe: every answer held back 20 ms.
  b.proxy->SetAnswerDelay(absl::Milliseconds(20));
  for (int i = 0; i < probe; ++i) {
    for (Side side : {kSig, kBundle}) {
      const size_t before = b.proxy->Requests().size();
      grpc::Status s = b.Pull(true, probes[side][i]);
      if (!s.ok() && results[side].errors++ == 0) results[side].first_error = Describe(s);
      results[side].round_trips.push_back(SequentialRoundTrips(SigshimRequests(b.proxy->Requests(), before)));
    }
  }
  b.proxy->SetAnswerDelay(absl::ZeroDuration());
  const std::map<std::string, double> audit = AuditLatencies(b.tb->dir().Path("audit.log"));
  std::vector<double> verification_ms[3];
  for (Side side : {kSig, kBundle}) {
    for (const std::string& image : images[side]) {
      auto it = audit.find(image);
      if (it != audit.end()) verification_ms[side].push_back(it->second);
    }
  }

  printf("\n## Cold PullImage by tag (a new image each time; busybox layer already present; keyless, Rekor v1)\n");
  printf("# %d pulls per side, the order of the sides rotating; PullImage in microseconds; sigshim's decision\n"
         "# (audit latency_ms) in ms; requests: sigshim's per verification; round trips: sequential, per\n"
         "# verification, from %d probe pulls per side with answers held back 20 ms (p50s)\n", cold, probe);
  printf("  %-36s %5s %9s %9s %9s %9s %9s %9s %7s\n", "side", "pulls", "p50", "p90", "mean", "dec. p50", "dec. p90",
         "requests", "trips");
  for (Side side : {kDirect, kSig, kBundle}) {
    const SideResult& r = results[side];
    std::vector<double> counts(r.request_counts.begin(), r.request_counts.end());
    std::vector<double> trips(r.round_trips.begin(), r.round_trips.end());
    auto cell = [&](const std::vector<double>& v, double q, const char* format) {
      return side == kDirect || v.empty() ? std::string("-") : absl::StrFormat(format, Percentile(v, q));
    };
    printf("  %-36s %5zu %9.0f %9.0f %9.0f %9s %9s %9s %7s\n", kSideNames[side], r.latencies_us.size(),
           Percentile(r.latencies_us, 0.5), Percentile(r.latencies_us, 0.9), Mean(r.latencies_us),
           cell(verification_ms[side], 0.5, "%.1f").c_str(), cell(verification_ms[side], 0.9, "%.1f").c_str(),
           cell(counts, 0.5, "%.0f").c_str(), cell(trips, 0.5, "%.0f").c_str());
  }
  const double sig50 = Percentile(results[kSig].latencies_us, 0.5);
  const double bundle50 = Percentile(results[kBundle].latencies_us, 0.5);
  const double direct50 = Percentile(results[kDirect].latencies_us, 0.5);
  std::vector<double> sig_trips(results[kSig].round_trips.begin(), results[kSig].round_trips.end());
  std::vector<double> bundle_trips(results[kBundle].round_trips.begin(), results[kBundle].round_trips.end());
  printf("  PullImage added over direct (p50): .sig %.0f us, bundle %.0f us; bundle over .sig: decision %+.1f ms "
         "(p50), %+.0f sequential round trip(s) (goal: at most +1)\n",
         sig50 - direct50, bundle50 - direct50,
         Percentile(verification_ms[kBundle], 0.5) - Percentile(verification_ms[kSig], 0.5),
         Percentile(bundle_trips, 0.5) - Percentile(sig_trips, 0.5));
  for (Side side : {kSig, kBundle}) {
    printf("\n# sigshim's requests over the %d %s verifications\n", cold, side == kSig ? ".sig" : "bundle");
    for (const auto& [kind, count] : results[side].requests) printf("  %-48s %5d\n", kind.c_str(), count);
  }
  int rc = 0;
  for (Side side : {kDirect, kSig, kBundle}) {
    if (results[side].errors > 0) {
      printf("  %s: %d errors, first: %s\n", kSideNames[side], results[side].errors, results[side].first_error.c_str());
      rc = 1;
    }
  }
  printf("\n# load average at end: %s\n", LoadAverage().c_str());
  if (rc != 0) fprintf(stderr, "end of sigshim's log:\n%s\n", b.shim->LogTail(4096).c_str());
  (void)b.shim->Stop();
  return rc;
}

}  // namespace
}  // namespace sigshim::bench

int main(int argc, char** argv) { return sigshim::bench::Main(argc, argv); }
