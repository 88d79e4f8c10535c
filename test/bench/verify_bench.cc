// Stored-signature verifications per second: what one cosign signature costs sigshim once its
// payload and annotations are in memory (the cosign producer + the policy evaluation: key verification, payload
// parse, digest and identity checks), next to the bare PublicKey::Verify, for ECDSA P-256 and
// Ed25519; and a whole decision (tag → digest, .sig manifest, payload blob, verify) against an
// in-memory registry.
//
// Keyless next to key-based (BM_ProduceStatements): the cosign producer alone
// (verify::ProduceSimpleSigningStatements) over a signature of an ECDSA P-256 key with that one
// candidate key, and over keyless signatures from sigstore-js with the trust material of the mock's
// trusted_root.json: certificate chain + Rekor SET + embedded SCT, and the same with an RFC 3161
// timestamp as well. No check is cached, so every iteration is a cold verification. The keyless
// signatures come from test/testbed's sigstore mock (Node.js; `make node-deps`), started once before
// the first keyless benchmark and stopped before any timing.
//
//   cmake --build build --target verify_bench
//   build/test/bench/verify_bench --openssl_speed
//   build/test/bench/verify_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// --openssl_speed runs `openssl speed -seconds 3 ecdsap256 ed25519` after the benchmarks, in the
// same run, for the side-by-side comparison with OpenSSL's own verify/s figures. items_per_second is
// per CPU second (the build machine is shared; wall time there measures the neighbours).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/config/config.h"
#include "pkg/policy/image_verifier.h"
#include "pkg/policy/policy.h"
#include "pkg/reference/reference.h"
#include "pkg/policy/evaluation.h"
#include "pkg/trust/certificate_trust.h"
#include "pkg/trust/trusted_root_json.h"
#include "pkg/verify/cosign_simple_signing.h"
#include "pkg/verify/certificate.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/sct.h"
#include "pkg/verify/signature_manifest.h"
#include "test/fakes/fake_registry.h"
#include "pkg/verify/simple_signing.h"
#include "test/signer/signer.h"
#include "test/testbed/sigstore_mock.h"
#include "test/testbed/temp_dir.h"

namespace sigshim {
namespace {

using test_signer::KeyType;

constexpr char kRepository[] = "registry.test/team/app";

// Everything a stored-signature check needs, built once per key type.
struct Fixture {
  std::shared_ptr<const verify::PublicKey> key;
  policy::Rule rule;  // requires `key` as "release"
  verify::Signature signature;
  policy::Target target;
  std::string raw_signature;
};

[[noreturn]] void SetupFailed(const absl::Status& status) {
  std::fprintf(stderr, "fixture setup failed: %s\n", status.ToString().c_str());
  std::abort();
}

Fixture MakeFixture(KeyType type) {
  Fixture f;
  auto generated = test_signer::GenerateSigningKey(type);
  if (!generated.ok()) {
    std::fprintf(stderr, "fixture setup failed: %s\n", std::string(generated.status().message()).c_str());
    std::abort();
  }
  const std::string digest = Sha256Digest("image manifest");
  auto layer = test_signer::SignImageLayer(*generated->signer, kRepository, digest);
  auto key = verify::ParsePublicKeyPem(generated->pair.public_pem);
  if (!layer.ok() || !key.ok()) {
    std::fprintf(stderr, "fixture setup failed\n");
    std::abort();
  }
  f.key = *std::move(key);
  f.rule.name = "bench";
  f.rule.keys.push_back(policy::TrustedKey{"release", "", "inline", f.key, {}});
  f.signature.layer_digest = layer->payload.digest;
  f.signature.media_type = std::string(verify::kSimpleSigningMediaType);
  f.signature.payload = layer->payload.bytes;
  f.signature.annotations = layer->annotations;
  f.target.manifest_digest = digest;
  f.target.image = *reference::Parse(absl::StrCat(kRepository, ":v1"));
  f.raw_signature = *generated->signer->Sign(f.signature.payload);
  return f;
}

void BM_StoredSignatureCheck(benchmark::State& state, KeyType type) {
  Fixture f = MakeFixture(type);
  for (auto _ : state) {
    policy::RuleEvaluation evaluation(f.rule, f.target, absl::UnixEpoch());
    evaluation.AddSignature("signature 1", f.signature);
    bool accepted = evaluation.Satisfied();
    if (!accepted) state.SkipWithError("signature not accepted");
    benchmark::DoNotOptimize(accepted);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_StoredSignatureCheck, ecdsa_p256, KeyType::kEcdsaP256);
BENCHMARK_CAPTURE(BM_StoredSignatureCheck, ed25519, KeyType::kEd25519);

void BM_BareKeyVerify(benchmark::State& state, KeyType type) {
  Fixture f = MakeFixture(type);
  for (auto _ : state) {
    absl::Status status = f.key->Verify(f.signature.payload, f.raw_signature);
    if (!status.ok()) state.SkipWithError("signature does not verify");
    benchmark::DoNotOptimize(status);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_BareKeyVerify, ecdsa_p256, KeyType::kEcdsaP256);
BENCHMARK_CAPTURE(BM_BareKeyVerify, ed25519, KeyType::kEd25519);

// A whole decision through the registry client and an in-memory registry (no network).
void BM_DecideAgainstFakeRegistry(benchmark::State& state, KeyType type) {
  auto registry = std::make_shared<fakes::FakeRegistry>("registry.test");
  const std::string manifest = absl::StrCat(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":)",
      R"("application/vnd.oci.image.config.v1+json","digest":")", Sha256Digest("{}"), R"(","size":2},"layers":[]})");
  const std::string digest = registry->PutManifest("team/app", "v1", manifest);
  auto generated = test_signer::GenerateSigningKey(type);
  if (!generated.ok()) {
    state.SkipWithError("key generation failed");
    return;
  }
  auto artifact = test_signer::SignImage(*generated->signer, kRepository, digest);
  if (!artifact.ok()) {
    state.SkipWithError("signing failed");
    return;
  }
  for (const auto& layer : artifact->layers) registry->PutBlob("team/app", layer.payload.bytes);
  registry->PutManifest("team/app", artifact->tag, artifact->manifest.bytes);
  auto config = config::ParseConfig(
      absl::StrCat("[[keys]]\nname = \"release\"\ndata = \"\"\"\n", generated->pair.public_pem,
                   "\"\"\"\n[[policy]]\nname = \"team\"\nimages = [\"registry.test/team/**\"]\nrequire = [\"release\"]\n"),
      "bench.toml");
  auto policy = policy::Policy::Create(**config);
  registry::RegistryClientOptions client_options;
  client_options.transport = registry->transport();
  policy::ImageVerifierOptions options;
  options.registry = *registry::RegistryClient::Create(client_options);
  auto verifier = policy::ImageVerifier::Create(options);
  if (!policy.ok() || !verifier.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  policy::VerifyRequest request;
  request.image = absl::StrCat(kRepository, ":v1");
  for (auto _ : state) {
    policy::Decision decision = (*verifier)->Decide(**policy, request);
    if (decision.outcome != policy::Outcome::kAllow) state.SkipWithError(decision.reason.c_str());
    benchmark::DoNotOptimize(decision);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_DecideAgainstFakeRegistry, ecdsa_p256, KeyType::kEcdsaP256);
BENCHMARK_CAPTURE(BM_DecideAgainstFakeRegistry, ed25519, KeyType::kEd25519);

// Keyless signatures from the sigstore mock and the trust material of its trusted_root.json, made
// once for the whole run (starting Node.js takes seconds). The mock is stopped and its folder
// removed before this returns, so no child process runs while anything is timed.
struct KeylessFixture {
  verify::SimpleSigningProducerOptions options;  // certificate_trust: the mock's trusted_root.json
  verify::Signature chain_set_sct;               // certificate, chain, Rekor SET (SCT in the leaf)
  verify::Signature chain_set_sct_timestamp;     // the same + an RFC 3161 timestamp from the mock's TSA
  std::string leaf_pem;                          // chain_set_sct's certificate
  std::string leaf_der;
  std::string issuer_der;                        // the first certificate of its chain (the mock's root)
};

verify::Signature KeylessSignature(const testbed::SigstoreMock& mock, const std::string& payload,
                                   testbed::SigstoreAuthority tsa) {
  testbed::KeylessSignOptions sign;
  sign.tsa = tsa;
  absl::StatusOr<testbed::KeylessSignature> signed_payload = mock.Sign(payload, sign);
  if (!signed_payload.ok()) SetupFailed(signed_payload.status());
  verify::Signature signature;
  signature.layer_digest = Sha256Digest(payload);
  signature.media_type = std::string(verify::kSimpleSigningMediaType);
  signature.payload = payload;
  signature.annotations = signed_payload->annotations;
  return signature;
}

// Produces the statements of `signature` and aborts unless exactly one certificate signer with a
// verified SCT and a proven signing time comes out: the benchmark must time the whole path.
void CheckKeylessPath(const verify::Signature& signature, const verify::SimpleSigningProducerOptions& options) {
  absl::StatusOr<verify::ProducedStatements> produced = verify::ProduceSimpleSigningStatements(signature, options);
  if (!produced.ok()) SetupFailed(produced.status());
  if (produced->statements.size() != 1) SetupFailed(absl::InternalError(produced->rejection));
  const verify::SignedStatement& statement = produced->statements[0];
  const auto* signer = std::get_if<verify::CertificateSigner>(&statement.signer);
  if (signer == nullptr || signer->scts.empty() || !statement.signing_time.has_value()) {
    SetupFailed(absl::InternalError(absl::StrCat("keyless statement lacks a certificate signer, an SCT or a time: ",
                                                 verify::DescribeSigner(statement.signer))));
  }
}

const KeylessFixture& GetKeylessFixture() {
  static const KeylessFixture* const fixture = [] {
    auto* f = new KeylessFixture;
    absl::StatusOr<std::unique_ptr<testbed::TempDir>> dir = testbed::TempDir::Create("sigshim-verify-bench");
    if (!dir.ok()) SetupFailed(dir.status());
    testbed::SigstoreMockOptions mock_options;
    mock_options.dir = (*dir)->Path("sigstore");
    absl::StatusOr<std::unique_ptr<testbed::SigstoreMock>> mock = testbed::SigstoreMock::Start(mock_options);
    if (!mock.ok()) SetupFailed(mock.status());
    absl::StatusOr<std::string> payload =
        verify::BuildSimpleSigningPayload(absl::StrCat(kRepository, ":v1"), Sha256Digest("image manifest"));
    if (!payload.ok()) SetupFailed(payload.status());
    f->chain_set_sct = KeylessSignature(**mock, *payload, testbed::SigstoreAuthority::kNone);
    f->chain_set_sct_timestamp = KeylessSignature(**mock, *payload, testbed::SigstoreAuthority::kMain);
    absl::StatusOr<std::string> json = ReadFile((*mock)->trusted_root_path(), trust::kMaxTrustedRootBytes);
    if (!json.ok()) SetupFailed(json.status());
    if (absl::Status stopped = (*mock)->Stop(); !stopped.ok()) SetupFailed(stopped);
    mock->reset();
    dir->reset();

    absl::StatusOr<trust::TrustRoot> root = trust::ParseTrustedRoot(*json, "trusted_root.json");
    if (!root.ok()) SetupFailed(root.status());
    root->name = "sigstore-mock";
    absl::StatusOr<verify::CertificateTrust> trust = trust::CertificateTrustFor(*root);
    if (!trust.ok()) SetupFailed(trust.status());
    if (trust->ct_logs == nullptr || trust->transparency_logs.empty() || trust->timestamp_authorities.empty()) {
      SetupFailed(absl::InternalError("the mock's trusted root lacks a CT log, a Rekor log or a TSA"));
    }
    f->options.certificate_trust.push_back(*std::move(trust));
    f->options.now = absl::Now();
    CheckKeylessPath(f->chain_set_sct, f->options);
    CheckKeylessPath(f->chain_set_sct_timestamp, f->options);
    // The timestamp is verified, not skipped: without the Rekor logs it alone proves the time.
    verify::SimpleSigningProducerOptions timestamp_only = f->options;
    timestamp_only.certificate_trust[0].transparency_logs.clear();
    timestamp_only.certificate_trust[0].require_transparency_log = false;
    CheckKeylessPath(f->chain_set_sct_timestamp, timestamp_only);

    f->leaf_pem = f->chain_set_sct.annotations.at(std::string(verify::kCertificateAnnotation));
    absl::StatusOr<verify::Certificate> leaf = verify::ParseCertificatePem(f->leaf_pem);
    if (!leaf.ok()) SetupFailed(leaf.status());
    f->leaf_der = leaf->Der();
    absl::StatusOr<std::vector<std::string>> chain =
        verify::ParseCertificateChainPem(f->chain_set_sct.annotations.at(std::string(verify::kChainAnnotation)));
    if (!chain.ok()) SetupFailed(chain.status());
    if (chain->empty()) SetupFailed(absl::InternalError("the keyless signature has no chain"));
    f->issuer_der = (*chain)[0];
    return f;
  }();
  return *fixture;
}

void ProduceLoop(benchmark::State& state, const verify::Signature& signature,
                 const verify::SimpleSigningProducerOptions& options) {
  for (auto _ : state) {
    absl::StatusOr<verify::ProducedStatements> produced = verify::ProduceSimpleSigningStatements(signature, options);
    if (!produced.ok() || produced->statements.empty()) {
      state.SkipWithError("signature not verified");
      break;
    }
    benchmark::DoNotOptimize(produced);
  }
  state.SetItemsProcessed(state.iterations());
}

// Baseline: a cosign signature of an ECDSA P-256 key, one candidate key.
void BM_ProduceStatements_Key(benchmark::State& state) {
  Fixture f = MakeFixture(KeyType::kEcdsaP256);
  verify::SimpleSigningProducerOptions options;
  options.keys.push_back(f.key);
  ProduceLoop(state, f.signature, options);
}
BENCHMARK(BM_ProduceStatements_Key)->Name("BM_ProduceStatements/key_ecdsa_p256");

// Keyless: leaf + chain to the trusted root's CA at the SET's time, Rekor SET, embedded SCT.
void BM_ProduceStatements_Keyless(benchmark::State& state) {
  const KeylessFixture& f = GetKeylessFixture();
  ProduceLoop(state, f.chain_set_sct, f.options);
}
BENCHMARK(BM_ProduceStatements_Keyless)->Name("BM_ProduceStatements/keyless_chain_set_sct");

// Keyless as above with an RFC 3161 timestamp from the trusted root's TSA as well.
void BM_ProduceStatements_KeylessTimestamp(benchmark::State& state) {
  const KeylessFixture& f = GetKeylessFixture();
  ProduceLoop(state, f.chain_set_sct_timestamp, f.options);
}
BENCHMARK(BM_ProduceStatements_KeylessTimestamp)->Name("BM_ProduceStatements/keyless_chain_set_sct_timestamp");

// Parts of the keyless path, each alone, to say where its time goes (run with
// --benchmark_filter=KeylessPart). Each decodes public keys through OpenSSL as the full path does.

// One certificate parsed from PEM (the leaf annotation), with its claims and SANs.
void BM_KeylessPart_ParseLeafCertificate(benchmark::State& state) {
  const KeylessFixture& f = GetKeylessFixture();
  for (auto _ : state) {
    absl::StatusOr<verify::Certificate> leaf = verify::ParseCertificatePem(f.leaf_pem);
    if (!leaf.ok()) {
      state.SkipWithError("leaf does not parse");
      break;
    }
    benchmark::DoNotOptimize(leaf);
  }
}
BENCHMARK(BM_KeylessPart_ParseLeafCertificate)->Name("BM_KeylessPart/parse_leaf_certificate");

// One DER SubjectPublicKeyInfo (the Rekor log's ECDSA P-256 key) decoded into a PublicKey.
void BM_KeylessPart_ParsePublicKeyDer(benchmark::State& state) {
  const KeylessFixture& f = GetKeylessFixture();
  const std::string der = f.options.certificate_trust[0].transparency_logs[0].key->Der();
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<const verify::PublicKey>> key = verify::ParsePublicKeyDer(der);
    if (!key.ok()) {
      state.SkipWithError("key does not parse");
      break;
    }
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_KeylessPart_ParsePublicKeyDer)->Name("BM_KeylessPart/parse_public_key_der");

// The embedded SCT of the (already parsed) leaf checked against the trusted root's CT logs.
void BM_KeylessPart_EmbeddedScts(benchmark::State& state) {
  const KeylessFixture& f = GetKeylessFixture();
  const verify::CtLogs& ct_logs = *f.options.certificate_trust[0].ct_logs;
  absl::StatusOr<verify::Certificate> leaf = verify::ParseCertificateDer(f.leaf_der);
  if (!leaf.ok()) {
    state.SkipWithError("leaf does not parse");
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<std::vector<verify::VerifiedSct>> scts = verify::VerifyEmbeddedScts(*leaf, f.issuer_der, ct_logs);
    if (!scts.ok() || scts->empty()) {
      state.SkipWithError("SCT does not verify");
      break;
    }
    benchmark::DoNotOptimize(scts);
  }
}
BENCHMARK(BM_KeylessPart_EmbeddedScts)->Name("BM_KeylessPart/embedded_scts");

}  // namespace
}  // namespace sigshim

int main(int argc, char** argv) {
  bool openssl_speed = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--openssl_speed") == 0) {
      openssl_speed = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (openssl_speed) {
    std::fflush(stdout);
    std::puts("\n== openssl speed -seconds 3 ecdsap256 ed25519 (same run, for comparison) ==");
    std::fflush(stdout);
    const int status = std::system("openssl speed -seconds 3 ecdsap256 ed25519");
    if (status != 0) {
      std::fprintf(stderr, "openssl speed failed (status %d)\n", status);
      return 1;
    }
  }
  return 0;
}
