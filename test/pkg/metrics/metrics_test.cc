#include "pkg/metrics/metrics.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigshim::metrics {
namespace {

using ::testing::HasSubstr;

TEST(Registry, RendersCountersWithHelpTypeAndSortedLabelSets) {
  Registry registry;
  auto& requests = registry.AddCounter("app_requests_total", "Requests served.", {"method", "code"});
  requests.WithLabels({"POST", "500"}).Increment();
  requests.WithLabels({"GET", "200"}).Increment(3);
  requests.WithLabels({"GET", "200"}).Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP app_requests_total Requests served.\n"
            "# TYPE app_requests_total counter\n"
            "app_requests_total{method=\"GET\",code=\"200\"} 4\n"
            "app_requests_total{method=\"POST\",code=\"500\"} 1\n");
}

TEST(Registry, RendersLabellessMetricsAtZeroBeforeTheirFirstUpdate) {
  Registry registry;
  registry.AddCounter("a_total", "A.");
  auto& gauge = registry.AddGauge("b", "B.");
  registry.AddCounter("c_total", "C.", {"x"});  // labelled: no sample until a label set is used
  EXPECT_EQ(registry.Render(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
            "# HELP b B.\n# TYPE b gauge\nb 0\n"
            "# HELP c_total C.\n# TYPE c_total counter\n");
  gauge.WithLabels({}).Set(2.5);
  gauge.WithLabels({}).Add(-4);
  EXPECT_THAT(registry.Render(), HasSubstr("\nb -1.5\n"));
}

TEST(Registry, RendersGaugeValuesExactly) {
  Registry registry;
  auto& g = registry.AddGauge("g", "G.", {"k"});
  g.WithLabels({"big"}).Set(12345678901.0);
  g.WithLabels({"inf"}).Set(std::numeric_limits<double>::infinity());
  g.WithLabels({"small"}).Set(0.1);
  EXPECT_EQ(registry.Render(),
            "# HELP g G.\n# TYPE g gauge\n"
            "g{k=\"big\"} 12345678901\n"
            "g{k=\"inf\"} +Inf\n"
            "g{k=\"small\"} 0.1\n");
}

TEST(Registry, RendersHistogramsWithCumulativeBucketsSumAndCount) {
  Registry registry;
  auto& h = registry.AddHistogram("latency_seconds", "Latency.", {"result"}, {0.25, 1, 10});
  h.WithLabels({"ok"}).Observe(0.125);
  h.WithLabels({"ok"}).Observe(0.25);  // on a bound: counted in that bucket (le means <=)
  h.WithLabels({"ok"}).Observe(2);
  h.WithLabels({"ok"}).Observe(60);
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{result=\"ok\",le=\"0.25\"} 2\n"
            "latency_seconds_bucket{result=\"ok\",le=\"1\"} 2\n"
            "latency_seconds_bucket{result=\"ok\",le=\"10\"} 3\n"
            "latency_seconds_bucket{result=\"ok\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{result=\"ok\"} 62.375\n"
            "latency_seconds_count{result=\"ok\"} 4\n");
}

TEST(Registry, RendersALabellessHistogram) {
  Registry registry;
  registry.AddHistogram("h", "H.", {}, {1});
  EXPECT_EQ(registry.Render(),
            "# HELP h H.\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST(Registry, EscapesLabelValuesAndHelp) {
  Registry registry;
  auto& c = registry.AddCounter("x_total", "Help with \\ and\nnewline and \"quotes\".", {"v"});
  c.WithLabels({"a\\b\"c\nd"}).Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP x_total Help with \\\\ and\\nnewline and \"quotes\".\n"
            "# TYPE x_total counter\n"
            "x_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(Registry, InfoExportsOnlyTheLatestLabelSet) {
  Registry registry;
  Info& info = registry.AddInfo("build_info", "Build.", {"version"});
  EXPECT_EQ(registry.Render(), "# HELP build_info Build.\n# TYPE build_info gauge\n");
  info.Set({"1"});
  info.Set({"2"});
  EXPECT_EQ(registry.Render(), "# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{version=\"2\"} 1\n");
  EXPECT_THAT(info.Get(), ::testing::ElementsAre("2"));
}

TEST(Registry, MissingLabelValuesCountAsEmpty) {
  Registry registry;
  auto& c = registry.AddCounter("m_total", "M.", {"a", "b"});
  c.WithLabels({"x"}).Increment();
  c.WithLabels({"x", "", "ignored"}).Increment();
  EXPECT_THAT(registry.Render(), HasSubstr("m_total{a=\"x\",b=\"\"} 2\n"));
}

TEST(Registry, ChildReferencesStayValidAsLabelSetsGrow) {
  Registry registry;
  auto& family = registry.AddCounter("n_total", "N.", {"i"});
  Counter& first = family.WithLabels({"first"});
  for (int i = 0; i < 1000; ++i) family.WithLabels({std::to_string(i)}).Increment();
  first.Increment();
  EXPECT_EQ(&first, &family.WithLabels({"first"}));
  EXPECT_EQ(first.value(), 1u);
}

TEST(Registry, ConcurrentIncrementsAndObservationsAreAllCounted) {
  Registry registry;
  auto& counter = registry.AddCounter("c_total", "C.", {"t"});
  auto& histogram = registry.AddHistogram("h", "H.", {"t"}, {0.5});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Half the threads share a label set, the others create their own while rendering runs.
        std::string label = t % 2 == 0 ? "shared" : "own" + std::to_string(t);
        counter.WithLabels({label}).Increment();
        histogram.WithLabels({"shared"}).Observe(i % 2 == 0 ? 0.25 : 1);
      }
    });
  }
  std::thread renderer([&] {
    for (int i = 0; i < 50; ++i) registry.Render();
  });
  for (auto& thread : threads) thread.join();
  renderer.join();
  EXPECT_EQ(counter.WithLabels({"shared"}).value(), uint64_t{kThreads / 2 * kPerThread});
  EXPECT_EQ(counter.WithLabels({"own1"}).value(), uint64_t{kPerThread});
  Histogram::Snapshot s = histogram.WithLabels({"shared"}).Read();
  EXPECT_EQ(s.count, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(s.cumulative[0], uint64_t{kThreads * kPerThread / 2});
  EXPECT_DOUBLE_EQ(s.sum, kThreads * kPerThread / 2 * 1.25);
}

TEST(FormatValue, UsesTheShortestRoundTripForm) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(0.001), "0.001");
  EXPECT_EQ(FormatValue(30), "30");
  EXPECT_EQ(FormatValue(1e-9), "1e-09");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

using RegistryDeathTest = ::testing::Test;

TEST_F(RegistryDeathTest, RefusesMalformedRegistrations) {
  EXPECT_DEATH({ Registry r; r.AddCounter("1bad", "x"); }, "invalid metric name \"1bad\"");
  EXPECT_DEATH({ Registry r; r.AddCounter("ok_total", "x", {"__reserved"}); }, "invalid label name");
  EXPECT_DEATH({ Registry r; r.AddCounter("ok_total", "x", {"a", "a"}); }, "label a twice");
  EXPECT_DEATH({ Registry r; r.AddCounter("d_total", "x"); r.AddGauge("d_total", "y"); }, "registered twice");
  EXPECT_DEATH({ Registry r; r.AddHistogram("h", "x", {"le"}, {1}); }, "\"le\" is reserved");
  EXPECT_DEATH({ Registry r; r.AddHistogram("h", "x", {}, {1, 1}); }, "strictly increasing");
}

}  // namespace
}  // namespace sigshim::metrics
