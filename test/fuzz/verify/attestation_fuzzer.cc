// Fuzzes the cosign ".att" path: the input is split at the first NUL into a Rekor bundle annotation
// and a layer blob (a DSSE envelope). The annotation goes through ParseCosignRekorBundle and, when
// it parses, VerifyTransparencyLogEntry with a log whose id is the entry's and a fixed key; the
// layer, with that annotation, through the whole producer with that key as the candidate signer
// and its log as the time evidence. Nothing fuzz-made can verify (only the key holder can sign an
// envelope or a SET), so any statement or verified entry is a bug (abort).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "pkg/verify/cosign_attestation.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/signature_manifest.h"
#include "pkg/verify/transparency_log.h"
#include "test/fuzz/verify/fixed_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sigshim::verify;
  const std::shared_ptr<const PublicKey>& key = fuzzing::FixedKey();
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string annotation = split == std::string::npos ? input : input.substr(0, split);
  const std::string blob = split == std::string::npos ? input : input.substr(split + 1);

  TransparencyLogInput log;
  log.name = "fuzz log";
  log.key = key;
  absl::StatusOr<TransparencyLogEntry> entry = ParseCosignRekorBundle(annotation);
  if (entry.ok()) {
    log.log_id = entry->log_id;
    LogEntryBinding binding;
    binding.signature = "signature";
    binding.signer_der = key->Der();
    binding.dsse = true;
    binding.dsse_payload_type = kInTotoPayloadType;
    binding.dsse_payload = "payload";
    if (VerifyTransparencyLogEntry(*entry, binding, {&log, 1}).ok()) std::abort();
  }

  Signature layer;
  layer.media_type = std::string(kDsseEnvelopeMediaType);
  layer.payload = blob;
  layer.annotations[std::string(kBundleAnnotation)] = annotation;
  AttestationProducerOptions options;
  options.artifact_digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
  options.keys = {key};
  KeyTimeEvidence evidence;
  evidence.trust_root = "fuzz";
  evidence.transparency_logs = {log};
  options.key_time_evidence[key->Fingerprint()] = evidence;
  absl::StatusOr<ProducedStatements> produced = ProduceAttestationStatements(layer, options);
  if (produced.ok() && !produced->statements.empty()) std::abort();
  return 0;
}
