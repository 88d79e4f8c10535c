// containerd's image records (name → target descriptor, labels), read and written through
// containerd's own images service rather than CRI. sigshim uses it to make a tag resolve to a
// verified digest after a pinned pull, and to find the manifest digest behind an image's name.
#ifndef SIGSHIM_PKG_CONTAINERD_IMAGE_STORE_H_
#define SIGSHIM_PKG_CONTAINERD_IMAGE_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace sigshim::containerd {

// The label containerd's CRI plugin (1.6) puts on every image record it creates when it pulls
// (the tag, the repository@digest and the image id records), with the value kCriManagedValue.
// Records without it are still seen by CRI (test/pkg/containerd shows both).
inline constexpr absl::string_view kCriManagedLabel = "io.cri-containerd.image";
inline constexpr absl::string_view kCriManagedValue = "managed";

// An OCI content descriptor as containerd stores it (containerd.types.Descriptor).
struct Descriptor {
  std::string media_type;  // e.g. "application/vnd.oci.image.manifest.v1+json"
  std::string digest;      // "sha256:<hex>"
  int64_t size = 0;        // bytes of the content
  std::map<std::string, std::string> annotations;

  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

// One image record in one containerd namespace. For an image, `target` is the manifest (or index)
// the name points to: its digest is the manifest digest that signatures are about.
struct Image {
  std::string name;  // unique within the namespace, e.g. "127.0.0.1:5000/app:1" or "sha256:<hex>"
  Descriptor target;
  std::map<std::string, std::string> labels;
  // Set by containerd; ignored by Create and Update. absl::InfinitePast() when containerd sent none.
  absl::Time created_at = absl::InfinitePast();
  absl::Time updated_at = absl::InfinitePast();
};

// containerd's image records. Implementations are thread-safe. Every error is an absl::Status with
// containerd's canonical code and a message naming the operation and the image; kUnavailable or
// kDeadlineExceeded means containerd did not answer in time, and the caller cannot tell whether a
// write happened.
class ImageStore {
 public:
  virtual ~ImageStore() = default;

  // Returns the record called `name`. NotFound when there is none.
  virtual absl::StatusOr<Image> Get(absl::string_view name) = 0;

  // Returns the records matching any of `filters` (containerd's filter syntax, e.g.
  // `name=="a:1"`, `target.digest=="sha256:…"`, `labels."k"=="v"`); all records when empty.
  // InvalidArgument for a filter containerd cannot parse.
  virtual absl::StatusOr<std::vector<Image>> List(absl::Span<const std::string> filters = {}) = 0;

  // Creates the record `image.name` with its target and labels; returns it as stored.
  // AlreadyExists when the name is taken (the record is left unchanged); InvalidArgument when the
  // name or target digest is malformed.
  virtual absl::StatusOr<Image> Create(const Image& image) = 0;

  // Replaces the target and labels of the existing record `image.name`; returns it as stored.
  // NotFound when there is no such record.
  virtual absl::StatusOr<Image> Update(const Image& image) = 0;

  // Deletes the record `name` (not the content it points to, which containerd's garbage collector
  // removes once nothing refers to it; with `sync`, before returning). NotFound when absent.
  virtual absl::Status Delete(absl::string_view name, bool sync = false) = 0;
};

// Makes `image.name` point to `image.target` with `image.labels`: creates the record, or updates
// it when the name exists already (for instance a tag that pointed to another digest). Returns the
// record as stored; errors as ImageStore's. Not atomic: a record deleted between the two calls
// gives NotFound.
absl::StatusOr<Image> CreateOrUpdate(ImageStore& store, const Image& image);

}  // namespace sigshim::containerd

#endif  // SIGSHIM_PKG_CONTAINERD_IMAGE_STORE_H_
