// The metrics sigshim exports, named once here. The daemon creates one SigshimMetrics and passes
// it to the code that decides, verifies and reloads; the status server renders it on /metrics.
//
// Exported (Prometheus text format 0.0.4):
//   sigshim_decisions_total{method,result,reason}          counter
//   sigshim_verification_duration_seconds{result}          histogram, 1ms..30s
//   sigshim_registry_requests_total{code}                  counter, code "200"… or "error"
//   sigshim_verdicts                                       gauge
//   sigshim_config_generation                              gauge
//   sigshim_policy_info{digest}                            gauge, 1 for the policy in force only
//   sigshim_config_reloads_total{result}                   counter, result "ok" | "failed"
//   sigshim_refused_calls_total                            counter, calls to methods outside the CRI
#ifndef SIGSHIM_PKG_METRICS_SIGSHIM_METRICS_H_
#define SIGSHIM_PKG_METRICS_SIGSHIM_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/metrics/metrics.h"

namespace sigshim::metrics {

// The upper bounds (seconds) of sigshim_verification_duration_seconds.
std::vector<double> VerificationBuckets();

// Every method is thread-safe and cheap: one atomic update after a shared-lock lookup of the label
// set. The object must outlive everything that reports to it.
class SigshimMetrics {
 public:
  SigshimMetrics();
  SigshimMetrics(const SigshimMetrics&) = delete;
  SigshimMetrics& operator=(const SigshimMetrics&) = delete;

  // Counts one admission decision. `method`: the CRI method ("PullImage", "CreateContainer",
  // "RunPodSandbox"); `result`: "allow", "deny" or "error"; `reason`: a short class such as
  // "verified", "verdict", "unmatched", "audit", "no_signatures", "rejected",
  // "registry_unavailable", "registry_error", "invalid_reference", "verification_error",
  // "not_found". Callers pass a fixed vocabulary: every distinct value is a time series.
  void CountDecision(absl::string_view method, absl::string_view result, absl::string_view reason);

  // Records how long one registry verification took, by its `result` (e.g. "allow", "deny",
  // "error").
  void ObserveVerification(absl::string_view result, absl::Duration latency);

  // Counts one registry HTTP request by its status code; 0 means the transport failed (no HTTP
  // answer) and is counted as code "error".
  void CountRegistryRequest(int http_status);

  // Sets the number of verdicts in the store.
  void SetVerdicts(size_t count);

  // Publishes the configuration in force: `generation` (1 for the first config, +1 per successful
  // reload) and its PolicyDigest(); only the latest digest is exported.
  void SetConfig(uint64_t generation, absl::string_view policy_digest);

  // Counts one reload attempt (SIGHUP), successful or not.
  void CountReload(bool ok);

  // Counts one call refused because its method is not a CRI method (never forwarded). The method
  // is the caller's choice, so it is not a label.
  void CountRefusedCall();

  // Returns the whole exposition text (Content-Type "text/plain; version=0.0.4").
  std::string Render() const;

  // Returns the registry, so that other parts can add their own families.
  Registry& registry() { return registry_; }

 private:
  Registry registry_;
  Family<Counter>& decisions_;
  Family<Histogram>& verification_seconds_;
  Family<Counter>& registry_requests_;
  Gauge& verdicts_;
  Gauge& config_generation_;
  Info& policy_info_;
  Family<Counter>& reloads_;
  Counter& reloads_ok_;
  Counter& reloads_failed_;
  Counter& refused_calls_;
};

}  // namespace sigshim::metrics

#endif  // SIGSHIM_PKG_METRICS_SIGSHIM_METRICS_H_
