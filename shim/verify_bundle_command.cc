#include "shim/verify_bundle_command.h"

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "pkg/base/file.h"
#include "pkg/trust/certificate_trust.h"
#include "pkg/trust/trusted_root_json.h"
#include "pkg/verify/bundle.h"
#include "pkg/verify/certificate_identity.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/sigstore_bundle.h"

namespace sigshim::shim {
namespace {

// Artifacts larger than this are refused (give the digest instead).
constexpr size_t kMaxArtifactBytes = size_t{1} << 30;

int Fail(std::FILE* err, int code, absl::string_view reason) {
  std::fprintf(err, "sigshim verify-bundle: %s\n", std::string(reason).c_str());
  return code;
}

std::string DigestOf(const EVP_MD* md, absl::string_view name, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return "";
  return absl::StrCat(name, ":", absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(out), len)));
}

bool IsSha256Digest(absl::string_view text) {
  if (!absl::ConsumePrefix(&text, "sha256:") || text.size() != 64) return false;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || absl::ascii_isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

}  // namespace

int RunVerifyBundle(const VerifyBundleArgs& args, absl::Time now, std::FILE* out, std::FILE* err) {
  absl::StatusOr<std::string> root_text = ReadFile(args.trusted_root, trust::kMaxTrustedRootBytes);
  if (!root_text.ok()) return Fail(err, kBundleBadUsage, absl::StrCat("--trusted-root: ", root_text.status().message()));
  absl::StatusOr<trust::TrustRoot> root = trust::ParseTrustedRoot(*root_text, args.trusted_root);
  if (!root.ok()) return Fail(err, kBundleBadUsage, absl::StrCat("--trusted-root: ", root.status().message()));
  root->name = "trusted-root";

  verify::BundleProducerOptions options;
  options.now = now;
  std::string artifact;
  if (IsSha256Digest(args.artifact)) {
    options.artifact_digests.push_back(args.artifact);
  } else {
    absl::StatusOr<std::string> bytes = ReadFile(args.artifact, kMaxArtifactBytes);
    if (!bytes.ok()) {
      return Fail(err, kBundleBadUsage,
                  absl::StrCat("ARTIFACT: ", bytes.status().message(), " (give a file, or sha256:<64 hex digits>)"));
    }
    artifact = *std::move(bytes);
    options.artifact = &artifact;
    options.artifact_digests = {DigestOf(EVP_sha256(), "sha256", artifact), DigestOf(EVP_sha384(), "sha384", artifact),
                                DigestOf(EVP_sha512(), "sha512", artifact)};
  }

  std::optional<verify::ValidatedCertificateIdentity> identity;
  absl::StatusOr<verify::CertificateTrust> trust = trust::CertificateTrustFor(*root);
  if (!trust.ok()) return Fail(err, kBundleBadUsage, absl::StrCat("--trusted-root: ", trust.status().message()));
  if (!args.key.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(args.key, 64 * 1024);
    if (!pem.ok()) return Fail(err, kBundleBadUsage, absl::StrCat("--key: ", pem.status().message()));
    absl::StatusOr<std::unique_ptr<const verify::PublicKey>> key = verify::ParsePublicKeyPem(*pem);
    if (!key.ok()) return Fail(err, kBundleBadUsage, absl::StrCat("--key ", args.key, ": ", key.status().message()));
    std::shared_ptr<const verify::PublicKey> shared = *std::move(key);
    options.key_time_evidence[shared->Fingerprint()] = {root->name, trust->transparency_logs,
                                                        trust->timestamp_authorities};
    options.keys.push_back(std::move(shared));
  } else {
    verify::CertificateIdentity wanted;
    wanted.subject = args.certificate_identity;
    wanted.issuer = args.certificate_oidc_issuer;
    absl::StatusOr<verify::ValidatedCertificateIdentity> validated = verify::ValidateCertificateIdentity(wanted);
    if (!validated.ok()) return Fail(err, kBundleBadUsage, validated.status().message());
    identity = *std::move(validated);
    options.certificate_trust.push_back(*trust);
  }

  absl::StatusOr<std::string> bundle = ReadFile(args.bundle, verify::kMaxBundleBytes);
  if (!bundle.ok()) return Fail(err, kBundleNotVerified, absl::StrCat("--bundle: ", bundle.status().message()));
  absl::StatusOr<verify::ProducedStatements> produced = verify::ProduceBundleStatements(*bundle, options);
  if (!produced.ok()) {
    return Fail(err, kBundleNotVerified, absl::StrCat("could not be checked: ", produced.status().message()));
  }
  if (produced->statements.empty()) return Fail(err, kBundleNotVerified, produced->rejection);

  std::vector<std::string> reasons;
  for (const verify::SignedStatement& statement : produced->statements) {
    if (identity.has_value()) {
      const auto* signer = std::get_if<verify::CertificateSigner>(&statement.signer);
      if (signer == nullptr) continue;
      absl::Status matched = verify::MatchCertificateIdentity(signer->certificate, *identity);
      if (!matched.ok()) {
        reasons.push_back(absl::StrCat("not the identity asked for: ", matched.message()));
        continue;
      }
    } else {
      if (!root->transparency_logs.empty() && statement.verified_tlog_entries == 0) {
        reasons.push_back("the trusted root lists transparency logs, and no entry of one of them verifies");
        continue;
      }
      if ((!root->transparency_logs.empty() || !root->timestamp_authorities.empty()) &&
          !statement.signing_time.has_value()) {
        reasons.push_back("no transparency-log entry or timestamp of the trusted root proves when the key signed");
        continue;
      }
    }
    std::fprintf(out, "verified: %s%s over %s, signed by %s, signed at %s\n",
                 std::string(verify::StatementKindName(statement.kind)).c_str(),
                 statement.predicate_type.empty() ? "" : absl::StrCat(" (", statement.predicate_type, ")").c_str(),
                 statement.subject_digest.c_str(), verify::DescribeSigner(statement.signer).c_str(),
                 verify::DescribeSigningTime(statement.signing_time).c_str());
    return kBundleVerified;
  }
  return Fail(err, kBundleNotVerified, absl::StrJoin(reasons, "; "));
}

}  // namespace sigshim::shim
