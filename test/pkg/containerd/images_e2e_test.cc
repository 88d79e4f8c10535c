// What the real containerd 1.6 of the test bed does with image records written through its own
// images service, next to its CRI plugin: the facts sigshim's enforcement is built on (see
// pkg/containerd/README.md). Each test states one finding in its name. Needs root.
//
// One test bed (registry, containerd) serves the whole suite. Each test uses its own repository,
// so that the tests do not depend on each other's order.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/containerd/image_store.h"
#include "pkg/containerd/image_store_grpc.h"
#include "pkg/cri/api.grpc.pb.h"
#include "test/testbed/poll.h"
#include "test/testbed/testbed.h"

namespace sigshim::containerd {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
namespace cri = ::runtime::v1;

constexpr absl::Duration kPollInterval = absl::Milliseconds(10);
constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";

// Polls `done` until it returns true or `timeout` passes (see testbed::Eventually).
template <typename F>
bool Eventually(F done, absl::Duration timeout = absl::Seconds(30)) {
  return testbed::Eventually(done, timeout, kPollInterval);
}

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

std::unique_ptr<grpc::ClientContext> CriContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  return context;
}

std::vector<std::string> Names(const std::vector<Image>& images) {
  std::vector<std::string> names;
  for (const Image& image : images) names.push_back(image.name);
  return names;
}

// An image pushed to the test registry under 127.0.0.1:PORT/<repository>:<tag>.
struct PushedImage {
  std::string tag_ref;     // "127.0.0.1:PORT/repo:tag"
  std::string digest_ref;  // "127.0.0.1:PORT/repo@sha256:…"
  std::string digest;      // the manifest digest
  int64_t manifest_size = 0;
};

class ImagesE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // every test fails in SetUp
    auto bed = testbed::TestBed::Create({.name = "sigshim-ctd"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    channel_ = new std::shared_ptr<grpc::Channel>(grpc::CreateChannel(
        absl::StrCat("unix://", bed_->containerd()->socket_path()), grpc::InsecureChannelCredentials()));
    auto store = GrpcImageStore::Create(*channel_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = store->release();
    runtime_ = cri::RuntimeService::NewStub(*channel_).release();
    images_ = cri::ImageService::NewStub(*channel_).release();
  }

  static void TearDownTestSuite() {
    delete images_;
    delete runtime_;
    delete store_;
    delete channel_;
    delete bed_;  // stops containerd and the registry, removes the folder
    images_ = nullptr;
    runtime_ = nullptr;
    store_ = nullptr;
    channel_ = nullptr;
    bed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd)";
    ASSERT_NE(store_, nullptr) << "the test bed did not start";
  }

  // Builds an image distinct from every other (marker `marker`), pushes it as `repository`:`tag`.
  static void Push(const std::string& repository, const std::string& tag, const std::string& marker,
                   PushedImage* pushed) {
    auto image = bed_->BuildImage(marker, {"/bin/true"}, marker);
    ASSERT_TRUE(image.ok()) << image.status();
    auto digest = testbed::PushImage(*image, *bed_->registry(), repository, tag);
    ASSERT_TRUE(digest.ok()) << digest.status();
    auto manifest = bed_->registry()->GetManifest(repository, *digest);
    ASSERT_TRUE(manifest.ok()) << manifest.status();
    const std::string host = bed_->registry()->host_port();
    pushed->tag_ref = absl::StrCat(host, "/", repository, ":", tag);
    pushed->digest_ref = absl::StrCat(host, "/", repository, "@", *digest);
    pushed->digest = *digest;
    pushed->manifest_size = static_cast<int64_t>(manifest->size());
  }

  // Pulls `ref` through CRI; returns the image id CRI answers (image_ref).
  static void CriPull(const std::string& ref, std::string* image_id) {
    cri::PullImageRequest request;
    request.mutable_image()->set_image(ref);
    cri::PullImageResponse response;
    grpc::Status status = images_->PullImage(CriContext().get(), request, &response);
    ASSERT_TRUE(status.ok()) << "PullImage " << ref << ": " << Describe(status);
    *image_id = response.image_ref();
  }

  // Returns CRI ImageStatus's image for `ref`; an Image with an empty id when CRI knows no such
  // image. A failed call is a test failure.
  static cri::Image CriImage(const std::string& ref) {
    cri::ImageStatusRequest request;
    request.mutable_image()->set_image(ref);
    cri::ImageStatusResponse response;
    grpc::Status status = images_->ImageStatus(CriContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << "ImageStatus " << ref << ": " << Describe(status);
    return response.image();
  }

  static void CriRemove(const std::string& ref) {
    cri::RemoveImageRequest request;
    request.mutable_image()->set_image(ref);
    cri::RemoveImageResponse response;
    grpc::Status status = images_->RemoveImage(CriContext().get(), request, &response);
    ASSERT_TRUE(status.ok()) << "RemoveImage " << ref << ": " << Describe(status);
  }

  // Polls CRI ImageStatus until `ref` resolves to `image_id`; prints how long that took, for the
  // record (never asserted).
  static bool CriResolvesEventually(const std::string& ref, const std::string& image_id) {
    absl::Time start = absl::Now();
    int polls = 0;
    bool resolved = Eventually([&] {
      ++polls;
      return CriImage(ref).id() == image_id;
    });
    std::cout << "[ observed ] CRI ImageStatus(" << ref << ") -> " << image_id << " after "
              << absl::FormatDuration(absl::Now() - start) << " and " << polls << " call(s)\n";
    return resolved;
  }

  // Runs a pod whose container uses `image` and runs /bin/true (the image's Cmd); returns in
  // `exit_code` the container's exit code. Removes the pod.
  static void RunContainer(const std::string& pod_name, const std::string& image, int* exit_code) {
    cri::PodSandboxConfig sandbox;
    sandbox.mutable_metadata()->set_name(pod_name);
    sandbox.mutable_metadata()->set_uid(absl::StrCat(pod_name, "-uid"));
    sandbox.mutable_metadata()->set_namespace_("ctd");
    sandbox.set_log_directory(bed_->dir().Path(absl::StrCat("pods/", pod_name)));
    sandbox.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(cri::NODE);
    ASSERT_TRUE(MakeDirs(sandbox.log_directory()).ok());
    cri::RunPodSandboxRequest run;
    *run.mutable_config() = sandbox;
    cri::RunPodSandboxResponse ran;
    grpc::Status status = runtime_->RunPodSandbox(CriContext().get(), run, &ran);
    ASSERT_TRUE(status.ok()) << "RunPodSandbox: " << Describe(status);
    const std::string sandbox_id = ran.pod_sandbox_id();

    cri::CreateContainerRequest create;
    create.set_pod_sandbox_id(sandbox_id);
    create.mutable_config()->mutable_metadata()->set_name("main");
    create.mutable_config()->mutable_image()->set_image(image);
    create.mutable_config()->set_log_path("main_0.log");
    *create.mutable_sandbox_config() = sandbox;
    cri::CreateContainerResponse created;
    status = runtime_->CreateContainer(CriContext().get(), create, &created);
    EXPECT_TRUE(status.ok()) << "CreateContainer with " << image << ": " << Describe(status);
    if (status.ok()) {
      cri::StartContainerRequest start;
      start.set_container_id(created.container_id());
      cri::StartContainerResponse started;
      status = runtime_->StartContainer(CriContext().get(), start, &started);
      EXPECT_TRUE(status.ok()) << "StartContainer: " << Describe(status);
      cri::ContainerStatusRequest query;
      query.set_container_id(created.container_id());
      EXPECT_TRUE(Eventually([&] {
        cri::ContainerStatusResponse response;
        if (!runtime_->ContainerStatus(CriContext().get(), query, &response).ok()) return false;
        if (response.status().state() != cri::CONTAINER_EXITED) return false;
        *exit_code = response.status().exit_code();
        return true;
      })) << "container never exited";
    }

    cri::StopPodSandboxRequest stop;
    stop.set_pod_sandbox_id(sandbox_id);
    cri::StopPodSandboxResponse stopped;
    EXPECT_TRUE(runtime_->StopPodSandbox(CriContext().get(), stop, &stopped).ok());
    cri::RemovePodSandboxRequest remove;
    remove.set_pod_sandbox_id(sandbox_id);
    cri::RemovePodSandboxResponse removed;
    EXPECT_TRUE(runtime_->RemovePodSandbox(CriContext().get(), remove, &removed).ok());
  }

  // Returns the names of the records whose target is `digest`.
  static std::vector<std::string> RecordsTargeting(const std::string& digest) {
    auto records = store_->List({absl::StrCat("target.digest==\"", digest, "\"")});
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? Names(*records) : std::vector<std::string>{};
  }

  static Image Managed(const std::string& name, const Descriptor& target) {
    Image image;
    image.name = name;
    image.target = target;
    image.labels[std::string(kCriManagedLabel)] = std::string(kCriManagedValue);
    return image;
  }

  static testbed::TestBed* bed_;
  static std::shared_ptr<grpc::Channel>* channel_;
  static ImageStore* store_;
  static cri::RuntimeService::Stub* runtime_;
  static cri::ImageService::Stub* images_;
};

testbed::TestBed* ImagesE2eTest::bed_ = nullptr;
std::shared_ptr<grpc::Channel>* ImagesE2eTest::channel_ = nullptr;
ImageStore* ImagesE2eTest::store_ = nullptr;
cri::RuntimeService::Stub* ImagesE2eTest::runtime_ = nullptr;
cri::ImageService::Stub* ImagesE2eTest::images_ = nullptr;

// The record CRI makes for a pull by tag: the tag, repository@digest and the image id (config
// digest) all point to the manifest, all labelled io.cri-containerd.image=managed. This is where
// the label kCriManagedLabel comes from, and it shows that our proto decodes containerd's records
// (target, labels, timestamps).
TEST_F(ImagesE2eTest, CriPullByTagCreatesTagDigestAndIdRecordsLabelledManaged) {
  PushedImage pushed;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/pulled", "1", "pulled", &pushed));
  std::string id;
  ASSERT_NO_FATAL_FAILURE(CriPull(pushed.tag_ref, &id));
  EXPECT_EQ(CriImage(pushed.tag_ref).id(), id);

  auto records = store_->List({absl::StrCat("target.digest==\"", pushed.digest, "\"")});
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_THAT(Names(*records), UnorderedElementsAre(pushed.tag_ref, pushed.digest_ref, id));
  for (const Image& record : *records) {
    SCOPED_TRACE(record.name);
    EXPECT_THAT(record.labels, ElementsAre(Pair(std::string(kCriManagedLabel), std::string(kCriManagedValue))));
    EXPECT_EQ(record.target.digest, pushed.digest);
    EXPECT_EQ(record.target.media_type, kOciManifest);
    EXPECT_EQ(record.target.size, pushed.manifest_size);
    EXPECT_GT(record.created_at, absl::Now() - absl::Hours(1));
    EXPECT_GE(record.updated_at, record.created_at);
  }

  auto tag = store_->Get(pushed.tag_ref);
  ASSERT_TRUE(tag.ok()) << tag.status();
  EXPECT_EQ(tag->target.digest, pushed.digest);
}

// A pull pinned to the digest creates the repository@digest and id records only: CRI knows the
// image by digest and id, but not by the tag (repo_tags is empty).
TEST_F(ImagesE2eTest, CriPullByDigestCreatesNoTagRecord) {
  PushedImage pushed;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/pinned", "1", "pinned", &pushed));
  std::string id;
  ASSERT_NO_FATAL_FAILURE(CriPull(pushed.digest_ref, &id));

  EXPECT_THAT(RecordsTargeting(pushed.digest), UnorderedElementsAre(pushed.digest_ref, id));
  EXPECT_EQ(store_->Get(pushed.tag_ref).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(CriImage(pushed.tag_ref).id(), "");
  cri::Image by_digest = CriImage(pushed.digest_ref);
  EXPECT_EQ(by_digest.id(), id);
  EXPECT_THAT(by_digest.repo_tags(), IsEmpty());
  EXPECT_THAT(by_digest.repo_digests(), ElementsAre(pushed.digest_ref));
}

// Finding (a): after a pull by digest, creating the tag record through the images API (target =
// the pulled manifest descriptor) makes CRI ImageStatus find the image by the tag, with the tag in
// repo_tags and repository@digest in repo_digests, and CreateContainer with the tag works. CRI
// learns of the record from containerd's image events, so it may take a moment: poll.
TEST_F(ImagesE2eTest, TagCreatedThroughImagesApiAfterPullByDigestResolvesInCri) {
  PushedImage pushed;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/tagged", "1", "tagged", &pushed));
  std::string id;
  ASSERT_NO_FATAL_FAILURE(CriPull(pushed.digest_ref, &id));
  auto pinned = store_->Get(pushed.digest_ref);
  ASSERT_TRUE(pinned.ok()) << pinned.status();

  auto created = store_->Create(Managed(pushed.tag_ref, pinned->target));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->name, pushed.tag_ref);
  EXPECT_EQ(created->target, pinned->target);

  ASSERT_TRUE(CriResolvesEventually(pushed.tag_ref, id));
  cri::Image by_tag = CriImage(pushed.tag_ref);
  EXPECT_THAT(by_tag.repo_tags(), ElementsAre(pushed.tag_ref));
  EXPECT_THAT(by_tag.repo_digests(), ElementsAre(pushed.digest_ref));

  int exit_code = -1;
  ASSERT_NO_FATAL_FAILURE(RunContainer("tagged", pushed.tag_ref, &exit_code));
  EXPECT_EQ(exit_code, 0);
  // kubelet passes the image id (PullImage's image_ref) to CreateContainer: that works as well.
  exit_code = -1;
  ASSERT_NO_FATAL_FAILURE(RunContainer("tagged-by-id", id, &exit_code));
  EXPECT_EQ(exit_code, 0);
}

// The io.cri-containerd.image label is not what makes CRI see a record: a tag created without it
// resolves the same way, and the CRI plugin adds the label (and an id record, when missing) before
// it answers for the tag.
TEST_F(ImagesE2eTest, TagCreatedWithoutManagedLabelAlsoResolvesInCri) {
  PushedImage pushed;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/unlabelled", "1", "unlabelled", &pushed));
  std::string id;
  ASSERT_NO_FATAL_FAILURE(CriPull(pushed.digest_ref, &id));
  auto pinned = store_->Get(pushed.digest_ref);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  Image tag;
  tag.name = pushed.tag_ref;
  tag.target = pinned->target;
  ASSERT_TRUE(store_->Create(tag).ok());

  ASSERT_TRUE(CriResolvesEventually(pushed.tag_ref, id));
  EXPECT_THAT(CriImage(pushed.tag_ref).repo_tags(), ElementsAre(pushed.tag_ref));
  // Before the CRI plugin adds a record to its cache, it labels the record managed itself.
  auto labelled = store_->Get(pushed.tag_ref);
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_THAT(labelled->labels, ElementsAre(Pair(std::string(kCriManagedLabel), std::string(kCriManagedValue))));
}

// A tag that exists already (pointing to another digest) cannot be created again: Create answers
// AlreadyExists and leaves it alone. Update (and CreateOrUpdate) moves it, and CRI follows: the
// tag resolves to the new image and leaves the old image's repo_tags.
TEST_F(ImagesE2eTest, UpdateMovesExistingTagToVerifiedDigestAndCriFollows) {
  PushedImage old_image, new_image;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/moved", "old", "moved-old", &old_image));
  ASSERT_NO_FATAL_FAILURE(Push("ctd/moved", "new", "moved-new", &new_image));
  const std::string tag = absl::StrCat(bed_->registry()->host_port(), "/ctd/moved:1");
  std::string old_id, new_id;
  ASSERT_NO_FATAL_FAILURE(CriPull(old_image.digest_ref, &old_id));
  ASSERT_NO_FATAL_FAILURE(CriPull(new_image.digest_ref, &new_id));
  auto old_target = store_->Get(old_image.digest_ref);
  auto new_target = store_->Get(new_image.digest_ref);
  ASSERT_TRUE(old_target.ok() && new_target.ok());

  ASSERT_TRUE(store_->Create(Managed(tag, old_target->target)).ok());
  ASSERT_TRUE(CriResolvesEventually(tag, old_id));

  auto again = store_->Create(Managed(tag, new_target->target));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_THAT(again.status().message(), ::testing::HasSubstr(tag));
  auto unchanged = store_->Get(tag);
  ASSERT_TRUE(unchanged.ok()) << unchanged.status();
  EXPECT_EQ(unchanged->target.digest, old_image.digest);

  auto updated = CreateOrUpdate(*store_, Managed(tag, new_target->target));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->target.digest, new_image.digest);
  EXPECT_THAT(updated->labels, Contains(Pair(std::string(kCriManagedLabel), std::string(kCriManagedValue))));
  ASSERT_TRUE(CriResolvesEventually(tag, new_id));
  EXPECT_TRUE(Eventually([&] { return CriImage(old_id).repo_tags_size() == 0; }))
      << CriImage(old_id).DebugString();
  EXPECT_THAT(CriImage(new_id).repo_tags(), ElementsAre(tag));

  // Update of a name that has no record is NotFound.
  auto missing = store_->Update(Managed(tag + "-absent", new_target->target));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

// CRI looks images up by the normalised reference (docker.io/library/… for a short name), so a
// tag record must carry the normalised name: "docker.io/library/ctd-short:1" is found by
// ImageStatus("ctd-short:1"); a record named "ctd-raw:1" is found by neither form of the name, yet
// it shows up, normalised, in the image's repo_tags (which also shows that CRI has handled it).
TEST_F(ImagesE2eTest, TagRecordMustCarryTheNormalisedName) {
  PushedImage pushed;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/short", "1", "short", &pushed));
  std::string id;
  ASSERT_NO_FATAL_FAILURE(CriPull(pushed.digest_ref, &id));
  auto pinned = store_->Get(pushed.digest_ref);
  ASSERT_TRUE(pinned.ok()) << pinned.status();

  ASSERT_TRUE(store_->Create(Managed("ctd-raw:1", pinned->target)).ok());
  ASSERT_TRUE(store_->Create(Managed("docker.io/library/ctd-short:1", pinned->target)).ok());
  ASSERT_TRUE(CriResolvesEventually("ctd-short:1", id));
  EXPECT_EQ(CriImage("ctd-raw:1").id(), "");
  // Misleadingly, repo_tags shows the raw record normalised, though that name does not resolve.
  EXPECT_EQ(CriImage("docker.io/library/ctd-raw:1").id(), "");
  EXPECT_THAT(CriImage(id).repo_tags(),
              UnorderedElementsAre("docker.io/library/ctd-short:1", "docker.io/library/ctd-raw:1"));
}

// Finding (b): for an image imported with `ctr images import`, the record of its name targets the
// manifest: Images.Get(name).target.digest is the manifest digest of the OCI layout, while CRI
// ImageStatus has no repo_digests. Once CRI sees the image, the CRI plugin has also created a
// record named after the image id (the config digest, which kubelet passes to CreateContainer)
// targeting the same manifest, and labelled both managed: Images.Get(id) gives the manifest digest
// of imported images as of pulled ones.
TEST_F(ImagesE2eTest, ImportedImageRecordTargetsTheLayoutManifestDigest) {
  auto image = bed_->BuildImage("imported", {"/bin/true"}, "imported");
  ASSERT_TRUE(image.ok()) << image.status();
  const std::string name = "localhost/ctd/imported:1";
  auto imported = testbed::ImportImage(*image, *bed_->containerd(), name, bed_->dir().Path("scratch"));
  ASSERT_TRUE(imported.ok()) << imported.status();

  auto record = store_->Get(name);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->target.digest, image->manifest_digest);
  EXPECT_EQ(record->target.media_type, kOciManifest);

  ASSERT_TRUE(Eventually([&] { return !CriImage(name).id().empty(); }));
  cri::Image status = CriImage(name);
  EXPECT_THAT(status.repo_tags(), ElementsAre(name));
  EXPECT_THAT(status.repo_digests(), IsEmpty());

  auto by_id = store_->Get(status.id());
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_EQ(by_id->target.digest, image->manifest_digest);
  EXPECT_THAT(by_id->labels, ElementsAre(Pair(std::string(kCriManagedLabel), std::string(kCriManagedValue))));
  EXPECT_THAT(RecordsTargeting(image->manifest_digest), UnorderedElementsAre(name, status.id()));
  auto relabelled = store_->Get(name);
  ASSERT_TRUE(relabelled.ok()) << relabelled.status();
  EXPECT_THAT(relabelled->labels, ElementsAre(Pair(std::string(kCriManagedLabel), std::string(kCriManagedValue))));
}

// The image id (config digest) does not name one manifest. Two manifests with the same config and
// layers (here they differ by an annotation only) are one CRI image: ImageStatus(id) lists both
// repository@digest names in repo_digests, and the id record targets whichever manifest CRI pulled
// last, moving back and forth with each pull. So Images.Get(id) may give a manifest digest other
// than the one verified, for the very same config and layers.
TEST_F(ImagesE2eTest, ImageIdRecordTargetsTheLastPulledOfManifestsSharingAConfig) {
  PushedImage first;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/twins", "first", "twins", &first));
  std::string media_type;
  auto manifest = bed_->registry()->GetManifest("ctd/twins", first.digest, &media_type);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  ASSERT_EQ(manifest->front(), '{');
  const std::string twin = absl::StrCat(R"({"annotations":{"sigshim.test/twin":"1"},)", manifest->substr(1));
  auto twin_digest = bed_->registry()->PushManifest("ctd/twins", "second", media_type, twin);
  ASSERT_TRUE(twin_digest.ok()) << twin_digest.status();
  ASSERT_NE(*twin_digest, first.digest);
  const std::string twin_ref = absl::StrCat(bed_->registry()->host_port(), "/ctd/twins@", *twin_digest);

  std::string first_id, twin_id;
  ASSERT_NO_FATAL_FAILURE(CriPull(first.digest_ref, &first_id));
  ASSERT_NO_FATAL_FAILURE(CriPull(twin_ref, &twin_id));
  EXPECT_EQ(twin_id, first_id);
  EXPECT_THAT(CriImage(first_id).repo_digests(), UnorderedElementsAre(first.digest_ref, twin_ref));
  auto by_id = store_->Get(first_id);
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_EQ(by_id->target.digest, *twin_digest);

  // Pulling the first manifest again moves the id record back.
  std::string again;
  ASSERT_NO_FATAL_FAILURE(CriPull(first.digest_ref, &again));
  by_id = store_->Get(first_id);
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_EQ(by_id->target.digest, first.digest);
  // The repository@digest records keep their own targets.
  EXPECT_EQ(store_->Get(twin_ref)->target.digest, *twin_digest);
  EXPECT_EQ(store_->Get(first.digest_ref)->target.digest, first.digest);
}

// Finding (c): CRI RemoveImage (by the id, as kubelet's image GC does) deletes every record of
// the image, the tag created through the images API included.
TEST_F(ImagesE2eTest, CriRemoveImageByIdAlsoDeletesTagCreatedThroughImagesApi) {
  PushedImage pushed;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/removed", "1", "removed", &pushed));
  std::string id;
  ASSERT_NO_FATAL_FAILURE(CriPull(pushed.digest_ref, &id));
  auto pinned = store_->Get(pushed.digest_ref);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  ASSERT_TRUE(store_->Create(Managed(pushed.tag_ref, pinned->target)).ok());
  ASSERT_TRUE(CriResolvesEventually(pushed.tag_ref, id));

  ASSERT_NO_FATAL_FAILURE(CriRemove(id));
  EXPECT_EQ(store_->Get(pushed.tag_ref).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(pushed.digest_ref).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(RecordsTargeting(pushed.digest), IsEmpty());
  EXPECT_EQ(CriImage(pushed.tag_ref).id(), "");
}

// The same through the tag: RemoveImage by a tag removes the whole image, not only that name.
TEST_F(ImagesE2eTest, CriRemoveImageByTagDeletesEveryRecordOfTheImage) {
  PushedImage pushed;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/removed-by-tag", "1", "removed-by-tag", &pushed));
  std::string id;
  ASSERT_NO_FATAL_FAILURE(CriPull(pushed.digest_ref, &id));
  auto pinned = store_->Get(pushed.digest_ref);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  ASSERT_TRUE(store_->Create(Managed(pushed.tag_ref, pinned->target)).ok());
  ASSERT_TRUE(CriResolvesEventually(pushed.tag_ref, id));

  ASSERT_NO_FATAL_FAILURE(CriRemove(pushed.tag_ref));
  EXPECT_THAT(RecordsTargeting(pushed.digest), IsEmpty());
  EXPECT_EQ(CriImage(pushed.digest_ref).id(), "");
}

// The client's own contract against the real service: NotFound names the image; a record without a
// name or with a malformed digest is InvalidArgument; Delete removes a record; a different
// namespace sees other records.
TEST_F(ImagesE2eTest, ClientReportsNotFoundAndMalformedRecordsAndHonoursTheNamespace) {
  auto absent = store_->Get("localhost/ctd/absent:1");
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(absent.status().message(), ::testing::HasSubstr("localhost/ctd/absent:1"));

  auto other = GrpcImageStore::Create(*channel_, {.namespace_name = "sigshim-other"});
  ASSERT_TRUE(other.ok()) << other.status();
  auto sandbox = store_->Get(bed_->containerd()->sandbox_image());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status();
  EXPECT_EQ((*other)->Get(bed_->containerd()->sandbox_image()).status().code(), absl::StatusCode::kNotFound);

  Image scratch;
  scratch.name = "localhost/ctd/scratch:1";
  scratch.target = sandbox->target;
  ASSERT_TRUE((*other)->Create(scratch).ok());
  EXPECT_EQ(store_->Get(scratch.name).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*other)->Delete(scratch.name).ok());
  EXPECT_EQ((*other)->Get(scratch.name).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*other)->Delete(scratch.name).code(), absl::StatusCode::kNotFound);

  // Malformed records are refused.
  Image nameless = scratch;
  nameless.name = "";
  EXPECT_EQ((*other)->Create(nameless).status().code(), absl::StatusCode::kInvalidArgument);
  Image bad_digest = scratch;
  bad_digest.target.digest = "sha256:not-hex";
  absl::Status refused = (*other)->Create(bad_digest).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(refused.message(), ::testing::HasSubstr(scratch.name));
}

// A tag record created through the images API is containerd state like any other: after
// containerd restarts (a node reboot), CRI still finds the image by the tag. Last in the file, as
// it restarts the suite's containerd.
TEST_F(ImagesE2eTest, TagCreatedThroughImagesApiSurvivesContainerdRestart) {
  PushedImage pushed;
  ASSERT_NO_FATAL_FAILURE(Push("ctd/restarted", "1", "restarted", &pushed));
  std::string id;
  ASSERT_NO_FATAL_FAILURE(CriPull(pushed.digest_ref, &id));
  auto pinned = store_->Get(pushed.digest_ref);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  ASSERT_TRUE(store_->Create(Managed(pushed.tag_ref, pinned->target)).ok());
  ASSERT_TRUE(CriResolvesEventually(pushed.tag_ref, id));

  ASSERT_TRUE(bed_->containerd()->Stop().ok());
  ASSERT_TRUE(bed_->containerd()->Start().ok());
  // The channel reconnects on its own; the first calls may still meet it in backoff.
  ASSERT_TRUE(Eventually([&] { return store_->Get(pushed.tag_ref).ok(); }));
  EXPECT_EQ(store_->Get(pushed.tag_ref)->target.digest, pushed.digest);
  ASSERT_TRUE(CriResolvesEventually(pushed.tag_ref, id));
  EXPECT_THAT(CriImage(pushed.tag_ref).repo_digests(), ElementsAre(pushed.digest_ref));
}

}  // namespace
}  // namespace sigshim::containerd
