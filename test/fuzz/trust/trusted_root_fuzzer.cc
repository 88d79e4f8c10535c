// Feeds arbitrary bytes to the trusted_root.json parser: it must return a TrustRoot or an error,
// never crash, leak or hang; a TrustRoot it returns must describe itself and answer lookups.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pkg/trust/trusted_root_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<sigshim::trust::TrustRoot> root = sigshim::trust::ParseTrustedRoot(text, "fuzz.json");
  if (!root.ok()) return 0;
  (void)root->Describe();
  (void)root->CertificateAuthoritiesAt(absl::FromUnixSeconds(1700000000));
  (void)root->TimestampAuthoritiesAt(absl::FromUnixSeconds(1700000000));
  for (const sigshim::trust::TransparencyLog& log : root->transparency_logs) {
    if (root->FindTransparencyLog(log.log_id) == nullptr) __builtin_trap();
  }
  return 0;
}
