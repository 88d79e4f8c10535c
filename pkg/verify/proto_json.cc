#include "pkg/verify/proto_json.h"

#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pkg/base/base64.h"

namespace sigshim::verify::internal {

absl::Status ProtoProblem(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

absl::StatusOr<ProtoObject> ProtoObject::Make(const nlohmann::json& json, std::string path,
                                              std::initializer_list<ProtoField> fields) {
  if (!json.is_object()) return ProtoProblem(path, absl::StrCat("must be an object, is ", json.type_name()));
  for (const auto& [key, unused] : json.items()) {
    const ProtoField* known = nullptr;
    for (const ProtoField& field : fields) {
      if (key == field.json || key == field.proto) known = &field;
    }
    if (known == nullptr) {
      return ProtoProblem(path, absl::StrCat("unknown field \"", key.substr(0, 64), "\""));
    }
    if (std::strcmp(known->json, known->proto) != 0 && json.contains(known->json) && json.contains(known->proto)) {
      return ProtoProblem(path, absl::StrCat("field \"", known->json, "\" is given twice (also as \"", known->proto,
                                             "\")"));
    }
  }
  return ProtoObject(&json, std::move(path));
}

const nlohmann::json* ProtoObject::Find(ProtoField field) const {
  auto it = json_->find(field.json);
  if (it == json_->end()) it = json_->find(field.proto);
  if (it == json_->end() || it->is_null()) return nullptr;
  return &*it;
}

std::string ProtoObject::PathOf(ProtoField field) const { return absl::StrCat(path_, ".", field.json); }

absl::StatusOr<std::string> ProtoObject::String(ProtoField field, bool required) const {
  const nlohmann::json* v = Find(field);
  if (v == nullptr) {
    if (required) return ProtoProblem(PathOf(field), "missing (required)");
    return std::string();
  }
  if (!v->is_string()) return ProtoProblem(PathOf(field), absl::StrCat("must be a string, is ", v->type_name()));
  std::string s = v->get<std::string>();
  if (required && s.empty()) return ProtoProblem(PathOf(field), "empty (required)");
  return s;
}

absl::StatusOr<std::string> ProtoObject::Bytes(ProtoField field, bool required) const {
  const nlohmann::json* v = Find(field);
  if (v == nullptr) {
    if (required) return ProtoProblem(PathOf(field), "missing (required)");
    return std::string();
  }
  if (!v->is_string()) return ProtoProblem(PathOf(field), absl::StrCat("must be base64 text, is ", v->type_name()));
  absl::StatusOr<std::string> decoded = Base64DecodeProtoJson(v->get_ref<const std::string&>());
  if (!decoded.ok()) return ProtoProblem(PathOf(field), absl::StrCat("not base64 (", decoded.status().message(), ")"));
  if (required && decoded->empty()) return ProtoProblem(PathOf(field), "empty (required)");
  return *std::move(decoded);
}

absl::StatusOr<int64_t> ProtoObject::NonNegativeInt64(ProtoField field, bool required) const {
  const nlohmann::json* v = Find(field);
  if (v == nullptr) {
    if (required) return ProtoProblem(PathOf(field), "missing (required)");
    return 0;
  }
  if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return ProtoProblem(PathOf(field), "is larger than a 64-bit signed integer");
    }
    return static_cast<int64_t>(v->get<uint64_t>());
  }
  if (v->is_number_integer()) return ProtoProblem(PathOf(field), "must not be negative");
  if (!v->is_string()) {
    return ProtoProblem(PathOf(field), absl::StrCat("must be an integer or a decimal string, is ", v->type_name()));
  }
  const std::string& text = v->get_ref<const std::string&>();
  if (!text.empty() && text[0] == '-') return ProtoProblem(PathOf(field), "must not be negative");
  bool digits = !text.empty() && text.size() <= 19;
  for (char c : text) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  int64_t value = 0;
  if (!digits || !absl::SimpleAtoi(text, &value)) {
    return ProtoProblem(PathOf(field), absl::StrCat("\"", text.substr(0, 32),
                                                    "\" is not a decimal 64-bit signed integer"));
  }
  return value;
}

absl::StatusOr<std::vector<const nlohmann::json*>> ProtoObject::Array(ProtoField field, bool required,
                                                                      size_t max_items) const {
  const nlohmann::json* v = Find(field);
  std::vector<const nlohmann::json*> items;
  if (v == nullptr) {
    if (required) return ProtoProblem(PathOf(field), "missing (required)");
    return items;
  }
  if (!v->is_array()) return ProtoProblem(PathOf(field), absl::StrCat("must be an array, is ", v->type_name()));
  if (v->size() > max_items) {
    return ProtoProblem(PathOf(field), absl::StrCat("has ", v->size(), " entries, more than the limit of ", max_items));
  }
  if (required && v->empty()) return ProtoProblem(PathOf(field), "empty (required)");
  for (const nlohmann::json& item : *v) items.push_back(&item);
  return items;
}

}  // namespace sigshim::verify::internal
