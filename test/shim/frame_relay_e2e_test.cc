// The frame relay against a real containerd (a Go gRPC server: message and status in separate
// frames), under concurrency: pass-through calls from many threads on many connections at once
// get the runtime's own answers.
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pkg/cri/api.grpc.pb.h"
#include "shim/hooks.h"
#include "shim/server.h"
#include "test/testbed/testbed.h"

namespace sigshim::shim {
namespace {

TEST(FrameRelayE2e, ConcurrentCallsThroughTheRelayMatchDirectAnswers) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root (starts containerd)";
  testbed::TestBedOptions tb_options;
  tb_options.registry = false;
  tb_options.name = "sigshim-relay";
  auto tb = testbed::TestBed::Create(tb_options);
  ASSERT_TRUE(tb.ok()) << tb.status();

  PassThroughHooks hooks;
  ServerOptions options;
  options.listen = (*tb)->dir().Path("relay.sock");
  options.runtime_endpoint = (*tb)->containerd()->socket_path();
  auto server = Server::Create(options, &hooks.table());
  ASSERT_TRUE(server.ok()) << server.status();

  auto direct = runtime::v1::ImageService::NewStub(
      grpc::CreateChannel("unix:" + options.runtime_endpoint, grpc::InsecureChannelCredentials()));
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image((*tb)->containerd()->sandbox_image());
  runtime::v1::ImageStatusResponse expected;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(direct->ImageStatus(&ctx, request, &expected).ok());
  }

  constexpr int kThreads = 32;
  constexpr int kCalls = 100;
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto channel = grpc::CreateChannel("unix:" + options.listen, grpc::InsecureChannelCredentials());
      auto images = runtime::v1::ImageService::NewStub(channel);
      auto runtime = runtime::v1::RuntimeService::NewStub(channel);
      for (int i = 0; i < kCalls; ++i) {
        grpc::ClientContext ctx;
        grpc::Status status;
        std::string mismatch;
        if (i % 2 == 0) {
          runtime::v1::ImageStatusResponse got;
          status = images->ImageStatus(&ctx, request, &got);
          if (status.ok() && got.SerializeAsString() != expected.SerializeAsString()) mismatch = "ImageStatus differs";
        } else {
          runtime::v1::VersionResponse got;
          status = runtime->Version(&ctx, runtime::v1::VersionRequest(), &got);
          if (status.ok() && got.runtime_name() != "containerd") mismatch = "Version differs";
        }
        if (!status.ok() || !mismatch.empty()) {
          if (failures.fetch_add(1) == 0) {
            std::lock_guard<std::mutex> lock(failure_mu);
            first_failure = status.ok() ? mismatch : absl::StrCat(status.error_code(), ": ", status.error_message());
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0) << "first failure: " << first_failure;
  (*server)->Shutdown(absl::Seconds(5));
  EXPECT_EQ((*server)->proxy().active_calls(), 0);
}

}  // namespace
}  // namespace sigshim::shim
