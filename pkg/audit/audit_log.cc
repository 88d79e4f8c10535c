#include "pkg/audit/audit_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "pkg/base/file.h"
#include "pkg/base/log.h"

namespace sigshim::audit {
namespace {

absl::StatusOr<int> OpenForAppend(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    absl::Status made = MakeDirs(path.substr(0, slash), 0700);
    if (!made.ok()) return made;
  }
  // O_NONBLOCK: opening a FIFO for writing would otherwise wait for a reader, forever; the file
  // must be a regular one (not a FIFO, a device or a socket), so that no write can block either.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("audit log ", path, ": cannot open: ", strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("audit log ", path, ": not a regular file"));
  }
  return fd;
}

}  // namespace

std::string EncodeAuditLine(const AuditRecord& r) {
  // Every string may come from a client, a registry or the disk: names are cut at
  // log::kMaxNameBytes and the reason at log::kMaxMessageBytes, so that one call cannot write an
  // unbounded line. JSON escaping turns every control character into \uXXXX or \n, so no value
  // can end the line; invalid UTF-8 is replaced, never thrown on.
  auto name = [](const std::string& text) { return log::TruncateName(text); };
  // nlohmann's ordered_json keeps the documented key order.
  nlohmann::ordered_json j;
  j["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", r.time, absl::UTCTimeZone());
  j["method"] = name(r.method);
  j["image"] = name(r.image);
  j["digest"] = name(r.digest);
  j["namespace"] = name(r.namespace_name);
  j["pod"] = name(r.pod);
  j["container"] = name(r.container);
  j["decision"] = name(r.decision);
  j["enforced"] = r.enforced;
  j["reason"] = log::TruncateName(r.reason, log::kMaxMessageBytes);
  j["policy"] = name(r.policy);
  j["identity"] = name(r.identity);
  j["signed_at"] = name(r.signed_at);
  j["signed_at_source"] = name(r.signed_at_source);
  j["source"] = name(r.source);
  if (!r.exception.empty()) {
    j["exception"] = name(r.exception);
    j["owner"] = name(r.owner);
    j["expires"] = name(r.expires);
  }
  j["latency_ms"] = static_cast<double>(absl::ToInt64Microseconds(r.latency)) / 1000.0;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditLogOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("audit log: no path");
  std::unique_ptr<AuditLog> log(new AuditLog(options));
  if (options.path == "-") {
    absl::MutexLock lock(&log->mu_);
    log->fd_ = STDOUT_FILENO;
    return log;
  }
  absl::StatusOr<int> fd = OpenForAppend(options.path);
  if (!fd.ok()) return fd.status();
  absl::MutexLock lock(&log->mu_);
  log->fd_ = *fd;
  log->owns_fd_ = true;
  return log;
}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&mu_);
  if (owns_fd_) ::close(fd_);
}

void AuditLog::Write(const AuditRecord& record) {
  std::string line = EncodeAuditLine(record);
  line.push_back('\n');
  absl::MutexLock lock(&mu_);
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const absl::Time now = absl::Now();
      if (now - last_error_report_ >= absl::Minutes(1)) {
        last_error_report_ = now;
        SIGSHIM_LOG(kError, "audit log ", options_.path, ": write failed: ", strerror(errno));
      }
      return;
    }
    done += static_cast<size_t>(n);
  }
}

absl::Status AuditLog::Reopen() {
  if (options_.path == "-") return absl::OkStatus();
  absl::StatusOr<int> fd = OpenForAppend(options_.path);
  if (!fd.ok()) return fd.status();
  absl::MutexLock lock(&mu_);
  if (owns_fd_) ::close(fd_);
  fd_ = *fd;
  owns_fd_ = true;
  return absl::OkStatus();
}

}  // namespace sigshim::audit
