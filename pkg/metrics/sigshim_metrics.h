// The metrics sigshim exports, named once here. The daemon creates one SigshimMetrics and passes
// it to the code that decides, verifies and reloads; the status server renders it on /metrics.
// Counting and the text exposition are prometheus-cpp's (Debian prometheus-cpp-dev, core library
// only: the HTTP endpoint is sigshim's own status server).
//
// Exported (Prometheus text format 0.0.4), in this order; every family shows its HELP and TYPE
// from the start, even before its first series:
//   sigshim_decisions_total{method,result,reason}          counter
//   sigshim_verification_duration_seconds{result}          histogram, 1ms..30s
//   sigshim_registry_requests_total{code}                  counter, code "200"… or "error"
//   sigshim_verdicts                                       gauge
//   sigshim_config_generation                              gauge
//   sigshim_policy_info{digest}                            gauge, 1 for the policy in force only
//   sigshim_config_reloads_total{result}                   counter, result "ok" | "failed"
//   sigshim_refused_calls_total                            counter, calls to methods outside the CRI
//   sigshim_exception_expiry_timestamp_seconds{exception}  gauge, Unix time each [[exceptions]] entry
//                                                          in force expires
//   sigshim_exception_admissions_total{exception}          counter, images admitted by each exception
// Within a family, series are sorted by their labels, and labels by name (prometheus-cpp's order).
#ifndef SIGSHIM_PKG_METRICS_SIGSHIM_METRICS_H_
#define SIGSHIM_PKG_METRICS_SIGSHIM_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace sigshim::metrics {

// The upper bounds (seconds) of sigshim_verification_duration_seconds.
std::vector<double> VerificationBuckets();

// Every method is thread-safe. Updates of a series with fixed labels (verdicts, generation,
// reloads, refused calls) are one atomic operation on a cached metric; a labelled update
// (decision, verification, registry request) first finds its series under the family's lock.
// The object must outlive everything that reports to it.
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
  // reload) and its PolicyDigest(); only the latest digest is exported, and a concurrent Render
  // sees either the previous generation and digest or these, never a mix, two digests or none.
  void SetConfig(uint64_t generation, absl::string_view policy_digest);

  // Counts one reload attempt (SIGHUP), successful or not.
  void CountReload(bool ok);

  // Counts one call refused because its method is not a CRI method (never forwarded). The method
  // is the caller's choice, so it is not a label.
  void CountRefusedCall();

  // Publishes the [[exceptions]] of the configuration in force: one expiry series per (name,
  // expiry in Unix seconds); series of exceptions no longer configured are removed.
  void SetExceptions(const std::vector<std::pair<std::string, absl::Time>>& exceptions);

  // Counts one image admitted by exception `name` (a configured name: a bounded vocabulary).
  void CountExceptionAdmission(absl::string_view name);

  // Returns the whole exposition text (Content-Type "text/plain; version=0.0.4"): the families
  // above in that order, then any family another part added to registry() that has a series.
  std::string Render() const;

  // Returns the prometheus-cpp registry, so that other parts can add their own families; they
  // live as long as this object.
  prometheus::Registry& registry() { return registry_; }

 private:
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& decisions_;
  prometheus::Family<prometheus::Histogram>& verification_seconds_;
  prometheus::Family<prometheus::Counter>& registry_requests_;
  prometheus::Gauge& verdicts_;
  prometheus::Gauge& config_generation_;
  prometheus::Family<prometheus::Gauge>& policy_info_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Counter& reloads_ok_;
  prometheus::Counter& reloads_failed_;
  prometheus::Counter& refused_calls_;
  prometheus::Family<prometheus::Gauge>& exception_expiry_;
  prometheus::Family<prometheus::Counter>& exception_admissions_;

  // Makes SetConfig's swap of the policy_info series (add the new digest, remove the old) and its
  // generation one step for Render.
  mutable absl::Mutex config_mu_;
  // The series of the digest in force, owned by policy_info_; null before the first SetConfig.
  prometheus::Gauge* policy_series_ ABSL_GUARDED_BY(config_mu_) = nullptr;
  // The expiry series of the exceptions in force, owned by exception_expiry_.
  std::vector<prometheus::Gauge*> exception_series_ ABSL_GUARDED_BY(config_mu_);
};

}  // namespace sigshim::metrics

#endif  // SIGSHIM_PKG_METRICS_SIGSHIM_METRICS_H_
