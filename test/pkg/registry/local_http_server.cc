#include "test/pkg/registry/local_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sigshim::testing {
namespace {

constexpr int kPollMillis = 20;

// Returns the Content-Length of a request head, 0 when absent.
size_t ContentLength(absl::string_view head) {
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::AsciiStrToLower(line.substr(0, colon)) == "content-length") {
      size_t length = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 1)), &length)) return length;
    }
  }
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalHttpServer>> LocalHttpServer::Start(Handler handler,
                                                                      const std::string& listen_address) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  if (inet_pton(AF_INET, listen_address.c_str(), &address.sin_addr) != 1 ||
      (ntohl(address.sin_addr.s_addr) >> 24) != 127) {
    return absl::InvalidArgumentError(absl::StrCat("\"", listen_address, "\" is not an address in 127.0.0.0/8"));
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || listen(fd, 16) != 0) {
    int error = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("bind/listen: ", strerror(error)));
  }
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return std::unique_ptr<LocalHttpServer>(
      new LocalHttpServer(fd, listen_address, ntohs(address.sin_port), std::move(handler)));
}

LocalHttpServer::LocalHttpServer(int listen_fd, std::string address, int port, Handler handler)
    : listen_fd_(listen_fd), address_(std::move(address)), port_(port), handler_(std::move(handler)) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

LocalHttpServer::~LocalHttpServer() {
  stopping_ = true;
  acceptor_.join();
  std::vector<std::thread> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (std::thread& thread : connections) thread.join();
  close(listen_fd_);
}

std::string LocalHttpServer::host_port() const { return absl::StrCat(address_, ":", port_); }

std::string LocalHttpServer::base_url() const { return absl::StrCat("http://", host_port()); }

std::vector<ReceivedRequest> LocalHttpServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

void LocalHttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, kPollMillis) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    absl::MutexLock lock(&mu_);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void LocalHttpServer::Serve(int fd) {
  ReceivedRequest request;
  std::string data;
  size_t head_end = std::string::npos;
  // Read the head, then the body, giving up when the server stops or the peer goes away.
  while (!stopping_) {
    if (head_end != std::string::npos && data.size() >= head_end + 4 + ContentLength(data.substr(0, head_end))) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kPollMillis) <= 0) continue;
    char buffer[65536];
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
    if (!absl::ascii_isupper(static_cast<unsigned char>(data[0]))) {
      // Not HTTP (e.g. a TLS ClientHello): answer like a plain HTTP server would, and hang up.
      const char kBadRequest[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
      send(fd, kBadRequest, sizeof(kBadRequest) - 1, MSG_NOSIGNAL);
      break;
    }
    if (head_end == std::string::npos) head_end = data.find("\r\n\r\n");
  }
  if (head_end != std::string::npos) {
    request.head = data.substr(0, head_end);
    request.body = data.substr(head_end + 4);
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request);
    }
    Reply reply = handler_(request);
    if (reply.hang) {
      while (!stopping_) usleep(kPollMillis * 1000);
    } else {
      size_t sent = 0;
      while (sent < reply.bytes.size() && !stopping_) {
        ssize_t n = send(fd, reply.bytes.data() + sent, reply.bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;  // The client hung up (e.g. it cut off an oversized body).
        sent += static_cast<size_t>(n);
      }
    }
  }
  close(fd);
}

}  // namespace sigshim::testing
