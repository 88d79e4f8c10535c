#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "pkg/cri/api.grpc.pb.h"
#include "pkg/cri/cri.h"
#include "shim/hooks.h"
#include "shim/server.h"
#include "test/shim/echo_runtime.h"

namespace sigshim::shim {
namespace {

using ::sigshim::testing::EchoRuntime;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::Contains;

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// A caller driving one call step by step over the generic async API on its own completion queue,
// for tests that need more control than a unary call gives (no request at all, or a stream). One
// operation is outstanding at a time, so each step waits for its own completion.
class StepCall {
 public:
  StepCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method)
      : stub_(channel), call_(stub_.PrepareCall(&ctx_, method, &cq_)) {
    call_->StartCall(this);
    started_ = Next();
  }
  // Ends the call if the test left it open, then drains the queue.
  ~StepCall() {
    if (!finished_) {
      ctx_.TryCancel();
      Finish();
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  bool started() const { return started_; }
  bool WriteLast(const std::string& bytes) {
    call_->WriteLast(ToBuffer(bytes), grpc::WriteOptions(), this);
    return Next();
  }
  bool WritesDone() {
    call_->WritesDone(this);
    return Next();
  }
  bool Read(std::string* out) {
    grpc::ByteBuffer in;
    call_->Read(&in, this);
    const bool ok = Next();
    *out = FromBuffer(in);
    return ok;
  }
  void Cancel() { ctx_.TryCancel(); }
  grpc::Status Finish() {
    grpc::Status status;
    call_->Finish(&status, this);
    Next();
    finished_ = true;
    return status;
  }

 private:
  bool Next() {
    void* tag;
    bool ok = false;
    cq_.Next(&tag, &ok);
    return ok;
  }

  grpc::ClientContext ctx_;
  grpc::CompletionQueue cq_;
  grpc::GenericStub stub_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
  bool finished_ = false;
};

struct UnaryResult {
  grpc::Status status;
  std::string response;
  std::multimap<std::string, std::string> initial;
  std::multimap<std::string, std::string> trailing;
};

constexpr char kPullV1[] = "/runtime.v1.ImageService/PullImage";

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigshim-proxy-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    runtime_path_ = dir_ + "/runtime.sock";
    listen_path_ = dir_ + "/run/sigshim/cri.sock";
  }
  void TearDown() override {
    server_.reset();
    runtime_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  void StartRuntime(int stream_count = 3) { runtime_ = std::make_unique<EchoRuntime>(runtime_path_, stream_count); }

  void StartProxy() {
    ServerOptions options;
    options.listen = listen_path_;
    options.runtime_endpoint = "unix://" + runtime_path_;
    options.max_reconnect_backoff = absl::Milliseconds(200);
    options.threads = threads_;
    options.on_refused_method = [this] { refused_.fetch_add(1); };
    auto server = Server::Create(options, table_ != nullptr ? table_ : &hooks_.table());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel("unix:" + listen_path_, grpc::InsecureChannelCredentials());
  }

  UnaryResult Call(const std::string& method, const std::string& request,
                   absl::Duration timeout = absl::Seconds(10),
                   std::multimap<std::string, std::string> metadata = {}) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    for (const auto& [k, v] : metadata) ctx.AddMetadata(k, v);
    grpc::ByteBuffer req = ToBuffer(request), resp;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp,
                   [&](grpc::Status s) { done.set_value(std::move(s)); });
    UnaryResult result;
    result.status = done.get_future().get();
    result.response = FromBuffer(resp);
    for (const auto& [k, v] : ctx.GetServerInitialMetadata()) result.initial.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) result.trailing.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    return result;
  }

  // Waits (polling, without a time limit of its own) until the proxy has no call in flight.
  void WaitForNoActiveCalls() {
    for (int i = 0; i < 500 && server_->proxy().active_calls() != 0; ++i) absl::SleepFor(absl::Milliseconds(10));
    EXPECT_EQ(server_->proxy().active_calls(), 0);
  }

  // Makes 24 threads × 60 calls, each to one of kPullV1 and two other CRI methods in turn; `one_call(method, "<thread>-<index>", index)` makes a call and says whether its
  // answer was right. Returns the number of wrong answers.
  int CallFromManyThreads(const std::function<bool(const char* method, const std::string& suffix, int i)>& one_call) {
    constexpr int kThreads = 24;
    constexpr int kCallsPerThread = 60;
    const char* const kMethods[] = {kPullV1, "/runtime.v1.RuntimeService/Version",
                                    "/runtime.v1alpha2.RuntimeService/ListContainers"};
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kCallsPerThread; ++i) {
          if (!one_call(kMethods[(t + i) % 3], std::to_string(t) + "-" + std::to_string(i), i)) wrong.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    return wrong.load();
  }

  std::string dir_, runtime_path_, listen_path_;
  PassThroughHooks hooks_;
  const HookTable* table_ = nullptr;  // Set before StartProxy to use other hooks than hooks_.
  int threads_ = 0;                   // ServerOptions::threads.
  std::atomic<int> refused_{0};       // Calls ServerOptions::on_refused_method counted.
  std::unique_ptr<EchoRuntime> runtime_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ProxyTest, ForwardsUnaryCallsByteForByte) {
  StartRuntime();
  StartProxy();
  // Field 99 is unknown to every CRI message: a decoding proxy would be free to drop it.
  const std::string request("\x0a\x03" "abc" "\x9a\x06\x02" "zz", 10);
  for (const char* method : {"/runtime.v1.RuntimeService/Version", "/runtime.v1alpha2.RuntimeService/Version",
                             "/runtime.v1.ImageService/ImageFsInfo", "/runtime.v1.RuntimeService/RuntimeConfig"}) {
    UnaryResult r = Call(method, request);
    ASSERT_TRUE(r.status.ok()) << method << ": " << r.status.error_message();
    EXPECT_EQ(r.response, request) << method;
    EXPECT_EQ(runtime_->WaitForCall(method).request, request) << method;
  }
}

TEST_F(ProxyTest, HookedMethodsKeepUnknownFieldsForBothApiVersions) {
  StartRuntime();
  StartProxy();
  runtime::v1::PullImageRequest pull;
  pull.mutable_image()->set_image("registry.example.com/app:1");
  pull.mutable_auth()->set_password("secret");
  std::string request = pull.SerializeAsString();
  request.append("\xfa\x06\x03" "new", 6);  // Unknown field 111, as from a newer kubelet.
  for (const char* method : {"/runtime.v1.ImageService/PullImage", "/runtime.v1alpha2.ImageService/PullImage"}) {
    UnaryResult r = Call(method, request);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(runtime_->WaitForCall(method).request, request);
  }
}

TEST_F(ProxyTest, HookRefusesRequestsThatDoNotDecode) {
  StartRuntime();
  StartProxy();
  UnaryResult r = Call("/runtime.v1.RuntimeService/CreateContainer", std::string("\x0a\xff\x01", 3));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(), HasSubstr("CreateContainerRequest"));
  EXPECT_EQ(runtime_->calls(), 0);
}

// A hooked call decides on its request: one that sends none is refused, never forwarded undecided.
TEST_F(ProxyTest, HookedMethodWithoutARequestIsRefusedNotForwarded) {
  StartRuntime();
  StartProxy();
  StepCall call(channel_, "/runtime.v1.ImageService/PullImage");
  ASSERT_TRUE(call.started());
  call.WritesDone();
  grpc::Status status = call.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("needs a request message"));
  EXPECT_EQ(runtime_->calls(), 0);
}

TEST_F(ProxyTest, CarriesMetadataBothWays) {
  StartRuntime();
  StartProxy();
  UnaryResult r = Call("/runtime.v1.RuntimeService/Status", "x", absl::Seconds(10),
                       {{"x-kubelet-trace", "abc"}, {"x-blob-bin", std::string("\0\1", 2)}});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_THAT(r.initial, Contains(Pair("x-runtime-initial", "hello")));
  EXPECT_THAT(r.trailing, Contains(Pair("x-runtime-trailing", "bye")));
  auto seen = runtime_->WaitForCall("/runtime.v1.RuntimeService/Status");
  EXPECT_THAT(seen.metadata, Contains(Pair("x-kubelet-trace", "abc")));
  EXPECT_THAT(seen.metadata, Contains(Pair("x-blob-bin", std::string("\0\1", 2))));
}

// Each behaviour of the pass-through relay, on methods of both API versions and both services.
class PassThrough : public ProxyTest, public ::testing::WithParamInterface<const char*> {
 protected:
  static const char* Method() { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Proxy, PassThrough,
                         ::testing::Values("/runtime.v1.RuntimeService/Version",
                                           "/runtime.v1alpha2.ImageService/ImageStatus",
                                           "/runtime.v1.RuntimeService/ListContainers"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return "Method" + std::to_string(info.index); });

TEST_P(PassThrough, PassesRuntimeErrorsBackUnchanged) {
  StartRuntime();
  StartProxy();
  UnaryResult r = Call(Method(), "fail");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(r.status.error_message(), "runtime says no");
  EXPECT_EQ(r.status.error_details(), std::string("\x01\x02\x03", 3));
  EXPECT_THAT(r.trailing, Contains(Pair("x-runtime-trailing", "bye")));
}

TEST_P(PassThrough, CarriesMetadataBothWays) {
  StartRuntime();
  StartProxy();
  UnaryResult r = Call(Method(), "x", absl::Seconds(10), {{"x-kubelet-trace", "abc"}});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response, "x");
  EXPECT_THAT(r.initial, Contains(Pair("x-runtime-initial", "hello")));
  EXPECT_THAT(r.trailing, Contains(Pair("x-runtime-trailing", "bye")));
  EXPECT_THAT(runtime_->WaitForCall(Method()).metadata, Contains(Pair("x-kubelet-trace", "abc")));
}

TEST_P(PassThrough, ExpiredDeadlineCancelsUpstream) {
  StartRuntime();
  StartProxy();
  UnaryResult r = Call(Method(), "slow", absl::Milliseconds(300));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(runtime_->WaitForCancel(Method()));
}

TEST_P(PassThrough, CallerCancellationCancelsUpstream) {
  StartRuntime();
  StartProxy();
  grpc::GenericStub stub(channel_);
  grpc::ClientContext ctx;
  grpc::ByteBuffer req = ToBuffer("slow"), resp;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, Method(), grpc::StubOptions(), &req, &resp,
                 [&](grpc::Status s) { done.set_value(std::move(s)); });
  runtime_->WaitForCall(Method());
  ctx.TryCancel();
  EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(runtime_->WaitForCancel(Method()));
}

// Many concurrent calls, with some callers giving up early: the proxy must neither crash nor lose
// a call.
TEST_F(ProxyTest, ConcurrentCallsAllComplete) {
  StartRuntime();
  StartProxy();
  constexpr int kThreads = 32;
  constexpr int kCallsPerThread = 60;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        const char* method = (i % 2 == 0) ? "/runtime.v1.RuntimeService/ListContainers"
                                          : "/runtime.v1.RuntimeService/Version";
        const std::string request = "split-" + std::to_string(t) + "-" + std::to_string(i);
        if (i % 10 == 9) {
          // A caller that gives up almost at once: either answer is fine, a crash is not.
          UnaryResult r = Call(method, "slow", absl::Milliseconds(1));
          if (r.status.ok() && r.response != "slow") wrong.fetch_add(1);
          continue;
        }
        if (i % 10 == 5) {
          // A path outside the CRI, among them: refused, never forwarded.
          UnaryResult r = Call("runtime.v1.RuntimeService/Version", request);
          if (r.status.error_code() != grpc::StatusCode::UNIMPLEMENTED) wrong.fetch_add(1);
          continue;
        }
        UnaryResult r = Call(method, request);
        if (!r.status.ok() || r.response != request) wrong.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  // Every call has ended on the proxy's side too.
  WaitForNoActiveCalls();
}

// The hooks' service on its own (the frame relay sends it only hooked methods): a CRI method
// without a hook, should one reach it, is refused and never reaches the runtime undecided.
TEST_F(ProxyTest, HooksServiceRefusesAMethodWithoutAHookAndNeverForwardsIt) {
  StartRuntime();
  auto upstream = MakeRuntimeChannel(runtime_path_, ServerOptions());
  ProxyOptions proxy_options;
  std::atomic<int> refused{0};
  proxy_options.on_refused_method = [&refused] { refused.fetch_add(1); };
  ProxyService service(upstream, &hooks_.table(), proxy_options);
  grpc::ServerBuilder builder;
  const std::string path = dir_ + "/hooks.sock";
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  service.RegisterWith(&builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  service.Start();
  channel_ = grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials());

  UnaryResult unhooked = Call("/runtime.v1.RuntimeService/Version", "x");
  EXPECT_EQ(unhooked.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(unhooked.status.error_message(), HasSubstr("without a hook"));
  UnaryResult outside = Call("/containerd.services.images.v1.Images/List", "x");
  EXPECT_EQ(outside.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(outside.status.error_message(), cri::kNotCriMessage);
  EXPECT_EQ(refused.load(), 1);
  EXPECT_EQ(runtime_->calls(), 0);

  server->Shutdown();
  service.Stop();
}

// The socket serves the CRI and nothing else: every path outside the closed set of CRI method
// paths is refused with UNIMPLEMENTED, counted and never forwarded — another service (containerd's
// own API, health, reflection), a method the CRI does not define, an unknown API version, and any
// other spelling of a hooked path (the runtime's gRPC server routes "runtime.v1.ImageService/PullImage",
// without the leading slash, to PullImage).
TEST_F(ProxyTest, PathsOutsideTheCriAreRefusedAndNeverForwarded) {
  StartRuntime();
  StartProxy();
  const std::vector<std::string> refused = {
      "runtime.v1.ImageService/PullImage",
      "runtime.v1alpha2.ImageService/PullImage",
      "runtime.v1.RuntimeService/CreateContainer",
      "runtime.v1alpha2.RuntimeService/RunPodSandbox",
      "//runtime.v1.ImageService/PullImage",
      "/runtime.v1.ImageService/PullImage/",
      "/runtime.v1.ImageService//PullImage",
      "/runtime.v1.imageservice/pullimage",
      "/Runtime.v1.ImageService/PullImage",
      "/containerd.services.images.v1.Images/List",
      "/containerd.services.content.v1.Content/Read",
      "/containerd.services.containers.v1.Containers/Create",
      "/containerd.services.tasks.v1.Tasks/Create",
      "/grpc.health.v1.Health/Check",
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      "/runtime.v1.RuntimeService/SomeFutureMethod",
      "/runtime.v9.RuntimeService/Version",
      "/runtime.v1alpha2.RuntimeService/GetContainerEvents",  // v1 only
      "/runtime.v1.ImageService/Version",                     // a RuntimeService method under ImageService
      "/" + std::string(2000, 'x'),
  };
  for (const std::string& method : refused) {
    SCOPED_TRACE(method.substr(0, 80));
    UnaryResult r = Call(method, "x");
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << r.status.error_message();
    EXPECT_THAT(r.status.error_message(), HasSubstr("sigshim serves only the CRI"));
  }
  EXPECT_EQ(runtime_->calls(), 0) << "a call outside the CRI reached the runtime";
  EXPECT_EQ(refused_.load(), static_cast<int>(refused.size()));
  EXPECT_EQ(server_->proxy().refused_calls(), refused.size());
  // The CRI itself still works.
  UnaryResult r = Call("/runtime.v1.RuntimeService/Version", "x");
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
}

TEST(CriMethods, TheClosedSetHasEveryCriMethodOfBothVersionsAndNothingElse) {
  for (absl::string_view version : cri::kApiVersions) {
    for (const char* method : {"Version", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
                               "ListPodSandbox", "CreateContainer", "StartContainer", "StopContainer",
                               "RemoveContainer", "ListContainers", "ContainerStatus", "UpdateContainerResources",
                               "ReopenContainerLog", "ExecSync", "Exec", "Attach", "PortForward", "ContainerStats",
                               "ListContainerStats", "PodSandboxStats", "ListPodSandboxStats", "UpdateRuntimeConfig",
                               "Status"}) {
      EXPECT_NE(cri::FindMethod(cri::MethodPath(version, "RuntimeService", method)), nullptr) << version << method;
      EXPECT_EQ(cri::FindMethod(cri::MethodPath(version, "ImageService", method)), nullptr) << version << method;
    }
    for (const char* method : {"ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"}) {
      EXPECT_NE(cri::FindMethod(cri::MethodPath(version, "ImageService", method)), nullptr) << version << method;
    }
  }
  const cri::MethodInfo* events = cri::FindMethod("/runtime.v1.RuntimeService/GetContainerEvents");
  ASSERT_NE(events, nullptr);
  EXPECT_EQ(events->kind, cri::MethodKind::kServerStream);
  EXPECT_TRUE(events->endless);
  EXPECT_EQ(cri::FindMethod("runtime.v1.ImageService/PullImage"), nullptr);
  EXPECT_EQ(cri::FindMethod(""), nullptr);
}

// Answers from a thread of its own: after OnRequest has returned, or (with
// `answer_before_return`) while OnRequest still waits for the answer to have been given. Forwards
// the request unchanged, or refuses it (PERMISSION_DENIED) when it is "refuse".
class ThreadedHook final : public CallHook {
 public:
  explicit ThreadedHook(bool answer_before_return) : answer_before_return_(answer_before_return) {}

  void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) override {
    auto returned = std::make_shared<absl::Notification>();
    auto answered = std::make_shared<absl::Notification>();
    std::thread([this, returned, answered, request = std::move(request), done = std::move(done)]() mutable {
      if (!answer_before_return_) returned->WaitForNotification();
      if (FromBuffer(request) == "refuse") {
        done(absl::PermissionDeniedError("refused later"));
      } else {
        done(std::move(request));
      }
      answered->Notify();
    }).detach();
    if (answer_before_return_) answered->WaitForNotification();
    returned->Notify();
  }

 private:
  const bool answer_before_return_;
};

// Holds what a hook stage was handed (a request or a response, and its `done`) until the test
// lets it answer. `Done` is HookDone or ResponseDone. Thread-safe.
template <typename Done>
class Gate {
 public:
  void Hold(grpc::ByteBuffer buffer, Done done) {
    absl::MutexLock lock(&mu_);
    held_.emplace_back(std::move(buffer), std::move(done));
  }
  // Waits until `n` are held.
  void WaitForHeld(size_t n) {
    absl::MutexLock lock(&mu_);
    wanted_ = n;
    mu_.Await(absl::Condition(this, &Gate::EnoughHeld));
  }
  // Answers every one held with its own bytes (forwarded or sent back unchanged), on the calling
  // thread.
  void AnswerAll() {
    for (auto& [buffer, done] : TakeAll()) done(std::move(buffer));
  }
  // Answers every one held with `status`, on the calling thread.
  void FailAll(const absl::Status& status) {
    for (auto& held : TakeAll()) held.second(status);
  }

 private:
  std::vector<std::pair<grpc::ByteBuffer, Done>> TakeAll() {
    absl::MutexLock lock(&mu_);
    return std::exchange(held_, {});
  }
  bool EnoughHeld() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_.size() >= wanted_; }

  absl::Mutex mu_;
  std::vector<std::pair<grpc::ByteBuffer, Done>> held_ ABSL_GUARDED_BY(mu_);
  size_t wanted_ ABSL_GUARDED_BY(mu_) = 0;
};

// Holds every request until the test lets the hook answer (forwarding the request unchanged).
class GatedHook final : public CallHook {
 public:
  void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) override {
    gate_.Hold(std::move(request), std::move(done));
  }
  // Waits until `n` requests are held.
  void WaitForRequests(size_t n) { gate_.WaitForHeld(n); }
  // Answers every held request, on the calling thread.
  void AnswerAll() { gate_.AnswerAll(); }

 private:
  Gate<HookDone> gate_;
};

// Forwards every request unchanged, at once, with a copy of `after` as its response stage (none
// when `after` is null), and records the CallInfo of each call. Each call's stage holds a token
// of its own, so that a test can tell the proxy has let go of every stage.
class ResponseStageHook final : public CallHook {
 public:
  explicit ResponseStageHook(AfterResponse after) : after_(std::move(after)) {}

  void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) override {
    auto token = std::make_shared<int>(0);
    {
      absl::MutexLock lock(&mu_);
      infos_.push_back(info);
      tokens_.push_back(token);
    }
    if (after_ == nullptr) {
      done(std::move(request));
      return;
    }
    done(Forward(std::move(request), [after = after_, token](grpc::ByteBuffer response, ResponseDone answer) {
      after(std::move(response), std::move(answer));
    }));
  }

  std::vector<CallInfo> infos() {
    absl::MutexLock lock(&mu_);
    return infos_;
  }
  // Returns whether every response stage handed out has been destroyed.
  bool AllStagesReleased() {
    absl::MutexLock lock(&mu_);
    for (const auto& token : tokens_) {
      if (!token.expired()) return false;
    }
    return true;
  }

 private:
  const AfterResponse after_;
  absl::Mutex mu_;
  std::vector<CallInfo> infos_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<int>> tokens_ ABSL_GUARDED_BY(mu_);
};

// Runs tasks on threads of its own. When destroyed, runs what is still queued, then joins.
class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~ThreadPool() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (auto& worker : workers_) worker.join();
  }
  void Schedule(std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &ThreadPool::HasWorkOrStops));
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  bool HasWorkOrStops() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !tasks_.empty(); }

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

class HookThreads : public ProxyTest, public ::testing::WithParamInterface<bool> {};

INSTANTIATE_TEST_SUITE_P(Proxy, HookThreads, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "BeforeOnRequestReturns" : "AfterOnRequestReturned");
                         });

TEST_P(HookThreads, HookMayAnswerFromAnotherThread) {
  ThreadedHook hook(/*answer_before_return=*/GetParam());
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  UnaryResult forwarded = Call(kPullV1, "pull-me", absl::Seconds(10), {{"x-kubelet-trace", "abc"}});
  ASSERT_TRUE(forwarded.status.ok()) << forwarded.status.error_message();
  EXPECT_EQ(forwarded.response, "pull-me");
  EXPECT_THAT(forwarded.trailing, Contains(Pair("x-runtime-trailing", "bye")));
  EXPECT_THAT(runtime_->WaitForCall(kPullV1).metadata, Contains(Pair("x-kubelet-trace", "abc")));

  UnaryResult refused = Call(kPullV1, "refuse");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.status.error_message(), "refused later");
  EXPECT_EQ(runtime_->calls(), 1);
  WaitForNoActiveCalls();
}

TEST_F(ProxyTest, HookAnswerAfterTheCallerLeftEndsTheCall) {
  GatedHook hook;
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext ctx;
    grpc::ByteBuffer req = ToBuffer("late"), resp;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, kPullV1, grpc::StubOptions(), &req, &resp,
                   [&](grpc::Status s) { done.set_value(std::move(s)); });
    hook.WaitForRequests(1);
    ctx.TryCancel();
    EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  }
  hook.AnswerAll();  // The caller is gone: the answer must neither crash nor leak the call.
  WaitForNoActiveCalls();
  // The proxy still serves.
  auto later = std::async(std::launch::async, [&] { return Call(kPullV1, "next"); });
  hook.WaitForRequests(1);
  hook.AnswerAll();
  UnaryResult r = later.get();
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response, "next");
}

TEST_F(ProxyTest, ShutdownWaitsForAHookThatAnswersLater) {
  GatedHook hook;
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  auto pending = std::async(std::launch::async, [&] { return Call(kPullV1, "in-flight"); });
  hook.WaitForRequests(1);
  auto shutdown = std::async(std::launch::async, [&] { server_->Shutdown(absl::Seconds(30)); });
  hook.AnswerAll();
  shutdown.get();
  UnaryResult r = pending.get();
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response, "in-flight");
}

// Many callers on every path at once — hooked (answered later from other threads), unary fast
// path, stream relay — over several serving threads, with some callers giving up early.
TEST_F(ProxyTest, ConcurrentCallsOnEveryPathWithSeveralThreads) {
  ThreadedHook hook(/*answer_before_return=*/false);
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  threads_ = 3;
  StartRuntime();
  StartProxy();
  EXPECT_EQ(CallFromManyThreads([this](const char* method, const std::string& suffix, int i) {
              if (i % 10 == 9) {
                UnaryResult r = Call(method, "slow", absl::Milliseconds(1));
                return !r.status.ok() || r.response == "slow";
              }
              const std::string request = "split-" + suffix;
              UnaryResult r = Call(method, request);
              return r.status.ok() && r.response == request;
            }),
            0);
  WaitForNoActiveCalls();
}

// The hook's response stage: what the enforcement layer does after the runtime answered a
// forwarded call (tag a pulled image, record a verdict) before the caller learns of it.

TEST_F(ProxyTest, ResponseStageMayReplaceTheResponse) {
  ResponseStageHook hook([](grpc::ByteBuffer response, ResponseDone done) {
    done(ToBuffer("replaced " + FromBuffer(response)));
  });
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  UnaryResult r = Call(kPullV1, "pull-me");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response, "replaced pull-me");
  EXPECT_THAT(r.initial, Contains(Pair("x-runtime-initial", "hello")));
  EXPECT_THAT(r.trailing, Contains(Pair("x-runtime-trailing", "bye")));
  EXPECT_EQ(runtime_->WaitForCall(kPullV1).request, "pull-me");
  WaitForNoActiveCalls();
  EXPECT_TRUE(hook.AllStagesReleased());
}

TEST_F(ProxyTest, ResponseStageMayFailTheCall) {
  ResponseStageHook hook([](grpc::ByteBuffer response, ResponseDone done) {
    done(absl::FailedPreconditionError("SignatureValidationFailed: could not tag the pulled image"));
  });
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  UnaryResult r = Call(kPullV1, "pull-me");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(r.status.error_message(), "SignatureValidationFailed: could not tag the pulled image");
  EXPECT_EQ(r.response, "");
  EXPECT_THAT(r.initial, Contains(Pair("x-runtime-initial", "hello")));
  EXPECT_THAT(r.trailing, Contains(Pair("x-runtime-trailing", "bye")));
  EXPECT_EQ(runtime_->calls(), 1);
  WaitForNoActiveCalls();
  EXPECT_TRUE(hook.AllStagesReleased());
}

TEST_F(ProxyTest, ResponseStageIsNotCalledWhenTheRuntimeFails) {
  std::atomic<int> called{0};
  ResponseStageHook hook([&called](grpc::ByteBuffer response, ResponseDone done) {
    called.fetch_add(1);
    done(ToBuffer("replaced"));
  });
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  UnaryResult r = Call(kPullV1, "fail");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(r.status.error_message(), "runtime says no");
  EXPECT_EQ(r.status.error_details(), std::string("\x01\x02\x03", 3));
  EXPECT_THAT(r.trailing, Contains(Pair("x-runtime-trailing", "bye")));
  WaitForNoActiveCalls();
  EXPECT_EQ(called.load(), 0);
  EXPECT_TRUE(hook.AllStagesReleased());  // Dropped without being called.
}

TEST_P(HookThreads, ResponseStageMayAnswerFromAnotherThread) {
  const bool answer_before_return = GetParam();
  ResponseStageHook hook([answer_before_return](grpc::ByteBuffer response, ResponseDone done) {
    auto returned = std::make_shared<absl::Notification>();
    auto answered = std::make_shared<absl::Notification>();
    std::thread([answer_before_return, returned, answered, response = std::move(response),
                 done = std::move(done)]() mutable {
      if (!answer_before_return) returned->WaitForNotification();
      const std::string text = FromBuffer(response);
      if (text == "refuse") {
        done(absl::PermissionDeniedError("refused after the runtime answered"));
      } else {
        done(ToBuffer("later " + text));
      }
      answered->Notify();
    }).detach();
    if (answer_before_return) answered->WaitForNotification();
    returned->Notify();
  });
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  UnaryResult replaced = Call(kPullV1, "pull-me");
  ASSERT_TRUE(replaced.status.ok()) << replaced.status.error_message();
  EXPECT_EQ(replaced.response, "later pull-me");
  EXPECT_THAT(replaced.initial, Contains(Pair("x-runtime-initial", "hello")));
  EXPECT_THAT(replaced.trailing, Contains(Pair("x-runtime-trailing", "bye")));

  UnaryResult refused = Call(kPullV1, "refuse");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.status.error_message(), "refused after the runtime answered");
  EXPECT_THAT(refused.trailing, Contains(Pair("x-runtime-trailing", "bye")));
  EXPECT_EQ(runtime_->calls(), 2);
  WaitForNoActiveCalls();
}

// The caller leaves while the response stage works: the call waits for the stage's answer, which
// is then dropped (either kind), and the proxy carries on. Run under ASan too.
TEST_F(ProxyTest, ResponseStageAnswerAfterTheCallerLeftEndsTheCall) {
  Gate<ResponseDone> gate;
  ResponseStageHook hook([&gate](grpc::ByteBuffer response, ResponseDone done) {
    gate.Hold(std::move(response), std::move(done));
  });
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  auto leave_while_stage_runs = [&] {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext ctx;
    grpc::ByteBuffer req = ToBuffer("late"), resp;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, kPullV1, grpc::StubOptions(), &req, &resp,
                   [&](grpc::Status s) { done.set_value(std::move(s)); });
    gate.WaitForHeld(1);
    ctx.TryCancel();
    EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  };
  leave_while_stage_runs();
  EXPECT_EQ(server_->proxy().active_calls(), 1);  // Kept for the stage's answer.
  gate.AnswerAll();
  WaitForNoActiveCalls();
  leave_while_stage_runs();
  gate.FailAll(absl::PermissionDeniedError("too late"));
  WaitForNoActiveCalls();
  EXPECT_TRUE(hook.AllStagesReleased());
  // The proxy still serves.
  auto later = std::async(std::launch::async, [&] { return Call(kPullV1, "next"); });
  gate.WaitForHeld(1);
  gate.AnswerAll();
  UnaryResult r = later.get();
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response, "next");
}

// A response stage still working when the grace is over: the caller is cancelled at once, and
// Shutdown returns once the stage has answered.
TEST_F(ProxyTest, ShutdownAfterTheGraceDoesNotLoseACallWaitingForItsResponseStage) {
  Gate<ResponseDone> gate;
  ResponseStageHook hook([&gate](grpc::ByteBuffer response, ResponseDone done) {
    gate.Hold(std::move(response), std::move(done));
  });
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  auto pending = std::async(std::launch::async, [&] { return Call(kPullV1, "in-flight"); });
  gate.WaitForHeld(1);
  auto shutdown = std::async(std::launch::async, [&] { server_->Shutdown(absl::ZeroDuration()); });
  EXPECT_FALSE(pending.get().status.ok());
  gate.AnswerAll();
  shutdown.get();
  EXPECT_EQ(server_->proxy().active_calls(), 0);
}

TEST_F(ProxyTest, HookSeesTheCallersDeadline) {
  ResponseStageHook hook(/*after=*/nullptr);
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  const absl::Time before = absl::Now();
  ASSERT_TRUE(Call(kPullV1, "x", absl::Seconds(7)).status.ok());
  {
    StepCall call(channel_, kPullV1);  // No deadline.
    ASSERT_TRUE(call.started());
    ASSERT_TRUE(call.WriteLast("y"));
    std::string in;
    ASSERT_TRUE(call.Read(&in));
    EXPECT_EQ(in, "y");
    EXPECT_TRUE(call.Finish().ok());
  }
  std::vector<CallInfo> infos = hook.infos();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].method, kPullV1);
  EXPECT_EQ(infos[0].api_version, "v1");
  // As in CarriesTheDeadlineUpstream: never later than the caller's, and not dropped.
  EXPECT_LE(infos[0].deadline - before, absl::Seconds(7) + absl::Milliseconds(100));
  EXPECT_GT(infos[0].deadline - before, absl::Seconds(1));
  EXPECT_EQ(infos[1].deadline, absl::InfiniteFuture());
}

// Many callers on every path at once, over several serving threads; the hooked calls' response
// stages answer from a thread pool (replacing the response, or failing the call), some runtime
// answers are failures (no stage), and some callers give up early.
TEST_F(ProxyTest, ConcurrentCallsWithResponseStagesAnsweredFromAThreadPool) {
  ThreadPool pool(4);
  ResponseStageHook hook([&pool](grpc::ByteBuffer response, ResponseDone done) {
    pool.Schedule([response = std::move(response), done = std::move(done)]() mutable {
      const std::string text = FromBuffer(response);
      if (absl::StartsWith(text, "deny-")) {
        done(absl::PermissionDeniedError("denied " + text));
      } else {
        done(ToBuffer("after " + text));
      }
    });
  });
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  threads_ = 3;
  StartRuntime();
  StartProxy();
  EXPECT_EQ(CallFromManyThreads([this](const char* method, const std::string& suffix, int i) {
              const bool hooked = std::string(method) == kPullV1;
              if (i % 10 == 9) {  // Gives up almost at once: either answer is fine, a crash is not.
                UnaryResult r = Call(method, "slow", absl::Milliseconds(1));
                return !r.status.ok() || r.response == (hooked ? "after slow" : "slow");
              }
              if (i % 10 == 7) {  // The runtime fails: its status comes back, the stage is not called.
                return Call(method, "fail").status.error_code() == grpc::StatusCode::FAILED_PRECONDITION;
              }
              if (hooked && i % 10 == 3) {
                UnaryResult r = Call(method, "deny-" + suffix);
                return r.status.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
                       r.status.error_message() == "denied deny-" + suffix;
              }
              const std::string request = "split-" + suffix;
              UnaryResult r = Call(method, request);
              return r.status.ok() && r.response == (hooked ? "after " : "") + request;
            }),
            0);
  WaitForNoActiveCalls();
  EXPECT_TRUE(hook.AllStagesReleased());
}

TEST_F(ProxyTest, CarriesTheDeadlineUpstream) {
  StartRuntime();
  StartProxy();
  const absl::Time before = absl::Now();
  ASSERT_TRUE(Call("/runtime.v1.RuntimeService/Version", "x", absl::Seconds(7)).status.ok());
  auto seen = runtime_->WaitForCall("/runtime.v1.RuntimeService/Version");
  const absl::Duration left = absl::FromChrono(seen.deadline) - before;
  // Never later than the caller's own deadline (plus the moment between `before` and the call),
  // and never dropped (an absent deadline would be infinitely far away).
  EXPECT_LE(left, absl::Seconds(7) + absl::Milliseconds(100));
  EXPECT_GT(left, absl::Seconds(1));
}

TEST_F(ProxyTest, RelaysServerStreamsAndCancelsThemUpstream) {
  StartRuntime(/*stream_count=*/5);
  StartProxy();
  StepCall call(channel_, "/runtime.v1.RuntimeService/GetContainerEvents");
  ASSERT_TRUE(call.started());
  ASSERT_TRUE(call.WriteLast("event-request"));
  for (int i = 0; i < 5; ++i) {
    std::string in;
    ASSERT_TRUE(call.Read(&in)) << "message " << i;
    EXPECT_EQ(in, "event-request");
  }
  call.Cancel();
  EXPECT_EQ(call.Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(runtime_->WaitForCancel("/runtime.v1.RuntimeService/GetContainerEvents"));
}

TEST_F(ProxyTest, RuntimeDownGivesUnavailableAndRecovers) {
  StartProxy();  // No runtime yet.
  UnaryResult down = Call("/runtime.v1.RuntimeService/Version", "x");
  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  StartRuntime();
  grpc::Status last;
  for (int i = 0; i < 100; ++i) {  // The proxy reconnects within its backoff; poll, do not time.
    last = Call("/runtime.v1.RuntimeService/Version", "x").status;
    if (last.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(last.ok()) << last.error_message();
}

TEST_F(ProxyTest, SocketHasModeAndIsRemovedAtShutdown) {
  StartRuntime();
  StartProxy();
  struct stat st;
  ASSERT_EQ(::stat(listen_path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  server_->Shutdown(absl::Seconds(1));
  EXPECT_NE(::access(listen_path_.c_str(), F_OK), 0);
}

TEST_F(ProxyTest, ShutdownLetsInFlightCallsFinish) {
  StartRuntime();
  StartProxy();
  auto slow = std::async(std::launch::async, [&] { return Call("/runtime.v1.RuntimeService/Version", "slow"); });
  runtime_->WaitForCall("/runtime.v1.RuntimeService/Version");
  server_->Shutdown(absl::Seconds(30));
  UnaryResult r = slow.get();
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response, "slow");
}

TEST_F(ProxyTest, ShutdownCancelsWhatIsLeftAfterTheGrace) {
  StartRuntime();
  StartProxy();
  auto slow = std::async(std::launch::async, [&] { return Call("/runtime.v1.RuntimeService/Version", "slow"); });
  runtime_->WaitForCall("/runtime.v1.RuntimeService/Version");
  server_->Shutdown(absl::ZeroDuration());
  EXPECT_FALSE(slow.get().status.ok());
  EXPECT_TRUE(runtime_->WaitForCancel("/runtime.v1.RuntimeService/Version"));
  EXPECT_EQ(server_->proxy().active_calls(), 0);
}

// A hook still deciding when the grace is over: the caller is cancelled at once, and Shutdown
// returns once the hook has answered (the answer is not forwarded to a caller that is gone).
TEST_F(ProxyTest, ShutdownAfterTheGraceDoesNotLoseACallWaitingForItsHook) {
  GatedHook hook;
  HookTable table{{kPullV1, &hook}};
  table_ = &table;
  StartRuntime();
  StartProxy();
  auto pending = std::async(std::launch::async, [&] { return Call(kPullV1, "in-flight"); });
  hook.WaitForRequests(1);
  auto shutdown = std::async(std::launch::async, [&] { server_->Shutdown(absl::ZeroDuration()); });
  EXPECT_FALSE(pending.get().status.ok());
  hook.AnswerAll();
  shutdown.get();
  EXPECT_EQ(server_->proxy().active_calls(), 0);
}

TEST_F(ProxyTest, ShutdownDoesNotWaitForEventStreams) {
  StartRuntime();
  StartProxy();
  StepCall call(channel_, "/runtime.v1.RuntimeService/GetContainerEvents");
  ASSERT_TRUE(call.started());
  ASSERT_TRUE(call.WriteLast("e"));
  runtime_->WaitForCall("/runtime.v1.RuntimeService/GetContainerEvents");
  // A grace of an hour: returning at all shows the stream was cancelled rather than awaited.
  server_->Shutdown(absl::Hours(1));
  EXPECT_TRUE(runtime_->WaitForCancel("/runtime.v1.RuntimeService/GetContainerEvents"));
}

class SocketPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigshim-socket-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

int BindSocket(const std::string& path, bool listen_too) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  if (listen_too) {
    EXPECT_EQ(::listen(fd, 1), 0);
  }
  return fd;
}

TEST_F(SocketPathTest, CreatesMissingParents) {
  EXPECT_TRUE(PrepareSocketPath(dir_ + "/a/b/cri.sock").ok());
  struct stat st;
  EXPECT_EQ(::stat((dir_ + "/a/b").c_str(), &st), 0);
}

TEST_F(SocketPathTest, ReplacesAStaleSocket) {
  const std::string path = dir_ + "/cri.sock";
  ::close(BindSocket(path, /*listen_too=*/false));  // Bound, nobody listening: stale.
  EXPECT_TRUE(PrepareSocketPath(path).ok());
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST_F(SocketPathTest, RefusesASocketWithALiveServer) {
  const std::string path = dir_ + "/cri.sock";
  int fd = BindSocket(path, /*listen_too=*/true);
  absl::Status s = PrepareSocketPath(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), HasSubstr("already listening"));
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  ::close(fd);
}

TEST_F(SocketPathTest, RefusesToReplaceAFileThatIsNotASocket) {
  const std::string path = dir_ + "/cri.sock";
  ASSERT_TRUE(WriteFileAtomic(path, "precious").ok());
  EXPECT_EQ(PrepareSocketPath(path).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*ReadFile(path, 100), "precious");
}

TEST(UnixSocketPath, AcceptsTheUsualSpellings) {
  EXPECT_EQ(*UnixSocketPath("/run/containerd/containerd.sock"), "/run/containerd/containerd.sock");
  EXPECT_EQ(*UnixSocketPath("unix:///run/c.sock"), "/run/c.sock");
  EXPECT_EQ(*UnixSocketPath("unix:/run/c.sock"), "/run/c.sock");
  EXPECT_FALSE(UnixSocketPath("tcp://127.0.0.1:1").ok());
  EXPECT_FALSE(UnixSocketPath("relative.sock").ok());
  EXPECT_FALSE(UnixSocketPath("/" + std::string(200, 'x')).ok());
}

}  // namespace
}  // namespace sigshim::shim
