// containerd's content store (blobs by digest), read through containerd's own content service.
// sigshim reads manifests and indexes from it to learn which image (config) a manifest digest
// stands for: a fact fixed by the digest, so it never changes under a decision.
#ifndef SIGSHIM_PKG_CONTAINERD_CONTENT_STORE_H_
#define SIGSHIM_PKG_CONTAINERD_CONTENT_STORE_H_

#include <cstddef>
#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sigshim::containerd {

// Thread-safe.
class ContentStore {
 public:
  virtual ~ContentStore() = default;

  // Returns the blob `digest` ("sha256:<hex>"), checked against the digest. NotFound when
  // containerd does not hold it; ResourceExhausted when it is longer than `max_bytes`; DataLoss
  // when its bytes do not hash to `digest`; Unavailable/DeadlineExceeded when containerd did not
  // answer in time.
  virtual absl::StatusOr<std::string> Read(absl::string_view digest, size_t max_bytes) = 0;
};

struct GrpcContentStoreOptions {
  // containerd namespace, sent as gRPC metadata "containerd-namespace". Default "k8s.io".
  std::string namespace_name = "k8s.io";
  // Deadline of each read, from its start. Default 10 s.
  absl::Duration timeout = absl::Seconds(10);
};

// Returns a ContentStore over `channel` (containerd's socket). InvalidArgument for a null channel,
// an empty namespace or a non-positive timeout.
absl::StatusOr<std::unique_ptr<ContentStore>> NewGrpcContentStore(std::shared_ptr<grpc::Channel> channel,
                                                                  const GrpcContentStoreOptions& options = {});

}  // namespace sigshim::containerd

#endif  // SIGSHIM_PKG_CONTAINERD_CONTENT_STORE_H_
