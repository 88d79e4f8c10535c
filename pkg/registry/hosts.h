// containerd's registry host configuration, read as containerd 1.6 reads it: a folder (its CRI
// plugin's `config_path`, usually /etc/containerd/certs.d) with one sub-folder per registry host
// ("<host>", "<host>_<port>_" or "<host>:<port>", and "_default" for every other host), each with
// a hosts.toml or, without one, docker's certificate layout (*.crt CAs, *.cert/*.key client pairs).
// A registry host's endpoints are the hosts.toml's [host."…"] tables in file order, then its
// `server` (the registry itself when none is given); a pull tries them in that order.
#ifndef SIGSHIM_PKG_REGISTRY_HOSTS_H_
#define SIGSHIM_PKG_REGISTRY_HOSTS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/registry/http_transport.h"

namespace sigshim::registry {

// What an endpoint may be used for (containerd's HostCapabilities), or-ed together.
inline constexpr uint32_t kCapabilityPull = 1;     // fetch manifests and blobs by digest
inline constexpr uint32_t kCapabilityResolve = 2;  // resolve a tag to a digest
inline constexpr uint32_t kCapabilityPush = 4;     // accepted in hosts.toml; sigshim never pushes
inline constexpr uint32_t kAllCapabilities = kCapabilityPull | kCapabilityResolve | kCapabilityPush;

// One place a registry host's content is fetched from.
struct HostEndpoint {
  // "https" or "http".
  std::string scheme;
  // The authority contacted: "host" or "host:port" (or "[v6]:port").
  std::string host;
  // The API root, "/v2" unless the URL had a path ("/prefix/v2") or override_path kept it as
  // written; never ends with '/'. A request for repository R goes to <path>/R/….
  std::string path;
  // kCapability* bits.
  uint32_t capabilities = kAllCapabilities;
  // True when HTTPS is tried first and a handshake answered in plain HTTP falls back to HTTP
  // (containerd ≥ 1.6.25's HTTPFallback: a defaulted loopback registry on a port other than 80 and
  // 443, or an http:// endpoint given TLS settings, on a port other than 80). `scheme` is then
  // "https".
  bool http_fallback = false;
  // TLS settings (ca, client, skip_verify); null when the endpoint has none.
  std::shared_ptr<const TlsSettings> tls;
  // Extra request header fields (hosts.toml `header`). They may hold credentials: never logged.
  std::vector<std::pair<std::string, std::string>> headers;
  // True for the endpoint filled in for the registry itself (no hosts.toml, or one without
  // `server`): containerd's default scheme and host apply to it.
  bool defaulted = false;
  // True for the registry itself: the hosts.toml `server` (defaulted or not) or the certificate
  // files of a folder without hosts.toml; false for a [host."…"] mirror. Only the registry itself
  // is given the pull credentials kubelet sent for the image.
  bool server = false;
  // Where the endpoint was defined, "<file>:<line>", or "default" for a defaulted one.
  std::string origin;
  // What `tls` was read from, for a person (check-config): the CA files in order, and the client
  // certificate files with their key files (the key file is the certificate file when one file
  // holds both; the first pair is the one presented). Empty when none.
  std::vector<std::string> ca_files;
  std::vector<std::pair<std::string, std::string>> client_files;
  // hosts.toml override_path: `path` is the URL's path as written, without "/v2" appended.
  bool override_path = false;
};

struct RegistryHostsOptions {
  // The folder(s) to read, several separated by ':' (as containerd's CRI config_path). Default ""
  // (invalid: must be set).
  std::string config_path;
  // Largest hosts.toml, CA, certificate or key file read; larger is an error. Default 1 MiB.
  size_t max_file_bytes = 1 << 20;
  // Largest number of entries read in one folder (host folders, or files of a host folder).
  // Default 4096.
  size_t max_entries = 4096;
};

// The host configuration of every registry, read once at Load; immutable, thread-safe.
class RegistryHosts {
 public:
  // Reads every host folder under options.config_path. Errors (InvalidArgument unless said):
  // a hosts.toml that is not valid TOML, has an unknown key, a value of the wrong type, an
  // unknown capability, an unusable URL, or no [host."…"] table (containerd 1.6 cannot read such
  // a file and ignores it) — the message starts "<file>:<line>: "; a CA, certificate or key file
  // that cannot be read or holds no usable PEM — naming the file and the hosts.toml line that names
  // it; a folder or file that cannot be read (a symbolic link loop, permissions), or limits
  // exceeded (ResourceExhausted) — naming the path. A config_path folder that does not exist is
  // NotFound.
  static absl::StatusOr<std::shared_ptr<const RegistryHosts>> Load(const RegistryHostsOptions& options);

  // Returns the endpoints of the registry `host` (a reference domain: "docker.io",
  // "registry.local:5000"), in the order a pull tries them, the configured ones first and the
  // server last. Without a host folder for it (nor `_default`), the one defaulted endpoint
  // containerd uses: https://registry-1.docker.io for docker.io; for a loopback host (see
  // IsLoopbackHost) HTTPS without verification, falling back to HTTP unless the port is 443 (or
  // absent), or plain HTTP on port 80; otherwise https://<host>.
  std::vector<HostEndpoint> EndpointsFor(absl::string_view host) const;

  // Returns the folder whose configuration applies to `host`, or "" when none does.
  std::string FolderFor(absl::string_view host) const;

  // Returns every host folder read (its path → its endpoints as written: the [host."…"] tables in
  // file order, then the server, whose `host` is "" when defaulted), in path order.
  const std::map<std::string, std::vector<HostEndpoint>>& folders() const { return folders_; }

  // Returns the registry host a folder's name stands for ("host_port_" and "host:port" → "host:port",
  // "host" → "host"), or "" for "_default".
  static std::string HostOfFolderName(absl::string_view name);

 private:
  RegistryHosts() = default;

  // Folder path → its endpoints as written (the last one the server, its host "" when defaulted).
  std::map<std::string, std::vector<HostEndpoint>> folders_;
  std::vector<std::string> roots_;
};

// Parses the text of one hosts.toml (`file` names it in errors; relative `ca` and `client` paths
// are taken from `folder`) into its endpoints as written: the [host."…"] tables in file order,
// then the server, whose `host` is "" when the file gives no `server`. CA, certificate and key
// files are read (at most max_file_bytes each). Errors as for RegistryHosts::Load.
absl::StatusOr<std::vector<HostEndpoint>> ParseHostsToml(absl::string_view text, const std::string& file,
                                                         const std::string& folder,
                                                         size_t max_file_bytes = 1 << 20);

// Returns the name of the folder containerd looks for first for `host`: "host_port_" for
// "host:port", else `host` itself.
std::string HostFolderName(absl::string_view host);

}  // namespace sigshim::registry

#endif  // SIGSHIM_PKG_REGISTRY_HOSTS_H_
