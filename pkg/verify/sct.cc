#include "pkg/verify/sct.h"

#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/openssl_x509.h"

namespace sigshim::verify {
namespace {

using internal::ParseDerCertificate;
using internal::TakeOpenSslError;
using internal::X509Ptr;

constexpr size_t kLogIdBytes = 32;

struct SctListFree {
  void operator()(STACK_OF(SCT) * p) const { SCT_LIST_free(p); }
};
struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using SctListPtr = std::unique_ptr<STACK_OF(SCT), SctListFree>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;

absl::Status Denied(absl::string_view what) {
  return absl::PermissionDeniedError(absl::StrCat("embedded SCTs: ", what));
}

std::string FormatMillis(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

struct X509ExtensionFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, X509ExtensionFree>;

// Returns what the log signed for a precertificate entry (RFC 6962 §3.2): the leaf's TBSCertificate
// without its SCT list extension, re-encoded by OpenSSL from a copy of the leaf (as OpenSSL's own
// SCT_CTX_set1_cert does). InvalidArgument when the leaf also carries the precertificate poison or
// has no SCT list extension; Internal when OpenSSL fails.
absl::StatusOr<std::string> PrecertificateTbs(const X509* leaf) {
  if (X509_get_ext_by_NID(leaf, NID_ct_precert_poison, -1) >= 0) {
    return absl::InvalidArgumentError("the certificate carries both SCTs and the precertificate poison");
  }
  X509Ptr copy(X509_dup(leaf));
  if (copy == nullptr) return absl::InternalError(absl::StrCat("X509_dup: ", TakeOpenSslError()));
  const int index = X509_get_ext_by_NID(copy.get(), NID_ct_precert_scts, -1);
  if (index < 0) return absl::InvalidArgumentError("the certificate has no SCT list extension");
  X509ExtensionPtr removed(X509_delete_ext(copy.get(), index));
  if (removed == nullptr) return absl::InternalError(absl::StrCat("X509_delete_ext: ", TakeOpenSslError()));
  unsigned char* der = nullptr;
  const int len = i2d_re_X509_tbs(copy.get(), &der);
  if (len <= 0) return absl::InternalError(absl::StrCat("i2d_re_X509_tbs: ", TakeOpenSslError()));
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// Returns the SHA-256 (raw bytes) of `issuer`'s DER SubjectPublicKeyInfo: RFC 6962's issuer_key_hash.
// Internal when OpenSSL cannot encode the key.
absl::StatusOr<std::string> IssuerKeyHash(const X509* issuer) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(issuer), &der);
  if (len <= 0) return absl::InternalError(absl::StrCat("i2d_X509_PUBKEY: ", TakeOpenSslError()));
  std::string hash = absl::HexStringToBytes(
      Sha256Hex(absl::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(len))));
  OPENSSL_free(der);
  return hash;
}

void AppendBigEndian(uint64_t value, int bytes, std::string& out) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Checks one SCT's signature with `key`: OK, PermissionDenied (does not verify), Internal.
absl::Status VerifySctSignature(const SCT* sct, absl::string_view issuer_key_hash, absl::string_view tbs,
                                EVP_PKEY* key) {
  // RFC 6962 §3.2: digitally-signed struct { version, signature_type certificate_timestamp,
  // timestamp, entry_type precert_entry, PreCert { issuer_key_hash, tbs_certificate<1..2^24-1> },
  // extensions<0..2^16-1> }.
  unsigned char* extensions = nullptr;
  const size_t extensions_len = SCT_get0_extensions(sct, &extensions);
  if (tbs.size() >= (1u << 24) || extensions_len >= (1u << 16)) {
    return absl::PermissionDeniedError("the signed entry is too large");
  }
  std::string signed_data;
  signed_data.reserve(16 + issuer_key_hash.size() + tbs.size() + extensions_len);
  signed_data.push_back(0);  // v1
  signed_data.push_back(0);  // certificate_timestamp
  AppendBigEndian(SCT_get_timestamp(sct), 8, signed_data);
  AppendBigEndian(1, 2, signed_data);  // precert_entry
  signed_data.append(issuer_key_hash.data(), issuer_key_hash.size());
  AppendBigEndian(tbs.size(), 3, signed_data);
  signed_data.append(tbs.data(), tbs.size());
  AppendBigEndian(extensions_len, 2, signed_data);
  if (extensions_len > 0) signed_data.append(reinterpret_cast<const char*>(extensions), extensions_len);

  unsigned char* signature = nullptr;
  const size_t signature_len = SCT_get0_signature(sct, &signature);
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return absl::InternalError(absl::StrCat("EVP_DigestVerifyInit: ", TakeOpenSslError()));
  }
  const int rc = EVP_DigestVerify(ctx.get(), signature, signature_len,
                                  reinterpret_cast<const unsigned char*>(signed_data.data()), signed_data.size());
  ERR_clear_error();
  if (rc != 1) return absl::PermissionDeniedError("does not verify");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<VerifiedSct>> Verify(const X509* leaf, const X509* issuer, const CtLogs& logs) {
  int index = X509_get_ext_by_NID(leaf, NID_ct_precert_scts, -1);
  if (index < 0) return Denied("no embedded SCTs");
  if (X509_get_ext_by_NID(leaf, NID_ct_precert_scts, index) >= 0) {
    return Denied("the certificate has two SCT list extensions");
  }
  int critical = 0;
  SctListPtr scts(static_cast<STACK_OF(SCT)*>(X509_get_ext_d2i(leaf, NID_ct_precert_scts, &critical, nullptr)));
  if (scts == nullptr) {
    std::string detail = TakeOpenSslError();
    return Denied(absl::StrCat("the SCT list does not parse (", detail, ")"));
  }
  if (sk_SCT_num(scts.get()) == 0) return Denied("no embedded SCTs (the list is empty)");

  absl::StatusOr<std::string> tbs = PrecertificateTbs(leaf);
  if (!tbs.ok()) {
    if (tbs.status().code() != absl::StatusCode::kInvalidArgument) return tbs.status();
    return Denied(absl::StrCat("the certificate's precertificate entry: ", tbs.status().message()));
  }
  ASSIGN_OR_RETURN(const std::string issuer_key_hash, IssuerKeyHash(issuer));

  std::vector<VerifiedSct> verified;
  std::set<std::string> verified_logs;
  std::vector<std::string> refusals;
  for (int i = 0; i < sk_SCT_num(scts.get()); ++i) {
    const SCT* sct = sk_SCT_value(scts.get(), i);
    std::string which = absl::StrCat("SCT ", i + 1);
    unsigned char* id_data = nullptr;
    size_t id_len = SCT_get0_log_id(sct, &id_data);
    std::string id(reinterpret_cast<const char*>(id_data), id_len);
    std::string id_hex = absl::BytesToHexString(id);
    if (SCT_get_version(sct) != SCT_VERSION_V1) {
      refusals.push_back(absl::StrCat(which, " is not version 1"));
      continue;
    }
    const CtLogs::Log* log = logs.Find(id);
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
    const int nid = SCT_get_signature_nid(sct);
    if (nid != NID_ecdsa_with_SHA256 && nid != NID_sha256WithRSAEncryption) {
      refusals.push_back(absl::StrCat(which, " from ", log->name,
                                      " is not signed with SHA-256 and ECDSA or RSA (RFC 6962 allows no other)"));
      continue;
    }
    absl::Status signature = VerifySctSignature(sct, issuer_key_hash, *tbs, log->key.get());
    if (signature.ok()) {
      if (verified_logs.insert(id).second) verified.push_back(VerifiedSct{id_hex, log->name, when});
      continue;
    }
    if (signature.code() != absl::StatusCode::kPermissionDenied) return signature;
    refusals.push_back(absl::StrCat(which, " from ", log->name,
                                    ": SCT signature does not verify (an altered certificate or SCT, "
                                    "or another issuer)"));
  }
  if (verified.empty()) {
    return Denied(absl::StrCat("none verifies: ", absl::StrJoin(refusals, "; ")));
  }
  return verified;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CtLogs>> CtLogs::Create(absl::Span<const CtLogInput> logs) {
  if (logs.empty()) return absl::InvalidArgumentError("no CT log to verify SCTs against");
  std::vector<Log> parsed;
  parsed.reserve(logs.size());
  for (const CtLogInput& log : logs) {
    if (log.log_id.size() != kLogIdBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("CT log ", log.name, ": log id is ", log.log_id.size(), " bytes, not ", kLogIdBytes));
    }
    const unsigned char* p = reinterpret_cast<const unsigned char*>(log.key_der.data());
    std::shared_ptr<EVP_PKEY> key(d2i_PUBKEY(nullptr, &p, static_cast<long>(log.key_der.size())), EVP_PKEY_free);
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
    parsed.push_back(Log{log.name, log.log_id, log.window, std::move(key)});
  }
  return std::shared_ptr<const CtLogs>(new CtLogs(std::move(parsed)));
}

const CtLogs::Log* CtLogs::Find(absl::string_view log_id) const {
  for (const Log& log : logs_) {
    if (log.log_id == log_id) return &log;
  }
  return nullptr;
}

absl::StatusOr<std::vector<VerifiedSct>> VerifyEmbeddedScts(const Certificate& leaf, absl::string_view issuer_der,
                                                            const CtLogs& logs) {
  absl::StatusOr<X509Ptr> issuer = ParseDerCertificate(issuer_der, "issuer certificate");
  if (!issuer.ok()) return Denied(issuer.status().message());
  return Verify(leaf.OpenSslX509(), issuer->get(), logs);
}

absl::StatusOr<std::vector<VerifiedSct>> VerifyEmbeddedScts(const Certificate& leaf, const x509_st* issuer,
                                                            const CtLogs& logs) {
  if (issuer == nullptr) return Denied("no issuer certificate");
  return Verify(leaf.OpenSslX509(), issuer, logs);
}

absl::StatusOr<std::vector<VerifiedSct>> VerifyEmbeddedScts(absl::string_view leaf_der,
                                                            absl::string_view issuer_der,
                                                            absl::Span<const CtLogInput> logs) {
  ASSIGN_OR_RETURN(std::shared_ptr<const CtLogs> parsed_logs, CtLogs::Create(logs));
  absl::StatusOr<X509Ptr> leaf = ParseDerCertificate(leaf_der, "certificate");
  if (!leaf.ok()) return Denied(leaf.status().message());
  absl::StatusOr<X509Ptr> issuer = ParseDerCertificate(issuer_der, "issuer certificate");
  if (!issuer.ok()) return Denied(issuer.status().message());
  return Verify(leaf->get(), issuer->get(), *parsed_logs);
}

}  // namespace sigshim::verify
