// Issue 12's governance rules in pkg/policy: policy selection by namespace, thresholds,
// revocation of keys, certificates and image digests, exceptions and enforce_from. Time comes from
// the test, never from the clock.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/policy/evaluation.h"
#include "pkg/policy/governance.h"
#include "pkg/policy/policy.h"
#include "pkg/verify/certificate.h"
#include "test/pkg/policy/test_config.h"
#include "test/pkg/verify/test_ca.h"

namespace sigshim::policy {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kJan1 = absl::FromUnixSeconds(1798761600);   // 2027-01-01T00:00:00Z
const absl::Time kJan31 = absl::FromUnixSeconds(1801353600);  // 2027-01-31T00:00:00Z
const std::string kDigest = Sha256Digest("manifest");
const std::string kIndex = Sha256Digest("index");

reference::Reference Ref(const std::string& text) {
  auto ref = reference::Parse(text);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return *ref;
}

class GovernanceTest : public ::testing::Test {
 protected:
  GovernanceTest() : a_(MakeTestKey()), b_(MakeTestKey(test_signer::KeyType::kEd25519)) {}

  std::string Keys() const { return KeyTable("a", a_.pair.public_pem) + KeyTable("b", b_.pair.public_pem); }

  // Compiles Keys() + `text`, loaded at `now`.
  std::unique_ptr<Policy> Compile(const std::string& text, absl::Time now = kJan1) {
    auto config = config::ParseConfig(Keys() + text, kConfigPath, now);
    EXPECT_TRUE(config.ok()) << config.status() << "\n" << text;
    if (!config.ok()) return nullptr;
    auto policy = Policy::Create(**config);
    EXPECT_TRUE(policy.ok()) << policy.status();
    return policy.ok() ? *std::move(policy) : nullptr;
  }

  static std::string Decides(const Policy& policy, const std::string& image, const std::string& ns) {
    std::optional<Match> match = policy.Find(Ref(image), ns);
    return match.has_value() ? match->rule->name : "(none)";
  }

  verify::Signature Signed(const TestKey& key, const std::string& digest = kDigest,
                           const std::string& reference = "registry.test/team/app") {
    auto layer = test_signer::SignImageLayer(*key.signer, reference, digest);
    EXPECT_TRUE(layer.ok()) << layer.status();
    verify::Signature s;
    s.layer_digest = layer->payload.digest;
    s.media_type = layer->payload.media_type;
    s.payload = layer->payload.bytes;
    s.annotations = layer->annotations;
    return s;
  }

  // Governs a denial (or `verdict`) of `image` in `ns` under `policy` at `now`.
  static Governed GovernAt(const Policy& policy, const std::string& image, const std::string& ns, absl::Time now,
                           Outcome verdict = Outcome::kDeny, std::vector<std::string> digests = {kDigest}) {
    static reference::Reference ref;
    ref = Ref(image);
    GovernanceInput in;
    in.verdict = verdict;
    in.reason = "no signatures: …";
    in.image = &ref;
    in.digests = std::move(digests);
    in.namespace_name = ns;
    std::optional<Match> match = policy.Find(ref, ns);
    in.rule = match.has_value() ? match->rule : nullptr;
    return Govern(policy, in, now);
  }

  TestKey a_;
  TestKey b_;
};

// --- Which policy decides --------------------------------------------------------------------

TEST_F(GovernanceTest, NamespacesFilterBeforeSpecificity) {
  auto policy = Compile(PolicyTable("prod", "\"registry.test/**\"", "\"a\"") + "namespaces = [\"prod\", \"payments-*\"]\n\n" +
                        PolicyTable("team", "\"registry.test/team/**\"", "\"b\"") + "namespaces = [\"team\"]\n\n" +
                        PolicyTable("everyone", "\"registry.test/**\"", "\"b\""));
  ASSERT_NE(policy, nullptr);
  // The more specific "team" glob does not take part outside namespace "team".
  EXPECT_EQ(Decides(*policy, "registry.test/team/app", "team"), "team");
  EXPECT_EQ(Decides(*policy, "registry.test/team/app", "prod"), "prod");
  EXPECT_EQ(Decides(*policy, "registry.test/team/app", "payments-eu"), "prod");
  // Equal specificity: the policy naming namespaces beats the one that does not, though written first.
  EXPECT_EQ(Decides(*policy, "registry.test/x", "prod"), "prod");
  EXPECT_EQ(Decides(*policy, "registry.test/x", "dev"), "everyone");
  EXPECT_EQ(Decides(*policy, "registry.test/team/app", "dev"), "everyone");
  // A call without a namespace is matched only by policies without namespaces.
  EXPECT_EQ(Decides(*policy, "registry.test/team/app", ""), "everyone");
  // Globs are whole-name: "payments-*" does not admit "payments".
  EXPECT_EQ(Decides(*policy, "registry.test/x", "payments"), "everyone");
}

TEST_F(GovernanceTest, ANamespaceLessCallMatchesNothingWhenEveryPolicyNamesNamespaces) {
  auto policy = Compile(PolicyTable("prod", "\"registry.test/**\"", "\"a\"") + "namespaces = [\"prod\"]\n\n");
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(Decides(*policy, "registry.test/app", ""), "(none)");
  EXPECT_EQ(Decides(*policy, "registry.test/app", "dev"), "(none)");
  EXPECT_EQ(Decides(*policy, "registry.test/app", "prod"), "prod");
}

TEST_F(GovernanceTest, AtEqualSpecificityAndNamespacesFileOrderDecides) {
  auto policy = Compile(PolicyTable("first", "\"registry.test/*\"", "\"a\"") + "namespaces = [\"p*\"]\n\n" +
                        PolicyTable("second", "\"registry.test/*\"", "\"b\"") + "namespaces = [\"prod\"]\n\n");
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(Decides(*policy, "registry.test/app", "prod"), "first");
  EXPECT_EQ(Decides(*policy, "registry.test/app", "pre"), "first");
}

TEST_F(GovernanceTest, InvalidNamespaceGlobsAreRefusedWithFileAndLine) {
  for (const char* bad : {"\"Prod\"", "\"prod/x\"", "\"**\"", "\"a_b\""}) {
    const std::string before = Keys();
    const int line = static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1;
    auto config = config::ParseConfig(
        before + PolicyTable("p", "\"registry.test/**\"", "\"a\"") + "namespaces = [" + bad + "]\n", kConfigPath, kJan1);
    ASSERT_TRUE(config.ok()) << config.status();
    auto policy = Policy::Create(**config);
    ASSERT_FALSE(policy.ok()) << bad;
    EXPECT_THAT(std::string(policy.status().message()),
                HasSubstr(absl::StrCat("config.toml:", line, ": [[policy]] \"p\": namespaces[0]: namespace glob")));
  }
}

TEST_F(GovernanceTest, DescribePrintsOrderNamespacesThresholdDatesExceptionsAndRevocation) {
  const std::string fingerprint_a = Compile("")->keys()[0].key->Fingerprint();
  auto policy = Compile(PolicyTable("prod", "\"registry.test/**\"", "\"a\", \"b\"") +
                        "namespaces = [\"prod\"]\nthreshold = 2\nenforce_from = 2027-03-01T00:00:00Z\n\n" +
                        PolicyTable("any", "\"registry.test/**\"", "\"a\"") +
                        "[[exceptions]]\nname = \"vendor-x\"\nimages = [\"vendor.test/x/**\"]\nnamespaces = [\"vendor-x\"]\n"
                        "reason = \"SEC-1234\"\nowner = \"sec@acme.test\"\nexpires = 2027-01-31T00:00:00Z\n"
                        "[revocation]\nkeys = [\"" + fingerprint_a + "\"]\nimages = [\"" + kDigest + "\"]\n");
  ASSERT_NE(policy, nullptr);
  const std::string text = policy->Describe(kJan1 + absl::Hours(36) + absl::Minutes(5));
  const size_t prod = text.find("1. registry.test/**  →  policy \"prod\"");
  const size_t any = text.find("2. registry.test/**  →  policy \"any\"");
  ASSERT_NE(prod, std::string::npos) << text;
  ASSERT_NE(any, std::string::npos) << text;
  EXPECT_LT(prod, any);
  EXPECT_THAT(text.substr(prod, any - prod), HasSubstr("namespaces: \"prod\""));
  EXPECT_THAT(text.substr(prod, any - prod), HasSubstr("threshold: 2 of 2"));
  EXPECT_THAT(text.substr(prod, any - prod),
              HasSubstr("enforce_from: 2027-03-01T00:00:00Z  (not yet: refusals are audited, not enforced)"));
  EXPECT_THAT(text.substr(any), HasSubstr("namespaces: every namespace, and calls without one"));
  EXPECT_THAT(text, HasSubstr("vendor-x  (/etc/sigshim/config.toml:"));
  EXPECT_THAT(text, HasSubstr("owner sec@acme.test"));
  EXPECT_THAT(text, HasSubstr("reason: SEC-1234"));
  EXPECT_THAT(text, HasSubstr("expires 2027-01-31T00:00:00Z  (28d 11h 55m left)"));
  // The key's fingerprint is printed exactly as [revocation] keys takes it.
  EXPECT_THAT(text, HasSubstr(absl::StrCat("a  ecdsa-p256-sha256  ", fingerprint_a)));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("    ", fingerprint_a, "  ([[keys]] \"a\")")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("  images:\n    ", kDigest)));
  EXPECT_THAT(policy->Describe(kJan31), HasSubstr("(EXPIRED: no longer applies)"));
}

// --- Threshold --------------------------------------------------------------------------------

TEST_F(GovernanceTest, ThresholdCountsDistinctRequiredSigners) {
  auto policy = Compile(PolicyTable("two", "\"registry.test/**\"", "\"a\", \"b\"") + "threshold = 2\n");
  ASSERT_NE(policy, nullptr);
  const Rule& rule = policy->rules()[0];
  const Target target{kDigest, Ref("registry.test/team/app:v1")};

  // One identity signing twice counts once.
  RuleEvaluation twice = EvaluateSignatures(rule, target, {Signed(a_), Signed(a_)}, kJan1);
  EXPECT_FALSE(twice.Satisfied());
  EXPECT_EQ(twice.DistinctCounted(), 1);
  EXPECT_EQ(twice.CountsUntil(), absl::InfinitePast());
  EXPECT_THAT(twice.Explain(), HasSubstr("1 of 2 required signers counted (\"a\"); policy \"two\" needs 2 of a, b"));

  RuleEvaluation both = EvaluateSignatures(rule, target, {Signed(a_), Signed(b_)}, kJan1);
  EXPECT_TRUE(both.Satisfied());
  EXPECT_EQ(both.Identities(), "a,b");
  EXPECT_THAT(both.Explain(), HasSubstr("signed by \"a\""));
  EXPECT_THAT(both.Explain(), HasSubstr("signed by \"b\""));

  // A short reason names the others' rejections too.
  RuleEvaluation other = EvaluateSignatures(rule, target, {Signed(a_), Signed(b_, Sha256Digest("x"))}, kJan1);
  EXPECT_FALSE(other.Satisfied());
  EXPECT_THAT(other.Explain(), HasSubstr("1 of 2 required signers counted"));
  EXPECT_THAT(other.Explain(), HasSubstr("payload is for"));
}

TEST_F(GovernanceTest, ThresholdAboveDistinctRequireIsAStartUpError) {
  const std::string before = Keys() + PolicyTable("p", "\"registry.test/**\"", "\"a\", \"b\"");
  const int line = static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1;
  auto config = config::ParseConfig(before + "threshold = 3\n", kConfigPath, kJan1);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr(absl::StrCat("config.toml:", line,
                                     ": policy \"p\": threshold = 3, but it must be from 1 to the 2 distinct entries")));
}

TEST_F(GovernanceTest, ThresholdApprovalLastsUntilTheKthSignerLapses) {
  auto policy = Compile(absl::StrCat("[[keys]]\nname = \"c\"\ndata = \"\"\"\n", MakeTestKey().pair.public_pem,
                                     "\"\"\"\nnot_after = 2027-06-01T00:00:00Z\n\n") +
                        PolicyTable("two", "\"registry.test/**\"", "\"a\", \"b\"") + "threshold = 2\n");
  ASSERT_NE(policy, nullptr);
  // Windows without a proven time: a and b are always valid (InfiniteFuture), so 2-of-2 counts forever.
  RuleEvaluation e = EvaluateSignatures(policy->rules()[0], Target{kDigest, Ref("registry.test/team/app:v1")},
                                        {Signed(a_), Signed(b_)}, kJan1);
  EXPECT_EQ(e.CountsUntil(), absl::InfiniteFuture());
}

// --- Revocation -------------------------------------------------------------------------------

TEST_F(GovernanceTest, ARevokedKeyCountsForNothing) {
  const std::string fingerprint_a = Compile("")->keys()[0].key->Fingerprint();
  auto policy = Compile(PolicyTable("p", "\"registry.test/**\"", "\"a\", \"b\"") + "[revocation]\nkeys = [\"" +
                        fingerprint_a + "\"]\n");
  ASSERT_NE(policy, nullptr);
  const Target target{kDigest, Ref("registry.test/team/app:v1")};
  RuleEvaluation revoked = EvaluateSignatures(policy->rules()[0], target, {Signed(a_)}, kJan1);
  EXPECT_FALSE(revoked.Satisfied());
  ASSERT_EQ(revoked.rejections().size(), 1u);
  EXPECT_THAT(revoked.rejections()[0], HasSubstr(absl::StrCat("key ", fingerprint_a, " is revoked ([revocation] keys)")));
  // The other required key still counts.
  EXPECT_TRUE(EvaluateSignatures(policy->rules()[0], target, {Signed(a_), Signed(b_)}, kJan1).Satisfied());
}

TEST_F(GovernanceTest, ACertificateRevokedAnywhereInItsVerifiedChainCountsForNothing) {
  const verify::test_ca::Issued root = verify::test_ca::MakeRoot("revoked root");
  const verify::test_ca::Issued leaf = verify::test_ca::MakeLeaf({.common_name = "leaf", .sans = "email:a@b.test"}, root);
  auto certificate = verify::ParseCertificateDer(leaf.der);
  ASSERT_TRUE(certificate.ok()) << certificate.status();
  verify::ProducedStatements produced;
  verify::SignedStatement& statement = produced.statements.emplace_back();
  statement.subject_digest = kDigest;
  statement.signer = verify::CertificateSigner{*certificate, "corp", {leaf.der, root.der}, {}};
  statement.artifact.docker_reference = "registry.test/team/app";
  const Target target{kDigest, Ref("registry.test/team/app:v1")};

  for (const std::string& revoked : {Sha256Digest(root.der), Sha256Digest(leaf.der)}) {
    auto policy = Compile(PolicyTable("p", "\"registry.test/**\"", "\"a\"") + "[revocation]\ncertificates = [\"" +
                          revoked + "\"]\n");
    ASSERT_NE(policy, nullptr);
    RuleEvaluation e(policy->rules()[0], target, kJan1);
    e.AddProduced("signature 1", produced);
    ASSERT_EQ(e.rejections().size(), 1u);
    EXPECT_THAT(e.rejections()[0], HasSubstr(absl::StrCat("certificate ", revoked)));
    EXPECT_THAT(e.rejections()[0], HasSubstr("is revoked ([revocation] certificates)"));
  }
  // Not revoked: judged as usual (here: no identity of that trust root is required).
  auto policy = Compile(PolicyTable("p", "\"registry.test/**\"", "\"a\""));
  RuleEvaluation e(policy->rules()[0], target, kJan1);
  e.AddProduced("signature 1", produced);
  ASSERT_EQ(e.rejections().size(), 1u);
  EXPECT_THAT(e.rejections()[0], Not(HasSubstr("revoked")));
}

TEST_F(GovernanceTest, ARevokedDigestIsDeniedWhateverSignsOrExceptsIt) {
  auto policy = Compile(PolicyTable("p", "\"registry.test/**\"", "\"a\"") +
                        "enforce_from = 2099-01-01T00:00:00Z\n"
                        "[[exceptions]]\nname = \"all\"\nimages = [\"registry.test/**\"]\nreason = \"r\"\nowner = \"o\"\n"
                        "expires = 2027-01-31T00:00:00Z\n"
                        "[revocation]\nimages = [\"" + kIndex + "\"]\n");
  ASSERT_NE(policy, nullptr);
  for (Outcome verdict : {Outcome::kAllow, Outcome::kDeny}) {
    // The index a platform manifest was admitted through counts as the image.
    Governed g = GovernAt(*policy, "registry.test/app:v1", "", kJan1, verdict, {kDigest, kIndex});
    EXPECT_EQ(g.verdict, Outcome::kDeny);
    EXPECT_FALSE(g.allowed);
    EXPECT_TRUE(g.enforced);  // neither the exception nor enforce_from lets it through
    EXPECT_EQ(g.exception, nullptr);
    EXPECT_EQ(g.reason, absl::StrCat("image ", kIndex, " is revoked ([revocation] images)"));
  }
  // Another digest of the same repository is excepted as usual.
  EXPECT_TRUE(GovernAt(*policy, "registry.test/app:v1", "", kJan1).allowed);
}

// --- Exceptions and enforce_from -------------------------------------------------------------

TEST_F(GovernanceTest, AnExceptionAdmitsARefusedImageUntilItsExpiryInstant) {
  auto policy = Compile(PolicyTable("p", "\"registry.test/**\"", "\"a\"") +
                        "[[exceptions]]\nname = \"vendor-x\"\nimages = [\"registry.test/vendor/**\"]\n"
                        "namespaces = [\"vendor-x\"]\nreason = \"SEC-1234\"\nowner = \"sec@acme.test\"\n"
                        "expires = 2027-01-31T00:00:00Z\n");
  ASSERT_NE(policy, nullptr);
  Governed g = GovernAt(*policy, "registry.test/vendor/x:1", "vendor-x", kJan31 - absl::Nanoseconds(1));
  EXPECT_TRUE(g.allowed);
  EXPECT_TRUE(g.enforced);
  EXPECT_EQ(g.verdict, Outcome::kAllow);
  ASSERT_NE(g.exception, nullptr);
  EXPECT_EQ(g.exception->name, "vendor-x");
  EXPECT_EQ(g.reason, "exception \"vendor-x\" (owner sec@acme.test, expires 2027-01-31T00:00:00Z: SEC-1234); "
                      "otherwise refused: no signatures: …");
  // The same policy, the next call, at the instant of expiry: refused, without a reload.
  Governed expired = GovernAt(*policy, "registry.test/vendor/x:1", "vendor-x", kJan31);
  EXPECT_FALSE(expired.allowed);
  EXPECT_EQ(expired.exception, nullptr);
  EXPECT_EQ(expired.reason, "no signatures: …");
  // Other namespaces, calls without one and other images are not covered.
  EXPECT_FALSE(GovernAt(*policy, "registry.test/vendor/x:1", "prod", kJan1).allowed);
  EXPECT_FALSE(GovernAt(*policy, "registry.test/vendor/x:1", "", kJan1).allowed);
  EXPECT_FALSE(GovernAt(*policy, "registry.test/other:1", "vendor-x", kJan1).allowed);
}

TEST_F(GovernanceTest, AnExceptionCoversUnmatchedDenialsButNeverErrors) {
  auto policy = Compile("[[exceptions]]\nname = \"e\"\nimages = [\"elsewhere.test/**\"]\nreason = \"r\"\nowner = \"o\"\n"
                        "expires = 2027-01-31T00:00:00Z\n");
  ASSERT_NE(policy, nullptr);
  Governed unmatched = GovernAt(*policy, "elsewhere.test/app:1", "any", kJan1);
  EXPECT_TRUE(unmatched.allowed);
  ASSERT_NE(unmatched.exception, nullptr);
  Governed error = GovernAt(*policy, "elsewhere.test/app:1", "any", kJan1, Outcome::kError);
  EXPECT_FALSE(error.allowed);
  EXPECT_EQ(error.verdict, Outcome::kError);
  EXPECT_EQ(error.exception, nullptr);
}

TEST_F(GovernanceTest, EnforceFromAuditsBeforeAndEnforcesFromItsInstant) {
  auto policy = Compile(PolicyTable("p", "\"registry.test/**\"", "\"a\"") + "enforce_from = 2027-01-31T00:00:00Z\n");
  ASSERT_NE(policy, nullptr);
  Governed before = GovernAt(*policy, "registry.test/app:1", "", kJan31 - absl::Nanoseconds(1));
  EXPECT_TRUE(before.allowed);
  EXPECT_FALSE(before.enforced);
  EXPECT_EQ(before.verdict, Outcome::kDeny);
  EXPECT_THAT(before.reason, HasSubstr("(not enforced: policy \"p\" enforces from 2027-01-31T00:00:00Z)"));
  Governed from = GovernAt(*policy, "registry.test/app:1", "", kJan31);
  EXPECT_FALSE(from.allowed);
  EXPECT_TRUE(from.enforced);
  // Errors are refused before the date too.
  EXPECT_FALSE(GovernAt(*policy, "registry.test/app:1", "", kJan1, Outcome::kError).allowed);
}

TEST_F(GovernanceTest, AuditModeLetsDenialsThroughButNotErrorsOrRevokedDigests) {
  auto policy = Compile("[enforcement]\nmode = \"audit\"\n" + PolicyTable("p", "\"registry.test/**\"", "\"a\"") +
                        "[revocation]\nimages = [\"" + kIndex + "\"]\n");
  ASSERT_NE(policy, nullptr);
  Governed denied = GovernAt(*policy, "registry.test/app:1", "", kJan1);
  EXPECT_TRUE(denied.allowed);
  EXPECT_FALSE(denied.enforced);
  EXPECT_FALSE(GovernAt(*policy, "registry.test/app:1", "", kJan1, Outcome::kError).allowed);
  EXPECT_FALSE(GovernAt(*policy, "registry.test/app:1", "", kJan1, Outcome::kAllow, {kIndex}).allowed);
}

TEST_F(GovernanceTest, GovernDecisionFillsTheExceptionFieldsAndDropsEvidence) {
  auto policy = Compile("[[exceptions]]\nname = \"e\"\nimages = [\"registry.test/**\"]\nreason = \"r\"\nowner = \"o\"\n"
                        "expires = 2027-01-31T00:00:00Z\n");
  ASSERT_NE(policy, nullptr);
  const reference::Reference ref = Ref("registry.test/app:1");
  Decision d;
  d.verdict = Outcome::kDeny;
  d.reason = "no signatures";
  d.digest = kDigest;
  d.namespace_name = "ns";
  GovernDecision(*policy, nullptr, &ref, kJan1, d);
  EXPECT_EQ(d.outcome, Outcome::kAllow);
  EXPECT_EQ(d.verdict, Outcome::kAllow);
  EXPECT_TRUE(d.enforced);
  EXPECT_EQ(d.source, "exception");
  EXPECT_EQ(d.exception, "e");
  EXPECT_EQ(d.exception_owner, "o");
  EXPECT_EQ(d.exception_expires, kJan31);
  EXPECT_EQ(d.excepted_refusal, "no signatures");  // what the exception overrode, for the daemon to remember
  EXPECT_THAT(d.evidence, IsEmpty());
}

}  // namespace
}  // namespace sigshim::policy
