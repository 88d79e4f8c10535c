#include "pkg/cri/cri.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace sigshim::cri {

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
