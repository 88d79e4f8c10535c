// sigshim is transparent: every CRI call made through it against a real containerd 1.6 gets the
// answer the same call gets from containerd directly, for both API versions, with streams,
// cancellation, errors, a runtime restart and concurrent load. Needs root.
//
// One test bed (registry, containerd, sigshim) serves the whole suite; tests run in declaration
// order and each leaves containerd as it found it (no pods, the suite's images only).
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/testbed/poll.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::Contains;
using ::testing::HasSubstr;
using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr absl::Duration kPollInterval = absl::Milliseconds(100);
constexpr char kRepository[] = "e2e/busybox";

// Polls `done` until it returns true or `timeout` passes (see testbed::Eventually).
template <typename F>
bool Eventually(F done, absl::Duration timeout = absl::Seconds(60)) {
  return testbed::Eventually(done, timeout, kPollInterval);
}

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

// Returns VmRSS of `pid` in KiB, or -1.
int64_t RssKib(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      std::istringstream fields(line.substr(6));
      int64_t kib = -1;
      fields >> kib;
      return kib;
    }
  }
  return -1;
}

// Returns the pids whose command line is exactly `argv` joined by spaces.
std::vector<pid_t> ProcessesRunning(const std::string& command_line) {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* entry = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    std::ifstream in(absl::StrCat("/proc/", pid, "/cmdline"), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string cmdline = absl::StrReplaceAll(text.str(), {{std::string(1, '\0'), " "}});
    while (!cmdline.empty() && cmdline.back() == ' ') cmdline.pop_back();
    if (cmdline == command_line) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

// Collects a GetContainerEvents stream on a thread until Stop().
class EventWatcher {
 public:
  explicit EventWatcher(CriClient& client) {
    thread_ = std::thread([this, &client] {
      GetEventsRequest request;
      auto reader = client.runtime().GetContainerEvents(&context_, request);
      ContainerEventResponse event;
      while (reader->Read(&event)) {
        absl::MutexLock lock(&mu_);
        events_.push_back(event);
      }
      grpc::Status status = reader->Finish();
      absl::MutexLock lock(&mu_);
      final_status_ = status;
      finished_ = true;
    });
  }
  ~EventWatcher() { Stop(); }

  // Cancels the stream and returns its final status.
  grpc::Status Stop() {
    context_.TryCancel();
    if (thread_.joinable()) thread_.join();
    absl::MutexLock lock(&mu_);
    return final_status_;
  }

  bool finished() {
    absl::MutexLock lock(&mu_);
    return finished_;
  }

  grpc::Status final_status() {
    absl::MutexLock lock(&mu_);
    return final_status_;
  }

  // Returns the event types seen so far for `container_id`, in order.
  std::vector<ContainerEventType> TypesFor(const std::string& container_id) {
    absl::MutexLock lock(&mu_);
    std::vector<ContainerEventType> out;
    for (const ContainerEventResponse& e : events_) {
      if (e.container_id() == container_id) out.push_back(e.container_event_type());
    }
    return out;
  }

 private:
  grpc::ClientContext context_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<ContainerEventResponse> events_ ABSL_GUARDED_BY(mu_);
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// What one pod lifecycle produced.
struct LifecycleRun {
  std::string sandbox_id;
  std::string container_id;
  ContainerStatusResponse final_status;
  std::string log;
};

class TransparencyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // every test skips
    auto bed = testbed::TestBed::Create({.name = "sigshim-e2e"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    auto image = bed_->BuildImage("busybox", {"/bin/sh"}, "e2e");
    ASSERT_TRUE(image.ok()) << image.status();
    auto digest = testbed::PushImage(*image, *bed_->registry(), kRepository, "1");
    ASSERT_TRUE(digest.ok()) << digest.status();
    image_ = new std::string(absl::StrCat(bed_->registry()->host_port(), "/", kRepository, ":1"));
    digest_ = new std::string(*digest);
    auto registry = StartAuthRegistry(*bed_, "e2e-user", "e2e-password");
    ASSERT_TRUE(registry.ok()) << registry.status();
    auth_registry_ = registry->release();
    auto pushed = testbed::PushImage(*image, *auth_registry_, "private/busybox", "1");
    ASSERT_TRUE(pushed.ok()) << pushed.status();
    direct_ = new CriClient(bed_->containerd()->socket_path());
    VersionResponse version;
    grpc::Status status = direct_->runtime().Version(Context().get(), VersionRequest(), &version);
    ASSERT_TRUE(status.ok()) << Describe(status);
    runtime_version_ = new std::string(version.runtime_version());
#ifdef SIGSHIM_BINARY
    ASSERT_NO_FATAL_FAILURE(StartSigshim());
    proxy_ = new CriClient(bed_->dir().Path("sigshim.sock"));
#endif
  }

  static void TearDownTestSuite() {
    delete proxy_;
    proxy_ = nullptr;
    delete direct_;
    direct_ = nullptr;
    if (sigshim_ != nullptr) {
      absl::Status stopped = sigshim_->Stop(absl::Seconds(15));
      EXPECT_TRUE(stopped.ok()) << stopped;
      delete sigshim_;
      sigshim_ = nullptr;
    }
    delete auth_registry_;
    auth_registry_ = nullptr;
    delete bed_;
    bed_ = nullptr;
    delete image_;
    delete digest_;
    delete runtime_version_;
  }

  static void StartSigshim() {
#ifdef SIGSHIM_BINARY
    std::string config = absl::StrCat(
        "[server]\n"
        "listen = \"", bed_->dir().Path("sigshim.sock"), "\"\n"
        "runtime_endpoint = \"", bed_->containerd()->socket_path(), "\"\n"
        "state_dir = \"", bed_->dir().Path("sigshim-state"), "\"\n"
        "[metrics]\n"
        "listen = \"\"\n"
        "[log]\n"
        "level = \"debug\"\n"
        // The suite is about forwarding: images that no policy names are let through.
        "[enforcement]\n"
        "unmatched = \"allow\"\n"
        "[registry]\n"
        "insecure = [\"", bed_->registry()->host_port(), "\", \"", auth_registry_->host_port(), "\"]\n");
    std::string config_path = bed_->dir().Path("sigshim.toml");
    ASSERT_TRUE(WriteFileAtomic(config_path, config, 0644).ok());
    testbed::SubprocessOptions options =
        SigshimCommand(SIGSHIM_BINARY, config_path, bed_->dir().Path("sigshim.log"), bed_->dir().path());
    // SIGSHIM_E2E_GDB=1 runs sigshim under gdb, which prints every thread's stack into sigshim's
    // log if it crashes (the memory check then measures gdb, so expect it to fail).
    const char* gdb = std::getenv("SIGSHIM_E2E_GDB");
    if (gdb != nullptr && std::string(gdb) == "1") {
      options.argv.insert(options.argv.begin(), {"gdb", "-batch", "-return-child-result", "-ex", "run", "-ex",
                                                 "thread apply all bt", "--args"});
    }
    auto process = e2e::StartSigshim(options, bed_->dir().Path("sigshim.sock"));
    ASSERT_TRUE(process.ok()) << process.status();
    sigshim_ = process->release();
#endif
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || direct_ == nullptr) FAIL() << "the test bed did not start";
  }

  void TearDown() override {
    if (sigshim_ != nullptr && !sigshim_->Running()) {
      ADD_FAILURE() << "sigshim " << sigshim_->ExitDescription() << " during this test; end of its log:\n"
                    << sigshim_->LogTail(16384);
      // A fresh sigshim for the next tests, so that one crash fails one test, not all that follow.
      delete sigshim_;
      sigshim_ = nullptr;
      StartSigshim();
    }
  }

  // Skips the test when the sigshim binary is not part of this build.
  static bool HaveProxy() { return proxy_ != nullptr; }

  // Both endpoints, proxy first when present.
  static std::vector<std::pair<std::string, CriClient*>> Endpoints() {
    std::vector<std::pair<std::string, CriClient*>> out;
    if (proxy_ != nullptr) out.emplace_back("sigshim", proxy_);
    out.emplace_back("containerd", direct_);
    return out;
  }

  // Returns true when the runtime serves GetContainerEvents (containerd 1.7 and later).
  static bool RuntimeHasContainerEvents() {
    int major = 0, minor = 0;
    std::string version = *runtime_version_;
    if (!version.empty() && version[0] == 'v') version.erase(0, 1);
    if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) return true;
    return major > 1 || (major == 1 && minor >= 7);
  }

  static std::string SigshimLog() { return sigshim_ == nullptr ? "" : sigshim_->LogTail(1 << 20); }

  static void Pull(CriClient& client, const std::string& image, std::string* image_ref = nullptr) {
    PullImageRequest request;
    request.mutable_image()->set_image(image);
    PullImageResponse response;
    grpc::Status status = client.images().PullImage(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << "PullImage " << image << ": " << Describe(status);
    if (image_ref != nullptr) *image_ref = response.image_ref();
  }

  static ImageStatusResponse ImageStatusOf(CriClient& client, const std::string& image) {
    ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    ImageStatusResponse response;
    grpc::Status status = client.images().ImageStatus(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return response;
  }

  static ListImagesResponse SortedImages(CriClient& client) {
    ListImagesResponse response;
    grpc::Status status = client.images().ListImages(Context().get(), ListImagesRequest(), &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    std::sort(response.mutable_images()->begin(), response.mutable_images()->end(),
              [](const Image& a, const Image& b) { return a.id() < b.id(); });
    return response;
  }

  static PodSandboxConfig SandboxConfig(const std::string& name) {
    PodSandboxConfig config = HostNetworkPod(name, "e2e", bed_->dir().Path(absl::StrCat("pods/", name)));
    (*config.mutable_labels())["sigshim-e2e"] = name;
    return config;
  }

  // Runs a pod whose one container runs `command`; waits for the container to exit unless
  // `wait_for_exit` is false (then the pod stays up and the caller removes it with RemovePod).
  static void RunPod(CriClient& client, const std::string& name, const std::vector<std::string>& command,
                     LifecycleRun* run, bool wait_for_exit = true) {
    PodSandboxConfig sandbox = SandboxConfig(name);
    grpc::Status status = RunPodSandbox(client, sandbox, &run->sandbox_id, absl::Seconds(60));
    ASSERT_TRUE(status.ok()) << Describe(status);

    CreateContainerRequest create = ContainerRequest(run->sandbox_id, sandbox, "main", *image_);
    for (const std::string& arg : command) create.mutable_config()->add_command(arg);
    CreateContainerResponse created;
    status = client.runtime().CreateContainer(Context().get(), create, &created);
    ASSERT_TRUE(status.ok()) << "CreateContainer: " << Describe(status);
    run->container_id = created.container_id();

    StartContainerRequest start;
    start.set_container_id(run->container_id);
    StartContainerResponse started;
    status = client.runtime().StartContainer(Context().get(), start, &started);
    ASSERT_TRUE(status.ok()) << "StartContainer: " << Describe(status);
    if (!wait_for_exit) return;

    bool exited = WaitForExit(client, run->container_id, &run->final_status);
    ASSERT_TRUE(exited) << "container " << run->container_id << " never exited";
    auto log = ReadFile(absl::StrCat(sandbox.log_directory(), "/main_0.log"), 1 << 20);
    ASSERT_TRUE(log.ok()) << log.status();
    run->log = *log;
  }

  static void RemovePod(CriClient& client, const std::string& sandbox_id) {
    grpc::Status status = e2e::RemovePod(client, sandbox_id);
    EXPECT_TRUE(status.ok()) << Describe(status);
  }

  static testbed::TestBed* bed_;
  static testbed::Subprocess* sigshim_;
  static testbed::Registry* auth_registry_;  // basic auth: e2e-user / e2e-password
  static CriClient* direct_;
  static CriClient* proxy_;
  static std::string* image_;   // "127.0.0.1:PORT/e2e/busybox:1"
  static std::string* digest_;  // its manifest digest
  static std::string* runtime_version_;  // containerd's, e.g. "1.6.20~ds1"
};

testbed::TestBed* TransparencyTest::bed_ = nullptr;
testbed::Subprocess* TransparencyTest::sigshim_ = nullptr;
testbed::Registry* TransparencyTest::auth_registry_ = nullptr;
CriClient* TransparencyTest::direct_ = nullptr;
CriClient* TransparencyTest::proxy_ = nullptr;
std::string* TransparencyTest::image_ = nullptr;
std::string* TransparencyTest::digest_ = nullptr;
std::string* TransparencyTest::runtime_version_ = nullptr;

#define REQUIRE_PROXY()                                                          \
  do {                                                                           \
    if (!HaveProxy()) FAIL() << "this build has no sigshim binary (shim/)";     \
  } while (0)

// Direct checks of the test bed that do not need sigshim, so that a build without shim/ still
// exercises containerd and the registry.
TEST_F(TransparencyTest, DirectPodLifecycleWorks) {
  ASSERT_NO_FATAL_FAILURE(Pull(*direct_, *image_));
  LifecycleRun run;
  ASSERT_NO_FATAL_FAILURE(RunPod(*direct_, "direct", {"/bin/echo", "hello"}, &run));
  EXPECT_EQ(run.final_status.status().exit_code(), 0);
  EXPECT_THAT(run.log, HasSubstr("hello"));
  RemovePod(*direct_, run.sandbox_id);
}

TEST_F(TransparencyTest, VersionIsIdentical) {
  REQUIRE_PROXY();
  VersionRequest request;
  request.set_version("v1");
  VersionResponse direct, proxied;
  grpc::Status status = direct_->runtime().Version(Context().get(), request, &direct);
  ASSERT_TRUE(status.ok()) << Describe(status);
  status = proxy_->runtime().Version(Context().get(), request, &proxied);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_TRUE(MessageDifferencer::Equals(direct, proxied))
      << direct.DebugString() << " vs " << proxied.DebugString();
  EXPECT_EQ(direct.runtime_name(), "containerd");
  // With level "debug", sigshim logs one line per call: method and status code (and latency).
  EXPECT_TRUE(Eventually([] {
    return absl::StrContains(SigshimLog(), "/runtime.v1.RuntimeService/Version code=0");
  })) << SigshimLog();
}

TEST_F(TransparencyTest, PullCredentialsAreForwardedButNeverLogged) {
  REQUIRE_PROXY();
  // The test registry asks for no credentials, so containerd never sends them and the pull
  // succeeds; what matters is that none of them shows up in sigshim's log.
  const std::string secret = "e2e-s3cret-" + std::to_string(getpid());
  PullImageRequest request;
  request.mutable_image()->set_image(*image_);
  request.mutable_auth()->set_username("e2e-user-" + secret);
  request.mutable_auth()->set_password("e2e-password-" + secret);
  request.mutable_auth()->set_auth("e2e-auth-" + secret);
  request.mutable_auth()->set_identity_token("e2e-identity-" + secret);
  request.mutable_auth()->set_registry_token("e2e-registry-" + secret);
  PullImageResponse proxied, direct;
  grpc::Status status = proxy_->images().PullImage(Context().get(), request, &proxied);
  ASSERT_TRUE(status.ok()) << Describe(status);
  status = direct_->images().PullImage(Context().get(), request, &direct);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(proxied.image_ref(), direct.image_ref());
  EXPECT_TRUE(Eventually([] { return absl::StrContains(SigshimLog(), "PullImage"); })) << SigshimLog();
  EXPECT_THAT(SigshimLog(), ::testing::Not(HasSubstr(secret)));
}

TEST_F(TransparencyTest, PullFromRegistryWithAuthBehavesAsDirectly) {
  REQUIRE_PROXY();
  PullImageRequest request;
  request.mutable_image()->set_image(absl::StrCat(auth_registry_->host_port(), "/private/busybox:1"));
  // Without credentials: refused by the registry, the same way on both paths.
  PullImageResponse proxied, direct;
  grpc::Status proxied_status = proxy_->images().PullImage(Context().get(), request, &proxied);
  grpc::Status direct_status = direct_->images().PullImage(Context().get(), request, &direct);
  EXPECT_FALSE(direct_status.ok());
  EXPECT_EQ(proxied_status.error_code(), direct_status.error_code()) << Describe(proxied_status);
  EXPECT_EQ(proxied_status.error_message(), direct_status.error_message());
  // With the credentials kubelet would pass: the same image.
  request.mutable_auth()->set_username("e2e-user");
  request.mutable_auth()->set_password("e2e-password");
  proxied_status = proxy_->images().PullImage(Context().get(), request, &proxied);
  ASSERT_TRUE(proxied_status.ok()) << Describe(proxied_status);
  direct_status = direct_->images().PullImage(Context().get(), request, &direct);
  ASSERT_TRUE(direct_status.ok()) << Describe(direct_status);
  EXPECT_EQ(proxied.image_ref(), direct.image_ref());
  EXPECT_THAT(SigshimLog(), ::testing::Not(HasSubstr("e2e-password")));
  RemoveImageRequest remove;
  remove.mutable_image()->set_image(request.image().image());
  RemoveImageResponse removed;
  EXPECT_TRUE(direct_->images().RemoveImage(Context().get(), remove, &removed).ok());
}

TEST_F(TransparencyTest, ImageCallsAreIdentical) {
  REQUIRE_PROXY();
  const std::string by_digest = absl::StrCat(bed_->registry()->host_port(), "/", kRepository, "@", *digest_);

  // PullImage by tag through sigshim, then directly: the same image.
  std::string proxied_ref, direct_ref;
  ASSERT_NO_FATAL_FAILURE(Pull(*proxy_, *image_, &proxied_ref));
  ASSERT_NO_FATAL_FAILURE(Pull(*direct_, *image_, &direct_ref));
  EXPECT_EQ(proxied_ref, direct_ref);
  EXPECT_TRUE(absl::StartsWith(proxied_ref, "sha256:")) << proxied_ref;

  // ImageStatus by tag, by digest and by id.
  for (const std::string& name : {*image_, by_digest, proxied_ref}) {
    ImageStatusResponse direct = ImageStatusOf(*direct_, name);
    ImageStatusResponse proxied = ImageStatusOf(*proxy_, name);
    ASSERT_TRUE(direct.has_image()) << name;
    EXPECT_TRUE(MessageDifferencer::Equals(direct, proxied)) << name << "\n"
                                                            << direct.DebugString() << " vs\n"
                                                            << proxied.DebugString();
  }
  ImageStatusResponse status = ImageStatusOf(*proxy_, *image_);
  EXPECT_THAT(status.image().repo_tags(), Contains(*image_));
  EXPECT_THAT(status.image().repo_digests(), Contains(by_digest));

  // ListImages: the same set (containerd's order is not stable, so both are sorted).
  ListImagesResponse direct_list = SortedImages(*direct_);
  ListImagesResponse proxied_list = SortedImages(*proxy_);
  EXPECT_TRUE(MessageDifferencer::Equals(direct_list, proxied_list))
      << direct_list.DebugString() << " vs\n"
      << proxied_list.DebugString();
  EXPECT_GE(proxied_list.images_size(), 2);  // the sandbox image and the pulled one

  // RemoveImage through sigshim: gone for both views.
  RemoveImageRequest remove;
  remove.mutable_image()->set_image(*image_);
  RemoveImageResponse removed;
  grpc::Status s = proxy_->images().RemoveImage(Context().get(), remove, &removed);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_FALSE(ImageStatusOf(*proxy_, *image_).has_image());
  EXPECT_FALSE(ImageStatusOf(*direct_, *image_).has_image());
  // Removing it again answers the same way on both paths.
  grpc::Status again_proxied = proxy_->images().RemoveImage(Context().get(), remove, &removed);
  grpc::Status again_direct = direct_->images().RemoveImage(Context().get(), remove, &removed);
  EXPECT_EQ(again_proxied.error_code(), again_direct.error_code());
  EXPECT_EQ(again_proxied.error_message(), again_direct.error_message());
}

TEST_F(TransparencyTest, PodLifecycleWorksThroughSigshimAsDirectly) {
  REQUIRE_PROXY();
  std::map<std::string, LifecycleRun> runs;
  for (auto& [name, client] : Endpoints()) {
    SCOPED_TRACE(name);
    ASSERT_NO_FATAL_FAILURE(Pull(*client, *image_));
    LifecycleRun& run = runs[name];
    ASSERT_NO_FATAL_FAILURE(RunPod(*client, absl::StrCat("echo-via-", name), {"/bin/echo", "hello"}, &run));
    EXPECT_EQ(run.final_status.status().exit_code(), 0);
    EXPECT_EQ(run.final_status.status().reason(), "Completed");
    EXPECT_THAT(run.log, HasSubstr("stdout F hello"));

    // The same container seen through the other path is described identically.
    ContainerStatusRequest request;
    request.set_container_id(run.container_id);
    ContainerStatusResponse direct, proxied;
    ASSERT_TRUE(direct_->runtime().ContainerStatus(Context().get(), request, &direct).ok());
    ASSERT_TRUE(proxy_->runtime().ContainerStatus(Context().get(), request, &proxied).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(direct, proxied)) << direct.DebugString() << " vs\n"
                                                            << proxied.DebugString();
    PodSandboxStatusRequest sandbox_request;
    sandbox_request.set_pod_sandbox_id(run.sandbox_id);
    PodSandboxStatusResponse sandbox_direct, sandbox_proxied;
    ASSERT_TRUE(direct_->runtime().PodSandboxStatus(Context().get(), sandbox_request, &sandbox_direct).ok());
    ASSERT_TRUE(proxy_->runtime().PodSandboxStatus(Context().get(), sandbox_request, &sandbox_proxied).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(sandbox_direct, sandbox_proxied));
    EXPECT_EQ(sandbox_proxied.status().state(), SANDBOX_READY);

    ListContainersRequest list;
    list.mutable_filter()->set_pod_sandbox_id(run.sandbox_id);
    ListContainersResponse list_direct, list_proxied;
    ASSERT_TRUE(direct_->runtime().ListContainers(Context().get(), list, &list_direct).ok());
    ASSERT_TRUE(proxy_->runtime().ListContainers(Context().get(), list, &list_proxied).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(list_direct, list_proxied));
    EXPECT_EQ(list_proxied.containers_size(), 1);

    RemovePod(*client, run.sandbox_id);
    // Gone for both views.
    grpc::Status gone = proxy_->runtime().ContainerStatus(Context().get(), request, &proxied);
    EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(gone);
  }
  // Both runs produced the same observable outcome.
  EXPECT_EQ(runs["sigshim"].final_status.status().exit_code(), runs["containerd"].final_status.status().exit_code());
  EXPECT_EQ(runs["sigshim"].final_status.status().image_ref(), runs["containerd"].final_status.status().image_ref());
}

TEST_F(TransparencyTest, ContainerEventsStreamThroughSigshim) {
  REQUIRE_PROXY();
  ASSERT_NO_FATAL_FAILURE(Pull(*direct_, *image_));
  if (!RuntimeHasContainerEvents()) {
    // containerd < 1.7 answers UNIMPLEMENTED at once: sigshim must end the stream the same way.
    EventWatcher proxied(*proxy_);
    EventWatcher direct(*direct_);
    ASSERT_TRUE(Eventually([&] { return proxied.finished() && direct.finished(); }));
    grpc::Status p = proxied.final_status(), d = direct.final_status();
    EXPECT_EQ(d.error_code(), grpc::StatusCode::UNIMPLEMENTED) << Describe(d);
    EXPECT_EQ(p.error_code(), d.error_code()) << Describe(p);
    EXPECT_EQ(p.error_message(), d.error_message());
    EXPECT_TRUE(proxied.TypesFor("").empty());
    std::cout << "[   NOTE   ] containerd " << *runtime_version_
              << " has no GetContainerEvents (1.7+): only the UNIMPLEMENTED relay was checked\n";
    return;
  }
  EventWatcher proxied(*proxy_);
  EventWatcher direct(*direct_);
  // Nothing tells a client when its subscription is in place upstream; a pause makes it very
  // likely that both are before the container appears (a missed CREATED shows as a clear failure).
  absl::SleepFor(absl::Seconds(1));
  LifecycleRun run;
  ASSERT_NO_FATAL_FAILURE(RunPod(*direct_, "events", {"/bin/sleep", "2147483647"}, &run, false));
  bool seen = Eventually([&] {
    auto via_sigshim = proxied.TypesFor(run.container_id);
    auto via_containerd = direct.TypesFor(run.container_id);
    return std::count(via_sigshim.begin(), via_sigshim.end(), CONTAINER_STARTED_EVENT) > 0 &&
           std::count(via_containerd.begin(), via_containerd.end(), CONTAINER_STARTED_EVENT) > 0;
  });
  RemovePod(*direct_, run.sandbox_id);
  ASSERT_TRUE(seen) << "via sigshim: " << Describe(proxied.final_status())
                    << "; direct: " << Describe(direct.final_status());
  // Both streams report the same sequence for the container (created, started, stopped, deleted).
  EXPECT_TRUE(Eventually([&] {
    return proxied.TypesFor(run.container_id).size() >= 4 && direct.TypesFor(run.container_id).size() >= 4;
  }));
  EXPECT_EQ(proxied.TypesFor(run.container_id), direct.TypesFor(run.container_id));
  EXPECT_THAT(proxied.TypesFor(run.container_id), Contains(CONTAINER_CREATED_EVENT));
  EXPECT_FALSE(proxied.finished());
  grpc::Status end = proxied.Stop();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::CANCELLED) << Describe(end);
}

TEST_F(TransparencyTest, V1alpha2MethodsWorkThroughSigshim) {
  REQUIRE_PROXY();
  ASSERT_NO_FATAL_FAILURE(Pull(*direct_, *image_));
  VersionRequest version;
  version.set_version("v1alpha2");
  ImageStatusRequest image_status;
  image_status.mutable_image()->set_image(*image_);
  ContainerStatusRequest unknown_container;
  unknown_container.set_container_id("no-such-container");
  ListContainersRequest empty;  // also a valid (empty) ListPodSandboxRequest
  const std::vector<std::pair<std::string, const google::protobuf::Message*>> calls = {
      {"/runtime.v1alpha2.RuntimeService/Version", &version},
      {"/runtime.v1alpha2.ImageService/ImageStatus", &image_status},
      {"/runtime.v1alpha2.RuntimeService/ListContainers", &empty},
      {"/runtime.v1alpha2.RuntimeService/ListPodSandbox", &empty},
      {"/runtime.v1alpha2.RuntimeService/ContainerStatus", &unknown_container},
      {"/runtime.v1.RuntimeService/ContainerStatus", &unknown_container},
  };
  for (const auto& [method, request] : calls) {
    SCOPED_TRACE(method);
    RawResult direct = direct_->CallRaw(method, *request);
    RawResult proxied = proxy_->CallRaw(method, *request);
    EXPECT_EQ(direct.status.error_code(), proxied.status.error_code()) << Describe(proxied.status);
    EXPECT_EQ(direct.status.error_message(), proxied.status.error_message());
    EXPECT_EQ(direct.response, proxied.response);  // byte for byte
  }
  // v1alpha2 answers with its own version string, so the call did reach the v1alpha2 service.
  VersionResponse response;
  grpc::Status status = proxy_->Call("/runtime.v1alpha2.RuntimeService/Version", version, &response);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(response.runtime_api_version(), "v1alpha2");
  // ListImages in v1alpha2 has the same content as in v1 (order aside).
  ListImagesResponse alpha;
  ASSERT_TRUE(proxy_->Call("/runtime.v1alpha2.ImageService/ListImages", ListImagesRequest(), &alpha).ok());
  EXPECT_EQ(alpha.images_size(), SortedImages(*direct_).images_size());
}

TEST_F(TransparencyTest, ErrorsComeBackWithTheSameCodeAndMessage) {
  REQUIRE_PROXY();
  ContainerStatusRequest container;
  container.set_container_id("0123456789abcdef-no-such-container");
  PodSandboxStatusRequest sandbox;
  sandbox.set_pod_sandbox_id("no-such-sandbox");
  StartContainerRequest start;
  start.set_container_id("no-such-container");
  RemoveContainerRequest remove;
  ExecSyncRequest exec;
  exec.set_container_id("no-such-container");
  exec.add_cmd("/bin/true");
  const std::vector<std::pair<std::string, const google::protobuf::Message*>> calls = {
      {"/runtime.v1.RuntimeService/ContainerStatus", &container},
      {"/runtime.v1.RuntimeService/PodSandboxStatus", &sandbox},
      {"/runtime.v1.RuntimeService/StartContainer", &start},
      {"/runtime.v1.RuntimeService/RemoveContainer", &remove},
      {"/runtime.v1.RuntimeService/ExecSync", &exec},
  };
  for (const auto& [method, request] : calls) {
    SCOPED_TRACE(method);
    RawResult direct = direct_->CallRaw(method, *request);
    RawResult proxied = proxy_->CallRaw(method, *request);
    EXPECT_FALSE(direct.status.ok());
    EXPECT_EQ(direct.status.error_code(), proxied.status.error_code()) << Describe(proxied.status);
    EXPECT_EQ(direct.status.error_message(), proxied.status.error_message());
  }
  ContainerStatusResponse response;
  grpc::Status status = proxy_->runtime().ContainerStatus(Context().get(), container, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(status);
  // A method the CRI does not define, or an unknown API version: the runtime would answer
  // UNIMPLEMENTED; sigshim answers so itself and never forwards such a call (its socket serves the
  // CRI and nothing else), with a message that says why.
  for (const std::string method : {"/runtime.v1.RuntimeService/NoSuchMethod", "/runtime.v9.RuntimeService/Version"}) {
    SCOPED_TRACE(method);
    RawResult direct = direct_->CallRaw(method, exec);
    RawResult proxied = proxy_->CallRaw(method, exec);
    EXPECT_EQ(direct.status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << Describe(direct.status);
    EXPECT_EQ(proxied.status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << Describe(proxied.status);
    EXPECT_THAT(proxied.status.error_message(), HasSubstr("sigshim serves only the CRI"));
  }
}

TEST_F(TransparencyTest, CancelledCallsEndUpstream) {
  REQUIRE_PROXY();
  ASSERT_NO_FATAL_FAILURE(Pull(*direct_, *image_));
  LifecycleRun run;
  ASSERT_NO_FATAL_FAILURE(RunPod(*direct_, "cancel", {"/bin/sleep", "2147483647"}, &run, false));

  // A unary call whose client gives up (deadline, then explicit cancel): containerd's ExecSync
  // kills the exec'd process when its own call context ends, so the process going away shows
  // that sigshim carried the end of the call upstream.
  for (const bool explicit_cancel : {false, true}) {
    SCOPED_TRACE(explicit_cancel ? "TryCancel" : "deadline");
    const std::string marker = explicit_cancel ? "31337" : "31338";
    ExecSyncRequest exec;
    exec.set_container_id(run.container_id);
    exec.add_cmd("/bin/sleep");
    exec.add_cmd(marker);
    exec.set_timeout(0);  // no runtime-side timeout
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + (explicit_cancel ? absl::Seconds(120)
                                                                              : absl::Seconds(3))));
    std::thread canceller;
    if (explicit_cancel) {
      canceller = std::thread([&] {
        Eventually([&] { return !ProcessesRunning("/bin/sleep " + marker).empty(); }, absl::Seconds(60));
        context.TryCancel();
      });
    }
    ExecSyncResponse response;
    grpc::Status status = proxy_->runtime().ExecSync(&context, exec, &response);
    if (canceller.joinable()) canceller.join();
    EXPECT_EQ(status.error_code(), explicit_cancel ? grpc::StatusCode::CANCELLED
                                                   : grpc::StatusCode::DEADLINE_EXCEEDED)
        << Describe(status);
    EXPECT_TRUE(Eventually([&] { return ProcessesRunning("/bin/sleep " + marker).empty(); }))
        << "the exec'd process still runs: containerd never saw the call end";
  }

  // A stream the client cancels ends upstream too: sigshim's debug log records the end of its
  // upstream call with CANCELLED (code 1). Only runtimes with GetContainerEvents keep it open.
  if (RuntimeHasContainerEvents()) {
    EventWatcher watcher(*proxy_);
    absl::SleepFor(absl::Seconds(1));  // lets the call reach containerd before it is cancelled
    grpc::Status end = watcher.Stop();
    EXPECT_EQ(end.error_code(), grpc::StatusCode::CANCELLED) << Describe(end);
    EXPECT_TRUE(Eventually([&] {
      return absl::StrContains(SigshimLog(), "/runtime.v1.RuntimeService/GetContainerEvents code=1");
    })) << SigshimLog();
  }
  RemovePod(*direct_, run.sandbox_id);
}

TEST_F(TransparencyTest, ConcurrentCallsSucceedWithoutGrowingMemory) {
  REQUIRE_PROXY();
  ASSERT_NO_FATAL_FAILURE(Pull(*direct_, *image_));
  constexpr int kThreads = 32;
  constexpr int kCallsPerThread = 32;  // 1,024 calls per round
  std::vector<std::unique_ptr<CriClient>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<CriClient>(proxy_->socket_path()));
  auto round = [&]() -> std::pair<int, std::string> {
    std::atomic<int> failures{0};
    absl::Mutex mu;
    std::string first_error;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        CriClient& client = *clients[t % clients.size()];
        for (int i = 0; i < kCallsPerThread; ++i) {
          grpc::Status status;
          switch ((t + i) % 3) {
            case 0: {
              ImageStatusRequest request;
              request.mutable_image()->set_image(*image_);
              ImageStatusResponse response;
              status = client.images().ImageStatus(Context().get(), request, &response);
              if (status.ok() && !response.has_image()) status = grpc::Status(grpc::StatusCode::INTERNAL, "no image");
              break;
            }
            case 1: {
              ListContainersResponse response;
              status = client.runtime().ListContainers(Context().get(), ListContainersRequest(), &response);
              break;
            }
            default: {
              VersionResponse response;
              status = client.runtime().Version(Context().get(), VersionRequest(), &response);
              if (status.ok() && response.runtime_name() != "containerd") {
                status = grpc::Status(grpc::StatusCode::INTERNAL, "wrong runtime name");
              }
            }
          }
          if (!status.ok()) {
            failures++;
            absl::MutexLock lock(&mu);
            if (first_error.empty()) first_error = Describe(status);
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    return {failures.load(), first_error};
  };
  auto [warmup_failures, warmup_error] = round();
  ASSERT_EQ(warmup_failures, 0) << warmup_error;
  const int64_t before = RssKib(sigshim_->pid());
  for (int i = 0; i < 3; ++i) {
    auto [failures, error] = round();
    ASSERT_EQ(failures, 0) << error;
  }
  const int64_t after = RssKib(sigshim_->pid());
  ASSERT_GT(before, 0);
  std::cout << "[   NOTE   ] sigshim VmRSS after warm-up " << before << " KiB, after 3,072 more calls "
            << after << " KiB\n";
  EXPECT_LT(after - before, 16 * 1024) << "VmRSS grew from " << before << " KiB to " << after << " KiB";
}

// Runs last: it restarts containerd under a running sigshim.
TEST_F(TransparencyTest, ZzSigshimSurvivesContainerdRestart) {
  REQUIRE_PROXY();
  testbed::Containerd& containerd = *bed_->containerd();
  ASSERT_TRUE(containerd.Kill().ok());
  VersionResponse response;
  grpc::Status status = proxy_->runtime().Version(Context().get(), VersionRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(status);
  ImageStatusRequest image_status;
  image_status.mutable_image()->set_image(*image_);
  ImageStatusResponse image_response;
  status = proxy_->images().ImageStatus(Context().get(), image_status, &image_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(status);
  ASSERT_TRUE(sigshim_->Running()) << sigshim_->LogTail();

  absl::Status restarted = containerd.Start();
  ASSERT_TRUE(restarted.ok()) << restarted;
  // sigshim reconnects on its own (its reconnect backoff decides when): poll, never time it.
  grpc::Status last;
  EXPECT_TRUE(Eventually([&] {
    last = proxy_->runtime().Version(Context().get(), VersionRequest(), &response);
    return last.ok();
  })) << Describe(last);
  EXPECT_EQ(response.runtime_name(), "containerd");
  status = proxy_->images().ImageStatus(Context().get(), image_status, &image_response);
  EXPECT_TRUE(status.ok()) << Describe(status);
  LifecycleRun run;
  ASSERT_NO_FATAL_FAILURE(RunPod(*proxy_, "after-restart", {"/bin/echo", "hello"}, &run));
  EXPECT_EQ(run.final_status.status().exit_code(), 0);
  RemovePod(*proxy_, run.sandbox_id);
}

}  // namespace
}  // namespace sigshim::e2e
