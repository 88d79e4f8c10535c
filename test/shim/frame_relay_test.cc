// The frame relay against hostile or unusual HTTP/2 input, with a real gRPC runtime behind it
// (the echo runtime): a client that breaks the protocol, sends headers without :path or too many
// of them, never reads, or resets its streams in every state, must neither crash the relay nor
// reach the runtime with anything the relay should have stopped, and every other call still works.
// The well-behaved paths are covered through the whole server in proxy_test.
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/generic/generic_stub.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shim/frame_relay.h"
#include "test/shim/echo_runtime.h"

namespace sigshim::shim {
namespace {

using ::sigshim::testing::EchoRuntime;

constexpr char kVersion[] = "/runtime.v1.RuntimeService/Version";
constexpr char kEvents[] = "/runtime.v1.RuntimeService/GetContainerEvents";

// Frames `message` as one gRPC message (uncompressed).
std::string GrpcMessage(const std::string& message) {
  std::string out(5, '\0');
  const uint32_t n = static_cast<uint32_t>(message.size());
  out[1] = static_cast<char>(n >> 24);
  out[2] = static_cast<char>(n >> 16);
  out[3] = static_cast<char>(n >> 8);
  out[4] = static_cast<char>(n);
  return out + message;
}

// A bare HTTP/2 client (nghttp2) on one end of a socket pair whose other end the relay serves:
// it sends exactly what a test asks for, and reads only when a test pumps it.
class RawClient {
 public:
  struct StreamState {
    std::multimap<std::string, std::string> headers;  // Response headers and trailers.
    std::string data;
    std::string body;  // The request body still to send.
    bool end_request = true;  // END_STREAM after the body.
    bool closed = false;
    uint32_t error_code = 0;
  };

  // Returns the fd for the relay to adopt.
  int Start(bool send_preface = true) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    fd_ = fds[0];
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &RawClient::OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &RawClient::OnData);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &RawClient::OnClose);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &RawClient::OnFrame);
    nghttp2_option* option;
    nghttp2_option_new(&option);
    nghttp2_option_set_max_send_header_block_length(option, 1 << 20);
    nghttp2_session_client_new2(&session_, cb, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(cb);
    if (send_preface) nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
    return fds[1];
  }
  ~RawClient() {
    if (session_ != nullptr) nghttp2_session_del(session_);
    if (fd_ >= 0) ::close(fd_);
  }

  // Opens a stream: a gRPC POST to `path` (no :path at all when null) with `extra` headers, and
  // `body` as its data.
  int32_t Request(const char* path, const std::string& body, bool end_request = true,
                  std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> h = {{":method", "POST"}, {":scheme", "http"}};
    if (path != nullptr) h.emplace_back(":path", path);
    h.emplace_back(":authority", "localhost");
    h.emplace_back("content-type", "application/grpc");
    h.emplace_back("te", "trailers");
    for (auto& e : extra) h.push_back(std::move(e));
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : h) {
      nv.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider provider{};
    provider.read_callback = &RawClient::ReadBody;
    const int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), &provider, nullptr);
    EXPECT_GT(id, 0);
    streams_[id].body = body;
    streams_[id].end_request = end_request;
    Flush();
    return id;
  }

  // Sends the rest of a request opened with end_request = false.
  void EndRequest(int32_t id) {
    streams_[id].end_request = true;
    nghttp2_session_resume_data(session_, id);
    Flush();
  }

  void Reset(int32_t id) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    Flush();
  }

  // Writes raw bytes, bypassing the session.
  void WriteRaw(const std::string& bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }

  void Flush() {
    const uint8_t* data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0) pending_.append(reinterpret_cast<const char*>(data), n);
    while (!pending_.empty()) {
      const ssize_t w = ::send(fd_, pending_.data(), pending_.size(), MSG_NOSIGNAL);  // The relay may have closed.
      if (w <= 0) return;  // Full (the test pumps again) or closed.
      pending_.erase(0, w);
    }
  }

  // Reads and handles frames until `done()` or the relay closes the connection; a guard of 10 s
  // keeps a broken relay from hanging the test (it is not a timing threshold). Returns done().
  bool PumpUntil(const std::function<bool()>& done) {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (!done() && !eof_ && absl::Now() < give_up) {
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, 50);
      char buf[16384];
      ssize_t n;
      while ((n = ::read(fd_, buf, sizeof(buf))) > 0) {
        if (nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(buf), n) < 0) eof_ = true;
      }
      if (n == 0) eof_ = true;
      Flush();
    }
    return done();
  }

  bool Closed(int32_t id) { return streams_[id].closed; }
  // Returns whether stream `id`'s whole request body has been written to the socket.
  bool RequestSent(int32_t id) { return streams_[id].body.empty() && pending_.empty(); }
  StreamState& stream(int32_t id) { return streams_[id]; }
  bool eof() const { return eof_; }
  bool goaway() const { return goaway_; }
  std::string Header(int32_t id, const std::string& name) {
    auto it = streams_[id].headers.find(name);
    return it == streams_[id].headers.end() ? "" : it->second;
  }

 private:
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
    static_cast<RawClient*>(user_data)->streams_[frame->hd.stream_id].headers.emplace(
        std::string(reinterpret_cast<const char*>(name), namelen),
        std::string(reinterpret_cast<const char*>(value), valuelen));
    return 0;
  }
  static int OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user_data) {
    static_cast<RawClient*>(user_data)->streams_[id].data.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int OnClose(nghttp2_session*, int32_t id, uint32_t error_code, void* user_data) {
    auto& s = static_cast<RawClient*>(user_data)->streams_[id];
    s.closed = true;
    s.error_code = error_code;
    return 0;
  }
  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type == NGHTTP2_GOAWAY) static_cast<RawClient*>(user_data)->goaway_ = true;
    return 0;
  }
  static ssize_t ReadBody(nghttp2_session*, int32_t id, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source*, void* user_data) {
    auto& s = static_cast<RawClient*>(user_data)->streams_[id];
    const size_t n = std::min(length, s.body.size());
    memcpy(buf, s.body.data(), n);
    s.body.erase(0, n);
    if (s.body.empty()) {
      if (!s.end_request) return n > 0 ? static_cast<ssize_t>(n) : NGHTTP2_ERR_DEFERRED;
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return static_cast<ssize_t>(n);
  }

  int fd_ = -1;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, StreamState> streams_;
  std::string pending_;
  bool eof_ = false;
  bool goaway_ = false;
};

class FrameRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sigshim-relay-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    runtime_ = std::make_unique<EchoRuntime>(dir_ + "/runtime.sock", /*stream_count=*/3);
    FrameRelayOptions options;
    options.runtime_socket = dir_ + "/runtime.sock";
    options.on_refused_method = [this](absl::string_view) { refused_.fetch_add(1); };
    auto relay = FrameRelay::Create(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
  }
  void TearDown() override {
    relay_.reset();
    runtime_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  // Makes a unary gRPC call over a connection of its own (a real gRPC client) and returns the
  // status; checks the echo.
  grpc::Status GrpcCall(const std::string& request) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    relay_->Adopt(fds[1]);
    auto channel = grpc::CreateInsecureChannelFromFd("relay", fds[0]);
    grpc::GenericStub stub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Slice slice(request);
    grpc::ByteBuffer req(&slice, 1), resp;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, kVersion, grpc::StubOptions(), &req, &resp,
                   [&](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status status = done.get_future().get();
    std::vector<grpc::Slice> slices;
    (void)resp.Dump(&slices);
    std::string echoed;
    for (const auto& s : slices) echoed.append(reinterpret_cast<const char*>(s.begin()), s.size());
    if (status.ok()) EXPECT_EQ(echoed, request);
    return status;
  }

  // Waits (polling, with a generous guard) until the relay has no stream open.
  void ExpectNoOpenStreams() {
    for (int i = 0; i < 500 && relay_->open_streams() != 0; ++i) absl::SleepFor(absl::Milliseconds(10));
    EXPECT_EQ(relay_->open_streams(), 0);
    EXPECT_EQ(relay_->held_bytes(), 0);
  }

  std::string dir_;
  std::unique_ptr<EchoRuntime> runtime_;
  std::unique_ptr<FrameRelay> relay_;
  std::atomic<int> refused_{0};
};

TEST_F(FrameRelayTest, RelaysAGrpcCallFromABareHttp2Client) {
  RawClient client;
  relay_->Adopt(client.Start());
  const int32_t id = client.Request(kVersion, GrpcMessage("hello"), true, {{"x-trace", "abc"}});
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(id); }));
  EXPECT_EQ(client.stream(id).error_code, 0u);
  EXPECT_EQ(client.Header(id, ":status"), "200");
  EXPECT_EQ(client.Header(id, "grpc-status"), "0");
  EXPECT_EQ(client.Header(id, "x-runtime-initial"), "hello");
  EXPECT_EQ(client.Header(id, "x-runtime-trailing"), "bye");
  EXPECT_EQ(client.stream(id).data, GrpcMessage("hello"));
  EXPECT_THAT(runtime_->WaitForCall(kVersion).metadata, ::testing::Contains(::testing::Pair("x-trace", "abc")));
  ExpectNoOpenStreams();
}

TEST_F(FrameRelayTest, BadPrefaceClosesThatConnectionOnly) {
  RawClient client;
  relay_->Adopt(client.Start(/*send_preface=*/false));
  client.WriteRaw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(client.PumpUntil([&] { return client.eof(); }));
  EXPECT_EQ(runtime_->calls(), 0);
  EXPECT_TRUE(GrpcCall("still-served").ok());
}

TEST_F(FrameRelayTest, GarbageAfterThePrefaceClosesThatConnectionOnly) {
  RawClient client;
  relay_->Adopt(client.Start());
  client.Flush();
  client.WriteRaw(std::string("\x00\x00\x04\x09\x00\x00\x00\x00\x07" "junk", 13));  // CONTINUATION out of place
  EXPECT_TRUE(client.PumpUntil([&] { return client.eof(); }));
  EXPECT_TRUE(client.goaway());
  EXPECT_EQ(runtime_->calls(), 0);
  EXPECT_TRUE(GrpcCall("still-served").ok());
  ExpectNoOpenStreams();
}

TEST_F(FrameRelayTest, HeadersWithoutPathAreResetAndNeverForwarded) {
  RawClient client;
  relay_->Adopt(client.Start());
  const int32_t bad = client.Request(nullptr, GrpcMessage("x"));
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(bad); }));
  EXPECT_EQ(client.stream(bad).error_code, static_cast<uint32_t>(NGHTTP2_PROTOCOL_ERROR));
  // Two :path fields, and a connection-specific field: reset the same way.
  const int32_t twice = client.Request(kVersion, GrpcMessage("x"), true, {{":path", kVersion}});
  const int32_t connection = client.Request(kVersion, GrpcMessage("x"), true, {{"connection", "close"}});
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(twice) && client.Closed(connection); }));
  EXPECT_EQ(client.stream(twice).error_code, static_cast<uint32_t>(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_EQ(client.stream(connection).error_code, static_cast<uint32_t>(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_EQ(runtime_->calls(), 0);
  // The connection itself still serves.
  const int32_t good = client.Request(kVersion, GrpcMessage("after"));
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(good); }));
  EXPECT_EQ(client.Header(good, "grpc-status"), "0");
  EXPECT_EQ(client.stream(good).data, GrpcMessage("after"));
  ExpectNoOpenStreams();
}

TEST_F(FrameRelayTest, PathsOutsideTheCriGetUnimplementedAndAreNeverForwarded) {
  RawClient client;
  relay_->Adopt(client.Start());
  const int32_t id = client.Request("runtime.v1.RuntimeService/Version", GrpcMessage("x"));
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(id); }));
  EXPECT_EQ(client.Header(id, "grpc-status"), "12");
  EXPECT_THAT(client.Header(id, "grpc-message"), ::testing::HasSubstr("sigshim serves only the CRI"));
  EXPECT_EQ(refused_.load(), 1);
  EXPECT_EQ(runtime_->calls(), 0);
  ExpectNoOpenStreams();
}

TEST_F(FrameRelayTest, HugeHeadersGetResourceExhaustedAndAreNeverForwarded) {
  RawClient client;
  relay_->Adopt(client.Start());
  std::vector<std::pair<std::string, std::string>> big;
  for (int i = 0; i < 10; ++i) big.emplace_back(absl::StrCat("x-big-", i), std::string(10 << 10, 'a'));
  const int32_t id = client.Request(kVersion, GrpcMessage("x"), true, big);
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(id); }));
  EXPECT_EQ(client.Header(id, "grpc-status"), "8");
  EXPECT_THAT(client.Header(id, "grpc-message"), ::testing::HasSubstr("request headers exceed"));
  EXPECT_EQ(runtime_->calls(), 0);
  const int32_t good = client.Request(kVersion, GrpcMessage("after"));
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(good); }));
  EXPECT_EQ(client.Header(good, "grpc-status"), "0");
  ExpectNoOpenStreams();
}

// A client that asks for a 3 MiB answer and never reads: flow control stops the runtime, the
// relay holds no more than a stream's window (1 MiB) of it, and other clients are served.
TEST_F(FrameRelayTest, AClientThatNeverReadsHoldsAtMostOneWindow) {
  RawClient client;
  relay_->Adopt(client.Start());
  const std::string payload(3 << 20, 'p');
  const int32_t id = client.Request(kVersion, GrpcMessage(payload), /*end_request=*/false);
  // Sending 3 MiB needs the relay to take it (and acknowledge it) as the runtime reads.
  client.EndRequest(id);
  ASSERT_TRUE(client.PumpUntil([&] { return client.RequestSent(id); }));
  EXPECT_TRUE(runtime_->WaitForCall(kVersion).request == payload);
  // Now the client stops reading: nothing is pumped from here on.
  int64_t most = 0;
  for (int i = 0; i < 50; ++i) {
    most = std::max(most, relay_->held_bytes());
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GT(most, 0) << "the runtime's answer never reached the relay";
  EXPECT_LE(most, (1 << 20) + (64 << 10));
  EXPECT_TRUE(GrpcCall("others-served").ok());
  // Reading again gets the whole answer, byte for byte.
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(id); }));
  EXPECT_EQ(client.Header(id, "grpc-status"), "0");
  EXPECT_TRUE(client.stream(id).data == GrpcMessage(payload)) << client.stream(id).data.size() << " bytes";
  ExpectNoOpenStreams();
}

// RST_STREAM from the client in every state of a stream: right after its headers, with the
// request sent and the runtime working, in the middle of a server stream, after the stream is
// over, and on a stream never opened. The runtime sees the cancellation of each call it got, the
// connection survives, and nothing is left open.
TEST_F(FrameRelayTest, ResetInEveryStateCancelsUpstreamAndKeepsTheConnection) {
  RawClient client;
  relay_->Adopt(client.Start());

  const int32_t headers_only = client.Request(kVersion, "", /*end_request=*/false);
  ASSERT_TRUE(client.PumpUntil([&] { return relay_->open_streams() == 1; }));
  client.Reset(headers_only);
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(headers_only); }));

  const int32_t working = client.Request("/runtime.v1.RuntimeService/Status", GrpcMessage("slow"));
  runtime_->WaitForCall("/runtime.v1.RuntimeService/Status");
  client.Reset(working);
  EXPECT_TRUE(runtime_->WaitForCancel("/runtime.v1.RuntimeService/Status"));

  const int32_t events = client.Request(kEvents, GrpcMessage("e"));
  ASSERT_TRUE(client.PumpUntil([&] { return client.stream(events).data.size() >= 3 * GrpcMessage("e").size(); }));
  client.Reset(events);
  EXPECT_TRUE(runtime_->WaitForCancel(kEvents));

  const int32_t finished = client.Request(kVersion, GrpcMessage("done"));
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(finished); }));
  client.Reset(finished);
  // RST_STREAM on a stream never opened, as gRPC's C core sends for a call cancelled between
  // taking a stream id and writing its headers (nghttp2's own client would not send it).
  client.Flush();
  client.WriteRaw(std::string("\x00\x00\x04\x03\x00\x00\x00\x03\xe9\x00\x00\x00\x08", 13));

  const int32_t good = client.Request(kVersion, GrpcMessage("after"));
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(good); }));
  EXPECT_FALSE(client.eof());
  EXPECT_EQ(client.Header(good, "grpc-status"), "0");
  EXPECT_EQ(client.stream(good).data, GrpcMessage("after"));
  ExpectNoOpenStreams();
}

// A kubelet connection that closes with a call in flight: the runtime connection is shared with
// other callers and stays, so the call is cancelled on it with RST_STREAM.
TEST_F(FrameRelayTest, ClosingTheConnectionCancelsItsCallsUpstream) {
  auto client = std::make_unique<RawClient>();
  relay_->Adopt(client->Start());
  client->Request("/runtime.v1.RuntimeService/Status", GrpcMessage("slow"));
  runtime_->WaitForCall("/runtime.v1.RuntimeService/Status");
  EXPECT_TRUE(GrpcCall("meanwhile").ok());  // Another caller on the same runtime connection.
  client.reset();  // Closes the socket.
  EXPECT_TRUE(runtime_->WaitForCancel("/runtime.v1.RuntimeService/Status"));
  ExpectNoOpenStreams();
  EXPECT_TRUE(GrpcCall("after").ok());
}

// The runtime's own RST_STREAM reaches the caller, and a runtime that goes away answers
// UNAVAILABLE: trailers-only before any response, and the next stream reconnects.
TEST_F(FrameRelayTest, RuntimeLossGivesUnavailableAndTheNextStreamReconnects) {
  RawClient client;
  relay_->Adopt(client.Start());
  const int32_t working = client.Request("/runtime.v1.RuntimeService/Status", GrpcMessage("slow"));
  runtime_->WaitForCall("/runtime.v1.RuntimeService/Status");
  runtime_.reset();  // Stops the runtime with the call in flight.
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(working); }));
  const std::string status = client.Header(working, "grpc-status");
  // gRPC's server either cancels the call (RST_STREAM, relayed) or drops the connection (UNAVAILABLE).
  EXPECT_TRUE(status == "14" || client.stream(working).error_code != 0) << status;

  const int32_t down = client.Request(kVersion, GrpcMessage("x"));
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(down); }));
  EXPECT_EQ(client.Header(down, "grpc-status"), "14");
  EXPECT_THAT(client.Header(down, "grpc-message"), ::testing::HasSubstr("runtime"));

  runtime_ = std::make_unique<EchoRuntime>(dir_ + "/runtime.sock");
  std::string last;
  for (int i = 0; i < 50 && last != "0"; ++i) {  // Within the backoff; poll, do not time.
    const int32_t again = client.Request(kVersion, GrpcMessage("back"));
    ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(again); }));
    last = client.Header(again, "grpc-status");
    if (last != "0") absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(last, "0");
  ExpectNoOpenStreams();
}

TEST_F(FrameRelayTest, ShutdownSendsGoawayAndCancelsEndlessStreamsAtOnce) {
  RawClient client;
  relay_->Adopt(client.Start());
  const int32_t events = client.Request(kEvents, GrpcMessage("e"));
  runtime_->WaitForCall(kEvents);
  auto shutdown = std::async(std::launch::async, [&] { relay_->Shutdown(absl::Now() + absl::Hours(1)); });
  ASSERT_TRUE(client.PumpUntil([&] { return client.Closed(events); }));
  EXPECT_TRUE(client.goaway());
  EXPECT_EQ(client.stream(events).error_code, static_cast<uint32_t>(NGHTTP2_CANCEL));
  EXPECT_TRUE(runtime_->WaitForCancel(kEvents));
  shutdown.get();  // Returns without waiting for the hour: nothing else was open.
  EXPECT_EQ(relay_->open_streams(), 0);
}

}  // namespace
}  // namespace sigshim::shim
