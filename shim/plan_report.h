// What `sigshim plan` found and how it is printed (shim/plan_command.h gathers it): every image
// the runtime holds and every running container, each decided under the configuration in force and
// under a new one. Pure: nothing here asks the node.
#ifndef SIGSHIM_SHIM_PLAN_REPORT_H_
#define SIGSHIM_SHIM_PLAN_REPORT_H_

#include <string>
#include <vector>

namespace sigshim::shim {

// Exit codes of `sigshim plan`.
inline constexpr int kPlanNothingRefused = 0;  // no running container would be refused
inline constexpr int kPlanRefusesRunning = 1;  // at least one running container would be refused
inline constexpr int kPlanError = 2;           // bad usage, a configuration that does not load, the runtime unreachable

// One decision of the plan, as the daemon would answer the call.
struct PlanDecision {
  std::string decision;  // what the configuration says: "allow", "deny" or "error"
  bool allowed = false;  // whether the call would go ahead (a denial not enforced is allowed)
  bool enforced = true;  // false when audit mode or a policy's enforce_from let a denial through
  std::string source;    // registry | verdict | config | unmatched | exception
  std::string policy;    // the [[policy]] that decided, "" when none
  std::string identity;  // every identity that counted, comma-separated
  std::string exception;  // the [[exceptions]] entry that admitted it, "" when none
  std::string reason;    // for a person: what the decision rests on, or why it refuses
  // When a stored verdict of the image holds under no rule of this configuration (it is re-checked
  // offline, as on a reload): "<repository>@<digest>: <why>" (a key revoked or retired, …); else "".
  std::string stored_verdict;
};

// One image the runtime holds, or one running container, decided under both configurations.
struct PlanRow {
  std::string image;           // a name of the image (its first tag, else digest name, else its id)
  std::string image_id;        // the runtime's image id
  std::string namespace_name;  // the pod's namespace; "" for an image (decided as for a call without one)
  std::string pod;             // the pod's name; "" for an image
  std::string container;       // the container's name; "" for an image
  std::string container_id;    // "" for an image
  PlanDecision now;            // under the configuration in force
  PlanDecision next;           // under NEW_FILE

  bool is_container() const { return !container_id.empty(); }
  // Returns true when the call is allowed now and would be refused under NEW_FILE.
  bool newly_refused() const { return now.allowed && !next.allowed; }
};

// What the plan found.
struct PlanReport {
  std::string current_config;    // the configuration in force (path)
  std::string new_config;        // NEW_FILE (path)
  std::string runtime_endpoint;  // where the runtime was asked
  std::vector<PlanRow> containers;  // every running container
  std::vector<PlanRow> images;      // every image the runtime holds
};

// Returns the plan for a person: a table of the running containers and one of the images (image,
// namespace, now, new, why: the new decision's reason, after why the image's stored verdict no
// longer holds when it is refused), then one line per call that would newly be refused, then a
// summary.
std::string FormatPlan(const PlanReport& report);

// Returns the plan as one JSON object (no trailing newline): current_config, new_config,
// runtime_endpoint, containers [{container, container_id, pod, namespace, image, image_id, now,
// new, newly_refused}], images [{image, image_id, namespace, now, new, newly_refused}] (each
// decision {decision, allowed, enforced, source, policy, identity, exception, reason, stored_verdict}),
// newly_refused {containers, images} (names), running_refused (count), exit_code.
std::string FormatPlanJson(const PlanReport& report);

// Returns kPlanRefusesRunning when a running container would be refused under NEW_FILE, else
// kPlanNothingRefused.
int PlanExitCode(const PlanReport& report);

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_PLAN_REPORT_H_
