#include "pkg/trust/pki.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"
#include "pkg/trust/certificate_facts.h"
#include "pkg/trust/pem_bundle.h"
#include "pkg/verify/public_key.h"

namespace sigshim::trust {
namespace {

absl::Status InFile(const PemFile& file, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(file.source, ": ", message));
}

struct Certificate {
  std::string der;
  internal::CertificateFacts facts;
};

// Decodes the CERTIFICATE blocks of `file`; when `ca_only`, each must be a CA certificate.
absl::StatusOr<std::vector<Certificate>> Certificates(const PemFile& file, bool ca_only) {
  absl::StatusOr<std::vector<std::string>> blocks = DecodePemBundle(file.text, "CERTIFICATE");
  if (!blocks.ok()) return InFile(file, blocks.status().message());
  std::vector<Certificate> out;
  for (size_t i = 0; i < blocks->size(); ++i) {
    absl::StatusOr<internal::CertificateFacts> facts = internal::InspectCertificate((*blocks)[i]);
    if (!facts.ok()) return InFile(file, absl::StrCat("certificate ", i + 1, ": ", facts.status().message()));
    if (ca_only && !facts->is_ca) {
      return InFile(file, absl::StrCat("certificate ", i + 1, " (", facts->subject,
                                       ") is not a CA certificate (no basicConstraints CA:TRUE)"));
    }
    out.push_back({std::move((*blocks)[i]), *std::move(facts)});
  }
  return out;
}

}  // namespace

absl::StatusOr<TrustRoot> LoadPkiTrustRoot(const PkiFiles& files) {
  TrustRoot root;
  root.kind = TrustRootKind::kPrivatePki;
  root.source.push_back(files.ca_roots.source);
  ASSIGN_OR_RETURN(std::vector<Certificate> roots, Certificates(files.ca_roots, /*ca_only=*/true));
  std::vector<Certificate> intermediates;
  if (files.ca_intermediates.has_value()) {
    root.source.push_back(files.ca_intermediates->source);
    ASSIGN_OR_RETURN(intermediates, Certificates(*files.ca_intermediates, /*ca_only=*/true));
  }
  for (const Certificate& anchor : roots) {
    CertificateAuthority ca;
    ca.subject = anchor.facts.subject;
    for (const Certificate& intermediate : intermediates) ca.chain_der.push_back(intermediate.der);
    ca.chain_der.push_back(anchor.der);
    ca.valid_for = anchor.facts.validity;
    root.certificate_authorities.push_back(std::move(ca));
  }

  if (files.timestamp_authorities.has_value()) {
    const PemFile& file = *files.timestamp_authorities;
    root.source.push_back(file.source);
    ASSIGN_OR_RETURN(std::vector<Certificate> chain, Certificates(file, /*ca_only=*/false));
    if (!chain.front().facts.time_stamping_eku) {
      return InFile(file, absl::StrCat("certificate 1 (", chain.front().facts.subject,
                                       ") is not a timestamp authority's leaf: it lacks the timeStamping extended "
                                       "key usage (the chain is the leaf first, then intermediates, the root last)"));
    }
    CertificateAuthority tsa;
    for (size_t i = 0; i < chain.size(); ++i) {
      if (i > 0 && !chain[i].facts.is_ca) {
        return InFile(file, absl::StrCat("certificate ", i + 1, " (", chain[i].facts.subject,
                                         ") is not a CA certificate (no basicConstraints CA:TRUE); after the "
                                         "leaf, a TSA chain holds its intermediates and root"));
      }
      tsa.valid_for.start = std::max(tsa.valid_for.start, chain[i].facts.validity.start);
      tsa.valid_for.end = std::min(tsa.valid_for.end, chain[i].facts.validity.end);
      tsa.chain_der.push_back(std::move(chain[i].der));
    }
    if (tsa.valid_for.end < tsa.valid_for.start) {
      return InFile(file, "the certificates of the TSA chain are never all valid at once");
    }
    tsa.subject = chain.back().facts.subject;
    root.timestamp_authorities.push_back(std::move(tsa));
  }

  if (files.rekor_keys.has_value()) {
    const PemFile& file = *files.rekor_keys;
    root.source.push_back(file.source);
    absl::StatusOr<std::vector<std::string>> blocks = DecodePemBundle(file.text, "PUBLIC KEY");
    if (!blocks.ok()) return InFile(file, blocks.status().message());
    for (size_t i = 0; i < blocks->size(); ++i) {
      absl::StatusOr<std::unique_ptr<const verify::PublicKey>> key = verify::ParsePublicKeyDer((*blocks)[i]);
      if (!key.ok()) return InFile(file, absl::StrCat("key ", i + 1, ": ", key.status().message()));
      TransparencyLog log;
      log.public_key = std::shared_ptr<const verify::PublicKey>(*std::move(key));
      // Rekor's log id: SHA-256 over the DER SubjectPublicKeyInfo.
      log.log_id = absl::HexStringToBytes(Sha256Hex(log.public_key->Der()));
      for (const TransparencyLog& other : root.transparency_logs) {
        if (other.log_id == log.log_id) {
          return InFile(file, absl::StrCat("key ", i + 1, " is listed twice (log id ", log.LogIdHex(), ")"));
        }
      }
      root.transparency_logs.push_back(std::move(log));
    }
  }
  root.require_transparency_log = !root.transparency_logs.empty();
  return root;
}

}  // namespace sigshim::trust
