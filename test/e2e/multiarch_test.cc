// Multi-arch images on a real node (DESIGN.md "Multi-arch"): a real two-platform OCI index in a
// real docker-registry (the node's platform: busybox built with umoci; another platform with its
// own config), pulled through the sigshim binary's CRI socket into a real containerd 1.6, and
// containers created from it. An index signed as a whole runs, pinned to the index; a signature
// over only the node's platform manifest admits a pull by that manifest's digest, and a pull by tag
// only under [[policy]] platform_signatures = true, pinned to that manifest; a signature over
// another platform's manifest admits nothing; an image whose containerd record points at an index
// nobody signed is refused at CreateContainer. `sigshim verify` says which manifest it verified.
// Needs root.
//
// One test bed serves the suite; each test uses its own repository and images.
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "pkg/containerd/image_store_grpc.h"
#include "pkg/policy/platform.h"
#include "test/e2e/attack_images.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/signer/signer.h"
#include "test/testbed/poll.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr char kNamespace[] = "e2e-multiarch";

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

// A two-platform image in the registry: an index listing the other platform's manifest first,
// then the node's.
struct MultiarchImage {
  std::string repository;  // "127.0.0.1:<port>/ma/…"
  std::string tag_ref;     // repository + ":" + tag
  std::string node;        // digest of the node's platform manifest (busybox that runs here)
  std::string other;       // digest of the other platform's manifest
  std::string index;       // digest of the index
  std::string other_platform;  // "linux/s390x" (or another when the node is s390x)
};

class MultiarchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // SetUp fails every test
    auto bed = testbed::TestBed::Create({.name = "sigshim-multiarch"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    ASSERT_TRUE(MakeDirs(bed_->dir().Path("keys")).ok());
    auto key = GenerateKey("release", test_signer::KeyType::kEcdsaP256, bed_->dir().Path("keys/release.pub"));
    ASSERT_TRUE(key.ok()) << key.status();
    release_ = key->release();
    auto base = bed_->BuildImage("base", {"/bin/sh"}, "multiarch");
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = new testbed::OciImage(*base);
    direct_ = new CriClient(bed_->containerd()->socket_path());
    auto records = containerd::GrpcImageStore::Create(grpc::CreateChannel(
        absl::StrCat("unix:", bed_->containerd()->socket_path()), grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(records.ok()) << records.status();
    records_ = records->release();

    socket_ = bed_->dir().Path("sigshim.sock");
    config_path_ = bed_->dir().Path("sigshim.toml");
    log_path_ = bed_->dir().Path("sigshim.log");
    audit_path_ = bed_->dir().Path("audit.log");
    ASSERT_TRUE(WriteFileAtomic(config_path_, ConfigText(), 0644).ok());
    auto process = StartSigshim(SigshimCommand(SIGSHIM_BINARY, config_path_, log_path_, bed_->dir().path()), socket_);
    ASSERT_TRUE(process.ok()) << process.status();
    sigshim_ = process->release();
    proxy_ = new CriClient(socket_);
  }

  static void TearDownTestSuite() {
    delete proxy_;
    proxy_ = nullptr;
    if (sigshim_ != nullptr) {
      absl::Status stopped = sigshim_->Stop(absl::Seconds(15));
      EXPECT_TRUE(stopped.ok()) << stopped;
      delete sigshim_;
      sigshim_ = nullptr;
    }
    delete records_;
    records_ = nullptr;
    delete direct_;
    direct_ = nullptr;
    delete base_;
    base_ = nullptr;
    delete release_;
    release_ = nullptr;
    delete bed_;
    bed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || sigshim_ == nullptr) FAIL() << "the test bed did not start";
  }

  void TearDown() override {
    for (const std::string& id : pods_) {
      grpc::Status removed = RemovePod(*direct_, id);
      EXPECT_TRUE(removed.ok()) << Describe(removed);
    }
    pods_.clear();
    if (sigshim_ != nullptr && !sigshim_->Running()) {
      ADD_FAILURE() << "sigshim " << sigshim_->ExitDescription() << "; end of its log:\n" << sigshim_->LogTail(16384);
    }
  }

  // Policy "strict" (the default: an index must be signed) and policy "platform"
  // (platform_signatures = true), both requiring key "release"; anything else is denied.
  static std::string ConfigText() {
    const std::string registry = bed_->registry()->host_port();
    return absl::StrCat("[server]\nlisten = \"", socket_, "\"\nruntime_endpoint = \"",
                        bed_->containerd()->socket_path(), "\"\nstate_dir = \"", bed_->dir().Path("state"),
                        "\"\n[log]\nlevel = \"debug\"\n[enforcement]\nunmatched = \"deny\"\nsandbox_image = \"",
                        bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest(),
                        "\"\n[audit]\npath = \"", audit_path_, "\"\n[metrics]\nlisten = \"\"\n[registry]\ninsecure = [\"",
                        registry, "\"]\ntimeout = \"5s\"\n\n[[keys]]\nname = \"release\"\npath = \"",
                        release_->public_path, "\"\n\n[[policy]]\nname = \"strict\"\nimages = [\"", registry,
                        "/ma/strict/**\"]\nrequire = [\"release\"]\n\n[[policy]]\nname = \"platform\"\nimages = [\"",
                        registry, "/ma/platform/**\"]\nrequire = [\"release\"]\nplatform_signatures = true\n");
  }

  // Builds and pushes a two-platform image as `path`:`tag` ("ma/strict/x", "v1"): the node's
  // platform runs /bin/echo `output`; the other platform's manifest has its own config.
  static MultiarchImage PushMultiarch(const std::string& path, const std::string& tag, const std::string& output) {
    MultiarchImage out;
    out.repository = absl::StrCat(bed_->registry()->host_port(), "/", path);
    out.tag_ref = absl::StrCat(out.repository, ":", tag);
    const policy::Platform node = policy::HostPlatform();
    const std::string other_arch = node.architecture == "s390x" ? "ppc64le" : "s390x";
    out.other_platform = absl::StrCat("linux/", other_arch);
    ++images_made_;
    auto node_image = testbed::CmdVariant(*base_, absl::StrCat("node", images_made_), {"/bin/echo", output});
    EXPECT_TRUE(node_image.ok()) << node_image.status();
    auto other_image = testbed::PlatformVariant(*base_, absl::StrCat("other", images_made_), "linux", other_arch,
                                                {"/bin/echo", output, "(", other_arch, ")"});
    EXPECT_TRUE(other_image.ok()) << other_image.status();
    if (!node_image.ok() || !other_image.ok()) return out;
    auto node_digest = testbed::PushImage(*node_image, *bed_->registry(), path, absl::StrCat(tag, "-node"));
    EXPECT_TRUE(node_digest.ok()) << node_digest.status();
    auto other_digest = testbed::PushImage(*other_image, *bed_->registry(), path, absl::StrCat(tag, "-", other_arch));
    EXPECT_TRUE(other_digest.ok()) << other_digest.status();
    if (!node_digest.ok() || !other_digest.ok()) return out;
    out.node = *node_digest;
    out.other = *other_digest;
    auto index = testbed::PushIndex(*bed_->registry(), path, tag,
                                    {{.digest = out.other, .architecture = other_arch, .variant = ""},
                                     {.digest = out.node, .architecture = node.architecture, .variant = node.variant}});
    EXPECT_TRUE(index.ok()) << index.status();
    if (index.ok()) out.index = *index;
    return out;
  }

  // Signs `digest` of `image`'s repository with key "release".
  static void Sign(const MultiarchImage& image, const std::string& digest) {
    const std::string path = image.repository.substr(bed_->registry()->host_port().size() + 1);
    auto pushed = PushSignature(*bed_->registry(), path, *release_->signer, image.repository, digest);
    ASSERT_TRUE(pushed.ok()) << pushed.status();
  }

  static grpc::Status Pull(CriClient& client, const std::string& image, std::string* image_ref = nullptr) {
    return PullImage(client, image, kNamespace, nullptr, image_ref);
  }

  // Returns the CRI image `image` names, asked of containerd directly ("" id when it has none).
  static Image ImageStatusOf(const std::string& image) {
    ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    ImageStatusResponse response;
    grpc::Status status = direct_->images().ImageStatus(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return response.image();
  }

  // Returns the digest containerd's image record `name` points at ("" when there is none).
  static std::string RecordTarget(const std::string& name) {
    auto record = records_->Get(name);
    return record.ok() ? record->target.digest : "";
  }

  // Returns how many GET and HEAD requests containerd made for `path` on the registry.
  static int ContainerdRequests(const std::string& path) {
    absl::SleepFor(absl::Milliseconds(200));  // the registry logs a request after answering it
    return bed_->registry()->CountRequests("GET", path, "containerd/") +
           bed_->registry()->CountRequests("HEAD", path, "containerd/");
  }

  void RunPod(const std::string& name, PodRun* run) {
    run->config = HostNetworkPod(name, kNamespace, bed_->dir().Path(absl::StrCat("pods/", name)));
    grpc::Status status = RunPodSandbox(*proxy_, run->config, &run->sandbox_id);
    ASSERT_TRUE(status.ok()) << Describe(status);
    pods_.push_back(run->sandbox_id);
  }

  static grpc::Status CreateContainer(const PodRun& pod, const std::string& name, const std::string& image,
                                      std::string* container_id) {
    CreateContainerResponse response;
    grpc::Status status = proxy_->runtime().CreateContainer(
        Context().get(), ContainerRequest(pod.sandbox_id, pod.config, name, image), &response);
    *container_id = response.container_id();
    return status;
  }

  // Creates container `name` from `image` through sigshim, starts it and returns its output.
  static std::string RunContainer(const PodRun& pod, const std::string& name, const std::string& image) {
    std::string id;
    grpc::Status created = CreateContainer(pod, name, image, &id);
    EXPECT_TRUE(created.ok()) << "CreateContainer " << image << ": " << Describe(created);
    if (!created.ok()) return "";
    StartContainerRequest start;
    start.set_container_id(id);
    StartContainerResponse started;
    grpc::Status status = proxy_->runtime().StartContainer(Context().get(), start, &started);
    EXPECT_TRUE(status.ok()) << "StartContainer: " << Describe(status);
    if (!status.ok()) return "";
    ContainerStatusResponse final_status;
    EXPECT_TRUE(WaitForExit(*direct_, id, &final_status)) << "container " << id << " never exited";
    EXPECT_EQ(final_status.status().exit_code(), 0);
    auto log = ReadFile(absl::StrCat(pod.config.log_directory(), "/", name, "_0.log"), 1 << 20);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *log : "";
  }

  // Returns the audit lines for (`method`, `image`).
  static std::vector<nlohmann::json> AuditFor(const std::string& method, const std::string& image) {
    std::vector<nlohmann::json> out;
    for (nlohmann::json& line : ReadAuditLog(audit_path_, nullptr)) {
      if (line.value("method", "") == method && line.value("image", "") == image) out.push_back(std::move(line));
    }
    return out;
  }

  static void ExpectRefused(const grpc::Status& status, const std::vector<std::string>& parts) {
    std::cout << "  answer: " << Describe(status) << std::endl;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << Describe(status);
    EXPECT_THAT(status.error_message(), StartsWith("SignatureValidationFailed: "));
    for (const std::string& part : parts) EXPECT_THAT(status.error_message(), HasSubstr(part));
  }

  static testbed::TestBed* bed_;
  static Key* release_;
  static testbed::OciImage* base_;
  static int images_made_;
  static CriClient* direct_;
  static CriClient* proxy_;
  static containerd::ImageStore* records_;
  static testbed::Subprocess* sigshim_;
  static std::string socket_;
  static std::string config_path_;
  static std::string log_path_;
  static std::string audit_path_;
  std::vector<std::string> pods_;
};

testbed::TestBed* MultiarchTest::bed_ = nullptr;
Key* MultiarchTest::release_ = nullptr;
testbed::OciImage* MultiarchTest::base_ = nullptr;
int MultiarchTest::images_made_ = 0;
CriClient* MultiarchTest::direct_ = nullptr;
CriClient* MultiarchTest::proxy_ = nullptr;
containerd::ImageStore* MultiarchTest::records_ = nullptr;
testbed::Subprocess* MultiarchTest::sigshim_ = nullptr;
std::string MultiarchTest::socket_;
std::string MultiarchTest::config_path_;
std::string MultiarchTest::log_path_;
std::string MultiarchTest::audit_path_;

TEST_F(MultiarchTest, SignedIndexIsPulledPinnedToTheIndexAndRuns) {
  const MultiarchImage image = PushMultiarch("ma/strict/signed-index", "v1", "hello from a signed index");
  ASSERT_FALSE(image.index.empty());
  Sign(image, image.index);
  std::string image_ref;
  grpc::Status pulled = Pull(*proxy_, image.tag_ref, &image_ref);
  ASSERT_TRUE(pulled.ok()) << Describe(pulled);
  // Pinned to the index: containerd fetched it by digest, never by the tag.
  EXPECT_EQ(ContainerdRequests("/v2/ma/strict/signed-index/manifests/v1"), 0);
  EXPECT_GE(ContainerdRequests("/v2/ma/strict/signed-index/manifests/" + image.index), 1);
  EXPECT_EQ(RecordTarget(image.tag_ref), image.index);
  const Image by_tag = ImageStatusOf(image.tag_ref);
  EXPECT_EQ(by_tag.id(), image_ref);
  EXPECT_THAT(by_tag.repo_digests(), Contains(absl::StrCat(image.repository, "@", image.index)));

  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod("signed-index", &pod));
  EXPECT_THAT(RunContainer(pod, "app", image_ref), HasSubstr("hello from a signed index"));
}

TEST_F(MultiarchTest, PlatformSignatureAloneAdmitsOnlyThePullByThatManifestsDigest) {
  const MultiarchImage image = PushMultiarch("ma/strict/platform-signed", "v1", "hello from a platform manifest");
  ASSERT_FALSE(image.index.empty());
  Sign(image, image.node);

  // By tag: the tag resolves to the index, which nobody signed.
  grpc::Status by_tag = Pull(*proxy_, image.tag_ref);
  ExpectRefused(by_tag, {image.tag_ref, image.index, "the index needs a signature of its own",
                         "platform_signatures = true"});
  EXPECT_EQ(RecordTarget(image.tag_ref), "");
  EXPECT_EQ(ContainerdRequests("/v2/ma/strict/platform-signed/manifests/" + image.index), 0);

  // By the platform manifest's digest: its own signature admits it.
  const std::string by_digest = absl::StrCat(image.repository, "@", image.node);
  std::string image_ref;
  grpc::Status pulled = Pull(*proxy_, by_digest, &image_ref);
  ASSERT_TRUE(pulled.ok()) << Describe(pulled);
  EXPECT_EQ(RecordTarget(by_digest), image.node);
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod("platform-signed", &pod));
  EXPECT_THAT(RunContainer(pod, "app", image_ref), HasSubstr("hello from a platform manifest"));
}

TEST_F(MultiarchTest, PlatformSignaturesAdmitsTheTagPinnedToTheNodesManifest) {
  const MultiarchImage image = PushMultiarch("ma/platform/app", "v1", "hello from linux on this node");
  ASSERT_FALSE(image.index.empty());
  Sign(image, image.node);
  std::string image_ref;
  grpc::Status pulled = Pull(*proxy_, image.tag_ref, &image_ref);
  ASSERT_TRUE(pulled.ok()) << Describe(pulled);

  // What containerd pulled and recorded is the manifest that was signed, not the index.
  EXPECT_EQ(ContainerdRequests("/v2/ma/platform/app/manifests/v1"), 0);
  EXPECT_EQ(ContainerdRequests("/v2/ma/platform/app/manifests/" + image.index), 0);
  EXPECT_GE(ContainerdRequests("/v2/ma/platform/app/manifests/" + image.node), 1);
  EXPECT_EQ(RecordTarget(image.tag_ref), image.node);
  const Image by_tag = ImageStatusOf(image.tag_ref);
  EXPECT_EQ(by_tag.id(), image_ref);
  EXPECT_THAT(by_tag.repo_tags(), Contains(image.tag_ref));
  EXPECT_THAT(by_tag.repo_digests(), Contains(absl::StrCat(image.repository, "@", image.node)));
  EXPECT_THAT(by_tag.repo_digests(), Not(Contains(absl::StrCat(image.repository, "@", image.index))));

  const std::vector<nlohmann::json> audit = AuditFor("PullImage", image.tag_ref);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].value("decision", ""), "allow");
  EXPECT_EQ(audit[0].value("digest", ""), image.node);
  EXPECT_EQ(audit[0].value("policy", ""), "platform");
  EXPECT_THAT(audit[0].value("reason", ""),
              HasSubstr(absl::StrCat(policy::HostPlatform().String(), " manifest ", image.node, " of index ",
                                     image.index)));

  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod("platform", &pod));
  EXPECT_THAT(RunContainer(pod, "by-id", image_ref), HasSubstr("hello from linux on this node"));
  EXPECT_THAT(RunContainer(pod, "by-tag", image.tag_ref), HasSubstr("hello from linux on this node"));

  // `sigshim verify` says which manifest of the index it verified.
  auto verified = testbed::RunCommand({SIGSHIM_BINARY, "verify", "--config", config_path_, image.tag_ref});
  ASSERT_TRUE(verified.ok()) << verified.status();
  std::cout << verified->stdout_text;
  EXPECT_THAT(verified->stdout_text, HasSubstr(absl::StrCat("digest:     ", image.node)));
  EXPECT_THAT(verified->stdout_text,
              HasSubstr(absl::StrCat("index:      ", image.index, " (an image index not signed; its ",
                                     policy::HostPlatform().String(), " manifest, the digest above, was verified)")));
}

TEST_F(MultiarchTest, OnlyTheOtherPlatformsManifestSignedIsRefused) {
  const MultiarchImage image = PushMultiarch("ma/platform/other-signed", "v1", "never runs");
  ASSERT_FALSE(image.index.empty());
  Sign(image, image.other);
  grpc::Status by_tag = Pull(*proxy_, image.tag_ref);
  ExpectRefused(by_tag, {image.tag_ref, image.index, "the image index is not signed",
                         absl::StrCat("nor is the ", policy::HostPlatform().String(), " manifest ", image.node)});
  EXPECT_EQ(RecordTarget(image.tag_ref), "");
  EXPECT_EQ(RecordTarget(absl::StrCat(image.repository, "@", image.node)), "");
  EXPECT_EQ(RecordTarget(absl::StrCat(image.repository, "@", image.other)), "");
}

TEST_F(MultiarchTest, CreateContainerRefusesARecordPointingAtAnIndexNobodySigned) {
  // The node's platform manifest is signed, and the policy has platform_signatures; but the image
  // reached containerd some other way (pulled by tag without sigshim), so its record points at the
  // index, which nobody signed: what containerd would run is judged by the index's signatures.
  const MultiarchImage image = PushMultiarch("ma/platform/direct", "v1", "pulled around sigshim");
  ASSERT_FALSE(image.index.empty());
  Sign(image, image.node);
  std::string image_ref;
  grpc::Status pulled = Pull(*direct_, image.tag_ref, &image_ref);
  ASSERT_TRUE(pulled.ok()) << Describe(pulled);
  ASSERT_EQ(RecordTarget(image.tag_ref), image.index);

  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod("direct", &pod));
  for (const std::string& name : {image_ref, image.tag_ref}) {
    SCOPED_TRACE(name);
    std::string id;
    grpc::Status created = CreateContainer(pod, "app", name, &id);
    ExpectRefused(created, {image.index});
    EXPECT_TRUE(id.empty());
  }
}

}  // namespace
}  // namespace sigshim::e2e
