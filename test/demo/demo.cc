// sigshim-demo (`make demo`): sigshim refusing unsigned images on a real containerd, in a minute,
// on one machine, with nothing left behind.
//
// In a temporary folder it starts a docker-registry and containerd 1.6 (test/testbed), builds two
// busybox images with umoci, pushes them, signs one with a freshly generated key (test/signer,
// cosign format); starts sigstore-js with a mock Fulcio and Rekor on 127.0.0.1
// (test/testbed/sigstore_mock.h, a Node.js child process; `make node-deps`), pushes two more
// images and signs them keyless (cosign format, certificate + Rekor SET), one by a release
// workflow and one by a nightly workflow; writes a config (the key, the mock's trusted_root.json,
// the certificate identity of the release workflow) and starts the sigshim binary. Then, through
// sigshim's CRI socket, as kubelet would: pulls and runs the key-signed image, shows the refusal of
// the unsigned one, moves the signed image's tag to unsigned content and shows that this pull is
// refused too; pulls and runs the release workflow's keyless image (printing the identity and the
// signing time of its audit line) and shows the refusal of the nightly workflow's; and prints the
// audit log. Everything (sigshim, the mock, containerd, the registry) is stopped and the folder
// removed at the end, also after a failure or Ctrl-C (SIGSHIM_TESTBED_KEEP=1 keeps the folder).
//
// Exit status: 0 when every expectation held, 1 when one did not, 2 when the demo could not run,
// 130 when interrupted.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pkg/base/file.h"
#include "pkg/cri/api.grpc.pb.h"
#include "pkg/verify/simple_signing.h"
#include "test/e2e/attack_images.h"
#include "test/e2e/sigshim_process.h"
#include "test/signer/signer.h"
#include "test/testbed/images.h"
#include "test/testbed/poll.h"
#include "test/testbed/sigstore_mock.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/testbed.h"

namespace sigshim::demo {
namespace {

using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr char kSignedRepository[] = "demo/hello";
constexpr char kUnsignedRepository[] = "demo/unsigned";
constexpr char kSignedOutput[] = "Hello from a signed image";
constexpr char kUnsignedOutput[] = "Hello from an UNSIGNED image";
// Keyless: both images are in this repository, which policy "keyless" covers; only the release
// workflow's identity is trusted for it.
constexpr char kKeylessRepository[] = "demo/keyless";
constexpr char kKeylessOutput[] = "Hello from an image signed by the release workflow";
constexpr char kNightlyOutput[] = "Hello from an image signed by the nightly workflow";
constexpr char kIdentity[] = "ci-release";
constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
constexpr char kSourceRepository[] = "acme/app";  // the GitHub repository that ran the workflows
constexpr char kRef[] = "refs/heads/main";
constexpr char kReleaseWorkflow[] = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
constexpr char kNightlyWorkflow[] = "https://github.com/acme/app/.github/workflows/nightly.yml@refs/heads/main";

std::atomic<bool> interrupted{false};

void OnSignal(int) { interrupted = true; }

// Installs OnSignal for SIGINT and SIGTERM without SA_RESTART, so that a blocking call returns early.
void CatchInterrupts() {
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// The demo's steps and whether each expectation held.
class Steps {
 public:
  // Prints "<n>. <text>" as one line.
  void Say(const std::string& text) {
    ++step_;
    std::cout << (step_ < 10 ? " " : "") << step_ << ". " << text << std::endl;
  }
  // Prints an indented continuation line.
  void Detail(const std::string& text) { std::cout << "      " << text << std::endl; }
  // Records a failed expectation.
  void Fail(const std::string& text) {
    failed_ = true;
    std::cout << "    FAILED: " << text << std::endl;
  }
  void Expect(bool condition, const std::string& text) {
    if (!condition) Fail(text);
  }
  bool failed() const { return failed_; }

 private:
  int step_ = 0;
  bool failed_ = false;
};

std::string Short(const std::string& digest) { return digest.substr(0, 19); }

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(60)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

std::string Describe(const grpc::Status& status) {
  return status.ok() ? "OK" : absl::StrCat("gRPC code ", status.error_code(), ": ", status.error_message());
}

// Returns the text a container wrote, from its CRI log file ("<time> stdout F <text>" lines).
std::string ContainerOutput(const std::string& log) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(' ', 3));
    out.emplace_back(fields.size() == 4 ? fields[3] : line);
  }
  return absl::StrJoin(out, " / ");
}

class Demo {
 public:
  explicit Demo(std::string sigshim_binary) : sigshim_binary_(std::move(sigshim_binary)) {}

  // Runs every step; returns the exit status.
  int Run() {
    int status = RunSteps();
    // Stop sigshim before containerd and the registry; the test bed removes the folder.
    std::string dir = bed_ == nullptr ? "" : bed_->dir().path();
    if (sigshim_ != nullptr) (void)sigshim_->Stop(absl::Seconds(15));
    sigshim_.reset();
    if (mock_ != nullptr) (void)mock_->Stop();
    mock_.reset();
    bed_.reset();
    if (!dir.empty()) {
      const char* keep = std::getenv("SIGSHIM_TESTBED_KEEP");
      steps_.Say(absl::StrCat("Stopped sigshim, the sigstore mock, containerd and the registry; ",
                              keep != nullptr && std::string(keep) == "1" ? "kept " : "removed ", dir));
    }
    if (status == 0 && steps_.failed()) status = 1;
    if (interrupted) {
      std::cout << "Interrupted." << std::endl;
      return 130;
    }
    std::cout << (status == 0 ? "Every expectation held." : "The demo FAILED (see above).") << std::endl;
    return status;
  }

 private:
  // Returns 2 when a step could not be carried out, 0 otherwise (failed expectations are in steps_).
  int RunSteps() {
    if (!StartTestBed() || interrupted) return 2;
    if (!PushImages() || interrupted) return 2;
    if (!PushKeylessImages() || interrupted) return 2;
    if (!StartSigshim() || interrupted) return 2;
    if (!PullAndRunSigned() || interrupted) return 2;
    ShowUnsignedRefused();
    if (interrupted) return 2;
    if (!MoveTagAndShowRefusal() || interrupted) return 2;
    if (!PullAndRunKeyless() || interrupted) return 2;
    ShowOtherWorkflowRefused();
    if (interrupted) return 2;
    PrintAudit();
    return 0;
  }

  bool Error(const std::string& what, const absl::Status& status) {
    std::cout << "    ERROR: " << what << ": " << status << std::endl;
    if (sigshim_ != nullptr) std::cout << "    end of sigshim's log:\n" << sigshim_->LogTail(4096) << std::endl;
    return false;
  }

  bool StartTestBed() {
    auto bed = testbed::TestBed::Create({.name = "sigshim-demo"});
    if (!bed.ok()) return Error("starting docker-registry and containerd", bed.status());
    bed_ = *std::move(bed);
    steps_.Say(absl::StrCat("Started docker-registry on ", bed_->registry()->host_port(), " and containerd 1.6 in ",
                            bed_->dir().path()));
    return true;
  }

  bool PushImages() {
    auto signed_image = bed_->BuildImage("hello", {"/bin/echo", kSignedOutput}, "signed");
    if (!signed_image.ok()) return Error("building the first image with umoci", signed_image.status());
    auto unsigned_image = bed_->BuildImage("unsigned", {"/bin/echo", kUnsignedOutput}, "unsigned");
    if (!unsigned_image.ok()) return Error("building the second image with umoci", unsigned_image.status());
    unsigned_image_ = *unsigned_image;
    signed_image_ = *signed_image;
    auto signed_digest = testbed::PushImage(*signed_image, *bed_->registry(), kSignedRepository, "1");
    if (!signed_digest.ok()) return Error("pushing the first image", signed_digest.status());
    signed_digest_ = *signed_digest;
    auto unsigned_digest = testbed::PushImage(*unsigned_image, *bed_->registry(), kUnsignedRepository, "1");
    if (!unsigned_digest.ok()) return Error("pushing the second image", unsigned_digest.status());
    unsigned_digest_ = *unsigned_digest;
    steps_.Say(absl::StrCat("Built two busybox images with umoci and pushed them: ", SignedImage(), " (",
                            Short(signed_digest_), "…) and ", UnsignedImage(), " (", Short(unsigned_digest_), "…)"));

    auto key = test_signer::GenerateSigningKey(test_signer::KeyType::kEcdsaP256);
    if (!key.ok()) return Error("generating a key", key.status());
    key_path_ = bed_->dir().Path("release.pub");
    absl::Status written = WriteFileAtomic(key_path_, key->pair.public_pem, 0644);
    if (!written.ok()) return Error("writing the public key", written);
    auto artifact = e2e::PushSignature(*bed_->registry(), kSignedRepository, *key->signer,
                                       Repository(kSignedRepository), signed_digest_);
    if (!artifact.ok()) return Error("pushing the signature", artifact.status());
    steps_.Say(absl::StrCat("Generated an ECDSA P-256 key and signed ", Repository(kSignedRepository), "@",
                            Short(signed_digest_), "… (cosign format, tag ", artifact->tag.substr(0, 19), "….sig); ",
                            UnsignedImage(), " stays unsigned"));
    return true;
  }

  // Starts the sigstore mock, pushes the two keyless images and signs them, one per workflow.
  bool PushKeylessImages() {
    testbed::SigstoreMockOptions options;
    options.dir = bed_->dir().Path("sigstore");
    auto mock = testbed::SigstoreMock::Start(options);
    if (!mock.ok()) return Error("starting sigstore-js's mock Fulcio and Rekor (make node-deps)", mock.status());
    mock_ = *std::move(mock);
    steps_.Say(absl::StrCat("Started sigstore-js (@sigstore/sign) with a mock Fulcio and Rekor on ", mock_->url(),
                            " (Node.js, pid ", mock_->pid(), "); their trusted root: ", mock_->trusted_root_path()));

    auto release = PushKeylessSigned("1", kKeylessOutput, kReleaseWorkflow);
    if (!release.ok()) return Error("pushing and signing the release workflow's image", release.status());
    keyless_digest_ = *release;
    auto nightly = PushKeylessSigned("nightly", kNightlyOutput, kNightlyWorkflow);
    if (!nightly.ok()) return Error("pushing and signing the nightly workflow's image", nightly.status());
    nightly_digest_ = *nightly;
    steps_.Say(absl::StrCat("Pushed two more images and signed them keyless (cosign format: a Fulcio certificate "
                            "for the workflow's identity, logged in Rekor): ",
                            KeylessImage(), " (", Short(keyless_digest_), "…) by ", kReleaseWorkflow, ", ",
                            NightlyImage(), " (", Short(nightly_digest_), "…) by ", kNightlyWorkflow));
    return true;
  }

  // Pushes a variant of the first image printing `output` as demo/keyless:`tag`, signs it keyless
  // as workflow `subject` of kSourceRepository on kRef, and pushes the signature. Returns the digest.
  absl::StatusOr<std::string> PushKeylessSigned(const std::string& tag, const std::string& output,
                                                const std::string& subject) {
    auto image = testbed::CmdVariant(signed_image_, absl::StrCat("keyless-", tag), {"/bin/echo", output});
    if (!image.ok()) return image.status();
    auto digest = testbed::PushImage(*image, *bed_->registry(), kKeylessRepository, tag);
    if (!digest.ok()) return digest.status();
    auto payload = verify::BuildSimpleSigningPayload(Repository(kKeylessRepository), *digest);
    if (!payload.ok()) return payload.status();
    testbed::KeylessSignOptions options;
    options.issuer = kIssuer;
    options.subject = subject;
    options.claims = {{"repository", kSourceRepository}, {"ref", kRef}};
    auto signature = mock_->Sign(*payload, options);
    if (!signature.ok()) return signature.status();
    std::vector<test_signer::SignatureLayer> layers;
    layers.push_back(test_signer::LayerWithAnnotations(*payload, signature->annotations));
    auto artifact = test_signer::BuildSignatureArtifact(*digest, std::move(layers));
    if (!artifact.ok()) return artifact.status();
    absl::Status pushed = e2e::PushSignatureArtifact(*bed_->registry(), kKeylessRepository, *artifact);
    if (!pushed.ok()) return pushed;
    return *digest;
  }

  bool StartSigshim() {
    socket_ = bed_->dir().Path("sigshim.sock");
    audit_path_ = bed_->dir().Path("audit.log");
    const std::string config_path = bed_->dir().Path("sigshim.toml");
    const std::string config = absl::StrCat(
        "[server]\n"
        "listen = \"", socket_, "\"\n"
        "runtime_endpoint = \"", bed_->containerd()->socket_path(), "\"\n"
        "state_dir = \"", bed_->dir().Path("sigshim-state"), "\"\n"
        "[enforcement]\n"
        "mode = \"enforce\"\n"
        "unmatched = \"deny\"\n"
        "sandbox_image = \"", bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest(), "\"\n"
        "[audit]\n"
        "path = \"", audit_path_, "\"\n"
        "[metrics]\n"
        "listen = \"\"\n"
        "[registry]\n"
        "insecure = [\"", bed_->registry()->host_port(), "\"]\n"
        "\n[[keys]]\nname = \"release\"\npath = \"", key_path_, "\"\n"
        "\n[[trust_roots]]\nname = \"sigstore\"\ntrusted_root = \"", mock_->trusted_root_path(), "\"\n"
        "\n[[identities]]\nname = \"", kIdentity, "\"\ntrust_root = \"sigstore\"\n"
        "issuer = \"", kIssuer, "\"\nsubject = \"", kReleaseWorkflow, "\"\n"
        "[identities.claims]\nsource_repository_uri = \"https://github.com/", kSourceRepository, "\"\n"
        "source_repository_ref = \"", kRef, "\"\n"
        "\n[[policy]]\nname = \"demo\"\nimages = [\"", bed_->registry()->host_port(), "/**\"]\n"
        "require = [\"release\"]\n"
        // More specific than "demo"'s glob, so it decides for this repository.
        "\n[[policy]]\nname = \"keyless\"\nimages = [\"", Repository(kKeylessRepository), "\"]\n"
        "require = [\"", kIdentity, "\"]\n");
    absl::Status written = WriteFileAtomic(config_path, config, 0644);
    if (!written.ok()) return Error("writing sigshim's config", written);
    auto process = e2e::StartSigshim(
        e2e::SigshimCommand(sigshim_binary_, config_path, bed_->dir().Path("sigshim.log"), bed_->dir().path()), socket_);
    if (!process.ok()) return Error(absl::StrCat("starting ", sigshim_binary_, " and waiting for its socket"), process.status());
    sigshim_ = *std::move(process);
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    runtime_ = RuntimeService::NewStub(channel_);
    images_ = ImageService::NewStub(channel_);
    steps_.Say(absl::StrCat("Started sigshim on ", socket_, ": enforce mode, policy \"demo\" (",
                            bed_->registry()->host_port(), "/** must be signed by key \"release\"), policy \"keyless\" (",
                            Repository(kKeylessRepository), " must be signed by identity \"", kIdentity,
                            "\": issuer ", kIssuer, ", subject ", kReleaseWorkflow, ", claims source_repository_uri https://github.com/",
                            kSourceRepository, " and source_repository_ref ", kRef,
                            "; trust root: the mock's trusted_root.json)"));
    return true;
  }

  grpc::Status Pull(const std::string& image, std::string* image_ref = nullptr) {
    PullImageRequest request;
    request.mutable_image()->set_image(image);
    request.mutable_sandbox_config()->mutable_metadata()->set_namespace_("demo");
    PullImageResponse response;
    grpc::Status status = images_->PullImage(Context(absl::Seconds(120)).get(), request, &response);
    if (image_ref != nullptr) *image_ref = response.image_ref();
    return status;
  }

  bool PullAndRunSigned() {
    std::string image_ref;
    grpc::Status status = Pull(SignedImage(), &image_ref);
    if (!status.ok()) {
      steps_.Say(absl::StrCat("PullImage ", SignedImage(), " → ", Describe(status)));
      steps_.Fail("the signed image was not allowed");
      return true;  // the refusals are still worth showing
    }
    steps_.Say(absl::StrCat("PullImage ", SignedImage(), " → allowed; containerd pulled it pinned to ",
                            Short(signed_digest_), "… (image id ", Short(image_ref), "…)"));
    return RunInPod("hello", SignedImage(), image_ref, kSignedOutput);
  }

  // Runs `image` (pulled as `image_ref`) in a new pod `name` through sigshim, prints what the
  // container wrote, expects `output_expected` in it and exit 0, and removes the pod. False when a step could not
  // be carried out.
  bool RunInPod(const std::string& name, const std::string& image, const std::string& image_ref,
                const std::string& output_expected) {
    PodSandboxConfig sandbox;
    sandbox.mutable_metadata()->set_name(name);
    sandbox.mutable_metadata()->set_uid(name + "-uid");
    sandbox.mutable_metadata()->set_namespace_("demo");
    sandbox.set_log_directory(bed_->dir().Path("pods/" + name));
    sandbox.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(NODE);
    absl::Status made = MakeDirs(sandbox.log_directory());
    if (!made.ok()) return Error("creating the pod's log folder", made);
    RunPodSandboxRequest run;
    *run.mutable_config() = sandbox;
    RunPodSandboxResponse pod;
    grpc::Status status = runtime_->RunPodSandbox(Context(absl::Seconds(120)).get(), run, &pod);
    if (!status.ok()) return Error("RunPodSandbox", absl::UnknownError(Describe(status)));

    CreateContainerRequest create;
    create.set_pod_sandbox_id(pod.pod_sandbox_id());
    create.mutable_config()->mutable_metadata()->set_name(name);
    create.mutable_config()->mutable_image()->set_image(image_ref);  // as kubelet does: the image id
    create.mutable_config()->mutable_image()->set_user_specified_image(image);
    create.mutable_config()->set_log_path(name + "_0.log");
    *create.mutable_sandbox_config() = sandbox;
    CreateContainerResponse created;
    status = runtime_->CreateContainer(Context().get(), create, &created);
    if (!status.ok()) {
      steps_.Fail(absl::StrCat("CreateContainer of ", image, ": ", Describe(status)));
      return StopPod(pod.pod_sandbox_id());
    }
    StartContainerRequest start;
    start.set_container_id(created.container_id());
    StartContainerResponse started;
    status = runtime_->StartContainer(Context().get(), start, &started);
    if (!status.ok()) return Error("StartContainer", absl::UnknownError(Describe(status)));
    ContainerStatusRequest request;
    request.set_container_id(created.container_id());
    ContainerStatusResponse final_status;
    bool exited = testbed::Eventually(
        [&] {
          if (interrupted) return true;
          grpc::Status s = runtime_->ContainerStatus(Context().get(), request, &final_status);
          return s.ok() && final_status.status().state() == CONTAINER_EXITED;
        },
        absl::Seconds(60), absl::Milliseconds(100));
    auto log = ReadFile(bed_->dir().Path(absl::StrCat("pods/", name, "/", name, "_0.log")), 1 << 20);
    const std::string output = log.ok() ? ContainerOutput(*log) : "";
    steps_.Say(absl::StrCat("Ran it in a pod through sigshim (RunPodSandbox, CreateContainer, StartContainer); "
                            "the container printed: ",
                            output));
    steps_.Expect(exited && final_status.status().exit_code() == 0, "the container did not exit 0");
    steps_.Expect(absl::StrContains(output, output_expected), absl::StrCat("expected \"", output_expected, "\""));
    return StopPod(pod.pod_sandbox_id());
  }

  bool StopPod(const std::string& id) {
    StopPodSandboxRequest stop;
    stop.set_pod_sandbox_id(id);
    StopPodSandboxResponse stopped;
    grpc::Status status = runtime_->StopPodSandbox(Context().get(), stop, &stopped);
    RemovePodSandboxRequest remove;
    remove.set_pod_sandbox_id(id);
    RemovePodSandboxResponse removed;
    if (status.ok()) status = runtime_->RemovePodSandbox(Context().get(), remove, &removed);
    if (!status.ok()) return Error("removing the pod", absl::UnknownError(Describe(status)));
    return true;
  }

  // Pulls `image`, which must be refused for `reason`, and prints the refusal verbatim.
  void ExpectRefusal(const std::string& image, const std::string& digest, const std::string& reason) {
    grpc::Status status = Pull(image);
    if (status.ok()) {
      steps_.Say(absl::StrCat("PullImage ", image, " → allowed"));
      steps_.Fail("it should have been refused");
      return;
    }
    steps_.Say(absl::StrCat("PullImage ", image, " → refused: ", status.error_message()));
    steps_.Expect(status.error_code() == grpc::StatusCode::UNKNOWN, "expected gRPC code UNKNOWN (2)");
    steps_.Expect(absl::StartsWith(status.error_message(), "SignatureValidationFailed: "),
                  "expected a message starting \"SignatureValidationFailed: \"");
    steps_.Expect(absl::StrContains(status.error_message(), digest), absl::StrCat("expected it to name ", digest));
    steps_.Expect(absl::StrContains(status.error_message(), reason), absl::StrCat("expected it to say \"", reason, "\""));
  }

  void ShowUnsignedRefused() { ExpectRefusal(UnsignedImage(), unsigned_digest_, "no signatures"); }

  bool MoveTagAndShowRefusal() {
    auto moved = testbed::PushImage(unsigned_image_, *bed_->registry(), kSignedRepository, "1");
    if (!moved.ok()) return Error("moving the tag", moved.status());
    steps_.Say(absl::StrCat("Moved the tag ", SignedImage(), " to the unsigned content (", Short(*moved),
                            "…), as someone with push access to the registry could"));
    ExpectRefusal(SignedImage(), *moved, "no signatures");
    // The node still has only the verified content under that name.
    ImageStatusRequest request;
    request.mutable_image()->set_image(SignedImage());
    ImageStatusResponse response;
    grpc::Status status = images_->ImageStatus(Context().get(), request, &response);
    bool pinned = status.ok() && response.has_image();
    if (pinned) {
      pinned = false;
      for (const std::string& digest_ref : response.image().repo_digests()) {
        if (absl::EndsWith(digest_ref, signed_digest_)) pinned = true;
      }
    }
    steps_.Say(absl::StrCat("ImageStatus ", SignedImage(), " → ",
                            pinned ? absl::StrCat("still the verified ", Short(signed_digest_), "…")
                                   : Describe(status)));
    steps_.Expect(pinned, "the tag on the node should still name the verified content");
    return true;
  }

  bool PullAndRunKeyless() {
    std::string image_ref;
    grpc::Status status = Pull(KeylessImage(), &image_ref);
    if (!status.ok()) {
      steps_.Say(absl::StrCat("PullImage ", KeylessImage(), " → ", Describe(status)));
      steps_.Fail("the image signed by the release workflow was not allowed");
      return true;  // the refusal of the other workflow is still worth showing
    }
    // The audit line of this pull names the identity and the signing time Rekor proved.
    nlohmann::json line;
    testbed::Eventually(
        [&] {
          for (const nlohmann::json& entry : e2e::ReadAuditLog(audit_path_, nullptr)) {
            if (entry.value("method", "") == "PullImage" && entry.value("digest", "") == keyless_digest_) line = entry;
          }
          return !line.is_null() || interrupted;
        },
        absl::Seconds(10), absl::Milliseconds(100));
    const std::string identity = line.is_object() ? line.value("identity", "") : "";
    const std::string signed_at = line.is_object() ? line.value("signed_at", "") : "";
    const std::string source = line.is_object() ? line.value("signed_at_source", "") : "";
    steps_.Say(absl::StrCat("PullImage ", KeylessImage(), " → allowed; containerd pulled it pinned to ",
                            Short(keyless_digest_), "…; the audit line says identity \"", identity,
                            "\", signed at ", signed_at.empty() ? "(none)" : signed_at, " (proven by ",
                            source.empty() ? "nothing" : source, ")"));
    steps_.Expect(!line.is_null(), "no audit line for this pull");
    steps_.Expect(identity == kIdentity, absl::StrCat("expected identity \"", kIdentity, "\""));
    steps_.Expect(!signed_at.empty() && source == "tlog", "expected a signing time proven by the Rekor log (tlog)");
    return RunInPod("keyless", KeylessImage(), image_ref, kKeylessOutput);
  }

  void ShowOtherWorkflowRefused() {
    ExpectRefusal(NightlyImage(), nightly_digest_,
                  absl::StrCat("not identity \"", kIdentity, "\": no SAN is ", kReleaseWorkflow, " (SANs: URI:",
                               kNightlyWorkflow, ")"));
  }

  void PrintAudit() {
    absl::SleepFor(absl::Milliseconds(200));  // the last line may still be on its way
    auto audit = ReadFile(audit_path_, 16 << 20);
    if (!audit.ok()) {
      steps_.Say(absl::StrCat("The audit log ", audit_path_, ": ", audit.status().ToString()));
      steps_.Fail("no audit log");
      return;
    }
    std::vector<std::string> lines = absl::StrSplit(*audit, '\n', absl::SkipEmpty());
    steps_.Say(absl::StrCat("The audit log ", audit_path_, " has ", lines.size(), " lines, one per decision:"));
    int allows = 0, denies = 0;
    for (const std::string& line : lines) {
      steps_.Detail(line);
      if (absl::StrContains(line, "\"decision\":\"allow\"")) ++allows;
      if (absl::StrContains(line, "\"decision\":\"deny\"")) ++denies;
    }
    steps_.Expect(allows >= 6, "expected both pulls, both pods and both containers allowed");
    steps_.Expect(denies >= 3, "expected the three refused pulls");
  }

  std::string Repository(const std::string& repository) const {
    return absl::StrCat(bed_->registry()->host_port(), "/", repository);
  }
  std::string SignedImage() const { return Repository(kSignedRepository) + ":1"; }
  std::string UnsignedImage() const { return Repository(kUnsignedRepository) + ":1"; }
  std::string KeylessImage() const { return Repository(kKeylessRepository) + ":1"; }
  std::string NightlyImage() const { return Repository(kKeylessRepository) + ":nightly"; }

  const std::string sigshim_binary_;
  Steps steps_;
  std::unique_ptr<testbed::TestBed> bed_;
  std::unique_ptr<testbed::SigstoreMock> mock_;
  std::unique_ptr<testbed::Subprocess> sigshim_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<RuntimeService::Stub> runtime_;
  std::unique_ptr<ImageService::Stub> images_;
  testbed::OciImage signed_image_;
  testbed::OciImage unsigned_image_;
  std::string signed_digest_;
  std::string unsigned_digest_;
  std::string keyless_digest_;
  std::string nightly_digest_;
  std::string key_path_;
  std::string socket_;
  std::string audit_path_;
};

int Main(int argc, char** argv) {
  std::string sigshim_binary;
#ifdef SIGSHIM_BINARY
  sigshim_binary = SIGSHIM_BINARY;
#endif
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--sigshim" && i + 1 < argc) {
      sigshim_binary = argv[++i];
    } else if (absl::StartsWith(arg, "--sigshim=")) {
      sigshim_binary = arg.substr(strlen("--sigshim="));
    } else {
      std::cerr << "usage: " << argv[0] << " [--sigshim PATH]   (as root)\n";
      return 2;
    }
  }
  if (sigshim_binary.empty() || access(sigshim_binary.c_str(), X_OK) != 0) {
    std::cerr << "sigshim-demo: no sigshim binary at \"" << sigshim_binary << "\" (build it: make build)\n";
    return 2;
  }
  // sigshim runs inside the temporary folder: a relative path would not find it there.
  sigshim_binary = std::filesystem::absolute(sigshim_binary).string();
  if (geteuid() != 0) {
    std::cerr << "sigshim-demo: needs root (it starts containerd): run make demo as root\n";
    return 2;
  }
  CatchInterrupts();
  std::cout << "sigshim demo: a registry, containerd and sigshim in a temporary folder, on loopback only."
            << std::endl;
  Demo demo(sigshim_binary);
  return demo.Run();
}

}  // namespace
}  // namespace sigshim::demo

int main(int argc, char** argv) { return sigshim::demo::Main(argc, argv); }
