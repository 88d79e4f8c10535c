#include "pkg/metrics/sigshim_metrics.h"

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigshim::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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
            "sigshim_refused_calls_total 0\n");
}

TEST(SigshimMetrics, CountsDecisionsByMethodResultAndReason) {
  SigshimMetrics metrics;
  metrics.CountDecision("PullImage", "allow", "verified");
  metrics.CountDecision("PullImage", "allow", "verified");
  metrics.CountDecision("CreateContainer", "deny", "no_signatures");
  std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("sigshim_decisions_total{method=\"CreateContainer\",result=\"deny\",reason=\"no_signatures\"} 1\n"
                              "sigshim_decisions_total{method=\"PullImage\",result=\"allow\",reason=\"verified\"} 2\n"));
}

TEST(SigshimMetrics, ObservesVerificationLatencyInSeconds) {
  SigshimMetrics metrics;
  metrics.ObserveVerification("allow", absl::Milliseconds(250));
  metrics.ObserveVerification("allow", absl::Seconds(45));
  std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.001\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"0.25\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"30\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("sigshim_verification_duration_seconds_bucket{result=\"allow\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("sigshim_verification_duration_seconds_sum{result=\"allow\"} 45.25\n"));
  EXPECT_THAT(text, HasSubstr("sigshim_verification_duration_seconds_count{result=\"allow\"} 2\n"));
}

TEST(SigshimMetrics, CountsRegistryRequestsByStatusAndTransportErrors) {
  SigshimMetrics metrics;
  metrics.CountRegistryRequest(200);
  metrics.CountRegistryRequest(200);
  metrics.CountRegistryRequest(401);
  metrics.CountRegistryRequest(0);
  std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("sigshim_registry_requests_total{code=\"200\"} 2\n"
                              "sigshim_registry_requests_total{code=\"401\"} 1\n"
                              "sigshim_registry_requests_total{code=\"error\"} 1\n"));
}

TEST(SigshimMetrics, ExportsOnlyTheCurrentPolicyDigestAndGeneration) {
  SigshimMetrics metrics;
  metrics.SetConfig(1, "sha256:aaaa");
  metrics.CountReload(true);
  metrics.SetConfig(2, "sha256:bbbb");
  metrics.CountReload(false);
  metrics.SetVerdicts(17);
  std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("\nsigshim_config_generation 2\n"));
  EXPECT_THAT(text, HasSubstr("\nsigshim_policy_info{digest=\"sha256:bbbb\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("sha256:aaaa")));
  EXPECT_THAT(text, HasSubstr("sigshim_config_reloads_total{result=\"failed\"} 1\n"
                              "sigshim_config_reloads_total{result=\"ok\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nsigshim_verdicts 17\n"));
}

TEST(SigshimMetrics, CountsCallsRefusedForTheirMethodWithoutLabellingThem) {
  SigshimMetrics metrics;
  metrics.CountRefusedCall();
  metrics.CountRefusedCall();
  EXPECT_THAT(metrics.Render(), HasSubstr("\nsigshim_refused_calls_total 2\n"));
}

}  // namespace
}  // namespace sigshim::metrics
