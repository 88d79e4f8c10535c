#include "test/testbed/images.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/base/status_macros.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/temp_dir.h"

namespace sigshim::testbed {
namespace {

namespace fs = std::filesystem;

absl::Status Run(const std::vector<std::string>& argv) {
  absl::StatusOr<CommandResult> result = RunCommand(argv, absl::Seconds(120));
  return result.status();
}

absl::Status FsError(absl::string_view what, const std::error_code& error) {
  return absl::InternalError(absl::StrCat(what, ": ", error.message()));
}

// Returns the manifest digest that `tag` names in the layout's index.json.
absl::StatusOr<std::string> LayoutDigest(const std::string& layout_dir, absl::string_view tag) {
  ASSIGN_OR_RETURN(std::string index_text, ReadFile(layout_dir + "/index.json", 1 << 20));
  nlohmann::json index = nlohmann::json::parse(index_text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.contains("manifests") || !index["manifests"].is_array()) {
    return absl::DataLossError(absl::StrCat("bad index.json in ", layout_dir));
  }
  std::string digest;
  for (const nlohmann::json& entry : index["manifests"]) {
    const nlohmann::json* annotations = entry.contains("annotations") ? &entry["annotations"] : nullptr;
    if (annotations == nullptr || !annotations->is_object()) continue;
    auto name = annotations->find("org.opencontainers.image.ref.name");
    if (name != annotations->end() && name->is_string() && name->get<std::string>() == tag && entry.contains("digest") &&
        entry["digest"].is_string()) {
      digest = entry["digest"].get<std::string>();
    }
  }
  if (digest.empty()) return absl::NotFoundError(absl::StrCat("no tag ", tag, " in ", layout_dir));
  return digest;
}

}  // namespace

absl::StatusOr<OciImage> BuildBusyboxImage(const BusyboxImageOptions& options) {
  if (options.layout_dir.empty()) return absl::InvalidArgumentError("BusyboxImageOptions.layout_dir is required");
  std::string layout = options.layout_dir;
  std::string image = absl::StrCat(layout, ":", options.tag);
  std::string bundle = options.work_dir.empty() ? absl::StrCat(layout, ".bundle-", options.tag)
                                                : options.work_dir;
  std::error_code error;
  if (!fs::exists(layout + "/index.json")) {
    if (fs::path(layout).has_parent_path()) fs::create_directories(fs::path(layout).parent_path(), error);
    RETURN_IF_ERROR(Run({"umoci", "init", "--layout", layout}));
  }
  RETURN_IF_ERROR(RemoveTree(bundle));
  RETURN_IF_ERROR(Run({"umoci", "new", "--image", image}));
  std::vector<std::string> unpack = {"umoci", "unpack", "--image", image, bundle};
  if (geteuid() != 0) unpack.insert(unpack.begin() + 2, "--rootless");
  RETURN_IF_ERROR(Run(unpack));

  fs::path rootfs = fs::path(bundle) / "rootfs";
  fs::create_directories(rootfs / "bin", error);
  if (error) return FsError("creating rootfs/bin", error);
  fs::create_directories(rootfs / "etc", error);
  if (error) return FsError("creating rootfs/etc", error);
  fs::copy_file(options.busybox, rootfs / "bin" / "busybox", fs::copy_options::overwrite_existing, error);
  if (error) return FsError(absl::StrCat("copying ", options.busybox), error);
  fs::permissions(rootfs / "bin" / "busybox", fs::perms(0755), error);
  for (const std::string& applet : options.applets) {
    fs::create_symlink("busybox", rootfs / "bin" / applet, error);
    if (error) return FsError(absl::StrCat("linking applet ", applet), error);
  }
  if (!options.marker.empty()) {
    RETURN_IF_ERROR(WriteFileAtomic((rootfs / "etc" / "sigshim-marker").string(), options.marker, 0644));
  }
  RETURN_IF_ERROR(Run({"umoci", "repack", "--image", image, bundle}));
  std::vector<std::string> config = {"umoci", "config", "--image", image, "--config.workingdir", "/",
                                     "--config.env", "PATH=/bin"};
  for (const std::string& arg : options.cmd) {
    config.push_back("--config.cmd");
    config.push_back(arg);
  }
  RETURN_IF_ERROR(Run(config));
  RETURN_IF_ERROR(RemoveTree(bundle));

  OciImage out;
  out.layout_dir = layout;
  out.tag = options.tag;
  ASSIGN_OR_RETURN(out.manifest_digest, LayoutDigest(layout, options.tag));
  return out;
}

absl::StatusOr<OciImage> CmdVariant(const OciImage& image, const std::string& tag,
                                    const std::vector<std::string>& cmd) {
  std::vector<std::string> config = {"umoci", "config", "--image", absl::StrCat(image.layout_dir, ":", image.tag),
                                     "--tag", tag, "--clear=config.cmd"};
  for (const std::string& arg : cmd) {
    config.push_back("--config.cmd");
    config.push_back(arg);
  }
  RETURN_IF_ERROR(Run(config));
  OciImage out;
  out.layout_dir = image.layout_dir;
  out.tag = tag;
  ASSIGN_OR_RETURN(out.manifest_digest, LayoutDigest(image.layout_dir, tag));
  return out;
}

absl::StatusOr<OciImage> PlatformVariant(const OciImage& image, const std::string& tag, const std::string& os,
                                         const std::string& architecture, const std::vector<std::string>& cmd) {
  std::vector<std::string> config = {"umoci", "config", "--image", absl::StrCat(image.layout_dir, ":", image.tag),
                                     "--tag", tag, "--os", os, "--architecture", architecture,
                                     "--clear=config.cmd"};
  for (const std::string& arg : cmd) {
    config.push_back("--config.cmd");
    config.push_back(arg);
  }
  RETURN_IF_ERROR(Run(config));
  OciImage out;
  out.layout_dir = image.layout_dir;
  out.tag = tag;
  ASSIGN_OR_RETURN(out.manifest_digest, LayoutDigest(image.layout_dir, tag));
  return out;
}

absl::StatusOr<std::string> PushIndex(const Registry& registry, absl::string_view repository, absl::string_view tag,
                                      const std::vector<IndexEntry>& entries) {
  nlohmann::json manifests = nlohmann::json::array();
  for (const IndexEntry& entry : entries) {
    std::string media_type;
    ASSIGN_OR_RETURN(std::string bytes, registry.GetManifest(repository, entry.digest, &media_type));
    if (Sha256Digest(bytes) != entry.digest) {
      return absl::DataLossError(absl::StrCat("the registry served other bytes for ", entry.digest));
    }
    nlohmann::json platform = {{"architecture", entry.architecture}, {"os", entry.os}};
    if (!entry.variant.empty()) platform["variant"] = entry.variant;
    manifests.push_back({{"mediaType", media_type.substr(0, media_type.find(';'))},
                         {"digest", entry.digest},
                         {"size", bytes.size()},
                         {"platform", platform}});
  }
  nlohmann::json index = {{"schemaVersion", 2},
                          {"mediaType", "application/vnd.oci.image.index.v1+json"},
                          {"manifests", manifests}};
  return registry.PushManifest(repository, tag, "application/vnd.oci.image.index.v1+json", index.dump());
}

absl::StatusOr<std::string> PushImage(const OciImage& image, const Registry& registry,
                                      absl::string_view repository, absl::string_view tag) {
  std::string destination = absl::StrCat("docker://", registry.host_port(), "/", repository, ":", tag);
  std::vector<std::string> copy = {"skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"};
  if (!registry.credentials().empty()) copy.push_back("--dest-creds=" + registry.credentials());
  copy.push_back(image.SkopeoName());
  copy.push_back(destination);
  RETURN_IF_ERROR(Run(copy));
  // The digest is what the registry serves now, hashed here: the exact bytes a client will verify.
  ASSIGN_OR_RETURN(std::string manifest, registry.GetManifest(repository, tag));
  return Sha256Digest(manifest);
}

absl::StatusOr<std::string> ImportImage(const OciImage& image, const Containerd& containerd,
                                        absl::string_view name, absl::string_view scratch_dir,
                                        bool with_digest_ref) {
  RETURN_IF_ERROR(MakeDirs(scratch_dir));
  std::string archive = absl::StrCat(scratch_dir, "/import-", Sha256Hex(name).substr(0, 16), ".tar");
  std::error_code error;
  fs::remove(archive, error);
  RETURN_IF_ERROR(Run({"skopeo", "--insecure-policy", "copy", "--quiet", image.SkopeoName(),
                       absl::StrCat("oci-archive:", archive, ":", name)}));
  absl::StatusOr<std::string> imported = containerd.Ctr({"images", "import", archive});
  fs::remove(archive, error);
  if (!imported.ok()) return imported.status();
  ASSIGN_OR_RETURN(std::string listing, containerd.Ctr({"images", "ls", absl::StrCat("name==", name)}));
  // "REF TYPE DIGEST SIZE ..." header, then one line for the image.
  std::vector<std::string> lines = absl::StrSplit(listing, '\n', absl::SkipEmpty());
  if (lines.size() < 2) return absl::NotFoundError(absl::StrCat(name, " missing after import:\n", listing));
  std::vector<std::string> fields = absl::StrSplit(lines[1], ' ', absl::SkipEmpty());
  if (fields.size() < 3) return absl::DataLossError(absl::StrCat("cannot read `ctr images ls`:\n", listing));
  const std::string& digest = fields[2];
  if (with_digest_ref) {
    // `ctr images import --digests` would name it "import-<date>@…": tag it explicitly instead.
    size_t slash = name.rfind('/');
    size_t colon = name.rfind(':');
    if (colon == absl::string_view::npos || (slash != absl::string_view::npos && colon < slash)) {
      return absl::InvalidArgumentError(absl::StrCat("with_digest_ref needs repository:tag, got ", name));
    }
    std::string repository(name.substr(0, colon));
    RETURN_IF_ERROR(containerd.Ctr({"images", "tag", std::string(name), absl::StrCat(repository, "@", digest)})
                        .status());
  }
  return digest;
}

}  // namespace sigshim::testbed
