#include "test/testbed/sigstore_mock.h"

#include <curl/curl.h>

#include <filesystem>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pkg/base/base64.h"
#include "pkg/base/digest.h"
#include "pkg/base/file.h"
#include "pkg/base/status_macros.h"
#include "test/testbed/poll.h"

namespace sigshim::testbed {
namespace {

constexpr absl::string_view kReadyPrefix = "SIGSTORE_MOCK_READY ";

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// POSTs `body` as JSON to `url` (loopback, no proxy); returns the HTTP status and the answer.
absl::StatusOr<std::pair<long, std::string>> PostJson(const std::string& url, const std::string& body) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  std::string answer;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat("POST ", url, ": ", curl_easy_strerror(rc)));
  return std::make_pair(code, std::move(answer));
}

const char* AuthorityName(SigstoreAuthority authority) {
  switch (authority) {
    case SigstoreAuthority::kMain:
      return "main";
    case SigstoreAuthority::kOther:
      return "other";
    case SigstoreAuthority::kNone:
      return "none";
  }
  return "none";
}

// Returns the JSON object of the ready line in `log`, or null when there is none yet.
nlohmann::json FindReadyLine(const std::string& log) {
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (!absl::StartsWith(line, kReadyPrefix)) continue;
    nlohmann::json ready = nlohmann::json::parse(line.substr(kReadyPrefix.size()), nullptr, false);
    if (ready.is_object()) return ready;
  }
  return nullptr;
}

std::string StringField(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<SigstoreMock>> SigstoreMock::Start(const SigstoreMockOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("SigstoreMockOptions.dir is required");
  const std::string program = options.program_dir + "/mock_sigstore.mjs";
  std::error_code error;
  if (!std::filesystem::exists(program, error)) {
    return absl::FailedPreconditionError(absl::StrCat(program, " does not exist"));
  }
  if (!std::filesystem::exists(options.program_dir + "/node_modules/@sigstore/sign", error)) {
    return absl::FailedPreconditionError(absl::StrCat("sigstore-js is not installed in ", options.program_dir,
                                                      "/node_modules: run `make node-deps`"));
  }
  RETURN_IF_ERROR(MakeDirs(options.dir));
  std::unique_ptr<SigstoreMock> mock(new SigstoreMock(options));
  mock->log_path_ = options.dir + "/mock_sigstore.log";
  std::filesystem::remove(mock->log_path_, error);

  SubprocessOptions process;
  process.argv = {options.node,
                  program,
                  "--dir",
                  options.dir,
                  "--backdate-seconds",
                  absl::StrCat(absl::ToInt64Seconds(options.backdate)),
                  "--trusted-root-media-type",
                  options.trusted_root_media_type};
  process.log_path = mock->log_path_;
  process.working_dir = options.program_dir;
  ASSIGN_OR_RETURN(mock->process_, Subprocess::Start(process));

  nlohmann::json ready;
  bool exited = false;
  Eventually(
      [&] {
        absl::StatusOr<std::string> log = ReadFile(mock->log_path_, 1 << 20);
        if (log.ok()) ready = FindReadyLine(*log);
        if (!ready.is_null()) return true;
        exited = !mock->process_->Running();
        return exited;
      },
      options.start_timeout, absl::Milliseconds(50));
  if (ready.is_null()) {
    std::string how = exited ? mock->process_->ExitDescription() : "gave no ready line in time";
    std::string tail = mock->process_->LogTail();
    (void)mock->Stop();
    return absl::UnavailableError(absl::StrCat("mock_sigstore.mjs ", how, "; its log:\n", tail));
  }
  mock->url_ = StringField(ready, "url");
  mock->trusted_root_path_ = StringField(ready, "trusted_root");
  mock->other_trusted_root_path_ = StringField(ready, "other_trusted_root");
  if (mock->url_.empty() || mock->trusted_root_path_.empty() || mock->other_trusted_root_path_.empty()) {
    return absl::DataLossError(absl::StrCat("mock_sigstore.mjs ready line lacks url or trusted roots: ", ready.dump()));
  }
  return mock;
}

SigstoreMock::~SigstoreMock() { (void)Stop(); }

absl::Status SigstoreMock::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  absl::Status status = process_->Stop(absl::Seconds(10));
  process_.reset();
  return status;
}

absl::StatusOr<KeylessSignature> SigstoreMock::Sign(absl::string_view payload, const KeylessSignOptions& options) const {
  if (options.fulcio == SigstoreAuthority::kNone) {
    return absl::InvalidArgumentError("KeylessSignOptions.fulcio cannot be kNone: a keyless signature needs a certificate");
  }
  nlohmann::json request = {
      {"payload_base64", Base64Encode(payload)},
      {"issuer", options.issuer},
      {"subject", options.subject},
      {"claims", options.claims},
      {"fulcio", AuthorityName(options.fulcio)},
      {"rekor", AuthorityName(options.rekor)},
      {"tsa", AuthorityName(options.tsa)},
      {"rekor_version", options.rekor_version},
      {"fulcio_offset_seconds", absl::ToInt64Seconds(options.fulcio_clock_offset)},
      {"rekor_offset_seconds", absl::ToInt64Seconds(options.rekor_clock_offset)},
      {"tsa_offset_seconds", absl::ToInt64Seconds(options.tsa_clock_offset)},
  };
  if (!options.dsse_payload_type.empty()) request["dsse_payload_type"] = options.dsse_payload_type;
  ASSIGN_OR_RETURN(auto answer, PostJson(url_ + "/sign", request.dump()));
  if (answer.first != 200) {
    return absl::InvalidArgumentError(absl::StrCat("mock_sigstore.mjs refused to sign (HTTP ", answer.first,
                                                   "): ", answer.second));
  }
  nlohmann::json reply = nlohmann::json::parse(answer.second, nullptr, false);
  if (!reply.is_object() || !reply.contains("bundle") || !reply["annotations"].is_object()) {
    return absl::DataLossError(absl::StrCat("mock_sigstore.mjs answered no bundle: ", answer.second.substr(0, 512)));
  }
  KeylessSignature out;
  out.bundle_json = reply["bundle"].dump();
  out.signature_base64 = StringField(reply, "signature");
  out.certificate_pem = StringField(reply, "certificate_pem");
  out.chain_pem = StringField(reply, "chain_pem");
  out.set_json = StringField(reply, "set");
  out.timestamp_json = StringField(reply, "timestamp");
  for (const auto& [name, value] : reply["annotations"].items()) {
    if (value.is_string()) out.annotations[name] = value.get<std::string>();
  }
  return out;
}

absl::StatusOr<std::string> SigstoreMock::LogKeySignature(absl::string_view payload, absl::string_view signature,
                                                          absl::string_view public_pem, SigstoreAuthority log,
                                                          absl::Duration clock_offset) const {
  if (log == SigstoreAuthority::kNone) return absl::InvalidArgumentError("LogKeySignature needs a log, not kNone");
  // What cosign proposes for a key signature (rekor pkg/types/hashedrekord/v0.0.1).
  const nlohmann::json proposed = {
      {"apiVersion", "0.0.1"},
      {"kind", "hashedrekord"},
      {"spec",
       {{"data", {{"hash", {{"algorithm", "sha256"}, {"value", Sha256Hex(payload)}}}}},
        {"signature",
         {{"content", Base64Encode(signature)}, {"publicKey", {{"content", Base64Encode(public_pem)}}}}}}}};
  const int64_t offset = absl::ToInt64Seconds(clock_offset);
  const std::string url = absl::StrCat(url_, "/", AuthorityName(log), "/rekor",
                                       offset == 0 ? "" : absl::StrCat("@", offset), "/api/v1/log/entries");
  ASSIGN_OR_RETURN(auto answer, PostJson(url, proposed.dump()));
  if (answer.first != 201) {
    return absl::InvalidArgumentError(
        absl::StrCat("mock Rekor refused the entry (HTTP ", answer.first, "): ", answer.second.substr(0, 512)));
  }
  // {"<uuid>": {"body", "integratedTime", "logID", "logIndex", "verification": {"signedEntryTimestamp", …}}}
  const nlohmann::json reply = nlohmann::json::parse(answer.second, nullptr, false);
  if (!reply.is_object() || reply.size() != 1 || !reply.begin()->is_object()) {
    return absl::DataLossError(absl::StrCat("mock Rekor answered no single entry: ", answer.second.substr(0, 512)));
  }
  const nlohmann::json& entry = *reply.begin();
  const std::string set = entry.contains("verification") ? StringField(entry["verification"], "signedEntryTimestamp") : "";
  if (set.empty() || StringField(entry, "body").empty() || StringField(entry, "logID").empty() ||
      !entry.contains("integratedTime") || !entry["integratedTime"].is_number_integer() ||
      !entry.contains("logIndex") || !entry["logIndex"].is_number_integer()) {
    return absl::DataLossError(absl::StrCat("mock Rekor's entry lacks a field of the SET: ", entry.dump().substr(0, 512)));
  }
  // cosign's RekorBundle (pkg/cosign/bundle): the SET and the payload it signs.
  const nlohmann::json bundle = {{"SignedEntryTimestamp", set},
                                 {"Payload",
                                  {{"body", entry["body"]},
                                   {"integratedTime", entry["integratedTime"]},
                                   {"logIndex", entry["logIndex"]},
                                   {"logID", entry["logID"]}}}};
  return bundle.dump();
}

absl::StatusOr<std::string> SigstoreMock::Timestamp(absl::string_view data, SigstoreAuthority tsa,
                                                    absl::Duration clock_offset) const {
  if (tsa == SigstoreAuthority::kNone) return absl::InvalidArgumentError("Timestamp needs a TSA, not kNone");
  // The request @sigstore/mock's TSA handler reads (what sigstore-js's TSAWitness sends).
  const nlohmann::json request = {{"artifactHash", Base64Encode(absl::HexStringToBytes(Sha256Hex(data)))},
                                  {"hashAlgorithm", "sha256"},
                                  {"certificates", true}};
  const int64_t offset = absl::ToInt64Seconds(clock_offset);
  const std::string url = absl::StrCat(url_, "/", AuthorityName(tsa), "/tsa",
                                       offset == 0 ? "" : absl::StrCat("@", offset), "/api/v1/timestamp");
  ASSIGN_OR_RETURN(auto answer, PostJson(url, request.dump()));
  if (answer.first != 201) {
    return absl::InvalidArgumentError(
        absl::StrCat("mock TSA refused the request (HTTP ", answer.first, "): ", answer.second.substr(0, 512)));
  }
  return nlohmann::json{{"SignedRFC3161Timestamp", Base64Encode(answer.second)}}.dump();
}

}  // namespace sigshim::testbed
