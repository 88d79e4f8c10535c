#include "pkg/verify/strict_json.h"

#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sigshim::verify::internal {
namespace {

constexpr int kMaxDepth = 32;

}  // namespace

absl::StatusOr<nlohmann::json> ParseStrictJson(absl::string_view text, size_t max_bytes,
                                               absl::string_view what) {
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " of ", text.size(),
                                                   " bytes is larger than the limit of ", max_bytes));
  }
  // Keys seen so far in each open object; an entry per open object or array (arrays hold none).
  std::vector<std::set<std::string>> open;
  std::string problem;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (depth >= kMaxDepth && problem.empty()) {
          problem = absl::StrCat("nested deeper than ", kMaxDepth, " levels");
        }
        open.emplace_back();
        break;
      case Event::object_end:
      case Event::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case Event::key:
        if (!open.empty() && parsed.is_string() &&
            !open.back().insert(parsed.get<std::string>()).second && problem.empty()) {
          problem = absl::StrCat("key \"", parsed.get<std::string>().substr(0, 64),
                                 "\" appears twice in one object");
        }
        break;
      case Event::value:
        break;
    }
    return true;
  };
  nlohmann::json value = nlohmann::json::parse(text.begin(), text.end(), callback,
                                               /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid JSON"));
  }
  if (!problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ambiguous JSON: ", problem));
  }
  return value;
}

absl::Status CheckExactFields(const nlohmann::json& object, std::initializer_list<const char*> required,
                              std::initializer_list<const char*> optional, absl::string_view what) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be a JSON object, is ", object.type_name()));
  }
  for (const char* key : required) {
    if (!object.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " lacks the field \"", key, "\""));
    }
  }
  for (const auto& [key, unused] : object.items()) {
    bool known = false;
    for (const char* k : required) known = known || key == k;
    for (const char* k : optional) known = known || key == k;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has the unknown field \"", key.substr(0, 64), "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetString(const nlohmann::json& object, const char* key,
                                      absl::string_view what) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " field \"", key, "\" must be a string"));
  }
  return it->get<std::string>();
}

}  // namespace sigshim::verify::internal
