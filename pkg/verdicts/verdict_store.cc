#include "pkg/verdicts/verdict_store.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/bundle.h"
#include "pkg/verify/cosign_attestation.h"
#include "pkg/verify/cosign_simple_signing.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/sigstore_bundle.h"

namespace sigshim::verdicts {
namespace {

using Json = nlohmann::json;

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(what); }

absl::StatusOr<std::string> StringField(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) {
    return Invalid(absl::StrCat("\"", name, "\" is missing or not a string"));
  }
  return it->get<std::string>();
}

std::string Rfc3339(absl::Time t) { return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()); }

absl::StatusOr<absl::Time> ParseTime(const std::string& text, absl::string_view name) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    return Invalid(absl::StrCat(name, " \"", text.substr(0, 64), "\": ", error));
  }
  return t;
}

absl::Status CheckVerdict(const Verdict& v) {
  RETURN_IF_ERROR(ValidateDigest(v.digest));
  if (v.repository.empty()) return Invalid("verdict has no repository");
  if (v.evidence.empty()) return Invalid("verdict has no evidence (no signature)");
  return absl::OkStatus();
}

}  // namespace

std::string EvidenceFormat(absl::string_view media_type) {
  if (media_type == verify::kSimpleSigningMediaType) return std::string(verify::kCosignSimpleSigningFormat);
  if (verify::BundleMinorVersion(media_type) != 0) return std::string(verify::kSigstoreBundleFormat);
  if (media_type == verify::kDsseEnvelopeMediaType) return std::string(verify::kCosignAttestationFormat);
  return "";
}

std::string EncodeVerdict(const Verdict& v) {
  Json evidence = Json::array();
  for (const verify::Signature& s : v.evidence) {
    Json annotations = Json::object();
    for (const auto& [key, value] : s.annotations) annotations[key] = value;
    evidence.push_back(Json{{"format", EvidenceFormat(s.media_type)},
                            {"layer_digest", s.layer_digest},
                            {"media_type", s.media_type},
                            {"payload_base64", Base64Encode(s.payload)},
                            {"annotations", std::move(annotations)}});
  }
  Json counted = Json::array();
  for (const CountedStatement& c : v.counted) {
    Json entry = {{"identity", c.identity},
                  {"signer_type", c.signer_type},
                  {"fingerprint", c.fingerprint},
                  {"trust_root", c.trust_root},
                  {"attestation", c.attestation},
                  {"layer_digest", c.layer_digest},
                  {"signed_at", ""},
                  {"signed_at_source", ""},
                  {"signed_at_authority", ""}};
    if (c.signing_time.has_value()) {
      entry["signed_at"] = Rfc3339(c.signing_time->time);
      entry["signed_at_source"] = std::string(verify::TimeSourceName(c.signing_time->source));
      entry["signed_at_authority"] = c.signing_time->authority;
      entry["signed_at_trust_root"] = c.signing_time->trust_root;
    }
    counted.push_back(std::move(entry));
  }
  Json j = {{"format", std::string(kFormat)},
            {"digest", v.digest},
            {"repository", v.repository},
            {"reference", v.reference},
            {"policy", v.policy},
            {"identity", v.identity},
            {"verified_at", Rfc3339(v.verified_at)},
            {"evidence", std::move(evidence)},
            {"counted", std::move(counted)}};
  if (!v.index_digest.empty()) j["index_digest"] = v.index_digest;
  // Replace invalid UTF-8 rather than throw: payloads are checked JSON, but be safe.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

absl::StatusOr<Verdict> DecodeVerdict(absl::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("not valid JSON");
  if (!j.is_object()) return Invalid("not a JSON object");
  ASSIGN_OR_RETURN(std::string format, StringField(j, "format"));
  const bool v1 = format == kFormatV1;
  if (format != kFormat && !v1) {
    return Invalid(absl::StrCat("format is \"", format.substr(0, 64), "\", not \"", kFormat, "\" or \"", kFormatV1, "\""));
  }
  Verdict v;
  ASSIGN_OR_RETURN(v.digest, StringField(j, "digest"));
  ASSIGN_OR_RETURN(v.repository, StringField(j, "repository"));
  ASSIGN_OR_RETURN(v.reference, StringField(j, "reference"));
  ASSIGN_OR_RETURN(v.policy, StringField(j, "policy"));
  ASSIGN_OR_RETURN(v.identity, StringField(j, "identity"));
  if (j.contains("index_digest")) {
    ASSIGN_OR_RETURN(v.index_digest, StringField(j, "index_digest"));
    if (absl::Status valid = ValidateDigest(v.index_digest); !valid.ok()) {
      return Invalid(absl::StrCat("index_digest: ", valid.message()));
    }
  }
  ASSIGN_OR_RETURN(std::string when, StringField(j, "verified_at"));
  ASSIGN_OR_RETURN(v.verified_at, ParseTime(when, "verified_at"));
  auto evidence = j.find("evidence");
  if (evidence == j.end() || !evidence->is_array()) return Invalid("\"evidence\" is missing or not an array");
  for (const Json& e : *evidence) {
    if (!e.is_object()) return Invalid("an evidence entry is not an object");
    verify::Signature s;
    ASSIGN_OR_RETURN(s.layer_digest, StringField(e, "layer_digest"));
    ASSIGN_OR_RETURN(s.media_type, StringField(e, "media_type"));
    if (e.contains("format")) {  // absent in files written before bundles were stored
      ASSIGN_OR_RETURN(std::string evidence_format, StringField(e, "format"));
      if (evidence_format != EvidenceFormat(s.media_type)) {
        return Invalid(absl::StrCat("evidence format \"", evidence_format.substr(0, 64),
                                    "\" does not match its media type \"", s.media_type.substr(0, 100), "\""));
      }
    }
    ASSIGN_OR_RETURN(std::string payload, StringField(e, "payload_base64"));
    absl::StatusOr<std::string> decoded = Base64Decode(payload);
    if (!decoded.ok()) return Invalid(absl::StrCat("evidence payload: ", decoded.status().message()));
    s.payload = *std::move(decoded);
    auto annotations = e.find("annotations");
    if (annotations == e.end() || !annotations->is_object()) {
      return Invalid("evidence \"annotations\" is missing or not an object");
    }
    for (const auto& [key, value] : annotations->items()) {
      if (!value.is_string()) return Invalid(absl::StrCat("annotation \"", key, "\" is not a string"));
      s.annotations[key] = value.get<std::string>();
    }
    v.evidence.push_back(std::move(s));
  }
  if (v1) {
    // v1 kept the one key that verified, and no signing time.
    CountedStatement& c = v.counted.emplace_back();
    c.identity = v.identity;
    c.signer_type = "key";
    ASSIGN_OR_RETURN(c.fingerprint, StringField(j, "key_fingerprint"));
    if (!v.evidence.empty()) c.layer_digest = v.evidence.front().layer_digest;
  } else {
    auto counted = j.find("counted");
    if (counted == j.end() || !counted->is_array()) return Invalid("\"counted\" is missing or not an array");
    for (const Json& e : *counted) {
      if (!e.is_object()) return Invalid("a \"counted\" entry is not an object");
      CountedStatement c;
      ASSIGN_OR_RETURN(c.identity, StringField(e, "identity"));
      ASSIGN_OR_RETURN(c.signer_type, StringField(e, "signer_type"));
      ASSIGN_OR_RETURN(c.fingerprint, StringField(e, "fingerprint"));
      ASSIGN_OR_RETURN(c.layer_digest, StringField(e, "layer_digest"));
      // Optional: recorded since certificate identities (evidence only; re-checks recompute it).
      if (e.contains("trust_root")) {
        ASSIGN_OR_RETURN(c.trust_root, StringField(e, "trust_root"));
      }
      // Optional: recorded since attestations are (evidence only; re-checks recompute it).
      if (e.contains("attestation")) {
        ASSIGN_OR_RETURN(c.attestation, StringField(e, "attestation"));
      }
      ASSIGN_OR_RETURN(std::string signed_at, StringField(e, "signed_at"));
      ASSIGN_OR_RETURN(std::string source, StringField(e, "signed_at_source"));
      ASSIGN_OR_RETURN(std::string authority, StringField(e, "signed_at_authority"));
      if (!signed_at.empty() || !source.empty()) {
        verify::SigningTime& t = c.signing_time.emplace();
        ASSIGN_OR_RETURN(t.time, ParseTime(signed_at, "signed_at"));
        if (source == verify::TimeSourceName(verify::TimeSource::kTransparencyLog)) {
          t.source = verify::TimeSource::kTransparencyLog;
        } else if (source == verify::TimeSourceName(verify::TimeSource::kTimestamp)) {
          t.source = verify::TimeSource::kTimestamp;
        } else {
          return Invalid(absl::StrCat("signed_at_source \"", source.substr(0, 64), "\" is not tlog or timestamp"));
        }
        t.authority = std::move(authority);
        if (e.contains("signed_at_trust_root")) {
          ASSIGN_OR_RETURN(t.trust_root, StringField(e, "signed_at_trust_root"));
        }
      }
      v.counted.push_back(std::move(c));
    }
  }
  RETURN_IF_ERROR(CheckVerdict(v));
  return v;
}

std::string VerdictStore::FileName(absl::string_view digest, absl::string_view repository) {
  absl::string_view hex = digest;
  if (absl::StartsWith(hex, "sha256:")) hex.remove_prefix(7);
  return absl::StrCat(hex, "-", Sha256Hex(repository).substr(0, 16), ".json");
}

absl::StatusOr<std::unique_ptr<VerdictStore>> VerdictStore::Open(const StoreOptions& options, LoadReport* report) {
  if (options.dir.empty()) return Invalid("verdict store folder is empty");
  // The store and the folder that holds it (the daemon's state_dir) must be the daemon's alone:
  // whoever can write there can plant, replace or remove evidence. Each is created if missing and
  // checked before anything is created inside it.
  std::vector<std::string> private_dirs;
  const size_t slash = options.dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) private_dirs.push_back(options.dir.substr(0, slash));
  private_dirs.push_back(options.dir);
  for (const std::string& path : private_dirs) {
    RETURN_IF_ERROR(MakeDirs(path, 0700));
    if (absl::Status checked = CheckPrivateDirectory(path, options.owner); !checked.ok()) {
      return absl::Status(checked.code(), absl::StrCat("unsafe state folder: ", checked.message()));
    }
  }
  std::unique_ptr<VerdictStore> store(new VerdictStore(options));
  LoadReport local;
  LoadReport& r = report != nullptr ? *report : local;
  DIR* dir = ::opendir(options.dir.c_str());
  if (dir == nullptr) {
    return absl::InternalError(absl::StrCat("cannot read verdict store ", options.dir, ": ", strerror(errno)));
  }
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (absl::EndsWith(name, ".json")) names.push_back(std::move(name));
  }
  ::closedir(dir);
  absl::MutexLock lock(&store->mu_);
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(options.dir, "/", name);
    // Anything but a regular file (a FIFO, a device, a symbolic link, a folder) is reported and
    // skipped without blocking; the size is checked before reading.
    absl::StatusOr<std::string> text = ReadFile(path, options.max_file_bytes, Symlinks::kRefuse);
    if (!text.ok()) {
      r.ignored.push_back(std::string(text.status().message()));
      continue;
    }
    absl::StatusOr<Verdict> verdict = DecodeVerdict(*text);
    if (!verdict.ok()) {
      r.ignored.push_back(absl::StrCat(path, ": ", verdict.status().message()));
      continue;
    }
    if (FileName(verdict->digest, verdict->repository) != name) {
      r.ignored.push_back(absl::StrCat(path, ": its name does not match its digest and repository (moved or foreign file)"));
      continue;
    }
    store->verdicts_[{verdict->digest, verdict->repository}] = *std::move(verdict);
    ++r.loaded;
  }
  return store;
}

absl::Status VerdictStore::Put(const Verdict& verdict) {
  RETURN_IF_ERROR(CheckVerdict(verdict));
  const std::string path = absl::StrCat(options_.dir, "/", FileName(verdict.digest, verdict.repository));
  const std::string encoded = EncodeVerdict(verdict);
  absl::MutexLock write_lock(&write_mu_);
  RETURN_IF_ERROR(WriteFileAtomic(path, encoded, 0600));
  absl::MutexLock lock(&mu_);
  verdicts_[{verdict.digest, verdict.repository}] = verdict;
  return absl::OkStatus();
}

std::optional<Verdict> VerdictStore::Get(absl::string_view digest, absl::string_view repository) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = verdicts_.find({std::string(digest), std::string(repository)});
  if (it == verdicts_.end()) return std::nullopt;
  return it->second;
}

std::vector<Verdict> VerdictStore::FindByDigest(absl::string_view digest) const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Verdict> out;
  for (auto it = verdicts_.lower_bound({std::string(digest), ""}); it != verdicts_.end() && it->first.first == digest;
       ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::vector<Verdict> VerdictStore::All() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Verdict> out;
  out.reserve(verdicts_.size());
  for (const auto& [key, v] : verdicts_) out.push_back(v);
  return out;
}

absl::Status VerdictStore::RemoveLocked(const std::pair<std::string, std::string>& key) {
  const std::string path = absl::StrCat(options_.dir, "/", FileName(key.first, key.second));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", strerror(errno)));
  }
  absl::MutexLock lock(&mu_);
  verdicts_.erase(key);
  return absl::OkStatus();
}

absl::Status VerdictStore::Remove(absl::string_view digest, absl::string_view repository) {
  absl::MutexLock write_lock(&write_mu_);
  return RemoveLocked({std::string(digest), std::string(repository)});
}

absl::Status VerdictStore::RemoveDigest(absl::string_view digest) {
  absl::MutexLock write_lock(&write_mu_);
  std::vector<std::pair<std::string, std::string>> keys;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (auto it = verdicts_.lower_bound({std::string(digest), ""});
         it != verdicts_.end() && it->first.first == digest; ++it) {
      keys.push_back(it->first);
    }
  }
  for (const auto& key : keys) RETURN_IF_ERROR(RemoveLocked(key));
  return absl::OkStatus();
}

size_t VerdictStore::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return verdicts_.size();
}

}  // namespace sigshim::verdicts
