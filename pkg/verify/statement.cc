#include "pkg/verify/statement.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sigshim::verify {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

const std::string& SignerFingerprint(const Signer& signer) {
  return std::visit(Overloaded{[](const KeySigner& key) -> const std::string& { return key.fingerprint; },
                               [](const CertificateSigner& certificate) -> const std::string& {
                                 return certificate.certificate.Fingerprint();
                               }},
                    signer);
}

absl::string_view SignerType(const Signer& signer) {
  return std::visit(Overloaded{[](const KeySigner&) { return absl::string_view("key"); },
                               [](const CertificateSigner&) { return absl::string_view("certificate"); }},
                    signer);
}

std::string DescribeSigner(const Signer& signer) {
  return std::visit(
      Overloaded{[](const KeySigner& key) { return absl::StrCat("key ", key.description); },
                 [](const CertificateSigner& signer) {
                   const Certificate& c = signer.certificate;
                   std::vector<std::string> sans;
                   for (const SubjectAltName& san : c.SubjectAltNames()) {
                     sans.push_back(absl::StrCat(SanKindName(san.kind), ":", san.value));
                   }
                   return absl::StrCat("certificate ",
                                       c.OidcIssuer().empty() ? "" : absl::StrCat("issuer ", c.OidcIssuer(), " "),
                                       "subject ", sans.empty() ? "(no SAN)" : absl::StrJoin(sans, ", "),
                                       " (trust root ", signer.trust_root, ", ", c.Fingerprint(), ")");
                 }},
      signer);
}

absl::string_view StatementKindName(StatementKind kind) {
  switch (kind) {
    case StatementKind::kSignature:
      return "signature";
    case StatementKind::kAttestation:
      return "attestation";
  }
  return "attestation";
}

absl::string_view TimeSourceName(TimeSource source) {
  switch (source) {
    case TimeSource::kTransparencyLog:
      return "tlog";
    case TimeSource::kTimestamp:
      return "timestamp";
  }
  return "tlog";
}

std::string FormatTimeUtc(absl::Time t) {
  if (t == absl::InfinitePast()) return "(the beginning of time)";
  if (t == absl::InfiniteFuture()) return "(no end)";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string DescribeSigningTime(const std::optional<SigningTime>& time) {
  if (!time.has_value()) return "unknown";
  return absl::StrCat(FormatTimeUtc(time->time), " (", TimeSourceName(time->source), ")");
}

std::optional<SigningTime> EarlierSigningTime(const std::optional<SigningTime>& a,
                                              const std::optional<SigningTime>& b) {
  if (!a.has_value()) return b;
  if (!b.has_value()) return a;
  return b->time < a->time ? b : a;
}

}  // namespace sigshim::verify
