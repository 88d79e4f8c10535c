// The enforcement layer's decisions, against a fake registry (real signatures, real crypto), a
// fake runtime and an in-memory containerd image store. The same behaviour against the real
// containerd and registry is in test/e2e/enforcement_test.cc; these cover the faults and
// orderings the real ones cannot be made to produce on demand.
#include "shim/enforcer.h"

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/config/config.h"
#include "pkg/verify/statement.h"
#include "test/fakes/fake_registry.h"
#include "test/pkg/policy/test_config.h"
#include "test/testbed/temp_dir.h"

namespace sigshim::shim {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kHost[] = "registry.test";
constexpr char kRepo[] = "registry.test/team/app";

std::string ImageManifest(const std::string& layer_content) {
  return absl::StrCat(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
                      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
                      Sha256Digest(layer_content + "-config"),
                      R"(","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",)",
                      R"("digest":")", Sha256Digest(layer_content), R"(","size":)", layer_content.size(), "}]}");
}

// The fake registry's transport, which can be cut off as a stopped registry would be.
class CuttableTransport final : public registry::HttpTransport {
 public:
  explicit CuttableTransport(std::shared_ptr<registry::HttpTransport> inner) : inner_(std::move(inner)) {}
  absl::StatusOr<registry::HttpResponse> Do(const registry::HttpRequest& request) override {
    if (down) return absl::UnavailableError("connection refused");
    return inner_->Do(request);
  }
  std::atomic<bool> down{false};

 private:
  std::shared_ptr<registry::HttpTransport> inner_;
};

// containerd's image records, in memory.
class MemoryImageStore final : public containerd::ImageStore {
 public:
  absl::StatusOr<containerd::Image> Get(absl::string_view name) override {
    ++gets;
    return Peek(name);
  }
  // Get without counting, for the fake runtime's own lookups.
  absl::StatusOr<containerd::Image> Peek(absl::string_view name) {
    absl::MutexLock lock(&mu_);
    auto it = images_.find(std::string(name));
    if (it == images_.end()) return absl::NotFoundError(absl::StrCat("image \"", name, "\": not found"));
    return it->second;
  }
  absl::StatusOr<std::vector<containerd::Image>> List(absl::Span<const std::string>) override {
    absl::MutexLock lock(&mu_);
    std::vector<containerd::Image> out;
    for (const auto& [name, image] : images_) out.push_back(image);
    return out;
  }
  absl::StatusOr<containerd::Image> Create(const containerd::Image& image) override {
    absl::MutexLock lock(&mu_);
    if (images_.contains(image.name)) return absl::AlreadyExistsError(image.name);
    images_[image.name] = image;
    return image;
  }
  absl::StatusOr<containerd::Image> Update(const containerd::Image& image) override {
    absl::MutexLock lock(&mu_);
    if (!images_.contains(image.name)) return absl::NotFoundError(image.name);
    images_[image.name] = image;
    return image;
  }
  absl::Status Delete(absl::string_view name, bool) override {
    absl::MutexLock lock(&mu_);
    images_.erase(std::string(name));
    return absl::OkStatus();
  }
  std::atomic<int> gets{0};

  void Put(const std::string& name, const std::string& digest) {
    containerd::Image image;
    image.name = name;
    image.target.digest = digest;
    image.target.media_type = "application/vnd.oci.image.manifest.v1+json";
    absl::MutexLock lock(&mu_);
    images_[name] = image;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, containerd::Image> images_ ABSL_GUARDED_BY(mu_);
};

// containerd's content store, in memory: each manifest digest stands for the image id it was given
// (the manifest served is made up around that config digest; the real store checks the bytes
// against the digest, which this one does not pretend to).
class MemoryContentStore final : public containerd::ContentStore {
 public:
  absl::StatusOr<std::string> Read(absl::string_view digest, size_t) override {
    absl::MutexLock lock(&mu_);
    auto it = configs_.find(std::string(digest));
    if (it == configs_.end()) return absl::NotFoundError(absl::StrCat("content ", digest, ": not found"));
    return absl::StrCat(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
                        R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
                        it->second, R"(","size":2},"layers":[]})");
  }
  // Makes `manifest` the manifest of image `image_id`.
  void Put(const std::string& manifest, const std::string& image_id) {
    absl::MutexLock lock(&mu_);
    configs_[manifest] = image_id;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> configs_ ABSL_GUARDED_BY(mu_);
};

// The runtime's CRI view: images by name (tags, digests, ids) and the pulls asked of it. A tag made
// in the image store shows up here as soon as the test says so.
class FakeRuntime final : public RuntimeClient {
 public:
  FakeRuntime(MemoryImageStore* store, MemoryContentStore* content) : store_(store), content_(content) {}

  absl::StatusOr<std::optional<RuntimeImage>> ImageStatus(const std::string& image, absl::Time) override {
    absl::MutexLock lock(&mu_);
    if (!up_) return absl::UnavailableError("runtime down");
    auto it = names_.find(image);
    if (it == names_.end()) {
      // Tags made through the image store after a pinned pull.
      absl::StatusOr<containerd::Image> record = store_->Peek(image);
      if (record.ok()) {
        for (const auto& [id, img] : by_id_) {
          for (const std::string& rd : img.repo_digests) {
            if (absl::EndsWith(rd, record->target.digest)) return img;
          }
        }
      }
      return std::nullopt;
    }
    return by_id_.at(it->second);
  }

  absl::StatusOr<std::string> PullImage(const std::string& image, const runtime::v1::AuthConfig&, absl::Time) override {
    absl::MutexLock lock(&mu_);
    pulls_.push_back(image);
    const std::string digest = image.substr(image.find('@') + 1);
    const std::string repo = image.substr(0, image.find('@'));
    const std::string id = Sha256Digest(digest + "-config");
    RuntimeImage& img = by_id_[id];
    img.id = id;
    img.repo_digests.push_back(image);
    names_[image] = id;
    names_[id] = id;
    store_->Put(image, digest);
    store_->Put(id, digest);
    content_->Put(digest, id);
    return id;
  }

  absl::StatusOr<std::string> SandboxImage(absl::Time) override {
    absl::MutexLock lock(&mu_);
    if (sandbox_.empty()) return absl::NotFoundError("no sandboxImage");
    return sandbox_;
  }

  // An image imported by hand under `name` (no repo_digests), with manifest `digest`.
  std::string Import(const std::string& name, const std::string& digest) {
    absl::MutexLock lock(&mu_);
    const std::string id = Sha256Digest(digest + "-imported");
    RuntimeImage& img = by_id_[id];
    img.id = id;
    img.repo_tags.push_back(name);
    names_[name] = id;
    names_[id] = id;
    store_->Put(name, digest);
    store_->Put(id, digest);
    content_->Put(digest, id);
    return id;
  }

  void SetUp(bool up) {
    absl::MutexLock lock(&mu_);
    up_ = up;
  }
  void SetSandbox(const std::string& image) {
    absl::MutexLock lock(&mu_);
    sandbox_ = image;
  }
  std::vector<std::string> pulls() {
    absl::MutexLock lock(&mu_);
    return pulls_;
  }

 private:
  MemoryImageStore* const store_;
  MemoryContentStore* const content_;
  absl::Mutex mu_;
  bool up_ ABSL_GUARDED_BY(mu_) = true;
  std::string sandbox_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> names_ ABSL_GUARDED_BY(mu_);  // name or id → id
  std::map<std::string, RuntimeImage> by_id_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> pulls_ ABSL_GUARDED_BY(mu_);
};

class EnforcerTest : public ::testing::Test {
 protected:
  EnforcerTest()
      : registry_(std::make_shared<fakes::FakeRegistry>(kHost)),
        transport_(std::make_shared<CuttableTransport>(registry_->transport())),
        release_(policy::MakeTestKey()),
        other_(policy::MakeTestKey()), runtime_(&images_, &content_) {
    auto dir = testbed::TempDir::Create("sigshim-enforcer-test");
    EXPECT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    OpenStore();
    signed_ = registry_->PutManifest("team/app", "signed", ImageManifest("signed"));
    unsigned_ = registry_->PutManifest("team/app", "unsigned", ImageManifest("unsigned"));
    Sign(release_, signed_);
  }

  void OpenStore() {
    enforcer_.reset();
    store_.reset();
    auto store = verdicts::VerdictStore::Open({.dir = dir_->Path("verdicts")}, nullptr);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    EnforcerOptions options;
    options.runtime = &runtime_;
    options.images = &images_;
    options.content = &content_;
    options.store = store_.get();
    options.on_decision = [this](const audit::AuditRecord& r) {
      absl::MutexLock lock(&mu_);
      records_.push_back(r);
    };
    options.tag_wait = absl::Seconds(2);
    options.now = [this] { return Now(); };
    auto enforcer = Enforcer::Create(std::move(options));
    ASSERT_TRUE(enforcer.ok()) << enforcer.status();
    enforcer_ = *std::move(enforcer);
    last_report_ = Apply();
  }

  // Puts a policy over registry.test/team/** trusting `keys` in force; `extra` is TOML placed first.
  RecheckReport Apply(const std::vector<const policy::TestKey*>& keys = {}, const std::string& extra = "",
                      const std::string& sandbox = "", absl::Duration verification_timeout = absl::Seconds(30)) {
    std::vector<const policy::TestKey*> trusted = keys;
    if (trusted.empty()) trusted.push_back(&release_);
    std::string text = extra;
    std::string require;
    for (size_t i = 0; i < trusted.size(); ++i) {
      const std::string name = trusted[i] == &release_ ? "release" : "other";
      absl::StrAppend(&text, policy::KeyTable(name, trusted[i]->pair.public_pem),
                      trusted[i] == &release_ ? release_window_ : "");
      absl::StrAppend(&require, i ? ", " : "", "\"", name, "\"");
    }
    absl::StrAppend(&text, policy::PolicyTable("team", "\"registry.test/team/**\"", require));
    auto compiled = policy::Policy::Create(*policy::MustParse(text));
    EXPECT_TRUE(compiled.ok()) << compiled.status();
    registry::RegistryClientOptions client_options;
    client_options.transport = transport_;
    client_options.sleep = [](absl::Duration) {};
    client_options.max_retries = 0;
    auto client = registry::RegistryClient::Create(client_options);
    EXPECT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    policy::ImageVerifierOptions verifier_options;
    verifier_options.registry = client_;
    verifier_options.now = [this] { return Now(); };
    auto verifier = policy::ImageVerifier::Create(std::move(verifier_options));
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    return enforcer_->SetPolicy(std::shared_ptr<const policy::Policy>(*std::move(compiled)),
                                std::shared_ptr<const policy::ImageVerifier>(*std::move(verifier)), sandbox,
                                verification_timeout);
  }

  // Puts `policies` in force with both keys ("release" and "other") defined before it, loaded at
  // Now() (exceptions' expiry is judged against it).
  RecheckReport ApplyText(const std::string& policies) {
    const std::string text = policy::KeyTable("release", release_.pair.public_pem) +
                             policy::KeyTable("other", other_.pair.public_pem) + policies;
    auto config = config::ParseConfig(text, policy::kConfigPath, Now());
    EXPECT_TRUE(config.ok()) << config.status() << "\n" << text;
    auto compiled = policy::Policy::Create(config.ok() ? **config : config::Config{});
    EXPECT_TRUE(compiled.ok()) << compiled.status();
    policy::ImageVerifierOptions verifier_options;
    verifier_options.registry = client_;
    verifier_options.now = [this] { return Now(); };
    auto verifier = policy::ImageVerifier::Create(std::move(verifier_options));
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    return enforcer_->SetPolicy(std::shared_ptr<const policy::Policy>(*std::move(compiled)),
                                std::shared_ptr<const policy::ImageVerifier>(*std::move(verifier)), "");
  }

  // Replaces the signature manifest of `digest` by one with a signature by each of `keys`.
  void SignWith(const std::vector<const policy::TestKey*>& keys, const std::string& digest) {
    std::vector<test_signer::SignatureLayer> layers;
    for (const policy::TestKey* key : keys) {
      auto layer = test_signer::SignImageLayer(*key->signer, kRepo, digest);
      ASSERT_TRUE(layer.ok()) << layer.status();
      registry_->PutBlob("team/app", layer->payload.bytes);
      layers.push_back(*std::move(layer));
    }
    auto artifact = test_signer::BuildSignatureArtifact(digest, layers);
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    registry_->PutBlob("team/app", artifact->config.bytes);
    registry_->PutManifest("team/app", artifact->tag, artifact->manifest.bytes);
  }

  // A caller in namespace `ns`.
  static Caller In(const std::string& method, const std::string& ns) {
    return Caller{method, ns, "pod-0", method == "CreateContainer" ? "app" : ""};
  }

  void Sign(const policy::TestKey& key, const std::string& digest, const std::string& reference = kRepo) {
    auto layer = test_signer::SignImageLayer(*key.signer, reference, digest);
    ASSERT_TRUE(layer.ok()) << layer.status();
    registry_->PutBlob("team/app", layer->payload.bytes);
    auto artifact = test_signer::BuildSignatureArtifact(digest, {*layer});
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    registry_->PutBlob("team/app", artifact->config.bytes);
    registry_->PutManifest("team/app", artifact->tag, artifact->manifest.bytes);
  }

  Caller Pod(const std::string& method) { return Caller{method, "prod", "web-0", method == "CreateContainer" ? "app" : ""}; }

  // Pulls `image` the way the hook does: decide, pull what the plan says, finish.
  absl::StatusOr<PullPlan> Pull(const std::string& image) {
    absl::StatusOr<PullPlan> plan = enforcer_->DecidePull(Pod("PullImage"), image, {});
    if (!plan.ok()) return plan;
    auto pulled = runtime_.PullImage(plan->forward_image, {}, absl::InfiniteFuture());
    EXPECT_TRUE(pulled.ok()) << pulled.status();
    absl::Status finished = enforcer_->FinishPull(*plan);
    if (!finished.ok()) return finished;
    return plan;
  }

  // The clock of the enforcer and of its verifier: real time unless a test set it.
  absl::Time Now() {
    absl::MutexLock lock(&clock_mu_);
    return now_.value_or(absl::Now());
  }
  void SetNow(absl::Time t) {
    absl::MutexLock lock(&clock_mu_);
    now_ = t;
  }

  audit::AuditRecord LastRecord() {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(records_.empty());
    return records_.empty() ? audit::AuditRecord{} : records_.back();
  }

  std::unique_ptr<testbed::TempDir> dir_;
  std::shared_ptr<fakes::FakeRegistry> registry_;
  std::shared_ptr<CuttableTransport> transport_;
  std::shared_ptr<registry::RegistryClient> client_;
  policy::TestKey release_;
  policy::TestKey other_;
  MemoryImageStore images_;
  MemoryContentStore content_;
  FakeRuntime runtime_;
  std::unique_ptr<verdicts::VerdictStore> store_;
  std::unique_ptr<Enforcer> enforcer_;
  RecheckReport last_report_;
  std::string signed_;
  std::string unsigned_;
  // TOML lines added to the "release" [[keys]] table (its validity window), e.g. "not_after = …\n".
  std::string release_window_;
  absl::Mutex mu_;
  std::vector<audit::AuditRecord> records_ ABSL_GUARDED_BY(mu_);
  absl::Mutex clock_mu_;
  std::optional<absl::Time> now_ ABSL_GUARDED_BY(clock_mu_);
};

TEST_F(EnforcerTest, SignedPullIsPinnedToTheVerifiedDigestAndTheTagFollows) {
  absl::StatusOr<PullPlan> plan = Pull("registry.test/team/app:signed");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->forward_image, absl::StrCat(kRepo, "@", signed_));
  EXPECT_EQ(plan->tag_name, absl::StrCat(kRepo, ":signed"));
  EXPECT_EQ(plan->digest, signed_);
  auto tag = images_.Get(absl::StrCat(kRepo, ":signed"));
  ASSERT_TRUE(tag.ok()) << tag.status();
  EXPECT_EQ(tag->target.digest, signed_);
  EXPECT_EQ(tag->labels.at("io.cri-containerd.image"), "managed");
  EXPECT_TRUE(store_->Get(signed_, kRepo).has_value());
  audit::AuditRecord r = LastRecord();
  EXPECT_EQ(r.method, "PullImage");
  EXPECT_EQ(r.decision, "allow");
  EXPECT_TRUE(r.enforced);
  EXPECT_EQ(r.digest, signed_);
  EXPECT_EQ(r.namespace_name, "prod");
  EXPECT_EQ(r.pod, "web-0");
  EXPECT_EQ(r.policy, "team");
  EXPECT_EQ(r.identity, "release");
  EXPECT_EQ(r.source, "registry");
}

TEST_F(EnforcerTest, UnsignedPullIsRefusedNamingImageDigestAndReason) {
  absl::StatusOr<PullPlan> plan = enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:unsigned", {});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(std::string(plan.status().message()), StartsWith("SignatureValidationFailed: registry.test/team/app:unsigned"));
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr(unsigned_));
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("no signatures"));
  EXPECT_THAT(runtime_.pulls(), IsEmpty());
  EXPECT_FALSE(store_->Get(unsigned_, kRepo).has_value());
  EXPECT_EQ(LastRecord().decision, "deny");
}

TEST_F(EnforcerTest, UnreachableRegistryIsARefusalEvenInAuditMode) {
  Apply({}, "[enforcement]\nmode = \"audit\"\n");
  transport_->down = true;
  absl::StatusOr<PullPlan> plan = enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:signed", {});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), StartsWith("RegistryUnavailable: registry.test/team/app:signed"));
  EXPECT_EQ(LastRecord().decision, "error");
  EXPECT_TRUE(LastRecord().enforced);
}

TEST_F(EnforcerTest, AuditModeLetsADenialThroughAndRecordsIt) {
  Apply({}, "[enforcement]\nmode = \"audit\"\n");
  absl::StatusOr<PullPlan> plan = enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:unsigned", {});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->forward_image, absl::StrCat(kRepo, "@", unsigned_));
  audit::AuditRecord r = LastRecord();
  EXPECT_EQ(r.decision, "deny");
  EXPECT_FALSE(r.enforced);
  EXPECT_FALSE(store_->Get(unsigned_, kRepo).has_value());  // never stored as verified
}

TEST_F(EnforcerTest, PullByDigestWithAValidVerdictAsksNoRegistry) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  const uint64_t before = client_->RequestCount();
  absl::StatusOr<PullPlan> plan = enforcer_->DecidePull(Pod("PullImage"), absl::StrCat(kRepo, "@", signed_), {});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(client_->RequestCount(), before);
  EXPECT_EQ(LastRecord().source, "verdict");
}

TEST_F(EnforcerTest, ConcurrentPullsOfOneReferenceShareOneVerification) {
  constexpr int kPullers = 24;
  std::vector<std::thread> threads;
  std::atomic<int> allowed{0};
  for (int i = 0; i < kPullers; ++i) {
    threads.emplace_back([&] {
      if (enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:signed", {}).ok()) ++allowed;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(allowed.load(), kPullers);
  // One verification is 5 requests (tag; .sig manifest, referrers API and referrers tag; blob).
  // Pullers that came after the first flight ended start another: never one per puller.
  EXPECT_LT(client_->RequestCount(), 5u * kPullers / 2);
  EXPECT_EQ(client_->RequestCount() % 5, 0u);
  absl::MutexLock lock(&mu_);
  EXPECT_THAT(records_, SizeIs(kPullers));  // one audit line per call all the same
}

TEST_F(EnforcerTest, PullsArrivingDuringAVerificationJoinItWithoutHoldingAThread) {
  std::vector<std::function<void()>> scheduled;
  auto schedule = [&scheduled](std::function<void()> task) {
    scheduled.push_back(std::move(task));
    return true;
  };
  constexpr int kPullers = 100;
  std::vector<absl::StatusOr<PullPlan>> answers;
  for (int i = 0; i < kPullers; ++i) {
    enforcer_->StartPull(Pod("PullImage"), "registry.test/team/app:signed", {}, schedule, schedule,
                         [&answers](absl::StatusOr<PullPlan> plan) { answers.push_back(std::move(plan)); });
  }
  ASSERT_THAT(scheduled, SizeIs(1));  // one verification for all of them
  EXPECT_THAT(answers, IsEmpty());
  scheduled[0]();
  ASSERT_THAT(answers, SizeIs(kPullers));
  for (const auto& answer : answers) {
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->forward_image, absl::StrCat(kRepo, "@", signed_));
  }
  EXPECT_EQ(client_->RequestCount(), 5u);  // tag; .sig manifest, referrers API, referrers tag; signature blob
  // The next pull, after the flight landed, verifies again: the tag may have moved.
  enforcer_->StartPull(Pod("PullImage"), "registry.test/team/app:signed", {}, schedule, schedule, [](auto) {});
  EXPECT_THAT(scheduled, SizeIs(2));
}

TEST_F(EnforcerTest, PullsAreRefusedWhenNoThreadCanTakeTheVerification) {
  std::vector<absl::Status> answers;
  auto refuse = [](std::function<void()>) { return false; };
  enforcer_->StartPull(Pod("PullImage"), "registry.test/team/app:signed", {}, refuse, refuse,
                       [&answers](absl::StatusOr<PullPlan> plan) { answers.push_back(plan.status()); });
  ASSERT_THAT(answers, SizeIs(1));
  EXPECT_EQ(answers[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client_->RequestCount(), 0u);
}

TEST_F(EnforcerTest, APullByDigestThatAVerdictDecidesNeverWaitsBehindRegistryWork) {
  ASSERT_TRUE(Pull(absl::StrCat(kRepo, ":signed")).ok());
  // The registry lane is full of slow verifications: nothing given to it ever runs here.
  std::vector<std::function<void()>> registry_lane;
  auto stuck = [&registry_lane](std::function<void()> task) {
    registry_lane.push_back(std::move(task));
    return true;
  };
  auto local = [](std::function<void()> task) {
    task();
    return true;
  };
  std::optional<absl::StatusOr<PullPlan>> answer;
  enforcer_->StartPull(Pod("PullImage"), absl::StrCat(kRepo, "@", signed_), {}, local, stuck,
                       [&answer](absl::StatusOr<PullPlan> plan) { answer = std::move(plan); });
  ASSERT_TRUE(answer.has_value()) << "the pull waited for the registry lane";
  ASSERT_TRUE(answer->ok()) << answer->status();
  EXPECT_EQ((*answer)->forward_image, absl::StrCat(kRepo, "@", signed_));
  EXPECT_THAT(registry_lane, IsEmpty());
  EXPECT_EQ(LastRecord().source, "verdict");
}

TEST_F(EnforcerTest, AVerificationNobodyWaitsForStopsWithoutAskingTheRegistry) {
  std::vector<std::function<void()>> registry_lane;
  auto later = [&registry_lane](std::function<void()> task) {
    registry_lane.push_back(std::move(task));
    return true;
  };
  auto gone = std::make_shared<std::atomic<bool>>(false);
  Caller caller = Pod("PullImage");
  caller.gone = gone;
  std::optional<absl::StatusOr<PullPlan>> answer;
  enforcer_->StartPull(caller, "registry.test/team/app:signed", {}, later, later,
                       [&answer](absl::StatusOr<PullPlan> plan) { answer = std::move(plan); });
  ASSERT_THAT(registry_lane, SizeIs(1));
  gone->store(true);  // the caller left (cancelled, or its deadline passed) before a worker was free
  const uint64_t before = client_->RequestCount();
  registry_lane[0]();
  ASSERT_TRUE(answer.has_value());
  ASSERT_FALSE(answer->ok());
  EXPECT_THAT(std::string(answer->status().message()), HasSubstr("nobody waits"));
  EXPECT_EQ(client_->RequestCount(), before);
  EXPECT_EQ(LastRecord().decision, "error");
}

TEST_F(EnforcerTest, AVerificationEndsWithItsBudgetCountedFromTheCallsArrival) {
  Apply({}, "", "", absl::Seconds(30));
  Caller caller = Pod("PullImage");
  caller.arrived = absl::Now() - absl::Seconds(31);  // queued for longer than the whole budget
  const uint64_t before = client_->RequestCount();
  absl::StatusOr<PullPlan> plan = enforcer_->DecidePull(caller, "registry.test/team/app:signed", {});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), StartsWith("RegistryUnavailable: "));
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("[registry] verification_timeout (30s)"));
  EXPECT_EQ(client_->RequestCount(), before);
}

TEST_F(EnforcerTest, LocalLaneDecisionsAskForTheRegistryLaneOnlyWhenTheyNeedIt) {
  // Verified: decided without the registry.
  ASSERT_TRUE(Pull(absl::StrCat(kRepo, ":signed")).ok());
  auto admitted = enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed"), false);
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  // Imported, never verified: only the registry can tell, and nothing is recorded yet.
  const std::string id = runtime_.Import("registry.test/team/app:imported", unsigned_);
  size_t records_before;
  {
    absl::MutexLock lock(&mu_);
    records_before = records_.size();
  }
  auto undecided = enforcer_->AdmitImage(Pod("CreateContainer"), id, false);
  ASSERT_FALSE(undecided.ok());
  EXPECT_TRUE(Enforcer::NeedsRegistry(undecided.status())) << undecided.status();
  {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(records_.size(), records_before);
  }
  auto refused = enforcer_->AdmitImage(Pod("CreateContainer"), id, true);
  ASSERT_FALSE(refused.ok());
  EXPECT_FALSE(Enforcer::NeedsRegistry(refused.status()));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("no signatures"));
}

TEST_F(EnforcerTest, CreateContainerIsAdmittedByAStoredVerdictAndPinnedToTheImageId) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  transport_->down = true;
  auto pinned = enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed"));
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(*pinned, Sha256Digest(signed_ + "-config"));
  audit::AuditRecord r = LastRecord();
  EXPECT_EQ(r.source, "verdict");
  EXPECT_EQ(r.container, "app");
  EXPECT_EQ(r.identity, "release");
}

TEST_F(EnforcerTest, AnImageIdAdmittedByAVerdictIsAdmittedAgainWithoutTheRuntime) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  const std::string id = Sha256Digest(signed_ + "-config");
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());  // not admitted yet
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  runtime_.SetUp(false);  // no runtime call is made from here
  std::optional<audit::AuditRecord> again = enforcer_->AdmitFromCache(Pod("CreateContainer"), id);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->decision, "allow");
  EXPECT_EQ(again->source, "verdict");
  EXPECT_EQ(again->digest, signed_);
  EXPECT_EQ(again->identity, "release");
  EXPECT_EQ(again->container, "app");
  // A tag is never taken from the cache: it can move.
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).status().code() == absl::StatusCode::kUnavailable);
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed")).has_value());
}

TEST_F(EnforcerTest, AVerifiedPullAdmitsItsImageIdAtOnce) {
  absl::StatusOr<PullPlan> plan = Pull("registry.test/team/app:signed");
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string id = Sha256Digest(signed_ + "-config");
  enforcer_->RememberPulled(*plan, id);
  EXPECT_TRUE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  // An audited (unverified) pull is not remembered.
  Apply({}, "[enforcement]\nmode = \"audit\"\n");
  absl::StatusOr<PullPlan> audited = Pull("registry.test/team/app:unsigned");
  ASSERT_TRUE(audited.ok()) << audited.status();
  enforcer_->RememberPulled(*audited, Sha256Digest(unsigned_ + "-config"));
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), Sha256Digest(unsigned_ + "-config")).has_value());
}

TEST_F(EnforcerTest, TheImageIdCacheEndsWithTheVerdict) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  const std::string id = Sha256Digest(signed_ + "-config");
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  Apply({&other_});  // the key that signed it is gone
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  Apply({&release_});
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  ASSERT_TRUE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  enforcer_->ForgetDigests({signed_});  // RemoveImage
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
}

TEST_F(EnforcerTest, ImportedUnsignedImageIsRefusedAtCreateContainer) {
  const std::string id = runtime_.Import(absl::StrCat(kRepo, ":unsigned"), unsigned_);
  auto pinned = enforcer_->AdmitImage(Pod("CreateContainer"), id);
  ASSERT_FALSE(pinned.ok());
  EXPECT_THAT(std::string(pinned.status().message()), StartsWith("SignatureValidationFailed: "));
  EXPECT_THAT(std::string(pinned.status().message()), HasSubstr(unsigned_));
  EXPECT_THAT(std::string(pinned.status().message()), HasSubstr("no signatures"));
  // Only the image's own repository was asked (the .sig manifest, the referrers API and the
  // referrers tag, by digest): the image id is not a repository name.
  EXPECT_EQ(client_->RequestCount(), 3u);
}

TEST_F(EnforcerTest, ImportedSignedImageIsVerifiedAtCreateContainerAndRemembered) {
  const std::string id = runtime_.Import(absl::StrCat(kRepo, ":signed"), signed_);
  auto pinned = enforcer_->AdmitImage(Pod("CreateContainer"), id);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(*pinned, id);
  EXPECT_EQ(LastRecord().source, "registry");
  EXPECT_TRUE(store_->Get(signed_, kRepo).has_value());
  const uint64_t before = client_->RequestCount();
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  EXPECT_EQ(client_->RequestCount(), before);
}

TEST_F(EnforcerTest, ImageTheRuntimeDoesNotHaveIsRefused) {
  auto pinned = enforcer_->AdmitImage(Pod("CreateContainer"), "registry.test/team/app:absent");
  ASSERT_FALSE(pinned.ok());
  EXPECT_THAT(std::string(pinned.status().message()), HasSubstr("not on the node"));
}

TEST_F(EnforcerTest, RuntimeDownRefusesCreateContainer) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  runtime_.SetUp(false);
  auto pinned = enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed"));
  ASSERT_FALSE(pinned.ok());
  EXPECT_EQ(pinned.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(EnforcerTest, RemovingTheKeyRevokesStoredVerdictsWithoutTheRegistry) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  transport_->down = true;
  RecheckReport report = Apply({&other_});
  EXPECT_EQ(report.valid, 0);
  ASSERT_THAT(report.invalid, SizeIs(1));
  EXPECT_THAT(report.invalid[0], HasSubstr(signed_));
  auto pinned = enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed"));
  ASSERT_FALSE(pinned.ok());
  EXPECT_THAT(std::string(pinned.status().message()), HasSubstr("RegistryUnavailable"));
  // Putting the key back restores the verdict, still offline.
  EXPECT_EQ(Apply({&release_}).valid, 1);
  EXPECT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed")).ok());
}

TEST_F(EnforcerTest, RetiringTheKeyRefusesStoredVerdictsWithoutTheRegistry) {
  SetNow(absl::FromUnixSeconds(1767225600));  // 2026-01-01T00:00:00Z
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  transport_->down = true;
  // The signature has no proven signing time: the window is judged by the time of the re-check.
  release_window_ = "not_after = 2025-12-31T23:59:59Z\n";
  RecheckReport report = Apply();
  EXPECT_EQ(report.valid, 0);
  ASSERT_THAT(report.invalid, SizeIs(1));
  EXPECT_THAT(report.invalid[0], HasSubstr("key \"release\" is valid until 2025-12-31T23:59:59Z; no proven "
                                           "signing time, decided at 2026-01-01T00:00:00Z"));
  auto pinned = enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed"));
  ASSERT_FALSE(pinned.ok());
  // The end is inclusive: a window that ends now still holds.
  release_window_ = "not_after = 2026-01-01T00:00:00Z\n";
  EXPECT_EQ(Apply().valid, 1);
  EXPECT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed")).ok());
}

TEST_F(EnforcerTest, AnApprovalRestingOnTheDecisionTimeLapsesAtTheKeysNotAfter) {
  SetNow(absl::FromUnixSeconds(1767225600));  // 2026-01-01T00:00:00Z
  release_window_ = "not_before = 2025-01-01T00:00:00Z\nnot_after = 2026-01-01T01:00:00Z\n";
  Apply();
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  transport_->down = true;
  const std::string id = Sha256Digest(signed_ + "-config");
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  SetNow(absl::FromUnixSeconds(1767225600) + absl::Hours(1));  // not_after itself: still valid
  EXPECT_TRUE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  EXPECT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  SetNow(absl::FromUnixSeconds(1767225600) + absl::Hours(1) + absl::Seconds(1));  // past it, no reload
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  EXPECT_FALSE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
}

TEST_F(EnforcerTest, BundleVerdictsAreReCheckedOfflineByFormatAttestationsIncluded) {
  const std::string bundled = registry_->PutManifest("team/app", "bundled", ImageManifest("bundled"));
  policy::AttachBundles(
      *registry_, "team/app", bundled, ImageManifest("bundled").size(),
      {policy::SignedBundle(release_, bundled, "https://sigstore.dev/cosign/sign/v1"),
       policy::SignedBundle(release_, bundled, "https://slsa.dev/provenance/v1", R"({"runDetails":{"builder":{"id":"ci"}}})")});
  auto provenance = [](const std::string& builder) {
    return absl::StrCat(policy::PolicyTable("team", "\"registry.test/team/**\"", "\"release\""),
                        "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"https://slsa.dev/provenance/v1\"\n"
                        "require = [\"release\"]\n[policy.attestations.match]\n\"runDetails.builder.id\" = \"",
                        builder, "\"\n");
  };
  ApplyText(provenance("ci"));
  ASSERT_TRUE(Pull("registry.test/team/app:bundled").ok());
  auto stored = store_->Get(bundled, kRepo);
  ASSERT_TRUE(stored.has_value());
  ASSERT_THAT(stored->evidence, SizeIs(2));
  EXPECT_EQ(verdicts::EvidenceFormat(stored->evidence[0].media_type), "sigstore bundle");
  ASSERT_THAT(stored->counted, SizeIs(2));
  EXPECT_EQ(stored->counted[1].attestation, "provenance");

  transport_->down = true;
  // The stored bundles, signature and attestation, hold again offline.
  RecheckReport same = ApplyText(provenance("ci"));
  EXPECT_EQ(same.valid, 1) << (same.invalid.empty() ? "" : same.invalid[0]);
  EXPECT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":bundled")).ok());
  // A reload requiring another builder refuses it, offline.
  RecheckReport other = ApplyText(provenance("other-ci"));
  EXPECT_EQ(other.valid, 0);
  ASSERT_THAT(other.invalid, SizeIs(1));
  EXPECT_THAT(other.invalid[0], HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1) not met"));
  EXPECT_FALSE(enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":bundled")).ok());
}

TEST_F(EnforcerTest, VerdictsStoredInTheV1FormatAreReadAndReChecked) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  std::optional<verdicts::Verdict> stored = store_->Get(signed_, kRepo);
  ASSERT_TRUE(stored.has_value());
  ASSERT_THAT(stored->counted, SizeIs(1));
  EXPECT_EQ(stored->counted[0].identity, "release");
  EXPECT_FALSE(stored->counted[0].signing_time.has_value());
  // The file as the v1 code wrote it: one key fingerprint, no statements.
  nlohmann::json v1 = nlohmann::json::parse(verdicts::EncodeVerdict(*stored));
  v1["format"] = "sigshim.verdict.v1";
  v1["key_fingerprint"] = stored->counted[0].fingerprint;
  v1.erase("counted");
  const std::string path = dir_->Path(absl::StrCat("verdicts/", verdicts::VerdictStore::FileName(signed_, kRepo)));
  ASSERT_TRUE(WriteFileAtomic(path, v1.dump(2), 0600).ok());
  OpenStore();
  EXPECT_EQ(last_report_.valid, 1) << (last_report_.invalid.empty() ? "" : last_report_.invalid[0]);
  transport_->down = true;
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed")).ok());
  audit::AuditRecord r = LastRecord();
  EXPECT_EQ(r.source, "verdict");
  EXPECT_EQ(r.identity, "release");
  EXPECT_EQ(r.signed_at, "");
  EXPECT_EQ(r.signed_at_source, "");
  // A v1 verdict is judged like any other: removing its key revokes it.
  EXPECT_EQ(Apply({&other_}).valid, 0);
}

TEST_F(EnforcerTest, VerdictsSurviveARestart) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  OpenStore();
  EXPECT_EQ(last_report_.valid, 1);
  transport_->down = true;
  EXPECT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed")).ok());
}

TEST_F(EnforcerTest, ForgottenDigestsNeedTheRegistryAgain) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  std::vector<std::string> digests = enforcer_->DigestsOf(absl::StrCat(kRepo, ":signed"));
  EXPECT_THAT(digests, ::testing::Contains(signed_));
  enforcer_->ForgetDigests(digests);
  EXPECT_FALSE(store_->Get(signed_, kRepo).has_value());
  EXPECT_EQ(enforcer_->VerdictCounts(), std::make_pair(size_t{0}, size_t{0}));
}

TEST_F(EnforcerTest, UnmatchedImagesFollowTheUnmatchedSetting) {
  const std::string other = registry_->PutManifest("elsewhere/tool", "1", ImageManifest("tool"));
  auto denied = enforcer_->DecidePull(Pod("PullImage"), "registry.test/elsewhere/tool:1", {});
  ASSERT_FALSE(denied.ok());
  EXPECT_THAT(std::string(denied.status().message()), HasSubstr("no policy matches"));
  Apply({}, "[enforcement]\nunmatched = \"allow\"\n");
  auto allowed = enforcer_->DecidePull(Pod("PullImage"), "registry.test/elsewhere/tool:1", {});
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(allowed->forward_image, "registry.test/elsewhere/tool:1");
  EXPECT_EQ(LastRecord().source, "unmatched");
  (void)other;
}

TEST_F(EnforcerTest, ARecordNamedAfterAVerifiedDigestIsJudgedByWhatItPointsAt) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  // The unsigned manifest imported by hand under the name "<repo>@<signed digest>", as
  // `ctr images tag` allows: the CRI lists that name among its repo_digests.
  const std::string id = runtime_.Import(absl::StrCat(kRepo, "@", signed_), unsigned_);
  auto pinned = enforcer_->AdmitImage(Pod("CreateContainer"), id);
  ASSERT_FALSE(pinned.ok());
  EXPECT_THAT(std::string(pinned.status().message()), HasSubstr(unsigned_));
  EXPECT_THAT(std::string(pinned.status().message()), HasSubstr("no signatures"));
}

TEST_F(EnforcerTest, ATagRepointedAtAVerifiedManifestLendsItsVerdictToNoOtherImage) {
  ASSERT_TRUE(Pull(absl::StrCat(kRepo, "@", signed_)).ok());  // a valid verdict for the signed manifest
  // U, unsigned, imported under the tag; then the tag record is re-pointed at the signed manifest
  // (a verified pull of the tag), while the runtime's CRI view still lists the tag for U.
  const std::string tag = absl::StrCat(kRepo, ":moving");
  const std::string unsigned_id = runtime_.Import(tag, unsigned_);
  images_.Put(tag, signed_);
  for (int attempt = 0; attempt < 3; ++attempt) {
    SCOPED_TRACE(attempt);
    EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), unsigned_id).has_value());
    auto pinned = enforcer_->AdmitImage(Pod("CreateContainer"), unsigned_id);
    ASSERT_FALSE(pinned.ok()) << "admitted as " << *pinned;
    EXPECT_THAT(std::string(pinned.status().message()), StartsWith("SignatureValidationFailed: "));
    EXPECT_EQ(LastRecord().decision, "deny");
  }
  // The signed image itself is still admitted by its verdict.
  const std::string signed_id = Sha256Digest(signed_ + "-config");
  auto admitted = enforcer_->AdmitImage(Pod("CreateContainer"), signed_id);
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(*admitted, signed_id);
}

TEST_F(EnforcerTest, AManifestThatCannotBeReadFromContainerdAdmitsNothing) {
  ASSERT_TRUE(Pull(absl::StrCat(kRepo, ":signed")).ok());
  content_.Put(signed_, "sha256:" + std::string(64, '0'));  // containerd's manifest is another image's
  auto refused = enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed"));
  EXPECT_FALSE(refused.ok());
}

TEST_F(EnforcerTest, SandboxImagePinnedInTheConfigurationIsTrustedAsConfigured) {
  runtime_.SetSandbox("registry.test/team/app:unsigned");
  runtime_.Import("registry.test/team/app:unsigned", unsigned_);
  Apply({}, "", absl::StrCat(kRepo, "@", unsigned_));
  ASSERT_TRUE(enforcer_->AdmitSandbox(Pod("RunPodSandbox")).ok());
  EXPECT_EQ(LastRecord().source, "config");
  EXPECT_EQ(LastRecord().digest, unsigned_);
}

TEST_F(EnforcerTest, SandboxImagePinnedToAnotherDigestThanTheRuntimesIsRefused) {
  runtime_.SetSandbox("registry.test/team/app:unsigned");
  runtime_.Import("registry.test/team/app:unsigned", unsigned_);
  Apply({}, "", absl::StrCat(kRepo, "@", signed_));
  absl::Status refused = enforcer_->AdmitSandbox(Pod("RunPodSandbox"));
  EXPECT_THAT(std::string(refused.message()), StartsWith("SignatureValidationFailed: registry.test/team/app:unsigned"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr(unsigned_));
  EXPECT_THAT(std::string(refused.message()), HasSubstr(signed_));
}

TEST_F(EnforcerTest, PinnedSandboxImageNotOnTheNodeIsPulledByDigestUnderTheRuntimesName) {
  runtime_.SetSandbox("registry.test/team/app:pause");
  Apply({}, "", absl::StrCat(kRepo, "@", signed_));
  ASSERT_TRUE(enforcer_->AdmitSandbox(Pod("RunPodSandbox")).ok());
  EXPECT_THAT(runtime_.pulls(), ::testing::ElementsAre(absl::StrCat(kRepo, "@", signed_)));
  auto tag = images_.Get("registry.test/team/app:pause");
  ASSERT_TRUE(tag.ok()) << tag.status();
  EXPECT_EQ(tag->target.digest, signed_);
}

TEST_F(EnforcerTest, SandboxImageNamedDifferentlyFromTheRuntimesIsRefused) {
  runtime_.SetSandbox("registry.test/team/app:unsigned");
  Apply({}, "", "registry.test/team/app:signed");
  absl::Status refused = enforcer_->AdmitSandbox(Pod("RunPodSandbox"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("[enforcement] sandbox_image names registry.test/team/app:signed"));
}

TEST_F(EnforcerTest, MissingSandboxImageIsPulledVerifiedAndPinned) {
  runtime_.SetSandbox("registry.test/team/app:signed");
  ASSERT_TRUE(enforcer_->AdmitSandbox(Pod("RunPodSandbox")).ok());
  EXPECT_THAT(runtime_.pulls(), ::testing::ElementsAre(absl::StrCat(kRepo, "@", signed_)));
  runtime_.SetSandbox("registry.test/team/app:unsigned");
  absl::Status refused = enforcer_->AdmitSandbox(Pod("RunPodSandbox"));
  EXPECT_THAT(std::string(refused.message()), StartsWith("SignatureValidationFailed: "));
  EXPECT_THAT(runtime_.pulls(), SizeIs(1));
}

TEST_F(EnforcerTest, UnknownSandboxImageIsARefusal) {
  absl::Status refused = enforcer_->AdmitSandbox(Pod("RunPodSandbox"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("sandbox_image"));
}

// --- Issue 12: namespaces, exceptions, enforce_from, revocation -----------------------------------

// Two policies over the same images: namespace "a" trusts "release", namespace "b" trusts "other".
constexpr char kPerNamespace[] =
    "[[policy]]\nname = \"team-a\"\nimages = [\"registry.test/team/**\"]\nnamespaces = [\"a\"]\nrequire = [\"release\"]\n\n"
    "[[policy]]\nname = \"team-b\"\nimages = [\"registry.test/team/**\"]\nnamespaces = [\"b\"]\nrequire = [\"other\"]\n\n";

TEST_F(EnforcerTest, AnImageVerifiedForNamespaceADoesNotAdmitAContainerInNamespaceB) {
  ApplyText(kPerNamespace);
  // Pulled in A: signed by "release", which A trusts.
  absl::StatusOr<PullPlan> plan = enforcer_->DecidePull(In("PullImage", "a"), "registry.test/team/app:signed", {});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(LastRecord().policy, "team-a");
  const std::string id = *runtime_.PullImage(plan->forward_image, {}, absl::InfiniteFuture());
  enforcer_->RememberPulled(*plan, id);
  ASSERT_TRUE(enforcer_->AdmitFromCache(In("CreateContainer", "a"), id).has_value());

  // The same image id, a container in B: not from A's cache, not from A's verdict, and B's policy refuses.
  EXPECT_FALSE(enforcer_->AdmitFromCache(In("CreateContainer", "b"), id).has_value());
  EXPECT_TRUE(Enforcer::NeedsRegistry(enforcer_->AdmitImage(In("CreateContainer", "b"), id, false).status()));
  auto refused = enforcer_->AdmitImage(In("CreateContainer", "b"), id);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("refused by policy \"team-b\""));
  EXPECT_EQ(LastRecord().namespace_name, "b");
  EXPECT_EQ(LastRecord().decision, "deny");

  // A pull in B: refused, although a pull of the same reference was verified for A.
  absl::StatusOr<PullPlan> in_b = enforcer_->DecidePull(In("PullImage", "b"), "registry.test/team/app:signed", {});
  ASSERT_FALSE(in_b.ok());
  EXPECT_THAT(std::string(in_b.status().message()), HasSubstr("refused by policy \"team-b\""));
  // A pull by digest in B does not ride on A's verdict either.
  EXPECT_FALSE(enforcer_->DecidePull(In("PullImage", "b"), absl::StrCat(kRepo, "@", signed_), {}).ok());

  // Once B's key signs it too, B admits it; A's cache still holds for A.
  SignWith({&release_, &other_}, signed_);
  ASSERT_TRUE(enforcer_->AdmitImage(In("CreateContainer", "b"), id).ok());
  EXPECT_EQ(LastRecord().policy, "team-b");
  EXPECT_TRUE(enforcer_->AdmitFromCache(In("CreateContainer", "b"), id).has_value());
  EXPECT_TRUE(enforcer_->AdmitFromCache(In("CreateContainer", "a"), id).has_value());
}

TEST_F(EnforcerTest, AStoredVerdictIsJudgedByThePolicyOfEachNamespaceAfterAReload) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());  // verdict stored (namespace "prod")
  RecheckReport report = ApplyText(kPerNamespace);
  EXPECT_EQ(report.valid, 1);  // valid under team-a
  transport_->down = true;     // offline from here
  const std::string id = Sha256Digest(signed_ + "-config");
  EXPECT_TRUE(enforcer_->AdmitImage(In("CreateContainer", "a"), id).ok());
  EXPECT_EQ(LastRecord().source, "verdict");
  auto in_b = enforcer_->AdmitImage(In("CreateContainer", "b"), id);
  ASSERT_FALSE(in_b.ok());
  EXPECT_THAT(std::string(in_b.status().message()), StartsWith("RegistryUnavailable: "));
  // A call without a namespace matches no policy here (both name namespaces): unmatched = deny.
  auto none = enforcer_->AdmitImage(In("CreateContainer", ""), id);
  ASSERT_FALSE(none.ok());
}

TEST_F(EnforcerTest, AnExceptionAdmitsAnUnsignedImageUntilItExpiresWithoutAReload) {
  const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  SetNow(t0);
  ApplyText(policy::PolicyTable("team", "\"registry.test/team/**\"", "\"release\"") +
            "[[exceptions]]\nname = \"vendor-x\"\nimages = [\"registry.test/team/app\"]\nnamespaces = [\"prod\"]\n"
            "reason = \"SEC-1234\"\nowner = \"sec@acme.test\"\nexpires = " +
            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t0 + absl::Hours(1), absl::UTCTimeZone()) + "\n");
  absl::StatusOr<PullPlan> plan = Pull("registry.test/team/app:unsigned");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->forward_image, absl::StrCat(kRepo, "@", unsigned_));  // still pinned to the digest
  audit::AuditRecord r = LastRecord();
  EXPECT_EQ(r.decision, "allow");
  EXPECT_TRUE(r.enforced);
  EXPECT_EQ(r.source, "exception");
  EXPECT_EQ(r.exception, "vendor-x");
  EXPECT_EQ(r.owner, "sec@acme.test");
  EXPECT_EQ(r.expires, verify::FormatTimeUtc(t0 + absl::Hours(1)));
  EXPECT_THAT(r.reason, HasSubstr("otherwise refused: no signatures"));
  EXPECT_FALSE(store_->Get(unsigned_, kRepo).has_value());  // an exception is not a verdict

  const std::string id = Sha256Digest(unsigned_ + "-config");
  SetNow(t0 + absl::Minutes(59));
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  EXPECT_EQ(LastRecord().source, "exception");
  // Another namespace is not covered.
  EXPECT_FALSE(enforcer_->AdmitImage(In("CreateContainer", "dev"), id).ok());
  EXPECT_FALSE(enforcer_->AdmitFromCache(In("CreateContainer", "dev"), id).has_value());

  // At the instant of expiry: refused, the same policy in force.
  SetNow(t0 + absl::Hours(1));
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  auto expired = enforcer_->AdmitImage(Pod("CreateContainer"), id);
  ASSERT_FALSE(expired.ok());
  EXPECT_THAT(std::string(expired.status().message()), HasSubstr("no signatures"));
  EXPECT_EQ(LastRecord().source, "registry");
  EXPECT_EQ(LastRecord().exception, "");
  EXPECT_FALSE(enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:unsigned", {}).ok());
}

TEST_F(EnforcerTest, AWarmCreateContainerOfAnExceptedImageAsksNoRegistryUntilTheExceptionExpires) {
  const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  SetNow(t0);
  const std::string policies =
      policy::PolicyTable("team", "\"registry.test/team/**\"", "\"release\"") +
      "[[exceptions]]\nname = \"vendor-x\"\nimages = [\"registry.test/team/app\"]\nnamespaces = [\"prod\"]\n"
      "reason = \"SEC-1234\"\nowner = \"sec@acme.test\"\nexpires = " +
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t0 + absl::Hours(1), absl::UTCTimeZone()) + "\n";
  ApplyText(policies);
  ASSERT_TRUE(Pull("registry.test/team/app:unsigned").ok());
  const std::string id = Sha256Digest(unsigned_ + "-config");
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());  // asks the registry: it refuses
  EXPECT_EQ(LastRecord().source, "exception");

  // Warm: the registry's refusal is remembered, the exception judged again, no registry request.
  const uint64_t asked = client_->RequestCount();
  SetNow(t0 + absl::Minutes(59));
  for (const std::string& image : {id, absl::StrCat(kRepo, ":unsigned")}) {
    SCOPED_TRACE(image);
    absl::StatusOr<std::string> admitted = enforcer_->AdmitImage(Pod("CreateContainer"), image, /*registry_allowed=*/false);
    ASSERT_TRUE(admitted.ok()) << admitted.status();
    EXPECT_EQ(*admitted, id);
    const audit::AuditRecord r = LastRecord();
    EXPECT_EQ(r.decision, "allow");
    EXPECT_EQ(r.source, "exception");
    EXPECT_EQ(r.exception, "vendor-x");
    EXPECT_EQ(r.owner, "sec@acme.test");
    EXPECT_EQ(r.expires, verify::FormatTimeUtc(t0 + absl::Hours(1)));
    EXPECT_EQ(r.digest, unsigned_);
    EXPECT_EQ(r.policy, "team");
    EXPECT_THAT(r.reason, HasSubstr("otherwise refused: no signatures"));
  }
  // And the image id fast path, without the runtime.
  runtime_.SetUp(false);
  std::optional<audit::AuditRecord> cached = enforcer_->AdmitFromCache(Pod("CreateContainer"), id);
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->source, "exception");
  EXPECT_EQ(cached->exception, "vendor-x");
  EXPECT_EQ(cached->digest, unsigned_);
  runtime_.SetUp(true);
  EXPECT_EQ(client_->RequestCount(), asked);

  // At the exception's expiry instant, the same policy in force: nothing remembered admits it; the
  // registry is asked again and refuses.
  SetNow(t0 + absl::Hours(1));
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  EXPECT_TRUE(Enforcer::NeedsRegistry(
      enforcer_->AdmitImage(Pod("CreateContainer"), id, /*registry_allowed=*/false).status()));
  auto expired = enforcer_->AdmitImage(Pod("CreateContainer"), id);
  ASSERT_FALSE(expired.ok());
  EXPECT_THAT(std::string(expired.status().message()), HasSubstr("no signatures"));
  EXPECT_GT(client_->RequestCount(), asked);

  // A reload forgets the remembered refusal; one that revokes the digest refuses it at once.
  SetNow(t0);
  ApplyText(policies);
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  ApplyText(policies + "[revocation]\nimages = [\"" + unsigned_ + "\"]\n");
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  auto revoked = enforcer_->AdmitImage(Pod("CreateContainer"), id);
  ASSERT_FALSE(revoked.ok());
  EXPECT_THAT(std::string(revoked.status().message()), HasSubstr(absl::StrCat("image ", unsigned_, " is revoked")));
}

TEST_F(EnforcerTest, EnforceFromAuditsDenialsBeforeItsInstantAndRefusesFromIt) {
  const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  SetNow(t0);
  ApplyText(policy::PolicyTable("team", "\"registry.test/team/**\"", "\"release\"") + "enforce_from = " +
            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t0 + absl::Hours(1), absl::UTCTimeZone()) + "\n");
  absl::StatusOr<PullPlan> plan = enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:unsigned", {});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(LastRecord().decision, "deny");
  EXPECT_FALSE(LastRecord().enforced);
  EXPECT_THAT(LastRecord().reason, HasSubstr("(not enforced: policy \"team\" enforces from "));
  SetNow(t0 + absl::Hours(1));
  EXPECT_FALSE(enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:unsigned", {}).ok());
  EXPECT_TRUE(LastRecord().enforced);
  // Errors are refused before the date too.
  SetNow(t0);
  transport_->down = true;
  EXPECT_FALSE(enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:unsigned", {}).ok());
  EXPECT_EQ(LastRecord().decision, "error");
}

TEST_F(EnforcerTest, RevokingTheKeyRefusesItsImageAtTheNextCreateContainerOffline) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  const std::string id = Sha256Digest(signed_ + "-config");
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  ASSERT_TRUE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  transport_->down = true;
  const std::string fingerprint = policy::Policy::Create(*policy::MustParse(policy::KeyTable("k", release_.pair.public_pem)))
                                      .value()
                                      ->keys()[0]
                                      .key->Fingerprint();
  RecheckReport report = ApplyText(policy::PolicyTable("team", "\"registry.test/team/**\"", "\"release\"") +
                                   "[revocation]\nkeys = [\"" + fingerprint + "\"]\n");
  EXPECT_EQ(report.valid, 0);
  ASSERT_THAT(report.invalid, SizeIs(1));
  EXPECT_THAT(report.invalid[0], HasSubstr(absl::StrCat("key ", fingerprint, " is revoked ([revocation] keys)")));
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  auto refused = enforcer_->AdmitImage(Pod("CreateContainer"), id);
  ASSERT_FALSE(refused.ok());
  // The refusal says why the verdict that admitted it before does not any more, and that the
  // registry could not be asked instead; so does the audit line.
  const std::string message(refused.status().message());
  EXPECT_THAT(message, StartsWith("RegistryUnavailable: "));
  for (const std::string& part :
       {absl::StrCat("its stored verdict no longer admits it (", kRepo, "@", signed_, ": "),
        absl::StrCat("key ", fingerprint, " is revoked ([revocation] keys)"),
        std::string("the registry could not be asked for other signatures: ")}) {
    EXPECT_THAT(message, HasSubstr(part));
    EXPECT_THAT(LastRecord().reason, HasSubstr(part));
  }
  EXPECT_EQ(LastRecord().decision, "error");
  // With the registry back and no other signature: a denial that still names the revocation.
  transport_->down = false;
  auto denied = enforcer_->AdmitImage(Pod("CreateContainer"), id);
  ASSERT_FALSE(denied.ok());
  EXPECT_THAT(std::string(denied.status().message()), StartsWith("SignatureValidationFailed: "));
  EXPECT_THAT(std::string(denied.status().message()),
              HasSubstr(absl::StrCat("key ", fingerprint, " is revoked ([revocation] keys)")));
  EXPECT_THAT(std::string(denied.status().message()), HasSubstr("and the registry does not verify it: "));
  EXPECT_EQ(LastRecord().decision, "deny");
}

TEST_F(EnforcerTest, PullsFromTwoNamespacesNeverShareAVerification) {
  ApplyText(kPerNamespace);
  std::vector<std::function<void()>> scheduled;
  auto schedule = [&scheduled](std::function<void()> task) {
    scheduled.push_back(std::move(task));
    return true;
  };
  std::optional<absl::StatusOr<PullPlan>> in_a, in_b;
  enforcer_->StartPull(In("PullImage", "a"), "registry.test/team/app:signed", {}, schedule, schedule,
                       [&in_a](absl::StatusOr<PullPlan> plan) { in_a = std::move(plan); });
  enforcer_->StartPull(In("PullImage", "b"), "registry.test/team/app:signed", {}, schedule, schedule,
                       [&in_b](absl::StatusOr<PullPlan> plan) { in_b = std::move(plan); });
  // The namespace selects the policy: B's pull cannot wait for A's verification.
  ASSERT_THAT(scheduled, SizeIs(2));
  for (auto& task : scheduled) task();
  ASSERT_TRUE(in_a.has_value() && in_b.has_value());
  EXPECT_TRUE(in_a->ok()) << in_a->status();
  ASSERT_FALSE(in_b->ok());
  EXPECT_THAT(std::string(in_b->status().message()), HasSubstr("refused by policy \"team-b\""));
}

TEST_F(EnforcerTest, ARevokedDigestIsRefusedWhateverSignsOrExceptsIt) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  const std::string id = Sha256Digest(signed_ + "-config");
  ASSERT_TRUE(enforcer_->AdmitImage(Pod("CreateContainer"), id).ok());
  ApplyText(policy::PolicyTable("team", "\"registry.test/team/**\"", "\"release\"") +
            "[[exceptions]]\nname = \"all\"\nimages = [\"registry.test/**\"]\nreason = \"r\"\nowner = \"o\"\n"
            "expires = " + absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", Now() + absl::Hours(1), absl::UTCTimeZone()) + "\n"
            "[enforcement]\nmode = \"audit\"\n"
            "[revocation]\nimages = [\"" + signed_ + "\"]\n");
  EXPECT_FALSE(enforcer_->AdmitFromCache(Pod("CreateContainer"), id).has_value());
  auto refused = enforcer_->AdmitImage(Pod("CreateContainer"), id);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(absl::StrCat("image ", signed_, " is revoked")));
  EXPECT_TRUE(LastRecord().enforced);
  EXPECT_EQ(LastRecord().exception, "");
  auto pull = enforcer_->DecidePull(Pod("PullImage"), absl::StrCat(kRepo, "@", signed_), {});
  ASSERT_FALSE(pull.ok());
  EXPECT_THAT(std::string(pull.status().message()), HasSubstr("revoked ([revocation] images)"));
  // The unsigned image of the same repository is still excepted.
  EXPECT_TRUE(enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:unsigned", {}).ok());
  EXPECT_EQ(LastRecord().source, "exception");
}

TEST_F(EnforcerTest, RevokingTheIndexAPlatformManifestCameThroughRevokesItsStoredVerdictOffline) {
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  // As if the pull had been admitted through an unsigned index by the platform manifest's signature.
  const std::string index = Sha256Digest("the index");
  std::optional<verdicts::Verdict> verdict = store_->Get(signed_, kRepo);
  ASSERT_TRUE(verdict.has_value());
  verdict->index_digest = index;
  ASSERT_TRUE(store_->Put(*verdict).ok());
  transport_->down = true;
  RecheckReport report = ApplyText(policy::PolicyTable("team", "\"registry.test/team/**\"", "\"release\"") +
                                   "[revocation]\nimages = [\"" + index + "\"]\n");
  ASSERT_THAT(report.invalid, SizeIs(1));
  EXPECT_THAT(report.invalid[0], HasSubstr(absl::StrCat("image ", index, " is revoked ([revocation] images)")));
  EXPECT_FALSE(enforcer_->AdmitImage(Pod("CreateContainer"), Sha256Digest(signed_ + "-config")).ok());
}

TEST_F(EnforcerTest, ATwoOfTwoPolicyNeedsBothKeysAndNamesBoth) {
  ApplyText(policy::PolicyTable("team", "\"registry.test/team/**\"", "\"release\", \"other\"") + "threshold = 2\n");
  auto one = enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:signed", {});
  ASSERT_FALSE(one.ok());
  EXPECT_THAT(std::string(one.status().message()), HasSubstr("1 of 2 required signers counted (\"release\")"));
  SignWith({&release_, &release_}, signed_);  // one identity signing twice counts once
  EXPECT_FALSE(enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:signed", {}).ok());
  SignWith({&release_, &other_}, signed_);
  ASSERT_TRUE(enforcer_->DecidePull(Pod("PullImage"), "registry.test/team/app:signed", {}).ok());
  EXPECT_EQ(LastRecord().identity, "release,other");
}

TEST_F(EnforcerTest, BothSignaturesOverOnePayloadAreStoredSoATwoOfTwoVerdictHoldsWithoutTheRegistry) {
  const std::string two_of_two =
      policy::PolicyTable("team", "\"registry.test/team/**\"", "\"release\", \"other\"") + "threshold = 2\n";
  ApplyText(two_of_two);
  // Two signers of one image sign the same payload: one blob digest, two layers told apart only by
  // their annotations.
  SignWith({&release_, &other_}, signed_);
  ASSERT_TRUE(Pull("registry.test/team/app:signed").ok());
  std::optional<verdicts::Verdict> stored = store_->Get(signed_, kRepo);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->evidence.size(), 2u);
  EXPECT_EQ(ApplyText(two_of_two).valid, 1);  // re-checked offline, as on a reload
  transport_->down = true;
  auto admitted = enforcer_->AdmitImage(Pod("CreateContainer"), absl::StrCat(kRepo, ":signed"));
  EXPECT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(LastRecord().source, "verdict");
  EXPECT_EQ(LastRecord().identity, "release,other");
}

}  // namespace
}  // namespace sigshim::shim
