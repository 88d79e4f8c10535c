// RegistryClient over the real CurlTransport against a real registry (docker-registry, the
// distribution 2.8 server) that the test starts on 127.0.0.1 and stops at the end. Skipped when
// /usr/bin/docker-registry is not installed. The TLS case makes its certificate with the openssl
// command.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/registry/curl_transport.h"
#include "pkg/registry/registry_client.h"

namespace sigshim::registry {
namespace {

using ::testing::HasSubstr;

constexpr char kRegistryBinary[] = "/usr/bin/docker-registry";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// Owns one docker-registry process and its storage directory.
class DockerRegistry {
 public:
  ~DockerRegistry() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Creates the storage directory and, for TLS, a self-signed certificate for 127.0.0.1 (its path
  // is ca_file()). Call before Start.
  absl::Status Prepare(bool tls, bool require_client_certificate = false) {
    char dir_template[] = "/tmp/sigshim-registry-test-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
    dir_ = dir_template;
    tls_ = tls;
    if (!tls) return absl::OkStatus();
    std::string command = absl::StrCat(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout ", dir_, "/key.pem -out ", dir_, "/cert.pem >/dev/null 2>&1");
    if (std::system(command.c_str()) != 0) return absl::InternalError("openssl could not make a certificate");
    client_cas_ = require_client_certificate;
    if (!require_client_certificate) return absl::OkStatus();
    // A CA for clients and a client certificate it signed (client.pem, client.key).
    command = absl::StrCat(
        "cd ", dir_, " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 ",
        "-subj /CN=client-ca -keyout client-ca.key -out client-ca.pem >/dev/null 2>&1 && ",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=puller -keyout client.key ",
        "-out client.csr >/dev/null 2>&1 && openssl x509 -req -in client.csr -CA client-ca.pem -CAkey client-ca.key ",
        "-CAcreateserial -days 1 -out client.pem >/dev/null 2>&1");
    if (std::system(command.c_str()) != 0) return absl::InternalError("openssl could not make a client certificate");
    return absl::OkStatus();
  }

  // Starts the registry and waits until it answers /v2/ through `transport`.
  absl::Status Start(HttpTransport& transport) {
    if (dir_.empty()) {
      absl::Status prepared = Prepare(false);
      if (!prepared.ok()) return prepared;
    }
    port_ = FreePort();
    std::string config = absl::StrCat("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ",
                                      dir_, "/data\nhttp:\n  addr: 127.0.0.1:", port_, "\n");
    if (tls_) {
      absl::StrAppend(&config, "  tls:\n    certificate: ", dir_, "/cert.pem\n    key: ", dir_, "/key.pem\n");
      if (client_cas_) absl::StrAppend(&config, "    clientcas:\n      - ", dir_, "/client-ca.pem\n");
    }
    absl::Status written = WriteFileAtomic(dir_ + "/config.yml", config);
    if (!written.ok()) return written;
    std::string config_path = dir_ + "/config.yml";
    std::string log_path = dir_ + "/registry.log";
    pid_ = fork();
    if (pid_ < 0) return absl::InternalError("fork failed");
    if (pid_ == 0) {
      FILE* log = std::fopen(log_path.c_str(), "w");
      if (log != nullptr) {
        dup2(fileno(log), 1);
        dup2(fileno(log), 2);
      }
      execl(kRegistryBinary, kRegistryBinary, "serve", config_path.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      HttpRequest request;
      request.url = base_url() + "/v2/";
      request.timeout = absl::Seconds(2);
      absl::StatusOr<HttpResponse> response = transport.Do(request);
      if (response.ok() && response->status == 200) return absl::OkStatus();
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError("docker-registry exited at start-up; see its log");
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::DeadlineExceededError("docker-registry did not start answering");
  }

  std::string host() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string base_url() const { return absl::StrCat(tls_ ? "https://" : "http://", host()); }
  std::string ca_file() const { return dir_ + "/cert.pem"; }
  std::string dir() const { return dir_; }

 private:
  std::string dir_;
  bool tls_ = false;
  bool client_cas_ = false;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Passes every request to `inner` with `tls` set.
class TlsTransport : public HttpTransport {
 public:
  TlsTransport(std::shared_ptr<HttpTransport> inner, std::shared_ptr<const TlsSettings> tls)
      : inner_(std::move(inner)), tls_(std::move(tls)) {}
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) override {
    HttpRequest copy = request;
    copy.tls = tls_;
    return inner_->Do(copy);
  }

 private:
  std::shared_ptr<HttpTransport> inner_;
  std::shared_ptr<const TlsSettings> tls_;
};

// Uploads `bytes` as a blob of `name` (monolithic upload: POST then PUT with the digest).
absl::StatusOr<std::string> PushBlob(HttpTransport& transport, const std::string& base_url, const std::string& name,
                                     const std::string& bytes) {
  HttpRequest start;
  start.method = "POST";
  start.url = absl::StrCat(base_url, "/v2/", name, "/blobs/uploads/");
  absl::StatusOr<HttpResponse> started = transport.Do(start);
  if (!started.ok()) return started.status();
  std::optional<absl::string_view> location = started->headers.Get("Location");
  if (started->status != 202 || !location) return absl::InternalError(absl::StrCat("upload start: ", started->status));
  std::string digest = Sha256Digest(bytes);
  HttpRequest put;
  put.method = "PUT";
  put.url = absl::StrCat(absl::StartsWith(*location, "http") ? "" : base_url, *location,
                         absl::StrContains(*location, '?') ? "&" : "?", "digest=", digest);
  put.headers.Add("Content-Type", "application/octet-stream");
  put.body = bytes;
  absl::StatusOr<HttpResponse> done = transport.Do(put);
  if (!done.ok()) return done.status();
  if (done->status != 201) return absl::InternalError(absl::StrCat("upload end: ", done->status, " ", done->body));
  return digest;
}

absl::Status PushManifest(HttpTransport& transport, const std::string& base_url, const std::string& name,
                          const std::string& tag, const std::string& bytes) {
  HttpRequest put;
  put.method = "PUT";
  put.url = absl::StrCat(base_url, "/v2/", name, "/manifests/", tag);
  put.headers.Add("Content-Type", std::string(kMediaTypeOciManifest));
  put.body = bytes;
  absl::StatusOr<HttpResponse> done = transport.Do(put);
  if (!done.ok()) return done.status();
  if (done->status != 201) return absl::InternalError(absl::StrCat("manifest put: ", done->status, " ", done->body));
  return absl::OkStatus();
}

std::string Manifest(const std::string& config_digest, size_t config_size, const std::string& layer_digest,
                     size_t layer_size, const std::string& layer_type) {
  return absl::StrCat(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
                      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")", config_digest,
                      R"(","size":)", config_size, R"(},"layers":[{"mediaType":")", layer_type, R"(","digest":")",
                      layer_digest, R"(","size":)", layer_size,
                      R"(,"annotations":{"dev.cosignproject.cosign/signature":"c2lnbmF0dXJl"}}]})");
}

TEST(DockerRegistry, ResolvesAndFetchesFromARealRegistry) {
  ASSERT_EQ(access(kRegistryBinary, X_OK), 0) << kRegistryBinary << " is not installed (make deps installs it)";
  absl::StatusOr<std::unique_ptr<CurlTransport>> curl = CurlTransport::Create({});
  ASSERT_TRUE(curl.ok()) << curl.status();
  std::shared_ptr<HttpTransport> transport = std::move(*curl);
  DockerRegistry registry;
  ASSERT_TRUE(registry.Start(*transport).ok());

  // An image, and a cosign-style signature manifest for it under sha256-<hex>.sig.
  std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
  std::string layer = "not really a tarball";
  absl::StatusOr<std::string> config_digest = PushBlob(*transport, registry.base_url(), "team/app", config);
  absl::StatusOr<std::string> layer_digest = PushBlob(*transport, registry.base_url(), "team/app", layer);
  ASSERT_TRUE(config_digest.ok()) << config_digest.status();
  ASSERT_TRUE(layer_digest.ok()) << layer_digest.status();
  std::string image = Manifest(*config_digest, config.size(), *layer_digest, layer.size(),
                               "application/vnd.oci.image.layer.v1.tar");
  ASSERT_TRUE(PushManifest(*transport, registry.base_url(), "team/app", "v1", image).ok());
  std::string image_digest = Sha256Digest(image);

  std::string payload = absl::StrCat(R"({"critical":{"identity":{"docker-reference":")", registry.host(),
                                     R"(/team/app"},"image":{"docker-manifest-digest":")", image_digest,
                                     R"("},"type":"cosign container image signature"},"optional":null})");
  absl::StatusOr<std::string> payload_digest = PushBlob(*transport, registry.base_url(), "team/app", payload);
  ASSERT_TRUE(payload_digest.ok()) << payload_digest.status();
  std::string signature_tag = absl::StrCat("sha256-", image_digest.substr(7), ".sig");
  std::string signatures = Manifest(*config_digest, config.size(), *payload_digest, payload.size(),
                                    "application/vnd.dev.cosign.simplesigning.v1+json");
  ASSERT_TRUE(PushManifest(*transport, registry.base_url(), "team/app", signature_tag, signatures).ok());

  RegistryClientOptions options;
  options.transport = transport;
  options.insecure_registries = {registry.host()};
  options.sleep = [](absl::Duration) {};
  absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<reference::Reference> ref = reference::Parse(registry.host() + "/team/app:v1");
  ASSERT_TRUE(ref.ok()) << ref.status();

  absl::StatusOr<FetchedManifest> resolved = (*client)->Resolve(*ref, {});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->digest, image_digest);
  EXPECT_EQ(resolved->media_type, kMediaTypeOciManifest);

  absl::StatusOr<FetchedManifest> by_digest = (*client)->Resolve(ref->WithDigest(image_digest), {});
  ASSERT_TRUE(by_digest.ok()) << by_digest.status();
  EXPECT_EQ(by_digest->bytes, image);

  absl::StatusOr<FetchedManifest> sig = (*client)->GetManifest(*ref, signature_tag, {});
  ASSERT_TRUE(sig.ok()) << sig.status();
  ASSERT_EQ(sig->manifest.layers.size(), 1u);
  const Descriptor& layer_descriptor = sig->manifest.layers[0];
  EXPECT_EQ(layer_descriptor.annotations.at("dev.cosignproject.cosign/signature"), "c2lnbmF0dXJl");
  absl::StatusOr<std::string> fetched_payload =
      (*client)->GetBlob(*ref, layer_descriptor.digest, static_cast<size_t>(layer_descriptor.size), {});
  ASSERT_TRUE(fetched_payload.ok()) << fetched_payload.status();
  EXPECT_EQ(*fetched_payload, payload);
  EXPECT_TRUE(CheckDescriptorContent(layer_descriptor, *fetched_payload).ok());

  // The outcomes callers tell apart.
  absl::StatusOr<FetchedManifest> unsigned_tag =
      (*client)->GetManifest(*ref, absl::StrCat("sha256-", Sha256Hex("other"), ".sig"), {});
  EXPECT_EQ(unsigned_tag.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unsigned_tag.status().message()), HasSubstr("MANIFEST_UNKNOWN"));
  absl::StatusOr<reference::Reference> missing = reference::Parse(registry.host() + "/team/missing:v1");
  EXPECT_EQ((*client)->Resolve(*missing, {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*client)->GetBlob(*ref, *layer_digest, 4, {}).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*client)->RequestCount(), 7u);  // one request per call: no auth, no redirects here
}

TEST(DockerRegistry, VerifiesTlsAgainstTheConfiguredCa) {
  ASSERT_EQ(access(kRegistryBinary, X_OK), 0) << kRegistryBinary << " is not installed (make deps installs it)";
  ASSERT_EQ(access("/usr/bin/openssl", X_OK), 0) << "openssl is not installed";
  DockerRegistry registry;
  ASSERT_TRUE(registry.Prepare(/*tls=*/true).ok());
  CurlTransportOptions curl_options;
  curl_options.ca_file = registry.ca_file();
  absl::StatusOr<std::unique_ptr<CurlTransport>> curl = CurlTransport::Create(curl_options);
  ASSERT_TRUE(curl.ok()) << curl.status();
  std::shared_ptr<HttpTransport> transport = std::move(*curl);
  ASSERT_TRUE(registry.Start(*transport).ok());

  std::string config = "{}";
  absl::StatusOr<std::string> config_digest = PushBlob(*transport, registry.base_url(), "app", config);
  ASSERT_TRUE(config_digest.ok()) << config_digest.status();
  std::string image = Manifest(*config_digest, config.size(), *config_digest, config.size(),
                               "application/vnd.oci.image.layer.v1.tar");
  ASSERT_TRUE(PushManifest(*transport, registry.base_url(), "app", "v1", image).ok());
  absl::StatusOr<reference::Reference> ref = reference::Parse(registry.host() + "/app:v1");
  ASSERT_TRUE(ref.ok()) << ref.status();

  // Trusting the registry's CA: resolved over https.
  RegistryClientOptions trusting;
  trusting.ca_file = registry.ca_file();
  absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(trusting);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<FetchedManifest> resolved = (*client)->Resolve(*ref, {});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->digest, Sha256Digest(image));

  // System CAs only: the self-signed certificate is refused, and that is a registry that cannot be
  // used (Unavailable), never a fall-back to anything weaker.
  RegistryClientOptions system_only;
  absl::StatusOr<std::unique_ptr<RegistryClient>> strict = RegistryClient::Create(system_only);
  ASSERT_TRUE(strict.ok()) << strict.status();
  absl::StatusOr<FetchedManifest> refused = (*strict)->Resolve(*ref, {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_EQ((*strict)->RequestCount(), 1u);  // a certificate that does not verify is not retried
}

// A registry name that does not resolve, mapped by a hosts.toml to a docker-registry that serves
// TLS with a self-signed certificate and requires client certificates: the endpoint's `ca` and
// `client` (or `skip_verify`) are what make it usable.
TEST(DockerRegistry, HostsTomlCaAndClientCertificateReachAMutualTlsMirror) {
  ASSERT_EQ(access(kRegistryBinary, X_OK), 0) << kRegistryBinary << " is not installed (make deps installs it)";
  ASSERT_EQ(access("/usr/bin/openssl", X_OK), 0) << "openssl is not installed";
  DockerRegistry registry;
  ASSERT_TRUE(registry.Prepare(/*tls=*/true, /*require_client_certificate=*/true).ok());
  auto read = [](const std::string& path) { return ReadFile(path, 1 << 20).value_or(""); };
  auto pusher_tls = std::make_shared<TlsSettings>();
  pusher_tls->skip_verify = true;
  pusher_tls->client_cert_pem = read(registry.dir() + "/client.pem");
  pusher_tls->client_key_pem = read(registry.dir() + "/client.key");
  pusher_tls->pool_key = "pusher";
  absl::StatusOr<std::unique_ptr<CurlTransport>> curl = CurlTransport::Create({});
  ASSERT_TRUE(curl.ok()) << curl.status();
  auto transport = std::make_shared<TlsTransport>(std::shared_ptr<HttpTransport>(*std::move(curl)), pusher_tls);
  ASSERT_TRUE(registry.Start(*transport).ok());
  std::string config = "{}";
  absl::StatusOr<std::string> config_digest = PushBlob(*transport, registry.base_url(), "app", config);
  ASSERT_TRUE(config_digest.ok()) << config_digest.status();
  std::string image = Manifest(*config_digest, config.size(), *config_digest, config.size(),
                               "application/vnd.oci.image.layer.v1.tar");
  ASSERT_TRUE(PushManifest(*transport, registry.base_url(), "app", "v1", image).ok());

  const std::string certs_d = registry.dir() + "/certs.d";
  std::filesystem::create_directories(certs_d + "/tls.sigshim.invalid");
  auto client_for = [&](const std::string& endpoint_keys) -> std::unique_ptr<RegistryClient> {
    EXPECT_TRUE(WriteFileAtomic(certs_d + "/tls.sigshim.invalid/hosts.toml",
                                absl::StrCat("[host.\"https://", registry.host(), "\"]\n", endpoint_keys), 0644)
                    .ok());
    RegistryClientOptions options;
    options.hosts_config_path = certs_d;
    options.max_retries = 0;
    absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  };
  const reference::Reference ref = *reference::Parse("tls.sigshim.invalid/app:v1");
  const std::string client_pair = absl::StrCat("client = [[\"", registry.dir(), "/client.pem\", \"", registry.dir(),
                                               "/client.key\"]]\n");

  // The registry's CA and a client certificate: resolved.
  auto both = client_for(absl::StrCat("ca = \"", registry.ca_file(), "\"\n", client_pair));
  ASSERT_NE(both, nullptr);
  absl::StatusOr<FetchedManifest> resolved = both->Resolve(ref, {});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->digest, Sha256Digest(image));
  // skip_verify instead of the CA: resolved too.
  auto skipping = client_for(absl::StrCat("skip_verify = true\n", client_pair));
  ASSERT_NE(skipping, nullptr);
  EXPECT_TRUE(skipping->Resolve(ref, {}).ok());
  // Without the CA the certificate does not verify; without a client certificate the registry
  // refuses the handshake. Neither falls back to anything.
  auto no_ca = client_for(client_pair);
  ASSERT_NE(no_ca, nullptr);
  EXPECT_EQ(no_ca->Resolve(ref, {}).status().code(), absl::StatusCode::kUnavailable);
  auto no_client = client_for(absl::StrCat("ca = \"", registry.ca_file(), "\"\n"));
  ASSERT_NE(no_client, nullptr);
  absl::StatusOr<FetchedManifest> refused = no_client->Resolve(ref, {});
  EXPECT_FALSE(refused.ok());
  // And the same server as the registry's own name with only the transport's settings is refused.
  EXPECT_FALSE(both->Resolve(*reference::Parse(registry.host() + "/app:v1"), {}).ok());
}

TEST(DockerRegistry, UnreachableRegistryIsUnavailable) {
  RegistryClientOptions options;
  int port = FreePort();
  std::string host = absl::StrCat("127.0.0.1:", port);
  options.insecure_registries = {host};
  options.max_retries = 1;
  options.sleep = [](absl::Duration) {};
  absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<FetchedManifest> resolved = (*client)->Resolve(*reference::Parse(host + "/team/app:v1"), {});
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*client)->RequestCount(), 2u);
}

}  // namespace
}  // namespace sigshim::registry
