#include "pkg/verify/transparency_log.h"

#include <openssl/evp.h>

#include <initializer_list>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/pem.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::verify {
namespace {

absl::Status Denied(absl::string_view what) { return absl::PermissionDeniedError(std::string(what)); }

// Returns the SHA-256 of the concatenation of `parts`.
std::string Sha256(std::initializer_list<absl::string_view> parts) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  for (absl::string_view part : parts) ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, out, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return std::string();  // compared with 32-byte hashes below: never equal
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string NodeHash(absl::string_view left, absl::string_view right) {
  static constexpr char kNode[] = {0x01};
  return Sha256({absl::string_view(kNode, 1), left, right});
}

// Returns the value at `path` under `json`, or null when a step is missing or not an object.
const nlohmann::json* At(const nlohmann::json& json, std::initializer_list<const char*> path) {
  const nlohmann::json* at = &json;
  for (const char* step : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(step);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

// Returns the string at `path`, or InvalidArgument naming it.
absl::StatusOr<std::string> StringAt(const nlohmann::json& json, std::initializer_list<const char*> path,
                                     absl::string_view name) {
  const nlohmann::json* v = At(json, path);
  if (v == nullptr || !v->is_string()) return absl::InvalidArgumentError(absl::StrCat(name, " is missing"));
  return v->get<std::string>();
}

// Decodes base64 text found at `name` of a body.
absl::StatusOr<std::string> DecodeField(absl::string_view text, absl::string_view name) {
  absl::StatusOr<std::string> decoded = Base64DecodeProtoJson(text);
  if (!decoded.ok()) return absl::InvalidArgumentError(absl::StrCat(name, " is not base64"));
  return decoded;
}

// Checks that a PEM value recorded in a Rekor v1 body (base64 of PEM) is the signer.
absl::Status CheckRecordedPem(absl::string_view pem_base64, absl::string_view signer_der, absl::string_view name) {
  ASSIGN_OR_RETURN(std::string pem, DecodeField(pem_base64, name));
  absl::StatusOr<PemBlock> block = DecodeSinglePemBlock(pem);
  if (!block.ok()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", block.status().message()));
  if (block->der != signer_der) {
    return absl::InvalidArgumentError(absl::StrCat("the log recorded the signer ", Sha256Digest(block->der),
                                                   ", the bundle's is ", Sha256Digest(signer_der)));
  }
  return absl::OkStatus();
}

// Checks that a Rekor v2 verifier ({publicKey: {rawBytes}} or {x509Certificate: {rawBytes}}) is the signer.
absl::Status CheckRecordedVerifier(const nlohmann::json* verifier, absl::string_view signer_der) {
  if (verifier == nullptr || !verifier->is_object()) return absl::InvalidArgumentError("verifier is missing");
  const nlohmann::json* raw = At(*verifier, {"publicKey", "rawBytes"});
  if (raw == nullptr) raw = At(*verifier, {"x509Certificate", "rawBytes"});
  if (raw == nullptr || !raw->is_string()) return absl::InvalidArgumentError("verifier has no key or certificate");
  ASSIGN_OR_RETURN(std::string der, DecodeField(raw->get<std::string>(), "verifier"));
  if (der != signer_der) {
    return absl::InvalidArgumentError(absl::StrCat("the log recorded the signer ", Sha256Digest(der),
                                                   ", the bundle's is ", Sha256Digest(signer_der)));
  }
  return absl::OkStatus();
}

// Returns the hex of the digest algorithm `algorithm` ("sha256", …) over `data`, or "" for an unknown one.
std::string DigestHex(absl::string_view algorithm, absl::string_view data) {
  const EVP_MD* md = algorithm == "sha256" ? EVP_sha256()
                     : algorithm == "sha384" ? EVP_sha384()
                     : algorithm == "sha512" ? EVP_sha512()
                                             : nullptr;
  if (md == nullptr) return "";
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return "";
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(out), len));
}

// Checks that the parsed `body` (kind and version known) records `binding`.
absl::Status CheckBody(const nlohmann::json& body, absl::string_view kind, absl::string_view version,
                       const LogEntryBinding& binding) {
  const std::string payload_hash_hex = binding.dsse ? DigestHex("sha256", binding.dsse_payload) : "";
  if (kind == "hashedrekord" && version == "0.0.1") {
    if (binding.dsse) return absl::InvalidArgumentError("a hashedrekord entry cannot record a DSSE envelope");
    ASSIGN_OR_RETURN(std::string algorithm, StringAt(body, {"spec", "data", "hash", "algorithm"}, "spec.data.hash.algorithm"));
    ASSIGN_OR_RETURN(std::string value, StringAt(body, {"spec", "data", "hash", "value"}, "spec.data.hash.value"));
    if (algorithm != binding.message_digest_algorithm ||
        absl::AsciiStrToLower(value) != absl::BytesToHexString(binding.message_digest)) {
      return absl::InvalidArgumentError(absl::StrCat("the log recorded the digest ", algorithm.substr(0, 16), ":",
                                                     value.substr(0, 128), ", the bundle signs ",
                                                     binding.message_digest_algorithm, ":",
                                                     absl::BytesToHexString(binding.message_digest)));
    }
    ASSIGN_OR_RETURN(std::string content, StringAt(body, {"spec", "signature", "content"}, "spec.signature.content"));
    ASSIGN_OR_RETURN(std::string signature, DecodeField(content, "spec.signature.content"));
    if (signature != binding.signature) return absl::InvalidArgumentError("the log recorded a different signature");
    ASSIGN_OR_RETURN(std::string key, StringAt(body, {"spec", "signature", "publicKey", "content"},
                                               "spec.signature.publicKey.content"));
    return CheckRecordedPem(key, binding.signer_der, "spec.signature.publicKey.content");
  }
  if (kind == "hashedrekord" && version == "0.0.2") {
    if (binding.dsse) return absl::InvalidArgumentError("a hashedrekord entry cannot record a DSSE envelope");
    const nlohmann::json* spec = At(body, {"spec", "hashedRekordV002"});
    if (spec == nullptr) return absl::InvalidArgumentError("spec.hashedRekordV002 is missing");
    ASSIGN_OR_RETURN(std::string algorithm, StringAt(*spec, {"data", "algorithm"}, "data.algorithm"));
    ASSIGN_OR_RETURN(std::string digest_b64, StringAt(*spec, {"data", "digest"}, "data.digest"));
    ASSIGN_OR_RETURN(std::string digest, DecodeField(digest_b64, "data.digest"));
    const std::string wanted = binding.message_digest_algorithm == "sha256"   ? "SHA2_256"
                               : binding.message_digest_algorithm == "sha384" ? "SHA2_384"
                                                                              : "SHA2_512";
    if (algorithm != wanted || digest != binding.message_digest) {
      return absl::InvalidArgumentError("the log recorded a different digest");
    }
    ASSIGN_OR_RETURN(std::string content, StringAt(*spec, {"signature", "content"}, "signature.content"));
    ASSIGN_OR_RETURN(std::string signature, DecodeField(content, "signature.content"));
    if (signature != binding.signature) return absl::InvalidArgumentError("the log recorded a different signature");
    return CheckRecordedVerifier(At(*spec, {"signature", "verifier"}), binding.signer_der);
  }
  if (!binding.dsse) return absl::InvalidArgumentError(absl::StrCat("a ", kind, " entry records a DSSE envelope, not a message signature"));
  if (kind == "dsse" && version == "0.0.1") {
    const nlohmann::json* signatures = At(body, {"spec", "signatures"});
    if (signatures == nullptr || !signatures->is_array() || signatures->size() != 1) {
      return absl::InvalidArgumentError("the entry must record exactly one signature");
    }
    ASSIGN_OR_RETURN(std::string content, StringAt((*signatures)[0], {"signature"}, "spec.signatures[0].signature"));
    ASSIGN_OR_RETURN(std::string signature, DecodeField(content, "spec.signatures[0].signature"));
    if (signature != binding.signature) return absl::InvalidArgumentError("the log recorded a different signature");
    ASSIGN_OR_RETURN(std::string verifier, StringAt((*signatures)[0], {"verifier"}, "spec.signatures[0].verifier"));
    RETURN_IF_ERROR(CheckRecordedPem(verifier, binding.signer_der, "spec.signatures[0].verifier"));
    ASSIGN_OR_RETURN(std::string algorithm, StringAt(body, {"spec", "payloadHash", "algorithm"}, "spec.payloadHash.algorithm"));
    ASSIGN_OR_RETURN(std::string value, StringAt(body, {"spec", "payloadHash", "value"}, "spec.payloadHash.value"));
    if (algorithm != "sha256" || absl::AsciiStrToLower(value) != payload_hash_hex) {
      return absl::InvalidArgumentError("the log recorded a different payload hash");
    }
    return absl::OkStatus();
  }
  if (kind == "dsse" && version == "0.0.2") {
    const nlohmann::json* spec = At(body, {"spec", "dsseV002"});
    if (spec == nullptr) return absl::InvalidArgumentError("spec.dsseV002 is missing");
    const nlohmann::json* signatures = At(*spec, {"signatures"});
    if (signatures == nullptr || !signatures->is_array() || signatures->size() != 1) {
      return absl::InvalidArgumentError("the entry must record exactly one signature");
    }
    ASSIGN_OR_RETURN(std::string content, StringAt((*signatures)[0], {"content"}, "signatures[0].content"));
    ASSIGN_OR_RETURN(std::string signature, DecodeField(content, "signatures[0].content"));
    if (signature != binding.signature) return absl::InvalidArgumentError("the log recorded a different signature");
    RETURN_IF_ERROR(CheckRecordedVerifier(At((*signatures)[0], {"verifier"}), binding.signer_der));
    ASSIGN_OR_RETURN(std::string algorithm, StringAt(*spec, {"payloadHash", "algorithm"}, "payloadHash.algorithm"));
    ASSIGN_OR_RETURN(std::string digest_b64, StringAt(*spec, {"payloadHash", "digest"}, "payloadHash.digest"));
    ASSIGN_OR_RETURN(std::string digest, DecodeField(digest_b64, "payloadHash.digest"));
    if (algorithm != "SHA2_256" || absl::BytesToHexString(digest) != payload_hash_hex) {
      return absl::InvalidArgumentError("the log recorded a different payload hash");
    }
    return absl::OkStatus();
  }
  if (kind == "intoto" && version == "0.0.2") {
    const nlohmann::json* envelope = At(body, {"spec", "content", "envelope"});
    if (envelope == nullptr) return absl::InvalidArgumentError("spec.content.envelope is missing");
    const nlohmann::json* signatures = At(*envelope, {"signatures"});
    if (signatures == nullptr || !signatures->is_array() || signatures->size() != 1) {
      return absl::InvalidArgumentError("the entry must record exactly one signature");
    }
    // The signature is base64 of the base64 text of the signature.
    ASSIGN_OR_RETURN(std::string sig, StringAt((*signatures)[0], {"sig"}, "envelope.signatures[0].sig"));
    ASSIGN_OR_RETURN(std::string sig_text, DecodeField(sig, "envelope.signatures[0].sig"));
    ASSIGN_OR_RETURN(std::string signature, DecodeField(sig_text, "envelope.signatures[0].sig"));
    if (signature != binding.signature) return absl::InvalidArgumentError("the log recorded a different signature");
    ASSIGN_OR_RETURN(std::string key, StringAt((*signatures)[0], {"publicKey"}, "envelope.signatures[0].publicKey"));
    RETURN_IF_ERROR(CheckRecordedPem(key, binding.signer_der, "envelope.signatures[0].publicKey"));
    const nlohmann::json* type = At(*envelope, {"payloadType"});
    if (type != nullptr && (!type->is_string() || type->get<std::string>() != binding.dsse_payload_type)) {
      return absl::InvalidArgumentError("the log recorded a different payload type");
    }
    ASSIGN_OR_RETURN(std::string algorithm, StringAt(body, {"spec", "content", "payloadHash", "algorithm"},
                                                     "spec.content.payloadHash.algorithm"));
    ASSIGN_OR_RETURN(std::string value, StringAt(body, {"spec", "content", "payloadHash", "value"},
                                                 "spec.content.payloadHash.value"));
    if (algorithm != "sha256" || absl::AsciiStrToLower(value) != payload_hash_hex) {
      return absl::InvalidArgumentError("the log recorded a different payload hash");
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("entries of kind ", kind.substr(0, 40), " ", version.substr(0, 20),
                                                 " are not supported (hashedrekord 0.0.1/0.0.2, dsse 0.0.1/0.0.2, "
                                                 "intoto 0.0.2 are)"));
}

// Returns the origin a Rekor v2 log's checkpoints carry: its base URL without the scheme or a final '/'.
std::string OriginOf(absl::string_view base_url) {
  absl::string_view url = base_url;
  if (!absl::ConsumePrefix(&url, "https://")) absl::ConsumePrefix(&url, "http://");
  absl::ConsumeSuffix(&url, "/");
  return std::string(url);
}

}  // namespace

std::string MerkleLeafHash(absl::string_view leaf) {
  static constexpr char kLeaf[] = {0x00};
  return Sha256({absl::string_view(kLeaf, 1), leaf});
}

absl::Status VerifyInclusionProof(int64_t index, int64_t tree_size, absl::string_view leaf_hash,
                                  absl::Span<const std::string> hashes, absl::string_view root_hash) {
  if (index < 0 || tree_size <= 0 || index >= tree_size) {
    return Denied(absl::StrCat("inclusion proof: index ", index, " is not inside a tree of ", tree_size, " entries"));
  }
  if (hashes.size() > kMaxInclusionProofHashes) {
    return Denied(absl::StrCat("inclusion proof: ", hashes.size(), " hashes, more than any tree has"));
  }
  // RFC 9162 §2.1.3.2.
  uint64_t fn = static_cast<uint64_t>(index);
  uint64_t sn = static_cast<uint64_t>(tree_size) - 1;
  std::string r(leaf_hash);
  for (const std::string& p : hashes) {
    if (p.size() != 32) return Denied("inclusion proof: a hash is not 32 bytes");
    if (sn == 0) return Denied("inclusion proof: more hashes than the path of this index has");
    if ((fn & 1) == 1 || fn == sn) {
      r = NodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Denied("inclusion proof: fewer hashes than the path of this index has");
  if (r != root_hash) return Denied("inclusion proof: the audit path does not lead to the root hash");
  return absl::OkStatus();
}

absl::StatusOr<Checkpoint> VerifyCheckpoint(absl::string_view note, const TransparencyLogInput& log,
                                            absl::string_view expected_origin) {
  if (note.size() > kMaxCheckpointBytes) return Denied("checkpoint: larger than the limit");
  const size_t separator = note.find("\n\n");
  if (separator == absl::string_view::npos) return Denied("checkpoint: no blank line before the signatures");
  const absl::string_view body = note.substr(0, separator + 1);
  absl::string_view signatures = note.substr(separator + 2);
  std::vector<absl::string_view> lines = absl::StrSplit(body.substr(0, body.size() - 1), '\n');
  if (lines.size() < 3) return Denied("checkpoint: fewer than three lines (origin, size, root hash)");
  Checkpoint checkpoint;
  checkpoint.origin = std::string(lines[0]);
  if (checkpoint.origin.empty()) return Denied("checkpoint: the origin line is empty");
  bool digits = !lines[1].empty() && lines[1].size() <= 19;
  for (char c : lines[1]) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits || !absl::SimpleAtoi(lines[1], &checkpoint.tree_size)) {
    return Denied("checkpoint: the tree size is not a decimal number");
  }
  absl::StatusOr<std::string> root = Base64Decode(lines[2]);
  if (!root.ok() || root->size() != 32) return Denied("checkpoint: the root hash is not 32 bytes of base64");
  checkpoint.root_hash = *std::move(root);
  if (!expected_origin.empty() && checkpoint.origin != expected_origin) {
    return Denied(absl::StrCat("checkpoint: origin \"", checkpoint.origin.substr(0, 100), "\" is not the log's \"",
                               expected_origin, "\""));
  }
  if (signatures.empty() || signatures.back() != '\n') return Denied("checkpoint: no signature line");
  signatures.remove_suffix(1);
  const std::string& key_id = log.checkpoint_key_id.empty() ? log.log_id : log.checkpoint_key_id;
  if (key_id.size() < 4) return Denied(absl::StrCat("checkpoint: log ", log.name, " has no key id"));
  const absl::string_view hint = absl::string_view(key_id).substr(0, 4);
  std::string failure = absl::StrCat("checkpoint: no signature by log ", log.name);
  for (absl::string_view line : absl::StrSplit(signatures, '\n')) {
    if (!absl::ConsumePrefix(&line, "\xE2\x80\x94 ")) return Denied("checkpoint: a signature line does not start with an em dash");
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 2 || parts[0].empty()) return Denied("checkpoint: a signature line is not \"— name signature\"");
    absl::StatusOr<std::string> bytes = Base64Decode(parts[1]);
    if (!bytes.ok() || bytes->size() < 5) return Denied("checkpoint: a signature is not base64 of a key hint and a signature");
    if (absl::string_view(*bytes).substr(0, 4) != hint) continue;
    if (!expected_origin.empty() && parts[0] != expected_origin) {
      failure = absl::StrCat("checkpoint: signed under the name \"", std::string(parts[0]).substr(0, 100),
                             "\", not the log's origin");
      continue;
    }
    absl::Status verified = log.key->Verify(body, absl::string_view(*bytes).substr(4));
    if (verified.ok()) return checkpoint;
    if (verified.code() != absl::StatusCode::kPermissionDenied) return verified;
    failure = absl::StrCat("checkpoint: the signature with log ", log.name, "'s key hint does not verify");
  }
  return Denied(failure);
}

absl::StatusOr<VerifiedLogEntry> VerifyTransparencyLogEntry(const TransparencyLogEntry& entry,
                                                            const LogEntryBinding& binding,
                                                            absl::Span<const TransparencyLogInput> logs) {
  const std::string where = absl::StrCat("log entry ", absl::BytesToHexString(entry.log_id).substr(0, 64), " index ",
                                         entry.log_index);
  auto denied = [&](absl::string_view why) { return absl::PermissionDeniedError(absl::StrCat(where, ": ", why)); };
  if (entry.log_index < 0) return denied("negative log index");
  const TransparencyLogInput* log = nullptr;
  for (const TransparencyLogInput& candidate : logs) {
    if (!candidate.log_id.empty() && candidate.log_id == entry.log_id) log = &candidate;
  }
  if (log == nullptr) return absl::NotFoundError(absl::StrCat(where, ": not a log this trust root lists"));

  // The body, and what it records.
  absl::StatusOr<nlohmann::json> body =
      internal::ParseStrictJson(entry.canonicalized_body, kMaxLogEntryBodyBytes, "canonicalized body");
  if (!body.ok()) return denied(body.status().message());
  const nlohmann::json* kind = At(*body, {"kind"});
  const nlohmann::json* version = At(*body, {"apiVersion"});
  if (kind == nullptr || version == nullptr || !kind->is_string() || !version->is_string() ||
      kind->get<std::string>() != entry.kind || version->get<std::string>() != entry.version) {
    return denied(absl::StrCat("the body's kind and apiVersion are not kindVersion's ", entry.kind.substr(0, 40), " ",
                               entry.version.substr(0, 20)));
  }
  const bool v2 = entry.version == "0.0.2" && (entry.kind == "hashedrekord" || entry.kind == "dsse");
  if (absl::Status bound = CheckBody(*body, entry.kind, entry.version, binding); !bound.ok()) {
    return denied(absl::StrCat("the entry does not record this signature: ", bound.message()));
  }

  VerifiedLogEntry verified;
  verified.log = log;
  verified.rekor_v2 = v2;
  verified.description = absl::StrCat("rekor log ", absl::BytesToHexString(entry.log_id), " index ", entry.log_index);
  if (v2) {
    if (!entry.signed_entry_timestamp.empty()) return denied("a Rekor v2 entry with an inclusion promise");
    if (!entry.inclusion_proof.has_value()) return denied("a Rekor v2 entry needs an inclusion proof");
    if (entry.inclusion_proof->log_index != entry.log_index) {
      return denied("the inclusion proof is for another index than the entry's");
    }
  } else if (entry.signed_entry_timestamp.empty() && !entry.inclusion_proof.has_value()) {
    return denied("neither an inclusion promise nor an inclusion proof");
  }

  if (!entry.signed_entry_timestamp.empty()) {
    nlohmann::json canonical = {{"body", Base64Encode(entry.canonicalized_body)},
                                {"integratedTime", entry.integrated_time},
                                {"logID", absl::BytesToHexString(entry.log_id)},
                                {"logIndex", entry.log_index}};
    const std::string signed_bytes = canonical.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    absl::Status set = log->key->Verify(signed_bytes, entry.signed_entry_timestamp);
    if (!set.ok()) {
      if (set.code() != absl::StatusCode::kPermissionDenied) return set;
      return denied(absl::StrCat("the inclusion promise (SET) does not verify with the key of log ", log->name));
    }
    const absl::Time integrated = absl::FromUnixSeconds(entry.integrated_time);
    if (!log->window.Contains(integrated)) {
      return denied(absl::StrCat("integrated at ", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", integrated, absl::UTCTimeZone()),
                                 ", outside the validity of log ", log->name, " (", log->window.Describe(), ")"));
    }
    verified.integrated_time = integrated;
  }
  if (entry.inclusion_proof.has_value()) {
    const InclusionProof& proof = *entry.inclusion_proof;
    absl::StatusOr<Checkpoint> checkpoint =
        VerifyCheckpoint(proof.checkpoint, *log, v2 ? OriginOf(log->base_url) : absl::string_view());
    if (!checkpoint.ok()) {
      if (checkpoint.status().code() != absl::StatusCode::kPermissionDenied) return checkpoint.status();
      return denied(checkpoint.status().message());
    }
    if (checkpoint->tree_size != proof.tree_size || checkpoint->root_hash != proof.root_hash) {
      return denied("the checkpoint is for another tree than the inclusion proof");
    }
    if (absl::Status included = VerifyInclusionProof(proof.log_index, proof.tree_size,
                                                     MerkleLeafHash(entry.canonicalized_body), proof.hashes,
                                                     proof.root_hash);
        !included.ok()) {
      return denied(included.message());
    }
    if (!v2 && !verified.integrated_time.has_value() && entry.integrated_time > 0 &&
        !log->window.Contains(absl::FromUnixSeconds(entry.integrated_time))) {
      return denied(absl::StrCat("integrated outside the validity of log ", log->name));
    }
  }
  return verified;
}

}  // namespace sigshim::verify
