#include "shim/proxy.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/support/server_callback.h>

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "pkg/base/log.h"
#include "pkg/cri/cri.h"

namespace sigshim::shim {
namespace {

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

bool IsEndlessStream(absl::string_view method) { return absl::EndsWith(method, "/GetContainerEvents"); }

bool IsKnownUnary(absl::string_view path) {
  // Every unary method of the CRI RuntimeService and ImageService (runtime.v1 and v1alpha2).
  // Streaming methods, and methods this list does not know yet, take the general relay.
  static const auto* const kUnary = new absl::flat_hash_set<std::string>{
      "Version", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
      "ListPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
      "ListContainers", "ContainerStatus", "UpdateContainerResources", "ReopenContainerLog",
      "ExecSync", "Exec", "Attach", "PortForward", "ContainerStats", "ListContainerStats",
      "PodSandboxStats", "ListPodSandboxStats", "UpdateRuntimeConfig", "Status", "CheckpointContainer",
      "ListMetricDescriptors", "ListPodSandboxMetrics", "RuntimeConfig", "UpdatePodSandboxResources",
      "ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"};
  absl::string_view version, service, method;
  if (!cri::ParseMethodPath(path, &version, &service, &method)) return false;
  if (service != "RuntimeService" && service != "ImageService") return false;
  return kUnary->contains(method);
}

// One proxied call: the server-side reactor towards the caller and, once started, a client-side
// reactor towards the runtime. Deletes itself when both sides are done.
class ProxyCall final : public grpc::ServerGenericBidiReactor {
 public:
  ProxyCall(ProxyService* service, grpc::GenericCallbackServerContext* ctx)
      : service_(service), ctx_(ctx), start_(absl::Now()), upstream_(this) {
    method_ = ctx_->method();
    hook_ = nullptr;
    if (auto it = service_->hooks_->find(method_); it != service_->hooks_->end()) hook_ = it->second;
    unary_ = hook_ != nullptr || (IsKnownUnary(method_) && !service_->relay_unary_as_streams_);
    StartRead(&from_client_);
  }

  void TryCancel() { ctx_->TryCancel(); }

  // Caller → proxy.
  void OnReadDone(bool ok) override {
    OnClientRead(ok);
    MaybeRegisterEndless();
    ReleaseHolds();
  }

  void OnClientRead(bool ok) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (first_read_) {
      first_read_ = false;
      if (!ok) {
        // The caller left or half-closed without a request.
        if (cancelled_) {
          FinishLocked(grpc::Status::CANCELLED);
        } else {
          StartUpstreamLocked(std::nullopt);
        }
        return;
      }
      if (hook_ != nullptr) {
        RunHookLocked();
        return;
      }
      if (unary_) {
        StartUnaryLocked(std::move(from_client_));
      } else {
        StartUpstreamLocked(std::move(from_client_));
      }
      return;
    }
    if (writes_closed_) return;  // The runtime has finished: nothing more goes upstream.
    if (ok) {
      to_upstream_ = std::move(from_client_);
      upstream_write_in_flight_ = true;
      upstream_.StartWrite(&to_upstream_);
    } else {
      upstream_.StartWritesDone();
      CloseWritesLocked();
    }
  }

  // Proxy → caller.
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      client_write_pending_ = false;
      if (pending_status_.has_value()) {
        FinishLocked(*pending_status_);
      } else if (!ok || finished_) {
        // The caller is gone: stop reading from the runtime and cancel it.
        if (!ok && upstream_ctx_ != nullptr) upstream_ctx_->TryCancel();
        CloseReadsLocked();
      } else {
        upstream_.StartRead(&from_upstream_);  // Safe: the read chain holds the stream.
      }
    }
    ReleaseHolds();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (upstream_ctx_ != nullptr) upstream_ctx_->TryCancel();
  }

  void OnDone() override {
    const absl::Duration latency = absl::Now() - start_;
    SIGSHIM_LOG(kDebug, "call ", method_, " code=", final_code_, " latency_us=",
                absl::ToInt64Microseconds(latency));
    Unref();
  }

 private:
  class Upstream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Upstream(ProxyCall* call) : call_(call) {}
    void OnReadInitialMetadataDone(bool ok) override { call_->OnUpstreamHeaders(ok); }
    void OnReadDone(bool ok) override { call_->OnUpstreamRead(ok); }
    void OnWriteDone(bool ok) override { call_->OnUpstreamWriteDone(ok); }
    void OnDone(const grpc::Status& status) override { call_->OnUpstreamDone(status); }

   private:
    ProxyCall* call_;
  };

  void RunHookLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CallInfo info;
    info.method = method_;
    absl::string_view version, service, method;
    if (cri::ParseMethodPath(method_, &version, &service, &method)) info.api_version = std::string(version);
    grpc::ByteBuffer request = std::move(from_client_);
    CallHook* hook = hook_;
    // The hook may answer inline (on this thread) or later from another thread.
    mu_.Unlock();
    hook->OnRequest(info, std::move(request), [this](absl::StatusOr<grpc::ByteBuffer> decision) {
      absl::MutexLock lock(&mu_);
      if (cancelled_) {
        FinishLocked(grpc::Status::CANCELLED);
      } else if (!decision.ok()) {
        FinishLocked(ToGrpcStatus(decision.status()));
      } else {
        StartUnaryLocked(*std::move(decision));
      }
    });
    // Hooked methods are unary, never endless: nothing to register.
    mu_.Lock();
  }

  // Creates the upstream context: the caller's deadline, cancellation and metadata.
  void MakeUpstreamContextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    upstream_ctx_ = grpc::ClientContext::FromCallbackServerContext(*ctx_);
    for (const auto& [key, value] : ctx_->client_metadata()) {
      if (IsHopMetadata(key)) continue;
      upstream_ctx_->AddMetadata(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
    }
    ++refs_;
  }

  // Unary fast path: one batch to the runtime, one batch back to the caller. The caller's
  // half-close is not awaited: a unary caller sends exactly one message.
  void StartUnaryLocked(grpc::ByteBuffer request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    MakeUpstreamContextLocked();
    to_upstream_ = std::move(request);
    service_->stub_.UnaryCall(upstream_ctx_.get(), method_, grpc::StubOptions(), &to_upstream_,
                              &from_upstream_, [this](grpc::Status status) { OnUnaryDone(status); });
  }

  void OnUnaryDone(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (!finished_) {
        CopyMetadataLocked(upstream_ctx_->GetServerInitialMetadata(), /*trailing=*/false);
        CopyMetadataLocked(upstream_ctx_->GetServerTrailingMetadata(), /*trailing=*/true);
        finished_ = true;
        final_code_ = status.error_code();
        if (status.ok()) {
          StartWriteAndFinish(&from_upstream_, grpc::WriteOptions(), status);
        } else {
          Finish(status);
        }
      }
    }
    Unref();
  }

  void CopyMetadataLocked(const std::multimap<grpc::string_ref, grpc::string_ref>& from, bool trailing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [key, value] : from) {
      if (IsHopMetadata(key)) continue;
      std::string k(key.data(), key.size()), v(value.data(), value.size());
      if (trailing) {
        ctx_->AddTrailingMetadata(k, v);
      } else {
        ctx_->AddInitialMetadata(k, v);
      }
    }
  }

  // The stream relay. Operations on the upstream stream are started from the caller's reactions,
  // which gRPC cannot see: without a hold, the stream may be torn down (status received, nothing
  // outstanding) while such an operation is being started. So the read chain (runtime → caller)
  // and the write chain (caller → runtime) each hold the stream, and each releases its hold
  // exactly once, when it ends; only then can the upstream OnDone run.
  void StartUpstreamLocked(std::optional<grpc::ByteBuffer> first) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    MakeUpstreamContextLocked();
    const bool endless = IsEndlessStream(method_);
    service_->stub_.PrepareBidiStreamingCall(upstream_ctx_.get(), method_, grpc::StubOptions(), &upstream_);
    upstream_.AddHold();
    read_hold_ = true;
    upstream_.StartRead(&from_upstream_);
    if (first.has_value()) {
      upstream_.AddHold();
      write_hold_ = true;
      to_upstream_ = *std::move(first);
      upstream_write_in_flight_ = true;
      upstream_.StartWrite(&to_upstream_);
    } else {
      upstream_.StartWritesDone();
      writes_closed_ = true;
    }
    upstream_.StartCall();
    register_endless_pending_ = endless;
  }

  // Ends the read chain: no upstream read will be started any more.
  void CloseReadsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!read_hold_) return;
    read_hold_ = false;
    ++holds_to_release_;
  }

  // Ends the write chain: no upstream write will be started any more.
  void CloseWritesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writes_closed_ = true;
    if (!write_hold_) return;
    write_hold_ = false;
    ++holds_to_release_;
  }

  // Releases the holds the chains gave up. Called at the end of reactions, without mu_: releasing
  // the last hold may run the upstream OnDone, which takes mu_. `this` stays alive meanwhile, as
  // the reaction that calls this one keeps its side from being done.
  void ReleaseHolds() ABSL_LOCKS_EXCLUDED(mu_) {
    int n;
    {
      absl::MutexLock lock(&mu_);
      n = holds_to_release_;
      holds_to_release_ = 0;
    }
    while (n-- > 0) upstream_.RemoveHold();
  }

  // Registers an endless stream with the service. Called without mu_ held: the service's lock
  // is always taken before a call's lock, never after.
  void MaybeRegisterEndless() ABSL_LOCKS_EXCLUDED(mu_) {
    bool do_register;
    {
      absl::MutexLock lock(&mu_);
      do_register = register_endless_pending_;
      register_endless_pending_ = false;
    }
    if (do_register) service_->RegisterEndless(this);
  }

  // The runtime's headers and its first message are separate reactions that may run on different
  // threads in either order; a message is only written to the caller after the headers went out.
  void OnUpstreamHeaders(bool ok) {
    {
      absl::MutexLock lock(&mu_);
      headers_done_ = true;
      if (finished_) {
        if (message_waiting_for_headers_) CloseReadsLocked();
        message_waiting_for_headers_ = false;
      } else {
        if (ok) CopyMetadataLocked(upstream_ctx_->GetServerInitialMetadata(), /*trailing=*/false);
        if (message_waiting_for_headers_) {
          message_waiting_for_headers_ = false;
          client_write_pending_ = true;
          StartWrite(&from_upstream_);  // Carries the initial metadata.
        } else if (ok) {
          StartSendInitialMetadata();
        }
      }
    }
    ReleaseHolds();
  }

  void OnUpstreamWriteDone(bool ok) {
    {
      absl::MutexLock lock(&mu_);
      upstream_write_in_flight_ = false;
      if (!ok || finished_ || reads_done_) {
        CloseWritesLocked();
      } else {
        StartRead(&from_client_);
      }
    }
    ReleaseHolds();
  }

  void OnUpstreamRead(bool ok) {
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        // The runtime has finished (its status follows in OnDone): the read chain ends, and the
        // write chain too unless a write is in flight (its completion ends it), so that a caller
        // that never half-closes cannot keep the upstream call from completing.
        reads_done_ = true;
        CloseReadsLocked();
        if (!upstream_write_in_flight_) CloseWritesLocked();
      } else if (finished_) {
        CloseReadsLocked();
      } else if (!headers_done_) {
        message_waiting_for_headers_ = true;
      } else {
        client_write_pending_ = true;
        StartWrite(&from_upstream_);
      }
    }
    ReleaseHolds();
  }

  void OnUpstreamDone(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (!finished_) {
        CopyMetadataLocked(upstream_ctx_->GetServerTrailingMetadata(), /*trailing=*/true);
        if (client_write_pending_ || message_waiting_for_headers_) {
          pending_status_ = status;
        } else {
          FinishLocked(status);
        }
      }
    }
    Unref();
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    final_code_ = status.error_code();
    Finish(status);
  }

  void Unref() {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      last = --refs_ == 0;
    }
    if (last) {
      service_->CallFinished(this);
      delete this;
    }
  }

  ProxyService* const service_;
  grpc::GenericCallbackServerContext* const ctx_;
  const absl::Time start_;
  std::string method_;
  CallHook* hook_;
  bool unary_;  // Relayed with one upstream UnaryCall instead of a stream.
  Upstream upstream_;

  absl::Mutex mu_;
  int refs_ ABSL_GUARDED_BY(mu_) = 1;  // The caller side; +1 while the upstream call runs.
  bool first_read_ ABSL_GUARDED_BY(mu_) = true;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool client_write_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool headers_done_ ABSL_GUARDED_BY(mu_) = false;
  bool message_waiting_for_headers_ ABSL_GUARDED_BY(mu_) = false;
  // Stream relay state (see StartUpstreamLocked).
  bool read_hold_ ABSL_GUARDED_BY(mu_) = false;
  bool write_hold_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool upstream_write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  int holds_to_release_ ABSL_GUARDED_BY(mu_) = 0;
  bool register_endless_pending_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_status_ ABSL_GUARDED_BY(mu_);
  int final_code_ = -1;  // Written once under mu_ before Finish; read in OnDone.
  std::unique_ptr<grpc::ClientContext> upstream_ctx_;
  grpc::ByteBuffer from_client_;
  grpc::ByteBuffer to_upstream_;
  grpc::ByteBuffer from_upstream_;
};

ProxyService::ProxyService(std::shared_ptr<grpc::Channel> upstream, const HookTable* hooks,
                           bool relay_unary_as_streams)
    : upstream_(std::move(upstream)), stub_(upstream_), hooks_(hooks), relay_unary_as_streams_(relay_unary_as_streams) {}

ProxyService::~ProxyService() = default;

grpc::ServerGenericBidiReactor* ProxyService::CreateReactor(grpc::GenericCallbackServerContext* ctx) {
  {
    absl::MutexLock lock(&mu_);
    ++active_;
  }
  return new ProxyCall(this, ctx);
}

void ProxyService::RegisterEndless(ProxyCall* call) {
  absl::MutexLock lock(&mu_);
  if (cancel_endless_) {
    call->TryCancel();
    return;
  }
  endless_.insert(call);
}

void ProxyService::CallFinished(ProxyCall* call) {
  absl::MutexLock lock(&mu_);
  endless_.erase(call);
  --active_;
}

void ProxyService::CancelEndlessStreams() {
  absl::MutexLock lock(&mu_);
  cancel_endless_ = true;
  for (ProxyCall* call : endless_) call->TryCancel();
}

int ProxyService::active_calls() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

}  // namespace sigshim::shim
