#include "shim/plan_report.h"

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "pkg/base/log.h"

namespace sigshim::shim {
namespace {

// Returns `text` on one line, cut to `max` characters.
std::string Cell(const std::string& text, size_t max) {
  std::string out = log::EscapeControl(text);
  if (out.size() > max) out = absl::StrCat(out.substr(0, max - 3), "...");
  return out;
}

// Returns why `d` was decided so, for a person: its reason, after why the stored verdict no longer
// holds when that is known and the call is refused.
std::string Why(const PlanDecision& d) {
  if (d.allowed || d.stored_verdict.empty()) return d.reason;
  return absl::StrCat("stored verdict no longer valid (", d.stored_verdict, "); ", d.reason);
}

std::string Shown(const PlanDecision& d) {
  if (d.decision.empty()) return "?";
  if (d.allowed && !d.exception.empty()) return absl::StrCat("allow (exception ", d.exception, ")");
  if (d.allowed && d.decision != "allow") return absl::StrCat(d.decision, " (not enforced)");
  return d.decision;
}

// Appends a table of `rows` to `out`: IMAGE, NAMESPACE, NOW, NEW, WHY (the new configuration's
// reason); for a container the image is preceded by "<pod>/<container> ".
void AppendTable(std::string& out, const std::vector<PlanRow>& rows) {
  std::vector<std::vector<std::string>> cells = {{"IMAGE", "NAMESPACE", "NOW", "NEW", "WHY"}};
  for (const PlanRow& row : rows) {
    const std::string what =
        row.is_container() ? absl::StrCat(row.pod, "/", row.container, " ", row.image) : row.image;
    cells.push_back({Cell(what, 120), row.namespace_name.empty() ? "-" : Cell(row.namespace_name, 63),
                     Cell(Shown(row.now), 60), Cell(Shown(row.next), 60), Cell(Why(row.next), 400)});
  }
  std::vector<size_t> width(4, 0);
  for (const auto& line : cells) {
    for (size_t i = 0; i < 4; ++i) width[i] = std::max(width[i], line[i].size());
  }
  for (const auto& line : cells) {
    for (size_t i = 0; i < 4; ++i) absl::StrAppend(&out, line[i], std::string(width[i] - line[i].size() + 2, ' '));
    absl::StrAppend(&out, line[4], "\n");
  }
}

nlohmann::json DecisionJson(const PlanDecision& d) {
  return {{"decision", d.decision}, {"allowed", d.allowed}, {"enforced", d.enforced}, {"source", d.source},
          {"policy", d.policy},     {"identity", d.identity}, {"exception", d.exception}, {"reason", d.reason},
          {"stored_verdict", d.stored_verdict}};
}

std::string RowName(const PlanRow& row) {
  return row.is_container() ? absl::StrCat(row.namespace_name, "/", row.pod, "/", row.container, " (", row.image, ")")
                            : row.image;
}

}  // namespace

int PlanExitCode(const PlanReport& report) {
  for (const PlanRow& row : report.containers) {
    if (!row.next.allowed) return kPlanRefusesRunning;
  }
  return kPlanNothingRefused;
}

std::string FormatPlan(const PlanReport& report) {
  std::string out = absl::StrCat("configuration in force: ", report.current_config, "\nnew configuration:      ",
                                 report.new_config, "\nruntime:                ", report.runtime_endpoint, "\n\n");
  absl::StrAppend(&out, "Running containers (", report.containers.size(), "):\n");
  if (report.containers.empty()) {
    absl::StrAppend(&out, "  none\n");
  } else {
    AppendTable(out, report.containers);
  }
  absl::StrAppend(&out, "\nImages on the node (", report.images.size(),
                  "; decided as for a call without a pod namespace):\n");
  if (report.images.empty()) {
    absl::StrAppend(&out, "  none\n");
  } else {
    AppendTable(out, report.images);
  }
  int containers = 0;
  int images = 0;
  int running_refused = 0;
  std::string newly;
  for (const std::vector<PlanRow>* rows : {&report.containers, &report.images}) {
    for (const PlanRow& row : *rows) {
      if (row.is_container() && !row.next.allowed) ++running_refused;
      if (!row.newly_refused()) continue;
      ++(row.is_container() ? containers : images);
      absl::StrAppend(&newly, "newly refused: ", row.is_container() ? "container " : "image ", Cell(RowName(row), 400),
                      ": ", Cell(Why(row.next), 1000), "\n");
    }
  }
  absl::StrAppend(&out, "\n", newly, "would newly be refused: ", containers, " running container(s), ", images,
                  " image(s); running containers refused under the new configuration: ", running_refused, "\n");
  return out;
}

std::string FormatPlanJson(const PlanReport& report) {
  nlohmann::json containers = nlohmann::json::array();
  nlohmann::json images = nlohmann::json::array();
  nlohmann::json newly_containers = nlohmann::json::array();
  nlohmann::json newly_images = nlohmann::json::array();
  int running_refused = 0;
  for (const PlanRow& row : report.containers) {
    containers.push_back({{"container", row.container}, {"container_id", row.container_id}, {"pod", row.pod},
                          {"namespace", row.namespace_name}, {"image", row.image}, {"image_id", row.image_id},
                          {"now", DecisionJson(row.now)}, {"new", DecisionJson(row.next)},
                          {"newly_refused", row.newly_refused()}});
    if (row.newly_refused()) newly_containers.push_back(RowName(row));
    if (!row.next.allowed) ++running_refused;
  }
  for (const PlanRow& row : report.images) {
    images.push_back({{"image", row.image}, {"image_id", row.image_id}, {"namespace", row.namespace_name},
                      {"now", DecisionJson(row.now)}, {"new", DecisionJson(row.next)},
                      {"newly_refused", row.newly_refused()}});
    if (row.newly_refused()) newly_images.push_back(row.image);
  }
  nlohmann::json out = {{"current_config", report.current_config},
                        {"new_config", report.new_config},
                        {"runtime_endpoint", report.runtime_endpoint},
                        {"containers", containers},
                        {"images", images},
                        {"newly_refused", {{"containers", newly_containers}, {"images", newly_images}}},
                        {"running_refused", running_refused},
                        {"exit_code", PlanExitCode(report)}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sigshim::shim
