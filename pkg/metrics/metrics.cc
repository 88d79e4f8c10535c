#include "pkg/metrics/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sigshim::metrics {
namespace {

// Aborts with `message`: registering a malformed metric is a programming error.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "sigshim metrics: %s\n", message.c_str());
  std::abort();
}

bool IsMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = absl::ascii_isalpha(c) || c == '_' || c == ':' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsLabelName(absl::string_view name) {
  if (name.empty() || absl::StartsWith(name, "__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = absl::ascii_isalpha(c) || c == '_' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

void CheckNames(absl::string_view name, const std::vector<std::string>& label_names) {
  if (!IsMetricName(name)) Die(absl::StrCat("invalid metric name \"", name, "\""));
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (!IsLabelName(label_names[i])) {
      Die(absl::StrCat("metric ", name, ": invalid label name \"", label_names[i], "\""));
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[i] == label_names[j]) Die(absl::StrCat("metric ", name, ": label ", label_names[i], " twice"));
    }
  }
}

std::string EscapeWith(absl::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"':
        out += quote ? "\\\"" : "\"";
        break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) { return EscapeWith(value, /*quote=*/true); }

std::string EscapeHelp(absl::string_view text) { return EscapeWith(text, /*quote=*/false); }

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, result.ptr);
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  // NaN lands in +Inf (lower_bound finds no bound >= NaN).
  size_t i = std::lower_bound(bounds_->begin(), bounds_->end(), value) - bounds_->begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative.resize(bounds_->size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative[i] = running;
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

void Info::Set(absl::Span<const absl::string_view> label_values) {
  std::vector<std::string> values(label_names_.size());
  for (size_t i = 0; i < values.size() && i < label_values.size(); ++i) values[i] = std::string(label_values[i]);
  absl::MutexLock lock(&mu_);
  values_ = std::move(values);
  set_ = true;
}

std::vector<std::string> Info::Get() const {
  absl::MutexLock lock(&mu_);
  return set_ ? values_ : std::vector<std::string>();
}

void Info::Render(std::string* out) const {
  internal::AppendHeader(out, name_, help_, "gauge");
  absl::MutexLock lock(&mu_);
  if (set_) internal::AppendSample(out, name_, label_names_, values_, "", "", "1");
}

namespace internal {

void AppendHeader(std::string* out, absl::string_view name, absl::string_view help, absl::string_view type) {
  absl::StrAppend(out, "# HELP ", name, " ", EscapeHelp(help), "\n# TYPE ", name, " ", type, "\n");
}

void AppendSample(std::string* out, absl::string_view name, const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, absl::string_view extra_name,
                  absl::string_view extra_value, absl::string_view value) {
  out->append(name.data(), name.size());
  bool any = !label_names.empty() || !extra_name.empty();
  if (any) {
    out->push_back('{');
    const char* sep = "";
    for (size_t i = 0; i < label_names.size(); ++i) {
      absl::StrAppend(out, sep, label_names[i], "=\"", EscapeLabelValue(label_values[i]), "\"");
      sep = ",";
    }
    if (!extra_name.empty()) absl::StrAppend(out, sep, extra_name, "=\"", EscapeLabelValue(extra_value), "\"");
    out->push_back('}');
  }
  absl::StrAppend(out, " ", value, "\n");
}

void RenderChild(std::string* out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& label_values, const Counter& c) {
  AppendSample(out, name, label_names, label_values, "", "", absl::StrCat(c.value()));
}

void RenderChild(std::string* out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& label_values, const Gauge& g) {
  AppendSample(out, name, label_names, label_values, "", "", FormatValue(g.value()));
}

void RenderChild(std::string* out, const std::string& name, const std::vector<std::string>& label_names,
                 const std::vector<std::string>& label_values, const Histogram& h) {
  Histogram::Snapshot s = h.Read();
  const std::string bucket = name + "_bucket";
  for (size_t i = 0; i < h.bounds().size(); ++i) {
    AppendSample(out, bucket, label_names, label_values, "le", FormatValue(h.bounds()[i]),
                 absl::StrCat(s.cumulative[i]));
  }
  AppendSample(out, bucket, label_names, label_values, "le", "+Inf", absl::StrCat(s.count));
  AppendSample(out, name + "_sum", label_names, label_values, "", "", FormatValue(s.sum));
  AppendSample(out, name + "_count", label_names, label_values, "", "", absl::StrCat(s.count));
}

}  // namespace internal

void Registry::Register(std::unique_ptr<internal::FamilyBase> family) {
  absl::MutexLock lock(&mu_);
  for (const auto& existing : families_) {
    if (existing->name() == family->name()) Die(absl::StrCat("metric ", family->name(), " registered twice"));
  }
  families_.push_back(std::move(family));
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help, std::vector<std::string> label_names) {
  CheckNames(name, label_names);
  bool labelless = label_names.empty();
  auto* family = new Family<Counter>(std::move(name), std::move(help), "counter", std::move(label_names),
                                     [] { return std::make_unique<Counter>(); });
  Register(std::unique_ptr<internal::FamilyBase>(family));
  if (labelless) family->WithLabels({});
  return *family;
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help, std::vector<std::string> label_names) {
  CheckNames(name, label_names);
  bool labelless = label_names.empty();
  auto* family = new Family<Gauge>(std::move(name), std::move(help), "gauge", std::move(label_names),
                                   [] { return std::make_unique<Gauge>(); });
  Register(std::unique_ptr<internal::FamilyBase>(family));
  if (labelless) family->WithLabels({});
  return *family;
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  CheckNames(name, label_names);
  for (const std::string& label : label_names) {
    if (label == "le") Die(absl::StrCat("histogram ", name, ": the label \"le\" is reserved"));
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      Die(absl::StrCat("histogram ", name, ": bucket bounds must be finite and strictly increasing"));
    }
  }
  bool labelless = label_names.empty();
  auto shared_bounds = std::make_shared<const std::vector<double>>(std::move(bounds));
  auto* family = new Family<Histogram>(std::move(name), std::move(help), "histogram", std::move(label_names),
                                       [shared_bounds] { return std::make_unique<Histogram>(shared_bounds); });
  Register(std::unique_ptr<internal::FamilyBase>(family));
  if (labelless) family->WithLabels({});
  return *family;
}

Info& Registry::AddInfo(std::string name, std::string help, std::vector<std::string> label_names) {
  CheckNames(name, label_names);
  auto* info = new Info(std::move(name), std::move(help), std::move(label_names));
  Register(std::unique_ptr<internal::FamilyBase>(info));
  return *info;
}

std::string Registry::Render() const {
  std::string out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& family : families_) family->Render(&out);
  return out;
}

}  // namespace sigshim::metrics
