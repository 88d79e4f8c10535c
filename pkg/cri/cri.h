// Names of the CRI methods sigshim knows about, for both served API versions.
#ifndef SIGSHIM_PKG_CRI_CRI_H_
#define SIGSHIM_PKG_CRI_CRI_H_

#include <string>

#include "absl/strings/string_view.h"
#include "pkg/cri/api.pb.h"

namespace sigshim::cri {

// The CRI API versions a runtime may serve; sigshim applies the same checks to each.
inline constexpr absl::string_view kApiVersions[] = {"v1", "v1alpha2"};

// Returns the full gRPC method path, e.g. MethodPath("v1", "ImageService", "PullImage") is
// "/runtime.v1.ImageService/PullImage".
std::string MethodPath(absl::string_view version, absl::string_view service, absl::string_view method);

// Splits a gRPC method path of the form "/runtime.<version>.<Service>/<Method>". Returns false
// (and leaves the outputs untouched) for any other shape.
bool ParseMethodPath(absl::string_view path, absl::string_view* version, absl::string_view* service,
                     absl::string_view* method);

}  // namespace sigshim::cri

#endif  // SIGSHIM_PKG_CRI_CRI_H_
