#include "pkg/metrics/sigshim_metrics.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigshim::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Returns the lines of family `name` in `text`, from its "# HELP" line up to the next family.
std::string Family(const std::string& text, const std::string& name) {
  const std::string head = absl::StrCat("# HELP ", name, " ");
  size_t begin = text.find(head);
  if (begin == std::string::npos) return "";
  size_t end = text.find("# HELP ", begin + head.size());
  return text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// Returns the sample lines of `text` whose name is `name` (with or without labels).
std::vector<std::string> Samples(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, absl::StrCat(name, "{")) || absl::StartsWith(line, absl::StrCat(name, " "))) {
      out.emplace_back(line);
    }
  }
  return out;
}

TEST(SigshimMetrics, StartsWithEveryFamilyAndNoObservations) {
  SigshimMetrics metrics;
  EXPECT_EQ(metrics.Render(),
            "# HELP sigshim_decisions_total Admission decisions on CRI calls, by method, result and reason.\n"
            "# TYPE sigshim_decisions_total counter\n"
            "# HELP sigshim_verification_duration_seconds Time taken by registry signature verifications, by result.\n"
            "# TYPE sigshim_verification_duration_seconds histogram\n"
            "# HELP sigshim_registry_requests_total HTTP requests to registries, by status code (\"error\": no HTTP answer).\n"
            "# TYPE sigshim_registry_requests_total counter\n"
            "# HELP sigshim_verdicts Verdicts held in the verdict store.\n"
            "# TYPE sigshim_verdicts gauge\n"
            "sigshim_verdicts 0\n"
            "# HELP sigshim_config_generation Configuration generation: 1 at start-up, +1 per successful reload.\n"
            "# TYPE sigshim_config_generation gauge\n"
            "sigshim_config_generation 0\n"
            "# HELP sigshim_policy_info Digest of the enforcement policy in force (always 1).\n"
            "# TYPE sigshim_policy_info gauge\n"
            "# HELP sigshim_config_reloads_total Configuration reloads (SIGHUP), by result.\n"
            "# TYPE sigshim_config_reloads_total counter\n"
            "sigshim_config_reloads_total{result=\"failed\"} 0\n"
            "sigshim_config_reloads_total{result=\"ok\"} 0\n"
            "# HELP sigshim_refused_calls_total Calls refused (UNIMPLEMENTED, never forwarded) because their method is "
            "not a CRI method.\n"
            "# TYPE sigshim_refused_calls_total counter\n"
            "sigshim_refused_calls_total 0\n"
            "# HELP sigshim_exception_expiry_timestamp_seconds When each [[exceptions]] entry in force expires (Unix "
            "time).\n"
            "# TYPE sigshim_exception_expiry_timestamp_seconds gauge\n"
            "# HELP sigshim_exception_admissions_total Images admitted by an [[exceptions]] entry, by exception.\n"
            "# TYPE sigshim_exception_admissions_total counter\n");
}

TEST(SigshimMetrics, ExportsTheExpiryOfTheExceptionsInForceAndCountsTheirAdmissions) {
  SigshimMetrics metrics;
  metrics.SetExceptions({{"vendor-x", absl::FromUnixSeconds(1801353600)}, {"old", absl::FromUnixSeconds(1700000000)}});
  metrics.CountExceptionAdmission("vendor-x");
  metrics.CountExceptionAdmission("vendor-x");
  // A reload without "old": its expiry is no longer exported.
  metrics.SetExceptions({{"vendor-x", absl::FromUnixSeconds(1801353600)}});
  const std::string text = metrics.Render();
  EXPECT_THAT(Samples(text, "sigshim_exception_expiry_timestamp_seconds"),
              ElementsAre("sigshim_exception_expiry_timestamp_seconds{exception=\"vendor-x\"} 1801353600"));
  EXPECT_THAT(Samples(text, "sigshim_exception_admissions_total"),
              ElementsAre("sigshim_exception_admissions_total{exception=\"vendor-x\"} 2"));
}

TEST(SigshimMetrics, CountsDecisionsByMethodResultAndReason) {
  SigshimMetrics metrics;
  metrics.CountDecision("PullImage", "allow", "verified");
  metrics.CountDecision("PullImage", "allow", "verified");
  metrics.CountDecision("CreateContainer", "deny", "no_signatures");
  metrics.CountDecision("CreateContainer", "allow", "verdict");
  // Series sorted by their labels; labels written in name order.
  EXPECT_EQ(Family(metrics.Render(), "sigshim_decisions_total"),
            "# HELP sigshim_decisions_total Admission decisions on CRI calls, by method, result and reason.\n"
            "# TYPE sigshim_decisions_total counter\n"
            "sigshim_decisions_total{method=\"CreateContainer\",reason=\"no_signatures\",result=\"deny\"} 1\n"
            "sigshim_decisions_total{method=\"CreateContainer\",reason=\"verdict\",result=\"allow\"} 1\n"
            "sigshim_decisions_total{method=\"PullImage\",reason=\"verified\",result=\"allow\"} 2\n");
}

TEST(SigshimMetrics, ObservesVerificationLatencyInSeconds) {
  SigshimMetrics metrics;
  metrics.ObserveVerification("allow", absl::Milliseconds(250));  // on a bound: counted in that bucket
  metrics.ObserveVerification("allow", absl::Seconds(45));
  metrics.ObserveVerification("error", absl::Microseconds(500));
  EXPECT_EQ(Family(metrics.Render(), "sigshim_verification_duration_seconds"),
            "# HELP sigshim_verification_duration_seconds Time taken by registry signature verifications, by result.\n"
            "# TYPE sigshim_verification_duration_seconds histogram\n"
            "sigshim_verification_duration_seconds_count{result=\"allow\"} 2\n"
            "sigshim_verification_duration_seconds_sum{result=\"allow\"} 45.25\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.001\"} 0\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.0025\"} 0\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.005\"} 0\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.01\"} 0\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.025\"} 0\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.05\"} 0\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.1\"} 0\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.25\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.5\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"1\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"2.5\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"5\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"10\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"30\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"+Inf\"} 2\n"
            "sigshim_verification_duration_seconds_count{result=\"error\"} 1\n"
            "sigshim_verification_duration_seconds_sum{result=\"error\"} 0.0005\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"0.001\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"0.0025\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"0.005\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"0.01\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"0.025\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"0.05\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"0.1\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"0.25\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"0.5\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"1\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"2.5\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"5\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"10\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"30\"} 1\n"
            "sigshim_verification_duration_seconds_bucket{result=\"error\",le=\"+Inf\"} 1\n");
}

TEST(SigshimMetrics, CountsRegistryRequestsByStatusAndTransportErrors) {
  SigshimMetrics metrics;
  metrics.CountRegistryRequest(200);
  metrics.CountRegistryRequest(200);
  metrics.CountRegistryRequest(401);
  metrics.CountRegistryRequest(0);
  metrics.CountRegistryRequest(-1);
  EXPECT_EQ(Family(metrics.Render(), "sigshim_registry_requests_total"),
            "# HELP sigshim_registry_requests_total HTTP requests to registries, by status code (\"error\": no HTTP "
            "answer).\n"
            "# TYPE sigshim_registry_requests_total counter\n"
            "sigshim_registry_requests_total{code=\"200\"} 2\n"
            "sigshim_registry_requests_total{code=\"401\"} 1\n"
            "sigshim_registry_requests_total{code=\"error\"} 2\n");
}

TEST(SigshimMetrics, ExportsOnlyTheCurrentPolicyDigestAndGeneration) {
  SigshimMetrics metrics;
  metrics.SetConfig(1, "sha256:aaaa");
  metrics.CountReload(true);
  metrics.SetConfig(2, "sha256:bbbb");
  metrics.CountReload(false);
  metrics.SetVerdicts(17);
  std::string text = metrics.Render();
  EXPECT_EQ(Family(text, "sigshim_config_generation"),
            "# HELP sigshim_config_generation Configuration generation: 1 at start-up, +1 per successful reload.\n"
            "# TYPE sigshim_config_generation gauge\n"
            "sigshim_config_generation 2\n");
  EXPECT_EQ(Family(text, "sigshim_policy_info"),
            "# HELP sigshim_policy_info Digest of the enforcement policy in force (always 1).\n"
            "# TYPE sigshim_policy_info gauge\n"
            "sigshim_policy_info{digest=\"sha256:bbbb\"} 1\n");
  EXPECT_THAT(text, Not(HasSubstr("sha256:aaaa")));
  EXPECT_EQ(Family(text, "sigshim_config_reloads_total"),
            "# HELP sigshim_config_reloads_total Configuration reloads (SIGHUP), by result.\n"
            "# TYPE sigshim_config_reloads_total counter\n"
            "sigshim_config_reloads_total{result=\"failed\"} 1\n"
            "sigshim_config_reloads_total{result=\"ok\"} 1\n");
  EXPECT_THAT(text, HasSubstr("\nsigshim_verdicts 17\n"));
}

TEST(SigshimMetrics, KeepsExportingAPolicyDigestThatAReloadLeftUnchanged) {
  SigshimMetrics metrics;
  metrics.SetConfig(1, "sha256:same");
  metrics.SetConfig(2, "sha256:same");
  std::string text = metrics.Render();
  EXPECT_EQ(Samples(text, "sigshim_policy_info"),
            std::vector<std::string>{"sigshim_policy_info{digest=\"sha256:same\"} 1"});
  EXPECT_THAT(text, HasSubstr("\nsigshim_config_generation 2\n"));
}

TEST(SigshimMetrics, CountsCallsRefusedForTheirMethodWithoutLabellingThem) {
  SigshimMetrics metrics;
  metrics.CountRefusedCall();
  metrics.CountRefusedCall();
  EXPECT_EQ(Samples(metrics.Render(), "sigshim_refused_calls_total"),
            std::vector<std::string>{"sigshim_refused_calls_total 2"});
}

TEST(SigshimMetrics, RendersFamiliesAddedToItsRegistryAfterItsOwn) {
  SigshimMetrics metrics;
  prometheus::Gauge& extra =
      prometheus::BuildGauge().Name("extra_things").Help("Things.").Register(metrics.registry()).Add({{"k", "v"}});
  extra.Set(3);
  EXPECT_THAT(metrics.Render(), ::testing::EndsWith("# TYPE sigshim_exception_admissions_total counter\n"
                                                    "# HELP extra_things Things.\n"
                                                    "# TYPE extra_things gauge\n"
                                                    "extra_things{k=\"v\"} 3\n"));
}

TEST(SigshimMetrics, EscapesQuotesBackslashesAndNewlinesInLabelValues) {
  SigshimMetrics metrics;
  metrics.CountDecision("Pull\"Image", "a\\b", "two\nlines");
  metrics.SetConfig(1, "sha256:\"\\\n\\n");
  std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("\nsigshim_decisions_total{method=\"Pull\\\"Image\",reason=\"two\\nlines\","
                              "result=\"a\\\\b\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nsigshim_policy_info{digest=\"sha256:\\\"\\\\\\n\\\\n\"} 1\n"));
  // Every line is a comment or one sample: no raw newline escaped a label value.
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, "# ") || absl::StartsWith(line, "sigshim_")) << line;
  }
}

TEST(SigshimMetrics, ConcurrentUpdatesAreAllCountedWhileRendering) {
  SigshimMetrics metrics;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10000;
  std::atomic<bool> done{false};
  std::thread renderer([&] {
    while (!done.load()) metrics.Render();
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      // Half the threads share label sets; the others create their own while rendering runs.
      const std::string method = t % 2 == 0 ? "PullImage" : absl::StrCat("Own", t);
      for (int i = 0; i < kPerThread; ++i) {
        metrics.CountDecision(method, "allow", "verified");
        metrics.ObserveVerification("allow", i % 2 == 0 ? absl::Milliseconds(250) : absl::Seconds(1));
        metrics.CountRegistryRequest(200);
        metrics.CountReload(i % 2 == 0);
        metrics.CountRefusedCall();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  done.store(true);
  renderer.join();

  std::string text = metrics.Render();
  const int all = kThreads * kPerThread;
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\nsigshim_decisions_total{method=\"PullImage\",reason=\"verified\","
                                           "result=\"allow\"} ",
                                           kThreads / 2 * kPerThread, "\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\nsigshim_decisions_total{method=\"Own1\",reason=\"verified\","
                                           "result=\"allow\"} ",
                                           kPerThread, "\n")));
  EXPECT_EQ(Samples(text, "sigshim_decisions_total").size(), 1u + kThreads / 2);
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\nsigshim_verification_duration_seconds_count{result=\"allow\"} ", all,
                                           "\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\nsigshim_verification_duration_seconds_sum{result=\"allow\"} ",
                                           all / 2 * 1.25, "\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat(
                        "\nsigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.25\"} ", all / 2, "\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\nsigshim_registry_requests_total{code=\"200\"} ", all, "\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\nsigshim_config_reloads_total{result=\"failed\"} ", all / 2, "\n"
                                           "sigshim_config_reloads_total{result=\"ok\"} ", all / 2, "\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\nsigshim_refused_calls_total ", all, "\n")));
}

TEST(SigshimMetrics, ARenderDuringReloadsShowsOneDigestWithItsGeneration) {
  SigshimMetrics metrics;
  metrics.SetConfig(1, "sha256:generation-1");
  constexpr int kRenders = 2000;
  std::atomic<bool> done{false};
  std::atomic<int> last_generation{1};
  std::thread reloader([&] {
    for (int generation = 2; !done.load(); ++generation) {
      metrics.SetConfig(generation, absl::StrCat("sha256:generation-", generation));
      last_generation.store(generation);
    }
  });
  // Stops the reloader also when an assertion below leaves the test early.
  absl::Cleanup stop_reloader = [&] {
    done.store(true);
    reloader.join();
  };
  for (int i = 0; i < kRenders; ++i) {
    std::string text = metrics.Render();
    std::vector<std::string> info = Samples(text, "sigshim_policy_info");
    std::vector<std::string> generation = Samples(text, "sigshim_config_generation");
    ASSERT_EQ(info.size(), 1u) << text;
    ASSERT_EQ(generation.size(), 1u) << text;
    // "sigshim_config_generation N" goes with "sigshim_policy_info{digest="sha256:generation-N"} 1".
    const std::string n = generation[0].substr(generation[0].rfind(' ') + 1);
    ASSERT_EQ(info[0], absl::StrCat("sigshim_policy_info{digest=\"sha256:generation-", n, "\"} 1"))
        << "after " << i << " renders";
  }
  std::move(stop_reloader).Invoke();
  EXPECT_EQ(Samples(metrics.Render(), "sigshim_policy_info"),
            std::vector<std::string>{absl::StrCat("sigshim_policy_info{digest=\"sha256:generation-",
                                                  last_generation.load(), "\"} 1")});
}

}  // namespace
}  // namespace sigshim::metrics
