// The byte-forwarding CRI proxy: one gRPC generic callback service that relays every call, unary
// or streaming, any API version, to the runtime's socket without decoding it.
//
// For each call it opens a bidirectional stream to the runtime under the same method name, with
// the caller's metadata, deadline and cancellation; messages are relayed one at a time in both
// directions (flow control is end to end); the runtime's initial and trailing metadata, status
// code, message and details come back unchanged. Known unary CRI methods take a fast path (one
// upstream unary call). Methods listed in the HookTable are unary: their request is handed to
// the hook first (hooks.h).
#ifndef SIGSHIM_SHIM_PROXY_H_
#define SIGSHIM_SHIM_PROXY_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "shim/hooks.h"

namespace sigshim::shim {

class ProxyCall;

class ProxyService final : public grpc::CallbackGenericService {
 public:
  // `upstream` is the channel to the runtime; `hooks` must outlive this service. With
  // `relay_unary_as_streams`, known unary methods take the stream relay too (for tests).
  ProxyService(std::shared_ptr<grpc::Channel> upstream, const HookTable* hooks, bool relay_unary_as_streams = false);
  ~ProxyService() override;

  // Cancels the calls that never end on their own (GetContainerEvents streams) so that a
  // graceful shutdown need not wait for them. Thread-safe; later calls of that kind are
  // cancelled as they start.
  void CancelEndlessStreams();

  // Returns the number of calls in flight. Thread-safe.
  int active_calls() const;

 private:
  friend class ProxyCall;
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;
  // Both take mu_; a call never holds its own lock while calling them.
  void RegisterEndless(ProxyCall* call);
  void CallFinished(ProxyCall* call);

  std::shared_ptr<grpc::Channel> upstream_;
  grpc::GenericStub stub_;
  const HookTable* hooks_;
  const bool relay_unary_as_streams_;

  mutable absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancel_endless_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<ProxyCall*> endless_ ABSL_GUARDED_BY(mu_);
};

// Returns true for CRI methods whose response stream only ends when the caller leaves.
bool IsEndlessStream(absl::string_view method);

// Returns true for the CRI methods known to be unary (one request, one response); they are
// relayed with a single upstream call. Everything else is relayed as a stream.
bool IsKnownUnary(absl::string_view method);

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_PROXY_H_
