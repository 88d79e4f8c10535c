// GrpcImageStore against an in-process fake of containerd's images service: what goes on the
// wire (namespace metadata, deadline, fields, update mask) and how answers and errors come back.
#include "pkg/containerd/image_store_grpc.h"

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/containerd/images.grpc.pb.h"

namespace sigshim::containerd {
namespace {

namespace api = ::containerd::services::images::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Returns from a fake service method with `expr`'s gRPC status when it is not OK.
#define RETURN_IF_NOT_OK_(expr)        \
  do {                                 \
    grpc::Status status_ = (expr);     \
    if (!status_.ok()) return status_; \
  } while (0)

constexpr char kDigest[] = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// Answers from a map of records like containerd would, and remembers what each call carried.
class FakeImages final : public api::Images::Service {
 public:
  grpc::Status Get(grpc::ServerContext* context, const api::GetImageRequest* request,
                   api::GetImageResponse* response) override {
    RETURN_IF_NOT_OK_(Record(context));
    absl::MutexLock lock(&mu_);
    auto it = records_.find(request->name());
    if (it == records_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "image " + request->name() + ": not found");
    *response->mutable_image() = it->second;
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* context, const api::ListImagesRequest* request,
                    api::ListImagesResponse* response) override {
    RETURN_IF_NOT_OK_(Record(context));
    absl::MutexLock lock(&mu_);
    last_filters_.assign(request->filters().begin(), request->filters().end());
    for (const auto& [name, image] : records_) *response->add_images() = image;
    return grpc::Status::OK;
  }

  grpc::Status Create(grpc::ServerContext* context, const api::CreateImageRequest* request,
                      api::CreateImageResponse* response) override {
    RETURN_IF_NOT_OK_(Record(context));
    absl::MutexLock lock(&mu_);
    const std::string& name = request->image().name();
    if (records_.count(name) != 0) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "image \"" + name + "\": already exists");
    }
    api::Image stored = request->image();
    stored.mutable_created_at()->set_seconds(1700000000);
    stored.mutable_updated_at()->set_seconds(1700000000);
    records_[name] = stored;
    *response->mutable_image() = stored;
    return grpc::Status::OK;
  }

  grpc::Status Update(grpc::ServerContext* context, const api::UpdateImageRequest* request,
                      api::UpdateImageResponse* response) override {
    RETURN_IF_NOT_OK_(Record(context));
    absl::MutexLock lock(&mu_);
    last_mask_.assign(request->update_mask().paths().begin(), request->update_mask().paths().end());
    auto it = records_.find(request->image().name());
    if (it == records_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "image not found");
    *it->second.mutable_target() = request->image().target();
    *it->second.mutable_labels() = request->image().labels();
    it->second.mutable_updated_at()->set_seconds(1700000001);
    *response->mutable_image() = it->second;
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* context, const api::DeleteImageRequest* request,
                      google::protobuf::Empty* response) override {
    RETURN_IF_NOT_OK_(Record(context));
    absl::MutexLock lock(&mu_);
    last_sync_ = request->sync();
    if (records_.erase(request->name()) == 0) return grpc::Status(grpc::StatusCode::NOT_FOUND, "image not found");
    return grpc::Status::OK;
  }

  // Makes every call wait until its client gives up.
  void HangUntilCancelled() {
    absl::MutexLock lock(&mu_);
    hang_ = true;
  }

  std::string last_namespace() {
    absl::MutexLock lock(&mu_);
    return last_namespace_;
  }
  bool last_had_deadline() {
    absl::MutexLock lock(&mu_);
    return last_had_deadline_;
  }
  std::vector<std::string> last_mask() {
    absl::MutexLock lock(&mu_);
    return last_mask_;
  }
  std::vector<std::string> last_filters() {
    absl::MutexLock lock(&mu_);
    return last_filters_;
  }
  bool last_sync() {
    absl::MutexLock lock(&mu_);
    return last_sync_;
  }

 private:
  // Notes the call's namespace and deadline; with HangUntilCancelled, waits for the cancellation.
  grpc::Status Record(grpc::ServerContext* context) {
    bool hang;
    {
      absl::MutexLock lock(&mu_);
      auto it = context->client_metadata().find("containerd-namespace");
      last_namespace_ = it == context->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
      last_had_deadline_ = context->deadline() != std::chrono::system_clock::time_point::max();
      hang = hang_;
    }
    if (!hang) return grpc::Status::OK;
    while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }

  absl::Mutex mu_;
  std::map<std::string, api::Image> records_ ABSL_GUARDED_BY(mu_);
  bool hang_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_namespace_ ABSL_GUARDED_BY(mu_);
  bool last_had_deadline_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> last_mask_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> last_filters_ ABSL_GUARDED_BY(mu_);
  bool last_sync_ ABSL_GUARDED_BY(mu_) = false;
};

class GrpcImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<ImageStore> NewStore(const GrpcImageStoreOptions& options = {}) {
    auto store = GrpcImageStore::Create(channel_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static Image TagRecord(const std::string& name) {
    Image image;
    image.name = name;
    image.target.media_type = "application/vnd.oci.image.manifest.v1+json";
    image.target.digest = kDigest;
    image.target.size = 528;
    image.target.annotations["org.opencontainers.image.ref.name"] = "1";
    image.labels[std::string(kCriManagedLabel)] = std::string(kCriManagedValue);
    return image;
  }

  FakeImages fake_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcImageStoreTest, FactoryRefusesMissingChannelEmptyNamespaceAndNonPositiveTimeout) {
  EXPECT_EQ(GrpcImageStore::Create(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GrpcImageStore::Create(channel_, {.namespace_name = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GrpcImageStore::Create(channel_, {.timeout = absl::ZeroDuration()}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(GrpcImageStoreTest, CreateThenGetRoundTripsEveryField) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  auto created = store->Create(TagRecord("registry.test/app:1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->created_at, absl::FromUnixSeconds(1700000000));

  auto got = store->Get("registry.test/app:1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "registry.test/app:1");
  EXPECT_EQ(got->target, TagRecord("x").target);
  EXPECT_THAT(got->labels, ElementsAre(Pair("io.cri-containerd.image", "managed")));
  EXPECT_EQ(got->updated_at, absl::FromUnixSeconds(1700000000));
}

TEST_F(GrpcImageStoreTest, EveryCallCarriesTheNamespaceAndADeadline) {
  auto store = NewStore({.namespace_name = "sigshim-test"});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Create(TagRecord("a:1")).ok());
  EXPECT_EQ(fake_.last_namespace(), "sigshim-test");
  EXPECT_TRUE(fake_.last_had_deadline());
  ASSERT_TRUE(store->List({}).ok());
  EXPECT_EQ(fake_.last_namespace(), "sigshim-test");
  EXPECT_TRUE(fake_.last_had_deadline());

  auto defaults = NewStore();
  ASSERT_NE(defaults, nullptr);
  EXPECT_EQ(defaults->Get("a:1").status().code(), absl::StatusCode::kOk);
  EXPECT_EQ(fake_.last_namespace(), "k8s.io");
}

TEST_F(GrpcImageStoreTest, ErrorsKeepContainerdsCodeAndNameTheImage) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  absl::Status missing = store->Get("registry.test/absent:1").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("Get \"registry.test/absent:1\""));

  ASSERT_TRUE(store->Create(TagRecord("registry.test/app:1")).ok());
  absl::Status taken = store->Create(TagRecord("registry.test/app:1")).status();
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(taken.message(), HasSubstr("registry.test/app:1"));

  absl::Status update_missing = store->Update(TagRecord("registry.test/other:1")).status();
  EXPECT_EQ(update_missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(update_missing.message(), HasSubstr("Update \"registry.test/other:1\""));
}

TEST_F(GrpcImageStoreTest, UpdateNamesTargetAndLabelsInTheMask) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Create(TagRecord("registry.test/app:1")).ok());
  Image moved = TagRecord("registry.test/app:1");
  moved.target.digest = "sha256:" + std::string(64, 'f');
  auto updated = store->Update(moved);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->target.digest, moved.target.digest);
  EXPECT_THAT(fake_.last_mask(), ElementsAre("target", "labels"));
}

TEST_F(GrpcImageStoreTest, CreateOrUpdateMovesAnExistingName) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  auto first = CreateOrUpdate(*store, TagRecord("registry.test/app:1"));
  ASSERT_TRUE(first.ok()) << first.status();
  Image moved = TagRecord("registry.test/app:1");
  moved.target.digest = "sha256:" + std::string(64, 'e');
  auto second = CreateOrUpdate(*store, moved);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(store->Get("registry.test/app:1")->target.digest, moved.target.digest);
}

TEST_F(GrpcImageStoreTest, ListPassesFiltersAndDeletePassesSync) {
  auto store = NewStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Create(TagRecord("a:1")).ok());
  ASSERT_TRUE(store->Create(TagRecord("b:1")).ok());
  std::vector<std::string> filters = {"name==\"a:1\"", "labels.\"k\"==\"v\""};
  auto listed = store->List(filters);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 2u);  // the fake ignores filters; containerd applies them
  EXPECT_EQ(fake_.last_filters(), filters);

  EXPECT_TRUE(store->Delete("a:1", /*sync=*/true).ok());
  EXPECT_TRUE(fake_.last_sync());
  EXPECT_EQ(store->Delete("a:1").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fake_.last_sync());
}

TEST_F(GrpcImageStoreTest, UnansweredCallEndsWithDeadlineExceeded) {
  auto store = NewStore({.timeout = absl::Milliseconds(50)});
  ASSERT_NE(store, nullptr);
  fake_.HangUntilCancelled();
  absl::Status status = store->Get("registry.test/app:1").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_THAT(status.message(), HasSubstr("registry.test/app:1"));
}

}  // namespace
}  // namespace sigshim::containerd
