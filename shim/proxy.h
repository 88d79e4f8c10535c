// The hooked CRI methods' gRPC service. The frame relay (frame_relay.h) relays every other CRI
// call to the runtime without decoding it, refuses paths outside the CRI, and routes the calls of
// the methods listed in the HookTable here (through a socket pair per kubelet connection). Those
// methods are unary: the request is handed to the hook first; when the hook lets it through, it
// goes to the runtime as one unary call with the caller's metadata, deadline and cancellation;
// when the hook asked for it, the runtime's OK response goes to its response stage before it goes
// back to the caller (hooks.h). The runtime's initial and trailing metadata, status code, message
// and details come back unchanged. A call that is not a hooked method never reaches the runtime
// from here: a path outside the CRI is answered UNIMPLEMENTED (counted and logged), a CRI method
// without a hook INTERNAL (the frame relay never sends one).
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

#include "absl/strings/string_view.h"
#include "shim/hooks.h"

namespace sigshim::shim {

class ProxyCall;

struct ProxyOptions {
  // Completion queues, each polled by a thread of its own; at least 1. Default 1.
  int threads = 1;
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
  void CallFinished() { active_.fetch_sub(1, std::memory_order_relaxed); }

  std::shared_ptr<grpc::Channel> upstream_;
  grpc::GenericStub stub_;
  const HookTable* hooks_;
  const std::function<void()> on_refused_method_;
  grpc::AsyncGenericService service_;
  std::vector<Worker> workers_;
  bool started_ = false;  // Touched by the owner's thread only (Start/Stop).
  bool stopped_ = false;

  std::atomic<int> active_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_PROXY_H_
