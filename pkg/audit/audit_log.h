// The audit log: one JSON object per line for every admission decision sigshim makes.
//
// A line answers "who asked for what, what was decided, and why" without the daemon's other
// logs: time, CRI method, image, manifest digest, Kubernetes namespace, pod and container,
// the decision and whether it was enforced, the reason, the matched policy, every identity that
// counted and the proven signing time, where the answer came from, and how long it took. Registry credentials never reach this file: an
// AuditRecord has no field that could carry them.
//
// Line format (keys always present, in this order; strings JSON-escaped, so a value never ends
// the line; names cut at log::kMaxNameBytes and the reason at log::kMaxMessageBytes, with a
// "... (<n> bytes)" marker giving the full length):
//   {"time":"2026-11-22T23:30:00.123456Z","method":"PullImage","image":"docker.io/library/busybox:1.36",
//    "digest":"sha256:…","namespace":"default","pod":"web-0","container":"",
//    "decision":"deny","enforced":true,"reason":"no signatures","policy":"prod","identity":"",
//    "signed_at":"","signed_at_source":"","source":"registry","latency_ms":12.345}
// A decision an [[exceptions]] entry made has "source":"exception" and, after "source", also
// "exception", "owner" and "expires" (RFC 3339 UTC); other lines do not have these three keys.
#ifndef SIGSHIM_PKG_AUDIT_AUDIT_LOG_H_
#define SIGSHIM_PKG_AUDIT_AUDIT_LOG_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sigshim::audit {

// One decision.
struct AuditRecord {
  absl::Time time;
  std::string method;          // CRI method name: "PullImage", "CreateContainer", "RunPodSandbox"
  std::string image;           // the image as decided on: normalised when it parsed, else as asked
  std::string digest;          // manifest digest, "" when it was not established
  std::string namespace_name;  // Kubernetes namespace of the pod, "" when the call names none
  std::string pod;             // pod name, "" when the call names none
  std::string container;       // container name (CreateContainer), else ""
  std::string decision;        // what the policy says: "allow", "deny" or "error"
  // False when the decision was a refusal that was not enforced (mode = "audit", or before its
  // policy's enforce_from).
  bool enforced = true;
  std::string reason;          // for a person; for an allow, what it rests on
  std::string policy;          // matched [[policy]] name, "" when none
  // Every [[keys]] name whose signature counted, comma-separated; "" when none.
  std::string identity;
  // The earliest proven signing time of the signatures that counted, RFC 3339 UTC
  // ("2026-01-01T00:00:00Z"); "" when unknown.
  std::string signed_at;
  // Where signed_at comes from: "tlog" (transparency log), "timestamp" (RFC 3161); "" when unknown.
  std::string signed_at_source;
  // Where the answer came from: "registry" (verified now), "verdict" (a stored verdict re-checked
  // under the current policy), "config" (trusted as configured), "unmatched" (no policy matched),
  // "exception" (an [[exceptions]] entry admitted an image that would otherwise be refused).
  std::string source;
  // For "exception": the entry's name, owner and expiry (RFC 3339 UTC); "" otherwise.
  std::string exception;
  std::string owner;
  std::string expires;
  absl::Duration latency;
};

// Returns `record` as one JSON line, without the trailing newline: at most a few KiB plus the
// reason's cut, whatever the record holds.
std::string EncodeAuditLine(const AuditRecord& record);

struct AuditLogOptions {
  // File the lines are appended to (created 0600 with its folder 0700 if missing), or "-" for
  // standard output. Required.
  std::string path;
};

// Appends lines; thread-safe. Each line is written with one write(2) on an O_APPEND descriptor, so
// lines from concurrent writers never interleave.
class AuditLog {
 public:
  // Opens the log. An error names the path when the file cannot be opened or is not a regular
  // file (a FIFO, a device or a socket is refused without blocking).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const AuditLogOptions& options);
  ~AuditLog();

  // Appends `record`. A failed write is reported to the daemon's log (at most once per minute)
  // and does not change any decision.
  void Write(const AuditRecord& record);

  // Closes and reopens the file (after log rotation). On error the previous file stays in use and
  // the error names the path. A no-op for standard output.
  absl::Status Reopen();

  const std::string& path() const { return options_.path; }

 private:
  explicit AuditLog(AuditLogOptions options) : options_(std::move(options)) {}

  const AuditLogOptions options_;
  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  bool owns_fd_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_error_report_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace sigshim::audit

#endif  // SIGSHIM_PKG_AUDIT_AUDIT_LOG_H_
