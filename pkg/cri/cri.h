// Names of the CRI methods sigshim knows about, for both served API versions, and the closed set
// of method paths the proxy serves.
#ifndef SIGSHIM_PKG_CRI_CRI_H_
#define SIGSHIM_PKG_CRI_CRI_H_

#include <string>

#include "absl/strings/string_view.h"
#include "pkg/cri/api.pb.h"

namespace sigshim::cri {

// The CRI API versions a runtime may serve; sigshim applies the same checks to each.
inline constexpr absl::string_view kApiVersions[] = {"v1", "v1alpha2"};

// How a CRI method exchanges messages.
enum class MethodKind {
  kUnary,          // one request, one response
  kServerStream,   // one request, a stream of responses
};

// A method of the CRI's RuntimeService or ImageService.
struct MethodInfo {
  absl::string_view version;  // "v1" or "v1alpha2"
  absl::string_view service;  // "RuntimeService" or "ImageService"
  absl::string_view name;     // e.g. "PullImage"
  MethodKind kind;
  // True for a stream that only ends when the caller leaves (GetContainerEvents).
  bool endless;
};

// Returns the CRI method whose gRPC path is exactly `path` (e.g. "/runtime.v1.ImageService/PullImage"),
// or null for every other string: another service, a method the CRI does not define, an unknown
// API version, or the path of a CRI method spelled any other way (no leading '/', other case,
// a trailing '/'). The set is closed: these are the only paths sigshim serves. The pointer is valid
// for the life of the program.
const MethodInfo* FindMethod(absl::string_view path);

// The message of the UNIMPLEMENTED answer to a call whose path FindMethod does not know.
inline constexpr char kNotCriMessage[] =
    "sigshim serves only the CRI (runtime.v1 and runtime.v1alpha2 RuntimeService and ImageService); this method "
    "is not one of them and was not forwarded";

// Returns the full gRPC method path, e.g. MethodPath("v1", "ImageService", "PullImage") is
// "/runtime.v1.ImageService/PullImage".
std::string MethodPath(absl::string_view version, absl::string_view service, absl::string_view method);

// Splits a gRPC method path of the form "/runtime.<version>.<Service>/<Method>". Returns false
// (and leaves the outputs untouched) for any other shape.
bool ParseMethodPath(absl::string_view path, absl::string_view* version, absl::string_view* service,
                     absl::string_view* method);

}  // namespace sigshim::cri

#endif  // SIGSHIM_PKG_CRI_CRI_H_
