#include "test/shim/echo_runtime.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_callback.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"

namespace sigshim::testing {

class EchoRuntime::Service final : public grpc::CallbackGenericService {
 public:
  explicit Service(int stream_count) : stream_count_(stream_count) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

  void Record(const std::string& method, SeenCall call) {
    absl::MutexLock lock(&mu_);
    ++calls_;
    seen_[method] = std::move(call);
  }
  void MarkCancelled(const std::string& method) {
    absl::MutexLock lock(&mu_);
    seen_[method].cancelled = true;
  }
  bool Find(const std::string& method, SeenCall* out, bool need_cancel) {
    absl::MutexLock lock(&mu_);
    auto condition = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = seen_.find(method);
      return it != seen_.end() && (!need_cancel || it->second.cancelled);
    };
    mu_.AwaitWithTimeout(absl::Condition(&condition), absl::Seconds(5));
    auto it = seen_.find(method);
    if (it == seen_.end()) return false;
    *out = it->second;
    return !need_cancel || it->second.cancelled;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  int stream_count() const { return stream_count_; }

 private:
  const int stream_count_;
  absl::Mutex mu_;
  std::map<std::string, SeenCall> seen_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class EchoRuntime::Reactor final : public grpc::ServerGenericBidiReactor {
 public:
  Reactor(Service* service, grpc::GenericCallbackServerContext* ctx) : service_(service), ctx_(ctx) {
    ctx_->AddInitialMetadata("x-runtime-initial", "hello");
    ctx_->AddTrailingMetadata("x-runtime-trailing", "bye");
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
      return;
    }
    SeenCall call;
    call.method = ctx_->method();
    for (const auto& [k, v] : ctx_->client_metadata()) {
      call.metadata.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
    call.deadline = ctx_->deadline();
    std::vector<grpc::Slice> slices;
    (void)request_.Dump(&slices);
    for (const auto& s : slices) call.request.append(reinterpret_cast<const char*>(s.begin()), s.size());
    service_->Record(ctx_->method(), call);

    const std::string& m = ctx_->method();
    if (call.request == "fail") {
      Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "runtime says no", std::string("\x01\x02\x03", 3)));
    } else if (absl::EndsWith(m, "/GetContainerEvents")) {
      remaining_ = service_->stream_count();
      streaming_.store(true);
      // A cancellation that came before `streaming_` was set did not finish the stream.
      if (cancelled_.load()) {
        FinishOnce(grpc::Status::CANCELLED);
        return;
      }
      WriteNext();
    } else if (call.request == "slow") {
      std::thread([this] {
        for (int i = 0; i < 100 && !cancelled_.load(); ++i) absl::SleepFor(absl::Milliseconds(10));
        if (cancelled_.load()) {
          Finish(grpc::Status::CANCELLED);
        } else {
          StartWriteAndFinish(&request_, grpc::WriteOptions(), grpc::Status::OK);
        }
      }).detach();
    } else if (call.request.rfind("split", 0) == 0) {
      split_ = true;
      StartWrite(&request_);  // The status follows in a separate batch, as from a Go server.
    } else {
      StartWriteAndFinish(&request_, grpc::WriteOptions(), grpc::Status::OK);
    }
  }

  void OnWriteDone(bool ok) override {
    if (split_) {
      Finish(grpc::Status::OK);
      return;
    }
    if (streaming_.load() && ok) WriteNext();
  }

  void OnCancel() override {
    cancelled_.store(true);
    service_->MarkCancelled(ctx_->method());
    if (streaming_.load()) FinishOnce(grpc::Status::CANCELLED);
  }

  void OnDone() override { delete this; }

 private:
  // OnCancel and OnReadDone may both see a cancelled stream (they run on different threads): only
  // the first finishes it.
  void FinishOnce(const grpc::Status& status) {
    if (!finish_claimed_.exchange(true)) Finish(status);
  }

  void WriteNext() {
    if (remaining_-- > 0) StartWrite(&request_);
    // After the last message the stream stays open until the caller cancels.
  }

  Service* service_;
  grpc::GenericCallbackServerContext* ctx_;
  grpc::ByteBuffer request_;
  std::atomic<bool> streaming_{false};
  std::atomic<bool> finish_claimed_{false};
  bool split_ = false;
  int remaining_ = 0;
  std::atomic<bool> cancelled_{false};
};

grpc::ServerGenericBidiReactor* EchoRuntime::Service::CreateReactor(grpc::GenericCallbackServerContext* ctx) {
  return new Reactor(this, ctx);
}

EchoRuntime::EchoRuntime(const std::string& path, int stream_count)
    : service_(std::make_unique<Service>(stream_count)) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  builder.RegisterCallbackGenericService(service_.get());
  server_ = builder.BuildAndStart();
}

EchoRuntime::~EchoRuntime() {
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

SeenCall EchoRuntime::WaitForCall(const std::string& method) {
  SeenCall call;
  service_->Find(method, &call, false);
  return call;
}

bool EchoRuntime::WaitForCancel(const std::string& method) {
  SeenCall call;
  return service_->Find(method, &call, true);
}

int EchoRuntime::calls() const { return service_->calls(); }

}  // namespace sigshim::testing
