// RegistryHosts: containerd's hosts.toml folders read as containerd 1.6 reads them (every key, the
// order of [host."…"] tables, the defaults), each malformed file refused with its file and line,
// and hostile folders (huge files, deep nesting, symbolic link loops) refused without harm.
#include "pkg/registry/hosts.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"

namespace sigshim::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A temporary config_path folder with host folders, removed at the end.
class HostsFolder {
 public:
  HostsFolder() {
    char dir_template[] = "/tmp/sigshim-hosts-test-XXXXXX";
    EXPECT_NE(mkdtemp(dir_template), nullptr);
    root_ = dir_template;
  }
  ~HostsFolder() { std::filesystem::remove_all(root_); }

  const std::string& root() const { return root_; }
  std::string Path(const std::string& relative) const { return absl::StrCat(root_, "/", relative); }

  // Writes `text` to root/<relative>, creating folders.
  void Write(const std::string& relative, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(Path(relative)).parent_path());
    ASSERT_TRUE(WriteFileAtomic(Path(relative), text, 0644).ok());
  }

  // Makes a CA certificate (ca.pem) and a client certificate with its key (client.pem,
  // client.key) in root/<folder> with the openssl command.
  void MakeCertificates(const std::string& folder) const {
    std::filesystem::create_directories(Path(folder));
    const std::string dir = Path(folder);
    const std::string command = absl::StrCat(
        "cd ", dir, " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=ca ",
        "-keyout ca.key -out ca.pem >/dev/null 2>&1 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 ",
        "-nodes -days 1 -subj /CN=client -keyout client.key -out client.pem >/dev/null 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0) << "openssl could not make certificates";
  }

  absl::StatusOr<std::shared_ptr<const RegistryHosts>> Load() const { return RegistryHosts::Load({.config_path = root_}); }

 private:
  std::string root_;
};

std::string UrlOf(const HostEndpoint& e) { return absl::StrCat(e.scheme, "://", e.host, e.path); }

TEST(RegistryHosts, MirrorsComeInFileOrderThenTheServer) {
  HostsFolder folder;
  folder.Write("registry.example/hosts.toml", R"(server = "https://registry.example"

[host."https://zz-mirror.example"]
  capabilities = ["pull", "resolve"]

[host."http://127.0.0.1:5000"]
  capabilities = ["pull"]

[host."https://aa-mirror.example/prefix"]
)");
  auto hosts = folder.Load();
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  std::vector<HostEndpoint> endpoints = (*hosts)->EndpointsFor("registry.example");
  ASSERT_EQ(endpoints.size(), 4u);
  EXPECT_EQ(UrlOf(endpoints[0]), "https://zz-mirror.example/v2");
  EXPECT_EQ(endpoints[0].capabilities, kCapabilityPull | kCapabilityResolve);
  EXPECT_EQ(UrlOf(endpoints[1]), "http://127.0.0.1:5000/v2");
  EXPECT_EQ(endpoints[1].capabilities, kCapabilityPull);
  EXPECT_FALSE(endpoints[1].http_fallback);  // http without TLS settings: plain HTTP only
  EXPECT_EQ(UrlOf(endpoints[2]), "https://aa-mirror.example/prefix/v2");
  EXPECT_EQ(endpoints[2].capabilities, kAllCapabilities);  // no capabilities key: all of them
  EXPECT_EQ(UrlOf(endpoints[3]), "https://registry.example/v2");
  EXPECT_FALSE(endpoints[3].defaulted);
  EXPECT_EQ(endpoints[0].origin, folder.Path("registry.example/hosts.toml:3"));
  EXPECT_EQ(endpoints[3].origin, folder.Path("registry.example/hosts.toml:1"));
  // Another registry has no folder: itself, over HTTPS.
  std::vector<HostEndpoint> other = (*hosts)->EndpointsFor("other.example:5000");
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(UrlOf(other[0]), "https://other.example:5000/v2");
  EXPECT_TRUE(other[0].defaulted);
}

TEST(RegistryHosts, ServerDefaultsAsContainerdDoes) {
  HostsFolder folder;
  folder.Write("docker.io/hosts.toml", "[host.\"https://mirror.example\"]\n");
  folder.Write("localhost_5000_/hosts.toml", "[host.\"https://mirror.example\"]\n");
  auto hosts = folder.Load();
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  // No server: docker.io is reached at registry-1.docker.io.
  std::vector<HostEndpoint> docker = (*hosts)->EndpointsFor("docker.io");
  ASSERT_EQ(docker.size(), 2u);
  EXPECT_EQ(UrlOf(docker[1]), "https://registry-1.docker.io/v2");
  EXPECT_TRUE(docker[1].defaulted);
  // host:port is looked up as host_port_; a loopback server: HTTPS without verification first,
  // plain HTTP when the server answers so (containerd >= 1.6.25).
  std::vector<HostEndpoint> local = (*hosts)->EndpointsFor("localhost:5000");
  ASSERT_EQ(local.size(), 2u);
  EXPECT_EQ(UrlOf(local[1]), "https://localhost:5000/v2");
  EXPECT_TRUE(local[1].http_fallback);
  ASSERT_NE(local[1].tls, nullptr);
  EXPECT_TRUE(local[1].tls->skip_verify);
  // Loopback registries without a folder: port 80 is plain HTTP, 443 and none HTTPS only.
  EXPECT_EQ(UrlOf((*hosts)->EndpointsFor("127.0.0.1:80")[0]), "http://127.0.0.1:80/v2");
  EXPECT_FALSE((*hosts)->EndpointsFor("127.0.0.1:443")[0].http_fallback);
  EXPECT_EQ(UrlOf((*hosts)->EndpointsFor("localhost")[0]), "https://localhost/v2");
  EXPECT_TRUE((*hosts)->EndpointsFor("[::1]:5000")[0].http_fallback);
}

TEST(RegistryHosts, DefaultFolderAppliesToEveryOtherHostAndHostPortFolderNamesWork) {
  HostsFolder folder;
  folder.Write("_default/hosts.toml", "[host.\"https://everything.example\"]\n");
  folder.Write("registry.example:5000/hosts.toml", "[host.\"https://colon.example\"]\n");
  auto hosts = folder.Load();
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  EXPECT_EQ(UrlOf((*hosts)->EndpointsFor("quay.io")[0]), "https://everything.example/v2");
  EXPECT_EQ(UrlOf((*hosts)->EndpointsFor("quay.io")[1]), "https://quay.io/v2");
  EXPECT_EQ(UrlOf((*hosts)->EndpointsFor("registry.example:5000")[0]), "https://colon.example/v2");
  EXPECT_EQ((*hosts)->FolderFor("registry.example:5000"), folder.Path("registry.example:5000"));
}

TEST(RegistryHosts, ReadsEveryKey) {
  HostsFolder folder;
  folder.MakeCertificates("r.example");
  folder.Write("r.example/hosts.toml", R"(server = "r.example:8443"
ca = "ca.pem"
capabilities = ["pull"]

[host."http://mirror.example:5000"]
  capabilities = ["PULL", "Resolve", "push"]
  ca = ["ca.pem", "ca.pem"]
  client = [["client.pem", "client.key"]]
  skip_verify = false
  [host."http://mirror.example:5000".header]
    X-Token = "secret-value"
    X-Multi = ["a", "b"]

[host."https://noncompliant.example/custom/api"]
  override_path = true
  skip_verify = true
  client = "client.pem"
)");
  // client.pem alone must hold its key too: append it.
  {
    auto cert = ReadFile(folder.Path("r.example/client.pem"), 1 << 20);
    auto key = ReadFile(folder.Path("r.example/client.key"), 1 << 20);
    ASSERT_TRUE(cert.ok() && key.ok());
    folder.Write("r.example/client.pem", *cert + *key);
  }
  auto hosts = folder.Load();
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  std::vector<HostEndpoint> endpoints = (*hosts)->EndpointsFor("r.example");
  ASSERT_EQ(endpoints.size(), 3u);
  const HostEndpoint& mirror = endpoints[0];
  // http with TLS settings on a port other than 80: HTTPS first, plain HTTP as a fallback.
  EXPECT_EQ(UrlOf(mirror), "https://mirror.example:5000/v2");
  EXPECT_TRUE(mirror.http_fallback);
  EXPECT_EQ(mirror.capabilities, kAllCapabilities);
  ASSERT_NE(mirror.tls, nullptr);
  EXPECT_FALSE(mirror.tls->skip_verify);
  EXPECT_THAT(mirror.tls->extra_ca_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(mirror.tls->client_cert_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(mirror.tls->client_key_pem, HasSubstr("PRIVATE KEY"));
  EXPECT_THAT(mirror.headers, ElementsAre(std::pair<std::string, std::string>("X-Multi", "a"),
                                          std::pair<std::string, std::string>("X-Multi", "b"),
                                          std::pair<std::string, std::string>("X-Token", "secret-value")));
  const HostEndpoint& noncompliant = endpoints[1];
  EXPECT_EQ(UrlOf(noncompliant), "https://noncompliant.example/custom/api");  // override_path: no /v2
  ASSERT_NE(noncompliant.tls, nullptr);
  EXPECT_TRUE(noncompliant.tls->skip_verify);
  EXPECT_THAT(noncompliant.tls->client_key_pem, HasSubstr("PRIVATE KEY"));  // from the same file
  EXPECT_NE(noncompliant.tls->pool_key, mirror.tls->pool_key);
  const HostEndpoint& server = endpoints[2];
  EXPECT_EQ(UrlOf(server), "https://r.example:8443/v2");  // no scheme: https
  EXPECT_EQ(server.capabilities, kCapabilityPull);         // the root keys are the server's
  ASSERT_NE(server.tls, nullptr);
  EXPECT_THAT(server.tls->extra_ca_pem, HasSubstr("BEGIN CERTIFICATE"));
}

TEST(RegistryHosts, WithoutHostsTomlReadsDockersCertificateLayout) {
  HostsFolder folder;
  folder.MakeCertificates("certs.example");
  std::filesystem::rename(folder.Path("certs.example/ca.pem"), folder.Path("certs.example/ca.crt"));
  std::filesystem::rename(folder.Path("certs.example/client.pem"), folder.Path("certs.example/client.cert"));
  auto hosts = folder.Load();
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  std::vector<HostEndpoint> endpoints = (*hosts)->EndpointsFor("certs.example");
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_EQ(UrlOf(endpoints[0]), "https://certs.example/v2");
  ASSERT_NE(endpoints[0].tls, nullptr);
  EXPECT_THAT(endpoints[0].tls->extra_ca_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(endpoints[0].tls->client_key_pem, HasSubstr("PRIVATE KEY"));
}

// Returns the error of loading a folder whose r.example/hosts.toml is `text`.
std::string LoadError(const std::string& text, HostsFolder& folder) {
  folder.Write("r.example/hosts.toml", text);
  auto hosts = folder.Load();
  if (hosts.ok()) return "loaded";
  EXPECT_EQ(hosts.status().code(), absl::StatusCode::kInvalidArgument) << hosts.status();
  return std::string(hosts.status().message());
}

TEST(RegistryHosts, MalformedFilesNameFileAndLine) {
  HostsFolder folder;
  const std::string file = folder.Path("r.example/hosts.toml");
  struct Case {
    std::string text;
    std::string where;
    std::string what;
  };
  const Case cases[] = {
      {"[host.\"https://m\"]\nskip_verify = true\nbogus = 1\n", ":3: ", "unknown key \"bogus\""},
      {"unknown_root = 1\n[host.\"https://m\"]\n", ":1: ", "unknown key \"unknown_root\""},
      {"[host.\"https://m\"]\ncapabilities = [\"pull\", \"fly\"]\n", ":2: ", "unknown capability \"fly\""},
      {"[host.\"https://m\"]\ncapabilities = \"pull\"\n", ":2: ", "capabilities must be an array"},
      {"[host.\"https://m\"]\nskip_verify = \"yes\"\n", ":2: ", "skip_verify must be a boolean"},
      {"[host.\"https://m\"]\noverride_path = 1\n", ":2: ", "override_path must be a boolean"},
      {"[host.\"https://m\"]\nca = 5\n", ":2: ", "ca must be a string or an array"},
      {"[host.\"https://m\"]\nca = \"missing.pem\"\n", ":2: ", "missing.pem"},
      {"[host.\"https://m\"]\nclient = [[\"a\"]]\n", ":2: ", "client pairs must be"},
      {"[host.\"https://m\"]\nclient = 1\n", ":2: ", "client must be a string or an array"},
      {"[host.\"https://m\"]\n[host.\"https://m\".header]\nx = 1\n", ":3: ", "header x must be a string"},
      {"[host.\"https://m\"]\n[host.\"https://m\".header]\n\"bad name\" = \"v\"\n", ":3: ", "is not an HTTP field name"},
      {"[host.\"ftp://m\"]\n", ":1: ", "is not a usable URL"},
      {"server = 5\n[host.\"https://m\"]\n", ":1: ", "server must be a string"},
      {"server = \"https://r.example\"\n", ":1: ", "no [host.\"…\"] table"},
      {"host = 3\n", ":1: ", "host must be a table"},
      {"[host.\"https://m\"]\nskip_verify = tru\n", ":2: ", "not valid TOML"},
  };
  for (const Case& c : cases) {
    std::string error = LoadError(c.text, folder);
    EXPECT_THAT(error, StartsWith(file + c.where)) << c.text;
    EXPECT_THAT(error, HasSubstr(c.what)) << c.text;
  }
}

TEST(RegistryHosts, HeaderValuesNeverAppearInErrors) {
  HostsFolder folder;
  std::string error =
      LoadError("[host.\"https://m\"]\n[host.\"https://m\".header]\nAuthorization = \"Bearer top-secret\nx\"\n", folder);
  EXPECT_THAT(error, HasSubstr("not valid TOML"));
  EXPECT_THAT(error, Not(HasSubstr("top-secret")));
  error = LoadError("[host.\"https://m\"]\n[host.\"https://m\".header]\nAuthorization = \"top-secret\\r\\nX: y\"\n", folder);
  EXPECT_THAT(error, HasSubstr("control character"));
  EXPECT_THAT(error, Not(HasSubstr("top-secret")));
}

TEST(RegistryHosts, ClientKeyThatDoesNotMatchIsRefused) {
  HostsFolder folder;
  folder.MakeCertificates("r.example");
  std::string error = LoadError("[host.\"https://m\"]\nclient = [[\"client.pem\", \"ca.key\"]]\n", folder);
  EXPECT_THAT(error, StartsWith(folder.Path("r.example/hosts.toml:2: ")));
  EXPECT_THAT(error, HasSubstr("does not match"));
}

TEST(RegistryHosts, HostileInputIsRefusedWithoutHarm) {
  HostsFolder folder;
  // Deep nesting would overflow toml11's recursive parser: refused before it.
  std::string error = LoadError("[host.\"https://m\"]\nx = " + std::string(100000, '[') + std::string(100000, ']'), folder);
  EXPECT_THAT(error, StartsWith(folder.Path("r.example/hosts.toml:2: nested deeper than")));
  std::string dotted = "a";
  for (int i = 0; i < 50000; ++i) dotted += ".a";
  error = LoadError("[host.\"https://m\"]\n" + dotted + " = 1\n", folder);
  EXPECT_THAT(error, HasSubstr("dotted key parts"));
  // Brackets inside strings and comments are not nesting.
  EXPECT_EQ(LoadError("# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n[host.\"https://m/[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]\n",
                      folder),
            "loaded");
  // A huge file is not read.
  folder.Write("r.example/hosts.toml", "[host.\"https://m\"]\n" + std::string(2 << 20, '#'));
  auto huge = folder.Load();
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  EXPECT_THAT(huge.status().message(), HasSubstr(folder.Path("r.example/hosts.toml")));
}

TEST(RegistryHosts, SymbolicLinkLoopsAreErrorsNamingThePath) {
  {
    HostsFolder folder;
    ASSERT_EQ(symlink(folder.Path("loop").c_str(), folder.Path("loop").c_str()), 0);
    auto hosts = folder.Load();
    ASSERT_FALSE(hosts.ok());
    EXPECT_THAT(hosts.status().message(), HasSubstr(folder.Path("loop")));
  }
  {
    HostsFolder folder;
    std::filesystem::create_directories(folder.Path("r.example"));
    ASSERT_EQ(symlink(folder.Path("r.example/hosts.toml").c_str(), folder.Path("r.example/hosts.toml").c_str()), 0);
    auto hosts = folder.Load();
    ASSERT_FALSE(hosts.ok());
    EXPECT_THAT(hosts.status().message(), HasSubstr(folder.Path("r.example/hosts.toml")));
  }
  {
    // A link to the folder that holds it is only a folder without hosts.toml.
    HostsFolder folder;
    std::filesystem::create_directories(folder.Path("r.example"));
    ASSERT_EQ(symlink(folder.root().c_str(), folder.Path("r.example/up").c_str()), 0);
    ASSERT_EQ(symlink(folder.root().c_str(), folder.Path("self.example").c_str()), 0);
    auto hosts = folder.Load();
    ASSERT_TRUE(hosts.ok()) << hosts.status();
    EXPECT_EQ(UrlOf((*hosts)->EndpointsFor("r.example")[0]), "https://r.example/v2");
  }
  {
    // A dangling link is no folder, as for containerd.
    HostsFolder folder;
    ASSERT_EQ(symlink("/nonexistent/sigshim", folder.Path("r.example").c_str()), 0);
    auto hosts = folder.Load();
    ASSERT_TRUE(hosts.ok()) << hosts.status();
    EXPECT_EQ((*hosts)->FolderFor("r.example"), "");
  }
}

TEST(RegistryHosts, MissingConfigPathIsNotFound) {
  auto hosts = RegistryHosts::Load({.config_path = "/nonexistent/sigshim-certs.d"});
  EXPECT_EQ(hosts.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(hosts.status().message(), HasSubstr("/nonexistent/sigshim-certs.d"));
}

TEST(RegistryHosts, SeveralFoldersAreSearchedInOrder) {
  HostsFolder first, second;
  second.Write("r.example/hosts.toml", "[host.\"https://second.example\"]\n");
  second.Write("q.example/hosts.toml", "[host.\"https://q-second.example\"]\n");
  first.Write("q.example/hosts.toml", "[host.\"https://q-first.example\"]\n");
  auto hosts = RegistryHosts::Load({.config_path = first.root() + ":" + second.root()});
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  EXPECT_EQ(UrlOf((*hosts)->EndpointsFor("r.example")[0]), "https://second.example/v2");
  EXPECT_EQ(UrlOf((*hosts)->EndpointsFor("q.example")[0]), "https://q-first.example/v2");
}

}  // namespace
}  // namespace sigshim::registry
