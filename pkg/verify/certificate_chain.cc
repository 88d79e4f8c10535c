#include "pkg/verify/certificate_chain.h"

#include <openssl/asn1.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "pkg/verify/certificate_internal.h"

namespace sigshim::verify {

struct CaPool::Entry {
  std::string der;
  std::shared_ptr<X509> x509;
  std::string subject;
  ValidityWindow validity;
};

struct CaPool::Entries {
  std::vector<Entry> roots;
  std::vector<Entry> intermediates;
};

namespace {

// Paths longer than this are refused (leaf, intermediates and root).
constexpr int kMaxPathDepth = 10;

struct StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }  // the certificates stay owned elsewhere
};

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> AsnTime(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return absl::InvalidArgumentError("certificate time does not parse");
  }
  return absl::FromCivil(absl::CivilSecond(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                           tm.tm_min, tm.tm_sec),
                         absl::UTCTimeZone());
}

std::string ValidityText(const X509* x509) {
  absl::StatusOr<absl::Time> not_before = AsnTime(X509_get0_notBefore(x509));
  absl::StatusOr<absl::Time> not_after = AsnTime(X509_get0_notAfter(x509));
  if (!not_before.ok() || !not_after.ok()) return "(unreadable validity)";
  return absl::StrCat(TimeText(*not_before), " .. ", TimeText(*not_after));
}

// RFC 5280 makes notAfter inclusive; OpenSSL 3.0 counts a certificate as expired in its notAfter
// second. This callback lets that one second through; every other error stays fatal.
int InclusiveNotAfter(int ok, X509_STORE_CTX* ctx) {
  if (ok != 0) return ok;
  if (X509_STORE_CTX_get_error(ctx) != X509_V_ERR_CERT_HAS_EXPIRED) return 0;
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  const time_t at = X509_VERIFY_PARAM_get_time(X509_STORE_CTX_get0_param(ctx));
  if (cert != nullptr && ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), at) == 0) {
    X509_STORE_CTX_set_error(ctx, X509_V_OK);
    return 1;
  }
  return 0;
}

// Returns "the leaf certificate" or "certificate <subject> (depth n)" for messages.
std::string Who(const X509* cert, int depth) {
  if (depth == 0) return "the leaf certificate";
  std::string subject = cert != nullptr ? NameText(X509_get_subject_name(cert)) : "";
  return absl::StrCat("certificate ", subject.empty() ? "(no subject)" : subject, " (depth ", depth, ")");
}

// Explains why X509_verify_cert failed, in words a person can act on.
std::string Explain(X509_STORE_CTX* ctx, absl::Time at, const std::vector<std::string>& unused) {
  const int error = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx);
  const X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  const std::string openssl = absl::StrCat(" (OpenSSL: ", X509_verify_cert_error_string(error), ")");
  std::string what;
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      what = absl::StrCat(Who(cert, depth), " is not valid at ", TimeText(at), ": it is valid ",
                          cert != nullptr ? ValidityText(cert) : "(unknown)");
      break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      what = absl::StrCat("no path from ", Who(cert, depth), ", issued by ",
                          cert != nullptr ? NameText(X509_get_issuer_name(cert)) : "(unknown)",
                          ", to a root trusted at ", TimeText(at));
      break;
    case X509_V_ERR_INVALID_CA:
      what = absl::StrCat(Who(cert, depth), " issues a certificate but is not a CA");
      break;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      what = absl::StrCat("the signature on ", Who(cert, depth), " does not verify");
      break;
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
      what = absl::StrCat("the path is too long at ", Who(cert, depth));
      break;
    default:
      what = absl::StrCat(Who(cert, depth), " is refused");
      break;
  }
  std::string out = absl::StrCat("certificate chain: ", what, openssl);
  if (!unused.empty()) absl::StrAppend(&out, "; not trusted at that time: ", absl::StrJoin(unused, "; "));
  return out;
}

bool HasEku(const X509* cert, uint32_t flag) {
  const uint32_t flags = X509_get_extension_flags(const_cast<X509*>(cert));
  if ((flags & EXFLAG_XKUSAGE) == 0) return true;  // no EKU extension
  return (X509_get_extended_key_usage(const_cast<X509*>(cert)) & flag) != 0;
}

}  // namespace

absl::StatusOr<CaPool> CaPool::Create(std::vector<TrustedCertificate> roots,
                                      std::vector<TrustedCertificate> intermediates) {
  if (roots.empty()) return absl::InvalidArgumentError("a certificate authority pool needs a root");
  auto entries = std::make_shared<Entries>();
  auto load = [](std::vector<TrustedCertificate>& from, const char* what,
                 std::vector<Entry>* to) -> absl::Status {
    for (size_t i = 0; i < from.size(); ++i) {
      absl::StatusOr<std::shared_ptr<X509>> x509 = ParseX509Der(from[i].der);
      if (!x509.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(what, " ", i + 1, ": ", x509.status().message()));
      }
      Entry entry;
      entry.subject = NameText(X509_get_subject_name(x509->get()));
      entry.x509 = *std::move(x509);
      entry.der = std::move(from[i].der);
      entry.validity = from[i].validity;
      to->push_back(std::move(entry));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = load(roots, "root", &entries->roots); !s.ok()) return s;
  if (absl::Status s = load(intermediates, "intermediate", &entries->intermediates); !s.ok()) return s;
  return CaPool(std::move(entries));
}

size_t CaPool::RootCount() const { return entries_->roots.size(); }

bool CaPool::Contains(absl::string_view der) const {
  for (const std::vector<Entry>* entries : {&entries_->roots, &entries_->intermediates}) {
    for (const Entry& entry : *entries) {
      if (entry.der == der) return true;
    }
  }
  return false;
}
const X509* CaPool::Find(absl::string_view der) const {
  for (const std::vector<Entry>* entries : {&entries_->roots, &entries_->intermediates}) {
    for (const Entry& entry : *entries) {
      if (entry.der == der) return entry.x509.get();
    }
  }
  return nullptr;
}
size_t CaPool::IntermediateCount() const { return entries_->intermediates.size(); }

absl::StatusOr<std::vector<std::string>> VerifyCertificateChain(
    const Certificate& leaf, absl::Span<const std::string> untrusted_intermediates,
    const CaPool& pool, absl::Time at) {
  if (at == absl::InfinitePast() || at == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("certificate chain: the verification time is not a finite time");
  }
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  if (store == nullptr || untrusted == nullptr) {
    return absl::InternalError(absl::StrCat("certificate chain: ", OpenSslErrorText()));
  }
  // Pool certificates outside their window at `at`: never used, and named when the chain fails.
  std::vector<std::string> unused;
  size_t usable_roots = 0;
  for (const CaPool::Entry& root : pool.entries_->roots) {
    if (!root.validity.Contains(at)) {
      unused.push_back(absl::StrCat("root ", root.subject, " (trusted ", root.validity.Describe(), ")"));
      continue;
    }
    if (X509_STORE_add_cert(store.get(), root.x509.get()) != 1) {
      return absl::InternalError(absl::StrCat("certificate chain: ", OpenSslErrorText()));
    }
    ++usable_roots;
  }
  for (const CaPool::Entry& intermediate : pool.entries_->intermediates) {
    if (!intermediate.validity.Contains(at)) {
      unused.push_back(absl::StrCat("intermediate ", intermediate.subject, " (trusted ",
                                    intermediate.validity.Describe(), ")"));
      continue;
    }
    if (sk_X509_push(untrusted.get(), intermediate.x509.get()) <= 0) {
      return absl::InternalError(absl::StrCat("certificate chain: ", OpenSslErrorText()));
    }
  }
  // Parsed annotation certificates stay alive (owned here) until the verification is over. One that
  // is byte for byte a pool certificate adds nothing and is not parsed again: in its window the pool
  // already offers it (as a root or an intermediate), outside it it must not be used.
  std::vector<std::shared_ptr<X509>> annotation;
  for (size_t i = 0; i < untrusted_intermediates.size(); ++i) {
    if (pool.Contains(untrusted_intermediates[i])) continue;
    absl::StatusOr<std::shared_ptr<X509>> x509 = ParseX509Der(untrusted_intermediates[i]);
    if (!x509.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("certificate chain: certificate ", i + 1,
                                                     " of the chain: ", x509.status().message()));
    }
    if (sk_X509_push(untrusted.get(), x509->get()) <= 0) {
      return absl::InternalError(absl::StrCat("certificate chain: ", OpenSslErrorText()));
    }
    annotation.push_back(*std::move(x509));
  }
  if (usable_roots == 0) {
    return absl::PermissionDeniedError(absl::StrCat("certificate chain: no root is trusted at ",
                                                    TimeText(at), ": ", absl::StrJoin(unused, "; ")));
  }

  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf.OpenSslX509(), untrusted.get()) != 1) {
    return absl::InternalError(absl::StrCat("certificate chain: ", OpenSslErrorText()));
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  // Whole seconds, rounded down (X.509 times have no fraction); the exact check follows below.
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(absl::ToUnixSeconds(at)));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_USE_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_depth(param, kMaxPathDepth);
  X509_STORE_CTX_set_verify_cb(ctx.get(), InclusiveNotAfter);
  const int rc = X509_verify_cert(ctx.get());
  if (rc < 0) {
    return absl::InternalError(absl::StrCat("certificate chain: ", OpenSslErrorText()));
  }
  if (rc != 1) {
    std::string why = Explain(ctx.get(), at, unused);
    OpenSslErrorText();  // clears the queue
    return absl::PermissionDeniedError(why);
  }

  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
  std::vector<std::string> out;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    const X509* cert = sk_X509_value(chain, i);
    absl::StatusOr<absl::Time> not_before = AsnTime(X509_get0_notBefore(cert));
    absl::StatusOr<absl::Time> not_after = AsnTime(X509_get0_notAfter(cert));
    if (!not_before.ok() || !not_after.ok() || at < *not_before || at > *not_after) {
      return absl::PermissionDeniedError(absl::StrCat("certificate chain: ", Who(cert, i),
                                                      " is not valid at ", TimeText(at),
                                                      ": it is valid ", ValidityText(cert)));
    }
    if (i == 0) {
      if (!leaf.AllowsCodeSigning()) {
        return absl::PermissionDeniedError(absl::StrCat(
            "certificate chain: the leaf certificate's extended key usage (",
            absl::StrJoin(leaf.ExtendedKeyUsages(), ", "), ") does not allow code signing (",
            kOidCodeSigning, ")"));
      }
    } else if (!HasEku(cert, XKU_CODE_SIGN | XKU_ANYEKU)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "certificate chain: ", Who(cert, i),
          " has an extended key usage extension without code signing or anyExtendedKeyUsage"));
    }
    unsigned char* der = nullptr;
    const int len = i2d_X509(cert, &der);
    if (len <= 0) return absl::InternalError(absl::StrCat("certificate chain: ", OpenSslErrorText()));
    out.emplace_back(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
  }
  return out;
}

}  // namespace sigshim::verify
