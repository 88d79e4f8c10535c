#include "test/e2e/cri_client.h"

#include <chrono>
#include <future>
#include <vector>

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

}  // namespace sigshim::e2e
