// Fuzzes the RFC 3161 timestamp path: cosign's rfc3161timestamp annotation (strict JSON, base64) and
// the DER TimeStampResp checks (parsing, imprint, signer lookup, EKU, chain at genTime, CMS signature,
// ESS attribute) against a real sigstore TSA chain and the signature its real timestamp covers (the
// seeds hold that timestamp, so mutations start from a token that verifies). A timestamp that verifies
// must report a genTime inside the authority's window; otherwise only crashes and sanitizer reports
// count (unsigned parts of a response, such as a status text, may change without breaking it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pkg/base/base64.h"
#include "pkg/verify/timestamp.h"

namespace {

// test/testdata/sigstore-go/trusted-roots/public-key-validity.json: the TSA chain, leaf first.
constexpr const char* kChain[] = {
    "MIIBdjCCARugAwIBAgIBATAKBggqhkjOPQQDAjA7MRUwEwYDVQQKEwxzaWdzdG9yZS5kZXYxIjAgBgNVBAMTGXNpZ3N0b3JlLXRzYS1pbnRlcm1lZGlhdGUwHhcNMjYwNjA0MTczODI5WhcNMjYwNjA0MTc0ODI5WjAAMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEp118fA416qhLtGVcWk8LcMl6+pFFsCc9e7T5mQOubLrSxYCnDBgHAJ9oEjBIQLmQfu23ZGmlHpiIqbDfWCHY5KNLMEkwDgYDVR0PAQH/BAQDAgeAMB8GA1UdIwQYMBaAFJwFJAUQCTEXxR3gP1/MoAE64LIPMBYGA1UdJQEB/wQMMAoGCCsGAQUFBwMIMAoGCCqGSM49BAMCA0kAMEYCIQCjc+cX35EpxPcipPxUuWIQOOw+SdAjSocCLWKSsAJFWAIhAOsEegKgpzipO/K4eFcbmMFtV0J277KXvPnsOJMN6Jjc",
    "MIIBzDCCAXKgAwIBAgIBATAKBggqhkjOPQQDAjAqMRUwEwYDVQQKEwxzaWdzdG9yZS5kZXYxETAPBgNVBAMTCHNpZ3N0b3JlMB4XDTI2MDYwNDE3NDEyOVoXDTI2MDYwNDE5NDMyOVowOzEVMBMGA1UEChMMc2lnc3RvcmUuZGV2MSIwIAYDVQQDExlzaWdzdG9yZS10c2EtaW50ZXJtZWRpYXRlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcirEeeVR2cUxU7xYFr+IzuPxvqC+SLTznWqpN54kSUuE/zfUW4bYzjyLy7HZ224nyg0UuxDHbkS8aHEQIxfc5qN4MHYwDgYDVR0PAQH/BAQDAgEGMBMGA1UdJQQMMAoGCCsGAQUFBwMIMA8GA1UdEwEB/wQFMAMBAf8wHQYDVR0OBBYEFJwFJAUQCTEXxR3gP1/MoAE64LIPMB8GA1UdIwQYMBaAFKGrHQz+7E/UhTpsxUu8YddqmTKYMAoGCCqGSM49BAMCA0gAMEUCIQD8FoOW1IuWLJE8L20u9RNOlDTcmH8HeCWi9LShKFI81gIgQAUmSaLsqjIxjZVBZlLFhwrD/vXK0+XbkNrfHbh92Vw=",
    "MIIBhTCCASugAwIBAgIBATAKBggqhkjOPQQDAjAqMRUwEwYDVQQKEwxzaWdzdG9yZS5kZXYxETAPBgNVBAMTCHNpZ3N0b3JlMB4XDTI2MDYwNDEyNDMyOVoXDTI2MDYwNDIyNDMyOVowKjEVMBMGA1UEChMMc2lnc3RvcmUuZGV2MREwDwYDVQQDEwhzaWdzdG9yZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDd2tWh/FjLn4VXeSjVXATZBiIovGGcAZy8ds8WpqEMnm/tSxEK+UR7QCKghWW7urxVJU+EhhgDW7Nk3lxruCe6jQjBAMA4GA1UdDwEB/wQEAwIBBjAPBgNVHRMBAf8EBTADAQH/MB0GA1UdDgQWBBShqx0M/uxP1IU6bMVLvGHXapkymDAKBggqhkjOPQQDAgNIADBFAiEAzuI/sSStZt55JCZaFjy5CkNjITf9l1VWQNlYPJA/4/ICIBqznFw4zblq6Zpnrw1n26BYdesVcG84sigSkkK8kf3m",
};
// test/testdata/sigstore-go/bundles/public-key-validity.sigstore.json: the signature timestamped.
constexpr char kSignature[] =
    "MEYCIQC459RMz4rqofBUcrYVc34gyNUJ7/M3ZU+qUIoLJl1THQIhAPSPwNGAHjgzXVhKrHrZWPufd1/v7PNAuWAAYv2ioIwT";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* setup = [] {
    auto* s = new std::pair<std::vector<sigshim::verify::TimestampAuthorityInput>, std::string>();
    sigshim::verify::TimestampAuthorityInput tsa;
    tsa.name = "virtual.tsa.sigstore.dev";
    for (const char* cert : kChain) {
      auto der = sigshim::Base64Decode(cert);
      if (!der.ok()) std::abort();
      tsa.chain_der.push_back(*der);
    }
    tsa.window.start = absl::FromUnixSeconds(1780577009);  // 2026-06-04T12:43:29Z
    tsa.window.end = absl::FromUnixSeconds(1780598609);    // 2026-06-04T18:43:29Z
    s->first.push_back(std::move(tsa));
    auto signature = sigshim::Base64Decode(kSignature);
    if (!signature.ok()) std::abort();
    s->second = *signature;
    return s;
  }();
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  // An input that is a valid annotation is verified as the DER it holds; any other as DER itself.
  std::string der(input);
  if (auto annotation = sigshim::verify::ParseCosignTimestampAnnotation(input); annotation.ok()) {
    if (annotation->empty()) std::abort();
    der = *annotation;
  }
  auto verified = sigshim::verify::VerifyRfc3161Timestamp(der, setup->second, setup->first);
  if (verified.ok() && !setup->first[0].window.Contains(verified->gen_time)) std::abort();
  return 0;
}
