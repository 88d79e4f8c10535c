// Transparency-log entries as sigstore bundles carry them (protobuf-specs
// dev.sigstore.rekor.v1.TransparencyLogEntry), checked offline against a trust root's logs:
//  - Rekor v1: the inclusion promise (signed entry timestamp, SET), whose integratedTime becomes a
//    proven time, and the inclusion proof: an RFC 6962 Merkle audit path from the entry's
//    canonicalized body to a root hash that a checkpoint (a signed note) signed by the log states;
//  - Rekor v2: the inclusion proof with its checkpoint only; the entry has no integrated time, so
//    its time must come from an RFC 3161 timestamp (the caller's rule).
// And the entry's body must record the same signature, signer (key or certificate) and content
// (message digest, or DSSE payload hash) as the bundle: kinds hashedrekord, dsse and intoto.
#ifndef SIGSHIM_PKG_VERIFY_TRANSPARENCY_LOG_H_
#define SIGSHIM_PKG_VERIFY_TRANSPARENCY_LOG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pkg/verify/certificate_signer.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/validity.h"

namespace sigshim::verify {

// An inclusion proof has at most this many hashes (a tree of 2^63 leaves needs 63).
inline constexpr size_t kMaxInclusionProofHashes = 63;
// Canonicalized bodies and checkpoints larger than these are refused.
inline constexpr size_t kMaxLogEntryBodyBytes = 1024 * 1024;
inline constexpr size_t kMaxCheckpointBytes = 16 * 1024;

struct InclusionProof {
  int64_t log_index = 0;  // the leaf's index in the tree the proof is for (Rekor v1: the shard's)
  std::string root_hash;  // 32 bytes
  int64_t tree_size = 0;
  std::vector<std::string> hashes;  // 32 bytes each, from the leaf's level up
  std::string checkpoint;           // the signed note (checkpoint.envelope)
};

// One entry of a bundle's verificationMaterial.tlogEntries, parsed, nothing verified.
struct TransparencyLogEntry {
  int64_t log_index = 0;
  std::string log_id;  // raw bytes (logId.keyId)
  std::string kind;    // kindVersion.kind, e.g. "hashedrekord"
  std::string version;  // kindVersion.version, e.g. "0.0.1"
  int64_t integrated_time = 0;           // Unix seconds; 0 when absent (Rekor v2)
  std::string signed_entry_timestamp;    // inclusionPromise.signedEntryTimestamp; "" when none
  std::optional<InclusionProof> inclusion_proof;
  std::string canonicalized_body;        // raw bytes: the log's leaf
};

// Returns the RFC 6962 leaf hash: SHA-256(0x00 || leaf).
std::string MerkleLeafHash(absl::string_view leaf);

// Checks an RFC 6962 inclusion proof: the leaf with `leaf_hash` at `index` of a tree of
// `tree_size` leaves, with audit path `hashes`, hashes to `root_hash`. PermissionDenied naming the
// problem: an index that is negative or not below the tree size, a hash count the path of that
// index in that tree does not have, a hash that is not 32 bytes, a root that differs.
absl::Status VerifyInclusionProof(int64_t index, int64_t tree_size, absl::string_view leaf_hash,
                                  absl::Span<const std::string> hashes, absl::string_view root_hash);

// A checkpoint (transparency-dev/formats log/README.md): the signed note's text.
struct Checkpoint {
  std::string origin;     // the first line, never empty
  int64_t tree_size = 0;  // the second line
  std::string root_hash;  // the third line, base64-decoded (32 bytes)
};

// Verifies the signed note `note` as a checkpoint of `log`: the text is "<body>\n\n<signature
// lines>", the body at least three lines (origin, decimal size, base64 root hash; further lines
// allowed), every signature line "— <name> <base64(4-byte key hint || signature)>"; one line whose
// key hint is the first 4 bytes of the log's checkpoint key id (or its log id) must verify with
// the log's key over the body (with its final newline). When `expected_origin` is not empty the
// origin must equal it and the verifying line's name too. PermissionDenied naming the problem.
absl::StatusOr<Checkpoint> VerifyCheckpoint(absl::string_view note, const TransparencyLogInput& log,
                                            absl::string_view expected_origin);

// What a log entry must record: the bundle's signature, its signer and its content.
struct LogEntryBinding {
  absl::string_view signature;   // the raw signature bytes
  absl::string_view signer_der;  // the signer's DER: the leaf certificate, or a key's SubjectPublicKeyInfo
  // A message signature: the digest's algorithm ("sha256", "sha384", "sha512") and raw bytes.
  absl::string_view message_digest_algorithm;
  absl::string_view message_digest;
  // A DSSE envelope (message_digest empty): the payload type and raw payload.
  absl::string_view dsse_payload_type;
  absl::string_view dsse_payload;
  bool dsse = false;
};

// What a verified entry proves.
struct VerifiedLogEntry {
  const TransparencyLogInput* log = nullptr;  // the log it is in (one of the `logs` given)
  // Rekor v1 with a verified SET: the integrated time, inside the log's window. nullopt otherwise
  // (an inclusion proof does not sign the time; Rekor v2 has none).
  std::optional<absl::Time> integrated_time;
  bool rekor_v2 = false;      // a Rekor v2 entry: its time must come from a timestamp in log->window
  std::string description;    // "rekor log <log id hex> index <n>"
};

// Verifies `entry` against the logs of one trust root, in this order (the first failure is the
// reason given, PermissionDenied):
//  1. the entry's log id names one of `logs` ("entry of a log this trust root does not list" is
//     NotFound, so that a caller with several roots can look for the entry's own);
//  2. the body parses, its kind and apiVersion are those of kindVersion and one sigshim knows
//     (Rekor v1: hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2; Rekor v2: hashedrekord 0.0.2,
//     dsse 0.0.2), and it records `binding`: the same signature, signer and digest or payload hash
//     (exactly one signature for dsse and intoto);
//  3. Rekor v1: a SET or an inclusion proof or both, each given one verifying (the SET with the
//     log's key over the canonical {body, integratedTime, logID, logIndex}, its integratedTime in
//     the log's window); Rekor v2: an inclusion proof (required) whose index is the entry's, no
//     SET, and a checkpoint whose origin is the log's base URL without its scheme;
//     every inclusion proof: its checkpoint verifies (VerifyCheckpoint) and states the proof's tree
//     size and root hash, and the audit path leads from the body to that root.
// Internal when the crypto library fails.
absl::StatusOr<VerifiedLogEntry> VerifyTransparencyLogEntry(const TransparencyLogEntry& entry,
                                                            const LogEntryBinding& binding,
                                                            absl::Span<const TransparencyLogInput> logs);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_TRANSPARENCY_LOG_H_
