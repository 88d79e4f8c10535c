// `sigshim verify-bundle` against bundles made by an independent implementation: sigstore-js
// (@sigstore/sign) with the mock Fulcio, Rekor and TSA of @sigstore/mock on 127.0.0.1
// (test/testbed/sigstore_mock.h; `make node-deps`). Each case signs, writes the bundle and runs the
// sigshim binary on it: cosign v3-style signatures (a DSSE in-toto statement of predicate type
// https://sigstore.dev/cosign/sign/v1 over an image digest), an SLSA attestation, message
// signatures over a file, with Rekor v1 and a TSA; and the refusals: another identity, another
// digest, a tampered envelope, an untrusted Fulcio, an untrusted log, an altered file, bad usage.
// For the message signature, sigstore-js's own verifier (@sigstore/verify) is asked too and agrees.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "test/e2e/sigshim_process.h"
#include "test/testbed/sigstore_mock.h"
#include "test/testbed/temp_dir.h"

namespace sigshim::e2e {
namespace {

using ::testing::HasSubstr;
using testbed::KeylessSignOptions;
using testbed::SigstoreAuthority;

constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
constexpr char kSubject[] = "https://github.com/sigshim/test/.github/workflows/release.yml@refs/heads/main";
// An image manifest digest the statements are about (any digest will do: nothing is fetched).
const std::string kImageDigest = Sha256Digest("an image manifest");

// Returns an in-toto Statement v1 about `digest` with `predicate_type` and `predicate`.
std::string Statement(const std::string& digest, const std::string& predicate_type,
                      const nlohmann::json& predicate) {
  nlohmann::json statement = {
      {"_type", "https://in-toto.io/Statement/v1"},
      {"subject", {{{"name", "registry.example/app"}, {"digest", {{"sha256", digest.substr(7)}}}}}},
      {"predicateType", predicate_type},
      {"predicate", predicate}};
  return statement.dump();
}

class VerifyBundleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = testbed::TempDir::Create("sigshim-verify-bundle");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = dir->release();
    testbed::SigstoreMockOptions options;
    options.dir = dir_->Path("sigstore");
    auto mock = testbed::SigstoreMock::Start(options);
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = mock->release();
  }

  static void TearDownTestSuite() {
    delete mock_;
    delete dir_;
    mock_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(mock_, nullptr) << "the sigstore mock did not start"; }

  // Writes `contents` to a new file of the suite's folder and returns its path.
  static std::string Write(const std::string& contents) {
    static int n = 0;
    const std::string path = dir_->Path(absl::StrCat("file-", ++n));
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  // Signs `payload` (a DSSE in-toto bundle unless `message`) and returns the bundle's path.
  static std::string SignBundle(const std::string& payload, KeylessSignOptions options, bool message = false) {
    if (!message) options.dsse_payload_type = "application/vnd.in-toto+json";
    auto signature = mock_->Sign(payload, options);
    EXPECT_TRUE(signature.ok()) << signature.status();
    return Write(signature.ok() ? signature->bundle_json : "");
  }

  static CommandRun VerifyBundle(const std::string& bundle, const std::string& artifact,
                                 const std::string& subject = kSubject) {
    return RunSigshimCommand(SIGSHIM_BINARY, {"verify-bundle", "--bundle", bundle, "--trusted-root",
                                              mock_->trusted_root_path(), "--certificate-identity", subject,
                                              "--certificate-oidc-issuer", kIssuer, artifact});
  }

  static testbed::TempDir* dir_;
  static testbed::SigstoreMock* mock_;
};

testbed::TempDir* VerifyBundleTest::dir_ = nullptr;
testbed::SigstoreMock* VerifyBundleTest::mock_ = nullptr;

TEST_F(VerifyBundleTest, CosignSignStatementOverTheDigestVerifies) {
  const std::string bundle =
      SignBundle(Statement(kImageDigest, "https://sigstore.dev/cosign/sign/v1", nlohmann::json::object()), {});
  CommandRun run = VerifyBundle(bundle, kImageDigest);
  EXPECT_EQ(run.exit_code, 0) << DescribeRun(run);
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("verified: signature (https://sigstore.dev/cosign/sign/v1) over ",
                                                 kImageDigest)));
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("URI:", kSubject)));
  EXPECT_THAT(run.output, HasSubstr("(tlog)"));
}

TEST_F(VerifyBundleTest, SlsaAttestationVerifiesAsAnAttestation) {
  const std::string bundle = SignBundle(
      Statement(kImageDigest, "https://slsa.dev/provenance/v1",
                {{"runDetails", {{"builder", {{"id", "https://github.com/sigshim/test/.github/workflows/release.yml"}}}}}}),
      {});
  CommandRun run = VerifyBundle(bundle, kImageDigest);
  EXPECT_EQ(run.exit_code, 0) << DescribeRun(run);
  EXPECT_THAT(run.output, HasSubstr("verified: attestation (https://slsa.dev/provenance/v1)"));
}

TEST_F(VerifyBundleTest, TimestampedBundleVerifies) {
  KeylessSignOptions options;
  options.tsa = SigstoreAuthority::kMain;
  const std::string bundle =
      SignBundle(Statement(kImageDigest, "https://sigstore.dev/cosign/sign/v1", nlohmann::json::object()), options);
  CommandRun run = VerifyBundle(bundle, kImageDigest);
  EXPECT_EQ(run.exit_code, 0) << DescribeRun(run);
}

TEST_F(VerifyBundleTest, MessageSignatureOverAFileVerifiesAndAnAlteredFileDoesNot) {
  const std::string artifact = "the artifact's bytes\n";
  const std::string bundle = SignBundle(artifact, {}, /*message=*/true);
  const std::string file = Write(artifact);
  CommandRun run = VerifyBundle(bundle, file);
  EXPECT_EQ(run.exit_code, 0) << DescribeRun(run);
  // sigstore-js (@sigstore/verify) agrees, on the same bundle, trusted root and identity.
  CommandRun js = RunSigshimCommand(mock_->node(), {mock_->program_dir() + "/verify_bundle.mjs", "--bundle", bundle,
                                                    "--trusted-root", mock_->trusted_root_path(), "--artifact", file,
                                                    "--san", kSubject, "--issuer", kIssuer});
  EXPECT_EQ(js.exit_code, 0) << DescribeRun(js);
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("verified: signature over ", Sha256Digest(artifact))));
  // The digest alone verifies as well.
  run = VerifyBundle(bundle, Sha256Digest(artifact));
  EXPECT_EQ(run.exit_code, 0) << DescribeRun(run);

  const std::string altered = Write("the artifact's bytes, altered\n");
  run = VerifyBundle(bundle, altered);
  EXPECT_EQ(run.exit_code, 1) << DescribeRun(run);
  EXPECT_THAT(run.output, HasSubstr("does not verify with the key of its certificate"));
  js = RunSigshimCommand(mock_->node(), {mock_->program_dir() + "/verify_bundle.mjs", "--bundle", bundle,
                                         "--trusted-root", mock_->trusted_root_path(), "--artifact", altered});
  EXPECT_EQ(js.exit_code, 1) << DescribeRun(js);
}

TEST_F(VerifyBundleTest, AnotherIdentityIsRefused) {
  const std::string bundle =
      SignBundle(Statement(kImageDigest, "https://sigstore.dev/cosign/sign/v1", nlohmann::json::object()), {});
  CommandRun run =
      VerifyBundle(bundle, kImageDigest, "https://github.com/sigshim/test/.github/workflows/nightly.yml@refs/heads/main");
  EXPECT_EQ(run.exit_code, 1) << DescribeRun(run);
  EXPECT_THAT(run.output, HasSubstr("not the identity asked for"));
}

TEST_F(VerifyBundleTest, StatementForAnotherDigestIsRefused) {
  const std::string bundle = SignBundle(
      Statement(Sha256Digest("another manifest"), "https://sigstore.dev/cosign/sign/v1", nlohmann::json::object()), {});
  CommandRun run = VerifyBundle(bundle, kImageDigest);
  EXPECT_EQ(run.exit_code, 1) << DescribeRun(run);
  EXPECT_THAT(run.output, HasSubstr("statement for another digest"));
}

TEST_F(VerifyBundleTest, TamperedEnvelopeIsRefused) {
  KeylessSignOptions options;
  options.dsse_payload_type = "application/vnd.in-toto+json";
  auto signature =
      mock_->Sign(Statement(kImageDigest, "https://sigstore.dev/cosign/sign/v1", nlohmann::json::object()), options);
  ASSERT_TRUE(signature.ok()) << signature.status();
  // The payload now names the same digest under another predicate: signature and log entry no longer match it.
  nlohmann::json bundle = nlohmann::json::parse(signature->bundle_json);
  bundle["dsseEnvelope"]["payload"] = Base64Encode(
      Statement(kImageDigest, "https://sigstore.dev/cosign/sign/v1", {{"tampered", true}}));
  CommandRun run = VerifyBundle(Write(bundle.dump()), kImageDigest);
  EXPECT_EQ(run.exit_code, 1) << DescribeRun(run);
  EXPECT_THAT(run.output, HasSubstr("does not verify with the key of its certificate"));
}

TEST_F(VerifyBundleTest, UntrustedFulcioOrLogIsRefused) {
  KeylessSignOptions other_ca;
  other_ca.fulcio = SigstoreAuthority::kOther;
  CommandRun run = VerifyBundle(
      SignBundle(Statement(kImageDigest, "https://sigstore.dev/cosign/sign/v1", nlohmann::json::object()), other_ca),
      kImageDigest);
  EXPECT_EQ(run.exit_code, 1) << DescribeRun(run);

  KeylessSignOptions other_log;
  other_log.rekor = SigstoreAuthority::kOther;
  run = VerifyBundle(
      SignBundle(Statement(kImageDigest, "https://sigstore.dev/cosign/sign/v1", nlohmann::json::object()), other_log),
      kImageDigest);
  EXPECT_EQ(run.exit_code, 1) << DescribeRun(run);
  EXPECT_THAT(run.output, HasSubstr("requires a transparency-log entry"));
}

TEST_F(VerifyBundleTest, BadUsageExitsTwo) {
  CommandRun run = RunSigshimCommand(SIGSHIM_BINARY, {"verify-bundle", "--bundle", "b.json", "--trusted-root",
                                                      mock_->trusted_root_path(), kImageDigest});
  EXPECT_EQ(run.exit_code, 2) << DescribeRun(run);
  EXPECT_THAT(run.output, HasSubstr("--key PEM_FILE, is required"));
  run = RunSigshimCommand(SIGSHIM_BINARY, {"verify-bundle", "--bundle", "b.json", "--trusted-root",
                                           mock_->trusted_root_path(), "--certificate-identity", kSubject,
                                           "--certificate-oidc-issuer", kIssuer, "sha256:12"});
  EXPECT_EQ(run.exit_code, 2) << DescribeRun(run);
}

}  // namespace
}  // namespace sigshim::e2e
