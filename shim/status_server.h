// The daemon's HTTP status endpoint: Prometheus metrics and health checks, served with
// cpp-httplib on a loopback address ([metrics] listen).
//
//   GET /metrics  200, the text of `metrics` (Content-Type text/plain; version=0.0.4)
//   GET /healthz  200 "ok\n" while the process serves
//   GET /readyz   200 "ok\n" when `ready` returns OK, else 503 with its message and "\n"
//   HEAD          as GET, without the body
//   other paths   404; other methods 405 (Allow: GET, HEAD); a request body 413
#ifndef SIGSHIM_SHIM_STATUS_SERVER_H_
#define SIGSHIM_SHIM_STATUS_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace sigshim {

struct StatusServerOptions {
  // "host:port" to listen on; IPv6 hosts in brackets ("[::1]:9749"). Config validation keeps it
  // on loopback. Port 0 picks a free port (see StatusServer::port()). Required.
  std::string listen;
  // Returns the body of GET /metrics. Called on a server thread for every scrape; must be
  // thread-safe. Default none: /metrics answers with an empty body.
  std::function<std::string()> metrics;
  // Returns OK when the daemon is ready (runtime reachable, config loaded), else a status whose
  // message tells a person what is wrong. Called on a server thread for every probe; must be
  // thread-safe and quick (it holds one of `threads`). Default none: always ready.
  std::function<absl::Status()> ready;
  // Threads that serve connections; more clients wait. Default 2.
  int threads = 2;
  // Limit for reading a request or writing a response on one connection. Default 5s.
  absl::Duration io_timeout = absl::Seconds(5);
  // How long an idle keep-alive connection may hold a thread. Default 1s.
  absl::Duration keep_alive_timeout = absl::Seconds(1);
};

// Serves the status endpoint on its own threads from Create until Stop. Thread-safe.
class StatusServer {
 public:
  // Binds `options.listen` and starts serving before returning. Errors: an address that does not
  // parse is InvalidArgument; one that cannot be bound (in use, not local, unresolvable) is
  // Unavailable naming the address and, when known, the reason.
  static absl::StatusOr<std::unique_ptr<StatusServer>> Create(StatusServerOptions options);

  // Stops serving (see Stop).
  ~StatusServer();

  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // Returns the bound port (the one picked when options.listen asked for port 0).
  int port() const { return port_; }

  // Closes the listening socket, ends the connections (a request being answered is finished
  // first) and joins the threads; the callbacks are not called afterwards. Idempotent. Must not
  // be called from a callback.
  void Stop();

 private:
  StatusServer(StatusServerOptions options, std::unique_ptr<httplib::Server> http);

  const StatusServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::thread thread_;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

// Splits "host:port" or "[v6]:port" into the host (brackets removed) and the port (0..65535).
// InvalidArgument naming `listen` otherwise. Exposed for tests.
absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port);

}  // namespace sigshim

#endif  // SIGSHIM_SHIM_STATUS_SERVER_H_
