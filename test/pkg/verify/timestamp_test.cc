#include "pkg/verify/timestamp.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "test/pkg/verify/test_tsa.h"

namespace sigshim::verify {
namespace {

using test_tsa::Eku;
using test_tsa::StampOptions;
using test_tsa::TestTsa;
using test_tsa::TsaOptions;
using ::testing::HasSubstr;

constexpr char kSignature[] = "the raw bytes of a signature";

absl::Time At(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

// A moment inside the test TSA certificate's validity (2024), years before the tests run: the
// certificates must be judged at genTime, not now.
const absl::Time kWhen = At(2024, 6, 1, 12, 0, 0) + absl::Milliseconds(250);

std::unique_ptr<TestTsa> MakeTsa(const TsaOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<TestTsa>> tsa = TestTsa::Create(options);
  EXPECT_TRUE(tsa.ok()) << tsa.status();
  return tsa.ok() ? *std::move(tsa) : nullptr;
}

std::string Stamp(const TestTsa& tsa, absl::string_view data, absl::Time when = kWhen,
                  const StampOptions& options = {}) {
  absl::StatusOr<std::string> der = tsa.Stamp(data, when, options);
  EXPECT_TRUE(der.ok()) << der.status();
  return der.ok() ? *der : "";
}

TimestampAuthorityInput Authority(const TestTsa& tsa, std::string name = "test-tsa",
                                  ValidityWindow window = {}) {
  return TimestampAuthorityInput{std::move(name), tsa.ChainDer(), window};
}

absl::StatusOr<VerifiedTimestamp> Verify(absl::string_view der, absl::string_view data,
                                         const std::vector<TimestampAuthorityInput>& authorities) {
  return VerifyRfc3161Timestamp(der, data, authorities);
}

void ExpectDenied(const absl::StatusOr<VerifiedTimestamp>& result, absl::string_view reason) {
  ASSERT_FALSE(result.ok()) << "accepted, genTime " << result->gen_time;
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(std::string(reason)));
}

// ---------------------------------------------------------------- tokens from the test TSA

TEST(VerifyRfc3161Timestamp, AcceptsTokenOverTheSignedBytesAndReportsGenTimeAuthorityAndLeaf) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  absl::StatusOr<VerifiedTimestamp> verified = Verify(Stamp(*tsa, kSignature), kSignature, {Authority(*tsa)});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->gen_time, kWhen);
  EXPECT_EQ(verified->authority, "test-tsa");
  EXPECT_EQ(verified->tsa_leaf_fingerprint, Sha256Digest(tsa->ChainDer().front()));
  EXPECT_EQ(verified->hash_algorithm, "sha256");
}

TEST(VerifyRfc3161Timestamp, AcceptsTokenWithoutCertificatesUsingTheAuthorityLeaf) {
  // sigstore's TSAs answer without certificates unless asked (certReq false): the trust root's
  // chain supplies the signing certificate.
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  StampOptions options;
  options.include_certificates = false;
  std::string der = Stamp(*tsa, kSignature, kWhen, options);
  EXPECT_TRUE(Verify(der, kSignature, {Authority(*tsa)}).ok());
  // With only the root in the trust material nothing names the signer.
  TimestampAuthorityInput root_only{"root-only", {tsa->ChainDer().back()}, {}};
  ExpectDenied(Verify(der, kSignature, {root_only}), "does not carry its signing certificate");
}

TEST(VerifyRfc3161Timestamp, AcceptsRootOnlyAuthorityWhenTokenCarriesItsSigner) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  TimestampAuthorityInput root_only{"root-only", {tsa->ChainDer().back()}, {}};
  EXPECT_TRUE(Verify(Stamp(*tsa, kSignature), kSignature, {root_only}).ok());
}

TEST(VerifyRfc3161Timestamp, AcceptsSha384AndSha512Imprints) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  for (const char* hash : {"sha384", "sha512"}) {
    StampOptions options;
    options.hash = hash;
    absl::StatusOr<VerifiedTimestamp> verified =
        Verify(Stamp(*tsa, kSignature, kWhen, options), kSignature, {Authority(*tsa)});
    ASSERT_TRUE(verified.ok()) << hash << ": " << verified.status();
    EXPECT_EQ(verified->hash_algorithm, hash);
  }
}

TEST(VerifyRfc3161Timestamp, AcceptsChainThroughIntermediate) {
  TsaOptions options;
  options.with_intermediate = true;
  auto tsa = MakeTsa(options);
  ASSERT_NE(tsa, nullptr);
  ASSERT_EQ(tsa->ChainDer().size(), 3u);
  EXPECT_TRUE(Verify(Stamp(*tsa, kSignature), kSignature, {Authority(*tsa)}).ok());
}

TEST(VerifyRfc3161Timestamp, RefusesIntermediateWhoseUsageExcludesTimestamping) {
  TsaOptions options;
  options.with_intermediate = true;
  options.intermediate_code_signing_only = true;
  auto tsa = MakeTsa(options);
  ASSERT_NE(tsa, nullptr);
  ExpectDenied(Verify(Stamp(*tsa, kSignature), kSignature, {Authority(*tsa)}), "does not allow timestamping");
}

TEST(VerifyRfc3161Timestamp, RefusesImprintOverOtherData) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  ExpectDenied(Verify(Stamp(*tsa, "some other signature"), kSignature, {Authority(*tsa)}),
               "a timestamp over other data");
}

TEST(VerifyRfc3161Timestamp, RefusesAnotherTsasToken) {
  auto trusted = MakeTsa({.name = "trusted"});
  auto other = MakeTsa({.name = "other"});
  ASSERT_NE(trusted, nullptr);
  ASSERT_NE(other, nullptr);
  std::string der = Stamp(*other, kSignature);
  ExpectDenied(Verify(der, kSignature, {Authority(*trusted, "trusted")}),
               "not by the authority's TSA certificate");
  // With only the trusted root, the other TSA's certificate (carried in the token) must chain to it.
  TimestampAuthorityInput root_only{"trusted-root", {trusted->ChainDer().back()}, {}};
  ExpectDenied(Verify(der, kSignature, {root_only}), "does not chain to the authority's root");
  // Without certificates in the token, the trusted chain holds no certificate that signed it.
  StampOptions bare;
  bare.include_certificates = false;
  ExpectDenied(Verify(Stamp(*other, kSignature, kWhen, bare), kSignature, {Authority(*trusted, "trusted")}),
               "not signed by the authority's TSA certificate");
}

TEST(VerifyRfc3161Timestamp, RefusesWhenTheAuthorityChainHasAnotherRoot) {
  // The signing certificate is named, but the root the authority trusts did not issue it.
  auto tsa = MakeTsa({.name = "tsa"});
  auto other = MakeTsa({.name = "other"});
  ASSERT_NE(tsa, nullptr);
  ASSERT_NE(other, nullptr);
  TimestampAuthorityInput mixed{"mixed", {tsa->ChainDer().front(), other->ChainDer().back()}, {}};
  ExpectDenied(Verify(Stamp(*tsa, kSignature), kSignature, {mixed}), "does not chain");
}

TEST(VerifyRfc3161Timestamp, UsesTheFirstAuthorityThatVerifies) {
  auto tsa = MakeTsa({.name = "second"});
  auto other = MakeTsa({.name = "first"});
  ASSERT_NE(tsa, nullptr);
  ASSERT_NE(other, nullptr);
  absl::StatusOr<VerifiedTimestamp> verified =
      Verify(Stamp(*tsa, kSignature), kSignature, {Authority(*other, "first"), Authority(*tsa, "second")});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->authority, "second");
}

TEST(VerifyRfc3161Timestamp, ListsEachAuthoritysRefusal) {
  auto tsa = MakeTsa({.name = "signer"});
  auto a = MakeTsa({.name = "a"});
  auto b = MakeTsa({.name = "b"});
  ASSERT_NE(tsa, nullptr);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  absl::StatusOr<VerifiedTimestamp> result =
      Verify(Stamp(*tsa, kSignature), kSignature, {Authority(*a, "tsa-a"), Authority(*b, "tsa-b")});
  ExpectDenied(result, "no trusted timestamp authority verifies it");
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("tsa-a: "));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("tsa-b: "));
}

TEST(VerifyRfc3161Timestamp, RefusesSigningCertificateWithoutTimestampingUsage) {
  auto tsa = MakeTsa({.eku = Eku::kNone});
  ASSERT_NE(tsa, nullptr);
  ExpectDenied(Verify(Stamp(*tsa, kSignature), kSignature, {Authority(*tsa)}), "has no extended key usage");
}

TEST(VerifyRfc3161Timestamp, RefusesNonCriticalTimestampingUsage) {
  auto tsa = MakeTsa({.eku = Eku::kNonCriticalTimestamping});
  ASSERT_NE(tsa, nullptr);
  ExpectDenied(Verify(Stamp(*tsa, kSignature), kSignature, {Authority(*tsa)}),
               "non-critical extended key usage");
}

TEST(VerifyRfc3161Timestamp, RefusesUsageBeyondTimestamping) {
  auto tsa = MakeTsa({.eku = Eku::kTimestampingAndCodeSigning});
  ASSERT_NE(tsa, nullptr);
  ExpectDenied(Verify(Stamp(*tsa, kSignature), kSignature, {Authority(*tsa)}),
               "other than timeStamping alone");
}

TEST(VerifyRfc3161Timestamp, RefusesCaCertificateAsSigner) {
  auto tsa = MakeTsa({.leaf_is_ca = true});
  ASSERT_NE(tsa, nullptr);
  ExpectDenied(Verify(Stamp(*tsa, kSignature), kSignature, {Authority(*tsa)}), "is a CA certificate");
}

TEST(VerifyRfc3161Timestamp, AuthorityWindowEdgesAreInclusive) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  std::string der = Stamp(*tsa, kSignature);
  const absl::Duration ms = absl::Milliseconds(1);
  EXPECT_TRUE(Verify(der, kSignature, {Authority(*tsa, "starts", {kWhen, kWhen + absl::Hours(1)})}).ok());
  EXPECT_TRUE(Verify(der, kSignature, {Authority(*tsa, "ends", {kWhen - absl::Hours(1), kWhen})}).ok());
  EXPECT_TRUE(Verify(der, kSignature, {Authority(*tsa, "instant", {kWhen, kWhen})}).ok());
  ExpectDenied(Verify(der, kSignature, {Authority(*tsa, "later", {kWhen + ms, absl::InfiniteFuture()})}),
               "is outside the authority's validity");
  ExpectDenied(Verify(der, kSignature, {Authority(*tsa, "earlier", {absl::InfinitePast(), kWhen - ms})}),
               "genTime 2024-06-01T12:00:00.25Z is outside");
}

TEST(VerifyRfc3161Timestamp, JudgesTsaCertificateAtGenTime) {
  // Valid during June 2024 only.
  auto tsa =
      MakeTsa({.leaf_not_before = At(2024, 6, 1, 0, 0, 0), .leaf_not_after = At(2024, 6, 30, 0, 0, 0)});
  ASSERT_NE(tsa, nullptr);
  EXPECT_TRUE(Verify(Stamp(*tsa, kSignature, At(2024, 6, 15, 0, 0, 0)), kSignature, {Authority(*tsa)}).ok());
  ExpectDenied(Verify(Stamp(*tsa, kSignature, At(2024, 7, 1, 0, 0, 0)), kSignature, {Authority(*tsa)}),
               "certificate has expired");
  ExpectDenied(Verify(Stamp(*tsa, kSignature, At(2024, 5, 31, 0, 0, 0)), kSignature, {Authority(*tsa)}),
               "certificate is not yet valid");
}

TEST(VerifyRfc3161Timestamp, RefusesUnsupportedHashes) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  for (const char* hash : {"sha1", "sha3-256"}) {
    StampOptions options;
    options.hash = hash;
    ExpectDenied(Verify(Stamp(*tsa, kSignature, kWhen, options), kSignature, {Authority(*tsa)}),
                 "is not supported (only SHA-256, SHA-384, SHA-512)");
  }
}

TEST(VerifyRfc3161Timestamp, RefusesRejectionResponse) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  StampOptions options;
  options.hash = "sha512";
  options.accepted_hashes = {"sha256"};  // the TSA answers "rejection" (badAlg)
  ExpectDenied(Verify(Stamp(*tsa, kSignature, kWhen, options), kSignature, {Authority(*tsa)}),
               "the TSA refused the request (PKIStatus 2)");
}

TEST(VerifyRfc3161Timestamp, RefusesBareToken) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  absl::StatusOr<std::string> token = test_tsa::TokenOfResponse(Stamp(*tsa, kSignature));
  ASSERT_TRUE(token.ok()) << token.status();
  ExpectDenied(Verify(*token, kSignature, {Authority(*tsa)}), "a bare TimeStampToken, not a TimeStampResp");
}

TEST(VerifyRfc3161Timestamp, RefusesGarbageTruncatedAndTrailingBytes) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  std::string der = Stamp(*tsa, kSignature);
  ExpectDenied(Verify("", kSignature, {Authority(*tsa)}), "empty");
  ExpectDenied(Verify("not DER at all", kSignature, {Authority(*tsa)}), "not a DER TimeStampResp");
  ExpectDenied(Verify(der + "x", kSignature, {Authority(*tsa)}), "1 bytes after the TimeStampResp");
  ExpectDenied(Verify(std::string(kMaxTimestampDerBytes + 1, '0'), kSignature, {Authority(*tsa)}),
               "more than the limit");
  for (size_t len = 0; len < der.size(); ++len) {
    absl::StatusOr<VerifiedTimestamp> result = Verify(der.substr(0, len), kSignature, {Authority(*tsa)});
    ASSERT_FALSE(result.ok()) << "a prefix of " << len << " bytes was accepted";
    EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied) << result.status();
  }
}

TEST(VerifyRfc3161Timestamp, RefusesAlteredToken) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  std::string der = Stamp(*tsa, kSignature);
  // genTime moved by a day inside the signed TSTInfo: the CMS message digest no longer matches.
  std::string moved = der;
  size_t at = moved.find("20240601120000.25Z");
  ASSERT_NE(at, std::string::npos);
  moved[at + 7] = '2';  // 20240602…
  ExpectDenied(Verify(moved, kSignature, {Authority(*tsa)}), "its signature does not verify");
  // The last byte belongs to the ECDSA signature value.
  std::string bad_signature = der;
  bad_signature.back() ^= 0x01;
  ExpectDenied(Verify(bad_signature, kSignature, {Authority(*tsa)}), "does not verify");
}

TEST(VerifyRfc3161Timestamp, RejectsMisconfiguredAuthorities) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  std::string der = Stamp(*tsa, kSignature);
  EXPECT_EQ(Verify(der, kSignature, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Verify(der, kSignature, {TimestampAuthorityInput{"empty", {}, {}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<VerifiedTimestamp> garbage =
      Verify(der, kSignature, {TimestampAuthorityInput{"garbage", {"not a certificate"}, {}}});
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(garbage.status().message()),
              HasSubstr("timestamp authority garbage certificate 1"));
}

// ---------------------------------------------------------------- cosign's annotation

const std::string kTinyDer("\x30\x03\x02\x01\x00", 5);  // SEQUENCE { INTEGER 0 }

TEST(ParseCosignTimestampAnnotation, DecodesSignedRfc3161Timestamp) {
  absl::StatusOr<std::string> der = ParseCosignTimestampAnnotation(
      absl::StrCat(R"({"SignedRFC3161Timestamp":")", Base64Encode(kTinyDer), R"("})"));
  ASSERT_TRUE(der.ok()) << der.status();
  EXPECT_EQ(*der, kTinyDer);
}

TEST(ParseCosignTimestampAnnotation, RoundTripsARealTokenThroughVerification) {
  auto tsa = MakeTsa();
  ASSERT_NE(tsa, nullptr);
  std::string der = Stamp(*tsa, kSignature);
  absl::StatusOr<std::string> parsed =
      ParseCosignTimestampAnnotation(nlohmann::json{{"SignedRFC3161Timestamp", Base64Encode(der)}}.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(Verify(*parsed, kSignature, {Authority(*tsa)}).ok());
}

TEST(ParseCosignTimestampAnnotation, RefusesOtherShapes) {
  const std::string b64 = Base64Encode(kTinyDer);
  for (const std::string& bad : {
           std::string(""),
           std::string("null"),
           std::string("[]"),
           std::string("\"MAMCAQA=\""),
           std::string("{}"),
           absl::StrCat(R"({"SignedRFC3161Timestamp":")", b64, R"(","extra":1})"),
           absl::StrCat(R"({"signedRFC3161Timestamp":")", b64, R"("})"),  // cosign's key is case-exact here
           std::string(R"({"SignedRFC3161Timestamp":null})"),
           std::string(R"({"SignedRFC3161Timestamp":123})"),
           std::string(R"({"SignedRFC3161Timestamp":""})"),
           std::string(R"({"SignedRFC3161Timestamp":"not base64!"})"),
           absl::StrCat(R"({"SignedRFC3161Timestamp":")", b64, R"(","SignedRFC3161Timestamp":")", b64,
                        R"("})"),
           absl::StrCat(R"({"SignedRFC3161Timestamp":")", b64, R"("} trailing)"),
           absl::StrCat(R"({"SignedRFC3161Timestamp":")",
                        Base64Encode(std::string(kMaxTimestampDerBytes + 1, 'x')), R"("})"),
           absl::StrCat(R"({"SignedRFC3161Timestamp":")", b64, R"(",")",
                        std::string(kMaxTimestampAnnotationBytes, ' '), R"("})"),
       }) {
    absl::StatusOr<std::string> der = ParseCosignTimestampAnnotation(bad);
    EXPECT_FALSE(der.ok()) << bad.substr(0, 80);
    EXPECT_EQ(der.status().code(), absl::StatusCode::kInvalidArgument) << bad.substr(0, 80);
  }
}

// ---------------------------------------------------------------- a real sigstore timestamp

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

constexpr char kSigstoreGo[] = "test/testdata/sigstore-go/";

// The timestamp authorities of a trusted_root.json, read just far enough for this test.
std::vector<TimestampAuthorityInput> AuthoritiesOf(const std::string& trusted_root_path) {
  nlohmann::json root = nlohmann::json::parse(ReadFile(trusted_root_path));
  std::vector<TimestampAuthorityInput> authorities;
  for (const nlohmann::json& tsa : root["timestampAuthorities"]) {
    TimestampAuthorityInput input;
    input.name = tsa.value("uri", "tsa");
    for (const nlohmann::json& cert : tsa["certChain"]["certificates"]) {
      input.chain_der.push_back(*Base64Decode(cert["rawBytes"].get<std::string>()));
    }
    std::string error;
    if (tsa["validFor"].contains("start")) {
      EXPECT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", tsa["validFor"]["start"].get<std::string>(),
                                  &input.window.start, &error))
          << error;
    }
    if (tsa["validFor"].contains("end")) {
      EXPECT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", tsa["validFor"]["end"].get<std::string>(),
                                  &input.window.end, &error))
          << error;
    }
    authorities.push_back(std::move(input));
  }
  return authorities;
}

TEST(VerifyRfc3161Timestamp, VerifiesSigstoreBundleTimestampAgainstItsTrustedRoot) {
  // sigstore-go's public-key-validity bundle: a TimeStampResp without certificates over the raw
  // message signature, from a TSA whose certificates all expired long before this test runs.
  nlohmann::json bundle =
      nlohmann::json::parse(ReadFile(absl::StrCat(kSigstoreGo, "bundles/public-key-validity.sigstore.json")));
  std::string signature = *Base64Decode(bundle["messageSignature"]["signature"].get<std::string>());
  std::string der = *Base64Decode(
      bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"]
          .get<std::string>());
  std::vector<TimestampAuthorityInput> authorities =
      AuthoritiesOf(absl::StrCat(kSigstoreGo, "trusted-roots/public-key-validity.json"));
  ASSERT_EQ(authorities.size(), 1u);
  ASSERT_EQ(authorities[0].chain_der.size(), 3u);

  absl::StatusOr<VerifiedTimestamp> verified = VerifyRfc3161Timestamp(der, signature, authorities);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->gen_time, At(2026, 6, 4, 17, 43, 29));
  EXPECT_EQ(verified->authority, "https://virtual.tsa.sigstore.dev");
  EXPECT_EQ(verified->tsa_leaf_fingerprint, Sha256Digest(authorities[0].chain_der[0]));

  // The same timestamp over other bytes, or outside the authority's window, proves nothing.
  ExpectDenied(VerifyRfc3161Timestamp(der, signature + "x", authorities), "over other data");
  std::vector<TimestampAuthorityInput> ended = authorities;
  ended[0].window.end = verified->gen_time - absl::Nanoseconds(1);
  ExpectDenied(VerifyRfc3161Timestamp(der, signature, ended), "outside the authority's validity");
  // Nor does it verify with another authority's certificates.
  auto other = MakeTsa();
  ASSERT_NE(other, nullptr);
  ExpectDenied(VerifyRfc3161Timestamp(der, signature, {Authority(*other)}), "no trusted timestamp authority");
}

}  // namespace
}  // namespace sigshim::verify
