#include "pkg/verify/simple_signing.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;

const std::string kDigest = Sha256Digest("manifest");

std::string Payload(absl::string_view critical_extra = "", absl::string_view optional = "null") {
  return absl::StrCat(R"({"critical":{"identity":{"docker-reference":"example.com/app"},)",
                      R"("image":{"docker-manifest-digest":")", kDigest, R"("},)",
                      R"("type":"cosign container image signature")", critical_extra,
                      R"(},"optional":)", optional, "}");
}

std::string ErrorOf(absl::string_view payload) {
  auto parsed = ParseSimpleSigningPayload(payload);
  EXPECT_FALSE(parsed.ok()) << payload;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(ParseSimpleSigningPayload, ReadsCosignPayload) {
  auto parsed = ParseSimpleSigningPayload(Payload());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->docker_reference, "example.com/app");
  EXPECT_EQ(parsed->manifest_digest, kDigest);
  EXPECT_EQ(parsed->optional_json, "null");
}

TEST(ParseSimpleSigningPayload, AcceptsAnyOptionalValue) {
  auto parsed = ParseSimpleSigningPayload(Payload("", R"({"creator":"x","timestamp":1657296609})"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->optional_json, R"({"creator":"x","timestamp":1657296609})");
  EXPECT_TRUE(ParseSimpleSigningPayload(Payload("", "[1,2]")).ok());
}

TEST(ParseSimpleSigningPayload, RefusesWrongType) {
  std::string payload = Payload();
  payload.replace(payload.find("cosign container"), 6, "COSIGN");
  EXPECT_THAT(ErrorOf(payload), HasSubstr("critical.type"));
}

TEST(ParseSimpleSigningPayload, RefusesMissingAndUnknownFields) {
  EXPECT_THAT(ErrorOf(R"({"critical":{}})"), HasSubstr("\"optional\""));
  EXPECT_THAT(ErrorOf(R"({"optional":null})"), HasSubstr("\"critical\""));
  EXPECT_THAT(ErrorOf(Payload(R"(,"extra":1)")), HasSubstr("unknown field \"extra\""));
  std::string top_extra = Payload();
  top_extra.insert(1, R"("signer":"me",)");
  EXPECT_THAT(ErrorOf(top_extra), HasSubstr("unknown field \"signer\""));
  EXPECT_THAT(ErrorOf(R"({"critical":{"identity":{"docker-reference":"a"},"image":{},"type":"cosign container image signature"},"optional":null})"),
              HasSubstr("docker-manifest-digest"));
}

TEST(ParseSimpleSigningPayload, RefusesBadDigestAndNonStringReference) {
  std::string bad_digest = Payload();
  bad_digest.replace(bad_digest.find("sha256:"), 7, "sha512:");
  EXPECT_THAT(ErrorOf(bad_digest), HasSubstr("docker-manifest-digest"));
  std::string number_ref = Payload();
  number_ref.replace(number_ref.find(R"("example.com/app")"), 17, "42");
  EXPECT_THAT(ErrorOf(number_ref), HasSubstr("docker-reference"));
}

TEST(ParseSimpleSigningPayload, RefusesAmbiguousOrBrokenJson) {
  // A second "critical" would let two parsers read different claims from the same signed bytes.
  std::string duplicate = Payload();
  duplicate.insert(duplicate.size() - 1, R"(,"critical":{})");
  EXPECT_THAT(ErrorOf(duplicate), HasSubstr("appears twice"));
  EXPECT_THAT(ErrorOf(Payload().substr(1)), HasSubstr("not valid JSON"));
  EXPECT_THAT(ErrorOf("[]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("not valid JSON"));
  std::string bad_utf8 = Payload();
  bad_utf8.replace(bad_utf8.find("example"), 1, "\xff");
  EXPECT_THAT(ErrorOf(bad_utf8), HasSubstr("not valid JSON"));
  EXPECT_THAT(ErrorOf(Payload("", std::string(40, '[') + std::string(40, ']'))), HasSubstr("nested"));
}

TEST(ParseSimpleSigningPayload, RefusesOversizePayload) {
  std::string big = Payload("", absl::StrCat("\"", std::string(kMaxPayloadBytes, 'a'), "\""));
  EXPECT_THAT(ErrorOf(big), HasSubstr("larger than the limit"));
}

TEST(BuildSimpleSigningPayload, WritesCosignLayoutThatParsesBack) {
  auto built = BuildSimpleSigningPayload("example.com/app", kDigest);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ(*built, Payload());
  auto parsed = ParseSimpleSigningPayload(*built);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->docker_reference, "example.com/app");
}

TEST(BuildSimpleSigningPayload, RefusesInvalidInput) {
  EXPECT_FALSE(BuildSimpleSigningPayload("example.com/app", "sha256:abc").ok());
  EXPECT_FALSE(BuildSimpleSigningPayload("example.com/a pp", kDigest).ok());
  EXPECT_FALSE(BuildSimpleSigningPayload("example.com/\xff", kDigest).ok());
}

}  // namespace
}  // namespace sigshim::verify
