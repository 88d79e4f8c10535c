#include "shim/descriptor_limit.h"

#include <errno.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "pkg/base/log.h"

namespace sigshim::shim {
namespace {

std::string Show(rlim_t value) { return value == RLIM_INFINITY ? "unlimited" : absl::StrCat(value); }

}  // namespace

absl::StatusOr<DescriptorLimit> RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    const std::string error = std::strerror(errno);
    SIGSHIM_LOG(kWarning, "cannot read the open file limit (RLIMIT_NOFILE): ", error);
    return absl::InternalError(absl::StrCat("getrlimit(RLIMIT_NOFILE): ", error));
  }
  DescriptorLimit result{limit.rlim_cur, limit.rlim_cur, limit.rlim_max};
  if (limit.rlim_cur != limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      const std::string error = std::strerror(errno);
      SIGSHIM_LOG(kWarning, "cannot raise the open file limit (RLIMIT_NOFILE) from ", Show(result.before), " to ",
                  Show(result.hard), ": ", error);
      return absl::InternalError(absl::StrCat("setrlimit(RLIMIT_NOFILE): ", error));
    }
    result.soft = limit.rlim_max;
  }
  SIGSHIM_LOG(kInfo, "open file limit (RLIMIT_NOFILE): ", Show(result.soft),
              result.before != result.soft ? absl::StrCat(" (raised from ", Show(result.before), ")") : "",
              ", hard limit ", Show(result.hard));
  return result;
}

}  // namespace sigshim::shim
