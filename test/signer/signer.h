// A small cosign-compatible signer for tests and demos (cosign itself is not packaged here): key
// generation for every key type pkg/verify accepts, simple-signing payloads, signature layers and the
// ".sig" OCI manifest, each blob with its digest so that it can be pushed to a registry as is.
#ifndef SIGSHIM_TEST_SIGNER_SIGNER_H_
#define SIGSHIM_TEST_SIGNER_SIGNER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sigshim::test_signer {

enum class KeyType { kEcdsaP256, kEcdsaP384, kEcdsaP521, kRsa2048, kRsa3072, kEd25519 };

// Returns "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072" or "ed25519".
absl::string_view KeyTypeName(KeyType type);

// Parses a name returned by KeyTypeName; InvalidArgument listing the valid names otherwise.
absl::StatusOr<KeyType> ParseKeyType(absl::string_view name);

// Returns every key type, in declaration order.
std::vector<KeyType> AllKeyTypes();

// A freshly generated key pair, PEM encoded.
struct KeyPair {
  KeyType type;
  std::string private_pem;  // unencrypted PKCS#8 "PRIVATE KEY"
  std::string public_pem;   // SubjectPublicKeyInfo "PUBLIC KEY", what pkg/verify loads
};

// Generates a key pair of `type` with OpenSSL's default random source.
absl::StatusOr<KeyPair> GenerateKey(KeyType type);

// Signs with one private key, using the hash pkg/verify expects for its type: SHA-256/384/512 for
// ECDSA P-256/384/521 (DER signature), SHA-256 PKCS#1 v1.5 for RSA, pure Ed25519. Immutable and
// thread-safe.
class Signer {
 public:
  // Loads an unencrypted PEM private key (PKCS#8, or the traditional EC/RSA forms). InvalidArgument
  // when it does not parse or is not one of the KeyType kinds.
  static absl::StatusOr<std::unique_ptr<Signer>> Create(absl::string_view private_pem);
  ~Signer();

  // Returns the raw signature of `message`.
  absl::StatusOr<std::string> Sign(absl::string_view message) const;

  KeyType type() const { return type_; }
  // Returns the matching public key as PEM SubjectPublicKeyInfo.
  const std::string& public_pem() const { return public_pem_; }

 private:
  struct Key;
  Signer(KeyType type, std::unique_ptr<Key> key, std::string public_pem);

  const KeyType type_;
  const std::unique_ptr<Key> key_;
  const std::string public_pem_;
};

// A generated key pair with its signer already loaded.
struct SigningKey {
  KeyPair pair;
  std::unique_ptr<Signer> signer;
};

// Generates a key of `type` (GenerateKey) and loads its signer (Signer::Create).
absl::StatusOr<SigningKey> GenerateSigningKey(KeyType type);

// Content addressed bytes, ready to push: PUT /v2/<repo>/blobs/uploads/…?digest=<digest>.
struct Blob {
  std::string media_type;
  std::string digest;  // "sha256:<hex>" of `bytes`
  std::string bytes;
};

// Returns a Blob for `bytes`, computing its digest.
Blob MakeBlob(std::string media_type, std::string bytes);

// One signature as cosign stores it: the payload blob and the annotations of its layer.
struct SignatureLayer {
  Blob payload;  // media type application/vnd.dev.cosign.simplesigning.v1+json
  std::map<std::string, std::string> annotations;  // dev.cosignproject.cosign/signature = base64
};

// Signs the exact bytes `payload` (which need not be a valid payload: tests forge some).
absl::StatusOr<SignatureLayer> SignPayload(const Signer& signer, std::string payload);

// Returns the layer for the exact bytes `payload` with `annotations` as given: a signature made
// elsewhere, such as a keyless one from testbed::SigstoreMock (whose KeylessSignature::annotations
// hold the signature, certificate, chain, Rekor bundle and timestamp annotations).
SignatureLayer LayerWithAnnotations(std::string payload, std::map<std::string, std::string> annotations);

// Builds the simple-signing payload for (docker_reference, manifest_digest) and signs it.
absl::StatusOr<SignatureLayer> SignImageLayer(const Signer& signer, absl::string_view docker_reference,
                                              absl::string_view manifest_digest);

// Everything to push for the signatures of one image manifest.
struct SignatureArtifact {
  std::string tag;                     // "sha256-<hex>.sig"
  std::vector<SignatureLayer> layers;  // in manifest order
  Blob config;                         // "{}", application/vnd.oci.image.config.v1+json
  Blob manifest;                       // the OCI image manifest, application/vnd.oci.image.manifest.v1+json
};

// Builds the ".sig" manifest of `manifest_digest` holding `layers` (at least one).
absl::StatusOr<SignatureArtifact> BuildSignatureArtifact(absl::string_view manifest_digest,
                                                         std::vector<SignatureLayer> layers);

// Signs (docker_reference, manifest_digest) and returns the one-signature artifact.
absl::StatusOr<SignatureArtifact> SignImage(const Signer& signer, absl::string_view docker_reference,
                                            absl::string_view manifest_digest);

// Returns a cosign bundle annotation (dev.sigstore.cosign/bundle): a Rekor SET that `log` signs
// over a hashedrekord 0.0.1 entry recording sha256(`payload`), the raw `signature` and
// `signer_public_pem`, integrated at `integrated_time` (Unix seconds) as entry `log_index`.
absl::StatusOr<std::string> MakeRekorBundle(const Signer& log, absl::string_view signer_public_pem,
                                            absl::string_view signature, absl::string_view payload,
                                            int64_t integrated_time, int64_t log_index = 1);

// Writes `artifact` as an OCI image layout in `dir` (oci-layout, index.json naming the manifest with
// the artifact's tag, blobs/sha256/<hex> for the payloads, config and manifest), so that
// `skopeo copy oci:DIR:<tag> docker://REGISTRY/REPO:<tag>` pushes it unchanged. Creates `dir`;
// replaces files of the same name.
absl::Status WriteOciLayout(const SignatureArtifact& artifact, absl::string_view dir);

}  // namespace sigshim::test_signer

#endif  // SIGSHIM_TEST_SIGNER_SIGNER_H_
