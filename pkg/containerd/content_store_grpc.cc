#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "pkg/base/digest.h"
#include "pkg/containerd/content.grpc.pb.h"
#include "pkg/containerd/content_store.h"

namespace sigshim::containerd {
namespace {

namespace api = ::containerd::services::content::v1;

class GrpcContentStore final : public ContentStore {
 public:
  GrpcContentStore(std::shared_ptr<grpc::Channel> channel, GrpcContentStoreOptions options)
      : channel_(std::move(channel)), options_(std::move(options)), stub_(api::Content::NewStub(channel_)) {}

  absl::StatusOr<std::string> Read(absl::string_view digest, size_t max_bytes) override {
    if (absl::Status valid = ValidateDigest(digest); !valid.ok()) return valid;
    grpc::ClientContext context;
    context.AddMetadata("containerd-namespace", options_.namespace_name);
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
    api::ReadContentRequest request;
    request.set_digest(std::string(digest));
    // One byte more than allowed: a longer blob shows itself without being read whole.
    request.set_size(static_cast<int64_t>(max_bytes) + 1);
    std::unique_ptr<grpc::ClientReader<api::ReadContentResponse>> reader = stub_->Read(&context, request);
    std::string content;
    api::ReadContentResponse chunk;
    bool too_long = false;
    while (reader->Read(&chunk)) {
      if (chunk.offset() != static_cast<int64_t>(content.size())) {
        context.TryCancel();
        (void)reader->Finish();
        return absl::DataLossError(absl::StrCat("containerd content Read ", digest, ": chunk at offset ", chunk.offset(),
                                                " after ", content.size(), " bytes"));
      }
      content.append(chunk.data());
      if (content.size() > max_bytes) {
        too_long = true;
        context.TryCancel();
        break;
      }
    }
    grpc::Status status = reader->Finish();
    if (too_long) {
      return absl::ResourceExhaustedError(
          absl::StrCat("containerd content ", digest, " is longer than ", max_bytes, " bytes"));
    }
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          absl::StrCat("containerd content Read ", digest, ": ", status.error_message()));
    }
    if (absl::Status checked = CheckDigest(content, digest); !checked.ok()) return checked;
    return content;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  const GrpcContentStoreOptions options_;
  std::unique_ptr<api::Content::Stub> stub_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ContentStore>> NewGrpcContentStore(std::shared_ptr<grpc::Channel> channel,
                                                                  const GrpcContentStoreOptions& options) {
  if (channel == nullptr) return absl::InvalidArgumentError("containerd content store: no channel");
  if (options.namespace_name.empty()) return absl::InvalidArgumentError("containerd content store: empty namespace");
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("containerd content store: timeout must be positive");
  }
  return std::unique_ptr<ContentStore>(new GrpcContentStore(std::move(channel), options));
}

}  // namespace sigshim::containerd
