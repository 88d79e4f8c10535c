// Legacy cosign ".att" attestations on a real node (issue 11): a real containerd 1.6, the test bed's
// docker-registry and the sigshim binary, every image pulled through sigshim's CRI socket and a
// container made from it.
//
// Images are signed keyless in the cosign ".sig" format and attested the way `cosign attest`
// (cosign <= v2, v3 with --new-bundle-format=false) stores attestations: an in-toto SLSA provenance
// statement DSSE-signed by sigstore-js with a mock Fulcio certificate, logged in the mock Rekor v1 as
// an intoto 0.0.2 entry, pushed as the one layer of the manifest tagged sha256-<hex>.att with
// cosign's annotations (test/sigstore/attach_att.mjs). The node requires, for att/**, a signature
// by the release workflow and SLSA provenance by it naming the release builder: an image with both
// is pulled and runs; provenance naming another builder, provenance signed by another workflow,
// or no ".att" at all is refused at the pull. `sigshim verify --output json` against the registry
// lists each artifact with its format, where it was found and why it counted. The verdict stores the
// ".att" envelope as evidence of format "cosign attestation": once the required builder changes
// and sigshim reloads, the admitted image is refused at the next CreateContainer. Needs root.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
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

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr char kNamespace[] = "e2e-att";
constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
constexpr char kRelease[] = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
constexpr char kNightly[] = "https://github.com/acme/app/.github/workflows/nightly.yml@refs/heads/main";
constexpr char kSlsaProvenance[] = "https://slsa.dev/provenance/v1";

class AttestationNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // SetUp fails every test
    auto bed = testbed::TestBed::Create({.name = "sigshim-att"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    testbed::SigstoreMockOptions mock_options;
    mock_options.dir = bed_->dir().Path("sigstore");
    auto mock = testbed::SigstoreMock::Start(mock_options);
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = mock->release();
    auto base = bed_->BuildImage("base", {"/bin/sh"}, "att");
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = new testbed::OciImage(*base);
    socket_ = new std::string(bed_->dir().Path("sigshim.sock"));
    config_path_ = new std::string(bed_->dir().Path("sigshim.toml"));
    ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(), 0644).ok());
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

  // The node's configuration: the mock's trusted root "sigstore"; identity "ci" (GitHub's issuer,
  // the release workflow); policy "att" over att/** requiring a signature by "ci" and SLSA
  // provenance by "ci" whose builder is the release workflow. The plain-HTTP registry on 127.0.0.1
  // is reached by the loopback convention alone.
  static std::string Config(const std::string& builder = kRelease) {
    const std::string registry = bed_->registry()->host_port();
    return absl::StrCat(
        "[server]\nlisten = \"", *socket_, "\"\nruntime_endpoint = \"", bed_->containerd()->socket_path(),
        "\"\nstate_dir = \"", bed_->dir().Path("sigshim-state"), "\"\n[log]\nlevel = \"debug\"\n",
        "[enforcement]\nmode = \"enforce\"\nunmatched = \"deny\"\nsandbox_image = \"",
        bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest(), "\"\n[audit]\npath = \"",
        bed_->dir().Path("audit.log"), "\"\n[metrics]\nlisten = \"\"\n",
        "[[trust_roots]]\nname = \"sigstore\"\ntrusted_root = \"", mock_->trusted_root_path(), "\"\n",
        "[[identities]]\nname = \"ci\"\ntrust_root = \"sigstore\"\nissuer = \"", kIssuer, "\"\nsubject = \"", kRelease,
        "\"\n",
        "[[policy]]\nname = \"att\"\nimages = [\"", registry, "/att/**\"]\nrequire = [\"ci\"]\n",
        "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"", kSlsaProvenance,
        "\"\nrequire = [\"ci\"]\n[policy.attestations.match]\n\"runDetails.builder.id\" = \"", builder, "\"\n");
  }

  // What to push for one image.
  struct Spec {
    bool signature = true;           // a keyless ".sig" signature by the release workflow
    std::string builder = kRelease;  // the provenance's runDetails.builder.id; "" for no ".att"
    std::string attester = kRelease;  // the workflow that signs the provenance
  };

  // Pushes a new image as <repository>:v1, its ".sig" and its ".att" as `spec` says. Returns its
  // digest ("" on failure: a test failure is added).
  static std::string Push(const std::string& repository, const Spec& spec) {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("att-", repository), {"/bin/echo", repository});
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, *bed_->registry(), repository, "v1");
    EXPECT_TRUE(digest.ok()) << digest.status();
    if (!digest.ok()) return "";
    const std::string name = absl::StrCat(bed_->registry()->host_port(), "/", repository);
    if (spec.signature) {
      auto payload = verify::BuildSimpleSigningPayload(name, *digest);
      EXPECT_TRUE(payload.ok()) << payload.status();
      if (!payload.ok()) return "";
      testbed::KeylessSignOptions options;
      options.issuer = kIssuer;
      options.subject = kRelease;
      auto signature = mock_->Sign(*payload, options);
      EXPECT_TRUE(signature.ok()) << signature.status();
      if (!signature.ok()) return "";
      std::vector<test_signer::SignatureLayer> layers;
      layers.push_back(test_signer::LayerWithAnnotations(*payload, signature->annotations));
      auto artifact = test_signer::BuildSignatureArtifact(*digest, std::move(layers));
      EXPECT_TRUE(artifact.ok()) << artifact.status();
      if (!artifact.ok()) return "";
      absl::Status pushed = PushSignatureArtifact(*bed_->registry(), repository, *artifact);
      EXPECT_TRUE(pushed.ok()) << pushed;
    }
    if (!spec.builder.empty()) {
      const std::string statement =
          nlohmann::json({{"_type", "https://in-toto.io/Statement/v1"},
                          {"subject", {{{"name", name}, {"digest", {{"sha256", digest->substr(7)}}}}}},
                          {"predicateType", kSlsaProvenance},
                          {"predicate",
                           {{"buildDefinition", {{"buildType", "https://actions.github.io/buildtypes/workflow/v1"}}},
                            {"runDetails", {{"builder", {{"id", spec.builder}}}}}}}})
              .dump();
      const std::string path = bed_->dir().Path(absl::StrCat("statements/", absl::StrReplaceAll(repository, {{"/", "-"}}),
                                                             ".json"));
      EXPECT_TRUE(MakeDirs(bed_->dir().Path("statements")).ok());
      EXPECT_TRUE(WriteFileAtomic(path, statement, 0644).ok());
      auto attached = testbed::RunCommand({mock_->node(), mock_->program_dir() + "/attach_att.mjs", "--mock",
                                           mock_->url(), "--image", name, "--digest", *digest, "--statement", path,
                                           "--issuer", kIssuer, "--subject", spec.attester},
                                          absl::Seconds(60));
      EXPECT_TRUE(attached.ok()) << attached.status();
      if (!attached.ok()) return "";
      std::cout << "  attached " << name << " .att: " << attached->stdout_text;
    }
    return *digest;
  }

  static grpc::Status Pull(const std::string& repository) {
    const std::string image = absl::StrCat(bed_->registry()->host_port(), "/", repository, ":v1");
    grpc::Status status = PullImage(*client_, image, kNamespace);
    std::cout << "  PullImage " << image << ": " << testbed::DescribeStatus(status).substr(0, 800) << std::endl;
    return status;
  }

  // Pulls `repository`:v1 through sigshim, expects a refusal and returns its message.
  static std::string PullRefused(const std::string& repository) {
    grpc::Status status = Pull(repository);
    EXPECT_FALSE(status.ok()) << "pulled";
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << testbed::DescribeStatus(status);
    EXPECT_THAT(status.error_message(), HasSubstr("SignatureValidationFailed")) << testbed::DescribeStatus(status);
    return status.error_message();
  }

  static inline testbed::TestBed* bed_ = nullptr;
  static inline testbed::SigstoreMock* mock_ = nullptr;
  static inline testbed::OciImage* base_ = nullptr;
  static inline std::string* socket_ = nullptr;
  static inline std::string* config_path_ = nullptr;
  static inline testbed::Subprocess* sigshim_ = nullptr;
  static inline CriClient* client_ = nullptr;
};

TEST_F(AttestationNodeTest, SignatureAndAttProvenanceByTheReleaseBuilderArePulledAndRun) {
  const std::string digest = Push("att/release", Spec{});
  ASSERT_FALSE(digest.empty());
  ASSERT_TRUE(Pull("att/release").ok());
  PodRun pod;
  pod.config = HostNetworkPod("att-pod", kNamespace, bed_->dir().Path("pods/att-pod"));
  grpc::Status ran = RunPodSandbox(*client_, pod.config, &pod.sandbox_id);
  ASSERT_TRUE(ran.ok()) << testbed::DescribeStatus(ran);
  const std::string image = absl::StrCat(bed_->registry()->host_port(), "/att/release:v1");
  CreateContainerResponse created;
  grpc::Status status = client_->runtime().CreateContainer(
      Context().get(), ContainerRequest(pod.sandbox_id, pod.config, "c", image), &created);
  EXPECT_TRUE(status.ok()) << testbed::DescribeStatus(status);
  if (status.ok()) {
    StartContainerRequest start;
    start.set_container_id(created.container_id());
    StartContainerResponse started;
    status = client_->runtime().StartContainer(Context().get(), start, &started);
    EXPECT_TRUE(status.ok()) << testbed::DescribeStatus(status);
    ContainerStatusResponse final_status;
    EXPECT_TRUE(status.ok() && WaitForExit(*client_, created.container_id(), &final_status));
    EXPECT_EQ(final_status.status().exit_code(), 0);
    auto log = ReadFile(absl::StrCat(pod.config.log_directory(), "/c_0.log"), 1 << 20);
    EXPECT_THAT(log.ok() ? *log : "", HasSubstr("att/release"));
  }
  EXPECT_TRUE(RemovePod(*client_, pod.sandbox_id).ok());

  nlohmann::json audit;
  for (nlohmann::json& line : ReadAuditLog(bed_->dir().Path("audit.log"), nullptr)) {
    if (line.value("method", "") == "PullImage" && line.value("digest", "") == digest) audit = std::move(line);
  }
  ASSERT_FALSE(audit.is_null()) << "no audit line for the pull of " << digest;
  std::cout << "  audit (pull): " << audit.dump() << std::endl;
  EXPECT_EQ(audit.value("decision", ""), "allow") << audit.dump();
  EXPECT_EQ(audit.value("identity", ""), "ci") << audit.dump();
  EXPECT_THAT(audit.value("reason", ""),
              HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1): signed by \"ci\""))
      << audit.dump();
}

TEST_F(AttestationNodeTest, AttProvenanceNamingAnotherBuilderIsRefusedAtPull) {
  Spec spec;
  spec.builder = kNightly;
  ASSERT_FALSE(Push("att/nightly", spec).empty());
  const std::string message = PullRefused("att/nightly");
  std::cout << "  refusal (.att provenance by another builder): " << message << std::endl;
  EXPECT_THAT(message, HasSubstr("refused by policy \"att\"")) << message;
  EXPECT_THAT(message, HasSubstr(absl::StrCat("\"runDetails.builder.id\" is \"", kNightly, "\", not \"", kRelease, "\"")))
      << message;
}

TEST_F(AttestationNodeTest, AttProvenanceSignedByAnotherWorkflowIsRefusedAtPull) {
  Spec spec;
  spec.attester = kNightly;
  ASSERT_FALSE(Push("att/other-signer", spec).empty());
  const std::string message = PullRefused("att/other-signer");
  std::cout << "  refusal (.att provenance signed by another workflow): " << message << std::endl;
  EXPECT_THAT(message, HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1) not met")) << message;
  EXPECT_THAT(message, HasSubstr("nightly.yml")) << message;
}

TEST_F(AttestationNodeTest, SignatureWithoutAttIsRefusedAtPull) {
  Spec spec;
  spec.builder = "";
  ASSERT_FALSE(Push("att/missing", spec).empty());
  const std::string message = PullRefused("att/missing");
  std::cout << "  refusal (no .att): " << message << std::endl;
  EXPECT_THAT(message, HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1) not met: no attestation "
                                 "of that type"))
      << message;
}

TEST_F(AttestationNodeTest, VerifyJsonListsEachArtifactWithItsFormatLocationAndUse) {
  const std::string digest = Push("att/listed", Spec{});
  ASSERT_FALSE(digest.empty());
  const std::string image = absl::StrCat(bed_->registry()->host_port(), "/att/listed:v1");
  CommandRun run = RunSigshimCommand(SIGSHIM_BINARY, {"verify", "--config", *config_path_, "--output", "json", image});
  std::cout << "  sigshim verify --output json: " << run.output << std::endl;
  ASSERT_EQ(run.exit_code, 0) << DescribeRun(run);
  const nlohmann::json j = nlohmann::json::parse(run.output.substr(run.output.find('{')), nullptr, false);
  ASSERT_TRUE(j.is_object()) << run.output;
  EXPECT_EQ(j.value("decision", ""), "allow");
  const std::string hex = digest.substr(7);
  ASSERT_TRUE(j["artifacts"].is_array()) << run.output;
  ASSERT_EQ(j["artifacts"].size(), 2u) << run.output;
  const nlohmann::json& sig = j["artifacts"][0];
  EXPECT_EQ(sig.value("format", ""), "cosign simple signing");
  EXPECT_EQ(sig.value("location", ""), absl::StrCat("tag sha256-", hex, ".sig layer 1"));
  EXPECT_EQ(sig.value("kind", ""), "signature");
  EXPECT_TRUE(sig.value("counted", false));
  EXPECT_THAT(sig["counted_for"].get<std::vector<std::string>>(), ElementsAre("identity \"ci\""));
  const nlohmann::json& att = j["artifacts"][1];
  EXPECT_EQ(att.value("format", ""), "cosign attestation");
  EXPECT_EQ(att.value("location", ""), absl::StrCat("tag sha256-", hex, ".att layer 1"));
  EXPECT_EQ(att.value("kind", ""), "attestation");
  EXPECT_EQ(att.value("predicate_type", ""), kSlsaProvenance);
  EXPECT_TRUE(att.value("counted", false));
  EXPECT_THAT(att["counted_for"].get<std::vector<std::string>>(),
              ElementsAre("attestation \"provenance\" (signed by \"ci\")"));
  EXPECT_TRUE(j["rejected"].empty()) << run.output;  // the attestation counted: not a rejection
  // The failed TLS handshake with the loopback registry (then reached over plain HTTP); the
  // manifest by tag; .sig, referrers API, referrers tag and .att at once; the .sig payload and the
  // .att envelope at once.
  EXPECT_EQ(j.value("registry_requests", 0), 8) << run.output;

  // And the same for a person.
  CommandRun text = RunSigshimCommand(SIGSHIM_BINARY, {"verify", "--config", *config_path_, image});
  std::cout << "  sigshim verify: " << text.output << std::endl;
  EXPECT_EQ(text.exit_code, 0) << DescribeRun(text);
  EXPECT_THAT(text.output, HasSubstr(absl::StrCat("cosign attestation (attestation ", kSlsaProvenance, ") at tag sha256-",
                                                  hex, ".att layer 1")));
}

// Runs last (it reloads the configuration, and puts it back).
TEST_F(AttestationNodeTest, StoredAttEvidenceIsReCheckedWhenTheRequiredBuilderChanges) {
  const std::string digest = Push("att/reloaded", Spec{});
  ASSERT_FALSE(digest.empty());
  ASSERT_TRUE(Pull("att/reloaded").ok());
  // The verdict keeps the envelope with its format.
  auto stored = testbed::RunCommand({"grep", "-rl", "--", "\"format\": \"cosign attestation\"",
                                     bed_->dir().Path("sigshim-state")});
  ASSERT_TRUE(stored.ok()) << stored.status();
  std::cout << "  verdicts holding a cosign attestation: " << stored->stdout_text;

  PodRun pod;
  pod.config = HostNetworkPod("att-reload", kNamespace, bed_->dir().Path("pods/att-reload"));
  ASSERT_TRUE(RunPodSandbox(*client_, pod.config, &pod.sandbox_id).ok());
  const std::string image = absl::StrCat(bed_->registry()->host_port(), "/att/reloaded:v1");
  CreateContainerResponse created;
  grpc::Status before = client_->runtime().CreateContainer(
      Context().get(), ContainerRequest(pod.sandbox_id, pod.config, "before", image), &created);
  EXPECT_TRUE(before.ok()) << testbed::DescribeStatus(before);

  // Only the nightly builder is approved now.
  ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(kNightly), 0644).ok());
  ASSERT_EQ(kill(sigshim_->pid(), SIGHUP), 0);
  grpc::Status status;
  int attempt = 0;
  EXPECT_TRUE(testbed::Eventually(
      [&] {
        status = client_->runtime().CreateContainer(
            Context().get(), ContainerRequest(pod.sandbox_id, pod.config, absl::StrCat("after-", attempt++), image),
            &created);
        return !status.ok();
      },
      absl::Seconds(30), absl::Milliseconds(200)))
      << "still allowed after the required builder changed";
  std::cout << "  refusal after the reload: " << testbed::DescribeStatus(status).substr(0, 800) << std::endl;
  EXPECT_THAT(status.error_message(), HasSubstr("SignatureValidationFailed")) << testbed::DescribeStatus(status);
  EXPECT_THAT(status.error_message(), HasSubstr(absl::StrCat("\"runDetails.builder.id\" is \"", kRelease, "\", not \"",
                                                             kNightly, "\"")))
      << testbed::DescribeStatus(status);
  EXPECT_TRUE(RemovePod(*client_, pod.sandbox_id).ok());

  ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(), 0644).ok());
  ASSERT_EQ(kill(sigshim_->pid(), SIGHUP), 0);
}

}  // namespace
}  // namespace sigshim::e2e
