// The byte-forwarding CRI proxy: one gRPC async generic service that relays every CRI call, unary
// or streaming, of both API versions, to the runtime's socket without decoding it. The CRI is the
// only thing it serves: a call whose method path is not exactly one of the CRI's (cri::FindMethod)
// is answered UNIMPLEMENTED, counted and logged, and never forwarded.
//
// For each call it opens a stream to the runtime under the same method name, with the caller's
// metadata, deadline and cancellation; messages are relayed one at a time in both directions
// (flow control is end to end); the runtime's initial and trailing metadata, status code, message
// and details come back unchanged. Known unary CRI methods take a fast path (one upstream unary
// call). Methods listed in the HookTable are unary: their request is handed to the hook first,
// and, when the hook asked for it, the runtime's OK response to its response stage before it goes
// back to the caller (hooks.h).
//
// Threading: the service owns a few completion queues, each polled by one thread of its own. A
// call is served on one queue from start to end: the caller's side, the upstream call and the
// hook's answers all complete on it, so a call's state is only ever touched by that queue's thread
// and no event is handed from one thread to another. A hook (or response stage) that answers
// later, from a thread of its own, gets back onto the call's queue through a grpc::Alarm. A hook
// that blocks in OnRequest or in its response stage holds up every call on its queue.
//
// (The callback API, used before, runs reactions on gRPC's executor threads: on a two-core node the
// hand-offs cost the proxy more CPU per call than the calls themselves; see proxy_bench.)
#ifndef SIGSHIM_SHIM_PROXY_H_
#define SIGSHIM_SHIM_PROXY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/server_builder.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "shim/hooks.h"

namespace sigshim::shim {

class ProxyCall;

struct ProxyOptions {
  // Completion queues, each polled by a thread of its own; at least 1. Default 1.
  int threads = 1;
  // Relays known unary methods through the general stream relay too, instead of the unary fast
  // path. Only for tests that exercise the stream relay against a real runtime. Default false.
  bool relay_unary_as_streams = false;
  // Called (on a queue thread; must not block) for each call refused because its method path is
  // not in the CRI's closed set (cri::FindMethod). Default null.
  std::function<void()> on_refused_method;
};

class ProxyService {
 public:
  // `upstream` is the channel to the runtime; `hooks` must outlive this service.
  ProxyService(std::shared_ptr<grpc::Channel> upstream, const HookTable* hooks, const ProxyOptions& options);
  // Stops the threads if Stop() was not called (see there).
  ~ProxyService();

  ProxyService(const ProxyService&) = delete;
  ProxyService& operator=(const ProxyService&) = delete;

  // Registers the service and its completion queues with `builder`. Call once, before
  // BuildAndStart.
  void RegisterWith(grpc::ServerBuilder* builder);

  // Starts the polling threads and begins accepting calls. Call once, after BuildAndStart
  // succeeded.
  void Start();

  // Waits for the calls in flight to end (none are left once the grpc::Server's Shutdown has
  // returned: call it after that), shuts the completion queues down, lets the threads drain them
  // and joins them. Idempotent.
  void Stop();

  // Cancels the calls that never end on their own (GetContainerEvents streams) so that a
  // graceful shutdown need not wait for them. Thread-safe; later calls of that kind are
  // cancelled as they start.
  void CancelEndlessStreams();

  // Returns the number of calls refused because their method is not a CRI method. Thread-safe.
  uint64_t refused_calls() const { return refused_.load(std::memory_order_relaxed); }

  // Returns the number of calls in flight, counting those served outside this service
  // (AddOutsideCalls). Thread-safe.
  int active_calls() const { return active_.load(std::memory_order_relaxed); }

  // Counts `delta` calls served outside this service (the frame relay's pass-through streams) in
  // active_calls(), so that one figure covers every call in flight. Thread-safe.
  void AddOutsideCalls(int delta) { active_.fetch_add(delta, std::memory_order_relaxed); }

  // Counts and logs a call refused for its method path (not a CRI method), and calls
  // ProxyOptions::on_refused_method. Used by the frame relay for the calls it refuses. Thread-safe.
  void RefuseUnknown(absl::string_view method);

 private:
  friend class ProxyCall;
  struct Worker {
    std::unique_ptr<grpc::ServerCompletionQueue> cq;
    std::thread thread;
  };

  static void Poll(grpc::ServerCompletionQueue* cq);
  // Take mu_; a call's own state has no lock (it lives on one thread).
  void RegisterEndless(ProxyCall* call);
  void CallFinished(ProxyCall* call, bool endless);

  std::shared_ptr<grpc::Channel> upstream_;
  grpc::GenericStub stub_;
  const HookTable* hooks_;
  const bool relay_unary_as_streams_;
  const std::function<void()> on_refused_method_;
  grpc::AsyncGenericService service_;
  std::vector<Worker> workers_;
  bool started_ = false;  // Touched by the owner's thread only (Start/Stop).
  bool stopped_ = false;

  std::atomic<int> active_{0};
  std::atomic<uint64_t> refused_{0};
  mutable absl::Mutex mu_;
  bool cancel_endless_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<ProxyCall*> endless_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_PROXY_H_
