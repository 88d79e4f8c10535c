#include "shim/enforcement_hooks.h"

#include <string>
#include <utility>

#include <grpcpp/support/slice.h>

#include "absl/strings/str_cat.h"
#include "pkg/base/log.h"
#include "pkg/cri/api.pb.h"
#include "pkg/cri/cri.h"
#include "pkg/reference/reference.h"

namespace sigshim::shim {
namespace {

// Returns the wire form of `message`. Fields sigshim's proto subset does not know were kept by
// the parse and are written back unchanged.
absl::StatusOr<grpc::ByteBuffer> Encode(const google::protobuf::Message& message) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat("cannot encode the rewritten ", message.GetTypeName()));
  }
  grpc::Slice slice(std::move(bytes));
  return grpc::ByteBuffer(&slice, 1);
}

// The common part of the hooks below: decodes the request on the proxy's thread (a request that
// does not decode is refused) and hands it to Decide, with the original bytes for forwarding it
// unchanged. Decide runs on the proxy's thread too; its blocking work goes to the queue.
template <typename Request>
class EnforcementHook : public CallHook {
 public:
  EnforcementHook(Enforcer* enforcer, WorkQueue* local, WorkQueue* registry)
      : enforcer_(enforcer), local_(local), registry_(registry) {}

  void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) final {
    auto decoded = std::make_shared<Request>();
    absl::Status status = DecodeMessage(request, decoded.get());
    if (!status.ok()) {
      done(status);
      return;
    }
    Decide(info, std::move(decoded), std::make_shared<grpc::ByteBuffer>(std::move(request)), std::move(done));
  }

 protected:
  virtual void Decide(const CallInfo& info, std::shared_ptr<Request> request, std::shared_ptr<grpc::ByteBuffer> bytes,
                      HookDone done) = 0;

  // Runs `task` on a local worker (runtime and stored verdicts only), or refuses the call when that
  // queue is full.
  void OffThread(const HookDone& done, std::function<void()> task) {
    if (!local_->Schedule(std::move(task))) done(OverloadedError());
  }

  // Refuses the call when `image` is longer than any image reference may be, before the name is
  // copied, looked up or logged anywhere (the record keeps its start). Returns true when it did.
  bool RefusedAsOverlong(const Caller& caller, const std::string& image, const HookDone& done) {
    if (image.size() <= reference::kMaxReferenceLength) return false;
    const std::string shown = log::TruncateName(image, 256);
    const size_t size = image.size();
    OffThread(done, [this, caller, shown, size, done] { done(enforcer_->RefuseOverlongImage(caller, shown, size)); });
    return true;
  }

  // Runs `decide(false)` on a local worker; when only the registry can decide, runs `decide(true)`
  // on a registry worker. `decide` answers the call itself, except with a NeedsRegistry status,
  // which it returns instead.
  void DecideInLanes(const HookDone& done, std::function<absl::Status(bool registry_allowed)> decide) {
    OffThread(done, [this, done, decide] {
      absl::Status local = decide(false);
      if (!Enforcer::NeedsRegistry(local)) return;
      if (!registry_->Schedule([decide] { (void)decide(true); })) done(OverloadedError());
    });
  }

  // Returns a response stage that runs `work` on a worker, then answers with the runtime's
  // response, or with `work`'s error. When the queue is full: `overloaded` fails the call, or (when
  // OK) the response goes back without `work`.
  AfterResponse AfterOnWorker(std::function<absl::Status()> work, absl::Status overloaded) {
    return [this, work = std::move(work), overloaded](grpc::ByteBuffer response, ResponseDone answer) {
      auto held = std::make_shared<grpc::ByteBuffer>(std::move(response));
      if (local_->Schedule([work, held, answer] {
            absl::Status done = work();
            if (done.ok()) {
              answer(std::move(*held));
            } else {
              answer(done);
            }
          })) {
        return;
      }
      if (overloaded.ok()) {
        answer(std::move(*held));
      } else {
        answer(overloaded);
      }
    };
  }

  Enforcer* const enforcer_;
  WorkQueue* const local_;
  WorkQueue* const registry_;
};

// Returns the caller as a pod sandbox config names it.
Caller CallerOf(const CallInfo& info, absl::string_view method, const runtime::v1::PodSandboxConfig& pod) {
  Caller caller;
  caller.method = std::string(method);
  caller.namespace_name = pod.metadata().namespace_();
  caller.pod = pod.metadata().name();
  caller.arrived = info.arrived;
  caller.gone = info.gone;
  return caller;
}

class PullHook final : public EnforcementHook<runtime::v1::PullImageRequest> {
 public:
  using EnforcementHook::EnforcementHook;

 private:
  void Decide(const CallInfo& info, std::shared_ptr<runtime::v1::PullImageRequest> request,
              std::shared_ptr<grpc::ByteBuffer> bytes, HookDone done) override {
    const Caller caller = CallerOf(info, "PullImage", request->sandbox_config());
    if (RefusedAsOverlong(caller, request->image().image(), done)) return;
    // Not on a worker thread: a pull that joins another's verification holds no thread meanwhile.
    enforcer_->StartPull(
        caller, request->image().image(), request->auth(),
        [this](std::function<void()> task) { return local_->Schedule(std::move(task)); },
        [this](std::function<void()> task) { return registry_->Schedule(std::move(task)); },
        [this, request, done](absl::StatusOr<PullPlan> plan) {
          if (!plan.ok()) {
            done(plan.status());
            return;
          }
          request->mutable_image()->set_image(plan->forward_image);
          absl::StatusOr<grpc::ByteBuffer> pinned = Encode(*request);
          if (!pinned.ok()) {
            done(pinned.status());
            return;
          }
          AfterResponse tag = AfterOnWorker(
              [this, plan = *plan]() -> absl::Status {
                absl::Status tagged = enforcer_->FinishPull(plan);
                if (tagged.ok()) return tagged;
                return absl::InternalError(absl::StrCat("the image was pulled as ", plan.forward_image,
                                                        " but its tag could not be set: ", tagged.message()));
              },
              absl::UnavailableError(absl::StrCat("sigshim is overloaded: the image was pulled as ",
                                                  plan->forward_image, " but its tag was not set; pull again")));
          done(Forward(*std::move(pinned),
                       [this, plan = *plan, tag = std::move(tag)](grpc::ByteBuffer response, ResponseDone answer) {
                         runtime::v1::PullImageResponse pulled;
                         if (DecodeMessage(response, &pulled).ok()) enforcer_->RememberPulled(plan, pulled.image_ref());
                         if (plan.tag_name.empty()) {
                           answer(std::move(response));
                         } else {
                           tag(std::move(response), std::move(answer));
                         }
                       }));
        });
  }
};

class CreateContainerHook final : public EnforcementHook<runtime::v1::CreateContainerRequest> {
 public:
  using EnforcementHook::EnforcementHook;

 private:
  void Decide(const CallInfo& info, std::shared_ptr<runtime::v1::CreateContainerRequest> request,
              std::shared_ptr<grpc::ByteBuffer> bytes, HookDone done) override {
    Caller caller = CallerOf(info, "CreateContainer", request->sandbox_config());
    caller.container = request->config().metadata().name();
    if (RefusedAsOverlong(caller, request->config().image().image(), done)) return;
    // An image id admitted before under this policy (kubelet names images by id): decided here,
    // on the proxy's thread, with no I/O; the audit line is written from a worker.
    if (std::optional<audit::AuditRecord> admitted = enforcer_->AdmitFromCache(caller, request->config().image().image())) {
      auto record = std::make_shared<audit::AuditRecord>(*std::move(admitted));
      if (!local_->Schedule([this, record] { enforcer_->Report(*record); })) enforcer_->Report(*record);
      done(std::move(*bytes));
      return;
    }
    DecideInLanes(done, [this, request, caller, done](bool registry_allowed) -> absl::Status {
      absl::StatusOr<std::string> pinned =
          enforcer_->AdmitImage(caller, request->config().image().image(), registry_allowed);
      if (Enforcer::NeedsRegistry(pinned.status())) return pinned.status();
      if (!pinned.ok()) {
        done(pinned.status());
        return absl::OkStatus();
      }
      // Only the phase that answers gets here: the request is rewritten once.
      request->mutable_config()->mutable_image()->set_image(*pinned);
      absl::StatusOr<grpc::ByteBuffer> rewritten = Encode(*request);
      if (!rewritten.ok()) {
        done(rewritten.status());
        return absl::OkStatus();
      }
      done(Forward(*std::move(rewritten)));
      return absl::OkStatus();
    });
  }
};

class RunPodSandboxHook final : public EnforcementHook<runtime::v1::RunPodSandboxRequest> {
 public:
  using EnforcementHook::EnforcementHook;

 private:
  void Decide(const CallInfo& info, std::shared_ptr<runtime::v1::RunPodSandboxRequest> request,
              std::shared_ptr<grpc::ByteBuffer> bytes, HookDone done) override {
    Caller caller = CallerOf(info, "RunPodSandbox", request->config());
    DecideInLanes(done, [this, caller, bytes, done](bool registry_allowed) -> absl::Status {
      absl::Status admitted = enforcer_->AdmitSandbox(caller, registry_allowed);
      if (Enforcer::NeedsRegistry(admitted)) return admitted;
      if (!admitted.ok()) {
        done(admitted);
      } else {
        done(grpc::ByteBuffer(*bytes));
      }
      return absl::OkStatus();
    });
  }
};

class RemoveImageHook final : public EnforcementHook<runtime::v1::RemoveImageRequest> {
 public:
  using EnforcementHook::EnforcementHook;

 private:
  void Decide(const CallInfo& info, std::shared_ptr<runtime::v1::RemoveImageRequest> request,
              std::shared_ptr<grpc::ByteBuffer> bytes, HookDone done) override {
    if (request->image().image().size() > reference::kMaxReferenceLength) {
      done(absl::InvalidArgumentError(absl::StrCat("RemoveImage: the image name is ", request->image().image().size(),
                                                   " bytes long; an image reference has at most ",
                                                   reference::kMaxReferenceLength)));
      return;
    }
    OffThread(done, [this, request, bytes, done] {
      // Looked up before the runtime forgets the image.
      std::vector<std::string> digests = enforcer_->DigestsOf(request->image().image());
      if (digests.empty()) {
        done(std::move(*bytes));
        return;
      }
      // When the queue is full the verdicts stay: one left behind only matters if the same digest
      // returns, and it is re-checked against the policy then.
      done(Forward(std::move(*bytes), AfterOnWorker(
                                          [this, digests] {
                                            enforcer_->ForgetDigests(digests);
                                            return absl::OkStatus();
                                          },
                                          absl::OkStatus())));
    });
  }
};

}  // namespace

EnforcementHooks::EnforcementHooks(Enforcer* enforcer, WorkQueue* local, WorkQueue* registry)
    : pull_(std::make_unique<PullHook>(enforcer, local, registry)),
      create_(std::make_unique<CreateContainerHook>(enforcer, local, registry)),
      run_sandbox_(std::make_unique<RunPodSandboxHook>(enforcer, local, registry)),
      remove_(std::make_unique<RemoveImageHook>(enforcer, local, registry)) {
  for (absl::string_view version : cri::kApiVersions) {
    table_[cri::MethodPath(version, "ImageService", "PullImage")] = pull_.get();
    table_[cri::MethodPath(version, "ImageService", "RemoveImage")] = remove_.get();
    table_[cri::MethodPath(version, "RuntimeService", "CreateContainer")] = create_.get();
    table_[cri::MethodPath(version, "RuntimeService", "RunPodSandbox")] = run_sandbox_.get();
  }
}

EnforcementHooks::~EnforcementHooks() = default;

}  // namespace sigshim::shim
