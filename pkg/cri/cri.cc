#include "pkg/cri/cri.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace sigshim::cri {
namespace {

struct Method {
  absl::string_view service;
  absl::string_view name;
  MethodKind kind;
  bool endless;
  bool v1_only;  // Added to the CRI after runtime.v1alpha2 was frozen.
};

// Every method of the CRI RuntimeService and ImageService (Kubernetes' cri-api, runtime.v1 and
// runtime.v1alpha2). A method a newer kubelet calls that is not listed is refused with
// UNIMPLEMENTED, which kubelet treats as a runtime without that feature; add it here once checked.
constexpr Method kMethods[] = {
    {"RuntimeService", "Version", MethodKind::kUnary, false, false},
    {"RuntimeService", "RunPodSandbox", MethodKind::kUnary, false, false},
    {"RuntimeService", "StopPodSandbox", MethodKind::kUnary, false, false},
    {"RuntimeService", "RemovePodSandbox", MethodKind::kUnary, false, false},
    {"RuntimeService", "PodSandboxStatus", MethodKind::kUnary, false, false},
    {"RuntimeService", "ListPodSandbox", MethodKind::kUnary, false, false},
    {"RuntimeService", "CreateContainer", MethodKind::kUnary, false, false},
    {"RuntimeService", "StartContainer", MethodKind::kUnary, false, false},
    {"RuntimeService", "StopContainer", MethodKind::kUnary, false, false},
    {"RuntimeService", "RemoveContainer", MethodKind::kUnary, false, false},
    {"RuntimeService", "ListContainers", MethodKind::kUnary, false, false},
    {"RuntimeService", "ContainerStatus", MethodKind::kUnary, false, false},
    {"RuntimeService", "UpdateContainerResources", MethodKind::kUnary, false, false},
    {"RuntimeService", "ReopenContainerLog", MethodKind::kUnary, false, false},
    {"RuntimeService", "ExecSync", MethodKind::kUnary, false, false},
    {"RuntimeService", "Exec", MethodKind::kUnary, false, false},
    {"RuntimeService", "Attach", MethodKind::kUnary, false, false},
    {"RuntimeService", "PortForward", MethodKind::kUnary, false, false},
    {"RuntimeService", "ContainerStats", MethodKind::kUnary, false, false},
    {"RuntimeService", "ListContainerStats", MethodKind::kUnary, false, false},
    {"RuntimeService", "PodSandboxStats", MethodKind::kUnary, false, false},
    {"RuntimeService", "ListPodSandboxStats", MethodKind::kUnary, false, false},
    {"RuntimeService", "UpdateRuntimeConfig", MethodKind::kUnary, false, false},
    {"RuntimeService", "Status", MethodKind::kUnary, false, false},
    {"RuntimeService", "CheckpointContainer", MethodKind::kUnary, false, true},
    {"RuntimeService", "GetContainerEvents", MethodKind::kServerStream, true, true},
    {"RuntimeService", "ListMetricDescriptors", MethodKind::kUnary, false, true},
    {"RuntimeService", "ListPodSandboxMetrics", MethodKind::kUnary, false, true},
    {"RuntimeService", "RuntimeConfig", MethodKind::kUnary, false, true},
    {"RuntimeService", "UpdatePodSandboxResources", MethodKind::kUnary, false, true},
    {"ImageService", "ListImages", MethodKind::kUnary, false, false},
    {"ImageService", "ImageStatus", MethodKind::kUnary, false, false},
    {"ImageService", "PullImage", MethodKind::kUnary, false, false},
    {"ImageService", "RemoveImage", MethodKind::kUnary, false, false},
    {"ImageService", "ImageFsInfo", MethodKind::kUnary, false, false},
};

using MethodTable = absl::flat_hash_map<std::string, MethodInfo>;

const MethodTable& Methods() {
  static const MethodTable* const table = [] {
    auto* t = new MethodTable();
    for (absl::string_view version : kApiVersions) {
      for (const Method& m : kMethods) {
        if (m.v1_only && version != "v1") continue;
        (*t)[MethodPath(version, m.service, m.name)] = MethodInfo{version, m.service, m.name, m.kind, m.endless};
      }
    }
    return t;
  }();
  return *table;
}

}  // namespace

const MethodInfo* FindMethod(absl::string_view path) {
  const MethodTable& methods = Methods();
  auto it = methods.find(path);
  return it == methods.end() ? nullptr : &it->second;
}

std::string MethodPath(absl::string_view version, absl::string_view service, absl::string_view method) {
  return absl::StrCat("/runtime.", version, ".", service, "/", method);
}

bool ParseMethodPath(absl::string_view path, absl::string_view* version, absl::string_view* service,
                     absl::string_view* method) {
  if (!absl::ConsumePrefix(&path, "/runtime.")) return false;
  const size_t dot = path.find('.');
  const size_t slash = path.find('/');
  if (dot == absl::string_view::npos || slash == absl::string_view::npos || dot > slash) return false;
  absl::string_view v = path.substr(0, dot);
  absl::string_view s = path.substr(dot + 1, slash - dot - 1);
  absl::string_view m = path.substr(slash + 1);
  if (v.empty() || s.empty() || m.empty() || m.find('/') != absl::string_view::npos) return false;
  *version = v;
  *service = s;
  *method = m;
  return true;
}

}  // namespace sigshim::cri
