// Makes gRPC's hand-offs between threads visible to ThreadSanitizer in the TSan build, which links
// this file into every executable (beside absl_sync_annotations.cc).
//
// Debian's gRPC is not built with -fsanitize=thread. What a thread writes before it hands work to
// gRPC (starts a batch of operations, requests a call, sets an alarm) is read by the thread that
// gets the completion (from a completion queue, or in a callback of the callback API); gRPC
// orders the two with atomics TSan never sees, so sigshim's own accesses on either side would be
// reported as races. Each function below has the name of gRPC's own (the executable's definition
// wins), releases or acquires one happens-before token for all of gRPC, and forwards to gRPC's
// implementation, found with dlsym(RTLD_NEXT).
//
// One token for every queue and call is coarser than gRPC's guarantee (per tag): a race between
// two threads that both only meet through gRPC can be missed. Races through every other path
// (sigshim's own locks, atomics and threads) are still all reported.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <utility>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

namespace {

char handoff;  // The token's address.

template <typename Function>
Function Real(const char* name) {
  void* found = dlsym(RTLD_NEXT, name);
  if (found == nullptr) {
    std::fprintf(stderr, "grpc_annotations: %s not found in the gRPC libraries\n", name);
    std::abort();
  }
  return reinterpret_cast<Function>(found);
}

void Released() { __tsan_release(&handoff); }
void Acquired() { __tsan_acquire(&handoff); }

}  // namespace

// Work handed to gRPC.
extern "C" grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops, void* tag,
                                                 void* reserved) {
  static const auto real =
      Real<grpc_call_error (*)(grpc_call*, const grpc_op*, size_t, void*, void*)>("grpc_call_start_batch");
  Released();
  return real(call, ops, nops, tag, reserved);
}

extern "C" grpc_call_error grpc_server_request_call(grpc_server* server, grpc_call** call, grpc_call_details* details,
                                                    grpc_metadata_array* metadata, grpc_completion_queue* bound,
                                                    grpc_completion_queue* notification, void* tag) {
  static const auto real =
      Real<grpc_call_error (*)(grpc_server*, grpc_call**, grpc_call_details*, grpc_metadata_array*,
                               grpc_completion_queue*, grpc_completion_queue*, void*)>("grpc_server_request_call");
  Released();
  return real(server, call, details, metadata, bound, notification, tag);
}

extern "C" grpc_call_error grpc_server_request_registered_call(grpc_server* server, void* method, grpc_call** call,
                                                               gpr_timespec* deadline, grpc_metadata_array* metadata,
                                                               grpc_byte_buffer** payload, grpc_completion_queue* bound,
                                                               grpc_completion_queue* notification, void* tag) {
  static const auto real = Real<grpc_call_error (*)(grpc_server*, void*, grpc_call**, gpr_timespec*,
                                                    grpc_metadata_array*, grpc_byte_buffer**, grpc_completion_queue*,
                                                    grpc_completion_queue*, void*)>(
      "grpc_server_request_registered_call");
  Released();
  return real(server, method, call, deadline, metadata, payload, bound, notification, tag);
}

// grpc::Alarm::SetInternal(CompletionQueue*, gpr_timespec, void*) and
// grpc::Alarm::SetInternal(gpr_timespec, std::function<void(bool)>).
extern "C" void SigshimAlarmSetOnQueue(void* alarm, void* cq, gpr_timespec deadline, void* tag) __asm__(
    "_ZN4grpc5Alarm11SetInternalEPNS_15CompletionQueueE12gpr_timespecPv");
extern "C" void SigshimAlarmSetOnQueue(void* alarm, void* cq, gpr_timespec deadline, void* tag) {
  static const auto real = Real<void (*)(void*, void*, gpr_timespec, void*)>(
      "_ZN4grpc5Alarm11SetInternalEPNS_15CompletionQueueE12gpr_timespecPv");
  Released();
  real(alarm, cq, deadline, tag);
}

extern "C" void SigshimAlarmSetCallback(void* alarm, gpr_timespec deadline, std::function<void(bool)> f) __asm__(
    "_ZN4grpc5Alarm11SetInternalE12gpr_timespecSt8functionIFvbEE");
extern "C" void SigshimAlarmSetCallback(void* alarm, gpr_timespec deadline, std::function<void(bool)> f) {
  static const auto real = Real<void (*)(void*, gpr_timespec, std::function<void(bool)>)>(
      "_ZN4grpc5Alarm11SetInternalE12gpr_timespecSt8functionIFvbEE");
  Released();
  real(alarm, deadline, std::move(f));
}

// Completions taken from a queue.
extern "C" grpc_event grpc_completion_queue_next(grpc_completion_queue* cq, gpr_timespec deadline, void* reserved) {
  static const auto real =
      Real<grpc_event (*)(grpc_completion_queue*, gpr_timespec, void*)>("grpc_completion_queue_next");
  grpc_event event = real(cq, deadline, reserved);
  Acquired();
  return event;
}

extern "C" grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag, gpr_timespec deadline,
                                                  void* reserved) {
  static const auto real =
      Real<grpc_event (*)(grpc_completion_queue*, void*, gpr_timespec, void*)>("grpc_completion_queue_pluck");
  grpc_event event = real(cq, tag, deadline, reserved);
  Acquired();
  return event;
}

// Completions run as callbacks (the callback API): the functors' entry points. What a callback
// did is released again when it returns, for the callbacks and the OnDone that follow it.
#define SIGSHIM_CALLBACK_ENTRY(local, mangled)                                                 \
  extern "C" void local(grpc_completion_queue_functor* functor, int ok) __asm__(mangled);     \
  extern "C" void local(grpc_completion_queue_functor* functor, int ok) {                     \
    static const auto real = Real<void (*)(grpc_completion_queue_functor*, int)>(mangled);    \
    Acquired();                                                                                \
    real(functor, ok);                                                                         \
    Released();                                                                                \
  }
SIGSHIM_CALLBACK_ENTRY(SigshimCallbackWithSuccessTagRun,
                       "_ZN4grpc8internal22CallbackWithSuccessTag9StaticRunEP29grpc_completion_queue_functori")
SIGSHIM_CALLBACK_ENTRY(
    SigshimCallbackCallTagRun,
    "_ZN4grpc6Server15CallbackRequestINS_21CallbackServerContextEE15CallbackCallTag9StaticRunEP29grpc_completion_"
    "queue_functori")
SIGSHIM_CALLBACK_ENTRY(
    SigshimGenericCallbackCallTagRun,
    "_ZN4grpc6Server15CallbackRequestINS_28GenericCallbackServerContextEE15CallbackCallTag9StaticRunEP29grpc_"
    "completion_queue_functori")

// The end of a callback-API server stream (the generic one the tests' fake runtime serves): gRPC
// calls the reactor's OnDone and frees the stream once its last callback has returned.
extern "C" void SigshimBidiCallOnDone(void* stream) __asm__(
    "_ZN4grpc8internal19CallbackBidiHandlerINS_10ByteBufferES2_E30ServerCallbackReaderWriterImpl10CallOnDoneEv");
extern "C" void SigshimBidiCallOnDone(void* stream) {
  static const auto real = Real<void (*)(void*)>(
      "_ZN4grpc8internal19CallbackBidiHandlerINS_10ByteBufferES2_E30ServerCallbackReaderWriterImpl10CallOnDoneEv");
  Acquired();
  real(stream);
}
