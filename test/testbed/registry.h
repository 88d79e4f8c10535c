// A real OCI distribution registry (docker-registry 2.8) on 127.0.0.1, plain HTTP.
#ifndef SIGSHIM_TEST_TESTBED_REGISTRY_H_
#define SIGSHIM_TEST_TESTBED_REGISTRY_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "test/testbed/subprocess.h"

namespace sigshim::testbed {

struct RegistryOptions {
  // Folder (created if missing) for the config, the storage and the log. Required.
  std::string dir;
  // Port on 127.0.0.1. Default 0: a free port is picked once and kept across restarts.
  int port = 0;
  // Path of the registry binary. Default: the Debian package's.
  std::string binary = "/usr/bin/docker-registry";
  // How long Start() waits for the port to answer. Default 30 s.
  absl::Duration start_timeout = absl::Seconds(30);
  // Basic-auth users (name, password), stored bcrypt-hashed in an htpasswd file. Default none:
  // the registry asks for no credentials. With users, every request needs one of them.
  std::vector<std::pair<std::string, std::string>> users;
};

// One registry process with deletion enabled (and optionally basic auth). Not thread-safe for Start/Stop; the HTTP helpers may
// be called from any thread.
class Registry {
 public:
  // Writes the config and starts the registry; returns once its port answers /v2/.
  static absl::StatusOr<std::unique_ptr<Registry>> Create(const RegistryOptions& options);
  ~Registry();  // stops the process

  // Returns "127.0.0.1:<port>", the registry part of image references.
  std::string host_port() const;
  int port() const { return port_; }
  const std::string& log_path() const { return log_path_; }
  bool running() const { return process_ != nullptr; }
  // Returns "name:password" of the first configured user, or "" without auth. The HTTP helpers
  // below and PushImage use it.
  std::string credentials() const;

  // Stops the process (SIGTERM, then SIGKILL). The storage stays.
  absl::Status Stop();
  // Starts it again on the same port with the same storage. OK when it already runs.
  absl::Status Start();

  // Uploads `data` as a blob of `repository` (e.g. "test/busybox") unless it is already there;
  // returns its digest.
  absl::StatusOr<std::string> PushBlob(absl::string_view repository, absl::string_view data) const;

  // PUTs `manifest` under `reference` (a tag or a digest) with Content-Type `media_type`; returns
  // the digest the registry computed (the sha256 of the exact bytes).
  absl::StatusOr<std::string> PushManifest(absl::string_view repository, absl::string_view reference,
                                           absl::string_view media_type,
                                           absl::string_view manifest) const;

  // GETs a manifest; `media_type`, when not null, receives its Content-Type. NotFound for a 404.
  absl::StatusOr<std::string> GetManifest(absl::string_view repository, absl::string_view reference,
                                          std::string* media_type = nullptr) const;

  // DELETEs a manifest by digest. NotFound for a 404.
  absl::Status DeleteManifest(absl::string_view repository, absl::string_view digest) const;

  // Returns how many requests `method` ("GET", "HEAD", …) for exactly `path` (e.g.
  // "/v2/e2e/app/manifests/sha256-….sig", no query) the registry has served so far, counted in the
  // access log lines of its log file (across restarts). Requests this class sends itself count too.
  // With `user_agent_prefix` (e.g. "containerd/"), only requests whose User-Agent starts with it.
  int CountRequests(absl::string_view method, absl::string_view path,
                    absl::string_view user_agent_prefix = "") const;

 private:
  Registry(RegistryOptions options, int port, std::string config_path, std::string log_path)
      : options_(std::move(options)), port_(port), config_path_(std::move(config_path)),
        log_path_(std::move(log_path)) {}

  RegistryOptions options_;
  int port_;
  std::string config_path_;
  std::string log_path_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_REGISTRY_H_
