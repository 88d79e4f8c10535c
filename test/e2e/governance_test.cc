// Governance on a real node (DESIGN.md "Configuration contract", Semantics): a real containerd 1.6,
// a real docker-registry and the sigshim binary, driven through its CRI socket as kubelet would.
//   - a two-of-two policy: one signature refused with "1 of 2", both signatures allowed;
//   - an unsigned image admitted by an [[exceptions]] entry (audit line: source "exception", its
//     name, owner and expiry), then refused once the entry has expired, without a reload;
//   - enforce_from in the future: a refusal audited, not enforced; in the past: refused;
//   - a revoked key refusing its image at the next CreateContainer after SIGHUP, registry stopped,
//     the answer and the audit line naming the key and saying the registry could not be asked;
//   - a revoked image digest refused even though an exception covers it;
//   - the exception metrics on /metrics;
//   - warm CreateContainer calls of an excepted image asking the registry nothing;
//   - `sigshim plan` against this node: a running container whose key a new configuration revokes
//     (or whose policy would require another key) named as newly refused, exit 1; a configuration
//     that changes nothing, exit 0; both decided from stored verdicts with the registry stopped.
// Needs root.
//
// One test bed (registry, containerd, sigshim with its status endpoint) serves the whole suite.
// Tests run in declaration order; each writes the configuration it needs (Settings) and reloads,
// uses its own repositories, removes the pods it made and leaves the registry running.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
#include "pkg/verify/public_key.h"
#include "test/e2e/attack_images.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/signer/signer.h"
#include "test/testbed/poll.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr absl::Duration kPollInterval = absl::Milliseconds(100);
constexpr char kNamespace[] = "e2e-gov";
constexpr char kOwner[] = "platform-security@acme.test";

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

// Returns `t` as a TOML offset date-time in UTC, to the second.
std::string TomlTime(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

// Expects the refusal the contract promises: gRPC UNKNOWN, a message starting with `prefix`
// ("SignatureValidationFailed: " unless said otherwise) and naming every one of `parts`. Prints the
// answer.
void ExpectRefused(const grpc::Status& status, const std::vector<std::string>& parts,
                   const std::string& prefix = "SignatureValidationFailed: ") {
  std::cout << "  answer: " << Describe(status) << std::endl;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << Describe(status);
  EXPECT_THAT(status.error_message(), StartsWith(prefix));
  for (const std::string& part : parts) EXPECT_THAT(status.error_message(), HasSubstr(part));
}

// What a test changes in the configuration; the rest is the same in every test.
struct Settings {
  // [[exceptions]] "vendor-x" (gov/vendor/**, namespace e2e-gov) expires then. Default: in 30 days.
  absl::Time vendor_expires = absl::Now() + absl::Hours(24 * 30);
  std::vector<std::string> revoked_keys;    // [revocation] keys
  std::vector<std::string> revoked_images;  // [revocation] images
  std::string extra;                        // appended verbatim
};

class GovernanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // SetUp fails every test
    auto bed = testbed::TestBed::Create({.name = "sigshim-gov"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    ASSERT_TRUE(MakeDirs(bed_->dir().Path("keys")).ok());
    for (auto [key, name, type] : {std::tuple{&release_, "release", test_signer::KeyType::kEcdsaP256},
                                   std::tuple{&team_, "team", test_signer::KeyType::kEd25519}}) {
      auto generated = GenerateKey(name, type, bed_->dir().Path(absl::StrCat("keys/", name, ".pub")));
      ASSERT_TRUE(generated.ok()) << generated.status();
      *key = generated->release();
    }
    auto base = bed_->BuildImage("base", {"/bin/sh"}, "governance");
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = new testbed::OciImage(*base);
    direct_ = new CriClient(bed_->containerd()->socket_path());

    socket_ = new std::string(bed_->dir().Path("sigshim.sock"));
    config_path_ = new std::string(bed_->dir().Path("sigshim.toml"));
    audit_path_ = new std::string(bed_->dir().Path("audit.log"));
    log_path_ = new std::string(bed_->dir().Path("sigshim.log"));
    state_dir_ = new std::string(bed_->dir().Path("sigshim-state"));
    auto port = testbed::PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    metrics_port_ = *port;
    ASSERT_TRUE(WriteFileAtomic(*config_path_, ConfigText(Settings{}), 0644).ok());
    auto process = StartSigshim(SigshimCommand(SIGSHIM_BINARY, *config_path_, *log_path_, bed_->dir().path()), *socket_);
    ASSERT_TRUE(process.ok()) << process.status();
    process_ = process->release();
    client_ = new CriClient(*socket_);
  }

  static void TearDownTestSuite() {
    if (process_ != nullptr) {
      absl::Status stopped = process_->Stop(absl::Seconds(15));
      EXPECT_TRUE(stopped.ok()) << stopped;
      delete process_;
      process_ = nullptr;
    }
    delete client_;
    client_ = nullptr;
    delete direct_;
    direct_ = nullptr;
    for (Key** key : {&release_, &team_}) {
      delete *key;
      *key = nullptr;
    }
    for (std::string** path : {&socket_, &config_path_, &audit_path_, &log_path_, &state_dir_}) {
      delete *path;
      *path = nullptr;
    }
    delete base_;
    base_ = nullptr;
    delete bed_;
    bed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || process_ == nullptr) FAIL() << "the test bed did not start";
    ASSERT_TRUE(process_->Running()) << "sigshim " << process_->ExitDescription() << "; end of its log:\n"
                                     << process_->LogTail(16384);
    if (!bed_->registry()->running()) ASSERT_TRUE(bed_->registry()->Start().ok());
  }

  void TearDown() override {
    for (const std::string& id : pods_) {
      grpc::Status removed = RemovePod(*direct_, id);
      EXPECT_TRUE(removed.ok()) << Describe(removed);
    }
    pods_.clear();
    if (bed_ != nullptr && !bed_->registry()->running()) EXPECT_TRUE(bed_->registry()->Start().ok());
  }

  // The configuration: enforce, unmatched deny, the sandbox image pinned; keys release and team;
  // policy "e2e" (release or team) over the registry, and more specific ones over gov/…:
  //   gov/both/**     "two-of-two": release and team (threshold 2)
  //   gov/later/**    "later": release, enforce_from in a year
  //   gov/earlier/**  "earlier": release, enforce_from 2020-01-01
  // exceptions "vendor-x" (gov/vendor/**, namespace e2e-gov) and "revoked-digest"
  // (gov/revoked-image/**), and [revocation] from `settings`.
  static std::string ConfigText(const Settings& settings) {
    EnforcingConfig config;
    config.socket = *socket_;
    config.runtime_endpoint = bed_->containerd()->socket_path();
    config.state_dir = *state_dir_;
    config.audit_path = *audit_path_;
    config.sandbox_image = absl::StrCat(bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest());
    config.metrics_listen = absl::StrCat("127.0.0.1:", metrics_port_);
    config.registry = bed_->registry()->host_port();
    config.auth_registry = "127.0.0.1:1";  // no second registry in this suite
    config.release_key_path = release_->public_path;
    config.team_key_path = team_->public_path;
    const std::string reg = bed_->registry()->host_port();
    auto quoted = [](const std::vector<std::string>& list) {
      std::string out;
      for (const std::string& item : list) absl::StrAppend(&out, out.empty() ? "" : ", ", "\"", item, "\"");
      return out;
    };
    config.extra = absl::StrCat(
        "\n[[policy]]\nname = \"two-of-two\"\nimages = [\"", reg, "/gov/both/**\"]\nrequire = [\"release\", \"team\"]\n",
        "threshold = 2\n",
        "\n[[policy]]\nname = \"later\"\nimages = [\"", reg, "/gov/later/**\"]\nrequire = [\"release\"]\n",
        "enforce_from = ", TomlTime(absl::Now() + absl::Hours(24 * 365)), "\n",
        "\n[[policy]]\nname = \"earlier\"\nimages = [\"", reg, "/gov/earlier/**\"]\nrequire = [\"release\"]\n",
        "enforce_from = 2020-01-01T00:00:00Z\n",
        "\n[[exceptions]]\nname = \"vendor-x\"\nimages = [\"", reg, "/gov/vendor/**\"]\nnamespaces = [\"", kNamespace,
        "\"]\nreason = \"vendor cannot sign yet (SEC-1234)\"\nowner = \"", kOwner, "\"\nexpires = ",
        TomlTime(settings.vendor_expires), "\n",
        "\n[[exceptions]]\nname = \"revoked-digest\"\nimages = [\"", reg, "/gov/revoked-image/**\"]\n",
        "reason = \"break glass (SEC-9)\"\nowner = \"", kOwner, "\"\nexpires = ",
        TomlTime(absl::Now() + absl::Hours(24 * 30)), "\n",
        "\n[revocation]\nkeys = [", quoted(settings.revoked_keys), "]\nimages = [", quoted(settings.revoked_images),
        "]\n", settings.extra);
    return EnforcingConfigToml(config);
  }

  // Writes `settings` to the config file and reloads sigshim (SIGHUP), waiting until it says the
  // new configuration is in force.
  static void Apply(const Settings& settings) {
    ASSERT_TRUE(WriteFileAtomic(*config_path_, ConfigText(settings), 0644).ok());
    const int before = Reloads();
    ASSERT_EQ(kill(process_->pid(), SIGHUP), 0);
    ASSERT_TRUE(testbed::Eventually([&] { return Reloads() > before; }, absl::Seconds(30), kPollInterval))
        << "no reload logged; end of sigshim's log:\n"
        << testbed::FileTail(*log_path_);
    ASSERT_THAT(testbed::FileTail(*log_path_, 1 << 20), Not(HasSubstr("reload failed")));
  }

  // Returns how many reloads sigshim has logged.
  static int Reloads() {
    const std::string log = testbed::FileTail(*log_path_, 16 << 20);
    int count = 0;
    for (size_t at = log.find("configuration reloaded from"); at != std::string::npos;
         at = log.find("configuration reloaded from", at + 1)) {
      ++count;
    }
    return count;
  }

  static std::string Repo(const std::string& repository) {
    return absl::StrCat(bed_->registry()->host_port(), "/", repository);
  }

  // Makes a distinct image running `cmd`, pushes it as repository:tag and returns its digest.
  static std::string PushNew(const std::string& repository, const std::string& tag,
                             const std::vector<std::string>& cmd) {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("v", ++images_made_), cmd);
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, *bed_->registry(), repository, tag);
    EXPECT_TRUE(digest.ok()) << digest.status();
    return digest.ok() ? *digest : "";
  }

  // Pushes one .sig holding a signature of `digest` (for its repository) by each of `keys`.
  static void Sign(const std::string& repository, const std::string& digest, const std::vector<const Key*>& keys) {
    std::vector<test_signer::SignatureLayer> layers;
    for (const Key* key : keys) {
      auto layer = test_signer::SignImageLayer(*key->signer, Repo(repository), digest);
      ASSERT_TRUE(layer.ok()) << layer.status();
      layers.push_back(*std::move(layer));
    }
    auto artifact = test_signer::BuildSignatureArtifact(digest, std::move(layers));
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    absl::Status pushed = PushSignatureArtifact(*bed_->registry(), repository, *artifact);
    ASSERT_TRUE(pushed.ok()) << pushed;
  }

  // Returns the fingerprint of `key` in the form [revocation] keys takes.
  static std::string Fingerprint(const Key& key) {
    auto pem = ReadFile(key.public_path, 1 << 16);
    EXPECT_TRUE(pem.ok()) << pem.status();
    auto parsed = verify::ParsePublicKeyPem(pem.ok() ? *pem : "");
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return parsed.ok() ? (*parsed)->Fingerprint() : "";
  }

  static grpc::Status Pull(const std::string& image, std::string* image_ref = nullptr) {
    return PullImage(*client_, image, kNamespace, nullptr, image_ref);
  }

  void RunPod(const std::string& name, PodRun* run) {
    run->config = HostNetworkPod(name, kNamespace, bed_->dir().Path(absl::StrCat("pods/", name)));
    grpc::Status status = RunPodSandbox(*client_, run->config, &run->sandbox_id);
    ASSERT_TRUE(status.ok()) << Describe(status);
    pods_.push_back(run->sandbox_id);
  }

  static grpc::Status CreateContainer(const PodRun& pod, const std::string& name, const std::string& image,
                                      std::string* container_id = nullptr) {
    CreateContainerResponse response;
    grpc::Status status = client_->runtime().CreateContainer(
        Context().get(), ContainerRequest(pod.sandbox_id, pod.config, name, image), &response);
    if (container_id != nullptr) *container_id = response.container_id();
    return status;
  }

  // Returns the audit lines with `method` and `image` (as decided on) whose digest is `digest`
  // (any when empty).
  static std::vector<nlohmann::json> AuditFor(const std::string& method, const std::string& digest) {
    std::vector<std::string> malformed;
    std::vector<nlohmann::json> out;
    for (nlohmann::json& line : ReadAuditLog(*audit_path_, &malformed)) {
      if (line.value("method", "") == method && line.value("digest", "") == digest) out.push_back(std::move(line));
    }
    for (const std::string& line : malformed) ADD_FAILURE() << "not a JSON object: " << line;
    return out;
  }

  // Returns the body of GET /metrics ("" after a failure, which fails the test).
  static std::string Metrics() {
    httplib::Client http("127.0.0.1", metrics_port_);
    http.set_connection_timeout(5);
    http.set_read_timeout(10);
    httplib::Result result = http.Get("/metrics");
    EXPECT_TRUE(result) << "GET /metrics: " << httplib::to_string(result.error());
    if (!result) return "";
    EXPECT_EQ(result->status, 200);
    return result->body;
  }

  // Returns the value of the series `series` ("name{labels}") in `scrape`, or -1 when absent.
  static double Series(const std::string& scrape, const std::string& series) {
    for (absl::string_view line : absl::StrSplit(scrape, '\n')) {
      if (!absl::StartsWith(line, series + " ")) continue;
      return std::stod(std::string(line.substr(series.size() + 1)));
    }
    return -1;
  }

  // Runs `sigshim plan` with `args` and returns what it did.
  static CommandRun Plan(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"plan"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandRun run = RunSigshimCommand(SIGSHIM_BINARY, argv);
    std::cout << "  sigshim plan " << absl::StrJoin(args, " ") << ": exit " << run.exit_code << "\n" << run.output
              << std::endl;
    return run;
  }

  static testbed::TestBed* bed_;
  static Key* release_;
  static Key* team_;
  static testbed::OciImage* base_;
  static int images_made_;
  static int metrics_port_;
  static std::string* socket_;
  static std::string* config_path_;
  static std::string* audit_path_;
  static std::string* log_path_;
  static std::string* state_dir_;
  static testbed::Subprocess* process_;
  static CriClient* client_;
  static CriClient* direct_;
  std::vector<std::string> pods_;
};

testbed::TestBed* GovernanceTest::bed_ = nullptr;
Key* GovernanceTest::release_ = nullptr;
Key* GovernanceTest::team_ = nullptr;
testbed::OciImage* GovernanceTest::base_ = nullptr;
int GovernanceTest::images_made_ = 0;
int GovernanceTest::metrics_port_ = 0;
std::string* GovernanceTest::socket_ = nullptr;
std::string* GovernanceTest::config_path_ = nullptr;
std::string* GovernanceTest::audit_path_ = nullptr;
std::string* GovernanceTest::log_path_ = nullptr;
std::string* GovernanceTest::state_dir_ = nullptr;
testbed::Subprocess* GovernanceTest::process_ = nullptr;
CriClient* GovernanceTest::client_ = nullptr;
CriClient* GovernanceTest::direct_ = nullptr;

TEST_F(GovernanceTest, TwoOfTwoPolicyRefusesOneSignatureAndAllowsBoth) {
  const std::string one = Repo("gov/both/one:v1");
  const std::string one_digest = PushNew("gov/both/one", "v1", {"/bin/echo", "one"});
  ASSERT_NO_FATAL_FAILURE(Sign("gov/both/one", one_digest, {release_}));
  ExpectRefused(Pull(one), {one, one_digest, "refused by policy \"two-of-two\"", "1 of 2 required signers counted",
                            "needs 2 of release, team"});

  const std::string both = Repo("gov/both/two:v1");
  const std::string both_digest = PushNew("gov/both/two", "v1", {"/bin/echo", "two"});
  ASSERT_NO_FATAL_FAILURE(Sign("gov/both/two", both_digest, {release_, team_}));
  grpc::Status pulled = Pull(both);
  EXPECT_TRUE(pulled.ok()) << Describe(pulled);
  const std::vector<nlohmann::json> lines = AuditFor("PullImage", both_digest);
  ASSERT_EQ(lines.size(), 1u);
  std::cout << "  audit: " << lines.front().dump() << std::endl;
  EXPECT_EQ(lines.front().value("decision", ""), "allow");
  EXPECT_EQ(lines.front().value("policy", ""), "two-of-two");
  EXPECT_EQ(lines.front().value("identity", ""), "release,team");

  // Both signatures are kept as evidence: with the registry stopped, the stored verdict alone
  // admits a container (two signers sign the same payload, so the two layers share one digest).
  std::string image_id;
  ASSERT_TRUE(Pull(both, &image_id).ok());
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod("both", &pod));
  ASSERT_TRUE(bed_->registry()->Stop().ok());
  grpc::Status created = CreateContainer(pod, "both", image_id);
  EXPECT_TRUE(created.ok()) << Describe(created);
  const std::vector<nlohmann::json> creates = AuditFor("CreateContainer", both_digest);
  ASSERT_EQ(creates.size(), 1u);
  std::cout << "  audit: " << creates.front().dump() << std::endl;
  EXPECT_EQ(creates.front().value("source", ""), "verdict");
  EXPECT_EQ(creates.front().value("identity", ""), "release,team");
}

TEST_F(GovernanceTest, ExceptionAdmitsAnUnsignedImageUntilItExpiresWithoutAReload) {
  // The exception expires a few seconds from now: long enough to pull and create, then waited out.
  Settings settings;
  settings.vendor_expires = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now() + absl::Seconds(20)));
  ASSERT_NO_FATAL_FAILURE(Apply(settings));
  const std::string image = Repo("gov/vendor/tool:v1");
  const std::string digest = PushNew("gov/vendor/tool", "v1", {"/bin/echo", "vendor"});
  std::string image_ref;
  grpc::Status pulled = Pull(image, &image_ref);
  ASSERT_TRUE(pulled.ok()) << Describe(pulled);
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod("vendor", &pod));
  grpc::Status created = CreateContainer(pod, "before", image);
  EXPECT_TRUE(created.ok()) << Describe(created);
  ASSERT_LT(absl::Now(), settings.vendor_expires) << "too slow: the exception expired before the checks";

  const std::string expires = TomlTime(settings.vendor_expires);
  for (const char* method : {"PullImage", "CreateContainer"}) {
    SCOPED_TRACE(method);
    const std::vector<nlohmann::json> lines = AuditFor(method, digest);
    ASSERT_EQ(lines.size(), 1u);
    const nlohmann::json& line = lines.front();
    std::cout << "  audit: " << line.dump() << std::endl;
    EXPECT_EQ(line.value("decision", ""), "allow");
    EXPECT_EQ(line.value("source", ""), "exception");
    EXPECT_EQ(line.value("exception", ""), "vendor-x");
    EXPECT_EQ(line.value("owner", ""), kOwner);
    EXPECT_EQ(line.value("expires", ""), expires);
    EXPECT_EQ(line.value("namespace", ""), kNamespace);
    EXPECT_THAT(line.value("reason", ""), HasSubstr("no signatures"));  // why it would otherwise be refused
  }

  // Past the expiry (with a margin), with no reload: refused at the next call.
  const int reloads = Reloads();
  absl::SleepFor(settings.vendor_expires - absl::Now() + absl::Seconds(2));
  ExpectRefused(CreateContainer(pod, "after", image), {digest, "no signatures"});
  ExpectRefused(Pull(image), {image, digest, "no signatures"});
  EXPECT_EQ(Reloads(), reloads) << "the refusal came with a reload";
  std::vector<nlohmann::json> after = AuditFor("CreateContainer", digest);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after.back().value("decision", ""), "deny");
  EXPECT_EQ(after.back().value("exception", ""), "");
}

TEST_F(GovernanceTest, EnforceFromAheadAuditsTheRefusalAndEnforceFromPastRefuses) {
  const std::string later = Repo("gov/later/app:v1");
  const std::string later_digest = PushNew("gov/later/app", "v1", {"/bin/echo", "later"});
  grpc::Status pulled = Pull(later);
  EXPECT_TRUE(pulled.ok()) << Describe(pulled);
  const std::vector<nlohmann::json> lines = AuditFor("PullImage", later_digest);
  ASSERT_EQ(lines.size(), 1u);
  std::cout << "  audit: " << lines.front().dump() << std::endl;
  EXPECT_EQ(lines.front().value("decision", ""), "deny");
  EXPECT_EQ(lines.front().value("enforced", true), false);
  EXPECT_EQ(lines.front().value("policy", ""), "later");

  const std::string earlier = Repo("gov/earlier/app:v1");
  const std::string earlier_digest = PushNew("gov/earlier/app", "v1", {"/bin/echo", "earlier"});
  ExpectRefused(Pull(earlier), {earlier, earlier_digest, "refused by policy \"earlier\"", "no signatures"});
  const std::vector<nlohmann::json> refused = AuditFor("PullImage", earlier_digest);
  ASSERT_EQ(refused.size(), 1u);
  std::cout << "  audit: " << refused.front().dump() << std::endl;
  EXPECT_EQ(refused.front().value("decision", ""), "deny");
  EXPECT_EQ(refused.front().value("enforced", false), true);
}

TEST_F(GovernanceTest, RevokedKeyRefusesItsImageAtTheNextCreateContainerAfterSighupWithTheRegistryStopped) {
  const std::string image = Repo("gov/revoked-key/app:v1");
  const std::string digest = PushNew("gov/revoked-key/app", "v1", {"/bin/echo", "team"});
  ASSERT_NO_FATAL_FAILURE(Sign("gov/revoked-key/app", digest, {team_}));
  const std::string kept = Repo("gov/revoked-key/kept:v1");
  const std::string kept_digest = PushNew("gov/revoked-key/kept", "v1", {"/bin/echo", "release"});
  ASSERT_NO_FATAL_FAILURE(Sign("gov/revoked-key/kept", kept_digest, {release_}));
  std::string image_id;
  ASSERT_TRUE(Pull(image, &image_id).ok());
  ASSERT_TRUE(Pull(kept).ok());
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod("revoked-key", &pod));
  grpc::Status created = CreateContainer(pod, "before", image_id);
  ASSERT_TRUE(created.ok()) << Describe(created);

  // The registry stopped: the stored verdict alone admits the image...
  ASSERT_TRUE(bed_->registry()->Stop().ok());
  created = CreateContainer(pod, "registry-down", image_id);
  ASSERT_TRUE(created.ok()) << Describe(created);
  // ... until a reload revokes its key: its verdict no longer holds (re-checked offline, logged),
  // and the registry that would be asked for other signatures is not there. Refused, and the
  // answer and the audit line say both: which key is revoked, and that the registry could not be
  // asked.
  Settings settings;
  settings.revoked_keys = {Fingerprint(*team_)};
  ASSERT_NO_FATAL_FAILURE(Apply(settings));
  const std::string revoked = absl::StrCat("key ", Fingerprint(*team_), " is revoked ([revocation] keys)");
  EXPECT_THAT(testbed::FileTail(*log_path_, 1 << 20),
              HasSubstr(absl::StrCat("verdict not valid any more: ", Repo("gov/revoked-key/app"), "@", digest, ": ")));
  EXPECT_THAT(testbed::FileTail(*log_path_, 1 << 20), HasSubstr(revoked));
  const std::string stale =
      absl::StrCat("its stored verdict no longer admits it (", Repo("gov/revoked-key/app"), "@", digest, ": ");
  const std::string unasked = "and the registry could not be asked for other signatures: ";
  ExpectRefused(CreateContainer(pod, "after-by-id", image_id), {image_id, digest, stale, revoked, unasked},
                "RegistryUnavailable: ");
  ExpectRefused(CreateContainer(pod, "after-by-name", image), {image, digest, stale, revoked, unasked},
                "RegistryUnavailable: ");
  int refusals = 0;
  for (const nlohmann::json& line : AuditFor("CreateContainer", digest)) {
    if (line.value("container", "").rfind("after-", 0) != 0) continue;
    std::cout << "  audit: " << line.dump() << std::endl;
    ++refusals;
    EXPECT_EQ(line.value("decision", ""), "error");
    EXPECT_EQ(line.value("enforced", false), true);
    EXPECT_THAT(line.value("reason", ""), StartsWith("RegistryUnavailable: "));
    for (const std::string& part : {stale, revoked, unasked}) EXPECT_THAT(line.value("reason", ""), HasSubstr(part));
  }
  EXPECT_EQ(refusals, 2);
  grpc::Status other = CreateContainer(pod, "kept", kept);  // its key is not revoked: its verdict holds
  EXPECT_TRUE(other.ok()) << Describe(other);
  ASSERT_NO_FATAL_FAILURE(Apply(Settings{}));
}

TEST_F(GovernanceTest, RevokedImageDigestIsRefusedEvenWithAnExceptionAndASignature) {
  const std::string image = Repo("gov/revoked-image/app:v1");
  const std::string digest = PushNew("gov/revoked-image/app", "v1", {"/bin/echo", "revoked"});
  ASSERT_NO_FATAL_FAILURE(Sign("gov/revoked-image/app", digest, {release_}));
  Settings settings;
  settings.revoked_images = {digest};
  ASSERT_NO_FATAL_FAILURE(Apply(settings));
  ExpectRefused(Pull(image), {image, digest, "is revoked ([revocation] images)"});
  const std::vector<nlohmann::json> lines = AuditFor("PullImage", digest);
  ASSERT_EQ(lines.size(), 1u);
  std::cout << "  audit: " << lines.front().dump() << std::endl;
  EXPECT_EQ(lines.front().value("decision", ""), "deny");
  EXPECT_EQ(lines.front().value("exception", ""), "");
  EXPECT_EQ(lines.front().value("enforced", false), true);
  ASSERT_NO_FATAL_FAILURE(Apply(Settings{}));
  grpc::Status pulled = Pull(image);  // the same image, no longer revoked: its signature admits it
  EXPECT_TRUE(pulled.ok()) << Describe(pulled);
}

TEST_F(GovernanceTest, ExceptionMetricsShowExpiryAndAdmissions) {
  const std::string scrape = Metrics();
  // Applied by the previous test: revoked-digest expires in 30 days (to the second), and vendor-x
  // admitted the pull and the container of the exception test.
  const double expiry = Series(scrape, "sigshim_exception_expiry_timestamp_seconds{exception=\"revoked-digest\"}");
  EXPECT_GT(expiry, absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 29)));
  EXPECT_LE(expiry, absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 30)));
  EXPECT_GE(Series(scrape, "sigshim_exception_expiry_timestamp_seconds{exception=\"vendor-x\"}"), 0);
  EXPECT_EQ(Series(scrape, "sigshim_exception_admissions_total{exception=\"vendor-x\"}"), 2) << scrape;
  for (absl::string_view line : absl::StrSplit(scrape, '\n')) {
    if (absl::StrContains(line, "sigshim_exception_")) std::cout << "  " << line << std::endl;
  }
}

TEST_F(GovernanceTest, AWarmCreateContainerOfAnExceptedImageMakesNoRegistryRequest) {
  ASSERT_NO_FATAL_FAILURE(Apply(Settings{}));  // vendor-x in force for 30 days
  const std::string image = Repo("gov/vendor/warm:v1");
  const std::string digest = PushNew("gov/vendor/warm", "v1", {"/bin/echo", "warm"});
  std::string image_id;
  grpc::Status pulled = Pull(image, &image_id);
  ASSERT_TRUE(pulled.ok()) << Describe(pulled);
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod("vendor-warm", &pod));
  // Every request sigshim makes to decide the image asks for its signatures: the .sig tag.
  const std::string sig_path = absl::StrCat("/v2/gov/vendor/warm/manifests/sha256-", digest.substr(7), ".sig");
  auto asked = [&] {
    return bed_->registry()->CountRequests("GET", sig_path) + bed_->registry()->CountRequests("HEAD", sig_path);
  };
  // The first CreateContainer asks the registry (it refuses; the exception admits); the next ones,
  // by image id and by name, ask nothing: the refusal is remembered and the exception judged again.
  const int before = asked();
  grpc::Status created = CreateContainer(pod, "first", image_id);
  ASSERT_TRUE(created.ok()) << Describe(created);
  const int after_first = asked();
  for (const std::string& name : {"second", "third"}) {
    created = CreateContainer(pod, name, name == "second" ? image_id : image);
    ASSERT_TRUE(created.ok()) << name << ": " << Describe(created);
  }
  const int after_third = asked();
  std::cout << "  .sig requests: first CreateContainer " << after_first - before << ", second and third "
            << after_third - after_first << std::endl;
  EXPECT_GT(after_first, before) << "the first CreateContainer did not ask the registry: " << sig_path << " never counted";
  EXPECT_EQ(after_third, after_first) << "a warm CreateContainer of an excepted image asked the registry";
  const std::vector<nlohmann::json> lines = AuditFor("CreateContainer", digest);
  ASSERT_EQ(lines.size(), 3u);
  for (const nlohmann::json& line : lines) {
    std::cout << "  audit: " << line.dump() << std::endl;
    EXPECT_EQ(line.value("decision", ""), "allow");
    EXPECT_EQ(line.value("source", ""), "exception");
    EXPECT_EQ(line.value("exception", ""), "vendor-x");
    EXPECT_EQ(line.value("owner", ""), kOwner);
    EXPECT_THAT(line.value("reason", ""), HasSubstr("no signatures"));
  }
}

TEST_F(GovernanceTest, PlanNamesARunningContainerANewConfigurationWouldRefuse) {
  const std::string image = Repo("gov/plan/app:v1");
  const std::string digest = PushNew("gov/plan/app", "v1", {"/bin/sleep", "600"});
  ASSERT_NO_FATAL_FAILURE(Sign("gov/plan/app", digest, {team_}));
  std::string image_id;
  ASSERT_TRUE(Pull(image, &image_id).ok());
  PodRun pod;
  ASSERT_NO_FATAL_FAILURE(RunPod("plan", &pod));
  std::string container_id;
  grpc::Status created = CreateContainer(pod, "server", image_id, &container_id);
  ASSERT_TRUE(created.ok()) << Describe(created);
  StartContainerRequest start;
  start.set_container_id(container_id);
  StartContainerResponse started;
  grpc::Status status = client_->runtime().StartContainer(Context().get(), start, &started);
  ASSERT_TRUE(status.ok()) << Describe(status);

  // Three candidate configurations: the key revoked; the policy for gov/plan requiring another key;
  // nothing changed.
  const std::string revoked_path = bed_->dir().Path("plan-revoked.toml");
  Settings revoked;
  revoked.revoked_keys = {Fingerprint(*team_)};
  ASSERT_TRUE(WriteFileAtomic(revoked_path, ConfigText(revoked), 0644).ok());
  const std::string other_key_path = bed_->dir().Path("plan-other-key.toml");
  Settings other_key;
  other_key.extra = absl::StrCat("\n[[policy]]\nname = \"plan-release\"\nimages = [\"", Repo("gov/plan/**"),
                                 "\"]\nrequire = [\"release\"]\n");
  ASSERT_TRUE(WriteFileAtomic(other_key_path, ConfigText(other_key), 0644).ok());
  const std::string same_path = bed_->dir().Path("plan-same.toml");
  ASSERT_TRUE(WriteFileAtomic(same_path, ConfigText(Settings{}), 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(*config_path_, ConfigText(Settings{}), 0644).ok());

  const std::string container_name = absl::StrCat(kNamespace, "/plan/server (", image, ")");
  {
    SCOPED_TRACE("another key required, json");
    CommandRun run = Plan({"--config", other_key_path, "--current", *config_path_, "--output", "json"});
    EXPECT_EQ(run.exit_code, 1) << DescribeRun(run);
    nlohmann::json plan = nlohmann::json::parse(run.output, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(plan.is_object()) << DescribeRun(run);
    EXPECT_EQ(plan["exit_code"], 1);
    EXPECT_EQ(plan["newly_refused"]["containers"], nlohmann::json::array({container_name}));
    bool found = false;
    for (const nlohmann::json& row : plan["containers"]) {
      if (row.value("container_id", "") != container_id) continue;
      found = true;
      EXPECT_EQ(row.value("namespace", ""), kNamespace);
      EXPECT_EQ(row.value("image_id", ""), image_id);
      EXPECT_EQ(row["now"].value("allowed", false), true);
      EXPECT_EQ(row["now"].value("source", ""), "verdict");
      EXPECT_EQ(row["now"].value("policy", ""), "e2e");
      EXPECT_EQ(row["new"].value("allowed", true), false);
      EXPECT_EQ(row["new"].value("policy", ""), "plan-release");
      EXPECT_EQ(row.value("newly_refused", false), true);
    }
    EXPECT_TRUE(found) << "the running container is not in the plan: " << run.output;
  }
  // From here stored evidence decides: the registry is not needed for the running container.
  ASSERT_TRUE(bed_->registry()->Stop().ok());
  {
    SCOPED_TRACE("key revoked, text");
    CommandRun run = Plan({"--config", revoked_path, "--current", *config_path_});
    EXPECT_EQ(run.exit_code, 1) << DescribeRun(run);
    EXPECT_THAT(run.output, HasSubstr(absl::StrCat("newly refused: container ", container_name,
                                                   ": stored verdict no longer valid (")));
    EXPECT_THAT(run.output, HasSubstr(absl::StrCat("key ", Fingerprint(*team_), " is revoked ([revocation] keys)")));
    EXPECT_THAT(run.output, HasSubstr("would newly be refused: 1 running container(s)"));
  }
  {
    SCOPED_TRACE("nothing changed");
    CommandRun run = Plan({"--config", same_path, "--current", *config_path_, "--output", "json"});
    EXPECT_EQ(run.exit_code, 0) << DescribeRun(run);
    nlohmann::json plan = nlohmann::json::parse(run.output, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(plan.is_object()) << DescribeRun(run);
    EXPECT_EQ(plan["newly_refused"]["containers"], nlohmann::json::array());
    EXPECT_EQ(plan["running_refused"], 0);
    ASSERT_EQ(plan["containers"].size(), 1u);
    EXPECT_EQ(plan["containers"][0]["new"].value("source", ""), "verdict");
  }
  // The plan changed nothing on the node: the daemon still admits the image.
  ASSERT_TRUE(bed_->registry()->Start().ok());
  grpc::Status again = CreateContainer(pod, "again", image_id);
  EXPECT_TRUE(again.ok()) << Describe(again);
}

}  // namespace
}  // namespace sigshim::e2e
