#include "pkg/verify/sct.h"

#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/openssl_x509.h"

namespace sigshim::verify {
namespace {

using internal::ParseDerCertificate;
using internal::TakeOpenSslError;
using internal::X509Ptr;

constexpr size_t kLogIdBytes = 32;

struct CtlogStoreFree {
  void operator()(CTLOG_STORE* p) const { CTLOG_STORE_free(p); }
};
struct CtPolicyEvalCtxFree {
  void operator()(CT_POLICY_EVAL_CTX* p) const { CT_POLICY_EVAL_CTX_free(p); }
};
struct SctListFree {
  void operator()(STACK_OF(SCT) * p) const { SCT_LIST_free(p); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using CtlogStorePtr = std::unique_ptr<CTLOG_STORE, CtlogStoreFree>;
using CtPolicyEvalCtxPtr = std::unique_ptr<CT_POLICY_EVAL_CTX, CtPolicyEvalCtxFree>;
using SctListPtr = std::unique_ptr<STACK_OF(SCT), SctListFree>;

absl::Status Denied(absl::string_view what) {
  return absl::PermissionDeniedError(absl::StrCat("embedded SCTs: ", what));
}

// Closes a file descriptor when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// Checks each log's key and id, then builds an OpenSSL CT log store holding them. OpenSSL reads a
// store only from a configuration file ("enabled_logs" plus one section per log with its base64
// key), so the file is written to an anonymous memory file and read back by its /proc path.
absl::StatusOr<CtlogStorePtr> BuildLogStore(absl::Span<const CtLogInput> logs) {
  std::string conf = "enabled_logs = ";
  for (size_t i = 0; i < logs.size(); ++i) absl::StrAppend(&conf, i == 0 ? "" : ",", "log", i);
  conf += "\n";
  for (size_t i = 0; i < logs.size(); ++i) {
    const CtLogInput& log = logs[i];
    if (log.log_id.size() != kLogIdBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("CT log ", log.name, ": log id is ", log.log_id.size(), " bytes, not ", kLogIdBytes));
    }
    const unsigned char* p = reinterpret_cast<const unsigned char*>(log.key_der.data());
    std::unique_ptr<EVP_PKEY, EvpPkeyFree> key(
        d2i_PUBKEY(nullptr, &p, static_cast<long>(log.key_der.size())));
    if (key == nullptr ||
        p != reinterpret_cast<const unsigned char*>(log.key_der.data()) + log.key_der.size()) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("CT log ", log.name, ": key is not one DER SubjectPublicKeyInfo"));
    }
    if (absl::HexStringToBytes(Sha256Hex(log.key_der)) != log.log_id) {
      return absl::InvalidArgumentError(
          absl::StrCat("CT log ", log.name, ": log id ", absl::BytesToHexString(log.log_id),
                       " is not the SHA-256 of its key (", Sha256Hex(log.key_der), ")"));
    }
    absl::StrAppend(&conf, "[log", i, "]\ndescription = log", i, "\nkey = ", Base64Encode(log.key_der), "\n");
  }

  int fd = memfd_create("sigshim-ct-logs", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("memfd_create: ", std::strerror(errno)));
  FdCloser closer(fd);
  for (size_t written = 0; written < conf.size();) {
    ssize_t n = write(fd, conf.data() + written, conf.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError(absl::StrCat("writing the CT log list: ", std::strerror(errno)));
    written += static_cast<size_t>(n);
  }
  CtlogStorePtr store(CTLOG_STORE_new());
  if (store == nullptr) return absl::InternalError("CTLOG_STORE_new failed");
  std::string path = absl::StrCat("/proc/self/fd/", fd);
  if (CTLOG_STORE_load_file(store.get(), path.c_str()) != 1) {
    return absl::InternalError(absl::StrCat("loading the CT log list: ", TakeOpenSslError()));
  }
  return store;
}

std::string FormatMillis(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<std::vector<VerifiedSct>> VerifyEmbeddedScts(absl::string_view leaf_der,
                                                            absl::string_view issuer_der,
                                                            absl::Span<const CtLogInput> logs) {
  if (logs.empty()) return absl::InvalidArgumentError("no CT log to verify SCTs against");
  ASSIGN_OR_RETURN(CtlogStorePtr store, BuildLogStore(logs));

  absl::StatusOr<X509Ptr> leaf = ParseDerCertificate(leaf_der, "certificate");
  if (!leaf.ok()) return Denied(leaf.status().message());
  absl::StatusOr<X509Ptr> issuer = ParseDerCertificate(issuer_der, "issuer certificate");
  if (!issuer.ok()) return Denied(issuer.status().message());

  int index = X509_get_ext_by_NID(leaf->get(), NID_ct_precert_scts, -1);
  if (index < 0) return Denied("no embedded SCTs");
  if (X509_get_ext_by_NID(leaf->get(), NID_ct_precert_scts, index) >= 0) {
    return Denied("the certificate has two SCT list extensions");
  }
  int critical = 0;
  SctListPtr scts(
      static_cast<STACK_OF(SCT)*>(X509_get_ext_d2i(leaf->get(), NID_ct_precert_scts, &critical, nullptr)));
  if (scts == nullptr) {
    std::string detail = TakeOpenSslError();
    return Denied(absl::StrCat("the SCT list does not parse (", detail, ")"));
  }
  if (sk_SCT_num(scts.get()) == 0) return Denied("no embedded SCTs (the list is empty)");

  CtPolicyEvalCtxPtr ctx(CT_POLICY_EVAL_CTX_new());
  if (ctx == nullptr || CT_POLICY_EVAL_CTX_set1_cert(ctx.get(), leaf->get()) != 1 ||
      CT_POLICY_EVAL_CTX_set1_issuer(ctx.get(), issuer->get()) != 1) {
    return absl::InternalError(absl::StrCat("CT_POLICY_EVAL_CTX: ", TakeOpenSslError()));
  }
  CT_POLICY_EVAL_CTX_set_shared_CTLOG_STORE(ctx.get(), store.get());
  // No comparison with the clock: an SCT "from the future" is judged by its log's window.
  CT_POLICY_EVAL_CTX_set_time(ctx.get(), std::numeric_limits<uint64_t>::max());

  std::vector<VerifiedSct> verified;
  std::set<std::string> verified_logs;
  std::vector<std::string> refusals;
  for (int i = 0; i < sk_SCT_num(scts.get()); ++i) {
    SCT* sct = sk_SCT_value(scts.get(), i);
    std::string which = absl::StrCat("SCT ", i + 1);
    unsigned char* id_data = nullptr;
    size_t id_len = SCT_get0_log_id(sct, &id_data);
    std::string id(reinterpret_cast<const char*>(id_data), id_len);
    std::string id_hex = absl::BytesToHexString(id);
    if (SCT_get_version(sct) != SCT_VERSION_V1) {
      refusals.push_back(absl::StrCat(which, " is not version 1"));
      continue;
    }
    const CtLogInput* log = nullptr;
    for (const CtLogInput& candidate : logs) {
      if (candidate.log_id == id) {
        log = &candidate;
        break;
      }
    }
    if (log == nullptr) {
      refusals.push_back(absl::StrCat(which, " from unknown log ", id_hex.substr(0, 64)));
      continue;
    }
    uint64_t millis = SCT_get_timestamp(sct);
    if (millis > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      refusals.push_back(absl::StrCat(which, " has an impossible timestamp"));
      continue;
    }
    absl::Time when = absl::FromUnixMillis(static_cast<int64_t>(millis));
    if (!log->window.Contains(when)) {
      refusals.push_back(absl::StrCat(which, " from ", log->name, " is timestamped ", FormatMillis(when),
                                      ", outside the log's validity ", log->window.Describe()));
      continue;
    }
    int valid = SCT_validate(sct, ctx.get());
    sct_validation_status_t status = SCT_get_validation_status(sct);
    if (valid == 1 && status == SCT_VALIDATION_STATUS_VALID) {
      if (verified_logs.insert(id).second) verified.push_back(VerifiedSct{id_hex, log->name, when});
      ERR_clear_error();
      continue;
    }
    if (valid < 0) return absl::InternalError(absl::StrCat("SCT_validate: ", TakeOpenSslError()));
    ERR_clear_error();
    if (status == SCT_VALIDATION_STATUS_INVALID) {
      refusals.push_back(absl::StrCat(which, " from ", log->name,
                                      ": SCT signature does not verify (an altered certificate or SCT, "
                                      "or another issuer)"));
    } else {
      refusals.push_back(absl::StrCat(which, " from ", log->name, " is not valid (",
                                      SCT_validation_status_string(sct), ")"));
    }
  }
  if (verified.empty()) {
    return Denied(absl::StrCat("none verifies: ", absl::StrJoin(refusals, "; ")));
  }
  return verified;
}

}  // namespace sigshim::verify
