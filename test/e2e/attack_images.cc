#include "test/e2e/attack_images.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "pkg/base/status_macros.h"

namespace sigshim::e2e {
namespace {

// Signs (`docker_reference`, `digest`), replaces `from` by `to` in the payload bytes (the
// signature is kept) and returns the .sig artifact of `sig_digest` holding that one layer.
absl::StatusOr<test_signer::SignatureArtifact> Forge(const test_signer::Signer& signer,
                                                     absl::string_view docker_reference, absl::string_view digest,
                                                     absl::string_view from, absl::string_view to,
                                                     absl::string_view sig_digest) {
  ASSIGN_OR_RETURN(test_signer::SignatureLayer layer, test_signer::SignImageLayer(signer, docker_reference, digest));
  std::string edited = absl::StrReplaceAll(layer.payload.bytes, {{from, to}});
  if (edited == layer.payload.bytes) {
    return absl::InvalidArgumentError(absl::StrCat("\"", from, "\" is not in the payload"));
  }
  layer.payload = test_signer::MakeBlob(layer.payload.media_type, std::move(edited));
  return test_signer::BuildSignatureArtifact(sig_digest, {layer});
}

}  // namespace

absl::Status PushSignatureArtifact(const testbed::Registry& registry, absl::string_view repository,
                                   const test_signer::SignatureArtifact& artifact, absl::string_view tag) {
  for (const test_signer::SignatureLayer& layer : artifact.layers) {
    RETURN_IF_ERROR(registry.PushBlob(repository, layer.payload.bytes).status());
  }
  RETURN_IF_ERROR(registry.PushBlob(repository, artifact.config.bytes).status());
  return registry
      .PushManifest(repository, tag.empty() ? absl::string_view(artifact.tag) : tag, artifact.manifest.media_type,
                    artifact.manifest.bytes)
      .status();
}

absl::StatusOr<test_signer::SignatureArtifact> PushSignature(const testbed::Registry& registry,
                                                             absl::string_view repository,
                                                             const test_signer::Signer& signer,
                                                             absl::string_view docker_reference,
                                                             absl::string_view digest) {
  ASSIGN_OR_RETURN(test_signer::SignatureArtifact artifact, test_signer::SignImage(signer, docker_reference, digest));
  RETURN_IF_ERROR(PushSignatureArtifact(registry, repository, artifact));
  return artifact;
}

absl::Status PushReplayedSignature(const testbed::Registry& registry, absl::string_view repository,
                                   const test_signer::SignatureArtifact& signed_artifact,
                                   absl::string_view target_digest) {
  if (!absl::StartsWith(target_digest, "sha256:")) {
    return absl::InvalidArgumentError(absl::StrCat("not a sha256 digest: ", target_digest));
  }
  return PushSignatureArtifact(registry, repository, signed_artifact,
                               absl::StrCat("sha256-", target_digest.substr(7), ".sig"));
}

absl::Status PushForgedDigestSignature(const testbed::Registry& registry, absl::string_view repository,
                                       const test_signer::Signer& signer, absl::string_view docker_reference,
                                       absl::string_view signed_digest, absl::string_view target_digest) {
  ASSIGN_OR_RETURN(test_signer::SignatureArtifact artifact,
                   Forge(signer, docker_reference, signed_digest, signed_digest, target_digest, target_digest));
  return PushSignatureArtifact(registry, repository, artifact);
}

absl::Status PushForgedReferenceSignature(const testbed::Registry& registry, absl::string_view repository,
                                          const test_signer::Signer& signer, absl::string_view signed_reference,
                                          absl::string_view forged_reference, absl::string_view digest) {
  // The quotes keep the replacement to the docker-reference value itself.
  ASSIGN_OR_RETURN(test_signer::SignatureArtifact artifact,
                   Forge(signer, signed_reference, digest, absl::StrCat("\"", signed_reference, "\""),
                         absl::StrCat("\"", forged_reference, "\""), digest));
  return PushSignatureArtifact(registry, repository, artifact);
}

}  // namespace sigshim::e2e
