// A small, thread-safe metrics library that renders the Prometheus text exposition format 0.0.4.
//
// A Registry owns metric families (counters, gauges, histograms, info metrics); each family owns
// one child per label set. Nothing is global: the daemon creates one Registry (through
// SigshimMetrics) and passes it to whoever counts. Updating a child is one atomic operation;
// finding a child takes a shared lock and a map lookup, and creating it (first use of a label set)
// takes the family's lock exclusively. Callers on a hot path may keep the child reference: it
// stays valid as long as the Registry.
//
// Names are written by programmers, not read from input: a metric or label name that Prometheus
// would reject, a duplicate metric name, a reserved label ("le" on a histogram, "__" prefixes) or
// unsorted histogram buckets abort the process with a message, at start-up.
#ifndef SIGSHIM_PKG_METRICS_METRICS_H_
#define SIGSHIM_PKG_METRICS_METRICS_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace sigshim::metrics {

// A monotonically increasing count. Thread-safe.
class Counter {
 public:
  // Adds `n` (relaxed atomic add).
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  // Returns the current count.
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down. Thread-safe.
class Gauge {
 public:
  // Replaces the value.
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  // Adds `delta` (may be negative).
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  // Returns the current value.
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets, with their sum. Thread-safe.
class Histogram {
 public:
  // A consistent-enough copy for rendering: `cumulative[i]` counts observations <= bounds[i], the
  // last entry (index bounds.size()) counts all of them and equals `count`.
  struct Snapshot {
    std::vector<uint64_t> cumulative;
    uint64_t count = 0;
    double sum = 0;
  };

  // Shares `bounds`: finite upper bounds, strictly increasing ("+Inf" is implicit).
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);

  // Counts `value` into the first bucket whose bound is >= value and adds it to the sum.
  void Observe(double value);

  // Returns the counts so far. Observations made concurrently may be partly visible (a bucket
  // counted but not yet the sum), never double-counted; `count` always equals the +Inf bucket.
  Snapshot Read() const;

  // Returns the finite bucket bounds.
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  std::shared_ptr<const std::vector<double>> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_->size() + 1 entries, not cumulative
  std::atomic<double> sum_{0};
};

namespace internal {

// Orders label-value lists; transparent so that lookups need no allocation.
struct LabelsLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](absl::string_view x, absl::string_view y) { return x < y; });
  }
};

// What a Registry needs from every family.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  // Appends "# HELP", "# TYPE" and every sample of this family to `out`.
  virtual void Render(std::string* out) const = 0;
  virtual const std::string& name() const = 0;
};

}  // namespace internal

// A metric that exports exactly one label set with the value 1 (the "info" pattern, type gauge),
// e.g. which policy is in force. Thread-safe.
class Info : public internal::FamilyBase {
 public:
  // Replaces the exported label set (one value per label name, in order; a missing value counts
  // as "" and an extra one is ignored). Nothing is exported before the first Set.
  void Set(absl::Span<const absl::string_view> label_values);
  void Set(std::initializer_list<absl::string_view> label_values) {
    Set(absl::Span<const absl::string_view>(label_values.begin(), label_values.size()));
  }
  // Returns the exported label values, or an empty vector before the first Set.
  std::vector<std::string> Get() const;

  const std::string& name() const override { return name_; }
  void Render(std::string* out) const override;

 private:
  friend class Registry;
  Info(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  mutable absl::Mutex mu_;
  std::vector<std::string> values_ ABSL_GUARDED_BY(mu_);  // empty until the first Set
  bool set_ ABSL_GUARDED_BY(mu_) = false;
};

// A named metric with fixed label names and one child of type T per label set. Thread-safe.
template <typename T>
class Family : public internal::FamilyBase {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;

  // Returns the child for `label_values` (one per label name, in order; a missing value counts as
  // "" and an extra one is ignored), created at zero on first use. The reference stays valid as
  // long as the Registry that owns this family.
  T& WithLabels(absl::Span<const absl::string_view> label_values);
  T& WithLabels(std::initializer_list<absl::string_view> label_values) {
    return WithLabels(absl::Span<const absl::string_view>(label_values.begin(), label_values.size()));
  }

  // Returns the label names given at registration.
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::string& name() const override { return name_; }
  void Render(std::string* out) const override;

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::string type, std::vector<std::string> label_names,
         Factory factory)
      : name_(std::move(name)), help_(std::move(help)), type_(std::move(type)),
        label_names_(std::move(label_names)), factory_(std::move(factory)) {}

  const std::string name_;
  const std::string help_;
  const std::string type_;
  const std::vector<std::string> label_names_;
  const Factory factory_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>, internal::LabelsLess> children_ ABSL_GUARDED_BY(mu_);
};

// Owns metric families and renders them, in registration order. Thread-safe; families can be
// added at any time, though the daemon adds them all at start-up.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each Add* registers a family named `name` with `help` text and `label_names`, and returns it;
  // the family lives as long as the Registry. A family without labels has its one child created
  // at once, so that it renders 0 before its first update.
  Family<Counter>& AddCounter(std::string name, std::string help, std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  // `bounds`: the finite upper bounds of the buckets, strictly increasing.
  Family<Histogram>& AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                                  std::vector<double> bounds);
  // Rendered with type gauge.
  Info& AddInfo(std::string name, std::string help, std::vector<std::string> label_names);

  // Returns every family in the text exposition format 0.0.4 (for Content-Type
  // "text/plain; version=0.0.4"). Values are read without stopping writers.
  std::string Render() const;

 private:
  void Register(std::unique_ptr<internal::FamilyBase> family);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<internal::FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
};

// Formatting helpers of the exposition format, public for tests.

// Returns `value` escaped for a label value: \ → \\, " → \", newline → \n.
std::string EscapeLabelValue(absl::string_view value);
// Returns `text` escaped for a HELP line: \ → \\, newline → \n.
std::string EscapeHelp(absl::string_view text);
// Returns the shortest text that reads back as `value`; "+Inf", "-Inf", "NaN" for those.
std::string FormatValue(double value);

namespace internal {
// Appends `name{l1="v1",...,extra_name="extra_value"} value\n`; braces are left out when there is no label.
void AppendSample(std::string* out, absl::string_view name, const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, absl::string_view extra_name,
                  absl::string_view extra_value, absl::string_view value);
void AppendHeader(std::string* out, absl::string_view name, absl::string_view help, absl::string_view type);
void RenderChild(std::string* out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& label_values, const Counter& c);
void RenderChild(std::string* out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& label_values, const Gauge& g);
void RenderChild(std::string* out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& label_values, const Histogram& h);
}  // namespace internal

template <typename T>
T& Family<T>::WithLabels(absl::Span<const absl::string_view> label_values) {
  absl::InlinedVector<absl::string_view, 4> key(label_names_.size());
  for (size_t i = 0; i < key.size() && i < label_values.size(); ++i) key[i] = label_values[i];
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = children_.find(key);
    if (it != children_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  auto it = children_.find(key);
  if (it != children_.end()) return *it->second;
  std::vector<std::string> owned(key.begin(), key.end());
  return *children_.emplace(std::move(owned), factory_()).first->second;
}

template <typename T>
void Family<T>::Render(std::string* out) const {
  internal::AppendHeader(out, name_, help_, type_);
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [label_values, child] : children_) {
    internal::RenderChild(out, name_, label_names_, label_values, *child);
  }
}

}  // namespace sigshim::metrics

#endif  // SIGSHIM_PKG_METRICS_METRICS_H_
