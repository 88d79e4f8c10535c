// DiscoverReferrers over the fake registry: the referrers API and the referrers tag schema asked
// at once (the API alone at a registry known to answer it), each wanted referrer fetched (manifest, then its one layer), hostile referrers reported
// as problems, and the limit on referrers reported when it is hit.
#include "pkg/registry/referrers.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pkg/base/digest.h"
#include "test/fakes/fake_registry.h"

namespace sigshim::registry {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kType[] = "application/vnd.dev.sigstore.bundle.v0.3+json";
constexpr char kIndexType[] = "application/vnd.oci.image.index.v1+json";

class ReferrersTest : public ::testing::Test {
 protected:
  ReferrersTest() : registry_(std::make_shared<fakes::FakeRegistry>("registry.test")) {
    RegistryClientOptions options;
    options.transport = registry_->transport();
    options.sleep = [](absl::Duration) {};
    options.max_retries = 0;
    auto client = RegistryClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    auto repository = reference::Parse("registry.test/team/app");
    EXPECT_TRUE(repository.ok());
    repository_ = *repository;
    subject_ = Sha256Digest("the image");
    options_.wanted = [](absl::string_view type) { return type == kType; };
    options_.max_artifacts = 3;
    registry_->PutBlob("team/app", "{}");
  }

  // Stores a referrer manifest with `layers` (media type → content) and returns its index entry.
  nlohmann::json Referrer(const std::vector<std::pair<std::string, std::string>>& layers,
                          const std::string& artifact_type = kType) {
    nlohmann::json listed_layers = nlohmann::json::array();
    for (const auto& [type, content] : layers) {
      listed_layers.push_back({{"mediaType", type}, {"digest", registry_->PutBlob("team/app", content)}, {"size", content.size()}});
    }
    const std::string manifest =
        nlohmann::json({{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"artifactType", artifact_type},
                        {"config", {{"mediaType", "application/vnd.oci.empty.v1+json"}, {"digest", Sha256Digest("{}")}, {"size", 2}}},
                        {"layers", listed_layers}})
            .dump();
    return {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
            {"digest", registry_->PutManifest("team/app", "", manifest)},
            {"size", manifest.size()},
            {"artifactType", artifact_type}};
  }

  static std::string Index(const nlohmann::json& manifests) {
    return nlohmann::json({{"schemaVersion", 2}, {"mediaType", kIndexType}, {"manifests", manifests}}).dump();
  }

  void PutTag(const nlohmann::json& manifests) {
    registry_->PutManifest("team/app", absl::StrCat("sha256-", subject_.substr(7)), Index(manifests), kIndexType);
  }

  absl::StatusOr<ReferrerDiscovery> Discover() {
    return DiscoverReferrers(*client_, repository_, subject_, {}, nullptr, options_);
  }

  std::shared_ptr<fakes::FakeRegistry> registry_;
  std::shared_ptr<RegistryClient> client_;
  reference::Reference repository_;
  std::string subject_;
  ReferrerDiscoveryOptions options_;
};

TEST_F(ReferrersTest, NoApiAndNoTagMeansNoReferrersInTwoParallelRequests) {
  auto found = Discover();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_FALSE(found->referrers_api);
  EXPECT_THAT(found->artifacts, IsEmpty());
  EXPECT_THAT(found->problems, IsEmpty());
  EXPECT_EQ(client_->RequestCount(), 2u);
}

TEST_F(ReferrersTest, TagSchemaReferrersAreFetchedAndOtherArtifactTypesSkipped) {
  PutTag({Referrer({{kType, "bundle one"}}), Referrer({{"application/spdx+json", "sbom"}}, "application/spdx+json")});
  auto found = Discover();
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_THAT(found->artifacts, SizeIs(1));
  EXPECT_EQ(found->artifacts[0].content, "bundle one");
  EXPECT_EQ(found->artifacts[0].found_at, absl::StrCat("tag sha256-", subject_.substr(7)));
  EXPECT_EQ(found->artifacts[0].layer_digest, Sha256Digest("bundle one"));
  EXPECT_THAT(found->problems, IsEmpty());
  // API and tag at once, then the bundle's manifest and its layer (the SBOM is never fetched).
  EXPECT_EQ(client_->RequestCount(), 4u);
}

TEST_F(ReferrersTest, ReferrersApiAndTagAreTakenTogetherEachReferrerOnce) {
  const nlohmann::json one = Referrer({{kType, "bundle one"}});
  const nlohmann::json two = Referrer({{kType, "bundle two"}});
  PutTag({one});
  HttpHeaders headers;
  headers.Set("Content-Type", kIndexType);
  registry_->transport()->Respond("GET", absl::StrCat("https://registry.test/v2/team/app/referrers/", subject_),
                                  fakes::FakeHttpTransport::Response(200, Index({one, two}), headers));
  auto found = Discover();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(found->referrers_api);
  ASSERT_THAT(found->artifacts, SizeIs(2));
  EXPECT_EQ(found->artifacts[0].found_at, "referrers API");
  EXPECT_EQ(found->artifacts[1].content, "bundle two");
}

// Returns the URLs `transport` was asked for, in order.
std::vector<std::string> Urls(const fakes::FakeHttpTransport& transport) {
  std::vector<std::string> urls;
  for (const HttpRequest& request : transport.requests()) urls.push_back(request.url);
  return urls;
}

TEST_F(ReferrersTest, ARegistryThatAnsweredTheApiIsAskedTheApiAloneAfterwards) {
  const nlohmann::json one = Referrer({{kType, "bundle one"}});
  HttpHeaders headers;
  headers.Set("Content-Type", kIndexType);
  const std::string api = absl::StrCat("https://registry.test/v2/team/app/referrers/", subject_);
  const std::string tag = absl::StrCat("https://registry.test/v2/team/app/manifests/sha256-", subject_.substr(7));
  registry_->transport()->Respond("GET", api, fakes::FakeHttpTransport::Response(200, Index(nlohmann::json::array({one})), headers));
  ReferrersApiMemory memory;
  options_.api_memory = &memory;

  // Not known yet: API and tag at once, then the bundle.
  auto first = Discover();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_THAT(first->artifacts, SizeIs(1));
  EXPECT_EQ(client_->RequestCount(), 4u);
  EXPECT_THAT(Urls(*registry_->transport()), ::testing::Contains(tag));
  EXPECT_TRUE(memory.Implemented("registry.test"));

  // Known: the API alone (one request fewer, no round trip more).
  const size_t asked = registry_->transport()->requests().size();
  auto second = Discover();
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_THAT(second->artifacts, SizeIs(1));
  EXPECT_EQ(second->artifacts[0].found_at, "referrers API");
  EXPECT_EQ(client_->RequestCount(), 4u + 3u);
  const std::vector<std::string> urls = Urls(*registry_->transport());
  EXPECT_THAT(std::vector<std::string>(urls.begin() + asked, urls.end()), ::testing::Not(::testing::Contains(tag)));
}

TEST_F(ReferrersTest, ARegistryThatStopsAnsweringTheApiIsAskedTheTagRightAfterAndForgotten) {
  PutTag(nlohmann::json::array({Referrer({{kType, "bundle one"}})}));
  ReferrersApiMemory memory;
  memory.Remember("registry.test", true);
  options_.api_memory = &memory;
  // The fake registry has no referrers API (404): the tag is asked after it, and still found.
  auto found = Discover();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_FALSE(found->referrers_api);
  ASSERT_THAT(found->artifacts, SizeIs(1));
  EXPECT_EQ(found->artifacts[0].content, "bundle one");
  EXPECT_EQ(client_->RequestCount(), 4u);
  EXPECT_FALSE(memory.Implemented("registry.test"));
}

TEST_F(ReferrersTest, HostileReferrersAreProblemsNeverArtifacts) {
  const nlohmann::json two_layers = Referrer({{kType, "a"}, {kType, "b"}});
  const nlohmann::json no_layer = Referrer({{"application/octet-stream", "c"}});
  nlohmann::json lying_size = Referrer({{kType, "d"}});
  lying_size["digest"] = Sha256Digest("no such manifest");
  PutTag({two_layers, no_layer, lying_size});
  auto found = Discover();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_THAT(found->artifacts, IsEmpty());
  ASSERT_THAT(found->problems, SizeIs(3));
  EXPECT_THAT(found->problems[0], HasSubstr("more than one layer"));
  EXPECT_THAT(found->problems[1], HasSubstr("no layer of type"));
  EXPECT_THAT(found->problems[2], HasSubstr(Sha256Digest("no such manifest")));
}

TEST_F(ReferrersTest, ReferrersBeyondTheLimitAreReportedNotFetched) {
  nlohmann::json many = nlohmann::json::array();
  for (int i = 0; i < 5; ++i) many.push_back(Referrer({{kType, absl::StrCat("bundle ", i)}}));
  PutTag(many);
  auto found = Discover();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_THAT(found->artifacts, SizeIs(3));
  EXPECT_EQ(found->beyond_limit, 2u);
  EXPECT_THAT(found->problems, ::testing::Contains(HasSubstr("2 more referrer(s) beyond the limit of 3 not fetched")));
  EXPECT_EQ(client_->RequestCount(), 2u + 3u * 2u);
}

TEST_F(ReferrersTest, ATagThatIsNotAnIndexIsAProblemAndAnUnreachableRegistryAnError) {
  registry_->PutManifest("team/app", absl::StrCat("sha256-", subject_.substr(7)),
                         nlohmann::json({{"schemaVersion", 2},
                                         {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                         {"config", {{"mediaType", "application/vnd.oci.empty.v1+json"}, {"digest", Sha256Digest("{}")}, {"size", 2}}},
                                         {"layers", nlohmann::json::array()}})
                             .dump());
  auto found = Discover();
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_THAT(found->problems, SizeIs(1));
  EXPECT_THAT(found->problems[0], HasSubstr("not an image index"));

  registry_->transport()->Respond("GET", absl::StrCat("https://registry.test/v2/team/app/referrers/", subject_),
                                  absl::UnavailableError("connection refused"));
  EXPECT_TRUE(absl::IsUnavailable(Discover().status()));
}

}  // namespace
}  // namespace sigshim::registry
