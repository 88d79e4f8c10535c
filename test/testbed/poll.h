// Polling helpers for tests against real components.
#ifndef SIGSHIM_TEST_TESTBED_POLL_H_
#define SIGSHIM_TEST_TESTBED_POLL_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sigshim::testbed {

// Calls `done` every `interval` until it returns true or `timeout` passes; returns its last answer.
// The bound only keeps a broken run from hanging: never use it to assert how long something takes.
template <typename F>
bool Eventually(F done, absl::Duration timeout, absl::Duration interval) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (done()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(interval);
  }
}

// Returns "code <n>: <message>" for test failure messages.
inline std::string DescribeStatus(const grpc::Status& status) {
  return absl::StrCat("code ", status.error_code(), ": ", status.error_message());
}

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_POLL_H_
