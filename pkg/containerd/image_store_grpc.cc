#include "pkg/containerd/image_store_grpc.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/containerd/images.grpc.pb.h"

namespace sigshim::containerd {
namespace {

namespace api = ::containerd::services::images::v1;

constexpr char kNamespaceHeader[] = "containerd-namespace";

// Converts a gRPC status into an absl::Status (the canonical codes share their numbers), with a
// message naming the operation and the image.
absl::Status FromGrpc(const grpc::Status& status, absl::string_view operation, absl::string_view name) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("containerd images ", operation, " \"", name, "\": ", status.error_message()));
}

absl::Time FromProto(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return absl::InfinitePast();
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

Image FromProto(const api::Image& proto) {
  Image image;
  image.name = proto.name();
  image.labels.insert(proto.labels().begin(), proto.labels().end());
  image.target.media_type = proto.target().media_type();
  image.target.digest = proto.target().digest();
  image.target.size = proto.target().size();
  image.target.annotations.insert(proto.target().annotations().begin(), proto.target().annotations().end());
  image.created_at = FromProto(proto.created_at());
  image.updated_at = FromProto(proto.updated_at());
  return image;
}

// Fills the fields that Create and Update send: name, target and labels.
void ToProto(const Image& image, api::Image* proto) {
  proto->set_name(image.name);
  proto->mutable_labels()->insert(image.labels.begin(), image.labels.end());
  api::Descriptor* target = proto->mutable_target();
  target->set_media_type(image.target.media_type);
  target->set_digest(image.target.digest);
  target->set_size(image.target.size);
  target->mutable_annotations()->insert(image.target.annotations.begin(), image.target.annotations.end());
}

}  // namespace

class GrpcImageStore::Stub {
 public:
  explicit Stub(const std::shared_ptr<grpc::Channel>& channel) : stub(api::Images::NewStub(channel)) {}
  std::unique_ptr<api::Images::Stub> stub;
};

absl::StatusOr<std::unique_ptr<ImageStore>> GrpcImageStore::Create(std::shared_ptr<grpc::Channel> channel,
                                                                   const GrpcImageStoreOptions& options) {
  if (channel == nullptr) return absl::InvalidArgumentError("containerd image store: no channel");
  if (options.namespace_name.empty()) {
    return absl::InvalidArgumentError("containerd image store: empty namespace");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("containerd image store: timeout must be positive, got ", absl::FormatDuration(options.timeout)));
  }
  return std::unique_ptr<ImageStore>(new GrpcImageStore(std::move(channel), options));
}

GrpcImageStore::GrpcImageStore(std::shared_ptr<grpc::Channel> channel, GrpcImageStoreOptions options)
    : channel_(std::move(channel)), options_(std::move(options)), stub_(std::make_unique<Stub>(channel_)) {}

GrpcImageStore::~GrpcImageStore() = default;

std::unique_ptr<grpc::ClientContext> GrpcImageStore::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata(kNamespaceHeader, options_.namespace_name);
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  return context;
}

absl::StatusOr<Image> GrpcImageStore::Get(absl::string_view name) {
  api::GetImageRequest request;
  request.set_name(std::string(name));
  api::GetImageResponse response;
  grpc::Status status = stub_->stub->Get(NewContext().get(), request, &response);
  if (!status.ok()) return FromGrpc(status, "Get", name);
  if (!response.has_image()) {
    return absl::InternalError(absl::StrCat("containerd images Get \"", name, "\": answer without an image"));
  }
  return FromProto(response.image());
}

absl::StatusOr<std::vector<Image>> GrpcImageStore::List(absl::Span<const std::string> filters) {
  api::ListImagesRequest request;
  for (const std::string& filter : filters) request.add_filters(filter);
  api::ListImagesResponse response;
  grpc::Status status = stub_->stub->List(NewContext().get(), request, &response);
  if (!status.ok()) return FromGrpc(status, "List", absl::StrJoin(filters, " or "));
  std::vector<Image> images;
  images.reserve(response.images_size());
  for (const api::Image& image : response.images()) images.push_back(FromProto(image));
  return images;
}

absl::StatusOr<Image> GrpcImageStore::Create(const Image& image) {
  api::CreateImageRequest request;
  ToProto(image, request.mutable_image());
  api::CreateImageResponse response;
  grpc::Status status = stub_->stub->Create(NewContext().get(), request, &response);
  if (!status.ok()) return FromGrpc(status, "Create", image.name);
  return FromProto(response.image());
}

absl::StatusOr<Image> GrpcImageStore::Update(const Image& image) {
  api::UpdateImageRequest request;
  ToProto(image, request.mutable_image());
  // Name the fields: an empty mask would also mean "all fields", but containerd then replaces the
  // whole record, and a mask keeps the intent visible on the wire.
  request.mutable_update_mask()->add_paths("target");
  request.mutable_update_mask()->add_paths("labels");
  api::UpdateImageResponse response;
  grpc::Status status = stub_->stub->Update(NewContext().get(), request, &response);
  if (!status.ok()) return FromGrpc(status, "Update", image.name);
  return FromProto(response.image());
}

absl::Status GrpcImageStore::Delete(absl::string_view name, bool sync) {
  api::DeleteImageRequest request;
  request.set_name(std::string(name));
  request.set_sync(sync);
  google::protobuf::Empty response;
  grpc::Status status = stub_->stub->Delete(NewContext().get(), request, &response);
  if (!status.ok()) return FromGrpc(status, "Delete", name);
  return absl::OkStatus();
}

}  // namespace sigshim::containerd
