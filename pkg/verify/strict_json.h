// Internal to pkg/verify: one non-throwing, strict JSON entry point for every format parsed here.
#ifndef SIGSHIM_PKG_VERIFY_STRICT_JSON_H_
#define SIGSHIM_PKG_VERIFY_STRICT_JSON_H_

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::verify::internal {

// Parses `text` (at most `max_bytes`) as one JSON value without exceptions. Refuses what lets two
// readers of signed bytes disagree: syntax errors, invalid UTF-8, a key repeated in one object, and
// nesting deeper than 32 levels. `what` names the document in messages ("signature payload").
absl::StatusOr<nlohmann::json> ParseStrictJson(absl::string_view text, size_t max_bytes,
                                               absl::string_view what);

// Checks that `object` is a JSON object whose keys are exactly `required` plus any of `optional`;
// InvalidArgument naming `what` and the first missing or unknown key otherwise.
absl::Status CheckExactFields(const nlohmann::json& object, std::initializer_list<const char*> required,
                              std::initializer_list<const char*> optional, absl::string_view what);

// Returns the string at `object[key]`, or InvalidArgument naming `what` when it is not a string.
absl::StatusOr<std::string> GetString(const nlohmann::json& object, const char* key,
                                      absl::string_view what);

}  // namespace sigshim::verify::internal

#endif  // SIGSHIM_PKG_VERIFY_STRICT_JSON_H_
