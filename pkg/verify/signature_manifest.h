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
#include "pkg/registry/manifest.h"

namespace sigshim::verify {

// Media type of a signature layer; layers of any other type are not signatures and are ignored.
inline constexpr absl::string_view kSimpleSigningMediaType =
    "application/vnd.dev.cosign.simplesigning.v1+json";
// Layer annotations written by cosign.
inline constexpr absl::string_view kSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr absl::string_view kBundleAnnotation = "dev.sigstore.cosign/bundle";
inline constexpr absl::string_view kCertificateAnnotation = "dev.sigstore.cosign/certificate";
inline constexpr absl::string_view kChainAnnotation = "dev.sigstore.cosign/chain";
inline constexpr absl::string_view kTimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp";
// Manifest media types a signature manifest may declare (the registry package's constants).
inline constexpr absl::string_view kOciManifestMediaType = registry::kMediaTypeOciManifest;
inline constexpr absl::string_view kDockerManifestMediaType = registry::kMediaTypeDockerManifest;
inline constexpr absl::string_view kOciConfigMediaType = "application/vnd.oci.image.config.v1+json";

// Signature manifests larger than this are refused before parsing.
inline constexpr size_t kMaxSignatureManifestBytes = 4 * 1024 * 1024;
// Signature manifests with more layers than this are refused.
inline constexpr size_t kMaxSignatureLayers = 1024;

// An OCI content descriptor: the one type the project uses, from the registry package, which also
// does all manifest parsing.
using Descriptor = registry::Descriptor;

// A parsed signature manifest.
struct SignatureManifest {
  std::string media_type;  // "" when the manifest does not declare one
  Descriptor config;
  std::vector<Descriptor> layers;  // every layer, in manifest order, signatures or not

  // Returns the layers whose media type is kSimpleSigningMediaType, in manifest order.
  std::vector<Descriptor> SignatureLayers() const;
};

// Returns the signature manifest held by `manifest` (as parsed by registry::ParseManifest, e.g. the
// FetchedManifest of the ".sig" tag): it must be an image manifest, not an index, with an OCI or
// Docker schema 2 media type if it declares one, and at most kMaxSignatureLayers layers.
// InvalidArgument naming the problem otherwise.
absl::StatusOr<SignatureManifest> SignatureManifestFrom(const registry::Manifest& manifest);

// Parses the manifest JSON of a ".sig" tag with registry::ParseManifest (the project's one manifest
// parser: duplicate keys, wrong types, lying sizes, invalid or non-sha256 digests and oversize input
// are refused), then applies SignatureManifestFrom. InvalidArgument naming the problem on failure.
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
