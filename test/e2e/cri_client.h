// A small CRI client for the end-to-end tests: typed runtime.v1 stubs plus untyped calls by method
// path (for runtime.v1alpha2, which uses the same messages on the wire).
#ifndef SIGSHIM_TEST_E2E_CRI_CLIENT_H_
#define SIGSHIM_TEST_E2E_CRI_CLIENT_H_

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

}  // namespace sigshim::e2e

#endif  // SIGSHIM_TEST_E2E_CRI_CLIENT_H_
