#include "test/testbed/tcp_gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "test/testbed/poll.h"

namespace sigshim::testbed {
namespace {

// A listening socket on 127.0.0.1 that the test accepts from by hand.
struct Upstream {
  int fd = -1;
  int port = 0;
  Upstream() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(listen(fd, 16), 0);
    EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port = ntohs(address.sin_port);
  }
  ~Upstream() { close(fd); }
  // Returns true when a connection is waiting to be accepted (it is not accepted).
  bool HasPendingConnection() const {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }
};

int ConnectTo(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  return fd;
}

// Reads from `fd` until end of stream.
std::string ReadToEnd(int fd) {
  std::string out;
  char buffer[256];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, static_cast<size_t>(n));
  return out;
}

std::string ReadExactly(int fd, size_t size) {
  std::string out(size, '\0');
  size_t got = 0;
  while (got < size) {
    const ssize_t n = read(fd, out.data() + got, size - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

int PortOf(const TcpGate& gate) { return std::stoi(gate.host_port().substr(gate.host_port().rfind(':') + 1)); }

TEST(TcpGate, HoldsConnectionsUntilOpenedThenRelaysBothWays) {
  Upstream upstream;
  auto gate = TcpGate::Start(upstream.port);
  ASSERT_TRUE(gate.ok()) << gate.status();
  const int client = ConnectTo(PortOf(**gate));
  ASSERT_EQ(write(client, "ping", 4), 4);
  ASSERT_TRUE(Eventually([&] { return (*gate)->accepted() == 1; }, absl::Seconds(30), absl::Milliseconds(5)));
  // Accepted and held: the gate has not even connected to the upstream.
  EXPECT_FALSE(upstream.HasPendingConnection());

  (*gate)->Open();
  const int relayed = accept(upstream.fd, nullptr, nullptr);
  ASSERT_GE(relayed, 0);
  EXPECT_EQ(ReadExactly(relayed, 4), "ping");
  ASSERT_EQ(write(relayed, "pong", 4), 4);
  close(relayed);
  EXPECT_EQ(ReadToEnd(client), "pong");
  close(client);

  // Once open, a new connection is relayed at once, and the client's end of stream reaches the upstream.
  const int second = ConnectTo(PortOf(**gate));
  ASSERT_EQ(write(second, "again", 5), 5);
  shutdown(second, SHUT_WR);
  const int relayed_second = accept(upstream.fd, nullptr, nullptr);
  ASSERT_GE(relayed_second, 0);
  EXPECT_EQ(ReadToEnd(relayed_second), "again");
  close(relayed_second);
  EXPECT_EQ(ReadToEnd(second), "");
  close(second);
  EXPECT_EQ((*gate)->accepted(), 2);
}

TEST(TcpGate, StoppingClosesHeldConnections) {
  Upstream upstream;
  auto gate = TcpGate::Start(upstream.port);
  ASSERT_TRUE(gate.ok()) << gate.status();
  const int client = ConnectTo(PortOf(**gate));
  ASSERT_TRUE(Eventually([&] { return (*gate)->accepted() == 1; }, absl::Seconds(30), absl::Milliseconds(5)));
  gate->reset();  // joins the held connection's thread
  EXPECT_EQ(ReadToEnd(client), "");
  close(client);
  EXPECT_FALSE(upstream.HasPendingConnection());
}

}  // namespace
}  // namespace sigshim::testbed
