#include "pkg/trust/trusted_root_json.h"

#include <algorithm>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/verify/pem.h"
#include "test/pkg/trust/test_files.h"

namespace sigshim::trust {
namespace {

using ::sigshim::trust::testing::kPki;
using ::sigshim::trust::testing::kTrustedRoots;
using ::sigshim::trust::testing::PemBlocks;
using ::sigshim::trust::testing::Read;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using Json = nlohmann::json;

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << error;
  return t;
}

Json PublicGood() { return Json::parse(Read(std::string(kTrustedRoots) + "public-good.json")); }

// Base64 of the DER inside the single PEM block of `pem`.
std::string DerBase64(const std::string& pem) {
  absl::StatusOr<verify::PemBlock> block = verify::DecodeSinglePemBlock(pem);
  EXPECT_TRUE(block.ok()) << block.status();
  return block.ok() ? Base64Encode(block->der) : "";
}

// Parses public-good.json after `edit`.
absl::StatusOr<TrustRoot> ParseEdited(const std::function<void(Json&)>& edit) {
  Json json = PublicGood();
  edit(json);
  return ParseTrustedRoot(json.dump(), "root.json");
}

// Expects ParseEdited(edit) to fail with a message holding `expected`.
void ExpectRefused(const std::function<void(Json&)>& edit, const std::string& expected) {
  absl::StatusOr<TrustRoot> root = ParseEdited(edit);
  ASSERT_FALSE(root.ok()) << "accepted; expected: " << expected;
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(root.status().message(), HasSubstr(expected));
  EXPECT_THAT(root.status().message(), HasSubstr("root.json: "));
}

TEST(ParseTrustedRoot, ReadsEveryPieceOfThePublicGoodRoot) {
  const std::string path = std::string(kTrustedRoots) + "public-good.json";
  absl::StatusOr<TrustRoot> root = ParseTrustedRoot(Read(path), path);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->kind, TrustRootKind::kSigstore);
  EXPECT_THAT(root->source, ::testing::ElementsAre(path));
  EXPECT_TRUE(root->require_transparency_log);

  ASSERT_THAT(root->transparency_logs, SizeIs(1));
  const TransparencyLog& rekor = root->transparency_logs[0];
  EXPECT_EQ(rekor.base_url, "https://rekor.sigstore.dev");
  EXPECT_EQ(rekor.LogIdHex(), "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
  EXPECT_EQ(rekor.public_key->Algorithm(), verify::KeyAlgorithm::kEcdsaP256Sha256);
  EXPECT_EQ(rekor.valid_for.start, At("2021-01-12T11:53:27.000Z"));
  EXPECT_EQ(rekor.valid_for.end, absl::InfiniteFuture());
  // Rekor's log id is the SHA-256 of its key.
  EXPECT_EQ(rekor.public_key->Fingerprint(), "sha256:" + rekor.LogIdHex());

  ASSERT_THAT(root->certificate_authorities, SizeIs(2));
  const CertificateAuthority& fulcio_v1 = root->certificate_authorities[0];
  EXPECT_EQ(fulcio_v1.uri, "https://fulcio.sigstore.dev");
  EXPECT_EQ(fulcio_v1.subject, "CN=sigstore, O=sigstore.dev");
  EXPECT_THAT(fulcio_v1.chain_der, SizeIs(1));
  EXPECT_EQ(fulcio_v1.valid_for.start, At("2021-03-07T03:20:29.000Z"));
  EXPECT_EQ(fulcio_v1.valid_for.end, At("2022-12-31T23:59:59.999Z"));
  const CertificateAuthority& fulcio = root->certificate_authorities[1];
  EXPECT_THAT(fulcio.chain_der, SizeIs(2));  // the intermediate, then the root
  EXPECT_EQ(fulcio.subject, "CN=sigstore, O=sigstore.dev");
  EXPECT_EQ(fulcio.valid_for.start, At("2022-04-13T20:06:15.000Z"));
  EXPECT_EQ(fulcio.valid_for.end, absl::InfiniteFuture());

  ASSERT_THAT(root->ct_logs, SizeIs(2));
  EXPECT_EQ(root->ct_logs[0].base_url, "https://ctfe.sigstore.dev/test");
  EXPECT_EQ(root->ct_logs[0].valid_for.end, At("2022-10-31T23:59:59.999Z"));
  EXPECT_EQ(root->ct_logs[1].base_url, "https://ctfe.sigstore.dev/2022");
  EXPECT_EQ(root->ct_logs[1].LogIdHex(), "dd3d306ac6c7113263191e1c99673702a24a5eb8de3cadff878a72802f29ee8e");
  EXPECT_EQ(root->ct_logs[1].valid_for.start, At("2022-10-20T00:00:00.000Z"));
  EXPECT_EQ(root->ct_logs[1].valid_for.end, absl::InfiniteFuture());

  ASSERT_THAT(root->timestamp_authorities, SizeIs(1));
  const CertificateAuthority& tsa = root->timestamp_authorities[0];
  EXPECT_EQ(tsa.uri, "");
  EXPECT_THAT(tsa.chain_der, SizeIs(3));
  EXPECT_EQ(tsa.valid_for.start, At("2023-04-14T00:00:00.000Z"));
  EXPECT_EQ(tsa.valid_for.end, absl::InfiniteFuture());

  EXPECT_EQ(root->FindTransparencyLog(rekor.log_id), &rekor);
  EXPECT_EQ(root->FindCtLog(rekor.log_id), nullptr);
  EXPECT_EQ(root->FindCtLog(root->ct_logs[1].log_id), &root->ct_logs[1]);
}

TEST(ParseTrustedRoot, ReadsTheScaffoldingAndTimestampOnlyRoots) {
  absl::StatusOr<TrustRoot> scaffolding =
      ParseTrustedRoot(Read(std::string(kTrustedRoots) + "scaffolding.json"), "scaffolding.json");
  ASSERT_TRUE(scaffolding.ok()) << scaffolding.status();
  EXPECT_THAT(scaffolding->certificate_authorities, SizeIs(1));
  EXPECT_EQ(scaffolding->certificate_authorities[0].valid_for.start, At("2024-07-12T18:35:53Z"));
  EXPECT_THAT(scaffolding->transparency_logs, SizeIs(1));
  EXPECT_THAT(scaffolding->ct_logs, SizeIs(1));

  absl::StatusOr<TrustRoot> tsa_only =
      ParseTrustedRoot(Read(std::string(kTrustedRoots) + "public-key-validity.json"), "pkv.json");
  ASSERT_TRUE(tsa_only.ok()) << tsa_only.status();
  EXPECT_FALSE(tsa_only->require_transparency_log);  // no logs to require
  ASSERT_THAT(tsa_only->timestamp_authorities, SizeIs(1));
  // Nanosecond fractions are kept exactly.
  EXPECT_EQ(tsa_only->timestamp_authorities[0].valid_for.start, At("2026-06-04T12:43:29.186617431Z"));
  EXPECT_EQ(tsa_only->timestamp_authorities[0].valid_for.end, At("2026-06-04T18:43:29.186617501Z"));
}

TEST(ParseTrustedRoot, ValidForIncludesBothEndsAndAnOpenEndNeverCloses) {
  absl::StatusOr<TrustRoot> root = ParseEdited([](Json&) {});
  ASSERT_TRUE(root.ok()) << root.status();
  const CertificateAuthority* v1 = &root->certificate_authorities[0];
  const CertificateAuthority* current = &root->certificate_authorities[1];
  const absl::Time start = At("2021-03-07T03:20:29Z");
  const absl::Time end = At("2022-12-31T23:59:59.999Z");
  EXPECT_THAT(root->CertificateAuthoritiesAt(start - absl::Nanoseconds(1)), ::testing::IsEmpty());
  EXPECT_THAT(root->CertificateAuthoritiesAt(start), ::testing::ElementsAre(v1));
  EXPECT_THAT(root->CertificateAuthoritiesAt(end), ::testing::ElementsAre(v1, current));
  EXPECT_THAT(root->CertificateAuthoritiesAt(end + absl::Nanoseconds(1)), ::testing::ElementsAre(current));
  EXPECT_THAT(root->CertificateAuthoritiesAt(At("2999-01-01T00:00:00Z")), ::testing::ElementsAre(current));
  EXPECT_THAT(root->TimestampAuthoritiesAt(At("2023-04-13T23:59:59.999999999Z")), ::testing::IsEmpty());
  EXPECT_THAT(root->TimestampAuthoritiesAt(At("2023-04-14T00:00:00Z")), SizeIs(1));
  EXPECT_THAT(root->TimestampAuthoritiesAt(At("2999-01-01T00:00:00Z")), SizeIs(1));
}

TEST(ParseTrustedRoot, AcceptsEachSupportedMediaType) {
  for (absl::string_view media_type :
       {kTrustedRootMediaTypeV01, kTrustedRootMediaTypeV02, kTrustedRootMediaTypeLegacy}) {
    absl::StatusOr<TrustRoot> root =
        ParseEdited([&](Json& j) { j["mediaType"] = std::string(media_type); });
    EXPECT_TRUE(root.ok()) << media_type << ": " << root.status();
  }
  ExpectRefused([](Json& j) { j["mediaType"] = "application/vnd.dev.sigstore.trustedroot.v0.3+json"; },
                "mediaType: unsupported media type \"application/vnd.dev.sigstore.trustedroot.v0.3+json\"");
  ExpectRefused([](Json& j) { j.erase("mediaType"); }, "mediaType: missing (required)");
  ExpectRefused([](Json& j) { j["mediaType"] = 1; }, "mediaType: must be a string, is number");
}

TEST(ParseTrustedRoot, KeepsVersion02Fields) {
  absl::StatusOr<TrustRoot> root = ParseEdited([](Json& j) {
    j["mediaType"] = std::string(kTrustedRootMediaTypeV02);
    j["tlogs"][0]["checkpointKeyId"] = {{"keyId", "wNI9ag=="}};
    j["tlogs"][0]["operator"] = "sigstore.dev";
    j["certificateAuthorities"][1]["operator"] = "sigstore.dev";
  });
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(absl::BytesToHexString(root->transparency_logs[0].checkpoint_key_id), "c0d23d6a");
  EXPECT_EQ(root->transparency_logs[0].operator_name, "sigstore.dev");
  EXPECT_EQ(root->certificate_authorities[1].operator_name, "sigstore.dev");
}

TEST(ParseTrustedRoot, AcceptsProtoFieldNamesAndUrlSafeBase64AsProtojsonDoes) {
  absl::StatusOr<TrustRoot> root = ParseEdited([](Json& j) {
    Json& log = j["tlogs"][0];
    log["base_url"] = log["baseUrl"];
    log.erase("baseUrl");
    std::string id = log["logId"]["keyId"];
    for (char& c : id) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!id.empty() && id.back() == '=') id.pop_back();
    log["logId"]["keyId"] = id;
  });
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->transparency_logs[0].base_url, "https://rekor.sigstore.dev");
  EXPECT_EQ(root->transparency_logs[0].LogIdHex(),
            "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
  ExpectRefused([](Json& j) { j["tlogs"][0]["base_url"] = "https://other"; },
                "tlogs[0].baseUrl: given twice (as baseUrl and base_url)");
}

TEST(ParseTrustedRoot, RefusesUnknownFieldsAtEveryLevel) {
  ExpectRefused([](Json& j) { j["publicKeys"] = Json::array(); }, "trusted root: unknown field \"publicKeys\"");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"]["restrictions"] = "none"; },
                "tlogs[0].publicKey: unknown field \"restrictions\"");
  ExpectRefused([](Json& j) { j["certificateAuthorities"][0]["certChain"]["certificates"][0]["pem"] = "x"; },
                "certificateAuthorities[0].certChain.certificates[0]: unknown field \"pem\"");
}

TEST(ParseTrustedRoot, RefusesMalformedJson) {
  const std::string text = Read(std::string(kTrustedRoots) + "public-good.json");
  absl::StatusOr<TrustRoot> truncated = ParseTrustedRoot(text.substr(0, text.size() / 2), "root.json");
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.status().message(), HasSubstr("root.json: trusted root is not valid JSON"));
  absl::StatusOr<TrustRoot> twice = ParseTrustedRoot(
      R"({"mediaType": "application/vnd.dev.sigstore.trustedroot.v0.1+json", "mediaType": "x"})", "root.json");
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(), HasSubstr("appears twice"));
  absl::StatusOr<TrustRoot> array = ParseTrustedRoot("[]", "root.json");
  ASSERT_FALSE(array.ok());
  EXPECT_THAT(array.status().message(), HasSubstr("trusted root: must be a JSON object, is array"));
}

TEST(ParseTrustedRoot, RefusesWrongTypesAndNulls) {
  ExpectRefused([](Json& j) { j["tlogs"] = Json::object(); }, "tlogs: must be an array, is object");
  ExpectRefused([](Json& j) { j["tlogs"][0]["baseUrl"] = 443; }, "tlogs[0].baseUrl: must be a string, is number");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"]["keyDetails"] = 5; },
                "tlogs[0].publicKey.keyDetails: must be an enum name (a string), is number");
  ExpectRefused([](Json& j) { j["ctlogs"][1]["publicKey"]["validFor"]["start"] = 1666224000; },
                "ctlogs[1].publicKey.validFor.start: must be a string, is number");
  ExpectRefused([](Json& j) { j["certificateAuthorities"][0]["certChain"]["certificates"] = "x"; },
                "certificateAuthorities[0].certChain.certificates: must be an array, is string");
  ExpectRefused([](Json& j) { j["certificateAuthorities"][1]["validFor"]["end"] = nullptr; },
                "certificateAuthorities[1].validFor.end: is null (omit the field instead)");
  ExpectRefused([](Json& j) { j["timestampAuthorities"][0]["subject"]["commonName"] = true; },
                "timestampAuthorities[0].subject.commonName: must be a string, is boolean");
}

TEST(ParseTrustedRoot, RefusesMissingRequiredFields) {
  ExpectRefused([](Json& j) { j["tlogs"][0].erase("baseUrl"); }, "tlogs[0].baseUrl: missing (required)");
  ExpectRefused([](Json& j) { j["tlogs"][0].erase("hashAlgorithm"); }, "tlogs[0].hashAlgorithm: missing");
  ExpectRefused([](Json& j) { j["tlogs"][0].erase("logId"); }, "tlogs[0].logId: missing (required)");
  ExpectRefused([](Json& j) { j["tlogs"][0]["logId"]["keyId"] = ""; }, "tlogs[0].logId.keyId: empty (required)");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"].erase("rawBytes"); },
                "tlogs[0].publicKey.rawBytes: missing (required)");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"].erase("keyDetails"); },
                "tlogs[0].publicKey.keyDetails: missing (required)");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"].erase("validFor"); },
                "tlogs[0].publicKey.validFor: missing (required)");
  ExpectRefused([](Json& j) { j["ctlogs"][0]["publicKey"]["validFor"].erase("start"); },
                "ctlogs[0].publicKey.validFor.start: missing (required)");
  ExpectRefused([](Json& j) { j["certificateAuthorities"][1].erase("validFor"); },
                "certificateAuthorities[1].validFor: missing (required)");
  ExpectRefused([](Json& j) { j["certificateAuthorities"][1].erase("certChain"); },
                "certificateAuthorities[1].certChain: missing (required)");
  ExpectRefused([](Json& j) { j["timestampAuthorities"][0]["certChain"]["certificates"] = Json::array(); },
                "timestampAuthorities[0].certChain.certificates: empty (one or more required)");
  ExpectRefused([](Json& j) { j = {{"mediaType", j["mediaType"]}, {"ctlogs", j["ctlogs"]}}; },
                "lists no certificate authority, transparency log or timestamp authority");
}

TEST(ParseTrustedRoot, RefusesBadBase64AndTimestamps) {
  ExpectRefused([](Json& j) { j["tlogs"][1 - 1]["publicKey"]["rawBytes"] = "not base64!"; },
                "tlogs[0].publicKey.rawBytes: not base64");
  ExpectRefused([](Json& j) { j["tlogs"][0]["logId"]["keyId"] = "wNI9\natQG"; }, "tlogs[0].logId.keyId: not base64");
  ExpectRefused([](Json& j) { j["tlogs"][0]["logId"]["keyId"] = "wNI9+-QG"; }, "tlogs[0].logId.keyId: not base64");
  for (const char* bad : {"2021-01-12 11:53:27Z", "2021-01-12T11:53:27", "2021-01-12T11:53:27.0000000001Z",
                          "2021-01-12T11:53:27.Z", "2021-13-12T11:53:27Z", " 2021-01-12T11:53:27Z", "0000-01-01T00:00:00Z"}) {
    ExpectRefused([&](Json& j) { j["tlogs"][0]["publicKey"]["validFor"]["start"] = bad; },
                  "tlogs[0].publicKey.validFor.start: \"");
  }
  absl::StatusOr<TrustRoot> offset =
      ParseEdited([](Json& j) { j["tlogs"][0]["publicKey"]["validFor"]["start"] = "2021-01-12T12:53:27+01:00"; });
  ASSERT_TRUE(offset.ok()) << offset.status();
  EXPECT_EQ(offset->transparency_logs[0].valid_for.start, At("2021-01-12T11:53:27Z"));
  ExpectRefused([](Json& j) { j["certificateAuthorities"][0]["validFor"]["end"] = "2021-03-07T03:20:28Z"; },
                "certificateAuthorities[0].validFor.end: is before validFor.start");
}

TEST(ParseTrustedRoot, RefusesKeysThatDoNotParseOrDisagreeWithTheirDetails) {
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"]["rawBytes"] = Base64Encode("garbage"); },
                "tlogs[0].publicKey.rawBytes: not a usable public key");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_ED25519"; },
                "tlogs[0].publicKey.keyDetails: PKIX_ED25519 disagrees with the key in rawBytes, which is "
                "ecdsa-p256-sha256");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_ECDSA_P384_SHA_384"; },
                "disagrees with the key in rawBytes");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_RSA_PSS_2048_SHA256"; },
                "key type PKIX_RSA_PSS_2048_SHA256 is not supported");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_ECDSA_P384_SHA_256"; },
                "key type PKIX_ECDSA_P384_SHA_256 is not supported");
  ExpectRefused([](Json& j) { j["tlogs"][0]["publicKey"]["keyDetails"] = "PKIX_FANCY"; },
                "tlogs[0].publicKey.keyDetails: unknown key type \"PKIX_FANCY\"");
  ExpectRefused([](Json& j) { j["tlogs"][0]["hashAlgorithm"] = "SHA2_384"; },
                "tlogs[0].hashAlgorithm: \"SHA2_384\" is not supported (only SHA2_256)");
  const std::string rsa2048 = DerBase64(Read(std::string(kPki) + "rsa2048.pub"));
  ExpectRefused(
      [&](Json& j) {
        j["ctlogs"][0]["publicKey"]["rawBytes"] = rsa2048;
        j["ctlogs"][0]["publicKey"]["keyDetails"] = "PKIX_RSA_PKCS1V15_3072_SHA256";
      },
      "ctlogs[0].publicKey.keyDetails: PKIX_RSA_PKCS1V15_3072_SHA256 disagrees with the key in rawBytes, which "
      "has 2048 bits");
}

TEST(ParseTrustedRoot, AcceptsEverySupportedKeyType) {
  struct Case {
    const char* file;
    const char* details;
    verify::KeyAlgorithm algorithm;
  };
  for (const Case& c : {Case{"p384.pub", "PKIX_ECDSA_P384_SHA_384", verify::KeyAlgorithm::kEcdsaP384Sha384},
                        Case{"ed25519.pub", "PKIX_ED25519", verify::KeyAlgorithm::kEd25519},
                        Case{"rsa2048.pub", "PKIX_RSA_PKCS1V15_2048_SHA256", verify::KeyAlgorithm::kRsaPkcs1Sha256},
                        Case{"rsa3072.pub", "PKIX_RSA_PKCS1V15_3072_SHA256", verify::KeyAlgorithm::kRsaPkcs1Sha256}}) {
    const std::string der = DerBase64(Read(std::string(kPki) + c.file));
    absl::StatusOr<TrustRoot> root = ParseEdited([&](Json& j) {
      j["tlogs"][0]["publicKey"]["rawBytes"] = der;
      j["tlogs"][0]["publicKey"]["keyDetails"] = c.details;
    });
    ASSERT_TRUE(root.ok()) << c.details << ": " << root.status();
    EXPECT_EQ(root->transparency_logs[0].public_key->Algorithm(), c.algorithm) << c.details;
  }
}

TEST(ParseTrustedRoot, RefusesTwoLogsWithOneId) {
  ExpectRefused([](Json& j) { j["ctlogs"][1]["logId"] = j["ctlogs"][0]["logId"]; },
                "ctlogs[1].logId.keyId: the same log id as ctlogs[0]");
}

TEST(ParseTrustedRoot, RefusesCertificatesThatDoNotParseOrDoNotFitTheirRole) {
  ExpectRefused(
      [](Json& j) { j["certificateAuthorities"][1]["certChain"]["certificates"][0]["rawBytes"] = Base64Encode("garbage"); },
      "certificateAuthorities[1].certChain.certificates[0].rawBytes: not an X.509 certificate");
  ExpectRefused(
      [](Json& j) {
        Json& cert = j["certificateAuthorities"][1]["certChain"]["certificates"][0]["rawBytes"];
        absl::StatusOr<std::string> der = Base64Decode(cert.get<std::string>());
        cert = Base64Encode(*der + "x");
      },
      "certificateAuthorities[1].certChain.certificates[0].rawBytes: bytes after the X.509 certificate");
  // The TSA's leaf (first certificate) is no CA: it may not stand in a certificate authority's chain.
  ExpectRefused(
      [](Json& j) {
        j["certificateAuthorities"][1]["certChain"]["certificates"][0] =
            j["timestampAuthorities"][0]["certChain"]["certificates"][0];
      },
      "certificateAuthorities[1].certChain.certificates[0].rawBytes: certificate CN=");
  ExpectRefused(
      [](Json& j) {
        Json& chain = j["timestampAuthorities"][0]["certChain"]["certificates"];
        chain[1] = chain[0];
      },
      "timestampAuthorities[0].certChain.certificates[1].rawBytes: certificate");
  // A code-signing leaf cannot head a TSA chain.
  const std::vector<std::string> without_eku = PemBlocks(Read(std::string(kPki) + "tsa-chain-without-eku.pem"));
  const std::string leaf = DerBase64(without_eku[0]);
  ExpectRefused([&](Json& j) { j["timestampAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"] = leaf; },
                "timestampAuthorities[0].certChain.certificates[0].rawBytes: timestamp authority leaf CN=TSA Leaf, "
                "O=sigshim test lacks the timeStamping extended key usage");
}

TEST(ParseTrustedRoot, RefusesOversizeFiles) {
  std::string text = Read(std::string(kTrustedRoots) + "public-good.json");
  text.append(kMaxTrustedRootBytes, ' ');
  absl::StatusOr<TrustRoot> root = ParseTrustedRoot(text, "big.json");
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(root.status().message(), HasSubstr("big.json: trusted root of"));
  EXPECT_THAT(root.status().message(), HasSubstr("larger than the limit of 1048576"));
}

TEST(TrustRoot, DescribesEachAuthorityAndLogOnOneLine) {
  absl::StatusOr<TrustRoot> root = ParseEdited([](Json&) {});
  ASSERT_TRUE(root.ok()) << root.status();
  root->name = "sigstore";
  const std::string text = root->Describe();
  EXPECT_THAT(text, HasSubstr("trust root \"sigstore\" (sigstore trusted_root root.json), transparency log "
                              "required\n"));
  EXPECT_THAT(text, HasSubstr("  tlog https://rekor.sigstore.dev ecdsa-p256-sha256 "
                              "sha256:c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d log id "
                              "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d, valid "
                              "2021-01-12T11:53:27Z .. (open)\n"));
  EXPECT_THAT(text, HasSubstr("  ca CN=sigstore, O=sigstore.dev https://fulcio.sigstore.dev anchor sha256:"));
  EXPECT_THAT(text, HasSubstr(", 1 certificate, valid 2021-03-07T03:20:29Z .. 2022-12-31T23:59:59Z\n"));
  EXPECT_THAT(text, HasSubstr("  ctlog https://ctfe.sigstore.dev/2022 ecdsa-p256-sha256 sha256:"));
  EXPECT_THAT(text, HasSubstr("  tsa CN=Internal Services Root, O=GitHub, Inc. anchor sha256:"));
  // A heading and 2 CAs, 1 tlog, 2 CT logs, 1 TSA.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 7);
}

}  // namespace
}  // namespace sigshim::trust
