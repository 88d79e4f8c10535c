// The daemon's file descriptor limit (RLIMIT_NOFILE).
#ifndef SIGSHIM_SHIM_DESCRIPTOR_LIMIT_H_
#define SIGSHIM_SHIM_DESCRIPTOR_LIMIT_H_

#include <sys/resource.h>

#include "absl/status/statusor.h"

namespace sigshim::shim {

struct DescriptorLimit {
  rlim_t before = 0;  // the soft limit the process started with
  rlim_t soft = 0;    // the soft limit now
  rlim_t hard = 0;    // the hard limit (unchanged: raising it needs a privilege sigshim lacks)
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit, so that the descriptors the unit (or
// whoever started sigshim) grants are all usable, and logs the limits. Returns them; Internal when
// the limit cannot be read or set (the process keeps the limit it had).
absl::StatusOr<DescriptorLimit> RaiseDescriptorLimit();

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_DESCRIPTOR_LIMIT_H_
