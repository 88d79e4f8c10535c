// Certificate identities and key validity windows on a real node: a real containerd 1.6, the test
// bed's docker-registry and the sigshim binary, every image pulled through sigshim's CRI socket and
// a container made from it.
//
// Keyless: images signed (cosign format) by sigstore-js against a mock Fulcio, Rekor and TSA on
// 127.0.0.1 (test/testbed/sigstore_mock.h). The node trusts the mock's trusted_root.json and one
// identity (issuer + release workflow). A keyless-signed image is pulled and run; an image signed
// by another workflow is refused at the pull; once the identity is changed and sigshim reloaded,
// the image it admitted before is refused at the next CreateContainer, by the stored evidence.
//
// Private PKI: a root and an intermediate CA made with the openssl command when the suite starts
// ([[trust_roots]] ca_roots / ca_intermediates, and the mock's TSA as timestamp_authorities) and an
// identity for a leaf's SAN email; a signature whose certificate and chain annotations hold such a
// leaf is allowed, another SAN or a leaf of another root (same email) refused; a leaf that expired
// an hour ago counts only with a timestamp from while it was valid.
//
// Key validity window: a [[keys]] entry retired an hour ago (not_after) whose signatures count only
// with a log entry of the mock's trusted root (transparency_log): a signature logged in the mock
// Rekor two hours ago is allowed; one without a log entry, logged now, or logged two hours ago by
// a log the trust root does not list, refused. Needs root.
#include <signal.h>
#include <unistd.h>

#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "pkg/base/file.h"
#include "pkg/verify/signature_manifest.h"
#include "pkg/verify/simple_signing.h"
#include "test/e2e/attack_images.h"
#include "test/e2e/cri_client.h"
#include "test/e2e/sigshim_process.h"
#include "test/signer/signer.h"
#include "test/testbed/poll.h"
#include "test/testbed/referrers_registry.h"
#include "test/testbed/sigstore_mock.h"
#include "test/testbed/subprocess.h"
#include "test/testbed/testbed.h"

namespace sigshim::e2e {
namespace {

using ::testing::HasSubstr;
using namespace ::runtime::v1;  // NOLINT: the CRI message names read best unqualified here

constexpr char kNamespace[] = "e2e-keyless";
constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
constexpr char kRelease[] = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
constexpr char kOther[] = "https://github.com/acme/app/.github/workflows/nightly.yml@refs/heads/main";
constexpr char kCosignSign[] = "https://sigstore.dev/cosign/sign/v1";
constexpr char kSlsaProvenance[] = "https://slsa.dev/provenance/v1";

// The private PKI's leaf SAN that identity "corp-release" names, and another one of the same CA.
constexpr char kCorpEmail[] = "release@corp.example";
constexpr char kOtherEmail[] = "intern@corp.example";

std::string Describe(const grpc::Status& status) { return testbed::DescribeStatus(status); }

// One signing certificate of a private PKI to make: the SAN email and the validity.
struct PkiLeafSpec {
  std::string label;  // its name in PrivatePki::leaves
  std::string email;
  absl::Time not_before;
  absl::Time not_after;
};

// One signing certificate of a private PKI: its key and its certificate, PEM.
struct PkiLeaf {
  std::string key_pem;
  std::string certificate_pem;
};

// A private PKI made with the openssl command: root CA -> intermediate CA -> code-signing leaves
// with an email SAN, all ECDSA P-256; the CAs valid from a day ago for three days.
struct PrivatePki {
  std::string root_path;          // the root CA certificate, PEM (what ca_roots names)
  std::string intermediate_path;  // the intermediate CA certificate, PEM (ca_intermediates)
  std::string chain_pem;          // intermediate then root: the dev.sigstore.cosign/chain annotation
  std::map<std::string, PkiLeaf> leaves;  // by PkiLeafSpec::label
};

// Runs the openssl command with `args`; an error names the command and its output.
absl::Status Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return testbed::RunCommand(argv, absl::Seconds(60)).status();
}

// Returns `t` as openssl ca's -startdate/-enddate take it (GeneralizedTime).
std::string OpensslTime(absl::Time t) { return absl::FormatTime("%Y%m%d%H%M%SZ", t, absl::UTCTimeZone()); }

// Makes, in folder `dir` (created), a PKI whose CAs are named after `name`, with `leaves`. Uses
// `openssl ca` (not `openssl x509`, whose OpenSSL 3.0 cannot set a start date) so that a leaf can
// be valid only in the past.
absl::StatusOr<PrivatePki> MakePrivatePki(const std::string& dir, const std::string& name,
                                          const std::vector<PkiLeafSpec>& leaves) {
  if (absl::Status made = MakeDirs(dir); !made.ok()) return made;
  std::string config = absl::StrCat(
      "[ca]\ndefault_ca = dflt\n[dflt]\ndatabase = ", dir, "/index.txt\nnew_certs_dir = ", dir,
      "\ndefault_md = sha256\npolicy = any\nunique_subject = no\nrand_serial = yes\nemail_in_dn = no\n",
      "[any]\norganizationName = optional\ncommonName = supplied\n",
      "[ca_cert]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n");
  for (const PkiLeafSpec& leaf : leaves) {
    absl::StrAppend(&config, "[leaf_", leaf.label, "]\nbasicConstraints = critical, CA:FALSE\n",
                    "keyUsage = critical, digitalSignature\nextendedKeyUsage = codeSigning\n",
                    "subjectAltName = email:", leaf.email, "\n");
  }
  const std::string cnf = dir + "/ca.cnf";
  for (absl::Status step : {WriteFileAtomic(cnf, config, 0644), WriteFileAtomic(dir + "/index.txt", "", 0644)}) {
    if (!step.ok()) return step;
  }
  auto key = [&](const std::string& base) {
    return Openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir + "/" + base + ".key"});
  };
  auto request = [&](const std::string& base, const std::string& common_name) {
    return Openssl({"req", "-new", "-key", dir + "/" + base + ".key", "-subj", "/O=sigshim e2e/CN=" + common_name, "-out",
                    dir + "/" + base + ".csr"});
  };
  // Signs base.csr into base.pem with the issuer's key (`issuer` "" for self-signed).
  auto issue = [&](const std::string& base, const std::string& issuer, const std::string& extensions, absl::Time from,
                   absl::Time until) {
    std::vector<std::string> args = {"ca", "-batch", "-notext", "-config", cnf, "-in", dir + "/" + base + ".csr",
                                     "-out", dir + "/" + base + ".pem", "-extensions", extensions,
                                     "-startdate", OpensslTime(from), "-enddate", OpensslTime(until)};
    if (issuer.empty()) {
      args.insert(args.end(), {"-selfsign", "-keyfile", dir + "/" + base + ".key"});
    } else {
      args.insert(args.end(), {"-cert", dir + "/" + issuer + ".pem", "-keyfile", dir + "/" + issuer + ".key"});
    }
    return Openssl(args);
  };
  const absl::Time now = absl::Now();
  for (absl::Status step :
       {key("root"), request("root", name + " Root"), issue("root", "", "ca_cert", now - absl::Hours(24), now + absl::Hours(48)),
        key("intermediate"), request("intermediate", name + " Intermediate"),
        issue("intermediate", "root", "ca_cert", now - absl::Hours(24), now + absl::Hours(48))}) {
    if (!step.ok()) return step;
  }
  PrivatePki pki;
  pki.root_path = dir + "/root.pem";
  pki.intermediate_path = dir + "/intermediate.pem";
  for (const PkiLeafSpec& leaf : leaves) {
    const std::string base = "leaf_" + leaf.label;
    for (absl::Status step : {key(base), request(base, leaf.email),
                              issue(base, "intermediate", base, leaf.not_before, leaf.not_after)}) {
      if (!step.ok()) return step;
    }
    PkiLeaf& out = pki.leaves[leaf.label];
    for (auto [file, text] : {std::pair{base + ".key", &out.key_pem}, std::pair{base + ".pem", &out.certificate_pem}}) {
      absl::StatusOr<std::string> read = ReadFile(dir + "/" + file, 1 << 20);
      if (!read.ok()) return read.status();
      *text = *std::move(read);
    }
  }
  absl::StatusOr<std::string> intermediate = ReadFile(pki.intermediate_path, 1 << 20);
  if (!intermediate.ok()) return intermediate.status();
  absl::StatusOr<std::string> root = ReadFile(pki.root_path, 1 << 20);
  if (!root.ok()) return root.status();
  pki.chain_pem = *intermediate + *root;
  return pki;
}

// Returns the first timestamp authority of the trusted_root.json at `path` as the PEM chain a
// private PKI's timestamp_authorities takes (its certificates in the file's order: leaf first).
absl::StatusOr<std::string> TimestampAuthorityPem(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 1 << 20);
  if (!text.ok()) return text.status();
  const nlohmann::json root = nlohmann::json::parse(*text, nullptr, false);
  const nlohmann::json* certificates = nullptr;
  if (root.is_object() && root.contains("timestampAuthorities") && root["timestampAuthorities"].is_array() &&
      !root["timestampAuthorities"].empty()) {
    const nlohmann::json& tsa = root["timestampAuthorities"][0];
    if (tsa.contains("certChain") && tsa["certChain"].contains("certificates")) {
      certificates = &tsa["certChain"]["certificates"];
    }
  }
  if (certificates == nullptr || !certificates->is_array()) {
    return absl::DataLossError(absl::StrCat(path, ": no timestampAuthorities[0].certChain.certificates"));
  }
  std::string pem;
  for (const nlohmann::json& certificate : *certificates) {
    const std::string der_base64 = certificate.value("rawBytes", "");
    absl::StrAppend(&pem, "-----BEGIN CERTIFICATE-----\n");
    for (size_t i = 0; i < der_base64.size(); i += 64) absl::StrAppend(&pem, der_base64.substr(i, 64), "\n");
    absl::StrAppend(&pem, "-----END CERTIFICATE-----\n");
  }
  return pem;
}

class KeylessNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // SetUp fails every test
    auto bed = testbed::TestBed::Create({.name = "sigshim-keyless"});
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = bed->release();
    auto referrers = testbed::ReferrersRegistry::Start({.upstream_port = bed_->registry()->port()});
    ASSERT_TRUE(referrers.ok()) << referrers.status();
    referrers_ = referrers->release();
    testbed::SigstoreMockOptions mock_options;
    mock_options.dir = bed_->dir().Path("sigstore");
    auto mock = testbed::SigstoreMock::Start(mock_options);
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = mock->release();
    auto base = bed_->BuildImage("base", {"/bin/sh"}, "keyless");
    ASSERT_TRUE(base.ok()) << base.status();
    base_ = new testbed::OciImage(*base);
    const absl::Time now = absl::Now();
    auto corp = MakePrivatePki(bed_->dir().Path("pki/corp"), "Corp",
                               {{"release", kCorpEmail, now - absl::Hours(1), now + absl::Hours(24)},
                                {"intern", kOtherEmail, now - absl::Hours(1), now + absl::Hours(24)},
                                {"expired", kCorpEmail, now - absl::Hours(3), now - absl::Hours(1)}});
    ASSERT_TRUE(corp.ok()) << corp.status();
    corp_ = new PrivatePki(*std::move(corp));
    auto foreign = MakePrivatePki(bed_->dir().Path("pki/foreign"), "Foreign",
                                  {{"release", kCorpEmail, now - absl::Hours(1), now + absl::Hours(24)}});
    ASSERT_TRUE(foreign.ok()) << foreign.status();
    foreign_ = new PrivatePki(*std::move(foreign));
    auto tsa = TimestampAuthorityPem(mock_->trusted_root_path());
    ASSERT_TRUE(tsa.ok()) << tsa.status();
    corp_tsa_path_ = new std::string(bed_->dir().Path("pki/corp/tsa.pem"));
    ASSERT_TRUE(WriteFileAtomic(*corp_tsa_path_, *tsa, 0644).ok());
    auto retired = GenerateKey("retired", test_signer::KeyType::kEcdsaP256, bed_->dir().Path("retired.pub"));
    ASSERT_TRUE(retired.ok()) << retired.status();
    retired_ = retired->release();
    // Whole seconds, as TOML datetimes and sigshim's messages write them.
    retired_at_ = new absl::Time(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now() - absl::Hours(1))));
    socket_ = new std::string(bed_->dir().Path("sigshim.sock"));
    config_path_ = new std::string(bed_->dir().Path("sigshim.toml"));
    ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(kRelease), 0644).ok());
    auto process = StartSigshim(
        SigshimCommand(SIGSHIM_BINARY, *config_path_, bed_->dir().Path("sigshim.log"), bed_->dir().path()), *socket_);
    ASSERT_TRUE(process.ok()) << process.status();
    sigshim_ = process->release();
    client_ = new CriClient(*socket_);
  }

  static void TearDownTestSuite() {
    if (sigshim_ != nullptr) {
      absl::Status stopped = sigshim_->Stop(absl::Seconds(15));
      EXPECT_TRUE(stopped.ok()) << stopped;
    }
    delete sigshim_;
    sigshim_ = nullptr;
    delete client_;
    client_ = nullptr;
    delete referrers_;
    referrers_ = nullptr;
    delete base_;
    base_ = nullptr;
    delete mock_;
    mock_ = nullptr;
    delete corp_;
    delete foreign_;
    corp_ = foreign_ = nullptr;
    delete corp_tsa_path_;
    corp_tsa_path_ = nullptr;
    delete retired_;
    retired_ = nullptr;
    delete retired_at_;
    retired_at_ = nullptr;
    delete socket_;
    delete config_path_;
    socket_ = config_path_ = nullptr;
    delete bed_;
    bed_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (starts containerd): run make test as root";
    if (bed_ == nullptr || mock_ == nullptr || sigshim_ == nullptr) FAIL() << "the test bed did not start";
  }

  void TearDown() override {
    if (sigshim_ != nullptr && !sigshim_->Running()) {
      ADD_FAILURE() << "sigshim " << sigshim_->ExitDescription() << "; end of its log:\n" << sigshim_->LogTail(16384);
    }
  }

  // The node's configuration: the mock's trusted root "sigstore", identity "ci" = (GitHub's issuer,
  // `subject`), required for every image under e2e/; the private PKI "corp-pki" (the corp CAs, and
  // the mock's main TSA as its timestamp authority) and identity "corp-release" (a leaf with SAN
  // kCorpEmail), required under pki/; key "retired", valid until retired_at_ and counting only
  // with time evidence of "sigstore", required under retired/. No [registry] section: the
  // plain-HTTP registry on 127.0.0.1 is reached by the loopback convention alone, as containerd
  // reaches it.
  static std::string Config(const std::string& subject) {
    const std::string registry = bed_->registry()->host_port();
    return absl::StrCat(
        "[server]\nlisten = \"", *socket_, "\"\nruntime_endpoint = \"", bed_->containerd()->socket_path(),
        "\"\nstate_dir = \"", bed_->dir().Path("sigshim-state"), "\"\n[log]\nlevel = \"debug\"\n",
        "[enforcement]\nmode = \"enforce\"\nunmatched = \"deny\"\nsandbox_image = \"",
        bed_->containerd()->sandbox_image(), "@", bed_->sandbox_image_digest(), "\"\n[audit]\npath = \"",
        bed_->dir().Path("audit.log"), "\"\n[metrics]\nlisten = \"\"\n",
        "[[keys]]\nname = \"retired\"\npath = \"", retired_->public_path, "\"\nnot_after = ", RetiredAt(),
        "\ntransparency_log = \"sigstore\"\n",
        "[[trust_roots]]\nname = \"sigstore\"\ntrusted_root = \"", mock_->trusted_root_path(), "\"\n",
        "[[trust_roots]]\nname = \"corp-pki\"\nca_roots = \"", corp_->root_path, "\"\nca_intermediates = \"",
        corp_->intermediate_path, "\"\ntimestamp_authorities = \"", *corp_tsa_path_, "\"\n",
        "[[identities]]\nname = \"ci\"\ntrust_root = \"sigstore\"\nissuer = \"", kIssuer, "\"\nsubject = \"", subject,
        "\"\n[[identities]]\nname = \"corp-release\"\ntrust_root = \"corp-pki\"\nsubject = \"", kCorpEmail, "\"\n",
        "[[policy]]\nname = \"keyless\"\nimages = [\"", registry, "/e2e/**\"]\nrequire = [\"ci\"]\n",
        "[[policy]]\nname = \"pki\"\nimages = [\"", registry, "/pki/**\"]\nrequire = [\"corp-release\"]\n",
        "[[policy]]\nname = \"retired\"\nimages = [\"", registry, "/retired/**\"]\nrequire = [\"retired\"]\n",
        // Sigstore bundles (issue 11): identity "bundle-ci" stays the release workflow whatever
        // `subject` is; slsa/ also requires SLSA provenance by it, built by the release workflow.
        "[[identities]]\nname = \"bundle-ci\"\ntrust_root = \"sigstore\"\nissuer = \"", kIssuer, "\"\nsubject = \"",
        kRelease, "\"\n",
        "[[policy]]\nname = \"bundle\"\nimages = [\"", registry, "/bundle/**\"]\nrequire = [\"bundle-ci\"]\n",
        // The same registry through the referrers API server (referrers_).
        "[[policy]]\nname = \"referrers-api\"\nimages = [\"", referrers_->host_port(),
        "/api/**\"]\nrequire = [\"bundle-ci\"]\n",
        "[[policy]]\nname = \"provenance\"\nimages = [\"", registry, "/slsa/**\"]\nrequire = [\"bundle-ci\"]\n",
        "[[policy.attestations]]\nname = \"provenance\"\npredicate_type = \"", kSlsaProvenance,
        "\"\nrequire = [\"bundle-ci\"]\n[policy.attestations.match]\n\"runDetails.builder.id\" = \"", kRelease, "\"\n");
  }

  // Returns key "retired"'s not_after as the config and sigshim's messages write it.
  static std::string RetiredAt() { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *retired_at_, absl::UTCTimeZone()); }

  // Pushes a new image as <repository>:v1 (repository with its folder, e.g. "pki/a") and returns
  // its digest and the simple-signing payload for it, or "" on failure (a test failure is added).
  static std::pair<std::string, std::string> PushImageAndPayload(const std::string& repository) {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("node-", repository), {"/bin/echo", repository});
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return {};
    auto digest = testbed::PushImage(*image, *bed_->registry(), repository, "v1");
    EXPECT_TRUE(digest.ok()) << digest.status();
    if (!digest.ok()) return {};
    auto payload = verify::BuildSimpleSigningPayload(absl::StrCat(bed_->registry()->host_port(), "/", repository),
                                                     *digest);
    EXPECT_TRUE(payload.ok()) << payload.status();
    if (!payload.ok()) return {};
    return {*digest, *payload};
  }

  // Pushes the .sig of `digest` in `repository`: one layer, `payload` with `annotations`.
  static void PushSignatureLayer(const std::string& repository, const std::string& digest, const std::string& payload,
                                 std::map<std::string, std::string> annotations) {
    std::vector<test_signer::SignatureLayer> layers;
    layers.push_back(test_signer::LayerWithAnnotations(payload, std::move(annotations)));
    auto artifact = test_signer::BuildSignatureArtifact(digest, std::move(layers));
    ASSERT_TRUE(artifact.ok()) << artifact.status();
    absl::Status pushed = PushSignatureArtifact(*bed_->registry(), repository, *artifact);
    ASSERT_TRUE(pushed.ok()) << pushed;
  }

  // Pushes a new image as <repository>:v1 signed in the cosign format with `leaf`'s key, the
  // signature carrying `leaf`'s certificate and `chain_pem`, no log entry and, with
  // `tsa_clock_offset`, an RFC 3161 timestamp of the signature by the mock's main TSA with its
  // clock moved by that much (without, no timestamp). Returns the image's digest ("" on failure).
  static std::string PushPkiSigned(const std::string& repository, const PkiLeaf& leaf, const std::string& chain_pem,
                                   std::optional<absl::Duration> tsa_clock_offset = std::nullopt) {
    auto [digest, payload] = PushImageAndPayload(repository);
    if (digest.empty()) return "";
    auto signer = test_signer::Signer::Create(leaf.key_pem);
    EXPECT_TRUE(signer.ok()) << signer.status();
    if (!signer.ok()) return "";
    auto signature = (*signer)->Sign(payload);
    EXPECT_TRUE(signature.ok()) << signature.status();
    if (!signature.ok()) return "";
    std::map<std::string, std::string> annotations = {
        {std::string(verify::kSignatureAnnotation), Base64Encode(*signature)},
        {std::string(verify::kCertificateAnnotation), leaf.certificate_pem},
        {std::string(verify::kChainAnnotation), chain_pem}};
    if (tsa_clock_offset.has_value()) {
      auto timestamp = mock_->Timestamp(*signature, testbed::SigstoreAuthority::kMain, *tsa_clock_offset);
      EXPECT_TRUE(timestamp.ok()) << timestamp.status();
      if (!timestamp.ok()) return "";
      annotations[std::string(verify::kTimestampAnnotation)] = *timestamp;
    }
    PushSignatureLayer(repository, digest, payload, std::move(annotations));
    return digest;
  }

  // Pushes a new image as <repository>:v1 signed with key "retired". With `log_clock_offset`, the
  // signature is logged in `log`'s mock Rekor (kMain's is the log of trust root "sigstore") with the
  // log's clock moved by that much, and carries the SET the log answered
  // (dev.sigstore.cosign/bundle); without, it has no log entry. Returns the image's digest ("" on
  // failure).
  static std::string PushKeySigned(const std::string& repository, std::optional<absl::Duration> log_clock_offset,
                                   testbed::SigstoreAuthority log = testbed::SigstoreAuthority::kMain) {
    auto [digest, payload] = PushImageAndPayload(repository);
    if (digest.empty()) return "";
    auto signature = retired_->signer->Sign(payload);
    EXPECT_TRUE(signature.ok()) << signature.status();
    if (!signature.ok()) return "";
    std::map<std::string, std::string> annotations = {
        {std::string(verify::kSignatureAnnotation), Base64Encode(*signature)}};
    if (log_clock_offset.has_value()) {
      auto bundle = mock_->LogKeySignature(payload, *signature, retired_->signer->public_pem(), log, *log_clock_offset);
      EXPECT_TRUE(bundle.ok()) << bundle.status();
      if (!bundle.ok()) return "";
      annotations[std::string(verify::kBundleAnnotation)] = *bundle;
    }
    PushSignatureLayer(repository, digest, payload, std::move(annotations));
    return digest;
  }

  // Pulls `repository`:v1 through sigshim, runs a pod named `name` and in it a container of the
  // image, through sigshim; expects every step to succeed and the container to print `repository`
  // (what PushImageAndPayload's image echoes) and exit 0. Removes the pod. Returns the audit line of
  // the pull of `digest` (null when there is none: a test failure is added). `registry` is the
  // image's registry part: the test bed's docker-registry when empty.
  static nlohmann::json PullAndRun(const std::string& name, const std::string& repository, const std::string& digest,
                                   const std::string& registry = "") {
    const std::string image =
        absl::StrCat(registry.empty() ? bed_->registry()->host_port() : registry, "/", repository, ":v1");
    grpc::Status pulled = Pull(image);
    EXPECT_TRUE(pulled.ok()) << Describe(pulled);
    PodRun pod;
    pod.config = HostNetworkPod(name, kNamespace, bed_->dir().Path("pods/" + name));
    grpc::Status ran = RunPodSandbox(*client_, pod.config, &pod.sandbox_id);
    EXPECT_TRUE(ran.ok()) << Describe(ran);
    if (ran.ok()) {
      CreateContainerResponse created;
      grpc::Status status = client_->runtime().CreateContainer(
          Context().get(), ContainerRequest(pod.sandbox_id, pod.config, "c", image), &created);
      std::cout << "  CreateContainer " << image << ": " << Describe(status).substr(0, 600) << std::endl;
      EXPECT_TRUE(status.ok()) << Describe(status);
      if (status.ok()) {
        StartContainerRequest start;
        start.set_container_id(created.container_id());
        StartContainerResponse started;
        status = client_->runtime().StartContainer(Context().get(), start, &started);
        EXPECT_TRUE(status.ok()) << "StartContainer: " << Describe(status);
        ContainerStatusResponse final_status;
        EXPECT_TRUE(status.ok() && WaitForExit(*client_, created.container_id(), &final_status))
            << "container " << created.container_id() << " never exited";
        EXPECT_EQ(final_status.status().exit_code(), 0);
        auto log = ReadFile(absl::StrCat(pod.config.log_directory(), "/c_0.log"), 1 << 20);
        EXPECT_TRUE(log.ok()) << log.status();
        EXPECT_THAT(log.ok() ? *log : "", HasSubstr(repository));
      }
      grpc::Status removed = RemovePod(*client_, pod.sandbox_id);
      EXPECT_TRUE(removed.ok()) << Describe(removed);
    }
    nlohmann::json found;
    for (nlohmann::json& line : ReadAuditLog(bed_->dir().Path("audit.log"), nullptr)) {
      if (line.value("method", "") == "PullImage" && line.value("digest", "") == digest) found = std::move(line);
    }
    EXPECT_FALSE(found.is_null()) << "no audit line for the pull of " << digest;
    return found;
  }

  // Pulls `repository`:v1 through sigshim, expects a refusal and returns its message.
  static std::string PullRefused(const std::string& repository) {
    grpc::Status status = Pull(absl::StrCat(bed_->registry()->host_port(), "/", repository, ":v1"));
    EXPECT_FALSE(status.ok()) << "pulled";
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << Describe(status);
    EXPECT_THAT(status.error_message(), HasSubstr("SignatureValidationFailed")) << Describe(status);
    return status.error_message();
  }

  // Pushes a new image as e2e/<repository>:v1 and a keyless signature of it by workflow `subject`.
  static std::string PushSigned(const std::string& repository, const std::string& subject) {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("keyless-", repository), {"/bin/echo", repository});
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, *bed_->registry(), "e2e/" + repository, "v1");
    EXPECT_TRUE(digest.ok()) << digest.status();
    if (!digest.ok()) return "";
    auto payload = verify::BuildSimpleSigningPayload(
        absl::StrCat(bed_->registry()->host_port(), "/e2e/", repository), *digest);
    EXPECT_TRUE(payload.ok()) << payload.status();
    testbed::KeylessSignOptions options;
    options.issuer = kIssuer;
    options.subject = subject;
    auto signature = mock_->Sign(*payload, options);
    EXPECT_TRUE(signature.ok()) << signature.status();
    if (!signature.ok()) return *digest;
    std::vector<test_signer::SignatureLayer> layers;
    layers.push_back(test_signer::LayerWithAnnotations(*payload, signature->annotations));
    auto artifact = test_signer::BuildSignatureArtifact(*digest, std::move(layers));
    EXPECT_TRUE(artifact.ok()) << artifact.status();
    if (artifact.ok()) {
      absl::Status pushed = PushSignatureArtifact(*bed_->registry(), "e2e/" + repository, *artifact);
      EXPECT_TRUE(pushed.ok()) << pushed;
    }
    return *digest;
  }

  static std::string Image(const std::string& repository) {
    return absl::StrCat(bed_->registry()->host_port(), "/e2e/", repository, ":v1");
  }

  // One in-toto statement to sign into a bundle and attach: its predicate, who signs it, (when
  // not empty) the digest it names instead of the image's, the log and timestamp it gets, and
  // what is done to the signed bundle before it is attached.
  struct BundleSpec {
    std::string predicate_type = kCosignSign;
    nlohmann::json predicate = nlohmann::json::object();
    std::string signer = kRelease;  // the workflow (certificate SAN) that signs
    std::string subject_digest;     // "": the image's digest
    int rekor_version = 1;          // the mock Rekor's API: 1 (SET and proof) or 2 (proof and checkpoint only)
    testbed::SigstoreAuthority tsa = testbed::SigstoreAuthority::kNone;  // who timestamps the signature
    std::function<void(nlohmann::json& bundle)> tamper;  // when set, applied to the signed bundle's JSON
  };

  // Pushes a new image as <repository>:v1 and, for each of `specs`, a DSSE bundle of an in-toto
  // statement v1 signed keyless by sigstore-js (mock Fulcio, the spec's mock Rekor and TSA) and
  // attached with @sigstore/oci (test/sigstore/attach_bundle.mjs): on docker-registry, which has
  // no referrers API, through the referrers tag schema. No ".sig" is pushed. With `registry` (a
  // host:port in front of the test bed's docker-registry, such as the ReferrersRegistry), the
  // statements name the image there and the bundles are attached through it. Returns the image's
  // digest ("" on failure: a test failure is added).
  static std::string PushBundled(const std::string& repository, const std::vector<BundleSpec>& specs,
                                 const std::string& registry = "") {
    auto image = testbed::CmdVariant(*base_, absl::StrCat("bundle-", repository), {"/bin/echo", repository});
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) return "";
    auto digest = testbed::PushImage(*image, *bed_->registry(), repository, "v1");
    EXPECT_TRUE(digest.ok()) << digest.status();
    if (!digest.ok()) return "";
    const std::string name =
        absl::StrCat(registry.empty() ? bed_->registry()->host_port() : registry, "/", repository);
    for (size_t i = 0; i < specs.size(); ++i) {
      const std::string subject = specs[i].subject_digest.empty() ? *digest : specs[i].subject_digest;
      const std::string statement =
          nlohmann::json({{"_type", "https://in-toto.io/Statement/v1"},
                          {"subject", {{{"name", name}, {"digest", {{"sha256", subject.substr(7)}}}}}},
                          {"predicateType", specs[i].predicate_type},
                          {"predicate", specs[i].predicate}})
              .dump();
      testbed::KeylessSignOptions options;
      options.issuer = kIssuer;
      options.subject = specs[i].signer;
      options.dsse_payload_type = "application/vnd.in-toto+json";
      options.rekor_version = specs[i].rekor_version;
      options.tsa = specs[i].tsa;
      auto signed_bundle = mock_->Sign(statement, options);
      EXPECT_TRUE(signed_bundle.ok()) << signed_bundle.status();
      if (!signed_bundle.ok()) return "";
      std::string bundle_json = signed_bundle->bundle_json;
      if (specs[i].tamper) {
        nlohmann::json bundle = nlohmann::json::parse(bundle_json, nullptr, false);
        EXPECT_TRUE(bundle.is_object()) << bundle_json;
        if (!bundle.is_object()) return "";
        specs[i].tamper(bundle);
        bundle_json = bundle.dump();
      }
      const std::string path =
          bed_->dir().Path(absl::StrCat("bundles/", absl::StrReplaceAll(repository, {{"/", "-"}}), "-", i, ".json"));
      EXPECT_TRUE(MakeDirs(bed_->dir().Path("bundles")).ok());
      EXPECT_TRUE(WriteFileAtomic(path, bundle_json, 0644).ok());
      auto attached = testbed::RunCommand({mock_->node(), mock_->program_dir() + "/attach_bundle.mjs", "--image", name,
                                           "--digest", *digest, "--bundle", path},
                                          absl::Seconds(60));
      EXPECT_TRUE(attached.ok()) << attached.status();
      if (!attached.ok()) return "";
    }
    return *digest;
  }

  // Pulls and runs <referrers_>/<repository>:v1 (PullAndRun), expecting it allowed for identity
  // "bundle-ci", and returns "METHOD target" of the requests sigshim made to referrers_ meanwhile.
  static std::vector<std::string> PullThroughReferrersApi(const std::string& pod, const std::string& repository,
                                                          const std::string& digest) {
    const size_t before = referrers_->Requests().size();
    nlohmann::json audit = PullAndRun(pod, repository, digest, referrers_->host_port());
    EXPECT_EQ(audit.value("decision", ""), "allow") << audit.dump();
    EXPECT_EQ(audit.value("identity", ""), "bundle-ci") << audit.dump();
    std::vector<std::string> requests;
    std::vector<testbed::ReceivedRequest> received = referrers_->Requests();
    for (size_t i = before; i < received.size(); ++i) {
      if (!absl::StartsWith(received[i].user_agent, "sigshim")) continue;
      requests.push_back(absl::StrCat(received[i].method, " ", received[i].target));
      std::cout << "  sigshim asked: " << requests.back() << std::endl;
    }
    return requests;
  }

  static grpc::Status Pull(const std::string& image, std::string* image_ref = nullptr) {
    grpc::Status status = PullImage(*client_, image, kNamespace, nullptr, image_ref);
    std::cout << "  PullImage " << image << ": " << Describe(status).substr(0, 600) << std::endl;
    return status;
  }

  static grpc::Status Create(const PodRun& pod, const std::string& name, const std::string& image) {
    CreateContainerResponse created;
    grpc::Status status = client_->runtime().CreateContainer(
        Context().get(), ContainerRequest(pod.sandbox_id, pod.config, name, image), &created);
    std::cout << "  CreateContainer " << image << ": " << Describe(status).substr(0, 600) << std::endl;
    return status;
  }

  static inline testbed::TestBed* bed_ = nullptr;
  static inline testbed::SigstoreMock* mock_ = nullptr;
  static inline testbed::ReferrersRegistry* referrers_ = nullptr;
  static inline testbed::OciImage* base_ = nullptr;
  static inline std::string* socket_ = nullptr;
  static inline std::string* config_path_ = nullptr;
  static inline PrivatePki* corp_ = nullptr;
  static inline PrivatePki* foreign_ = nullptr;
  static inline std::string* corp_tsa_path_ = nullptr;
  static inline Key* retired_ = nullptr;
  static inline absl::Time* retired_at_ = nullptr;
  static inline testbed::Subprocess* sigshim_ = nullptr;
  static inline CriClient* client_ = nullptr;
};

TEST_F(KeylessNodeTest, ImageSignedByTheApprovedWorkflowIsPulledAndRuns) {
  const std::string digest = PushSigned("release", kRelease);
  ASSERT_FALSE(digest.empty());
  std::string image_ref;
  grpc::Status pulled = Pull(Image("release"), &image_ref);
  ASSERT_TRUE(pulled.ok()) << Describe(pulled);

  PodRun pod;
  pod.config = HostNetworkPod("keyless-pod", kNamespace, bed_->dir().Path("pods/keyless-pod"));
  grpc::Status ran = RunPodSandbox(*client_, pod.config, &pod.sandbox_id);
  ASSERT_TRUE(ran.ok()) << Describe(ran);
  EXPECT_TRUE(Create(pod, "release", Image("release")).ok());

  // The audit line names the identity and the signing time the log proved.
  std::vector<nlohmann::json> lines = ReadAuditLog(bed_->dir().Path("audit.log"), nullptr);
  bool found = false;
  for (const nlohmann::json& line : lines) {
    if (line.value("method", "") != "PullImage" || line.value("digest", "") != digest) continue;
    found = true;
    EXPECT_EQ(line.value("decision", ""), "allow") << line.dump();
    EXPECT_EQ(line.value("identity", ""), "ci") << line.dump();
    EXPECT_EQ(line.value("signed_at_source", ""), "tlog") << line.dump();
    EXPECT_FALSE(line.value("signed_at", "").empty()) << line.dump();
  }
  EXPECT_TRUE(found) << "no audit line for the pull of " << digest;

  // Another workflow of the same repository is not the approved identity.
  ASSERT_FALSE(PushSigned("nightly", kOther).empty());
  grpc::Status refused = Pull(Image("nightly"));
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.error_message(), HasSubstr("SignatureValidationFailed")) << Describe(refused);
  EXPECT_THAT(refused.error_message(), HasSubstr("nightly.yml")) << Describe(refused);

  // The identity changes (only nightly is approved now): after the reload the image admitted
  // before is refused at the next CreateContainer, on its stored evidence.
  ASSERT_TRUE(WriteFileAtomic(*config_path_, Config(kOther), 0644).ok());
  ASSERT_EQ(kill(sigshim_->pid(), SIGHUP), 0);
  grpc::Status status;
  int attempt = 0;
  EXPECT_TRUE(testbed::Eventually(
      [&] {
        status = Create(pod, absl::StrCat("after-", attempt++), Image("release"));
        return !status.ok();
      },
      absl::Seconds(30), absl::Milliseconds(200)))
      << "still allowed after the identity changed";
  EXPECT_THAT(status.error_message(), HasSubstr("SignatureValidationFailed")) << Describe(status);
  grpc::Status removed = RemovePod(*client_, pod.sandbox_id);
  EXPECT_TRUE(removed.ok()) << Describe(removed);
}

// What a private-PKI signature needs to count (pkg/verify/certificate_signer.cc, CheckUnderRoot;
// pkg/trust/pki.cc): the leaf must chain through ca_intermediates (or the chain annotation) to a
// ca_roots certificate, valid at the time the chain is judged, and allow code signing; the
// identity is the leaf's SAN email (no issuer is configured, so none is required). A PKI without
// rekor_keys requires no log entry, and its certificates are not short-lived, so no proven signing
// time is needed: the chain is judged at the signing time when a timestamp of its
// timestamp_authorities (or a SET of its rekor_keys) proves one, else at the time of the decision.
// Here: a leaf valid now counts without evidence (judged at the decision time); a leaf that
// expired an hour ago counts only with a timestamp from the time it was valid.
TEST_F(KeylessNodeTest, PrivatePkiSignatureByTheApprovedEmailIsPulledAndRuns) {
  const std::string digest = PushPkiSigned("pki/release", corp_->leaves.at("release"), corp_->chain_pem);
  ASSERT_FALSE(digest.empty());
  nlohmann::json audit = PullAndRun("pki-pod", "pki/release", digest);
  EXPECT_EQ(audit.value("decision", ""), "allow") << audit.dump();
  EXPECT_EQ(audit.value("identity", ""), "corp-release") << audit.dump();
  EXPECT_EQ(audit.value("signed_at_source", "?"), "") << "no log entry or timestamp proves a time: " << audit.dump();
}

TEST_F(KeylessNodeTest, PrivatePkiSignatureWithAnotherSanIsRefusedAtPull) {
  // The same CA, another person: the chain is good, the SAN is not the identity's.
  ASSERT_FALSE(PushPkiSigned("pki/intern", corp_->leaves.at("intern"), corp_->chain_pem).empty());
  const std::string message = PullRefused("pki/intern");
  EXPECT_THAT(message, HasSubstr("refused by policy \"pki\"")) << message;
  EXPECT_THAT(message, HasSubstr(absl::StrCat("not identity \"corp-release\": no SAN is ", kCorpEmail,
                                              " (SANs: email:", kOtherEmail, ")")))
      << message;
}

TEST_F(KeylessNodeTest, PrivatePkiLeafOfAnotherRootIsRefusedAtPull) {
  // The approved email, but certified by a CA the node does not trust (its chain annotation holds
  // that CA's intermediate and root, which must lend it nothing).
  ASSERT_FALSE(PushPkiSigned("pki/foreign", foreign_->leaves.at("release"), foreign_->chain_pem).empty());
  const std::string message = PullRefused("pki/foreign");
  EXPECT_THAT(message, HasSubstr("refused by policy \"pki\"")) << message;
  EXPECT_THAT(message, HasSubstr("trust root \"corp-pki\": certificate chain")) << message;
  EXPECT_THAT(message, HasSubstr("no proven signing time: checked at")) << message;
}

TEST_F(KeylessNodeTest, PrivatePkiSignatureOfAnExpiredLeafCountsWhenATimestampProvesItWasValid) {
  // The leaf was valid from three hours ago to one hour ago; the mock TSA, listed in corp-pki's
  // timestamp_authorities, stamps the signature as made two hours ago.
  const std::string digest =
      PushPkiSigned("pki/stamped", corp_->leaves.at("expired"), corp_->chain_pem, absl::Hours(-2));
  ASSERT_FALSE(digest.empty());
  nlohmann::json audit = PullAndRun("stamped-pod", "pki/stamped", digest);
  EXPECT_EQ(audit.value("decision", ""), "allow") << audit.dump();
  EXPECT_EQ(audit.value("identity", ""), "corp-release") << audit.dump();
  EXPECT_EQ(audit.value("signed_at_source", ""), "timestamp") << audit.dump();
}

TEST_F(KeylessNodeTest, PrivatePkiSignatureOfAnExpiredLeafWithoutATimestampIsRefusedAtPull) {
  ASSERT_FALSE(PushPkiSigned("pki/expired", corp_->leaves.at("expired"), corp_->chain_pem).empty());
  const std::string message = PullRefused("pki/expired");
  EXPECT_THAT(message, HasSubstr("refused by policy \"pki\"")) << message;
  EXPECT_THAT(message, HasSubstr("trust root \"corp-pki\": certificate chain: the leaf certificate is not valid at "))
      << message;
  EXPECT_THAT(message, HasSubstr("(no proven signing time: checked at")) << message;
}

TEST_F(KeylessNodeTest, PrivatePkiTimestampFromBeforeTheLeafWasValidDoesNotHelp) {
  // A real timestamp of the trusted TSA, but from before the leaf's notBefore: the chain is judged
  // at that time and the leaf was not valid yet.
  ASSERT_FALSE(
      PushPkiSigned("pki/early", corp_->leaves.at("expired"), corp_->chain_pem, absl::Hours(-4)).empty());
  const std::string message = PullRefused("pki/early");
  EXPECT_THAT(message, HasSubstr("trust root \"corp-pki\": certificate chain: the leaf certificate is not valid at "))
      << message;
  EXPECT_THAT(message, HasSubstr("(at the signing time, ")) << message;
  EXPECT_THAT(message, HasSubstr("(timestamp)")) << message;
}

// Key "retired" left service an hour ago (not_after) and names trust root "sigstore" as its
// transparency_log. The SETs here are made by the mock Rekor of @sigstore/mock (its v1 API takes
// the hashedrekord entry cosign proposes for a key signature and signs a SET over it with the log
// key that the mock's trusted_root.json lists): real SETs in the real format, verified by sigshim
// against that trusted root. The mock does not check the entry's signature as real Rekor would.
TEST_F(KeylessNodeTest, RetiredKeySignatureLoggedInsideItsWindowIsPulledAndRuns) {
  const std::string digest = PushKeySigned("retired/logged", absl::Hours(-2));
  ASSERT_FALSE(digest.empty());
  nlohmann::json audit = PullAndRun("retired-pod", "retired/logged", digest);
  EXPECT_EQ(audit.value("decision", ""), "allow") << audit.dump();
  EXPECT_EQ(audit.value("identity", ""), "retired") << audit.dump();
  EXPECT_EQ(audit.value("signed_at_source", ""), "tlog") << audit.dump();
  absl::Time signed_at;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, audit.value("signed_at", ""), &signed_at, &error))
      << error << ": " << audit.dump();
  EXPECT_LT(signed_at, *retired_at_) << audit.dump();
}

TEST_F(KeylessNodeTest, RetiredKeySignatureWithoutALogEntryIsRefusedAtPull) {
  ASSERT_FALSE(PushKeySigned("retired/unlogged", std::nullopt).empty());
  const std::string message = PullRefused("retired/unlogged");
  EXPECT_THAT(message, HasSubstr("refused by policy \"retired\"")) << message;
  EXPECT_THAT(message, HasSubstr("key \"retired\" counts only with a transparency-log entry or timestamp of trust "
                                 "root \"sigstore\", and this signature carries none that verifies"))
      << message;
}

TEST_F(KeylessNodeTest, RetiredKeySignatureLoggedInsideItsWindowByAnUntrustedLogIsRefusedAtPull) {
  // A real SET from inside the window, but by the mock's other Rekor, which "sigstore" does not list.
  ASSERT_FALSE(PushKeySigned("retired/other-log", absl::Hours(-2), testbed::SigstoreAuthority::kOther).empty());
  const std::string message = PullRefused("retired/other-log");
  EXPECT_THAT(message, HasSubstr("key \"retired\" counts only with a transparency-log entry or timestamp of trust "
                                 "root \"sigstore\", and this signature carries none that verifies"))
      << message;
}

TEST_F(KeylessNodeTest, RetiredKeySignatureLoggedAfterNotAfterIsRefusedAtPull) {
  // A real log entry, of the right log, that proves the key signed after it retired.
  ASSERT_FALSE(PushKeySigned("retired/late", absl::ZeroDuration()).empty());
  const std::string message = PullRefused("retired/late");
  EXPECT_THAT(message, HasSubstr("refused by policy \"retired\"")) << message;
  EXPECT_THAT(message, HasSubstr(absl::StrCat("key \"retired\" is valid until ", RetiredAt(), "; signed at ")))
      << message;
  EXPECT_THAT(message, HasSubstr("tlog")) << message;
}


// Sigstore bundles as cosign v3 and other sigstore clients publish them (issue 11): no ".sig", a
// DSSE envelope of an in-toto statement signed keyless by sigstore-js and attached with
// @sigstore/oci as an OCI referrer; docker-registry has no referrers API, so sigshim finds it
// through the referrers tag schema (tag sha256-<hex>).
TEST_F(KeylessNodeTest, BundleSignedImageIsPulledAndRuns) {
  const std::string digest = PushBundled("bundle/signed", {BundleSpec{}});
  ASSERT_FALSE(digest.empty());
  nlohmann::json audit = PullAndRun("bundle-pod", "bundle/signed", digest);
  EXPECT_EQ(audit.value("decision", ""), "allow") << audit.dump();
  EXPECT_EQ(audit.value("identity", ""), "bundle-ci") << audit.dump();
  EXPECT_EQ(audit.value("signed_at_source", ""), "tlog") << audit.dump();
}

// Returns a tamper step that replaces the DSSE envelope's payload (the in-toto statement) by what
// `edit` makes of it, keeping the signature that was made over the original.
std::function<void(nlohmann::json&)> EditStatement(std::function<std::string(const std::string&)> edit) {
  return [edit = std::move(edit)](nlohmann::json& bundle) {
    nlohmann::json& payload = bundle["dsseEnvelope"]["payload"];
    ASSERT_TRUE(payload.is_string()) << bundle.dump();
    absl::StatusOr<std::string> statement = Base64Decode(payload.get<std::string>());
    ASSERT_TRUE(statement.ok()) << statement.status();
    const std::string edited = edit(*statement);
    ASSERT_NE(edited, *statement);
    payload = Base64Encode(edited);
  };
}

// A bundle whose envelope was changed after signing: the statement still names the image, so only
// the DSSE signature (over PAE(payloadType, payload)) can tell. Changed content, and the same
// statement re-encoded (same JSON value, other bytes: the signature covers bytes, not meaning).
TEST_F(KeylessNodeTest, BundleWhoseEnvelopeWasTamperedAfterSigningIsRefusedAtPull) {
  BundleSpec changed;
  changed.tamper = EditStatement([](const std::string& statement) {
    nlohmann::json json = nlohmann::json::parse(statement);
    json["predicate"]["note"] = "added after signing";
    return json.dump();
  });
  BundleSpec reencoded;
  reencoded.tamper = EditStatement([](const std::string& statement) { return nlohmann::json::parse(statement).dump(2); });
  for (const auto& [repository, spec] : {std::pair{"bundle/tampered-payload", changed},
                                         std::pair{"bundle/reencoded-statement", reencoded}}) {
    SCOPED_TRACE(repository);
    ASSERT_FALSE(PushBundled(repository, {spec}).empty());
    const std::string message = PullRefused(repository);
    std::cout << "  refusal (" << repository << "): " << message << std::endl;
    EXPECT_THAT(message, HasSubstr("refused by policy \"bundle\"")) << message;
    EXPECT_THAT(message, HasSubstr("the signature does not verify with the key of its certificate")) << message;
    EXPECT_THAT(message, HasSubstr("(the signature or payload was altered)")) << message;
  }
}

// Rekor v2 entries (test/sigstore/mock_sigstore.mjs builds them as Rekor v2 stores them: the
// canonical rekor.v2.Entry as the leaf of an RFC 6962 tree, the inclusion proof, a checkpoint
// signed by the log key that the mock's trusted root lists) carry no integrated time: the signing
// time of a short-lived certificate must come from an RFC 3161 timestamp. The two bundles differ
// only in the timestamp: the one with a timestamp of the mock TSA is admitted, which shows that the
// entry itself verifies.
TEST_F(KeylessNodeTest, RekorV2EntryCountsOnlyWithATimestamp) {
  BundleSpec unstamped;
  unstamped.rekor_version = 2;
  ASSERT_FALSE(PushBundled("bundle/rekor-v2-unstamped", {unstamped}).empty());
  const std::string message = PullRefused("bundle/rekor-v2-unstamped");
  std::cout << "  refusal (Rekor v2 entry without a timestamp): " << message << std::endl;
  EXPECT_THAT(message, HasSubstr("refused by policy \"bundle\"")) << message;
  EXPECT_THAT(message, HasSubstr("a Rekor v2 entry has no integrated time, and no RFC 3161 timestamp proves when it "
                                 "was made (the bundle has no RFC 3161 timestamp)"))
      << message;

  BundleSpec stamped = unstamped;
  stamped.tsa = testbed::SigstoreAuthority::kMain;
  const std::string digest = PushBundled("bundle/rekor-v2-stamped", {stamped});
  ASSERT_FALSE(digest.empty());
  nlohmann::json audit = PullAndRun("rekor-v2-pod", "bundle/rekor-v2-stamped", digest);
  EXPECT_EQ(audit.value("decision", ""), "allow") << audit.dump();
  EXPECT_EQ(audit.value("identity", ""), "bundle-ci") << audit.dump();
  EXPECT_EQ(audit.value("signed_at_source", ""), "timestamp") << audit.dump();
}

// A registry that implements the referrers API (test/testbed/referrers_registry.h, in front of the
// test bed's docker-registry): @sigstore/oci sees the OCI-Subject header when it pushes the bundle's
// artifact manifest and a 200 from the referrers API, so it pushes that manifest by digest only, no
// referrers tag schema index: sigshim can find the bundle only through the API. Once the registry
// has answered the API, sigshim no longer asks it for the referrers tag.
TEST_F(KeylessNodeTest, BundleFoundThroughTheReferrersApiIsPulledAndRuns) {
  const std::string registry = referrers_->host_port();
  const std::string digest = PushBundled("api/signed", {BundleSpec{}}, registry);
  ASSERT_FALSE(digest.empty());
  const std::string schema_tag = absl::StrReplaceAll(digest, {{":", "-"}});
  EXPECT_TRUE(absl::IsNotFound(bed_->registry()->GetManifest("api/signed", schema_tag).status()))
      << "@sigstore/oci pushed a referrers tag schema index";

  // The cold verification at a registry sigshim has not asked yet, 6 requests in 4 sequential
  // round trips: the manifest by tag; at once the ".sig" manifest, the referrers API and the
  // referrers tag; the bundle's artifact manifest; its layer.
  std::vector<std::string> requests = PullThroughReferrersApi("api-pod", "api/signed", digest);
  EXPECT_THAT(requests, ::testing::UnorderedElementsAre(
                            "GET /v2/api/signed/manifests/v1", absl::StrCat("GET /v2/api/signed/referrers/", digest),
                            absl::StrCat("GET /v2/api/signed/manifests/", schema_tag),
                            absl::StrCat("GET /v2/api/signed/manifests/", schema_tag, ".sig"),
                            ::testing::StartsWith("GET /v2/api/signed/manifests/sha256:"),
                            ::testing::StartsWith("GET /v2/api/signed/blobs/sha256:")));

  // The registry has answered the referrers API: the next image's cold verification asks the API
  // alone, 5 requests in 4 round trips, the referrers tag not asked for.
  const std::string second = PushBundled("api/second", {BundleSpec{}}, registry);
  ASSERT_FALSE(second.empty());
  const std::string second_tag = absl::StrReplaceAll(second, {{":", "-"}});
  requests = PullThroughReferrersApi("api-second-pod", "api/second", second);
  EXPECT_THAT(requests, ::testing::UnorderedElementsAre(
                            "GET /v2/api/second/manifests/v1", absl::StrCat("GET /v2/api/second/referrers/", second),
                            absl::StrCat("GET /v2/api/second/manifests/", second_tag, ".sig"),
                            ::testing::StartsWith("GET /v2/api/second/manifests/sha256:"),
                            ::testing::StartsWith("GET /v2/api/second/blobs/sha256:")));
  EXPECT_THAT(requests, ::testing::Not(::testing::Contains(absl::StrCat("GET /v2/api/second/manifests/", second_tag))));
}

TEST_F(KeylessNodeTest, BundleStatementForAnotherDigestIsRefusedAtPull) {
  BundleSpec spec;
  spec.subject_digest = absl::StrCat("sha256:", std::string(64, 'a'));
  ASSERT_FALSE(PushBundled("bundle/other-digest", {spec}).empty());
  const std::string message = PullRefused("bundle/other-digest");
  std::cout << "  refusal (statement for another digest): " << message << std::endl;
  EXPECT_THAT(message, HasSubstr("refused by policy \"bundle\"")) << message;
  EXPECT_THAT(message, HasSubstr("bundle 1")) << message;
  EXPECT_THAT(message, HasSubstr("another digest")) << message;
}

TEST_F(KeylessNodeTest, BundleByAnotherWorkflowIsRefusedAtPull) {
  BundleSpec spec;
  spec.signer = kOther;
  ASSERT_FALSE(PushBundled("bundle/nightly", {spec}).empty());
  const std::string message = PullRefused("bundle/nightly");
  std::cout << "  refusal (wrong identity): " << message << std::endl;
  EXPECT_THAT(message, HasSubstr("not identity \"bundle-ci\"")) << message;
  EXPECT_THAT(message, HasSubstr("nightly.yml")) << message;
}

TEST_F(KeylessNodeTest, BundledAttestationWithoutASignatureIsRefusedAtPull) {
  BundleSpec provenance;
  provenance.predicate_type = kSlsaProvenance;
  provenance.predicate = {{"runDetails", {{"builder", {{"id", kRelease}}}}}};
  ASSERT_FALSE(PushBundled("bundle/attestation-only", {provenance}).empty());
  const std::string message = PullRefused("bundle/attestation-only");
  std::cout << "  refusal (attestation without a signature): " << message << std::endl;
  EXPECT_THAT(message, HasSubstr("an attestation (predicate type https://slsa.dev/provenance/v1), not a signature"))
      << message;
}

TEST_F(KeylessNodeTest, ProvenanceRequirementAllowsTheReleaseBuilderAndRefusesAnother) {
  BundleSpec release_provenance;
  release_provenance.predicate_type = kSlsaProvenance;
  release_provenance.predicate = {{"runDetails", {{"builder", {{"id", kRelease}}}}}};
  const std::string digest = PushBundled("slsa/release", {BundleSpec{}, release_provenance});
  ASSERT_FALSE(digest.empty());
  nlohmann::json audit = PullAndRun("slsa-pod", "slsa/release", digest);
  EXPECT_EQ(audit.value("decision", ""), "allow") << audit.dump();
  EXPECT_THAT(audit.value("reason", ""), HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1): signed "
                                                   "by \"bundle-ci\""))
      << audit.dump();

  BundleSpec nightly_provenance = release_provenance;
  nightly_provenance.predicate = {{"runDetails", {{"builder", {{"id", kOther}}}}}};
  ASSERT_FALSE(PushBundled("slsa/nightly", {BundleSpec{}, nightly_provenance}).empty());
  const std::string message = PullRefused("slsa/nightly");
  std::cout << "  refusal (provenance by another builder): " << message << std::endl;
  EXPECT_THAT(message, HasSubstr("refused by policy \"provenance\"")) << message;
  EXPECT_THAT(message, HasSubstr(absl::StrCat("\"runDetails.builder.id\" is \"", kOther, "\", not \"", kRelease, "\"")))
      << message;

  ASSERT_FALSE(PushBundled("slsa/missing", {BundleSpec{}}).empty());
  const std::string missing = PullRefused("slsa/missing");
  std::cout << "  refusal (no provenance): " << missing << std::endl;
  EXPECT_THAT(missing, HasSubstr("attestation \"provenance\" (https://slsa.dev/provenance/v1) not met: no attestation "
                                 "of that type"))
      << missing;
}

}  // namespace
}  // namespace sigshim::e2e
