#include "shim/proxy.h"

#include <grpc/support/time.h>
#include <grpcpp/alarm.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>
#include <pthread.h>

#include <chrono>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "pkg/base/log.h"
#include "pkg/cri/cri.h"

namespace sigshim::shim {
namespace {

// Calls asked for ahead on each completion queue, so that a burst of new calls finds one waiting.
constexpr int kListenersPerQueue = 4;

// Metadata that gRPC itself manages on each hop and that must not be copied across.
bool IsHopMetadata(grpc::string_ref key) {
  absl::string_view k(key.data(), key.size());
  return k.empty() || k[0] == ':' || absl::StartsWith(k, "grpc-") || k == "content-type" ||
         k == "user-agent" || k == "te" || k == "host";
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace

// One hooked call, from the moment it is asked for on a completion queue until both its sides
// have ended. Every operation it starts, on the caller's side and upstream, completes on that one
// queue, so all its methods except StageAnswered (and the `done` callbacks that call it) run on the
// queue's thread and its state needs no lock. Owns itself: deleted by Dispatch once no operation
// of it is outstanding.
class ProxyCall {
 public:
  // Asks the server for the next call on `cq`.
  ProxyCall(ProxyService* service, grpc::ServerCompletionQueue* cq) : service_(service), cq_(cq), stream_(&ctx_) {
    for (int op = 0; op < kNumOps; ++op) tags_[op] = Tag{this, static_cast<Op>(op)};
    ctx_.AsyncNotifyWhenDone(&tags_[kServerDone]);  // Counted once the call has arrived.
    service_->service_.RequestCall(&ctx_, &stream_, cq_, cq_, TagFor(kRequested));
  }

  ~ProxyCall() {
    if (!arrived_) return;
    SIGSHIM_LOG(kDebug, "call ", ctx_.method(), " code=", final_code_,
                " latency_us=", absl::ToInt64Microseconds(absl::Now() - start_));
    service_->CallFinished();
  }

  // Handles the completion of one operation; `tag` is one of a call's tags. Deletes the call when
  // it was its last outstanding operation. Called on the thread of the call's queue.
  static void Dispatch(void* tag, bool ok) {
    Tag* t = static_cast<Tag*>(tag);
    ProxyCall* call = t->call;
    call->OnEvent(t->op, ok);
    if (--call->pending_ == 0) delete call;
  }

 private:
  enum Op {
    kRequested,      // A call arrived (ok) or the server shuts down (!ok).
    kServerDone,     // The call is over for the caller (finished or cancelled).
    kServerRead,     // The caller's request, or its half-close without one (!ok).
    kServerFinish,   // The answer and status went to the caller.
    kUpstreamUnary,  // The runtime answered.
    kStageAnswer,    // A hook stage answered from another thread (via the alarm).
    kNumOps,
  };
  struct Tag {
    ProxyCall* call;
    Op op;
  };
  // The hook stages of a call: the hook deciding on the request, then (when it asked for one) the
  // response stage deciding on the runtime's answer. One at a time.
  enum Stage { kRequestStage, kResponseStage };
  // Where a stage is: its answer and the call's thread race to move it out of kStageRunning.
  enum StageState { kStageRunning, kStageReturned, kStageAnswered };

  // Returns the tag of `op` and counts it as outstanding. Each op has at most one outstanding.
  void* TagFor(Op op) {
    ++pending_;
    return &tags_[op];
  }

  void OnEvent(Op op, bool ok) {
    switch (op) {
      case kRequested:
        if (ok) OnArrived();
        return;  // !ok: the server is shutting down; nothing to serve.
      case kServerDone:
        server_done_ = true;
        if (gone_ != nullptr) gone_->store(true);
        if (ctx_.IsCancelled()) CancelUpstream();
        return;
      case kServerRead:
        OnClientRead(ok);
        return;
      case kServerFinish:
        return;
      case kUpstreamUnary:
        OnUnaryDone();
        return;
      case kStageAnswer:
        OnStageAnswered();
        return;
      case kNumOps:
        break;
    }
  }

  void OnArrived() {
    arrived_ = true;
    start_ = absl::Now();
    service_->active_.fetch_add(1, std::memory_order_relaxed);
    ++pending_;  // kServerDone, armed by the arrival.
    new ProxyCall(service_, cq_);  // Takes this one's place for the next caller.
    const std::string& method = ctx_.method();
    // The frame relay sends only hooked methods here; should anything else arrive, it is never
    // forwarded: a path outside the CRI's closed set is refused as the relay refuses it, and a
    // CRI method without a hook would reach the runtime undecided.
    if (cri::FindMethod(method) == nullptr) {
      service_->RefuseUnknown(method);
      FinishToClient(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, cri::kNotCriMessage));
      return;
    }
    if (auto it = service_->hooks_->find(method); it != service_->hooks_->end()) hook_ = it->second;
    if (hook_ == nullptr) {
      SIGSHIM_LOG(kError, "the hooks' service got ", method, ", which has no hook: refused, not forwarded");
      FinishToClient(grpc::Status(grpc::StatusCode::INTERNAL,
                                  absl::StrCat("sigshim: ", method, " reached the hooks' service without a hook")));
      return;
    }
    stream_.Read(&from_client_, TagFor(kServerRead));
  }

  // Caller → proxy: the request. A unary caller sends exactly one message; its half-close is
  // not awaited.
  void OnClientRead(bool ok) {
    if (server_done_) return;  // Cancelled already.
    if (!ok) {
      // A hooked method is decided on its request; without one there is nothing to decide, and
      // nothing may reach the runtime undecided (fail closed).
      FinishToClient(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  absl::StrCat(ctx_.method(), " needs a request message")));
      return;
    }
    RunHook();
  }

  void FinishToClient(const grpc::Status& status) {
    finished_ = true;
    final_code_ = status.error_code();
    stream_.Finish(status, TagFor(kServerFinish));
  }

  // Runs one hook stage: `start` hands the stage its input and a `done` that stores the answer
  // and calls StageAnswered. The stage may answer inline, from another thread while `start` still
  // runs, or later from another thread; only the last needs the alarm to get back onto this
  // call's thread. Either way OnStageAnswered then runs here. Until the answer has come, it counts
  // as an outstanding operation: the call outlives every `done`, even once the caller has gone.
  template <typename Start>
  void RunStage(Stage stage, Start start) {
    stage_ = stage;
    stage_state_.store(kStageRunning, std::memory_order_relaxed);
    ++pending_;  // The answer; counted down by Dispatch after kStageAnswer, or below.
    start();
    int expected = kStageRunning;
    if (stage_state_.compare_exchange_strong(expected, kStageReturned, std::memory_order_acq_rel)) return;
    // Answered before `start` returned: carry on here. The event being handled keeps the call
    // alive, so the answer's count can be dropped at once.
    --pending_;
    OnStageAnswered();
  }

  // Tells the call's thread that the running stage has stored its answer. Any thread, exactly
  // once per stage.
  void StageAnswered() {
    int expected = kStageRunning;
    if (stage_state_.compare_exchange_strong(expected, kStageAnswered, std::memory_order_acq_rel)) return;
    // RunStage has returned: the call's thread learns of the answer from its queue.
    alarm_.emplace();
    alarm_->Set(cq_, gpr_time_0(GPR_CLOCK_MONOTONIC), &tags_[kStageAnswer]);
  }

  void OnStageAnswered() {
    if (stage_ == kRequestStage) {
      OnHookAnswered();
    } else {
      OnAfterAnswered();
    }
  }

  // Hands the request to the hook.
  void RunHook() {
    CallInfo info;
    info.method = ctx_.method();
    absl::string_view version, service, method;
    if (cri::ParseMethodPath(info.method, &version, &service, &method)) info.api_version = std::string(version);
    if (const auto deadline = ctx_.deadline(); deadline != std::chrono::system_clock::time_point::max()) {
      info.deadline = absl::FromChrono(deadline);  // max() is how gRPC spells "no deadline".
    }
    info.arrived = start_;
    gone_ = std::make_shared<std::atomic<bool>>(false);
    info.gone = gone_;
    RunStage(kRequestStage, [&] {
      hook_->OnRequest(info, std::move(from_client_), [this](absl::StatusOr<Forward> decision) {
        decision_.emplace(std::move(decision));
        StageAnswered();
      });
    });
  }

  void OnHookAnswered() {
    absl::StatusOr<Forward> decision = *std::move(decision_);
    decision_.reset();
    if (server_done_) return;  // The caller left meanwhile; `after` goes unused.
    if (!decision.ok()) {
      FinishToClient(ToGrpcStatus(decision.status()));
      return;
    }
    after_ = std::move(decision->after);
    StartUnary(decision->request);
  }

  // Hands the runtime's OK response to the response stage. The stage's function object goes
  // once it has returned: what it needs later, it keeps in `done`'s continuation.
  void RunAfter() {
    AfterResponse after = std::exchange(after_, nullptr);
    RunStage(kResponseStage, [&] {
      after(std::move(from_upstream_), [this](absl::StatusOr<grpc::ByteBuffer> answer) {
        after_answer_.emplace(std::move(answer));
        StageAnswered();
      });
    });
  }

  void OnAfterAnswered() {
    absl::StatusOr<grpc::ByteBuffer> answer = *std::move(after_answer_);
    after_answer_.reset();
    if (server_done_) return;  // The caller left meanwhile.
    if (!answer.ok()) {
      FinishToClient(ToGrpcStatus(answer.status()));
      return;
    }
    finished_ = true;
    final_code_ = grpc::StatusCode::OK;
    from_upstream_ = *std::move(answer);
    stream_.WriteAndFinish(from_upstream_, grpc::WriteOptions(), grpc::Status::OK, TagFor(kServerFinish));
  }

  void CopyMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& from, bool trailing) {
    for (const auto& [key, value] : from) {
      if (IsHopMetadata(key)) continue;
      std::string k(key.data(), key.size()), v(value.data(), value.size());
      if (trailing) {
        ctx_.AddTrailingMetadata(k, v);
      } else {
        ctx_.AddInitialMetadata(k, v);
      }
    }
  }

  // The request as the hook let it through goes to the runtime: one unary call with the caller's
  // deadline, cancellation and metadata; one batch back to the caller.
  void StartUnary(const grpc::ByteBuffer& request) {
    upstream_ctx_ = grpc::ClientContext::FromServerContext(ctx_);
    for (const auto& [key, value] : ctx_.client_metadata()) {
      if (IsHopMetadata(key)) continue;
      upstream_ctx_->AddMetadata(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
    }
    unary_call_ = service_->stub_.PrepareUnaryCall(upstream_ctx_.get(), ctx_.method(), request, cq_);
    unary_call_->StartCall();
    unary_call_->Finish(&from_upstream_, &upstream_status_, TagFor(kUpstreamUnary));
  }

  void OnUnaryDone() {
    upstream_done_ = true;
    if (server_done_ || finished_) {
      after_ = nullptr;
      return;
    }
    CopyMetadata(upstream_ctx_->GetServerInitialMetadata(), /*trailing=*/false);
    CopyMetadata(upstream_ctx_->GetServerTrailingMetadata(), /*trailing=*/true);
    if (after_ != nullptr) {
      if (upstream_status_.ok()) {
        RunAfter();  // Finishes to the caller once it has answered.
        return;
      }
      after_ = nullptr;  // Not called on a failure, which goes back unchanged.
    }
    finished_ = true;
    final_code_ = upstream_status_.error_code();
    if (upstream_status_.ok()) {
      stream_.WriteAndFinish(from_upstream_, grpc::WriteOptions(), upstream_status_, TagFor(kServerFinish));
    } else {
      stream_.Finish(upstream_status_, TagFor(kServerFinish));
    }
  }

  // Cancels the upstream call (the caller left); its completion then comes with CANCELLED.
  void CancelUpstream() {
    if (upstream_ctx_ == nullptr || upstream_done_ || upstream_cancelled_) return;
    upstream_cancelled_ = true;
    upstream_ctx_->TryCancel();
  }

  ProxyService* const service_;
  grpc::ServerCompletionQueue* const cq_;
  Tag tags_[kNumOps];
  int pending_ = 0;  // Outstanding operations (and the hook's answer).

  grpc::GenericServerContext ctx_;
  grpc::GenericServerAsyncReaderWriter stream_;
  absl::Time start_;
  CallHook* hook_ = nullptr;
  // Set once the caller's side is over; shared with the hook (CallInfo::gone).
  std::shared_ptr<std::atomic<bool>> gone_;
  AfterResponse after_;  // The hook's response stage, from its decision until the runtime answers.
  bool arrived_ = false;
  bool server_done_ = false;  // kServerDone has come: the caller's side is over.
  bool finished_ = false;     // The status to the caller has been sent (or is being sent).
  int final_code_ = -1;

  std::unique_ptr<grpc::ClientContext> upstream_ctx_;  // Outlives the upstream call object below.
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> unary_call_;
  grpc::Status upstream_status_;
  bool upstream_done_ = false;  // The runtime's answer has come.
  bool upstream_cancelled_ = false;
  grpc::ByteBuffer from_client_;
  grpc::ByteBuffer from_upstream_;

  // A stage's answer crosses threads: written by its `done` before stage_state_ (or the alarm)
  // publishes it, read on the call's thread after. The alarm is set by the answering thread only,
  // after the previous stage's alarm (if any) has fired.
  Stage stage_ = kRequestStage;  // Call's thread only.
  std::atomic<int> stage_state_{kStageRunning};
  std::optional<absl::StatusOr<Forward>> decision_;             // The request stage's answer.
  std::optional<absl::StatusOr<grpc::ByteBuffer>> after_answer_;  // The response stage's answer.
  std::optional<grpc::Alarm> alarm_;
};

ProxyService::ProxyService(std::shared_ptr<grpc::Channel> upstream, const HookTable* hooks,
                           const ProxyOptions& options)
    : upstream_(std::move(upstream)),
      stub_(upstream_),
      hooks_(hooks),
      on_refused_method_(options.on_refused_method),
      workers_(std::max(1, options.threads)) {
  for (const auto& [path, hook] : *hooks_) {
    if (cri::FindMethod(path) == nullptr) {
      SIGSHIM_LOG(kError, "a hook is registered for ", path, ", which is not a CRI method path: it is never called");
    }
  }
}

ProxyService::~ProxyService() { Stop(); }

void ProxyService::RegisterWith(grpc::ServerBuilder* builder) {
  builder->RegisterAsyncGenericService(&service_);
  for (Worker& worker : workers_) worker.cq = builder->AddCompletionQueue(/*is_frequently_polled=*/true);
}

void ProxyService::Start() {
  started_ = true;
  for (Worker& worker : workers_) {
    for (int i = 0; i < kListenersPerQueue; ++i) new ProxyCall(this, worker.cq.get());
    worker.thread = std::thread(&ProxyService::Poll, worker.cq.get());
  }
}

void ProxyService::Poll(grpc::ServerCompletionQueue* cq) {
  pthread_setname_np(pthread_self(), "sigshim-cq");
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) ProxyCall::Dispatch(tag, ok);
}

void ProxyService::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // After the server's Shutdown no call is left; should one be, its operations must still find
  // its queue open.
  while (started_ && active_calls() != 0) absl::SleepFor(absl::Milliseconds(1));
  for (Worker& worker : workers_) {
    if (worker.cq != nullptr) worker.cq->Shutdown();
  }
  for (Worker& worker : workers_) {
    if (worker.thread.joinable()) {
      worker.thread.join();
    } else if (worker.cq != nullptr) {
      Poll(worker.cq.get());  // Never started: drains what is there.
    }
  }
}

void ProxyService::RefuseUnknown(absl::string_view method) {
  refused_.fetch_add(1, std::memory_order_relaxed);
  // The path is the caller's: shown shortened and escaped, so that it cannot fill or forge log lines.
  SIGSHIM_LOG(kWarning, "refused a call to a method outside the CRI (UNIMPLEMENTED, not forwarded): ",
              log::QuoteName(method, 256));
  if (on_refused_method_) on_refused_method_();
}

}  // namespace sigshim::shim
