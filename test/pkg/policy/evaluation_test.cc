#include "pkg/policy/evaluation.h"

#include <stdlib.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/file.h"
#include "pkg/base/digest.h"
#include "pkg/verify/simple_signing.h"
#include "test/pkg/policy/test_config.h"

namespace sigshim::policy {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kRepository[] = "registry.test/team/app";
const std::string kDigest = Sha256Digest("manifest");
const absl::Time kJan1 = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z
const absl::Time kJul1 = absl::FromUnixSeconds(1782864000);  // 2026-07-01T00:00:00Z

// Rules compiled from TOML, so that windows come the way the daemon reads them.
class EvaluationTest : public ::testing::Test {
 protected:
  EvaluationTest() : release_(MakeTestKey()), other_(MakeTestKey(test_signer::KeyType::kEd25519)) {
    auto image = reference::Parse(absl::StrCat(kRepository, ":v1"));
    EXPECT_TRUE(image.ok());
    target_ = Target{kDigest, *image};
  }

  // Compiles a policy requiring "release" (with `release_window` TOML lines) and "other".
  const Rule& Compile(const std::string& release_window = "", const std::string& other_window = "") {
    auto policy = Policy::Create(*MustParse(absl::StrCat(
        KeyTable("release", release_.pair.public_pem), release_window, "\n", KeyTable("other", other_.pair.public_pem),
        other_window, "\n", PolicyTable("team", "\"registry.test/team/**\"", "\"release\", \"other\""))));
    EXPECT_TRUE(policy.ok()) << policy.status();
    policy_ = *std::move(policy);
    return policy_->rules()[0];
  }

  verify::Signature Signed(const TestKey& key, const std::string& digest = kDigest,
                           const std::string& reference = kRepository) {
    auto layer = test_signer::SignImageLayer(*key.signer, reference, digest);
    EXPECT_TRUE(layer.ok()) << layer.status();
    verify::Signature s;
    s.layer_digest = layer->payload.digest;
    s.media_type = layer->payload.media_type;
    s.payload = layer->payload.bytes;
    s.annotations = layer->annotations;
    return s;
  }

  // The statements of `signature`, each with `time` as its proven signing time (nullopt: none).
  verify::ProducedStatements Produced(const Rule& rule, const verify::Signature& signature,
                                      std::optional<absl::Time> time) {
    auto produced = verify::ProduceSimpleSigningStatements(signature, ProducerOptionsFor(rule));
    EXPECT_TRUE(produced.ok()) << produced.status();
    if (!produced.ok()) return {};
    for (verify::SignedStatement& s : produced->statements) {
      if (time.has_value()) s.signing_time = verify::SigningTime{*time, verify::TimeSource::kTransparencyLog, "test log", ""};
    }
    return *produced;
  }

  TestKey release_;
  TestKey other_;
  Target target_;
  std::unique_ptr<Policy> policy_;
};

// A stored sigstore bundle, as a verdict keeps it.
verify::Signature StoredBundle(const std::string& json) {
  verify::Signature s;
  s.media_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
  s.payload = json;
  s.layer_digest = Sha256Digest(json);
  return s;
}

TEST_F(EvaluationTest, StoredArtifactsAreCheckedAgainByTheirFormatAttestationsIncluded) {
  auto policy = Policy::Create(*MustParse(absl::StrCat(
      KeyTable("release", release_.pair.public_pem), KeyTable("other", other_.pair.public_pem),
      PolicyTable("team", "\"registry.test/team/**\"", "\"release\""),
      "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"https://slsa.dev/provenance/v1\"\n"
      "require = [\"other\"]\n[policy.attestations.match]\n\"runDetails.builder.id\" = \"ci\"\n")));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const Rule& rule = (*policy)->rules()[0];
  const verify::Signature sign = StoredBundle(SignedBundle(release_, kDigest, "https://sigstore.dev/cosign/sign/v1"));
  const verify::Signature provenance = StoredBundle(
      SignedBundle(other_, kDigest, "https://slsa.dev/provenance/v1", R"({"runDetails":{"builder":{"id":"ci"}}})"));

  RuleEvaluation both = EvaluateSignatures(rule, target_, {Signed(release_), sign, provenance}, kJan1);
  EXPECT_TRUE(both.Satisfied()) << both.Explain();
  EXPECT_EQ(both.Identities(), "release");
  EXPECT_THAT(both.Explain(), HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1): signed by \"other\""));
  const std::vector<Evidence> evidence = both.AllEvidence();
  ASSERT_THAT(evidence, SizeIs(3));
  EXPECT_EQ(evidence[2].attestation, "provenance");
  EXPECT_EQ(evidence[2].identity, "other");

  RuleEvaluation bundle_only = EvaluateSignatures(rule, target_, {sign, provenance}, kJan1);
  EXPECT_TRUE(bundle_only.Satisfied()) << bundle_only.Explain();

  RuleEvaluation without = EvaluateSignatures(rule, target_, {sign}, kJan1);
  EXPECT_TRUE(without.SignaturesSatisfied());
  EXPECT_FALSE(without.Satisfied());
  EXPECT_THAT(without.Explain(), HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1) not met: no "
                                           "attestation of that type"));

  // A stored bundle whose signature was altered on disk verifies no more.
  verify::Signature tampered = sign;
  std::string envelope_changed = sign.payload;
  const size_t at = envelope_changed.find("\"sig\":\"") + 7;
  envelope_changed[at] = envelope_changed[at] == 'A' ? 'B' : 'A';
  tampered.payload = envelope_changed;
  RuleEvaluation altered = EvaluateSignatures(rule, target_, {tampered, provenance}, kJan1);
  EXPECT_FALSE(altered.Satisfied());
  EXPECT_FALSE(altered.SignaturesSatisfied());
}

// A stored cosign ".att" layer (a DSSE envelope), as a verdict keeps it: signed by `key`.
verify::Signature StoredAtt(const TestKey& key, const std::string& builder) {
  const std::string bundle = SignedBundle(key, kDigest, "https://slsa.dev/provenance/v1",
                                          absl::StrCat(R"({"runDetails":{"builder":{"id":")", builder, R"("}}})"));
  verify::Signature s;
  s.media_type = "application/vnd.dsse.envelope.v1+json";
  s.payload = nlohmann::json::parse(bundle)["dsseEnvelope"].dump();  // the same envelope, alone
  s.layer_digest = Sha256Digest(s.payload);
  s.annotations["dev.cosignproject.cosign/signature"] = "";
  return s;
}

TEST_F(EvaluationTest, StoredAttLayersAreCheckedAgainAsCosignAttestations) {
  auto policy = Policy::Create(*MustParse(absl::StrCat(
      KeyTable("release", release_.pair.public_pem), KeyTable("other", other_.pair.public_pem),
      PolicyTable("team", "\"registry.test/team/**\"", "\"release\""),
      "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"https://slsa.dev/provenance/v1\"\n"
      "require = [\"other\"]\n[policy.attestations.match]\n\"runDetails.builder.id\" = \"ci\"\n")));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const Rule& rule = (*policy)->rules()[0];

  RuleEvaluation both = EvaluateSignatures(rule, target_, {Signed(release_), StoredAtt(other_, "ci")}, kJan1);
  EXPECT_TRUE(both.Satisfied()) << both.Explain();
  const std::vector<Evidence> evidence = both.AllEvidence();
  ASSERT_THAT(evidence, SizeIs(2));
  EXPECT_EQ(evidence[1].attestation, "provenance");
  EXPECT_EQ(evidence[1].statement.artifact.format, verify::kCosignAttestationFormat);
  const std::vector<ArtifactRecord> records = both.Artifacts();
  ASSERT_THAT(records, SizeIs(2));
  EXPECT_EQ(records[1].format, verify::kCosignAttestationFormat);
  EXPECT_THAT(records[1].counted_for, testing::ElementsAre("attestation \"provenance\" (signed by \"other\")"));

  // Another builder, or an envelope altered on disk, meets nothing on the re-check.
  RuleEvaluation nightly = EvaluateSignatures(rule, target_, {Signed(release_), StoredAtt(other_, "nightly")}, kJan1);
  EXPECT_FALSE(nightly.Satisfied());
  EXPECT_THAT(nightly.Explain(), HasSubstr("\"runDetails.builder.id\" is \"nightly\", not \"ci\""));
  verify::Signature tampered = StoredAtt(other_, "ci");
  const size_t at = tampered.payload.find("\"sig\":\"") + 7;
  tampered.payload[at] = tampered.payload[at] == 'A' ? 'B' : 'A';
  RuleEvaluation altered = EvaluateSignatures(rule, target_, {Signed(release_), tampered}, kJan1);
  EXPECT_FALSE(altered.Satisfied());
  // Signed by a key the attestation does not require.
  RuleEvaluation wrong_signer = EvaluateSignatures(rule, target_, {Signed(release_), StoredAtt(release_, "ci")}, kJan1);
  EXPECT_FALSE(wrong_signer.Satisfied());
}

TEST(PredicateString, ReadsDottedPathsAndNamesWhatIsMissing) {
  const std::string predicate = R"({"runDetails":{"builder":{"id":"ci","n":3}},"list":[1]})";
  EXPECT_EQ(*PredicateString(predicate, "runDetails.builder.id"), "ci");
  EXPECT_TRUE(absl::IsNotFound(PredicateString(predicate, "runDetails.builder.name").status()));
  EXPECT_TRUE(absl::IsNotFound(PredicateString(predicate, "list.0").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PredicateString(predicate, "runDetails.builder.n").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PredicateString(predicate, "runDetails").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PredicateString("not json", "a").status()));
}

TEST_F(EvaluationTest, AnAttestationForAnotherDigestOrOfAnotherTypeMeetsNothing) {
  auto policy = Policy::Create(*MustParse(absl::StrCat(
      KeyTable("release", release_.pair.public_pem), PolicyTable("team", "\"registry.test/team/**\"", "\"release\""),
      "[[policy.attestations]]\nname = \"scan\"\npredicate_type = \"https://example.com/scan/v1\"\n"
      "require = [\"release\"]\n")));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const Rule& rule = (*policy)->rules()[0];
  verify::SignedStatement statement;
  statement.kind = verify::StatementKind::kAttestation;
  statement.predicate_type = "https://example.com/scan/v1";
  statement.predicate_json = "{}";
  statement.subject_digest = Sha256Digest("another manifest");
  statement.signer = verify::KeySigner{rule.attestations[0].keys[0].key->Fingerprint(), "release key"};
  AttestationCheck other_digest = CheckAttestations(rule, kDigest, {statement}, kJan1);
  EXPECT_FALSE(other_digest.satisfied);
  EXPECT_THAT(other_digest.lines[0], HasSubstr(absl::StrCat("statement is for ", Sha256Digest("another manifest"))));
  statement.subject_digest = kDigest;
  EXPECT_TRUE(CheckAttestations(rule, kDigest, {statement}, kJan1).satisfied);
  statement.predicate_type = "https://example.com/scan/v2";
  EXPECT_FALSE(CheckAttestations(rule, kDigest, {statement}, kJan1).satisfied);
  statement.predicate_type = "https://example.com/scan/v1";
  statement.kind = verify::StatementKind::kSignature;
  EXPECT_FALSE(CheckAttestations(rule, kDigest, {statement}, kJan1).satisfied);
}

TEST_F(EvaluationTest, ASignatureByARequiredKeyCounts) {
  const Rule& rule = Compile();
  RuleEvaluation e(rule, target_, kJan1);
  e.AddSignature("signature 1", Signed(release_));
  EXPECT_TRUE(e.Satisfied());
  EXPECT_EQ(e.Identities(), "release");
  EXPECT_THAT(e.rejections(), IsEmpty());
  EXPECT_FALSE(e.EarliestSigningTime().has_value());
  EXPECT_EQ(e.CountsUntil(), absl::InfiniteFuture());
  EXPECT_THAT(e.Explain(), HasSubstr("signed by \"release\" (key ecdsa-p256-sha256 sha256:"));
}

TEST_F(EvaluationTest, EveryRequiredKeyThatSignedIsReportedOnce) {
  const Rule& rule = Compile();
  RuleEvaluation e = EvaluateSignatures(rule, target_, {Signed(other_), Signed(release_), Signed(other_)}, kJan1);
  EXPECT_TRUE(e.Satisfied());
  EXPECT_THAT(e.counted(), SizeIs(3));
  EXPECT_EQ(e.Identities(), "other,release");
}

TEST_F(EvaluationTest, StatementsAboutAnotherImageOrSignerDoNotCount) {
  const Rule& rule = Compile();
  RuleEvaluation e = EvaluateSignatures(
      rule, target_,
      {Signed(release_, Sha256Digest("other manifest")), Signed(release_, kDigest, "registry.test/team/other")},
      kJan1);
  EXPECT_FALSE(e.Satisfied());
  ASSERT_THAT(e.rejections(), SizeIs(2));
  EXPECT_THAT(e.rejections()[0], HasSubstr(absl::StrCat("payload is for ", Sha256Digest("other manifest"), ", not ", kDigest)));
  EXPECT_THAT(e.rejections()[1], HasSubstr("reference mismatch"));
  EXPECT_THAT(e.Explain(), HasSubstr("no valid signature: signature 1 ("));

  // A statement by a key the rule does not require (another producer's candidates).
  TestKey stranger = MakeTestKey();
  auto stranger_key = verify::ParsePublicKeyPem(stranger.pair.public_pem);
  ASSERT_TRUE(stranger_key.ok());
  verify::SimpleSigningProducerOptions options;
  options.keys.push_back(*std::move(stranger_key));
  RuleEvaluation e2(rule, target_, kJan1);
  e2.AddProduced("signature 1", verify::ProduceSimpleSigningStatements(Signed(stranger), options));
  EXPECT_FALSE(e2.Satisfied());
  ASSERT_THAT(e2.rejections(), SizeIs(1));
  EXPECT_THAT(e2.rejections()[0], HasSubstr("is not required by policy \"team\""));
}

TEST_F(EvaluationTest, WithoutProvenTimeTheWindowIsJudgedAtTheDecisionTimeEdgesIncluded) {
  const Rule& rule = Compile("not_before = 2026-01-01T00:00:00Z\nnot_after = 2026-07-01T00:00:00Z\n");
  struct Case {
    absl::Time at;
    bool counts;
  };
  for (const Case& c : std::vector<Case>{{kJan1 - absl::Seconds(1), false},
                                         {kJan1, true},
                                         {kJul1, true},
                                         {kJul1 + absl::Nanoseconds(1), false}}) {
    RuleEvaluation e(rule, target_, c.at);
    e.AddSignature("signature 1", Signed(release_));
    EXPECT_EQ(e.Satisfied(), c.counts) << verify::FormatTimeUtc(c.at) << ": " << e.Explain();
    if (c.counts) {
      EXPECT_EQ(e.CountsUntil(), kJul1) << "an approval judged by the decision time ends with the window";
    } else {
      EXPECT_THAT(e.Explain(),
                  HasSubstr(absl::StrCat("key \"release\" is valid from 2026-01-01T00:00:00Z to 2026-07-01T00:00:00Z; "
                                         "no proven signing time, decided at ", verify::FormatTimeUtc(c.at))));
    }
  }
}

// An attestation (an in-toto statement of another predicate type than cosign/sign/v1, e.g. SLSA
// provenance) by a required key over the image is not an image signature.
TEST_F(EvaluationTest, AnAttestationByARequiredKeyIsNotASignature) {
  const Rule& rule = Compile();
  verify::ProducedStatements produced = Produced(rule, Signed(release_), std::nullopt);
  ASSERT_EQ(produced.statements.size(), 1u);
  produced.statements[0].kind = verify::StatementKind::kAttestation;
  produced.statements[0].predicate_type = "https://slsa.dev/provenance/v1";
  RuleEvaluation e(rule, target_, kJan1);
  e.AddProduced("bundle 1", produced);
  EXPECT_FALSE(e.Satisfied());
  EXPECT_THAT(e.counted(), IsEmpty());
  EXPECT_THAT(e.Explain(), HasSubstr("an attestation (predicate type https://slsa.dev/provenance/v1), not a signature"));
}

TEST_F(EvaluationTest, AProvenSigningTimeDecidesTheWindowWhateverTheDecisionTime) {
  const Rule& rule = Compile("not_after = 2026-07-01T00:00:00Z\n");
  const absl::Time long_after = kJul1 + absl::Hours(24 * 365);
  // Signed inside the window, decided after it closed: counts, for good.
  RuleEvaluation inside(rule, target_, long_after);
  inside.AddProduced("signature 1", Produced(rule, Signed(release_), kJul1));
  EXPECT_TRUE(inside.Satisfied()) << inside.Explain();
  ASSERT_TRUE(inside.EarliestSigningTime().has_value());
  EXPECT_EQ(inside.EarliestSigningTime()->time, kJul1);
  EXPECT_EQ(inside.CountsUntil(), absl::InfiniteFuture());
  EXPECT_THAT(inside.Explain(), HasSubstr("at 2026-07-01T00:00:00Z (tlog)"));
  // Signed after the window, decided inside it: does not count.
  RuleEvaluation outside(rule, target_, kJan1);
  outside.AddProduced("signature 1", Produced(rule, Signed(release_), kJul1 + absl::Seconds(1)));
  EXPECT_FALSE(outside.Satisfied());
  EXPECT_THAT(outside.Explain(), HasSubstr("key \"release\" is valid until 2026-07-01T00:00:00Z; signed at "
                                           "2026-07-01T00:00:01Z (tlog)"));
}

// [[keys]] transparency_log: a real Rekor SET of the named trust root's log proves when the key
// signed; the window is judged by that time, and without such proof the signature counts for
// nothing.
TEST_F(EvaluationTest, AKeyWithATransparencyLogCountsOnlyWithItsProofJudgedAtThatTime) {
  TestKey log = MakeTestKey();
  auto log_key = verify::ParsePublicKeyPem(log.pair.public_pem);
  ASSERT_TRUE(log_key.ok()) << log_key.status();
  const std::string log_id = absl::HexStringToBytes(Sha256Hex((*log_key)->Der()));
  const std::string root_json = absl::StrCat(
      R"({"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{"baseUrl":"https://rekor.test",)",
      R"("hashAlgorithm":"SHA2_256","publicKey":{"rawBytes":")", Base64Encode((*log_key)->Der()),
      R"(","keyDetails":"PKIX_ECDSA_P256_SHA_256","validFor":{"start":"2020-01-01T00:00:00Z"}},)",
      R"("logId":{"keyId":")", Base64Encode(log_id), R"("}}]})");
  char folder[] = "/tmp/sigshim-evaluation-XXXXXX";
  ASSERT_NE(mkdtemp(folder), nullptr);
  const std::string root_path = absl::StrCat(folder, "/rekor.json");
  ASSERT_TRUE(WriteFileAtomic(root_path, root_json).ok());
  auto policy = Policy::Create(*MustParse(absl::StrCat(
      "[[trust_roots]]\nname = \"rekor\"\ntrusted_root = \"", root_path, "\"\n\n",
      KeyTable("release", release_.pair.public_pem), "not_after = 2026-07-01T00:00:00Z\ntransparency_log = \"rekor\"\n\n",
      PolicyTable("team", "\"registry.test/team/**\"", "\"release\""))));
  std::system(absl::StrCat("rm -rf ", folder).c_str());
  ASSERT_TRUE(policy.ok()) << policy.status();
  const Rule& rule = (*policy)->rules()[0];
  const absl::Time long_after = kJul1 + absl::Hours(24 * 365);

  auto logged = [&](absl::Time integrated) {
    verify::Signature signature = Signed(release_);
    auto raw = Base64Decode(signature.annotations.at(std::string(verify::kSignatureAnnotation)));
    EXPECT_TRUE(raw.ok());
    auto bundle = test_signer::MakeRekorBundle(*log.signer, release_.pair.public_pem, *raw, signature.payload,
                                               absl::ToUnixSeconds(integrated));
    EXPECT_TRUE(bundle.ok()) << bundle.status();
    signature.annotations[std::string(verify::kBundleAnnotation)] = *bundle;
    return signature;
  };
  // Logged inside the window, decided a year after it closed: counts, at the logged time.
  RuleEvaluation inside(rule, target_, long_after);
  inside.AddSignature("signature 1", logged(kJan1));
  EXPECT_TRUE(inside.Satisfied()) << inside.Explain();
  ASSERT_TRUE(inside.EarliestSigningTime().has_value());
  EXPECT_EQ(inside.EarliestSigningTime()->time, kJan1);
  EXPECT_EQ(inside.EarliestSigningTime()->trust_root, "rekor");
  // Logged after the window: does not count.
  RuleEvaluation late(rule, target_, kJan1);
  late.AddSignature("signature 1", logged(kJul1 + absl::Seconds(1)));
  EXPECT_FALSE(late.Satisfied());
  EXPECT_THAT(late.Explain(), HasSubstr("key \"release\" is valid until 2026-07-01T00:00:00Z; signed at"));
  // No log entry: counts for nothing, even inside the window.
  RuleEvaluation unlogged(rule, target_, kJan1);
  unlogged.AddSignature("signature 1", Signed(release_));
  EXPECT_FALSE(unlogged.Satisfied());
  EXPECT_THAT(unlogged.Explain(), HasSubstr("counts only with a transparency-log entry or timestamp of trust root \"rekor\""));
  // A SET signed by another log: the same.
  TestKey stranger = MakeTestKey();
  verify::Signature forged = Signed(release_);
  auto raw = Base64Decode(forged.annotations.at(std::string(verify::kSignatureAnnotation)));
  ASSERT_TRUE(raw.ok());
  auto bundle = test_signer::MakeRekorBundle(*stranger.signer, release_.pair.public_pem, *raw, forged.payload,
                                             absl::ToUnixSeconds(kJan1));
  ASSERT_TRUE(bundle.ok());
  forged.annotations[std::string(verify::kBundleAnnotation)] = *bundle;
  RuleEvaluation other_log(rule, target_, kJan1);
  other_log.AddSignature("signature 1", forged);
  EXPECT_FALSE(other_log.Satisfied());
}

TEST_F(EvaluationTest, ARetiredKeyLeavesTheOtherRequiredKeyCounting) {
  const Rule& rule = Compile("not_after = 2025-12-31T23:59:59Z\n");
  RuleEvaluation e = EvaluateSignatures(rule, target_, {Signed(release_), Signed(other_)}, kJan1);
  EXPECT_TRUE(e.Satisfied());
  EXPECT_EQ(e.Identities(), "other");
  ASSERT_THAT(e.rejections(), SizeIs(1));
  EXPECT_THAT(e.rejections()[0], HasSubstr("key \"release\" is valid until 2025-12-31T23:59:59Z"));
}

TEST_F(EvaluationTest, EarliestSigningTimeAmongCountedStatements) {
  const Rule& rule = Compile();
  RuleEvaluation e(rule, target_, kJul1);
  e.AddProduced("signature 1", Produced(rule, Signed(release_), kJul1));
  e.AddProduced("signature 2", Produced(rule, Signed(other_), kJan1));
  e.AddProduced("signature 3", Produced(rule, Signed(other_), std::nullopt));
  EXPECT_EQ(e.Identities(), "release,other");
  ASSERT_TRUE(e.EarliestSigningTime().has_value());
  EXPECT_EQ(e.EarliestSigningTime()->time, kJan1);
}

TEST_F(EvaluationTest, ACheckThatCouldNotBeMadeIsAnErrorNotARejection) {
  const Rule& rule = Compile();
  RuleEvaluation e(rule, target_, kJan1);
  e.AddProduced("signature 1", absl::InternalError("crypto library failed"));
  EXPECT_FALSE(e.Satisfied());
  EXPECT_EQ(e.error().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(RuleEvaluation::ValidateTarget(Target{"", target_.image}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EvaluationTest, NoSignatureAndLayersBeyondTheLimit) {
  const Rule& rule = Compile();
  verify::Signature attachment = Signed(release_);
  attachment.media_type = "text/plain";
  int ignored = 0;
  RuleEvaluation none = EvaluateSignatures(rule, target_, {attachment}, kJan1, 64, &ignored);
  EXPECT_EQ(ignored, 1);
  EXPECT_EQ(none.Explain(), "no signature");
  RuleEvaluation limited = EvaluateSignatures(rule, target_, {Signed(other_, Sha256Digest("x")), Signed(release_)}, kJan1, 1);
  EXPECT_FALSE(limited.Satisfied());
  EXPECT_THAT(limited.Explain(), HasSubstr("1 further signature(s): not checked (limit of 1 reached)"));
}

TEST(DescribeWindow, NamesEachBound) {
  EXPECT_EQ(DescribeWindow({}), "always");
  EXPECT_EQ(DescribeWindow({kJan1, absl::InfiniteFuture()}), "from 2026-01-01T00:00:00Z");
  EXPECT_EQ(DescribeWindow({absl::InfinitePast(), kJan1}), "until 2026-01-01T00:00:00Z");
}

}  // namespace
}  // namespace sigshim::policy
