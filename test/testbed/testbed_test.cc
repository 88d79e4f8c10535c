// Checks the test bed itself against the real registry and containerd (needs root).
#include "test/testbed/testbed.h"

#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/cri/api.grpc.pb.h"

namespace sigshim::testbed {
namespace {

using ::testing::HasSubstr;

class TestBedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // every test skips
    auto bed = TestBed::Create({.name = "sigshim-tbt"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
  }
  static void TearDownTestSuite() {
    delete bed_;
    bed_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr) FAIL() << "the test bed did not start";
  }
  static TestBed* bed_;
};
TestBed* TestBedTest::bed_ = nullptr;

TEST_F(TestBedTest, PushedImageDigestMatchesLayout) {
  auto image = bed_->BuildImage("push", {"/bin/echo", "hi"}, "push-test");
  ASSERT_TRUE(image.ok()) << image.status();
  auto digest = PushImage(*image, *bed_->registry(), "testbed/busybox", "v1");
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, image->manifest_digest);
  std::string media_type;
  auto manifest = bed_->registry()->GetManifest("testbed/busybox", *digest, &media_type);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(Sha256Digest(*manifest), *digest);
  EXPECT_EQ(media_type, "application/vnd.oci.image.manifest.v1+json");
}

TEST_F(TestBedTest, PushesBlobsAndManifestsOverHttp) {
  Registry& registry = *bed_->registry();
  auto config = registry.PushBlob("testbed/raw", "{}");
  ASSERT_TRUE(config.ok()) << config.status();
  auto layer = registry.PushBlob("testbed/raw", "payload bytes");
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ(*layer, Sha256Digest("payload bytes"));
  // Pushing the same blob again is a no-op.
  ASSERT_TRUE(registry.PushBlob("testbed/raw", "payload bytes").ok());
  std::string manifest = absl::StrCat(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")", *config,
      R"(","size":2},"layers":[{"mediaType":"application/octet-stream","digest":")", *layer,
      R"(","size":13,"annotations":{"k":"v"}}]})");
  auto digest = registry.PushManifest("testbed/raw", "sha256-abc.sig",
                                      "application/vnd.oci.image.manifest.v1+json", manifest);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, Sha256Digest(manifest));
  auto fetched = registry.GetManifest("testbed/raw", "sha256-abc.sig");
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(*fetched, manifest);
  ASSERT_TRUE(registry.DeleteManifest("testbed/raw", *digest).ok());
  EXPECT_EQ(registry.GetManifest("testbed/raw", *digest).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TestBedTest, RegistryRestartsOnSamePortWithSameStorage) {
  Registry& registry = *bed_->registry();
  auto blob = registry.PushBlob("testbed/restart", "kept across restarts");
  ASSERT_TRUE(blob.ok()) << blob.status();
  std::string before = registry.host_port();
  ASSERT_TRUE(registry.Stop().ok());
  EXPECT_EQ(registry.PushBlob("testbed/restart", "x").status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(registry.Start().ok());
  EXPECT_EQ(registry.host_port(), before);
  auto again = registry.PushBlob("testbed/restart", "kept across restarts");
  ASSERT_TRUE(again.ok()) << again.status();
}

TEST_F(TestBedTest, SandboxImageIsVisibleToCri) {
  auto channel = grpc::CreateChannel("unix:" + bed_->containerd()->socket_path(),
                                     grpc::InsecureChannelCredentials());
  auto images = runtime::v1::ImageService::NewStub(channel);
  grpc::ClientContext context;
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image(bed_->containerd()->sandbox_image());
  runtime::v1::ImageStatusResponse response;
  grpc::Status status = images->ImageStatus(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(response.has_image());
  EXPECT_THAT(response.image().repo_tags(), ::testing::Contains(bed_->containerd()->sandbox_image()));
}

// Returns containerd's CRI view of `name`.
runtime::v1::ImageStatusResponse CriImageStatus(const Containerd& containerd, const std::string& name) {
  auto channel = grpc::CreateChannel("unix:" + containerd.socket_path(), grpc::InsecureChannelCredentials());
  auto images = runtime::v1::ImageService::NewStub(channel);
  grpc::ClientContext context;
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image(name);
  runtime::v1::ImageStatusResponse response;
  grpc::Status status = images->ImageStatus(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

TEST_F(TestBedTest, ImportedImageIsVisibleToCriWithoutRepoDigest) {
  auto image = bed_->BuildImage("handmade", {"/bin/sh"}, "imported by hand");
  ASSERT_TRUE(image.ok()) << image.status();
  const std::string name = "localhost/testbed/handmade:1";
  auto digest = ImportImage(*image, *bed_->containerd(), name, bed_->dir().Path("scratch"));
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, image->manifest_digest);
  runtime::v1::ImageStatusResponse response = CriImageStatus(*bed_->containerd(), name);
  EXPECT_THAT(response.image().repo_tags(), ::testing::Contains(name));
  // containerd 1.6 keeps no manifest digest for an image imported by tag alone.
  EXPECT_THAT(response.image().repo_digests(), ::testing::IsEmpty());
}

TEST_F(TestBedTest, ImportedImageWithDigestRefHasRepoDigest) {
  auto image = bed_->BuildImage("handmade2", {"/bin/sh"}, "imported by hand, with digest");
  ASSERT_TRUE(image.ok()) << image.status();
  const std::string name = "localhost/testbed/handmade2:1";
  auto digest = ImportImage(*image, *bed_->containerd(), name, bed_->dir().Path("scratch"),
                            /*with_digest_ref=*/true);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, image->manifest_digest);
  runtime::v1::ImageStatusResponse response = CriImageStatus(*bed_->containerd(), name);
  EXPECT_THAT(response.image().repo_tags(), ::testing::Contains(name));
  EXPECT_THAT(response.image().repo_digests(), ::testing::Contains("localhost/testbed/handmade2@" + *digest));
}

TEST_F(TestBedTest, RegistryWithBasicAuthServesOnlyItsUsers) {
  RegistryOptions options;
  options.dir = bed_->dir().Path("registry-auth");
  options.users = {{"alice", "alice-password"}};
  auto registry = Registry::Create(options);
  ASSERT_TRUE(registry.ok()) << registry.status();
  EXPECT_EQ((*registry)->credentials(), "alice:alice-password");
  auto image = bed_->BuildImage("auth", {"/bin/sh"}, "behind basic auth");
  ASSERT_TRUE(image.ok()) << image.status();
  auto digest = PushImage(*image, **registry, "private/busybox", "1");
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, image->manifest_digest);

  // containerd pulls with the credentials a kubelet would pass, and not without them.
  auto channel = grpc::CreateChannel("unix:" + bed_->containerd()->socket_path(),
                                     grpc::InsecureChannelCredentials());
  auto images = runtime::v1::ImageService::NewStub(channel);
  runtime::v1::PullImageRequest pull;
  pull.mutable_image()->set_image(absl::StrCat((*registry)->host_port(), "/private/busybox:1"));
  runtime::v1::PullImageResponse pulled;
  {
    grpc::ClientContext context;
    grpc::Status status = images->PullImage(&context, pull, &pulled);
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(status.error_message(), HasSubstr("401 Unauthorized"));
  }
  pull.mutable_auth()->set_username("alice");
  pull.mutable_auth()->set_password("alice-password");
  {
    grpc::ClientContext context;
    grpc::Status status = images->PullImage(&context, pull, &pulled);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
}

TEST_F(TestBedTest, ContainerdRestartsWithSameState) {
  Containerd& containerd = *bed_->containerd();
  ASSERT_TRUE(containerd.Kill().ok());
  EXPECT_FALSE(UnixSocketAccepts(containerd.socket_path()));
  ASSERT_TRUE(containerd.Start().ok());
  auto listing = containerd.Ctr({"images", "ls", "-q"});
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_THAT(*listing, HasSubstr(containerd.sandbox_image()));
}

}  // namespace
}  // namespace sigshim::testbed
