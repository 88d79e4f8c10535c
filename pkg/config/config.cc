#include "pkg/config/config.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <set>
#include <sstream>
#include <toml.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "pkg/base/file.h"
#include "pkg/base/toml_type_name.h"
#include "pkg/base/status_macros.h"
#include "pkg/reference/reference.h"

namespace sigshim::config {
namespace {

constexpr size_t kMaxConfigBytes = 4 << 20;
constexpr size_t kMaxKeyFileBytes = 64 << 10;
constexpr int kMaxExceptionDays = 3650;

using Table = toml::value;  // Always a table where used.

std::string Where(const toml::value& v, absl::string_view fallback_file) {
  const toml::source_location loc = v.location();
  const std::string& file = loc.file_name().empty() || loc.file_name() == "unknown file"
                                ? std::string(fallback_file)
                                : loc.file_name();
  if (loc.line() == 0) return file;
  return absl::StrCat(file, ":", loc.line());
}

// Builds errors that name the file and line of the offending value.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  absl::Status Error(const toml::value& at, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(Where(at, path_), ": ", message));
  }

  // Fails on any key of `table` (named `section`) not in `allowed`.
  absl::Status CheckKeys(const Table& table, absl::string_view section,
                         std::initializer_list<absl::string_view> allowed) const {
    for (const auto& [key, value] : table.as_table()) {
      bool known = false;
      for (absl::string_view a : allowed) known = known || a == key;
      if (!known) {
        return Error(value, absl::StrCat("unknown key \"", key, "\" in ", section, " (known keys: ",
                                         absl::StrJoin(allowed, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const toml::value& v, absl::string_view name) const {
    if (!v.is_string()) return Error(v, absl::StrCat(name, " must be a string, not ", TomlTypeName(v)));
    return v.as_string().str;
  }

  absl::StatusOr<std::string> NonEmptyString(const toml::value& v, absl::string_view name) const {
    ASSIGN_OR_RETURN(std::string s, String(v, name));
    if (s.empty()) return Error(v, absl::StrCat(name, " must not be empty"));
    return s;
  }

  absl::StatusOr<std::vector<std::string>> StringList(const toml::value& v, absl::string_view name) const {
    if (!v.is_array()) return Error(v, absl::StrCat(name, " must be an array of strings, not ", TomlTypeName(v)));
    std::vector<std::string> out;
    for (const toml::value& item : v.as_array()) {
      ASSIGN_OR_RETURN(std::string s, NonEmptyString(item, absl::StrCat("each entry of ", name)));
      out.push_back(std::move(s));
    }
    return out;
  }

  absl::StatusOr<absl::Duration> Duration(const toml::value& v, absl::string_view name) const {
    ASSIGN_OR_RETURN(std::string s, String(v, name));
    absl::Duration d;
    if (!absl::ParseDuration(s, &d) || d < absl::ZeroDuration()) {
      return Error(v, absl::StrCat(name, " = \"", s,
                                   "\" is not a duration (examples: \"500ms\", \"10s\", \"2m\")"));
    }
    return d;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ResolveRelative(const std::string& config_path, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  const size_t slash = config_path.find_last_of('/');
  if (slash == std::string::npos) return path;
  return absl::StrCat(config_path.substr(0, slash + 1), path);
}

absl::Status ParseServer(const Reader& r, const Table& t, ServerConfig& out) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[server]",
                              {"listen", "socket_mode", "runtime_endpoint", "state_dir", "shutdown_grace"}));
  for (const auto& [key, v] : t.as_table()) {
    if (key == "listen") {
      ASSIGN_OR_RETURN(out.listen, r.NonEmptyString(v, "server.listen"));
    } else if (key == "runtime_endpoint") {
      ASSIGN_OR_RETURN(out.runtime_endpoint, r.NonEmptyString(v, "server.runtime_endpoint"));
    } else if (key == "state_dir") {
      ASSIGN_OR_RETURN(out.state_dir, r.NonEmptyString(v, "server.state_dir"));
    } else if (key == "shutdown_grace") {
      ASSIGN_OR_RETURN(out.shutdown_grace, r.Duration(v, "server.shutdown_grace"));
    } else if (key == "socket_mode") {
      if (!v.is_integer() || v.as_integer() < 0 || v.as_integer() > 0777) {
        return r.Error(v, "server.socket_mode must be an integer permission mode such as 0o660");
      }
      out.socket_mode = static_cast<int>(v.as_integer());
    }
  }
  for (const std::string* p : {&out.listen, &out.runtime_endpoint, &out.state_dir}) {
    if ((*p)[0] != '/') {
      return r.Error(t, absl::StrCat("[server] paths must be absolute, got \"", *p, "\""));
    }
  }
  if (out.listen == out.runtime_endpoint) {
    return r.Error(t, "server.listen and server.runtime_endpoint are the same socket");
  }
  return absl::OkStatus();
}

absl::Status ParseLog(const Reader& r, const Table& t, LogConfig& out) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[log]", {"level"}));
  if (t.contains("level")) {
    const toml::value& v = t.at("level");
    ASSIGN_OR_RETURN(std::string s, r.String(v, "log.level"));
    absl::StatusOr<log::Level> level = log::ParseLevel(s);
    if (!level.ok()) return r.Error(v, level.status().message());
    out.level = *level;
  }
  return absl::OkStatus();
}

absl::Status ParseEnforcement(const Reader& r, const Table& t, EnforcementConfig& out) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[enforcement]",
                              {"mode", "unmatched", "workers", "sandbox_image", "max_exception_days"}));
  if (t.contains("max_exception_days")) {
    const toml::value& v = t.at("max_exception_days");
    if (!v.is_integer() || v.as_integer() < 0 || v.as_integer() > kMaxExceptionDays) {
      return r.Error(v, absl::StrCat("enforcement.max_exception_days must be an integer from 0 to ", kMaxExceptionDays));
    }
    out.max_exception_days = static_cast<int>(v.as_integer());
  }
  if (t.contains("workers")) {
    const toml::value& v = t.at("workers");
    if (!v.is_integer() || v.as_integer() < 1 || v.as_integer() > 64) {
      return r.Error(v, "enforcement.workers must be an integer from 1 to 64");
    }
    out.workers = static_cast<int>(v.as_integer());
  }
  if (t.contains("sandbox_image")) {
    ASSIGN_OR_RETURN(out.sandbox_image, r.String(t.at("sandbox_image"), "enforcement.sandbox_image"));
    if (!out.sandbox_image.empty()) {
      absl::StatusOr<reference::Reference> ref = reference::Parse(out.sandbox_image);
      if (!ref.ok()) {
        return r.Error(t.at("sandbox_image"), absl::StrCat("enforcement.sandbox_image = \"", out.sandbox_image,
                                                           "\" is not an image reference: ", ref.status().message()));
      }
    }
  }
  if (t.contains("mode")) {
    const toml::value& v = t.at("mode");
    ASSIGN_OR_RETURN(std::string s, r.String(v, "enforcement.mode"));
    if (s == "enforce") {
      out.mode = Mode::kEnforce;
    } else if (s == "audit") {
      out.mode = Mode::kAudit;
    } else {
      return r.Error(v, absl::StrCat("enforcement.mode = \"", s, "\": expected \"enforce\" or \"audit\""));
    }
  }
  if (t.contains("unmatched")) {
    const toml::value& v = t.at("unmatched");
    ASSIGN_OR_RETURN(std::string s, r.String(v, "enforcement.unmatched"));
    if (s == "deny") {
      out.unmatched = Unmatched::kDeny;
    } else if (s == "allow") {
      out.unmatched = Unmatched::kAllow;
    } else {
      return r.Error(v, absl::StrCat("enforcement.unmatched = \"", s, "\": expected \"deny\" or \"allow\""));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAudit(const Reader& r, const Table& t, AuditConfig& out) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[audit]", {"path"}));
  if (t.contains("path")) {
    ASSIGN_OR_RETURN(out.path, r.NonEmptyString(t.at("path"), "audit.path"));
    if (out.path != "-") out.path = ResolveRelative(r.path(), out.path);
  }
  return absl::OkStatus();
}

// Returns true when `host` (brackets removed) names the loopback interface.
bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  std::vector<absl::string_view> parts = absl::StrSplit(host, '.');
  if (parts.size() != 4 || parts[0] != "127") return false;
  for (absl::string_view p : parts) {
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != absl::string_view::npos) return false;
    if (std::stoi(std::string(p)) > 255) return false;
  }
  return true;
}

absl::Status ParseMetrics(const Reader& r, const Table& t, MetricsConfig& out) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[metrics]", {"listen"}));
  if (!t.contains("listen")) return absl::OkStatus();
  const toml::value& v = t.at("listen");
  ASSIGN_OR_RETURN(out.listen, r.String(v, "metrics.listen"));
  if (out.listen.empty()) return absl::OkStatus();
  const size_t colon = out.listen.rfind(':');
  absl::string_view host, port;
  if (colon != std::string::npos) {
    host = absl::string_view(out.listen).substr(0, colon);
    port = absl::string_view(out.listen).substr(colon + 1);
  }
  if (absl::ConsumePrefix(&host, "[") && !absl::ConsumeSuffix(&host, "]")) host = "";
  int port_number = 0;
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != absl::string_view::npos ||
      (port_number = std::stoi(std::string(port))) < 1 || port_number > 65535) {
    return r.Error(v, absl::StrCat("metrics.listen = \"", out.listen,
                                   "\": expected \"host:port\" with a port from 1 to 65535"));
  }
  if (!IsLoopbackHost(host)) {
    return r.Error(v, absl::StrCat("metrics.listen = \"", out.listen,
                                   "\": the host must be a loopback address (127.0.0.1, [::1] or localhost)"));
  }
  return absl::OkStatus();
}

absl::Status ParseRegistry(const Reader& r, const Table& t, RegistryConfig& out) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[registry]", {"insecure", "timeout", "verification_timeout", "ca_file", "config_path"}));
  if (t.contains("insecure")) {
    ASSIGN_OR_RETURN(out.insecure, r.StringList(t.at("insecure"), "registry.insecure"));
    // Host names compare without case; references carry their domain in lowercase.
    for (std::string& host : out.insecure) host = absl::AsciiStrToLower(host);
  }
  if (t.contains("timeout")) {
    ASSIGN_OR_RETURN(out.timeout, r.Duration(t.at("timeout"), "registry.timeout"));
    if (out.timeout <= absl::ZeroDuration()) return r.Error(t.at("timeout"), "registry.timeout must be positive");
  }
  if (t.contains("verification_timeout")) {
    ASSIGN_OR_RETURN(out.verification_timeout,
                     r.Duration(t.at("verification_timeout"), "registry.verification_timeout"));
    if (out.verification_timeout <= absl::ZeroDuration()) {
      return r.Error(t.at("verification_timeout"), "registry.verification_timeout must be positive");
    }
  }
  if (t.contains("ca_file")) {
    ASSIGN_OR_RETURN(out.ca_file, r.String(t.at("ca_file"), "registry.ca_file"));
    if (!out.ca_file.empty()) out.ca_file = ResolveRelative(r.path(), out.ca_file);
  }
  if (t.contains("config_path")) {
    ASSIGN_OR_RETURN(out.config_path, r.String(t.at("config_path"), "registry.config_path"));
    std::vector<std::string> folders;
    for (absl::string_view folder : absl::StrSplit(out.config_path, ':', absl::SkipEmpty())) {
      folders.push_back(ResolveRelative(r.path(), std::string(folder)));
    }
    out.config_path = absl::StrJoin(folders, ":");
  }
  return absl::OkStatus();
}

// Returns the instant of a TOML offset datetime (`name = 2026-01-01T00:00:00Z`). A local
// datetime, a date or a time alone is an error: a validity bound must name one instant on every
// node, whatever its time zone.
absl::StatusOr<absl::Time> KeyTime(const Reader& r, const toml::value& v, absl::string_view name) {
  if (v.is_local_datetime() || v.is_local_date() || v.is_local_time()) {
    return r.Error(v, absl::StrCat(name, " must be a date and time with a UTC offset, e.g. 2026-01-01T00:00:00Z "
                                         "(a local date or time names no single instant)"));
  }
  if (!v.is_offset_datetime()) {
    return r.Error(v, absl::StrCat(name, " must be a TOML date and time with offset (e.g. 2026-01-01T00:00:00Z), not ",
                                   TomlTypeName(v)));
  }
  const toml::offset_datetime& odt = v.as_offset_datetime();
  // toml11 months count from 0.
  const absl::CivilSecond civil(odt.date.year, static_cast<int>(odt.date.month) + 1, odt.date.day, odt.time.hour,
                                odt.time.minute, odt.time.second);
  absl::Time t = absl::FromCivil(civil, absl::UTCTimeZone()) - absl::Minutes(odt.offset.hour * 60 + odt.offset.minute) +
                 absl::Milliseconds(odt.time.millisecond) + absl::Microseconds(odt.time.microsecond) +
                 absl::Nanoseconds(odt.time.nanosecond);
  return t;
}

absl::StatusOr<KeyConfig> ParseKey(const Reader& r, const Table& t) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[[keys]]", {"name", "path", "data", "not_before", "not_after", "transparency_log"}));
  KeyConfig key;
  key.origin = Where(t, r.path());
  if (!t.contains("name")) return r.Error(t, "[[keys]] entry has no name");
  ASSIGN_OR_RETURN(key.name, r.NonEmptyString(t.at("name"), "keys.name"));
  const bool has_path = t.contains("path");
  const bool has_data = t.contains("data");
  if (has_path == has_data) {
    return r.Error(t, absl::StrCat("key \"", key.name, "\" needs exactly one of path or data"));
  }
  if (has_path) {
    ASSIGN_OR_RETURN(std::string path, r.NonEmptyString(t.at("path"), "keys.path"));
    key.source = ResolveRelative(r.path(), path);
    absl::StatusOr<std::string> pem = ReadFile(key.source, kMaxKeyFileBytes);
    if (!pem.ok()) {
      return r.Error(t.at("path"), absl::StrCat("key \"", key.name, "\": ", pem.status().message()));
    }
    key.pem = *std::move(pem);
  } else {
    ASSIGN_OR_RETURN(key.pem, r.NonEmptyString(t.at("data"), "keys.data"));
    key.source = "inline";
  }
  if (t.contains("not_before")) {
    ASSIGN_OR_RETURN(key.not_before, KeyTime(r, t.at("not_before"), "keys.not_before"));
  }
  if (t.contains("not_after")) {
    ASSIGN_OR_RETURN(key.not_after, KeyTime(r, t.at("not_after"), "keys.not_after"));
  }
  if (t.contains("transparency_log")) {
    ASSIGN_OR_RETURN(key.transparency_log, r.NonEmptyString(t.at("transparency_log"), "keys.transparency_log"));
  }
  if (key.not_before > key.not_after) {
    return r.Error(t.at("not_after"),
                   absl::StrCat("key \"", key.name, "\": not_after (", absl::FormatTime(absl::RFC3339_full, key.not_after, absl::UTCTimeZone()),
                                ") is before not_before (", absl::FormatTime(absl::RFC3339_full, key.not_before, absl::UTCTimeZone()), ")"));
  }
  return key;
}

// Reads the file named by the string at t[key] for trust root `name`.
absl::StatusOr<TrustFile> ReadTrustFile(const Reader& r, const Table& t, const std::string& key,
                                        const std::string& name) {
  ASSIGN_OR_RETURN(std::string path, r.NonEmptyString(t.at(key), absl::StrCat("trust_roots.", key)));
  TrustFile file;
  file.path = ResolveRelative(r.path(), path);
  absl::StatusOr<std::string> contents = ReadFile(file.path, kMaxTrustFileBytes);
  if (!contents.ok()) {
    return r.Error(t.at(key), absl::StrCat("trust root \"", name, "\": ", key, ": ", contents.status().message()));
  }
  file.contents = *std::move(contents);
  return file;
}

absl::StatusOr<IdentityConfig> ParseIdentity(const Reader& r, const Table& t) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[[identities]]",
                              {"name", "trust_root", "issuer", "issuer_regex", "subject", "subject_regex", "claims"}));
  IdentityConfig identity;
  identity.origin = Where(t, r.path());
  if (!t.contains("name")) return r.Error(t, "[[identities]] entry has no name");
  ASSIGN_OR_RETURN(identity.name, r.NonEmptyString(t.at("name"), "identities.name"));
  const std::string what = absl::StrCat("identity \"", identity.name, "\"");
  if (!t.contains("trust_root")) return r.Error(t, absl::StrCat(what, " has no trust_root"));
  ASSIGN_OR_RETURN(identity.trust_root, r.NonEmptyString(t.at("trust_root"), "identities.trust_root"));
  if (t.contains("issuer") && t.contains("issuer_regex")) {
    return r.Error(t, absl::StrCat(what, " names both issuer and issuer_regex; give one"));
  }
  if (t.contains("issuer")) {
    ASSIGN_OR_RETURN(identity.issuer, r.NonEmptyString(t.at("issuer"), "identities.issuer"));
  }
  if (t.contains("issuer_regex")) {
    ASSIGN_OR_RETURN(identity.issuer_regex, r.NonEmptyString(t.at("issuer_regex"), "identities.issuer_regex"));
  }
  if (t.contains("subject") == t.contains("subject_regex")) {
    return r.Error(t, absl::StrCat(what, " needs exactly one of subject or subject_regex"));
  }
  if (t.contains("subject")) {
    ASSIGN_OR_RETURN(identity.subject, r.NonEmptyString(t.at("subject"), "identities.subject"));
  } else {
    ASSIGN_OR_RETURN(identity.subject_regex, r.NonEmptyString(t.at("subject_regex"), "identities.subject_regex"));
  }
  if (t.contains("claims")) {
    const toml::value& claims = t.at("claims");
    if (!claims.is_table()) {
      return r.Error(claims, absl::StrCat(what, ": claims must be a table ([identities.claims]), not ",
                                          TomlTypeName(claims)));
    }
    for (const auto& [claim, value] : claims.as_table()) {
      ASSIGN_OR_RETURN(std::string text, r.NonEmptyString(value, absl::StrCat("identities.claims.", claim)));
      identity.claims.emplace_back(claim, std::move(text));
    }
    std::sort(identity.claims.begin(), identity.claims.end());
  }
  return identity;
}

absl::StatusOr<TrustRootConfig> ParseTrustRoot(const Reader& r, const Table& t) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[[trust_roots]]",
                              {"name", "trusted_root", "ca_roots", "ca_intermediates", "timestamp_authorities",
                               "rekor_keys", "require_transparency_log"}));
  TrustRootConfig root;
  root.origin = Where(t, r.path());
  if (!t.contains("name")) return r.Error(t, "[[trust_roots]] entry has no name");
  ASSIGN_OR_RETURN(root.name, r.NonEmptyString(t.at("name"), "trust_roots.name"));
  const bool sigstore = t.contains("trusted_root");
  const bool pki = t.contains("ca_roots");
  if (sigstore && pki) {
    return r.Error(t, absl::StrCat("trust root \"", root.name,
                                   "\" names both trusted_root and ca_roots; a trust root is one or the other"));
  }
  if (!sigstore && !pki) {
    return r.Error(t, absl::StrCat("trust root \"", root.name,
                                   "\" needs trusted_root (a sigstore trusted_root.json) or ca_roots (a private PKI)"));
  }
  if (sigstore) {
    for (const char* key : {"ca_intermediates", "timestamp_authorities", "rekor_keys"}) {
      if (t.contains(key)) {
        return r.Error(t.at(key), absl::StrCat("trust root \"", root.name, "\": ", key,
                                               " belongs to a private PKI (ca_roots); a trusted_root.json "
                                               "carries its own"));
      }
    }
    ASSIGN_OR_RETURN(root.trusted_root, ReadTrustFile(r, t, "trusted_root", root.name));
  } else {
    ASSIGN_OR_RETURN(root.ca_roots, ReadTrustFile(r, t, "ca_roots", root.name));
    if (t.contains("ca_intermediates")) {
      ASSIGN_OR_RETURN(root.ca_intermediates, ReadTrustFile(r, t, "ca_intermediates", root.name));
    }
    if (t.contains("timestamp_authorities")) {
      ASSIGN_OR_RETURN(root.timestamp_authorities, ReadTrustFile(r, t, "timestamp_authorities", root.name));
    }
    if (t.contains("rekor_keys")) {
      ASSIGN_OR_RETURN(root.rekor_keys, ReadTrustFile(r, t, "rekor_keys", root.name));
    }
  }
  if (t.contains("require_transparency_log")) {
    const toml::value& v = t.at("require_transparency_log");
    if (!v.is_boolean()) {
      return r.Error(v, absl::StrCat("trust_roots.require_transparency_log must be a boolean, not ", TomlTypeName(v)));
    }
    root.require_transparency_log = v.as_boolean();
    // A private PKI's logs are its rekor_keys, known here; a trusted_root.json's are checked
    // when pkg/trust parses it.
    if (pki && *root.require_transparency_log && !root.rekor_keys.has_value()) {
      return r.Error(v, absl::StrCat("trust root \"", root.name,
                                     "\": require_transparency_log = true, but it lists no transparency log "
                                     "(rekor_keys)"));
    }
  }
  return root;
}

// Returns the non-empty list of globs at t[key] ("namespaces" and "images" of [[policy]] and
// [[exceptions]]); `what` names the entry in errors.
absl::StatusOr<std::vector<std::string>> GlobList(const Reader& r, const Table& t, absl::string_view section,
                                                  absl::string_view key, absl::string_view what) {
  const toml::value& v = t.at(std::string(key));
  ASSIGN_OR_RETURN(std::vector<std::string> list, r.StringList(v, absl::StrCat(section, ".", key)));
  if (list.empty()) {
    return r.Error(v, absl::StrCat(what, ": ", key, " is empty (leave the key out to mean every ",
                                   key == "namespaces" ? "namespace" : "image", ")"));
  }
  return list;
}

// Parses one [[policy.attestations]] entry of the policy `policy` names.
absl::StatusOr<AttestationConfig> ParseAttestation(const Reader& r, const Table& t, absl::string_view policy) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[[policy.attestations]]", {"name", "predicate_type", "require", "match"}));
  AttestationConfig attestation;
  attestation.origin = Where(t, r.path());
  if (!t.contains("name")) return r.Error(t, absl::StrCat("policy \"", policy, "\": an attestation has no name"));
  ASSIGN_OR_RETURN(attestation.name, r.NonEmptyString(t.at("name"), "policy.attestations.name"));
  const std::string what = absl::StrCat("policy \"", policy, "\" attestation \"", attestation.name, "\"");
  for (absl::string_view field : {"predicate_type", "require"}) {
    if (!t.contains(std::string(field))) return r.Error(t, absl::StrCat(what, " has no ", field));
  }
  ASSIGN_OR_RETURN(attestation.predicate_type,
                   r.NonEmptyString(t.at("predicate_type"), "policy.attestations.predicate_type"));
  ASSIGN_OR_RETURN(attestation.require, r.StringList(t.at("require"), "policy.attestations.require"));
  if (attestation.require.empty()) return r.Error(t.at("require"), absl::StrCat(what, " requires no signer"));
  if (t.contains("match")) {
    const toml::value& m = t.at("match");
    if (!m.is_table()) {
      return r.Error(m, absl::StrCat("policy.attestations.match must be a table ([policy.attestations.match]), not ",
                                     TomlTypeName(m)));
    }
    for (const auto& [path, value] : m.as_table()) {
      if (path.empty() || absl::StartsWith(path, ".") || absl::EndsWith(path, ".") || absl::StrContains(path, "..")) {
        return r.Error(value, absl::StrCat(what, ": match path \"", path,
                                           "\" is not a dotted JSON path (e.g. \"runDetails.builder.id\")"));
      }
      ASSIGN_OR_RETURN(std::string expected, r.String(value, absl::StrCat("policy.attestations.match.\"", path, "\"")));
      attestation.match.emplace_back(path, std::move(expected));
    }
    std::sort(attestation.match.begin(), attestation.match.end());
  }
  return attestation;
}

absl::StatusOr<PolicyConfig> ParsePolicy(const Reader& r, const Table& t) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[[policy]]", {"name", "images", "require", "platform_signatures", "namespaces",
                                                "threshold", "enforce_from", "attestations"}));
  PolicyConfig policy;
  policy.origin = Where(t, r.path());
  if (!t.contains("name")) return r.Error(t, "[[policy]] entry has no name");
  ASSIGN_OR_RETURN(policy.name, r.NonEmptyString(t.at("name"), "policy.name"));
  for (absl::string_view field : {"images", "require"}) {
    if (!t.contains(std::string(field))) {
      return r.Error(t, absl::StrCat("policy \"", policy.name, "\" has no ", field));
    }
  }
  ASSIGN_OR_RETURN(policy.images, r.StringList(t.at("images"), "policy.images"));
  ASSIGN_OR_RETURN(policy.require, r.StringList(t.at("require"), "policy.require"));
  if (policy.images.empty()) return r.Error(t.at("images"), absl::StrCat("policy \"", policy.name, "\" lists no images"));
  if (policy.require.empty()) {
    return r.Error(t.at("require"), absl::StrCat("policy \"", policy.name, "\" requires no key"));
  }
  if (t.contains("platform_signatures")) {
    const toml::value& v = t.at("platform_signatures");
    if (!v.is_boolean()) {
      return r.Error(v, absl::StrCat("policy.platform_signatures must be a boolean (true or false), not ", TomlTypeName(v)));
    }
    policy.platform_signatures = v.as_boolean();
  }
  const std::string what = absl::StrCat("policy \"", policy.name, "\"");
  if (t.contains("namespaces")) {
    ASSIGN_OR_RETURN(policy.namespaces, GlobList(r, t, "policy", "namespaces", what));
  }
  if (t.contains("threshold")) {
    const toml::value& v = t.at("threshold");
    std::set<std::string> distinct(policy.require.begin(), policy.require.end());
    if (!v.is_integer()) return r.Error(v, absl::StrCat("policy.threshold must be an integer, not ", TomlTypeName(v)));
    if (v.as_integer() < 1 || v.as_integer() > static_cast<int64_t>(distinct.size())) {
      return r.Error(v, absl::StrCat(what, ": threshold = ", v.as_integer(), ", but it must be from 1 to the ",
                                     distinct.size(), " distinct entries of require"));
    }
    policy.threshold = static_cast<int>(v.as_integer());
  }
  if (t.contains("enforce_from")) {
    ASSIGN_OR_RETURN(policy.enforce_from, KeyTime(r, t.at("enforce_from"), "policy.enforce_from"));
  }
  if (t.contains("attestations")) {
    const toml::value& v = t.at("attestations");
    if (!v.is_array()) return r.Error(v, "policy.attestations must be an array of tables ([[policy.attestations]])");
    for (const toml::value& item : v.as_array()) {
      if (!item.is_table()) return r.Error(item, "each policy.attestations entry must be a table");
      ASSIGN_OR_RETURN(AttestationConfig attestation, ParseAttestation(r, item, policy.name));
      for (const AttestationConfig& other : policy.attestations) {
        if (other.name == attestation.name) {
          return r.Error(item, absl::StrCat(what, ": attestation name \"", attestation.name, "\" is already used at ",
                                            other.origin));
        }
      }
      policy.attestations.push_back(std::move(attestation));
    }
  }
  return policy;
}

absl::StatusOr<ExceptionConfig> ParseException(const Reader& r, const Table& t) {
  RETURN_IF_ERROR(
      r.CheckKeys(t, "[[exceptions]]", {"name", "images", "namespaces", "reason", "owner", "expires"}));
  ExceptionConfig exception;
  exception.origin = Where(t, r.path());
  if (!t.contains("name")) return r.Error(t, "[[exceptions]] entry has no name");
  ASSIGN_OR_RETURN(exception.name, r.NonEmptyString(t.at("name"), "exceptions.name"));
  const std::string what = absl::StrCat("exception \"", exception.name, "\"");
  for (absl::string_view field : {"images", "reason", "owner", "expires"}) {
    if (!t.contains(std::string(field))) {
      return r.Error(t, absl::StrCat(what, " has no ", field, " (an exception must say what it covers, why, who "
                                           "owns it and when it expires)"));
    }
  }
  ASSIGN_OR_RETURN(exception.images, GlobList(r, t, "exceptions", "images", what));
  if (t.contains("namespaces")) {
    ASSIGN_OR_RETURN(exception.namespaces, GlobList(r, t, "exceptions", "namespaces", what));
  }
  ASSIGN_OR_RETURN(exception.reason, r.NonEmptyString(t.at("reason"), "exceptions.reason"));
  ASSIGN_OR_RETURN(exception.owner, r.NonEmptyString(t.at("owner"), "exceptions.owner"));
  ASSIGN_OR_RETURN(exception.expires, KeyTime(r, t.at("expires"), "exceptions.expires"));
  return exception;
}

// Returns the "sha256:<hex>" entries of [revocation] `key`, lower-cased.
absl::StatusOr<std::vector<std::string>> DigestList(const Reader& r, const Table& t, absl::string_view key,
                                                    absl::string_view what) {
  const toml::value& v = t.at(std::string(key));
  ASSIGN_OR_RETURN(std::vector<std::string> list, r.StringList(v, absl::StrCat("revocation.", key)));
  for (std::string& entry : list) {
    std::string lowered = absl::AsciiStrToLower(entry);
    absl::string_view hex = lowered;
    if (!absl::ConsumePrefix(&hex, "sha256:") || hex.size() != 64 ||
        hex.find_first_not_of("0123456789abcdef") != absl::string_view::npos) {
      return r.Error(v, absl::StrCat("revocation.", key, ": \"", entry, "\" is not a ", what,
                                     " (\"sha256:\" and 64 hex digits)"));
    }
    entry = std::move(lowered);
  }
  return list;
}

absl::Status ParseRevocation(const Reader& r, const Table& t, RevocationConfig& out) {
  RETURN_IF_ERROR(r.CheckKeys(t, "[revocation]", {"keys", "certificates", "images"}));
  if (t.contains("keys")) {
    ASSIGN_OR_RETURN(out.keys, DigestList(r, t, "keys", "key fingerprint as check-config prints it"));
  }
  if (t.contains("certificates")) {
    ASSIGN_OR_RETURN(out.certificates, DigestList(r, t, "certificates", "certificate's SHA-256 DER digest"));
  }
  if (t.contains("images")) {
    ASSIGN_OR_RETURN(out.images, DigestList(r, t, "images", "manifest digest"));
  }
  return absl::OkStatus();
}

template <typename Fn>
absl::Status ForEachTableInArray(const Reader& r, const toml::value& v, absl::string_view name, Fn fn) {
  if (!v.is_array()) return r.Error(v, absl::StrCat(name, " must be an array of tables ([[", name, "]])"));
  for (const toml::value& item : v.as_array()) {
    if (!item.is_table()) return r.Error(item, absl::StrCat("each ", name, " entry must be a table"));
    RETURN_IF_ERROR(fn(item));
  }
  return absl::OkStatus();
}

absl::Status ParseRoot(const Reader& r, const toml::value& root, Config& cfg) {
  RETURN_IF_ERROR(r.CheckKeys(root, "the top level",
                              {"server", "log", "enforcement", "registry", "audit", "metrics", "keys", "policy",
                               "trust_roots", "identities", "exceptions", "revocation"}));
  for (const auto& [key, v] : root.as_table()) {
    if (key == "keys") {
      RETURN_IF_ERROR(ForEachTableInArray(r, v, "keys", [&](const toml::value& t) -> absl::Status {
        ASSIGN_OR_RETURN(KeyConfig k, ParseKey(r, t));
        for (const KeyConfig& other : cfg.keys) {
          if (other.name == k.name) {
            return r.Error(t, absl::StrCat("key name \"", k.name, "\" is already used at ", other.origin));
          }
        }
        cfg.keys.push_back(std::move(k));
        return absl::OkStatus();
      }));
      continue;
    }
    if (key == "trust_roots") {
      RETURN_IF_ERROR(ForEachTableInArray(r, v, "trust_roots", [&](const toml::value& t) -> absl::Status {
        ASSIGN_OR_RETURN(TrustRootConfig root, ParseTrustRoot(r, t));
        for (const TrustRootConfig& other : cfg.trust_roots) {
          if (other.name == root.name) {
            return r.Error(t, absl::StrCat("trust root name \"", root.name, "\" is already used at ", other.origin));
          }
        }
        cfg.trust_roots.push_back(std::move(root));
        return absl::OkStatus();
      }));
      continue;
    }
    if (key == "identities") {
      RETURN_IF_ERROR(ForEachTableInArray(r, v, "identities", [&](const toml::value& t) -> absl::Status {
        ASSIGN_OR_RETURN(IdentityConfig identity, ParseIdentity(r, t));
        for (const IdentityConfig& other : cfg.identities) {
          if (other.name == identity.name) {
            return r.Error(t, absl::StrCat("identity name \"", identity.name, "\" is already used at ", other.origin));
          }
        }
        cfg.identities.push_back(std::move(identity));
        return absl::OkStatus();
      }));
      continue;
    }
    if (key == "policy") {
      RETURN_IF_ERROR(ForEachTableInArray(r, v, "policy", [&](const toml::value& t) -> absl::Status {
        ASSIGN_OR_RETURN(PolicyConfig p, ParsePolicy(r, t));
        for (const PolicyConfig& other : cfg.policies) {
          if (other.name == p.name) {
            return r.Error(t, absl::StrCat("policy name \"", p.name, "\" is already used at ", other.origin));
          }
        }
        cfg.policies.push_back(std::move(p));
        return absl::OkStatus();
      }));
      continue;
    }
    if (key == "exceptions") {
      RETURN_IF_ERROR(ForEachTableInArray(r, v, "exceptions", [&](const toml::value& t) -> absl::Status {
        ASSIGN_OR_RETURN(ExceptionConfig e, ParseException(r, t));
        for (const ExceptionConfig& other : cfg.exceptions) {
          if (other.name == e.name) {
            return r.Error(t, absl::StrCat("exception name \"", e.name, "\" is already used at ", other.origin));
          }
        }
        cfg.exceptions.push_back(std::move(e));
        return absl::OkStatus();
      }));
      continue;
    }
    if (!v.is_table()) return r.Error(v, absl::StrCat("[", key, "] must be a table"));
    if (key == "revocation") RETURN_IF_ERROR(ParseRevocation(r, v, cfg.revocation));
    if (key == "server") RETURN_IF_ERROR(ParseServer(r, v, cfg.server));
    if (key == "log") RETURN_IF_ERROR(ParseLog(r, v, cfg.log));
    if (key == "enforcement") RETURN_IF_ERROR(ParseEnforcement(r, v, cfg.enforcement));
    if (key == "registry") RETURN_IF_ERROR(ParseRegistry(r, v, cfg.registry));
    if (key == "audit") RETURN_IF_ERROR(ParseAudit(r, v, cfg.audit));
    if (key == "metrics") RETURN_IF_ERROR(ParseMetrics(r, v, cfg.metrics));
  }
  for (const KeyConfig& k : cfg.keys) {
    if (k.transparency_log.empty()) continue;
    bool found = false;
    for (const TrustRootConfig& t : cfg.trust_roots) found = found || t.name == k.transparency_log;
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(k.origin, ": key \"", k.name, "\" names transparency_log \"",
                                                     k.transparency_log, "\", which no [[trust_roots]] entry defines"));
    }
  }
  // [[keys]] and [[identities]] share one namespace of names (DESIGN.md "Names").
  for (const IdentityConfig& identity : cfg.identities) {
    for (const KeyConfig& k : cfg.keys) {
      if (k.name == identity.name) {
        return absl::InvalidArgumentError(absl::StrCat(identity.origin, ": identity name \"", identity.name,
                                                       "\" is already used by the [[keys]] entry at ", k.origin));
      }
    }
    const TrustRootConfig* root = nullptr;
    for (const TrustRootConfig& t : cfg.trust_roots) {
      if (t.name == identity.trust_root) root = &t;
    }
    if (root == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(identity.origin, ": identity \"", identity.name,
                                                     "\" names trust_root \"", identity.trust_root,
                                                     "\", which no [[trust_roots]] entry defines"));
    }
    if (root->trusted_root.has_value() && identity.issuer.empty() && identity.issuer_regex.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          identity.origin, ": identity \"", identity.name, "\" needs issuer or issuer_regex: trust root \"",
          root->name, "\" is a sigstore trusted_root, whose certificates carry the OIDC issuer"));
    }
  }
  // Exceptions are temporary: at most max_exception_days ahead; an expired one is a warning.
  const absl::Time latest = cfg.loaded_at + absl::Hours(24) * cfg.enforcement.max_exception_days;
  for (const ExceptionConfig& e : cfg.exceptions) {
    const std::string expires = absl::FormatTime(absl::RFC3339_full, e.expires, absl::UTCTimeZone());
    if (e.expires > latest) {
      return absl::InvalidArgumentError(absl::StrCat(
          e.origin, ": exception \"", e.name, "\" expires at ", expires, ", more than [enforcement] "
          "max_exception_days = ", cfg.enforcement.max_exception_days, " days after now (",
          absl::FormatTime(absl::RFC3339_full, cfg.loaded_at, absl::UTCTimeZone()), "; the latest allowed is ",
          absl::FormatTime(absl::RFC3339_full, latest, absl::UTCTimeZone()), ")"));
    }
    if (e.expires <= cfg.loaded_at) {
      cfg.warnings.push_back(absl::StrCat(e.origin, ": exception \"", e.name, "\" (owner ", e.owner,
                                          ") expired at ", expires, "; it no longer applies"));
    }
  }
  // Names required by policies must exist; policies themselves are compiled by pkg/policy.
  for (const PolicyConfig& p : cfg.policies) {
    for (const std::string& name : p.require) {
      bool found = false;
      for (const KeyConfig& k : cfg.keys) found = found || k.name == name;
      for (const IdentityConfig& i : cfg.identities) found = found || i.name == name;
      if (!found) {
        return absl::InvalidArgumentError(
            absl::StrCat(p.origin, ": policy \"", p.name, "\" requires \"", name,
                         "\", which no [[keys]] or [[identities]] entry defines"));
      }
    }
  }
  return absl::OkStatus();
}

// Turns toml11's multi-line syntax report into "<file>:<line>: <what> (<toml11's report>)".
std::string TomlSyntaxError(absl::string_view path, absl::string_view report) {
  std::string line = "?";
  for (absl::string_view row : absl::StrSplit(report, '\n')) {
    // Source rows look like " 12 | text"; the first one is where the error is.
    absl::string_view t = absl::StripLeadingAsciiWhitespace(row);
    const size_t bar = t.find(" |");
    if (bar != absl::string_view::npos && bar > 0 &&
        t.substr(0, bar).find_first_not_of("0123456789") == absl::string_view::npos) {
      line = std::string(t.substr(0, bar));
      break;
    }
  }
  absl::string_view first = report.substr(0, report.find('\n'));
  absl::ConsumePrefix(&first, "[error] ");
  return absl::StrCat(path, ":", line, ": not valid TOML: ", first, "\n", report);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Config>> ParseConfig(absl::string_view text, absl::string_view path) {
  return ParseConfig(text, path, absl::Now());
}

absl::StatusOr<std::shared_ptr<const Config>> ParseConfig(absl::string_view text, absl::string_view path,
                                                          absl::Time now) {
  auto cfg = std::make_shared<Config>();
  cfg->path = std::string(path);
  cfg->loaded_at = now;
  toml::value root;
  try {
    std::istringstream in{std::string(text)};
    root = toml::parse(in, cfg->path);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(TomlSyntaxError(path, e.what()));
  }
  Reader reader(cfg->path);
  try {
    RETURN_IF_ERROR(ParseRoot(reader, root, *cfg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  return std::shared_ptr<const Config>(std::move(cfg));
}

absl::StatusOr<std::shared_ptr<const Config>> LoadConfig(absl::string_view path) {
  return LoadConfig(path, absl::Now());
}

absl::StatusOr<std::shared_ptr<const Config>> LoadConfig(absl::string_view path, absl::Time now) {
  absl::StatusOr<std::string> text = ReadFile(path, kMaxConfigBytes);
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path, now);
}

}  // namespace sigshim::config
