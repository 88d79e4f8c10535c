#include "pkg/containerd/image_store.h"

namespace sigshim::containerd {

absl::StatusOr<Image> CreateOrUpdate(ImageStore& store, const Image& image) {
  absl::StatusOr<Image> created = store.Create(image);
  if (created.status().code() != absl::StatusCode::kAlreadyExists) return created;
  return store.Update(image);
}

}  // namespace sigshim::containerd
