// Certificate identities on a real node: a real containerd 1.6, the test bed's docker-registry and
// the sigshim binary, with images signed keyless (cosign format) by sigstore-js against a mock
// Fulcio, Rekor and TSA on 127.0.0.1 (test/testbed/sigstore_mock.h). The node trusts the mock's
// trusted_root.json and one identity (issuer + release workflow). A keyless-signed image is
// pulled through sigshim's CRI socket and a container is made from it; an image signed by another
// workflow is refused at the pull; once the identity is changed and sigshim reloaded, the image it
// admitted before is refused at the next CreateContainer, by the stored evidence. Needs root.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "pkg/verify/simple_signing.h"
#include "test/e2e/attack_images.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/signer/signer.h"
#include "test/testbed/poll.h"
#include "test/testbed/sigstore_mock.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::testing::HasSubstr;
using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr char kNamespace[] = "e2e-keyless";
constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
constexpr char kRelease[] = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
constexpr char kOther[] = "https://github.com/acme/app/.github/workflows/nightly.yml@refs/heads/main";

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

class KeylessNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // SetUp fails every test
    auto bed = testbed::TestBed::Create({.name = "sigshim-keyless"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    testbed::SigstoreMockOptions mock_options;
    mock_options.dir = bed_->dir().Path("sigstore");
    auto mock = testbed::SigstoreMock::Start(mock_options);
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = mock->release();
    auto base = bed_->BuildImage("base", {"/bin/sh"}, "keyless");
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = new testbed::OciImage(*base);
    socket_ = new std::string(bed_->dir().Path("sigshim.sock"));
    config_path_ = new std::string(bed_->dir().Path("sigshim.toml"));
    ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(kRelease), 0644).ok());
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
    delete base_;
    base_ = nullptr;
    delete mock_;
    mock_ = nullptr;
    delete socket_;
    delete config_path_;
    socket_ = config_path_ = nullptr;
    delete bed_;
    bed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || mock_ == nullptr || sigshim_ == nullptr) FAIL() << "the test bed did not start";
  }

  void TearDown() override {
    if (sigshim_ != nullptr && !sigshim_->Running()) {
      ADD_FAILURE() << "sigshim " << sigshim_->ExitDescription() << "; end of its log:\n" << sigshim_->LogTail(16384);
    }
  }

  // The node's configuration: the mock's trusted root, identity "ci" = (GitHub's issuer, `subject`),
  // required for every image of the registry. No [registry] section: the plain-HTTP registry on
  // 127.0.0.1 is reached by the loopback convention alone, as containerd reaches it.
  static std::string Config(const std::string& subject) {
    return absl::StrCat(
        "[server]\nlisten = \"", *socket_, "\"\nruntime_endpoint = \"", bed_->containerd()->socket_path(),
        "\"\nstate_dir = \"", bed_->dir().Path("sigshim-state"), "\"\n[log]\nlevel = \"debug\"\n",
        "[enforcement]\nmode = \"enforce\"\nunmatched = \"deny\"\nsandbox_image = \"",
        bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest(), "\"\n[audit]\npath = \"",
        bed_->dir().Path("audit.log"), "\"\n[metrics]\nlisten = \"\"\n",
        "[[trust_roots]]\nname = \"sigstore\"\ntrusted_root = \"", mock_->trusted_root_path(), "\"\n",
        "[[identities]]\nname = \"ci\"\ntrust_root = \"sigstore\"\nissuer = \"", kIssuer, "\"\nsubject = \"", subject,
        "\"\n[[policy]]\nname = \"keyless\"\nimages = [\"", bed_->registry()->host_port(),
        "/e2e/**\"]\nrequire = [\"ci\"]\n");
  }

  // Pushes a new image as e2e/<repository>:v1 and a keyless signature of it by workflow `subject`.
  static std::string PushSigned(const std::string& repository, const std::string& subject) {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("keyless-", repository), {"/bin/echo", repository});
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, *bed_->registry(), "e2e/" + repository, "v1");
    EXPECT_TRUE(digest.ok()) << digest.status();
    if (!digest.ok()) return "";
    auto payload = verify::BuildSimpleSigningPayload(
        absl::StrCat(bed_->registry()->host_port(), "/e2e/", repository), *digest);
    EXPECT_TRUE(payload.ok()) << payload.status();
    testbed::KeylessSignOptions options;
    options.issuer = kIssuer;
    options.subject = subject;
    auto signature = mock_->Sign(*payload, options);
    EXPECT_TRUE(signature.ok()) << signature.status();
    if (!signature.ok()) return *digest;
    std::vector<test_signer::SignatureLayer> layers;
    layers.push_back(test_signer::LayerWithAnnotations(*payload, signature->annotations));
    auto artifact = test_signer::BuildSignatureArtifact(*digest, std::move(layers));
    EXPECT_TRUE(artifact.ok()) << artifact.status();
    if (artifact.ok()) {
      absl::Status pushed = PushSignatureArtifact(*bed_->registry(), "e2e/" + repository, *artifact);
      EXPECT_TRUE(pushed.ok()) << pushed;
    }
    return *digest;
  }

  static std::string Image(const std::string& repository) {
    return absl::StrCat(bed_->registry()->host_port(), "/e2e/", repository, ":v1");
  }

  static grpc::Status Pull(const std::string& image, std::string* image_ref = nullptr) {
    grpc::Status status = PullImage(*client_, image, kNamespace, nullptr, image_ref);
    std::cout << "  PullImage " << image << ": " << Describe(status).substr(0, 600) << std::endl;
    return status;
  }

  static grpc::Status Create(const PodRun& pod, const std::string& name, const std::string& image) {
    CreateContainerResponse created;
    grpc::Status status = client_->runtime().CreateContainer(
        Context().get(), ContainerRequest(pod.sandbox_id, pod.config, name, image), &created);
    std::cout << "  CreateContainer " << image << ": " << Describe(status).substr(0, 600) << std::endl;
    return status;
  }

  static inline testbed::TestBed* bed_ = nullptr;
  static inline testbed::SigstoreMock* mock_ = nullptr;
  static inline testbed::OciImage* base_ = nullptr;
  static inline std::string* socket_ = nullptr;
  static inline std::string* config_path_ = nullptr;
  static inline testbed::Subprocess* sigshim_ = nullptr;
  static inline CriClient* client_ = nullptr;
};

TEST_F(KeylessNodeTest, ImageSignedByTheApprovedWorkflowIsPulledAndRuns) {
  const std::string digest = PushSigned("release", kRelease);
  ASSERT_FALSE(digest.empty());
  std::string image_ref;
  grpc::Status pulled = Pull(Image("release"), &image_ref);
  ASSERT_TRUE(pulled.ok()) << Describe(pulled);

  PodRun pod;
  pod.config = HostNetworkPod("keyless-pod", kNamespace, bed_->dir().Path("pods/keyless-pod"));
  grpc::Status ran = RunPodSandbox(*client_, pod.config, &pod.sandbox_id);
  ASSERT_TRUE(ran.ok()) << Describe(ran);
  EXPECT_TRUE(Create(pod, "release", Image("release")).ok());

  // The audit line names the identity and the signing time the log proved.
  std::vector<nlohmann::json> lines = ReadAuditLog(bed_->dir().Path("audit.log"), nullptr);
  bool found = false;
  for (const nlohmann::json& line : lines) {
    if (line.value("method", "") != "PullImage" || line.value("digest", "") != digest) continue;
    found = true;
    EXPECT_EQ(line.value("decision", ""), "allow") << line.dump();
    EXPECT_EQ(line.value("identity", ""), "ci") << line.dump();
    EXPECT_EQ(line.value("signed_at_source", ""), "tlog") << line.dump();
    EXPECT_FALSE(line.value("signed_at", "").empty()) << line.dump();
  }
  EXPECT_TRUE(found) << "no audit line for the pull of " << digest;

  // Another workflow of the same repository is not the approved identity.
  ASSERT_FALSE(PushSigned("nightly", kOther).empty());
  grpc::Status refused = Pull(Image("nightly"));
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.error_message(), HasSubstr("SignatureValidationFailed")) << Describe(refused);
  EXPECT_THAT(refused.error_message(), HasSubstr("nightly.yml")) << Describe(refused);

  // The identity changes (only nightly is approved now): after the reload the image admitted
  // before is refused at the next CreateContainer, on its stored evidence.
  ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(kOther), 0644).ok());
  ASSERT_EQ(kill(sigshim_->pid(), SIGHUP), 0);
  grpc::Status status;
  int attempt = 0;
  EXPECT_TRUE(testbed::Eventually(
      [&] {
        status = Create(pod, absl::StrCat("after-", attempt++), Image("release"));
        return !status.ok();
      },
      absl::Seconds(30), absl::Milliseconds(200)))
      << "still allowed after the identity changed";
  EXPECT_THAT(status.error_message(), HasSubstr("SignatureValidationFailed")) << Describe(status);
  grpc::Status removed = RemovePod(*client_, pod.sandbox_id);
  EXPECT_TRUE(removed.ok()) << Describe(removed);
}

}  // namespace
}  // namespace sigshim::e2e
