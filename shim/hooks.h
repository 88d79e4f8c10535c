// Hook points for the CRI calls sigshim inspects before they reach the runtime.
//
// The proxy (proxy.h) forwards every call as bytes. For the methods in a HookTable it first hands
// the call's single request message to the hook, which decides what is forwarded; a hook that
// forwards may also ask to see the runtime's answer before the caller does (Forward::after). Hooks
// see typed messages (pkg/cri) but answer with bytes, so fields sigshim does not know survive.
#ifndef SIGSHIM_SHIM_HOOKS_H_
#define SIGSHIM_SHIM_HOOKS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <grpcpp/support/byte_buffer.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"

namespace sigshim::shim {

// What a hook knows about the call besides the request.
struct CallInfo {
  // Full gRPC method path, e.g. "/runtime.v1.ImageService/PullImage".
  std::string method;
  // CRI API version of the method ("v1" or "v1alpha2").
  std::string api_version;
  // The caller's deadline; InfiniteFuture when it set none. The forwarded call carries it already;
  // it is here for hooks that make calls of their own (registry, runtime) on the caller's behalf.
  absl::Time deadline = absl::InfiniteFuture();
  // When the call arrived at the proxy.
  absl::Time arrived = absl::InfinitePast();
  // Becomes true (from the proxy's thread) once the caller no longer waits: it cancelled, its
  // deadline passed, the server shut down, or the call ended. Work done only for this call may stop
  // then. Never null for calls from the proxy.
  std::shared_ptr<const std::atomic<bool>> gone;
};

// Receives the final answer for the caller, exactly once, from any thread: the response to send
// (the runtime's own or a replacement), or a status to fail the call with. The caller gets the
// response with status OK, or the status (its code and message); the runtime's initial and
// trailing metadata go back in both cases. Safe to call after the caller has gone: the answer is
// then dropped. The proxy keeps the call alive until it is called, so it must be called even
// then.
using ResponseDone = std::function<void(absl::StatusOr<grpc::ByteBuffer>)>;

// Called with the runtime's response when it answered OK; never called when the runtime failed
// (its status and metadata then go back unchanged) or when the caller left before the runtime
// answered. Runs on the proxy's queue thread, like OnRequest: it must not block; slow work goes
// to another thread, which then calls `done`. It may call `done` before returning. The function
// object itself is destroyed on the queue thread, once it has returned or when it will not be
// called.
using AfterResponse = std::function<void(grpc::ByteBuffer response, ResponseDone done)>;

// A hook's decision to forward: the request to send to the runtime and, optionally, what to do
// with the runtime's answer.
struct Forward {
  // Forwards `request`; the runtime's answer goes back unchanged. Implicit on purpose, so that a
  // hook that only forwards can answer `done(std::move(bytes))`.
  Forward(grpc::ByteBuffer request)  // NOLINT(google-explicit-constructor)
      : request(std::move(request)) {}
  // Forwards `request`, and hands the runtime's answer to `after` before the caller gets it.
  Forward(grpc::ByteBuffer request, AfterResponse after) : request(std::move(request)), after(std::move(after)) {}

  grpc::ByteBuffer request;
  AfterResponse after;  // Null: the runtime's answer goes back unchanged.
};

// Receives a hook's decision exactly once, from any thread: what to forward (the original bytes or
// a rewritten request, and optionally a response stage), or a status to answer the caller with
// instead of forwarding (mapped code for code onto the gRPC status). Safe to call after the caller
// has gone: the decision is then dropped (nothing is forwarded, `after` is never called). The
// proxy keeps the call alive until it is called, so it must be called even then.
using HookDone = std::function<void(absl::StatusOr<Forward>)>;

// Decides about one intercepted unary call. Implementations must be thread-safe: calls arrive
// concurrently. OnRequest runs on the proxy's completion-queue thread, which serves every call on
// that queue: it must not block (no registry or disk I/O there). Slow work belongs on another
// thread, which then calls `done`; the proxy carries on with the call from its own thread.
class CallHook {
 public:
  virtual ~CallHook() = default;
  virtual void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) = 0;
};

// Method path → hook. Hooks are owned elsewhere and outlive the server.
using HookTable = absl::flat_hash_map<std::string, CallHook*>;

// Decodes `buffer` into `message` without consuming `buffer`. InvalidArgument naming the message
// type when the bytes are not a valid encoding.
absl::Status DecodeMessage(const grpc::ByteBuffer& buffer, google::protobuf::Message* message);

// Forwards every request unchanged after checking that it decodes as `Request`. The daemon uses
// the enforcement hooks (enforcement_hooks.h); this one lets the proxy's tests exercise the hooked
// path without an Enforcer.
template <typename Request>
class ForwardingHook final : public CallHook {
 public:
  void OnRequest(const CallInfo& info, grpc::ByteBuffer request, HookDone done) override {
    Request decoded;
    absl::Status status = DecodeMessage(request, &decoded);
    if (!status.ok()) {
      done(status);
      return;
    }
    done(std::move(request));
  }
};

// Hooks that forward PullImage, CreateContainer and RunPodSandbox after decoding them, for both
// CRI API versions (for tests of the proxy). Owns the hook objects; `table()` stays valid for the lifetime of this object.
class PassThroughHooks {
 public:
  PassThroughHooks();
  const HookTable& table() const { return table_; }

 private:
  std::unique_ptr<CallHook> pull_;
  std::unique_ptr<CallHook> create_;
  std::unique_ptr<CallHook> run_sandbox_;
  HookTable table_;
};

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_HOOKS_H_
