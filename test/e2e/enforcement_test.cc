// sigshim enforces signatures on a real node: a real containerd 1.6, a real docker-registry and the
// sigshim binary, driven through its CRI socket as kubelet would. Signed images are pulled (pinned
// to the verified digest) and run; unsigned, wrongly signed, replayed and forged ones are refused
// at PullImage, on both CRI API versions; images that reached containerd some other way are
// refused at CreateContainer; verdicts survive a restart and a stopped registry, a removed key
// takes effect on SIGHUP, concurrent pulls verify once, an image verified for one namespace is
// refused in another whose policy trusts other keys (at PullImage and at CreateContainer), and
// every decision is in the audit log, without credentials. Needs root.
//
// One test bed (registry, a second registry with basic auth, containerd, sigshim) serves the whole
// suite. Tests run in declaration order; each uses its own repositories and images, removes the
// pods it made, and leaves the registry and sigshim running. The audit log checks come last, over
// the decisions the earlier tests caused.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "pkg/containerd/image_store_grpc.h"
#include "pkg/verdicts/verdict_store.h"
#include "test/e2e/attack_images.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/signer/signer.h"
#include "test/testbed/poll.h"
#include "test/testbed/tcp_gate.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr absl::Duration kPollInterval = absl::Milliseconds(100);
constexpr char kNamespace[] = "e2e-enf";
constexpr char kAuthUser[] = "enf-user";
constexpr char kV1alpha2Pull[] = "/runtime.v1alpha2.ImageService/PullImage";
constexpr char kV1alpha2Create[] = "/runtime.v1alpha2.RuntimeService/CreateContainer";

template <typename F>
bool Eventually(F done, absl::Duration timeout = absl::Seconds(60)) {
  return testbed::Eventually(done, timeout, kPollInterval);
}

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

// Returns how many times `needle` occurs in `text`.
int CountOccurrences(absl::string_view text, absl::string_view needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != absl::string_view::npos; at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// Expects the refusal the contract promises: gRPC UNKNOWN, a message starting with `prefix` and
// naming every one of `parts`.
// Prints the answer, so that the test log lists every refusal as a person sees it.
void ExpectRefused(const grpc::Status& status, const std::string& prefix, const std::vector<std::string>& parts) {
  std::cout << "  answer: " << Describe(status) << std::endl;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << Describe(status);
  EXPECT_THAT(status.error_message(), StartsWith(prefix));
  for (const std::string& part : parts) EXPECT_THAT(status.error_message(), HasSubstr(part));
}

// One sigshim process and the files that configure it.
struct Sigshim {
  std::string socket;
  std::string config_path;
  std::string audit_path;
  std::string log_path;
  std::string state_dir;
  std::unique_ptr<testbed::Subprocess> process;
  std::unique_ptr<CriClient> client;
};

class EnforcementTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // SetUp fails every test
    auto bed = testbed::TestBed::Create({.name = "sigshim-enf"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    auto registry = StartAuthRegistry(*bed_, kAuthUser, AuthPassword());
    ASSERT_TRUE(registry.ok()) << registry.status();
    auth_registry_ = registry->release();

    for (auto [key, name, type] : {std::tuple{&release_, "release", test_signer::KeyType::kEcdsaP256},
                                   std::tuple{&team_, "team", test_signer::KeyType::kEd25519},
                                   std::tuple{&attacker_, "attacker", test_signer::KeyType::kEcdsaP256}}) {
      ASSERT_TRUE(MakeDirs(bed_->dir().Path("keys")).ok());
      auto generated = GenerateKey(name, type, bed_->dir().Path(absl::StrCat("keys/", name, ".pub")));
      ASSERT_TRUE(generated.ok()) << generated.status();
      *key = generated->release();
    }

    auto base = bed_->BuildImage("base", {"/bin/sh"}, "enforcement");
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = new testbed::OciImage(*base);
    direct_ = new CriClient(bed_->containerd()->socket_path());

    main_ = new Sigshim;
    main_->socket = bed_->dir().Path("sigshim.sock");
    main_->config_path = bed_->dir().Path("sigshim.toml");
    main_->audit_path = bed_->dir().Path("audit.log");
    main_->log_path = bed_->dir().Path("sigshim.log");
    main_->state_dir = bed_->dir().Path("sigshim-state");
    ASSERT_TRUE(WriteFileAtomic(main_->config_path, MainConfig(/*with_team=*/true), 0644).ok());
    ASSERT_NO_FATAL_FAILURE(Start(*main_));
  }

  static void TearDownTestSuite() {
    if (main_ != nullptr) {
      if (main_->process != nullptr) {
        absl::Status stopped = main_->process->Stop(absl::Seconds(15));
        EXPECT_TRUE(stopped.ok()) << stopped;
      }
      delete main_;
      main_ = nullptr;
    }
    delete direct_;
    direct_ = nullptr;
    for (Key** key : {&release_, &team_, &attacker_}) {
      delete *key;
      *key = nullptr;
    }
    delete base_;
    base_ = nullptr;
    delete auth_registry_;
    auth_registry_ = nullptr;
    delete bed_;
    bed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || main_ == nullptr || main_->client == nullptr) FAIL() << "the test bed did not start";
    if (!bed_->registry()->running()) {
      ASSERT_TRUE(bed_->registry()->Start().ok());
    }
  }

  void TearDown() override {
    for (const std::string& id : pods_) RemovePod(id);
    pods_.clear();
    if (main_ != nullptr && main_->process != nullptr && !main_->process->Running()) {
      ADD_FAILURE() << "sigshim " << main_->process->ExitDescription() << " during this test; end of its log:\n"
                    << main_->process->LogTail(16384);
      main_->process.reset();
      main_->client.reset();
      Start(*main_);  // a fresh one, so that one crash fails one test
    }
  }

  static std::string AuthPassword() { return absl::StrCat("enf-Pa55word-", getpid()); }

  // The config of the main sigshim: enforce, unmatched deny, the sandbox image pinned by digest,
  // keys release and team (team optional) trusted for the plain registry, release for the
  // private one.
  static std::string MainConfig(bool with_team, const std::string& mode = "enforce",
                                const std::string& team_window = "") {
    return ConfigText(main_->socket, main_->state_dir, main_->audit_path, with_team, mode, SandboxImage(),
                      team_window);
  }

  // Returns the test bed's hand-imported sandbox image, pinned by its manifest digest.
  static std::string SandboxImage() {
    return absl::StrCat(bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest());
  }

  static std::string ConfigText(const std::string& socket, const std::string& state_dir, const std::string& audit,
                                bool with_team, const std::string& mode, const std::string& sandbox_image,
                                const std::string& team_window = "") {
    EnforcingConfig config;
    config.socket = socket;
    config.runtime_endpoint = bed_->containerd()->socket_path();
    config.state_dir = state_dir;
    config.audit_path = audit;
    config.mode = mode;
    config.sandbox_image = sandbox_image;
    config.registry = bed_->registry()->host_port();
    config.auth_registry = auth_registry_->host_port();
    config.release_key_path = release_->public_path;
    if (with_team) config.team_key_path = team_->public_path;
    config.team_key_window = team_window;
    return EnforcingConfigToml(config);
  }

  // Starts `shim`'s process with its config and waits for its socket.
  static void Start(Sigshim& shim) {
    auto process =
        StartSigshim(SigshimCommand(SIGSHIM_BINARY, shim.config_path, shim.log_path, bed_->dir().path()), shim.socket);
    ASSERT_TRUE(process.ok()) << process.status();
    shim.process = *std::move(process);
    if (shim.client == nullptr) shim.client = std::make_unique<CriClient>(shim.socket);
  }

  // Sends SIGHUP to the main sigshim.
  static void Reload() { ASSERT_EQ(kill(main_->process->pid(), SIGHUP), 0); }

  static std::string Log(const Sigshim& shim) { return testbed::FileTail(shim.log_path, 8 << 20); }

  static CriClient& proxy() { return *main_->client; }

  // Returns "127.0.0.1:<port>/<repository>" on the plain registry.
  static std::string Repo(const std::string& repository) {
    return absl::StrCat(bed_->registry()->host_port(), "/", repository);
  }

  // Makes a distinct image (its own manifest digest) that prints `output`, pushes it as
  // repository:tag and returns its digest.
  static std::string PushNew(const std::string& repository, const std::string& tag, const std::string& output,
                             const testbed::Registry* registry = nullptr) {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("v", ++images_made_), {"/bin/echo", output});
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, registry == nullptr ? *bed_->registry() : *registry, repository, tag);
    EXPECT_TRUE(digest.ok()) << digest.status();
    EXPECT_EQ(digest.ok() ? *digest : "", image->manifest_digest);
    return digest.ok() ? *digest : "";
  }

  // As PushNew, and signs it for its own repository with `key`.
  static std::string PushSigned(const std::string& repository, const std::string& tag, const std::string& output,
                                const Key& key, const testbed::Registry* registry = nullptr) {
    const testbed::Registry& target = registry == nullptr ? *bed_->registry() : *registry;
    std::string digest = PushNew(repository, tag, output, &target);
    auto signed_artifact =
        PushSignature(target, repository, *key.signer, absl::StrCat(target.host_port(), "/", repository), digest);
    EXPECT_TRUE(signed_artifact.ok()) << signed_artifact.status();
    return digest;
  }

  static grpc::Status Pull(CriClient& client, const std::string& image, std::string* image_ref = nullptr,
                           const AuthConfig* auth = nullptr) {
    return PullImage(client, image, kNamespace, auth, image_ref);
  }

  static grpc::Status PullV1alpha2(CriClient& client, const std::string& image) {
    PullImageRequest request;  // the same fields on the wire
    request.mutable_image()->set_image(image);
    PullImageResponse response;
    return client.Call(kV1alpha2Pull, request, &response, absl::Seconds(120));
  }

  // Returns whether containerd holds an image whose manifest is `digest` (asked directly).
  static bool ContainerdHas(const std::string& repository_at_digest) {
    ImageStatusRequest request;
    request.mutable_image()->set_image(repository_at_digest);
    ImageStatusResponse response;
    grpc::Status status = direct_->images().ImageStatus(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return response.has_image();
  }

  // Returns how many GET and HEAD requests containerd made for `path` on the plain registry.
  static int ContainerdRequests(const std::string& path) {
    absl::SleepFor(absl::Milliseconds(200));  // the registry logs a request after answering it
    return bed_->registry()->CountRequests("GET", path, "containerd/") +
           bed_->registry()->CountRequests("HEAD", path, "containerd/");
  }

  static Image ImageStatusOf(CriClient& client, const std::string& image) {
    ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    ImageStatusResponse response;
    grpc::Status status = client.images().ImageStatus(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << Describe(status);
    return response.image();
  }

  // Checks that pulling `image` is refused on both API versions with the same answer, naming the
  // image, its digest and `reason`, and that containerd did not get the content.
  void ExpectPullRefused(const std::string& image, const std::string& digest, const std::string& reason) {
    SCOPED_TRACE(image);
    grpc::Status v1 = Pull(proxy(), image);
    ExpectRefused(v1, "SignatureValidationFailed: ", {image, digest, reason});
    grpc::Status v1alpha2 = PullV1alpha2(proxy(), image);
    ExpectRefused(v1alpha2, "SignatureValidationFailed: ", {image, digest, reason});
    const std::string repository = image.substr(0, image.rfind(':'));
    EXPECT_FALSE(ContainerdHas(absl::StrCat(repository, "@", digest))) << "the refused content reached containerd";
  }

  // Starts a pod (host network, the test bed's sandbox image) through `client`; TearDown removes it.
  void RunPod(CriClient& client, const std::string& name, PodRun* run) {
    run->config = HostNetworkPod(name, kNamespace, bed_->dir().Path(absl::StrCat("pods/", name)));
    grpc::Status status = RunPodSandbox(client, run->config, &run->sandbox_id);
    ASSERT_TRUE(status.ok()) << Describe(status);
    pods_.push_back(run->sandbox_id);
  }

  static CreateContainerRequest CreateRequest(const PodRun& pod, const std::string& name, const std::string& image,
                                              const std::string& user_specified_image = "") {
    CreateContainerRequest request = ContainerRequest(pod.sandbox_id, pod.config, name, image);
    if (!user_specified_image.empty()) {
      request.mutable_config()->mutable_image()->set_user_specified_image(user_specified_image);
    }
    return request;
  }

  static grpc::Status CreateContainer(CriClient& client, const PodRun& pod, const std::string& name,
                                      const std::string& image, std::string* container_id = nullptr,
                                      const std::string& user_specified_image = "") {
    CreateContainerResponse response;
    grpc::Status status = client.runtime().CreateContainer(
        Context().get(), CreateRequest(pod, name, image, user_specified_image), &response);
    if (container_id != nullptr) *container_id = response.container_id();
    return status;
  }

  // Starts `container_id` (directly: StartContainer is not checked) and returns its log once it
  // exited 0.
  static std::string StartAndCollect(const PodRun& pod, const std::string& container_id, const std::string& name) {
    StartContainerRequest start;
    start.set_container_id(container_id);
    StartContainerResponse started;
    grpc::Status status = proxy().runtime().StartContainer(Context().get(), start, &started);
    EXPECT_TRUE(status.ok()) << "StartContainer: " << Describe(status);
    if (!status.ok()) return "";
    ContainerStatusResponse final_status;
    bool exited = WaitForExit(*direct_, container_id, &final_status);
    EXPECT_TRUE(exited) << "container " << container_id << " never exited";
    EXPECT_EQ(final_status.status().exit_code(), 0);
    auto log = ReadFile(absl::StrCat(pod.config.log_directory(), "/", name, "_0.log"), 1 << 20);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *log : "";
  }

  // Creates and runs container `name` with `image` in `pod` through sigshim; returns its log.
  static std::string RunContainer(const PodRun& pod, const std::string& name, const std::string& image) {
    std::string id;
    grpc::Status status = CreateContainer(proxy(), pod, name, image, &id);
    EXPECT_TRUE(status.ok()) << "CreateContainer " << image << ": " << Describe(status);
    if (!status.ok()) return "";
    return StartAndCollect(pod, id, name);
  }

  static void RemovePod(const std::string& sandbox_id) {
    grpc::Status status = e2e::RemovePod(*direct_, sandbox_id);
    EXPECT_TRUE(status.ok()) << Describe(status);
  }

  // Returns the audit log of `shim`, one parsed object per line; a line that is not a JSON object
  // fails the test.
  static std::vector<nlohmann::json> AuditLines(const Sigshim& shim) {
    std::vector<std::string> malformed;
    std::vector<nlohmann::json> out = ReadAuditLog(shim.audit_path, &malformed);
    for (const std::string& line : malformed) ADD_FAILURE() << "not a JSON object: " << line;
    return out;
  }

  // Returns the audit lines of `shim` for (`method`, `image`) with `decision`.
  static std::vector<nlohmann::json> AuditFor(const Sigshim& shim, const std::string& method, const std::string& image,
                                              const std::string& decision) {
    std::vector<nlohmann::json> out;
    for (nlohmann::json& line : AuditLines(shim)) {
      if (line.value("method", "") == method && line.value("image", "") == image &&
          line.value("decision", "") == decision) {
        out.push_back(std::move(line));
      }
    }
    return out;
  }

  static std::string AuditText(const std::vector<nlohmann::json>& lines) {
    std::string out;
    for (const nlohmann::json& line : lines) absl::StrAppend(&out, line.dump(), "\n");
    return out;
  }

  static testbed::TestBed* bed_;
  static testbed::Registry* auth_registry_;  // basic auth: kAuthUser / AuthPassword()
  static Key* release_;
  static Key* team_;
  static Key* attacker_;
  static testbed::OciImage* base_;
  static int images_made_;
  static CriClient* direct_;
  static Sigshim* main_;
  std::vector<std::string> pods_;
};

testbed::TestBed* EnforcementTest::bed_ = nullptr;
testbed::Registry* EnforcementTest::auth_registry_ = nullptr;
Key* EnforcementTest::release_ = nullptr;
Key* EnforcementTest::team_ = nullptr;
Key* EnforcementTest::attacker_ = nullptr;
testbed::OciImage* EnforcementTest::base_ = nullptr;
int EnforcementTest::images_made_ = 0;
CriClient* EnforcementTest::direct_ = nullptr;
Sigshim* EnforcementTest::main_ = nullptr;

TEST_F(EnforcementTest, SignedImageIsPulledByItsDigestAndRuns) {
  const std::string image = Repo("e2e/signed:v1");
  const std::string digest = PushSigned("e2e/signed", "v1", "hello from a signed image", *release_);
  std::string image_ref;
  grpc::Status status = Pull(proxy(), image, &image_ref);
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_THAT(image_ref, StartsWith("sha256:"));
  // Pinned: containerd fetched the manifest by the verified digest and never asked for the tag.
  EXPECT_EQ(ContainerdRequests("/v2/e2e/signed/manifests/v1"), 0);
  EXPECT_GE(ContainerdRequests("/v2/e2e/signed/manifests/" + digest), 1);
  // kubelet's ImageStatus by the tag it asked for finds exactly the verified image.
  Image by_tag = ImageStatusOf(proxy(), image);
  EXPECT_EQ(by_tag.id(), image_ref);
  EXPECT_THAT(by_tag.repo_tags(), Contains(image));
  EXPECT_THAT(by_tag.repo_digests(), Contains(Repo("e2e/signed@") + digest));

  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "signed", &pod));
  // As kubelet does: the image id from the pull, and the name the user wrote.
  std::string id;
  status = CreateContainer(proxy(), pod, "main", image_ref, &id, image);
  ASSERT_TRUE(status.ok()) << "CreateContainer: " << Describe(status);
  EXPECT_THAT(StartAndCollect(pod, id, "main"), HasSubstr("hello from a signed image"));
  // And by the tag.
  EXPECT_THAT(RunContainer(pod, "by-tag", image), HasSubstr("hello from a signed image"));
}

TEST_F(EnforcementTest, UnsignedImageIsRefusedAtPull) {
  const std::string digest = PushNew("e2e/unsigned", "v1", "unsigned");
  ExpectPullRefused(Repo("e2e/unsigned:v1"), digest, "no signatures");
  // By digest too.
  const std::string by_digest = Repo("e2e/unsigned@") + digest;
  ExpectRefused(Pull(proxy(), by_digest), "SignatureValidationFailed: ", {Repo("e2e/unsigned"), digest, "no signatures"});
  EXPECT_FALSE(ContainerdHas(by_digest));
}

TEST_F(EnforcementTest, ImageThatNoPolicyCoversIsRefusedAtPull) {
  // unmatched = "deny": refused before any registry is asked (nothing listens on port 1).
  const std::string image = "localhost:1/elsewhere/app:v1";
  ExpectRefused(Pull(proxy(), image), "SignatureValidationFailed: ", {image});
  ExpectRefused(PullV1alpha2(proxy(), image), "SignatureValidationFailed: ", {image});
}

TEST_F(EnforcementTest, ImageSignedByAnUnknownKeyIsRefusedAtPull) {
  const std::string digest = PushSigned("e2e/wrong-key", "v1", "wrong key", *attacker_);
  ExpectPullRefused(Repo("e2e/wrong-key:v1"), digest, "signed by an unknown key");
}

TEST_F(EnforcementTest, SignatureReplayedFromAnotherImageIsRefusedAtPull) {
  // A (signed) and B in one repository; A's valid signature copied to B's .sig tag.
  const std::string digest_a = PushNew("e2e/replay", "a", "replay a");
  const std::string digest_b = PushNew("e2e/replay", "b", "replay b");
  auto artifact_a = PushSignature(*bed_->registry(), "e2e/replay", *release_->signer, Repo("e2e/replay"), digest_a);
  ASSERT_TRUE(artifact_a.ok()) << artifact_a.status();
  absl::Status replayed = PushReplayedSignature(*bed_->registry(), "e2e/replay", *artifact_a, digest_b);
  ASSERT_TRUE(replayed.ok()) << replayed;
  ExpectPullRefused(Repo("e2e/replay:b"), digest_b, absl::StrCat("payload is for ", digest_a));
}

TEST_F(EnforcementTest, PayloadWithAForgedDigestIsRefusedAtPull) {
  // A's signed payload edited to name B, the signature kept, pushed as B's signature.
  const std::string digest_a = PushNew("e2e/forged-digest", "a", "forged digest a");
  const std::string digest_b = PushNew("e2e/forged-digest", "b", "forged digest b");
  absl::Status forged = PushForgedDigestSignature(*bed_->registry(), "e2e/forged-digest", *release_->signer,
                                                  Repo("e2e/forged-digest"), digest_a, digest_b);
  ASSERT_TRUE(forged.ok()) << forged;
  ExpectPullRefused(Repo("e2e/forged-digest:b"), digest_b, "signed by an unknown key");
}

TEST_F(EnforcementTest, PayloadWithAForgedReferenceIsRefusedAtPull) {
  // Signed for e2e/forged-ref-other, the payload's docker-reference edited to this repository.
  const std::string digest = PushNew("e2e/forged-ref", "v1", "forged reference");
  absl::Status forged = PushForgedReferenceSignature(*bed_->registry(), "e2e/forged-ref", *release_->signer,
                                                     Repo("e2e/forged-ref-other"), Repo("e2e/forged-ref"), digest);
  ASSERT_TRUE(forged.ok()) << forged;
  ExpectPullRefused(Repo("e2e/forged-ref:v1"), digest, "signed by an unknown key");
}

TEST_F(EnforcementTest, SignatureForAnotherRepositoryIsRefusedAtPull) {
  const std::string digest = PushNew("e2e/elsewhere", "v1", "elsewhere");
  auto artifact =
      PushSignature(*bed_->registry(), "e2e/elsewhere", *release_->signer, Repo("e2e/somewhere-else"), digest);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  ExpectPullRefused(Repo("e2e/elsewhere:v1"), digest, "reference mismatch");
}

TEST_F(EnforcementTest, UnsignedImageImportedIntoContainerdIsRefusedAtCreateContainer) {
  // Never in any registry: `ctr images import` put it on the node.
  auto image = testbed::CmdVariant(*base_, "imported", {"/bin/echo", "imported"});
  ASSERT_TRUE(image.ok()) << image.status();
  const std::string name = Repo("e2e/imported:v1");
  auto digest = testbed::ImportImage(*image, *bed_->containerd(), name, bed_->dir().Path("images/scratch"));
  ASSERT_TRUE(digest.ok()) << digest.status();
  const std::string image_id = ImageStatusOf(*direct_, name).id();
  ASSERT_FALSE(image_id.empty());

  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "imported", &pod));
  ExpectRefused(CreateContainer(proxy(), pod, "main", name), "SignatureValidationFailed: ", {name, *digest});
  {
    SCOPED_TRACE("by image id, as kubelet asks");
    ExpectRefused(CreateContainer(proxy(), pod, "by-id", image_id, nullptr, name), "SignatureValidationFailed: ",
                  {*digest});
  }
  {
    SCOPED_TRACE("runtime.v1alpha2");
    CreateContainerResponse response;
    ExpectRefused(proxy().Call(kV1alpha2Create, CreateRequest(pod, "v1alpha2", name), &response),
                  "SignatureValidationFailed: ", {name, *digest});
  }
  // Nothing was created.
  ListContainersRequest list;
  list.mutable_filter()->set_pod_sandbox_id(pod.sandbox_id);
  ListContainersResponse containers;
  ASSERT_TRUE(direct_->runtime().ListContainers(Context().get(), list, &containers).ok());
  EXPECT_EQ(containers.containers_size(), 0) << containers.DebugString();
}

TEST_F(EnforcementTest, UnsignedImageGivenTheNameOfAVerifiedDigestIsRefusedAtCreateContainer) {
  // S is signed and verified on this node.
  const std::string signed_image = Repo("e2e/lookalike:signed");
  const std::string signed_digest = PushSigned("e2e/lookalike", "signed", "verified lookalike", *release_);
  ASSERT_TRUE(Pull(proxy(), signed_image).ok());
  // U, unsigned, imported by hand; then the name "<S's repository>@<S's digest>" is pointed at U's
  // manifest (containerd keeps image names as written: a digest in a name is not checked).
  auto image = testbed::CmdVariant(*base_, "lookalike", {"/bin/echo", "UNSIGNED LOOKALIKE"});
  ASSERT_TRUE(image.ok()) << image.status();
  const std::string name = Repo("e2e/lookalike-unsigned:v1");
  auto digest = testbed::ImportImage(*image, *bed_->containerd(), name, bed_->dir().Path("images/scratch"));
  ASSERT_TRUE(digest.ok()) << digest.status();
  const std::string forged_name = Repo("e2e/lookalike@") + signed_digest;
  // The verified tag is moved on the node too.
  auto tagged = bed_->containerd()->Ctr({"images", "tag", "--force", name, forged_name, signed_image});
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  const Image status = ImageStatusOf(*direct_, name);
  ASSERT_THAT(status.repo_digests(), Contains(forged_name)) << status.DebugString();
  ASSERT_THAT(status.repo_tags(), Contains(signed_image)) << status.DebugString();

  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "lookalike", &pod));
  for (const auto& [container, image_name] : std::vector<std::pair<std::string, std::string>>{
           {"by-tag", name}, {"by-id", status.id()}, {"by-forged-name", forged_name}, {"by-moved-tag", signed_image}}) {
    SCOPED_TRACE(container);
    std::string id;
    grpc::Status created = CreateContainer(proxy(), pod, container, image_name, &id, name);
    ExpectRefused(created, "SignatureValidationFailed: ", {*digest});
    if (created.ok()) {
      EXPECT_THAT(StartAndCollect(pod, id, container), Not(HasSubstr("UNSIGNED LOOKALIKE")))
          << "unsigned content ran";
    }
  }
}

TEST_F(EnforcementTest, TagRepointedAtAVerifiedManifestWhileTheRuntimeListsItForAnotherImageAdmitsNothing) {
  // S is signed and verified on this node (pulled by digest: its tag is not made).
  const std::string repository = Repo("e2e/repointed");
  const std::string tag = repository + ":v1";
  const std::string signed_digest = PushSigned("e2e/repointed", "v1", "SIGNED REPOINTED", *release_);
  const std::string signed_by_digest = absl::StrCat(repository, "@", signed_digest);
  ASSERT_TRUE(Pull(proxy(), signed_by_digest).ok());
  const std::string signed_id = ImageStatusOf(*direct_, signed_by_digest).id();
  ASSERT_FALSE(signed_id.empty());
  // U, unsigned, imported by hand under the tag.
  auto image = testbed::CmdVariant(*base_, "repointed", {"/bin/echo", "UNSIGNED REPOINTED"});
  ASSERT_TRUE(image.ok()) << image.status();
  auto unsigned_digest = testbed::ImportImage(*image, *bed_->containerd(), tag, bed_->dir().Path("images/scratch"));
  ASSERT_TRUE(unsigned_digest.ok()) << unsigned_digest.status();
  const std::string unsigned_id = ImageStatusOf(*direct_, tag).id();
  ASSERT_FALSE(unsigned_id.empty());
  // The tag record is re-pointed at S, as a verified pull of the tag does, while the runtime's CRI
  // view still lists the tag for U. Normally that view catches up within milliseconds; without
  // S's config blob containerd's CRI plugin cannot load S, so it keeps the old view for good and
  // the window in which sigshim decides stays open.
  ASSERT_TRUE(bed_->containerd()->Ctr({"content", "rm", signed_id}).ok());
  // An update in place, as sigshim's own tag step makes it (`ctr images tag --force` deletes and
  // re-creates the record, and the delete clears the CRI view).
  auto records = containerd::GrpcImageStore::Create(
      grpc::CreateChannel(absl::StrCat("unix:", bed_->containerd()->socket_path()), grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(records.ok()) << records.status();
  auto signed_record = (*records)->Get(signed_by_digest);
  ASSERT_TRUE(signed_record.ok()) << signed_record.status();
  auto unsigned_record = (*records)->Get(tag);
  ASSERT_TRUE(unsigned_record.ok()) << unsigned_record.status();
  containerd::Image repointed = *unsigned_record;
  repointed.target = signed_record->target;
  auto updated = (*records)->Update(repointed);
  ASSERT_TRUE(updated.ok()) << updated.status();
  absl::SleepFor(absl::Milliseconds(500));  // the CRI plugin has seen the update event (and failed it)
  const Image listed = ImageStatusOf(*direct_, unsigned_id);
  ASSERT_THAT(listed.repo_tags(), Contains(tag)) << "containerd's CRI view caught up: the race cannot be set up\n"
                                                  << listed.DebugString();

  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "repointed", &pod));
  for (int attempt = 0; attempt < 3; ++attempt) {  // nothing is cached for U's id on the way
    SCOPED_TRACE(absl::StrCat("attempt ", attempt));
    std::string id;
    grpc::Status created =
        CreateContainer(proxy(), pod, absl::StrCat("repointed-", attempt), unsigned_id, &id, tag);
    ExpectRefused(created, "SignatureValidationFailed: ", {unsigned_id});
    if (created.ok()) {
      EXPECT_THAT(StartAndCollect(pod, id, absl::StrCat("repointed-", attempt)), Not(HasSubstr("UNSIGNED REPOINTED")))
          << "unsigned content ran";
    }
  }
  EXPECT_THAT(Log(*main_), HasSubstr(absl::StrCat("which is not image ", unsigned_id)));
}

TEST_F(EnforcementTest, UnsignedInitContainerInAPodOfSignedImagesIsRefused) {
  const std::string signed_image = Repo("e2e/pod-main:v1");
  PushSigned("e2e/pod-main", "v1", "main container", *release_);
  ASSERT_TRUE(Pull(proxy(), signed_image).ok());
  // The unsigned image reached the node around sigshim (pulled straight from containerd).
  const std::string unsigned_image = Repo("e2e/pod-init:v1");
  const std::string unsigned_digest = PushNew("e2e/pod-init", "v1", "init container");
  ASSERT_TRUE(Pull(*direct_, unsigned_image).ok());

  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "init", &pod));
  ExpectRefused(CreateContainer(proxy(), pod, "init", unsigned_image), "SignatureValidationFailed: ",
                {unsigned_image, unsigned_digest, "no signatures"});
  EXPECT_THAT(RunContainer(pod, "main", signed_image), HasSubstr("main container"));
}

TEST_F(EnforcementTest, TagMovedToUnsignedContentIsRefusedAndTheVerifiedContentStillRuns) {
  const std::string image = Repo("e2e/moving:v1");
  const std::string signed_digest = PushSigned("e2e/moving", "v1", "verified content", *release_);
  std::string image_ref;
  ASSERT_TRUE(Pull(proxy(), image, &image_ref).ok());
  // The tag now names unsigned content.
  const std::string moved_digest = PushNew("e2e/moving", "v1", "UNSIGNED CONTENT");
  ASSERT_NE(moved_digest, signed_digest);

  ExpectPullRefused(image, moved_digest, "no signatures");
  // The tag still resolves to the verified image on the node, and that is what runs.
  EXPECT_EQ(ImageStatusOf(proxy(), image).id(), image_ref);
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "moving", &pod));
  std::string log = RunContainer(pod, "main", image);
  EXPECT_THAT(log, HasSubstr("verified content"));
  EXPECT_THAT(log, Not(HasSubstr("UNSIGNED CONTENT")));
  EXPECT_FALSE(ContainerdHas(Repo("e2e/moving@") + moved_digest));
}

TEST_F(EnforcementTest, WithTheRegistryDownVerifiedImagesStartAndNewImagesAreRefused) {
  const std::string verified = Repo("e2e/down-verified:v1");
  PushSigned("e2e/down-verified", "v1", "verified before the outage", *release_);
  ASSERT_TRUE(Pull(proxy(), verified).ok());
  const std::string fresh = Repo("e2e/down-new:v1");
  PushSigned("e2e/down-new", "v1", "never verified", *release_);

  ASSERT_TRUE(bed_->registry()->Stop().ok());
  grpc::Status status = Pull(proxy(), fresh);
  ExpectRefused(status, "RegistryUnavailable: ", {fresh});
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "down", &pod));
  EXPECT_THAT(RunContainer(pod, "main", verified), HasSubstr("verified before the outage"));
  ASSERT_TRUE(bed_->registry()->Start().ok());
}

TEST_F(EnforcementTest, RemovedImageLosesItsVerdict) {
  const std::string image = Repo("e2e/removed:v1");
  PushSigned("e2e/removed", "v1", "removed", *release_);
  std::string image_id;
  ASSERT_TRUE(Pull(proxy(), image, &image_id).ok());
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "removed", &pod));
  // Admitted once by id, as kubelet asks (sigshim may remember ids it admitted).
  std::string id;
  grpc::Status status = CreateContainer(proxy(), pod, "before", image_id, &id, image);
  ASSERT_TRUE(status.ok()) << Describe(status);
  RemoveContainerRequest remove_container;
  remove_container.set_container_id(id);
  RemoveContainerResponse container_removed;
  ASSERT_TRUE(direct_->runtime().RemoveContainer(Context().get(), remove_container, &container_removed).ok());

  RemoveImageRequest remove;
  remove.mutable_image()->set_image(image);
  RemoveImageResponse removed;
  status = proxy().images().RemoveImage(Context().get(), remove, &removed);
  ASSERT_TRUE(status.ok()) << Describe(status);
  // The same content back on the node around sigshim, while no registry can vouch for it.
  std::string again_id;
  ASSERT_TRUE(Pull(*direct_, image, &again_id).ok());
  ASSERT_EQ(again_id, image_id);
  ASSERT_TRUE(bed_->registry()->Stop().ok());
  for (const std::string& name : {image, image_id}) {
    SCOPED_TRACE(name);
    status = CreateContainer(proxy(), pod, absl::StrCat("after-", name == image ? "tag" : "id"), name);
    EXPECT_FALSE(status.ok()) << "a removed image kept its verdict";
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << Describe(status);
  }
  ASSERT_TRUE(bed_->registry()->Start().ok());
}

TEST_F(EnforcementTest, RemovedKeyRefusesItsImagesAtTheNextCreateContainerAfterSighup) {
  const std::string image = Repo("e2e/team:v1");
  const std::string digest = PushSigned("e2e/team", "v1", "signed by team", *team_);
  const std::string other = Repo("e2e/release:v1");
  PushSigned("e2e/release", "v1", "signed by release", *release_);
  std::string image_id;
  ASSERT_TRUE(Pull(proxy(), image, &image_id).ok());
  ASSERT_TRUE(Pull(proxy(), other).ok());
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "revoked", &pod));
  EXPECT_THAT(RunContainer(pod, "before", image), HasSubstr("signed by team"));
  // As kubelet asks: by image id (sigshim may remember ids it admitted).
  EXPECT_THAT(RunContainer(pod, "before-by-id", image_id), HasSubstr("signed by team"));

  ASSERT_TRUE(WriteFileAtomic(main_->config_path, MainConfig(/*with_team=*/false), 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Reload());
  grpc::Status status;
  int attempt = 0;
  EXPECT_TRUE(Eventually(
      [&] {
        status = CreateContainer(proxy(), pod, absl::StrCat("after-", attempt++), image);
        return !status.ok();
      },
      absl::Seconds(30)))
      << "still allowed after the reload; sigshim's log:\n"
      << testbed::FileTail(main_->log_path);
  ExpectRefused(status, "SignatureValidationFailed: ", {image, digest});
  {
    SCOPED_TRACE("by image id");
    ExpectRefused(CreateContainer(proxy(), pod, "after-by-id", image_id, nullptr, image), "SignatureValidationFailed: ",
                  {digest});
  }
  // An image signed by a key that stays is not affected.
  EXPECT_THAT(RunContainer(pod, "other", other), HasSubstr("signed by release"));

  ASSERT_TRUE(WriteFileAtomic(main_->config_path, MainConfig(/*with_team=*/true), 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Reload());
  EXPECT_TRUE(Eventually([&] {
    std::string id;
    return CreateContainer(proxy(), pod, absl::StrCat("again-", attempt++), image, &id).ok();
  }, absl::Seconds(30))) << "the key put back is not trusted again";
}

TEST_F(EnforcementTest, RetiredKeyRefusesItsImagesAtTheNextCreateContainerAfterSighup) {
  const std::string image = Repo("e2e/retired:v1");
  const std::string digest = PushSigned("e2e/retired", "v1", "signed by team, then retired", *team_);
  const std::string other = Repo("e2e/retired-other:v1");
  PushSigned("e2e/retired-other", "v1", "signed by release, kept", *release_);
  std::string image_id;
  ASSERT_TRUE(Pull(proxy(), image, &image_id).ok());
  ASSERT_TRUE(Pull(proxy(), other).ok());
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "retired", &pod));
  EXPECT_THAT(RunContainer(pod, "before", image), HasSubstr("signed by team, then retired"));

  // The key stays configured but its window closed an hour ago; its signatures have no proven
  // signing time, so the window is judged at the time of the decision. The registry is not needed.
  const std::string not_after = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() - absl::Hours(1), absl::UTCTimeZone());
  ASSERT_TRUE(WriteFileAtomic(main_->config_path,
                              MainConfig(/*with_team=*/true, "enforce", absl::StrCat("not_after = ", not_after, "\n")),
                              0644)
                  .ok());
  ASSERT_NO_FATAL_FAILURE(Reload());
  grpc::Status status;
  int attempt = 0;
  EXPECT_TRUE(Eventually(
      [&] {
        status = CreateContainer(proxy(), pod, absl::StrCat("after-", attempt++), image);
        return !status.ok();
      },
      absl::Seconds(30)))
      << "still allowed after the reload; sigshim's log:\n"
      << testbed::FileTail(main_->log_path);
  ExpectRefused(status, "SignatureValidationFailed: ", {image, digest});
  {
    SCOPED_TRACE("by image id");
    ExpectRefused(CreateContainer(proxy(), pod, "after-by-id", image_id, nullptr, image), "SignatureValidationFailed: ",
                  {digest});
  }
  // A pull asks the registry again and is refused for the same reason, named.
  ExpectRefused(Pull(proxy(), image), "SignatureValidationFailed: ",
                {image, digest, absl::StrCat("key \"team\" is valid until ", not_after,
                                             "; no proven signing time, decided at ")});
  // An image signed by a key whose window holds is not affected.
  EXPECT_THAT(RunContainer(pod, "other", other), HasSubstr("signed by release, kept"));

  ASSERT_TRUE(WriteFileAtomic(main_->config_path, MainConfig(/*with_team=*/true), 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Reload());
  EXPECT_TRUE(Eventually([&] {
    return CreateContainer(proxy(), pod, absl::StrCat("again-", attempt++), image).ok();
  }, absl::Seconds(30))) << "the key's window reopened is not trusted again";
}

TEST_F(EnforcementTest, BadConfigOnSighupKeepsTheOldPolicyInForce) {
  auto read = ReadFile(main_->config_path, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status();
  const std::string good = *read;
  ASSERT_TRUE(WriteFileAtomic(main_->config_path, good + "\n[[policy]]\nname = \"broken\"\n", 0644).ok());
  const size_t log_before = Log(*main_).size();
  ASSERT_NO_FATAL_FAILURE(Reload());
  // Reported, naming the file and the line.
  const std::regex file_and_line(std::regex_replace(main_->config_path, std::regex(R"([.^$|()\[\]{}*+?\\])"),
                                                    R"(\$&)") +
                                 ":[0-9]+");
  EXPECT_TRUE(Eventually(
      [&] {
        const std::string log = Log(*main_);
        return log.size() > log_before && std::regex_search(log.substr(log_before), file_and_line);
      },
      absl::Seconds(30)))
      << "the bad reload was not reported with the file and line; log:\n"
      << testbed::FileTail(main_->log_path);
  ASSERT_TRUE(main_->process->Running());
  const std::string digest = PushNew("e2e/after-bad-reload", "v1", "after bad reload");
  ExpectPullRefused(Repo("e2e/after-bad-reload:v1"), digest, "no signatures");
  PushSigned("e2e/after-bad-reload-signed", "v1", "after bad reload", *release_);
  EXPECT_TRUE(Pull(proxy(), Repo("e2e/after-bad-reload-signed:v1")).ok());
  ASSERT_TRUE(WriteFileAtomic(main_->config_path, good, 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Reload());
}

TEST_F(EnforcementTest, RestartedSigshimKeepsItsVerdicts) {
  const std::string image = Repo("e2e/restart:v1");
  PushSigned("e2e/restart", "v1", "verified before the restart", *release_);
  ASSERT_TRUE(Pull(proxy(), image).ok());

  ASSERT_TRUE(main_->process->Stop(absl::Seconds(15)).ok());
  main_->process.reset();
  ASSERT_TRUE(bed_->registry()->Stop().ok());
  ASSERT_NO_FATAL_FAILURE(Start(*main_));
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "restart", &pod));
  EXPECT_THAT(RunContainer(pod, "main", image), HasSubstr("verified before the restart"));
  ASSERT_TRUE(bed_->registry()->Start().ok());
}

TEST_F(EnforcementTest, ForgedOrCorruptVerdictFilesAreNeverTrusted) {
  // X signed and verified; Y unsigned, in the same repository, pulled around sigshim.
  const std::string signed_image = Repo("e2e/forged-verdict:x");
  const std::string signed_digest = PushSigned("e2e/forged-verdict", "x", "verified x", *release_);
  ASSERT_TRUE(Pull(proxy(), signed_image).ok());
  const std::string unsigned_image = Repo("e2e/forged-verdict:y");
  const std::string unsigned_digest = PushNew("e2e/forged-verdict", "y", "UNSIGNED Y");
  ASSERT_TRUE(Pull(*direct_, unsigned_image).ok());

  // While sigshim is stopped: X's verdict copied to Y's digest (a well-formed file whose evidence
  // is X's signature), and a file that is not a verdict at all.
  ASSERT_TRUE(main_->process->Stop(absl::Seconds(15)).ok());
  main_->process.reset();
  const std::string verdict_dir = main_->state_dir + "/verdicts";
  {
    auto store = verdicts::VerdictStore::Open({.dir = verdict_dir}, nullptr);
    ASSERT_TRUE(store.ok()) << store.status();
    std::optional<verdicts::Verdict> verdict = (*store)->Get(signed_digest, Repo("e2e/forged-verdict"));
    ASSERT_TRUE(verdict.has_value()) << "no stored verdict for " << signed_digest << " in " << verdict_dir;
    verdict->digest = unsigned_digest;
    verdict->reference = unsigned_image;
    absl::Status put = (*store)->Put(*verdict);
    ASSERT_TRUE(put.ok()) << put;
  }
  ASSERT_TRUE(WriteFileAtomic(verdict_dir + "/garbage.json", "{ this is not a verdict", 0600).ok());
  ASSERT_NO_FATAL_FAILURE(Start(*main_));
  EXPECT_TRUE(Eventually([] { return absl::StrContains(Log(*main_), "garbage.json"); }, absl::Seconds(10)))
      << "the unusable file was not reported; log:\n"
      << testbed::FileTail(main_->log_path);

  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(proxy(), "forged-verdict", &pod));
  ExpectRefused(CreateContainer(proxy(), pod, "y", unsigned_image), "SignatureValidationFailed: ",
                {unsigned_image, unsigned_digest});
  EXPECT_THAT(RunContainer(pod, "x", signed_image), HasSubstr("verified x"));
}

// All 100 pulls reach sigshim before the registry answers anything: a gate in front of the registry
// (test/testbed/tcp_gate.h) holds every connection until the log of a sigshim of this test's own
// shows each pull starting a verification or joining the one in flight. Only then does the first
// verification get its answers, so that a pull can never come after it has ended (a pull by tag
// that arrives later verifies again, rightly). Shared verification: one .sig fetch; without
// sharing, 100.
TEST_F(EnforcementTest, HundredConcurrentPullsOfANewImageVerifyOnce) {
  auto gate = testbed::TcpGate::Start(bed_->registry()->port());
  ASSERT_TRUE(gate.ok()) << gate.status();
  const std::string gated = (*gate)->host_port();  // the registry, behind the gate
  const std::string image = absl::StrCat(gated, "/e2e/concurrent:v1");
  const std::string digest = PushNew("e2e/concurrent", "v1", "concurrent");
  auto signature =
      PushSignature(*bed_->registry(), "e2e/concurrent", *release_->signer, absl::StrCat(gated, "/e2e/concurrent"), digest);
  ASSERT_TRUE(signature.ok()) << signature.status();
  const std::string sig_path = absl::StrCat("/v2/e2e/concurrent/manifests/sha256-", digest.substr(7), ".sig");
  const int sig_before = bed_->registry()->CountRequests("GET", sig_path) +
                         bed_->registry()->CountRequests("HEAD", sig_path);

  // Its own sigshim, for the gated name, whose registry requests wait at the gate as long as it takes.
  Sigshim shim;
  shim.socket = bed_->dir().Path("gated.sock");
  shim.config_path = bed_->dir().Path("gated.toml");
  shim.audit_path = bed_->dir().Path("gated-audit.log");
  shim.log_path = bed_->dir().Path("gated.log");
  shim.state_dir = bed_->dir().Path("gated-state");
  EnforcingConfig config;
  config.socket = shim.socket;
  config.runtime_endpoint = bed_->containerd()->socket_path();
  config.state_dir = shim.state_dir;
  config.audit_path = shim.audit_path;
  config.sandbox_image = SandboxImage();
  config.registry = gated;
  config.auth_registry = auth_registry_->host_port();
  config.release_key_path = release_->public_path;
  config.registry_timeout = "600s";
  config.verification_timeout = "600s";
  ASSERT_TRUE(WriteFileAtomic(shim.config_path, EnforcingConfigToml(config), 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Start(shim));

  // The connection is up before the pulls.
  VersionResponse version;
  ASSERT_TRUE(shim.client->runtime().Version(Context().get(), VersionRequest(), &version).ok());
  constexpr int kPulls = 100;
  std::vector<grpc::Status> results(kPulls);
  std::vector<std::string> refs(kPulls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPulls; ++i) {
    threads.emplace_back([&, i] { results[i] = PullImage(*shim.client, image, kNamespace, nullptr, &refs[i], absl::Minutes(10)); });
  }
  const std::string quoted = absl::StrCat("PullImage \"", image, "\": ");
  int started = 0, joined = 0;
  const bool all_arrived = Eventually(
      [&] {
        const std::string log = Log(shim);
        started = CountOccurrences(log, absl::StrCat(quoted, "starts a verification"));
        joined = CountOccurrences(log, absl::StrCat(quoted, "joins the verification in flight"));
        return started + joined >= kPulls;
      },
      absl::Minutes(5));
  (*gate)->Open();  // also when not all arrived: the threads must end
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(all_arrived) << started << " pulls started a verification and " << joined
                           << " joined one; the gate accepted " << (*gate)->accepted() << " connections";
  std::cout << "  " << started << " pull started the verification, " << joined << " joined it" << std::endl;

  std::set<std::string> distinct_refs;
  for (int i = 0; i < kPulls; ++i) {
    EXPECT_TRUE(results[i].ok()) << "pull " << i << ": " << Describe(results[i]);
    distinct_refs.insert(refs[i]);
  }
  EXPECT_EQ(distinct_refs.size(), 1u);
  // The registry writes its access log line when it answers; give it a moment.
  absl::SleepFor(absl::Milliseconds(500));
  const int sig_fetches = bed_->registry()->CountRequests("GET", sig_path) +
                          bed_->registry()->CountRequests("HEAD", sig_path) - sig_before;
  EXPECT_EQ(sig_fetches, 1) << "requests for " << sig_path;
  absl::Status stopped = shim.process->Stop(absl::Seconds(15));
  EXPECT_TRUE(stopped.ok()) << stopped;
}

TEST_F(EnforcementTest, PullWithCredentialsWritesThemNowhere) {
  const std::string image = absl::StrCat(auth_registry_->host_port(), "/private/app:v1");
  PushSigned("private/app", "v1", "private", *release_, auth_registry_);
  const std::string unsigned_image = absl::StrCat(auth_registry_->host_port(), "/private/unsigned:v1");
  const std::string unsigned_digest = PushNew("private/unsigned", "v1", "private unsigned", auth_registry_);
  AuthConfig auth;
  auth.set_username(kAuthUser);
  auth.set_password(AuthPassword());
  grpc::Status status = Pull(proxy(), image, nullptr, &auth);
  EXPECT_TRUE(status.ok()) << Describe(status);
  ExpectRefused(Pull(proxy(), unsigned_image, nullptr, &auth), "SignatureValidationFailed: ",
                {unsigned_image, unsigned_digest, "no signatures"});
  // Docker's config form: base64 of "user:password" in `auth` (containerd accepts it too).
  const std::string basic = absl::Base64Escape(absl::StrCat(kAuthUser, ":", AuthPassword()));
  {
    SCOPED_TRACE("credentials in AuthConfig.auth");
    AuthConfig docker_auth;
    docker_auth.set_auth(basic);
    status = Pull(proxy(), image, nullptr, &docker_auth);
    EXPECT_TRUE(status.ok()) << Describe(status);
  }

  EXPECT_FALSE(AuditFor(*main_, "PullImage", image, "allow").empty()) << AuditText(AuditLines(*main_));
  auto audit = ReadFile(main_->audit_path, 64 << 20);
  ASSERT_TRUE(audit.ok()) << audit.status();
  const std::string log = Log(*main_);
  for (const std::string& secret : {AuthPassword(), basic}) {
    EXPECT_THAT(*audit, Not(HasSubstr(secret)));
    EXPECT_THAT(log, Not(HasSubstr(secret)));
  }
}

TEST_F(EnforcementTest, AuditModeAllowsAnUnsignedImageButRecordsTheDenial) {
  Sigshim audit;
  audit.socket = bed_->dir().Path("audit.sock");
  audit.config_path = bed_->dir().Path("audit-mode.toml");
  audit.audit_path = bed_->dir().Path("audit-mode.log");
  audit.log_path = bed_->dir().Path("sigshim-audit-mode.log");
  audit.state_dir = bed_->dir().Path("sigshim-audit-state");
  ASSERT_TRUE(WriteFileAtomic(audit.config_path,
                              ConfigText(audit.socket, audit.state_dir, audit.audit_path, true, "audit",
                                         SandboxImage()),
                              0644)
                  .ok());
  ASSERT_NO_FATAL_FAILURE(Start(audit));
  const std::string image = Repo("e2e/audit-unsigned:v1");
  const std::string digest = PushNew("e2e/audit-unsigned", "v1", "allowed by audit mode");
  grpc::Status status = Pull(*audit.client, image);
  EXPECT_TRUE(status.ok()) << Describe(status);
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod(*audit.client, "audit-mode", &pod));
  std::string id;
  status = CreateContainer(*audit.client, pod, "main", image, &id);
  EXPECT_TRUE(status.ok()) << Describe(status);

  // One line per decision: the pull (by its tag) and the container (in its pod).
  std::vector<nlohmann::json> lines;
  for (nlohmann::json& line : AuditLines(audit)) {
    if ((line.value("method", "") == "PullImage" && line.value("image", "") == image) ||
        (line.value("method", "") == "CreateContainer" && line.value("pod", "") == "audit-mode" &&
         line.value("container", "") == "main")) {
      lines.push_back(std::move(line));
    }
  }
  ASSERT_EQ(lines.size(), 2u) << AuditText(AuditLines(audit));
  for (const nlohmann::json& line : lines) {
    SCOPED_TRACE(line.dump());
    EXPECT_EQ(line.value("decision", ""), "deny");
    EXPECT_EQ(line.value("enforced", true), false);
    EXPECT_EQ(line.value("digest", ""), digest);
    EXPECT_THAT(line.value("image", ""), HasSubstr(Repo("e2e/audit-unsigned")));
    EXPECT_THAT(line.value("reason", ""), HasSubstr("no signatures"));
  }
  EXPECT_TRUE(audit.process->Stop(absl::Seconds(15)).ok());
}

TEST_F(EnforcementTest, TheSameImageIsAllowedInOneNamespaceAndRefusedInAnotherAtPullAndCreateContainer) {
  // A sigshim of its own: namespace e2e-ns-b has a policy of its own over e2e/ns/**, trusting only
  // "team"; every other namespace falls to the "e2e" policy (release or team).
  Sigshim ns;
  ns.socket = bed_->dir().Path("ns.sock");
  ns.config_path = bed_->dir().Path("ns.toml");
  ns.audit_path = bed_->dir().Path("ns-audit.log");
  ns.log_path = bed_->dir().Path("sigshim-ns.log");
  ns.state_dir = bed_->dir().Path("sigshim-ns-state");
  EnforcingConfig config;
  config.socket = ns.socket;
  config.runtime_endpoint = bed_->containerd()->socket_path();
  config.state_dir = ns.state_dir;
  config.audit_path = ns.audit_path;
  config.sandbox_image = SandboxImage();
  config.registry = bed_->registry()->host_port();
  config.auth_registry = auth_registry_->host_port();
  config.release_key_path = release_->public_path;
  config.team_key_path = team_->public_path;
  config.extra = absl::StrCat("\n[[policy]]\nname = \"ns-b\"\nimages = [\"", bed_->registry()->host_port(),
                              "/e2e/ns/**\"]\nnamespaces = [\"e2e-ns-b\"]\nrequire = [\"team\"]\n");
  ASSERT_TRUE(WriteFileAtomic(ns.config_path, EnforcingConfigToml(config), 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Start(ns));

  const std::string image = Repo("e2e/ns/app:v1");
  const std::string digest = PushSigned("e2e/ns/app", "v1", "signed by release", *release_);

  // PullImage: allowed in A, refused in B (the same reference, the same signatures).
  std::string image_ref;
  grpc::Status in_a = PullImage(*ns.client, image, "e2e-ns-a", nullptr, &image_ref);
  ASSERT_TRUE(in_a.ok()) << Describe(in_a);
  grpc::Status in_b = PullImage(*ns.client, image, "e2e-ns-b");
  ExpectRefused(in_b, "SignatureValidationFailed: ", {image, digest, "refused by policy \"ns-b\""});

  // CreateContainer: pulled in A, created in A (allowed) and in B (refused), by name and by image id.
  PodRun pod_a;
  pod_a.config = HostNetworkPod("ns-a", "e2e-ns-a", bed_->dir().Path("pods/ns-a"));
  grpc::Status ran = RunPodSandbox(*ns.client, pod_a.config, &pod_a.sandbox_id);
  ASSERT_TRUE(ran.ok()) << Describe(ran);
  pods_.push_back(pod_a.sandbox_id);
  PodRun pod_b;
  pod_b.config = HostNetworkPod("ns-b", "e2e-ns-b", bed_->dir().Path("pods/ns-b"));
  ran = RunPodSandbox(*ns.client, pod_b.config, &pod_b.sandbox_id);
  ASSERT_TRUE(ran.ok()) << Describe(ran);
  pods_.push_back(pod_b.sandbox_id);

  grpc::Status created = CreateContainer(*ns.client, pod_a, "by-name", image);
  EXPECT_TRUE(created.ok()) << Describe(created);
  created = CreateContainer(*ns.client, pod_a, "by-id", image_ref);  // the admitted-image-id cache fills here
  EXPECT_TRUE(created.ok()) << Describe(created);
  created = CreateContainer(*ns.client, pod_a, "by-id-again", image_ref);  // and answers here
  EXPECT_TRUE(created.ok()) << Describe(created);
  ExpectRefused(CreateContainer(*ns.client, pod_b, "by-name", image), "SignatureValidationFailed: ",
                {digest, "refused by policy \"ns-b\""});
  ExpectRefused(CreateContainer(*ns.client, pod_b, "by-id", image_ref), "SignatureValidationFailed: ",
                {image_ref, "refused by policy \"ns-b\""});

  // The audit lines say which namespace and policy decided.
  std::map<std::string, std::vector<std::string>> decisions;  // "<method> <namespace>" → decisions
  for (const nlohmann::json& line : AuditLines(ns)) {
    if (line.value("digest", "") != digest) continue;
    std::cout << "  audit: " << line.dump() << std::endl;
    decisions[absl::StrCat(line.value("method", ""), " ", line.value("namespace", ""))].push_back(
        absl::StrCat(line.value("decision", ""), " ", line.value("policy", ""), " ", line.value("source", "")));
  }
  EXPECT_THAT(decisions["PullImage e2e-ns-a"], Contains("allow e2e registry"));
  EXPECT_THAT(decisions["PullImage e2e-ns-b"], Contains("deny ns-b registry"));
  EXPECT_THAT(decisions["CreateContainer e2e-ns-a"], Contains("allow e2e verdict"));
  EXPECT_THAT(decisions["CreateContainer e2e-ns-a"], Not(Contains(HasSubstr("deny"))));
  EXPECT_EQ(decisions["CreateContainer e2e-ns-b"].size(), 2u);
  EXPECT_THAT(decisions["CreateContainer e2e-ns-b"], Not(Contains(HasSubstr("allow"))));
  for (const std::string& id : pods_) RemovePod(id);
  pods_.clear();
  EXPECT_TRUE(ns.process->Stop(absl::Seconds(15)).ok());
}

TEST_F(EnforcementTest, SandboxImageThatNoPolicyTrustsIsRefusedAtRunPodSandbox) {
  // No sandbox_image: sigshim asks containerd, whose pause image matches no policy.
  Sigshim strict;
  strict.socket = bed_->dir().Path("strict.sock");
  strict.config_path = bed_->dir().Path("strict.toml");
  strict.audit_path = bed_->dir().Path("strict-audit.log");
  strict.log_path = bed_->dir().Path("sigshim-strict.log");
  strict.state_dir = bed_->dir().Path("sigshim-strict-state");
  ASSERT_TRUE(WriteFileAtomic(strict.config_path,
                              ConfigText(strict.socket, strict.state_dir, strict.audit_path, true, "enforce", ""),
                              0644)
                  .ok());
  ASSERT_NO_FATAL_FAILURE(Start(strict));
  PodSandboxConfig config;
  config.mutable_metadata()->set_name("strict");
  config.mutable_metadata()->set_uid("strict-uid");
  config.mutable_metadata()->set_namespace_(kNamespace);
  config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(NODE);
  RunPodSandboxRequest request;
  *request.mutable_config() = config;
  RunPodSandboxResponse response;
  grpc::Status status = strict.client->runtime().RunPodSandbox(Context(absl::Seconds(120)).get(), request, &response);
  if (status.ok()) pods_.push_back(response.pod_sandbox_id());
  ExpectRefused(status, "SignatureValidationFailed: ", {bed_->containerd()->sandbox_image()});
  {
    SCOPED_TRACE("runtime.v1alpha2");
    RunPodSandboxResponse v1alpha2;
    status = strict.client->Call("/runtime.v1alpha2.RuntimeService/RunPodSandbox", request, &v1alpha2,
                                 absl::Seconds(120));
    if (status.ok()) pods_.push_back(v1alpha2.pod_sandbox_id());
    ExpectRefused(status, "SignatureValidationFailed: ", {bed_->containerd()->sandbox_image()});
  }
  EXPECT_TRUE(strict.process->Stop(absl::Seconds(15)).ok());
}

TEST_F(EnforcementTest, SandboxImagePinnedToADigestTheRuntimeDoesNotHaveIsRefusedAtRunPodSandbox) {
  // The pin names a digest that is not the manifest containerd starts as its sandbox image.
  const std::string other_digest = PushNew("e2e/not-the-pause", "v1", "not the pause image");
  Sigshim pinned;
  pinned.socket = bed_->dir().Path("pinned.sock");
  pinned.config_path = bed_->dir().Path("pinned.toml");
  pinned.audit_path = bed_->dir().Path("pinned-audit.log");
  pinned.log_path = bed_->dir().Path("sigshim-pinned.log");
  pinned.state_dir = bed_->dir().Path("sigshim-pinned-state");
  ASSERT_NE(other_digest, bed_->sandbox_image_digest());
  ASSERT_TRUE(WriteFileAtomic(pinned.config_path,
                              ConfigText(pinned.socket, pinned.state_dir, pinned.audit_path, true, "enforce",
                                         absl::StrCat(bed_->containerd()->sandbox_image(), "@", other_digest)),
                              0644)
                  .ok());
  ASSERT_NO_FATAL_FAILURE(Start(pinned));
  RunPodSandboxRequest request;
  request.mutable_config()->mutable_metadata()->set_name("pinned");
  request.mutable_config()->mutable_metadata()->set_uid("pinned-uid");
  request.mutable_config()->mutable_metadata()->set_namespace_(kNamespace);
  request.mutable_config()->mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
      NODE);
  RunPodSandboxResponse response;
  grpc::Status status = pinned.client->runtime().RunPodSandbox(Context(absl::Seconds(120)).get(), request, &response);
  if (status.ok()) pods_.push_back(response.pod_sandbox_id());
  ExpectRefused(status, "SignatureValidationFailed: ", {bed_->containerd()->sandbox_image()});
  EXPECT_TRUE(pinned.process->Stop(absl::Seconds(15)).ok());
}

// Last: the decisions of every earlier test are in the main sigshim's audit log.
TEST_F(EnforcementTest, ZzEveryDecisionIsOneAuditLineWithEveryField) {
  std::vector<nlohmann::json> lines = AuditLines(*main_);
  ASSERT_FALSE(lines.empty());
  const std::regex rfc3339_utc(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)");
  const std::set<std::string> methods = {"PullImage", "CreateContainer", "RunPodSandbox"};
  const std::set<std::string> decisions = {"allow", "deny", "error"};
  const std::set<std::string> sources = {"registry", "verdict", "config", "unmatched"};
  for (const nlohmann::json& line : lines) {
    SCOPED_TRACE(line.dump());
    for (const char* key : {"time", "method", "image", "digest", "namespace", "pod", "container", "decision",
                            "reason", "policy", "identity", "signed_at", "signed_at_source", "source"}) {
      EXPECT_TRUE(line.contains(key) && line[key].is_string()) << key;
    }
    EXPECT_TRUE(line.contains("enforced") && line["enforced"].is_boolean());
    EXPECT_TRUE(line.contains("latency_ms") && line["latency_ms"].is_number());
    EXPECT_TRUE(std::regex_match(line.value("time", ""), rfc3339_utc));
    EXPECT_TRUE(methods.count(line.value("method", ""))) << "method";
    EXPECT_TRUE(decisions.count(line.value("decision", ""))) << "decision";
    EXPECT_TRUE(sources.count(line.value("source", ""))) << "source";
    // Enforce mode: nothing refused was let through.
    if (line.value("decision", "") != "allow") {
      EXPECT_EQ(line.value("enforced", false), true);
    }
  }

  // The signed pull: allowed from the registry, with its digest, policy and key.
  const std::string signed_image = Repo("e2e/signed:v1");
  std::vector<nlohmann::json> pulls = AuditFor(*main_, "PullImage", signed_image, "allow");
  ASSERT_FALSE(pulls.empty()) << AuditText(lines);
  EXPECT_THAT(pulls.front().value("digest", ""), StartsWith("sha256:"));
  EXPECT_EQ(pulls.front().value("policy", ""), "e2e");
  EXPECT_EQ(pulls.front().value("identity", ""), "release");
  EXPECT_EQ(pulls.front().value("source", ""), "registry");
  EXPECT_EQ(pulls.front().value("namespace", ""), kNamespace);
  EXPECT_EQ(pulls.front().value("enforced", false), true);

  // Its container: allowed from the stored verdict, with the pod and the container.
  bool found_create = false;
  for (const nlohmann::json& line : lines) {
    if (line.value("method", "") == "CreateContainer" && line.value("decision", "") == "allow" &&
        line.value("pod", "") == "signed" && line.value("container", "") == "main") {
      found_create = true;
      EXPECT_EQ(line.value("namespace", ""), kNamespace) << line.dump();
      EXPECT_EQ(line.value("digest", ""), pulls.front().value("digest", "")) << line.dump();
      EXPECT_EQ(line.value("source", ""), "verdict") << line.dump();
      EXPECT_EQ(line.value("identity", ""), "release") << line.dump();
    }
  }
  EXPECT_TRUE(found_create) << AuditText(lines);

  // The unsigned pull: denied, enforced, with the reason.
  std::vector<nlohmann::json> denied = AuditFor(*main_, "PullImage", Repo("e2e/unsigned:v1"), "deny");
  ASSERT_FALSE(denied.empty()) << AuditText(lines);
  EXPECT_THAT(denied.front().value("reason", ""), HasSubstr("no signatures"));
  EXPECT_EQ(denied.front().value("enforced", false), true);
  EXPECT_EQ(denied.front().value("policy", ""), "e2e");

  // The imported image: denied at CreateContainer, naming pod and container.
  bool found_import = false;
  for (const nlohmann::json& line : lines) {
    if (line.value("method", "") == "CreateContainer" && line.value("decision", "") != "allow" &&
        line.value("pod", "") == "imported" && line.value("container", "") == "main") {
      found_import = true;
      EXPECT_THAT(line.value("image", ""), HasSubstr(Repo("e2e/imported"))) << line.dump();
      EXPECT_EQ(line.value("decision", ""), "deny") << line.dump();
    }
  }
  EXPECT_TRUE(found_import) << AuditText(lines);

  // The registry outage: an error, not an allow.
  EXPECT_FALSE(AuditFor(*main_, "PullImage", Repo("e2e/down-new:v1"), "error").empty()) << AuditText(lines);

  // The pods: the sandbox image allowed as configured.
  bool found_sandbox = false;
  for (const nlohmann::json& line : lines) {
    if (line.value("method", "") == "RunPodSandbox" && line.value("pod", "") == "signed") {
      found_sandbox = true;
      EXPECT_EQ(line.value("decision", ""), "allow") << line.dump();
      EXPECT_EQ(line.value("digest", ""), bed_->sandbox_image_digest()) << line.dump();
      EXPECT_EQ(line.value("source", ""), "config") << line.dump();
    }
  }
  EXPECT_TRUE(found_sandbox) << AuditText(lines);
}

}  // namespace
}  // namespace sigshim::e2e
