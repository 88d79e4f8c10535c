// Where cosign keeps signatures: the OCI manifest behind the tag "sha256-<hex>.sig" of the signed
// image's repository, one layer per signature; the layer blob is the signed payload and the layer's
// annotations carry the signature (and, for keyless signing, certificates and the Rekor bundle).
#ifndef SIGSHIM_PKG_VERIFY_SIGNATURE_MANIFEST_H_
#define SIGSHIM_PKG_VERIFY_SIGNATURE_MANIFEST_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::verify {

// Media type of a signature layer; layers of any other type are not signatures and are ignored.
inline constexpr absl::string_view kSimpleSigningMediaType =
    "application/vnd.dev.cosign.simplesigning.v1+json";
// Layer annotations written by cosign.
inline constexpr absl::string_view kSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr absl::string_view kBundleAnnotation = "dev.sigstore.cosign/bundle";
inline constexpr absl::string_view kCertificateAnnotation = "dev.sigstore.cosign/certificate";
inline constexpr absl::string_view kChainAnnotation = "dev.sigstore.cosign/chain";
// Manifest media types a signature manifest may declare.
inline constexpr absl::string_view kOciManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr absl::string_view kDockerManifestMediaType =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr absl::string_view kOciConfigMediaType = "application/vnd.oci.image.config.v1+json";

// Signature manifests larger than this are refused before parsing.
inline constexpr size_t kMaxSignatureManifestBytes = 4 * 1024 * 1024;
// Signature manifests with more layers than this are refused.
inline constexpr size_t kMaxSignatureLayers = 1024;

// An OCI content descriptor.
struct Descriptor {
  std::string media_type;
  std::string digest;  // "algorithm:encoded"; always a valid sha256 digest for signature layers
  int64_t size = 0;    // bytes, >= 0
  std::map<std::string, std::string> annotations;
};

// A parsed signature manifest.
struct SignatureManifest {
  std::string media_type;  // "" when the manifest does not declare one
  Descriptor config;
  std::vector<Descriptor> layers;  // every layer, in manifest order, signatures or not

  // Returns the layers whose media type is kSimpleSigningMediaType, in manifest order.
  std::vector<Descriptor> SignatureLayers() const;
};

// Parses the manifest JSON of a ".sig" tag: schemaVersion 2, an OCI or Docker schema 2 media type if
// any, a config descriptor and a layers array of descriptors (mediaType string, digest, non-negative
// integer size, optional string→string annotations). Signature layers must carry a valid sha256
// digest. Other fields are allowed; duplicate keys and oversize input are not. InvalidArgument naming
// the problem on failure.
absl::StatusOr<SignatureManifest> ParseSignatureManifest(absl::string_view manifest_json);

// One signature as verified: the exact payload bytes and the annotations of its layer.
struct Signature {
  std::string layer_digest;  // digest of the payload blob (evidence); may be "" in tests
  std::string media_type;    // the layer's media type
  std::string payload;       // exact signed bytes
  std::map<std::string, std::string> annotations;
};

// Returns the signature held by `layer` whose blob is `blob`. DataLoss when the blob's sha256 digest
// or size differ from the descriptor (a registry or cache returned the wrong bytes).
absl::StatusOr<Signature> SignatureFromLayer(const Descriptor& layer, std::string blob);

// Returns the tag cosign stores the signatures of `manifest_digest` under: "sha256-<hex>.sig".
// InvalidArgument when `manifest_digest` is not a valid sha256 digest.
absl::StatusOr<std::string> SignatureTag(absl::string_view manifest_digest);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_SIGNATURE_MANIFEST_H_
