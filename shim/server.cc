#include "shim/server.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_posix.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "pkg/base/file.h"
#include "pkg/base/log.h"

namespace sigshim::shim {
namespace {

std::string Parent(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// Returns true when something accepts connections on the unix socket at `path`.
bool SocketAnswers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const bool answers = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return answers;
}

// One serving thread for every two cores the process may run on, at least one: the runtime needs
// the other cores, and on two cores one thread (no event crosses between queues) beat two in both
// latency and CPU per call (test/bench/proxy_bench).
int DefaultThreads() {
  cpu_set_t cpus;
  if (::sched_getaffinity(0, sizeof(cpus), &cpus) != 0) return 1;
  return std::max(1, CPU_COUNT(&cpus) / 2);
}

}  // namespace

absl::StatusOr<std::string> UnixSocketPath(absl::string_view endpoint) {
  absl::string_view path = endpoint;
  if (!absl::ConsumePrefix(&path, "unix://")) absl::ConsumePrefix(&path, "unix:");
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint \"", endpoint, "\" is not a unix socket path (expected /path or unix:///path)"));
  }
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path \"", path, "\" is longer than ",
                                                   sizeof(sockaddr_un::sun_path) - 1, " bytes"));
  }
  return std::string(path);
}

absl::StatusOr<int> ListenUnix(const std::string& path, int mode) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot create a socket for ", path, ": ", strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  // bind creates the file: a umask keeps it from ever being wider than asked.
  const mode_t old_umask = ::umask(static_cast<mode_t>(~mode & 0777));
  const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  ::umask(old_umask);
  if (bound != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot serve on ", path, ": ", strerror(bind_errno)));
  }
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const std::string error = strerror(errno);
    ::close(fd);
    ::unlink(path.c_str());
    return absl::InternalError(absl::StrCat("cannot set up the socket ", path, ": ", error));
  }
  return fd;
}

absl::Status PrepareSocketPath(const std::string& path) {
  absl::Status made = MakeDirs(Parent(path), 0755);
  if (!made.ok()) return made;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("cannot inspect ", path, ": ", strerror(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
  }
  if (SocketAnswers(path)) {
    return absl::AlreadyExistsError(
        absl::StrCat("another server is already listening on ", path, " (is sigshim running?)"));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("cannot remove stale socket ", path, ": ", strerror(errno)));
  }
  SIGSHIM_LOG(kInfo, "removed stale socket ", path);
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> MakeRuntimeChannel(const std::string& path, const ServerOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  const int backoff_ms = static_cast<int>(absl::ToInt64Milliseconds(options.max_reconnect_backoff));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(100, backoff_ms));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, backoff_ms);
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC takes it as the time a connection attempt may take
  // (connect and the runtime's first SETTINGS frame; default 20 s). At 100 ms, a runtime slow to
  // answer on a busy node failed calls with UNAVAILABLE.
  return grpc::CreateCustomChannel(absl::StrCat("unix:", path), grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options, const HookTable* hooks) {
  absl::StatusOr<std::string> listen = UnixSocketPath(options.listen);
  if (!listen.ok()) return listen.status();
  absl::StatusOr<std::string> runtime = UnixSocketPath(options.runtime_endpoint);
  if (!runtime.ok()) return runtime.status();
  if (*listen == *runtime) {
    return absl::InvalidArgumentError(absl::StrCat("listen and runtime_endpoint are both ", *listen));
  }
  absl::Status prepared = PrepareSocketPath(*listen);
  if (!prepared.ok()) return prepared;

  std::unique_ptr<Server> server(new Server());
  server->socket_path_ = *listen;
  server->channel_ = MakeRuntimeChannel(*runtime, options);
  ProxyOptions proxy_options;
  proxy_options.threads = options.threads > 0 ? options.threads : DefaultThreads();
  proxy_options.on_refused_method = options.on_refused_method;
  server->proxy_ = std::make_unique<ProxyService>(server->channel_, hooks, proxy_options);

  absl::StatusOr<int> listen_fd = ListenUnix(*listen, options.socket_mode);
  if (!listen_fd.ok()) return listen_fd.status();
  server->listen_fd_ = *listen_fd;
  server->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (server->wake_fd_ < 0) {
    const std::string error = strerror(errno);
    ::close(server->listen_fd_);
    server->listen_fd_ = -1;
    ::unlink(listen->c_str());
    return absl::InternalError(absl::StrCat("cannot serve on ", *listen, ": eventfd: ", error));
  }

  // No listening port: connections come from AcceptLoop.
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  server->proxy_->RegisterWith(&builder);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    server->StopAccepting();  // closes both descriptors; the loop never ran
    ::unlink(listen->c_str());
    return absl::UnavailableError(absl::StrCat("cannot serve on ", *listen, " (see gRPC's message above)"));
  }
  server->proxy_->Start();
  Server* raw = server.get();
  {
    FrameRelayOptions relay_options;
    relay_options.runtime_socket = *runtime;
    for (const auto& [method, hook] : *hooks) relay_options.hooked_methods.insert(method);
    relay_options.connect_hooked = [raw]() -> absl::StatusOr<int> {
      int fds[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        return absl::UnavailableError(absl::StrCat("cannot reach the hooks: socketpair: ", strerror(errno)));
      }
      grpc::AddInsecureChannelFromFd(raw->server_.get(), fds[1]);
      return fds[0];
    };
    relay_options.threads = proxy_options.threads;
    relay_options.max_reconnect_backoff = options.max_reconnect_backoff;
    ProxyService* proxy = server->proxy_.get();
    relay_options.on_refused_method = [proxy](absl::string_view method) { proxy->RefuseUnknown(method); };
    relay_options.on_active_change = [proxy](int delta) { proxy->AddOutsideCalls(delta); };
    absl::StatusOr<std::unique_ptr<FrameRelay>> relay = FrameRelay::Create(relay_options);
    if (!relay.ok()) {
      server->StopAccepting();
      ::unlink(listen->c_str());
      return relay.status();
    }
    server->relay_ = *std::move(relay);
  }
  server->accept_thread_ = std::thread([raw] { raw->AcceptLoop(); });
  return server;
}

void Server::AcceptLoop() {
  bool failing = false;  // the last accept failed for want of a resource
  while (true) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    // After a failed accept only the wake-up is watched, for kAcceptRetry: the listening socket
    // stays readable while connections wait, and watching it would spin.
    const int ready = ::poll(fds, failing ? 1 : 2, failing ? static_cast<int>(absl::ToInt64Milliseconds(kAcceptRetry)) : -1);
    if (ready < 0 && errno != EINTR) {
      SIGSHIM_LOG(kError, "CRI socket ", socket_path_, ": poll: ", strerror(errno));
      ::poll(fds, 1, static_cast<int>(absl::ToInt64Milliseconds(kAcceptRetry)));
    }
    if (fds[0].revents != 0) return;
    if (ready == 0 && !failing) continue;
    while (true) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        if (failing) {
          SIGSHIM_LOG(kInfo, "CRI socket ", socket_path_, ": accepting connections again");
          failing = false;
        }
        relay_->Adopt(fd);
        continue;
      }
      const int error = errno;
      if (error == EINTR || error == ECONNABORTED || error == EPROTO) continue;
      if (error == EAGAIN || error == EWOULDBLOCK) {
        failing = false;
        break;
      }
      // EMFILE, ENFILE, ENOBUFS, ENOMEM, or anything unforeseen: never give up the socket.
      if (!failing) {
        SIGSHIM_LOG(kError, "CRI socket ", socket_path_, ": cannot accept a connection (", strerror(error),
                    "); trying again every ", absl::FormatDuration(kAcceptRetry), " while connections wait");
      }
      failing = true;
      break;
    }
  }
}

void Server::StopAccepting() {
  if (accept_thread_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
    accept_thread_.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  // No connection is handed on once the shutdown has begun.
  StopAccepting();
  const absl::Time deadline = absl::Now() + grace;
  // The relay first: its hooked streams are calls of the gRPC server below, which must still take
  // them until the relay is done.
  if (relay_ != nullptr) relay_->Shutdown(deadline);  // null only when Create failed to start it
  server_->Shutdown(absl::ToChronoTime(deadline));
  // gRPC's Shutdown returns once every call has been released, so no call is left to serve.
  proxy_->Stop();
  server_->Wait();
  if (::unlink(socket_path_.c_str()) != 0 && errno != ENOENT) {
    SIGSHIM_LOG(kWarning, "cannot remove socket ", socket_path_, ": ", strerror(errno));
  }
}

Server::~Server() {
  if (server_ != nullptr) Shutdown(absl::ZeroDuration());
}

}  // namespace sigshim::shim
