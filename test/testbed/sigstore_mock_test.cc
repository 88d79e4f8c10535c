// Checks the keyless test bed (sigstore-js with a mock Fulcio, Rekor and TSA) against OpenSSL,
// @sigstore/verify and a real registry: what it signs carries the requested identity, its SET and
// timestamp verify with the keys of the trusted root it wrote, and its bad material is bad; key
// signatures it logs and bytes it timestamps get real SETs and timestamps at the moved time.
#include "test/testbed/sigstore_mock.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include <cerrno>
#include <memory>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/signature_manifest.h"
#include "pkg/verify/simple_signing.h"
#include "test/e2e/attack_images.h"
#include "test/signer/signer.h"
#include "test/testbed/registry.h"
#include "test/testbed/temp_dir.h"

namespace sigshim::testbed {
namespace {

using ::testing::HasSubstr;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct TsRespFree {
  void operator()(TS_RESP* p) const { TS_RESP_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

X509Ptr ParsePem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

X509Ptr ParseDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

std::string Base64DecodeOrDie(absl::string_view text) {
  absl::StatusOr<std::string> decoded = Base64Decode(text);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.value_or("");
}

// Returns the URI SANs of `cert`.
std::vector<std::string> UriSans(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.uniformResourceIdentifier)),
                     ASN1_STRING_length(name->d.uniformResourceIdentifier));
  }
  GENERAL_NAMES_free(names);
  return out;
}

// Returns the raw extnValue bytes of the extension `oid` in `cert`, or "" when absent.
std::string ExtensionValue(X509* cert, const char* oid) {
  std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> object(OBJ_txt2obj(oid, 1), ASN1_OBJECT_free);
  int index = X509_get_ext_by_OBJ(cert, object.get(), -1);
  if (index < 0) return "";
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(cert, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)), ASN1_STRING_length(data));
}

// Decodes a DER UTF8String ("" when it is not one).
std::string Utf8String(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ASN1_UTF8STRING* s = d2i_ASN1_UTF8STRING(nullptr, &p, static_cast<long>(der.size()));
  if (s == nullptr) return "";
  std::string out(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
  ASN1_UTF8STRING_free(s);
  return out;
}

bool VerifySha256(EVP_PKEY* key, const std::string& message, const std::string& signature) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

PkeyPtr ParseSpki(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return PkeyPtr(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
}

std::string HexOf(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

class SigstoreMockTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = TempDir::Create("sigshim-sjs");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = dir->release();
    SigstoreMockOptions options;
    options.dir = dir_->Path("mock");
    auto mock = SigstoreMock::Start(options);
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = mock->release();
    auto root = ReadFile(mock_->trusted_root_path(), 1 << 20);
    ASSERT_TRUE(root.ok()) << root.status();
    trusted_root_ = nlohmann::json::parse(*root);
  }
  static void TearDownTestSuite() {
    delete mock_;
    mock_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  static std::string Payload() {
    auto payload = verify::BuildSimpleSigningPayload("127.0.0.1:5000/e2e/keyless",
                                                     "sha256:" + std::string(64, 'a'));
    EXPECT_TRUE(payload.ok()) << payload.status();
    return payload.value_or("");
  }

  // Runs verify_bundle.mjs (@sigstore/verify) on `signature`'s bundle; returns its result.
  static absl::StatusOr<CommandResult> VerifyWithSigstoreJs(const KeylessSignature& signature,
                                                            const std::string& payload,
                                                            const std::string& trusted_root,
                                                            std::vector<std::string> extra = {}) {
    static int count = 0;
    std::string base = dir_->Path(absl::StrCat("verify-", ++count));
    RETURN_IF_ERROR(WriteFileAtomic(base + ".bundle.json", signature.bundle_json, 0644));
    RETURN_IF_ERROR(WriteFileAtomic(base + ".payload", payload, 0644));
    std::vector<std::string> argv = {mock_->node(), mock_->program_dir() + "/verify_bundle.mjs",
                                     "--bundle", base + ".bundle.json", "--artifact", base + ".payload",
                                     "--trusted-root", trusted_root};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv, absl::Seconds(60));
  }

  static TempDir* dir_;
  static SigstoreMock* mock_;
  static nlohmann::json trusted_root_;
};

TempDir* SigstoreMockTest::dir_ = nullptr;
SigstoreMock* SigstoreMockTest::mock_ = nullptr;
nlohmann::json SigstoreMockTest::trusted_root_;

TEST_F(SigstoreMockTest, CertificateCarriesTheRequestedIdentityAndClaims) {
  KeylessSignOptions options;
  options.issuer = "https://issuer.example";
  options.subject = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";
  options.claims = {{"repository", "acme/app"}, {"ref", "refs/tags/v1"}, {"runner_environment", "github-hosted"}};
  auto signature = mock_->Sign(Payload(), options);
  ASSERT_TRUE(signature.ok()) << signature.status();

  X509Ptr leaf = ParsePem(signature->certificate_pem);
  ASSERT_NE(leaf, nullptr) << signature->certificate_pem;
  EXPECT_THAT(UriSans(leaf.get()), ::testing::ElementsAre(options.subject));
  EXPECT_EQ(ExtensionValue(leaf.get(), "1.3.6.1.4.1.57264.1.1"), "https://issuer.example");  // raw
  EXPECT_EQ(Utf8String(ExtensionValue(leaf.get(), "1.3.6.1.4.1.57264.1.8")), "https://issuer.example");
  EXPECT_EQ(Utf8String(ExtensionValue(leaf.get(), "1.3.6.1.4.1.57264.1.12")), "https://github.com/acme/app");
  EXPECT_EQ(Utf8String(ExtensionValue(leaf.get(), "1.3.6.1.4.1.57264.1.14")), "refs/tags/v1");
  EXPECT_EQ(Utf8String(ExtensionValue(leaf.get(), "1.3.6.1.4.1.57264.1.11")), "github-hosted");
  EXPECT_NE(ExtensionValue(leaf.get(), "1.3.6.1.4.1.11129.2.4.2"), "") << "no embedded SCT";

  // The chain annotation is the CA root of the trusted root, and it signed the leaf.
  X509Ptr root = ParsePem(signature->chain_pem);
  ASSERT_NE(root, nullptr);
  X509Ptr trusted = ParseDer(Base64DecodeOrDie(
      trusted_root_["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"].get<std::string>()));
  ASSERT_NE(trusted, nullptr);
  EXPECT_EQ(X509_cmp(root.get(), trusted.get()), 0);
  EXPECT_EQ(X509_verify(leaf.get(), X509_get0_pubkey(trusted.get())), 1);

  // The signature annotation verifies over the payload with the certificate's key.
  EXPECT_TRUE(VerifySha256(X509_get0_pubkey(leaf.get()), Payload(), Base64DecodeOrDie(signature->signature_base64)));
}

TEST_F(SigstoreMockTest, SetVerifiesWithTheTrustedRootsRekorKey) {
  auto signature = mock_->Sign(Payload());
  ASSERT_TRUE(signature.ok()) << signature.status();
  ASSERT_FALSE(signature->set_json.empty());
  EXPECT_EQ(signature->annotations.at(std::string(verify::kBundleAnnotation)), signature->set_json);
  nlohmann::json set = nlohmann::json::parse(signature->set_json);
  const nlohmann::json& payload = set["Payload"];
  // cosign's RekorBundle: SignedEntryTimestamp (base64) and Payload{body, integratedTime, logIndex,
  // logID (hex)}; the SET signs the payload's canonical JSON (keys sorted, no spaces).
  std::string canonical = nlohmann::json{{"body", payload["body"]},
                                         {"integratedTime", payload["integratedTime"]},
                                         {"logID", payload["logID"]},
                                         {"logIndex", payload["logIndex"]}}
                              .dump();
  const nlohmann::json& tlog = trusted_root_["tlogs"][0];
  std::string key_der = Base64DecodeOrDie(tlog["publicKey"]["rawBytes"].get<std::string>());
  PkeyPtr key = ParseSpki(key_der);
  ASSERT_NE(key, nullptr);
  EXPECT_TRUE(VerifySha256(key.get(), canonical, Base64DecodeOrDie(set["SignedEntryTimestamp"].get<std::string>())));
  EXPECT_EQ(payload["logID"].get<std::string>(), Sha256Hex(key_der));
  EXPECT_EQ(payload["logID"].get<std::string>(), HexOf(Base64DecodeOrDie(tlog["logId"]["keyId"].get<std::string>())));

  // The logged body is the hashedrekord of this payload, signature and certificate.
  nlohmann::json body = nlohmann::json::parse(Base64DecodeOrDie(payload["body"].get<std::string>()));
  EXPECT_EQ(body["kind"], "hashedrekord");
  EXPECT_EQ(body["spec"]["data"]["hash"]["value"], Sha256Hex(Payload()));
  EXPECT_EQ(body["spec"]["signature"]["content"], signature->signature_base64);
  X509Ptr logged = ParsePem(Base64DecodeOrDie(body["spec"]["signature"]["publicKey"]["content"].get<std::string>()));
  ASSERT_NE(logged, nullptr);
  EXPECT_EQ(X509_cmp(logged.get(), ParsePem(signature->certificate_pem).get()), 0);

  // A SET is no proof for another body.
  nlohmann::json tampered = nlohmann::json::parse(canonical);
  tampered["logIndex"] = tampered["logIndex"].get<int64_t>() + 1;
  EXPECT_FALSE(VerifySha256(key.get(), tampered.dump(), Base64DecodeOrDie(set["SignedEntryTimestamp"].get<std::string>())));
}

TEST_F(SigstoreMockTest, TimestampIsAnRfc3161ResponseOverTheSignature) {
  KeylessSignOptions options;
  options.tsa = SigstoreAuthority::kMain;
  auto signature = mock_->Sign(Payload(), options);
  ASSERT_TRUE(signature.ok()) << signature.status();
  ASSERT_FALSE(signature->timestamp_json.empty());
  nlohmann::json timestamp = nlohmann::json::parse(signature->timestamp_json);
  std::string der = Base64DecodeOrDie(timestamp["SignedRFC3161Timestamp"].get<std::string>());
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<TS_RESP, TsRespFree> response(d2i_TS_RESP(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_NE(response, nullptr) << "not a DER TimeStampResp";
  TS_TST_INFO* info = TS_RESP_get_tst_info(response.get());
  ASSERT_NE(info, nullptr);
  ASN1_OCTET_STRING* imprint = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(info));
  std::string hashed(reinterpret_cast<const char*>(ASN1_STRING_get0_data(imprint)), ASN1_STRING_length(imprint));
  // cosign timestamps the raw signature bytes.
  EXPECT_EQ(HexOf(hashed), Sha256Hex(Base64DecodeOrDie(signature->signature_base64)));
  const ASN1_GENERALIZEDTIME* when = TS_TST_INFO_get_time(info);
  ASSERT_NE(when, nullptr);
  EXPECT_LE(X509_cmp_current_time(when), 0) << "genTime is in the future";
}

TEST_F(SigstoreMockTest, LoggedKeySignatureHasASetOverItsHashedrekordAtTheMovedTime) {
  auto key = test_signer::GenerateSigningKey(test_signer::KeyType::kEcdsaP256);
  ASSERT_TRUE(key.ok()) << key.status();
  auto signature = key->signer->Sign(Payload());
  ASSERT_TRUE(signature.ok()) << signature.status();
  auto logged = mock_->LogKeySignature(Payload(), *signature, key->pair.public_pem, SigstoreAuthority::kMain,
                                       absl::Hours(-2));
  ASSERT_TRUE(logged.ok()) << logged.status();
  nlohmann::json set = nlohmann::json::parse(*logged);
  const nlohmann::json& payload = set["Payload"];
  std::string canonical = nlohmann::json{{"body", payload["body"]},
                                         {"integratedTime", payload["integratedTime"]},
                                         {"logID", payload["logID"]},
                                         {"logIndex", payload["logIndex"]}}
                              .dump();
  PkeyPtr log_key = ParseSpki(Base64DecodeOrDie(trusted_root_["tlogs"][0]["publicKey"]["rawBytes"].get<std::string>()));
  ASSERT_NE(log_key, nullptr);
  EXPECT_TRUE(VerifySha256(log_key.get(), canonical, Base64DecodeOrDie(set["SignedEntryTimestamp"].get<std::string>())));
  // The log's clock was moved two hours back (an hour of margin for a slow machine).
  EXPECT_LT(payload["integratedTime"].get<int64_t>(), absl::ToUnixSeconds(absl::Now() - absl::Hours(1)));

  // The body is the hashedrekord cosign proposes for a key signature: payload hash, signature, key.
  nlohmann::json body = nlohmann::json::parse(Base64DecodeOrDie(payload["body"].get<std::string>()));
  EXPECT_EQ(body["kind"], "hashedrekord");
  EXPECT_EQ(body["apiVersion"], "0.0.1");
  EXPECT_EQ(body["spec"]["data"]["hash"]["algorithm"], "sha256");
  EXPECT_EQ(body["spec"]["data"]["hash"]["value"], Sha256Hex(Payload()));
  EXPECT_EQ(Base64DecodeOrDie(body["spec"]["signature"]["content"].get<std::string>()), *signature);
  EXPECT_EQ(Base64DecodeOrDie(body["spec"]["signature"]["publicKey"]["content"].get<std::string>()),
            key->pair.public_pem);

  // The other log's SET does not verify with the trusted root's log key.
  auto other = mock_->LogKeySignature(Payload(), *signature, key->pair.public_pem, SigstoreAuthority::kOther);
  ASSERT_TRUE(other.ok()) << other.status();
  nlohmann::json other_set = nlohmann::json::parse(*other);
  const nlohmann::json& p = other_set["Payload"];
  EXPECT_FALSE(VerifySha256(log_key.get(),
                            nlohmann::json{{"body", p["body"]},
                                           {"integratedTime", p["integratedTime"]},
                                           {"logID", p["logID"]},
                                           {"logIndex", p["logIndex"]}}
                                .dump(),
                            Base64DecodeOrDie(other_set["SignedEntryTimestamp"].get<std::string>())));
}

TEST_F(SigstoreMockTest, TimestampOfBytesIsOverTheirHashAtTheMovedTime) {
  const std::string data = "raw signature bytes";
  auto stamped = mock_->Timestamp(data, SigstoreAuthority::kMain, absl::Hours(-2));
  ASSERT_TRUE(stamped.ok()) << stamped.status();
  nlohmann::json timestamp = nlohmann::json::parse(*stamped);
  std::string der = Base64DecodeOrDie(timestamp["SignedRFC3161Timestamp"].get<std::string>());
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<TS_RESP, TsRespFree> response(d2i_TS_RESP(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_NE(response, nullptr) << "not a DER TimeStampResp";
  TS_TST_INFO* info = TS_RESP_get_tst_info(response.get());
  ASSERT_NE(info, nullptr);
  ASN1_OCTET_STRING* imprint = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(info));
  EXPECT_EQ(HexOf(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(imprint)), ASN1_STRING_length(imprint))),
            Sha256Hex(data));
  // The TSA's clock was moved two hours back (an hour of margin for a slow machine).
  const ASN1_GENERALIZEDTIME* when = TS_TST_INFO_get_time(info);
  ASSERT_NE(when, nullptr);
  struct tm gen_time = {};
  ASSERT_EQ(ASN1_TIME_to_tm(when, &gen_time), 1) << "genTime does not parse";
  EXPECT_LT(absl::FromTM(gen_time, absl::UTCTimeZone()), absl::Now() - absl::Hours(1)) << "genTime is not two hours back";
}

TEST_F(SigstoreMockTest, BundleVerifiesWithSigstoreJsAgainstTheWrittenTrustedRoot) {
  KeylessSignOptions options;
  options.tsa = SigstoreAuthority::kMain;
  auto signature = mock_->Sign(Payload(), options);
  ASSERT_TRUE(signature.ok()) << signature.status();
  auto verified = VerifyWithSigstoreJs(*signature, Payload(), mock_->trusted_root_path(),
                                       {"--san", options.subject, "--issuer", options.issuer,
                                        "--timestamp-threshold", "2", "--ctlog-threshold", "1"});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_THAT(verified->stdout_text, HasSubstr("\"verified\":true"));

  // The same bundle does not verify against the other instance's trusted root, nor for another
  // identity, nor for other bytes.
  auto untrusted = VerifyWithSigstoreJs(*signature, Payload(), mock_->other_trusted_root_path());
  EXPECT_FALSE(untrusted.ok());
  auto wrong_subject = VerifyWithSigstoreJs(*signature, Payload(), mock_->trusted_root_path(),
                                            {"--san", "https://github.com/evil/app"});
  ASSERT_FALSE(wrong_subject.ok());
  EXPECT_THAT(wrong_subject.status().message(), HasSubstr("certificate identity error"));
  EXPECT_FALSE(VerifyWithSigstoreJs(*signature, Payload() + " ", mock_->trusted_root_path()).ok());
}

TEST_F(SigstoreMockTest, DsseBundleIsLoggedAsRealRekorLogsItAndVerifies) {
  KeylessSignOptions options;
  options.dsse_payload_type = "application/vnd.in-toto+json";
  auto signature = mock_->Sign(Payload(), options);
  ASSERT_TRUE(signature.ok()) << signature.status();
  nlohmann::json bundle = nlohmann::json::parse(signature->bundle_json);
  nlohmann::json body = nlohmann::json::parse(Base64DecodeOrDie(
      bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"].get<std::string>()));
  EXPECT_EQ(body["kind"], "dsse");
  EXPECT_EQ(body["spec"]["payloadHash"]["value"], Sha256Hex(Payload()));
  EXPECT_TRUE(body["spec"].contains("envelopeHash"));
  EXPECT_EQ(body["spec"]["signatures"][0]["signature"], signature->signature_base64);
  EXPECT_FALSE(body["spec"].contains("proposedContent"));
  auto verified = VerifyWithSigstoreJs(*signature, Payload(), mock_->trusted_root_path());
  EXPECT_TRUE(verified.ok()) << verified.status();
}

TEST_F(SigstoreMockTest, ExpiredCertificateWithoutTimeEvidence) {
  KeylessSignOptions options;
  options.fulcio_clock_offset = -absl::Hours(1);
  options.rekor = SigstoreAuthority::kNone;
  auto signature = mock_->Sign(Payload(), options);
  ASSERT_TRUE(signature.ok()) << signature.status();
  X509Ptr leaf = ParsePem(signature->certificate_pem);
  ASSERT_NE(leaf, nullptr);
  EXPECT_LT(X509_cmp_current_time(X509_get0_notAfter(leaf.get())), 0) << "the certificate has not expired";
  EXPECT_TRUE(signature->set_json.empty());
  EXPECT_TRUE(signature->timestamp_json.empty());
  EXPECT_EQ(signature->annotations.count(std::string(verify::kBundleAnnotation)), 0u);
  EXPECT_FALSE(VerifyWithSigstoreJs(*signature, Payload(), mock_->trusted_root_path()).ok());
}

TEST_F(SigstoreMockTest, ExpiredCertificateIsAcceptedWhenItsLogEntryProvesTheSigningTime) {
  KeylessSignOptions options;
  options.fulcio_clock_offset = -absl::Hours(2);
  options.rekor_clock_offset = -absl::Hours(2) + absl::Minutes(1);
  auto signature = mock_->Sign(Payload(), options);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_LT(X509_cmp_current_time(X509_get0_notAfter(ParsePem(signature->certificate_pem).get())), 0);
  auto verified = VerifyWithSigstoreJs(*signature, Payload(), mock_->trusted_root_path());
  EXPECT_TRUE(verified.ok()) << verified.status();

  // Logged after the certificate expired: the log's time is outside its validity.
  options.rekor_clock_offset = absl::ZeroDuration();
  auto late = mock_->Sign(Payload(), options);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_FALSE(VerifyWithSigstoreJs(*late, Payload(), mock_->trusted_root_path()).ok());
}

TEST_F(SigstoreMockTest, OtherCaIsNotTheTrustedRootsCa) {
  KeylessSignOptions options;
  options.fulcio = SigstoreAuthority::kOther;
  auto signature = mock_->Sign(Payload(), options);
  ASSERT_TRUE(signature.ok()) << signature.status();
  X509Ptr trusted = ParseDer(Base64DecodeOrDie(
      trusted_root_["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"].get<std::string>()));
  EXPECT_NE(X509_verify(ParsePem(signature->certificate_pem).get(), X509_get0_pubkey(trusted.get())), 1);
  EXPECT_EQ(X509_verify(ParsePem(signature->certificate_pem).get(),
                        X509_get0_pubkey(ParsePem(signature->chain_pem).get())),
            1);
  auto verified = VerifyWithSigstoreJs(*signature, Payload(), mock_->trusted_root_path());
  ASSERT_FALSE(verified.ok());
  EXPECT_THAT(verified.status().message(), HasSubstr("CERTIFICATE_ERROR"));
}

TEST_F(SigstoreMockTest, KeylessSignatureManifestPushesToARealRegistry) {
  RegistryOptions options;
  options.dir = dir_->Path("registry");
  auto registry = Registry::Create(options);
  ASSERT_TRUE(registry.ok()) << registry.status();
  std::string digest = "sha256:" + std::string(64, 'a');
  KeylessSignOptions sign_options;
  sign_options.tsa = SigstoreAuthority::kMain;
  auto signature = mock_->Sign(Payload(), sign_options);
  ASSERT_TRUE(signature.ok()) << signature.status();
  auto artifact = test_signer::BuildSignatureArtifact(
      digest, {test_signer::LayerWithAnnotations(Payload(), signature->annotations)});
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  ASSERT_TRUE(e2e::PushSignatureArtifact(**registry, "e2e/keyless", *artifact).ok());

  auto served = (*registry)->GetManifest("e2e/keyless", artifact->tag);
  ASSERT_TRUE(served.ok()) << served.status();
  nlohmann::json manifest = nlohmann::json::parse(*served);
  const nlohmann::json& annotations = manifest["layers"][0]["annotations"];
  EXPECT_EQ(annotations["dev.cosignproject.cosign/signature"], signature->signature_base64);
  EXPECT_EQ(annotations["dev.sigstore.cosign/certificate"], signature->certificate_pem);
  EXPECT_EQ(annotations["dev.sigstore.cosign/chain"], signature->chain_pem);
  EXPECT_EQ(annotations["dev.sigstore.cosign/bundle"], signature->set_json);
  EXPECT_EQ(annotations["dev.sigstore.cosign/rfc3161timestamp"], signature->timestamp_json);
  EXPECT_EQ(manifest["layers"][0]["digest"], Sha256Digest(Payload()));
}

TEST(SigstoreMockLifetimeTest, ProcessIsGoneAfterTheWrapperIsDestroyed) {
  auto dir = TempDir::Create("sigshim-sjs");
  ASSERT_TRUE(dir.ok()) << dir.status();
  SigstoreMockOptions options;
  options.dir = (*dir)->Path("mock");
  options.trusted_root_media_type = "v0.2";
  auto mock = SigstoreMock::Start(options);
  ASSERT_TRUE(mock.ok()) << mock.status();
  pid_t pid = (*mock)->pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, 0), 0);
  auto root = ReadFile((*mock)->trusted_root_path(), 1 << 20);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(nlohmann::json::parse(*root)["mediaType"], "application/vnd.dev.sigstore.trustedroot.v0.2+json");
  mock->reset();
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(SigstoreMockLifetimeTest, MissingNodeModulesNamesTheMakeTarget) {
  auto dir = TempDir::Create("sigshim-sjs");
  ASSERT_TRUE(dir.ok()) << dir.status();
  ASSERT_TRUE(WriteFileAtomic((*dir)->Path("mock_sigstore.mjs"), "", 0644).ok());
  SigstoreMockOptions options;
  options.dir = (*dir)->Path("mock");
  options.program_dir = (*dir)->path();
  auto mock = SigstoreMock::Start(options);
  ASSERT_FALSE(mock.ok());
  EXPECT_THAT(mock.status().message(), HasSubstr("make node-deps"));
}

}  // namespace
}  // namespace sigshim::testbed
