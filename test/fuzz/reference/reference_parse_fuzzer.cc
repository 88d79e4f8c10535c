// Feeds arbitrary bytes to reference::Parse and checks the invariants every accepted reference
// must keep: its normalised form parses back to the same value and stays within docker's limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pkg/base/digest.h"
#include "pkg/reference/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<sigshim::reference::Reference> ref = sigshim::reference::Parse(text);
  if (!ref.ok()) {
    if (ref.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  if (ref->domain.empty() || ref->path.empty()) std::abort();
  if (ref->Repository().size() > sigshim::reference::kMaxNameLength) std::abort();
  if (ref->tag.size() > sigshim::reference::kMaxTagLength) std::abort();
  if (!ref->digest.empty() && !sigshim::ValidateDigest(ref->digest).ok()) std::abort();
  absl::StatusOr<sigshim::reference::Reference> again = sigshim::reference::Parse(ref->String());
  if (!again.ok() || !(*again == *ref)) std::abort();
  return 0;
}
