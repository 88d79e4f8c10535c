// Certificates: parsing (real Fulcio and private-PKI certificates, made ones, hostile input), the
// cosign chain annotation, and chain verification against a CaPool at a given time.
#include "pkg/verify/certificate.h"

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/verify/certificate_chain.h"
#include "pkg/verify/pem.h"
#include "test/pkg/verify/test_ca.h"

namespace sigshim::verify {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using test_ca::Issued;
using test_ca::Spec;

constexpr char kConformance[] = "test/testdata/cosign-conformance/";
constexpr char kBundles[] = "test/testdata/sigstore-go/bundles/";

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 1 << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : std::string();
}

// The certificates (DER) of a sigstore bundle: the chain of a v0.1 bundle, or the v0.3 certificate.
std::vector<std::string> BundleCertificates(const std::string& name) {
  nlohmann::json bundle = nlohmann::json::parse(Read(kBundles + name), nullptr, false);
  std::vector<std::string> out;
  if (bundle.is_discarded()) return out;
  const nlohmann::json& material = bundle["verificationMaterial"];
  std::vector<nlohmann::json> certs;
  if (material.contains("x509CertificateChain")) {
    for (const auto& c : material["x509CertificateChain"]["certificates"]) certs.push_back(c);
  } else {
    certs.push_back(material["certificate"]);
  }
  for (const auto& c : certs) {
    absl::StatusOr<std::string> der = Base64Decode(c["rawBytes"].get<std::string>());
    EXPECT_TRUE(der.ok()) << der.status();
    if (der.ok()) out.push_back(*der);
  }
  return out;
}

absl::Time Utc(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

Certificate MustParse(const std::string& der) {
  absl::StatusOr<Certificate> cert = ParseCertificateDer(der);
  EXPECT_TRUE(cert.ok()) << cert.status();
  return *cert;
}

// ---- parsing ----

TEST(ParseCertificate, ReadsARealFulcioLeafWithTheLegacyIssuerExtension) {
  absl::StatusOr<Certificate> cert =
      ParseCertificatePem(Read(absl::StrCat(kConformance, "components/fulcio-rekor/fulcio-cert")));
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(cert->OidcIssuer(), "https://github.com/login/oauth");
  EXPECT_EQ(cert->OidcIssuerSource(), IssuerSource::kV1Legacy);
  ASSERT_EQ(cert->SubjectAltNames().size(), 1u);
  EXPECT_EQ(cert->SubjectAltNames()[0].kind, SubjectAltName::Kind::kEmail);
  EXPECT_EQ(cert->SubjectAltNames()[0].value, "mitr@redhat.com");
  EXPECT_THAT(cert->ExtendedKeyUsages(), ElementsAre("1.3.6.1.5.5.7.3.3"));
  EXPECT_TRUE(cert->AllowsCodeSigning());
  EXPECT_FALSE(cert->IsCa());
  EXPECT_EQ(cert->NotBefore(), Utc(2022, 12, 12, 18, 48, 18));
  EXPECT_EQ(cert->NotAfter(), Utc(2022, 12, 12, 18, 58, 18));
  EXPECT_EQ(cert->Fingerprint(), Sha256Digest(cert->Der()));
  EXPECT_EQ(cert->SubjectPublicKey()->Algorithm(), KeyAlgorithm::kEcdsaP256Sha256);
  EXPECT_EQ(cert->IssuerName(), "CN=sigstore-intermediate,O=sigstore.dev");
  EXPECT_TRUE(cert->Claims().empty());
}

TEST(ParseCertificate, ReadsTheClaimsOfARealGitHubActionsLeaf) {
  std::vector<std::string> certs = BundleCertificates("sigstore.js@2.0.0-provenance.sigstore.json");
  ASSERT_EQ(certs.size(), 1u);
  Certificate cert = MustParse(certs[0]);
  EXPECT_EQ(cert.Fingerprint(),
            "sha256:5e38b9a130e5bce07939025f51c1998f0bcbddd9368f35c7677bf6d94c25dc0e");
  EXPECT_EQ(cert.OidcIssuer(), "https://token.actions.githubusercontent.com");
  EXPECT_EQ(cert.OidcIssuerSource(), IssuerSource::kV2);
  ASSERT_EQ(cert.SubjectAltNames().size(), 1u);
  EXPECT_EQ(cert.SubjectAltNames()[0].kind, SubjectAltName::Kind::kUri);
  EXPECT_EQ(cert.SubjectAltNames()[0].value,
            "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main");
  const auto& claims = cert.Claims();
  EXPECT_EQ(claims.at("build_signer_uri"),
            "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main");
  EXPECT_EQ(claims.at("build_signer_digest"), "f0b49a04e5a62250e0f60fb128004a73110fe311");
  EXPECT_EQ(claims.at("runner_environment"), "github-hosted");
  EXPECT_EQ(claims.at("source_repository_uri"), "https://github.com/sigstore/sigstore-js");
  EXPECT_EQ(claims.at("source_repository_ref"), "refs/heads/main");
  EXPECT_EQ(claims.at("source_repository_identifier"), "495574555");
  EXPECT_EQ(claims.at("source_repository_owner_uri"), "https://github.com/sigstore");
  EXPECT_EQ(claims.at("source_repository_owner_identifier"), "71096353");
  EXPECT_EQ(claims.at("build_trigger"), "push");
  EXPECT_EQ(claims.at("run_invocation_uri"),
            "https://github.com/sigstore/sigstore-js/actions/runs/5904696764/attempts/1");
  EXPECT_EQ(claims.at("source_repository_visibility_at_signing"), "public");
  EXPECT_EQ(claims.count("deployment_environment"), 0u);  // this certificate has no .1.23
  // The deprecated .1.2–.1.6 extensions it also carries are not read as claims.
  EXPECT_EQ(claims.size(), 14u);
}

TEST(ParseCertificate, ReadsTheFulcioOtherNameSan) {
  std::vector<std::string> certs = BundleCertificates("othername.sigstore.json");
  ASSERT_EQ(certs.size(), 1u);
  Certificate cert = MustParse(certs[0]);
  ASSERT_EQ(cert.SubjectAltNames().size(), 1u);
  EXPECT_EQ(cert.SubjectAltNames()[0].kind, SubjectAltName::Kind::kOtherName);
  EXPECT_EQ(cert.SubjectAltNames()[0].value, "foo!oidc.local");
  EXPECT_EQ(cert.OidcIssuer(), "http://oidc.local:8080");
  EXPECT_EQ(cert.OidcIssuerSource(), IssuerSource::kV2);  // .1.8 wins over .1.1
}

TEST(ParseCertificate, ReadsARealPrivatePkiLeafWithoutEku) {
  absl::StatusOr<Certificate> cert =
      ParseCertificatePem(Read(absl::StrCat(kConformance, "components/pki/pki-cert")));
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_FALSE(cert->HasExtendedKeyUsage());
  EXPECT_TRUE(cert->AllowsCodeSigning());
  EXPECT_EQ(cert->SubjectPublicKey()->Algorithm(), KeyAlgorithm::kRsaPkcs1Sha256);
  ASSERT_EQ(cert->SubjectAltNames().size(), 2u);
  EXPECT_EQ(cert->SubjectAltNames()[1].kind, SubjectAltName::Kind::kDns);
  EXPECT_EQ(cert->SubjectAltNames()[1].value, "myhost.example.com");
  EXPECT_EQ(cert->OidcIssuerSource(), IssuerSource::kNone);
}

TEST(ParseCertificate, ReadsEverySanKindOfAMadeCertificate) {
  Issued root = test_ca::MakeRoot("root");
  Issued leaf = test_ca::MakeLeaf(
      {.sans = "email:a@example.com,URI:https://example.com/x,DNS:host.example.com,"
               "otherName:1.3.6.1.4.1.57264.1.7;UTF8:user!idp,IP:127.0.0.1"},
      root);
  Certificate cert = MustParse(leaf.der);
  ASSERT_EQ(cert.SubjectAltNames().size(), 4u);  // the IP address is not an identity
  EXPECT_EQ(cert.SubjectAltNames()[0].kind, SubjectAltName::Kind::kEmail);
  EXPECT_EQ(cert.SubjectAltNames()[1].kind, SubjectAltName::Kind::kUri);
  EXPECT_EQ(cert.SubjectAltNames()[2].kind, SubjectAltName::Kind::kDns);
  EXPECT_EQ(cert.SubjectAltNames()[3].kind, SubjectAltName::Kind::kOtherName);
  EXPECT_EQ(cert.SubjectAltNames()[3].value, "user!idp");
}

TEST(ParseCertificate, ReadsTheIssuerInEitherEncodingAndPrefersTheDerOne) {
  Issued root = test_ca::MakeRoot("root");
  Certificate v2 = MustParse(test_ca::MakeLeaf(
      {.raw_extensions = {{"1.3.6.1.4.1.57264.1.8", test_ca::Utf8StringDer("https://v2")}}}, root).der);
  EXPECT_EQ(v2.OidcIssuer(), "https://v2");
  EXPECT_EQ(v2.OidcIssuerSource(), IssuerSource::kV2);
  Certificate v1 =
      MustParse(test_ca::MakeLeaf({.raw_extensions = {{"1.3.6.1.4.1.57264.1.1", "https://v1"}}}, root).der);
  EXPECT_EQ(v1.OidcIssuer(), "https://v1");
  EXPECT_EQ(v1.OidcIssuerSource(), IssuerSource::kV1Legacy);
  Certificate both = MustParse(
      test_ca::MakeLeaf({.raw_extensions = {{"1.3.6.1.4.1.57264.1.1", "https://v1"},
                                            {"1.3.6.1.4.1.57264.1.8", test_ca::Utf8StringDer("https://v2")}}},
                        root)
          .der);
  EXPECT_EQ(both.OidcIssuer(), "https://v2");
  Certificate none = MustParse(test_ca::MakeLeaf({}, root).der);
  EXPECT_EQ(none.OidcIssuerSource(), IssuerSource::kNone);
  EXPECT_EQ(none.OidcIssuer(), "");
}

TEST(ParseCertificate, RefusesAnIssuerOrClaimExtensionThatIsNotAUtf8String) {
  Issued root = test_ca::MakeRoot("root");
  // Raw bytes where .1.8 must be DER: the .1.1 encoding in the wrong extension.
  absl::StatusOr<Certificate> issuer = ParseCertificateDer(
      test_ca::MakeLeaf({.raw_extensions = {{"1.3.6.1.4.1.57264.1.8", "https://v2"}}}, root).der);
  EXPECT_EQ(issuer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(issuer.status().message(), HasSubstr("1.3.6.1.4.1.57264.1.8 is not a DER UTF8String"));
  // A UTF8String followed by a stray byte.
  absl::StatusOr<Certificate> claim = ParseCertificateDer(
      test_ca::MakeLeaf(
          {.raw_extensions = {{"1.3.6.1.4.1.57264.1.14", test_ca::Utf8StringDer("refs/heads/main") + "x"}}},
          root)
          .der);
  EXPECT_EQ(claim.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(claim.status().message(), HasSubstr("claim source_repository_ref (1.3.6.1.4.1.57264.1.14)"));
}

TEST(ParseCertificate, RefusesADuplicateExtension) {
  Issued root = test_ca::MakeRoot("root");
  absl::StatusOr<Certificate> cert = ParseCertificateDer(
      test_ca::MakeLeaf({.raw_extensions = {{"1.3.6.1.4.1.57264.1.8", test_ca::Utf8StringDer("https://a")},
                                            {"1.3.6.1.4.1.57264.1.8", test_ca::Utf8StringDer("https://b")}}},
                        root)
          .der);
  EXPECT_EQ(cert.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cert.status().message(), HasSubstr("extension 1.3.6.1.4.1.57264.1.8 twice"));
}

TEST(ParseCertificate, RefusesAKeyTypePublicKeyDoesNotSupport) {
  Issued root = test_ca::MakeRoot("root");
  std::string der = test_ca::MakeCertificate({}, test_ca::NewRsaKey(1024), &root);
  absl::StatusOr<Certificate> cert = ParseCertificateDer(der);
  EXPECT_EQ(cert.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cert.status().message(), HasSubstr("public key is not usable"));
}

TEST(ParseCertificate, RefusesGarbageTruncatedAndPaddedDer) {
  Issued root = test_ca::MakeRoot("root");
  const std::string good = test_ca::MakeLeaf({}, root).der;
  for (const std::string& bad :
       {std::string(), std::string("not a certificate"), good.substr(0, good.size() - 1),
        good.substr(0, 10), good + std::string(1, '\0'), std::string(kMaxCertificateDerBytes + 1, '0')}) {
    absl::StatusOr<Certificate> cert = ParseCertificateDer(bad);
    EXPECT_EQ(cert.status().code(), absl::StatusCode::kInvalidArgument) << bad.size();
  }
  EXPECT_THAT(ParseCertificateDer(good + "x").status().message(), HasSubstr("1 trailing bytes"));
}

TEST(ParseCertificate, PemMustHoldExactlyOneCertificateBlock) {
  Issued root = test_ca::MakeRoot("root");
  const std::string pem = test_ca::PemCertificate(test_ca::MakeLeaf({}, root).der);
  EXPECT_TRUE(ParseCertificatePem(pem).ok());
  EXPECT_THAT(ParseCertificatePem(pem + pem).status().message(), HasSubstr("several PEM blocks"));
  EXPECT_THAT(ParseCertificatePem("").status().message(), HasSubstr("no PEM block"));
  EXPECT_THAT(ParseCertificatePem(Read(absl::StrCat(kConformance, "trust/cosign.pub"))).status().message(),
              HasSubstr("\"PUBLIC KEY\", expected \"CERTIFICATE\""));
  EXPECT_FALSE(ParseCertificatePem(pem.substr(0, pem.size() / 2)).ok());
  EXPECT_FALSE(ParseCertificatePem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").ok());
}

// ---- the chain annotation ----

TEST(ParseCertificateChainPem, KeepsTheOrderAndAcceptsBlankText) {
  const std::string chain = Read(absl::StrCat(kConformance, "components/fulcio-rekor/fulcio-chain"));
  absl::StatusOr<std::vector<std::string>> ders = ParseCertificateChainPem(chain);
  ASSERT_TRUE(ders.ok()) << ders.status();
  ASSERT_EQ(ders->size(), 2u);
  EXPECT_EQ(MustParse((*ders)[0]).SubjectName(), "CN=sigstore-intermediate,O=sigstore.dev");
  EXPECT_EQ(MustParse((*ders)[1]).SubjectName(), "CN=sigstore,O=sigstore.dev");
  absl::StatusOr<std::vector<std::string>> empty = ParseCertificateChainPem(" \n\t");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ParseCertificateChainPem, RefusesAnythingButCertificateBlocks) {
  Issued root = test_ca::MakeRoot("root");
  const std::string pem = test_ca::PemCertificate(root.der);
  const std::string key = Read(absl::StrCat(kConformance, "trust/cosign.pub"));
  struct Bad {
    std::string text;
    std::string reason;
  };
  std::string nine;
  for (int i = 0; i < 9; ++i) nine += pem;
  for (const Bad& bad : std::vector<Bad>{
           {"not a certificate", "holds no PEM block"},
           {pem + "junk\n" + pem, "unexpected text after block 1"},
           {pem + key, "block 2 is \"PUBLIC KEY\""},
           {pem + pem.substr(0, pem.size() - 20), "block 2"},
           {pem + "-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n",
            "block 2: certificate DER does not parse"},
           {nine, "more than 8 certificates"},
           {std::string(kMaxPemBytes + 1, ' '), "larger than the limit"},
       }) {
    absl::StatusOr<std::vector<std::string>> ders = ParseCertificateChainPem(bad.text);
    EXPECT_EQ(ders.status().code(), absl::StatusCode::kInvalidArgument) << bad.reason;
    EXPECT_THAT(ders.status().message(), HasSubstr(bad.reason));
  }
}

TEST(ParseCertificateChainPem, DoesNotParseAgainWhatTheTrustMaterialHolds) {
  Issued root = test_ca::MakeRoot("root");
  const std::string pem = test_ca::PemCertificate(root.der);
  const std::string not_der = "-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n";
  // Blocks `known` vouches for are taken as they are; every other block is still parsed.
  absl::StatusOr<std::vector<std::string>> ders =
      ParseCertificateChainPem(pem + not_der, [](absl::string_view der) { return der == "not der"; });
  ASSERT_TRUE(ders.ok()) << ders.status();
  EXPECT_THAT(*ders, ::testing::ElementsAre(root.der, "not der"));
  absl::StatusOr<std::vector<std::string>> refused =
      ParseCertificateChainPem(not_der + pem, [&](absl::string_view der) { return der == root.der; });
  EXPECT_THAT(refused.status().message(), HasSubstr("block 1: certificate DER does not parse"));
}

// ---- chain verification ----

// A root and an intermediate it issued, named "<prefix> Root" and "<prefix> Intermediate".
struct Pki {
  explicit Pki(const std::string& prefix = "Test")
      : root(test_ca::MakeRoot(prefix + " Root")),
        intermediate(test_ca::MakeIntermediate(prefix + " Intermediate", root)) {}
  Issued root;
  Issued intermediate;
};

CaPool Pool(std::vector<TrustedCertificate> roots, std::vector<TrustedCertificate> intermediates = {}) {
  absl::StatusOr<CaPool> pool = CaPool::Create(std::move(roots), std::move(intermediates));
  EXPECT_TRUE(pool.ok()) << pool.status();
  return *pool;
}

const absl::Time kAt = absl::FromUnixSeconds(1750000000);  // inside every made certificate

TEST(CaPool, ContainsItsRootsAndIntermediatesByteForByte) {
  Pki pki;
  Pki other("Other");
  CaPool pool = Pool({{pki.root.der}}, {{pki.intermediate.der}});
  EXPECT_TRUE(pool.Contains(pki.root.der));
  EXPECT_TRUE(pool.Contains(pki.intermediate.der));
  EXPECT_FALSE(pool.Contains(other.root.der));
  EXPECT_FALSE(pool.Contains(pki.root.der + "x"));
  EXPECT_FALSE(pool.Contains(""));
}

TEST(VerifyCertificateChain, AcceptsALeafThroughAnUntrustedIntermediateAndReturnsThePath) {
  Pki pki;
  Issued leaf = test_ca::MakeLeaf({}, pki.intermediate);
  absl::StatusOr<std::vector<std::string>> path =
      VerifyCertificateChain(MustParse(leaf.der), {pki.intermediate.der}, Pool({{pki.root.der}}), kAt);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_THAT(*path, ElementsAre(leaf.der, pki.intermediate.der, pki.root.der));
}

TEST(VerifyCertificateChain, AcceptsATrustedIntermediateFromThePool) {
  Pki pki;
  Issued leaf = test_ca::MakeLeaf({}, pki.intermediate);
  absl::StatusOr<std::vector<std::string>> path = VerifyCertificateChain(
      MustParse(leaf.der), {}, Pool({{pki.root.der}}, {{pki.intermediate.der}}), kAt);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(path->size(), 3u);
}

TEST(VerifyCertificateChain, RefusesWhenTheIntermediateIsNowhere) {
  Pki pki;
  Issued leaf = test_ca::MakeLeaf({}, pki.intermediate);
  absl::StatusOr<std::vector<std::string>> path =
      VerifyCertificateChain(MustParse(leaf.der), {}, Pool({{pki.root.der}}), kAt);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(path.status().message(),
              HasSubstr("certificate chain: no path from the leaf certificate, issued by CN=Test "
                        "Intermediate, to a root trusted at 2025-06-15T15:06:40Z (OpenSSL: unable to "
                        "get local issuer certificate)"));
}

TEST(VerifyCertificateChain, ARootInTheAnnotationIsNotATrustAnchor) {
  Pki pki;
  Pki other("Other");
  Issued leaf = test_ca::MakeLeaf({}, pki.intermediate);
  // The annotation brings the whole chain up to its own root; the pool trusts another root.
  absl::StatusOr<std::vector<std::string>> path = VerifyCertificateChain(
      MustParse(leaf.der), {pki.intermediate.der, pki.root.der}, Pool({{other.root.der}}), kAt);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(path.status().message(),
              HasSubstr("no path from certificate CN=Test Root (depth 2), issued by CN=Test Root, to a "
                        "root trusted at 2025-06-15T15:06:40Z (OpenSSL: self-signed certificate in "
                        "certificate chain)"));
  // An intermediate given in the annotation cannot act as an anchor either.
  Issued direct = test_ca::MakeLeaf({}, pki.intermediate);
  EXPECT_FALSE(
      VerifyCertificateChain(MustParse(direct.der), {pki.intermediate.der}, Pool({{other.root.der}}), kAt)
          .ok());
}

TEST(VerifyCertificateChain, RefusesAChainToAnotherRoot) {
  Pki pki;
  Pki other("Other");
  Issued leaf = test_ca::MakeLeaf({}, pki.intermediate);
  absl::StatusOr<std::vector<std::string>> path = VerifyCertificateChain(
      MustParse(leaf.der), {pki.intermediate.der}, Pool({{other.root.der}}), kAt);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(path.status().message(),
              HasSubstr("no path from certificate CN=Test Intermediate (depth 1), issued by CN=Test Root, "
                        "to a root trusted at"));
}

TEST(VerifyCertificateChain, RefusesAnImpostorRootWithTheSameName) {
  Pki pki;
  Pki impostor;  // same names, other keys
  Issued leaf = test_ca::MakeLeaf({}, pki.intermediate);
  absl::StatusOr<std::vector<std::string>> path = VerifyCertificateChain(
      MustParse(leaf.der), {pki.intermediate.der}, Pool({{impostor.root.der}}), kAt);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(path.status().message(),
              HasSubstr("certificate chain: the signature on certificate CN=Test Intermediate (depth 1) "
                        "does not verify (OpenSSL: certificate signature failure)"));
}

TEST(VerifyCertificateChain, RefusesAnIntermediateThatIsNotACa) {
  Pki pki;
  // A code-signing leaf used to issue another leaf.
  Issued not_ca = test_ca::MakeLeaf({.common_name = "Not A CA"}, pki.root);
  Issued leaf = test_ca::MakeLeaf({}, not_ca);
  absl::StatusOr<std::vector<std::string>> path =
      VerifyCertificateChain(MustParse(leaf.der), {not_ca.der}, Pool({{pki.root.der}}), kAt);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(path.status().message(),
              HasSubstr("certificate CN=Not A CA (depth 1) issues a certificate but is not a CA "
                        "(OpenSSL: invalid CA certificate)"));
}

TEST(VerifyCertificateChain, LeafValidityIsInclusiveToTheSecond) {
  Pki pki;
  const absl::Time not_before = absl::FromUnixSeconds(1750000000);
  const absl::Time not_after = not_before + absl::Minutes(10);
  Issued leaf = test_ca::MakeLeaf({.not_before = not_before, .not_after = not_after}, pki.intermediate);
  const Certificate cert = MustParse(leaf.der);
  const CaPool pool = Pool({{pki.root.der}});
  auto at = [&](absl::Time t) { return VerifyCertificateChain(cert, {pki.intermediate.der}, pool, t); };
  EXPECT_TRUE(at(not_before).ok()) << at(not_before).status();
  EXPECT_TRUE(at(not_after).ok()) << at(not_after).status();
  absl::Status early = at(not_before - absl::Seconds(1)).status();
  EXPECT_EQ(early.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(early.message(),
              HasSubstr("the leaf certificate is not valid at 2025-06-15T15:06:39Z: it is valid "
                        "2025-06-15T15:06:40Z .. 2025-06-15T15:16:40Z (OpenSSL: certificate is not yet valid)"));
  absl::Status late = at(not_after + absl::Seconds(1)).status();
  EXPECT_THAT(late.message(), HasSubstr("is not valid at 2025-06-15T15:16:41Z"));
  EXPECT_THAT(late.message(), HasSubstr("(OpenSSL: certificate has expired)"));
  // Half a second past notAfter is past it, even though OpenSSL sees whole seconds.
  EXPECT_FALSE(at(not_after + absl::Milliseconds(500)).ok());
  EXPECT_FALSE(at(not_before - absl::Milliseconds(500)).ok());
}

TEST(VerifyCertificateChain, RefusesAnExpiredIntermediate) {
  Pki pki;
  Issued old = test_ca::MakeIntermediate("Old Intermediate", pki.root, absl::FromUnixSeconds(1600000000),
                                         absl::FromUnixSeconds(1700000000));
  Issued leaf = test_ca::MakeLeaf({.not_before = absl::FromUnixSeconds(1650000000)}, old);
  absl::StatusOr<std::vector<std::string>> path =
      VerifyCertificateChain(MustParse(leaf.der), {old.der}, Pool({{pki.root.der}}), kAt);
  EXPECT_THAT(path.status().message(),
              HasSubstr("certificate CN=Old Intermediate (depth 1) is not valid at 2025-06-15T15:06:40Z"));
}

TEST(VerifyCertificateChain, RefusesALeafWhoseEkuDoesNotAllowCodeSigning) {
  Pki pki;
  for (const std::vector<std::string>& ekus :
       {std::vector<std::string>{"1.3.6.1.5.5.7.3.1"}, std::vector<std::string>{"2.5.29.37.0"}}) {
    Issued leaf = test_ca::MakeLeaf({.ekus = ekus}, pki.intermediate);
    absl::StatusOr<std::vector<std::string>> path =
        VerifyCertificateChain(MustParse(leaf.der), {pki.intermediate.der}, Pool({{pki.root.der}}), kAt);
    EXPECT_EQ(path.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(path.status().message(), HasSubstr("does not allow code signing (1.3.6.1.5.5.7.3.3)"));
  }
  // No EKU extension at all is acceptable (private PKI leaves often have none).
  Issued plain = test_ca::MakeLeaf({.ekus = std::nullopt}, pki.intermediate);
  EXPECT_TRUE(
      VerifyCertificateChain(MustParse(plain.der), {pki.intermediate.der}, Pool({{pki.root.der}}), kAt).ok());
}

TEST(VerifyCertificateChain, RefusesAnIntermediateWhoseEkuExcludesCodeSigning) {
  Pki pki;
  Spec spec{.common_name = "TLS Intermediate", .is_ca = true,
            .ekus = std::vector<std::string>{"1.3.6.1.5.5.7.3.1"}};
  test_ca::Key key = test_ca::NewEcKey();
  Issued tls{test_ca::MakeCertificate(spec, key, &pki.root), key};
  Issued leaf = test_ca::MakeLeaf({}, tls);
  absl::StatusOr<std::vector<std::string>> path =
      VerifyCertificateChain(MustParse(leaf.der), {tls.der}, Pool({{pki.root.der}}), kAt);
  EXPECT_THAT(path.status().message(), HasSubstr("CN=TLS Intermediate (depth 1) has an extended key usage"));
}

TEST(VerifyCertificateChain, ARootCountsOnlyInsideItsWindowBothEndsInclusive) {
  Pki pki;
  Issued leaf = test_ca::MakeLeaf({}, pki.intermediate);
  const Certificate cert = MustParse(leaf.der);
  const ValidityWindow window{absl::FromUnixSeconds(1740000000), absl::FromUnixSeconds(1760000000)};
  const CaPool pool = Pool({{pki.root.der, window}});
  EXPECT_TRUE(VerifyCertificateChain(cert, {pki.intermediate.der}, pool, window.start).ok());
  EXPECT_TRUE(VerifyCertificateChain(cert, {pki.intermediate.der}, pool, window.end).ok());
  absl::Status after =
      VerifyCertificateChain(cert, {pki.intermediate.der}, pool, window.end + absl::Seconds(1)).status();
  EXPECT_EQ(after.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(after.message(), HasSubstr("no root is trusted at 2025-10-09T08:53:21Z: root CN=Test Root "
                                         "(trusted 2025-02-19T21:20:00Z .. 2025-10-09T08:53:20Z)"));
  EXPECT_FALSE(VerifyCertificateChain(cert, {pki.intermediate.der}, pool, window.start - absl::Seconds(1)).ok());
}

TEST(VerifyCertificateChain, ATrustedIntermediateOutsideItsWindowCannotComeBackThroughTheAnnotation) {
  Pki pki;
  Issued leaf = test_ca::MakeLeaf({}, pki.intermediate);
  const Certificate cert = MustParse(leaf.der);
  const ValidityWindow retired{absl::InfinitePast(), absl::FromUnixSeconds(1700000000)};
  const CaPool pool = Pool({{pki.root.der}}, {{pki.intermediate.der, retired}});
  EXPECT_TRUE(VerifyCertificateChain(cert, {}, pool, absl::FromUnixSeconds(1700000000)).ok());
  absl::Status now = VerifyCertificateChain(cert, {pki.intermediate.der}, pool, kAt).status();
  EXPECT_EQ(now.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(now.message(), HasSubstr("not trusted at that time: intermediate CN=Test Intermediate "
                                       "(trusted (open) .. 2023-11-14T22:13:20Z)"));
}

TEST(VerifyCertificateChain, RefusesGarbageIntermediatesAndPools) {
  Pki pki;
  Issued leaf = test_ca::MakeLeaf({}, pki.intermediate);
  absl::StatusOr<std::vector<std::string>> path = VerifyCertificateChain(
      MustParse(leaf.der), {pki.intermediate.der, "garbage"}, Pool({{pki.root.der}}), kAt);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(path.status().message(), HasSubstr("certificate 2 of the chain"));
  EXPECT_THAT(CaPool::Create({{pki.root.der}, {"garbage"}}, {}).status().message(), HasSubstr("root 2: "));
  EXPECT_THAT(CaPool::Create({{pki.root.der}}, {{"x"}}).status().message(), HasSubstr("intermediate 1: "));
  EXPECT_EQ(CaPool::Create({}, {{pki.intermediate.der}}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(VerifyCertificateChain, AcceptsARealFulcioChainAtItsSigningTime) {
  // A v0.1 bundle: leaf, sigstore-intermediate, sigstore root; logged at 1668034836.
  std::vector<std::string> certs = BundleCertificates("dsse.sigstore.json");
  ASSERT_EQ(certs.size(), 3u);
  const Certificate leaf = MustParse(certs[0]);
  const CaPool pool = Pool({{certs[2]}});
  absl::StatusOr<std::vector<std::string>> path =
      VerifyCertificateChain(leaf, {certs[1]}, pool, absl::FromUnixSeconds(1668034836));
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, certs);
  // A day later the ten-minute certificate has expired.
  EXPECT_FALSE(VerifyCertificateChain(leaf, {certs[1]}, pool, absl::FromUnixSeconds(1668034836 + 86400)).ok());
}

}  // namespace
}  // namespace sigshim::verify
