// `sigshim verify` against a real docker-registry: images built with umoci, pushed with skopeo,
// signed in the cosign format by test/signer, and decided by the real sigshim binary run as a
// subprocess (exit 0 allowed, 1 denied, 2 error). Covers every key type, unsigned images, the
// wrong key, a replayed signature, forged payloads, a stopped registry and bad configs.
//
// One registry and two busybox images (A and B, different digests) serve the whole suite; each
// test uses its own repositories and config files.
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/config/config.h"
#include "pkg/policy/image_verifier.h"
#include "pkg/policy/policy.h"
#include "pkg/registry/registry_client.h"
#include "pkg/verify/public_key.h"
#include "test/e2e/sigshim_process.h"
#include "test/signer/signer.h"
#include "test/testbed/images.h"
#include "test/testbed/registry.h"
#include "test/testbed/temp_dir.h"

namespace sigshim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using test_signer::KeyType;

using Result = CommandRun;

// Runs the sigshim binary with `args` and returns its exit code and output.
Result Sigshim(const std::vector<std::string>& args) { return RunSigshimCommand(SIGSHIM_BINARY, args); }

std::string Describe(const Result& run) { return DescribeRun(run); }

struct Key {
  std::string name;
  test_signer::KeyPair pair;
  std::unique_ptr<test_signer::Signer> signer;
};

Key MakeKey(const std::string& name, KeyType type) {
  Key key;
  key.name = name;
  auto generated = test_signer::GenerateSigningKey(type);
  EXPECT_TRUE(generated.ok()) << generated.status();
  if (!generated.ok()) return key;
  key.pair = generated->pair;
  key.signer = std::move(generated->signer);
  return key;
}

class VerifyRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = testbed::TempDir::Create("sigshim-vr");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = dir->release();
    testbed::RegistryOptions options;
    options.dir = dir_->Path("registry");
    auto registry = testbed::Registry::Create(options);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = registry->release();
    for (const char* marker : {"a", "b"}) {
      testbed::BusyboxImageOptions image;
      image.layout_dir = dir_->Path("oci");
      image.tag = marker;
      image.marker = marker;
      auto built = testbed::BuildBusyboxImage(image);
      ASSERT_TRUE(built.ok()) << built.status();
      (marker[0] == 'a' ? image_a_ : image_b_) = new testbed::OciImage(*built);
    }
    ASSERT_NE(image_a_->manifest_digest, image_b_->manifest_digest);
  }

  static void TearDownTestSuite() {
    delete image_a_;
    delete image_b_;
    delete registry_;  // stops the registry
    delete dir_;
    image_a_ = image_b_ = nullptr;
    registry_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(registry_, nullptr) << "the registry did not start"; }

  // Returns "127.0.0.1:<port>/<repository>".
  static std::string Repo(const std::string& repository, const testbed::Registry* registry = nullptr) {
    return absl::StrCat((registry == nullptr ? registry_ : registry)->host_port(), "/", repository);
  }

  // Pushes `image` as repository:tag; returns its digest.
  static std::string Push(const testbed::OciImage& image, const std::string& repository, const std::string& tag,
                          const testbed::Registry* registry = nullptr) {
    auto digest = testbed::PushImage(image, registry == nullptr ? *registry_ : *registry, repository, tag);
    EXPECT_TRUE(digest.ok()) << digest.status();
    return digest.ok() ? *digest : "";
  }

  // Pushes the payload and config blobs of `artifact`, then its manifest under its tag (or `tag`).
  static void PushSignatures(const std::string& repository, const test_signer::SignatureArtifact& artifact,
                             const std::string& tag = "", const testbed::Registry* registry = nullptr) {
    const testbed::Registry& target = registry == nullptr ? *registry_ : *registry;
    for (const test_signer::SignatureLayer& layer : artifact.layers) {
      auto pushed = target.PushBlob(repository, layer.payload.bytes);
      ASSERT_TRUE(pushed.ok()) << pushed.status();
    }
    auto config = target.PushBlob(repository, artifact.config.bytes);
    ASSERT_TRUE(config.ok()) << config.status();
    auto manifest = target.PushManifest(repository, tag.empty() ? artifact.tag : tag, artifact.manifest.media_type,
                                            artifact.manifest.bytes);
    ASSERT_TRUE(manifest.ok()) << manifest.status();
  }

  // Signs `digest` for Repo(repository) with `key` and pushes the signature.
  static test_signer::SignatureArtifact Sign(const Key& key, const std::string& repository, const std::string& digest) {
    auto artifact = test_signer::SignImage(*key.signer, Repo(repository), digest);
    EXPECT_TRUE(artifact.ok()) << artifact.status();
    PushSignatures(repository, *artifact);
    return *artifact;
  }

  // Writes a config trusting `keys` for every image of this registry under e2e/, plus `extra`
  // TOML at the top; returns its path.
  static std::string WriteConfig(const std::string& name, const std::vector<const Key*>& keys,
                                 const std::string& extra = "") {
    std::string text = absl::StrCat(extra, "\n[registry]\ninsecure = [\"", registry_->host_port(),
                                    "\"]\ntimeout = \"5s\"\n");
    std::vector<std::string> names;
    for (const Key* key : keys) {
      absl::StrAppend(&text, "\n[[keys]]\nname = \"", key->name, "\"\ndata = \"\"\"\n", key->pair.public_pem,
                      "\"\"\"\n");
      names.push_back(absl::StrCat("\"", key->name, "\""));
    }
    absl::StrAppend(&text, "\n[[policy]]\nname = \"e2e\"\nimages = [\"", registry_->host_port(),
                    "/e2e/**\"]\nrequire = [", absl::StrJoin(names, ", "), "]\n");
    return WriteFile(name, text);
  }

  static std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = dir_->Path(name);
    std::ofstream(path) << text;
    return path;
  }

  static testbed::TempDir* dir_;
  static testbed::Registry* registry_;
  static testbed::OciImage* image_a_;
  static testbed::OciImage* image_b_;
};
testbed::TempDir* VerifyRegistryTest::dir_ = nullptr;
testbed::Registry* VerifyRegistryTest::registry_ = nullptr;
testbed::OciImage* VerifyRegistryTest::image_a_ = nullptr;
testbed::OciImage* VerifyRegistryTest::image_b_ = nullptr;

TEST_F(VerifyRegistryTest, ImagesSignedWithEachKeyTypeAreAllowed) {
  for (KeyType type : {KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521, KeyType::kRsa2048,
                       KeyType::kEd25519}) {
    const std::string type_name(test_signer::KeyTypeName(type));
    SCOPED_TRACE(type_name);
    const std::string repository = absl::StrCat("e2e/signed-", type_name);
    const std::string digest = Push(*image_a_, repository, "v1");
    Key key = MakeKey(absl::StrCat("release-", type_name), type);
    Sign(key, repository, digest);
    const std::string config = WriteConfig(absl::StrCat("signed-", type_name, ".toml"), {&key});

    Result by_tag = Sigshim({"verify", "--config", config, "--namespace", "prod", Repo(repository) + ":v1"});
    EXPECT_EQ(by_tag.exit_code, 0) << Describe(by_tag);
    EXPECT_THAT(by_tag.output, HasSubstr(absl::StrCat("image:      ", Repo(repository), ":v1\n")));
    EXPECT_THAT(by_tag.output, HasSubstr(absl::StrCat("digest:     ", digest, "\n")));
    EXPECT_THAT(by_tag.output, HasSubstr("decision:   allow\n"));
    EXPECT_THAT(by_tag.output, HasSubstr("policy:     e2e ("));
    EXPECT_THAT(by_tag.output, HasSubstr(absl::StrCat("identity:   ", key.name, "\n")));
    // Per signature: the key's name, its full fingerprint, and its signing time (none proven).
    auto public_key = verify::ParsePublicKeyPem(key.pair.public_pem);
    ASSERT_TRUE(public_key.ok());
    EXPECT_THAT(by_tag.output, HasSubstr(absl::StrCat("signature:  ", key.name, ": key ", (*public_key)->Fingerprint(),
                                                      ", signed at unknown, for ", Repo(repository))));
    EXPECT_THAT(by_tag.output, HasSubstr("signed at:  unknown\n"));
    EXPECT_THAT(by_tag.output, HasSubstr("namespace:  prod\n"));
    // The minimum: manifest by tag; .sig manifest, referrers API and referrers tag at once; one
    // payload blob (no auth on this registry).
    EXPECT_THAT(by_tag.output, HasSubstr("requests:   5 to the registry"));

    Result by_digest = Sigshim({"verify", "--config", config, Repo(repository) + "@" + digest});
    EXPECT_EQ(by_digest.exit_code, 0) << Describe(by_digest);
    EXPECT_THAT(by_digest.output, HasSubstr("requests:   4 to the registry"));

    // The same decision as one JSON object.
    Result json = Sigshim({"verify", "--config", config, "--output", "json", Repo(repository) + "@" + digest});
    EXPECT_EQ(json.exit_code, 0) << Describe(json);
    nlohmann::json decision = nlohmann::json::parse(json.output, nullptr, false);
    ASSERT_TRUE(decision.is_object()) << json.output;
    EXPECT_EQ(decision.value("decision", ""), "allow");
    EXPECT_EQ(decision.value("digest", ""), digest);
    EXPECT_EQ(decision.value("identity", ""), key.name);
    EXPECT_EQ(decision.value("signed_at", "x"), "");
    ASSERT_TRUE(decision["signatures"].is_array() && decision["signatures"].size() == 1) << json.output;
    EXPECT_EQ(decision["signatures"][0].value("identity", ""), key.name);
    EXPECT_EQ(decision["signatures"][0].value("fingerprint", ""), (*public_key)->Fingerprint());
    EXPECT_EQ(decision["signatures"][0].value("signed_at_source", "x"), "");
    EXPECT_EQ(decision.value("registry_requests", 0), 4);
  }
}

TEST_F(VerifyRegistryTest, UnsignedImageIsDeniedWithNoSignatures) {
  Push(*image_a_, "e2e/unsigned", "v1");
  Key key = MakeKey("release", KeyType::kEcdsaP256);
  Result run = Sigshim({"verify", "--config", WriteConfig("unsigned.toml", {&key}), Repo("e2e/unsigned:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
  EXPECT_THAT(run.output, HasSubstr("no signatures"));
}

TEST_F(VerifyRegistryTest, AuditModeAllowsUnsignedImageButShowsTheDenial) {
  Push(*image_a_, "e2e/unsigned-audit", "v1");
  Key key = MakeKey("release", KeyType::kEcdsaP256);
  const std::string config = WriteConfig("audit.toml", {&key}, "[enforcement]\nmode = \"audit\"\n");
  Result run = Sigshim({"verify", "--config", config, Repo("e2e/unsigned-audit:v1")});
  EXPECT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   allow (audit mode; enforce mode would deny)"));
  EXPECT_THAT(run.output, HasSubstr("no signatures"));
}

TEST_F(VerifyRegistryTest, SignatureByAnUntrustedKeyIsDenied) {
  const std::string digest = Push(*image_a_, "e2e/wrong-key", "v1");
  Key signing = MakeKey("attacker", KeyType::kEcdsaP256);
  Key trusted = MakeKey("release", KeyType::kEcdsaP256);
  Sign(signing, "e2e/wrong-key", digest);
  Result run = Sigshim({"verify", "--config", WriteConfig("wrong-key.toml", {&trusted}), Repo("e2e/wrong-key:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
  EXPECT_THAT(run.output, HasSubstr("unknown key"));
}

TEST_F(VerifyRegistryTest, SignatureReplayedFromAnotherImageIsDenied) {
  // A and B in one repository; A's valid signature copied to B's .sig tag.
  const std::string digest_a = Push(*image_a_, "e2e/replay", "a");
  const std::string digest_b = Push(*image_b_, "e2e/replay", "b");
  Key key = MakeKey("release", KeyType::kEcdsaP256);
  test_signer::SignatureArtifact artifact_a = Sign(key, "e2e/replay", digest_a);
  PushSignatures("e2e/replay", artifact_a, absl::StrCat("sha256-", digest_b.substr(7), ".sig"));
  const std::string config = WriteConfig("replay.toml", {&key});

  Result a = Sigshim({"verify", "--config", config, Repo("e2e/replay:a")});
  EXPECT_EQ(a.exit_code, 0) << Describe(a);
  Result b = Sigshim({"verify", "--config", config, Repo("e2e/replay:b")});
  EXPECT_EQ(b.exit_code, 1) << Describe(b);
  EXPECT_THAT(b.output, HasSubstr("decision:   deny\n"));
  EXPECT_THAT(b.output, HasSubstr(absl::StrCat("payload is for ", digest_a)));
}

TEST_F(VerifyRegistryTest, PayloadEditedAfterSigningIsDenied) {
  const std::string digest_a = Push(*image_a_, "e2e/forged", "a");
  const std::string digest_b = Push(*image_b_, "e2e/forged", "b");
  Key key = MakeKey("release", KeyType::kEd25519);
  auto layer = test_signer::SignImageLayer(*key.signer, Repo("e2e/forged"), digest_a);
  ASSERT_TRUE(layer.ok()) << layer.status();
  const std::string config = WriteConfig("forged.toml", {&key});

  // The digest edited to B's, the signature kept: pushed as B's signature.
  {
    test_signer::SignatureLayer forged = *layer;
    forged.payload = test_signer::MakeBlob(forged.payload.media_type,
                                           absl::StrReplaceAll(layer->payload.bytes, {{digest_a, digest_b}}));
    ASSERT_NE(forged.payload.bytes, layer->payload.bytes);
    auto artifact = test_signer::BuildSignatureArtifact(digest_b, {forged});
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    PushSignatures("e2e/forged", *artifact);
    Result run = Sigshim({"verify", "--config", config, Repo("e2e/forged:b")});
    EXPECT_EQ(run.exit_code, 1) << Describe(run);
    EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
    EXPECT_THAT(run.output, HasSubstr("unknown key"));
  }
  // The docker-reference edited, the digest and the signature kept: pushed as A's signature.
  {
    test_signer::SignatureLayer forged = *layer;
    forged.payload = test_signer::MakeBlob(
        forged.payload.media_type,
        absl::StrReplaceAll(layer->payload.bytes, {{Repo("e2e/forged"), Repo("e2e/forgeD")}}));
    ASSERT_NE(forged.payload.bytes, layer->payload.bytes);
    auto artifact = test_signer::BuildSignatureArtifact(digest_a, {forged});
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    PushSignatures("e2e/forged", *artifact);
    Result run = Sigshim({"verify", "--config", config, Repo("e2e/forged:a")});
    EXPECT_EQ(run.exit_code, 1) << Describe(run);
    EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
    EXPECT_THAT(run.output, HasSubstr("unknown key"));
  }
}

TEST_F(VerifyRegistryTest, SignatureForAnotherRepositoryIsDenied) {
  const std::string digest = Push(*image_a_, "e2e/moved", "v1");
  Key key = MakeKey("release", KeyType::kEcdsaP256);
  auto artifact = test_signer::SignImage(*key.signer, Repo("e2e/elsewhere"), digest);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  PushSignatures("e2e/moved", *artifact);
  Result run = Sigshim({"verify", "--config", WriteConfig("moved.toml", {&key}), Repo("e2e/moved:v1")});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("reference mismatch"));
}

// The loopback convention: this registry serves plain HTTP on 127.0.0.1, and a config with no
// [registry] section at all verifies its images under 127.0.0.1:<port> and localhost:<port>
// (HTTPS tried once per verification, then plain HTTP). 127.1:<port> reaches the same server but
// is not loopback as written: it never falls back, and the error names [registry] insecure.
TEST_F(VerifyRegistryTest, LoopbackRegistryWithoutTlsNeedsNoConfiguration) {
  const std::string port = absl::StrCat(registry_->port());
  const std::string by_address = absl::StrCat("127.0.0.1:", port);
  const std::string by_name = absl::StrCat("localhost:", port);
  const std::string not_loopback = absl::StrCat("127.1:", port);
  Key key = MakeKey("release", KeyType::kEcdsaP256);
  // A signature names the repository as verified: one repository signed under each name.
  const std::string digest = Push(*image_a_, "e2e/loopback-by-address", "v1");
  ASSERT_EQ(Push(*image_a_, "e2e/loopback-by-name", "v1"), digest);
  for (const auto& [host, repository] : {std::pair{by_address, "e2e/loopback-by-address"},
                                         std::pair{by_name, "e2e/loopback-by-name"}}) {
    auto artifact = test_signer::SignImage(*key.signer, absl::StrCat(host, "/", repository), digest);
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    PushSignatures(repository, *artifact);
  }
  Push(*image_a_, "e2e/loopback-unsigned", "v1");
  const std::string config = WriteFile(
      "loopback.toml",
      absl::StrCat("[[keys]]\nname = \"release\"\ndata = \"\"\"\n", key.pair.public_pem, "\"\"\"\n\n",
                   "[[policy]]\nname = \"loopback\"\nimages = [\"", by_address, "/e2e/**\", \"", by_name,
                   "/e2e/**\", \"", not_loopback, "/e2e/**\"]\nrequire = [\"release\"]\n"));

  for (const std::string& image : {absl::StrCat(by_address, "/e2e/loopback-by-address:v1"),
                                   absl::StrCat(by_name, "/e2e/loopback-by-name:v1")}) {
    SCOPED_TRACE(image);
    Result run = Sigshim({"verify", "--config", config, image});
    EXPECT_EQ(run.exit_code, 0) << Describe(run);
    EXPECT_THAT(run.output, HasSubstr("decision:   allow\n"));
    EXPECT_THAT(run.output, HasSubstr(absl::StrCat("digest:     ", digest, "\n")));
    // One failed handshake for the whole verification, then the manifest; .sig manifest,
    // referrers API and referrers tag; payload.
    EXPECT_THAT(run.output, HasSubstr("requests:   6 to the registry"));
  }
  for (const std::string& host : {by_address, by_name}) {
    SCOPED_TRACE(host);
    Result run = Sigshim({"verify", "--config", config, host + "/e2e/loopback-unsigned:v1"});
    EXPECT_EQ(run.exit_code, 1) << Describe(run);
    EXPECT_THAT(run.output, HasSubstr("decision:   deny\n"));
    EXPECT_THAT(run.output, HasSubstr("no signatures"));
  }

  Result other = Sigshim({"verify", "--config", config, not_loopback + "/e2e/loopback-by-address:v1"});
  EXPECT_EQ(other.exit_code, 2) << Describe(other);
  EXPECT_THAT(other.output, HasSubstr("decision:   error\n"));
  EXPECT_THAT(other.output, HasSubstr("RegistryUnavailable: "));
  EXPECT_THAT(other.output, HasSubstr("plain-HTTP server"));
  EXPECT_THAT(other.output, HasSubstr(absl::StrCat("list it in [registry] insecure (insecure = [\"", not_loopback, "\"])")));
  EXPECT_THAT(other.output, Not(HasSubstr("allow")));
}

// The ImageVerifier in-process against a registry with basic auth: the pull credentials reach the
// registry; without them, or with a wrong password, the answer is an error, never an allow.
TEST_F(VerifyRegistryTest, PullCredentialsReachARegistryWithBasicAuth) {
  testbed::RegistryOptions options;
  options.dir = dir_->Path("registry-auth");
  options.users = {{"e2e-user", "e2e-password"}};
  auto created = testbed::Registry::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<testbed::Registry> auth = *std::move(created);
  const std::string digest = Push(*image_a_, "e2e/private", "v1", auth.get());
  Key key = MakeKey("release", KeyType::kEcdsaP256);
  auto artifact = test_signer::SignImage(*key.signer, Repo("e2e/private", auth.get()), digest);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  PushSignatures("e2e/private", *artifact, "", auth.get());

  auto config = config::ParseConfig(
      absl::StrCat("[[keys]]\nname = \"release\"\ndata = \"\"\"\n", key.pair.public_pem,
                   "\"\"\"\n[[policy]]\nname = \"private\"\nimages = [\"", auth->host_port(),
                   "/e2e/**\"]\nrequire = [\"release\"]\n"),
      dir_->Path("auth.toml"));
  ASSERT_TRUE(config.ok()) << config.status();
  auto policy = policy::Policy::Create(**config);
  ASSERT_TRUE(policy.ok()) << policy.status();
  registry::RegistryClientOptions client_options;
  client_options.insecure_registries = {auth->host_port()};
  auto client = registry::RegistryClient::Create(client_options);
  ASSERT_TRUE(client.ok()) << client.status();
  policy::ImageVerifierOptions verifier_options;
  verifier_options.registry = *std::move(client);
  auto verifier = policy::ImageVerifier::Create(verifier_options);
  ASSERT_TRUE(verifier.ok()) << verifier.status();

  policy::VerifyRequest request;
  request.image = Repo("e2e/private:v1", auth.get());
  policy::Decision anonymous = (*verifier)->Decide(**policy, request);
  EXPECT_EQ(anonymous.outcome, policy::Outcome::kError) << anonymous.reason;
  EXPECT_THAT(anonymous.reason, HasSubstr("RegistryError: resolving"));

  request.credentials.username = "e2e-user";
  request.credentials.password = "not-the-password";
  policy::Decision wrong = (*verifier)->Decide(**policy, request);
  EXPECT_EQ(wrong.outcome, policy::Outcome::kError) << wrong.reason;
  EXPECT_THAT(wrong.reason, Not(HasSubstr("not-the-password")));

  request.credentials.password = "e2e-password";
  policy::Decision allowed = (*verifier)->Decide(**policy, request);
  EXPECT_EQ(allowed.outcome, policy::Outcome::kAllow) << allowed.reason;
  EXPECT_EQ(allowed.digest, digest);
  EXPECT_EQ(allowed.identity, "release");
  EXPECT_EQ(allowed.policy, "private");
  // The first request's 401 challenge, then the manifest, the .sig manifest, the referrers API,
  // the referrers tag and the payload blob with Basic credentials.
  EXPECT_EQ(allowed.registry_requests, 6u);
}

TEST_F(VerifyRegistryTest, BadConfigIsAnErrorNamingFileAndLine) {
  Key key = MakeKey("release", KeyType::kEcdsaP256);
  // An invalid glob on line 3.
  const std::string bad_glob = WriteFile(
      "bad-glob.toml", absl::StrCat("[[keys]]\nname = \"release\"\ndata = \"\"\"\n", key.pair.public_pem,
                                    "\"\"\"\n\n[[policy]]\nname = \"bad\"\nimages = [\"", registry_->host_port(),
                                    "/e2e/***\"]\nrequire = [\"release\"]\n"));
  for (const char* command : {"verify", "check-config"}) {
    std::vector<std::string> args = {command, "--config", bad_glob};
    if (std::string(command) == "verify") args.push_back(Repo("e2e/unsigned:v1"));
    Result run = Sigshim(args);
    EXPECT_EQ(run.exit_code, 2) << Describe(run);
    EXPECT_THAT(run.output, HasSubstr(bad_glob + ":"));
    EXPECT_THAT(run.output, HasSubstr("***"));
  }
  // A key of an unsupported type (ECDSA P-224).
  const std::string p224 =
      "-----BEGIN PUBLIC KEY-----\n"
      "ME4wEAYHKoZIzj0CAQYFK4EEACEDOgAEpkE6FzeY79lfPtAF54BSAbndVANXUOf9\n"
      "+5F8AubenWMhCvzcBqJkqzjjdLy7u0mKMgo7fsOR+vk=\n"
      "-----END PUBLIC KEY-----\n";
  const std::string bad_key = WriteFile(
      "bad-key.toml", absl::StrCat("[log]\nlevel = \"info\"\n\n[[keys]]\nname = \"old\"\ndata = \"\"\"\n", p224,
                                   "\"\"\"\n\n[[policy]]\nname = \"p\"\nimages = [\"", registry_->host_port(),
                                   "/e2e/**\"]\nrequire = [\"old\"]\n"));
  for (const char* command : {"verify", "check-config"}) {
    std::vector<std::string> args = {command, "--config", bad_key};
    if (std::string(command) == "verify") args.push_back(Repo("e2e/unsigned:v1"));
    Result run = Sigshim(args);
    EXPECT_EQ(run.exit_code, 2) << Describe(run);
    EXPECT_THAT(run.output, HasSubstr(bad_key + ":4:"));
    EXPECT_THAT(run.output, HasSubstr("secp224r1"));
  }
}

TEST_F(VerifyRegistryTest, CheckConfigPrintsTheEffectivePolicyWithFingerprints) {
  Key key = MakeKey("release", KeyType::kEcdsaP384);
  auto parsed = verify::ParsePublicKeyPem(key.pair.public_pem);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Result run = Sigshim({"check-config", "--config", WriteConfig("check.toml", {&key})});
  EXPECT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("policies in precedence order"));
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("requires release  ecdsa-p384-sha384  ", (*parsed)->Fingerprint())));
}

TEST_F(VerifyRegistryTest, BadReferenceIsAnError) {
  Key key = MakeKey("release", KeyType::kEcdsaP256);
  Result run = Sigshim({"verify", "--config", WriteConfig("badref.toml", {&key}), "Not A/Reference"});
  EXPECT_EQ(run.exit_code, 2) << Describe(run);
  EXPECT_THAT(run.output, HasSubstr("InvalidReference"));
}

// Last: stops the registry (and starts it again).
TEST_F(VerifyRegistryTest, ZzStoppedRegistryIsAnErrorNeverAnAllow) {
  const std::string digest = Push(*image_a_, "e2e/stopped", "v1");
  Key key = MakeKey("release", KeyType::kEcdsaP256);
  Sign(key, "e2e/stopped", digest);
  const std::string config = WriteConfig("stopped.toml", {&key}, "[enforcement]\nmode = \"audit\"\n");
  Result before = Sigshim({"verify", "--config", config, Repo("e2e/stopped:v1")});
  ASSERT_EQ(before.exit_code, 0) << Describe(before);

  ASSERT_TRUE(registry_->Stop().ok());
  Result by_tag = Sigshim({"verify", "--config", config, Repo("e2e/stopped:v1")});
  Result by_digest = Sigshim({"verify", "--config", config, Repo("e2e/stopped") + "@" + digest});
  ASSERT_TRUE(registry_->Start().ok());
  for (const Result& run : {by_tag, by_digest}) {
    EXPECT_EQ(run.exit_code, 2) << Describe(run);
    EXPECT_THAT(run.output, HasSubstr("decision:   error\n"));
    EXPECT_THAT(run.output, HasSubstr("RegistryUnavailable: "));
    EXPECT_THAT(run.output, Not(HasSubstr("allow")));
  }
}

}  // namespace
}  // namespace sigshim::e2e
