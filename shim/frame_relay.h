// The HTTP/2 frame relay: serves kubelet's connections at the frame level (libnghttp2) and relays
// the CRI calls that sigshim does not inspect to the runtime without decoding them, so that a
// pass-through call costs a few frame copies instead of a gRPC server call plus a gRPC client call.
//
// Each accepted connection (Adopt) gets an HTTP/2 server session. Each request stream is routed
// on its HEADERS by its :path:
//   - not exactly a CRI method path (cri::FindMethod, both API versions): answered at once with a
//     trailers-only gRPC UNIMPLEMENTED, counted and logged (on_refused_method), never forwarded;
//   - one of `hooked_methods`: relayed to the gRPC server that runs the hooks (ProxyService),
//     through a connection of its own per kubelet connection (connect_hooked);
//   - any other CRI method: relayed to the runtime, over one runtime connection per loop thread
//     shared by all its kubelet connections (as one gRPC channel would be: containerd spends
//     less CPU per call on one busy connection than on many), opened when the first such stream
//     arrives.
// A relayed stream carries every header as it came (metadata, grpc-timeout, te, content-type,
// user-agent, :authority), the DATA both ways, the response headers and trailers as the other
// side sent them, and RST_STREAM both ways: a caller that cancels (or whose connection closes)
// cancels the upstream stream. Flow control is end to end: bytes received on one side are
// acknowledged (WINDOW_UPDATE) only once the other side has taken them, so a peer that does not
// read stops the sender and what the relay holds per stream stays within one window.
//
// The runtime down or restarting (connection refused, GOAWAY, connection lost): each stream it
// leaves unanswered gets gRPC UNAVAILABLE (trailers-only when no response headers went out yet,
// else trailers after the data relayed so far); the next stream connects again at once, and after
// a failed attempt at most once per backoff (100 ms, doubling up to max_reconnect_backoff);
// streams in between get UNAVAILABLE at once, as a gRPC channel in TRANSIENT_FAILURE does.
//
// Threading: a few event-loop threads (epoll); a kubelet connection and everything about it (its
// streams, its hooked connection) lives on one of them, with that thread's runtime connection, so
// no state is shared between threads except the hand-over of new connections and the shutdown
// request.
#ifndef SIGSHIM_SHIM_FRAME_RELAY_H_
#define SIGSHIM_SHIM_FRAME_RELAY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sigshim::shim {

struct FrameRelayOptions {
  // Path of the runtime's unix socket. Required.
  std::string runtime_socket;
  // Method paths relayed to the hooked server instead of the runtime (the HookTable's keys).
  // Default empty.
  absl::flat_hash_set<std::string> hooked_methods;
  // Returns a new connected, non-blocking stream socket to the server that runs the hooks; called
  // on a loop thread, once per kubelet connection that calls a hooked method. Required when
  // hooked_methods is not empty; an error fails that stream with UNAVAILABLE.
  std::function<absl::StatusOr<int>()> connect_hooked;
  // Event-loop threads; at least 1. Default 1.
  int threads = 1;
  // Longest pause between connection attempts to the runtime after a failed one. Default 1 s.
  absl::Duration max_reconnect_backoff = absl::Seconds(1);
  // Called on a loop thread (must not block) with the path of each stream refused because it is
  // not a CRI method. Default null.
  std::function<void(absl::string_view method)> on_refused_method;
  // Called on a loop thread with +1 when a stream starts being relayed to the runtime and -1 when
  // it is over (hooked and refused streams are not counted). Default null.
  std::function<void(int delta)> on_active_change;
  // Largest request header block (names + values + 32 bytes per field, as HTTP/2 counts it); a
  // larger one gets RESOURCE_EXHAUSTED and is never forwarded. Default 64 KiB.
  size_t max_header_list_bytes = 64 << 10;
  // Flow-control window of each stream on both sides: the most the relay holds per stream and
  // direction. Default 1 MiB.
  int32_t stream_window_bytes = 1 << 20;
  // Flow-control window of each connection on both sides. Default 4 MiB.
  int32_t connection_window_bytes = 4 << 20;
};

class FrameRelay {
 public:
  // Starts the loop threads. InvalidArgument for missing options; Internal when a thread's epoll
  // or eventfd cannot be made.
  static absl::StatusOr<std::unique_ptr<FrameRelay>> Create(const FrameRelayOptions& options);

  // Shuts down with no grace (Shutdown(InfinitePast)) if Shutdown was not called.
  ~FrameRelay();

  FrameRelay(const FrameRelay&) = delete;
  FrameRelay& operator=(const FrameRelay&) = delete;

  // Takes ownership of the accepted, non-blocking connection `fd` and serves it. Thread-safe.
  // After Shutdown has begun, `fd` is closed at once.
  void Adopt(int fd);

  // Sends GOAWAY on every connection (streams already open go on; new ones are refused), cancels
  // endless streams (GetContainerEvents) at once, lets the others finish until `deadline`, then
  // cancels what is left (RST_STREAM both ways), closes every connection and joins the threads.
  // Returns when all that is done. Idempotent; call from one thread.
  void Shutdown(absl::Time deadline);

  // Returns the number of streams in flight, relayed to either side. Thread-safe.
  int open_streams() const { return open_streams_.load(std::memory_order_relaxed); }

  // Returns the bytes of message data the relay holds: received from one side and not yet taken
  // by the other. Thread-safe.
  int64_t held_bytes() const { return held_bytes_.load(std::memory_order_relaxed); }

  // One event-loop thread and the connections it serves (frame_relay.cc).
  class Loop;

 private:
  explicit FrameRelay(const FrameRelayOptions& options);

  const FrameRelayOptions options_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<unsigned> next_loop_{0};
  std::atomic<int> open_streams_{0};
  std::atomic<int64_t> held_bytes_{0};
  bool shut_down_ = false;
};

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_FRAME_RELAY_H_
