// The CRI hooks that enforce the policy: PullImage, CreateContainer, RunPodSandbox and
// RemoveImage, for every CRI API version sigshim serves (no version is a way around them).
//
// Each hook decodes its request on the proxy's thread and hands the decision to a worker. There are
// two lanes of workers: the local lane decides from the runtime's records and the stored verdicts
// alone (a pull by digest of a verified image, CreateContainer and RunPodSandbox of verified
// images); the registry lane takes only what needs a registry (verifications, pulls of a sandbox
// image), so that a slow registry never delays a decision the node can make by itself:
//   PullImage        refused, or forwarded pinned to the verified digest; after the runtime's OK,
//                    the original tag is pointed at that digest before the caller hears back.
//   CreateContainer  refused, or forwarded with its image pinned to the image id that was checked.
//   RunPodSandbox    refused, or forwarded unchanged once the sandbox image passed.
//   RemoveImage      forwarded; after the runtime's OK the image's verdicts are dropped.
// A queue that is full refuses the call (UNAVAILABLE): nothing is forwarded undecided.
#ifndef SIGSHIM_SHIM_ENFORCEMENT_HOOKS_H_
#define SIGSHIM_SHIM_ENFORCEMENT_HOOKS_H_

#include <memory>

#include "shim/enforcer.h"
#include "shim/hooks.h"
#include "shim/work_queue.h"

namespace sigshim::shim {

class EnforcementHooks {
 public:
  // `enforcer`, `local` and `registry` must outlive this object and every call in flight. `local`
  // runs decisions that need only the runtime and stored verdicts (and the tag step after a pull);
  // `registry` runs verifications.
  EnforcementHooks(Enforcer* enforcer, WorkQueue* local, WorkQueue* registry);
  ~EnforcementHooks();

  // Valid for the lifetime of this object.
  const HookTable& table() const { return table_; }

 private:
  std::unique_ptr<CallHook> pull_;
  std::unique_ptr<CallHook> create_;
  std::unique_ptr<CallHook> run_sandbox_;
  std::unique_ptr<CallHook> remove_;
  HookTable table_;
};

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_ENFORCEMENT_HOOKS_H_
