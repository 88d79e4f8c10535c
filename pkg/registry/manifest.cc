#include "pkg/registry/manifest.h"

#include <limits>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"

namespace sigshim::registry {
namespace {

using Json = nlohmann::json;

absl::Status ShapeError(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("manifest ", where, ": ", what));
}

// Returns the media type without parameters, lowercase ("application/json; charset=utf-8" →
// "application/json").
std::string BareMediaType(absl::string_view content_type) {
  size_t semicolon = content_type.find(';');
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(content_type.substr(0, semicolon)));
}

// Reads an optional string member; absent is "", any other type an error.
absl::StatusOr<std::string> OptionalString(const Json& object, const char* key, absl::string_view where,
                                           const ManifestLimits& limits) {
  auto it = object.find(key);
  if (it == object.end()) return std::string();
  if (!it->is_string()) return ShapeError(absl::StrCat(where, key), "must be a string");
  const std::string& value = it->get_ref<const std::string&>();
  if (value.size() > limits.max_string_bytes) {
    return ShapeError(absl::StrCat(where, key), absl::StrCat("is ", value.size(), " bytes long, the limit is ",
                                                             limits.max_string_bytes));
  }
  return value;
}

absl::StatusOr<std::string> RequiredString(const Json& object, const char* key, absl::string_view where,
                                           const ManifestLimits& limits) {
  if (object.find(key) == object.end()) return ShapeError(absl::StrCat(where, key), "is missing");
  return OptionalString(object, key, where, limits);
}

absl::StatusOr<std::map<std::string, std::string>> ParseAnnotations(const Json& object, absl::string_view where,
                                                                    const ManifestLimits& limits) {
  std::map<std::string, std::string> annotations;
  auto it = object.find("annotations");
  if (it == object.end() || it->is_null()) return annotations;
  std::string here = absl::StrCat(where, "annotations");
  if (!it->is_object()) return ShapeError(here, "must be an object of strings");
  if (it->size() > limits.max_annotations) {
    return ShapeError(here, absl::StrCat("has ", it->size(), " entries, the limit is ", limits.max_annotations));
  }
  for (auto entry = it->begin(); entry != it->end(); ++entry) {
    if (!entry.value().is_string()) {
      return ShapeError(absl::StrCat(here, "[\"", absl::CHexEscape(entry.key().substr(0, 100)), "\"]"),
                        "must be a string");
    }
    const std::string& value = entry.value().get_ref<const std::string&>();
    if (value.size() > limits.max_string_bytes || entry.key().size() > limits.max_string_bytes) {
      return ShapeError(here, absl::StrCat("has an entry longer than ", limits.max_string_bytes, " bytes"));
    }
    annotations.emplace(entry.key(), value);
  }
  return annotations;
}

absl::StatusOr<Platform> ParsePlatform(const Json& value, absl::string_view where, const ManifestLimits& limits) {
  if (!value.is_object()) return ShapeError(where, "must be an object");
  std::string prefix = absl::StrCat(where, ".");
  Platform platform;
  ASSIGN_OR_RETURN(platform.architecture, RequiredString(value, "architecture", prefix, limits));
  ASSIGN_OR_RETURN(platform.os, RequiredString(value, "os", prefix, limits));
  ASSIGN_OR_RETURN(platform.variant, OptionalString(value, "variant", prefix, limits));
  ASSIGN_OR_RETURN(platform.os_version, OptionalString(value, "os.version", prefix, limits));
  return platform;
}

absl::StatusOr<Descriptor> ParseDescriptor(const Json& value, absl::string_view where, const ManifestLimits& limits) {
  if (!value.is_object()) return ShapeError(where, "must be an object (a descriptor)");
  std::string prefix = absl::StrCat(where, ".");
  Descriptor descriptor;
  ASSIGN_OR_RETURN(descriptor.media_type, RequiredString(value, "mediaType", prefix, limits));
  ASSIGN_OR_RETURN(descriptor.digest, RequiredString(value, "digest", prefix, limits));
  absl::Status digest_ok = ValidateDigest(descriptor.digest);
  if (!digest_ok.ok()) return ShapeError(absl::StrCat(prefix, "digest"), digest_ok.message());

  auto size = value.find("size");
  if (size == value.end()) return ShapeError(absl::StrCat(prefix, "size"), "is missing");
  if (size->is_number_unsigned()) {
    uint64_t n = size->get<uint64_t>();
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return ShapeError(absl::StrCat(prefix, "size"), "is too large");
    }
    descriptor.size = static_cast<int64_t>(n);
  } else if (size->is_number_integer()) {
    int64_t n = size->get<int64_t>();
    if (n < 0) return ShapeError(absl::StrCat(prefix, "size"), "must be a non-negative integer");
    descriptor.size = n;
  } else {
    return ShapeError(absl::StrCat(prefix, "size"), "must be a non-negative integer");
  }

  ASSIGN_OR_RETURN(descriptor.annotations, ParseAnnotations(value, prefix, limits));
  ASSIGN_OR_RETURN(descriptor.artifact_type, OptionalString(value, "artifactType", prefix, limits));
  auto platform = value.find("platform");
  if (platform != value.end() && !platform->is_null()) {
    ASSIGN_OR_RETURN(descriptor.platform, ParsePlatform(*platform, absl::StrCat(prefix, "platform"), limits));
  }
  return descriptor;
}

absl::StatusOr<std::vector<Descriptor>> ParseDescriptorList(const Json& object, const char* key,
                                                            const ManifestLimits& limits) {
  auto it = object.find(key);
  if (it == object.end()) return ShapeError(key, "is missing");
  if (!it->is_array()) return ShapeError(key, "must be an array of descriptors");
  if (it->size() > limits.max_descriptors) {
    return ShapeError(key, absl::StrCat("has ", it->size(), " entries, the limit is ", limits.max_descriptors));
  }
  std::vector<Descriptor> descriptors;
  descriptors.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    ASSIGN_OR_RETURN(Descriptor descriptor, ParseDescriptor((*it)[i], absl::StrCat(key, "[", i, "]"), limits));
    descriptors.push_back(std::move(descriptor));
  }
  return descriptors;
}

}  // namespace

bool IsSupportedManifestMediaType(absl::string_view media_type) {
  return media_type == kMediaTypeOciManifest || media_type == kMediaTypeOciIndex ||
         media_type == kMediaTypeDockerManifest || media_type == kMediaTypeDockerManifestList;
}

bool IsIndexMediaType(absl::string_view media_type) {
  return media_type == kMediaTypeOciIndex || media_type == kMediaTypeDockerManifestList;
}

absl::StatusOr<Manifest> ParseManifest(absl::string_view bytes, absl::string_view content_type,
                                       const ManifestLimits& limits) {
  // Duplicate keys are refused: parsers disagree on which one wins, and a manifest must mean the
  // same to every reader (containerd, the registry, this daemon).
  struct Container {
    bool is_object;
    std::set<std::string> keys;
  };
  std::vector<Container> open_containers;
  std::string duplicate;
  Json::parser_callback_t track_keys = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_containers.push_back({true, {}});
        break;
      case Json::parse_event_t::array_start:
        open_containers.push_back({false, {}});
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!open_containers.empty()) open_containers.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_containers.empty() && open_containers.back().is_object && parsed.is_string() &&
            !open_containers.back().keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      case Json::parse_event_t::value:
        break;
    }
    return true;
  };
  Json document = Json::parse(bytes.begin(), bytes.end(), track_keys, /*allow_exceptions=*/false);
  if (document.is_discarded()) return absl::InvalidArgumentError("manifest is not valid JSON");
  if (!duplicate.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("manifest has the key \"", absl::CHexEscape(duplicate.substr(0, 100)),
                                                   "\" more than once in one object"));
  }
  if (!document.is_object()) return absl::InvalidArgumentError("manifest is not a JSON object");

  Manifest manifest;
  auto schema = document.find("schemaVersion");
  if (schema == document.end()) return ShapeError("schemaVersion", "is missing");
  if (!schema->is_number_integer() || schema->get<int64_t>() != 2) {
    if (schema->is_number_integer() && schema->get<int64_t>() == 1) {
      return absl::InvalidArgumentError("schema 1 manifests are not supported; push the image with a current client");
    }
    return ShapeError("schemaVersion", "must be the integer 2");
  }

  ASSIGN_OR_RETURN(std::string declared, OptionalString(document, "mediaType", "", limits));
  std::string served = BareMediaType(content_type);
  if (!declared.empty()) {
    if (IsSupportedManifestMediaType(served) && served != declared) {
      return absl::InvalidArgumentError(absl::StrCat("manifest was served as ", served,
                                                     " but its mediaType is \"",
                                                     absl::CHexEscape(declared.substr(0, 100)), "\""));
    }
    manifest.media_type = declared;
  } else if (IsSupportedManifestMediaType(served)) {
    manifest.media_type = served;
  } else if (document.contains("manifests")) {
    manifest.media_type = std::string(kMediaTypeOciIndex);
  } else {
    manifest.media_type = std::string(kMediaTypeOciManifest);
  }
  if (!IsSupportedManifestMediaType(manifest.media_type)) {
    return absl::InvalidArgumentError(absl::StrCat("manifest media type \"",
                                                   absl::CHexEscape(manifest.media_type.substr(0, 100)),
                                                   "\" is not supported"));
  }

  if (manifest.IsIndex()) {
    if (document.contains("config") || document.contains("layers")) {
      return absl::InvalidArgumentError("manifest is an index but has config or layers");
    }
    ASSIGN_OR_RETURN(manifest.manifests, ParseDescriptorList(document, "manifests", limits));
  } else {
    if (document.contains("manifests")) {
      return absl::InvalidArgumentError("manifest is an image manifest but has manifests (an index field)");
    }
    auto config = document.find("config");
    if (config == document.end()) return ShapeError("config", "is missing");
    ASSIGN_OR_RETURN(manifest.config, ParseDescriptor(*config, "config", limits));
    ASSIGN_OR_RETURN(manifest.layers, ParseDescriptorList(document, "layers", limits));
  }
  ASSIGN_OR_RETURN(manifest.annotations, ParseAnnotations(document, "", limits));
  ASSIGN_OR_RETURN(manifest.artifact_type, OptionalString(document, "artifactType", "", limits));
  auto subject = document.find("subject");
  if (subject != document.end() && !subject->is_null()) {
    ASSIGN_OR_RETURN(manifest.subject, ParseDescriptor(*subject, "subject", limits));
  }
  return manifest;
}

absl::Status CheckDescriptorContent(const Descriptor& descriptor, absl::string_view content) {
  if (static_cast<uint64_t>(descriptor.size) != content.size()) {
    return absl::DataLossError(absl::StrCat("content of ", descriptor.digest, " is ", content.size(),
                                            " bytes but its descriptor says ", descriptor.size));
  }
  return CheckDigest(content, descriptor.digest);
}

}  // namespace sigshim::registry
