// sigshim is observable on a real node: its Prometheus metrics count exactly the decisions its
// audit log records (by method, result and reason), the registry verifications it made, the
// registry requests it sent, the verdicts it stores, and the configuration in force across good
// and bad SIGHUP reloads; /healthz answers while it serves and /readyz follows containerd going
// away and coming back. Credentials given to a pull never reach /metrics. Needs root.
//
// One test bed (registry, a second registry with basic auth, containerd, one sigshim with its
// status endpoint on a free loopback port) serves the whole suite. Tests run in declaration
// order: the counters are cumulative, and every test ends by checking them against the whole
// audit log.
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"
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
constexpr char kNamespace[] = "e2e-obs";
constexpr char kAuthUser[] = "obs-user";

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

// One sample of the exposition text: `name{labels} value`.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses the value of a sample line: a float, "+Inf", "-Inf" or "NaN".
bool ParseValue(absl::string_view text, double* value) {
  if (text == "+Inf") {
    *value = HUGE_VAL;
    return true;
  }
  if (text == "-Inf") {
    *value = -HUGE_VAL;
    return true;
  }
  return absl::SimpleAtod(text, value);
}

// Parses one line of the Prometheus text format 0.0.4 that is not a comment; false when it is
// malformed.
bool ParseSampleLine(absl::string_view line, Sample* sample) {
  size_t i = 0;
  auto is_name_char = [](char c) { return absl::ascii_isalnum(c) || c == '_' || c == ':'; };
  while (i < line.size() && is_name_char(line[i])) ++i;
  if (i == 0) return false;
  sample->name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t start = i;
      while (i < line.size() && is_name_char(line[i])) ++i;
      if (i == start || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return false;
      std::string key(line.substr(start, i - start));
      i += 2;
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') {
          if (i + 1 >= line.size()) return false;
          const char escaped = line[i + 1];
          if (escaped == 'n') {
            value.push_back('\n');
          } else if (escaped == '\\' || escaped == '"') {
            value.push_back(escaped);
          } else {
            return false;
          }
          i += 2;
        } else {
          value.push_back(line[i++]);
        }
      }
      if (i >= line.size()) return false;
      ++i;  // the closing quote
      if (!sample->labels.emplace(std::move(key), std::move(value)).second) return false;
      if (i < line.size() && line[i] == ',') ++i;
    }
  }
  if (i >= line.size() || line[i] != ' ') return false;
  std::vector<absl::string_view> rest = absl::StrSplit(line.substr(i + 1), ' ', absl::SkipEmpty());
  if (rest.empty() || rest.size() > 2) return false;  // value [timestamp]
  return ParseValue(rest[0], &sample->value);
}

// One scrape of /metrics, parsed.
class Scrape {
 public:
  // Parses `text`; a line that is neither a comment nor a well-formed sample fails the test.
  explicit Scrape(std::string text) : text_(std::move(text)) {
    for (absl::string_view line : absl::StrSplit(text_, '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(line, "#")) continue;
      Sample sample;
      if (!ParseSampleLine(line, &sample)) {
        ADD_FAILURE() << "not a sample line of the exposition format: " << line;
        continue;
      }
      samples_.push_back(std::move(sample));
    }
  }

  const std::string& text() const { return text_; }
  const std::vector<Sample>& samples() const { return samples_; }

  // Returns the value of the sample `name` with exactly `labels`, or nullopt.
  std::optional<double> Value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const Sample& s : samples_) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }

  // Returns the value of `name` with `labels`, 0 when the series is not exported (yet).
  double ValueOr0(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    return Value(name, labels).value_or(0);
  }

  // Returns the samples named `name`.
  std::vector<Sample> All(const std::string& name) const {
    std::vector<Sample> out;
    for (const Sample& s : samples_) {
      if (s.name == name) out.push_back(s);
    }
    return out;
  }

  // Returns sigshim_decisions_total by (method, result, reason).
  std::map<std::tuple<std::string, std::string, std::string>, double> Decisions() const {
    std::map<std::tuple<std::string, std::string, std::string>, double> out;
    for (const Sample& s : All("sigshim_decisions_total")) {
      EXPECT_EQ(s.labels.size(), 3u) << text_;
      out[{s.labels.count("method") ? s.labels.at("method") : "",
           s.labels.count("result") ? s.labels.at("result") : "",
           s.labels.count("reason") ? s.labels.at("reason") : ""}] += s.value;
    }
    return out;
  }

  // Returns the verification count of histogram series `result`.
  double Verifications(const std::string& result) const {
    return ValueOr0("sigshim_verification_duration_seconds_count", {{"result", result}});
  }

  double TotalVerifications() const {
    double total = 0;
    for (const Sample& s : All("sigshim_verification_duration_seconds_count")) total += s.value;
    return total;
  }

 private:
  std::string text_;
  std::vector<Sample> samples_;
};

using DecisionKey = std::tuple<std::string, std::string, std::string>;

std::string DescribeDecisions(const std::map<DecisionKey, double>& decisions) {
  std::string out;
  for (const auto& [key, value] : decisions) {
    absl::StrAppend(&out, "  {method=", std::get<0>(key), ", result=", std::get<1>(key),
                    ", reason=", std::get<2>(key), "} ", value, "\n");
  }
  return out;
}

class ObservabilityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // SetUp fails every test
    auto bed = testbed::TestBed::Create({.name = "sigshim-obs"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    auto registry = StartAuthRegistry(*bed_, kAuthUser, AuthPassword());
    ASSERT_TRUE(registry.ok()) << registry.status();
    auth_registry_ = registry->release();

    ASSERT_TRUE(MakeDirs(bed_->dir().Path("keys")).ok());
    for (auto [key, name, type] : {std::tuple{&release_, "release", test_signer::KeyType::kEcdsaP256},
                                   std::tuple{&team_, "team", test_signer::KeyType::kEd25519}}) {
      auto generated = GenerateKey(name, type, bed_->dir().Path(absl::StrCat("keys/", name, ".pub")));
      ASSERT_TRUE(generated.ok()) << generated.status();
      *key = generated->release();
    }
    auto base = bed_->BuildImage("base", {"/bin/sh"}, "observability");
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = new testbed::OciImage(*base);
    direct_ = new CriClient(bed_->containerd()->socket_path());

    socket_ = new std::string(bed_->dir().Path("sigshim.sock"));
    config_path_ = new std::string(bed_->dir().Path("sigshim.toml"));
    audit_path_ = new std::string(bed_->dir().Path("audit.log"));
    log_path_ = new std::string(bed_->dir().Path("sigshim.log"));
    state_dir_ = new std::string(bed_->dir().Path("sigshim-state"));
    ASSERT_NO_FATAL_FAILURE(StartSigshim());
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
    delete base_;
    base_ = nullptr;
    for (std::string** s : {&socket_, &config_path_, &audit_path_, &log_path_, &state_dir_}) {
      delete *s;
      *s = nullptr;
    }
    delete auth_registry_;
    auth_registry_ = nullptr;
    delete bed_;  // stops containerd and the registry, removes the folder
    bed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || process_ == nullptr || client_ == nullptr) FAIL() << "the test bed did not start";
    ASSERT_TRUE(process_->Running()) << "sigshim " << process_->ExitDescription() << "; end of its log:\n"
                                     << process_->LogTail(16384);
  }

  void TearDown() override {
    for (const std::string& id : pods_) RemovePod(id);
    pods_.clear();
    if (process_ != nullptr && !process_->Running()) {
      ADD_FAILURE() << "sigshim " << process_->ExitDescription() << " during this test; end of its log:\n"
                    << process_->LogTail(16384);
    }
  }

  static std::string AuthPassword() { return absl::StrCat("obs-Pa55word-", getpid()); }

  static std::string SandboxImage() {
    return absl::StrCat(bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest());
  }

  // The config: enforce, unmatched deny, the sandbox image pinned by digest, metrics on
  // 127.0.0.1:`metrics_port`; key release trusted for both registries, and with `with_team` key
  // team too for the plain one. `extra` is appended verbatim.
  static std::string Config(bool with_team, const std::string& extra = "") {
    EnforcingConfig config;
    config.socket = *socket_;
    config.runtime_endpoint = bed_->containerd()->socket_path();
    config.state_dir = *state_dir_;
    config.audit_path = *audit_path_;
    config.sandbox_image = SandboxImage();
    config.metrics_listen = absl::StrCat("127.0.0.1:", metrics_port_);
    config.registry = bed_->registry()->host_port();
    config.auth_registry = auth_registry_->host_port();
    config.release_key_path = release_->public_path;
    if (with_team) config.team_key_path = team_->public_path;
    config.extra = extra;
    return EnforcingConfigToml(config);
  }

  // Starts sigshim with its status endpoint on a free loopback port; picks another port when the
  // one picked was taken meanwhile.
  static void StartSigshim() {
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto port = testbed::PickFreePort();
      ASSERT_TRUE(port.ok()) << port.status();
      metrics_port_ = *port;
      ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(/*with_team=*/false), 0644).ok());
      auto process =
          testbed::Subprocess::Start(SigshimCommand(SIGSHIM_BINARY, *config_path_, *log_path_, bed_->dir().path()));
      ASSERT_TRUE(process.ok()) << process.status();
      // The status server starts after the CRI socket and before this line.
      bool up = testbed::Eventually(
          [&] {
            return !(*process)->Running() ||
                   absl::StrContains(testbed::FileTail(*log_path_, 1 << 20), "serving CRI on");
          },
          absl::Seconds(30), kPollInterval);
      if (up && (*process)->Running()) {
        process_ = process->release();
        client_ = new CriClient(*socket_);
        std::cout << "  sigshim serves metrics on 127.0.0.1:" << metrics_port_ << std::endl;
        return;
      }
      const std::string log = (*process)->LogTail(16384);
      ASSERT_TRUE((*process)->Stop(absl::Seconds(15)).ok());
      ASSERT_THAT(log, HasSubstr("[metrics] listen")) << "sigshim did not start; its log:\n" << log;
      std::cout << "  port " << metrics_port_ << " was taken, trying another" << std::endl;
    }
    FAIL() << "sigshim could not listen on three free ports in a row";
  }

  // Sends SIGHUP to sigshim.
  static void Reload() { ASSERT_EQ(kill(process_->pid(), SIGHUP), 0); }

  // GETs `path` from the status endpoint.
  static httplib::Result Get(const std::string& path) {
    httplib::Client http("127.0.0.1", metrics_port_);
    http.set_connection_timeout(5, 0);
    http.set_read_timeout(10, 0);
    http.set_keep_alive(false);
    return http.Get(path);
  }

  // Scrapes /metrics; a failed scrape fails the test and returns an empty scrape.
  static Scrape ScrapeMetrics() {
    httplib::Result result = Get("/metrics");
    EXPECT_TRUE(result) << "GET /metrics: " << httplib::to_string(result.error());
    if (!result) return Scrape("");
    EXPECT_EQ(result->status, 200) << result->body;
    EXPECT_THAT(result->get_header_value("Content-Type"), StartsWith("text/plain; version=0.0.4"));
    return Scrape(result->body);
  }

  static std::string Repo(const std::string& repository) {
    return absl::StrCat(bed_->registry()->host_port(), "/", repository);
  }

  // Makes a distinct image that prints `output`.
  static absl::StatusOr<testbed::OciImage> NewImage(const std::string& output) {
    return testbed::CmdVariant(*base_, absl::StrCat("v", ++images_made_), {"/bin/echo", output});
  }

  // Pushes a new image as repository:tag to `registry` (the plain one by default); signs it with
  // release when `sign`. Returns its digest.
  static std::string Push(const std::string& repository, const std::string& tag, const std::string& output,
                          bool sign, const testbed::Registry* registry = nullptr) {
    const testbed::Registry& target = registry == nullptr ? *bed_->registry() : *registry;
    auto image = NewImage(output);
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, target, repository, tag);
    EXPECT_TRUE(digest.ok()) << digest.status();
    if (!digest.ok()) return "";
    if (sign) {
      auto artifact = PushSignature(target, repository, *release_->signer,
                                    absl::StrCat(target.host_port(), "/", repository), *digest);
      EXPECT_TRUE(artifact.ok()) << artifact.status();
    }
    return *digest;
  }

  static grpc::Status Pull(const std::string& image, const AuthConfig* auth = nullptr) {
    return PullImage(*client_, image, kNamespace, auth);
  }

  // Starts a pod (host network, the test bed's sandbox image) through sigshim; TearDown removes it.
  void RunPod(const std::string& name, PodRun* run) {
    run->config = HostNetworkPod(name, kNamespace, bed_->dir().Path(absl::StrCat("pods/", name)));
    grpc::Status status = RunPodSandbox(*client_, run->config, &run->sandbox_id);
    ASSERT_TRUE(status.ok()) << Describe(status);
    pods_.push_back(run->sandbox_id);
  }

  static grpc::Status CreateContainer(const PodRun& pod, const std::string& name, const std::string& image) {
    CreateContainerResponse response;
    return client_->runtime().CreateContainer(Context().get(), ContainerRequest(pod.sandbox_id, pod.config, name, image),
                                              &response);
  }

  static void RemovePod(const std::string& sandbox_id) {
    grpc::Status status = e2e::RemovePod(*direct_, sandbox_id);
    EXPECT_TRUE(status.ok()) << Describe(status);
  }

  // Returns the audit log, one parsed object per line; a line that is not a JSON object fails the
  // test.
  static std::vector<nlohmann::json> AuditLines() {
    std::vector<std::string> malformed;
    std::vector<nlohmann::json> out = ReadAuditLog(*audit_path_, &malformed);
    for (const std::string& line : malformed) ADD_FAILURE() << "not a JSON object: " << line;
    return out;
  }

  // Returns the number of verdict files in the store.
  static int VerdictFiles() {
    int count = 0;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(*state_dir_ + "/verdicts", error)) {
      if (entry.is_regular_file() && entry.path().extension() == ".json") ++count;
    }
    EXPECT_FALSE(error) << error.message();
    return count;
  }

  // Runs `action` (which makes exactly one decision) between two scrapes and checks that exactly
  // one sigshim_decisions_total series moved, by one: {method, result, reason}; and that the
  // verification histogram counted `verifications` more, all in series `result`.
  static void ExpectOneDecision(const std::string& what, const std::function<void()>& action,
                                const std::string& method, const std::string& result, const std::string& reason,
                                int verifications) {
    SCOPED_TRACE(what);
    const Scrape before = ScrapeMetrics();
    action();
    const Scrape after = ScrapeMetrics();
    std::map<DecisionKey, double> moved;
    const std::map<DecisionKey, double> was = before.Decisions();
    for (const auto& [key, value] : after.Decisions()) {
      const double delta = value - (was.count(key) ? was.at(key) : 0);
      if (delta != 0) moved[key] = delta;
    }
    const std::map<DecisionKey, double> expected = {{{method, result, reason}, 1}};
    EXPECT_EQ(moved, expected) << "sigshim_decisions_total moved:\n"
                               << DescribeDecisions(moved) << "expected:\n"
                               << DescribeDecisions(expected);
    EXPECT_EQ(after.TotalVerifications() - before.TotalVerifications(), verifications);
    if (verifications > 0) {
      EXPECT_EQ(after.Verifications(result) - before.Verifications(result), verifications);
    }
    std::cout << "  " << what << ": {method=" << method << ", result=" << result << ", reason=" << reason
              << "} +1, verifications +" << after.TotalVerifications() - before.TotalVerifications() << std::endl;
  }

  // Checks the counters against the whole audit log: for every (method, result) the counters sum
  // to the number of audit lines with that method and decision; every reason is in the documented
  // vocabulary; the verification histogram counted one verification per decision the registry
  // made for a policy (decisions here are never concurrent, so none shares a verification).
  static void ExpectCountersMatchAuditLog() {
    const Scrape scrape = ScrapeMetrics();
    const std::vector<nlohmann::json> lines = AuditLines();
    ASSERT_FALSE(lines.empty());
    std::map<std::pair<std::string, std::string>, double> audited;
    int registry_decisions = 0;
    for (const nlohmann::json& line : lines) {
      audited[{line.value("method", ""), line.value("decision", "")}] += 1;
      if (line.value("source", "") == "registry" && !line.value("policy", "").empty()) ++registry_decisions;
    }
    std::map<std::pair<std::string, std::string>, double> counted;
    const std::set<std::string> reasons = {"verified",          "verdict",          "unmatched",      "config",
                                           "registry_unavailable", "registry_error", "invalid_reference",
                                           "verification_error",   "no_signatures", "not_found",
                                           "rejected"};
    const std::map<DecisionKey, double> decisions = scrape.Decisions();
    double total = 0;
    for (const auto& [key, value] : decisions) {
      counted[{std::get<0>(key), std::get<1>(key)}] += value;
      total += value;
      EXPECT_TRUE(reasons.count(std::get<2>(key))) << "reason label " << std::get<2>(key);
    }
    EXPECT_EQ(counted, audited) << "counters:\n" << DescribeDecisions(decisions) << "audit log lines: " << lines.size();
    EXPECT_EQ(total, static_cast<double>(lines.size()));
    EXPECT_EQ(scrape.TotalVerifications(), registry_decisions);
    // Every histogram series is consistent: +Inf bucket = count, buckets never decrease.
    for (const Sample& count : scrape.All("sigshim_verification_duration_seconds_count")) {
      std::map<std::string, std::string> inf = count.labels;
      inf["le"] = "+Inf";
      EXPECT_EQ(scrape.Value("sigshim_verification_duration_seconds_bucket", inf), count.value);
      double previous = 0;
      for (const Sample& bucket : scrape.All("sigshim_verification_duration_seconds_bucket")) {
        if (bucket.labels.at("result") != count.labels.at("result")) continue;
        EXPECT_GE(bucket.value, previous) << "le=" << bucket.labels.at("le");
        previous = bucket.value;
      }
    }
    std::cout << "  counters = audit log: " << lines.size() << " decisions, " << registry_decisions
              << " registry verifications" << std::endl;
  }

  static testbed::TestBed* bed_;
  static testbed::Registry* auth_registry_;  // basic auth: kAuthUser / AuthPassword()
  static Key* release_;
  static Key* team_;
  static testbed::OciImage* base_;
  static int images_made_;
  static CriClient* direct_;
  static CriClient* client_;
  static testbed::Subprocess* process_;
  static int metrics_port_;
  static std::string* socket_;
  static std::string* config_path_;
  static std::string* audit_path_;
  static std::string* log_path_;
  static std::string* state_dir_;
  std::vector<std::string> pods_;
};

testbed::TestBed* ObservabilityTest::bed_ = nullptr;
testbed::Registry* ObservabilityTest::auth_registry_ = nullptr;
Key* ObservabilityTest::release_ = nullptr;
Key* ObservabilityTest::team_ = nullptr;
testbed::OciImage* ObservabilityTest::base_ = nullptr;
int ObservabilityTest::images_made_ = 0;
CriClient* ObservabilityTest::direct_ = nullptr;
CriClient* ObservabilityTest::client_ = nullptr;
testbed::Subprocess* ObservabilityTest::process_ = nullptr;
int ObservabilityTest::metrics_port_ = 0;
std::string* ObservabilityTest::socket_ = nullptr;
std::string* ObservabilityTest::config_path_ = nullptr;
std::string* ObservabilityTest::audit_path_ = nullptr;
std::string* ObservabilityTest::log_path_ = nullptr;
std::string* ObservabilityTest::state_dir_ = nullptr;

TEST_F(ObservabilityTest, AtStartTheEndpointIsHealthyReadyAndShowsTheConfig) {
  httplib::Result health = Get("/healthz");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");
  httplib::Result ready = Get("/readyz");
  ASSERT_TRUE(ready) << httplib::to_string(ready.error());
  EXPECT_EQ(ready->status, 200) << ready->body;

  const Scrape scrape = ScrapeMetrics();
  EXPECT_EQ(scrape.Value("sigshim_config_generation"), 1);
  std::vector<Sample> info = scrape.All("sigshim_policy_info");
  ASSERT_EQ(info.size(), 1u) << scrape.text();
  EXPECT_THAT(info[0].labels["digest"], ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_EQ(info[0].value, 1);
  EXPECT_EQ(scrape.ValueOr0("sigshim_config_reloads_total", {{"result", "ok"}}), 0);
  EXPECT_EQ(scrape.ValueOr0("sigshim_config_reloads_total", {{"result", "failed"}}), 0);
  EXPECT_EQ(scrape.Value("sigshim_verdicts"), 0);
  EXPECT_TRUE(scrape.All("sigshim_decisions_total").empty()) << scrape.text();
  // Documented families carry their HELP and TYPE.
  for (const char* family : {"sigshim_decisions_total", "sigshim_verification_duration_seconds",
                             "sigshim_registry_requests_total", "sigshim_verdicts", "sigshim_config_generation",
                             "sigshim_policy_info", "sigshim_config_reloads_total"}) {
    EXPECT_THAT(scrape.text(), HasSubstr(absl::StrCat("# TYPE ", family, " "))) << family;
  }
}

TEST_F(ObservabilityTest, EveryDecisionIsCountedAsTheAuditLogRecordsIt) {
  const std::string signed_image = Repo("obs/signed:v1");
  const std::string signed_digest = Push("obs/signed", "v1", "signed", /*sign=*/true);
  const std::string unsigned_image = Repo("obs/unsigned:v1");
  Push("obs/unsigned", "v1", "unsigned", /*sign=*/false);
  ASSERT_FALSE(signed_digest.empty());

  ExpectOneDecision(
      "signed pull", [&] { EXPECT_TRUE(Pull(signed_image).ok()); }, "PullImage", "allow", "verified", 1);
  ExpectOneDecision(
      "unsigned pull",
      [&] {
        grpc::Status status = Pull(unsigned_image);
        EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << Describe(status);
        EXPECT_THAT(status.error_message(), HasSubstr("no signatures"));
      },
      "PullImage", "deny", "no_signatures", 1);
  ExpectOneDecision(
      "signed pull by digest again",
      [&] { EXPECT_TRUE(Pull(absl::StrCat(Repo("obs/signed@"), signed_digest)).ok()); }, "PullImage", "allow",
      "verdict", 0);
  PodRun pod;
  ExpectOneDecision(
      "pod sandbox", [&] { RunPod("obs", &pod); }, "RunPodSandbox", "allow", "config", 0);
  ASSERT_FALSE(pod.sandbox_id.empty());
  ExpectOneDecision(
      "container of the signed image",
      [&] {
        grpc::Status status = CreateContainer(pod, "main", signed_image);
        EXPECT_TRUE(status.ok()) << Describe(status);
      },
      "CreateContainer", "allow", "verdict", 0);

  // An unsigned image put on the node by hand (`ctr images import`), never in any registry.
  auto imported = NewImage("imported");
  ASSERT_TRUE(imported.ok()) << imported.status();
  const std::string imported_name = Repo("obs/imported:v1");
  auto imported_digest =
      testbed::ImportImage(*imported, *bed_->containerd(), imported_name, bed_->dir().Path("images/scratch"));
  ASSERT_TRUE(imported_digest.ok()) << imported_digest.status();
  ExpectOneDecision(
      "container of an imported unsigned image",
      [&] {
        grpc::Status status = CreateContainer(pod, "imported", imported_name);
        EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << Describe(status);
        EXPECT_THAT(status.error_message(), StartsWith("SignatureValidationFailed: "));
      },
      "CreateContainer", "deny", "no_signatures", 1);

  const Scrape scrape = ScrapeMetrics();
  // 3 verifications: signed (allow), unsigned and imported (deny); the rest came from verdicts
  // and the configured sandbox image.
  EXPECT_EQ(scrape.Verifications("allow"), 1);
  EXPECT_EQ(scrape.Verifications("deny"), 2);
  EXPECT_EQ(scrape.TotalVerifications(), 3);
  const double ok_requests = scrape.ValueOr0("sigshim_registry_requests_total", {{"code", "200"}});
  const double not_found = scrape.ValueOr0("sigshim_registry_requests_total", {{"code", "404"}});
  EXPECT_GT(ok_requests, 0) << scrape.text();
  EXPECT_GE(not_found, 2) << "the two missing .sig manifests; " << scrape.text();
  EXPECT_EQ(scrape.ValueOr0("sigshim_registry_requests_total", {{"code", "error"}}), 0);
  const int verdict_files = VerdictFiles();
  EXPECT_EQ(verdict_files, 1);
  EXPECT_EQ(scrape.Value("sigshim_verdicts"), verdict_files);
  std::cout << "  registry requests: 200 ×" << ok_requests << ", 404 ×" << not_found << "; verdicts "
            << verdict_files << std::endl;
  ExpectCountersMatchAuditLog();
}

TEST_F(ObservabilityTest, CredentialsOfAPullNeverReachTheMetrics) {
  const std::string image = absl::StrCat(auth_registry_->host_port(), "/private/app:v1");
  Push("private/app", "v1", "private", /*sign=*/true, auth_registry_);
  AuthConfig auth;
  auth.set_username(kAuthUser);
  auth.set_password(AuthPassword());
  ExpectOneDecision(
      "pull with credentials", [&] { EXPECT_TRUE(Pull(image, &auth).ok()); }, "PullImage", "allow", "verified", 1);
  const std::string basic = absl::Base64Escape(absl::StrCat(kAuthUser, ":", AuthPassword()));
  AuthConfig docker_auth;
  docker_auth.set_auth(basic);
  ExpectOneDecision(
      "pull with credentials in AuthConfig.auth", [&] { EXPECT_TRUE(Pull(image, &docker_auth).ok()); },
      "PullImage", "allow", "verified", 1);

  const Scrape scrape = ScrapeMetrics();
  for (const std::string& secret : {AuthPassword(), basic, std::string(kAuthUser)}) {
    EXPECT_THAT(scrape.text(), Not(HasSubstr(secret)));
  }
  // The private registry asked for credentials first: its 401 is counted like any status.
  EXPECT_GE(scrape.ValueOr0("sigshim_registry_requests_total", {{"code", "401"}}), 1) << scrape.text();
  EXPECT_EQ(scrape.Value("sigshim_verdicts"), VerdictFiles());
  ExpectCountersMatchAuditLog();
}

TEST_F(ObservabilityTest, ReloadsShowTheNewGenerationAndPolicyAndCountFailures) {
  const Scrape before = ScrapeMetrics();
  std::vector<Sample> info = before.All("sigshim_policy_info");
  ASSERT_EQ(info.size(), 1u) << before.text();
  const std::string first_digest = info[0].labels["digest"];

  // A second trusted key: a different policy.
  ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(/*with_team=*/true), 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Reload());
  std::optional<Scrape> reloaded;
  EXPECT_TRUE(testbed::Eventually(
      [&] {
        reloaded.emplace(ScrapeMetrics());
        return reloaded->ValueOr0("sigshim_config_reloads_total", {{"result", "ok"}}) >= 1;
      },
      absl::Seconds(30), kPollInterval))
      << "no reload counted; sigshim's log:\n"
      << testbed::FileTail(*log_path_);
  EXPECT_EQ(reloaded->ValueOr0("sigshim_config_reloads_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(reloaded->ValueOr0("sigshim_config_reloads_total", {{"result", "failed"}}), 0);
  EXPECT_EQ(reloaded->Value("sigshim_config_generation"), 2);
  info = reloaded->All("sigshim_policy_info");
  ASSERT_EQ(info.size(), 1u) << "only the policy in force is exported:\n" << reloaded->text();
  const std::string second_digest = info[0].labels["digest"];
  EXPECT_THAT(second_digest, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_NE(second_digest, first_digest);
  std::cout << "  policy digest " << first_digest << " → " << second_digest << std::endl;

  // A broken config: counted as failed, the previous one stays in force.
  ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(true, "\n[[policy]]\nname = \"broken\"\n"), 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Reload());
  std::optional<Scrape> failed;
  EXPECT_TRUE(testbed::Eventually(
      [&] {
        failed.emplace(ScrapeMetrics());
        return failed->ValueOr0("sigshim_config_reloads_total", {{"result", "failed"}}) >= 1;
      },
      absl::Seconds(30), kPollInterval))
      << "no failed reload counted; sigshim's log:\n"
      << testbed::FileTail(*log_path_);
  EXPECT_EQ(failed->ValueOr0("sigshim_config_reloads_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(failed->ValueOr0("sigshim_config_reloads_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(failed->Value("sigshim_config_generation"), 2);
  info = failed->All("sigshim_policy_info");
  ASSERT_EQ(info.size(), 1u) << failed->text();
  EXPECT_EQ(info[0].labels["digest"], second_digest);

  // Put the good config back for the tests that follow.
  ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(/*with_team=*/true), 0644).ok());
  ASSERT_NO_FATAL_FAILURE(Reload());
  EXPECT_TRUE(testbed::Eventually(
      [&] { return ScrapeMetrics().ValueOr0("sigshim_config_reloads_total", {{"result", "ok"}}) >= 2; },
      absl::Seconds(30), kPollInterval));
  const Scrape after = ScrapeMetrics();
  EXPECT_EQ(after.Value("sigshim_config_generation"), 3);
  info = after.All("sigshim_policy_info");
  ASSERT_EQ(info.size(), 1u) << after.text();
  EXPECT_EQ(info[0].labels["digest"], second_digest) << "the same policy gives the same digest";
  ExpectCountersMatchAuditLog();
}

TEST_F(ObservabilityTest, ReadinessFollowsTheRuntime) {
  const std::string endpoint = bed_->containerd()->socket_path();
  httplib::Result ready = Get("/readyz");
  ASSERT_TRUE(ready) << httplib::to_string(ready.error());
  ASSERT_EQ(ready->status, 200) << ready->body;

  ASSERT_TRUE(bed_->containerd()->Stop().ok());
  int status = 0;
  std::string body;
  bool not_ready = testbed::Eventually(
      [&] {
        httplib::Result r = Get("/readyz");
        if (!r) return false;
        status = r->status;
        body = r->body;
        return status == 503;
      },
      absl::Seconds(30), kPollInterval);
  std::cout << "  containerd stopped: /readyz " << status << " " << body;
  EXPECT_TRUE(not_ready) << "/readyz still " << status << " " << body;
  EXPECT_THAT(body, HasSubstr(endpoint));
  // Alive all the same.
  httplib::Result health = Get("/healthz");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);

  absl::Status started = bed_->containerd()->Start();
  ASSERT_TRUE(started.ok()) << started;
  bool ready_again = testbed::Eventually(
      [&] {
        httplib::Result r = Get("/readyz");
        if (!r) return false;
        status = r->status;
        body = r->body;
        return status == 200;
      },
      absl::Seconds(30), kPollInterval);
  std::cout << "  containerd started: /readyz " << status << " " << body;
  EXPECT_TRUE(ready_again) << "/readyz still " << status << " " << body;
  EXPECT_EQ(body, "ok\n");
  // Decisions go on, and are counted, once the runtime is back.
  const std::string image = Repo("obs/after-restart:v1");
  Push("obs/after-restart", "v1", "after the runtime restarted", /*sign=*/true);
  ExpectOneDecision(
      "signed pull after the runtime came back", [&] { EXPECT_TRUE(Pull(image).ok()); }, "PullImage", "allow",
      "verified", 1);
  EXPECT_EQ(ScrapeMetrics().Value("sigshim_verdicts"), VerdictFiles());
  ExpectCountersMatchAuditLog();
}

}  // namespace
}  // namespace sigshim::e2e
