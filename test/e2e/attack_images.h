// Signatures for end-to-end tests, pushed to a real registry in the cosign layout: a valid one, and
// the ways an attacker would try to get an image past verification (a replayed signature, a payload
// edited after signing, a signature for another repository).
#ifndef SIGSHIM_TEST_E2E_ATTACK_IMAGES_H_
#define SIGSHIM_TEST_E2E_ATTACK_IMAGES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "test/signer/signer.h"
#include "test/testbed/registry.h"

namespace sigshim::e2e {

// Pushes the payload and config blobs of `artifact` to `repository`, then its manifest under `tag`
// ("" means the artifact's own "sha256-<hex>.sig" tag).
absl::Status PushSignatureArtifact(const testbed::Registry& registry, absl::string_view repository,
                                   const test_signer::SignatureArtifact& artifact, absl::string_view tag = "");

// Signs (`docker_reference`, `digest`) with `signer` and pushes the signature as `digest`'s .sig
// in `repository`. Returns what was pushed.
absl::StatusOr<test_signer::SignatureArtifact> PushSignature(const testbed::Registry& registry,
                                                             absl::string_view repository,
                                                             const test_signer::Signer& signer,
                                                             absl::string_view docker_reference,
                                                             absl::string_view digest);

// Replay: copies the valid signature `signed_artifact` (of another image) to `target_digest`'s
// .sig tag in `repository`. A verifier must answer "payload is for <the other digest>".
absl::Status PushReplayedSignature(const testbed::Registry& registry, absl::string_view repository,
                                   const test_signer::SignatureArtifact& signed_artifact,
                                   absl::string_view target_digest);

// Forged digest: signs (`docker_reference`, `signed_digest`), then edits the payload's digest to
// `target_digest` keeping the signature, and pushes it as `target_digest`'s .sig. The signature no
// longer matches its payload: a verifier must answer "signed by an unknown key".
absl::Status PushForgedDigestSignature(const testbed::Registry& registry, absl::string_view repository,
                                       const test_signer::Signer& signer, absl::string_view docker_reference,
                                       absl::string_view signed_digest, absl::string_view target_digest);

// Forged reference: signs (`signed_reference`, `digest`), then edits the payload's
// docker-reference to `forged_reference` keeping the signature, and pushes it as `digest`'s .sig.
// A verifier must answer "signed by an unknown key".
absl::Status PushForgedReferenceSignature(const testbed::Registry& registry, absl::string_view repository,
                                          const test_signer::Signer& signer, absl::string_view signed_reference,
                                          absl::string_view forged_reference, absl::string_view digest);

}  // namespace sigshim::e2e

#endif  // SIGSHIM_TEST_E2E_ATTACK_IMAGES_H_
