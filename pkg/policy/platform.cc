#include "pkg/policy/platform.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace sigshim::policy {
namespace {

// Entries named in a "lists no manifest" denial; the rest are counted.
constexpr size_t kMaxEntriesListed = 16;

// Returns N for a variant "vN" (or "N"), nullopt otherwise.
std::optional<int> VariantLevel(absl::string_view variant) {
  absl::ConsumePrefix(&variant, "v");
  int level = 0;
  if (variant.empty() || !absl::SimpleAtoi(variant, &level)) return std::nullopt;
  return level;
}

bool IsImageManifestType(absl::string_view media_type) {
  return media_type == registry::kMediaTypeOciManifest || media_type == registry::kMediaTypeDockerManifest;
}

std::string ShortDigest(absl::string_view digest) { return std::string(digest.substr(0, 7 + 12)); }

// Returns how a person reads entry `entry` in a listing.
std::string DescribeEntry(const registry::Descriptor& entry, absl::string_view index_digest) {
  const std::string digest = absl::StrCat(ShortDigest(entry.digest), "…");
  if (entry.digest == index_digest) return absl::StrCat(digest, " (the index itself, not followed)");
  if (registry::IsIndexMediaType(entry.media_type)) return absl::StrCat(digest, " (a nested index, not followed)");
  if (!IsImageManifestType(entry.media_type)) {
    return absl::StrCat(digest, " (media type ", entry.media_type.empty() ? "unset" : entry.media_type,
                        ", not an image manifest)");
  }
  if (!entry.platform.has_value()) return absl::StrCat(digest, " (no platform)");
  Platform platform{entry.platform->os, entry.platform->architecture, entry.platform->variant};
  return absl::StrCat(NormalizePlatform(platform).String(), " ", digest);
}

}  // namespace

std::string Platform::String() const {
  std::string out = absl::StrCat(os, "/", architecture);
  if (!variant.empty()) absl::StrAppend(&out, "/", variant);
  return out;
}

Platform NormalizePlatform(const Platform& platform) {
  Platform out;
  out.os = absl::AsciiStrToLower(platform.os);
  if (out.os == "macos") out.os = "darwin";
  out.architecture = absl::AsciiStrToLower(platform.architecture);
  out.variant = absl::AsciiStrToLower(platform.variant);
  const std::string& arch = out.architecture;
  if (arch == "i386") {
    out = {out.os, "386", ""};
  } else if (arch == "x86_64" || arch == "x86-64") {
    out = {out.os, "amd64", ""};
  } else if (arch == "aarch64" || arch == "arm64") {
    out.architecture = "arm64";
    if (out.variant.empty() || out.variant == "8") out.variant = "v8";
  } else if (arch == "armhf") {
    out = {out.os, "arm", "v7"};
  } else if (arch == "armel") {
    out = {out.os, "arm", "v6"};
  } else if (arch == "arm") {
    if (out.variant.empty() || out.variant == "7") {
      out.variant = "v7";
    } else if (out.variant == "5" || out.variant == "6" || out.variant == "8") {
      out.variant = absl::StrCat("v", out.variant);
    }
  }
  return out;
}

Platform HostPlatform() {
#if defined(__x86_64__)
  return {"linux", "amd64", ""};
#elif defined(__aarch64__)
  return {"linux", "arm64", "v8"};
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH <= 5
  return {"linux", "arm", "v5"};
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH == 6
  return {"linux", "arm", "v6"};
#elif defined(__arm__)
  return {"linux", "arm", "v7"};
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
  return {"linux", "ppc64le", ""};
#elif defined(__s390x__)
  return {"linux", "s390x", ""};
#elif defined(__riscv) && defined(__riscv_xlen) && __riscv_xlen == 64
  return {"linux", "riscv64", ""};
#elif defined(__i386__)
  return {"linux", "386", ""};
#else
  return {"linux", "unknown", ""};
#endif
}

std::vector<Platform> CompatiblePlatforms(const Platform& node) {
  const Platform self = NormalizePlatform(node);
  std::vector<Platform> out = {self};
  if (self.architecture == "amd64") {
    std::optional<int> level = VariantLevel(self.variant);
    if (level.has_value() && *level > 1) {
      for (int l = *level - 1; l >= 1; --l) out.push_back({self.os, "amd64", absl::StrCat("v", l)});
    }
    out.push_back({self.os, "386", ""});
  } else if (self.architecture == "arm" || self.architecture == "arm64") {
    // An arm64 node runs 32-bit arm from its own level down: arm/v8 (for arm64/v8), v7, v6, v5.
    std::optional<int> level = VariantLevel(self.variant);
    if (self.architecture == "arm64" && level.has_value()) out.push_back({self.os, "arm", absl::StrCat("v", *level)});
    if (level.has_value() && *level > 5) {
      for (int l = *level - 1; l >= 5; --l) out.push_back({self.os, "arm", absl::StrCat("v", l)});
    }
  }
  return out;
}

absl::StatusOr<PlatformChoice> ChoosePlatformManifest(const registry::Manifest& index, absl::string_view index_digest,
                                                      const Platform& node, size_t max_entries) {
  if (!index.IsIndex()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_digest, " is not an image index (its media type is ", index.media_type, ")"));
  }
  const std::vector<Platform> runs = CompatiblePlatforms(node);
  const size_t examined = std::min(index.manifests.size(), max_entries);
  std::optional<size_t> best_entry;
  size_t best_rank = runs.size();
  for (size_t i = 0; i < examined; ++i) {
    const registry::Descriptor& entry = index.manifests[i];
    if (entry.digest == index_digest || !IsImageManifestType(entry.media_type) || !entry.platform.has_value()) {
      continue;
    }
    const Platform platform =
        NormalizePlatform({entry.platform->os, entry.platform->architecture, entry.platform->variant});
    for (size_t rank = 0; rank < best_rank; ++rank) {
      if (runs[rank] == platform) {
        best_rank = rank;  // strictly better only: at equal rank the entry listed first stays
        best_entry = i;
        break;
      }
    }
  }
  const Platform wanted = runs.front();
  if (best_entry.has_value()) {
    const registry::Descriptor& entry = index.manifests[*best_entry];
    return PlatformChoice{entry,
                          NormalizePlatform({entry.platform->os, entry.platform->architecture, entry.platform->variant})};
  }
  std::vector<std::string> listed;
  for (size_t i = 0; i < examined && i < kMaxEntriesListed; ++i) {
    listed.push_back(DescribeEntry(index.manifests[i], index_digest));
  }
  std::string lists = index.manifests.empty() ? "it lists nothing" : absl::StrCat("it lists: ", absl::StrJoin(listed, ", "));
  if (examined > listed.size()) absl::StrAppend(&lists, ", and ", examined - listed.size(), " more");
  if (index.manifests.size() > examined) {
    absl::StrAppend(&lists, "; only the first ", examined, " of its ", index.manifests.size(),
                    " entries were examined");
  }
  return absl::NotFoundError(
      absl::StrCat("index ", index_digest, " lists no manifest for ", wanted.String(), " (", lists, ")"));
}

void DecideIndexByPlatform(const Rule& rule, const registry::FetchedManifest& index, const reference::Reference& image,
                           const Platform& node, const DecideManifest& decide_manifest, Decision& decision) {
  const std::string node_platform = NormalizePlatform(node).String();
  if (!rule.platform_signatures) {
    absl::StrAppend(&decision.reason, " (", image.WithDefaultTag().String(), " is the image index ", index.digest,
                    ": the index needs a signature of its own; a signature over only its ", node_platform,
                    " manifest admits a pull by that manifest's digest, or a pull by tag under a [[policy]] with "
                    "platform_signatures = true)");
    return;
  }
  absl::StatusOr<PlatformChoice> choice = ChoosePlatformManifest(index.manifest, index.digest, node);
  if (!choice.ok()) {
    decision.reason = absl::StrCat("the image index is not signed (", decision.reason, "), and ",
                                   choice.status().message());
    return;
  }
  const std::string chosen = choice->platform.String();
  reference::Reference manifest_ref = image;
  manifest_ref.tag.clear();
  manifest_ref.digest = choice->manifest.digest;
  Decision manifest;
  decide_manifest(manifest_ref, manifest);
  const std::string which =
      absl::StrCat("the ", chosen, " manifest ", choice->manifest.digest, " of index ", index.digest);
  switch (manifest.verdict) {
    case Outcome::kAllow:
      decision.verdict = Outcome::kAllow;
      decision.reason = absl::StrCat("accepted: ", manifest.reason, ": a signature over ", which,
                                     " ([[policy]] platform_signatures = true; the index itself is not signed: ",
                                     decision.reason, ")");
      decision.digest = manifest.digest;
      decision.index_digest = index.digest;
      decision.platform = chosen;
      decision.identity = std::move(manifest.identity);
      decision.evidence = std::move(manifest.evidence);
      decision.signed_at = manifest.signed_at;
      for (std::string& r : manifest.rejections) decision.rejections.push_back(absl::StrCat(chosen, " manifest: ", r));
      for (ArtifactRecord& a : manifest.artifacts) {
        a.location = absl::StrCat(chosen, " manifest ", choice->manifest.digest, ": ", a.location);
        decision.artifacts.push_back(std::move(a));
      }
      decision.unchecked_signatures += manifest.unchecked_signatures;
      return;
    case Outcome::kDeny:
      decision.reason = absl::StrCat("the image index is not signed (", decision.reason, "), nor is ", which, " (",
                                     manifest.reason, ")");
      for (std::string& r : manifest.rejections) decision.rejections.push_back(absl::StrCat(chosen, " manifest: ", r));
      for (ArtifactRecord& a : manifest.artifacts) {
        a.location = absl::StrCat(chosen, " manifest ", choice->manifest.digest, ": ", a.location);
        decision.artifacts.push_back(std::move(a));
      }
      decision.unchecked_signatures += manifest.unchecked_signatures;
      return;
    case Outcome::kError:
      // The class ("RegistryUnavailable: ", …) stays first: callers read it.
      decision.verdict = Outcome::kError;
      decision.reason = absl::StrCat(manifest.reason, " (checking ", which, ", the index itself not being signed)");
      return;
  }
}

}  // namespace sigshim::policy
