// An independent keyless signer for tests: sigstore-js (@sigstore/sign) with a mock Fulcio, Rekor
// and timestamp authority (@sigstore/mock) on 127.0.0.1, run as a Node.js child process
// (test/sigstore/mock_sigstore.mjs; `make node-deps` installs its npm packages).
#ifndef SIGSHIM_TEST_TESTBED_SIGSTORE_MOCK_H_
#define SIGSHIM_TEST_TESTBED_SIGSTORE_MOCK_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "test/testbed/subprocess.h"

namespace sigshim::testbed {

struct SigstoreMockOptions {
  // Folder (created if missing) for the trusted roots and the log. Required.
  std::string dir;
  // Folder holding mock_sigstore.mjs and verify_bundle.mjs with their node_modules. Default: the
  // source tree's test/sigstore.
  std::string program_dir = SIGSHIM_SIGSTORE_JS_DIR;
  // The Node.js binary (>= 20.17). Default "node", looked up in PATH.
  std::string node = "node";
  // Media type of the trusted roots written: "v0.1" (application/vnd.dev.sigstore.trustedroot+json;
  // version=0.1) or "v0.2" (application/vnd.dev.sigstore.trustedroot.v0.2+json). Default "v0.1".
  std::string trusted_root_media_type = "v0.1";
  // How far back the roots' notBefore and the trusted roots' validFor starts are put, which bounds
  // how far back a signing clock may be moved. Default 24 h.
  absl::Duration backdate = absl::Hours(24);
  // How long Start waits for the ready line. Default 60 s.
  absl::Duration start_timeout = absl::Seconds(60);
};

// Which of the mock's two independent sets of authorities serves a signing step. kMain's are in
// trusted_root_path(), kOther's only in other_trusted_root_path() (an "untrusted" CA, log or TSA).
enum class SigstoreAuthority { kMain, kOther, kNone };

// One keyless signing request. The mock Fulcio does not check the OIDC token: the claims below are
// put into an unsigned JWT and copied into the certificate.
struct KeylessSignOptions {
  // The OIDC issuer ("iss"): Fulcio extensions 1.3.6.1.4.1.57264.1.1 (raw) and .1.8 (UTF8String).
  // Default GitHub Actions' issuer.
  std::string issuer = "https://token.actions.githubusercontent.com";
  // The subject ("sub"), written as a URI SAN (the mock writes no other SAN type).
  // Default "https://github.com/sigshim/test/.github/workflows/release.yml@refs/heads/main".
  std::string subject = "https://github.com/sigshim/test/.github/workflows/release.yml@refs/heads/main";
  // Further JWT claims (string values). The mock maps the GitHub Actions ones to Fulcio extensions:
  // repository (.5, and .12 as https://github.com/<value>), ref (.6, .14), sha (.3, .13),
  // event_name (.2, .20), workflow (.4), workflow_ref (.18, URL), workflow_sha (.19),
  // job_workflow_ref (.9, URL), job_workflow_sha (.10), runner_environment (.11),
  // repository_id (.15), repository_owner (.16, URL), repository_owner_id (.17),
  // repository_visibility (.22), run_id + run_attempt with repository (.21). Default none.
  std::map<std::string, std::string> claims;
  // Who issues the certificate (kNone is not allowed). Default kMain.
  SigstoreAuthority fulcio = SigstoreAuthority::kMain;
  // Which log records the signature; kNone: no log entry (no SET). Default kMain.
  SigstoreAuthority rekor = SigstoreAuthority::kMain;
  // Which TSA timestamps the signature; kNone: no timestamp. Default kNone.
  SigstoreAuthority tsa = SigstoreAuthority::kNone;
  // Rekor API version, 1 (SET and inclusion proof) or 2 (inclusion proof and signed checkpoint, no
  // integrated time; built by mock_sigstore.mjs, see test/sigstore/README.md). Default 1.
  int rekor_version = 1;
  // Moves each service's clock for this signature (whole seconds; negative is the past). The
  // certificate is valid for 10 minutes from Fulcio's clock: -1 h gives an expired certificate.
  // Default zero.
  absl::Duration fulcio_clock_offset;
  absl::Duration rekor_clock_offset;
  absl::Duration tsa_clock_offset;
  // When not empty, a DSSE bundle over the payload with this payload type (then only bundle_json,
  // signature_base64 and the PEMs are set). Default: a message-signature bundle.
  std::string dsse_payload_type;
};

// What one keyless signing produced.
struct KeylessSignature {
  std::string bundle_json;       // the sigstore bundle as sigstore-js serialises it
  std::string signature_base64;  // dev.cosignproject.cosign/signature
  std::string certificate_pem;   // dev.sigstore.cosign/certificate (the leaf)
  std::string chain_pem;         // dev.sigstore.cosign/chain (the mock has no intermediate: the root)
  std::string set_json;          // dev.sigstore.cosign/bundle, "" without a log entry
  std::string timestamp_json;    // dev.sigstore.cosign/rfc3161timestamp, "" without a timestamp
  // The cosign ".sig" layer annotations, exactly those of the fields above that are set.
  std::map<std::string, std::string> annotations;
};

// One running mock. Not thread-safe for Stop; Sign may be called from any thread.
class SigstoreMock {
 public:
  // Starts the Node.js program and waits for its ready line. FailedPrecondition, naming
  // `make node-deps`, when the program's node_modules is missing.
  static absl::StatusOr<std::unique_ptr<SigstoreMock>> Start(const SigstoreMockOptions& options);
  ~SigstoreMock();  // stops the process
  SigstoreMock(const SigstoreMock&) = delete;
  SigstoreMock& operator=(const SigstoreMock&) = delete;

  // "http://127.0.0.1:<port>"; the services' base URLs as sigstore clients take them.
  const std::string& url() const { return url_; }
  std::string fulcio_url() const { return url_ + "/main/fulcio"; }
  std::string rekor_url() const { return url_ + "/main/rekor"; }
  std::string tsa_url() const { return url_ + "/main/tsa/api/v1/timestamp"; }
  // The trusted_root.json of the kMain authorities (CA, Rekor log, CT log, TSA, each with validFor),
  // and that of the kOther ones.
  const std::string& trusted_root_path() const { return trusted_root_path_; }
  const std::string& other_trusted_root_path() const { return other_trusted_root_path_; }
  // The folder of mock_sigstore.mjs and verify_bundle.mjs.
  const std::string& program_dir() const { return options_.program_dir; }
  const std::string& node() const { return options_.node; }
  pid_t pid() const { return process_ == nullptr ? -1 : process_->pid(); }
  const std::string& log_path() const { return log_path_; }

  // Signs the exact bytes `payload` (for a cosign ".sig", the simple-signing payload) with a fresh
  // key and a certificate for `options`' identity. InvalidArgument with the program's reason when it
  // refuses the request.
  absl::StatusOr<KeylessSignature> Sign(absl::string_view payload, const KeylessSignOptions& options = {}) const;

  // Logs a key signature in `log`'s mock Rekor (v1 API), as cosign does when it signs with a key:
  // a proposed hashedrekord 0.0.1 entry holding sha256(`payload`), the raw `signature` and
  // `public_pem`, with the log's clock moved by `clock_offset` (whole seconds) for this entry.
  // Returns the cosign bundle annotation (dev.sigstore.cosign/bundle) made from the log's answer:
  // its SignedEntryTimestamp and the body, integratedTime, logIndex and logID it signed. The mock
  // logs what it is sent without checking the signature or the key (real Rekor would refuse an
  // entry whose signature does not verify). InvalidArgument for `log` kNone or when the mock
  // refuses; DataLoss when its answer is not one log entry.
  absl::StatusOr<std::string> LogKeySignature(absl::string_view payload, absl::string_view signature,
                                              absl::string_view public_pem,
                                              SigstoreAuthority log = SigstoreAuthority::kMain,
                                              absl::Duration clock_offset = absl::ZeroDuration()) const;

  // Asks `tsa`'s mock timestamp authority for an RFC 3161 timestamp over SHA-256 of `data` (for a
  // cosign signature: the raw signature bytes), its signing certificate included, with the TSA's
  // clock moved by `clock_offset` (whole seconds). Returns the cosign timestamp annotation
  // (dev.sigstore.cosign/rfc3161timestamp): {"SignedRFC3161Timestamp": base64 of the response}.
  // InvalidArgument for `tsa` kNone or when the mock refuses.
  absl::StatusOr<std::string> Timestamp(absl::string_view data, SigstoreAuthority tsa = SigstoreAuthority::kMain,
                                        absl::Duration clock_offset = absl::ZeroDuration()) const;

  // Stops the process (SIGTERM, then SIGKILL). OK when it had stopped already.
  absl::Status Stop();

 private:
  explicit SigstoreMock(SigstoreMockOptions options) : options_(std::move(options)) {}

  SigstoreMockOptions options_;
  std::string log_path_;
  std::string url_;
  std::string trusted_root_path_;
  std::string other_trusted_root_path_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace sigshim::testbed

#endif  // SIGSHIM_TEST_TESTBED_SIGSTORE_MOCK_H_
