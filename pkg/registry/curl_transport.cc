#include "pkg/registry/curl_transport.h"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <utility>

#include "absl/base/call_once.h"
#include "absl/strings/cord.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pkg/base/log.h"
#include "pkg/registry/url.h"

namespace sigshim::registry {
namespace {

absl::once_flag curl_init_once;
CURLcode curl_init_result = CURLE_OK;

// State shared with curl's callbacks during one transfer.
struct Transfer {
  size_t max_body = 0;
  bool body_too_large = false;
  HttpResponse response;
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  if (transfer->response.body.size() + bytes > transfer->max_body) {
    transfer->body_too_large = true;
    return 0;  // Makes curl abort the transfer with CURLE_WRITE_ERROR.
  }
  transfer->response.body.append(data, bytes);
  return bytes;
}

size_t ReadHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  absl::string_view line(data, bytes);
  line = absl::StripTrailingAsciiWhitespace(line);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new status line (after a 1xx or a proxy's CONNECT answer): only the last response counts.
    transfer->response.headers = HttpHeaders();
    return bytes;
  }
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos && colon > 0) {
    transfer->response.headers.Add(absl::StripAsciiWhitespace(line.substr(0, colon)),
                                   absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return bytes;
}

// Returns true when a failed TLS handshake's `detail` (libcurl's error text) says that the peer
// answered with bytes that are not a TLS record, as a plain-HTTP server does: libcurl gives
// CURLE_SSL_CONNECT_ERROR with OpenSSL's "wrong version number" (an "HTTP/1.1 400" answer read as
// a record header), "packet length too long" (a header whose length field is out of range) or
// "unknown protocol" (older OpenSSL), and GnuTLS's "unexpected length".
bool LooksLikePlainHttpPeer(absl::string_view detail) {
  for (absl::string_view sign : {"wrong version number", "packet length too long", "unknown protocol",
                                 "TLS packet with unexpected length"}) {
    if (absl::StrContains(detail, sign)) return true;
  }
  return false;
}

absl::Status CurlError(CURLcode code, const char* error_buffer, const std::string& safe_url) {
  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  std::string message = absl::StrCat(safe_url, ": ", detail);
  if (code == CURLE_SSL_CONNECT_ERROR && LooksLikePlainHttpPeer(detail)) {
    return PlainHttpPeerError(absl::StrCat(safe_url, ": the server does not speak TLS: it answered the handshake as a "
                                           "plain-HTTP server does (", detail, ")"));
  }
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(absl::StrCat(message, " (timed out)"));
    case CURLE_FILESIZE_EXCEEDED:
      return absl::ResourceExhaustedError(absl::StrCat(message, " (response larger than the limit)"));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(message);
    case CURLE_OUT_OF_MEMORY:
      return absl::ResourceExhaustedError(message);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: {
      // The peer is not who it must be: asking again will not change that.
      absl::Status status = absl::UnavailableError(message);
      status.SetPayload(kPermanentFailurePayload, absl::Cord("tls"));
      return status;
    }
    default:
      // Resolution, connection, TLS and transfer failures: the peer could not be used.
      return absl::UnavailableError(message);
  }
}

// libcurl's progress callback (called at least once a second, also while nothing moves): a
// non-zero answer aborts the transfer when the request's budget is spent or abandoned.
int AbortWhenSpent(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const Budget*>(user)->Check().ok() ? 0 : 1;
}

// libcurl's SSL_CTX callback (OpenSSL): adds the certificates of TlsSettings::extra_ca_pem to the
// store curl has filled with its own CAs, so that they are trusted in addition, as containerd adds
// a host's `ca` to the system pool.
CURLcode AddExtraCas(CURL*, void* ssl_ctx, void* user) {
  const auto* tls = static_cast<const TlsSettings*>(user);
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  BIO* bio = BIO_new_mem_buf(tls->extra_ca_pem.data(), static_cast<int>(tls->extra_ca_pem.size()));
  if (bio == nullptr || store == nullptr) {
    BIO_free(bio);
    return CURLE_OUT_OF_MEMORY;
  }
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);  // A duplicate of a system CA is refused harmlessly.
    X509_free(cert);
  }
  ERR_clear_error();  // The end of the PEM text reads as an error.
  BIO_free(bio);
  return CURLE_OK;
}

// Sets the options `tls` asks for on `curl`. The settings must outlive the transfer.
void ApplyTlsSettings(CURL* curl, const TlsSettings& tls) {
  if (tls.skip_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!tls.extra_ca_pem.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, AddExtraCas);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &tls);
  }
  if (!tls.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(tls.client_cert_pem.data()), tls.client_cert_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    const std::string& key = tls.client_key_pem.empty() ? tls.client_cert_pem : tls.client_key_pem;
    curl_blob key_blob{const_cast<char*>(key.data()), key.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key_blob);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  }
}

long ToMillis(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms < 1) ms = 1;
  return static_cast<long>(ms);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CurlTransport>> CurlTransport::Create(const CurlTransportOptions& options) {
  absl::call_once(curl_init_once, [] { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (curl_init_result != CURLE_OK) {
    return absl::InternalError(absl::StrCat("libcurl initialisation failed: ", curl_easy_strerror(curl_init_result)));
  }
  if (!options.ca_file.empty()) {
    FILE* file = std::fopen(options.ca_file.c_str(), "r");
    if (file == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("CA file \"", options.ca_file, "\" cannot be read"));
    }
    std::fclose(file);
  }
  return std::unique_ptr<CurlTransport>(new CurlTransport(options));
}

CurlTransport::~CurlTransport() {
  absl::MutexLock lock(&mu_);
  for (auto& [key, handles] : idle_handles_) {
    for (void* handle : handles) curl_easy_cleanup(handle);
  }
}

void* CurlTransport::TakeHandle(const std::string& pool_key) {
  {
    absl::MutexLock lock(&mu_);
    auto pool = idle_handles_.find(pool_key);
    if (pool != idle_handles_.end() && !pool->second.empty()) {
      void* handle = pool->second.back();
      pool->second.pop_back();
      if (pool->second.empty()) idle_handles_.erase(pool);
      --idle_count_;
      curl_easy_reset(handle);  // Keeps the connection cache, drops every option.
      return handle;
    }
  }
  return curl_easy_init();
}

void CurlTransport::ReturnHandle(const std::string& pool_key, void* handle) {
  {
    absl::MutexLock lock(&mu_);
    if (idle_count_ < options_.max_idle_handles) {
      idle_handles_[pool_key].push_back(handle);
      ++idle_count_;
      return;
    }
  }
  curl_easy_cleanup(handle);
}

absl::StatusOr<HttpResponse> CurlTransport::Do(const HttpRequest& request) {
  absl::StatusOr<Url> url = ParseUrl(request.url);
  if (!url.ok()) return url.status();
  const std::string safe_url = RedactUrl(request.url);
  if (request.method != "GET" && request.method != "HEAD" && request.method != "POST" &&
      request.method != "PUT" && request.method != "PATCH" && request.method != "DELETE") {
    return absl::InvalidArgumentError(absl::StrCat("HTTP method \"", request.method.substr(0, 16), "\" is not supported"));
  }

  const TlsSettings* tls = request.tls.get();
  const std::string pool_key = tls == nullptr ? std::string() : absl::StrCat("tls:", tls->pool_key);
  CURL* curl = TakeHandle(pool_key);
  if (curl == nullptr) return absl::ResourceExhaustedError("libcurl could not allocate a handle");

  Transfer transfer;
  transfer.max_body = request.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  bool has_user_agent = false;
  for (const auto& [name, value] : request.headers.fields()) {
    if (absl::EqualsIgnoreCase(name, "User-Agent")) has_user_agent = true;
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  if (!has_user_agent) {
    headers = curl_slist_append(headers, absl::StrCat("User-Agent: ", options_.user_agent).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");  // No 100-continue round trip for bodies.

  std::string url_text = url->String();
  curl_easy_setopt(curl, CURLOPT_URL, url_text.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (tls != nullptr) ApplyTlsSettings(curl, *tls);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ToMillis(options_.connect_timeout));
  if (absl::Status within = CheckBudget(request.budget); !within.ok()) {
    ReturnHandle(pool_key, curl);
    curl_slist_free_all(headers);
    return within;
  }
  absl::Duration timeout = request.timeout;
  bool cut_by_budget = false;
  if (request.budget != nullptr) {
    const absl::Duration remaining = request.budget->Remaining();
    cut_by_budget = remaining < timeout;
    timeout = std::min(timeout, remaining);
    // Checked while the transfer runs, so that an abandoned verification stops at once.
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, AbortWhenSpent);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, request.budget);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  }
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, std::max<long>(1, ToMillis(timeout)));
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_response_bytes));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  }

  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  // The handle keeps pointers to this frame's buffers; drop them before pooling it.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  ReturnHandle(pool_key, curl);

  if (transfer.body_too_large) {
    return absl::ResourceExhaustedError(absl::StrCat(
        safe_url, ": response body is larger than the limit of ", request.max_response_bytes, " bytes"));
  }
  if (code != CURLE_OK && request.budget != nullptr) {
    // A budget that ran out is the reason, not the timeout or abort it caused.
    absl::Status within = request.budget->Check();
    if (within.ok() && code == CURLE_OPERATION_TIMEDOUT && cut_by_budget) within = request.budget->Spent();
    if (!within.ok()) return absl::Status(within.code(), absl::StrCat(safe_url, ": ", within.message()));
  }
  if (code != CURLE_OK) {
    SIGSHIM_LOG(kDebug, "http ", request.method, " ", safe_url, " failed: ", curl_easy_strerror(code));
    return CurlError(code, error_buffer, safe_url);
  }
  transfer.response.status = static_cast<int>(status);
  SIGSHIM_LOG(kDebug, "http ", request.method, " ", safe_url, " -> ", status, " (", transfer.response.body.size(),
              " bytes)");
  return std::move(transfer.response);
}

}  // namespace sigshim::registry
