#include "shim/status_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pkg/base/log.h"

namespace sigshim {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kTextContentType[] = "text/plain; charset=utf-8";
// Pause in accepting once the process has no descriptor left (EMFILE, ENFILE): the connections
// that arrive meanwhile wait in the kernel's backlog, which holds no descriptor of ours.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
// Connections accepted in one poll round at most, so that open ones are served between bursts.
constexpr int kAcceptsPerRound = 16;
constexpr int kListenBacklog = 128;

// What a request needs answered: an answer at once, or one of the callbacks first.
enum class Callback { kNone, kMetrics, kReady };

struct Answer {
  int status = 200;
  std::string content_type = kTextContentType;
  std::string body;
  std::string allow;  // the Allow header (405), when not empty
};

Answer Text(int status, std::string body) {
  Answer answer;
  answer.status = status;
  answer.body = std::move(body);
  return answer;
}

absl::string_view Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

// Returns the bytes of `answer` on the wire; without the body for a HEAD request.
std::string Serialize(const Answer& answer, bool head) {
  std::string out = absl::StrCat("HTTP/1.1 ", answer.status, " ", Reason(answer.status),
                                 "\r\nContent-Type: ", answer.content_type,
                                 "\r\nContent-Length: ", answer.body.size(), "\r\nConnection: close\r\n");
  if (!answer.allow.empty()) absl::StrAppend(&out, "Allow: ", answer.allow, "\r\n");
  out += "\r\n";
  if (!head) out += answer.body;
  return out;
}

struct Request {
  bool complete = false;  // false: more bytes are needed
  bool head = false;      // a HEAD request: answer without the body
  Callback callback = Callback::kNone;
  Answer answer;  // when callback is kNone
};

// Parses the request head at the start of `in` (request line and headers, up to the empty line).
Request ParseRequest(absl::string_view in, size_t max_bytes) {
  Request request;
  size_t end = in.find("\r\n\r\n");
  size_t end_size = 4;
  const size_t bare = in.find("\n\n");
  if (bare != absl::string_view::npos && (end == absl::string_view::npos || bare < end)) {
    end = bare;
    end_size = 2;
  }
  if (end == absl::string_view::npos) {
    if (in.size() > max_bytes) {
      request.complete = true;
      request.answer = Text(431, "request head too large\n");
    }
    return request;
  }
  request.complete = true;
  if (end + end_size > max_bytes) {
    request.answer = Text(431, "request head too large\n");
    return request;
  }
  std::vector<absl::string_view> lines = absl::StrSplit(in.substr(0, end), '\n');
  for (absl::string_view& line : lines) absl::ConsumeSuffix(&line, "\r");
  std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || !absl::StartsWith(parts[2], "HTTP/1.")) {
    request.answer = Text(400, "malformed request line\n");
    return request;
  }
  const absl::string_view method = parts[0];
  if (method != "GET" && method != "HEAD") {
    request.answer = Text(405, "method not allowed\n");
    request.answer.allow = "GET, HEAD";
    return request;
  }
  request.head = method == "HEAD";
  bool body = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) {
      request.answer = Text(400, "malformed header line\n");
      return request;
    }
    const absl::string_view name = absl::StripAsciiWhitespace(lines[i].substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Transfer-Encoding") ||
        (absl::EqualsIgnoreCase(name, "Content-Length") && value != "0")) {
      body = true;
    }
  }
  if (body) {
    request.answer = Text(413, "no request body accepted\n");
    return request;
  }
  absl::string_view path = parts[1];
  path = path.substr(0, path.find_first_of("?#"));
  if (path == "/healthz") {
    request.answer = Text(200, "ok\n");
  } else if (path == "/metrics") {
    request.callback = Callback::kMetrics;
  } else if (path == "/readyz") {
    request.callback = Callback::kReady;
  } else {
    request.answer = Text(404, "not found\n");
  }
  return request;
}

}  // namespace

// The two threads of a StatusServer and the state they share: the connection thread owns the
// listening socket and every connection; the callback thread runs `metrics` and `ready` for it.
class StatusServer::Loop {
 public:
  Loop(StatusServerOptions options, int listen_fd, int wake_fd)
      : options_(std::move(options)),
        request_timeout_(std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(options_.request_timeout))),
        listen_fd_(listen_fd),
        wake_fd_(wake_fd) {}

  ~Loop() {
    Stop();
    ::close(wake_fd_);
  }

  void Start() {
    io_thread_ = std::thread([this] { RunConnections(); });
    callback_thread_ = std::thread([this] { RunCallbacks(); });
  }

  // Ends both threads (a callback that runs is finished first), then closes every socket.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    Wake();
    if (io_thread_.joinable()) io_thread_.join();
    if (callback_thread_.joinable()) callback_thread_.join();
    if (listen_fd_ >= 0) {
      ::close(listen_fd_);
      listen_fd_ = -1;
    }
  }

 private:
  struct Connection {
    enum class State { kReading, kCallback, kWriting, kDraining };
    int fd = -1;
    Clock::time_point deadline;
    State state = State::kReading;
    bool head = false;
    std::string in;
    std::string out;
    size_t written = 0;
  };
  struct Job {
    uint64_t id;
    Callback callback;
    bool head;
  };
  struct Done {
    uint64_t id;
    std::string bytes;
  };

  void Wake() {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }

  bool Stopping() {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }

  void RunConnections() {
    std::vector<pollfd> fds;
    std::vector<uint64_t> ids;  // ids[i] is the connection of fds[i + first_connection]
    while (!Stopping()) {
      Clock::time_point now = Clock::now();
      for (auto it = connections_.begin(); it != connections_.end();) {
        it = it->second.deadline <= now ? CloseAt(it) : std::next(it);
      }
      fds.clear();
      ids.clear();
      fds.push_back({wake_fd_, POLLIN, 0});
      const bool accepting = now >= accept_paused_until_;
      if (accepting) fds.push_back({listen_fd_, POLLIN, 0});
      const size_t first_connection = fds.size();
      Clock::time_point wake_at = accepting ? Clock::time_point::max() : accept_paused_until_;
      for (const auto& [id, c] : connections_) {
        short events = 0;  // kCallback: only hang-ups and errors, which poll always reports
        if (c.state == Connection::State::kReading || c.state == Connection::State::kDraining) events = POLLIN;
        if (c.state == Connection::State::kWriting) events = POLLOUT;
        fds.push_back({c.fd, events, 0});
        ids.push_back(id);
        wake_at = std::min(wake_at, c.deadline);
      }
      int timeout_ms = -1;
      if (wake_at != Clock::time_point::max()) {
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count();
        timeout_ms = static_cast<int>(std::clamp<int64_t>(wait, 0, 60000));
      }
      if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
        if (errno == EINTR) continue;
        SIGSHIM_LOG(kError, "status server: poll: ", std::strerror(errno));
        std::this_thread::sleep_for(kAcceptBackoff);
        continue;
      }
      if (fds[0].revents != 0) TakeAnswers();
      for (size_t i = first_connection; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto it = connections_.find(ids[i - first_connection]);
        if (it == connections_.end()) continue;
        if (!Serve(it->first, it->second, fds[i].revents)) CloseAt(it);
      }
      if (accepting && fds[1].revents != 0) Accept();
    }
    while (!connections_.empty()) CloseAt(connections_.begin());
  }

  // Accepts what is pending; when the connections are at their bound, each new one closes another
  // (Victim). Out of descriptors, pauses accepting for kAcceptBackoff instead of spinning.
  void Accept() {
    for (int i = 0; i < kAcceptsPerRound; ++i) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (!accept_failing_) {
          SIGSHIM_LOG(kWarning, "status server: cannot accept a connection (", std::strerror(errno),
                      "); trying again every ", std::chrono::milliseconds(kAcceptBackoff).count(), " ms");
        }
        accept_failing_ = true;
        accept_paused_until_ = Clock::now() + kAcceptBackoff;
        return;
      }
      if (accept_failing_) {
        SIGSHIM_LOG(kInfo, "status server: accepting connections again");
        accept_failing_ = false;
      }
      if (connections_.size() >= static_cast<size_t>(options_.max_connections)) CloseAt(Victim());
      Connection c;
      c.fd = fd;
      c.deadline = Clock::now() + request_timeout_;
      connections_.emplace(next_id_++, std::move(c));
    }
  }

  // Returns the connection to close for a new one: the oldest that has not sent a whole request
  // yet or has had its whole answer, else the oldest (an idle flood never displaces an answer being
  // computed or written while it has connections of its own to lose).
  std::map<uint64_t, Connection>::iterator Victim() {
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (it->second.state == Connection::State::kReading || it->second.state == Connection::State::kDraining) return it;
    }
    return connections_.begin();
  }

  // Moves the callbacks' answers to their connections (those still open).
  void TakeAnswers() {
    uint64_t count = 0;
    (void)!::read(wake_fd_, &count, sizeof(count));
    std::vector<Done> done;
    {
      absl::MutexLock lock(&mu_);
      done.swap(done_);
    }
    for (Done& d : done) {
      auto it = connections_.find(d.id);
      if (it == connections_.end() || it->second.state != Connection::State::kCallback) continue;
      if (!StartWriting(it->second, std::move(d.bytes))) CloseAt(it);
    }
  }

  // Advances connection `id` on poll events `revents`; false when it is to be closed.
  bool Serve(uint64_t id, Connection& c, short revents) {
    if ((revents & (POLLERR | POLLNVAL)) != 0) return false;
    switch (c.state) {
      case Connection::State::kReading: {
        char buf[4096];
        while (c.in.size() <= options_.max_request_bytes) {
          const size_t want = std::min(sizeof(buf), options_.max_request_bytes + 1 - c.in.size());
          const ssize_t n = ::recv(c.fd, buf, want, 0);
          if (n == 0) return false;
          if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return false;
          }
          c.in.append(buf, static_cast<size_t>(n));
        }
        Request request = ParseRequest(c.in, options_.max_request_bytes);
        if (!request.complete) return true;
        c.in.clear();
        c.head = request.head;
        if (request.callback == Callback::kNone) return StartWriting(c, Serialize(request.answer, request.head));
        c.state = Connection::State::kCallback;
        absl::MutexLock lock(&mu_);
        jobs_.push_back({id, request.callback, request.head});
        return true;
      }
      case Connection::State::kCallback:
        return (revents & POLLHUP) == 0;  // the client left before its answer
      case Connection::State::kWriting:
        return Write(c);
      case Connection::State::kDraining: {
        char buf[4096];
        while (true) {
          const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
          if (n == 0) return false;
          if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
      }
    }
    return false;
  }

  bool StartWriting(Connection& c, std::string bytes) {
    c.state = Connection::State::kWriting;
    c.out = std::move(bytes);
    c.written = 0;
    return Write(c);
  }

  // Writes what it can of the answer. Once all is written, ends the sending side and reads what
  // the client may still send until it closes (closing at once with unread bytes would send a
  // reset that can destroy the answer before the client reads it).
  bool Write(Connection& c) {
    while (c.written < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
      }
      c.written += static_cast<size_t>(n);
    }
    ::shutdown(c.fd, SHUT_WR);
    c.out.clear();
    c.state = Connection::State::kDraining;
    return true;
  }

  std::map<uint64_t, Connection>::iterator CloseAt(std::map<uint64_t, Connection>::iterator it) {
    if (it->second.state == Connection::State::kCallback) {
      absl::MutexLock lock(&mu_);
      const uint64_t id = it->first;
      jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [id](const Job& j) { return j.id == id; }), jobs_.end());
    }
    ::close(it->second.fd);
    return connections_.erase(it);
  }

  void RunCallbacks() {
    while (true) {
      Job job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Loop* loop) ABSL_EXCLUSIVE_LOCKS_REQUIRED(loop->mu_) { return loop->stopping_ || !loop->jobs_.empty(); },
            this));
        if (stopping_) return;
        job = jobs_.front();
        jobs_.pop_front();
      }
      Answer answer;
      if (job.callback == Callback::kMetrics) {
        answer.content_type = kMetricsContentType;
        if (options_.metrics) answer.body = options_.metrics();
      } else {
        const absl::Status ready = options_.ready ? options_.ready() : absl::OkStatus();
        answer = ready.ok() ? Text(200, "ok\n")
                            : Text(503, absl::StrCat(ready.message().empty() ? absl::StatusCodeToString(ready.code())
                                                                             : std::string(ready.message()),
                                                     "\n"));
      }
      {
        absl::MutexLock lock(&mu_);
        done_.push_back({job.id, Serialize(answer, job.head)});
      }
      Wake();
    }
  }

  const StatusServerOptions options_;
  const Clock::duration request_timeout_;
  int listen_fd_;
  const int wake_fd_;  // an eventfd: the callback thread's answers, and Stop
  std::thread io_thread_;
  std::thread callback_thread_;

  // The connection thread's own state.
  std::map<uint64_t, Connection> connections_;  // by id, i.e. in the order they were accepted
  uint64_t next_id_ = 0;
  Clock::time_point accept_paused_until_{};
  bool accept_failing_ = false;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);   // at most one per open connection
  std::vector<Done> done_ ABSL_GUARDED_BY(mu_);
};

absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port) {
  auto bad = [&listen](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("status address \"", listen, "\": ", why));
  };
  absl::string_view rest;
  if (!listen.empty() && listen[0] == '[') {
    size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return bad("expected [IPv6]:port");
    }
    *host = listen.substr(1, close - 1);
    rest = absl::string_view(listen).substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return bad("expected host:port");
    *host = listen.substr(0, colon);
    if (host->find(':') != std::string::npos) return bad("an IPv6 address needs brackets: [::1]:port");
    rest = absl::string_view(listen).substr(colon + 1);
  }
  if (host->empty()) return bad("no host");
  int value = -1;
  if (rest.empty() || !absl::SimpleAtoi(rest, &value) || value < 0 || value > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  *port = value;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StatusServer>> StatusServer::Create(StatusServerOptions options) {
  std::string host;
  int port = 0;
  absl::Status split = SplitHostPort(options.listen, &host, &port);
  if (!split.ok()) return split;
  if (options.max_connections < 1) return absl::InvalidArgumentError("status server: max_connections must be at least 1");
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("status server: request_timeout must be positive");
  }
  if (options.max_request_bytes < 16) return absl::InvalidArgumentError("status server: max_request_bytes must be at least 16");

  auto unavailable = [&options](absl::string_view why) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, " for /metrics, /healthz, /readyz", why.empty() ? "" : ": ", why));
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addrs = nullptr;
  const int resolved = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addrs);
  if (resolved != 0) return unavailable(gai_strerror(resolved));
  int listen_fd = -1;
  std::string why;
  for (addrinfo* a = addrs; a != nullptr && listen_fd < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    // SO_REUSEADDR allows a quick restart; no SO_REUSEPORT, which would let a second process share
    // the port silently: a port in use is an error.
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, kListenBacklog) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      continue;
    }
    listen_fd = fd;
  }
  ::freeaddrinfo(addrs);
  if (listen_fd < 0) return unavailable(why);

  sockaddr_storage bound{};
  socklen_t bound_size = sizeof(bound);
  if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &bound_size) != 0) {
    why = std::strerror(errno);
    ::close(listen_fd);
    return unavailable(why);
  }
  const int bound_port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    why = std::strerror(errno);
    ::close(listen_fd);
    return unavailable(why);
  }
  auto loop = std::make_unique<Loop>(std::move(options), listen_fd, wake_fd);
  loop->Start();
  return std::unique_ptr<StatusServer>(new StatusServer(bound_port, std::move(loop)));
}

StatusServer::StatusServer(int port, std::unique_ptr<Loop> loop) : port_(port), loop_(std::move(loop)) {}

StatusServer::~StatusServer() { Stop(); }

void StatusServer::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  loop_->Stop();
}

}  // namespace sigshim
