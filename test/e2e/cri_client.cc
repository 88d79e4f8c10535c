#include "test/e2e/cri_client.h"

#include <chrono>
#include <future>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pkg/base/file.h"
#include "test/testbed/poll.h"

namespace sigshim::e2e {

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

CriClient::CriClient(const std::string& socket_path) : socket_path_(socket_path) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Each client gets its own connection, like separate kubelets would.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  channel_ = grpc::CreateCustomChannel("unix:" + socket_path, grpc::InsecureChannelCredentials(), args);
  runtime_ = runtime::v1::RuntimeService::NewStub(channel_);
  images_ = runtime::v1::ImageService::NewStub(channel_);
  generic_ = std::make_unique<grpc::GenericStub>(channel_);
}

RawResult CriClient::CallRaw(const std::string& method, const google::protobuf::Message& request,
                             absl::Duration timeout) {
  std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  auto context = Context(timeout);
  std::promise<grpc::Status> done;
  generic_->UnaryCall(context.get(), method, grpc::StubOptions(), &request_buffer, &response_buffer,
                      [&done](grpc::Status status) { done.set_value(std::move(status)); });
  RawResult result;
  result.status = done.get_future().get();
  if (result.status.ok()) {
    std::vector<grpc::Slice> slices;
    (void)response_buffer.Dump(&slices);
    for (const grpc::Slice& s : slices) {
      result.response.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return result;
}

grpc::Status CriClient::Call(const std::string& method, const google::protobuf::Message& request,
                             google::protobuf::Message* response, absl::Duration timeout) {
  RawResult result = CallRaw(method, request, timeout);
  if (result.status.ok() && !response->ParseFromString(result.response)) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS, "cannot parse the response of " + method);
  }
  return result.status;
}

grpc::Status PullImage(CriClient& client, const std::string& image, const std::string& pod_namespace,
                       const runtime::v1::AuthConfig* auth, std::string* image_ref, absl::Duration timeout) {
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  if (auth != nullptr) *request.mutable_auth() = *auth;
  if (!pod_namespace.empty()) request.mutable_sandbox_config()->mutable_metadata()->set_namespace_(pod_namespace);
  runtime::v1::PullImageResponse response;
  grpc::Status status = client.images().PullImage(Context(timeout).get(), request, &response);
  if (image_ref != nullptr) *image_ref = response.image_ref();
  return status;
}

runtime::v1::PodSandboxConfig HostNetworkPod(const std::string& name, const std::string& pod_namespace,
                                             const std::string& log_directory) {
  runtime::v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_metadata()->set_uid(absl::StrCat(name, "-uid"));
  config.mutable_metadata()->set_namespace_(pod_namespace);
  config.set_log_directory(log_directory);
  config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(runtime::v1::NODE);
  return config;
}

grpc::Status RunPodSandbox(CriClient& client, const runtime::v1::PodSandboxConfig& config, std::string* sandbox_id,
                           absl::Duration timeout) {
  absl::Status made = MakeDirs(config.log_directory());
  if (!made.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("creating the pod's log folder: ", made.ToString()));
  }
  runtime::v1::RunPodSandboxRequest request;
  *request.mutable_config() = config;
  runtime::v1::RunPodSandboxResponse response;
  grpc::Status status = client.runtime().RunPodSandbox(Context(timeout).get(), request, &response);
  if (!status.ok()) return grpc::Status(status.error_code(), "RunPodSandbox: " + status.error_message());
  *sandbox_id = response.pod_sandbox_id();
  return status;
}

runtime::v1::CreateContainerRequest ContainerRequest(const std::string& sandbox_id,
                                                     const runtime::v1::PodSandboxConfig& sandbox,
                                                     const std::string& name, const std::string& image) {
  runtime::v1::CreateContainerRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  request.mutable_config()->mutable_metadata()->set_name(name);
  request.mutable_config()->mutable_image()->set_image(image);
  request.mutable_config()->set_log_path(absl::StrCat(name, "_0.log"));
  *request.mutable_sandbox_config() = sandbox;
  return request;
}

bool WaitForExit(CriClient& client, const std::string& container_id,
                 runtime::v1::ContainerStatusResponse* final_status, absl::Duration timeout,
                 const std::function<bool()>& give_up) {
  runtime::v1::ContainerStatusRequest request;
  request.set_container_id(container_id);
  bool exited = false;
  testbed::Eventually(
      [&] {
        if (give_up != nullptr && give_up()) return true;
        grpc::Status status = client.runtime().ContainerStatus(Context().get(), request, final_status);
        exited = status.ok() && final_status->status().state() == runtime::v1::CONTAINER_EXITED;
        return exited;
      },
      timeout, absl::Milliseconds(100));
  return exited;
}

grpc::Status RemovePod(CriClient& client, const std::string& sandbox_id) {
  runtime::v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(sandbox_id);
  runtime::v1::StopPodSandboxResponse stopped;
  grpc::Status stop_status = client.runtime().StopPodSandbox(Context().get(), stop, &stopped);
  runtime::v1::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id(sandbox_id);
  runtime::v1::RemovePodSandboxResponse removed;
  grpc::Status remove_status = client.runtime().RemovePodSandbox(Context().get(), remove, &removed);
  if (!stop_status.ok()) return grpc::Status(stop_status.error_code(), "StopPodSandbox: " + stop_status.error_message());
  if (!remove_status.ok()) {
    return grpc::Status(remove_status.error_code(), "RemovePodSandbox: " + remove_status.error_message());
  }
  return grpc::Status::OK;
}

}  // namespace sigshim::e2e
