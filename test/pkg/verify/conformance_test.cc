// Runs the real cosign signatures of test/testdata/cosign-conformance/cases.toml through the daemon's
// data path — the cosign simple-signing statement producer (pkg/verify), then the policy evaluation
// of a rule requiring the case's keys (pkg/policy) — and compares each outcome with the expected one:
// every key-based signature and image case, with or without Rekor, the Rekor SET unit checks, and
// the certificate unit checks (a Fulcio leaf chained at a given time, a private-PKI leaf chained with
// roots and intermediates, and their identities), and the signature cases signed by Fulcio and
// private-PKI certificates through the certificate identity type. No case is deferred.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <toml.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pkg/base/digest.h"
#include "pkg/base/base64.h"
#include "pkg/base/file.h"
#include "pkg/base/status_macros.h"
#include "pkg/reference/reference.h"
#include "pkg/policy/evaluation.h"
#include "pkg/policy/policy.h"
#include "pkg/verify/certificate.h"
#include "pkg/verify/certificate_chain.h"
#include "pkg/verify/certificate_identity.h"
#include "pkg/verify/certificate_signer.h"
#include "pkg/verify/cosign_simple_signing.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/rekor.h"
#include "pkg/verify/signature_manifest.h"
#include "test/signer/signer.h"

namespace sigshim::verify {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxFixtureBytes = 1 << 20;

// Where cases.toml lives: $SIGSHIM_CONFORMANCE_DIR, else the copy in test/testdata (tests run from
// the repository root).
std::string ConformanceDir() {
  if (const char* dir = std::getenv("SIGSHIM_CONFORMANCE_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return "test/testdata/cosign-conformance";
}

// One [[case]] of cases.toml, with only the fields this test uses.
struct Case {
  std::string name;
  std::string kind;
  std::string dir;
  std::string signature;
  std::string image_reference;
  std::string manifest_digest;  // "" when the case gives none
  std::string identity;
  std::string identity_reference;
  std::string expected;
  std::string reason;
  std::vector<std::string> keys;
  std::vector<std::string> rekor_keys;
  std::vector<std::string> other_trust;  // trust entries other than keys/rekor_keys (certificates)
  std::map<std::string, std::string> trust_values;  // those of other_trust that are strings
  int64_t at_time = -1;                              // Unix seconds; -1 when the case gives none
  bool remove_all_annotations = false;
  std::vector<std::string> remove_annotations;
  std::map<std::string, std::string> set_annotations;
  // [case.inputs] of the unit-check kinds: files by input name, and their modifiers.
  std::map<std::string, std::string> input_files;
  std::map<std::string, std::string> input_literals;  // "<input>_literal": replaces the file
  std::map<std::string, int64_t> input_numbers;        // "<input>_truncate", "<input>_repeat"
  int64_t expected_integrated_time = -1;               // -1 when the case gives none
};

// Reads cases.toml. toml11 reports errors by throwing; this is the one place that catches them.
absl::StatusOr<std::vector<Case>> LoadCases(const std::string& path) {
  try {
    const toml::value root = toml::parse(path);
    std::vector<Case> cases;
    for (const toml::value& c : toml::find<std::vector<toml::value>>(root, "case")) {
      Case out;
      auto str = [&](const char* key) {
        return c.contains(key) ? toml::find<std::string>(c, key) : std::string();
      };
      out.name = str("name");
      out.kind = str("kind");
      out.dir = str("dir");
      out.signature = str("signature");
      out.image_reference = str("image_reference");
      out.manifest_digest = str("manifest_digest");
      out.identity = str("identity");
      out.identity_reference = str("identity_reference");
      out.expected = str("expected");
      out.reason = str("reason");
      if (c.contains("trust")) {
        for (const auto& [key, value] : toml::find<toml::table>(c, "trust")) {
          if (key == "keys") {
            out.keys = toml::get<std::vector<std::string>>(value);
          } else if (key == "rekor_keys") {
            out.rekor_keys = toml::get<std::vector<std::string>>(value);
          } else {
            out.other_trust.push_back(key);
            if (value.is_string()) out.trust_values[key] = toml::get<std::string>(value);
          }
        }
      }
      if (c.contains("at_time")) out.at_time = toml::find<int64_t>(c, "at_time");
      if (c.contains("expected_integrated_time")) {
        out.expected_integrated_time = toml::find<int64_t>(c, "expected_integrated_time");
      }
      if (c.contains("inputs")) {
        for (const auto& [key, value] : toml::find<toml::table>(c, "inputs")) {
          if (absl::EndsWith(key, "_literal")) {
            out.input_literals[key.substr(0, key.size() - 8)] = toml::get<std::string>(value);
          } else if (value.is_integer()) {
            out.input_numbers[key] = value.as_integer();
          } else {
            out.input_files[key] = toml::get<std::string>(value);
          }
        }
      }
      if (c.contains("mutate")) {
        const toml::value& m = toml::find(c, "mutate");
        if (m.contains("remove_all_annotations")) {
          out.remove_all_annotations = toml::find<bool>(m, "remove_all_annotations");
        }
        if (m.contains("remove_annotations")) {
          out.remove_annotations = toml::find<std::vector<std::string>>(m, "remove_annotations");
        }
        if (m.contains("set_annotations")) {
          out.set_annotations = toml::find<std::map<std::string, std::string>>(m, "set_annotations");
        }
      }
      cases.push_back(std::move(out));
    }
    return cases;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path, ": ", e.what()));
  }
}

// Why a case is not run by this issue; "" when it is run.
std::string DeferralReason(const Case& c) {
  if (c.kind == "fulcio-rekor-components" || c.kind == "fulcio-certificate-at-time" ||
      c.kind == "pki-certificate" || c.kind == "rekor-set") {
    return "";
  }
  if (c.kind == "signature" || c.kind == "image") {
    if (c.keys.empty() && c.trust_values.count("fulcio_ca") == 0 && c.trust_values.count("pki_roots") == 0) {
      return "no trust material in the case";
    }
    return "";
  }
  return absl::StrCat("unknown case kind \"", c.kind, "\"");
}

// For key-based cases: a fragment the rejection reason must contain, so that a case cannot pass by
// being rejected for the wrong reason. Cases not listed here only check accept/reject.
const std::map<std::string, std::string>& ExpectedReasons() {
  static const auto* reasons = new std::map<std::string, std::string>{
      {"key-no-annotations", "no signature annotation"},
      {"key-corrupted-signature", "does not verify with any"},
      {"key-unknown-key", "unknown key"},
      {"key-identity-exact-reference-mismatch", "exactReference"},
      {"key-no-manifest", "target manifest digest"},
      {"key-manifest-digest-error", "payload is for"},
      {"key-modified-manifest", "payload is for"},
      {"key-exact-tag-mismatch", "reference mismatch"},
      {"key-exact-untagged-cosign-signature", "has no tag"},
      {"key-rekor-missing-set", "no Rekor bundle annotation"},
      {"key-rekor-garbage-set", "Rekor SET"},
      {"key-rekor-wrong-rekor-key", "does not verify with any"},
      {"key-rekor-set-for-other-key", "the log recorded"},
      {"image-only-non-signature-attachment", "no signature"},
      {"image-repository-mismatch", "reference mismatch"},
      {"image-two-valid-repository-mismatch", "reference mismatch"},
      {"image-exact-tag-mismatch", "reference mismatch"},
      {"image-exact-untagged-cosign-signature", "has no tag"},
      {"rekor-set-empty", "bundle annotation is not valid JSON"},
      {"rekor-set-garbage", "bundle annotation is not valid JSON"},
      {"rekor-set-wrong-key", "does not verify with any"},
      {"rekor-set-truncated-signature", "signature is not base64"},
      {"rekor-set-no-certificate", "no PEM block"},
      {"rekor-set-not-pem", "no PEM block"},
      {"rekor-set-two-certificates", "several PEM blocks"},
      {"fulcio-cert-garbage-chain", "certificate chain holds no PEM block"},
      {"fulcio-cert-no-chain", "no path from the leaf certificate"},
      {"fulcio-cert-before-validity", "the leaf certificate is not valid at 2022-12-12T18:48:17Z"},
      {"fulcio-cert-after-validity", "the leaf certificate is not valid at 2022-12-12T18:58:19Z"},
      {"pki-components-garbage-chain", "certificate chain holds no PEM block"},
      {"pki-components-no-intermediates", "no path from the leaf certificate"},
  };
  return *reasons;
}

struct Loaded {
  absl::Status status;
  std::vector<Case> all;
  std::vector<Case> runnable;
};

const Loaded& LoadedCases() {
  static const Loaded* loaded = [] {
    auto* out = new Loaded;
    absl::StatusOr<std::vector<Case>> cases = LoadCases(ConformanceDir() + "/cases.toml");
    if (!cases.ok()) {
      out->status = cases.status();
      return out;
    }
    out->all = *cases;
    for (const Case& c : out->all) {
      if (DeferralReason(c).empty()) out->runnable.push_back(c);
    }
    return out;
  }();
  return *loaded;
}

absl::StatusOr<std::string> ReadFixture(const std::string& relative) {
  return ReadFile(ConformanceDir() + "/" + relative, kMaxFixtureBytes);
}

absl::StatusOr<std::vector<std::shared_ptr<const PublicKey>>> LoadKeys(
    const std::vector<std::string>& paths) {
  std::vector<std::shared_ptr<const PublicKey>> keys;
  for (const std::string& path : paths) {
    ASSIGN_OR_RETURN(std::string pem, ReadFixture(path));
    ASSIGN_OR_RETURN(std::unique_ptr<const PublicKey> key, ParsePublicKeyPem(pem));
    keys.push_back(std::move(key));
  }
  return keys;
}

// Reads signatures/<n>/ of the case's image folder and applies [case.mutate].
absl::StatusOr<Signature> LoadSignature(const Case& c, const std::string& n) {
  const std::string base = absl::StrCat(c.dir, "/signatures/", n, "/");
  Signature signature;
  ASSIGN_OR_RETURN(signature.payload, ReadFixture(base + "payload.json"));
  ASSIGN_OR_RETURN(signature.media_type, ReadFixture(base + "layer-media-type"));
  signature.layer_digest = Sha256Digest(signature.payload);
  ASSIGN_OR_RETURN(std::string annotations_text, ReadFixture(base + "annotations.json"));
  nlohmann::json annotations = nlohmann::json::parse(annotations_text, nullptr, false);
  if (annotations.is_discarded() || !annotations.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(base, "annotations.json is not a JSON object"));
  }
  for (const auto& [key, value] : annotations.items()) {
    if (!value.is_string()) return absl::InvalidArgumentError(absl::StrCat(base, ": ", key));
    signature.annotations[key] = value.get<std::string>();
  }
  if (c.remove_all_annotations) signature.annotations.clear();
  for (const std::string& key : c.remove_annotations) signature.annotations.erase(key);
  for (const auto& [key, value] : c.set_annotations) signature.annotations[key] = value;
  return signature;
}

// The signature folder names of the case's image, in numeric order.
std::vector<std::string> SignatureFolders(const Case& c) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(ConformanceDir() + "/" + c.dir + "/signatures", ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return names;
}

IdentityRule RuleFor(const Case& c) {
  IdentityRule rule;
  if (c.identity == "matchExact") {
    rule.kind = IdentityRule::Kind::kMatchExact;
  } else if (c.identity == "exactReference") {
    rule.kind = IdentityRule::Kind::kExactReference;
    rule.reference = c.identity_reference;
  }
  return rule;
}

// What the daemon would conclude: accepted, rejected (with reasons) or an error, which fails closed.
struct Outcome {
  bool accepted = false;
  std::string explanation;
};

// Returns input `name` of a unit-check case, with its _literal, _truncate and _repeat modifiers.
absl::StatusOr<std::string> Input(const Case& c, const std::string& name) {
  std::string value;
  if (auto literal = c.input_literals.find(name); literal != c.input_literals.end()) {
    value = literal->second;
  } else {
    auto file = c.input_files.find(name);
    if (file == c.input_files.end()) return absl::NotFoundError(absl::StrCat("no input ", name));
    ASSIGN_OR_RETURN(value, ReadFixture(file->second));
  }
  if (auto n = c.input_numbers.find(name + "_truncate"); n != c.input_numbers.end()) {
    value.resize(value.size() - std::min<size_t>(value.size(), n->second));
  }
  if (auto n = c.input_numbers.find(name + "_repeat"); n != c.input_numbers.end()) {
    std::string once = value;
    for (int64_t i = 1; i < n->second; ++i) value += once;
  }
  return value;
}

// A "rekor-set" unit check: the SET alone, for a payload, signature and signer key or certificate.
absl::StatusOr<Outcome> RunRekorSetCase(const Case& c) {
  ASSIGN_OR_RETURN(std::vector<std::shared_ptr<const PublicKey>> rekor_keys, LoadKeys(c.rekor_keys));
  ASSIGN_OR_RETURN(std::string payload, Input(c, "payload"));
  ASSIGN_OR_RETURN(std::string signature, Input(c, "signature_b64"));
  ASSIGN_OR_RETURN(std::string set, Input(c, "set"));
  ASSIGN_OR_RETURN(std::string signer, Input(c, "public_key_or_certificate"));
  Outcome outcome;
  absl::StatusOr<RekorEntry> entry =
      VerifyRekorSetFromAnnotations(set, rekor_keys, signer, signature, payload);
  if (!entry.ok()) {
    outcome.explanation = std::string(entry.status().message());
    return outcome;
  }
  outcome.accepted = true;
  outcome.explanation = absl::StrCat("SET verified: integratedTime ", entry->integrated_time,
                                     ", logIndex ", entry->log_index);
  if (c.expected_integrated_time >= 0 && entry->integrated_time != c.expected_integrated_time) {
    outcome.accepted = false;
    absl::StrAppend(&outcome.explanation, ", but ", c.expected_integrated_time, " was expected");
  }
  return outcome;
}

// The certificates of a PEM file of trust material, each as a TrustedCertificate valid always.
absl::StatusOr<std::vector<TrustedCertificate>> LoadTrusted(const Case& c, const std::string& key) {
  std::vector<TrustedCertificate> out;
  auto it = c.trust_values.find(key);
  if (it == c.trust_values.end()) return out;
  ASSIGN_OR_RETURN(std::string pem, ReadFixture(it->second));
  ASSIGN_OR_RETURN(std::vector<std::string> ders, ParseCertificateChainPem(pem));
  for (std::string& der : ders) out.push_back({std::move(der), ValidityWindow{}});
  return out;
}

// The certificate unit checks. "fulcio-certificate-at-time": the leaf must chain to `fulcio_ca` at
// `at_time` and carry the OIDC issuer and subject email; upstream makes every certificate of the
// CA file a trust anchor, so they all become roots here. "pki-certificate": the leaf must chain to
// `pki_roots` (with `pki_intermediates` as trusted intermediates) and match the subject email and/or
// host name; upstream checks at the current time, here at a fixed time inside every certificate's
// validity (2025-06-01), so that the test does not depend on the clock. In both, the chain
// annotation is parsed strictly and all its certificates are untrusted path material.
absl::StatusOr<Outcome> RunCertificateCase(const Case& c) {
  const bool fulcio = c.kind == "fulcio-certificate-at-time";
  Outcome outcome;
  ASSIGN_OR_RETURN(std::string leaf_pem, Input(c, "certificate"));
  ASSIGN_OR_RETURN(Certificate leaf, ParseCertificatePem(leaf_pem));
  ASSIGN_OR_RETURN(std::string chain_pem, Input(c, "chain"));
  absl::StatusOr<std::vector<std::string>> chain = ParseCertificateChainPem(chain_pem);
  if (!chain.ok()) {
    outcome.explanation = std::string(chain.status().message());
    return outcome;
  }
  ASSIGN_OR_RETURN(std::vector<TrustedCertificate> roots,
                   LoadTrusted(c, fulcio ? "fulcio_ca" : "pki_roots"));
  ASSIGN_OR_RETURN(std::vector<TrustedCertificate> intermediates, LoadTrusted(c, "pki_intermediates"));
  ASSIGN_OR_RETURN(CaPool pool, CaPool::Create(std::move(roots), std::move(intermediates)));
  if (fulcio && c.at_time < 0) return absl::InvalidArgumentError("the case has no at_time");
  const absl::Time at = fulcio ? absl::FromUnixSeconds(c.at_time)
                               : absl::FromCivil(absl::CivilSecond(2025, 6, 1, 0, 0, 0), absl::UTCTimeZone());
  absl::StatusOr<std::vector<std::string>> path = VerifyCertificateChain(leaf, *chain, pool, at);
  if (!path.ok()) {
    outcome.explanation = std::string(path.status().message());
    return outcome;
  }
  // The identities the case asks for; each must match.
  std::vector<CertificateIdentity> identities;
  auto value = [&](const char* key) {
    auto it = c.trust_values.find(key);
    return it == c.trust_values.end() ? std::string() : it->second;
  };
  if (fulcio) {
    identities.push_back({.issuer = value("fulcio_oidc_issuer"), .subject = value("fulcio_subject_email")});
  } else {
    for (const char* key : {"pki_subject_email", "pki_subject_hostname"}) {
      if (!value(key).empty()) identities.push_back({.subject = value(key)});
    }
  }
  for (CertificateIdentity& identity : identities) {
    ASSIGN_OR_RETURN(ValidatedCertificateIdentity validated,
                     ValidateCertificateIdentity(std::move(identity), {.issuer_required = fulcio}));
    if (absl::Status match = MatchCertificateIdentity(leaf, validated); !match.ok()) {
      outcome.explanation = std::string(match.message());
      return outcome;
    }
  }
  outcome.accepted = true;
  outcome.explanation = absl::StrCat(leaf.Describe(), " chains through ", path->size(),
                                     " certificates and matches ", identities.size(), " identities");
  return outcome;
}

// The decision time of every case: the vectors carry no key windows, so any instant will do.
const absl::Time kDecidedAt = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

// The private-PKI cases are checked at a fixed time inside every certificate's validity, so that
// the test does not depend on the clock (upstream checks at the current time).
const absl::Time kPkiDecidedAt = absl::FromCivil(absl::CivilSecond(2025, 6, 1, 0, 0, 0), absl::UTCTimeZone());

// The certificate trust of a Fulcio or private-PKI case, as containers/image configures it: Fulcio
// (every certificate of fulcio_ca an anchor, as upstream makes them) with the case's Rekor keys as
// its transparency logs, which a Fulcio signature always needs; or a private PKI (pki_roots
// anchors, pki_intermediates trusted intermediates), no log required, checked at kPkiDecidedAt.
// `identities` gets the identities the case names; each must match on its own.
absl::StatusOr<CertificateTrust> CertificateTrustOf(const Case& c, std::vector<CertificateIdentity>* identities) {
  const bool fulcio = c.trust_values.count("fulcio_ca") > 0;
  auto value = [&](const char* key) {
    auto it = c.trust_values.find(key);
    return it == c.trust_values.end() ? std::string() : it->second;
  };
  ASSIGN_OR_RETURN(std::vector<TrustedCertificate> roots, LoadTrusted(c, fulcio ? "fulcio_ca" : "pki_roots"));
  ASSIGN_OR_RETURN(std::vector<TrustedCertificate> intermediates, LoadTrusted(c, "pki_intermediates"));
  ASSIGN_OR_RETURN(CaPool pool, CaPool::Create(std::move(roots), std::move(intermediates)));
  CertificateTrust trust;
  trust.name = fulcio ? "fulcio" : "pki";
  trust.certificate_authorities = std::make_shared<const CaPool>(std::move(pool));
  trust.short_lived = fulcio;
  trust.require_transparency_log = fulcio;
  ASSIGN_OR_RETURN(std::vector<std::shared_ptr<const PublicKey>> rekor_keys, LoadKeys(c.rekor_keys));
  for (size_t i = 0; i < rekor_keys.size(); ++i) {
    TransparencyLogInput& log = trust.transparency_logs.emplace_back();
    log.name = absl::StrCat("rekor key ", i + 1);
    log.key = rekor_keys[i];
  }
  if (fulcio) {
    identities->push_back({.issuer = value("fulcio_oidc_issuer"), .subject = value("fulcio_subject_email")});
  } else {
    for (const char* key : {"pki_subject_email", "pki_subject_hostname"}) {
      if (!value(key).empty()) identities->push_back({.subject = value(key)});
    }
  }
  return trust;
}

// "fulcio-rekor-components": the certificate identity type on its own, over the component files.
absl::StatusOr<Outcome> RunComponentsCase(const Case& c) {
  std::vector<CertificateIdentity> identities;
  ASSIGN_OR_RETURN(CertificateTrust trust, CertificateTrustOf(c, &identities));
  ASSIGN_OR_RETURN(std::string payload, Input(c, "payload"));
  ASSIGN_OR_RETURN(std::string signature_b64, Input(c, "signature_b64"));
  ASSIGN_OR_RETURN(std::string set, Input(c, "set"));
  ASSIGN_OR_RETURN(std::string certificate, Input(c, "certificate"));
  ASSIGN_OR_RETURN(std::string chain, Input(c, "chain"));
  Outcome outcome;
  absl::StatusOr<std::string> signature = Base64Decode(signature_b64);
  if (!signature.ok()) {
    outcome.explanation = std::string(signature.status().message());
    return outcome;
  }
  CertificateSignatureInput input;
  input.certificate_pem = certificate;
  input.chain_pem = chain;
  input.signature = *signature;
  input.signed_bytes = payload;
  input.rekor_bundle = set;
  const std::vector<CertificateTrust> roots = {trust};
  ASSIGN_OR_RETURN(CertificateSignerResult result, CheckCertificateSignature(input, roots, kDecidedAt));
  if (result.signers.empty()) {
    outcome.explanation = result.rejection;
    return outcome;
  }
  for (CertificateIdentity& identity : identities) {
    ASSIGN_OR_RETURN(ValidatedCertificateIdentity validated, ValidateCertificateIdentity(std::move(identity)));
    if (absl::Status match = MatchCertificateIdentity(result.signers[0].first.certificate, validated); !match.ok()) {
      outcome.explanation = std::string(match.message());
      return outcome;
    }
  }
  outcome.accepted = true;
  outcome.explanation = absl::StrCat("signed by ", DescribeSigner(result.signers[0].first), " at ",
                                     DescribeSigningTime(result.signers[0].second));
  return outcome;
}

absl::StatusOr<Outcome> RunCase(const Case& c) {
  if (c.kind == "rekor-set") return RunRekorSetCase(c);
  if (c.kind == "fulcio-rekor-components") return RunComponentsCase(c);
  if (c.kind == "fulcio-certificate-at-time" || c.kind == "pki-certificate") {
    return RunCertificateCase(c);
  }
  SimpleSigningProducerOptions producer;
  // A rule requiring every key of the case (no window), or one per identity of a certificate
  // case (each must be satisfied: upstream requires every subject constraint it is given), with
  // the case's reference rule.
  std::vector<policy::Rule> rules(1);
  const bool certificates = c.trust_values.count("fulcio_ca") > 0 || c.trust_values.count("pki_roots") > 0;
  absl::Time decided_at = kDecidedAt;
  if (certificates) {
    std::vector<CertificateIdentity> identities;
    ASSIGN_OR_RETURN(CertificateTrust trust, CertificateTrustOf(c, &identities));
    if (c.trust_values.count("pki_roots") > 0) decided_at = kPkiDecidedAt;
    producer.certificate_trust.push_back(trust);
    rules.resize(std::max<size_t>(1, identities.size()));
    for (size_t i = 0; i < identities.size(); ++i) {
      ASSIGN_OR_RETURN(ValidatedCertificateIdentity validated,
                       ValidateCertificateIdentity(std::move(identities[i]), {.issuer_required = trust.short_lived}));
      rules[i].identities.push_back({absl::StrCat("identity", i + 1), "", trust.name, std::move(validated)});
      rules[i].certificate_trust.push_back(trust);
    }
  } else {
    ASSIGN_OR_RETURN(producer.keys, LoadKeys(c.keys));
    ASSIGN_OR_RETURN(producer.rekor_keys, LoadKeys(c.rekor_keys));
    for (size_t i = 0; i < producer.keys.size(); ++i) {
      policy::TrustedKey& key = rules[0].keys.emplace_back();
      key.name = absl::StrCat("key", i + 1);
      key.key = producer.keys[i];
    }
  }
  producer.now = decided_at;
  for (policy::Rule& rule : rules) {
    rule.name = c.name;
    rule.reference_rule = RuleFor(c);
    RETURN_IF_ERROR(ValidateIdentityRule(rule.reference_rule));
  }

  policy::Target target;
  ASSIGN_OR_RETURN(target.image, reference::Parse(c.image_reference));
  // The digest is computed from the manifest bytes, as the daemon does; no manifest leaves it empty.
  absl::StatusOr<std::string> manifest = ReadFixture(c.dir + "/manifest.json");
  if (manifest.ok()) {
    target.manifest_digest = Sha256Digest(*manifest);
    if (!c.manifest_digest.empty() && c.manifest_digest != target.manifest_digest) {
      return absl::InternalError(absl::StrCat("cases.toml says ", c.manifest_digest,
                                              ", manifest.json hashes to ", target.manifest_digest));
    }
  } else if (!absl::IsNotFound(manifest.status())) {
    return manifest.status();
  }

  Outcome outcome;
  if (absl::Status valid = policy::RuleEvaluation::ValidateTarget(target); !valid.ok()) {
    outcome.explanation = absl::StrCat("error (fails closed): ", valid.message());
    return outcome;
  }
  std::vector<Signature> signatures;
  if (c.kind == "signature") {
    ASSIGN_OR_RETURN(Signature signature, LoadSignature(c, c.signature));
    signatures.push_back(std::move(signature));
  } else {
    // An image case goes the daemon's way: the fixture layers become a ".sig" manifest, which is
    // parsed, and each layer's blob is checked against its descriptor before verification.
    std::vector<test_signer::SignatureLayer> layers;
    for (const std::string& n : SignatureFolders(c)) {
      ASSIGN_OR_RETURN(Signature fixture, LoadSignature(c, n));
      test_signer::SignatureLayer layer;
      layer.payload = test_signer::MakeBlob(fixture.media_type, fixture.payload);
      layer.annotations = fixture.annotations;
      layers.push_back(std::move(layer));
    }
    ASSIGN_OR_RETURN(test_signer::SignatureArtifact artifact,
                     test_signer::BuildSignatureArtifact(target.manifest_digest, layers));
    ASSIGN_OR_RETURN(SignatureManifest sig_manifest, ParseSignatureManifest(artifact.manifest.bytes));
    if (sig_manifest.layers.size() != layers.size()) {
      return absl::InternalError("the signature manifest lost layers");
    }
    for (size_t i = 0; i < sig_manifest.layers.size(); ++i) {
      ASSIGN_OR_RETURN(Signature signature,
                       SignatureFromLayer(sig_manifest.layers[i], layers[i].payload.bytes));
      signatures.push_back(std::move(signature));
    }
  }
  // Each simple-signing layer through the producer (with the case's Rekor keys), then the rule.
  for (size_t r = 0; r + 1 < rules.size(); ++r) {
    // Every identity but the last must be satisfied on its own; the last one decides below.
    policy::RuleEvaluation evaluation(rules[r], target, decided_at);
    size_t n = 0;
    for (const Signature& signature : signatures) {
      if (c.kind == "image" && signature.media_type != kSimpleSigningMediaType) continue;
      evaluation.AddProduced(policy::SignatureLabel(++n, signature.layer_digest),
                             ProduceSimpleSigningStatements(signature, producer));
    }
    if (!evaluation.Satisfied()) {
      outcome.explanation = evaluation.error().ok() ? evaluation.Explain()
                                                    : absl::StrCat("error (fails closed): ", evaluation.error().message());
      return outcome;
    }
  }
  policy::RuleEvaluation evaluation(rules.back(), target, decided_at);
  size_t n = 0;
  for (const Signature& signature : signatures) {
    if (c.kind == "image" && signature.media_type != kSimpleSigningMediaType) continue;
    evaluation.AddProduced(policy::SignatureLabel(++n, signature.layer_digest),
                           ProduceSimpleSigningStatements(signature, producer));
  }
  if (!evaluation.Satisfied() && !evaluation.error().ok()) {
    outcome.explanation = absl::StrCat("error (fails closed): ", evaluation.error().message());
    return outcome;
  }
  outcome.accepted = evaluation.Satisfied();
  outcome.explanation = evaluation.Explain();
  return outcome;
}

TEST(CosignConformanceCases, EveryCaseIsRunOrListedAsDeferred) {
  const Loaded& loaded = LoadedCases();
  ASSERT_TRUE(loaded.status.ok()) << loaded.status;
  ASSERT_FALSE(loaded.all.empty());
  std::vector<std::string> deferred;
  for (const Case& c : loaded.all) {
    std::string why = DeferralReason(c);
    EXPECT_FALSE(absl::StartsWith(why, "unknown case kind")) << c.name << ": " << why;
    EXPECT_TRUE(c.expected == "accept" || c.expected == "reject") << c.name;
    if (!why.empty()) deferred.push_back(absl::StrCat("  ", c.name, " [", c.kind, "]: ", why));
  }
  EXPECT_EQ(loaded.runnable.size() + deferred.size(), loaded.all.size());
  // Every case is run, none deferred.
  for (const Case& c : loaded.all) EXPECT_TRUE(DeferralReason(c).empty()) << c.name;
  std::cout << "cosign conformance: " << loaded.runnable.size() << " cases run, " << deferred.size()
            << " DEFERRED to a later issue (not passed):\n"
            << absl::StrJoin(deferred, "\n") << "\n";
}

class CosignConformance : public testing::TestWithParam<Case> {};

TEST_P(CosignConformance, VerdictMatchesExpected) {
  const Case& c = GetParam();
  absl::StatusOr<Outcome> outcome = RunCase(c);
  ASSERT_TRUE(outcome.ok()) << c.name << ": the harness failed: " << outcome.status();
  std::cout << "  " << c.name << ": " << (outcome->accepted ? "accept" : "reject") << " — "
            << outcome->explanation << "\n";
  EXPECT_EQ(outcome->accepted ? "accept" : "reject", c.expected)
      << c.name << " (expected because: " << c.reason << "); ours: " << outcome->explanation;
  if (auto it = ExpectedReasons().find(c.name); it != ExpectedReasons().end()) {
    EXPECT_TRUE(absl::StrContains(outcome->explanation, it->second))
        << c.name << ": reason \"" << outcome->explanation << "\" should mention \"" << it->second
        << "\"";
  }
}

std::vector<Case> RunnableCases() {
  const Loaded& loaded = LoadedCases();
  if (!loaded.status.ok() || loaded.runnable.empty()) {
    // Keep one instance so that the failure to load shows as a failing case, not as zero tests.
    Case broken;
    broken.name = "cases_toml_did_not_load";
    return {broken};
  }
  return loaded.runnable;
}

std::string CaseName(const testing::TestParamInfo<Case>& info) {
  std::string name = info.param.name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Cases, CosignConformance, testing::ValuesIn(RunnableCases()), CaseName);

}  // namespace
}  // namespace sigshim::verify
