#include "pkg/policy/platform.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/policy/image_verifier.h"
#include "test/fakes/fake_registry.h"
#include "test/pkg/policy/test_config.h"

namespace sigshim::policy {
namespace {

using fakes::FakeRegistry;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kHost[] = "registry.test";
const Platform kAmd64{"linux", "amd64", ""};
const Platform kArm64{"linux", "arm64", "v8"};

std::string PlatformString(const Platform& p) { return p.String(); }

std::vector<std::string> Strings(const std::vector<Platform>& platforms) {
  std::vector<std::string> out;
  for (const Platform& p : platforms) out.push_back(p.String());
  return out;
}

// An image manifest whose config is `config` (so that each test image has its own digest).
std::string ImageManifest(const std::string& config) {
  return absl::StrCat(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
                      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
                      Sha256Digest(config), R"(","size":)", config.size(), R"(},"layers":[]})");
}

// One entry of an index: JSON text.
std::string Entry(const std::string& digest, const std::string& platform_json,
                  const std::string& media_type = "application/vnd.oci.image.manifest.v1+json") {
  std::string out = absl::StrCat(R"({"mediaType":")", media_type, R"(","digest":")", digest, R"(","size":100)");
  if (!platform_json.empty()) absl::StrAppend(&out, R"(,"platform":)", platform_json);
  return absl::StrCat(out, "}");
}

std::string PlatformJson(const std::string& os, const std::string& architecture, const std::string& variant = "") {
  std::string out = absl::StrCat(R"({"os":")", os, R"(","architecture":")", architecture, R"(")");
  if (!variant.empty()) absl::StrAppend(&out, R"(,"variant":")", variant, R"(")");
  return absl::StrCat(out, "}");
}

std::string IndexJson(const std::vector<std::string>& entries) {
  std::string out = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)";
  for (size_t i = 0; i < entries.size(); ++i) absl::StrAppend(&out, i == 0 ? "" : ",", entries[i]);
  return absl::StrCat(out, "]}");
}

registry::Manifest ParseIndex(const std::string& json) {
  auto parsed = registry::ParseManifest(json, "");
  EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << json;
  return parsed.ok() ? *parsed : registry::Manifest{};
}

std::string D(const std::string& seed) { return Sha256Digest(seed); }

// --- Normalisation and the platforms a node runs (containerd's platforms package) ---

TEST(NormalizePlatform, FollowsContainerdsNames) {
  EXPECT_EQ(NormalizePlatform({"Linux", "x86_64", ""}).String(), "linux/amd64");
  EXPECT_EQ(NormalizePlatform({"linux", "x86-64", ""}).String(), "linux/amd64");
  EXPECT_EQ(NormalizePlatform({"linux", "i386", ""}).String(), "linux/386");
  EXPECT_EQ(NormalizePlatform({"linux", "aarch64", ""}).String(), "linux/arm64/v8");
  EXPECT_EQ(NormalizePlatform({"linux", "ARM64", "8"}).String(), "linux/arm64/v8");
  EXPECT_EQ(NormalizePlatform({"linux", "armhf", ""}).String(), "linux/arm/v7");
  EXPECT_EQ(NormalizePlatform({"linux", "armel", ""}).String(), "linux/arm/v6");
  EXPECT_EQ(NormalizePlatform({"linux", "arm", ""}).String(), "linux/arm/v7");
  EXPECT_EQ(NormalizePlatform({"linux", "arm", "6"}).String(), "linux/arm/v6");
  EXPECT_EQ(NormalizePlatform({"linux", "s390x", ""}).String(), "linux/s390x");
  EXPECT_EQ(NormalizePlatform({"macos", "arm64", ""}).String(), "darwin/arm64/v8");
}

TEST(CompatiblePlatforms, ListTheNodesOwnFirstThenWhatItAlsoRuns) {
  EXPECT_THAT(Strings(CompatiblePlatforms(kAmd64)), ElementsAre("linux/amd64", "linux/386"));
  EXPECT_THAT(Strings(CompatiblePlatforms({"linux", "amd64", "v3"})),
              ElementsAre("linux/amd64/v3", "linux/amd64/v2", "linux/amd64/v1", "linux/386"));
  EXPECT_THAT(Strings(CompatiblePlatforms({"linux", "arm64", ""})),
              ElementsAre("linux/arm64/v8", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"));
  EXPECT_THAT(Strings(CompatiblePlatforms({"linux", "arm", "v7"})),
              ElementsAre("linux/arm/v7", "linux/arm/v6", "linux/arm/v5"));
  EXPECT_THAT(Strings(CompatiblePlatforms({"linux", "s390x", ""})), ElementsAre("linux/s390x"));
  EXPECT_THAT(Strings(CompatiblePlatforms({"linux", "riscv64", ""})), ElementsAre("linux/riscv64"));
}

TEST(HostPlatform, IsLinuxAndTheBuildsArchitecture) {
  const Platform host = HostPlatform();
  EXPECT_EQ(host.os, "linux");
#if defined(__x86_64__)
  EXPECT_EQ(host.String(), "linux/amd64");
#elif defined(__aarch64__)
  EXPECT_EQ(host.String(), "linux/arm64/v8");
#else
  EXPECT_NE(host.architecture, "");
#endif
}

// --- Choosing the node's manifest from an index ---

TEST(ChoosePlatformManifest, PicksTheNodesPlatformAmongOthers) {
  registry::Manifest index = ParseIndex(IndexJson({Entry(D("arm64"), PlatformJson("linux", "arm64", "v8")),
                                                   Entry(D("amd64"), PlatformJson("linux", "amd64")),
                                                   Entry(D("s390x"), PlatformJson("linux", "s390x"))}));
  auto amd64 = ChoosePlatformManifest(index, D("index"), kAmd64);
  ASSERT_TRUE(amd64.ok()) << amd64.status();
  EXPECT_EQ(amd64->manifest.digest, D("amd64"));
  EXPECT_EQ(amd64->platform.String(), "linux/amd64");
  auto arm64 = ChoosePlatformManifest(index, D("index"), kArm64);
  ASSERT_TRUE(arm64.ok()) << arm64.status();
  EXPECT_EQ(arm64->manifest.digest, D("arm64"));
  auto s390x = ChoosePlatformManifest(index, D("index"), {"linux", "s390x", ""});
  ASSERT_TRUE(s390x.ok()) << s390x.status();
  EXPECT_EQ(s390x->manifest.digest, D("s390x"));
}

TEST(ChoosePlatformManifest, Arm64MatchesWithAndWithoutVariantV8) {
  // An index entry "arm64" without a variant is arm64/v8, as containerd normalises it; and a node
  // given as plain arm64 runs an entry that says v8.
  registry::Manifest plain = ParseIndex(IndexJson({Entry(D("plain"), PlatformJson("linux", "arm64"))}));
  registry::Manifest v8 = ParseIndex(IndexJson({Entry(D("v8"), PlatformJson("linux", "arm64", "v8"))}));
  for (const Platform& node : {Platform{"linux", "arm64", ""}, Platform{"linux", "arm64", "v8"},
                               Platform{"linux", "aarch64", ""}}) {
    SCOPED_TRACE(PlatformString(node));
    auto a = ChoosePlatformManifest(plain, D("i1"), node);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->manifest.digest, D("plain"));
    auto b = ChoosePlatformManifest(v8, D("i2"), node);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->manifest.digest, D("v8"));
  }
  // arm64/v9 is not v8.
  registry::Manifest v9 = ParseIndex(IndexJson({Entry(D("v9"), PlatformJson("linux", "arm64", "v9"))}));
  EXPECT_FALSE(ChoosePlatformManifest(v9, D("i3"), kArm64).ok());
}

TEST(ChoosePlatformManifest, ArmVariantsRunOlderOnesOnlyAndPreferTheirOwn) {
  registry::Manifest index = ParseIndex(IndexJson({Entry(D("v6"), PlatformJson("linux", "arm", "v6")),
                                                   Entry(D("v7"), PlatformJson("linux", "arm", "v7"))}));
  auto v7 = ChoosePlatformManifest(index, D("index"), {"linux", "arm", "v7"});
  ASSERT_TRUE(v7.ok()) << v7.status();
  EXPECT_EQ(v7->manifest.digest, D("v7")) << "its own variant beats a compatible one listed first";
  auto v6 = ChoosePlatformManifest(index, D("index"), {"linux", "arm", "v6"});
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->manifest.digest, D("v6"));
  auto v5 = ChoosePlatformManifest(index, D("index"), {"linux", "arm", "v5"});
  EXPECT_TRUE(absl::IsNotFound(v5.status())) << "an arm/v5 node does not run arm/v6";
  // An arm64 node with no arm64 entry runs the best 32-bit arm one, as containerd does.
  auto arm64 = ChoosePlatformManifest(index, D("index"), kArm64);
  ASSERT_TRUE(arm64.ok()) << arm64.status();
  EXPECT_EQ(arm64->manifest.digest, D("v7"));
  // A 32-bit arm node never runs arm64.
  registry::Manifest only64 = ParseIndex(IndexJson({Entry(D("a64"), PlatformJson("linux", "arm64"))}));
  EXPECT_FALSE(ChoosePlatformManifest(only64, D("index"), {"linux", "arm", "v7"}).ok());
}

TEST(ChoosePlatformManifest, TheNodesOwnPlatformBeatsAFallbackListedBefore) {
  registry::Manifest index = ParseIndex(IndexJson({Entry(D("386"), PlatformJson("linux", "386")),
                                                   Entry(D("amd64"), PlatformJson("linux", "amd64"))}));
  auto choice = ChoosePlatformManifest(index, D("index"), kAmd64);
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->manifest.digest, D("amd64"));
}

TEST(ChoosePlatformManifest, AtEqualRankTheEntryListedFirstWins) {
  registry::Manifest index = ParseIndex(IndexJson({Entry(D("first"), PlatformJson("linux", "x86_64")),
                                                   Entry(D("second"), PlatformJson("linux", "amd64"))}));
  auto choice = ChoosePlatformManifest(index, D("index"), kAmd64);
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->manifest.digest, D("first"));
}

TEST(ChoosePlatformManifest, AMissingPlatformIsNotFoundListingWhatTheIndexLists) {
  registry::Manifest index = ParseIndex(IndexJson({Entry(D("arm64"), PlatformJson("linux", "arm64", "v8")),
                                                   Entry(D("s390x"), PlatformJson("linux", "s390x")),
                                                   Entry(D("win"), PlatformJson("windows", "amd64"))}));
  auto choice = ChoosePlatformManifest(index, D("index"), kAmd64);
  ASSERT_FALSE(choice.ok());
  EXPECT_TRUE(absl::IsNotFound(choice.status()));
  EXPECT_EQ(choice.status().message(),
            absl::StrCat("index ", D("index"), " lists no manifest for linux/amd64 (it lists: linux/arm64/v8 ",
                         D("arm64").substr(0, 19), "…, linux/s390x ", D("s390x").substr(0, 19), "…, windows/amd64 ",
                         D("win").substr(0, 19), "…)"));
}

TEST(ChoosePlatformManifest, NestedIndexesAndEntriesWithoutPlatformOrOfOtherTypesAreNeverChosen) {
  registry::Manifest index = ParseIndex(IndexJson({
      Entry(D("nested"), PlatformJson("linux", "amd64"), "application/vnd.oci.image.index.v1+json"),
      Entry(D("list"), PlatformJson("linux", "amd64"), "application/vnd.docker.distribution.manifest.list.v2+json"),
      Entry(D("noplatform"), ""),
      Entry(D("layer"), PlatformJson("linux", "amd64"), "application/vnd.oci.image.layer.v1.tar"),
      Entry(D("attestation"), PlatformJson("unknown", "unknown")),
  }));
  auto choice = ChoosePlatformManifest(index, D("index"), kAmd64);
  ASSERT_FALSE(choice.ok()) << choice->manifest.digest;
  const std::string message(choice.status().message());
  EXPECT_THAT(message, HasSubstr(absl::StrCat(D("nested").substr(0, 19), "… (a nested index, not followed)")));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(D("list").substr(0, 19), "… (a nested index, not followed)")));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(D("noplatform").substr(0, 19), "… (no platform)")));
  EXPECT_THAT(message, HasSubstr("(media type application/vnd.oci.image.layer.v1.tar, not an image manifest)"));
  EXPECT_THAT(message, HasSubstr("unknown/unknown"));

  // A Docker v2 manifest entry is an image manifest like an OCI one.
  registry::Manifest docker = ParseIndex(IndexJson(
      {Entry(D("docker"), PlatformJson("linux", "amd64"), "application/vnd.docker.distribution.manifest.v2+json")}));
  auto chosen = ChoosePlatformManifest(docker, D("index"), kAmd64);
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_EQ(chosen->manifest.digest, D("docker"));
}

TEST(ChoosePlatformManifest, AnEntryWithAnEmptyOsIsNotTakenForLinux) {
  // containerd would read "" as its own OS; sigshim chooses only what the index says is linux.
  registry::Manifest index = ParseIndex(IndexJson({Entry(D("noos"), PlatformJson("", "amd64"))}));
  auto choice = ChoosePlatformManifest(index, D("index"), kAmd64);
  ASSERT_FALSE(choice.ok());
  EXPECT_THAT(choice.status().message(), HasSubstr("(it lists: /amd64 "));
}

TEST(ChoosePlatformManifest, AnEntryNamingTheIndexItselfIsNeverChosen) {
  // No real document can list its own digest; one that claims to is not followed.
  registry::Manifest index = ParseIndex(IndexJson({Entry(D("self"), PlatformJson("linux", "amd64"))}));
  auto choice = ChoosePlatformManifest(index, D("self"), kAmd64);
  ASSERT_FALSE(choice.ok());
  EXPECT_THAT(choice.status().message(), HasSubstr("(the index itself, not followed)"));
}

TEST(ChoosePlatformManifest, ExaminesAtMostTheLimitAndSaysSo) {
  std::vector<std::string> entries;
  for (int i = 0; i < 40; ++i) entries.push_back(Entry(D(absl::StrCat("s", i)), PlatformJson("linux", "s390x")));
  entries.push_back(Entry(D("amd64"), PlatformJson("linux", "amd64")));
  registry::Manifest index = ParseIndex(IndexJson(entries));
  auto within = ChoosePlatformManifest(index, D("index"), kAmd64, /*max_entries=*/41);
  ASSERT_TRUE(within.ok()) << within.status();
  EXPECT_EQ(within->manifest.digest, D("amd64"));
  auto beyond = ChoosePlatformManifest(index, D("index"), kAmd64, /*max_entries=*/40);
  ASSERT_FALSE(beyond.ok());
  EXPECT_THAT(beyond.status().message(), HasSubstr("and 24 more; only the first 40 of its 41 entries were examined"));
}

TEST(ChoosePlatformManifest, AnImageManifestIsNotAnIndex) {
  auto manifest = registry::ParseManifest(ImageManifest("{}"), "");
  ASSERT_TRUE(manifest.ok());
  auto choice = ChoosePlatformManifest(*manifest, D("m"), kAmd64);
  EXPECT_TRUE(absl::IsInvalidArgument(choice.status())) << choice.status();
  auto empty = ChoosePlatformManifest(ParseIndex(IndexJson({})), D("e"), kAmd64);
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("(it lists nothing)"));
}

// --- Decisions for a tag that resolves to an index, against a fake registry ---

class IndexDecisionTest : public ::testing::Test {
 protected:
  IndexDecisionTest() : registry_(std::make_shared<FakeRegistry>(kHost)), release_(MakeTestKey()) {
    registry::RegistryClientOptions options;
    options.transport = registry_->transport();
    options.sleep = [](absl::Duration) {};
    auto client = registry::RegistryClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    ImageVerifierOptions verifier_options;
    verifier_options.registry = *std::move(client);
    verifier_options.platform = kAmd64;  // injected: the tests mean the same on every build machine
    auto verifier = ImageVerifier::Create(std::move(verifier_options));
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);

    amd64_ = registry_->PutManifest("team/app", "", ImageManifest(R"({"architecture":"amd64"})"));
    s390x_ = registry_->PutManifest("team/app", "", ImageManifest(R"({"architecture":"s390x"})"));
    const std::string index =
        IndexJson({Entry(s390x_, PlatformJson("linux", "s390x")), Entry(amd64_, PlatformJson("linux", "amd64"))});
    index_ = registry_->PutManifest("team/app", "multi", index, "application/vnd.oci.image.index.v1+json");
    const std::string arm_only = IndexJson({Entry(s390x_, PlatformJson("linux", "s390x"))});
    arm_only_index_ =
        registry_->PutManifest("team/app", "s390x-only", arm_only, "application/vnd.oci.image.index.v1+json");
  }

  Decision Decide(const std::string& image, bool platform_signatures) {
    std::string policy = PolicyTable("team", "\"registry.test/team/**\"", "\"release\"");
    if (platform_signatures) policy = absl::StrCat(policy.substr(0, policy.size() - 1), "platform_signatures = true\n\n");
    auto compiled =
        Policy::Create(*MustParse(absl::StrCat(KeyTable("release", release_.pair.public_pem), policy)));
    EXPECT_TRUE(compiled.ok()) << compiled.status();
    VerifyRequest request;
    request.image = image;
    return verifier_->Decide(**compiled, request);
  }

  void Sign(const std::string& digest) {
    auto layer = test_signer::SignImageLayer(*release_.signer, "registry.test/team/app", digest);
    ASSERT_TRUE(layer.ok()) << layer.status();
    registry_->PutBlob("team/app", layer->payload.bytes);
    auto artifact = test_signer::BuildSignatureArtifact(digest, {*layer});
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    registry_->PutBlob("team/app", artifact->config.bytes);
    registry_->PutManifest("team/app", artifact->tag, artifact->manifest.bytes);
  }

  std::vector<std::string> Urls() const {
    std::vector<std::string> out;
    for (const auto& r : registry_->transport()->requests()) out.push_back(r.url);
    return out;
  }

  static std::string Url(const std::string& path) { return absl::StrCat("https://", kHost, "/v2/team/app/", path); }
  static std::string SigUrl(const std::string& digest) {
    return Url(absl::StrCat("manifests/sha256-", digest.substr(7), ".sig"));
  }
  // The two referrers lookups made with each .sig (pkg/registry/referrers.h).
  static std::string ReferrersUrl(const std::string& digest) { return Url(absl::StrCat("referrers/", digest)); }
  static std::string ReferrersTagUrl(const std::string& digest) {
    return Url(absl::StrCat("manifests/sha256-", digest.substr(7)));
  }

  std::shared_ptr<FakeRegistry> registry_;
  std::unique_ptr<ImageVerifier> verifier_;
  TestKey release_;
  std::string amd64_;
  std::string s390x_;
  std::string index_;
  std::string arm_only_index_;
};

TEST_F(IndexDecisionTest, SignedIndexIsAdmittedPinnedToTheIndexWithNoExtraRequest) {
  Sign(index_);
  for (bool platform_signatures : {false, true}) {
    SCOPED_TRACE(platform_signatures);
    Decision d = Decide("registry.test/team/app:multi", platform_signatures);
    EXPECT_EQ(d.verdict, Outcome::kAllow) << d.reason;
    EXPECT_EQ(d.digest, index_);
    EXPECT_EQ(d.index_digest, "");
    EXPECT_EQ(d.platform, "");
    EXPECT_EQ(d.registry_requests, 5u);  // the tag; .sig, referrers API and referrers tag at once; the blob
  }
}

TEST_F(IndexDecisionTest, PlatformSignatureAloneDoesNotAdmitATagWithoutPlatformSignatures) {
  Sign(amd64_);
  Decision d = Decide("registry.test/team/app:multi", /*platform_signatures=*/false);
  EXPECT_EQ(d.verdict, Outcome::kDeny);
  EXPECT_EQ(d.digest, index_);
  EXPECT_THAT(d.reason, StartsWith("no signatures: "));
  EXPECT_THAT(d.reason, HasSubstr(absl::StrCat("registry.test/team/app:multi is the image index ", index_,
                                               ": the index needs a signature of its own")));
  EXPECT_THAT(d.reason, HasSubstr("platform_signatures = true"));
  // The tag and the index's .sig and referrers: the platform manifest is never looked at.
  const std::vector<std::string> urls = Urls();
  ASSERT_THAT(urls, SizeIs(4));
  EXPECT_EQ(urls[0], Url("manifests/multi"));
  EXPECT_THAT(std::vector<std::string>(urls.begin() + 1, urls.end()),
              ::testing::UnorderedElementsAre(SigUrl(index_), ReferrersUrl(index_), ReferrersTagUrl(index_)));
}

TEST_F(IndexDecisionTest, PlatformSignatureAdmitsATagUnderPlatformSignaturesPinnedToThatManifest) {
  Sign(amd64_);
  Decision d = Decide("registry.test/team/app:multi", /*platform_signatures=*/true);
  EXPECT_EQ(d.verdict, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.outcome, Outcome::kAllow);
  EXPECT_EQ(d.digest, amd64_) << "the pull is pinned to the manifest that was signed";
  EXPECT_EQ(d.index_digest, index_);
  EXPECT_EQ(d.platform, "linux/amd64");
  EXPECT_EQ(d.identity, "release");
  ASSERT_THAT(d.evidence, SizeIs(1));
  EXPECT_EQ(d.evidence[0].statement.subject_digest, amd64_);
  EXPECT_EQ(d.evidence[0].identity, "release");
  EXPECT_THAT(d.reason, StartsWith("accepted: signed by \"release\""));
  EXPECT_THAT(d.reason,
              HasSubstr(absl::StrCat("a signature over the linux/amd64 manifest ", amd64_, " of index ", index_)));
  // Documented in platform.h: the tag; the index's .sig and referrers (at once); the manifest's
  // .sig and referrers (at once); one blob.
  EXPECT_EQ(d.registry_requests, 8u);
  const std::vector<std::string> urls = Urls();
  ASSERT_THAT(urls, SizeIs(8));
  EXPECT_EQ(urls[0], Url("manifests/multi"));
  EXPECT_THAT(std::vector<std::string>(urls.begin() + 1, urls.begin() + 4),
              ::testing::UnorderedElementsAre(SigUrl(index_), ReferrersUrl(index_), ReferrersTagUrl(index_)));
  EXPECT_THAT(std::vector<std::string>(urls.begin() + 4, urls.end()),
              ::testing::UnorderedElementsAre(SigUrl(amd64_), ReferrersUrl(amd64_), ReferrersTagUrl(amd64_),
                                              StartsWith(Url("blobs/sha256:"))));
}

TEST_F(IndexDecisionTest, OnlyTheOtherPlatformSignedIsRefusedNamingBoth) {
  Sign(s390x_);
  Decision d = Decide("registry.test/team/app:multi", /*platform_signatures=*/true);
  EXPECT_EQ(d.verdict, Outcome::kDeny) << d.reason;
  EXPECT_EQ(d.digest, index_);
  EXPECT_EQ(d.index_digest, "");
  EXPECT_THAT(d.reason, StartsWith("the image index is not signed (no signatures: "));
  EXPECT_THAT(d.reason, HasSubstr(absl::StrCat("nor is the linux/amd64 manifest ", amd64_, " of index ", index_,
                                               " (no signatures: ")));
  // The s390x manifest's signature is never fetched: it is not what this node runs.
  EXPECT_THAT(Urls(), Not(::testing::Contains(SigUrl(s390x_))));
}

TEST_F(IndexDecisionTest, AnIndexWithoutTheNodesPlatformIsRefusedSayingWhatItLists) {
  Sign(s390x_);
  Decision d = Decide("registry.test/team/app:s390x-only", /*platform_signatures=*/true);
  EXPECT_EQ(d.verdict, Outcome::kDeny) << d.reason;
  EXPECT_THAT(d.reason, HasSubstr(absl::StrCat("index ", arm_only_index_,
                                               " lists no manifest for linux/amd64 (it lists: linux/s390x ")));
  EXPECT_EQ(d.registry_requests, 4u);
}

TEST_F(IndexDecisionTest, APullByTheIndexDigestNeedsTheIndexSigned) {
  Sign(amd64_);
  Decision d = Decide(absl::StrCat("registry.test/team/app@", index_), /*platform_signatures=*/true);
  EXPECT_EQ(d.verdict, Outcome::kDeny) << d.reason;
  EXPECT_EQ(d.digest, index_);
  EXPECT_EQ(d.registry_requests, 3u);  // the index's .sig and referrers, at once
}

TEST_F(IndexDecisionTest, APullByThePlatformManifestDigestIsAdmittedByItsOwnSignature) {
  Sign(amd64_);
  Decision d = Decide(absl::StrCat("registry.test/team/app@", amd64_), /*platform_signatures=*/false);
  EXPECT_EQ(d.verdict, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.digest, amd64_);
  EXPECT_EQ(d.index_digest, "");
}

TEST_F(IndexDecisionTest, ARegistryFailureOnThePlatformManifestIsAnError) {
  Sign(amd64_);
  registry_->transport()->Respond("GET", SigUrl(amd64_), absl::UnavailableError("connection reset"));
  Decision d = Decide("registry.test/team/app:multi", /*platform_signatures=*/true);
  EXPECT_EQ(d.verdict, Outcome::kError) << d.reason;
  EXPECT_EQ(d.outcome, Outcome::kError);
  EXPECT_THAT(d.reason, StartsWith("RegistryUnavailable: fetching registry.test/team/app:sha256-"));
  EXPECT_THAT(d.reason, HasSubstr(absl::StrCat("checking the linux/amd64 manifest ", amd64_)));
}

TEST_F(IndexDecisionTest, AMalformedIndexEntryMakesTheWholeIndexAnErrorNotASkippedEntry) {
  // The registry client's parser refuses the whole document: nothing in it is chosen or trusted.
  Sign(amd64_);
  for (const std::string& bad_entry :
       {absl::StrCat(R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")", amd64_,
                     R"(","size":100,"platform":"linux/amd64"})"),
        absl::StrCat(R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")", amd64_,
                     R"(","size":100,"platform":{"os":"linux"}})"),
        std::string(R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:abc","size":1,)"
                    R"("platform":{"os":"linux","architecture":"amd64"}})")}) {
    SCOPED_TRACE(bad_entry);
    registry_->PutManifest("team/app", "bad",
                           IndexJson({Entry(amd64_, PlatformJson("linux", "amd64")), bad_entry}),
                           "application/vnd.oci.image.index.v1+json");
    Decision d = Decide("registry.test/team/app:bad", /*platform_signatures=*/true);
    EXPECT_EQ(d.verdict, Outcome::kError) << d.reason;
    EXPECT_THAT(d.reason, StartsWith("RegistryError: resolving registry.test/team/app:bad: INVALID_ARGUMENT: "));
    EXPECT_THAT(d.reason, HasSubstr("manifests[1]"));
  }
}

TEST_F(IndexDecisionTest, AWrongSignatureOnTheIndexStillLetsThePlatformManifestDecide) {
  // The index carries a signature, but by a key the policy does not trust.
  TestKey other = MakeTestKey(test_signer::KeyType::kEd25519);
  auto layer = test_signer::SignImageLayer(*other.signer, "registry.test/team/app", index_);
  ASSERT_TRUE(layer.ok());
  registry_->PutBlob("team/app", layer->payload.bytes);
  auto artifact = test_signer::BuildSignatureArtifact(index_, {*layer});
  ASSERT_TRUE(artifact.ok());
  registry_->PutBlob("team/app", artifact->config.bytes);
  registry_->PutManifest("team/app", artifact->tag, artifact->manifest.bytes);
  Sign(amd64_);
  Decision d = Decide("registry.test/team/app:multi", /*platform_signatures=*/true);
  EXPECT_EQ(d.verdict, Outcome::kAllow) << d.reason;
  EXPECT_EQ(d.digest, amd64_);
  EXPECT_THAT(d.rejections, SizeIs(1));
  EXPECT_THAT(d.rejections[0], HasSubstr("unknown key"));
}

}  // namespace
}  // namespace sigshim::policy
