// containerd's registry host configuration on a real node: a real containerd 1.6 and the sigshim
// binary share one config_path whose hosts.toml maps a registry name that does not resolve
// (mirror.sigshim.invalid) to the test bed's docker-registry on 127.0.0.1 over plain HTTP (as its
// mirror and its server). A signed
// image pulled by that name through sigshim's CRI socket is pulled and a container is made from
// it; an unsigned one under the same name is refused (SignatureValidationFailed); `sigshim verify`
// of the signed name answers allowed (exit 0). Without config_path sigshim could not even resolve
// the name. Needs root.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "test/e2e/attack_images.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/signer/signer.h"
#include "test/testbed/poll.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::testing::HasSubstr;
using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr char kNamespace[] = "e2e-mirror";
// A name no resolver answers (.invalid is reserved): only the hosts.toml mirror can serve it.
constexpr char kMirrored[] = "mirror.sigshim.invalid";

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

class MirrorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // SetUp fails every test
    // The folder both containerd and sigshim read; its hosts.toml is written once the registry's
    // port is known (containerd reads it at each pull).
    char certs_template[] = "/tmp/sigshim-certsd-XXXXXX";
    ASSERT_NE(mkdtemp(certs_template), nullptr);
    certs_d_ = new std::string(certs_template);
    auto bed = testbed::TestBed::Create({.registry_config_path = *certs_d_, .name = "sigshim-mirror"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    ASSERT_TRUE(MakeDirs(absl::StrCat(*certs_d_, "/", kMirrored)).ok());
    // The registry is both the mirror and the server: with a server that cannot be reached, an
    // artifact absent from the mirror (the unsigned image's signature) would be an error
    // (RegistryUnavailable, as for containerd: the first failure that is not a 404), not "none".
    const std::string registry_url = absl::StrCat("http://", bed_->registry()->host_port());
    const std::string hosts_toml = absl::StrCat("server = \"", registry_url, "\"\n\n[host.\"", registry_url,
                                                "\"]\n  capabilities = [\"pull\", \"resolve\"]\n");
    ASSERT_TRUE(WriteFileAtomic(absl::StrCat(*certs_d_, "/", kMirrored, "/hosts.toml"), hosts_toml, 0644).ok());

    ASSERT_TRUE(MakeDirs(bed_->dir().Path("keys")).ok());
    auto key = GenerateKey("release", test_signer::KeyType::kEcdsaP256, bed_->dir().Path("keys/release.pub"));
    ASSERT_TRUE(key.ok()) << key.status();
    release_ = key->release();
    auto base = bed_->BuildImage("base", {"/bin/sh"}, "mirror");
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = new testbed::OciImage(*base);

    socket_ = new std::string(bed_->dir().Path("sigshim.sock"));
    config_path_ = new std::string(bed_->dir().Path("sigshim.toml"));
    const std::string config = absl::StrCat(
        "[server]\nlisten = \"", *socket_, "\"\nruntime_endpoint = \"", bed_->containerd()->socket_path(),
        "\"\nstate_dir = \"", bed_->dir().Path("sigshim-state"), "\"\n", "[log]\nlevel = \"debug\"\n",
        "[enforcement]\nmode = \"enforce\"\nunmatched = \"deny\"\nsandbox_image = \"",
        bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest(), "\"\n", "[audit]\npath = \"",
        bed_->dir().Path("audit.log"), "\"\n[metrics]\nlisten = \"\"\n", "[registry]\ntimeout = \"5s\"\nconfig_path = \"",
        *certs_d_, "\"\n", "[[keys]]\nname = \"release\"\npath = \"", release_->public_path, "\"\n",
        "[[policy]]\nname = \"mirrored\"\nimages = [\"", kMirrored, "/e2e/**\"]\nrequire = [\"release\"]\n");
    ASSERT_TRUE(WriteFileAtomic(*config_path_, config, 0644).ok());
    auto process = StartSigshim(
        SigshimCommand(SIGSHIM_BINARY, *config_path_, bed_->dir().Path("sigshim.log"), bed_->dir().path()), *socket_);
    ASSERT_TRUE(process.ok()) << process.status();
    sigshim_ = process->release();
    client_ = new CriClient(*socket_);
  }

  static void TearDownTestSuite() {
    if (sigshim_ != nullptr) {
      absl::Status stopped = sigshim_->Stop(absl::Seconds(15));
      EXPECT_TRUE(stopped.ok()) << stopped;
    }
    delete sigshim_;
    sigshim_ = nullptr;
    delete client_;
    client_ = nullptr;
    delete release_;
    release_ = nullptr;
    delete base_;
    base_ = nullptr;
    delete socket_;
    delete config_path_;
    socket_ = config_path_ = nullptr;
    delete bed_;
    bed_ = nullptr;
    if (certs_d_ != nullptr) {
      (void)testbed::RemoveTree(*certs_d_);
      delete certs_d_;
      certs_d_ = nullptr;
    }
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || sigshim_ == nullptr) FAIL() << "the test bed did not start";
  }

  void TearDown() override {
    if (sigshim_ != nullptr && !sigshim_->Running()) {
      ADD_FAILURE() << "sigshim " << sigshim_->ExitDescription() << "; end of its log:\n" << sigshim_->LogTail(16384);
    }
  }

  // Pushes a new image as e2e/<repository>:v1 to the registry (reached as kMirrored through the
  // mirror) and returns its digest; signs it for kMirrored/e2e/<repository> when `sign`.
  static std::string Push(const std::string& repository, bool sign) {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("mirror-", repository), {"/bin/echo", repository});
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, *bed_->registry(), "e2e/" + repository, "v1");
    EXPECT_TRUE(digest.ok()) << digest.status();
    if (!digest.ok()) return "";
    if (sign) {
      auto pushed = PushSignature(*bed_->registry(), "e2e/" + repository, *release_->signer,
                                  absl::StrCat(kMirrored, "/e2e/", repository), *digest);
      EXPECT_TRUE(pushed.ok()) << pushed.status();
    }
    return *digest;
  }

  static grpc::Status Pull(const std::string& image, std::string* image_ref = nullptr) {
    grpc::Status status = PullImage(*client_, image, kNamespace, nullptr, image_ref);
    std::cout << "  PullImage " << image << ": " << Describe(status).substr(0, 400) << std::endl;
    return status;
  }

  static inline std::string* certs_d_ = nullptr;
  static inline testbed::TestBed* bed_ = nullptr;
  static inline Key* release_ = nullptr;
  static inline testbed::OciImage* base_ = nullptr;
  static inline std::string* socket_ = nullptr;
  static inline std::string* config_path_ = nullptr;
  static inline testbed::Subprocess* sigshim_ = nullptr;
  static inline CriClient* client_ = nullptr;
};

// Before: sigshim resolved mirror.sigshim.invalid itself (DNS failure: RegistryUnavailable) while
// containerd would have pulled it through the mirror. Now both use the mirror.
TEST_F(MirrorTest, SignedImageByTheMirroredNameIsPulledAndRuns) {
  const std::string digest = Push("signed", /*sign=*/true);
  ASSERT_FALSE(digest.empty());
  const std::string image = absl::StrCat(kMirrored, "/e2e/signed:v1");
  std::string image_ref;
  grpc::Status pulled = Pull(image, &image_ref);
  ASSERT_TRUE(pulled.ok()) << Describe(pulled);
  EXPECT_FALSE(image_ref.empty());

  PodRun pod;
  pod.config = HostNetworkPod("mirror-pod", kNamespace, bed_->dir().Path("pods/mirror-pod"));
  grpc::Status ran = RunPodSandbox(*client_, pod.config, &pod.sandbox_id);
  ASSERT_TRUE(ran.ok()) << Describe(ran);
  CreateContainerResponse created;
  grpc::Status create = client_->runtime().CreateContainer(
      Context().get(), ContainerRequest(pod.sandbox_id, pod.config, "signed", image), &created);
  std::cout << "  CreateContainer " << image << ": " << Describe(create).substr(0, 400) << std::endl;
  EXPECT_TRUE(create.ok()) << Describe(create);
  EXPECT_FALSE(created.container_id().empty());
  grpc::Status removed = RemovePod(*client_, pod.sandbox_id);
  EXPECT_TRUE(removed.ok()) << Describe(removed);
}

TEST_F(MirrorTest, UnsignedImageByTheMirroredNameIsRefused) {
  ASSERT_FALSE(Push("unsigned", /*sign=*/false).empty());
  grpc::Status pulled = Pull(absl::StrCat(kMirrored, "/e2e/unsigned:v1"));
  EXPECT_FALSE(pulled.ok());
  EXPECT_THAT(pulled.error_message(), HasSubstr("SignatureValidationFailed")) << Describe(pulled);
  // Refused because no signature was found through the mirror, not because it was unreachable.
  EXPECT_THAT(pulled.error_message(), HasSubstr("no signatures")) << Describe(pulled);
}

TEST_F(MirrorTest, VerifyCommandReachesTheMirroredName) {
  ASSERT_FALSE(Push("verified", /*sign=*/true).empty());
  auto run = testbed::RunCommand(
      {SIGSHIM_BINARY, "verify", "--config", *config_path_, absl::StrCat(kMirrored, "/e2e/verified:v1")},
      absl::Seconds(60));
  ASSERT_TRUE(run.ok()) << run.status();
  std::cout << run->stdout_text << run->stderr_text << std::endl;
  EXPECT_EQ(run->exit_code, 0) << run->stdout_text << run->stderr_text;
  EXPECT_THAT(run->stdout_text, HasSubstr("decision:   allow\n"));
}

}  // namespace
}  // namespace sigshim::e2e
