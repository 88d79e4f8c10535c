// Fuzzes the sigstore bundle path: the strict bundle parser (proto3 JSON, DSSE envelope, entries,
// proofs), every parsed log entry through VerifyTransparencyLogEntry (canonicalized body, kinds,
// SET, checkpoint note, RFC 6962 audit path) with a log whose id is the entry's and a fixed key, and
// the whole producer with that key. Nothing fuzz-made can verify: only the key holder can sign a
// SET, a checkpoint or the content, so any statement or verified entry is a bug (abort).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "pkg/verify/bundle.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/sigstore_bundle.h"
#include "pkg/verify/transparency_log.h"
#include "test/fuzz/verify/fixed_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sigshim::verify;
  const std::shared_ptr<const PublicKey>& key = fuzzing::FixedKey();
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Bundle> bundle = ParseBundle(text);
  if (bundle.ok()) {
    for (const TransparencyLogEntry& entry : bundle->tlog_entries) {
      TransparencyLogInput log;
      log.name = "fuzz log";
      log.key = key;
      log.log_id = entry.log_id;
      log.base_url = "https://log.example";
      LogEntryBinding binding;
      binding.signature = "signature";
      binding.signer_der = key->Der();
      if (bundle->dsse_envelope.has_value()) {
        binding.dsse = true;
        binding.dsse_payload_type = bundle->dsse_envelope->payload_type;
        binding.dsse_payload = bundle->dsse_envelope->payload;
      } else {
        binding.message_digest_algorithm = bundle->message_signature->digest_algorithm;
        binding.message_digest = bundle->message_signature->digest;
      }
      if (VerifyTransparencyLogEntry(entry, binding, {log}).ok()) std::abort();
    }
  }
  BundleProducerOptions options;
  options.artifact_digests = {"sha256:0000000000000000000000000000000000000000000000000000000000000000"};
  options.keys = {key};
  auto produced = ProduceBundleStatements(text, options);
  if (produced.ok() && !produced->statements.empty()) std::abort();
  return 0;
}
