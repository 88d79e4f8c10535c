// The server on kubelet's side: a unix socket whose connections the frame relay serves
// (frame_relay.h): pass-through CRI calls are relayed to the runtime as HTTP/2 frames, the hooked
// methods go to the ProxyService's gRPC server (through a socket pair per kubelet connection), and
// paths outside the CRI are refused.
//
// sigshim owns the listening socket and its accept loop, and hands each accepted connection to
// the frame relay. (gRPC 1.51's own listener, which served it before, stops accepting for good after
// any accept4 error other than EAGAIN/EINTR (it logs "Failed accept4: Too many open files" and
// never re-arms), so one moment without a free descriptor would leave the CRI socket dead until a
// restart. This loop waits and tries again instead.)
#ifndef SIGSHIM_SHIM_SERVER_H_
#define SIGSHIM_SHIM_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/frame_relay.h"
#include "shim/hooks.h"
#include "shim/proxy.h"

namespace sigshim::shim {

struct ServerOptions {
  // Path of the unix socket to serve; its parent folder is created (0755) if missing. Required.
  std::string listen;
  // Permission bits of the socket. Default 0660 (root and the socket's group).
  int socket_mode = 0660;
  // Runtime endpoint: a socket path, "unix:///path" or "unix:/path". Required.
  std::string runtime_endpoint;
  // Largest message accepted in either direction by the gRPC server and channel (the hooked
  // methods); the frame relay never decodes messages, so
  // kubelet's and the runtime's own limits apply to what it relays. Default 64 MiB (above the
  // 16 MiB that kubelet and containerd use, so that their limits are the ones that apply).
  int max_message_bytes = 64 << 20;
  // Longest pause between reconnection attempts to the runtime. Default 1s, so that calls work
  // again soon after the runtime restarts.
  absl::Duration max_reconnect_backoff = absl::Seconds(1);
  // Called for each call refused because its method is not a CRI method (ProxyOptions). Default null.
  std::function<void()> on_refused_method;
  // Threads that serve calls: as many frame-relay event loops, and as many ProxyService completion
  // queues (proxy.h). Default 0: one for every two cores the process may run on, at least one.
  int threads = 0;
};

class Server {
 public:
  // Prepares the socket path (a stale socket is replaced; a live server behind it, or a file that
  // is not a socket, is FailedPrecondition/AlreadyExists), creates the socket with its mode (never
  // wider, not even for a moment) and starts serving. `hooks` must outlive the server. The runtime
  // need not be up: calls fail with UNAVAILABLE until it is. Out of descriptors (EMFILE, ENFILE)
  // while serving, the accept loop logs it once, tries again every kAcceptRetry, and logs when it
  // accepts again: connections wait in the socket's backlog meanwhile.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options, const HookTable* hooks);

  // Stops accepting connections and calls (GOAWAY on open connections), lets in-flight calls
  // finish for up to `grace` (endless event streams are cancelled at once), cancels what is left,
  // and removes the socket file.
  void Shutdown(absl::Duration grace);

  ~Server();

  // Returns the channel to the runtime (shared with the proxy).
  std::shared_ptr<grpc::Channel> runtime_channel() const { return channel_; }
  const ProxyService& proxy() const { return *proxy_; }

  // How long the accept loop waits before trying again after an accept failed for want of a
  // descriptor or memory.
  static constexpr absl::Duration kAcceptRetry = absl::Milliseconds(100);

 private:
  Server() = default;
  // Accepts connections on listen_fd_ and gives them to relay_, until wake_fd_ is signalled.
  void AcceptLoop();
  // Ends the accept loop and closes the listening socket. Idempotent.
  void StopAccepting();

  std::string socket_path_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // an eventfd that ends the accept loop
  std::thread accept_thread_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ProxyService> proxy_;
  std::unique_ptr<grpc::Server> server_;
  // Declared after server_, which it hands hooked connections to: destroyed before it.
  std::unique_ptr<FrameRelay> relay_;
  bool shut_down_ = false;
};

// Returns the socket path of a runtime endpoint given as "/path", "unix:///path" or "unix:/path";
// InvalidArgument for anything else.
absl::StatusOr<std::string> UnixSocketPath(absl::string_view endpoint);

// Returns a listening unix stream socket bound at `path` (non-blocking, close-on-exec) whose file
// has exactly the permission bits `mode`. The path must be ready (PrepareSocketPath).
absl::StatusOr<int> ListenUnix(const std::string& path, int mode);

// Makes `path` ready for a new unix socket: creates the parent folder, removes a stale socket
// (nobody accepting), and refuses when a server answers there or when the path is not a socket.
absl::Status PrepareSocketPath(const std::string& path);

// Returns a channel to the unix socket at `path` with sigshim's channel arguments.
std::shared_ptr<grpc::Channel> MakeRuntimeChannel(const std::string& path, const ServerOptions& options);

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_SERVER_H_
