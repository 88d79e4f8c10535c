// A fixed set of threads that run the enforcement layer's blocking work (registry round trips,
// runtime calls, the verdict store's disk writes) off the proxy's completion-queue threads.
#ifndef SIGSHIM_SHIM_WORK_QUEUE_H_
#define SIGSHIM_SHIM_WORK_QUEUE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace sigshim::shim {

// Returns the status a call gets when its decision could not be queued (UNAVAILABLE: kubelet
// retries).
absl::Status OverloadedError();

// Thread-safe. Tasks run in the order scheduled, up to `threads` at once.
class WorkQueue {
 public:
  // Starts `threads` (at least 1) threads; at most `max_pending` tasks may wait at once.
  WorkQueue(int threads, size_t max_pending);
  // Runs every task already scheduled, then joins the threads.
  ~WorkQueue();

  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `task`. Returns false, without queueing it, when max_pending tasks are waiting already
  // or the queue is being destroyed: the caller must then answer for the task (fail closed).
  bool Schedule(std::function<void()> task);

  // Returns the number of tasks waiting for a thread.
  size_t pending() const;

 private:
  void Run();

  const size_t max_pending_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_WORK_QUEUE_H_
