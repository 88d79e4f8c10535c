// Drives RegistryClient (Resolve, GetManifest, GetBlob) against a transport whose every answer —
// status, headers, body, or a transport error — comes from the fuzzer, so that redirects, auth
// challenges, token answers, retries and manifests are all hostile. Checks the client's promises:
// a resolved digest is the digest of the bytes returned, no request over plain http carries
// credentials, errors use the documented codes and never contain the password.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/registry/registry_client.h"

namespace {

using sigshim::registry::HttpRequest;
using sigshim::registry::HttpResponse;

constexpr char kPassword[] = "fuzz-secret-password";

class FuzzedTransport : public sigshim::registry::HttpTransport {
 public:
  explicit FuzzedTransport(FuzzedDataProvider* data) : data_(data) {}

  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) override {
    if (request.url.rfind("http://", 0) == 0 && request.headers.Get("Authorization").has_value()) std::abort();
    if (++requests_ > 200) std::abort();  // The client must bound its own work.
    if (data_->remaining_bytes() == 0) return HttpResponse{404, {}, ""};
    switch (data_->ConsumeIntegralInRange<int>(0, 12)) {
      case 0:
        return absl::UnavailableError("connection reset");
      case 1:
        return absl::DeadlineExceededError("timed out");
      default:
        break;
    }
    static constexpr int kStatuses[] = {200, 200, 200, 301, 302, 303, 307, 308, 401, 403, 404, 429, 500, 503};
    HttpResponse response;
    response.status = data_->ConsumeBool() ? data_->PickValueInArray(kStatuses)
                                           : data_->ConsumeIntegralInRange<int>(100, 599);
    static constexpr const char* kHeaders[] = {"Content-Type", "Location", "WWW-Authenticate",
                                                "Docker-Content-Digest", "Content-Length", "Retry-After"};
    int header_count = data_->ConsumeIntegralInRange<int>(0, 4);
    for (int i = 0; i < header_count; ++i) {
      response.headers.Add(data_->PickValueInArray(kHeaders), data_->ConsumeRandomLengthString(300));
    }
    response.body = data_->ConsumeRandomLengthString(4096);
    if (response.body.size() > request.max_response_bytes) return absl::ResourceExhaustedError("too large");
    return response;
  }

 private:
  FuzzedDataProvider* data_;
  int requests_ = 0;
};

// Checks that `status` is one of the documented codes and, when the password was given to the
// client (`secret`), that it does not leak it.
void CheckError(const absl::Status& status, bool secret) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
      break;
    default:
      std::abort();
  }
  if (!secret) return;
  if (status.message().find(kPassword) != absl::string_view::npos) std::abort();
  if (status.message().find(sigshim::Base64Encode(std::string("user:") + kPassword)) != absl::string_view::npos) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  sigshim::registry::RegistryClientOptions options;
  options.transport = std::make_shared<FuzzedTransport>(&data);
  options.sleep = [](absl::Duration) {};
  options.max_manifest_bytes = 2048;
  auto client = sigshim::registry::RegistryClient::Create(options);
  if (!client.ok()) std::abort();

  sigshim::registry::Credentials credentials;
  if (data.ConsumeBool()) {
    credentials.username = "user";
    credentials.password = kPassword;
  }
  auto ref = sigshim::reference::Parse("registry.test/team/app:v1");
  absl::StatusOr<sigshim::registry::FetchedManifest> fetched = (*client)->Resolve(*ref, credentials);
  if (fetched.ok()) {
    if (fetched->digest != sigshim::Sha256Digest(fetched->bytes)) std::abort();
    if (fetched->bytes.size() > options.max_manifest_bytes) std::abort();
    if (!sigshim::registry::IsSupportedManifestMediaType(fetched->media_type)) std::abort();
  } else {
    CheckError(fetched.status(), !credentials.password.empty());
  }
  const std::string digest = sigshim::Sha256Digest("payload");
  absl::StatusOr<std::string> blob = (*client)->GetBlob(*ref, digest, 1024, credentials);
  if (blob.ok()) {
    if (sigshim::Sha256Digest(*blob) != digest) std::abort();
  } else {
    CheckError(blob.status(), !credentials.password.empty());
  }
  return 0;
}
