// A small CRI client for the end-to-end tests: typed runtime.v1 stubs plus untyped calls by method
// path (for runtime.v1alpha2, which uses the same messages on the wire).
#ifndef SIGSHIM_TEST_E2E_CRI_CLIENT_H_
#define SIGSHIM_TEST_E2E_CRI_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include <google/protobuf/message.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/cri/api.grpc.pb.h"

namespace sigshim::e2e {

// The outcome of an untyped unary call: its status and the exact response bytes.
struct RawResult {
  grpc::Status status;
  std::string response;  // serialised response message; empty unless status is OK
};

// One channel to a CRI socket. Thread-safe (gRPC stubs are).
class CriClient {
 public:
  // Connects lazily to the unix socket at `socket_path`, reconnecting quickly after the server
  // went away (tests restart containerd).
  explicit CriClient(const std::string& socket_path);

  runtime::v1::RuntimeService::Stub& runtime() { return *runtime_; }
  runtime::v1::ImageService::Stub& images() { return *images_; }
  const std::string& socket_path() const { return socket_path_; }

  // Calls `method` (a full path such as "/runtime.v1alpha2.RuntimeService/Version") with
  // `request` serialised, waiting up to `timeout`.
  RawResult CallRaw(const std::string& method, const google::protobuf::Message& request,
                    absl::Duration timeout = absl::Seconds(60));

  // As CallRaw, then parses the response into `response` (when OK).
  grpc::Status Call(const std::string& method, const google::protobuf::Message& request,
                    google::protobuf::Message* response, absl::Duration timeout = absl::Seconds(60));

 private:
  std::string socket_path_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<runtime::v1::ImageService::Stub> images_;
  std::unique_ptr<grpc::GenericStub> generic_;
};

// Returns a context whose deadline is `timeout` from now.
std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(60));

// A pod that was run: its id and the config it was run with (CreateContainer repeats it).
struct PodRun {
  std::string sandbox_id;
  runtime::v1::PodSandboxConfig config;
};

// Calls PullImage for `image` through `client`, with `auth` when not null and the pod namespace
// `pod_namespace` when not empty, waiting up to `timeout`. Sets `*image_ref` (when not null) to
// the answer's image_ref, "" unless the call succeeded.
grpc::Status PullImage(CriClient& client, const std::string& image, const std::string& pod_namespace,
                       const runtime::v1::AuthConfig* auth = nullptr, std::string* image_ref = nullptr,
                       absl::Duration timeout = absl::Seconds(120));

// Returns the config of pod `name` in `pod_namespace` (uid "<name>-uid") on the host network,
// its container logs in `log_directory`.
runtime::v1::PodSandboxConfig HostNetworkPod(const std::string& name, const std::string& pod_namespace,
                                             const std::string& log_directory);

// Creates `config`'s log folder, then calls RunPodSandbox through `client`, waiting up to
// `timeout`; sets `*sandbox_id` when it succeeded. A failure names the step that failed.
grpc::Status RunPodSandbox(CriClient& client, const runtime::v1::PodSandboxConfig& config, std::string* sandbox_id,
                           absl::Duration timeout = absl::Seconds(120));

// Returns a CreateContainer request for container `name` of `image` in pod `sandbox_id` (run with
// `sandbox`), its log "<name>_0.log" in the pod's log folder.
runtime::v1::CreateContainerRequest ContainerRequest(const std::string& sandbox_id,
                                                     const runtime::v1::PodSandboxConfig& sandbox,
                                                     const std::string& name, const std::string& image);

// Polls ContainerStatus of `container_id` through `client` until the container exited, `timeout`
// passed or `give_up` (when set) returns true. Returns whether it exited; `*final_status` holds
// the last answer.
bool WaitForExit(CriClient& client, const std::string& container_id,
                 runtime::v1::ContainerStatusResponse* final_status, absl::Duration timeout = absl::Seconds(60),
                 const std::function<bool()>& give_up = nullptr);

// Stops, then removes pod `sandbox_id` through `client` (the removal is tried even when the stop
// failed). Returns OK or the first failure, its message prefixed with the method that failed.
grpc::Status RemovePod(CriClient& client, const std::string& sandbox_id);

}  // namespace sigshim::e2e

#endif  // SIGSHIM_TEST_E2E_CRI_CLIENT_H_
