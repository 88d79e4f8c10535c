// `sigshim plan --config NEW_FILE [--current FILE] [--output json]`: what a new configuration would
// change on this node, before it is rolled out (DESIGN.md "Command line contract").
//
// The configuration in force is --current (default /etc/sigshim/config.toml); its [server] names the
// runtime socket and the state folder. The command asks the runtime (CRI) for every image it holds
// and every running container (with its pod's namespace, from the pod sandbox), and decides each
// one under both configurations exactly as the daemon's next CreateContainer would: through the
// enforcement layer (shim/enforcer.h) with each configuration's compiled policy, the node's stored
// verdicts first (re-checked offline, as on a reload) and the registry only where no stored verdict
// decides. The decision logic is pkg/policy's; this file only gathers inputs and prints.
//
// Nothing on the node changes: the stored verdicts are read, copied into a private temporary
// folder for each configuration (a verification made for the plan is kept there and removed with
// it), and the runtime is only asked.
#ifndef SIGSHIM_SHIM_PLAN_COMMAND_H_
#define SIGSHIM_SHIM_PLAN_COMMAND_H_

#include <cstdio>
#include <string>

#include "shim/plan_report.h"

namespace sigshim::shim {

// The configuration in force when --current is not given.
inline constexpr char kDefaultCurrentConfig[] = "/etc/sigshim/config.toml";

struct PlanCommandArgs {
  std::string config;                         // --config NEW_FILE. Required.
  std::string current = kDefaultCurrentConfig;  // --current FILE. Default kDefaultCurrentConfig.
  bool json = false;                          // --output json: one JSON object. Default false (a table).
};

// Runs `sigshim plan`: loads both configurations (errors name the file and line), gathers the
// node's images, running containers and stored verdicts, decides each under both and prints the
// report to `out`. Problems that stop the plan go to `err`. Returns the exit code.
int RunPlanCommand(const PlanCommandArgs& args, std::FILE* out, std::FILE* err);

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_PLAN_COMMAND_H_
