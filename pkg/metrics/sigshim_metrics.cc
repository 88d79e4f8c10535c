#include "pkg/metrics/sigshim_metrics.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "prometheus/metric_type.h"
#include "prometheus/text_serializer.h"

// prometheus-cpp throws std::invalid_argument for a malformed metric or label name and for
// unsorted histogram bounds. Every name and bound here is a constant (label values are never
// checked, any string is valid), so this happens never, or at once in every unit test.

namespace sigshim::metrics {
namespace {

using prometheus::MetricType;

// What a family shows before its first series. prometheus-cpp 1.0.1 writes HELP unescaped: a help
// text must hold no backslash and no newline.
struct FamilyText {
  const char* name;
  const char* help;
  MetricType type;
};

constexpr FamilyText kDecisions{"sigshim_decisions_total",
                                "Admission decisions on CRI calls, by method, result and reason.",
                                MetricType::Counter};
constexpr FamilyText kVerificationSeconds{"sigshim_verification_duration_seconds",
                                          "Time taken by registry signature verifications, by result.",
                                          MetricType::Histogram};
constexpr FamilyText kRegistryRequests{"sigshim_registry_requests_total",
                                       "HTTP requests to registries, by status code (\"error\": no HTTP answer).",
                                       MetricType::Counter};
constexpr FamilyText kVerdicts{"sigshim_verdicts", "Verdicts held in the verdict store.", MetricType::Gauge};
constexpr FamilyText kConfigGeneration{"sigshim_config_generation",
                                       "Configuration generation: 1 at start-up, +1 per successful reload.",
                                       MetricType::Gauge};
constexpr FamilyText kPolicyInfo{"sigshim_policy_info", "Digest of the enforcement policy in force (always 1).",
                                 MetricType::Gauge};
constexpr FamilyText kReloads{"sigshim_config_reloads_total", "Configuration reloads (SIGHUP), by result.",
                              MetricType::Counter};
constexpr FamilyText kRefusedCalls{"sigshim_refused_calls_total",
                                   "Calls refused (UNIMPLEMENTED, never forwarded) because their method is not a "
                                   "CRI method.",
                                   MetricType::Counter};

constexpr FamilyText kExceptionExpiry{"sigshim_exception_expiry_timestamp_seconds",
                                      "When each [[exceptions]] entry in force expires (Unix time).",
                                      MetricType::Gauge};
constexpr FamilyText kExceptionAdmissions{"sigshim_exception_admissions_total",
                                          "Images admitted by an [[exceptions]] entry, by exception.",
                                          MetricType::Counter};

// The exposition order.
constexpr FamilyText kFamilies[] = {kDecisions,  kVerificationSeconds, kRegistryRequests, kVerdicts,
                                    kConfigGeneration, kPolicyInfo, kReloads, kRefusedCalls,
                                    kExceptionExpiry,  kExceptionAdmissions};

template <typename Builder>
auto& Register(Builder builder, const FamilyText& text, prometheus::Registry& registry) {
  return builder.Name(text.name).Help(text.help).Register(registry);
}

}  // namespace

std::vector<double> VerificationBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

SigshimMetrics::SigshimMetrics()
    : decisions_(Register(prometheus::BuildCounter(), kDecisions, registry_)),
      verification_seconds_(Register(prometheus::BuildHistogram(), kVerificationSeconds, registry_)),
      registry_requests_(Register(prometheus::BuildCounter(), kRegistryRequests, registry_)),
      verdicts_(Register(prometheus::BuildGauge(), kVerdicts, registry_).Add({})),
      config_generation_(Register(prometheus::BuildGauge(), kConfigGeneration, registry_).Add({})),
      policy_info_(Register(prometheus::BuildGauge(), kPolicyInfo, registry_)),
      reloads_(Register(prometheus::BuildCounter(), kReloads, registry_)),
      reloads_ok_(reloads_.Add({{"result", "ok"}})),
      reloads_failed_(reloads_.Add({{"result", "failed"}})),
      refused_calls_(Register(prometheus::BuildCounter(), kRefusedCalls, registry_).Add({})),
      exception_expiry_(Register(prometheus::BuildGauge(), kExceptionExpiry, registry_)),
      exception_admissions_(Register(prometheus::BuildCounter(), kExceptionAdmissions, registry_)) {}

void SigshimMetrics::SetExceptions(const std::vector<std::pair<std::string, absl::Time>>& exceptions) {
  absl::MutexLock lock(&config_mu_);
  std::vector<prometheus::Gauge*> series;
  for (const auto& [name, expires] : exceptions) {
    prometheus::Gauge& gauge = exception_expiry_.Add({{"exception", name}});
    gauge.Set(absl::ToDoubleSeconds(expires - absl::UnixEpoch()));
    series.push_back(&gauge);
  }
  for (prometheus::Gauge* old : exception_series_) {
    if (std::find(series.begin(), series.end(), old) == series.end()) exception_expiry_.Remove(old);
  }
  exception_series_ = std::move(series);
}

void SigshimMetrics::CountExceptionAdmission(absl::string_view name) {
  exception_admissions_.Add({{"exception", std::string(name)}}).Increment();
}

void SigshimMetrics::CountDecision(absl::string_view method, absl::string_view result, absl::string_view reason) {
  decisions_
      .Add({{"method", std::string(method)}, {"result", std::string(result)}, {"reason", std::string(reason)}})
      .Increment();
}

void SigshimMetrics::ObserveVerification(absl::string_view result, absl::Duration latency) {
  static const prometheus::Histogram::BucketBoundaries* const kBounds =
      new prometheus::Histogram::BucketBoundaries(VerificationBuckets());
  verification_seconds_.Add({{"result", std::string(result)}}, *kBounds).Observe(absl::ToDoubleSeconds(latency));
}

void SigshimMetrics::CountRegistryRequest(int http_status) {
  registry_requests_.Add({{"code", http_status <= 0 ? std::string("error") : std::to_string(http_status)}})
      .Increment();
}

void SigshimMetrics::SetVerdicts(size_t count) { verdicts_.Set(static_cast<double>(count)); }

void SigshimMetrics::SetConfig(uint64_t generation, absl::string_view policy_digest) {
  absl::MutexLock lock(&config_mu_);
  config_generation_.Set(static_cast<double>(generation));
  prometheus::Gauge& series = policy_info_.Add({{"digest", std::string(policy_digest)}});
  series.Set(1);
  // The same digest again is the same series: removing it would export none.
  if (policy_series_ != nullptr && policy_series_ != &series) policy_info_.Remove(policy_series_);
  policy_series_ = &series;
}

void SigshimMetrics::CountRefusedCall() { refused_calls_.Increment(); }

void SigshimMetrics::CountReload(bool ok) { (ok ? reloads_ok_ : reloads_failed_).Increment(); }

std::string SigshimMetrics::Render() const {
  std::vector<prometheus::MetricFamily> collected;
  {
    absl::MutexLock lock(&config_mu_);
    collected = registry_.Collect();
  }
  std::vector<prometheus::MetricFamily> ordered;
  ordered.reserve(collected.size() + std::size(kFamilies));
  for (const FamilyText& text : kFamilies) {
    auto it = std::find_if(collected.begin(), collected.end(),
                           [&text](const prometheus::MetricFamily& family) { return family.name == text.name; });
    if (it == collected.end()) {
      // prometheus-cpp leaves out a family without series; ours show their HELP and TYPE anyway.
      ordered.push_back(prometheus::MetricFamily{text.name, text.help, text.type, {}});
    } else {
      ordered.push_back(std::move(*it));
      collected.erase(it);
    }
  }
  for (prometheus::MetricFamily& family : collected) ordered.push_back(std::move(family));
  // prometheus-cpp collects series in hash order; sorting makes the text the same for the same state.
  for (prometheus::MetricFamily& family : ordered) {
    std::sort(family.metric.begin(), family.metric.end(),
              [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) { return a.label < b.label; });
  }
  return prometheus::TextSerializer().Serialize(ordered);
}

}  // namespace sigshim::metrics
