#include "pkg/registry/registry_client.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/log.h"
#include "test/fakes/fake_registry.h"

namespace sigshim::registry {
namespace {

using fakes::FakeHttpTransport;
using fakes::FakeRegistry;
using ::testing::HasSubstr;
using ::testing::Not;

const char kHost[] = "registry.test";

std::string ImageManifest(const std::string& layer_content = "layer") {
  return absl::StrCat(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
                      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")",
                      Sha256Digest("{}"), R"(","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",)",
                      R"("digest":")", Sha256Digest(layer_content), R"(","size":)", layer_content.size(), "}]}");
}

reference::Reference Ref(const std::string& text) {
  absl::StatusOr<reference::Reference> ref = reference::Parse(text);
  EXPECT_TRUE(ref.ok()) << ref.status();
  return *ref;
}

Credentials UserPass(const std::string& username, const std::string& password) {
  Credentials credentials;
  credentials.username = username;
  credentials.password = password;
  return credentials;
}

Credentials WithField(std::string Credentials::*field, const std::string& value) {
  Credentials credentials;
  credentials.*field = value;
  return credentials;
}

std::string ManifestUrl(const std::string& name, const std::string& ref) {
  return absl::StrCat("https://", kHost, "/v2/", name, "/manifests/", ref);
}

class RegistryClientTest : public ::testing::Test {
 protected:
  RegistryClientTest() : registry_(std::make_shared<FakeRegistry>(kHost)) {}

  std::unique_ptr<RegistryClient> Client(RegistryClientOptions options = {}) {
    if (options.transport == nullptr) options.transport = registry_->transport();
    options.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
    options.now = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<RegistryClient>> client = RegistryClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  }

  std::shared_ptr<FakeHttpTransport> transport() { return registry_->transport(); }

  std::shared_ptr<FakeRegistry> registry_;
  std::vector<absl::Duration> sleeps_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

TEST_F(RegistryClientTest, ResolvesTagToDigestComputedFromBytes) {
  std::string manifest = ImageManifest();
  registry_->PutManifest("team/app", "v1", manifest);
  auto client = Client();

  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref("registry.test/team/app:v1"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->digest, Sha256Digest(manifest));
  EXPECT_EQ(fetched->bytes, manifest);
  EXPECT_EQ(fetched->media_type, kMediaTypeOciManifest);
  ASSERT_EQ(fetched->manifest.layers.size(), 1u);
  EXPECT_EQ(fetched->manifest.layers[0].digest, Sha256Digest("layer"));

  std::vector<HttpRequest> requests = transport()->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].url, ManifestUrl("team/app", "v1"));
  std::string accept(requests[0].headers.Get("Accept").value_or(""));
  for (absl::string_view type : {kMediaTypeOciManifest, kMediaTypeOciIndex, kMediaTypeDockerManifest,
                                 kMediaTypeDockerManifestList}) {
    EXPECT_THAT(accept, HasSubstr(std::string(type)));
  }
  EXPECT_EQ(client->RequestCount(), 1u);
}

TEST_F(RegistryClientTest, ResolvesLatestWhenReferenceHasNoTag) {
  registry_->PutManifest("team/app", "latest", ImageManifest());
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(transport()->requests()[0].url, ManifestUrl("team/app", "latest"));
}

TEST_F(RegistryClientTest, ResolvesByDigestAndChecksTheBytes) {
  std::string manifest = ImageManifest();
  std::string digest = registry_->PutManifest("team/app", "", manifest);
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref("registry.test/team/app:v1@" + digest), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(transport()->requests()[0].url, ManifestUrl("team/app", digest));

  // A registry that answers a digest request with other bytes is caught.
  std::string other = ImageManifest("other");
  std::string wanted = Sha256Digest("something else");
  transport()->Respond("GET", ManifestUrl("team/app", wanted),
                       FakeHttpTransport::Response(200, other, {{"Content-Type", std::string(kMediaTypeOciManifest)}}));
  absl::StatusOr<FetchedManifest> bad = client->Resolve(Ref("registry.test/team/app@" + wanted), {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(Sha256Digest(other)));
}

TEST_F(RegistryClientTest, LyingDockerContentDigestIsDataLoss) {
  std::string manifest = ImageManifest();
  transport()->Respond("GET", ManifestUrl("team/app", "v1"),
                       FakeHttpTransport::Response(200, manifest,
                                                   {{"Content-Type", std::string(kMediaTypeOciManifest)},
                                                    {"Docker-Content-Digest", Sha256Digest("trusted image")}}));
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:v1"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("Docker-Content-Digest"));
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr(Sha256Digest(manifest)));
}

TEST_F(RegistryClientTest, TruncatedManifestIsRejected) {
  std::string manifest = ImageManifest();
  std::string truncated = manifest.substr(0, manifest.size() / 2);
  transport()->Respond("GET", ManifestUrl("team/app", "short"),
                       FakeHttpTransport::Response(200, truncated, {{"Content-Length", absl::StrCat(manifest.size())}}));
  transport()->Respond("GET", ManifestUrl("team/app", "cut"), FakeHttpTransport::Response(200, truncated));
  auto client = Client();
  EXPECT_EQ(client->Resolve(Ref("registry.test/team/app:short"), {}).status().code(), absl::StatusCode::kDataLoss);
  absl::StatusOr<FetchedManifest> cut = client->Resolve(Ref("registry.test/team/app:cut"), {});
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cut.status().message()), HasSubstr("not valid JSON"));
}

TEST_F(RegistryClientTest, OversizedManifestIsResourceExhausted) {
  registry_->PutManifest("team/app", "big", ImageManifest(std::string(5000, 'x')) + std::string(2048, ' '));
  RegistryClientOptions options;
  options.max_manifest_bytes = 1024;
  absl::StatusOr<FetchedManifest> fetched = Client(options)->Resolve(Ref("registry.test/team/app:big"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("1024"));
}

TEST_F(RegistryClientTest, ManifestOfTheWrongShapeIsInvalidArgument) {
  registry_->PutManifest("team/app", "odd", R"({"schemaVersion":2,"config":{},"layers":"none"})");
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:odd"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("registry.test/team/app:odd"));
}

TEST_F(RegistryClientTest, ParsesIndexes) {
  std::string index = absl::StrCat(R"({"schemaVersion":2,"manifests":[{"mediaType":")", kMediaTypeOciManifest,
                                   R"(","digest":")", Sha256Digest("x"),
                                   R"(","size":1,"platform":{"architecture":"amd64","os":"linux"}}]})");
  registry_->PutManifest("team/app", "multi", index, std::string(kMediaTypeOciIndex));
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:multi"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_TRUE(fetched->manifest.IsIndex());
  EXPECT_EQ(fetched->media_type, kMediaTypeOciIndex);
}

TEST_F(RegistryClientTest, MissingTagOrRepositoryIsNotFound) {
  registry_->PutManifest("team/app", "v1", ImageManifest());
  auto client = Client();
  absl::StatusOr<FetchedManifest> tag = client->GetManifest(Ref("registry.test/team/app"), "sha256-abc.sig", {});
  EXPECT_EQ(tag.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tag.status().message()), HasSubstr("MANIFEST_UNKNOWN"));
  absl::StatusOr<FetchedManifest> repo = client->Resolve(Ref("registry.test/team/nothing:v1"), {});
  EXPECT_EQ(repo.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(repo.status().message()), HasSubstr("NAME_UNKNOWN"));
}

TEST_F(RegistryClientTest, RejectsInvalidTagsAndDigestsBeforeAnyRequest) {
  auto client = Client();
  EXPECT_EQ(client->GetManifest(Ref("registry.test/team/app"), "../../x", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->GetBlob(Ref("registry.test/team/app"), "sha256:zz", 10, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  reference::Reference hand_built;
  hand_built.domain = kHost;
  hand_built.path = "Team/../app";
  EXPECT_EQ(client->GetManifest(hand_built, "v1", {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->RequestCount(), 0u);
}

TEST_F(RegistryClientTest, GetsBlobCheckedAgainstItsDigest) {
  std::string digest = registry_->PutBlob("team/app", "payload");
  auto client = Client();
  absl::StatusOr<std::string> blob = client->GetBlob(Ref("registry.test/team/app"), digest, 1024, {});
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(*blob, "payload");

  std::string wanted = Sha256Digest("the signed payload");
  transport()->Respond("GET", absl::StrCat("https://", kHost, "/v2/team/app/blobs/", wanted),
                       FakeHttpTransport::Response(200, "a different payload"));
  EXPECT_EQ(client->GetBlob(Ref("registry.test/team/app"), wanted, 1024, {}).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(client->GetBlob(Ref("registry.test/team/app"), digest, 3, {}).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(client->GetBlob(Ref("registry.test/team/app"), Sha256Digest("absent"), 1024, {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryClientTest, DescriptorBlobIsCheckedAgainstSizeAndDigest) {
  std::string payload = "signed payload";
  Descriptor descriptor;
  descriptor.digest = registry_->PutBlob("team/app", payload);
  descriptor.size = static_cast<int64_t>(payload.size());
  auto client = Client();
  absl::StatusOr<std::string> blob = GetDescriptorBlob(*client, Ref("registry.test/team/app"), descriptor, 1024, {});
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(*blob, payload);

  Descriptor too_small = descriptor;  // the manifest lies: the blob is longer
  too_small.size = 4;
  EXPECT_EQ(GetDescriptorBlob(*client, Ref("registry.test/team/app"), too_small, 1024, {}).status().code(),
            absl::StatusCode::kDataLoss);
  Descriptor too_big = descriptor;  // the manifest lies: the blob is shorter
  too_big.size = 100;
  EXPECT_EQ(GetDescriptorBlob(*client, Ref("registry.test/team/app"), too_big, 1024, {}).status().code(),
            absl::StatusCode::kDataLoss);
  size_t before = transport()->request_count();
  Descriptor huge = descriptor;  // refused before any request
  huge.size = int64_t{1} << 40;
  EXPECT_EQ(GetDescriptorBlob(*client, Ref("registry.test/team/app"), huge, 1024, {}).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(transport()->request_count(), before);
}

TEST_F(RegistryClientTest, BlobLimitNeverExceedsTheConfiguredCeiling) {
  std::string digest = registry_->PutBlob("team/app", std::string(100, 'p'));
  RegistryClientOptions options;
  options.max_blob_bytes = 64;
  absl::StatusOr<std::string> blob = Client(options)->GetBlob(Ref("registry.test/team/app"), digest, 1 << 30, {});
  EXPECT_EQ(blob.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(blob.status().message()), HasSubstr("limit of 64 bytes"));
  EXPECT_EQ(transport()->requests().back().max_response_bytes, 64u);
}

TEST_F(RegistryClientTest, RetriesThrottlingAndServerErrorsWithoutSleeping) {
  registry_->PutManifest("team/app", "v1", ImageManifest());
  std::string url = ManifestUrl("team/app", "v1");
  transport()->Enqueue("GET", url, FakeHttpTransport::Response(429, "", {{"Retry-After", "3"}}));
  transport()->Enqueue("GET", url, FakeHttpTransport::Response(503));
  transport()->Enqueue("GET", url, absl::UnavailableError("connection reset"));
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref("registry.test/team/app:v1"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(client->RequestCount(), 4u);
  ASSERT_EQ(sleeps_.size(), 3u);
  EXPECT_EQ(sleeps_[0], absl::Seconds(3));  // Retry-After honoured
  EXPECT_EQ(sleeps_[1], absl::Seconds(1));  // then exponential backoff: 500ms doubled
  EXPECT_EQ(sleeps_[2], absl::Seconds(2));
}

TEST_F(RegistryClientTest, ExhaustedRetriesAreUnavailable) {
  transport()->Respond("GET", ManifestUrl("team/app", "v1"), FakeHttpTransport::Response(503));
  transport()->Respond("GET", ManifestUrl("team/app", "v2"), absl::DeadlineExceededError("timed out"));
  RegistryClientOptions options;
  options.max_retries = 2;
  auto client = Client(options);
  absl::StatusOr<FetchedManifest> v1 = client->Resolve(Ref("registry.test/team/app:v1"), {});
  EXPECT_EQ(v1.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(v1.status().message()), HasSubstr("503"));
  EXPECT_THAT(std::string(v1.status().message()), HasSubstr("3 attempts"));
  EXPECT_EQ(client->RequestCount(), 3u);
  EXPECT_EQ(client->Resolve(Ref("registry.test/team/app:v2"), {}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client->RequestCount(), 6u);
}

TEST_F(RegistryClientTest, PermanentTransportFailuresAreNotRetried) {
  absl::Status bad_certificate = absl::UnavailableError("certificate does not verify");
  bad_certificate.SetPayload(kPermanentFailurePayload, absl::Cord("tls"));
  transport()->Respond("GET", ManifestUrl("team/app", "v1"), bad_certificate);
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref("registry.test/team/app:v1"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("certificate does not verify"));
  EXPECT_EQ(client->RequestCount(), 1u);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RegistryClientTest, FollowsRedirectsAndDropsAuthorizationOffOrigin) {
  registry_->RequireBasic("alice", "correct horse");
  std::string payload = "signature payload";
  std::string digest = Sha256Digest(payload);
  transport()->Respond("GET", absl::StrCat("https://", kHost, "/v2/team/app/blobs/", digest),
                       FakeHttpTransport::Response(307, "", {{"Location", "https://storage.test/b?X-Sig=presigned"}}));
  transport()->Respond("GET", "https://storage.test/b", FakeHttpTransport::Response(200, payload));
  Credentials credentials = UserPass("alice", "correct horse");
  auto client = Client();
  // The first call learns Basic; the blob request then carries it to the registry only.
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:none"), credentials).status().code() ==
              absl::StatusCode::kNotFound);
  absl::StatusOr<std::string> blob = client->GetBlob(Ref("registry.test/team/app"), digest, 1024, credentials);
  ASSERT_TRUE(blob.ok()) << blob.status();
  std::vector<HttpRequest> requests = transport()->requests();
  ASSERT_GE(requests.size(), 2u);
  const HttpRequest& to_registry = requests[requests.size() - 2];
  const HttpRequest& to_storage = requests.back();
  EXPECT_TRUE(to_registry.headers.Get("Authorization").has_value());
  EXPECT_EQ(to_storage.url, "https://storage.test/b?X-Sig=presigned");
  EXPECT_FALSE(to_storage.headers.Get("Authorization").has_value());
}

TEST_F(RegistryClientTest, RedirectLoopIsRefused) {
  std::string url = ManifestUrl("team/app", "v1");
  transport()->Respond("GET", url, FakeHttpTransport::Response(302, "", {{"Location", "/elsewhere"}}));
  transport()->Respond("GET", absl::StrCat("https://", kHost, "/elsewhere"),
                       FakeHttpTransport::Response(302, "", {{"Location", url}}));
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:v1"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("redirect loop"));
}

TEST_F(RegistryClientTest, TooManyRedirectsAreRefused) {
  for (int i = 0; i < 10; ++i) {
    transport()->Respond("GET", absl::StrCat("https://", kHost, "/hop", i),
                         FakeHttpTransport::Response(307, "", {{"Location", absl::StrCat("/hop", i + 1)}}));
  }
  transport()->Respond("GET", ManifestUrl("team/app", "v1"),
                       FakeHttpTransport::Response(307, "", {{"Location", "/hop0"}}));
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref("registry.test/team/app:v1"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("more than 5 redirects"));
  EXPECT_EQ(client->RequestCount(), 6u);
}

TEST_F(RegistryClientTest, HttpsToHttpRedirectIsRefused) {
  transport()->Respond("GET", ManifestUrl("team/app", "v1"),
                       FakeHttpTransport::Response(301, "", {{"Location", "http://registry.test/v2/team/app/manifests/v1"}}));
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:v1"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("https to plain http"));
  EXPECT_EQ(transport()->request_count(), 1u);
}

TEST_F(RegistryClientTest, BasicAuthAfterChallengeThenPreemptively) {
  registry_->RequireBasic("alice", "s3cret-pass");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  Credentials credentials = UserPass("alice", "s3cret-pass");
  auto client = Client();
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), credentials).ok());
  std::vector<HttpRequest> requests = transport()->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_FALSE(requests[0].headers.Get("Authorization").has_value());  // anonymous first
  EXPECT_EQ(requests[1].headers.Get("Authorization").value_or(""),
            "Basic " + Base64Encode("alice:s3cret-pass"));
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), credentials).ok());
  EXPECT_EQ(client->RequestCount(), 3u);  // the second resolve needs no challenge
}

TEST_F(RegistryClientTest, BasicAuthFromTheAuthField) {
  registry_->RequireBasic("bob", "pw:with:colons");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  Credentials credentials = WithField(&Credentials::auth, Base64Encode("bob:pw:with:colons"));
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:v1"), credentials);
  EXPECT_TRUE(fetched.ok()) << fetched.status();
}

TEST_F(RegistryClientTest, MissingCredentialsAreUnauthenticated) {
  registry_->RequireBasic("alice", "s3cret-pass");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:v1"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("none were given"));
}

TEST_F(RegistryClientTest, RejectedCredentialsNeverAppearInErrors) {
  registry_->RequireBasic("alice", "s3cret-pass");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  // A hostile registry that echoes what it was sent in its error message.
  transport()->SetFallback([](const HttpRequest& request) {
    std::string echoed(request.headers.Get("Authorization").value_or("none"));
    HttpResponse response = FakeHttpTransport::Response(
        401, absl::StrCat(R"({"errors":[{"code":"UNAUTHORIZED","message":"you sent )", echoed, R"("}]})"));
    response.headers.Add("WWW-Authenticate", R"(Basic realm="r")");
    return response;
  });
  Credentials credentials = UserPass("alice", "hunter2-wrong");
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:v1"), credentials);
  ASSERT_EQ(fetched.status().code(), absl::StatusCode::kUnauthenticated);
  std::string message(fetched.status().message());
  EXPECT_THAT(message, Not(HasSubstr("hunter2-wrong")));
  EXPECT_THAT(message, Not(HasSubstr(Base64Encode("alice:hunter2-wrong"))));
  EXPECT_THAT(message, HasSubstr("with the credentials given"));
}

TEST_F(RegistryClientTest, BearerTokenIsFetchedForTheScopeAndCached) {
  registry_->RequireBearer("", "");  // anonymous tokens
  registry_->PutManifest("team/app", "v1", ImageManifest());
  registry_->PutManifest("team/other", "v1", ImageManifest());
  auto client = Client();
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), {}).ok());
  EXPECT_EQ(registry_->tokens_issued(), 1);
  std::vector<HttpRequest> requests = transport()->requests();
  ASSERT_EQ(requests.size(), 3u);  // 401, token, retry with token
  EXPECT_EQ(requests[1].url, registry_->realm() + "?service=fake-registry&scope=repository%3Ateam%2Fapp%3Apull");
  EXPECT_EQ(requests[2].headers.Get("Authorization").value_or(""), "Bearer token-1");

  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), {}).ok());
  EXPECT_EQ(registry_->tokens_issued(), 1);  // cached
  EXPECT_EQ(client->RequestCount(), 4u);

  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/other:v1"), {}).ok());
  EXPECT_EQ(registry_->tokens_issued(), 2);  // another scope, another token
}

TEST_F(RegistryClientTest, ExpiredBearerTokenIsRefetched) {
  registry_->RequireBearer("", "", "", /*expires_in=*/60);
  registry_->PutManifest("team/app", "v1", ImageManifest());
  auto client = Client();
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), {}).ok());
  now_ += absl::Seconds(30);
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), {}).ok());
  EXPECT_EQ(registry_->tokens_issued(), 1);
  now_ += absl::Seconds(60);
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), {}).ok());
  EXPECT_EQ(registry_->tokens_issued(), 2);
}

TEST_F(RegistryClientTest, BearerTokensAreNotSharedAcrossCredentials) {
  registry_->RequireBearer("", "");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  auto client = Client();
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), {}).ok());
  // Another caller with credentials of its own does not get the anonymous token.
  Credentials other = UserPass("carol", "pw");
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), other).ok());
  EXPECT_EQ(registry_->tokens_issued(), 2);
}

TEST_F(RegistryClientTest, BearerTokenWithUserAndPassword) {
  registry_->RequireBearer("alice", "s3cret-pass");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  auto client = Client();
  Credentials good = UserPass("alice", "s3cret-pass");
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), good).ok());
  std::vector<HttpRequest> requests = transport()->requests();
  EXPECT_EQ(requests[1].headers.Get("Authorization").value_or(""), "Basic " + Base64Encode("alice:s3cret-pass"));

  Credentials bad = UserPass("alice", "not-the-password");
  absl::StatusOr<FetchedManifest> refused = client->Resolve(Ref("registry.test/team/app:v1"), bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("credentials were rejected"));
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("not-the-password")));

  absl::StatusOr<FetchedManifest> anonymous = client->Resolve(Ref("registry.test/team/app:v1"), {});
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(anonymous.status().message()), HasSubstr("needs credentials"));
}

TEST_F(RegistryClientTest, IdentityTokenIsExchangedWithTheRefreshGrant) {
  registry_->RequireBearer("someone", "unused", "refresh-abc123");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  Credentials credentials = WithField(&Credentials::identity_token, "refresh-abc123");
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:v1"), credentials);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  HttpRequest token_request = transport()->requests()[1];
  EXPECT_EQ(token_request.method, "POST");
  EXPECT_EQ(token_request.url, registry_->realm());
  EXPECT_THAT(token_request.body, HasSubstr("grant_type=refresh_token"));
  EXPECT_THAT(token_request.body, HasSubstr("refresh_token=refresh-abc123"));
  EXPECT_THAT(token_request.body, HasSubstr("scope=repository%3Ateam%2Fapp%3Apull"));
  EXPECT_EQ(token_request.headers.Get("Content-Type").value_or(""), "application/x-www-form-urlencoded");
}

TEST_F(RegistryClientTest, RegistryTokenIsSentDirectly) {
  registry_->PutManifest("team/app", "v1", ImageManifest());
  auto client = Client();
  Credentials credentials = WithField(&Credentials::registry_token, "direct-token-42");
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), credentials).ok());
  std::vector<HttpRequest> requests = transport()->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers.Get("Authorization").value_or(""), "Bearer direct-token-42");

  registry_->RequireBearer("", "");  // now the fake only accepts its own tokens
  absl::StatusOr<FetchedManifest> refused = client->Resolve(Ref("registry.test/team/app:v1"), credentials);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("direct-token-42")));
}

TEST_F(RegistryClientTest, PlainHttpTokenRealmIsRefusedForHttpsRegistry) {
  transport()->Respond("GET", ManifestUrl("team/app", "v1"),
                       FakeHttpTransport::Response(401, "", {{"WWW-Authenticate",
                                                              R"(Bearer realm="http://auth.test/token",service="s")"}}));
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched =
      client->Resolve(Ref("registry.test/team/app:v1"), UserPass("u", "p"));
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("not https"));
  EXPECT_EQ(client->RequestCount(), 1u);  // nothing was sent to the realm
}

TEST_F(RegistryClientTest, InsecureRegistryIsReachedOverHttp) {
  auto local = std::make_shared<FakeRegistry>("127.0.0.1:5000", "http");
  local->PutManifest("app", "v1", ImageManifest());
  RegistryClientOptions options;
  options.transport = local->transport();
  options.insecure_registries = {"127.0.0.1:5000"};
  absl::StatusOr<FetchedManifest> fetched = Client(options)->Resolve(Ref("127.0.0.1:5000/app:v1"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(local->transport()->requests()[0].url, "http://127.0.0.1:5000/v2/app/manifests/v1");

  // Without the setting the same registry is contacted over https.
  RegistryClientOptions strict;
  strict.transport = local->transport();
  EXPECT_FALSE(Client(strict)->Resolve(Ref("127.0.0.1:5000/app:v1"), {}).ok());
  EXPECT_EQ(local->transport()->requests().back().url, "https://127.0.0.1:5000/v2/app/manifests/v1");
}

TEST_F(RegistryClientTest, DockerHubIsReachedAtRegistry1) {
  auto hub = std::make_shared<FakeRegistry>("registry-1.docker.io");
  hub->PutManifest("library/busybox", "latest", ImageManifest());
  RegistryClientOptions options;
  options.transport = hub->transport();
  absl::StatusOr<FetchedManifest> fetched = Client(options)->Resolve(Ref("busybox"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(hub->transport()->requests()[0].url, "https://registry-1.docker.io/v2/library/busybox/manifests/latest");
}

TEST_F(RegistryClientTest, RevokedTokenIsReplacedOnce) {
  registry_->RequireBearer("", "");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  auto client = Client();
  ASSERT_TRUE(client->Resolve(Ref("registry.test/team/app:v1"), {}).ok());
  registry_->RevokeTokens();
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref("registry.test/team/app:v1"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(registry_->tokens_issued(), 2);
}

TEST_F(RegistryClientTest, UnusableChallengesAreUnauthenticated) {
  transport()->Respond("GET", ManifestUrl("team/app", "none"), FakeHttpTransport::Response(401));
  transport()->Respond("GET", ManifestUrl("team/app", "ntlm"),
                       FakeHttpTransport::Response(401, "", {{"WWW-Authenticate", "NTLM"}}));
  transport()->Respond("GET", ManifestUrl("team/app", "broken"),
                       FakeHttpTransport::Response(401, "", {{"WWW-Authenticate", R"(Bearer realm="unterminated)"}}));
  auto client = Client();
  absl::StatusOr<FetchedManifest> none = client->Resolve(Ref("registry.test/team/app:none"), {});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("without a WWW-Authenticate"));
  absl::StatusOr<FetchedManifest> ntlm = client->Resolve(Ref("registry.test/team/app:ntlm"), {});
  EXPECT_EQ(ntlm.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(ntlm.status().message()), HasSubstr("ntlm"));
  EXPECT_EQ(client->Resolve(Ref("registry.test/team/app:broken"), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryClientTest, MalformedCredentialsAreRefusedWithoutEchoingThem) {
  registry_->RequireBasic("alice", "pw");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  auto client = Client();
  absl::StatusOr<FetchedManifest> bad_auth =
      client->Resolve(Ref("registry.test/team/app:v1"), WithField(&Credentials::auth, "%%not-base64%%"));
  EXPECT_EQ(bad_auth.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_auth.status().message()), Not(HasSubstr("not-base64")));

  absl::StatusOr<FetchedManifest> injected = client->Resolve(
      Ref("registry.test/team/app:v1"), WithField(&Credentials::registry_token, "tok\r\nX-Evil: 1"));
  EXPECT_EQ(injected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(injected.status().message()), Not(HasSubstr("X-Evil")));
}

TEST_F(RegistryClientTest, TokenServerFailuresAreNeverNotFound) {
  transport()->Respond("GET", ManifestUrl("team/app", "v1"),
                       FakeHttpTransport::Response(401, "", {{"WWW-Authenticate", R"(Bearer realm="https://auth.test/token")"}}));
  transport()->Respond("GET", "https://auth.test/token", FakeHttpTransport::Response(404));
  absl::StatusOr<FetchedManifest> fetched = Client()->Resolve(Ref("registry.test/team/app:v1"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("token request"));
}

TEST_F(RegistryClientTest, TokenAnswerWithoutTokenIsInvalidArgument) {
  transport()->Respond("GET", ManifestUrl("team/app", "v1"),
                       FakeHttpTransport::Response(401, "", {{"WWW-Authenticate", R"(Bearer realm="https://auth.test/token")"}}));
  transport()->Respond("GET", "https://auth.test/token", FakeHttpTransport::Response(200, R"({"expires_in":60})"));
  EXPECT_EQ(Client()->Resolve(Ref("registry.test/team/app:v1"), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryClientTest, AcceptsAccessTokenField) {
  registry_->PutManifest("team/app", "v1", ImageManifest());
  std::string url = ManifestUrl("team/app", "v1");
  transport()->Enqueue("GET", url,
                       FakeHttpTransport::Response(401, "", {{"WWW-Authenticate", R"(Bearer realm="https://auth.test/token")"}}));
  transport()->Respond("GET", "https://auth.test/token", FakeHttpTransport::Response(200, R"({"access_token":"oauth-tok"})"));
  ASSERT_TRUE(Client()->Resolve(Ref("registry.test/team/app:v1"), {}).ok());
  EXPECT_EQ(transport()->requests().back().headers.Get("Authorization").value_or(""), "Bearer oauth-tok");
}

TEST_F(RegistryClientTest, ServesConcurrentCallersSharingTheTokenCache) {
  registry_->RequireBearer("", "");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  registry_->PutManifest("team/other", "v1", ImageManifest("x"));
  auto client = Client();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < 20; ++j) {
        const char* name = (i + j) % 2 == 0 ? "registry.test/team/app:v1" : "registry.test/team/other:v1";
        if (!client->Resolve(Ref(name), {}).ok()) failures++;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(registry_->tokens_issued(), 2);
}

TEST_F(RegistryClientTest, DebugLogsCarryNoSecrets) {
  registry_->RequireBearer("alice", "log-secret-pw");
  registry_->PutManifest("team/app", "v1", ImageManifest());
  std::string url = ManifestUrl("team/app", "v1");
  transport()->Enqueue("GET", url, FakeHttpTransport::Response(503));  // a retry gets logged too
  log::SetLevel(log::Level::kDebug);
  ::testing::internal::CaptureStderr();
  auto client = Client();
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref("registry.test/team/app:v1"), UserPass("alice", "log-secret-pw"));
  std::string logged = ::testing::internal::GetCapturedStderr();
  log::SetLevel(log::Level::kInfo);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_THAT(logged, HasSubstr("registry"));  // something was logged
  EXPECT_THAT(logged, Not(HasSubstr("log-secret-pw")));
  EXPECT_THAT(logged, Not(HasSubstr(Base64Encode("alice:log-secret-pw"))));
  EXPECT_THAT(logged, Not(HasSubstr("token-1")));
}

TEST(HttpHeaders, LooksUpNamesInAnyCase) {
  HttpHeaders headers;
  headers.Add("Content-Type", "a");
  headers.Add("WWW-Authenticate", "Basic");
  headers.Add("www-authenticate", "Bearer realm=x");
  EXPECT_EQ(headers.Get("content-type").value_or(""), "a");
  EXPECT_EQ(headers.GetAll("Www-Authenticate").size(), 2u);
  headers.Set("CONTENT-TYPE", "b");
  EXPECT_EQ(headers.GetAll("content-type"), std::vector<std::string>{"b"});
  headers.Remove("www-AUTHENTICATE");
  EXPECT_FALSE(headers.Get("WWW-Authenticate").has_value());
}

// The loopback convention through the transport seam, for the hosts real sockets cannot give
// here: [::1] (not every machine has IPv6 loopback) and a DNS name (the test cannot make one
// resolve to 127.0.0.1). registry_client_loopback_test.cc covers the rest over real sockets.

// Answers every https request to `authority` as a plain-HTTP server answers a TLS handshake.
void AnswerHttpsInPlainHttp(FakeHttpTransport& transport, const std::string& authority) {
  auto plain = std::make_shared<FakeRegistry>(authority, "http");
  plain->PutManifest("team/app", "v1", ImageManifest());
  transport.SetFallback([plain, authority](const HttpRequest& request) -> absl::StatusOr<HttpResponse> {
    if (absl::StartsWith(request.url, absl::StrCat("https://", authority, "/"))) {
      return PlainHttpPeerError(absl::StrCat(request.url, ": the server does not speak TLS"));
    }
    return plain->transport()->Do(request);
  });
}

TEST_F(RegistryClientTest, Ipv6LoopbackRegistryFallsBackToPlainHttp) {
  auto transport = std::make_shared<FakeHttpTransport>();
  AnswerHttpsInPlainHttp(*transport, "[::1]:5000");
  RegistryClientOptions options;
  options.transport = transport;
  auto client = Client(options);
  absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref("[::1]:5000/team/app:v1"), {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ASSERT_TRUE(client->Resolve(Ref("[::1]:5000/team/app:v1"), {}).ok());
  std::vector<HttpRequest> requests = transport->requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].url, "https://[::1]:5000/v2/team/app/manifests/v1");
  EXPECT_EQ(requests[1].url, "http://[::1]:5000/v2/team/app/manifests/v1");
  EXPECT_EQ(requests[2].url, "http://[::1]:5000/v2/team/app/manifests/v1");
}

TEST_F(RegistryClientTest, DnsNameAnsweringInPlainHttpNeverFallsBack) {
  for (const std::string host : {"registry.test:5000", "localhost.localdomain:5000", "my.localhost:5000"}) {
    SCOPED_TRACE(host);
    auto transport = std::make_shared<FakeHttpTransport>();
    AnswerHttpsInPlainHttp(*transport, host);
    RegistryClientOptions options;
    options.transport = transport;
    auto client = Client(options);
    absl::StatusOr<FetchedManifest> fetched = client->Resolve(Ref(host + "/team/app:v1"), {});
    EXPECT_EQ(fetched.status().code(), absl::StatusCode::kUnavailable) << fetched.status();
    EXPECT_THAT(std::string(fetched.status().message()),
                HasSubstr(absl::StrCat("list it in [registry] insecure (insecure = [\"", host, "\"])")));
    ASSERT_EQ(transport->requests().size(), 1u);  // no retry, and never plain HTTP
    EXPECT_EQ(transport->requests()[0].url, absl::StrCat("https://", host, "/v2/team/app/manifests/v1"));
  }
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RegistryClientTest, LoopbackRegistryServingHttpsIsNotDowngraded) {
  // A loopback registry whose TLS works keeps every HTTPS rule: no plain-HTTP token realm, no
  // redirect to plain HTTP.
  auto local = std::make_shared<FakeRegistry>("127.0.0.1:5000");
  local->PutManifest("team/app", "v1", ImageManifest());
  RegistryClientOptions options;
  options.transport = local->transport();
  auto client = Client(options);
  ASSERT_TRUE(client->Resolve(Ref("127.0.0.1:5000/team/app:v1"), {}).ok());
  EXPECT_EQ(local->transport()->requests()[0].url, "https://127.0.0.1:5000/v2/team/app/manifests/v1");

  local->transport()->Respond("GET", "https://127.0.0.1:5000/v2/team/app/manifests/v2",
                              FakeHttpTransport::Response(401, "", {{"WWW-Authenticate",
                                                                     R"(Bearer realm="http://127.0.0.1:5000/token")"}}));
  absl::StatusOr<FetchedManifest> realm = client->Resolve(Ref("127.0.0.1:5000/team/app:v2"), {});
  EXPECT_EQ(realm.status().code(), absl::StatusCode::kPermissionDenied) << realm.status();
  EXPECT_THAT(std::string(realm.status().message()), HasSubstr("not https"));

  local->transport()->Respond("GET", "https://127.0.0.1:5000/v2/team/app/manifests/v3",
                              FakeHttpTransport::Response(301, "", {{"Location", "http://127.0.0.1:5000/v2/x"}}));
  absl::StatusOr<FetchedManifest> redirect = client->Resolve(Ref("127.0.0.1:5000/team/app:v3"), {});
  EXPECT_EQ(redirect.status().code(), absl::StatusCode::kPermissionDenied) << redirect.status();
  EXPECT_THAT(std::string(redirect.status().message()), HasSubstr("https to plain http"));
  for (const HttpRequest& request : local->transport()->requests()) {
    EXPECT_TRUE(absl::StartsWith(request.url, "https://")) << request.url;
  }
}

TEST_F(RegistryClientTest, LoopbackCertificateFailureDoesNotFallBack) {
  auto transport = std::make_shared<FakeHttpTransport>();
  absl::Status bad_certificate = absl::UnavailableError("https://localhost:5000/v2/: certificate does not verify");
  bad_certificate.SetPayload(kPermanentFailurePayload, absl::Cord("tls"));
  transport->SetFallback([bad_certificate](const HttpRequest&) -> absl::StatusOr<HttpResponse> { return bad_certificate; });
  RegistryClientOptions options;
  options.transport = transport;
  absl::StatusOr<FetchedManifest> fetched = Client(options)->Resolve(Ref("localhost:5000/team/app:v1"), {});
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kUnavailable) << fetched.status();
  EXPECT_THAT(std::string(fetched.status().message()), HasSubstr("certificate does not verify"));
  ASSERT_EQ(transport->requests().size(), 1u);
  EXPECT_EQ(transport->requests()[0].url, "https://localhost:5000/v2/team/app/manifests/v1");
}

TEST_F(RegistryClientTest, RedirectTargetAnsweringInPlainHttpDoesNotFallBack) {
  // Only the registry's own endpoint may fall back, never where it redirects to, even on loopback.
  auto local = std::make_shared<FakeRegistry>("127.0.0.1:5000");
  std::string payload = "signature payload";
  std::string digest = Sha256Digest(payload);
  local->transport()->Respond("GET", absl::StrCat("https://127.0.0.1:5000/v2/team/app/blobs/", digest),
                              FakeHttpTransport::Response(307, "", {{"Location", "https://127.0.0.1:6000/b"}}));
  local->transport()->Respond("GET", "https://127.0.0.1:6000/b",
                              PlainHttpPeerError("https://127.0.0.1:6000/b: the server does not speak TLS"));
  local->transport()->Respond("GET", "http://127.0.0.1:6000/b", FakeHttpTransport::Response(200, payload));
  RegistryClientOptions options;
  options.transport = local->transport();
  absl::StatusOr<std::string> blob = Client(options)->GetBlob(Ref("127.0.0.1:5000/team/app"), digest, 1024, {});
  EXPECT_EQ(blob.status().code(), absl::StatusCode::kUnavailable) << blob.status();
  for (const HttpRequest& request : local->transport()->requests()) {
    EXPECT_TRUE(absl::StartsWith(request.url, "https://")) << request.url;
  }
}

TEST_F(RegistryClientTest, RememberedLoopbackAnswersAreBounded) {
  auto transport = std::make_shared<FakeHttpTransport>();
  RegistryClientOptions options;
  options.transport = transport;
  options.max_remembered_loopback = 2;
  // Every loopback registry here answers HTTPS in plain HTTP, and the manifest over plain HTTP.
  transport->SetFallback([](const HttpRequest& request) -> absl::StatusOr<HttpResponse> {
    if (absl::StartsWith(request.url, "https://")) return PlainHttpPeerError(absl::StrCat(request.url, ": not TLS"));
    return FakeHttpTransport::Response(200, ImageManifest(),
                                       {{"Content-Type", std::string(kMediaTypeOciManifest)}});
  });
  auto client = Client(options);
  for (int port : {5001, 5002, 5003}) {
    ASSERT_TRUE(client->Resolve(Ref(absl::StrCat("127.0.0.1:", port, "/team/app:v1")), {}).ok());
  }
  EXPECT_EQ(client->RequestCount(), 6u);
  // The third forgot the first two (none had expired); the third is still remembered.
  ASSERT_TRUE(client->Resolve(Ref("127.0.0.1:5003/team/app:v1"), {}).ok());
  EXPECT_EQ(client->RequestCount(), 7u);
  ASSERT_TRUE(client->Resolve(Ref("127.0.0.1:5001/team/app:v1"), {}).ok());
  EXPECT_EQ(client->RequestCount(), 9u);
}

TEST_F(RegistryClientTest, NegativeLoopbackMemoryIsRefused) {
  RegistryClientOptions options;
  options.loopback_plain_http_memory = absl::Seconds(-1);
  EXPECT_EQ(RegistryClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sigshim::registry
