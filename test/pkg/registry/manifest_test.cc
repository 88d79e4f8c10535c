#include "pkg/registry/manifest.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"

namespace sigshim::registry {
namespace {

using ::testing::HasSubstr;

const std::string kD1 = Sha256Digest("one");
const std::string kD2 = Sha256Digest("two");

std::string ImageManifest(const std::string& layers_json) {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
         R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
         kD1 + R"(","size":3},"layers":)" + layers_json + "}";
}

TEST(Manifest, ParsesOciImageManifestWithAnnotations) {
  std::string bytes = ImageManifest(
      R"([{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":")" + kD2 +
      R"(","size":3,"annotations":{"dev.cosignproject.cosign/signature":"MEUC"}}])");
  absl::StatusOr<Manifest> manifest = ParseManifest(bytes, "");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->media_type, kMediaTypeOciManifest);
  EXPECT_FALSE(manifest->IsIndex());
  EXPECT_EQ(manifest->config.digest, kD1);
  ASSERT_EQ(manifest->layers.size(), 1u);
  EXPECT_EQ(manifest->layers[0].media_type, "application/vnd.dev.cosign.simplesigning.v1+json");
  EXPECT_EQ(manifest->layers[0].size, 3);
  EXPECT_EQ(manifest->layers[0].annotations.at("dev.cosignproject.cosign/signature"), "MEUC");
}

TEST(Manifest, ParsesIndexWithPlatforms) {
  std::string bytes = R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
                      R"("digest":")" + kD1 + R"(","size":10,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]})";
  absl::StatusOr<Manifest> manifest = ParseManifest(bytes, "application/vnd.oci.image.index.v1+json");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_TRUE(manifest->IsIndex());
  ASSERT_EQ(manifest->manifests.size(), 1u);
  ASSERT_TRUE(manifest->manifests[0].platform.has_value());
  EXPECT_EQ(manifest->manifests[0].platform->architecture, "arm64");
  EXPECT_EQ(manifest->manifests[0].platform->variant, "v8");
}

TEST(Manifest, TakesMediaTypeFromContentTypeWhenDocumentHasNone) {
  std::string bytes = R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + kD1 +
                      R"(","size":1},"layers":[]})";
  absl::StatusOr<Manifest> manifest =
      ParseManifest(bytes, "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->media_type, kMediaTypeDockerManifest);
}

TEST(Manifest, RejectsMediaTypeThatContradictsContentType) {
  absl::StatusOr<Manifest> manifest = ParseManifest(ImageManifest("[]"), std::string(kMediaTypeOciIndex));
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(manifest.status().message()), HasSubstr("served as"));
}

struct HostileCase {
  std::string name;
  std::string bytes;
  std::string reason;
};

void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }

class ManifestHostile : public ::testing::TestWithParam<HostileCase> {};

TEST_P(ManifestHostile, IsInvalidArgumentNamingTheProblem) {
  ManifestLimits limits;
  limits.max_descriptors = 3;
  limits.max_annotations = 2;
  limits.max_string_bytes = 80;
  absl::StatusOr<Manifest> manifest = ParseManifest(GetParam().bytes, "", limits);
  ASSERT_FALSE(manifest.ok()) << GetParam().name;
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kInvalidArgument) << GetParam().name;
  EXPECT_THAT(std::string(manifest.status().message()), HasSubstr(GetParam().reason)) << GetParam().name;
}

std::string Layer(const std::string& fields) { return ImageManifest("[{" + fields + "}]"); }

INSTANTIATE_TEST_SUITE_P(
    Manifest, ManifestHostile,
    ::testing::Values(
        HostileCase{"not json", "{\"schemaVersion\":2,", "not valid JSON"},
        HostileCase{"empty", "", "not valid JSON"},
        HostileCase{"array", "[1,2]", "not a JSON object"},
        HostileCase{"no schema", R"({"layers":[]})", "schemaVersion: is missing"},
        HostileCase{"schema string", R"({"schemaVersion":"2"})", "schemaVersion: must be the integer 2"},
        HostileCase{"schema 1", R"({"schemaVersion":1,"fsLayers":[]})", "schema 1"},
        HostileCase{"unknown media type", R"({"schemaVersion":2,"mediaType":"text/plain"})", "not supported"},
        HostileCase{"media type not string", R"({"schemaVersion":2,"mediaType":7})", "mediaType: must be a string"},
        HostileCase{"no config", R"({"schemaVersion":2,"layers":[]})", "config: is missing"},
        HostileCase{"layers not array", ImageManifest("\"nope\""), "layers: must be an array"},
        HostileCase{"layers missing",
                    R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + kD1 + R"(","size":1}})",
                    "layers: is missing"},
        HostileCase{"layer not object", ImageManifest("[42]"), "layers[0]: must be an object"},
        HostileCase{"negative size", Layer(R"("mediaType":"x","digest":")" + kD2 + R"(","size":-1)"),
                    "layers[0].size: must be a non-negative integer"},
        HostileCase{"float size", Layer(R"("mediaType":"x","digest":")" + kD2 + R"(","size":1.5)"),
                    "layers[0].size"},
        HostileCase{"string size", Layer(R"("mediaType":"x","digest":")" + kD2 + R"(","size":"3")"),
                    "layers[0].size"},
        HostileCase{"huge size", Layer(R"("mediaType":"x","digest":")" + kD2 + R"(","size":18446744073709551615)"),
                    "layers[0].size: is too large"},
        HostileCase{"missing size", Layer(R"("mediaType":"x","digest":")" + kD2 + R"(")"), "layers[0].size: is missing"},
        HostileCase{"bad digest", Layer(R"("mediaType":"x","digest":"md5:abc","size":1)"), "layers[0].digest"},
        HostileCase{"digest not string", Layer(R"("mediaType":"x","digest":5,"size":1)"),
                    "layers[0].digest: must be a string"},
        HostileCase{"annotation not string",
                    Layer(R"("mediaType":"x","digest":")" + kD2 + R"(","size":1,"annotations":{"a":1})"),
                    "layers[0].annotations[\"a\"]: must be a string"},
        HostileCase{"too many annotations",
                    Layer(R"("mediaType":"x","digest":")" + kD2 +
                          R"(","size":1,"annotations":{"a":"1","b":"2","c":"3"})"),
                    "limit is 2"},
        HostileCase{"too many layers",
                    ImageManifest("[" + std::string(R"({"mediaType":"x","digest":")") + kD2 + R"(","size":1},)" +
                                  R"({"mediaType":"x","digest":")" + kD2 + R"(","size":1},)" +
                                  R"({"mediaType":"x","digest":")" + kD2 + R"(","size":1},)" +
                                  R"({"mediaType":"x","digest":")" + kD2 + R"(","size":1}])"),
                    "layers: has 4 entries, the limit is 3"},
        HostileCase{"long string", Layer(R"("mediaType":")" + std::string(100, 'x') + R"(","digest":")" + kD2 +
                                         R"(","size":1)"),
                    "limit is 80"},
        HostileCase{"index with layers",
                    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"layers":[]})",
                    "index but has config or layers"},
        HostileCase{"manifest with manifests", R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]})",
                    "has manifests"},
        HostileCase{"platform without os",
                    R"({"schemaVersion":2,"manifests":[{"mediaType":"x","digest":")" + kD1 +
                        R"(","size":1,"platform":{"architecture":"amd64"}}]})",
                    "manifests[0].platform.os: is missing"},
        HostileCase{"duplicate top-level key", R"({"schemaVersion":2,"schemaVersion":2,"manifests":[]})",
                    "key \"schemaVersion\" more than once"},
        HostileCase{"duplicate nested key",
                    Layer(R"("mediaType":"x","digest":")" + kD2 + R"(","digest":")" + kD1 + R"(","size":1)"),
                    "key \"digest\" more than once"},
        HostileCase{"invalid utf8", std::string("{\"schemaVersion\":2,\"a\":\"\xff\"}"), "not valid JSON"}),
    [](const ::testing::TestParamInfo<HostileCase>& info) {
      std::string name;
      for (char c : info.param.name) name.push_back(isalnum(static_cast<unsigned char>(c)) ? c : '_');
      return name;
    });

TEST(Manifest, SameKeyInDifferentObjectsIsFine) {
  std::string bytes = ImageManifest(R"([{"mediaType":"x","digest":")" + kD2 + R"(","size":1},)" +
                                    R"({"mediaType":"x","digest":")" + kD2 + R"(","size":1,"annotations":{"size":"1"}}])");
  absl::StatusOr<Manifest> manifest = ParseManifest(bytes, "");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->layers.size(), 2u);
}

TEST(Manifest, DescriptorContentCheckCatchesLyingSize) {
  Descriptor descriptor;
  descriptor.digest = Sha256Digest("abc");
  descriptor.size = 2;
  absl::Status status = CheckDescriptorContent(descriptor, "abc");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("descriptor says 2"));
  descriptor.size = 3;
  EXPECT_TRUE(CheckDescriptorContent(descriptor, "abc").ok());
  EXPECT_EQ(CheckDescriptorContent(descriptor, "abd").code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace sigshim::registry
