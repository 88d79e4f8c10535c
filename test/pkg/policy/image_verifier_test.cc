#include "pkg/policy/image_verifier.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/verify/cosign_attestation.h"
#include "pkg/verify/cosign_simple_signing.h"
#include "pkg/verify/dsse.h"
#include "pkg/verify/sigstore_bundle.h"
#include "pkg/verify/signature_manifest.h"
#include "test/fakes/fake_registry.h"
#include "test/pkg/policy/test_config.h"

namespace sigshim::policy {
namespace {

using fakes::FakeHttpTransport;
using fakes::FakeRegistry;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kHost[] = "registry.test";

std::string ImageManifest(const std::string& layer_content) {
  return absl::StrCat(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
                      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
                      Sha256Digest("{}"), R"(","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",)",
                      R"("digest":")", Sha256Digest(layer_content), R"(","size":)", layer_content.size(), "}]}");
}

class ImageVerifierTest : public ::testing::Test {
 protected:
  ImageVerifierTest()
      : registry_(std::make_shared<FakeRegistry>(kHost)), release_(MakeTestKey()),
        attacker_(MakeTestKey(test_signer::KeyType::kEd25519)) {
    registry::RegistryClientOptions options;
    options.transport = registry_->transport();
    options.sleep = [](absl::Duration) {};  // retries never sleep
    auto client = registry::RegistryClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    ImageVerifierOptions verifier_options;
    verifier_options.registry = client_;
    verifier_options.now = [this] {
      now_ += absl::Milliseconds(5);
      return now_;
    };
    verifier_options.max_signatures = 4;
    auto verifier = ImageVerifier::Create(std::move(verifier_options));
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
    digest_a_ = registry_->PutManifest("team/app", "a", ImageManifest("a"));
    digest_b_ = registry_->PutManifest("team/app", "b", ImageManifest("b"));
  }

  // Compiles a policy "team" over registry.test/team/** trusting "release", plus `extra` TOML.
  // `in_policy` is TOML that goes inside that [[policy]] entry (its [[policy.attestations]]).
  std::unique_ptr<Policy> Compile(const std::string& extra = "", const std::string& in_policy = "") {
    auto policy = Policy::Create(*MustParse(
        absl::StrCat(extra, "\n", KeyTable("release", release_.pair.public_pem),
                     PolicyTable("team", "\"registry.test/team/**\"", "\"release\""), in_policy)));
    EXPECT_TRUE(policy.ok()) << policy.status();
    return *std::move(policy);
  }

  Decision Decide(const std::string& image, const std::string& extra = "", const std::string& in_policy = "") {
    VerifyRequest request;
    request.image = image;
    request.namespace_name = "prod";
    return verifier_->Decide(*Compile(extra, in_policy), request);
  }

  test_signer::SignatureLayer Layer(const TestKey& key, const std::string& digest,
                                    const std::string& reference = "registry.test/team/app") {
    auto layer = test_signer::SignImageLayer(*key.signer, reference, digest);
    EXPECT_TRUE(layer.ok()) << layer.status();
    return *layer;
  }

  // Stores `layers` as the signatures of `digest` in team/app.
  void PutSignatures(const std::string& digest, std::vector<test_signer::SignatureLayer> layers) {
    for (const auto& layer : layers) registry_->PutBlob("team/app", layer.payload.bytes);
    auto artifact = test_signer::BuildSignatureArtifact(digest, std::move(layers));
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    registry_->PutBlob("team/app", artifact->config.bytes);
    registry_->PutManifest("team/app", artifact->tag, artifact->manifest.bytes);
  }

  static std::string Bundle(const TestKey& key, const std::string& subject, const std::string& predicate_type,
                            const nlohmann::json& predicate = nlohmann::json::object()) {
    return SignedBundle(key, subject, predicate_type, predicate.dump());
  }

  // Attaches `bundle` to the manifest `subject` (of `subject_size` bytes) as an OCI referrer,
  // listed under the referrers tag schema's tag "sha256-<hex>", as clients do for registries
  // without the referrers API. Returns the referrer manifest's digest.
  std::string Attach(const std::string& subject, size_t subject_size, const std::string& bundle) {
    const std::string layer = registry_->PutBlob("team/app", bundle);
    registry_->PutBlob("team/app", "{}");
    const std::string manifest =
        nlohmann::json({{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"artifactType", kBundleType},
                        {"config", {{"mediaType", "application/vnd.oci.empty.v1+json"}, {"digest", Sha256Digest("{}")}, {"size", 2}}},
                        {"layers", {{{"mediaType", kBundleType}, {"digest", layer}, {"size", bundle.size()}}}},
                        {"subject", {{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", subject}, {"size", subject_size}}}})
            .dump();
    const std::string digest = registry_->PutManifest("team/app", "", manifest);
    nlohmann::json& listed = referrers_[subject];
    listed.push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                      {"digest", digest},
                      {"size", manifest.size()},
                      {"artifactType", kBundleType}});
    registry_->PutManifest("team/app", absl::StrCat("sha256-", subject.substr(7)),
                           nlohmann::json({{"schemaVersion", 2},
                                           {"mediaType", "application/vnd.oci.image.index.v1+json"},
                                           {"manifests", listed}})
                               .dump(),
                           "application/vnd.oci.image.index.v1+json");
    return digest;
  }

  static constexpr char kBundleType[] = "application/vnd.dev.sigstore.bundle.v0.3+json";
  static constexpr char kCosignSign[] = "https://sigstore.dev/cosign/sign/v1";
  static constexpr char kSlsa[] = "https://slsa.dev/provenance/v1";

  static std::string SigTag(const std::string& digest) { return absl::StrCat("sha256-", digest.substr(7), ".sig"); }
  static std::string Url(const std::string& path) { return absl::StrCat("https://", kHost, "/v2/team/app/", path); }

  std::shared_ptr<FakeRegistry> registry_;
  std::shared_ptr<registry::RegistryClient> client_;
  std::unique_ptr<ImageVerifier> verifier_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  TestKey release_;
  TestKey attacker_;
  std::string digest_a_;
  std::string digest_b_;
  std::map<std::string, nlohmann::json> referrers_;  // subject digest → its referrers tag's manifests
};

TEST_F(ImageVerifierTest, SignedImageIsAllowedWithEvidence) {
  test_signer::SignatureLayer layer = Layer(release_, digest_a_);
  PutSignatures(digest_a_, {layer});
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.verdict, Outcome::kAllow);
  EXPECT_FALSE(d.audited());
  EXPECT_EQ(d.image, "registry.test/team/app:a");
  EXPECT_EQ(d.namespace_name, "prod");
  EXPECT_EQ(d.digest, digest_a_);
  EXPECT_EQ(d.policy, "team");
  EXPECT_EQ(d.pattern, "registry.test/team/**");
  EXPECT_EQ(d.identity, "release");
  EXPECT_THAT(d.reason, HasSubstr("signed by \"release\""));
  ASSERT_THAT(d.evidence, SizeIs(1));
  const verify::SignedStatement& statement = d.evidence[0].statement;
  EXPECT_EQ(d.evidence[0].identity, "release");
  EXPECT_EQ(statement.subject_digest, digest_a_);
  EXPECT_EQ(statement.artifact.payload, layer.payload.bytes);
  EXPECT_EQ(statement.artifact.layer_digest, layer.payload.digest);
  EXPECT_EQ(statement.artifact.annotations, layer.annotations);
  EXPECT_EQ(statement.artifact.docker_reference, "registry.test/team/app");
  EXPECT_THAT(verify::DescribeSigner(statement.signer), StartsWith("key ecdsa-p256-sha256 sha256:"));
  EXPECT_FALSE(statement.signing_time.has_value());
  EXPECT_FALSE(d.signed_at.has_value());
  EXPECT_THAT(d.rejections, IsEmpty());
  // The minimum: the manifest by tag; at once the .sig manifest, the referrers API and the
  // referrers tag (both 404: no bundles); one payload blob.
  EXPECT_EQ(d.registry_requests, 5u);
  EXPECT_EQ(d.decided_at, absl::FromUnixSeconds(1700000000) + absl::Milliseconds(10));
  EXPECT_EQ(d.latency, absl::Milliseconds(5));
}

TEST_F(ImageVerifierTest, MinimumRequestsByDigestAreFourInTwoRoundTrips) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  Decision d = Decide(absl::StrCat("registry.test/team/app@", digest_a_));
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.registry_requests, 4u);
  const auto requests = registry_->transport()->requests();
  ASSERT_THAT(requests, SizeIs(4));
  // The .sig manifest, then its blob; the referrers API and the referrers tag at the same time.
  std::vector<std::string> urls;
  for (const auto& r : requests) urls.push_back(r.url);
  const std::string sig = Url(absl::StrCat("manifests/", SigTag(digest_a_)));
  const std::string blob = Url(absl::StrCat("blobs/", Sha256Digest(Layer(release_, digest_a_).payload.bytes)));
  EXPECT_THAT(urls, ::testing::UnorderedElementsAre(sig, Url(absl::StrCat("referrers/", digest_a_)),
                                                    Url(absl::StrCat("manifests/sha256-", digest_a_.substr(7))), blob))
      << "ECDSA signatures differ, the payload does not";
  EXPECT_LT(std::find(urls.begin(), urls.end(), sig), std::find(urls.begin(), urls.end(), blob));
}

TEST_F(ImageVerifierTest, BearerAuthAddsOneChallengeAndOneTokenRequest) {
  registry_->RequireBearer("", "");
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.registry_requests, 7u);  // the 5 above, and the first 401 and the token request
  EXPECT_EQ(registry_->tokens_issued(), 1);
}

TEST_F(ImageVerifierTest, FetchingStopsAtTheFirstAcceptedSignature) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_), Layer(release_, digest_a_, "registry.test/team/app:a")});
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.registry_requests, 5u);
}

TEST_F(ImageVerifierTest, ValidSignatureAfterRejectedOnesIsAccepted) {
  PutSignatures(digest_a_, {Layer(attacker_, digest_a_), Layer(release_, digest_b_), Layer(release_, digest_a_)});
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.identity, "release");
  ASSERT_THAT(d.rejections, SizeIs(2));
  EXPECT_THAT(d.rejections[0], HasSubstr("unknown key"));
  EXPECT_THAT(d.rejections[1], HasSubstr(absl::StrCat("payload is for ", digest_b_)));
  EXPECT_EQ(d.registry_requests, 7u);
}

TEST_F(ImageVerifierTest, MissingSignatureTagIsDeniedAsNoSignatures) {
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, StartsWith(absl::StrCat("no signatures: registry.test/team/app:", SigTag(digest_a_))));
  EXPECT_EQ(d.digest, digest_a_);
  EXPECT_EQ(d.policy, "team");
  EXPECT_EQ(d.identity, "");
  EXPECT_THAT(d.evidence, IsEmpty());
  EXPECT_THAT(d.reason, HasSubstr(absl::StrCat("no sigstore bundle refers to ", digest_a_)));
  EXPECT_EQ(d.registry_requests, 4u);
}

TEST_F(ImageVerifierTest, SignatureByAnotherKeyIsDenied) {
  PutSignatures(digest_a_, {Layer(attacker_, digest_a_)});
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("unknown key"));
}

TEST_F(ImageVerifierTest, ReplayedSignatureIsDenied) {
  PutSignatures(digest_b_, {Layer(release_, digest_a_)});  // A's valid signature under B's tag
  Decision d = Decide("registry.test/team/app:b");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr(absl::StrCat("payload is for ", digest_a_, ", not ", digest_b_)));
}

TEST_F(ImageVerifierTest, ForgedPayloadIsDenied) {
  test_signer::SignatureLayer layer = Layer(release_, digest_a_);
  layer.payload = test_signer::MakeBlob(layer.payload.media_type,
                                        absl::StrReplaceAll(layer.payload.bytes, {{digest_a_, digest_b_}}));
  PutSignatures(digest_b_, {layer});
  Decision d = Decide("registry.test/team/app:b");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("unknown key"));
}

TEST_F(ImageVerifierTest, SignatureForAnotherRepositoryIsDenied) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_, "registry.test/team/other")});
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("reference mismatch"));
}

TEST_F(ImageVerifierTest, UnmatchedImagesFollowTheSettingWithoutRequests) {
  Decision denied = Decide("registry.test/ops/tool:1");
  EXPECT_EQ(denied.outcome, Outcome::kDeny);
  EXPECT_EQ(denied.policy, "");
  EXPECT_THAT(denied.reason, HasSubstr("no policy matches"));
  Decision allowed = Decide("registry.test/ops/tool:1", "[enforcement]\nunmatched = \"allow\"\n");
  EXPECT_EQ(allowed.outcome, Outcome::kAllow);
  EXPECT_EQ(allowed.verdict, Outcome::kAllow);
  EXPECT_THAT(allowed.reason, HasSubstr("unmatched = \"allow\""));
  EXPECT_EQ(registry_->transport()->request_count(), 0u);
}

TEST_F(ImageVerifierTest, HostInCapitalsIsGovernedByThePolicyNotUnmatched) {
  // No signature for digest a: the policy "team" denies it whatever the host's spelling.
  const std::string allow_unmatched = "[enforcement]\nunmatched = \"allow\"\n";
  for (const std::string image : {"registry.test/team/app:a", "REGISTRY.TEST/team/app:a", "Registry.Test/team/app:a"}) {
    Decision d = Decide(image, allow_unmatched);
    EXPECT_EQ(d.outcome, Outcome::kDeny) << image << ": " << d.reason;
    EXPECT_EQ(d.policy, "team") << image;
    EXPECT_EQ(d.image, "registry.test/team/app:a") << image;
  }
}

TEST_F(ImageVerifierTest, SignedReferenceWithHostInCapitalsNamesTheSameRepository) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_, "REGISTRY.Test/team/app")});
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  Decision upper = Decide("Registry.TEST/team/app:a");
  EXPECT_EQ(upper.outcome, Outcome::kAllow) << upper.reason;
}

TEST_F(ImageVerifierTest, AuditModeAllowsADenialAndKeepsTheVerdict) {
  Decision d = Decide("registry.test/team/app:a", "[enforcement]\nmode = \"audit\"\n");
  EXPECT_EQ(d.outcome, Outcome::kAllow);
  EXPECT_EQ(d.verdict, Outcome::kDeny);
  EXPECT_TRUE(d.audited());
  EXPECT_THAT(d.reason, StartsWith("no signatures"));
  Decision unmatched = Decide("other.test/x", "[enforcement]\nmode = \"audit\"\n");
  EXPECT_EQ(unmatched.outcome, Outcome::kAllow);
  EXPECT_EQ(unmatched.verdict, Outcome::kDeny);
}

TEST_F(ImageVerifierTest, AuditModeNeverTurnsAnErrorIntoAnAllow) {
  registry_->transport()->SetFallback(
      [](const registry::HttpRequest&) -> absl::StatusOr<registry::HttpResponse> {
        return absl::UnavailableError("connection refused");
      });
  Decision d = Decide("registry.test/nowhere/app:a", "[enforcement]\nmode = \"audit\"\n"
                                                     "[[policy]]\nname = \"nowhere\"\nimages = [\"registry.test/nowhere/**\"]\n"
                                                     "require = [\"release\"]\n");
  EXPECT_EQ(d.outcome, Outcome::kError);
  EXPECT_EQ(d.verdict, Outcome::kError);
}

TEST_F(ImageVerifierTest, UnreachableRegistryIsAnErrorNamedRegistryUnavailable) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  registry_->transport()->Respond("GET", Url("manifests/a"), absl::UnavailableError("connection refused"));
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kError);
  EXPECT_THAT(d.reason, StartsWith("RegistryUnavailable: resolving registry.test/team/app:a"));
  EXPECT_EQ(d.digest, "");
  EXPECT_EQ(d.registry_requests, 4u);  // the client's 3 retries
}

TEST_F(ImageVerifierTest, RegistryFailingWhileFetchingSignaturesIsAnError) {
  registry_->transport()->Respond("GET", Url(absl::StrCat("manifests/", SigTag(digest_a_))),
                                  FakeHttpTransport::Response(503, "busy"));
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kError);
  EXPECT_THAT(d.reason, StartsWith("RegistryUnavailable: fetching registry.test/team/app:sha256-"));
  EXPECT_EQ(d.digest, digest_a_);

  test_signer::SignatureLayer layer = Layer(release_, digest_b_);
  PutSignatures(digest_b_, {layer});
  registry_->transport()->Respond("GET", Url(absl::StrCat("blobs/", layer.payload.digest)),
                                  absl::UnavailableError("connection reset"));
  Decision blob = Decide("registry.test/team/app:b");
  EXPECT_EQ(blob.outcome, Outcome::kError);
  EXPECT_THAT(blob.reason, StartsWith("RegistryUnavailable: fetching signature 1"));
}

TEST_F(ImageVerifierTest, RefusedCredentialsAreAnError) {
  registry_->RequireBasic("user", "secret");
  VerifyRequest request;
  request.image = "registry.test/team/app:a";
  request.credentials.username = "user";
  request.credentials.password = "wrong-password";
  Decision d = verifier_->Decide(*Compile(), request);
  EXPECT_EQ(d.outcome, Outcome::kError);
  EXPECT_THAT(d.reason, StartsWith("RegistryError: resolving"));
  EXPECT_THAT(d.reason, ::testing::Not(HasSubstr("wrong-password")));
}

TEST_F(ImageVerifierTest, UnparsableReferenceIsAnError) {
  Decision d = Decide("Registry.test/Team App");
  EXPECT_EQ(d.outcome, Outcome::kError);
  EXPECT_THAT(d.reason, StartsWith("InvalidReference: "));
  EXPECT_EQ(d.image, "");
  EXPECT_EQ(registry_->transport()->request_count(), 0u);
}

TEST_F(ImageVerifierTest, HostileSignatureManifestsAreDenied) {
  // Not JSON.
  registry_->PutManifest("team/app", SigTag(digest_a_), "{not json");
  Decision garbage = Decide("registry.test/team/app:a");
  EXPECT_EQ(garbage.outcome, Outcome::kDeny);
  EXPECT_THAT(garbage.reason, HasSubstr("is unusable"));

  // A manifest whose layers are not signatures.
  registry_->PutManifest("team/app", SigTag(digest_b_), ImageManifest("not a signature"));
  Decision empty = Decide("registry.test/team/app:b");
  EXPECT_EQ(empty.outcome, Outcome::kDeny);
  EXPECT_THAT(empty.reason, StartsWith("no signatures: "));
  EXPECT_THAT(empty.reason, HasSubstr(verify::kSimpleSigningMediaType));
}

TEST_F(ImageVerifierTest, BlobThatDoesNotMatchItsDescriptorIsARejectedSignature) {
  test_signer::SignatureLayer layer = Layer(release_, digest_a_);
  PutSignatures(digest_a_, {layer});
  registry_->transport()->Respond("GET", Url(absl::StrCat("blobs/", layer.payload.digest)),
                                  FakeHttpTransport::Response(200, layer.payload.bytes + " "));
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  ASSERT_THAT(d.rejections, SizeIs(1));
  EXPECT_THAT(d.rejections[0], HasSubstr("payload blob unusable"));
}

TEST_F(ImageVerifierTest, OversizedPayloadIsRejectedWithoutARequest) {
  // A .sig manifest whose only layer claims 1 GiB.
  const std::string digest = Sha256Digest("x");
  const std::string manifest = absl::StrCat(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")", Sha256Digest("{}"),
      R"(","size":2},"layers":[{"mediaType":")", verify::kSimpleSigningMediaType, R"(","digest":")", digest,
      R"(","size":1073741824,"annotations":{"dev.cosignproject.cosign/signature":"AAAA"}}]})");
  registry_->PutManifest("team/app", SigTag(digest_a_), manifest);
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  ASSERT_THAT(d.rejections, SizeIs(1));
  EXPECT_THAT(d.rejections[0], HasSubstr("payload blob unusable"));
  EXPECT_EQ(d.registry_requests, 4u);
}

TEST_F(ImageVerifierTest, SignaturesBeyondTheLimitAreNeitherFetchedNorChecked) {
  std::vector<test_signer::SignatureLayer> layers;
  for (int i = 0; i < 10; ++i) layers.push_back(Layer(attacker_, digest_a_));
  layers.push_back(Layer(release_, digest_a_));  // the 11th: beyond max_signatures = 4
  PutSignatures(digest_a_, std::move(layers));
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_EQ(d.unchecked_signatures, 7);
  EXPECT_THAT(d.rejections, SizeIs(4));
  EXPECT_THAT(d.reason, HasSubstr("7 more signature(s) beyond the limit of 4 not checked"));
  EXPECT_EQ(d.registry_requests, 4u + 4u);
}


// --- sigstore bundles found through the referrers tag schema (issue 11) ---

// A provenance policy: "team" also requires SLSA provenance by "release" built by the release
// workflow.
constexpr char kProvenance[] =
    "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"https://slsa.dev/provenance/v1\"\n"
    "require = [\"release\"]\n[policy.attestations.match]\n"
    "\"runDetails.builder.id\" = \"https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main\"\n";

nlohmann::json Provenance(const std::string& builder) {
  return {{"buildDefinition", {{"buildType", "https://example.com/build"}}}, {"runDetails", {{"builder", {{"id", builder}}}}}};
}

TEST_F(ImageVerifierTest, BundleSignedImageIsAllowedThroughTheReferrersTagSchema) {
  Attach(digest_a_, ImageManifest("a").size(), Bundle(release_, digest_a_, kCosignSign));
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.identity, "release");
  ASSERT_THAT(d.evidence, SizeIs(1));
  EXPECT_EQ(d.evidence[0].statement.artifact.format, verify::kSigstoreBundleFormat);
  EXPECT_EQ(d.evidence[0].statement.artifact.media_type, kBundleType);
  EXPECT_EQ(d.evidence[0].attestation, "");
  // The manifest by tag; at once the .sig manifest (404), the referrers API (404) and the
  // referrers tag; the bundle's manifest; its layer. Four sequential round trips, one more than
  // a .sig signature.
  EXPECT_EQ(d.registry_requests, 6u);
}

TEST_F(ImageVerifierTest, SigSignedImageCostsTwoMoreRequestsInTheSameRoundTrip) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  // The manifest by tag; .sig, referrers API and referrers tag at once; the payload blob.
  EXPECT_EQ(d.registry_requests, 5u);
}

TEST_F(ImageVerifierTest, BundleStatementForAnotherDigestIsDenied) {
  Attach(digest_a_, ImageManifest("a").size(), Bundle(release_, digest_b_, kCosignSign));
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("bundle 1"));
  EXPECT_THAT(d.reason, HasSubstr("tag sha256-"));
}

TEST_F(ImageVerifierTest, BundleByAnotherKeyIsDenied) {
  Attach(digest_a_, ImageManifest("a").size(), Bundle(attacker_, digest_a_, kCosignSign));
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("bundle 1"));
}

TEST_F(ImageVerifierTest, AttestationWithoutASignatureIsDenied) {
  Attach(digest_a_, ImageManifest("a").size(), Bundle(release_, digest_a_, kSlsa, Provenance("x")));
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("an attestation (predicate type https://slsa.dev/provenance/v1), not a signature"));
}

TEST_F(ImageVerifierTest, ProvenanceRequirementAllowsTheMatchingBuilderAndNamesIt) {
  const std::string release = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
  Attach(digest_a_, ImageManifest("a").size(), Bundle(release_, digest_a_, kCosignSign));
  Attach(digest_a_, ImageManifest("a").size(), Bundle(release_, digest_a_, kSlsa, Provenance(release)));
  Decision d = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_THAT(d.reason, HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1): signed by \"release\""));
  ASSERT_THAT(d.evidence, SizeIs(2));
  EXPECT_EQ(d.evidence[1].attestation, "provenance");
  EXPECT_EQ(d.evidence[1].statement.predicate_type, kSlsa);
  EXPECT_EQ(d.identity, "release");
  // The manifest by tag; .sig, referrers API, referrers tag and (the rule requires an
  // attestation) .att at once; both bundles' manifests and layers, the two bundles in parallel.
  EXPECT_EQ(d.registry_requests, 9u);
}

TEST_F(ImageVerifierTest, ProvenanceRequirementRefusesAnotherBuilderAndAMissingAttestation) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  Decision missing = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(missing.outcome, Outcome::kDeny);
  EXPECT_THAT(missing.reason, HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1) not met: no "
                                        "attestation of that type"));

  Attach(digest_a_, ImageManifest("a").size(),
         Bundle(release_, digest_a_, kSlsa, Provenance("https://github.com/acme/app/.github/workflows/nightly.yml@refs/heads/main")));
  Decision other = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(other.outcome, Outcome::kDeny);
  EXPECT_THAT(other.reason, HasSubstr("\"runDetails.builder.id\" is \"https://github.com/acme/app/.github/workflows/"
                                      "nightly.yml@refs/heads/main\", not \"https://github.com/acme/app/.github/"
                                      "workflows/release.yml@refs/heads/main\""));

  Attach(digest_b_, ImageManifest("b").size(), Bundle(release_, digest_b_, kSlsa, nlohmann::json::object()));
  PutSignatures(digest_b_, {Layer(release_, digest_b_)});
  Decision no_path = Decide("registry.test/team/app:b", "", kProvenance);
  EXPECT_EQ(no_path.outcome, Outcome::kDeny);
  EXPECT_THAT(no_path.reason, HasSubstr("\"runDetails.builder.id\" is missing"));
}

TEST_F(ImageVerifierTest, ProvenanceByAnUnlistedSignerDoesNotCount) {
  const std::string release = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  Attach(digest_a_, ImageManifest("a").size(), Bundle(attacker_, digest_a_, kSlsa, Provenance(release)));
  Decision d = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("not met"));
}

TEST_F(ImageVerifierTest, ReferrersApiIsUsedWhenTheRegistryImplementsIt) {
  const std::string bundle = Bundle(release_, digest_a_, kCosignSign);
  Attach(digest_b_, ImageManifest("b").size(), bundle);  // stores the blobs and the referrer manifest
  // Serve the referrers of a through the API only (no referrers tag for a).
  registry::HttpHeaders headers;
  headers.Set("Content-Type", "application/vnd.oci.image.index.v1+json");
  registry_->transport()->Respond(
      "GET", Url(absl::StrCat("referrers/", digest_a_)),
      FakeHttpTransport::Response(200, nlohmann::json({{"schemaVersion", 2},
                                                       {"mediaType", "application/vnd.oci.image.index.v1+json"},
                                                       {"manifests", referrers_[digest_b_]}})
                                           .dump(),
                                  headers));
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.registry_requests, 6u);
}

// ---- Legacy cosign ".att" attestations (tag sha256-<hex>.att, DSSE envelope layers) ----

// Returns a DSSE envelope (JSON) signed by `key` over an in-toto statement v1 about `subject`.
std::string Envelope(const TestKey& key, const std::string& subject, const std::string& predicate_type,
                     const nlohmann::json& predicate, int signatures = 1) {
  const std::string statement =
      nlohmann::json({{"_type", "https://in-toto.io/Statement/v1"},
                      {"subject", {{{"name", "registry.test/team/app"}, {"digest", {{"sha256", subject.substr(7)}}}}}},
                      {"predicateType", predicate_type},
                      {"predicate", predicate}})
          .dump();
  auto signature = key.signer->Sign(verify::DssePae("application/vnd.in-toto+json", statement));
  EXPECT_TRUE(signature.ok()) << signature.status();
  nlohmann::json sigs = nlohmann::json::array();
  for (int i = 0; i < signatures; ++i) sigs.push_back({{"keyid", ""}, {"sig", Base64Encode(signature.ok() ? *signature : "")}});
  return nlohmann::json({{"payloadType", "application/vnd.in-toto+json"}, {"payload", Base64Encode(statement)}, {"signatures", sigs}})
      .dump();
}

class AttestationTagTest : public ImageVerifierTest {
 protected:
  // Stores `envelopes` as the ".att" layers of `digest` in team/app, as cosign attest writes them
  // (an empty signature annotation, the envelope as the blob).
  void PutAttestations(const std::string& digest, const std::vector<std::string>& envelopes) {
    registry_->PutBlob("team/app", "{}");
    nlohmann::json layers = nlohmann::json::array();
    for (const std::string& envelope : envelopes) {
      layers.push_back({{"mediaType", "application/vnd.dsse.envelope.v1+json"},
                        {"digest", registry_->PutBlob("team/app", envelope)},
                        {"size", envelope.size()},
                        {"annotations", {{"dev.cosignproject.cosign/signature", ""},
                                         {"predicateType", "https://slsa.dev/provenance/v1"}}}});
    }
    registry_->PutManifest(
        "team/app", absl::StrCat("sha256-", digest.substr(7), ".att"),
        nlohmann::json({{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", Sha256Digest("{}")}, {"size", 2}}},
                        {"layers", layers}})
            .dump());
  }

  const std::string release_builder_ = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
};

TEST_F(AttestationTagTest, AttProvenanceAndASigSignatureSatisfyTheRuleInThreeRoundTrips) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  PutAttestations(digest_a_, {Envelope(release_, digest_a_, kSlsa, Provenance(release_builder_))});
  Decision d = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_THAT(d.reason, HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1): signed by \"release\""));
  ASSERT_THAT(d.evidence, SizeIs(2));
  EXPECT_EQ(d.evidence[1].attestation, "provenance");
  EXPECT_EQ(d.evidence[1].statement.artifact.format, verify::kCosignAttestationFormat);
  EXPECT_EQ(d.evidence[1].statement.artifact.media_type, verify::kDsseEnvelopeMediaType);
  // The manifest by tag; at once .sig, referrers API, referrers tag and .att; then at once the
  // .sig payload blob and the .att envelope blob: 7 requests in 3 sequential round trips.
  EXPECT_EQ(d.registry_requests, 7u);
  ASSERT_THAT(d.artifacts, SizeIs(2));
  EXPECT_EQ(d.artifacts[0].format, verify::kCosignSimpleSigningFormat);
  EXPECT_EQ(d.artifacts[0].location, absl::StrCat("tag ", SigTag(digest_a_), " layer 1"));
  EXPECT_THAT(d.artifacts[0].counted_for, ElementsAre("identity \"release\""));
  EXPECT_EQ(d.artifacts[1].format, verify::kCosignAttestationFormat);
  EXPECT_EQ(d.artifacts[1].location, absl::StrCat("tag sha256-", digest_a_.substr(7), ".att layer 1"));
  EXPECT_EQ(d.artifacts[1].kind, "attestation");
  EXPECT_EQ(d.artifacts[1].predicate_type, kSlsa);
  EXPECT_THAT(d.artifacts[1].counted_for, ElementsAre("attestation \"provenance\" (signed by \"release\")"));
  EXPECT_EQ(d.artifacts[1].reason, "");
  // An attestation that met its requirement is not reported as rejected (it is no signature).
  EXPECT_THAT(d.rejections, IsEmpty());
}

TEST_F(AttestationTagTest, ByDigestItCostsSixRequests) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  PutAttestations(digest_a_, {Envelope(release_, digest_a_, kSlsa, Provenance(release_builder_))});
  Decision d = Decide(absl::StrCat("registry.test/team/app@", digest_a_), "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.registry_requests, 6u);
}

TEST_F(AttestationTagTest, WithoutAttestationRequirementsTheAttTagIsNotLookedUp) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  PutAttestations(digest_a_, {Envelope(release_, digest_a_, kSlsa, Provenance(release_builder_))});
  Decision d = Decide("registry.test/team/app:a");
  EXPECT_EQ(d.outcome, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.registry_requests, 5u);  // as before ".att" was read
  ASSERT_THAT(d.artifacts, SizeIs(1));
}

TEST_F(AttestationTagTest, AnotherBuilderInAttIsRefusedWithTheMismatch) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  PutAttestations(digest_a_, {Envelope(release_, digest_a_, kSlsa,
                                       Provenance("https://github.com/acme/app/.github/workflows/nightly.yml@refs/heads/main"))});
  Decision d = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("\"runDetails.builder.id\" is \"https://github.com/acme/app/.github/workflows/"
                                  "nightly.yml@refs/heads/main\", not"));
  ASSERT_THAT(d.artifacts, SizeIs(2));
  EXPECT_THAT(d.artifacts[1].counted_for, IsEmpty());
  EXPECT_THAT(d.artifacts[1].reason, HasSubstr("not attestation \"provenance\": signed by \"release\" but"));
}

TEST_F(AttestationTagTest, HostileAttLayersAreRefusedEachWithItsReason) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  PutAttestations(digest_a_, {Envelope(release_, digest_a_, kSlsa, Provenance(release_builder_), 2),
                              Envelope(release_, digest_b_, kSlsa, Provenance(release_builder_)),
                              Envelope(attacker_, digest_a_, kSlsa, Provenance(release_builder_))});
  Decision d = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  ASSERT_THAT(d.artifacts, SizeIs(4));
  EXPECT_THAT(d.artifacts[1].reason, HasSubstr("carries 2 signatures; exactly one signature is required"));
  EXPECT_THAT(d.artifacts[2].reason, HasSubstr("statement for another digest"));
  EXPECT_THAT(d.artifacts[3].reason, HasSubstr("signed by an unknown key"));
  EXPECT_EQ(d.artifacts[3].location, absl::StrCat("tag sha256-", digest_a_.substr(7), ".att layer 3"));
  // The three envelopes fetched at once, beside the .sig payload: still 3 round trips, 9 requests.
  EXPECT_EQ(d.registry_requests, 9u);
}

TEST_F(AttestationTagTest, CosignSignStatementInAttIsNotASignature) {
  PutAttestations(digest_a_, {Envelope(release_, digest_a_, kCosignSign, nlohmann::json::object())});
  Decision d = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_THAT(d.reason, HasSubstr("an attestation (predicate type https://sigstore.dev/cosign/sign/v1), not a signature"));
  ASSERT_THAT(d.artifacts, SizeIs(1));
  EXPECT_EQ(d.artifacts[0].kind, "attestation");
  EXPECT_THAT(d.artifacts[0].reason, HasSubstr("no [[policy.attestations]] entry of policy \"team\" asks for that type"));
}

TEST_F(AttestationTagTest, AttLayersBeyondTheLimitAreListedNotFetched) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  std::vector<std::string> envelopes;
  for (int i = 0; i < 5; ++i) envelopes.push_back(Envelope(attacker_, digest_a_, kSlsa, Provenance(std::to_string(i))));
  PutAttestations(digest_a_, envelopes);
  Decision d = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  EXPECT_EQ(d.unchecked_signatures, 1);  // max_signatures is 4 here
  ASSERT_THAT(d.artifacts, SizeIs(6));
  EXPECT_THAT(d.artifacts[5].reason, HasSubstr("not checked: beyond the limit of 4"));
  EXPECT_EQ(d.registry_requests, 1u + 4u + 1u + 4u);
}

TEST_F(AttestationTagTest, OversizedEnvelopeIsRejectedWithoutARequest) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  nlohmann::json padded = Provenance(release_builder_);
  padded["padding"] = std::string((1 << 20) + 1, 'x');  // over max_bundle_bytes (1 MiB)
  PutAttestations(digest_a_, {Envelope(release_, digest_a_, kSlsa, padded)});
  Decision d = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kDeny);
  ASSERT_THAT(d.artifacts, SizeIs(2));
  EXPECT_THAT(d.artifacts[1].reason, HasSubstr("envelope blob unusable"));
  EXPECT_THAT(d.reason, HasSubstr("not met: no attestation of that type"));
  EXPECT_EQ(d.registry_requests, 6u);  // the envelope is never asked for
}

TEST_F(AttestationTagTest, UnreachableAttIsAnErrorUnlessTheRestSuffices) {
  PutSignatures(digest_a_, {Layer(release_, digest_a_)});
  registry_->transport()->Respond("GET", Url(absl::StrCat("manifests/sha256-", digest_a_.substr(7), ".att")),
                                  FakeHttpTransport::Response(503, ""));
  Decision d = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(d.outcome, Outcome::kError);
  EXPECT_THAT(d.reason, StartsWith("RegistryUnavailable: fetching registry.test/team/app:sha256-"));

  Attach(digest_a_, ImageManifest("a").size(), Bundle(release_, digest_a_, kSlsa, Provenance(release_builder_)));
  Decision bundled = Decide("registry.test/team/app:a", "", kProvenance);
  EXPECT_EQ(bundled.outcome, Outcome::kAllow) << bundled.reason;
}

TEST(ImageVerifierCreate, RefusesMissingRegistryAndBadLimit) {
  EXPECT_FALSE(ImageVerifier::Create({}).ok());
  auto client = registry::RegistryClient::Create({.transport = std::make_shared<FakeHttpTransport>()});
  ASSERT_TRUE(client.ok());
  ImageVerifierOptions options;
  options.registry = *std::move(client);
  options.max_signatures = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(ImageVerifier::Create(options).status()));
}

}  // namespace
}  // namespace sigshim::policy
