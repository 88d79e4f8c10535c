// The ways around sigshim that were found by trying, each shut on a real node (containerd 1.6,
// docker-registry, the sigshim binary): CRI method paths spelled the way containerd's gRPC server
// also routes, containerd's own API through the CRI socket, a slow registry starving the decisions
// that rest on stored verdicts, verifications that outlive their callers, and a SIGTERM that waits
// for them. Needs root.
//
// One test bed serves the suite, with a "slow registry" beside the real one: a small HTTP server on
// 127.0.0.1 that serves an image with many signature layers and answers each signature blob just
// under sigshim's per-request timeout, as a registry under load (or an attacker's) would.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "test/e2e/attack_images.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/pkg/registry/local_http_server.h"
#include "test/signer/signer.h"
#include "test/testbed/poll.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr char kNamespace[] = "bypass";
// Each slow signature blob is answered after this long, under the 3 s request timeout of the
// config below: no single request ever times out, only the whole verification can.
constexpr absl::Duration kBlobDelay = absl::Milliseconds(2500);
constexpr int kSlowSignatures = 20;  // 20 × 2.5 s = 50 s per verification without a budget
constexpr char kVerificationTimeout[] = "8s";
constexpr char kShutdownGrace[] = "4s";

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

// Threads joined when the scope ends, also when an assertion leaves it early.
class JoinedThreads {
 public:
  ~JoinedThreads() { Join(); }
  template <typename F>
  void Start(F f) {
    threads_.emplace_back(std::move(f));
  }
  void Join() {
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  std::vector<std::thread> threads_;
};

std::string HttpAnswer(absl::string_view content_type, absl::string_view body) {
  return absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: ", content_type, "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

// A registry that serves, for every repository, one image manifest (its tag is any tag) and a
// signature manifest with kSlowSignatures simple-signing layers whose blobs (signed by nobody the
// node trusts) come slowly. Counts the blob requests.
class SlowRegistry {
 public:
  SlowRegistry() {
    manifest_ = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
                R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                Sha256Digest("{}") + R"(","size":2},"layers":[]})";
    std::string layers;
    for (int i = 0; i < kSlowSignatures; ++i) {
      const std::string blob = absl::StrCat(R"({"critical":{"identity":{"docker-reference":"x"},)",
                                            R"("image":{"docker-manifest-digest":")", Sha256Digest(manifest_),
                                            R"("},"type":"cosign container image signature"},"n":)", i, "}");
      blobs_[Sha256Digest(blob)] = blob;
      absl::StrAppend(&layers, i ? "," : "",
                      R"({"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":")",
                      Sha256Digest(blob), R"(","size":)", blob.size(),
                      R"(,"annotations":{"dev.cosignproject.cosign/signature":"MEUCIQDx"}})");
    }
    signatures_ = absl::StrCat(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
                               R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
                               Sha256Digest("{}"), R"(","size":2},"layers":[)", layers, "]}");
  }
  ~SlowRegistry() { stopping_ = true; }

  absl::Status Start() {
    auto server = testing::LocalHttpServer::Start([this](const testing::ReceivedRequest& r) { return Answer(r); });
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    return absl::OkStatus();
  }
  void Stop() {
    stopping_ = true;
    server_.reset();
  }
  std::string host_port() const { return absl::StrCat("127.0.0.1:", server_->port()); }
  int blob_requests() const { return blob_requests_.load(); }

 private:
  testing::Reply Answer(const testing::ReceivedRequest& request) {
    const std::vector<std::string> line = absl::StrSplit(request.head.substr(0, request.head.find('\r')), ' ');
    const std::string path = line.size() > 1 ? line[1] : "";
    const std::string json = "application/vnd.oci.image.manifest.v1+json";
    if (path == "/v2/" || path == "/v2") return {HttpAnswer("application/json", "{}")};
    if (absl::StrContains(path, "/manifests/sha256-")) return {HttpAnswer(json, signatures_)};
    if (absl::StrContains(path, "/manifests/")) return {HttpAnswer(json, manifest_)};
    if (const size_t at = path.find("/blobs/"); at != std::string::npos) {
      ++blob_requests_;
      const absl::Time until = absl::Now() + kBlobDelay;
      while (!stopping_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
      auto blob = blobs_.find(path.substr(at + 7));
      if (blob != blobs_.end()) return {HttpAnswer("application/octet-stream", blob->second)};
    }
    return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"};
  }

  std::string manifest_;
  std::string signatures_;
  std::map<std::string, std::string> blobs_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> blob_requests_{0};
  std::unique_ptr<testing::LocalHttpServer> server_;
};

class BypassTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    auto bed = testbed::TestBed::Create({.name = "sigshim-bypass"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    slow_ = new SlowRegistry();
    ASSERT_TRUE(slow_->Start().ok());
    ASSERT_TRUE(MakeDirs(bed_->dir().Path("keys")).ok());
    auto key = GenerateKey("release", test_signer::KeyType::kEcdsaP256, bed_->dir().Path("keys/release.pub"));
    ASSERT_TRUE(key.ok()) << key.status();
    release_ = key->release();
    auto base = bed_->BuildImage("base", {"/bin/sh"}, "bypass");
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = new testbed::OciImage(*base);
    direct_ = new CriClient(bed_->containerd()->socket_path());
    ASSERT_NO_FATAL_FAILURE(StartShim("main", &main_));
  }

  static void TearDownTestSuite() {
    if (main_ != nullptr) {
      StopShim(main_);
      main_ = nullptr;
    }
    delete direct_;
    direct_ = nullptr;
    delete base_;
    base_ = nullptr;
    delete release_;
    release_ = nullptr;
    delete slow_;  // before the test bed: its connection threads end at once
    slow_ = nullptr;
    delete bed_;
    bed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || main_ == nullptr) FAIL() << "the test bed did not start";
  }

  void TearDown() override {
    for (const std::string& id : pods_) EXPECT_TRUE(RemovePod(*direct_, id).ok());
    pods_.clear();
  }

  struct Shim {
    std::string dir;
    std::string socket;
    std::string audit;
    std::string log;
    std::unique_ptr<testbed::Subprocess> process;
    std::unique_ptr<CriClient> client;
  };

  // Starts a sigshim of its own in folder `name` of the test bed: enforce, 2 workers per lane,
  // 3 s per registry request, kVerificationTimeout per verification, kShutdownGrace; policy "e2e"
  // for the real registry and "slow" for the slow one, both requiring key "release".
  static void StartShim(const std::string& name, Shim** out) {
    auto* shim = new Shim;
    *out = shim;
    shim->dir = bed_->dir().Path(name);
    ASSERT_TRUE(MakeDirs(shim->dir).ok());
    shim->socket = shim->dir + "/cri.sock";
    shim->audit = shim->dir + "/audit.log";
    shim->log = shim->dir + "/sigshim.log";
    const std::string config = absl::StrCat(
        "[server]\nlisten = \"", shim->socket, "\"\nruntime_endpoint = \"", bed_->containerd()->socket_path(),
        "\"\nstate_dir = \"", shim->dir, "/state\"\nshutdown_grace = \"", kShutdownGrace, "\"\n",
        "[log]\nlevel = \"debug\"\n",
        "[enforcement]\nmode = \"enforce\"\nunmatched = \"deny\"\nworkers = 2\nsandbox_image = \"",
        bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest(), "\"\n",
        "[audit]\npath = \"", shim->audit, "\"\n[metrics]\nlisten = \"\"\n",
        "[registry]\ninsecure = [\"", bed_->registry()->host_port(), "\", \"", slow_->host_port(),
        "\"]\ntimeout = \"3s\"\nverification_timeout = \"", kVerificationTimeout, "\"\n",
        "\n[[keys]]\nname = \"release\"\npath = \"", release_->public_path, "\"\n",
        "\n[[policy]]\nname = \"e2e\"\nimages = [\"", bed_->registry()->host_port(), "/**\"]\nrequire = [\"release\"]\n",
        "\n[[policy]]\nname = \"slow\"\nimages = [\"", slow_->host_port(), "/**\"]\nrequire = [\"release\"]\n");
    ASSERT_TRUE(WriteFileAtomic(shim->dir + "/sigshim.toml", config, 0644).ok());
    auto process = StartSigshim(SigshimCommand(SIGSHIM_BINARY, shim->dir + "/sigshim.toml", shim->log, shim->dir),
                                shim->socket);
    ASSERT_TRUE(process.ok()) << process.status();
    shim->process = *std::move(process);
    shim->client = std::make_unique<CriClient>(shim->socket);
  }

  static void StopShim(Shim* shim) {
    if (shim->process != nullptr && shim->process->Running()) {
      absl::Status stopped = shim->process->Stop(absl::Seconds(30));
      EXPECT_TRUE(stopped.ok()) << stopped;
    }
    delete shim;
  }

  static std::string Repo(const std::string& repository) {
    return absl::StrCat(bed_->registry()->host_port(), "/", repository);
  }

  // Pushes a new image that prints `output` as repository:tag, signed by "release"; returns its digest.
  static std::string PushSigned(const std::string& repository, const std::string& tag, const std::string& output) {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("v", ++images_made_), {"/bin/echo", output});
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, *bed_->registry(), repository, tag);
    EXPECT_TRUE(digest.ok()) << digest.status();
    if (!digest.ok()) return "";
    auto signed_artifact = PushSignature(*bed_->registry(), repository, *release_->signer, Repo(repository), *digest);
    EXPECT_TRUE(signed_artifact.ok()) << signed_artifact.status();
    return *digest;
  }

  // Pushes a new unsigned image as repository:tag; returns its digest.
  static std::string PushUnsigned(const std::string& repository, const std::string& tag) {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("u", ++images_made_), {"/bin/echo", "UNSIGNED"});
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, *bed_->registry(), repository, tag);
    EXPECT_TRUE(digest.ok()) << digest.status();
    return digest.ok() ? *digest : "";
  }

  static bool ContainerdHas(const std::string& image) {
    ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    ImageStatusResponse response;
    grpc::Status status = direct_->images().ImageStatus(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return response.has_image();
  }

  // Returns how many containers (pod sandboxes included) containerd holds.
  static int ContainerCount() {
    auto listed = bed_->containerd()->Ctr({"containers", "ls", "-q"});
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? static_cast<int>(std::vector<std::string>(absl::StrSplit(*listed, '\n', absl::SkipEmpty())).size())
                       : -1;
  }

  static bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

  static int AuditLinesFor(const Shim& shim, const std::string& image) {
    int n = 0;
    for (const nlohmann::json& line : ReadAuditLog(shim.audit, nullptr)) {
      if (absl::StrContains(line.value("image", ""), image)) ++n;
    }
    return n;
  }

  void RunPod(CriClient& client, const std::string& name, PodRun* run) {
    run->config = HostNetworkPod(name, kNamespace, bed_->dir().Path(absl::StrCat("pods/", name)));
    grpc::Status status = RunPodSandbox(client, run->config, &run->sandbox_id);
    ASSERT_TRUE(status.ok()) << Describe(status);
    pods_.push_back(run->sandbox_id);
  }

  static testbed::TestBed* bed_;
  static SlowRegistry* slow_;
  static Key* release_;
  static testbed::OciImage* base_;
  static int images_made_;
  static CriClient* direct_;
  static Shim* main_;
  std::vector<std::string> pods_;
};

testbed::TestBed* BypassTest::bed_ = nullptr;
SlowRegistry* BypassTest::slow_ = nullptr;
Key* BypassTest::release_ = nullptr;
testbed::OciImage* BypassTest::base_ = nullptr;
int BypassTest::images_made_ = 0;
CriClient* BypassTest::direct_ = nullptr;
BypassTest::Shim* BypassTest::main_ = nullptr;

// containerd's gRPC server routes "runtime.v1.ImageService/PullImage" (no leading '/') to PullImage:
// forwarded, it pulled and ran unsigned images with no audit line. Every such spelling is refused.
TEST_F(BypassTest, CriMethodsSpelledAnotherWayAreRefusedAndNothingReachesContainerd) {
  const std::string image = Repo("bypass/unsigned-spelling:v1");
  const std::string digest = PushUnsigned("bypass/unsigned-spelling", "v1");
  PullImageRequest pull;
  pull.mutable_image()->set_image(image);
  PullImageResponse pulled;
  for (const char* method : {"runtime.v1.ImageService/PullImage", "runtime.v1alpha2.ImageService/PullImage",
                                    "//runtime.v1.ImageService/PullImage", "/runtime.v1.ImageService/PullImage/"}) {
    SCOPED_TRACE(method);
    grpc::Status status = main_->client->Call(method, pull, &pulled, absl::Seconds(60));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << Describe(status);
  }
  EXPECT_FALSE(ContainerdHas(absl::StrCat(Repo("bypass/unsigned-spelling"), "@", digest)));

  // The same image, imported by hand: CreateContainer and RunPodSandbox under other spellings.
  ASSERT_TRUE(direct_->Call("/runtime.v1.ImageService/PullImage", pull, &pulled).ok());  // around sigshim
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(*main_->client, "spelling", &pod));
  const int containers_before = ContainerCount();
  for (const char* method :
       {"runtime.v1.RuntimeService/CreateContainer", "runtime.v1alpha2.RuntimeService/CreateContainer"}) {
    SCOPED_TRACE(method);
    CreateContainerResponse created;
    grpc::Status status =
        main_->client->Call(method, ContainerRequest(pod.sandbox_id, pod.config, "c", image), &created);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << Describe(status);
  }
  for (const char* method :
       {"runtime.v1.RuntimeService/RunPodSandbox", "runtime.v1alpha2.RuntimeService/RunPodSandbox"}) {
    SCOPED_TRACE(method);
    RunPodSandboxRequest run;
    *run.mutable_config() = HostNetworkPod("spelling-2", kNamespace, bed_->dir().Path("pods/spelling-2"));
    RunPodSandboxResponse ran;
    grpc::Status status = main_->client->Call(method, run, &ran);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << Describe(status);
  }
  ListContainersRequest list;
  list.mutable_filter()->set_pod_sandbox_id(pod.sandbox_id);
  ListContainersResponse containers;
  ASSERT_TRUE(direct_->runtime().ListContainers(Context().get(), list, &containers).ok());
  EXPECT_EQ(containers.containers_size(), 0) << containers.DebugString();
  EXPECT_EQ(ContainerCount(), containers_before);
  EXPECT_EQ(AuditLinesFor(*main_, "bypass/unsigned-spelling"), 0) << "nothing was decided: nothing was forwarded";
  EXPECT_THAT(testbed::FileTail(main_->log, 1 << 20), HasSubstr("refused a call to a method outside the CRI"));
}

// `ctr --address <sigshim's socket>` pulled and ran an unsigned image through containerd's own
// images, content, containers and tasks services. The socket serves the CRI only.
TEST_F(BypassTest, ContainerdsOwnApiIsNotServedOnTheCriSocket) {
  const std::string image = Repo("bypass/unsigned-ctr:v1");
  const std::string digest = PushUnsigned("bypass/unsigned-ctr", "v1");
  // (RunCommand answers a non-zero exit with an error.)
  auto pulled = testbed::RunCommand({"ctr", "--address", main_->socket, "-n", "k8s.io", "images", "pull",
                                     "--plain-http", image},
                                    absl::Seconds(60));
  EXPECT_FALSE(pulled.ok()) << "ctr pulled through sigshim's socket: " << pulled->stdout_text;
  EXPECT_FALSE(ContainerdHas(absl::StrCat(Repo("bypass/unsigned-ctr"), "@", digest)));
  auto version = testbed::RunCommand({"ctr", "--address", main_->socket, "version"}, absl::Seconds(30));
  EXPECT_FALSE(version.ok()) << "containerd's version service answered through sigshim: " << version->stdout_text;
  // And with the image on the node (pulled around sigshim), `ctr run` through sigshim starts nothing.
  ASSERT_TRUE(bed_->containerd()->Ctr({"images", "pull", "--plain-http", image}, absl::Seconds(60)).ok());
  auto ran = testbed::RunCommand({"ctr", "--address", main_->socket, "-n", "k8s.io", "run", "--rm", image,
                                  "bypass-ctr-run", "/bin/echo", "UNSIGNED"},
                                 absl::Seconds(60));
  EXPECT_FALSE(ran.ok()) << "ctr run through sigshim's socket: " << ran->stdout_text;
  auto containers = bed_->containerd()->Ctr({"containers", "ls", "-q"});
  ASSERT_TRUE(containers.ok()) << containers.status();
  EXPECT_THAT(*containers, Not(HasSubstr("bypass-ctr-run")));
}

// Four pulls against a registry that answers each blob just under the request timeout held every
// worker for minutes; a pull by digest of a verified image and a RunPodSandbox waited behind them
// and hit their deadlines. Now verifications end at verification_timeout and decisions that rest on
// stored verdicts never queue behind them.
TEST_F(BypassTest, ASlowRegistryNeverDelaysDecisionsThatRestOnStoredVerdicts) {
  const std::string repository = Repo("bypass/verified");
  const std::string digest = PushSigned("bypass/verified", "v1", "verified while the registry crawls");
  std::string image_id;
  ASSERT_TRUE(PullImage(*main_->client, repository + ":v1", kNamespace, nullptr, &image_id).ok());

  // Six slow verifications (distinct images: no shared flight), more than both lanes have workers.
  const int blobs_before = slow_->blob_requests();
  std::vector<grpc::Status> slow_answers(6);
  JoinedThreads slow_pulls;
  const absl::Time started = absl::Now();
  for (int i = 0; i < 6; ++i) {
    slow_pulls.Start([&, i] {
      slow_answers[i] = PullImage(*main_->client, absl::StrCat(slow_->host_port(), "/slow/app", i, ":v1"), kNamespace,
                                  nullptr, nullptr, absl::Seconds(120));
    });
  }
  ASSERT_TRUE(testbed::Eventually([&] { return slow_->blob_requests() > blobs_before + 1; }, absl::Seconds(30), absl::Milliseconds(50)));

  // Meanwhile: everything that rests on the stored verdict answers, within deadlines far shorter
  // than the slow verifications.
  {
    SCOPED_TRACE("pull by digest of the verified image");
    grpc::Status status = PullImage(*main_->client, absl::StrCat(repository, "@", digest), kNamespace, nullptr,
                                    nullptr, absl::Seconds(20));
    EXPECT_TRUE(status.ok()) << Describe(status);
  }
  PodRun pod;
  {
    SCOPED_TRACE("RunPodSandbox with the pinned sandbox image");
    pod.config = HostNetworkPod("slow-registry", kNamespace, bed_->dir().Path("pods/slow-registry"));
    grpc::Status status = RunPodSandbox(*main_->client, pod.config, &pod.sandbox_id, absl::Seconds(20));
    ASSERT_TRUE(status.ok()) << Describe(status);
    pods_.push_back(pod.sandbox_id);
  }
  {
    SCOPED_TRACE("CreateContainer of the verified image, by id");
    CreateContainerResponse created;
    auto ctx = Context(absl::Seconds(20));
    grpc::Status status = main_->client->runtime().CreateContainer(
        ctx.get(), ContainerRequest(pod.sandbox_id, pod.config, "verified", image_id), &created);
    EXPECT_TRUE(status.ok()) << Describe(status);
  }
  const absl::Duration while_slow = absl::Now() - started;

  // Each slow verification ends at its budget with a refusal that names it, well before its
  // 20 blobs could have been fetched.
  slow_pulls.Join();
  for (const grpc::Status& status : slow_answers) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << Describe(status);
    EXPECT_THAT(status.error_message(), HasSubstr("RegistryUnavailable: ")) << Describe(status);
    EXPECT_THAT(status.error_message(), HasSubstr("verification_timeout")) << Describe(status);
  }
  std::cout << "[ observed ] verified-image calls answered " << absl::FormatDuration(while_slow)
            << " after six slow pulls started; the slow pulls ended after "
            << absl::FormatDuration(absl::Now() - started) << " (" << slow_->blob_requests() - blobs_before
            << " blob requests)\n";
}

// A verification kept fetching signature blobs after its caller had gone.
TEST_F(BypassTest, AVerificationStopsWhenItsCallerLeaves) {
  const int before = slow_->blob_requests();
  grpc::Status status = PullImage(*main_->client, absl::StrCat(slow_->host_port(), "/slow/abandoned:v1"), kNamespace,
                                  nullptr, nullptr, absl::Seconds(2));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(status);
  absl::SleepFor(kBlobDelay + absl::Seconds(1));  // the blob request in flight, if any, ends
  const int settled = slow_->blob_requests();
  absl::SleepFor(3 * kBlobDelay);  // a verification still running would fetch three more meanwhile
  EXPECT_EQ(slow_->blob_requests(), settled) << "the verification went on after its caller left";
  EXPECT_LE(settled - before, 2);
  EXPECT_THAT(testbed::FileTail(main_->log, 1 << 20), HasSubstr("nobody waits"));
}

// SIGTERM with verifications stuck on the registry took minutes; it must end within shutdown_grace.
TEST_F(BypassTest, ZzSigtermEndsWithinShutdownGraceWhateverIsInFlight) {
  Shim* shim = nullptr;
  ASSERT_NO_FATAL_FAILURE(StartShim("sigterm", &shim));
  std::unique_ptr<Shim> owned(shim);
  JoinedThreads pulls;
  const int before = slow_->blob_requests();
  for (int i = 0; i < 4; ++i) {
    pulls.Start([&, i] {
      (void)PullImage(*shim->client, absl::StrCat(slow_->host_port(), "/slow/sigterm", i, ":v1"), kNamespace, nullptr,
                      nullptr, absl::Seconds(120));
    });
  }
  ASSERT_TRUE(testbed::Eventually([&] { return slow_->blob_requests() > before + 1; }, absl::Seconds(30), absl::Milliseconds(50)));
  const absl::Time sent = absl::Now();
  ASSERT_EQ(kill(shim->process->pid(), SIGTERM), 0);
  ASSERT_TRUE(testbed::Eventually([&] { return !shim->process->Running(); }, absl::Seconds(60), absl::Milliseconds(20)));
  const absl::Duration took = absl::Now() - sent;
  absl::Duration grace;
  ASSERT_TRUE(absl::ParseDuration(kShutdownGrace, &grace));
  EXPECT_LE(took, grace + absl::Seconds(1)) << "SIGTERM took " << absl::FormatDuration(took);
  EXPECT_FALSE(Exists(shim->socket)) << "the socket was left behind";
  pulls.Join();
  std::cout << "[ observed ] SIGTERM with 4 slow verifications in flight: exited after " << absl::FormatDuration(took)
            << " (" << shim->process->ExitDescription() << ")\n";
}

}  // namespace
}  // namespace sigshim::e2e
