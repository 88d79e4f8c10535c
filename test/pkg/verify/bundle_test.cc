// Unit tests of the sigstore bundle code with hostile inputs: the bundle parser (media types,
// strict proto3 JSON, indexes, base64), DSSE (PAE, signature count), in-toto statements (types,
// subjects), RFC 6962 inclusion proofs, checkpoints (signed notes), and Rekor v2 entries, which
// prove inclusion but no time (so a timestamp is required). The Rekor v2 entries, trees and
// checkpoints are built here with keys made for the test; real v1 bundles are in
// bundle_conformance_test.cc.
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/verify/bundle.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/intoto.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/sigstore_bundle.h"
#include "pkg/verify/transparency_log.h"
#include "test/pkg/verify/test_tsa.h"
#include "test/signer/signer.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Inside the test TSA's signing certificate's validity (2024).
const absl::Time kWhen = absl::FromCivil(absl::CivilSecond(2024, 6, 1, 12, 0, 0), absl::UTCTimeZone());

std::string Sha256Raw(absl::string_view data) { return absl::HexStringToBytes(Sha256Hex(data)); }

std::string Node(absl::string_view left, absl::string_view right) {
  return Sha256Raw(absl::StrCat(std::string(1, '\x01'), left, right));
}

std::unique_ptr<test_signer::SigningKey> NewKey() {
  auto key = test_signer::GenerateSigningKey(test_signer::KeyType::kEcdsaP256);
  EXPECT_TRUE(key.ok()) << key.status();
  return std::make_unique<test_signer::SigningKey>(*std::move(key));
}

std::shared_ptr<const PublicKey> Public(const test_signer::SigningKey& key) {
  auto parsed = ParsePublicKeyPem(key.pair.public_pem);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return std::shared_ptr<const PublicKey>(std::move(*parsed));
}

// A message-signature bundle by a key, logged in a Rekor v2 log of three entries (this one at
// index 1), with everything the test may alter before it is serialised.
class RekorV2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = NewKey();
    log_signer_ = NewKey();
    signer_key_ = Public(*signer_);
    log_key_ = Public(*log_signer_);
    auto tsa = test_tsa::TestTsa::Create({});
    ASSERT_TRUE(tsa.ok()) << tsa.status();
    tsa_ = *std::move(tsa);
    log_.name = "https://log.example";
    log_.key = log_key_;
    log_.log_id = Sha256Raw(log_key_->Der());
    log_.base_url = "https://log.example";
    auto signature = signer_->signer->Sign(artifact_);
    ASSERT_TRUE(signature.ok());
    signature_ = *signature;
  }

  // Makes the bundle a DSSE envelope of an in-toto statement about the artifact's digest with
  // `predicate_type`, logged as a Rekor v2 dsse entry.
  void UseDsse(const std::string& predicate_type) {
    dsse_ = true;
    statement_ = nlohmann::json({{"_type", "https://in-toto.io/Statement/v1"},
                                 {"subject", {{{"name", "a"}, {"digest", {{"sha256", Sha256Hex(artifact_)}}}}}},
                                 {"predicateType", predicate_type},
                                 {"predicate", {{"builder", "b"}}}})
                     .dump();
    auto signature = signer_->signer->Sign(DssePae("application/vnd.in-toto+json", statement_));
    ASSERT_TRUE(signature.ok());
    signature_ = *signature;
  }

  std::string Body() const {
    if (dsse_) {
      nlohmann::json body = {
          {"apiVersion", "0.0.2"},
          {"kind", "dsse"},
          {"spec",
           {{"dsseV002",
             {{"payloadHash", {{"algorithm", "SHA2_256"}, {"digest", Base64Encode(Sha256Raw(statement_))}}},
              {"signatures",
               {{{"content", Base64Encode(body_signature_.empty() ? signature_ : body_signature_)},
                 {"verifier",
                  {{"publicKey", {{"rawBytes", Base64Encode(signer_key_->Der())}}},
                   {"keyDetails", "PKIX_ECDSA_P256_SHA_256"}}}}}}}}}}};
      return body.dump();
    }
    nlohmann::json body = {
        {"apiVersion", "0.0.2"},
        {"kind", "hashedrekord"},
        {"spec",
         {{"hashedRekordV002",
           {{"data", {{"algorithm", "SHA2_256"}, {"digest", Base64Encode(Sha256Raw(artifact_))}}},
            {"signature",
             {{"content", Base64Encode(body_signature_.empty() ? signature_ : body_signature_)},
              {"verifier",
               {{"publicKey", {{"rawBytes", Base64Encode(signer_key_->Der())}}},
                {"keyDetails", "PKIX_ECDSA_P256_SHA_256"}}}}}}}}}};
    return body.dump();
  }

  // Returns the signed note for a tree of `size` with `root`, signed by `by` under `name`.
  std::string Checkpoint(const std::string& origin, int64_t size, const std::string& root,
                         const test_signer::SigningKey& by, const std::string& name) const {
    const std::string text = absl::StrCat(origin, "\n", size, "\n", Base64Encode(root), "\n");
    auto signature = by.signer->Sign(text);
    EXPECT_TRUE(signature.ok());
    const std::string hint = Sha256Raw(Public(by)->Der()).substr(0, 4);
    return absl::StrCat(text, "\n\xE2\x80\x94 ", name, " ", Base64Encode(hint + *signature), "\n");
  }

  // Returns the bundle JSON; `edit` may change the JSON before it is written.
  std::string BundleJson(const std::function<void(nlohmann::json&)>& edit = nullptr) const {
    const std::string body = Body();
    const std::string l0 = Sha256Raw("\x00" "leaf 0");
    const std::string l2 = Sha256Raw("\x00" "leaf 2");
    const std::string root = Node(Node(l0, MerkleLeafHash(body)), l2);
    nlohmann::json entry = {
        {"logIndex", "1"},
        {"logId", {{"keyId", Base64Encode(log_.log_id)}}},
        {"kindVersion", {{"kind", "hashedrekord"}, {"version", "0.0.2"}}},
        {"inclusionProof",
         {{"logIndex", "1"},
          {"rootHash", Base64Encode(root)},
          {"treeSize", "3"},
          {"hashes", {Base64Encode(l0), Base64Encode(l2)}},
          {"checkpoint", {{"envelope", Checkpoint("log.example", 3, root, *log_signer_, "log.example")}}}}},
        {"canonicalizedBody", Base64Encode(body)}};
    nlohmann::json bundle = {
        {"mediaType", "application/vnd.dev.sigstore.bundle.v0.3+json"},
        {"verificationMaterial", {{"publicKey", {{"hint", "test"}}}, {"tlogEntries", nlohmann::json::array({entry})}}},
        {"messageSignature",
         {{"messageDigest", {{"algorithm", "SHA2_256"}, {"digest", Base64Encode(Sha256Raw(artifact_))}}},
          {"signature", Base64Encode(signature_)}}}};
    if (dsse_) {
      entry["kindVersion"]["kind"] = "dsse";
      bundle["verificationMaterial"]["tlogEntries"] = nlohmann::json::array({entry});
      bundle.erase("messageSignature");
      bundle["dsseEnvelope"] = {{"payloadType", "application/vnd.in-toto+json"},
                                {"payload", Base64Encode(statement_)},
                                {"signatures", {{{"sig", Base64Encode(signature_)}, {"keyid", ""}}}}};
    }
    if (stamp_) {
      auto der = tsa_->Stamp(signature_, kWhen);
      EXPECT_TRUE(der.ok()) << der.status();
      bundle["verificationMaterial"]["timestampVerificationData"] = {
          {"rfc3161Timestamps", {{{"signedTimestamp", Base64Encode(*der)}}}}};
    }
    if (edit) edit(bundle);
    return bundle.dump();
  }

  absl::StatusOr<ProducedStatements> Produce(const std::string& json) const {
    BundleProducerOptions options;
    options.artifact_digests = {Sha256Digest(artifact_)};
    options.keys = {signer_key_};
    KeyTimeEvidence evidence;
    evidence.trust_root = "test";
    evidence.transparency_logs = {log_};
    evidence.timestamp_authorities = {TimestampAuthorityInput{"test-tsa", tsa_->ChainDer(), {}}};
    options.key_time_evidence[signer_key_->Fingerprint()] = evidence;
    return ProduceBundleStatements(json, options);
  }

  // The one statement `json` yields; fails the test otherwise.
  SignedStatement One(const std::string& json) const {
    auto produced = Produce(json);
    EXPECT_TRUE(produced.ok()) << produced.status();
    if (!produced.ok() || produced->statements.size() != 1) {
      ADD_FAILURE() << "no statement: " << (produced.ok() ? produced->rejection : "");
      return {};
    }
    return produced->statements[0];
  }

  std::string Rejection(const std::string& json) const {
    auto produced = Produce(json);
    EXPECT_TRUE(produced.ok()) << produced.status();
    EXPECT_THAT(produced->statements, IsEmpty());
    return produced.ok() ? produced->rejection : "";
  }

  std::string artifact_ = "the artifact";
  std::string signature_;
  std::string body_signature_;  // when set, the body records this signature instead
  bool stamp_ = true;
  bool dsse_ = false;
  std::string statement_;  // the DSSE payload when dsse_
  std::unique_ptr<test_signer::SigningKey> signer_;
  std::unique_ptr<test_signer::SigningKey> log_signer_;
  std::shared_ptr<const PublicKey> signer_key_;
  std::shared_ptr<const PublicKey> log_key_;
  std::unique_ptr<test_tsa::TestTsa> tsa_;
  TransparencyLogInput log_;
};

TEST_F(RekorV2Test, EntryWithTimestampProvesInclusionAndTheTimestampProvesTheTime) {
  SignedStatement statement = One(BundleJson());
  EXPECT_EQ(statement.kind, StatementKind::kSignature);
  EXPECT_EQ(statement.subject_digest, Sha256Digest(artifact_));
  EXPECT_EQ(statement.verified_tlog_entries, 1);
  EXPECT_EQ(statement.verified_integrated_times, 0);
  EXPECT_EQ(statement.verified_timestamps, 1);
  ASSERT_TRUE(statement.signing_time.has_value());
  EXPECT_EQ(statement.signing_time->source, TimeSource::kTimestamp);
  EXPECT_EQ(statement.signing_time->time, kWhen);
}

TEST_F(RekorV2Test, EntryWithoutTimestampProvesNothing) {
  stamp_ = false;
  SignedStatement statement = One(BundleJson());
  EXPECT_EQ(statement.verified_tlog_entries, 0);
  EXPECT_FALSE(statement.signing_time.has_value());
}

TEST_F(RekorV2Test, DsseEntryOfACosignSignStatementIsASignatureAndOfAnotherPredicateAnAttestation) {
  UseDsse("https://sigstore.dev/cosign/sign/v1");
  SignedStatement signature = One(BundleJson());
  EXPECT_EQ(signature.kind, StatementKind::kSignature);
  EXPECT_EQ(signature.subject_digest, Sha256Digest(artifact_));
  EXPECT_EQ(signature.verified_tlog_entries, 1);
  EXPECT_EQ(signature.predicate_type, "https://sigstore.dev/cosign/sign/v1");

  UseDsse("https://slsa.dev/provenance/v1");
  SignedStatement attestation = One(BundleJson());
  EXPECT_EQ(attestation.kind, StatementKind::kAttestation);
  EXPECT_EQ(attestation.predicate_type, "https://slsa.dev/provenance/v1");
  EXPECT_EQ(attestation.predicate_json, R"({"builder":"b"})");
  EXPECT_EQ(attestation.verified_tlog_entries, 1);
}

TEST_F(RekorV2Test, DsseEntryRecordingAnotherPayloadOrSignatureIsRefused) {
  UseDsse("https://sigstore.dev/cosign/sign/v1");
  const std::string original = statement_;
  // The envelope carries another statement than the one signed and logged.
  std::string json = BundleJson([&](nlohmann::json& b) {
    b["dsseEnvelope"]["payload"] = Base64Encode(original + " ");
  });
  EXPECT_THAT(Rejection(json), HasSubstr("signed by an unknown key"));
  body_signature_ = signer_->signer->Sign("something else").value();
  EXPECT_THAT(Rejection(BundleJson()), HasSubstr("the log recorded a different signature"));
}

TEST_F(RekorV2Test, EnvelopeWithTwoSignaturesIsRefused) {
  UseDsse("https://sigstore.dev/cosign/sign/v1");
  std::string json = BundleJson([&](nlohmann::json& b) {
    b["dsseEnvelope"]["signatures"].push_back(b["dsseEnvelope"]["signatures"][0]);
  });
  EXPECT_THAT(Rejection(json), HasSubstr("carries 2 signatures; exactly one signature is required"));
}

TEST_F(RekorV2Test, TimestampOutsideTheLogsValidityProvesNoEntry) {
  log_.window.end = kWhen - absl::Seconds(1);
  SignedStatement statement = One(BundleJson());
  EXPECT_EQ(statement.verified_tlog_entries, 0);
}

TEST_F(RekorV2Test, CheckpointSignedByAnotherKeyIsRefused) {
  auto other = NewKey();
  std::string json = BundleJson([&](nlohmann::json& b) {
    auto& proof = b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
    const std::string root = Base64Decode(proof["rootHash"].get<std::string>()).value();
    // Signed by another key under this log's key hint: the signature does not verify.
    const std::string text = absl::StrCat("log.example\n3\n", Base64Encode(root), "\n");
    const std::string signature = other->signer->Sign(text).value();
    proof["checkpoint"]["envelope"] = absl::StrCat(text, "\n\xE2\x80\x94 log.example ",
                                                   Base64Encode(log_.log_id.substr(0, 4) + signature), "\n");
  });
  EXPECT_THAT(Rejection(json), HasSubstr("checkpoint: the signature with log https://log.example's key hint"));
  // And with the other key's own hint: no signature of this log at all.
  json = BundleJson([&](nlohmann::json& b) {
    auto& proof = b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
    const std::string root = Base64Decode(proof["rootHash"].get<std::string>()).value();
    proof["checkpoint"]["envelope"] = Checkpoint("log.example", 3, root, *other, "log.example");
  });
  EXPECT_THAT(Rejection(json), HasSubstr("checkpoint: no signature by log https://log.example"));
}

TEST_F(RekorV2Test, CheckpointWithAMissingOrAnotherOriginIsRefused) {
  for (const std::string origin : {"", "other.example"}) {
    std::string json = BundleJson([&](nlohmann::json& b) {
      auto& proof = b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
      const std::string root = Base64Decode(proof["rootHash"].get<std::string>()).value();
      proof["checkpoint"]["envelope"] = Checkpoint(origin, 3, root, *log_signer_, "log.example");
    });
    EXPECT_THAT(Rejection(json), HasSubstr(origin.empty() ? "checkpoint: the origin line is empty"
                                                          : "checkpoint: origin \"other.example\" is not the log's"));
  }
}

TEST_F(RekorV2Test, ProofForAnotherTreeIsRefused) {
  // The proof claims a tree of 4 whose checkpoint says 3.
  std::string json = BundleJson([](nlohmann::json& b) {
    b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["treeSize"] = "4";
  });
  EXPECT_THAT(Rejection(json), HasSubstr("the checkpoint is for another tree than the inclusion proof"));
  // A checkpoint signed for another tree, which the proof names too: the path does not lead there.
  json = BundleJson([&](nlohmann::json& b) {
    auto& proof = b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
    const std::string other_root = Sha256Raw("another tree");
    proof["rootHash"] = Base64Encode(other_root);
    proof["checkpoint"]["envelope"] = Checkpoint("log.example", 3, other_root, *log_signer_, "log.example");
  });
  EXPECT_THAT(Rejection(json), HasSubstr("the audit path does not lead to the root hash"));
  // Another index than the entry's.
  json = BundleJson([](nlohmann::json& b) {
    b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["logIndex"] = "2";
  });
  EXPECT_THAT(Rejection(json), HasSubstr("the inclusion proof is for another index"));
}

TEST_F(RekorV2Test, EntryRecordingAnotherSignatureIsRefused) {
  body_signature_ = signer_->signer->Sign("something else").value();
  EXPECT_THAT(Rejection(BundleJson()), HasSubstr("the log recorded a different signature"));
}

TEST_F(RekorV2Test, NegativeOrHugeLogIndexesAreRefused) {
  for (const char* index : {"-1", "9223372036854775808", "1e3", ""}) {
    std::string json = BundleJson([&](nlohmann::json& b) { b["verificationMaterial"]["tlogEntries"][0]["logIndex"] = index; });
    EXPECT_THAT(Rejection(json), HasSubstr("tlogEntries[0].logIndex")) << index;
  }
  std::string json = BundleJson([](nlohmann::json& b) {
    b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["logIndex"] = -5;
  });
  EXPECT_THAT(Rejection(json), HasSubstr("inclusionProof.logIndex: must not be negative"));
}

TEST_F(RekorV2Test, UnknownVersionsAndFieldsAndBadBase64AreRefused) {
  EXPECT_THAT(Rejection(BundleJson([](nlohmann::json& b) {
                b["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.4+json";
              })),
              HasSubstr("is not a sigstore bundle media type"));
  EXPECT_THAT(Rejection(BundleJson([](nlohmann::json& b) { b["verificationMaterial"]["surprise"] = 1; })),
              HasSubstr("unknown field \"surprise\""));
  EXPECT_THAT(Rejection(BundleJson([](nlohmann::json& b) { b["messageSignature"]["signature"] = "not*base64"; })),
              HasSubstr("messageSignature.signature: not base64"));
  EXPECT_THAT(Rejection(BundleJson([](nlohmann::json& b) {
                b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0] = Base64Encode("short");
              })),
              HasSubstr("hashes[0]: is not 32 bytes"));
  EXPECT_THAT(Rejection(BundleJson([](nlohmann::json& b) {
                b["verificationMaterial"]["tlogEntries"][0].erase("inclusionProof");
              })),
              HasSubstr("needs an inclusion proof"));
  // The same field by its JSON and .proto names.
  EXPECT_THAT(Rejection(BundleJson([](nlohmann::json& b) { b["media_type"] = b["mediaType"]; })),
              HasSubstr("is given twice"));
}

TEST_F(RekorV2Test, BothSpellingsOfEachMediaTypeParse) {
  for (const char* media_type :
       {"application/vnd.dev.sigstore.bundle.v0.3+json", "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle.v0.2+json", "application/vnd.dev.sigstore.bundle+json;version=0.2"}) {
    absl::StatusOr<Bundle> bundle = ParseBundle(BundleJson([&](nlohmann::json& b) { b["mediaType"] = media_type; }));
    EXPECT_TRUE(bundle.ok()) << media_type << ": " << bundle.status();
  }
  EXPECT_EQ(BundleMinorVersion("application/vnd.dev.sigstore.bundle.v0.1+json"), 1);
  EXPECT_EQ(BundleMinorVersion("application/vnd.dev.sigstore.bundle+json;version=0.4"), 0);
}

TEST_F(RekorV2Test, MessageSignatureForAnotherDigestIsRefused) {
  BundleProducerOptions options;
  options.artifact_digests = {Sha256Digest("another artifact")};
  options.keys = {signer_key_};
  auto produced = ProduceBundleStatements(BundleJson(), options);
  ASSERT_TRUE(produced.ok());
  EXPECT_THAT(produced->rejection, HasSubstr("message signature for another digest"));
}

TEST(InclusionProof, RefusesIndexesOutsideTheTreeAndWrongHashCounts) {
  const std::string leaf = MerkleLeafHash("x");
  EXPECT_TRUE(VerifyInclusionProof(0, 1, leaf, {}, leaf).ok());
  EXPECT_THAT(VerifyInclusionProof(1, 1, leaf, {}, leaf).message(), HasSubstr("is not inside a tree"));
  EXPECT_THAT(VerifyInclusionProof(-1, 1, leaf, {}, leaf).message(), HasSubstr("is not inside a tree"));
  EXPECT_THAT(VerifyInclusionProof(0, 2, leaf, {}, leaf).message(), HasSubstr("fewer hashes"));
  EXPECT_THAT(VerifyInclusionProof(0, 1, leaf, {leaf}, leaf).message(), HasSubstr("more hashes"));
  const std::string other = MerkleLeafHash("y");
  EXPECT_TRUE(VerifyInclusionProof(1, 2, other, {leaf}, Node(leaf, other)).ok());
  EXPECT_THAT(VerifyInclusionProof(0, 2, other, {leaf}, Node(leaf, other)).message(), HasSubstr("does not lead"));
}

TEST(Dsse, PaeIsTheSpecifiedEncoding) {
  EXPECT_EQ(DssePae("application/vnd.in-toto+json", "{}"), "DSSEv1 28 application/vnd.in-toto+json 2 {}");
  EXPECT_EQ(DssePae("", ""), "DSSEv1 0  0 ");
}

TEST(Dsse, EnvelopesAreParsedStrictly) {
  auto envelope = ParseDsseEnvelope(R"({"payloadType":"t","payload":"e30=","signatures":[{"sig":"AQI=","keyid":""}]})");
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->payload, "{}");
  EXPECT_EQ(envelope->signatures[0].sig, "\x01\x02");
  EXPECT_FALSE(ParseDsseEnvelope(R"({"payloadType":"t","payload":"e30=","signatures":[]})").ok());
  EXPECT_FALSE(ParseDsseEnvelope(R"({"payloadType":"t","payload":"e3=0","signatures":[{"sig":"AQI="}]})").ok());
  EXPECT_FALSE(ParseDsseEnvelope(R"({"payloadType":"t","payload":"e30=","signatures":[{"sig":"AQI="}],"x":1})").ok());
  EXPECT_FALSE(ParseDsseEnvelope(R"({"payloadType":"t","payloadType":"u","signatures":[{"sig":"AQI="}]})").ok());
}

TEST(InTotoStatement, ParsesV1AndV01AndFindsSubjects) {
  for (const char* type : {"https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"}) {
    auto statement = ParseInTotoStatement(absl::StrCat(
        R"({"_type":")", type, R"(","subject":[{"name":"a","digest":{"sha256":"ABCD"}}],"predicateType":"p","predicate":{"k":1}})"));
    ASSERT_TRUE(statement.ok()) << statement.status();
    EXPECT_TRUE(StatementHasSubject(*statement, "sha256:abcd"));
    EXPECT_FALSE(StatementHasSubject(*statement, "sha512:abcd"));
    EXPECT_FALSE(StatementHasSubject(*statement, "sha256:abce"));
    EXPECT_EQ(statement->predicate_json, R"({"k":1})");
  }
  EXPECT_FALSE(ParseInTotoStatement(R"({"_type":"https://in-toto.io/Statement/v2","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"p"})").ok());
  EXPECT_FALSE(ParseInTotoStatement(R"({"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"p"})").ok());
  EXPECT_FALSE(ParseInTotoStatement(R"({"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{}}],"predicateType":"p"})").ok());
  EXPECT_FALSE(ParseInTotoStatement(R"({"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}]})").ok());
}

}  // namespace
}  // namespace sigshim::verify
