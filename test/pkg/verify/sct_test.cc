#include "pkg/verify/sct.h"

#include <openssl/ct.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/verify/certificate.h"
#include "pkg/verify/certificate_chain.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;

constexpr char kSigstoreGo[] = "test/testdata/sigstore-go/";
constexpr char kLog2022Id[] = "dd3d306ac6c7113263191e1c99673702a24a5eb8de3cadff878a72802f29ee8e";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

nlohmann::json ReadJson(const std::string& name) {
  std::string text = ReadFile(absl::StrCat(kSigstoreGo, name));
  EXPECT_FALSE(text.empty()) << name;
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::string Der(const nlohmann::json& raw_bytes_holder) {
  absl::StatusOr<std::string> der = Base64Decode(raw_bytes_holder["rawBytes"].get<std::string>());
  EXPECT_TRUE(der.ok()) << der.status();
  return der.ok() ? *der : "";
}

absl::Time ParseRfc3339(const std::string& text) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", text, &t, &error)) << text << ": " << error;
  return t;
}

// The CT logs of a trusted_root.json, read just far enough for these tests.
std::vector<CtLogInput> LogsOf(const std::string& trusted_root) {
  std::vector<CtLogInput> logs;
  nlohmann::json root = ReadJson(trusted_root);
  for (const nlohmann::json& log : root["ctlogs"]) {
    CtLogInput input;
    input.name = log["baseUrl"].get<std::string>();
    input.log_id = *Base64Decode(log["logId"]["keyId"].get<std::string>());
    input.key_der = Der(log["publicKey"]);
    const nlohmann::json& valid_for = log["publicKey"]["validFor"];
    if (valid_for.contains("start")) input.window.start = ParseRfc3339(valid_for["start"].get<std::string>());
    if (valid_for.contains("end")) input.window.end = ParseRfc3339(valid_for["end"].get<std::string>());
    logs.push_back(std::move(input));
  }
  return logs;
}

struct LeafAndIssuer {
  std::string leaf;
  std::string issuer;
};

// dsse.sigstore.json: a 2022 public-good Fulcio leaf with its chain in the bundle.
LeafAndIssuer DsseLeaf() {
  nlohmann::json bundle = ReadJson("bundles/dsse.sigstore.json");
  const nlohmann::json& chain = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"];
  return {Der(chain[0]), Der(chain[1])};
}

// sigstore.js@2.0.0-provenance: a 2023 public-good leaf alone; its issuer is the Fulcio intermediate
// of the trusted root.
LeafAndIssuer ProvenanceLeaf() {
  nlohmann::json bundle = ReadJson("bundles/sigstore.js@2.0.0-provenance.sigstore.json");
  const nlohmann::json& vm = bundle["verificationMaterial"];
  std::string leaf = vm.contains("certificate") ? Der(vm["certificate"])
                                                : Der(vm["x509CertificateChain"]["certificates"][0]);
  nlohmann::json root = ReadJson("trusted-roots/public-good.json");
  return {leaf, Der(root["certificateAuthorities"][1]["certChain"]["certificates"][0])};
}

void ExpectDenied(const absl::StatusOr<std::vector<VerifiedSct>>& result, absl::string_view reason) {
  ASSERT_FALSE(result.ok()) << "accepted";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(std::string(reason)));
}

// Returns `der` with one byte of the first embedded SCT's signature changed.
std::string WithAlteredSctSignature(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(cert, nullptr);
  if (cert == nullptr) return der;
  auto* scts = static_cast<STACK_OF(SCT)*>(X509_get_ext_d2i(cert, NID_ct_precert_scts, nullptr, nullptr));
  EXPECT_NE(scts, nullptr);
  std::string signature;
  if (scts != nullptr && sk_SCT_num(scts) > 0) {
    unsigned char* sig = nullptr;
    size_t len = SCT_get0_signature(sk_SCT_value(scts, 0), &sig);
    signature.assign(reinterpret_cast<const char*>(sig), len);
  }
  SCT_LIST_free(scts);
  X509_free(cert);
  size_t at = der.find(signature);
  EXPECT_FALSE(signature.empty());
  EXPECT_NE(at, std::string::npos);
  std::string altered = der;
  if (!signature.empty() && at != std::string::npos) altered[at + signature.size() - 1] ^= 0x01;
  return altered;
}

TEST(VerifyEmbeddedScts, VerifiesPublicGoodFulcioCertificates) {
  std::vector<CtLogInput> logs = LogsOf("trusted-roots/public-good.json");
  ASSERT_EQ(logs.size(), 2u);

  LeafAndIssuer dsse = DsseLeaf();
  absl::StatusOr<std::vector<VerifiedSct>> verified = VerifyEmbeddedScts(dsse.leaf, dsse.issuer, logs);
  ASSERT_TRUE(verified.ok()) << verified.status();
  ASSERT_EQ(verified->size(), 1u);
  EXPECT_EQ((*verified)[0].log_id_hex, kLog2022Id);
  EXPECT_EQ((*verified)[0].log_name, "https://ctfe.sigstore.dev/2022");
  EXPECT_EQ((*verified)[0].timestamp,
            absl::FromCivil(absl::CivilSecond(2022, 11, 9, 23, 0, 35), absl::UTCTimeZone()) +
                absl::Milliseconds(805));

  LeafAndIssuer provenance = ProvenanceLeaf();
  verified = VerifyEmbeddedScts(provenance.leaf, provenance.issuer, logs);
  ASSERT_TRUE(verified.ok()) << verified.status();
  ASSERT_EQ(verified->size(), 1u);
  EXPECT_EQ((*verified)[0].timestamp,
            absl::FromCivil(absl::CivilSecond(2023, 8, 18, 16, 5, 35), absl::UTCTimeZone()) +
                absl::Milliseconds(120));
}

TEST(VerifyEmbeddedScts, VerifiesAParsedLeafAgainstLogsDecodedOnce) {
  // What a verification under a trust root does: the leaf parsed once, the logs built with the root.
  absl::StatusOr<std::shared_ptr<const CtLogs>> logs = CtLogs::Create(LogsOf("trusted-roots/public-good.json"));
  ASSERT_TRUE(logs.ok()) << logs.status();
  LeafAndIssuer dsse = DsseLeaf();
  absl::StatusOr<Certificate> leaf = ParseCertificateDer(dsse.leaf);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::StatusOr<std::vector<VerifiedSct>> verified = VerifyEmbeddedScts(*leaf, dsse.issuer, **logs);
  ASSERT_TRUE(verified.ok()) << verified.status();
  ASSERT_EQ(verified->size(), 1u);
  EXPECT_EQ((*verified)[0].log_id_hex, kLog2022Id);
  // The same logs, used again, judge another certificate on its own.
  nlohmann::json bundle = ReadJson("bundles/dsse.sigstore.json");
  const nlohmann::json& chain = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"];
  ExpectDenied(VerifyEmbeddedScts(*leaf, Der(chain[2]), **logs), "SCT signature does not verify");
  absl::StatusOr<Certificate> intermediate = ParseCertificateDer(dsse.issuer);
  ASSERT_TRUE(intermediate.ok()) << intermediate.status();
  ExpectDenied(VerifyEmbeddedScts(*intermediate, Der(chain[2]), **logs), "no embedded SCTs");
  ExpectDenied(VerifyEmbeddedScts(*leaf, "garbage", **logs), "issuer certificate is not a DER certificate");
}

TEST(VerifyEmbeddedScts, TakesTheIssuerFromTheTrustRootsCaPool) {
  // What a verification under a trust root does when the issuer is one of the root's authorities:
  // the issuer's key comes from the pool's parse of it.
  absl::StatusOr<std::shared_ptr<const CtLogs>> logs = CtLogs::Create(LogsOf("trusted-roots/public-good.json"));
  ASSERT_TRUE(logs.ok()) << logs.status();
  LeafAndIssuer dsse = DsseLeaf();
  nlohmann::json bundle = ReadJson("bundles/dsse.sigstore.json");
  const std::string fulcio_root = Der(bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][2]);
  absl::StatusOr<CaPool> pool = CaPool::Create({TrustedCertificate{fulcio_root}}, {TrustedCertificate{dsse.issuer}});
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<Certificate> leaf = ParseCertificateDer(dsse.leaf);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  ASSERT_NE(pool->Find(dsse.issuer), nullptr);
  EXPECT_EQ(pool->Find(dsse.leaf), nullptr);

  absl::StatusOr<std::vector<VerifiedSct>> verified = VerifyEmbeddedScts(*leaf, pool->Find(dsse.issuer), **logs);
  ASSERT_TRUE(verified.ok()) << verified.status();
  ASSERT_EQ(verified->size(), 1u);
  EXPECT_EQ((*verified)[0].log_id_hex, kLog2022Id);
  ExpectDenied(VerifyEmbeddedScts(*leaf, pool->Find(fulcio_root), **logs), "SCT signature does not verify");
  ExpectDenied(VerifyEmbeddedScts(*leaf, static_cast<const x509_st*>(nullptr), **logs), "no issuer certificate");
}

TEST(CtLogs, RefusesLogsWhoseKeyOrIdIsWrong) {
  std::vector<CtLogInput> logs = LogsOf("trusted-roots/public-good.json");
  EXPECT_EQ(CtLogs::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<CtLogInput> bad_id = logs;
  bad_id[1].log_id = bad_id[0].log_id;
  EXPECT_THAT(std::string(CtLogs::Create(bad_id).status().message()), HasSubstr("is not the SHA-256 of its key"));
  std::vector<CtLogInput> bad_key = logs;
  bad_key[0].key_der += "x";
  EXPECT_THAT(std::string(CtLogs::Create(bad_key).status().message()),
              HasSubstr("key is not one DER SubjectPublicKeyInfo"));
  absl::StatusOr<std::shared_ptr<const CtLogs>> good = CtLogs::Create(logs);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)->size(), 2u);
  EXPECT_EQ((*good)->Find(std::string(32, '\0')), nullptr);
}

TEST(VerifyEmbeddedScts, VerifiesPrivateDeploymentCertificate) {
  // othername.sigstore.json: a "scaffolding" deployment's Fulcio leaf, its CA and its CT log.
  nlohmann::json bundle = ReadJson("bundles/othername.sigstore.json");
  nlohmann::json root = ReadJson("trusted-roots/scaffolding.json");
  std::string leaf = Der(bundle["verificationMaterial"]["certificate"]);
  std::string issuer = Der(root["certificateAuthorities"][0]["certChain"]["certificates"][0]);
  absl::StatusOr<std::vector<VerifiedSct>> verified =
      VerifyEmbeddedScts(leaf, issuer, LogsOf("trusted-roots/scaffolding.json"));
  ASSERT_TRUE(verified.ok()) << verified.status();
  ASSERT_EQ(verified->size(), 1u);
  EXPECT_EQ((*verified)[0].log_id_hex, "deb070d81f39323d218ce33786a6c3e38b4f8592ea392bad350f04495164035c");
  // And the public-good logs know nothing of it.
  ExpectDenied(VerifyEmbeddedScts(leaf, issuer, LogsOf("trusted-roots/public-good.json")),
               "SCT 1 from unknown log deb070d81f39323d218ce33786a6c3e38b4f8592ea392bad350f04495164035c");
}

TEST(VerifyEmbeddedScts, RefusesAlteredSctSignature) {
  LeafAndIssuer dsse = DsseLeaf();
  ExpectDenied(VerifyEmbeddedScts(WithAlteredSctSignature(dsse.leaf), dsse.issuer,
                                  LogsOf("trusted-roots/public-good.json")),
               "SCT signature does not verify");
}

TEST(VerifyEmbeddedScts, RefusesAlteredCertificate) {
  // The log signed the precertificate: change one byte of the subject alternative name.
  LeafAndIssuer dsse = DsseLeaf();
  size_t at = dsse.leaf.find("@");
  ASSERT_NE(at, std::string::npos);
  std::string altered = dsse.leaf;
  altered[at + 1] ^= 0x20;
  ExpectDenied(VerifyEmbeddedScts(altered, dsse.issuer, LogsOf("trusted-roots/public-good.json")),
               "SCT signature does not verify");
}

// Returns `der` with the precertificate poison (1.3.6.1.4.1.11129.2.4.3, critical, ASN.1 NULL) added
// after its extensions; the CA's signature no longer matches, which the SCT check does not look at.
std::string WithPoison(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(cert, nullptr);
  if (cert == nullptr) return der;
  ASN1_OCTET_STRING* null_value = ASN1_OCTET_STRING_new();
  const unsigned char kNull[] = {0x05, 0x00};
  EXPECT_EQ(ASN1_OCTET_STRING_set(null_value, kNull, sizeof(kNull)), 1);
  X509_EXTENSION* poison = X509_EXTENSION_create_by_NID(nullptr, NID_ct_precert_poison, 1, null_value);
  EXPECT_NE(poison, nullptr);
  EXPECT_EQ(X509_add_ext(cert, poison, -1), 1);
  EXPECT_GT(i2d_re_X509_tbs(cert, nullptr), 0);  // marks the TBSCertificate changed, so it is encoded anew
  unsigned char* out = nullptr;
  const int len = i2d_X509(cert, &out);
  EXPECT_GT(len, 0);
  std::string poisoned = len > 0 ? std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(len)) : der;
  OPENSSL_free(out);
  X509_EXTENSION_free(poison);
  ASN1_OCTET_STRING_free(null_value);
  X509_free(cert);
  return poisoned;
}

TEST(VerifyEmbeddedScts, RefusesLeafCarryingBothSctsAndThePoison) {
  // A precertificate (poison) is not a certificate: RFC 6962 §3.1 says a final certificate must not
  // carry the poison, so one that carries the SCT list as well is refused, whatever its SCTs say.
  LeafAndIssuer dsse = DsseLeaf();
  const std::string poisoned = WithPoison(dsse.leaf);
  ASSERT_NE(poisoned, dsse.leaf);
  std::vector<CtLogInput> logs = LogsOf("trusted-roots/public-good.json");
  ExpectDenied(VerifyEmbeddedScts(poisoned, dsse.issuer, logs),
               "the certificate carries both SCTs and the precertificate poison");
  absl::StatusOr<std::shared_ptr<const CtLogs>> parsed_logs = CtLogs::Create(logs);
  ASSERT_TRUE(parsed_logs.ok()) << parsed_logs.status();
  absl::StatusOr<Certificate> leaf = ParseCertificateDer(poisoned);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  ExpectDenied(VerifyEmbeddedScts(*leaf, dsse.issuer, **parsed_logs),
               "the certificate carries both SCTs and the precertificate poison");
}

TEST(VerifyEmbeddedScts, RefusesWrongIssuer) {
  // The SCT covers the issuer's key hash: the Fulcio root (or another CA) is not the issuer.
  LeafAndIssuer dsse = DsseLeaf();
  nlohmann::json bundle = ReadJson("bundles/dsse.sigstore.json");
  const nlohmann::json& chain = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"];
  ExpectDenied(VerifyEmbeddedScts(dsse.leaf, Der(chain[2]), LogsOf("trusted-roots/public-good.json")),
               "SCT signature does not verify");
  nlohmann::json scaffolding = ReadJson("trusted-roots/scaffolding.json");
  ExpectDenied(VerifyEmbeddedScts(
                   dsse.leaf, Der(scaffolding["certificateAuthorities"][0]["certChain"]["certificates"][0]),
                   LogsOf("trusted-roots/public-good.json")),
               "SCT signature does not verify");
}

TEST(VerifyEmbeddedScts, RefusesSctFromUnknownLog) {
  std::vector<CtLogInput> logs = LogsOf("trusted-roots/public-good.json");
  std::vector<CtLogInput> only_2021_log;
  for (const CtLogInput& log : logs) {
    if (log.name == "https://ctfe.sigstore.dev/test") only_2021_log.push_back(log);
  }
  ASSERT_EQ(only_2021_log.size(), 1u);
  LeafAndIssuer dsse = DsseLeaf();
  ExpectDenied(VerifyEmbeddedScts(dsse.leaf, dsse.issuer, only_2021_log),
               absl::StrCat("SCT 1 from unknown log ", kLog2022Id));
}

TEST(VerifyEmbeddedScts, LogWindowEdgesAreInclusive) {
  std::vector<CtLogInput> logs = LogsOf("trusted-roots/public-good.json");
  LeafAndIssuer dsse = DsseLeaf();
  const absl::Time sct_time =
      absl::FromCivil(absl::CivilSecond(2022, 11, 9, 23, 0, 35), absl::UTCTimeZone()) +
      absl::Milliseconds(805);
  auto with_window = [&](absl::Time start, absl::Time end) {
    std::vector<CtLogInput> copy = logs;
    for (CtLogInput& log : copy) {
      if (log.name == "https://ctfe.sigstore.dev/2022") log.window = {start, end};
    }
    return copy;
  };
  const absl::Duration ms = absl::Milliseconds(1);
  EXPECT_TRUE(VerifyEmbeddedScts(dsse.leaf, dsse.issuer, with_window(sct_time, sct_time)).ok());
  EXPECT_TRUE(VerifyEmbeddedScts(dsse.leaf, dsse.issuer, with_window(absl::InfinitePast(), sct_time)).ok());
  ExpectDenied(VerifyEmbeddedScts(dsse.leaf, dsse.issuer, with_window(absl::InfinitePast(), sct_time - ms)),
               "is timestamped 2022-11-09T23:00:35.805Z, outside the log's validity");
  ExpectDenied(VerifyEmbeddedScts(dsse.leaf, dsse.issuer, with_window(sct_time + ms, absl::InfiniteFuture())),
               "outside the log's validity");
}

TEST(VerifyEmbeddedScts, RefusesCertificateWithoutScts) {
  // The Fulcio intermediate, and a TSA certificate, carry no SCT list.
  LeafAndIssuer dsse = DsseLeaf();
  nlohmann::json bundle = ReadJson("bundles/dsse.sigstore.json");
  const nlohmann::json& chain = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"];
  ExpectDenied(VerifyEmbeddedScts(dsse.issuer, Der(chain[2]), LogsOf("trusted-roots/public-good.json")),
               "no embedded SCTs");
  nlohmann::json tsa_root = ReadJson("trusted-roots/public-key-validity.json");
  const nlohmann::json& tsa_chain = tsa_root["timestampAuthorities"][0]["certChain"]["certificates"];
  ExpectDenied(
      VerifyEmbeddedScts(Der(tsa_chain[0]), Der(tsa_chain[1]), LogsOf("trusted-roots/public-good.json")),
      "no embedded SCTs");
}

TEST(VerifyEmbeddedScts, RefusesMalformedCertificates) {
  LeafAndIssuer dsse = DsseLeaf();
  std::vector<CtLogInput> logs = LogsOf("trusted-roots/public-good.json");
  ExpectDenied(VerifyEmbeddedScts("", dsse.issuer, logs), "certificate is empty");
  ExpectDenied(VerifyEmbeddedScts("garbage", dsse.issuer, logs), "certificate is not a DER certificate");
  ExpectDenied(VerifyEmbeddedScts(dsse.leaf.substr(0, dsse.leaf.size() / 2), dsse.issuer, logs),
               "not a DER certificate");
  ExpectDenied(VerifyEmbeddedScts(dsse.leaf + "x", dsse.issuer, logs), "bytes after the certificate");
  ExpectDenied(VerifyEmbeddedScts(dsse.leaf, "garbage", logs), "issuer certificate is not a DER certificate");
}

TEST(VerifyEmbeddedScts, RejectsMisconfiguredLogs) {
  LeafAndIssuer dsse = DsseLeaf();
  std::vector<CtLogInput> logs = LogsOf("trusted-roots/public-good.json");
  EXPECT_EQ(VerifyEmbeddedScts(dsse.leaf, dsse.issuer, {}).status().code(),
            absl::StatusCode::kInvalidArgument);

  std::vector<CtLogInput> bad_id = logs;
  bad_id[1].log_id = bad_id[0].log_id;  // the 2022 log's key under the 2021 log's id
  absl::StatusOr<std::vector<VerifiedSct>> result = VerifyEmbeddedScts(dsse.leaf, dsse.issuer, bad_id);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("is not the SHA-256 of its key"));

  std::vector<CtLogInput> short_id = logs;
  short_id[0].log_id.resize(31);
  EXPECT_EQ(VerifyEmbeddedScts(dsse.leaf, dsse.issuer, short_id).status().code(),
            absl::StatusCode::kInvalidArgument);

  std::vector<CtLogInput> bad_key = logs;
  bad_key[0].key_der = "not a key";
  result = VerifyEmbeddedScts(dsse.leaf, dsse.issuer, bad_key);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("key is not one DER SubjectPublicKeyInfo"));
}

TEST(VerifyEmbeddedScts, TrustedRootLogIdsAreTheirKeyHashes) {
  // The id check above must hold for real trust material, or no SCT would ever verify.
  for (const char* root : {"trusted-roots/public-good.json", "trusted-roots/scaffolding.json"}) {
    for (const CtLogInput& log : LogsOf(root)) {
      EXPECT_EQ(absl::StrCat("sha256:", absl::BytesToHexString(log.log_id)), Sha256Digest(log.key_der))
          << root << " " << log.name;
    }
  }
}

}  // namespace
}  // namespace sigshim::verify
