#include "pkg/verify/cosign_attestation.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/intoto.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/signature_manifest.h"
#include "test/signer/signer.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const std::string kDigest = Sha256Digest("the image manifest");
const std::string kOtherDigest = Sha256Digest("another image manifest");
constexpr char kSlsa[] = "https://slsa.dev/provenance/v1";
constexpr int64_t kLoggedAt = 1767225600;  // 2026-01-01T00:00:00Z

std::string Statement(const std::string& subject, const std::string& predicate_type,
                      const nlohmann::json& predicate = {{"runDetails", {{"builder", {{"id", "https://ci.example/b"}}}}}}) {
  return nlohmann::json({{"_type", "https://in-toto.io/Statement/v1"},
                         {"subject", {{{"name", "registry.example.com/team/app"},
                                       {"digest", {{"sha256", subject.substr(7)}}}}}},
                         {"predicateType", predicate_type},
                         {"predicate", predicate}})
      .dump();
}

class AttestationProducerTest : public testing::Test {
 protected:
  void SetUp() override {
    signer_ = Generate(&key_, &public_pem_);
    other_ = Generate(&other_key_, nullptr);
    log_ = Generate(&log_key_, &log_pem_);
    options_.artifact_digest = kDigest;
    options_.keys = {key_};
  }

  static std::unique_ptr<test_signer::Signer> Generate(std::shared_ptr<const PublicKey>* key, std::string* pem) {
    auto generated = test_signer::GenerateSigningKey(test_signer::KeyType::kEcdsaP256);
    EXPECT_TRUE(generated.ok()) << generated.status();
    if (!generated.ok()) return nullptr;
    auto parsed = ParsePublicKeyPem(generated->pair.public_pem);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (parsed.ok()) *key = *std::move(parsed);
    if (pem != nullptr) *pem = generated->pair.public_pem;
    return std::move(generated->signer);
  }

  // Returns the raw signature of `by` over the PAE of (`type`, `payload`).
  static std::string Sign(const test_signer::Signer& by, const std::string& type, const std::string& payload) {
    auto sig = by.Sign(DssePae(type, payload));
    EXPECT_TRUE(sig.ok()) << sig.status();
    return sig.ok() ? *sig : "";
  }

  // Returns a ".att" layer as cosign writes it: the envelope as the blob, an empty signature
  // annotation.
  static Signature Layer(const std::string& type, const std::string& payload, const std::vector<std::string>& sigs) {
    nlohmann::json signatures = nlohmann::json::array();
    for (const std::string& sig : sigs) signatures.push_back({{"keyid", ""}, {"sig", Base64Encode(sig)}});
    Signature layer;
    layer.media_type = std::string(kDsseEnvelopeMediaType);
    layer.payload = nlohmann::json({{"payloadType", type}, {"payload", Base64Encode(payload)}, {"signatures", signatures}})
                        .dump();
    layer.layer_digest = Sha256Digest(layer.payload);
    layer.annotations[std::string(kSignatureAnnotation)] = "";
    return layer;
  }

  Signature Signed(const std::string& subject, const std::string& predicate_type = kSlsa) {
    const std::string statement = Statement(subject, predicate_type);
    return Layer(std::string(kInTotoPayloadType), statement, {Sign(*signer_, std::string(kInTotoPayloadType), statement)});
  }

  // Returns a Rekor bundle annotation: log_'s SET over an intoto 0.0.2 entry recording
  // `signature`, `signer_pem` and the payload hash of `payload`.
  std::string RekorBundle(const std::string& signature, const std::string& signer_pem, const std::string& payload) {
    nlohmann::json body = {
        {"apiVersion", "0.0.2"},
        {"kind", "intoto"},
        {"spec",
         {{"content",
           {{"envelope",
             {{"payloadType", std::string(kInTotoPayloadType)},
              {"signatures", {{{"sig", Base64Encode(Base64Encode(signature))}, {"publicKey", Base64Encode(signer_pem)}}}}}},
            {"payloadHash", {{"algorithm", "sha256"}, {"value", Sha256Hex(payload)}}}}}}}};
    nlohmann::json canonical = {{"body", Base64Encode(body.dump())},
                                {"integratedTime", kLoggedAt},
                                {"logID", LogIdHex()},
                                {"logIndex", 7}};
    auto set = log_->Sign(canonical.dump());
    EXPECT_TRUE(set.ok()) << set.status();
    return nlohmann::json({{"SignedEntryTimestamp", Base64Encode(set.ok() ? *set : "")}, {"Payload", canonical}}).dump();
  }

  std::string LogIdHex() const { return Sha256Hex(log_pem_); }

  // Makes log_ the time evidence of key_.
  void TrustLogForKey() {
    KeyTimeEvidence evidence;
    evidence.trust_root = "sigstore";
    TransparencyLogInput log;
    log.name = "https://rekor.test";
    log.key = log_key_;
    log.log_id = absl::HexStringToBytes(LogIdHex());
    evidence.transparency_logs.push_back(log);
    options_.key_time_evidence[key_->Fingerprint()] = evidence;
  }

  std::string RejectionOf(const Signature& layer) {
    auto produced = ProduceAttestationStatements(layer, options_);
    EXPECT_TRUE(produced.ok()) << produced.status();
    if (!produced.ok()) return "";
    EXPECT_THAT(produced->statements, IsEmpty());
    return produced->rejection;
  }

  std::unique_ptr<test_signer::Signer> signer_;
  std::shared_ptr<const PublicKey> key_;
  std::string public_pem_;
  std::unique_ptr<test_signer::Signer> other_;
  std::shared_ptr<const PublicKey> other_key_;
  std::unique_ptr<test_signer::Signer> log_;
  std::shared_ptr<const PublicKey> log_key_;
  std::string log_pem_;
  AttestationProducerOptions options_;
};

TEST_F(AttestationProducerTest, VerifiedEnvelopeBecomesAnAttestationWithItsPredicate) {
  const Signature layer = Signed(kDigest);
  auto produced = ProduceAttestationStatements(layer, options_);
  ASSERT_TRUE(produced.ok()) << produced.status();
  ASSERT_THAT(produced->statements, SizeIs(1)) << produced->rejection;
  const SignedStatement& s = produced->statements[0];
  EXPECT_EQ(s.kind, StatementKind::kAttestation);
  EXPECT_EQ(s.subject_digest, kDigest);
  EXPECT_EQ(s.predicate_type, kSlsa);
  EXPECT_THAT(s.predicate_json, HasSubstr("https://ci.example/b"));
  EXPECT_EQ(SignerFingerprint(s.signer), key_->Fingerprint());
  EXPECT_FALSE(s.signing_time.has_value());
  EXPECT_EQ(s.artifact.format, kCosignAttestationFormat);
  EXPECT_EQ(s.artifact.media_type, kDsseEnvelopeMediaType);
  EXPECT_EQ(s.artifact.payload, layer.payload);
  EXPECT_EQ(s.artifact.layer_digest, layer.layer_digest);
}

TEST_F(AttestationProducerTest, CosignSignPredicateInAttIsAnAttestationNotASignature) {
  auto produced = ProduceAttestationStatements(Signed(kDigest, std::string(kCosignSignPredicateType)), options_);
  ASSERT_TRUE(produced.ok()) << produced.status();
  ASSERT_THAT(produced->statements, SizeIs(1)) << produced->rejection;
  EXPECT_EQ(produced->statements[0].kind, StatementKind::kAttestation);
  EXPECT_EQ(produced->statements[0].predicate_type, kCosignSignPredicateType);
}

TEST_F(AttestationProducerTest, EnvelopeWithTwoSignaturesIsRefused) {
  const std::string statement = Statement(kDigest, kSlsa);
  const std::string type(kInTotoPayloadType);
  // Both signatures verify (by the trusted key and by another): still refused.
  EXPECT_THAT(RejectionOf(Layer(type, statement, {Sign(*signer_, type, statement), Sign(*other_, type, statement)})),
              HasSubstr("carries 2 signatures; exactly one signature is required"));
}

TEST_F(AttestationProducerTest, WrongPayloadTypeIsRefusedEvenWhenSigned) {
  const std::string statement = Statement(kDigest, kSlsa);
  const std::string type = "application/vnd.cncf.notary.payload+json";
  EXPECT_THAT(RejectionOf(Layer(type, statement, {Sign(*signer_, type, statement)})),
              HasSubstr("the DSSE payload type is \"application/vnd.cncf.notary.payload+json\", not "
                        "application/vnd.in-toto+json"));
}

TEST_F(AttestationProducerTest, PayloadTypeSwappedAfterSigningDoesNotVerify) {
  const std::string statement = Statement(kDigest, kSlsa);
  // Signed as another type, presented as in-toto: the PAE binds the type.
  Signature layer = Layer(std::string(kInTotoPayloadType), statement, {Sign(*signer_, "text/plain", statement)});
  EXPECT_THAT(RejectionOf(layer), HasSubstr("signed by an unknown key"));
}

TEST_F(AttestationProducerTest, StatementForAnotherDigestIsRefused) {
  EXPECT_THAT(RejectionOf(Signed(kOtherDigest)),
              HasSubstr("statement for another digest: its subjects are " + kOtherDigest + ", not " + kDigest));
}

TEST_F(AttestationProducerTest, EnvelopeByAnUntrustedKeyIsRefused) {
  const std::string statement = Statement(kDigest, kSlsa);
  const std::string type(kInTotoPayloadType);
  EXPECT_THAT(RejectionOf(Layer(type, statement, {Sign(*other_, type, statement)})),
              HasSubstr("signed by an unknown key: the envelope's signature does not verify with any of the 1 trusted keys"));
}

TEST_F(AttestationProducerTest, HostileLayersAreRefused) {
  Signature layer = Signed(kDigest);
  layer.media_type = std::string(kSimpleSigningMediaType);
  EXPECT_THAT(RejectionOf(layer), HasSubstr("not an attestation: layer media type"));
  EXPECT_THAT(RejectionOf(Layer(std::string(kInTotoPayloadType), "{}", {})), HasSubstr("DSSE envelope"));
  Signature not_json = Signed(kDigest);
  not_json.payload = "not json";
  EXPECT_THAT(RejectionOf(not_json), HasSubstr("DSSE envelope"));
  Signature bad_base64 = Signed(kDigest);
  bad_base64.payload = R"({"payloadType":"application/vnd.in-toto+json","payload":"%%%","signatures":[{"sig":"AAAA"}]})";
  EXPECT_THAT(RejectionOf(bad_base64), HasSubstr("DSSE envelope"));
  const std::string type(kInTotoPayloadType);
  EXPECT_THAT(RejectionOf(Layer(type, "[1]", {Sign(*signer_, type, "[1]")})), HasSubstr("signed payload is malformed"));
  options_.artifact_digest = "";
  EXPECT_THAT(RejectionOf(Signed(kDigest)), HasSubstr("no artifact digest"));
}

TEST_F(AttestationProducerTest, RekorSetOfTheKeysLogProvesTheSigningTime) {
  TrustLogForKey();
  const std::string statement = Statement(kDigest, kSlsa);
  const std::string type(kInTotoPayloadType);
  const std::string sig = Sign(*signer_, type, statement);
  Signature layer = Layer(type, statement, {sig});
  layer.annotations[std::string(kBundleAnnotation)] = RekorBundle(sig, public_pem_, statement);
  auto produced = ProduceAttestationStatements(layer, options_);
  ASSERT_TRUE(produced.ok()) << produced.status();
  ASSERT_THAT(produced->statements, SizeIs(1)) << produced->rejection;
  const SignedStatement& s = produced->statements[0];
  ASSERT_TRUE(s.signing_time.has_value());
  EXPECT_EQ(s.signing_time->time, absl::FromUnixSeconds(kLoggedAt));
  EXPECT_EQ(s.signing_time->source, TimeSource::kTransparencyLog);
  EXPECT_EQ(s.signing_time->trust_root, "sigstore");
  EXPECT_EQ(s.verified_tlog_entries, 1);
  EXPECT_EQ(s.verified_integrated_times, 1);
}

TEST_F(AttestationProducerTest, RekorSetForAnotherBodyRefusesTheSigner) {
  TrustLogForKey();
  const std::string statement = Statement(kDigest, kSlsa);
  const std::string type(kInTotoPayloadType);
  const std::string sig = Sign(*signer_, type, statement);
  Signature layer = Layer(type, statement, {sig});
  // A genuine SET of the trusted log, for an entry recording another statement.
  layer.annotations[std::string(kBundleAnnotation)] = RekorBundle(sig, public_pem_, Statement(kOtherDigest, kSlsa));
  EXPECT_THAT(RejectionOf(layer), HasSubstr("the log recorded a different payload hash"));
  // And for another signature.
  layer.annotations[std::string(kBundleAnnotation)] =
      RekorBundle(Sign(*other_, type, statement), public_pem_, statement);
  EXPECT_THAT(RejectionOf(layer), HasSubstr("the log recorded a different signature"));
}

TEST_F(AttestationProducerTest, TamperedSetIsRefused) {
  TrustLogForKey();
  const std::string statement = Statement(kDigest, kSlsa);
  const std::string type(kInTotoPayloadType);
  const std::string sig = Sign(*signer_, type, statement);
  Signature layer = Layer(type, statement, {sig});
  nlohmann::json bundle = nlohmann::json::parse(RekorBundle(sig, public_pem_, statement));
  bundle["Payload"]["integratedTime"] = kLoggedAt - 86400;  // backdated
  layer.annotations[std::string(kBundleAnnotation)] = bundle.dump();
  EXPECT_THAT(RejectionOf(layer), HasSubstr("the inclusion promise (SET) does not verify"));
}

TEST_F(AttestationProducerTest, MalformedRekorBundleProvesNoTimeButKeepsTheKeySignature) {
  TrustLogForKey();
  Signature layer = Signed(kDigest);
  layer.annotations[std::string(kBundleAnnotation)] = R"({"SignedEntryTimestamp":"AAAA"})";
  auto produced = ProduceAttestationStatements(layer, options_);
  ASSERT_TRUE(produced.ok()) << produced.status();
  ASSERT_THAT(produced->statements, SizeIs(1)) << produced->rejection;
  EXPECT_FALSE(produced->statements[0].signing_time.has_value());
}

TEST(ParseCosignRekorBundle, ReadsTheEntryAndRefusesHostileShapes) {
  const std::string body = R"({"apiVersion":"0.0.2","kind":"intoto","spec":{}})";
  const std::string good = nlohmann::json({{"SignedEntryTimestamp", Base64Encode("set")},
                                           {"Payload",
                                            {{"body", Base64Encode(body)},
                                             {"integratedTime", 5},
                                             {"logID", "00ff"},
                                             {"logIndex", 9}}}})
                               .dump();
  auto entry = ParseCosignRekorBundle(good);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->kind, "intoto");
  EXPECT_EQ(entry->version, "0.0.2");
  EXPECT_EQ(entry->log_id, std::string("\x00\xff", 2));
  EXPECT_EQ(entry->log_index, 9);
  EXPECT_EQ(entry->integrated_time, 5);
  EXPECT_EQ(entry->canonicalized_body, body);
  EXPECT_FALSE(entry->inclusion_proof.has_value());

  for (const std::string& bad : {
           std::string("not json"),
           std::string(R"({"SignedEntryTimestamp":"c2V0"})"),
           nlohmann::json({{"SignedEntryTimestamp", "c2V0"}, {"Payload", {{"body", Base64Encode(body)}, {"integratedTime", -1}, {"logID", "00"}, {"logIndex", 1}}}}).dump(),
           nlohmann::json({{"SignedEntryTimestamp", "c2V0"}, {"Payload", {{"body", Base64Encode(body)}, {"integratedTime", 1}, {"logID", "xyz"}, {"logIndex", 1}}}}).dump(),
           nlohmann::json({{"SignedEntryTimestamp", "%%"}, {"Payload", {{"body", Base64Encode(body)}, {"integratedTime", 1}, {"logID", "00"}, {"logIndex", 1}}}}).dump(),
           nlohmann::json({{"SignedEntryTimestamp", "c2V0"}, {"Payload", {{"body", Base64Encode("[]")}, {"integratedTime", 1}, {"logID", "00"}, {"logIndex", 1}}}}).dump(),
           nlohmann::json({{"SignedEntryTimestamp", "c2V0"}, {"Payload", {{"body", Base64Encode(body)}, {"integratedTime", 1}, {"logID", "00"}, {"logIndex", 1}, {"extra", 1}}}}).dump(),
           std::string(R"({"SignedEntryTimestamp":"c2V0","SignedEntryTimestamp":"c2V0","Payload":{}})"),
       }) {
    EXPECT_FALSE(ParseCosignRekorBundle(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace sigshim::verify
