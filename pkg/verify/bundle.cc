#include "pkg/verify/bundle.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pkg/base/base64.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/certificate.h"
#include "pkg/verify/proto_json.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::verify {
namespace {

using internal::ProtoField;
using internal::ProtoObject;
using internal::ProtoProblem;

constexpr ProtoField kMediaType{"mediaType", "media_type"};
constexpr ProtoField kVerificationMaterial{"verificationMaterial", "verification_material"};
constexpr ProtoField kMessageSignature{"messageSignature", "message_signature"};
constexpr ProtoField kDsseEnvelope{"dsseEnvelope", "dsse_envelope"};
constexpr ProtoField kPublicKey{"publicKey", "public_key"};
constexpr ProtoField kCertificate{"certificate", "certificate"};
constexpr ProtoField kChain{"x509CertificateChain", "x509_certificate_chain"};
constexpr ProtoField kTlogEntries{"tlogEntries", "tlog_entries"};
constexpr ProtoField kTimestampData{"timestampVerificationData", "timestamp_verification_data"};
constexpr ProtoField kHint{"hint", "hint"};
constexpr ProtoField kRawBytes{"rawBytes", "raw_bytes"};
constexpr ProtoField kCertificates{"certificates", "certificates"};
constexpr ProtoField kRfc3161{"rfc3161Timestamps", "rfc3161_timestamps"};
constexpr ProtoField kSignedTimestamp{"signedTimestamp", "signed_timestamp"};
constexpr ProtoField kMessageDigest{"messageDigest", "message_digest"};
constexpr ProtoField kSignature{"signature", "signature"};
constexpr ProtoField kAlgorithm{"algorithm", "algorithm"};
constexpr ProtoField kDigest{"digest", "digest"};
constexpr ProtoField kLogIndex{"logIndex", "log_index"};
constexpr ProtoField kLogId{"logId", "log_id"};
constexpr ProtoField kKeyId{"keyId", "key_id"};
constexpr ProtoField kKindVersion{"kindVersion", "kind_version"};
constexpr ProtoField kKind{"kind", "kind"};
constexpr ProtoField kVersion{"version", "version"};
constexpr ProtoField kIntegratedTime{"integratedTime", "integrated_time"};
constexpr ProtoField kInclusionPromise{"inclusionPromise", "inclusion_promise"};
constexpr ProtoField kSet{"signedEntryTimestamp", "signed_entry_timestamp"};
constexpr ProtoField kInclusionProof{"inclusionProof", "inclusion_proof"};
constexpr ProtoField kRootHash{"rootHash", "root_hash"};
constexpr ProtoField kTreeSize{"treeSize", "tree_size"};
constexpr ProtoField kHashes{"hashes", "hashes"};
constexpr ProtoField kCheckpoint{"checkpoint", "checkpoint"};
constexpr ProtoField kEnvelope{"envelope", "envelope"};
constexpr ProtoField kBody{"canonicalizedBody", "canonicalized_body"};

absl::StatusOr<ProtoObject> Sub(const ProtoObject& parent, ProtoField field, std::initializer_list<ProtoField> fields) {
  const nlohmann::json* v = parent.Find(field);
  if (v == nullptr) return ProtoProblem(parent.PathOf(field), "missing (required)");
  return ProtoObject::Make(*v, parent.PathOf(field), fields);
}

absl::StatusOr<TransparencyLogEntry> ParseEntry(const nlohmann::json& json, std::string path, int minor_version) {
  ASSIGN_OR_RETURN(ProtoObject o, ProtoObject::Make(json, path,
                                                    {kLogIndex, kLogId, kKindVersion, kIntegratedTime,
                                                     kInclusionPromise, kInclusionProof, kBody}));
  TransparencyLogEntry entry;
  ASSIGN_OR_RETURN(entry.log_index, o.NonNegativeInt64(kLogIndex, /*required=*/false));
  ASSIGN_OR_RETURN(ProtoObject log_id, Sub(o, kLogId, {kKeyId}));
  ASSIGN_OR_RETURN(entry.log_id, log_id.Bytes(kKeyId, /*required=*/true));
  ASSIGN_OR_RETURN(ProtoObject kind_version, Sub(o, kKindVersion, {kKind, kVersion}));
  ASSIGN_OR_RETURN(entry.kind, kind_version.String(kKind, /*required=*/true));
  ASSIGN_OR_RETURN(entry.version, kind_version.String(kVersion, /*required=*/true));
  ASSIGN_OR_RETURN(entry.integrated_time, o.NonNegativeInt64(kIntegratedTime, /*required=*/false));
  ASSIGN_OR_RETURN(entry.canonicalized_body, o.Bytes(kBody, /*required=*/true));
  if (o.Find(kInclusionPromise) != nullptr) {
    ASSIGN_OR_RETURN(ProtoObject promise, Sub(o, kInclusionPromise, {kSet}));
    ASSIGN_OR_RETURN(entry.signed_entry_timestamp, promise.Bytes(kSet, /*required=*/true));
  }
  if (o.Find(kInclusionProof) != nullptr) {
    ASSIGN_OR_RETURN(ProtoObject p,
                     Sub(o, kInclusionProof, {kLogIndex, kRootHash, kTreeSize, kHashes, kCheckpoint}));
    InclusionProof& proof = entry.inclusion_proof.emplace();
    ASSIGN_OR_RETURN(proof.log_index, p.NonNegativeInt64(kLogIndex, /*required=*/false));
    ASSIGN_OR_RETURN(proof.tree_size, p.NonNegativeInt64(kTreeSize, /*required=*/true));
    ASSIGN_OR_RETURN(proof.root_hash, p.Bytes(kRootHash, /*required=*/true));
    if (proof.root_hash.size() != 32) return ProtoProblem(p.PathOf(kRootHash), "is not 32 bytes");
    ASSIGN_OR_RETURN(std::vector<const nlohmann::json*> hashes,
                     p.Array(kHashes, /*required=*/false, kMaxInclusionProofHashes));
    for (size_t i = 0; i < hashes.size(); ++i) {
      const std::string where = absl::StrCat(p.PathOf(kHashes), "[", i, "]");
      if (!hashes[i]->is_string()) return ProtoProblem(where, "must be base64 text");
      absl::StatusOr<std::string> hash = Base64DecodeProtoJson(hashes[i]->get_ref<const std::string&>());
      if (!hash.ok()) return ProtoProblem(where, "not base64");
      if (hash->size() != 32) return ProtoProblem(where, "is not 32 bytes");
      proof.hashes.push_back(*std::move(hash));
    }
    ASSIGN_OR_RETURN(ProtoObject checkpoint, Sub(p, kCheckpoint, {kEnvelope}));
    ASSIGN_OR_RETURN(proof.checkpoint, checkpoint.String(kEnvelope, /*required=*/true));
  }
  if (minor_version == 1 && entry.signed_entry_timestamp.empty()) {
    return ProtoProblem(path, "a v0.1 bundle's entry needs an inclusion promise");
  }
  if (minor_version >= 2 && !entry.inclusion_proof.has_value()) {
    return ProtoProblem(path, "a v0.2 or later bundle's entry needs an inclusion proof");
  }
  return entry;
}

absl::StatusOr<Bundle> Parse(const nlohmann::json& json) {
  ASSIGN_OR_RETURN(ProtoObject top,
                   ProtoObject::Make(json, "bundle", {kMediaType, kVerificationMaterial, kMessageSignature, kDsseEnvelope}));
  Bundle bundle;
  ASSIGN_OR_RETURN(bundle.media_type, top.String(kMediaType, /*required=*/true));
  bundle.minor_version = BundleMinorVersion(bundle.media_type);
  if (bundle.minor_version == 0) {
    return ProtoProblem(top.PathOf(kMediaType), absl::StrCat("\"", bundle.media_type.substr(0, 100),
                                                             "\" is not a sigstore bundle media type this version "
                                                             "knows (v0.1, v0.2, v0.3)"));
  }
  ASSIGN_OR_RETURN(ProtoObject material, Sub(top, kVerificationMaterial,
                                             {kPublicKey, kCertificate, kChain, kTlogEntries, kTimestampData}));
  const int given = (material.Find(kPublicKey) != nullptr) + (material.Find(kCertificate) != nullptr) +
                    (material.Find(kChain) != nullptr);
  if (given != 1) {
    return ProtoProblem(material.path(), "needs exactly one of publicKey, certificate and x509CertificateChain");
  }
  if (material.Find(kPublicKey) != nullptr) {
    ASSIGN_OR_RETURN(ProtoObject key, Sub(material, kPublicKey, {kHint}));
    bundle.public_key = true;
    ASSIGN_OR_RETURN(bundle.public_key_hint, key.String(kHint, /*required=*/false));
  } else if (material.Find(kCertificate) != nullptr) {
    ASSIGN_OR_RETURN(ProtoObject certificate, Sub(material, kCertificate, {kRawBytes}));
    ASSIGN_OR_RETURN(bundle.certificates.emplace_back(), certificate.Bytes(kRawBytes, /*required=*/true));
  } else {
    if (bundle.minor_version >= 3) {
      return ProtoProblem(material.PathOf(kChain), "a v0.3 bundle carries its leaf as certificate, not a chain");
    }
    ASSIGN_OR_RETURN(ProtoObject chain, Sub(material, kChain, {kCertificates}));
    ASSIGN_OR_RETURN(std::vector<const nlohmann::json*> certificates,
                     chain.Array(kCertificates, /*required=*/true, kMaxChainCertificates));
    for (size_t i = 0; i < certificates.size(); ++i) {
      ASSIGN_OR_RETURN(ProtoObject c, ProtoObject::Make(*certificates[i],
                                                        absl::StrCat(chain.PathOf(kCertificates), "[", i, "]"),
                                                        {kRawBytes}));
      ASSIGN_OR_RETURN(bundle.certificates.emplace_back(), c.Bytes(kRawBytes, /*required=*/true));
    }
  }
  ASSIGN_OR_RETURN(std::vector<const nlohmann::json*> entries,
                   material.Array(kTlogEntries, /*required=*/false, kMaxBundleTlogEntries));
  for (size_t i = 0; i < entries.size(); ++i) {
    ASSIGN_OR_RETURN(bundle.tlog_entries.emplace_back(),
                     ParseEntry(*entries[i], absl::StrCat(material.PathOf(kTlogEntries), "[", i, "]"),
                                bundle.minor_version));
  }
  if (material.Find(kTimestampData) != nullptr) {
    ASSIGN_OR_RETURN(ProtoObject data, Sub(material, kTimestampData, {kRfc3161}));
    ASSIGN_OR_RETURN(std::vector<const nlohmann::json*> stamps,
                     data.Array(kRfc3161, /*required=*/false, kMaxBundleTimestamps));
    for (size_t i = 0; i < stamps.size(); ++i) {
      ASSIGN_OR_RETURN(ProtoObject stamp,
                       ProtoObject::Make(*stamps[i], absl::StrCat(data.PathOf(kRfc3161), "[", i, "]"),
                                         {kSignedTimestamp}));
      ASSIGN_OR_RETURN(bundle.rfc3161_timestamps.emplace_back(), stamp.Bytes(kSignedTimestamp, /*required=*/true));
    }
  }

  const bool message = top.Find(kMessageSignature) != nullptr;
  const bool dsse = top.Find(kDsseEnvelope) != nullptr;
  if (message == dsse) return ProtoProblem("bundle", "needs exactly one of messageSignature and dsseEnvelope");
  if (message) {
    ASSIGN_OR_RETURN(ProtoObject m, Sub(top, kMessageSignature, {kMessageDigest, kSignature}));
    BundleMessageSignature& signature = bundle.message_signature.emplace();
    ASSIGN_OR_RETURN(signature.signature, m.Bytes(kSignature, /*required=*/true));
    ASSIGN_OR_RETURN(ProtoObject digest, Sub(m, kMessageDigest, {kAlgorithm, kDigest}));
    ASSIGN_OR_RETURN(std::string algorithm, digest.String(kAlgorithm, /*required=*/true));
    ASSIGN_OR_RETURN(signature.digest, digest.Bytes(kDigest, /*required=*/true));
    size_t length = 0;
    if (algorithm == "SHA2_256") {
      signature.digest_algorithm = "sha256";
      length = 32;
    } else if (algorithm == "SHA2_384") {
      signature.digest_algorithm = "sha384";
      length = 48;
    } else if (algorithm == "SHA2_512") {
      signature.digest_algorithm = "sha512";
      length = 64;
    } else {
      return ProtoProblem(digest.PathOf(kAlgorithm), absl::StrCat("\"", algorithm.substr(0, 40),
                                                                  "\" is not SHA2_256, SHA2_384 or SHA2_512"));
    }
    if (signature.digest.size() != length) {
      return ProtoProblem(digest.PathOf(kDigest), absl::StrCat("is ", signature.digest.size(), " bytes, not ", length));
    }
  } else {
    ASSIGN_OR_RETURN(bundle.dsse_envelope, internal::DsseEnvelopeFromJson(*top.Find(kDsseEnvelope), "bundle.dsseEnvelope"));
  }
  return bundle;
}

}  // namespace

int BundleMinorVersion(absl::string_view media_type) {
  if (media_type == kBundleMediaTypeV01 || media_type == kBundleMediaTypeV01Short) return 1;
  if (media_type == kBundleMediaTypeV02 || media_type == kBundleMediaTypeV02Short) return 2;
  if (media_type == kBundleMediaTypeV03 || media_type == kBundleMediaTypeV03Short) return 3;
  return 0;
}

absl::StatusOr<Bundle> ParseBundle(absl::string_view json_text) {
  absl::StatusOr<nlohmann::json> json = internal::ParseStrictJson(json_text, kMaxBundleBytes, "bundle");
  if (!json.ok()) return absl::InvalidArgumentError(absl::StrCat("bundle: ", json.status().message()));
  absl::StatusOr<Bundle> bundle = Parse(*json);
  if (!bundle.ok() && !absl::StartsWith(bundle.status().message(), "bundle")) {
    return absl::InvalidArgumentError(absl::StrCat("bundle: ", bundle.status().message()));
  }
  return bundle;
}

}  // namespace sigshim::verify
