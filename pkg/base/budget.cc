#include "pkg/base/budget.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace sigshim {

absl::Status Budget::Check() const {
  if (abandoned_ && abandoned_()) return absl::CancelledError("nobody waits for the answer any more");
  if ((now_ ? now_() : absl::Now()) >= deadline_) {
    return Spent();
  }
  return absl::OkStatus();
}

absl::Status Budget::Spent() const { return absl::DeadlineExceededError(absl::StrCat("took longer than ", what_)); }

absl::Duration Budget::Remaining() const {
  if (deadline_ == absl::InfiniteFuture()) return absl::InfiniteDuration();
  return std::max(absl::ZeroDuration(), deadline_ - (now_ ? now_() : absl::Now()));
}

absl::Status SleepWithin(const Budget* budget, absl::Duration duration, absl::Duration poll) {
  if (budget == nullptr) {
    absl::SleepFor(duration);
    return absl::OkStatus();
  }
  const absl::Time until = absl::Now() + duration;
  while (true) {
    if (absl::Status s = budget->Check(); !s.ok()) return s;
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::OkStatus();
    absl::SleepFor(std::min({left, poll, budget->Remaining()}));
  }
}

}  // namespace sigshim
