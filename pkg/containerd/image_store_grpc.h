// ImageStore over containerd's gRPC images service (containerd.services.images.v1.Images).
#ifndef SIGSHIM_PKG_CONTAINERD_IMAGE_STORE_GRPC_H_
#define SIGSHIM_PKG_CONTAINERD_IMAGE_STORE_GRPC_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pkg/containerd/image_store.h"

namespace sigshim::containerd {

struct GrpcImageStoreOptions {
  // containerd namespace of every call, sent as gRPC metadata "containerd-namespace". Default
  // "k8s.io", the namespace of containerd's CRI plugin. Must not be empty.
  std::string namespace_name = "k8s.io";
  // Deadline of each call, from its start. Default 10 s. Must be positive.
  absl::Duration timeout = absl::Seconds(10);
};

// The gRPC implementation of ImageStore. Thread-safe. Each method makes one blocking call and so
// holds its thread for up to `timeout`: callers on a gRPC callback thread must account for that.
class GrpcImageStore : public ImageStore {
 public:
  // Returns a store that talks over `channel` (typically the containerd socket,
  // "unix:///run/containerd/containerd.sock", which also serves CRI). The store shares ownership of
  // the channel. InvalidArgument for a null channel, an empty namespace or a non-positive timeout.
  static absl::StatusOr<std::unique_ptr<ImageStore>> Create(std::shared_ptr<grpc::Channel> channel,
                                                            const GrpcImageStoreOptions& options = {});

  absl::StatusOr<Image> Get(absl::string_view name) override;
  absl::StatusOr<std::vector<Image>> List(absl::Span<const std::string> filters) override;
  absl::StatusOr<Image> Create(const Image& image) override;
  absl::StatusOr<Image> Update(const Image& image) override;
  absl::Status Delete(absl::string_view name, bool sync) override;

  ~GrpcImageStore() override;

 private:
  class Stub;
  GrpcImageStore(std::shared_ptr<grpc::Channel> channel, GrpcImageStoreOptions options);

  // Returns a context with the namespace metadata and the deadline set.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  std::shared_ptr<grpc::Channel> channel_;
  GrpcImageStoreOptions options_;
  std::unique_ptr<Stub> stub_;
};

}  // namespace sigshim::containerd

#endif  // SIGSHIM_PKG_CONTAINERD_IMAGE_STORE_GRPC_H_
