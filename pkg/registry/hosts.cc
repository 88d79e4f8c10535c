#include "pkg/registry/hosts.h"

#include <dirent.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <sstream>
#include <toml.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/base/toml_type_name.h"
#include "pkg/base/log.h"
#include "pkg/base/status_macros.h"
#include "pkg/registry/url.h"

namespace sigshim::registry {
namespace {

// Brackets and braces nested deeper than this, or more dots in one line's keys, are refused
// before toml11 sees the text: its parser recurses once per level and a few thousand levels
// overflow the stack.
constexpr int kMaxNesting = 32;
constexpr int kMaxDotsPerLine = 64;
// [host."…"] tables in one hosts.toml.
constexpr size_t kMaxHostTables = 256;

std::string JoinPath(absl::string_view folder, absl::string_view name) {
  if (!name.empty() && name[0] == '/') return std::string(name);
  if (absl::EndsWith(folder, "/")) return absl::StrCat(folder, name);
  return absl::StrCat(folder, "/", name);
}

// Returns "<file>:<line>" for `v`, or "<file>" when toml11 kept no line.
std::string Where(const toml::value& v, const std::string& file) {
  const size_t line = v.location().line();
  return line == 0 ? file : absl::StrCat(file, ":", line);
}

// Refuses text nested too deep for toml11 (see kMaxNesting). Strings and comments are skipped.
absl::Status CheckNesting(absl::string_view text, const std::string& file) {
  int depth = 0;
  int dots = 0;
  size_t line = 1;
  size_t i = 0;
  auto too_deep = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", what));
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      dots = 0;
      ++i;
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool multi = text.substr(i, 3) == std::string(3, c);
      const std::string close = multi ? std::string(3, c) : std::string(1, c);
      i += close.size();
      while (i < text.size()) {
        if (text[i] == '\n') {
          if (!multi) break;  // toml11 reports the unterminated string.
          ++line;
        }
        if (c == '"' && text[i] == '\\') {
          if (i + 1 < text.size() && text[i + 1] == '\n') ++line;
          i += 2;
          continue;
        }
        if (text.substr(i, close.size()) == close) {
          i += close.size();
          break;
        }
        ++i;
      }
    } else {
      if (c == '[' || c == '{') {
        if (++depth > kMaxNesting) return too_deep(absl::StrCat("nested deeper than ", kMaxNesting, " levels"));
      } else if (c == ']' || c == '}') {
        if (depth > 0) --depth;
      } else if (c == '.') {
        if (++dots > kMaxDotsPerLine) return too_deep(absl::StrCat("more than ", kMaxDotsPerLine, " dotted key parts"));
      }
      ++i;
    }
  }
  return absl::OkStatus();
}

// Turns toml11's syntax report into "<file>:<line>: not valid TOML: <what>". Only the first line
// of the report is kept: the rest quotes the file, and a hosts.toml header may hold a credential.
std::string TomlSyntaxError(const std::string& file, absl::string_view report) {
  std::string line = "1";
  for (absl::string_view row : absl::StrSplit(report, '\n')) {
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
  return absl::StrCat(file, ":", line, ": not valid TOML: ", first);
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(c) || absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

// Returns the number of certificates in `pem`.
int CountCertificates(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return 0;
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    ++count;
    X509_free(cert);
  }
  ERR_clear_error();
  BIO_free(bio);
  return count;
}

// Checks that `cert_pem` starts with a certificate and `key_pem` holds the matching private key.
// The message never quotes the key.
absl::Status CheckClientPair(const std::string& cert_pem, const std::string& key_pem) {
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = cert_bio == nullptr ? nullptr : PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = key_bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  absl::Status status;
  if (cert == nullptr) {
    status = absl::InvalidArgumentError("holds no PEM certificate");
  } else if (key == nullptr) {
    status = absl::InvalidArgumentError("no unencrypted PEM private key found for the certificate");
  } else if (X509_check_private_key(cert, key) != 1) {
    status = absl::InvalidArgumentError("the private key does not match the certificate");
  }
  ERR_clear_error();
  X509_free(cert);
  EVP_PKEY_free(key);
  return status;
}

// The TLS settings of one endpoint while it is being read.
struct PendingTls {
  bool configured = false;  // any of ca, client, skip_verify given
  std::vector<std::string> ca_pems;
  std::string cert_pem, key_pem;
  bool skip_verify = false;
};

std::shared_ptr<const TlsSettings> Finish(const PendingTls& pending) {
  if (!pending.configured) return nullptr;
  auto tls = std::make_shared<TlsSettings>();
  tls->extra_ca_pem = absl::StrJoin(pending.ca_pems, "\n");
  tls->client_cert_pem = pending.cert_pem;
  tls->client_key_pem = pending.key_pem;
  tls->skip_verify = pending.skip_verify;
  tls->pool_key = Sha256Hex(absl::StrCat(tls->extra_ca_pem.size(), ":", tls->extra_ca_pem, "|",
                                         tls->client_cert_pem.size(), ":", tls->client_cert_pem, "|",
                                         tls->client_key_pem.size(), ":", tls->client_key_pem, "|",
                                         tls->skip_verify ? "skip" : "verify"));
  return tls;
}

// Reads one hosts.toml table (the root or a [host."…"] table) into an endpoint.
class TableReader {
 public:
  TableReader(const std::string& file, const std::string& folder, size_t max_file_bytes)
      : file_(file), folder_(folder), max_file_bytes_(max_file_bytes) {}

  absl::Status Error(const toml::value& at, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(Where(at, file_), ": ", message));
  }

  // Reads `server` (a URL, "https://" assumed without a scheme) into `out` as containerd's
  // parseHostConfig does; `override_path` keeps its path as written.
  absl::Status ReadUrl(const toml::value& at, absl::string_view what, std::string server, bool override_path,
                       HostEndpoint& out) const {
    if (!absl::StartsWith(server, "http")) {
      if (absl::StrContains(server, "://")) return Error(at, absl::StrCat(what, " is not a usable URL: the scheme must be http or https"));
      server = absl::StrCat("https://", server);
    }
    absl::StatusOr<Url> url = ParseUrl(server);
    if (!url.ok()) return Error(at, absl::StrCat(what, " is not a usable URL: ", url.status().message()));
    if (absl::StrContains(url->path_and_query, '?')) {
      return Error(at, absl::StrCat(what, " must not have a query string"));
    }
    out.scheme = url->scheme;
    out.host = absl::AsciiStrToLower(url->authority);
    std::string path = CleanPath(url->path_and_query);
    if (!override_path && !absl::EndsWith(path, "/v2")) path += "/v2";
    out.path = path;
    return absl::OkStatus();
  }

  // Reads the endpoint keys of `table` (not `server` or `host`) into `out`. `section` names the
  // table in messages.
  absl::Status ReadEndpoint(const toml::value& table, absl::string_view section, bool allow_root_keys,
                            HostEndpoint& out, bool& override_path) const {
    PendingTls tls;
    override_path = false;
    bool has_capabilities = false;
    for (const auto& [key, v] : table.as_table()) {
      if (key == "capabilities") {
        if (!v.is_array()) return Error(v, absl::StrCat(section, "capabilities must be an array of strings, not ", TomlTypeName(v)));
        uint32_t caps = 0;
        for (const toml::value& item : v.as_array()) {
          if (!item.is_string()) return Error(item, absl::StrCat(section, "capabilities must hold strings, not ", TomlTypeName(item)));
          const std::string name = absl::AsciiStrToLower(item.as_string().str);
          if (name == "pull") {
            caps |= kCapabilityPull;
          } else if (name == "resolve") {
            caps |= kCapabilityResolve;
          } else if (name == "push") {
            caps |= kCapabilityPush;
          } else {
            return Error(item, absl::StrCat("unknown capability \"", absl::CHexEscape(item.as_string().str.substr(0, 40)),
                                            "\" (known: pull, resolve, push)"));
          }
        }
        has_capabilities = !v.as_array().empty();
        out.capabilities = has_capabilities ? caps : kAllCapabilities;
      } else if (key == "ca") {
        tls.configured = true;
        std::vector<const toml::value*> items;
        if (v.is_string()) {
          items.push_back(&v);
        } else if (v.is_array()) {
          for (const toml::value& item : v.as_array()) items.push_back(&item);
        } else {
          return Error(v, absl::StrCat(section, "ca must be a string or an array of strings, not ", TomlTypeName(v)));
        }
        for (const toml::value* item : items) {
          if (!item->is_string()) return Error(*item, absl::StrCat(section, "ca must hold strings, not ", TomlTypeName(*item)));
          const std::string path = JoinPath(folder_, item->as_string().str);
          ASSIGN_OR_RETURN(std::string pem, ReadNamedFile(*item, "ca", path));
          if (CountCertificates(pem) == 0) return Error(*item, absl::StrCat("ca \"", path, "\" holds no PEM certificate"));
          tls.ca_pems.push_back(std::move(pem));
          out.ca_files.push_back(path);
        }
      } else if (key == "client") {
        tls.configured = true;
        RETURN_IF_ERROR(ReadClient(v, section, tls, out));
      } else if (key == "skip_verify") {
        if (!v.is_boolean()) return Error(v, absl::StrCat(section, "skip_verify must be a boolean, not ", TomlTypeName(v)));
        tls.configured = true;
        tls.skip_verify = v.as_boolean();
      } else if (key == "override_path") {
        if (!v.is_boolean()) return Error(v, absl::StrCat(section, "override_path must be a boolean, not ", TomlTypeName(v)));
        override_path = v.as_boolean();
        out.override_path = override_path;
      } else if (key == "header") {
        RETURN_IF_ERROR(ReadHeader(v, section, out));
      } else if (!(allow_root_keys && (key == "server" || key == "host"))) {
        return Error(v, absl::StrCat("unknown key \"", absl::CHexEscape(key.substr(0, 60)), "\" in ",
                                     allow_root_keys ? absl::string_view("the file")
                                                     : absl::StripTrailingAsciiWhitespace(section),
                                     " (known keys: capabilities, ca, client, skip_verify, override_path, header",
                                     allow_root_keys ? ", server, host)" : ")"));
      }
    }
    out.tls = Finish(tls);
    return absl::OkStatus();
  }

 private:
  // Removes "." and ".." segments and repeated and trailing slashes; "" for the root.
  static std::string CleanPath(absl::string_view path) {
    std::vector<absl::string_view> parts;
    for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
      if (part == ".") continue;
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
        continue;
      }
      parts.push_back(part);
    }
    return parts.empty() ? std::string() : absl::StrCat("/", absl::StrJoin(parts, "/"));
  }

  absl::StatusOr<std::string> ReadNamedFile(const toml::value& at, absl::string_view key,
                                            const std::string& path) const {
    absl::StatusOr<std::string> data = ReadFile(path, max_file_bytes_);
    if (!data.ok()) return Error(at, absl::StrCat(key, ": ", data.status().message()));
    return data;
  }

  absl::Status ReadClient(const toml::value& v, absl::string_view section, PendingTls& tls, HostEndpoint& out) const {
    // A string (certificate and key in one file), or an array of such strings and [cert, key] pairs.
    std::vector<std::pair<const toml::value*, const toml::value*>> pairs;
    if (v.is_string()) {
      pairs.emplace_back(&v, nullptr);
    } else if (v.is_array()) {
      for (const toml::value& item : v.as_array()) {
        if (item.is_string()) {
          pairs.emplace_back(&item, nullptr);
        } else if (item.is_array()) {
          const auto& pair = item.as_array();
          if (pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
            return Error(item, absl::StrCat(section, "client pairs must be [\"<certificate file>\", \"<key file>\"]"));
          }
          pairs.emplace_back(&pair[0], &pair[1]);
        } else {
          return Error(item, absl::StrCat(section, "client must hold strings or [certificate, key] pairs, not ", TomlTypeName(item)));
        }
      }
    } else {
      return Error(v, absl::StrCat(section, "client must be a string or an array, not ", TomlTypeName(v)));
    }
    for (size_t i = 0; i < pairs.size(); ++i) {
      const std::string cert_path = JoinPath(folder_, pairs[i].first->as_string().str);
      ASSIGN_OR_RETURN(std::string cert, ReadNamedFile(*pairs[i].first, "client", cert_path));
      std::string key = cert;
      std::string key_path = cert_path;
      if (pairs[i].second != nullptr) {
        key_path = JoinPath(folder_, pairs[i].second->as_string().str);
        ASSIGN_OR_RETURN(key, ReadNamedFile(*pairs[i].second, "client", key_path));
      }
      if (absl::Status pair = CheckClientPair(cert, key); !pair.ok()) {
        return Error(*pairs[i].first, absl::StrCat("client \"", cert_path, "\" (key \"", key_path, "\"): ", pair.message()));
      }
      out.client_files.emplace_back(cert_path, key_path);
      // libcurl presents one certificate: the first pair, as Go does when the server names no
      // acceptable CA that would pick another.
      if (i == 0) {
        tls.cert_pem = std::move(cert);
        tls.key_pem = std::move(key);
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadHeader(const toml::value& v, absl::string_view section, HostEndpoint& out) const {
    if (!v.is_table()) return Error(v, absl::StrCat(section, "header must be a table, not ", TomlTypeName(v)));
    for (const auto& [name, value] : v.as_table()) {
      if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
        return Error(value, absl::StrCat("header name \"", absl::CHexEscape(name.substr(0, 60)), "\" is not an HTTP field name"));
      }
      std::vector<const toml::value*> items;
      if (value.is_string()) {
        items.push_back(&value);
      } else if (value.is_array()) {
        for (const toml::value& item : value.as_array()) items.push_back(&item);
      } else {
        return Error(value, absl::StrCat("header ", name, " must be a string or an array of strings, not ", TomlTypeName(value)));
      }
      for (const toml::value* item : items) {
        if (!item->is_string()) {
          return Error(*item, absl::StrCat("header ", name, " must hold strings, not ", TomlTypeName(*item)));
        }
        const std::string& text = item->as_string().str;
        // The value is never quoted: it may be a credential.
        for (unsigned char c : text) {
          if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return Error(*item, absl::StrCat("header ", name, " has a control character in its value"));
          }
        }
        out.headers.emplace_back(name, text);
      }
    }
    return absl::OkStatus();
  }

  const std::string& file_;
  const std::string& folder_;
  const size_t max_file_bytes_;
};

// Returns the port of `authority` ("host:port", "[v6]:port"), or "" without one.
std::string PortOf(absl::string_view authority) {
  size_t colon = authority.rfind(':');
  if (colon == absl::string_view::npos) return "";
  if (absl::StrContains(authority.substr(colon), "]")) return "";
  return std::string(authority.substr(colon + 1));
}

// Fills in the defaulted endpoint for registry `host` as containerd's ConfigureHosts does.
void FillDefault(absl::string_view host, HostEndpoint& e) {
  e.defaulted = true;
  e.server = true;
  e.origin = e.origin.empty() ? "default" : absl::StrCat(e.origin, " (defaulted server)");
  e.path = "/v2";
  e.capabilities = kAllCapabilities;
  if (host == "docker.io") {
    e.scheme = "https";
    e.host = "registry-1.docker.io";
  } else if (IsLoopbackHost(host)) {
    e.host = std::string(host);
    const std::string port = PortOf(host);
    e.scheme = (port.empty() || port == "443") ? "https" : "http";
    if (port != "80") {
      // containerd skips verification for a loopback registry.
      auto tls = e.tls == nullptr ? std::make_shared<TlsSettings>() : std::make_shared<TlsSettings>(*e.tls);
      tls->skip_verify = true;
      tls->pool_key = Sha256Hex(absl::StrCat(tls->pool_key, "|loopback-skip-verify"));
      e.tls = std::move(tls);
    }
  } else {
    e.scheme = "https";
    e.host = std::string(host);
  }
}

}  // namespace

std::string HostFolderName(absl::string_view host) {
  const size_t colon = host.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return std::string(host);
  return absl::StrCat(host.substr(0, colon), "_", host.substr(colon + 1), "_");
}

absl::StatusOr<std::vector<HostEndpoint>> ParseHostsToml(absl::string_view text, const std::string& file,
                                                         const std::string& folder, size_t max_file_bytes) {
  RETURN_IF_ERROR(CheckNesting(text, file));
  toml::value root;
  try {
    std::istringstream in{std::string(text)};
    root = toml::parse(in, file);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(TomlSyntaxError(file, e.what()));
  }
  TableReader reader(file, folder, max_file_bytes);
  std::vector<HostEndpoint> endpoints;
  try {
    if (!root.contains("host")) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ":1: no [host.\"…\"] table: containerd 1.6 cannot read a hosts.toml without one (it logs \"failed to "
                "decode hosts.toml\" and ignores the file); give the server its own [host.\"<url>\"] table"));
    }
    const toml::value& hosts = root.at("host");
    if (!hosts.is_table()) return reader.Error(hosts, absl::StrCat("host must be a table of [host.\"<url>\"] tables, not ", TomlTypeName(hosts)));
    std::vector<std::pair<std::string, const toml::value*>> ordered;
    for (const auto& [url, table] : hosts.as_table()) ordered.emplace_back(url, &table);
    if (ordered.size() > kMaxHostTables) {
      return reader.Error(hosts, absl::StrCat("more than ", kMaxHostTables, " [host.\"…\"] tables"));
    }
    // toml11 keeps tables in a hash map: their order in the file is that of their source lines,
    // as containerd 1.6 sorts them.
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
      const toml::source_location la = a.second->location(), lb = b.second->location();
      return std::make_pair(la.line(), la.column()) < std::make_pair(lb.line(), lb.column());
    });
    for (const auto& [url, table] : ordered) {
      if (!table->is_table()) return reader.Error(*table, absl::StrCat("host \"", absl::CHexEscape(url.substr(0, 100)), "\" must be a table, not ", TomlTypeName(*table)));
      HostEndpoint endpoint;
      endpoint.origin = Where(*table, file);
      const std::string section = absl::StrCat("[host.\"", absl::CHexEscape(url.substr(0, 100)), "\"] ");
      bool override_path = false;
      RETURN_IF_ERROR(reader.ReadEndpoint(*table, section, false, endpoint, override_path));
      if (url.empty()) return reader.Error(*table, "a [host.\"…\"] table needs a URL");
      RETURN_IF_ERROR(reader.ReadUrl(*table, section, url, override_path, endpoint));
      endpoints.push_back(std::move(endpoint));
    }
    HostEndpoint server;
    server.origin = file;
    server.server = true;
    bool override_path = false;
    RETURN_IF_ERROR(reader.ReadEndpoint(root, "", true, server, override_path));
    if (root.contains("server")) {
      const toml::value& v = root.at("server");
      if (!v.is_string()) return reader.Error(v, absl::StrCat("server must be a string, not ", TomlTypeName(v)));
      server.origin = Where(v, file);
      if (!v.as_string().str.empty()) RETURN_IF_ERROR(reader.ReadUrl(v, "server", v.as_string().str, override_path, server));
    }
    endpoints.push_back(std::move(server));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", e.what()));
  }
  return endpoints;
}

namespace {

// Lists the names in `folder` (not "." and ".."), sorted, at most `max` of them.
absl::StatusOr<std::vector<std::string>> ListFolder(const std::string& folder, size_t max) {
  DIR* dir = opendir(folder.c_str());
  if (dir == nullptr) {
    const int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat(folder, ": no such folder"));
    return absl::InvalidArgumentError(absl::StrCat(folder, ": cannot be read: ", std::strerror(error)));
  }
  std::vector<std::string> names;
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (names.size() >= max) {
      closedir(dir);
      return absl::ResourceExhaustedError(absl::StrCat(folder, ": more than ", max, " entries"));
    }
    names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

// Reads docker's certificate layout in `folder` (no hosts.toml): *.crt files are CAs, *.cert
// files client certificates with their key in the *.key file of the same name (or in themselves).
absl::StatusOr<HostEndpoint> LoadCertFiles(const std::string& folder, const RegistryHostsOptions& options) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListFolder(folder, options.max_entries));
  HostEndpoint server;
  server.origin = folder;
  server.server = true;
  PendingTls tls;
  for (const std::string& name : names) {
    const std::string path = JoinPath(folder, name);
    struct stat info {};
    if (lstat(path.c_str(), &info) != 0 || S_ISDIR(info.st_mode)) continue;  // as containerd's ReadDir
    if (absl::EndsWith(name, ".crt")) {
      ASSIGN_OR_RETURN(std::string pem, ReadFile(path, options.max_file_bytes));
      if (CountCertificates(pem) == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": holds no PEM certificate"));
      tls.ca_pems.push_back(std::move(pem));
      server.ca_files.push_back(path);
      tls.configured = true;
    } else if (absl::EndsWith(name, ".cert")) {
      ASSIGN_OR_RETURN(std::string cert, ReadFile(path, options.max_file_bytes));
      const std::string key_path = JoinPath(folder, absl::StrCat(name.substr(0, name.size() - 5), ".key"));
      absl::StatusOr<std::string> key = ReadFile(key_path, options.max_file_bytes);
      const bool key_in_cert = absl::IsNotFound(key.status());
      if (key_in_cert) key = cert;
      if (!key.ok()) return key.status();
      if (absl::Status pair = CheckClientPair(cert, *key); !pair.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", pair.message()));
      }
      server.client_files.emplace_back(path, key_in_cert ? path : key_path);
      if (tls.cert_pem.empty()) {
        tls.cert_pem = std::move(cert);
        tls.key_pem = *std::move(key);
      }
      tls.configured = true;
    }
  }
  server.tls = Finish(tls);
  return server;
}

absl::StatusOr<std::vector<HostEndpoint>> LoadFolder(const std::string& folder, const RegistryHostsOptions& options) {
  const std::string file = JoinPath(folder, "hosts.toml");
  absl::StatusOr<std::string> text = ReadFile(file, options.max_file_bytes);
  if (!text.ok() && !absl::IsNotFound(text.status())) return text.status();
  if (!text.ok() || text->empty()) {
    ASSIGN_OR_RETURN(HostEndpoint server, LoadCertFiles(folder, options));
    return std::vector<HostEndpoint>{std::move(server)};
  }
  return ParseHostsToml(*text, file, folder, options.max_file_bytes);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RegistryHosts>> RegistryHosts::Load(const RegistryHostsOptions& options) {
  std::shared_ptr<RegistryHosts> hosts(new RegistryHosts());
  for (absl::string_view root : absl::StrSplit(options.config_path, ':', absl::SkipEmpty())) {
    const std::string root_path(root);
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListFolder(root_path, options.max_entries));
    hosts->roots_.push_back(root_path);
    for (const std::string& name : names) {
      const std::string path = JoinPath(root_path, name);
      struct stat info {};
      if (stat(path.c_str(), &info) != 0) {
        const int error = errno;
        if (error == ENOENT) continue;  // a dangling link: containerd looks further, as for no folder
        return absl::InvalidArgumentError(absl::StrCat(path, ": cannot be read: ", std::strerror(error)));
      }
      if (!S_ISDIR(info.st_mode)) continue;
      ASSIGN_OR_RETURN(std::vector<HostEndpoint> endpoints, LoadFolder(path, options));
      hosts->folders_[path] = std::move(endpoints);
    }
  }
  if (hosts->roots_.empty()) return absl::InvalidArgumentError("config_path names no folder");
  return std::shared_ptr<const RegistryHosts>(std::move(hosts));
}

std::string RegistryHosts::FolderFor(absl::string_view host) const {
  std::vector<std::string> candidates;
  const std::string folder_name = HostFolderName(host);
  if (folder_name != host) candidates.push_back(folder_name);
  candidates.emplace_back(host);
  candidates.emplace_back("_default");
  for (const std::string& root : roots_) {
    for (const std::string& candidate : candidates) {
      const std::string path = JoinPath(root, candidate);
      if (folders_.count(path) > 0) return path;
    }
  }
  return "";
}

std::string RegistryHosts::HostOfFolderName(absl::string_view name) {
  if (name == "_default") return "";
  // "host_port_": containerd's name for "host:port" where ':' is not allowed in a file name.
  if (absl::EndsWith(name, "_") && name.size() > 1) {
    absl::string_view inner = name.substr(0, name.size() - 1);
    const size_t underscore = inner.rfind('_');
    if (underscore != absl::string_view::npos && underscore > 0 && underscore + 1 < inner.size() &&
        inner.substr(underscore + 1).find_first_not_of("0123456789") == absl::string_view::npos) {
      return absl::StrCat(inner.substr(0, underscore), ":", inner.substr(underscore + 1));
    }
  }
  return std::string(name);
}

std::vector<HostEndpoint> RegistryHosts::EndpointsFor(absl::string_view host) const {
  std::vector<HostEndpoint> endpoints;
  const std::string folder = FolderFor(host);
  if (!folder.empty()) endpoints = folders_.at(folder);
  if (endpoints.empty()) endpoints.emplace_back();  // no folder: the registry itself
  if (endpoints.back().host.empty()) FillDefault(host, endpoints.back());
  for (HostEndpoint& e : endpoints) {
    // containerd ≥ 1.6.25: an http endpoint with TLS settings on a port other than 80 tries HTTPS
    // first and falls back to HTTP when the server answers the handshake in plain HTTP.
    const std::string port = PortOf(e.host);
    if (e.scheme == "http" && e.tls != nullptr && !port.empty() && port != "80") {
      e.scheme = "https";
      e.http_fallback = true;
    }
  }
  return endpoints;
}

}  // namespace sigshim::registry
