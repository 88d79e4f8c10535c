#include "pkg/metrics/sigshim_metrics.h"

#include <charconv>

namespace sigshim::metrics {

std::vector<double> VerificationBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

SigshimMetrics::SigshimMetrics()
    : decisions_(registry_.AddCounter("sigshim_decisions_total",
                                      "Admission decisions on CRI calls, by method, result and reason.",
                                      {"method", "result", "reason"})),
      verification_seconds_(registry_.AddHistogram("sigshim_verification_duration_seconds",
                                                   "Time taken by registry signature verifications, by result.",
                                                   {"result"}, VerificationBuckets())),
      registry_requests_(registry_.AddCounter(
          "sigshim_registry_requests_total",
          "HTTP requests to registries, by status code (\"error\": no HTTP answer).", {"code"})),
      verdicts_(registry_.AddGauge("sigshim_verdicts", "Verdicts held in the verdict store.").WithLabels({})),
      config_generation_(registry_
                             .AddGauge("sigshim_config_generation",
                                       "Configuration generation: 1 at start-up, +1 per successful reload.")
                             .WithLabels({})),
      policy_info_(registry_.AddInfo("sigshim_policy_info",
                                     "Digest of the enforcement policy in force (always 1).", {"digest"})),
      reloads_(registry_.AddCounter("sigshim_config_reloads_total", "Configuration reloads (SIGHUP), by result.",
                                    {"result"})),
      reloads_ok_(reloads_.WithLabels({"ok"})),
      reloads_failed_(reloads_.WithLabels({"failed"})),
      refused_calls_(registry_
                         .AddCounter("sigshim_refused_calls_total",
                                     "Calls refused (UNIMPLEMENTED, never forwarded) because their method is not a "
                                     "CRI method.")
                         .WithLabels({})) {}

void SigshimMetrics::CountDecision(absl::string_view method, absl::string_view result, absl::string_view reason) {
  decisions_.WithLabels({method, result, reason}).Increment();
}

void SigshimMetrics::ObserveVerification(absl::string_view result, absl::Duration latency) {
  verification_seconds_.WithLabels({result}).Observe(absl::ToDoubleSeconds(latency));
}

void SigshimMetrics::CountRegistryRequest(int http_status) {
  if (http_status <= 0) {
    registry_requests_.WithLabels({"error"}).Increment();
    return;
  }
  char code[16];
  std::to_chars_result end = std::to_chars(code, code + sizeof(code), http_status);
  registry_requests_.WithLabels({absl::string_view(code, end.ptr - code)}).Increment();
}

void SigshimMetrics::SetVerdicts(size_t count) { verdicts_.Set(static_cast<double>(count)); }

void SigshimMetrics::SetConfig(uint64_t generation, absl::string_view policy_digest) {
  config_generation_.Set(static_cast<double>(generation));
  policy_info_.Set({policy_digest});
}

void SigshimMetrics::CountRefusedCall() { refused_calls_.Increment(); }

void SigshimMetrics::CountReload(bool ok) { (ok ? reloads_ok_ : reloads_failed_).Increment(); }

std::string SigshimMetrics::Render() const { return registry_.Render(); }

}  // namespace sigshim::metrics
