// The headers most of sigshim's translation units include, precompiled once per build folder
// and force-included into every C++ source of pkg/, shim/ and test/ but the fuzz targets (test
// targets that link GoogleTest get it through test/precompiled.h; CMakeLists.txt,
// sigshim_precompile_headers): parsing them was about a third of each file's compile time in the
// sanitizer builds. Never included by hand; a source still includes what it uses, as if this
// file did not exist.
#ifndef SIGSHIM_PKG_BASE_PRECOMPILED_H_
#define SIGSHIM_PKG_BASE_PRECOMPILED_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

#endif  // SIGSHIM_PKG_BASE_PRECOMPILED_H_
