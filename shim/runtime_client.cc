#include "shim/runtime_client.h"

#include <chrono>

#include <grpcpp/client_context.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "pkg/cri/api.grpc.pb.h"

namespace sigshim::shim {
namespace {

// Converts a gRPC status from the runtime into an absl::Status naming what was asked.
absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("runtime ", what, ": ", status.error_message()));
}

class GrpcRuntimeClient final : public RuntimeClient {
 public:
  explicit GrpcRuntimeClient(std::shared_ptr<grpc::Channel> channel)
      : runtime_(runtime::v1::RuntimeService::NewStub(channel)), images_(runtime::v1::ImageService::NewStub(channel)) {}

  absl::StatusOr<std::optional<RuntimeImage>> ImageStatus(const std::string& image, absl::Time deadline) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx, deadline);
    runtime::v1::ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    runtime::v1::ImageStatusResponse response;
    grpc::Status status = images_->ImageStatus(&ctx, request, &response);
    if (!status.ok()) return FromGrpc(status, absl::StrCat("ImageStatus(", image, ")"));
    if (!response.has_image() || response.image().id().empty()) return std::nullopt;
    RuntimeImage out;
    out.id = response.image().id();
    out.repo_tags.assign(response.image().repo_tags().begin(), response.image().repo_tags().end());
    out.repo_digests.assign(response.image().repo_digests().begin(), response.image().repo_digests().end());
    return out;
  }

  absl::StatusOr<std::string> PullImage(const std::string& image, const runtime::v1::AuthConfig& auth,
                                        absl::Time deadline) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx, deadline);
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    *request.mutable_auth() = auth;
    runtime::v1::PullImageResponse response;
    grpc::Status status = images_->PullImage(&ctx, request, &response);
    if (!status.ok()) return FromGrpc(status, absl::StrCat("PullImage(", image, ")"));
    return response.image_ref();
  }

  absl::StatusOr<std::string> SandboxImage(absl::Time deadline) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx, deadline);
    runtime::v1::StatusRequest request;
    request.set_verbose(true);
    runtime::v1::StatusResponse response;
    grpc::Status status = runtime_->Status(&ctx, request, &response);
    if (!status.ok()) return FromGrpc(status, "Status");
    auto it = response.info().find("config");
    if (it == response.info().end()) {
      return absl::NotFoundError("the runtime's Status reports no configuration");
    }
    nlohmann::json config = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object() || !config.contains("sandboxImage") || !config["sandboxImage"].is_string() ||
        config["sandboxImage"].get<std::string>().empty()) {
      return absl::NotFoundError(
          "the runtime's Status configuration names no sandboxImage");
    }
    return config["sandboxImage"].get<std::string>();
  }

 private:
  static void SetDeadline(grpc::ClientContext& ctx, absl::Time deadline) {
    if (deadline != absl::InfiniteFuture()) ctx.set_deadline(absl::ToChronoTime(deadline));
  }

  std::unique_ptr<runtime::v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<runtime::v1::ImageService::Stub> images_;
};

}  // namespace

std::unique_ptr<RuntimeClient> NewGrpcRuntimeClient(std::shared_ptr<grpc::Channel> channel) {
  return std::make_unique<GrpcRuntimeClient>(std::move(channel));
}

}  // namespace sigshim::shim
