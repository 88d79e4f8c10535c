#include "pkg/verify/key_verifier.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/reference/reference.h"
#include "pkg/verify/public_key.h"
#include "test/signer/signer.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;

const std::string kDigest = Sha256Digest("the image manifest");
constexpr char kRepository[] = "registry.example.com/team/app";

class KeyVerifierTest : public testing::Test {
 protected:
  void SetUp() override {
    auto generated = test_signer::GenerateSigningKey(test_signer::KeyType::kEcdsaP256);
    ASSERT_TRUE(generated.ok()) << generated.status();
    signer_ = std::move(generated->signer);
    auto key = ParsePublicKeyPem(generated->pair.public_pem);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = *std::move(key);
    KeyVerifierOptions options;
    options.keys = {key_};
    auto verifier = KeyVerifier::Create(options);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
    auto image = reference::Parse(kRepository);
    ASSERT_TRUE(image.ok());
    target_.image = *image;
    target_.manifest_digest = kDigest;
  }

  Signature Signed(const std::string& payload) {
    auto layer = test_signer::SignPayload(*signer_, payload);
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

  std::string ReasonFor(const Signature& signature) {
    auto verdict = verifier_->CheckSignature(signature, target_);
    EXPECT_TRUE(verdict.ok()) << verdict.status();
    if (!verdict.ok()) return "";
    EXPECT_FALSE(verdict->accepted);
    return verdict->reason;
  }

  std::unique_ptr<test_signer::Signer> signer_;
  std::shared_ptr<const PublicKey> key_;
  std::unique_ptr<KeyVerifier> verifier_;
  Target target_;
};

TEST_F(KeyVerifierTest, AcceptsAndNamesItsEvidence) {
  auto verdict = verifier_->CheckSignature(SignedFor(kRepository, kDigest), target_);
  ASSERT_TRUE(verdict.ok()) << verdict.status();
  EXPECT_TRUE(verdict->accepted);
  EXPECT_EQ(verdict->reason, "");
  EXPECT_EQ(verdict->key_fingerprint, key_->Fingerprint());
  EXPECT_EQ(verdict->payload.docker_reference, kRepository);
  EXPECT_FALSE(verdict->rekor.has_value());
}

TEST_F(KeyVerifierTest, RejectsMissingOrUndecodableSignatureAnnotation) {
  Signature signature = SignedFor(kRepository, kDigest);
  signature.annotations.clear();
  EXPECT_THAT(ReasonFor(signature), HasSubstr("no signature annotation"));
  signature.annotations[std::string(kSignatureAnnotation)] = "***";
  EXPECT_THAT(ReasonFor(signature), HasSubstr("not valid base64"));
  signature.annotations[std::string(kSignatureAnnotation)] = "";
  EXPECT_THAT(ReasonFor(signature), HasSubstr("is empty"));
}

TEST_F(KeyVerifierTest, RejectsMalformedPayloadEvenWhenSignedByATrustedKey) {
  EXPECT_THAT(ReasonFor(Signed(R"({"critical":{},"optional":null})")),
              HasSubstr("signed payload is malformed"));
}

TEST_F(KeyVerifierTest, RequiresARekorBundleWhenRekorKeysAreConfigured) {
  KeyVerifierOptions options;
  options.keys = {key_};
  options.rekor_keys = {key_};
  auto verifier = KeyVerifier::Create(options);
  ASSERT_TRUE(verifier.ok());
  auto verdict = (*verifier)->CheckSignature(SignedFor(kRepository, kDigest), target_);
  ASSERT_TRUE(verdict.ok());
  EXPECT_FALSE(verdict->accepted);
  EXPECT_THAT(verdict->reason, HasSubstr("no Rekor bundle annotation"));
}

TEST_F(KeyVerifierTest, InvalidTargetDigestIsAnErrorNotAVerdict) {
  Target target = target_;
  target.manifest_digest = "";
  EXPECT_EQ(verifier_->CheckSignature(SignedFor(kRepository, kDigest), target).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(verifier_->CheckImage({}, target).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KeyVerifierTest, ImageWithoutSignatureLayersIsRejected) {
  Signature attachment = SignedFor(kRepository, kDigest);
  attachment.media_type = "text/plain";
  auto verdict = verifier_->CheckImage({attachment}, target_);
  ASSERT_TRUE(verdict.ok());
  EXPECT_FALSE(verdict->accepted);
  EXPECT_EQ(verdict->ignored_layers, 1);
  EXPECT_THAT(verdict->Explain(), HasSubstr("no signature"));
  auto empty = verifier_->CheckImage({}, target_);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->accepted);
}

TEST_F(KeyVerifierTest, ImageRejectionGivesTheReasonOfEachSignature) {
  std::vector<Signature> signatures = {SignedFor(kRepository, Sha256Digest("other manifest")),
                                       SignedFor("registry.example.com/team/other", kDigest)};
  auto verdict = verifier_->CheckImage(signatures, target_);
  ASSERT_TRUE(verdict.ok());
  EXPECT_FALSE(verdict->accepted);
  ASSERT_EQ(verdict->rejected.size(), 2u);
  std::string explanation = verdict->Explain();
  EXPECT_THAT(explanation, HasSubstr("none of 2 signatures is acceptable"));
  EXPECT_THAT(explanation, HasSubstr("[1]"));
  EXPECT_THAT(explanation, HasSubstr("payload is for " + Sha256Digest("other manifest")));
  EXPECT_THAT(explanation, HasSubstr("[2]"));
  EXPECT_THAT(explanation, HasSubstr("reference mismatch"));
}

TEST_F(KeyVerifierTest, ImageIsAcceptedByAnyValidSignature) {
  Signature unsigned_layer = SignedFor(kRepository, kDigest);
  unsigned_layer.annotations.clear();
  auto verdict = verifier_->CheckImage({unsigned_layer, SignedFor(kRepository, kDigest)}, target_);
  ASSERT_TRUE(verdict.ok());
  EXPECT_TRUE(verdict->accepted);
  EXPECT_EQ(verdict->rejected.size(), 1u);
  EXPECT_THAT(verdict->Explain(), HasSubstr("accepted: signature"));
}

// A key whose crypto library always fails.
class BrokenKey final : public PublicKey {
 public:
  absl::Status Verify(absl::string_view, absl::string_view) const override {
    return absl::InternalError("crypto library failure");
  }
  KeyAlgorithm Algorithm() const override { return KeyAlgorithm::kEd25519; }
  const std::string& Fingerprint() const override { return fingerprint_; }
  const std::string& Der() const override { return fingerprint_; }

 private:
  std::string fingerprint_ = Sha256Digest("broken");
};

TEST_F(KeyVerifierTest, CryptoFailureIsAnErrorNotARejection) {
  KeyVerifierOptions options;
  options.keys = {std::make_shared<BrokenKey>()};
  auto verifier = KeyVerifier::Create(options);
  ASSERT_TRUE(verifier.ok());
  Signature signature = SignedFor(kRepository, kDigest);
  EXPECT_EQ((*verifier)->CheckSignature(signature, target_).status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ((*verifier)->CheckImage({signature}, target_).status().code(), absl::StatusCode::kInternal);
}

TEST_F(KeyVerifierTest, CryptoFailureOnOneSignatureDoesNotHideAnAcceptedOne) {
  // The broken key is tried after the good one: a signature by the good key is accepted before the
  // broken key is reached; an unknown signature reaches it and errors.
  KeyVerifierOptions options;
  options.keys = {key_, std::make_shared<BrokenKey>()};
  auto verifier = KeyVerifier::Create(options);
  ASSERT_TRUE(verifier.ok());
  Signature unknown = SignedFor(kRepository, kDigest);
  unknown.annotations[std::string(kSignatureAnnotation)] = "c2lnbmF0dXJl";
  auto verdict = (*verifier)->CheckImage({unknown, SignedFor(kRepository, kDigest)}, target_);
  ASSERT_TRUE(verdict.ok()) << verdict.status();
  EXPECT_TRUE(verdict->accepted);
}

TEST_F(KeyVerifierTest, ChecksAtMostMaxSignaturesPerImage) {
  KeyVerifierOptions options;
  options.keys = {key_};
  options.max_signatures = 2;
  auto verifier = KeyVerifier::Create(options);
  ASSERT_TRUE(verifier.ok());
  Signature wrong = SignedFor(kRepository, Sha256Digest("another manifest"));
  // The valid signature comes third: past the limit, so it is not looked at.
  auto verdict =
      (*verifier)->CheckImage({wrong, wrong, SignedFor(kRepository, kDigest), wrong}, target_);
  ASSERT_TRUE(verdict.ok());
  EXPECT_FALSE(verdict->accepted);
  EXPECT_EQ(verdict->rejected.size(), 2u);
  EXPECT_EQ(verdict->unchecked_signatures, 2);
  EXPECT_THAT(verdict->Explain(), HasSubstr("2 further signatures were not checked"));
}

TEST(KeyVerifierCreate, RefusesUnusableOptions) {
  EXPECT_EQ(KeyVerifier::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
  KeyVerifierOptions null_key;
  null_key.keys.push_back(nullptr);
  EXPECT_FALSE(KeyVerifier::Create(null_key).ok());
  auto pair = test_signer::GenerateKey(test_signer::KeyType::kEd25519);
  ASSERT_TRUE(pair.ok());
  auto key = ParsePublicKeyPem(pair->public_pem);
  ASSERT_TRUE(key.ok());
  KeyVerifierOptions bad_rule;
  bad_rule.keys.push_back(*std::move(key));
  bad_rule.identity.kind = IdentityRule::Kind::kExactReference;
  bad_rule.identity.reference = "untagged/name";
  EXPECT_THAT(std::string(KeyVerifier::Create(bad_rule).status().message()), HasSubstr("tag"));
  KeyVerifierOptions no_signatures;
  no_signatures.keys = bad_rule.keys;
  no_signatures.max_signatures = 0;
  EXPECT_FALSE(KeyVerifier::Create(no_signatures).ok());
}

}  // namespace
}  // namespace sigshim::verify
