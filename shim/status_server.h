// The daemon's HTTP status endpoint: Prometheus metrics and health checks on a loopback address
// ([metrics] listen).
//
//   GET /metrics  200, the text of `metrics` (Content-Type text/plain; version=0.0.4)
//   GET /healthz  200 "ok\n" while the process serves
//   GET /readyz   200 "ok\n" when `ready` returns OK, else 503 with its message and "\n"
//   HEAD          as GET, without the body
//   other paths   404; other methods 405 (Allow: GET, HEAD); a request body 413; a request head
//                 over max_request_bytes 431; a request that is not HTTP/1.x 400
//
// Every answer ends its connection (Connection: close). The server is bounded by construction, so
// that no local client can take file descriptors or threads from the CRI, nor keep /healthz from
// other clients (DESIGN.md "Budgets"):
//   - one thread runs every connection (poll), and one more runs the `metrics` and `ready`
//     callbacks; /healthz is answered on the first, so a slow callback never delays it;
//   - at most max_connections are open: one more arriving closes the oldest that is not being
//     answered (the oldest of all when every one is);
//   - a connection has request_timeout from its accept to the last byte of its answer, whatever it
//     sends meanwhile (a client trickling a header byte a second is closed all the same);
//   - a request head is at most max_request_bytes.
//
// cpp-httplib (Debian 12: 0.11) could not give these bounds: it serves one connection per thread
// from an unbounded queue of accepted sockets (each one a descriptor) and its timeouts are per
// read, never per request.
#ifndef SIGSHIM_SHIM_STATUS_SERVER_H_
#define SIGSHIM_SHIM_STATUS_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sigshim {

struct StatusServerOptions {
  // "host:port" to listen on; IPv6 hosts in brackets ("[::1]:9749"). Config validation keeps it
  // on loopback. Port 0 picks a free port (see StatusServer::port()). Required.
  std::string listen;
  // Returns the body of GET /metrics. Called on the server's callback thread, one call at a time;
  // must be thread-safe with respect to the rest of the program. Default none: an empty body.
  std::function<std::string()> metrics;
  // Returns OK when the daemon is ready (runtime reachable, config loaded), else a status whose
  // message tells a person what is wrong. Called like `metrics`. Default none: always ready.
  std::function<absl::Status()> ready;
  // Connections open at once, at most; when one more is accepted the oldest one that is not being
  // answered is closed (the oldest of all when every one is), so idle clients cannot keep a new
  // one out, nor displace an answer on its way. Default 64: far above what scrapers and probes need,
  // far below any descriptor limit.
  int max_connections = 64;
  // Time one connection may take from its accept to the last byte of the answer, reading,
  // waiting for a callback and writing together; then it is closed. Default 5s.
  absl::Duration request_timeout = absl::Seconds(5);
  // Largest request line plus headers; larger is answered 431. Default 8 KiB.
  size_t max_request_bytes = 8192;
};

// Serves the status endpoint on its own two threads from Create until Stop. Thread-safe.
class StatusServer {
 public:
  // Binds `options.listen` and starts serving before returning. Errors: an address that does not
  // parse, or options out of range, are InvalidArgument; one that cannot be bound (in use, not
  // local, unresolvable) is Unavailable naming the address and, when known, the reason.
  static absl::StatusOr<std::unique_ptr<StatusServer>> Create(StatusServerOptions options);

  // Stops serving (see Stop).
  ~StatusServer();

  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // Returns the bound port (the one picked when options.listen asked for port 0).
  int port() const { return port_; }

  // Closes the listening socket and every connection, waits for a callback that is running, and
  // joins the threads; the callbacks are not called afterwards. Idempotent. Must not be called
  // from a callback.
  void Stop();

 private:
  class Loop;

  StatusServer(int port, std::unique_ptr<Loop> loop);

  const int port_;
  std::unique_ptr<Loop> loop_;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

// Splits "host:port" or "[v6]:port" into the host (brackets removed) and the port (0..65535).
// InvalidArgument naming `listen` otherwise. Exposed for tests.
absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port);

}  // namespace sigshim

#endif  // SIGSHIM_SHIM_STATUS_SERVER_H_
