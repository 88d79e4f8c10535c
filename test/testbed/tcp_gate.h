// A loopback TCP relay in front of a server, which the test opens: while it is closed, connections
// are accepted and held (nothing is forwarded either way, the upstream is not even connected to);
// once opened, each is relayed byte for byte to the upstream. Lets an end-to-end test hold a real
// registry's answers until everything it waits for has happened, with no timing involved.
#ifndef SIGSHIM_TEST_TESTBED_TCP_GATE_H_
#define SIGSHIM_TEST_TESTBED_TCP_GATE_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace sigshim::testbed {

class TcpGate {
 public:
  // Listens on 127.0.0.1 on a free port, closed, in front of 127.0.0.1:`upstream_port`.
  static absl::StatusOr<std::unique_ptr<TcpGate>> Start(int upstream_port);

  // Closes every connection and joins every thread.
  ~TcpGate();

  // Returns "127.0.0.1:<port>" of the gate.
  std::string host_port() const;

  // Opens the gate: the held connections are relayed, and every later one at once. Thread-safe.
  void Open();

  // Returns how many connections the gate has accepted so far. Thread-safe.
  int accepted() const;

 private:
  TcpGate(int listen_fd, int port, int upstream_port, int stop_fd);
  void AcceptLoop();
  void Relay(int client_fd);
  bool OpenOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return open_ || stopping_; }

  const int listen_fd_;
  const int port_;
  const int upstream_port_;
  const int stop_fd_;  // an eventfd, readable once the gate stops
  std::thread acceptor_;
  mutable absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int accepted_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_TCP_GATE_H_
