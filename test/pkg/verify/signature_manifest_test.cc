#include "pkg/verify/signature_manifest.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;

const std::string kPayload = "payload bytes";
const std::string kPayloadDigest = Sha256Digest(kPayload);

std::string Manifest(absl::string_view layers) {
  return absl::StrCat(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,)",
      R"("digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},)",
      R"("layers":[)", layers, "]}");
}

std::string SignatureLayerJson() {
  return absl::StrCat(R"({"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":)",
                      kPayload.size(), R"(,"digest":")", kPayloadDigest,
                      R"(","annotations":{"dev.cosignproject.cosign/signature":"c2ln"}})");
}

std::string ErrorOf(absl::string_view manifest) {
  auto parsed = ParseSignatureManifest(manifest);
  EXPECT_FALSE(parsed.ok()) << manifest;
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(ParseSignatureManifest, ReadsLayersAndKeepsOnlySignaturesAsSignatures) {
  std::string other = absl::StrCat(R"({"mediaType":"text/plain","size":5,"digest":")", Sha256Digest("other"), R"("})");
  auto parsed = ParseSignatureManifest(Manifest(absl::StrCat(other, ",", SignatureLayerJson())));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->media_type, kOciManifestMediaType);
  EXPECT_EQ(parsed->config.size, 2);
  ASSERT_EQ(parsed->layers.size(), 2u);
  std::vector<Descriptor> signatures = parsed->SignatureLayers();
  ASSERT_EQ(signatures.size(), 1u);
  EXPECT_EQ(signatures[0].digest, kPayloadDigest);
  EXPECT_EQ(signatures[0].size, static_cast<int64_t>(kPayload.size()));
  EXPECT_EQ(signatures[0].annotations.at(std::string(kSignatureAnnotation)), "c2ln");
}

TEST(ParseSignatureManifest, AcceptsDockerSchema2AndNoLayers) {
  std::string docker = Manifest("");
  docker.replace(docker.find(std::string(kOciManifestMediaType)), kOciManifestMediaType.size(),
                 std::string(kDockerManifestMediaType));
  auto parsed = ParseSignatureManifest(docker);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->SignatureLayers().empty());
}

TEST(ParseSignatureManifest, RefusesMalformedManifests) {
  EXPECT_THAT(ErrorOf("{}"), HasSubstr("schemaVersion"));
  EXPECT_THAT(ErrorOf("not json"), HasSubstr("not valid JSON"));
  std::string v1 = Manifest("");
  v1.replace(v1.find(":2,"), 3, ":1,");
  EXPECT_THAT(ErrorOf(v1), HasSubstr("schema 1 manifests are not supported"));
  std::string index = Manifest("");
  index.replace(index.find("image.manifest"), 14, "image.index");
  EXPECT_THAT(ErrorOf(index), HasSubstr("index"));
  EXPECT_THAT(ErrorOf(R"({"schemaVersion":2,"layers":[]})"), HasSubstr("config: is missing"));
  std::string object_layers = Manifest("");
  object_layers.replace(object_layers.find("[]"), 2, "{}");
  EXPECT_THAT(ErrorOf(object_layers), HasSubstr("layers: must be an array"));
}

TEST(ParseSignatureManifest, RefusesMalformedSignatureDescriptors) {
  std::string layer = SignatureLayerJson();
  std::string bad_digest = layer;
  bad_digest.replace(bad_digest.find(kPayloadDigest), 7, "sha512:");
  EXPECT_THAT(ErrorOf(Manifest(bad_digest)), HasSubstr("layers[0].digest"));
  std::string negative = layer;
  negative.replace(negative.find(absl::StrCat("\"size\":", kPayload.size())), 9, "\"size\":-1");
  EXPECT_THAT(ErrorOf(Manifest(negative)), HasSubstr("non-negative integer"));
  std::string number_annotation = layer;
  number_annotation.replace(number_annotation.find("\"c2ln\""), 6, "7");
  EXPECT_THAT(ErrorOf(Manifest(number_annotation)), HasSubstr("must be a string"));
  std::string duplicate = Manifest(layer);
  duplicate.insert(1, R"("layers":[],)");
  EXPECT_THAT(ErrorOf(duplicate), HasSubstr("more than once"));
  // One parser for every manifest, failing closed: a descriptor with a digest sigshim cannot check
  // refuses the manifest even when it is not a signature layer.
  std::string other = R"({"mediaType":"text/plain","size":5,"digest":"sha512:abcd"})";
  EXPECT_THAT(ErrorOf(Manifest(absl::StrCat(other, ",", layer))), HasSubstr("sha256"));
}

TEST(SignatureFromLayer, ChecksTheBlobAgainstItsDescriptor) {
  auto manifest = ParseSignatureManifest(Manifest(SignatureLayerJson()));
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  const Descriptor& layer = manifest->layers[0];
  auto signature = SignatureFromLayer(layer, kPayload);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->payload, kPayload);
  EXPECT_EQ(signature->layer_digest, kPayloadDigest);
  EXPECT_EQ(signature->media_type, kSimpleSigningMediaType);
  EXPECT_EQ(SignatureFromLayer(layer, "payload bytez").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(SignatureFromLayer(layer, "payload").status().code(), absl::StatusCode::kDataLoss);
}

TEST(SignatureTag, IsCosignsTagForTheDigest) {
  auto tag = SignatureTag(kPayloadDigest);
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(*tag, absl::StrCat("sha256-", kPayloadDigest.substr(7), ".sig"));
  EXPECT_FALSE(SignatureTag("latest").ok());
}

}  // namespace
}  // namespace sigshim::verify
