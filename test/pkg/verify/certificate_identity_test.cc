// Certificate identities: validation of [[identities]] entries and matching issuer, subject (SAN)
// and Fulcio claims against made and real certificates.
#include "pkg/verify/certificate_identity.h"

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/file.h"
#include "test/pkg/verify/test_ca.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;

constexpr char kWorkflow[] = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
constexpr char kGitHub[] = "https://token.actions.githubusercontent.com";

// A Fulcio-like leaf with a URI SAN, the .1.8 issuer and some claims.
Certificate FulcioLikeLeaf(const std::string& issuer = kGitHub, const std::string& ref = "refs/heads/main") {
  static const test_ca::Issued* root = new test_ca::Issued(test_ca::MakeRoot("root"));
  test_ca::Issued leaf = test_ca::MakeLeaf(
      {.sans = std::string("URI:") + kWorkflow,
       .raw_extensions = {{"1.3.6.1.4.1.57264.1.8", test_ca::Utf8StringDer(issuer)},
                          {"1.3.6.1.4.1.57264.1.12", test_ca::Utf8StringDer("https://github.com/acme/app")},
                          {"1.3.6.1.4.1.57264.1.14", test_ca::Utf8StringDer(ref)}}},
      *root);
  absl::StatusOr<Certificate> cert = ParseCertificateDer(leaf.der);
  EXPECT_TRUE(cert.ok()) << cert.status();
  return *cert;
}

absl::Status Match(const Certificate& cert, CertificateIdentity identity,
                   CertificateIdentityOptions options = {}) {
  absl::StatusOr<ValidatedCertificateIdentity> validated =
      ValidateCertificateIdentity(std::move(identity), options);
  if (!validated.ok()) return absl::InternalError(std::string(validated.status().message()));
  return MatchCertificateIdentity(cert, *validated);
}

TEST(ValidateCertificateIdentity, NamesTheFieldThatIsWrong) {
  struct Bad {
    CertificateIdentity identity;
    CertificateIdentityOptions options;
    std::string reason;
  };
  for (const Bad& bad : std::vector<Bad>{
           {{.issuer = kGitHub, .subject_regex = "https://(unclosed"}, {}, "subject_regex \"https://(unclosed\" is not a valid regular expression: missing )"},
           {{.issuer_regex = "a[", .subject = "x"}, {}, "issuer_regex \"a[\" is not a valid regular expression"},
           {{.issuer = kGitHub, .subject = "x", .claims = {{"source_repo", "x"}}}, {}, "unknown claim \"source_repo\" (known: build_signer_uri, "},
           {{.issuer = kGitHub, .issuer_regex = ".*", .subject = "x"}, {}, "both issuer and issuer_regex"},
           {{.subject = "x"}, {}, "needs issuer or issuer_regex"},
           {{.issuer = kGitHub}, {}, "needs subject or subject_regex"},
           {{.issuer = kGitHub, .subject = "x", .subject_regex = "x"}, {}, "both subject and subject_regex"},
       }) {
    absl::StatusOr<ValidatedCertificateIdentity> validated =
        ValidateCertificateIdentity(bad.identity, bad.options);
    EXPECT_EQ(validated.status().code(), absl::StatusCode::kInvalidArgument) << bad.reason;
    EXPECT_THAT(validated.status().message(), HasSubstr(bad.reason));
  }
  // A private-PKI identity may leave the issuer out.
  EXPECT_TRUE(ValidateCertificateIdentity({.subject = "x"}, {.issuer_required = false}).ok());
}

TEST(MatchCertificateIdentity, AcceptsExactIssuerSubjectAndClaims) {
  EXPECT_TRUE(Match(FulcioLikeLeaf(), {.issuer = kGitHub,
                                       .subject = kWorkflow,
                                       .claims = {{"source_repository_uri", "https://github.com/acme/app"},
                                                  {"source_repository_ref", "refs/heads/main"}}})
                  .ok());
}

TEST(MatchCertificateIdentity, SaysWhichIssuerItFoundAndExpected) {
  absl::Status status = Match(FulcioLikeLeaf("https://x"), {.issuer = "https://y", .subject = kWorkflow});
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "issuer is https://x, expected https://y");
}

TEST(MatchCertificateIdentity, RegexesMatchTheWholeValueNeverASubstring) {
  const Certificate cert = FulcioLikeLeaf();
  EXPECT_TRUE(Match(cert, {.issuer_regex = "https://token\\.actions\\..*", .subject_regex = "https://github\\.com/acme/.*"}).ok());
  // Each of these would match part of the value.
  absl::Status subject = Match(cert, {.issuer = kGitHub, .subject_regex = "acme/app"});
  EXPECT_EQ(subject.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(subject.message(), std::string("no SAN matches subject_regex acme/app (SANs: URI:") + kWorkflow + ")");
  EXPECT_FALSE(Match(cert, {.issuer = kGitHub, .subject_regex = "https://github\\.com/acme/app"}).ok());
  absl::Status issuer = Match(cert, {.issuer_regex = "token\\.actions", .subject = kWorkflow});
  EXPECT_THAT(issuer.message(), HasSubstr("does not match issuer_regex token\\.actions"));
  EXPECT_FALSE(Match(cert, {.issuer_regex = "^https://token", .subject = kWorkflow}).ok());
}

TEST(MatchCertificateIdentity, ComparesClaimsEqualDifferentAndAbsent) {
  const Certificate cert = FulcioLikeLeaf(kGitHub, "refs/heads/dev");
  absl::Status status = Match(cert, {.issuer = kGitHub,
                                     .subject = kWorkflow,
                                     .claims = {{"source_repository_ref", "refs/heads/main"},
                                                {"runner_environment", "github-hosted"},
                                                {"source_repository_uri", "https://github.com/acme/app"}}});
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "certificate has no claim runner_environment (1.3.6.1.4.1.57264.1.11), expected github-hosted; "
            "claim source_repository_ref is refs/heads/dev, expected refs/heads/main");
}

TEST(MatchCertificateIdentity, SaysWhenTheCertificateHasNoIssuer) {
  test_ca::Issued root = test_ca::MakeRoot("root");
  absl::StatusOr<Certificate> cert =
      ParseCertificateDer(test_ca::MakeLeaf({.sans = "email:dev@example.com"}, root).der);
  ASSERT_TRUE(cert.ok());
  absl::Status status = Match(*cert, {.issuer = kGitHub, .subject = "dev@example.com"});
  EXPECT_EQ(status.message(),
            "certificate has no issuer extension (1.3.6.1.4.1.57264.1.8 or 1.3.6.1.4.1.57264.1.1)");
  // A private-PKI identity without issuer does not look at the extension.
  EXPECT_TRUE(Match(*cert, {.subject = "dev@example.com"}, {.issuer_required = false}).ok());
}

TEST(MatchCertificateIdentity, APrivatePkiIssuerWhenGivenMustBeInTheIssuerExtension) {
  test_ca::Issued root = test_ca::MakeRoot("root");
  absl::StatusOr<Certificate> cert = ParseCertificateDer(
      test_ca::MakeLeaf({.sans = "DNS:build.example.com",
                         .raw_extensions = {{"1.3.6.1.4.1.57264.1.1", "https://idp.example.com"}}},
                        root)
          .der);
  ASSERT_TRUE(cert.ok());
  EXPECT_TRUE(Match(*cert, {.issuer = "https://idp.example.com", .subject = "build.example.com"},
                    {.issuer_required = false})
                  .ok());
  EXPECT_FALSE(Match(*cert, {.issuer = "https://other.example.com", .subject = "build.example.com"},
                     {.issuer_required = false})
                   .ok());
}

TEST(MatchCertificateIdentity, TheSubjectMayBeAnySanKind) {
  test_ca::Issued root = test_ca::MakeRoot("root");
  absl::StatusOr<Certificate> cert = ParseCertificateDer(
      test_ca::MakeLeaf({.sans = "email:dev@example.com,DNS:host.example.com,URI:spiffe://example.com/ci,"
                                 "otherName:1.3.6.1.4.1.57264.1.7;UTF8:user!idp"},
                        root)
          .der);
  ASSERT_TRUE(cert.ok());
  for (const char* subject : {"dev@example.com", "host.example.com", "spiffe://example.com/ci", "user!idp"}) {
    EXPECT_TRUE(Match(*cert, {.subject = subject}, {.issuer_required = false}).ok()) << subject;
  }
  absl::Status status = Match(*cert, {.subject = "other@example.com"}, {.issuer_required = false});
  EXPECT_EQ(status.message(),
            "no SAN is other@example.com (SANs: email:dev@example.com, DNS:host.example.com, "
            "URI:spiffe://example.com/ci, otherName:user!idp)");
}

TEST(MatchCertificateIdentity, MatchesARealGitHubActionsCertificateAndItsClaims) {
  absl::StatusOr<std::string> text =
      ReadFile("test/testdata/sigstore-go/bundles/sigstore.js@2.0.0-provenance.sigstore.json", 1 << 20);
  ASSERT_TRUE(text.ok()) << text.status();
  nlohmann::json bundle = nlohmann::json::parse(*text);
  absl::StatusOr<std::string> der = Base64Decode(
      bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"].get<std::string>());
  ASSERT_TRUE(der.ok());
  absl::StatusOr<Certificate> cert = ParseCertificateDer(*der);
  ASSERT_TRUE(cert.ok()) << cert.status();
  CertificateIdentity identity{
      .issuer = kGitHub,
      .subject_regex = "https://github\\.com/sigstore/sigstore-js/\\.github/workflows/.*@refs/heads/main",
      .claims = {{"source_repository_uri", "https://github.com/sigstore/sigstore-js"},
                 {"source_repository_ref", "refs/heads/main"},
                 {"runner_environment", "github-hosted"}}};
  EXPECT_TRUE(Match(*cert, identity).ok()) << Match(*cert, identity);
  identity.claims["source_repository_ref"] = "refs/tags/v2.0.0";
  EXPECT_EQ(Match(*cert, identity).message(),
            "claim source_repository_ref is refs/heads/main, expected refs/tags/v2.0.0");
}

}  // namespace
}  // namespace sigshim::verify
