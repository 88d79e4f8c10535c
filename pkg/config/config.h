// The node configuration: TOML (see config/config.toml for every key, its default and unit)
// parsed once into a validated, immutable Config.
//
// Parsing is strict: an unknown key, a value of the wrong type or an out-of-range value is an
// error whose message starts with "<file>:<line>: " and names the key. The daemon never serves
// with a configuration it did not fully understand. Checks that need other packages (key
// material, policy globs) happen where those packages build their objects from this Config, and
// report the same "<file>:<line>" through the `origin` fields.
#ifndef SIGSHIM_PKG_CONFIG_CONFIG_H_
#define SIGSHIM_PKG_CONFIG_CONFIG_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/base/log.h"

namespace sigshim::config {

// [server]: where sigshim listens and where the runtime is.
struct ServerConfig {
  // Unix socket kubelet connects to (--container-runtime-endpoint). Default /run/sigshim/cri.sock.
  std::string listen = "/run/sigshim/cri.sock";
  // Permission bits of the listen socket. Default 0660.
  int socket_mode = 0660;
  // Unix socket of the container runtime. Default /run/containerd/containerd.sock.
  std::string runtime_endpoint = "/run/containerd/containerd.sock";
  // Folder for the verdict store. Default /var/lib/sigshim.
  std::string state_dir = "/var/lib/sigshim";
  // How long SIGTERM waits for in-flight calls before cancelling them. Default 10s.
  absl::Duration shutdown_grace = absl::Seconds(10);
};

// [log]
struct LogConfig {
  // Lowest level written to stderr. Default info; debug adds one line per CRI call.
  log::Level level = log::Level::kInfo;
};

enum class Mode { kEnforce, kAudit };
enum class Unmatched { kDeny, kAllow };

// [enforcement]
struct EnforcementConfig {
  // enforce: refuse what fails; audit: log and count refusals but allow. Default enforce.
  Mode mode = Mode::kEnforce;
  // What happens to images that match no [[policy]]. Default deny.
  Unmatched unmatched = Unmatched::kDeny;
  // Threads that run verifications (registry round trips and signature checks), so that the CRI
  // threads never wait for a registry; as many again run the decisions that need only the runtime
  // and the stored verdicts (a lane of their own). 1 to 64. Default 4.
  int workers = 4;
  // The pod sandbox ("pause") image, checked at RunPodSandbox against the one the runtime reports
  // it will start (shim/enforcer.h AdmitSandbox). With a digest: trusted as written, and the
  // runtime's image must be that manifest. Without: must name the runtime's image, which is then
  // verified like any image. "" checks the runtime's image alone. Default "".
  std::string sandbox_image;
  // The furthest ahead an [[exceptions]] entry may expire, in days from the time the
  // configuration is loaded; an `expires` beyond it is an error. 0 to 3650. Default 90.
  int max_exception_days = 90;
};

// [audit]: one JSON line per decision.
struct AuditConfig {
  // File the lines are appended to (created 0600, reopened on SIGHUP so that it can be rotated),
  // or "-" for standard output (the journal under systemd). Default "-".
  std::string path = "-";
};

// [metrics]: Prometheus metrics and health checks over HTTP.
struct MetricsConfig {
  // "host:port" to serve /metrics, /healthz and /readyz on; the host must be a loopback address
  // (127.0.0.0/8, [::1] or localhost). "" turns the endpoint off. Default "127.0.0.1:9749".
  std::string listen = "127.0.0.1:9749";
};

// [registry]: how registries are reached.
struct RegistryConfig {
  // Registries (host or host:port) reached over plain HTTP instead of HTTPS, lower-cased at load
  // (host names compare without case). Default none.
  std::vector<std::string> insecure;
  // Limit for one registry request, connection included. Default 30s.
  absl::Duration timeout = absl::Seconds(30);
  // Limit for one whole verification (every request and retry it makes, and its wait for a worker),
  // counted from the arrival of the call that asked for it. Default 30s.
  absl::Duration verification_timeout = absl::Seconds(30);
  // PEM bundle of extra CAs; empty means the system CAs only. Default "".
  std::string ca_file;
  // containerd's registry host configuration folder (its CRI config_path; several separated by
  // ':'), read by the registry client at load: registries are reached through the endpoints its
  // hosts.toml files list. Relative paths are taken from the config file's folder. Default "":
  // none.
  std::string config_path;
};

// [[keys]]: a trusted signing identity.
struct KeyConfig {
  // Unique name that [[policy]] require lists refer to. Required.
  std::string name;
  // PEM SubjectPublicKeyInfo text, read from `path` or given inline as `data`.
  std::string pem;
  // Where the PEM came from: the key file's path, or "inline".
  std::string source;
  // not_before / not_after: the key's validity window, both ends inclusive, TOML offset datetimes
  // (a local datetime without offset is refused). A signature counts only when its proven signing
  // time, or else the time of the decision, lies inside. Default: no bound on either side
  // (InfinitePast / InfiniteFuture). not_before after not_after is refused.
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfiniteFuture();
  // transparency_log: a [[trust_roots]] name. When set, a signature by this key counts only with a
  // Rekor entry (SET) of one of that root's transparency logs or an RFC 3161 timestamp of one of
  // its timestamp authorities, and the key's window is judged by the time it proves. Default "".
  std::string transparency_log;
  // "<config file>:<line>" of this entry, for error messages.
  std::string origin;
};

// A trust-material file named by a [[trust_roots]] entry, read at load.
struct TrustFile {
  // The file's path, resolved against the config file's folder when relative.
  std::string path;
  // The whole file (at most kMaxTrustFileBytes).
  std::string contents;
};

// Trust-material files larger than this are refused at load (1 MiB; the public-good
// trusted_root.json is under 16 KiB).
inline constexpr size_t kMaxTrustFileBytes = 1 << 20;

// [[trust_roots]]: where certificates, transparency-log entries and timestamps are trusted from.
// Either `trusted_root` (a sigstore trusted_root.json) or `ca_roots` (a private PKI, with the
// optional PEM files beside it), never both. pkg/trust turns this into trust::TrustRoot.
struct TrustRootConfig {
  // Unique among [[trust_roots]]; what [[identities]] trust_root and [[keys]] transparency_log name.
  // Required.
  std::string name;
  // trusted_root: a sigstore trusted_root.json. Set for a sigstore trust root only.
  std::optional<TrustFile> trusted_root;
  // ca_roots: PEM CERTIFICATE blocks, each a CA certificate. Set for a private PKI only.
  std::optional<TrustFile> ca_roots;
  // ca_intermediates: PEM CERTIFICATE blocks (CA certificates). Optional, private PKI only.
  std::optional<TrustFile> ca_intermediates;
  // timestamp_authorities: one TSA chain in PEM, leaf first, root last. Optional, private PKI only.
  std::optional<TrustFile> timestamp_authorities;
  // rekor_keys: PEM PUBLIC KEY blocks of trusted Rekor logs. Optional, private PKI only.
  std::optional<TrustFile> rekor_keys;
  // require_transparency_log as written; unset means the default (true when the root lists
  // transparency logs, false otherwise), which pkg/trust applies once the files are parsed.
  std::optional<bool> require_transparency_log;
  // "<config file>:<line>" of this entry, for error messages.
  std::string origin;
};

// [[identities]]: a trusted certificate identity. A signature counts for it when its certificate
// chains to `trust_root` at the proven signing time (see DESIGN.md "Trust material and identities")
// and the fields below match. The regular expressions are RE2, anchored (the whole value must
// match); they and the claim names are checked where pkg/policy compiles the identity.
struct IdentityConfig {
  // Unique among [[keys]] and [[identities]] (one namespace of names). Required.
  std::string name;
  // The [[trust_roots]] name the certificate must chain to. Required, must exist.
  std::string trust_root;
  // The OIDC issuer, exactly (`issuer`) or by regular expression (`issuer_regex`): at most one of
  // the two. Required for a trusted_root trust root; optional for a private PKI (when given, the
  // certificate must carry Fulcio's issuer extension with that value).
  std::string issuer;
  std::string issuer_regex;
  // The subject: a SAN (email, URI, DNS name, or Fulcio's OtherName), exactly (`subject`) or by
  // regular expression (`subject_regex`). Exactly one of the two is required.
  std::string subject;
  std::string subject_regex;
  // [identities.claims]: Fulcio certificate claims (by their config/config.toml names) that must
  // equal these values. Default none.
  std::vector<std::pair<std::string, std::string>> claims;
  // "<config file>:<line>" of this entry, for error messages.
  std::string origin;
};

// [[policy.attestations]]: an attestation an image must carry in addition to its signatures.
struct AttestationConfig {
  // Name, reported in decisions ("attestation \"provenance\" …"). Required, unique within its policy.
  std::string name;
  // The in-toto predicate type it must have, e.g. "https://slsa.dev/provenance/v1". Required.
  std::string predicate_type;
  // Names of [[keys]] and [[identities]]; the attestation must be signed by any one of them.
  // Required, non-empty, each must exist.
  std::vector<std::string> require;
  // [policy.attestations.match]: dotted JSON paths into the predicate ("runDetails.builder.id")
  // and the string each must equal; a path that is missing or not a string is a mismatch. Sorted by
  // path. Default empty: any predicate of that type.
  std::vector<std::pair<std::string, std::string>> match;
  // "<config file>:<line>" of this entry, for error messages.
  std::string origin;
};

// [[policy]]: which identities an image must be signed by.
struct PolicyConfig {
  // Unique name, reported with every decision. Required.
  std::string name;
  // Globs over the normalised reference ("*" stays in one path segment, "**" crosses them). Required, non-empty.
  std::vector<std::string> images;
  // Names of [[keys]] and [[identities]]; a signature by any one suffices. Required, non-empty,
  // each must exist.
  std::vector<std::string> require;
  // platform_signatures: when a tag resolves to an image index that no signature of `require`
  // covers, accept a signature over the index's manifest for the node's platform instead, and pin
  // the pull to that manifest (see pkg/policy/platform.h). Default false: the index itself must
  // be signed.
  bool platform_signatures = false;
  // namespaces: globs (pkg/policy/glob.h) over the pod's Kubernetes namespace. Empty (the key
  // absent) admits every namespace, and is the only kind of policy a call without a namespace
  // can match. Written but empty is an error.
  std::vector<std::string> namespaces;
  // threshold: how many distinct entries of `require` must have signed (k of n). 1 to the number
  // of distinct `require` entries. Default 1.
  int threshold = 1;
  // enforce_from: before this instant a refusal under this policy is audited (logged, counted,
  // the call allowed); from it on it is enforced. A TOML offset datetime. Default InfinitePast:
  // always enforced.
  absl::Time enforce_from = absl::InfinitePast();
  // [[policy.attestations]]: each one required in addition to the signatures. Default none.
  std::vector<AttestationConfig> attestations;
  // "<config file>:<line>" of this entry, for error messages.
  std::string origin;
};

// [[exceptions]]: break glass. An image its policy (or unmatched = "deny") refuses is allowed
// while the exception covers (image, namespace) and has not expired; never an image whose digest
// is in [revocation] images, never an error.
struct ExceptionConfig {
  // Unique among [[exceptions]]; reported in audit lines and metrics. Required.
  std::string name;
  // Globs over the normalised reference, as in [[policy]] images. Required, non-empty.
  std::vector<std::string> images;
  // Globs over the pod's namespace; empty (absent) covers every namespace and calls without one.
  std::vector<std::string> namespaces;
  // Why the exception exists (ticket, plan). Required, non-empty.
  std::string reason;
  // Who answers for it. Required, non-empty.
  std::string owner;
  // When it stops applying (a TOML offset datetime). Required; at most max_exception_days after
  // the time of loading.
  absl::Time expires;
  // "<config file>:<line>" of this entry, for error messages.
  std::string origin;
};

// [revocation]: what counts for nothing, whatever the policies say. Every entry is
// "sha256:<64 lowercase hex>" (upper-case hex is lowered at load).
struct RevocationConfig {
  // Key fingerprints (SHA-256 of the DER SubjectPublicKeyInfo, as check-config prints them): a
  // signature by one of these keys counts for nothing. Default none.
  std::vector<std::string> keys;
  // SHA-256 of a certificate's DER: a signature whose leaf, or any certificate of its verified
  // chain, is one of these counts for nothing. Default none.
  std::vector<std::string> certificates;
  // Manifest (or index) digests refused whatever signs or excepts them. Default none.
  std::vector<std::string> images;
};

struct Config {
  // The file this was read from.
  std::string path;
  ServerConfig server;
  LogConfig log;
  EnforcementConfig enforcement;
  RegistryConfig registry;
  AuditConfig audit;
  MetricsConfig metrics;
  std::vector<KeyConfig> keys;
  std::vector<TrustRootConfig> trust_roots;
  std::vector<IdentityConfig> identities;
  std::vector<PolicyConfig> policies;
  std::vector<ExceptionConfig> exceptions;
  RevocationConfig revocation;
  // The time the configuration was loaded at (the `now` given to ParseConfig): exceptions'
  // expiry is judged against it at load.
  absl::Time loaded_at;
  // Problems that do not stop loading, for the caller to print: "<file>:<line>: exception \"x\"
  // expired at …; it no longer applies".
  std::vector<std::string> warnings;
};

// Reads and validates the TOML file at `path`. Key files named by [[keys]] path and the files of
// [[trust_roots]] are read here (relative paths are resolved against the config file's folder). InvalidArgument (or NotFound
// for a missing file) with "<file>:<line>: …" on any problem. `now` is the time of loading: an
// [[exceptions]] expires more than [enforcement] max_exception_days after it is an error, one
// already expired a warning (Config::warnings). Thread-safe.
absl::StatusOr<std::shared_ptr<const Config>> LoadConfig(absl::string_view path, absl::Time now);
// LoadConfig at absl::Now().
absl::StatusOr<std::shared_ptr<const Config>> LoadConfig(absl::string_view path);

// Parses `text` as if it had been read from `path` (used for messages and relative key paths), at
// `now` (see LoadConfig).
absl::StatusOr<std::shared_ptr<const Config>> ParseConfig(absl::string_view text, absl::string_view path,
                                                          absl::Time now);
// ParseConfig at absl::Now().
absl::StatusOr<std::shared_ptr<const Config>> ParseConfig(absl::string_view text, absl::string_view path);

}  // namespace sigshim::config

#endif  // SIGSHIM_PKG_CONFIG_CONFIG_H_
