#include "shim/enforcement_hooks.h"

#include <string>
#include <utility>

#include <grpcpp/support/slice.h>

#include "absl/strings/str_cat.h"
#include "pkg/base/log.h"
#include "pkg/cri/api.pb.h"
#include "pkg/cri/cri.h"

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

// Runs `task` on `queue`, or refuses the call when the queue is full.
void OffThread(WorkQueue* queue, const HookDone& done, std::function<void()> task) {
  if (!queue->Schedule(std::move(task))) {
    done(absl::UnavailableError("sigshim is overloaded: too many image decisions are waiting; try again"));
  }
}

class PullHook final : public CallHook {
 public:
  PullHook(Enforcer* enforcer, WorkQueue* queue) : enforcer_(enforcer), queue_(queue) {}

  void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) override {
    auto decoded = std::make_shared<runtime::v1::PullImageRequest>();
    absl::Status status = DecodeMessage(request, decoded.get());
    if (!status.ok()) {
      done(status);
      return;
    }
    Caller caller;
    caller.method = "PullImage";
    caller.namespace_name = decoded->sandbox_config().metadata().namespace_();
    caller.pod = decoded->sandbox_config().metadata().name();
    // Not on a worker thread: a pull that joins another's verification holds no thread meanwhile.
    enforcer_->StartPull(
        caller, decoded->image().image(), decoded->auth(),
        [this](std::function<void()> task) { return queue_->Schedule(std::move(task)); },
        [this, decoded, done](absl::StatusOr<PullPlan> plan) {
      if (!plan.ok()) {
        done(plan.status());
        return;
      }
      decoded->mutable_image()->set_image(plan->forward_image);
      absl::StatusOr<grpc::ByteBuffer> pinned = Encode(*decoded);
      if (!pinned.ok()) {
        done(pinned.status());
        return;
      }
      done(Forward(*std::move(pinned), [this, plan = *std::move(plan)](grpc::ByteBuffer response, ResponseDone answer) {
        runtime::v1::PullImageResponse pulled;
        if (DecodeMessage(response, &pulled).ok()) enforcer_->RememberPulled(plan, pulled.image_ref());
        if (plan.tag_name.empty()) {
          answer(std::move(response));
          return;
        }
        auto held = std::make_shared<grpc::ByteBuffer>(std::move(response));
        if (!queue_->Schedule([this, plan, held, answer] {
              absl::Status tagged = enforcer_->FinishPull(plan);
              if (!tagged.ok()) {
                answer(absl::InternalError(absl::StrCat("the image was pulled as ", plan.forward_image,
                                                        " but its tag could not be set: ", tagged.message())));
                return;
              }
              answer(std::move(*held));
            })) {
          answer(absl::UnavailableError(absl::StrCat("sigshim is overloaded: the image was pulled as ",
                                                     plan.forward_image, " but its tag was not set; pull again")));
        }
      }));
    });
  }

 private:
  Enforcer* const enforcer_;
  WorkQueue* const queue_;
};

class CreateContainerHook final : public CallHook {
 public:
  CreateContainerHook(Enforcer* enforcer, WorkQueue* queue) : enforcer_(enforcer), queue_(queue) {}

  void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) override {
    auto decoded = std::make_shared<runtime::v1::CreateContainerRequest>();
    absl::Status status = DecodeMessage(request, decoded.get());
    if (!status.ok()) {
      done(status);
      return;
    }
    Caller caller;
    caller.method = "CreateContainer";
    caller.namespace_name = decoded->sandbox_config().metadata().namespace_();
    caller.pod = decoded->sandbox_config().metadata().name();
    caller.container = decoded->config().metadata().name();
    // An image id admitted before under this policy (kubelet names images by id): decided here,
    // on the proxy's thread, with no I/O; the audit line is written from a worker.
    if (std::optional<audit::AuditRecord> admitted = enforcer_->AdmitFromCache(caller, decoded->config().image().image())) {
      auto record = std::make_shared<audit::AuditRecord>(*std::move(admitted));
      if (!queue_->Schedule([this, record] { enforcer_->Report(*record); })) enforcer_->Report(*record);
      done(std::move(request));
      return;
    }
    OffThread(queue_, done, [this, decoded, caller, done] {
      const std::string& image = decoded->config().image().image();
      absl::StatusOr<std::string> pinned = enforcer_->AdmitImage(caller, image);
      if (!pinned.ok()) {
        done(pinned.status());
        return;
      }
      decoded->mutable_config()->mutable_image()->set_image(*pinned);
      absl::StatusOr<grpc::ByteBuffer> rewritten = Encode(*decoded);
      if (!rewritten.ok()) {
        done(rewritten.status());
        return;
      }
      done(Forward(*std::move(rewritten)));
    });
  }

 private:
  Enforcer* const enforcer_;
  WorkQueue* const queue_;
};

class RunPodSandboxHook final : public CallHook {
 public:
  RunPodSandboxHook(Enforcer* enforcer, WorkQueue* queue) : enforcer_(enforcer), queue_(queue) {}

  void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) override {
    auto decoded = std::make_shared<runtime::v1::RunPodSandboxRequest>();
    absl::Status status = DecodeMessage(request, decoded.get());
    if (!status.ok()) {
      done(status);
      return;
    }
    auto held = std::make_shared<grpc::ByteBuffer>(std::move(request));
    OffThread(queue_, done, [this, decoded, held, done] {
      Caller caller;
      caller.method = "RunPodSandbox";
      caller.namespace_name = decoded->config().metadata().namespace_();
      caller.pod = decoded->config().metadata().name();
      absl::Status admitted = enforcer_->AdmitSandbox(caller);
      if (!admitted.ok()) {
        done(admitted);
        return;
      }
      done(std::move(*held));
    });
  }

 private:
  Enforcer* const enforcer_;
  WorkQueue* const queue_;
};

class RemoveImageHook final : public CallHook {
 public:
  RemoveImageHook(Enforcer* enforcer, WorkQueue* queue) : enforcer_(enforcer), queue_(queue) {}

  void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) override {
    auto decoded = std::make_shared<runtime::v1::RemoveImageRequest>();
    absl::Status status = DecodeMessage(request, decoded.get());
    if (!status.ok()) {
      done(status);
      return;
    }
    auto held = std::make_shared<grpc::ByteBuffer>(std::move(request));
    OffThread(queue_, done, [this, decoded, held, done] {
      // Looked up before the runtime forgets the image.
      std::vector<std::string> digests = enforcer_->DigestsOf(decoded->image().image());
      done(Forward(std::move(*held), [this, digests](grpc::ByteBuffer response, ResponseDone answer) {
        if (digests.empty()) {
          answer(std::move(response));
          return;
        }
        auto kept = std::make_shared<grpc::ByteBuffer>(std::move(response));
        if (!queue_->Schedule([this, digests, kept, answer] {
              enforcer_->ForgetDigests(digests);
              answer(std::move(*kept));
            })) {
          // The image is gone; a verdict left behind only matters if the same digest returns,
          // and it is still re-checked against the policy then.
          SIGSHIM_LOG(kWarning, "RemoveImage: queue full, verdicts of the removed image kept");
          answer(std::move(*kept));
        }
      }));
    });
  }

 private:
  Enforcer* const enforcer_;
  WorkQueue* const queue_;
};

}  // namespace

EnforcementHooks::EnforcementHooks(Enforcer* enforcer, WorkQueue* queue)
    : pull_(std::make_unique<PullHook>(enforcer, queue)),
      create_(std::make_unique<CreateContainerHook>(enforcer, queue)),
      run_sandbox_(std::make_unique<RunPodSandboxHook>(enforcer, queue)),
      remove_(std::make_unique<RemoveImageHook>(enforcer, queue)) {
  for (absl::string_view version : cri::kApiVersions) {
    table_[cri::MethodPath(version, "ImageService", "PullImage")] = pull_.get();
    table_[cri::MethodPath(version, "ImageService", "RemoveImage")] = remove_.get();
    table_[cri::MethodPath(version, "RuntimeService", "CreateContainer")] = create_.get();
    table_[cri::MethodPath(version, "RuntimeService", "RunPodSandbox")] = run_sandbox_.get();
  }
}

EnforcementHooks::~EnforcementHooks() = default;

}  // namespace sigshim::shim
