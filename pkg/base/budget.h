// The time and the interest left for one piece of work that may wait on the network (a
// verification): a deadline, and whether anyone still waits for the answer.
#ifndef SIGSHIM_PKG_BASE_BUDGET_H_
#define SIGSHIM_PKG_BASE_BUDGET_H_

#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sigshim {

// Thread-safe once built (the `abandoned` function must be). Passed by pointer to the code doing
// the work, which checks it between steps and bounds each wait by Remaining().
class Budget {
 public:
  // `deadline`: when the work must have ended (InfiniteFuture for none). `abandoned`: returns true
  // once nobody waits for the work any more (null: somebody always waits). `what` names the limit
  // in messages, e.g. "[registry] verification_timeout (30s)". `now`: the clock (null: absl::Now).
  Budget(absl::Time deadline, std::function<bool()> abandoned, std::string what,
         std::function<absl::Time()> now = nullptr)
      : deadline_(deadline), abandoned_(std::move(abandoned)), what_(std::move(what)), now_(std::move(now)) {}

  // Returns OK while time is left and somebody waits; DeadlineExceeded naming the limit, or
  // Cancelled, otherwise.
  absl::Status Check() const;

  // Returns the time left (zero once the deadline has passed).
  absl::Duration Remaining() const;

  absl::Time deadline() const { return deadline_; }

  // Returns the limit as named in messages, e.g. "[registry] verification_timeout (30s)".
  const std::string& what() const { return what_; }

  // Returns the DeadlineExceeded status Check gives once the time is up, for work that was cut
  // short by Remaining() just before it.
  absl::Status Spent() const;

 private:
  const absl::Time deadline_;
  const std::function<bool()> abandoned_;
  const std::string what_;
  const std::function<absl::Time()> now_;
};

// Returns `budget`->Check(), or OK when `budget` is null (no limit).
inline absl::Status CheckBudget(const Budget* budget) { return budget == nullptr ? absl::OkStatus() : budget->Check(); }

// Sleeps for `duration`, or less: returns early (with the budget's status) as soon as `budget`
// runs out or is abandoned, checking it at least every `poll`. A null budget sleeps the whole time.
absl::Status SleepWithin(const Budget* budget, absl::Duration duration, absl::Duration poll = absl::Milliseconds(50));

}  // namespace sigshim

#endif  // SIGSHIM_PKG_BASE_BUDGET_H_
