// Stored-signature verifications per second: what one cosign signature costs sigshim once its
// payload and annotations are in memory (the cosign producer + the policy evaluation: key verification, payload
// parse, digest and identity checks), next to the bare PublicKey::Verify, for ECDSA P-256 and
// Ed25519; and a whole decision (tag → digest, .sig manifest, payload blob, verify) against an
// in-memory registry.
//
//   cmake --build build --target verify_bench
//   build/test/bench/verify_bench --openssl_speed
//
// --openssl_speed runs `openssl speed -seconds 3 ecdsap256 ed25519` after the benchmarks, in the
// same run, for the side-by-side comparison with OpenSSL's own verify/s figures. items_per_second is
// per CPU second (the build machine is shared; wall time there measures the neighbours).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "pkg/base/digest.h"
#include "pkg/config/config.h"
#include "pkg/policy/image_verifier.h"
#include "pkg/policy/policy.h"
#include "pkg/reference/reference.h"
#include "pkg/policy/evaluation.h"
#include "pkg/verify/public_key.h"
#include "pkg/verify/signature_manifest.h"
#include "test/fakes/fake_registry.h"
#include "test/signer/signer.h"

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
