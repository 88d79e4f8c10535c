#include "shim/frame_relay.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "pkg/base/log.h"
#include "pkg/cri/cri.h"

namespace sigshim::shim {
namespace {

// gRPC status codes the relay answers with itself.
constexpr int kUnimplemented = 12;
constexpr int kUnavailable = 14;
constexpr int kResourceExhausted = 8;
constexpr int kInternal = 13;

constexpr size_t kReadChunk = 64 << 10;
// What one flush gathers from a session before writing it out.
constexpr size_t kWriteChunk = 64 << 10;
// Streams a kubelet connection may have open at once (a hostile local client cannot make the
// relay hold more). gRPC clients queue calls beyond the peer's limit.
constexpr uint32_t kMaxConcurrentStreams = 1024;
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr char kClosedByPeer[] = "closed by the peer";

struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

std::vector<nghttp2_nv> ToNv(const Headers& headers) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(headers.size());
  for (const Header& h : headers) {
    nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(h.name.data())),
                  reinterpret_cast<uint8_t*>(const_cast<char*>(h.value.data())), h.name.size(), h.value.size(),
                  NGHTTP2_NV_FLAG_NONE});
  }
  return nv;
}

// Percent-encodes a grpc-message value as gRPC does: every byte outside printable ASCII, and '%'.
std::string PercentEncode(absl::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : message) {
    if (c < 0x20 || c > 0x7e || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Headers StatusHeaders(int code, absl::string_view message, bool with_status_line) {
  Headers h;
  if (with_status_line) {
    h.push_back({":status", "200"});
    h.push_back({"content-type", "application/grpc"});
  }
  h.push_back({"grpc-status", std::to_string(code)});
  h.push_back({"grpc-message", PercentEncode(message)});
  return h;
}

absl::StatusOr<int> ConnectUnix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot create a socket: ", strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  // A unix socket connects at once or fails (EAGAIN: the runtime's backlog is full).
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to the runtime at ", path, ": ", strerror(error)));
  }
  return fd;
}

}  // namespace

class Connection;
struct Upstream;

// Drops, from what a CRI client sends, the RST_STREAM and WINDOW_UPDATE frames for streams it
// has not opened yet. gRPC's C core sends RST_STREAM for a call cancelled between taking a stream
// id and writing its HEADERS; gRPC servers (C core and Go) ignore such a frame, while nghttp2 ends
// the whole connection for it (PROTOCOL_ERROR, "stream in idle"), which would fail every other
// call on it. Everything else passes unchanged, in order.
class IdleStreamFrameFilter {
 public:
  // Passes `data` on to `feed(const uint8_t*, size_t)` (false stops: an error), minus the frames
  // dropped. Returns false when `feed` did.
  template <typename Feed>
  bool Pass(const uint8_t* data, size_t len, Feed feed) {
    size_t pos = 0;
    size_t run = 0;  // Start of the bytes not yet fed.
    while (pos < len) {
      if (preface_left_ > 0 || payload_left_ > 0) {
        size_t& left = preface_left_ > 0 ? preface_left_ : payload_left_;
        const size_t n = std::min(left, len - pos);
        if (dropping_ && &left == &payload_left_) {
          if (pos > run && !feed(data + run, pos - run)) return false;
          run = pos + n;
        }
        left -= n;
        pos += n;
        continue;
      }
      // A frame header: 9 bytes, perhaps split across reads.
      if (pos > run && !feed(data + run, pos - run)) return false;
      const size_t n = std::min(kFrameHeader - header_len_, len - pos);
      memcpy(header_ + header_len_, data + pos, n);
      header_len_ += n;
      pos += n;
      run = pos;
      if (header_len_ < kFrameHeader) break;
      header_len_ = 0;
      payload_left_ = (size_t{header_[0]} << 16) | (size_t{header_[1]} << 8) | header_[2];
      const uint8_t type = header_[3];
      const int32_t id = static_cast<int32_t>(((uint32_t{header_[5]} & 0x7f) << 24) | (uint32_t{header_[6]} << 16) |
                                              (uint32_t{header_[7]} << 8) | header_[8]);
      if (type == NGHTTP2_HEADERS) highest_opened_ = std::max(highest_opened_, id);
      dropping_ = (type == NGHTTP2_RST_STREAM || type == NGHTTP2_WINDOW_UPDATE) && id != 0 && id > highest_opened_;
      if (!dropping_ && !feed(header_, kFrameHeader)) return false;
    }
    return pos <= run || feed(data + run, pos - run);
  }

 private:
  static constexpr size_t kFrameHeader = 9;
  size_t preface_left_ = 24;  // The client connection preface ("PRI * HTTP/2.0...").
  size_t payload_left_ = 0;
  bool dropping_ = false;
  uint8_t header_[kFrameHeader];
  size_t header_len_ = 0;
  int32_t highest_opened_ = 0;
};

// A socket with its HTTP/2 session and what is waiting to be written to it.
struct Endpoint {
  FrameRelay::Loop* loop = nullptr;
  Connection* conn = nullptr;  // The kubelet connection it serves; null for a shared runtime connection.
  Upstream* up = nullptr;      // Null for the kubelet's side.
  int fd = -1;
  nghttp2_session* session = nullptr;
  std::string out;
  size_t out_off = 0;
  bool watching_out = false;  // EPOLLOUT is watched (only while `out` waits for room).

  ~Endpoint() {
    if (session != nullptr) nghttp2_session_del(session);
    if (fd >= 0) ::close(fd);
  }
};

// One request stream of a kubelet connection; lives from its HEADERS until it closes on the
// kubelet's side (or the connection goes).
struct Stream {
  Connection* conn = nullptr;  // The kubelet connection it came on.
  int32_t down_id = 0;
  Upstream* up = nullptr;  // Null once the upstream stream is over (or when there never was one).
  int32_t up_id = -1;
  bool counted = false;  // Counted by on_active_change.
  bool endless = false;
  bool too_big = false;    // The request's header block is over the limit.
  bool malformed = false;  // The request's headers break HTTP/2's rules (Dispatch resets it).
  size_t header_bytes = 0;
  std::string path;
  Headers request_headers;
  // Caller → upstream: received, not yet taken by the upstream session.
  std::string to_up;
  size_t to_up_off = 0;
  bool to_up_eof = false;
  // Upstream → caller.
  Headers response_headers;
  Headers trailers;
  std::string to_down;
  size_t to_down_off = 0;
  bool to_down_eof = false;
  bool response_submitted = false;
  bool hooked = false;
  // For the debug line of a pass-through call: its gRPC status (-1 unknown) and arrival.
  int final_code = -1;
  absl::Time start;
};

// A connection to the runtime, shared by every kubelet connection of a loop (as a gRPC channel
// would be: the runtime batches its writes per connection), or to the hooked server, for one
// kubelet connection.
struct Upstream {
  Endpoint ep;
  bool hooked = false;
  bool goaway = false;  // The server sent GOAWAY: no new streams here.
  bool dead = false;    // Broken: its streams have been failed; removed at the next cleanup.
  absl::flat_hash_map<int32_t, Stream*> by_id;  // Its open streams.
};

class Connection {
 public:
  explicit Connection(FrameRelay::Loop* loop) : loop(loop) {
    down.loop = loop;
    down.conn = this;
  }

  FrameRelay::Loop* const loop;
  Endpoint down;
  IdleStreamFrameFilter filter;  // On what the client sends.
  std::unique_ptr<Upstream> hooked;
  std::vector<std::unique_ptr<Upstream>> retired;  // Hooked ones after GOAWAY or failure, until idle.
  absl::flat_hash_map<int32_t, std::unique_ptr<Stream>> streams;
  bool dead = false;
  bool touched = false;  // In the loop's list of connections to flush this round.
  bool goaway_sent = false;

  Stream* Find(int32_t id) {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second.get();
  }
};

class FrameRelay::Loop {
 public:
  Loop(FrameRelay* relay) : relay_(relay), options_(relay->options_) {}
  ~Loop() {
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    absl::MutexLock lock(&mu_);
    for (int fd : incoming_) ::close(fd);
  }

  absl::Status Start() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) return absl::InternalError(absl::StrCat("frame relay: ", strerror(errno)));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // The wake-up.
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
      return absl::InternalError(absl::StrCat("frame relay: epoll_ctl: ", strerror(errno)));
    }
    MakeCallbacks();
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  void Adopt(int fd) {
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_requested_) {
        ::close(fd);
        return;
      }
      incoming_.push_back(fd);
    }
    Wake();
  }

  void RequestShutdown(absl::Time deadline) {
    {
      absl::MutexLock lock(&mu_);
      shutdown_requested_ = true;
      shutdown_deadline_ = deadline;
    }
    Wake();
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Wake() {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }

  // ---- The event loop ----

  void Run() {
    pthread_setname_np(pthread_self(), "sigshim-relay");
    epoll_event events[64];
    while (true) {
      int timeout_ms = -1;
      if (draining_) {
        timeout_ms = static_cast<int>(std::clamp<int64_t>(
            absl::ToInt64Milliseconds(drain_deadline_ - absl::Now()) + 1, 0, 1000));
      }
      const int n = ::epoll_wait(epoll_fd_, events, 64, timeout_ms);
      if (n < 0 && errno != EINTR) {
        SIGSHIM_LOG(kError, "frame relay: epoll_wait: ", strerror(errno));
        absl::SleepFor(absl::Milliseconds(10));
      }
      for (int i = 0; i < n; ++i) {
        if (events[i].data.ptr == nullptr) {
          TakeCommands();
          continue;
        }
        Endpoint* ep = static_cast<Endpoint*>(events[i].data.ptr);
        Connection* c = ep->conn;
        if (c != nullptr) Touch(c);
        if ((c != nullptr && c->dead) || (ep->up != nullptr && ep->up->dead)) continue;
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
          std::string error;
          if (!Receive(ep, (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0, &error)) {
            if (ep->up != nullptr) {
              FailUpstream(ep->up, absl::StrCat("the connection to the ", ep->up->hooked ? "hook server" : "runtime",
                                                   " was lost (", error, ")"));
            } else {
              if (error != kClosedByPeer) SIGSHIM_LOG(kWarning, "frame relay: closing a CRI connection: ", error);
              c->dead = true;
            }
          }
        }
      }
      if (draining_ && absl::Now() >= drain_deadline_) CancelEverything();
      SettleRound();
      if (draining_ && connections_.empty()) {
        for (Upstream* u : RuntimeUpstreams()) FlushEndpoint(&u->ep);  // The last cancellations.
        return;
      }
    }
  }

  void TakeCommands() {
    uint64_t count;
    (void)!::read(wake_fd_, &count, sizeof(count));
    std::vector<int> fds;
    bool shutdown;
    absl::Time deadline;
    {
      absl::MutexLock lock(&mu_);
      fds.swap(incoming_);
      shutdown = shutdown_requested_;
      deadline = shutdown_deadline_;
    }
    for (int fd : fds) Serve(fd);
    if (shutdown && !draining_) {
      draining_ = true;
      drain_deadline_ = deadline;
      for (auto& [c, owned] : connections_) {
        Touch(c);
        if (c->dead) continue;
        nghttp2_submit_goaway(c->down.session, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->down.session), NGHTTP2_NO_ERROR, nullptr, 0);
        c->goaway_sent = true;
        // Endless streams (GetContainerEvents) would hold the shutdown for the whole grace.
        for (auto& [id, s] : c->streams) {
          if (s->endless) nghttp2_submit_rst_stream(c->down.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        }
      }
    }
  }

  // Cancels every stream on both sides and closes every connection (the grace is over).
  void CancelEverything() {
    for (auto& [c, owned] : connections_) {
      Touch(c);
      if (c->dead) continue;
      for (auto& [id, s] : c->streams) {
        nghttp2_submit_rst_stream(c->down.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      }
      FlushConnection(c);
      c->dead = true;
    }
  }

  void Serve(int fd) {
    auto owned = std::make_unique<Connection>(this);
    Connection* c = owned.get();
    c->down.fd = fd;
    nghttp2_option* option;
    nghttp2_option_new(&option);
    nghttp2_option_set_no_auto_window_update(option, 1);
    // nghttp2's HTTP checks would reset a stream whose :path does not start with '/' (PROTOCOL_ERROR),
    // where the CRI socket answers UNIMPLEMENTED to every path outside the CRI: the request
    // headers are checked here instead (DownHeader, Dispatch).
    nghttp2_option_set_no_http_messaging(option, 1);
    const int rv = nghttp2_session_server_new2(&c->down.session, server_callbacks_, &c->down, option);
    nghttp2_option_del(option);
    if (rv != 0) {
      SIGSHIM_LOG(kError, "frame relay: cannot make an HTTP/2 session: ", nghttp2_strerror(rv));
      c->down.session = nullptr;
      return;  // Closes fd.
    }
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(options_.stream_window_bytes)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(options_.max_header_list_bytes)},
    };
    nghttp2_submit_settings(c->down.session, NGHTTP2_FLAG_NONE, settings, 3);
    nghttp2_session_set_local_window_size(c->down.session, NGHTTP2_FLAG_NONE, 0, options_.connection_window_bytes);
    if (!Watch(&c->down)) return;
    connections_.emplace(c, std::move(owned));
    Touch(c);
    if (draining_) {
      nghttp2_submit_goaway(c->down.session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
      c->goaway_sent = true;
    }
  }

  // Watches `ep`'s socket for input (edge-triggered); for room to write too only while a write
  // waits for it, so that a peer reading what was sent wakes nobody.
  bool Watch(Endpoint* ep, int op = EPOLL_CTL_ADD) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (ep->watching_out ? EPOLLOUT : 0);
    ev.data.ptr = ep;
    if (::epoll_ctl(epoll_fd_, op, ep->fd, &ev) != 0) {
      SIGSHIM_LOG(kError, "frame relay: epoll_ctl: ", strerror(errno));
      return false;
    }
    return true;
  }

  void WatchOut(Endpoint* ep, bool out) {
    if (ep->watching_out == out) return;
    ep->watching_out = out;
    Watch(ep, EPOLL_CTL_MOD);
  }

  // Reads everything available into the session (up to the close when `closing`: the event said
  // the peer has shut down). False when the socket is closed, failed, or the peer broke the
  // protocol.
  bool Receive(Endpoint* ep, bool closing, std::string* error) {
    while (true) {
      const ssize_t n = ::read(ep->fd, read_buffer_, sizeof(read_buffer_));
      if (n > 0) {
        auto feed = [&](const uint8_t* data, size_t len) {
          const ssize_t used = nghttp2_session_mem_recv(ep->session, data, len);
          if (used < 0) *error = nghttp2_strerror(static_cast<int>(used));
          return used >= 0;
        };
        const uint8_t* data = reinterpret_cast<uint8_t*>(read_buffer_);
        if (!(ep->up == nullptr ? ep->conn->filter.Pass(data, static_cast<size_t>(n), feed)
                                : feed(data, static_cast<size_t>(n)))) {
          return false;
        }
        // A short read emptied the socket: with edge-triggered epoll, more input (or the peer's
        // close) raises a new event, so the read that would say EAGAIN is saved.
        if (!closing && static_cast<size_t>(n) < sizeof(read_buffer_)) return true;
        continue;
      }
      if (n == 0) {
        *error = kClosedByPeer;
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      *error = strerror(errno);
      return false;
    }
  }

  // Writes what the session has to send, until done or the socket is full; sets `*wrote` when it
  // wrote anything. False when the socket or the session failed.
  bool FlushEndpoint(Endpoint* ep, bool* wrote = nullptr) {
    while (true) {
      while (ep->out_off < ep->out.size()) {
        const ssize_t n = ::send(ep->fd, ep->out.data() + ep->out_off, ep->out.size() - ep->out_off, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            WatchOut(ep, true);  // EPOLLOUT will come.
            return true;
          }
          return false;
        }
        ep->out_off += static_cast<size_t>(n);
        if (wrote != nullptr) *wrote = true;
      }
      ep->out.clear();
      ep->out_off = 0;
      if (ep->watching_out) WatchOut(ep, false);
      while (ep->out.size() < kWriteChunk) {
        const uint8_t* data;
        const ssize_t n = nghttp2_session_mem_send(ep->session, &data);
        if (n < 0) return false;
        if (n == 0) break;
        ep->out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      }
      if (ep->out.empty()) return true;
    }
  }

  void Touch(Connection* c) {
    if (c->touched) return;
    c->touched = true;
    touched_.push_back(c);
  }

  std::vector<Upstream*> RuntimeUpstreams() {
    std::vector<Upstream*> out;
    if (runtime_ != nullptr) out.push_back(runtime_.get());
    for (auto& u : retired_) out.push_back(u.get());
    return out;
  }

  // Sends what a kubelet connection and its hooked upstreams have to send. Returns whether
  // anything was written.
  bool FlushConnection(Connection* c) {
    if (c->dead) return false;
    bool wrote = false;
    if (!FlushEndpoint(&c->down, &wrote)) {
      SIGSHIM_LOG(kDebug, "frame relay: cannot write to a CRI connection: ", strerror(errno));
      c->dead = true;
      return wrote;
    }
    auto flush_up = [&](Upstream* u) {
      if (u == nullptr || u->dead) return;
      if (!FlushEndpoint(&u->ep, &wrote)) FailUpstream(u, "cannot write to it");
    };
    flush_up(c->hooked.get());
    for (auto& u : c->retired) flush_up(u.get());
    return wrote;
  }

  // Sends what this round's events produced, on every side, until nothing more comes: taking data
  // on one side acknowledges it on the other (WINDOW_UPDATE), which a later pass sends. Then lets
  // go of what is over.
  void SettleRound() {
    for (size_t i = 0; i < touched_.size(); ++i) {
      Connection* c = touched_[i];
      if (c->dead) continue;
      // An upstream session that has ended by itself (it sent or got a GOAWAY for a protocol
      // error) answers nothing more: its streams fail now rather than at their deadlines.
      if (Upstream* u = c->hooked.get(); u != nullptr && !u->dead && !u->goaway && Ended(u)) {
        FailUpstream(u, "the hook server ended the connection");
      }
    }
    if (runtime_ != nullptr && !runtime_->dead && !runtime_->goaway && Ended(runtime_.get())) {
      FailUpstream(runtime_.get(), "the runtime ended the connection");
    }
    for (int pass = 0; pass < 8; ++pass) {
      bool wrote = false;
      // Indexes: flushing may touch more connections (a runtime stream taking a caller's data).
      for (size_t i = 0; i < touched_.size(); ++i) wrote |= FlushConnection(touched_[i]);
      for (Upstream* u : RuntimeUpstreams()) {
        if (!u->dead && !FlushEndpoint(&u->ep, &wrote)) FailUpstream(u, "cannot write to the runtime");
      }
      if (!wrote) break;
    }
    bool closed = false;
    for (Connection* c : touched_) {
      c->touched = false;
      if (!c->dead && nghttp2_session_want_read(c->down.session) == 0 &&
          nghttp2_session_want_write(c->down.session) == 0 && c->down.out.empty()) {
        c->dead = true;
      }
      if (c->dead) {
        Close(c);
        connections_.erase(c);
        closed = true;
        continue;
      }
      if (c->hooked != nullptr && (c->hooked->dead || c->hooked->goaway)) c->retired.push_back(std::move(c->hooked));
      c->retired.erase(std::remove_if(c->retired.begin(), c->retired.end(), &Idle), c->retired.end());
    }
    touched_.clear();
    if (closed) {  // Close cancelled their streams on the runtime connection: send that now.
      for (Upstream* u : RuntimeUpstreams()) {
        if (!u->dead && !FlushEndpoint(&u->ep)) FailUpstream(u, "cannot write to the runtime");
      }
    }
    if (runtime_ != nullptr && (runtime_->dead || runtime_->goaway)) retired_.push_back(std::move(runtime_));
    retired_.erase(std::remove_if(retired_.begin(), retired_.end(), &Idle), retired_.end());
  }

  static bool Ended(Upstream* u) {
    return nghttp2_session_want_read(u->ep.session) == 0 && nghttp2_session_want_write(u->ep.session) == 0;
  }

  static bool Idle(const std::unique_ptr<Upstream>& u) {
    return u->dead || (u->by_id.empty() && (u->goaway || nghttp2_session_want_read(u->ep.session) == 0));
  }

  // Ends a kubelet connection: its streams on the shared runtime connection are cancelled
  // (RST_STREAM); its hooked connection is closed with it, which cancels its calls there.
  void Close(Connection* c) {
    for (auto& [id, s] : c->streams) {
      if (s->up != nullptr && s->up->ep.conn == nullptr) {  // The shared runtime connection stays.
        nghttp2_submit_rst_stream(s->up->ep.session, NGHTTP2_FLAG_NONE, s->up_id, NGHTTP2_CANCEL);
        const size_t held = s->to_down.size() - s->to_down_off;
        if (held > 0) nghttp2_session_consume_connection(s->up->ep.session, held);
        s->up->by_id.erase(s->up_id);
      }
      Held(-static_cast<int64_t>(s->to_up.size() - s->to_up_off + s->to_down.size() - s->to_down_off));
      ForgetStream(s.get());
    }
    c->streams.clear();
  }

  // ---- Streams ----

  void Held(int64_t delta) { relay_->held_bytes_.fetch_add(delta, std::memory_order_relaxed); }

  void ForgetStream(Stream* s) {
    relay_->open_streams_.fetch_sub(1, std::memory_order_relaxed);
    if (s->counted && options_.on_active_change) options_.on_active_change(-1);
  }

  // Answers a stream with a gRPC status of the relay's own, trailers-only.
  void Respond(Connection* c, Stream* s, int code, absl::string_view message) {
    s->final_code = code;
    Headers h = StatusHeaders(code, message, /*with_status_line=*/true);
    std::vector<nghttp2_nv> nv = ToNv(h);
    nghttp2_submit_response(c->down.session, s->down_id, nv.data(), nv.size(), nullptr);
    s->response_submitted = true;
    s->to_down_eof = true;
  }

  // Ends a stream whose upstream side is gone with `code`: trailers-only when no response went out
  // yet, trailers after what was relayed otherwise.
  void FailStream(Connection* c, Stream* s, int code, absl::string_view message) {
    DropRequest(c, s);
    if (!s->response_submitted) {
      Respond(c, s, code, message);
    } else if (!s->to_down_eof) {
      s->trailers = StatusHeaders(code, message, /*with_status_line=*/false);
      s->final_code = code;
      s->to_down_eof = true;
      nghttp2_session_resume_data(c->down.session, s->down_id);
    }
  }

  // Lets go of the caller's data not yet forwarded (acknowledging it on the kubelet's side).
  void DropRequest(Connection* c, Stream* s) {
    const size_t left = s->to_up.size() - s->to_up_off;
    if (left > 0) nghttp2_session_consume(c->down.session, s->down_id, left);
    Held(-static_cast<int64_t>(left));
    s->to_up.clear();
    s->to_up_off = 0;
  }

  // Fails every open stream of `u` and marks it dead (it is closed at the next Settle).
  void FailUpstream(Upstream* u, const std::string& reason) {
    if (u->dead) return;
    u->dead = true;  // No backoff: the next stream connects again at once (a failed connect backs off).
    if (u->by_id.empty()) {
      SIGSHIM_LOG(kInfo, "frame relay: ", reason);
    } else {
      SIGSHIM_LOG(kWarning, "frame relay: ", reason, "; ", u->by_id.size(), " call(s) in flight answered UNAVAILABLE");
    }
    for (auto& [id, s] : u->by_id) {
      s->up = nullptr;
      Touch(s->conn);
      FailStream(s->conn, s, kUnavailable, reason);
    }
    u->by_id.clear();
  }

  void NoteRuntimeFailure() {
    backoff_ = backoff_ == absl::ZeroDuration() ? kFirstBackoff : std::min(backoff_ * 2, options_.max_reconnect_backoff);
    next_attempt_ = absl::Now() + backoff_;
  }

  Upstream* UpstreamFor(Connection* c, bool hooked, std::string* error) {
    std::unique_ptr<Upstream>& slot = hooked ? c->hooked : runtime_;
    if (slot != nullptr && !slot->dead && !slot->goaway) return slot.get();
    if (slot != nullptr) (hooked ? c->retired : retired_).push_back(std::move(slot));
    absl::StatusOr<int> fd;
    if (hooked) {
      fd = options_.connect_hooked ? options_.connect_hooked()
                                   : absl::InternalError("no hook server to relay hooked methods to");
    } else {
      const absl::Time now = absl::Now();
      if (now < next_attempt_) {
        *error = absl::StrCat("the runtime at ", options_.runtime_socket, " could not be reached; trying again in ",
                              absl::FormatDuration(next_attempt_ - now));
        return nullptr;
      }
      fd = ConnectUnix(options_.runtime_socket);
      if (!fd.ok()) NoteRuntimeFailure();
    }
    if (!fd.ok()) {
      *error = std::string(fd.status().message());
      return nullptr;
    }
    if (!hooked) backoff_ = absl::ZeroDuration();
    auto u = std::make_unique<Upstream>();
    u->hooked = hooked;
    u->ep.loop = this;
    u->ep.conn = hooked ? c : nullptr;
    u->ep.up = u.get();
    u->ep.fd = *fd;
    nghttp2_option* option;
    nghttp2_option_new(&option);
    nghttp2_option_set_no_auto_window_update(option, 1);
    const int rv = nghttp2_session_client_new2(&u->ep.session, client_callbacks_, &u->ep, option);
    nghttp2_option_del(option);
    if (rv != 0) {
      u->ep.session = nullptr;
      *error = absl::StrCat("cannot make an HTTP/2 session: ", nghttp2_strerror(rv));
      return nullptr;
    }
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(options_.stream_window_bytes)},
    };
    nghttp2_submit_settings(u->ep.session, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(u->ep.session, NGHTTP2_FLAG_NONE, 0, options_.connection_window_bytes);
    if (!Watch(&u->ep)) {
      *error = "cannot watch the upstream socket";
      return nullptr;
    }
    slot = std::move(u);
    return slot.get();
  }

  // Routes a stream whose request headers are complete.
  void Dispatch(Connection* c, Stream* s) {
    if (s->malformed || s->path.empty()) {
      nghttp2_submit_rst_stream(c->down.session, NGHTTP2_FLAG_NONE, s->down_id, NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    if (s->too_big) {
      Respond(c, s, kResourceExhausted,
              absl::StrCat("request headers exceed ", options_.max_header_list_bytes, " bytes; not forwarded"));
      return;
    }
    // The socket serves the CRI and nothing else: a path outside the closed set is never
    // forwarded, so no spelling the runtime would route to a hooked method gets past its hook.
    const cri::MethodInfo* known = cri::FindMethod(s->path);
    if (known == nullptr) {
      if (options_.on_refused_method) options_.on_refused_method(s->path);
      Respond(c, s, kUnimplemented, cri::kNotCriMessage);
      return;
    }
    const bool hooked = options_.hooked_methods.contains(s->path);
    s->hooked = hooked;
    std::string error;
    Upstream* u = UpstreamFor(c, hooked, &error);
    if (u == nullptr) {
      Respond(c, s, kUnavailable, error);
      return;
    }
    std::vector<nghttp2_nv> nv = ToNv(s->request_headers);
    nghttp2_data_provider provider{};
    provider.read_callback = &Loop::ReadToUpstream;
    const int32_t id = nghttp2_submit_request(u->ep.session, nullptr, nv.data(), nv.size(), &provider, nullptr);
    s->request_headers = Headers();
    if (id < 0) {
      Respond(c, s, kUnavailable, absl::StrCat("cannot open a stream upstream: ", nghttp2_strerror(id)));
      return;
    }
    s->up = u;
    s->up_id = id;
    s->endless = known->endless;
    u->by_id.emplace(id, s);
    if (!hooked) {
      s->counted = true;
      if (options_.on_active_change) options_.on_active_change(1);
    }
    if (draining_ && s->endless) nghttp2_submit_rst_stream(c->down.session, NGHTTP2_FLAG_NONE, s->down_id, NGHTTP2_CANCEL);
  }

  // ---- nghttp2 callbacks: the kubelet's side (server session) ----

  static Loop* LoopOf(void* user_data) { return static_cast<Endpoint*>(user_data)->loop; }
  static Connection* ConnOf(void* user_data) { return static_cast<Endpoint*>(user_data)->conn; }

  static int DownBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Connection* c = ConnOf(user_data);
    auto s = std::make_unique<Stream>();
    s->conn = c;
    s->down_id = frame->hd.stream_id;
    if (log::Enabled(log::Level::kDebug)) s->start = absl::Now();
    c->streams.emplace(s->down_id, std::move(s));
    c->loop->relay_->open_streams_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }

  static int DownHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                        const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // Trailers: dropped.
    Connection* c = ConnOf(user_data);
    Stream* s = c->Find(frame->hd.stream_id);
    if (s == nullptr || s->too_big) return 0;
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > c->loop->options_.max_header_list_bytes) {
      s->too_big = true;
      s->request_headers = Headers();
      return 0;
    }
    absl::string_view n(reinterpret_cast<const char*>(name), namelen);
    absl::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (!ValidRequestHeader(s, n, v)) {
      s->malformed = true;
      return 0;
    }
    if (n == ":path") s->path = std::string(v);
    s->request_headers.push_back({std::string(n), std::string(v)});
    return 0;
  }

  // Checks one request header field against HTTP/2's rules (RFC 9113 8.2, 8.3): a valid name and
  // value; the request pseudo-headers only, each once and before the regular fields; no
  // connection-specific field; "te" only as "trailers".
  static bool ValidRequestHeader(Stream* s, absl::string_view n, absl::string_view v) {
    const uint8_t* value = reinterpret_cast<const uint8_t*>(v.data());
    if (!nghttp2_check_header_value(value, v.size())) return false;
    if (!n.empty() && n[0] == ':') {
      if (!s->request_headers.empty() && s->request_headers.back().name[0] != ':') return false;
      if (n != ":method" && n != ":scheme" && n != ":path" && n != ":authority") return false;
      for (const Header& h : s->request_headers) {
        if (h.name == n) return false;
      }
      return !v.empty() || n == ":authority";
    }
    if (!nghttp2_check_header_name(reinterpret_cast<const uint8_t*>(n.data()), n.size())) return false;
    if (n == "connection" || n == "keep-alive" || n == "proxy-connection" || n == "transfer-encoding" ||
        n == "upgrade" || n == "host") {
      return n == "host";  // host is allowed (and forwarded) alongside :authority.
    }
    return n != "te" || v == "trailers";
  }

  static int DownFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    Connection* c = ConnOf(user_data);
    Stream* s = c->Find(frame->hd.stream_id);
    if (s == nullptr) return 0;
    const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (end) s->to_up_eof = true;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      c->loop->Dispatch(c, s);
    } else if (end && s->up != nullptr) {
      nghttp2_session_resume_data(s->up->ep.session, s->up_id);
    }
    return 0;
  }

  static int DownDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user_data) {
    Connection* c = ConnOf(user_data);
    Stream* s = c->Find(stream_id);
    if (s == nullptr || s->up == nullptr) {
      nghttp2_session_consume(session, stream_id, len);  // Nobody takes it.
      return 0;
    }
    if (s->to_up_off == s->to_up.size()) {
      s->to_up.clear();
      s->to_up_off = 0;
    }
    s->to_up.append(reinterpret_cast<const char*>(data), len);
    c->loop->Held(static_cast<int64_t>(len));
    nghttp2_session_resume_data(s->up->ep.session, s->up_id);
    return 0;
  }

  static int DownStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t, void* user_data) {
    Connection* c = ConnOf(user_data);
    auto it = c->streams.find(stream_id);
    if (it == c->streams.end()) return 0;
    Stream* s = it->second.get();
    if (s->up != nullptr) {
      // The caller cancelled or left before the runtime finished: cancel it there too.
      nghttp2_submit_rst_stream(s->up->ep.session, NGHTTP2_FLAG_NONE, s->up_id, NGHTTP2_CANCEL);
      const size_t held = s->to_down.size() - s->to_down_off;
      if (held > 0) nghttp2_session_consume_connection(s->up->ep.session, held);
      s->up->by_id.erase(s->up_id);
    }
    const size_t left = s->to_up.size() - s->to_up_off;
    if (left > 0) nghttp2_session_consume_connection(session, left);
    c->loop->Held(-static_cast<int64_t>(left + s->to_down.size() - s->to_down_off));
    if (!s->hooked && log::Enabled(log::Level::kDebug)) {  // The ProxyService logs the hooked ones.
      // A stream closed before any status went out was cancelled (or reset): gRPC's CANCELLED.
      const int code = s->final_code >= 0 ? s->final_code : 1;
      SIGSHIM_LOG(kDebug, "call ", cri::FindMethod(s->path) != nullptr ? s->path : log::QuoteName(s->path, 256),
                  " code=", code, " latency_us=", absl::ToInt64Microseconds(absl::Now() - s->start));
    }
    c->loop->ForgetStream(s);
    c->streams.erase(it);
    return 0;
  }

  // Logs why the relay ends a CRI connection when it is for a protocol error of the peer.
  static int DownFrameSent(nghttp2_session*, const nghttp2_frame* frame, void*) {
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
      SIGSHIM_LOG(kWarning, "frame relay: closing a CRI connection (GOAWAY ", nghttp2_http2_strerror(frame->goaway.error_code),
                  "): ", log::QuoteName(absl::string_view(reinterpret_cast<const char*>(frame->goaway.opaque_data),
                                                          frame->goaway.opaque_data_len)));
    }
    return 0;
  }

  // Gives the kubelet's side the runtime's response body, then its trailers.
  static ssize_t ReadToDownstream(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                                  uint32_t* flags, nghttp2_data_source*, void* user_data) {
    Connection* c = ConnOf(user_data);
    Stream* s = c->Find(stream_id);
    if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const size_t avail = s->to_down.size() - s->to_down_off;
    const size_t n = std::min(length, avail);
    if (n == 0 && !s->to_down_eof) return NGHTTP2_ERR_DEFERRED;
    memcpy(buf, s->to_down.data() + s->to_down_off, n);
    s->to_down_off += n;
    c->loop->Held(-static_cast<int64_t>(n));
    if (n > 0 && s->up != nullptr) nghttp2_session_consume(s->up->ep.session, s->up_id, n);
    if (s->to_down_off == s->to_down.size()) {
      s->to_down.clear();
      s->to_down_off = 0;
      if (s->to_down_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!s->trailers.empty()) {
          std::vector<nghttp2_nv> nv = ToNv(s->trailers);
          if (nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size()) == 0) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          }
        }
      }
    }
    return static_cast<ssize_t>(n);
  }

  // ---- nghttp2 callbacks: the upstream side (client sessions) ----

  static Stream* UpStream(void* user_data, int32_t id) {
    Upstream* u = static_cast<Endpoint*>(user_data)->up;
    auto it = u->by_id.find(id);
    return it == u->by_id.end() ? nullptr : it->second;
  }

  static int UpHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Stream* s = UpStream(user_data, frame->hd.stream_id);
    if (s == nullptr) return 0;
    Headers& into = frame->headers.cat == NGHTTP2_HCAT_HEADERS ? s->trailers : s->response_headers;
    if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
      s->final_code = 0;
      for (size_t i = 0; i < valuelen && i < 3 && value[i] >= '0' && value[i] <= '9'; ++i) {
        s->final_code = s->final_code * 10 + (value[i] - '0');
      }
    }
    into.push_back({std::string(reinterpret_cast<const char*>(name), namelen),
                    std::string(reinterpret_cast<const char*>(value), valuelen)});
    return 0;
  }

  static int UpFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Endpoint* ep = static_cast<Endpoint*>(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      ep->up->goaway = true;  // Streams above its last id are closed (REFUSED_STREAM) by nghttp2.
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    Stream* s = UpStream(user_data, frame->hd.stream_id);
    if (s == nullptr) return 0;
    Connection* c = s->conn;
    ep->loop->Touch(c);
    const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
      std::vector<nghttp2_nv> nv = ToNv(s->response_headers);
      nghttp2_data_provider provider{};
      provider.read_callback = &Loop::ReadToDownstream;
      // END_STREAM on the response headers: a trailers-only answer, passed on as one.
      nghttp2_submit_response(c->down.session, s->down_id, nv.data(), nv.size(), end ? nullptr : &provider);
      s->response_submitted = true;
      s->response_headers = Headers();
      if (end) s->to_down_eof = true;
      return 0;
    }
    if (end) {
      s->to_down_eof = true;
      nghttp2_session_resume_data(c->down.session, s->down_id);
    }
    return 0;
  }

  static int UpDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                         void* user_data) {
    Stream* s = UpStream(user_data, stream_id);
    if (s == nullptr) {
      nghttp2_session_consume(session, stream_id, len);
      return 0;
    }
    if (s->to_down_off == s->to_down.size()) {
      s->to_down.clear();
      s->to_down_off = 0;
    }
    s->to_down.append(reinterpret_cast<const char*>(data), len);
    LoopOf(user_data)->Held(static_cast<int64_t>(len));
    LoopOf(user_data)->Touch(s->conn);
    nghttp2_session_resume_data(s->conn->down.session, s->down_id);
    return 0;
  }

  static int UpStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t error_code, void* user_data) {
    Endpoint* ep = static_cast<Endpoint*>(user_data);
    Stream* s = UpStream(user_data, stream_id);
    if (s == nullptr) return 0;
    Connection* c = s->conn;
    ep->loop->Touch(c);
    ep->up->by_id.erase(stream_id);
    // What the caller has not taken yet is acknowledged now: the upstream stream is over.
    const size_t held = s->to_down.size() - s->to_down_off;
    if (held > 0) nghttp2_session_consume_connection(session, held);
    s->up = nullptr;
    if (s->to_down_eof) return 0;  // Complete; the rest drains to the caller.
    if (error_code == NGHTTP2_REFUSED_STREAM) {
      c->loop->FailStream(c, s, kUnavailable, "the runtime refused the call (it is shutting down or restarting)");
    } else if (error_code == NGHTTP2_NO_ERROR) {
      c->loop->FailStream(c, s, kInternal, "the runtime ended the call without a status");
    } else {
      // The runtime reset the stream: so is the caller's.
      c->loop->DropRequest(c, s);
      nghttp2_submit_rst_stream(c->down.session, NGHTTP2_FLAG_NONE, s->down_id, error_code);
    }
    return 0;
  }

  static int UpFrameNotSent(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Endpoint* ep = static_cast<Endpoint*>(user_data);
    Stream* s = UpStream(user_data, frame->hd.stream_id);
    if (s == nullptr) return 0;
    ep->up->by_id.erase(frame->hd.stream_id);
    s->up = nullptr;
    ep->loop->Touch(s->conn);
    ep->loop->FailStream(s->conn, s, kUnavailable,
                               absl::StrCat("cannot open a stream upstream: ", nghttp2_strerror(lib_error)));
    return 0;
  }

  // Gives the upstream side the caller's request body.
  static ssize_t ReadToUpstream(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                                nghttp2_data_source*, void* user_data) {
    Stream* s = UpStream(user_data, stream_id);
    if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    Connection* c = s->conn;
    c->loop->Touch(c);  // The kubelet's side has a WINDOW_UPDATE to send.
    const size_t avail = s->to_up.size() - s->to_up_off;
    const size_t n = std::min(length, avail);
    if (n == 0 && !s->to_up_eof) return NGHTTP2_ERR_DEFERRED;
    memcpy(buf, s->to_up.data() + s->to_up_off, n);
    s->to_up_off += n;
    c->loop->Held(-static_cast<int64_t>(n));
    if (n > 0) nghttp2_session_consume(c->down.session, s->down_id, n);
    if (s->to_up_off == s->to_up.size()) {
      s->to_up.clear();
      s->to_up_off = 0;
      if (s->to_up_eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return static_cast<ssize_t>(n);
  }

  void MakeCallbacks() {
    nghttp2_session_callbacks_new(&server_callbacks_);
    nghttp2_session_callbacks_set_on_begin_headers_callback(server_callbacks_, &Loop::DownBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(server_callbacks_, &Loop::DownHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(server_callbacks_, &Loop::DownFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(server_callbacks_, &Loop::DownDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(server_callbacks_, &Loop::DownStreamClose);
    nghttp2_session_callbacks_set_on_frame_send_callback(server_callbacks_, &Loop::DownFrameSent);
    nghttp2_session_callbacks_new(&client_callbacks_);
    nghttp2_session_callbacks_set_on_header_callback(client_callbacks_, &Loop::UpHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(client_callbacks_, &Loop::UpFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(client_callbacks_, &Loop::UpDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(client_callbacks_, &Loop::UpStreamClose);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(client_callbacks_, &Loop::UpFrameNotSent);
  }

 public:
  void DeleteCallbacks() {
    if (server_callbacks_ != nullptr) nghttp2_session_callbacks_del(server_callbacks_);
    if (client_callbacks_ != nullptr) nghttp2_session_callbacks_del(client_callbacks_);
    server_callbacks_ = client_callbacks_ = nullptr;
  }

 private:
  FrameRelay* const relay_;
  const FrameRelayOptions& options_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  nghttp2_session_callbacks* server_callbacks_ = nullptr;
  nghttp2_session_callbacks* client_callbacks_ = nullptr;

  absl::Mutex mu_;
  std::vector<int> incoming_ ABSL_GUARDED_BY(mu_);
  bool shutdown_requested_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time shutdown_deadline_ ABSL_GUARDED_BY(mu_);

  // The loop thread's own.
  absl::flat_hash_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> touched_;  // Connections to flush and settle this round (Touch).
  // The runtime connection shared by this loop's streams, and earlier ones finishing their streams
  // after a GOAWAY (or failed, until the next settle).
  std::unique_ptr<Upstream> runtime_;
  std::vector<std::unique_ptr<Upstream>> retired_;
  bool draining_ = false;
  absl::Time drain_deadline_;
  absl::Duration backoff_ = absl::ZeroDuration();  // After a failed runtime connection.
  absl::Time next_attempt_ = absl::InfinitePast();
  char read_buffer_[kReadChunk];
};

FrameRelay::FrameRelay(const FrameRelayOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<FrameRelay>> FrameRelay::Create(const FrameRelayOptions& options) {
  if (options.runtime_socket.empty()) return absl::InvalidArgumentError("frame relay: no runtime socket");
  if (!options.hooked_methods.empty() && !options.connect_hooked) {
    return absl::InvalidArgumentError("frame relay: hooked methods without a hook server to relay them to");
  }
  std::unique_ptr<FrameRelay> relay(new FrameRelay(options));
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    relay->loops_.push_back(std::make_unique<Loop>(relay.get()));
    absl::Status started = relay->loops_.back()->Start();
    if (!started.ok()) {
      relay->loops_.pop_back();
      relay->Shutdown(absl::InfinitePast());
      return started;
    }
  }
  return relay;
}

FrameRelay::~FrameRelay() {
  Shutdown(absl::InfinitePast());
  for (auto& loop : loops_) loop->DeleteCallbacks();
}

void FrameRelay::Adopt(int fd) {
  const unsigned i = next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size();
  loops_[i]->Adopt(fd);
}

void FrameRelay::Shutdown(absl::Time deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& loop : loops_) loop->RequestShutdown(deadline);
  for (auto& loop : loops_) loop->Join();
}

}  // namespace sigshim::shim
