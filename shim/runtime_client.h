// What the enforcement layer asks the container runtime directly (not on behalf of a caller):
// which image a name stands for, a pull pinned to a verified digest, and the runtime's sandbox
// image. An interface so that tests can make the runtime slow, absent or lying.
#ifndef SIGSHIM_SHIM_RUNTIME_CLIENT_H_
#define SIGSHIM_SHIM_RUNTIME_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pkg/cri/api.pb.h"

namespace sigshim::shim {

// The runtime's record of an image (CRI Image).
struct RuntimeImage {
  std::string id;                         // image id: "sha256:<hex>" of the image config
  std::vector<std::string> repo_tags;     // "repo:tag"
  std::vector<std::string> repo_digests;  // "repo@sha256:<hex>" (the manifest digests it was pulled by)
};

// Thread-safe. Every method blocks for at most until `deadline`.
class RuntimeClient {
 public:
  virtual ~RuntimeClient() = default;

  // Returns the runtime's record of `image` (a reference or an image id), or nullopt when the
  // runtime has no such image. Unavailable (or the runtime's error) when it cannot be asked.
  virtual absl::StatusOr<std::optional<RuntimeImage>> ImageStatus(const std::string& image, absl::Time deadline) = 0;

  // Pulls `image` exactly as written, with `auth`; returns the runtime's image ref.
  virtual absl::StatusOr<std::string> PullImage(const std::string& image, const runtime::v1::AuthConfig& auth,
                                                absl::Time deadline) = 0;

  // Returns the sandbox image the runtime is configured with, read from its verbose Status (for
  // containerd, "sandboxImage" in the "config" entry). NotFound when the runtime does not report it.
  virtual absl::StatusOr<std::string> SandboxImage(absl::Time deadline) = 0;
};

// Returns a client speaking CRI runtime.v1 over `channel`.
std::unique_ptr<RuntimeClient> NewGrpcRuntimeClient(std::shared_ptr<grpc::Channel> channel);

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_RUNTIME_CLIENT_H_
