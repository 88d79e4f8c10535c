// Round trips: what the test signer produces, the daemon's data path (the cosign simple-signing
// producer, then the policy evaluation of a rule requiring the key) accepts — and it rejects, for
// the right reason, what an attacker could make of it.
#include "test/signer/signer.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/reference/reference.h"
#include "pkg/policy/evaluation.h"
#include "pkg/policy/policy.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/signature_manifest.h"
#include "pkg/verify/simple_signing.h"

namespace sigshim::test_signer {
namespace {

using ::testing::HasSubstr;

const std::string kDigestA = Sha256Digest("manifest of image A");
const std::string kDigestB = Sha256Digest("manifest of image B");
constexpr char kRepository[] = "registry.example.com/team/app";

std::shared_ptr<const verify::PublicKey> LoadPublic(const std::string& pem) {
  auto key = verify::ParsePublicKeyPem(pem);
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? std::shared_ptr<const verify::PublicKey>(*std::move(key)) : nullptr;
}

// The time of every decision here (the keys have no window).
const absl::Time kNow = absl::FromUnixSeconds(1767225600);

// A rule requiring the key `public_pem` as "release" (matchRepository).
policy::Rule RuleFor(const std::string& public_pem) {
  policy::Rule rule;
  rule.name = "test";
  policy::TrustedKey& key = rule.keys.emplace_back();
  key.name = "release";
  key.key = LoadPublic(public_pem);
  return rule;
}

policy::Target TargetFor(const std::string& image, const std::string& digest) {
  policy::Target target;
  target.manifest_digest = digest;
  auto parsed = reference::Parse(image);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (parsed.ok()) target.image = *parsed;
  return target;
}

// Takes the artifact through the parsers the daemon uses: manifest JSON → signature layers → blobs.
std::vector<verify::Signature> AsFetched(const SignatureArtifact& artifact) {
  std::vector<verify::Signature> out;
  auto manifest = verify::ParseSignatureManifest(artifact.manifest.bytes);
  EXPECT_TRUE(manifest.ok()) << manifest.status();
  if (!manifest.ok()) return out;
  std::vector<verify::Descriptor> layers = manifest->SignatureLayers();
  EXPECT_EQ(layers.size(), artifact.layers.size());
  for (size_t i = 0; i < layers.size() && i < artifact.layers.size(); ++i) {
    // The blob a registry would serve for layers[i].digest.
    auto signature = verify::SignatureFromLayer(layers[i], artifact.layers[i].payload.bytes);
    EXPECT_TRUE(signature.ok()) << signature.status();
    if (signature.ok()) out.push_back(*std::move(signature));
  }
  return out;
}

verify::Signature AsSignature(const SignatureLayer& layer) {
  verify::Signature signature;
  signature.layer_digest = layer.payload.digest;
  signature.media_type = layer.payload.media_type;
  signature.payload = layer.payload.bytes;
  signature.annotations = layer.annotations;
  return signature;
}

class EveryKeyType : public testing::TestWithParam<KeyType> {};

TEST_P(EveryKeyType, SignedImageIsAcceptedByVerify) {
  auto pair = GenerateKey(GetParam());
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto signer = Signer::Create(pair->private_pem);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->type(), GetParam());
  EXPECT_EQ((*signer)->public_pem(), pair->public_pem);

  auto artifact = SignImage(**signer, kRepository, kDigestA);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  std::vector<verify::Signature> signatures = AsFetched(*artifact);
  ASSERT_EQ(signatures.size(), 1u);

  const policy::Rule rule = RuleFor(pair->public_pem);
  const policy::RuleEvaluation evaluation =
      policy::EvaluateSignatures(rule, TargetFor(std::string(kRepository) + ":v1", kDigestA), signatures, kNow);
  EXPECT_TRUE(evaluation.Satisfied()) << evaluation.Explain();
  ASSERT_EQ(evaluation.counted().size(), 1u);
  const verify::SignedStatement& statement = evaluation.counted()[0].statement;
  EXPECT_EQ(verify::SignerFingerprint(statement.signer), LoadPublic(pair->public_pem)->Fingerprint());
  EXPECT_EQ(statement.artifact.layer_digest, artifact->layers[0].payload.digest);
  EXPECT_EQ(statement.subject_digest, kDigestA);
  EXPECT_EQ(evaluation.Identities(), "release");
}

TEST_P(EveryKeyType, SignatureFromAnotherKeyOfTheSameTypeIsRejectedAsUnknownKey) {
  auto trusted = GenerateKey(GetParam());
  auto attacker = GenerateKey(GetParam());
  ASSERT_TRUE(trusted.ok() && attacker.ok());
  auto signer = Signer::Create(attacker->private_pem);
  ASSERT_TRUE(signer.ok()) << signer.status();
  auto artifact = SignImage(**signer, kRepository, kDigestA);
  ASSERT_TRUE(artifact.ok()) << artifact.status();

  const policy::Rule rule = RuleFor(trusted->public_pem);
  const policy::RuleEvaluation evaluation =
      policy::EvaluateSignatures(rule, TargetFor(kRepository, kDigestA), AsFetched(*artifact), kNow);
  EXPECT_FALSE(evaluation.Satisfied());
  ASSERT_EQ(evaluation.rejections().size(), 1u);
  EXPECT_THAT(evaluation.rejections()[0], HasSubstr("signed by an unknown key"));
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, EveryKeyType, testing::ValuesIn(AllKeyTypes()),
                         [](const testing::TestParamInfo<KeyType>& info) {
                           std::string name(KeyTypeName(info.param));
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

class RoundTrip : public testing::Test {
 protected:
  void SetUp() override {
    auto pair = GenerateKey(KeyType::kEcdsaP256);
    ASSERT_TRUE(pair.ok()) << pair.status();
    pair_ = *pair;
    auto signer = Signer::Create(pair_.private_pem);
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = *std::move(signer);
    rule_ = RuleFor(pair_.public_pem);
  }

  std::string RejectionReason(const SignatureLayer& layer, const policy::Target& target) {
    const policy::RuleEvaluation evaluation = policy::EvaluateSignatures(rule_, target, {AsSignature(layer)}, kNow);
    EXPECT_TRUE(evaluation.error().ok()) << evaluation.error();
    EXPECT_FALSE(evaluation.Satisfied());
    EXPECT_EQ(evaluation.rejections().size(), 1u);
    return evaluation.rejections().empty() ? "" : evaluation.rejections()[0];
  }

  KeyPair pair_;
  std::unique_ptr<Signer> signer_;
  policy::Rule rule_;
};

TEST_F(RoundTrip, SignatureOfImageAReplayedForImageBIsRejectedAsForAnotherDigest) {
  auto layer = SignImageLayer(*signer_, kRepository, kDigestA);
  ASSERT_TRUE(layer.ok()) << layer.status();
  std::string reason = RejectionReason(*layer, TargetFor(kRepository, kDigestB));
  EXPECT_THAT(reason, HasSubstr("payload is for " + kDigestA + ", not " + kDigestB));
}

TEST_F(RoundTrip, PayloadWithForgedDigestNoLongerVerifies) {
  auto layer = SignImageLayer(*signer_, kRepository, kDigestA);
  ASSERT_TRUE(layer.ok()) << layer.status();
  // The attacker swaps the digest in the signed bytes and keeps the signature.
  std::string forged = layer->payload.bytes;
  forged.replace(forged.find(kDigestA), kDigestA.size(), kDigestB);
  layer->payload = MakeBlob(layer->payload.media_type, forged);
  std::string reason = RejectionReason(*layer, TargetFor(kRepository, kDigestB));
  EXPECT_THAT(reason, HasSubstr("signed by an unknown key"));
  EXPECT_THAT(reason, HasSubstr("altered"));
}

TEST_F(RoundTrip, PayloadWithForgedReferenceNoLongerVerifies) {
  auto layer = SignImageLayer(*signer_, "registry.example.com/team/other", kDigestA);
  ASSERT_TRUE(layer.ok()) << layer.status();
  std::string forged = layer->payload.bytes;
  forged.replace(forged.find("team/other"), 10, "team/app");
  layer->payload = MakeBlob(layer->payload.media_type, forged);
  std::string reason = RejectionReason(*layer, TargetFor(kRepository, kDigestA));
  EXPECT_THAT(reason, HasSubstr("signed by an unknown key"));
}

TEST_F(RoundTrip, GenuineSignatureForAnotherRepositoryIsRejectedAsReferenceMismatch) {
  auto layer = SignImageLayer(*signer_, "registry.example.com/team/other", kDigestA);
  ASSERT_TRUE(layer.ok()) << layer.status();
  std::string reason = RejectionReason(*layer, TargetFor(kRepository, kDigestA));
  EXPECT_THAT(reason, HasSubstr("reference mismatch: payload names registry.example.com/team/other, "
                                "image is registry.example.com/team/app"));
}

TEST_F(RoundTrip, ForgedPayloadSignedByTheAttackerIsRejectedAsUnknownKey) {
  auto attacker_pair = GenerateKey(KeyType::kEcdsaP256);
  ASSERT_TRUE(attacker_pair.ok());
  auto attacker = Signer::Create(attacker_pair->private_pem);
  ASSERT_TRUE(attacker.ok());
  auto layer = SignImageLayer(**attacker, kRepository, kDigestB);
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_THAT(RejectionReason(*layer, TargetFor(kRepository, kDigestB)),
              HasSubstr("signed by an unknown key"));
}

TEST_F(RoundTrip, SeveralSignaturesAcceptTheImageWhenAnyIsValid) {
  auto other_pair = GenerateKey(KeyType::kEd25519);
  ASSERT_TRUE(other_pair.ok());
  auto other = Signer::Create(other_pair->private_pem);
  ASSERT_TRUE(other.ok());
  auto unknown = SignImageLayer(**other, kRepository, kDigestA);
  auto good = SignImageLayer(*signer_, kRepository, kDigestA);
  ASSERT_TRUE(unknown.ok() && good.ok());
  auto artifact = BuildSignatureArtifact(kDigestA, {*unknown, *good});
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  const policy::RuleEvaluation evaluation =
      policy::EvaluateSignatures(rule_, TargetFor(kRepository, kDigestA), AsFetched(*artifact), kNow);
  EXPECT_TRUE(evaluation.Satisfied()) << evaluation.Explain();
  ASSERT_EQ(evaluation.rejections().size(), 1u);
  EXPECT_THAT(evaluation.rejections()[0], HasSubstr("unknown key"));
  ASSERT_EQ(evaluation.counted().size(), 1u);
  EXPECT_EQ(evaluation.counted()[0].statement.artifact.layer_digest, good->payload.digest);
}

TEST_F(RoundTrip, ManifestHasCosignShape) {
  auto artifact = SignImage(*signer_, kRepository, kDigestA);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  EXPECT_EQ(artifact->tag, "sha256-" + kDigestA.substr(7) + ".sig");
  EXPECT_EQ(artifact->config.bytes, "{}");
  EXPECT_EQ(artifact->config.digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_EQ(artifact->manifest.digest, Sha256Digest(artifact->manifest.bytes));
  EXPECT_EQ(artifact->layers[0].payload.bytes,
            R"({"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},)"
            R"("image":{"docker-manifest-digest":")" + kDigestA +
                R"("},"type":"cosign container image signature"},"optional":null})");
  auto manifest = verify::ParseSignatureManifest(artifact->manifest.bytes);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->media_type, verify::kOciManifestMediaType);
  EXPECT_EQ(manifest->config.media_type, verify::kOciConfigMediaType);
  ASSERT_EQ(manifest->layers.size(), 1u);
  EXPECT_EQ(manifest->layers[0].media_type, verify::kSimpleSigningMediaType);
  EXPECT_EQ(manifest->layers[0].size, static_cast<int64_t>(artifact->layers[0].payload.bytes.size()));
  EXPECT_EQ(manifest->layers[0].annotations.count(std::string(verify::kSignatureAnnotation)), 1u);
}

TEST_F(RoundTrip, OciLayoutHoldsEveryBlobUnderItsDigest) {
  auto artifact = SignImage(*signer_, kRepository, kDigestA);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  std::string dir = testing::TempDir() + "/signer_layout";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WriteOciLayout(*artifact, dir).ok());
  for (const Blob* blob : {&artifact->manifest, &artifact->config, &artifact->layers[0].payload}) {
    auto bytes = ReadFile(dir + "/blobs/sha256/" + blob->digest.substr(7), 1 << 20);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(*bytes, blob->bytes);
  }
  auto index_text = ReadFile(dir + "/index.json", 1 << 20);
  ASSERT_TRUE(index_text.ok()) << index_text.status();
  nlohmann::json index = nlohmann::json::parse(*index_text, nullptr, false);
  ASSERT_TRUE(index.is_object());
  EXPECT_EQ(index["manifests"][0]["digest"], artifact->manifest.digest);
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], artifact->tag);
}

TEST(Signer, RefusesWhatIsNotAPrivateKey) {
  auto pair = GenerateKey(KeyType::kEcdsaP256);
  ASSERT_TRUE(pair.ok());
  EXPECT_FALSE(Signer::Create(pair->public_pem).ok());
  EXPECT_FALSE(Signer::Create("not a key").ok());
}

TEST(Signer, ParsesEveryKeyTypeName) {
  for (KeyType type : AllKeyTypes()) {
    auto parsed = ParseKeyType(KeyTypeName(type));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_THAT(std::string(ParseKeyType("dsa").status().message()), HasSubstr("ecdsa-p256"));
}

}  // namespace
}  // namespace sigshim::test_signer
