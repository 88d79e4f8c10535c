// RegistryClient with hosts_config_path (containerd's hosts.toml), over the real CurlTransport
// against plain-HTTP registries on loopback sockets: endpoints are tried in the file's order, the
// server last, with containerd's fallback (any failure or 404 passes to the next endpoint; the
// first error that was not a 404 is the answer when all fail), tags resolved only through
// endpoints that may resolve, pull credentials sent only to the registry itself (never to a mirror), and the hosts.toml headers and
// containerd's ns parameter sent.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/registry/registry_client.h"
#include "test/pkg/registry/local_http_server.h"

namespace sigshim::registry {
namespace {

using ::sigshim::testing::LocalHttpServer;
using ::sigshim::testing::ReceivedRequest;
using ::sigshim::testing::Reply;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The registry name the tests pull by: it does not resolve, so only a hosts.toml endpoint can
// serve it.
constexpr char kRegistry[] = "upstream.sigshim.invalid";

std::string ImageManifest(const std::string& flavour) {
  return absl::StrCat(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
                      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
                      Sha256Digest(flavour), R"(","size":)", flavour.size(),
                      R"(},"layers":[]})");
}

Reply Answer(int status, const std::string& reason, const std::string& body, const std::string& extra_headers = "") {
  return Reply{absl::StrCat("HTTP/1.1 ", status, " ", reason, "\r\nContent-Length: ", body.size(), "\r\n", extra_headers,
                            "Connection: close\r\n\r\n", body)};
}

std::string HeaderValue(const std::string& head, const std::string& name) {
  const std::string prefix = absl::StrCat("\r\n", name, ": ");
  size_t start = head.find(prefix);
  if (start == std::string::npos) return "";
  start += prefix.size();
  return head.substr(start, head.find("\r\n", start) - start);
}

// Returns the request target of a request head ("/v2/…?ns=…").
std::string Target(const ReceivedRequest& request) {
  const size_t space = request.head.find(' ');
  return request.head.substr(space + 1, request.head.find(' ', space + 1) - space - 1);
}

struct FakeRegistryOptions {
  std::string flavour = "";     // serves team/app:v1 as ImageManifest(flavour)
  int status = 200;             // answers every /v2/ request with this status instead, when not 200
  std::string basic = "";       // "user:password": Basic auth required
};

// A plain-HTTP distribution registry on 127.0.0.1 serving team/app:v1 and its manifest by digest.
class FakeRegistry {
 public:
  explicit FakeRegistry(FakeRegistryOptions options) : options_(std::move(options)) {
    auto server = LocalHttpServer::Start([this](const ReceivedRequest& r) { return Serve(r); });
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }
  std::string url() const { return server_->base_url(); }
  std::vector<ReceivedRequest> requests() const { return server_->requests(); }
  std::string digest() const { return Sha256Digest(ImageManifest(options_.flavour)); }

 private:
  Reply Serve(const ReceivedRequest& request) {
    const std::string& head = request.head;
    if (options_.status != 200) return Answer(options_.status, "Status", "");
    if (!options_.basic.empty() &&
        HeaderValue(head, "Authorization") != absl::StrCat("Basic ", Base64Encode(options_.basic))) {
      return Answer(401, "Unauthorized", "", "WWW-Authenticate: Basic realm=\"fake\"\r\n");
    }
    const std::string manifest = ImageManifest(options_.flavour);
    if (absl::StartsWith(head, "GET /v2/team/app/manifests/v1") ||
        absl::StartsWith(head, absl::StrCat("GET /v2/team/app/manifests/", digest()))) {
      return Answer(200, "OK", manifest, "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n");
    }
    return Answer(404, "Not Found", R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]})");
  }

  const FakeRegistryOptions options_;
  std::unique_ptr<LocalHttpServer> server_;
};

// A config_path folder holding one hosts.toml for kRegistry.
class HostsFolder {
 public:
  explicit HostsFolder(const std::string& hosts_toml) {
    char dir_template[] = "/tmp/sigshim-hosts-client-XXXXXX";
    EXPECT_NE(mkdtemp(dir_template), nullptr);
    root_ = dir_template;
    std::filesystem::create_directories(absl::StrCat(root_, "/", kRegistry));
    EXPECT_TRUE(WriteFileAtomic(absl::StrCat(root_, "/", kRegistry, "/hosts.toml"), hosts_toml, 0644).ok());
  }
  ~HostsFolder() { std::filesystem::remove_all(root_); }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

std::unique_ptr<RegistryClient> Client(const HostsFolder& folder) {
  RegistryClientOptions options;
  options.hosts_config_path = folder.root();
  options.max_retries = 0;
  options.sleep = [](absl::Duration) {};
  absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return std::move(*client);
}

reference::Reference Ref(const std::string& text) {
  absl::StatusOr<reference::Reference> ref = reference::Parse(text);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return *ref;
}

// Returns a URL on 127.0.0.1 where nothing listens.
std::string ClosedUrl() {
  std::string url;
  {
    auto server = LocalHttpServer::Start([](const ReceivedRequest&) { return Reply{}; });
    url = (*server)->base_url();
  }
  return url;
}

TEST(RegistryClientHosts, MirrorServesFirstWithHeadersAndNsAndTheServerIsNotAsked) {
  FakeRegistry mirror({.flavour = "mirror"});
  FakeRegistry upstream({.flavour = "upstream"});
  HostsFolder folder(absl::StrCat("server = \"", upstream.url(), "\"\n[host.\"", mirror.url(),
                                  "\"]\n  capabilities = [\"pull\", \"resolve\"]\n  [host.\"", mirror.url(),
                                  "\".header]\n    X-Mirror-Key = \"k-123\"\n"));
  auto client = Client(folder);
  absl::StatusOr<FetchedManifest> resolved = client->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), {});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->digest, mirror.digest());
  ASSERT_EQ(mirror.requests().size(), 1u);
  EXPECT_EQ(Target(mirror.requests()[0]), absl::StrCat("/v2/team/app/manifests/v1?ns=", kRegistry));
  EXPECT_EQ(HeaderValue(mirror.requests()[0].head, "X-Mirror-Key"), "k-123");
  EXPECT_TRUE(upstream.requests().empty());
}

TEST(RegistryClientHosts, NotFoundOrUnreachableMirrorPassesToTheNextEndpointInOrder) {
  FakeRegistry empty_mirror({.flavour = "x", .status = 404});
  FakeRegistry upstream({.flavour = "upstream"});
  HostsFolder folder(absl::StrCat("server = \"", upstream.url(), "\"\n[host.\"", ClosedUrl(), "\"]\n[host.\"",
                                  empty_mirror.url(), "\"]\n"));
  auto client = Client(folder);
  absl::StatusOr<FetchedManifest> resolved = client->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), {});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->digest, upstream.digest());
  EXPECT_EQ(empty_mirror.requests().size(), 1u);
  ASSERT_EQ(upstream.requests().size(), 1u);
  EXPECT_EQ(Target(upstream.requests()[0]), absl::StrCat("/v2/team/app/manifests/v1?ns=", kRegistry));
  EXPECT_EQ(client->RequestCount(), 3u);  // closed mirror, empty mirror, server
}

TEST(RegistryClientHosts, TagsAreResolvedOnlyThroughEndpointsThatMayResolve) {
  FakeRegistry pull_only({.flavour = "upstream"});  // same content as the server
  FakeRegistry upstream({.flavour = "upstream"});
  HostsFolder folder(absl::StrCat("server = \"", upstream.url(), "\"\n[host.\"", pull_only.url(),
                                  "\"]\n  capabilities = [\"pull\"]\n"));
  auto client = Client(folder);
  ASSERT_TRUE(client->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), {}).ok());
  EXPECT_TRUE(pull_only.requests().empty());
  EXPECT_EQ(upstream.requests().size(), 1u);
  // By digest: the pull-only mirror first.
  absl::StatusOr<FetchedManifest> by_digest =
      client->GetManifest(Ref(absl::StrCat(kRegistry, "/team/app")), upstream.digest(), {});
  ASSERT_TRUE(by_digest.ok()) << by_digest.status();
  EXPECT_EQ(pull_only.requests().size(), 1u);
  EXPECT_EQ(upstream.requests().size(), 1u);
}

TEST(RegistryClientHosts, WhenAllFailTheFirstErrorThatIsNotA404IsReturned) {
  FakeRegistry broken({.flavour = "x", .status = 500});
  FakeRegistry empty({.flavour = "x", .status = 404});
  {
    HostsFolder folder(absl::StrCat("server = \"", empty.url(), "\"\n[host.\"", broken.url(), "\"]\n"));
    absl::StatusOr<FetchedManifest> resolved =
        Client(folder)->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), {});
    EXPECT_EQ(resolved.status().code(), absl::StatusCode::kUnavailable) << resolved.status();
  }
  {
    HostsFolder folder(absl::StrCat("server = \"", empty.url(), "\"\n[host.\"", empty.url(), "/other\"]\n"));
    absl::StatusOr<FetchedManifest> resolved =
        Client(folder)->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), {});
    EXPECT_EQ(resolved.status().code(), absl::StatusCode::kNotFound) << resolved.status();
  }
}

TEST(RegistryClientHosts, CredentialsGoToTheRegistryItselfNeverToAMirror) {
  FakeRegistry mirror({.flavour = "mirror", .basic = "puller:pw-1234"});
  FakeRegistry server({.flavour = "server", .basic = "puller:pw-1234"});
  HostsFolder folder(absl::StrCat("server = \"", server.url(), "\"\n[host.\"", mirror.url(), "\"]\n"));
  auto client = Client(folder);
  Credentials credentials;
  credentials.username = "puller";
  credentials.password = "pw-1234";
  absl::StatusOr<FetchedManifest> resolved =
      client->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), credentials);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  // The mirror was asked anonymously and refused; the server, the registry itself, got them.
  EXPECT_EQ(resolved->digest, server.digest());
  ASSERT_FALSE(mirror.requests().empty());
  for (const auto& request : mirror.requests()) {
    EXPECT_EQ(HeaderValue(request.head, "Authorization"), "") << request.head;
  }
  bool server_saw_credentials = false;
  for (const auto& request : server.requests()) {
    server_saw_credentials = server_saw_credentials || !HeaderValue(request.head, "Authorization").empty();
  }
  EXPECT_TRUE(server_saw_credentials);
}

TEST(RegistryClientHosts, NoEndpointThatMayResolveIsAnErrorSayingSo) {
  FakeRegistry mirror({.flavour = "mirror"});
  HostsFolder folder(absl::StrCat("server = \"", mirror.url(), "\"\ncapabilities = [\"pull\"]\n[host.\"", mirror.url(),
                                  "\"]\n  capabilities = [\"pull\"]\n"));
  absl::StatusOr<FetchedManifest> resolved = Client(folder)->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), {});
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kFailedPrecondition) << resolved.status();
  EXPECT_THAT(resolved.status().message(), HasSubstr("pull and resolve"));
  EXPECT_TRUE(mirror.requests().empty());
}

TEST(RegistryClientHosts, MalformedHostsTomlFailsCreateNamingFileAndLine) {
  HostsFolder folder("[host.\"https://m.example\"]\n  capabilities = [\"pull\"]\n  colour = \"blue\"\n");
  RegistryClientOptions options;
  options.hosts_config_path = folder.root();
  absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(client.status().message()), StartsWith(absl::StrCat(folder.root(), "/", kRegistry, "/hosts.toml:3: ")));
}

TEST(RegistryClientHosts, HttpEndpointWithTlsSettingsTriesHttpsFirstAndHttpsEndpointNeverFallsBack) {
  FakeRegistry mirror({.flavour = "mirror"});
  const std::string authority = mirror.url().substr(std::string("http://").size());
  {
    // containerd >= 1.6.25: http:// with TLS settings on a port other than 80 tries HTTPS first.
    HostsFolder folder(absl::StrCat("server = \"", ClosedUrl(), "\"\n[host.\"", mirror.url(), "\"]\n  skip_verify = true\n"));
    auto client = Client(folder);
    absl::StatusOr<FetchedManifest> resolved = client->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), {});
    ASSERT_TRUE(resolved.ok()) << resolved.status();
    EXPECT_EQ(resolved->digest, mirror.digest());
    EXPECT_EQ(client->RequestCount(), 2u);  // the handshake answered in plain HTTP, then plain HTTP
    ASSERT_TRUE(client->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), {}).ok());
    EXPECT_EQ(client->RequestCount(), 3u);  // remembered
  }
  {
    // Written https://: a plain-HTTP answer is an error naming the hosts.toml line to change.
    HostsFolder folder(absl::StrCat("server = \"", ClosedUrl(), "\"\n[host.\"https://", authority, "\"]\n"));
    absl::StatusOr<FetchedManifest> resolved =
        Client(folder)->Resolve(Ref(absl::StrCat(kRegistry, "/team/app:v1")), {});
    ASSERT_FALSE(resolved.ok());
    EXPECT_THAT(resolved.status().message(), HasSubstr(absl::StrCat("write it as http://", authority)));
    EXPECT_THAT(resolved.status().message(), HasSubstr(absl::StrCat(folder.root(), "/", kRegistry, "/hosts.toml:2")));
  }
}

TEST(RegistryClientHosts, RegistryWithoutAFolderIsReachedAsWithoutConfiguration) {
  FakeRegistry registry({.flavour = "direct"});
  HostsFolder folder("[host.\"https://unused.example\"]\n");
  // A loopback registry without a folder: HTTPS first, then plain HTTP (as containerd >= 1.6.25).
  const std::string host = registry.url().substr(std::string("http://").size());
  auto client = Client(folder);
  absl::StatusOr<FetchedManifest> resolved = client->Resolve(Ref(host + "/team/app:v1"), {});
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->digest, registry.digest());
  ASSERT_EQ(registry.requests().size(), 1u);
  EXPECT_EQ(Target(registry.requests()[0]), "/v2/team/app/manifests/v1");  // no ns: the registry itself
}

}  // namespace
}  // namespace sigshim::registry
