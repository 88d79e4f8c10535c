#include "test/testbed/tcp_gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sigshim::testbed {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// Writes all of `data` to `fd`; false when the peer went away.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpGate>> TcpGate::Start(int upstream_port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in address = Loopback(0);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || listen(fd, 512) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("listening on 127.0.0.1: ", std::strerror(error)));
  }
  const int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    const int error = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(error)));
  }
  std::unique_ptr<TcpGate> gate(new TcpGate(fd, ntohs(address.sin_port), upstream_port, stop_fd));
  gate->acceptor_ = std::thread([g = gate.get()] { g->AcceptLoop(); });
  return gate;
}

TcpGate::TcpGate(int listen_fd, int port, int upstream_port, int stop_fd)
    : listen_fd_(listen_fd), port_(port), upstream_port_(upstream_port), stop_fd_(stop_fd) {}

TcpGate::~TcpGate() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  acceptor_.join();
  std::vector<std::thread> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
  close(listen_fd_);
  close(stop_fd_);
}

std::string TcpGate::host_port() const { return absl::StrCat("127.0.0.1:", port_); }

void TcpGate::Open() {
  absl::MutexLock lock(&mu_);
  open_ = true;
}

int TcpGate::accepted() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

void TcpGate::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    absl::MutexLock lock(&mu_);
    ++accepted_;
    connections_.emplace_back([this, client] { Relay(client); });
  }
}

void TcpGate::Relay(int client_fd) {
  // Held until the gate opens (or stops).
  bool go = false;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &TcpGate::OpenOrStopping));
    go = !stopping_;
  }
  int upstream = -1;
  if (go) {
    upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = Loopback(upstream_port_);
    if (upstream >= 0 && connect(upstream, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      close(upstream);
      upstream = -1;
    }
  }
  if (upstream >= 0) {
    // Relays until both directions have ended (or the gate stops).
    bool client_open = true, upstream_open = true;
    char buffer[64 * 1024];
    while (client_open || upstream_open) {
      // A side that has ended is left out (-1), so that its hang-up does not wake poll again.
      pollfd fds[3] = {{client_open ? client_fd : -1, POLLIN, 0},
                       {upstream_open ? upstream : -1, POLLIN, 0},
                       {stop_fd_, POLLIN, 0}};
      if (poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[2].revents != 0) break;
      bool failed = false;
      for (int side = 0; side < 2 && !failed; ++side) {
        if (fds[side].fd < 0 || fds[side].revents == 0) continue;
        const int from = side == 0 ? client_fd : upstream;
        const int to = side == 0 ? upstream : client_fd;
        bool& from_open = side == 0 ? client_open : upstream_open;
        const ssize_t n = recv(from, buffer, sizeof(buffer), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          from_open = false;
          shutdown(to, SHUT_WR);
        } else if (!WriteAll(to, buffer, static_cast<size_t>(n))) {
          failed = true;
        }
      }
      if (failed) break;
    }
    close(upstream);
  }
  close(client_fd);
}

}  // namespace sigshim::testbed
