// The verdict store: what sigshim verified, kept as evidence under [server] state_dir.
//
// A verdict records an image manifest digest, the repository it was verified for, the signatures
// that verified it (exact payload bytes and annotations, as fetched: cosign simple-signing layers,
// sigstore bundles and the attestations that met [[policy.attestations]], each with its format) and, for each signed
// statement that counted, its signer and signing time. It is evidence, not a flag: before a
// stored verdict is used — at start-up, after every reload, and whenever the policy changes — the
// enforcement layer runs the stored signatures through the same statement producer and policy
// evaluation again, offline, at the time of that check (signers and signing times are recomputed
// from the signatures, never taken from the file). A tampered or foreign file therefore cannot
// create trust; it can only fail that check.
//
// Formats: files are written as kFormat (sigshim.verdict.v2); kFormatV1 files (written before
// signing times were recorded: one key fingerprint, no statements) are still read.
//
// One JSON file per (digest, repository) in <dir>, written atomically (temporary file, fsync,
// rename, fsync of the folder). Files that cannot be read, are not regular files (FIFOs, devices,
// symbolic links: opened without blocking and refused), are too large, do not parse, carry
// another format, or whose name does not match their content are reported by Open and ignored,
// never trusted.
#ifndef SIGSHIM_PKG_VERDICTS_VERDICT_STORE_H_
#define SIGSHIM_PKG_VERDICTS_VERDICT_STORE_H_

#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pkg/verify/signature_manifest.h"
#include "pkg/verify/statement.h"

namespace sigshim::verdicts {

// The format tag of the files written.
inline constexpr absl::string_view kFormat = "sigshim.verdict.v2";
// The earlier format tag, still read.
inline constexpr absl::string_view kFormatV1 = "sigshim.verdict.v1";

// A signed statement that counted when the verdict was made: who signed, and when (as proven).
struct CountedStatement {
  std::string identity;      // the [[keys]] or [[identities]] name it counted for
  std::string signer_type;   // "key" or "certificate"
  std::string fingerprint;   // the signer's "sha256:<hex>" (a key's DER SubjectPublicKeyInfo, a certificate's DER)
  // For a certificate: the trust root it chained to; "" for a key. Files written before it was
  // recorded read as "".
  std::string trust_root;
  std::string layer_digest;  // the signature (in `evidence`) it was produced from
  std::optional<verify::SigningTime> signing_time;  // nullopt: not proven
  // The [[policy.attestations]] name it met; "" for a signature (and in older files).
  std::string attestation;
};

struct Verdict {
  std::string digest;      // image manifest digest that was verified, "sha256:<hex>"
  std::string repository;  // normalised repository it was verified for, e.g. docker.io/library/busybox
  std::string reference;   // the reference as requested, normalised (tag and/or digest)
  // The image index the digest was admitted through (a platform manifest of an index that is not
  // signed, [[policy]] platform_signatures), "sha256:<hex>"; "" when none (and in older files).
  // [revocation] images naming it revokes this verdict too.
  std::string index_digest;
  std::string policy;      // name of the [[policy]] that matched at verification time
  std::string identity;    // the [[keys]] names that counted at that time, comma-separated
  absl::Time verified_at;
  // The artifacts that verified, exactly as fetched: cosign simple-signing layers, sigstore
  // bundles (attestations included) and cosign ".att" layers (DSSE envelopes), told apart by media_type; stored with their format
  // (EvidenceFormat), which must agree with it when read.
  std::vector<verify::Signature> evidence;
  // Every statement that counted (a v1 file gives one, from its key fingerprint, without time).
  std::vector<CountedStatement> counted;
};

struct StoreOptions {
  // Folder of the store (created 0700, with missing parents, if missing). Required. It and the
  // folder that holds it (the daemon's [server] state_dir) must pass CheckPrivateDirectory for
  // `owner`: real directories, not symbolic links, owned by `owner`, writable by no one else.
  std::string dir;
  // Files larger than this are reported and ignored, unread. Default 1 MiB.
  size_t max_file_bytes = 1 << 20;
  // The uid that must own the folders. Default: the process's effective uid.
  uid_t owner = ::geteuid();
};

// What Open found: how many verdicts it loaded, and one line per file it ignored.
struct LoadReport {
  int loaded = 0;
  std::vector<std::string> ignored;  // "<path>: <why>"
};

// Thread-safe. Reads are served from memory and never wait for the disk; writes are serialised,
// go to disk first and then to memory.
class VerdictStore {
 public:
  // Creates the folder if needed, checks it and its parent (see StoreOptions::dir) and loads every
  // *.json file in it. Unusable files are listed in `report` (may be null) and skipped; none can
  // make Open block. Errors only when a folder is unusable: FailedPrecondition naming the folder
  // and what is wrong with it when it is not private to `owner`.
  static absl::StatusOr<std::unique_ptr<VerdictStore>> Open(const StoreOptions& options, LoadReport* report);

  // Writes `verdict` (replacing any verdict for the same digest and repository). On error nothing
  // changes, on disk or in memory. InvalidArgument for a verdict without a valid digest, a
  // repository or evidence.
  absl::Status Put(const Verdict& verdict);

  // Returns the verdict for `digest` verified for `repository`, if any.
  std::optional<Verdict> Get(absl::string_view digest, absl::string_view repository) const;

  // Returns every verdict for `digest`, whatever the repository.
  std::vector<Verdict> FindByDigest(absl::string_view digest) const;

  // Returns a copy of every verdict.
  std::vector<Verdict> All() const;

  // Removes the verdict for (digest, repository); OK when there was none.
  absl::Status Remove(absl::string_view digest, absl::string_view repository);

  // Removes every verdict for `digest`; OK when there was none.
  absl::Status RemoveDigest(absl::string_view digest);

  size_t size() const;

  // Returns the file name used for (digest, repository): "<digest hex>-<16 hex of sha256(repository)>.json".
  static std::string FileName(absl::string_view digest, absl::string_view repository);

 private:
  explicit VerdictStore(StoreOptions options) : options_(std::move(options)) {}
  absl::Status RemoveLocked(const std::pair<std::string, std::string>& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const StoreOptions options_;
  // Serialises writers (disk then memory), so that disk and memory agree on the last write.
  // Taken before mu_, never after.
  absl::Mutex write_mu_;
  mutable absl::Mutex mu_;
  // (digest, repository) → verdict; ordered so that all verdicts of a digest are adjacent.
  absl::btree_map<std::pair<std::string, std::string>, Verdict> verdicts_ ABSL_GUARDED_BY(mu_);
};

// Returns the format an evidence media type is checked by: "cosign simple signing", "sigstore
// bundle" (any bundle version), "cosign attestation" (a DSSE envelope of a ".att" layer), or "" for
// any other (such evidence verifies nothing).
std::string EvidenceFormat(absl::string_view media_type);

// Returns the stored JSON form of `verdict` (format kFormat).
std::string EncodeVerdict(const Verdict& verdict);

// Parses the stored JSON form, kFormat or kFormatV1. InvalidArgument naming the problem for
// anything else (another format tag, an evidence format that does not match its media type, missing or mistyped fields, an invalid digest, bad base64, a
// bad time, an unknown signing-time source).
absl::StatusOr<Verdict> DecodeVerdict(absl::string_view json);

}  // namespace sigshim::verdicts

#endif  // SIGSHIM_PKG_VERDICTS_VERDICT_STORE_H_
