#include "shim/status_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sigshim {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kTextContentType[] = "text/plain; charset=utf-8";

// Splits an absl::Duration into the (seconds, microseconds) pair httplib takes.
std::pair<time_t, time_t> SecUsec(absl::Duration d) {
  int64_t usec = absl::ToInt64Microseconds(d);
  if (usec < 0) usec = 0;
  return {static_cast<time_t>(usec / 1000000), static_cast<time_t>(usec % 1000000)};
}

}  // namespace

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
  if (options.threads < 1) return absl::InvalidArgumentError("status server: threads must be at least 1");

  auto http = std::make_unique<httplib::Server>();
  const int threads = options.threads;
  http->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  auto [read_sec, read_usec] = SecUsec(options.io_timeout);
  http->set_read_timeout(read_sec, read_usec);
  http->set_write_timeout(read_sec, read_usec);
  http->set_keep_alive_timeout(std::max<time_t>(1, SecUsec(options.keep_alive_timeout).first));
  http->set_payload_max_length(0);  // no endpoint takes a body
  // httplib's default also sets SO_REUSEPORT, which would let a second process share the port
  // silently; SO_REUSEADDR alone allows a quick restart and makes a port in use an error.
  http->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  std::unique_ptr<StatusServer> server(new StatusServer(std::move(options), std::move(http)));
  const StatusServerOptions& opts = server->options_;

  server->http_->set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("method not allowed\n", kTextContentType);
      return httplib::Server::HandlerResponse::Handled;
    }
    // httplib does not read a GET body: refuse one rather than leave it on the connection.
    if (req.has_header("Transfer-Encoding") ||
        (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0")) {
      res.status = 413;
      res.set_content("no request body accepted\n", kTextContentType);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server->http_->Get("/metrics", [&opts](const httplib::Request&, httplib::Response& res) {
    res.set_content(opts.metrics ? opts.metrics() : std::string(), kMetricsContentType);
  });
  server->http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", kTextContentType);
  });
  server->http_->Get("/readyz", [&opts](const httplib::Request&, httplib::Response& res) {
    absl::Status ready = opts.ready ? opts.ready() : absl::OkStatus();
    if (ready.ok()) {
      res.set_content("ok\n", kTextContentType);
      return;
    }
    res.status = 503;
    res.set_content(absl::StrCat(ready.message().empty() ? absl::StatusCodeToString(ready.code()) : std::string(ready.message()), "\n"),
                    kTextContentType);
  });
  server->http_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) res.set_content("not found\n", kTextContentType);
  });

  errno = 0;
  int bound = port == 0 ? server->http_->bind_to_any_port(host)
                        : (server->http_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    int err = errno;
    {
      absl::MutexLock lock(&server->stop_mu_);
      server->stopped_ = true;  // nothing to stop: the destructor must not wait for a listener
    }
    return absl::UnavailableError(absl::StrCat("cannot listen on ", opts.listen, " for /metrics, /healthz, /readyz",
                                               err != 0 ? absl::StrCat(": ", std::strerror(err)) : ""));
  }
  server->port_ = bound;

  // listen_after_bind() marks the server running as it starts; Stop() before that would be lost,
  // so Create returns only once it runs (or has already ended).
  auto ended = std::make_shared<std::atomic<bool>>(false);
  httplib::Server* raw = server->http_.get();
  server->thread_ = std::thread([raw, ended] {
    raw->listen_after_bind();
    ended->store(true);
  });
  while (!raw->is_running() && !ended->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

StatusServer::StatusServer(StatusServerOptions options, std::unique_ptr<httplib::Server> http)
    : options_(std::move(options)), http_(std::move(http)) {}

StatusServer::~StatusServer() { Stop(); }

void StatusServer::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace sigshim
