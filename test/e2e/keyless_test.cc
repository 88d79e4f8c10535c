// Certificate identities end to end: images in a real docker-registry signed in the cosign format
// by an independent implementation — sigstore-js with a mock Fulcio, Rekor and TSA on 127.0.0.1
// (test/testbed/sigstore_mock.h) — and decided by the real sigshim binary's `sigshim verify`, one
// identity case per test (keyless_node_test.cc takes the node path, through a real containerd).
//
// One registry, one mock and one busybox image serve the whole suite; each test uses its own
// repositories and config files.
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/verify/simple_signing.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/signer/signer.h"
#include "test/testbed/images.h"
#include "test/testbed/registry.h"
#include "test/testbed/sigstore_mock.h"
#include "test/testbed/temp_dir.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::testing::HasSubstr;
using testbed::KeylessSignOptions;
using testbed::SigstoreAuthority;

constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
constexpr char kSubject[] = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";

using Result = CommandRun;

// Runs the sigshim binary with `args` and returns its exit code and output.
Result Sigshim(const std::vector<std::string>& args) { return RunSigshimCommand(SIGSHIM_BINARY, args); }

std::string Describe(const Result& run) { return DescribeRun(run); }

KeylessSignOptions Release() {
  KeylessSignOptions options;
  options.issuer = kIssuer;
  options.subject = kSubject;
  options.claims = {{"repository", "acme/app"}, {"ref", "refs/heads/main"}, {"runner_environment", "github-hosted"}};
  return options;
}

class KeylessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = testbed::TempDir::Create("sigshim-keyless");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = dir->release();
    testbed::SigstoreMockOptions mock_options;
    mock_options.dir = dir_->Path("sigstore");
    auto mock = testbed::SigstoreMock::Start(mock_options);
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = mock->release();
    testbed::RegistryOptions options;
    options.dir = dir_->Path("registry");
    auto registry = testbed::Registry::Create(options);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    testbed::BusyboxImageOptions image;
    image.layout_dir = dir_->Path("oci");
    image.tag = "a";
    image.marker = "a";
    auto built = testbed::BuildBusyboxImage(image);
    ASSERT_TRUE(built.ok()) << built.status();
    image_ = new testbed::OciImage(*built);
  }

  static void TearDownTestSuite() {
    delete image_;
    delete registry_;
    delete mock_;
    delete dir_;
    image_ = nullptr;
    registry_ = nullptr;
    mock_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(mock_, nullptr) << "the sigstore mock did not start";
    ASSERT_NE(registry_, nullptr) << "the registry did not start";
    ASSERT_NE(image_, nullptr);
  }

  static std::string Repo(const std::string& repository) {
    return absl::StrCat(registry_->host_port(), "/", repository);
  }

  // Pushes the image as repository:v1 and, unless `sign` is null, a keyless signature of it made
  // with `*sign`. Returns the manifest digest.
  static std::string PushSigned(const std::string& repository, const KeylessSignOptions* sign) {
    auto digest = testbed::PushImage(*image_, *registry_, repository, "v1");
    EXPECT_TRUE(digest.ok()) << digest.status();
    if (!digest.ok() || sign == nullptr) return digest.ok() ? *digest : "";
    auto payload = verify::BuildSimpleSigningPayload(Repo(repository), *digest);
    EXPECT_TRUE(payload.ok()) << payload.status();
    auto signature = mock_->Sign(*payload, *sign);
    EXPECT_TRUE(signature.ok()) << signature.status();
    if (!signature.ok()) return *digest;
    std::vector<test_signer::SignatureLayer> layers;
    layers.push_back(test_signer::LayerWithAnnotations(*payload, signature->annotations));
    auto artifact = test_signer::BuildSignatureArtifact(*digest, std::move(layers));
    EXPECT_TRUE(artifact.ok()) << artifact.status();
    if (!artifact.ok()) return *digest;
    for (const test_signer::SignatureLayer& layer : artifact->layers) {
      EXPECT_TRUE(registry_->PushBlob(repository, layer.payload.bytes).ok());
    }
    EXPECT_TRUE(registry_->PushBlob(repository, artifact->config.bytes).ok());
    EXPECT_TRUE(registry_->PushManifest(repository, artifact->tag, artifact->manifest.media_type,
                                        artifact->manifest.bytes)
                    .ok());
    return *digest;
  }

  // Writes a config whose policy "e2e" requires `identity_toml`'s identity (named "ci") for every
  // image of the registry, with the mock's trusted root as trust root "sigstore" (`root_extra`
  // appended to that table); returns its path.
  static std::string WriteConfig(const std::string& name, const std::string& identity_toml,
                                 const std::string& root_extra = "") {
    const std::string text = absl::StrCat(
        "[registry]\ninsecure = [\"", registry_->host_port(), "\"]\ntimeout = \"5s\"\n\n",
        "[[trust_roots]]\nname = \"sigstore\"\ntrusted_root = \"", mock_->trusted_root_path(), "\"\n", root_extra,
        "\n[[identities]]\nname = \"ci\"\ntrust_root = \"sigstore\"\n", identity_toml,
        "\n[[policy]]\nname = \"e2e\"\nimages = [\"", registry_->host_port(), "/keyless/**\"]\nrequire = [\"ci\"]\n");
    const std::string path = dir_->Path(name);
    std::ofstream(path) << text;
    return path;
  }

  static std::string ExactIdentity() {
    return absl::StrCat("issuer = \"", kIssuer, "\"\nsubject = \"", kSubject, "\"\n");
  }

  static testbed::TempDir* dir_;
  static testbed::SigstoreMock* mock_;
  static testbed::Registry* registry_;
  static testbed::OciImage* image_;
};
testbed::TempDir* KeylessTest::dir_ = nullptr;
testbed::SigstoreMock* KeylessTest::mock_ = nullptr;
testbed::Registry* KeylessTest::registry_ = nullptr;
testbed::OciImage* KeylessTest::image_ = nullptr;

TEST_F(KeylessTest, ExactIdentityWithALogEntryIsAllowedAndNamesWhoSignedAndWhen) {
  const KeylessSignOptions sign = Release();
  const std::string digest = PushSigned("keyless/exact", &sign);
  const std::string config = WriteConfig("exact.toml", ExactIdentity());
  Result run = Sigshim({"verify", "--config", config, Repo("keyless/exact:v1")});
  EXPECT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   allow\n"));
  EXPECT_THAT(run.output, HasSubstr("identity:   ci"));
  EXPECT_THAT(run.output, HasSubstr(kSubject));
  EXPECT_THAT(run.output, HasSubstr("(tlog)"));
}

TEST_F(KeylessTest, AnchoredRegexAndClaimsAllow) {
  const KeylessSignOptions sign = Release();
  PushSigned("keyless/regex", &sign);
  const std::string identity = absl::StrCat(
      "issuer_regex = 'https://token\\.actions\\.githubusercontent\\.com'\n",
      "subject_regex = 'https://github\\.com/acme/app/\\.github/workflows/[a-z]+\\.yml@refs/heads/main'\n",
      "[identities.claims]\nsource_repository_uri = \"https://github.com/acme/app\"\n",
      "source_repository_ref = \"refs/heads/main\"\nrunner_environment = \"github-hosted\"\n");
  Result run = Sigshim({"verify", "--config", WriteConfig("regex.toml", identity), Repo("keyless/regex:v1")});
  EXPECT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   allow\n"));
}

TEST_F(KeylessTest, AnotherSubjectIsDenied) {
  KeylessSignOptions sign = Release();
  sign.subject = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/dev";
  PushSigned("keyless/subject", &sign);
  Result run = Sigshim({"verify", "--config", WriteConfig("subject.toml", ExactIdentity()), Repo("keyless/subject:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
  EXPECT_THAT(run.output, HasSubstr("refs/heads/dev"));
}

TEST_F(KeylessTest, ASubjectRegexMatchingOnlyASubstringIsDenied) {
  KeylessSignOptions sign = Release();
  sign.subject = "https://evil.example/https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
  PushSigned("keyless/substring", &sign);
  const std::string identity = absl::StrCat(
      "issuer = \"", kIssuer, "\"\n",
      "subject_regex = 'https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/heads/main'\n");
  Result run =
      Sigshim({"verify", "--config", WriteConfig("substring.toml", identity), Repo("keyless/substring:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
}

TEST_F(KeylessTest, AnotherIssuerIsDenied) {
  KeylessSignOptions sign = Release();
  sign.issuer = "https://accounts.google.com";
  PushSigned("keyless/issuer", &sign);
  Result run = Sigshim({"verify", "--config", WriteConfig("issuer.toml", ExactIdentity()), Repo("keyless/issuer:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
  EXPECT_THAT(run.output, HasSubstr("https://accounts.google.com"));
}

TEST_F(KeylessTest, AClaimThatDiffersIsDenied) {
  KeylessSignOptions sign = Release();
  sign.claims["runner_environment"] = "self-hosted";
  PushSigned("keyless/claim", &sign);
  const std::string identity =
      absl::StrCat(ExactIdentity(), "[identities.claims]\nrunner_environment = \"github-hosted\"\n");
  Result run = Sigshim({"verify", "--config", WriteConfig("claim.toml", identity), Repo("keyless/claim:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
  EXPECT_THAT(run.output, HasSubstr("runner_environment"));
  EXPECT_THAT(run.output, HasSubstr("self-hosted"));
}

TEST_F(KeylessTest, ACertificateFromAnUntrustedAuthorityIsDenied) {
  KeylessSignOptions sign = Release();
  sign.fulcio = SigstoreAuthority::kOther;  // logged in the trusted log all the same
  PushSigned("keyless/other-ca", &sign);
  Result run =
      Sigshim({"verify", "--config", WriteConfig("other-ca.toml", ExactIdentity()), Repo("keyless/other-ca:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
  EXPECT_THAT(run.output, HasSubstr("certificate chain"));
}

TEST_F(KeylessTest, AnExpiredCertificateWithoutTimeEvidenceIsDenied) {
  KeylessSignOptions sign = Release();
  sign.fulcio_clock_offset = absl::Hours(-1);  // valid for 10 minutes, an hour ago
  sign.rekor = SigstoreAuthority::kNone;
  PushSigned("keyless/expired", &sign);
  // Even with the log requirement lifted, nothing proves the signature was made while the
  // certificate was valid.
  const std::string config = WriteConfig("expired.toml", ExactIdentity(), "require_transparency_log = false\n");
  Result run = Sigshim({"verify", "--config", config, Repo("keyless/expired:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
  EXPECT_THAT(run.output, HasSubstr("no proven signing time"));
}

TEST_F(KeylessTest, AnExpiredCertificateIsAllowedWhenTheLogProvesItSignedInTime) {
  KeylessSignOptions sign = Release();
  sign.fulcio_clock_offset = absl::Hours(-1);
  sign.rekor_clock_offset = absl::Hours(-1) + absl::Seconds(30);
  PushSigned("keyless/expired-logged", &sign);
  Result run = Sigshim(
      {"verify", "--config", WriteConfig("expired-logged.toml", ExactIdentity()), Repo("keyless/expired-logged:v1")});
  EXPECT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   allow\n"));
  EXPECT_THAT(run.output, HasSubstr("(tlog)"));
}

TEST_F(KeylessTest, ATimestampAloneIsNotEnoughWhereTheTrustRootListsLogs) {
  KeylessSignOptions sign = Release();
  sign.rekor = SigstoreAuthority::kNone;
  sign.tsa = SigstoreAuthority::kMain;
  PushSigned("keyless/tsa-only", &sign);
  Result strict =
      Sigshim({"verify", "--config", WriteConfig("tsa-strict.toml", ExactIdentity()), Repo("keyless/tsa-only:v1")});
  EXPECT_EQ(strict.exit_code, 1) << Describe(strict);
  EXPECT_THAT(strict.output, HasSubstr("requires a transparency-log entry"));
  Result lifted = Sigshim({"verify", "--config",
                           WriteConfig("tsa-lifted.toml", ExactIdentity(), "require_transparency_log = false\n"),
                           Repo("keyless/tsa-only:v1")});
  EXPECT_EQ(lifted.exit_code, 0) << Describe(lifted);
  EXPECT_THAT(lifted.output, HasSubstr("(timestamp)"));
}

TEST_F(KeylessTest, ALogEntryFromAnUntrustedLogDoesNotCount) {
  KeylessSignOptions sign = Release();
  sign.rekor = SigstoreAuthority::kOther;
  PushSigned("keyless/other-log", &sign);
  Result run =
      Sigshim({"verify", "--config", WriteConfig("other-log.toml", ExactIdentity()), Repo("keyless/other-log:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
  EXPECT_THAT(run.output, HasSubstr("Rekor SET"));
}

}  // namespace
}  // namespace sigshim::e2e
