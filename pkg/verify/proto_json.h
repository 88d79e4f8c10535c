// Internal to pkg/verify: reading proto3 JSON messages (sigstore bundles, DSSE envelopes, Rekor v2
// entries) strictly, as protojson does by default: every field known, each given once (by its JSON
// or its .proto name, not both), null the same as absent, bytes in either base64 alphabet, int64 as
// a decimal string or a JSON integer.
#ifndef SIGSHIM_PKG_VERIFY_PROTO_JSON_H_
#define SIGSHIM_PKG_VERIFY_PROTO_JSON_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::verify::internal {

// A message field: its JSON name (lowerCamelCase) and its .proto name (the same when one word).
struct ProtoField {
  const char* json;
  const char* proto;
};

// One JSON object read as a message with a closed set of fields. Holds pointers into the JSON
// value it was made from, which must outlive it.
class ProtoObject {
 public:
  // Checks that `json` is an object whose keys are all names of `fields`, no field spelled both
  // ways. `path` names it in messages ("verificationMaterial.tlogEntries[0]"). InvalidArgument
  // "<path>: <problem>" otherwise.
  static absl::StatusOr<ProtoObject> Make(const nlohmann::json& json, std::string path,
                                          std::initializer_list<ProtoField> fields);

  // Returns the field's value, or null when it is absent or JSON null.
  const nlohmann::json* Find(ProtoField field) const;
  // Returns "<path>.<json name>".
  std::string PathOf(ProtoField field) const;
  const std::string& path() const { return path_; }

  // The field as a string / decoded bytes / non-negative int64 / array; "" / "" / 0 / empty when
  // absent and not `required`. InvalidArgument "<path>.<field>: <problem>" for a wrong type, bad
  // base64, a negative or oversized integer, or a required field that is absent or empty.
  absl::StatusOr<std::string> String(ProtoField field, bool required) const;
  absl::StatusOr<std::string> Bytes(ProtoField field, bool required) const;
  absl::StatusOr<int64_t> NonNegativeInt64(ProtoField field, bool required) const;
  absl::StatusOr<std::vector<const nlohmann::json*>> Array(ProtoField field, bool required,
                                                           size_t max_items) const;

 private:
  ProtoObject(const nlohmann::json* json, std::string path) : json_(json), path_(std::move(path)) {}

  const nlohmann::json* json_;
  std::string path_;
};

// Returns InvalidArgument "<path>: <problem>".
absl::Status ProtoProblem(absl::string_view path, absl::string_view problem);

}  // namespace sigshim::verify::internal

#endif  // SIGSHIM_PKG_VERIFY_PROTO_JSON_H_
