#include "pkg/verify/cosign_simple_signing.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/simple_signing.h"
#include "test/signer/signer.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

const std::string kDigest = Sha256Digest("the image manifest");
constexpr char kRepository[] = "registry.example.com/team/app";
constexpr int64_t kLoggedAt = 1767225600;  // 2026-01-01T00:00:00Z

class SimpleSigningProducerTest : public testing::Test {
 protected:
  void SetUp() override {
    signer_ = Generate(test_signer::KeyType::kEcdsaP256, &key_, &public_pem_);
    log_ = Generate(test_signer::KeyType::kEcdsaP256, &log_key_, nullptr);
    options_.keys = {key_};
  }

  static std::unique_ptr<test_signer::Signer> Generate(test_signer::KeyType type,
                                                       std::shared_ptr<const PublicKey>* key, std::string* pem) {
    auto generated = test_signer::GenerateSigningKey(type);
    EXPECT_TRUE(generated.ok()) << generated.status();
    if (!generated.ok()) return nullptr;
    auto parsed = ParsePublicKeyPem(generated->pair.public_pem);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (parsed.ok()) *key = *std::move(parsed);
    if (pem != nullptr) *pem = generated->pair.public_pem;
    return std::move(generated->signer);
  }

  Signature Signed(const std::string& payload, const test_signer::Signer* by = nullptr) {
    auto layer = test_signer::SignPayload(by != nullptr ? *by : *signer_, payload);
    EXPECT_TRUE(layer.ok()) << layer.status();
    Signature signature;
    if (!layer.ok()) return signature;
    signature.layer_digest = layer->payload.digest;
    signature.media_type = layer->payload.media_type;
    signature.payload = layer->payload.bytes;
    signature.annotations = layer->annotations;
    return signature;
  }

  Signature SignedFor(absl::string_view reference, absl::string_view digest) {
    auto payload = BuildSimpleSigningPayload(reference, digest);
    EXPECT_TRUE(payload.ok()) << payload.status();
    return Signed(payload.ok() ? *payload : "");
  }

  // Adds a Rekor bundle that log_ signs for `signature`, recording `recorded_pem` as the signer.
  void AddBundle(Signature& signature, const std::string& recorded_pem, int64_t integrated_time = kLoggedAt) {
    auto raw = Base64Decode(signature.annotations[std::string(kSignatureAnnotation)]);
    ASSERT_TRUE(raw.ok());
    auto bundle = test_signer::MakeRekorBundle(*log_, recorded_pem, *raw, signature.payload, integrated_time, 42);
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    signature.annotations[std::string(kBundleAnnotation)] = *bundle;
  }

  std::string RejectionOf(const Signature& signature) {
    auto produced = ProduceSimpleSigningStatements(signature, options_);
    EXPECT_TRUE(produced.ok()) << produced.status();
    if (!produced.ok()) return "";
    EXPECT_THAT(produced->statements, SizeIs(0));
    return produced->rejection;
  }

  std::unique_ptr<test_signer::Signer> signer_;
  std::shared_ptr<const PublicKey> key_;
  std::string public_pem_;
  std::unique_ptr<test_signer::Signer> log_;
  std::shared_ptr<const PublicKey> log_key_;
  SimpleSigningProducerOptions options_;
};

TEST_F(SimpleSigningProducerTest, VerifiedSignatureBecomesAStatementWithItsArtifact) {
  const Signature signature = SignedFor(kRepository, kDigest);
  auto produced = ProduceSimpleSigningStatements(signature, options_);
  ASSERT_TRUE(produced.ok()) << produced.status();
  ASSERT_THAT(produced->statements, SizeIs(1));
  EXPECT_EQ(produced->rejection, "");
  const SignedStatement& s = produced->statements[0];
  EXPECT_EQ(s.subject_digest, kDigest);
  EXPECT_EQ(s.kind, StatementKind::kSignature);
  EXPECT_EQ(SignerFingerprint(s.signer), key_->Fingerprint());
  EXPECT_EQ(SignerType(s.signer), "key");
  EXPECT_FALSE(s.signing_time.has_value()) << "no Rekor keys: no time evidence is looked at";
  EXPECT_EQ(s.artifact.format, kCosignSimpleSigningFormat);
  EXPECT_EQ(s.artifact.layer_digest, signature.layer_digest);
  EXPECT_EQ(s.artifact.payload, signature.payload);
  EXPECT_EQ(s.artifact.annotations, signature.annotations);
  EXPECT_EQ(s.artifact.docker_reference, kRepository);
  EXPECT_EQ(s.artifact.media_type, kSimpleSigningMediaType);
}

TEST_F(SimpleSigningProducerTest, PayloadForAnotherDigestOrRepositoryIsStillAStatementAboutIt) {
  // Whether it suits the image is the policy's question: the statement names what was signed.
  auto produced = ProduceSimpleSigningStatements(SignedFor("other.example/x", Sha256Digest("other")), options_);
  ASSERT_TRUE(produced.ok());
  ASSERT_THAT(produced->statements, SizeIs(1));
  EXPECT_EQ(produced->statements[0].subject_digest, Sha256Digest("other"));
  EXPECT_EQ(produced->statements[0].artifact.docker_reference, "other.example/x");
}

TEST_F(SimpleSigningProducerTest, OneStatementPerCandidateKeyThatVerifies) {
  std::shared_ptr<const PublicKey> other;
  auto other_signer = Generate(test_signer::KeyType::kEd25519, &other, nullptr);
  options_.keys = {other, key_};
  auto produced = ProduceSimpleSigningStatements(SignedFor(kRepository, kDigest), options_);
  ASSERT_TRUE(produced.ok());
  ASSERT_THAT(produced->statements, SizeIs(1));
  EXPECT_EQ(SignerFingerprint(produced->statements[0].signer), key_->Fingerprint());
  // The same key listed twice verifies twice: one statement each (the policy counts names once).
  options_.keys = {key_, key_};
  produced = ProduceSimpleSigningStatements(SignedFor(kRepository, kDigest), options_);
  ASSERT_TRUE(produced.ok());
  EXPECT_THAT(produced->statements, SizeIs(2));
}

TEST_F(SimpleSigningProducerTest, RejectsLayersThatAreNotSimpleSigning) {
  Signature signature = SignedFor(kRepository, kDigest);
  signature.media_type = "text/plain";
  EXPECT_THAT(RejectionOf(signature), HasSubstr("not a signature"));
}

TEST_F(SimpleSigningProducerTest, RejectsMissingEmptyOrUndecodableSignatureAnnotation) {
  Signature signature = SignedFor(kRepository, kDigest);
  signature.annotations.clear();
  EXPECT_THAT(RejectionOf(signature), HasSubstr("no signature annotation"));
  signature.annotations[std::string(kSignatureAnnotation)] = "";
  EXPECT_THAT(RejectionOf(signature), HasSubstr("is empty"));
  signature.annotations[std::string(kSignatureAnnotation)] = "***";
  EXPECT_THAT(RejectionOf(signature), HasSubstr("not valid base64"));
}

TEST_F(SimpleSigningProducerTest, RejectsSignaturesNoCandidateKeyVerifies) {
  std::shared_ptr<const PublicKey> attacker_key;
  auto attacker = Generate(test_signer::KeyType::kEcdsaP256, &attacker_key, nullptr);
  auto payload = BuildSimpleSigningPayload(kRepository, kDigest);
  ASSERT_TRUE(payload.ok());
  EXPECT_THAT(RejectionOf(Signed(*payload, attacker.get())), HasSubstr("signed by an unknown key"));
  // An altered payload no longer verifies either.
  Signature altered = SignedFor(kRepository, kDigest);
  altered.payload += " ";
  EXPECT_THAT(RejectionOf(altered), HasSubstr("does not verify with any of the 1 trusted keys"));
  options_.keys.clear();
  EXPECT_THAT(RejectionOf(SignedFor(kRepository, kDigest)), HasSubstr("signed by an unknown key"));
}

TEST_F(SimpleSigningProducerTest, ParsesThePayloadOnlyAfterItIsAuthenticated) {
  EXPECT_THAT(RejectionOf(Signed(R"({"critical":{},"optional":null})")), HasSubstr("signed payload is malformed"));
  // Unauthenticated garbage is "unknown key", never a parse error that would show its content.
  auto attacker_pair = test_signer::GenerateSigningKey(test_signer::KeyType::kEcdsaP256);
  ASSERT_TRUE(attacker_pair.ok());
  EXPECT_THAT(RejectionOf(Signed("not json", attacker_pair->signer.get())), HasSubstr("unknown key"));
}

TEST_F(SimpleSigningProducerTest, VerifiedRekorSetGivesTheSigningTimeFromTheLog) {
  options_.rekor_keys = {log_key_};
  Signature signature = SignedFor(kRepository, kDigest);
  AddBundle(signature, public_pem_);
  auto produced = ProduceSimpleSigningStatements(signature, options_);
  ASSERT_TRUE(produced.ok()) << produced.status();
  ASSERT_THAT(produced->statements, SizeIs(1)) << produced->rejection;
  const std::optional<SigningTime>& time = produced->statements[0].signing_time;
  ASSERT_TRUE(time.has_value());
  EXPECT_EQ(time->time, absl::FromUnixSeconds(kLoggedAt));
  EXPECT_EQ(time->source, TimeSource::kTransparencyLog);
  EXPECT_THAT(time->authority, HasSubstr("index 42"));
  EXPECT_EQ(DescribeSigningTime(time), "2026-01-01T00:00:00Z (tlog)");
}

TEST_F(SimpleSigningProducerTest, WithRekorKeysASignatureNeedsAMatchingSet) {
  options_.rekor_keys = {log_key_};
  EXPECT_THAT(RejectionOf(SignedFor(kRepository, kDigest)), HasSubstr("no Rekor bundle annotation"));

  Signature garbage = SignedFor(kRepository, kDigest);
  garbage.annotations[std::string(kBundleAnnotation)] = "{";
  EXPECT_THAT(RejectionOf(garbage), HasSubstr("Rekor SET"));

  // A SET signed by a log this node does not trust.
  options_.rekor_keys = {key_};
  Signature untrusted_log = SignedFor(kRepository, kDigest);
  AddBundle(untrusted_log, public_pem_);
  EXPECT_THAT(RejectionOf(untrusted_log), HasSubstr("does not verify with any of the 1 trusted Rekor keys"));

  // A SET the trusted log made for another signer key.
  options_.rekor_keys = {log_key_};
  Signature other_signer = SignedFor(kRepository, kDigest);
  AddBundle(other_signer, log_->public_pem());
  EXPECT_THAT(RejectionOf(other_signer), HasSubstr("the log recorded"));
}

TEST(SigningTimeText, FormatsUtcAndUnknown) {
  EXPECT_EQ(DescribeSigningTime(std::nullopt), "unknown");
  EXPECT_EQ(FormatTimeUtc(absl::FromUnixSeconds(0) + absl::Milliseconds(250)), "1970-01-01T00:00:00.25Z");
  SigningTime early{absl::FromUnixSeconds(10), TimeSource::kTimestamp, "tsa"};
  SigningTime late{absl::FromUnixSeconds(20), TimeSource::kTransparencyLog, "log"};
  EXPECT_EQ(EarlierSigningTime(late, early)->time, early.time);
  EXPECT_EQ(EarlierSigningTime(std::nullopt, late)->time, late.time);
  EXPECT_FALSE(EarlierSigningTime(std::nullopt, std::nullopt).has_value());
  EXPECT_EQ(TimeSourceName(TimeSource::kTimestamp), "timestamp");
}

}  // namespace
}  // namespace sigshim::verify
