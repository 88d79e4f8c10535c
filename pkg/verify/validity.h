// When a piece of trust material may be relied on: a certificate authority, a transparency or CT
// log, a timestamp authority (sigstore's `validFor`), or a trusted key (`not_before`/`not_after`).
#ifndef SIGSHIM_PKG_VERIFY_VALIDITY_H_
#define SIGSHIM_PKG_VERIFY_VALIDITY_H_

#include <string>

#include "absl/time/time.h"

namespace sigshim::verify {

// A closed interval of time: both ends are inclusive, as sigstore's `validFor` and X.509's
// notBefore/notAfter are. The default is "always".
struct ValidityWindow {
  absl::Time start = absl::InfinitePast();
  absl::Time end = absl::InfiniteFuture();  // InfiniteFuture: open-ended (no `end` given)

  // Returns true when `t` lies in [start, end].
  bool Contains(absl::Time t) const { return start <= t && t <= end; }

  // Returns e.g. "2021-03-07T03:20:29Z .. 2022-12-31T23:59:59Z", with "(open)" for an infinite end.
  std::string Describe() const {
    auto one = [](absl::Time t) -> std::string {
      if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return "(open)";
      return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
    };
    return one(start) + " .. " + one(end);
  }
};

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_VALIDITY_H_
