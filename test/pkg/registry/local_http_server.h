// A tiny HTTP/1.1 server on a loopback address for tests of the real transport: one thread per connection,
// one request per connection, answers produced by a handler (raw bytes, so tests can send
// anything, including lies), or no answer at all. Stops and joins its threads on destruction.
#ifndef SIGSHIM_TEST_PKG_REGISTRY_LOCAL_HTTP_SERVER_H_
#define SIGSHIM_TEST_PKG_REGISTRY_LOCAL_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace sigshim::testing {

struct ReceivedRequest {
  std::string head;  // request line and header fields, as received
  std::string body;  // Content-Length bytes after the head
};

struct Reply {
  std::string bytes;   // written as is, then the connection is closed
  bool hang = false;   // when true, nothing is written and the connection is held until shutdown
};

class LocalHttpServer {
 public:
  using Handler = std::function<Reply(const ReceivedRequest&)>;

  // Listens on `address` (an IPv4 address in 127.0.0.0/8) on a free port and serves with
  // `handler` (called on connection threads). InvalidArgument for another address.
  static absl::StatusOr<std::unique_ptr<LocalHttpServer>> Start(Handler handler,
                                                                const std::string& address = "127.0.0.1");

  ~LocalHttpServer();

  // Returns the port listened on.
  int port() const { return port_; }

  // Returns "<address>:<port>".
  std::string host_port() const;

  // Returns "http://<address>:<port>".
  std::string base_url() const;

  // Returns the requests received so far.
  std::vector<ReceivedRequest> requests() const;

 private:
  LocalHttpServer(int listen_fd, std::string address, int port, Handler handler);
  void AcceptLoop();
  void Serve(int fd);

  const int listen_fd_;
  const std::string address_;
  const int port_;
  const Handler handler_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable absl::Mutex mu_;
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<ReceivedRequest> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sigshim::testing

#endif  // SIGSHIM_TEST_PKG_REGISTRY_LOCAL_HTTP_SERVER_H_
