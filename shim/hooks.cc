#include "shim/hooks.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include "absl/strings/str_cat.h"
#include "pkg/cri/api.pb.h"
#include "pkg/cri/cri.h"

namespace sigshim::shim {

absl::Status DecodeMessage(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  grpc::ByteBuffer copy(buffer);  // Shares the slices; the reader consumes the copy only.
  grpc::ProtoBufferReader reader(&copy);
  if (!reader.status().ok() || !message->ParseFromZeroCopyStream(&reader)) {
    return absl::InvalidArgumentError(
        absl::StrCat("request is not a valid ", message->GetTypeName(), " message"));
  }
  return absl::OkStatus();
}

PassThroughHooks::PassThroughHooks()
    : pull_(std::make_unique<ForwardingHook<runtime::v1::PullImageRequest>>()),
      create_(std::make_unique<ForwardingHook<runtime::v1::CreateContainerRequest>>()),
      run_sandbox_(std::make_unique<ForwardingHook<runtime::v1::RunPodSandboxRequest>>()) {
  for (absl::string_view version : cri::kApiVersions) {
    table_[cri::MethodPath(version, "ImageService", "PullImage")] = pull_.get();
    table_[cri::MethodPath(version, "RuntimeService", "CreateContainer")] = create_.get();
    table_[cri::MethodPath(version, "RuntimeService", "RunPodSandbox")] = run_sandbox_.get();
  }
}

}  // namespace sigshim::shim
