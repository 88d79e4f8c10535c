#include "shim/verify_command.h"

#include <algorithm>
#include <string>
#include <variant>
#include <vector>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "pkg/base/log.h"
#include "pkg/policy/policy.h"
#include "pkg/registry/hosts.h"

namespace sigshim::shim {
namespace {

void Field(std::string& out, absl::string_view name, absl::string_view value) {
  absl::StrAppend(&out, name, ":", std::string(std::max<size_t>(1, 11 - name.size()), ' '),
                  value.empty() ? "-" : value, "\n");
}

void PrintError(std::FILE* err, absl::string_view message) {
  std::fprintf(err, "sigshim: %s\n", std::string(message).c_str());
}

}  // namespace

std::string DescribeArtifact(const policy::ArtifactRecord& a) {
  std::string line = a.format.empty() ? std::string("unusable") : a.format;
  if (!a.predicate_type.empty()) absl::StrAppend(&line, " (", a.kind, " ", a.predicate_type, ")");
  absl::StrAppend(&line, " at ", a.location);
  if (!a.digest.empty()) absl::StrAppend(&line, " (", a.digest, ")");
  if (!a.counted_for.empty()) {
    absl::StrAppend(&line, ": counted for ", absl::StrJoin(a.counted_for, ", "));
  } else {
    absl::StrAppend(&line, ": not counted: ", a.reason);
  }
  return line;
}

registry::RegistryClientOptions RegistryClientOptionsFrom(const config::Config& config) {
  registry::RegistryClientOptions options;
  options.insecure_registries.insert(config.registry.insecure.begin(), config.registry.insecure.end());
  options.request_timeout = config.registry.timeout;
  options.connect_timeout = std::min(options.connect_timeout, config.registry.timeout);
  options.ca_file = config.registry.ca_file;
  options.hosts_config_path = config.registry.config_path;
  return options;
}

std::string FormatDecision(const policy::Decision& d) {
  std::string out;
  Field(out, "image", d.image);
  if (!d.namespace_name.empty()) Field(out, "namespace", d.namespace_name);
  Field(out, "digest", d.digest);
  if (!d.index_digest.empty()) {
    Field(out, "index", absl::StrCat(d.index_digest, " (an image index not signed; its ", d.platform,
                                     " manifest, the digest above, was verified)"));
  }
  std::string decision(policy::OutcomeName(d.outcome));
  if (d.audited()) {
    // Not enforced: audit mode, or a policy's enforce_from still ahead (the reason says which).
    absl::StrAppend(&decision, absl::StrContains(d.reason, "(not enforced: policy ") ? " (before enforce_from; from then on it would "
                                                                                      : " (audit mode; enforce mode would ",
                    policy::OutcomeName(d.verdict), ")");
  }
  Field(out, "decision", decision);
  Field(out, "source", d.source);
  if (!d.exception.empty()) {
    Field(out, "exception", absl::StrCat(d.exception, " (owner ", d.exception_owner, ", expires ",
                                         verify::FormatTimeUtc(d.exception_expires), ")"));
  }
  Field(out, "policy", d.pattern.empty() ? d.policy : absl::StrCat(d.policy, " (", d.pattern, ")"));
  Field(out, "identity", d.identity);
  Field(out, "reason", d.reason);
  if (!d.evidence.empty()) Field(out, "signed at", verify::DescribeSigningTime(d.signed_at));
  for (const policy::Evidence& e : d.evidence) {
    const verify::SignedStatement& s = e.statement;
    std::string line =
        std::holds_alternative<verify::CertificateSigner>(s.signer)
            ? absl::StrCat(e.identity, ": ", verify::DescribeSigner(s.signer), ", signed at ",
                           verify::DescribeSigningTime(s.signing_time))
            : absl::StrCat(e.identity, ": ", verify::SignerType(s.signer), " ", verify::SignerFingerprint(s.signer),
                           ", signed at ", verify::DescribeSigningTime(s.signing_time));
    if (s.signing_time.has_value() && !s.signing_time->authority.empty()) {
      absl::StrAppend(&line, " by ", s.signing_time->authority);
    }
    if (const auto* certificate = std::get_if<verify::CertificateSigner>(&s.signer)) {
      std::vector<std::string> claims;
      for (const auto& [name, value] : certificate->certificate.Claims()) claims.push_back(absl::StrCat(name, "=", value));
      if (!claims.empty()) absl::StrAppend(&line, ", claims ", absl::StrJoin(claims, " "));
    }
    if (e.attestation.empty()) {
      absl::StrAppend(&line, ", for ", s.artifact.docker_reference.empty() ? s.subject_digest : s.artifact.docker_reference,
                      " (", s.artifact.format, "), layer ", s.artifact.layer_digest);
      Field(out, "signature", line);
    } else {
      absl::StrAppend(&line, ", ", s.predicate_type, " (", s.artifact.format, "), layer ", s.artifact.layer_digest);
      Field(out, "attestation", absl::StrCat("\"", e.attestation, "\" met by ", line));
    }
  }
  for (const std::string& rejection : d.rejections) Field(out, "rejected", rejection);
  for (const policy::ArtifactRecord& a : d.artifacts) Field(out, "artifact", DescribeArtifact(a));
  Field(out, "requests", absl::StrCat(d.registry_requests, " to the registry in ", absl::FormatDuration(d.latency)));
  return out;
}

std::string FormatDecisionJson(const policy::Decision& d) {
  auto time = [](const std::optional<verify::SigningTime>& t) {
    return t.has_value() ? verify::FormatTimeUtc(t->time) : std::string();
  };
  auto source = [](const std::optional<verify::SigningTime>& t) {
    return t.has_value() ? std::string(verify::TimeSourceName(t->source)) : std::string();
  };
  nlohmann::ordered_json signatures = nlohmann::ordered_json::array();
  for (const policy::Evidence& e : d.evidence) {
    const verify::SignedStatement& s = e.statement;
    nlohmann::ordered_json one;
    one["identity"] = e.identity;
    one["signer_type"] = std::string(verify::SignerType(s.signer));
    one["fingerprint"] = verify::SignerFingerprint(s.signer);
    one["signer"] = verify::DescribeSigner(s.signer);
    if (const auto* certificate = std::get_if<verify::CertificateSigner>(&s.signer)) {
      const verify::Certificate& c = certificate->certificate;
      one["issuer"] = c.OidcIssuer();
      nlohmann::ordered_json sans = nlohmann::ordered_json::array();
      for (const verify::SubjectAltName& san : c.SubjectAltNames()) {
        sans.push_back(absl::StrCat(verify::SanKindName(san.kind), ":", san.value));
      }
      one["subject_alternative_names"] = std::move(sans);
      one["claims"] = c.Claims();
      one["trust_root"] = certificate->trust_root;
      one["not_before"] = verify::FormatTimeUtc(c.NotBefore());
      one["not_after"] = verify::FormatTimeUtc(c.NotAfter());
    }
    one["layer_digest"] = s.artifact.layer_digest;
    one["docker_reference"] = s.artifact.docker_reference;
    one["format"] = s.artifact.format;
    one["attestation"] = e.attestation;        // the [[policy.attestations]] entry it met; "" for a signature
    one["predicate_type"] = s.predicate_type;  // "" for formats without one
    one["signed_at"] = time(s.signing_time);
    one["signed_at_source"] = source(s.signing_time);
    one["signed_at_authority"] = s.signing_time.has_value() ? s.signing_time->authority : "";
    signatures.push_back(std::move(one));
  }
  nlohmann::ordered_json j;
  j["image"] = d.image;
  j["namespace"] = d.namespace_name;
  j["digest"] = d.digest;
  j["index_digest"] = d.index_digest;  // "" unless a platform manifest of an unsigned index decided
  j["platform"] = d.platform;
  j["decision"] = std::string(policy::OutcomeName(d.outcome));
  j["verdict"] = std::string(policy::OutcomeName(d.verdict));
  j["enforced"] = d.enforced && !d.audited();
  j["source"] = d.source;
  j["exception"] = d.exception;
  j["owner"] = d.exception_owner;
  j["expires"] = d.exception.empty() ? std::string() : verify::FormatTimeUtc(d.exception_expires);
  j["policy"] = d.policy;
  j["pattern"] = d.pattern;
  j["identity"] = d.identity;
  j["reason"] = d.reason;
  j["signed_at"] = time(d.signed_at);
  j["signed_at_source"] = source(d.signed_at);
  j["signatures"] = std::move(signatures);
  j["rejected"] = d.rejections;
  nlohmann::ordered_json artifacts = nlohmann::ordered_json::array();
  for (const policy::ArtifactRecord& a : d.artifacts) {
    nlohmann::ordered_json one;
    one["format"] = a.format;
    one["location"] = a.location;
    one["digest"] = a.digest;
    one["kind"] = a.kind;
    one["predicate_type"] = a.predicate_type;
    one["counted"] = !a.counted_for.empty();
    one["counted_for"] = a.counted_for;
    one["reason"] = a.reason;
    artifacts.push_back(std::move(one));
  }
  j["artifacts"] = std::move(artifacts);
  j["unchecked_signatures"] = d.unchecked_signatures;
  j["registry_requests"] = d.registry_requests;
  j["latency_ms"] = static_cast<double>(absl::ToInt64Microseconds(d.latency)) / 1000.0;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

int ExitCodeFor(const policy::Decision& decision) {
  switch (decision.outcome) {
    case policy::Outcome::kAllow:
      return kVerifyAllowed;
    case policy::Outcome::kDeny:
      return kVerifyDenied;
    case policy::Outcome::kError:
      return kVerifyError;
  }
  return kVerifyError;
}

int RunVerify(const config::Config& config, const policy::VerifyRequest& request,
              std::shared_ptr<registry::RegistryClient> registry, std::FILE* out, std::FILE* err, bool json) {
  absl::StatusOr<std::unique_ptr<policy::Policy>> compiled = policy::Policy::Create(config);
  if (!compiled.ok()) {
    PrintError(err, compiled.status().message());
    return kVerifyError;
  }
  if (registry == nullptr) {
    absl::StatusOr<std::unique_ptr<registry::RegistryClient>> client =
        registry::RegistryClient::Create(RegistryClientOptionsFrom(config));
    if (!client.ok()) {
      PrintError(err, absl::StrCat(config.path, ": [registry]: ", client.status().message()));
      return kVerifyError;
    }
    registry = *std::move(client);
  }
  policy::ImageVerifierOptions options;
  options.registry = std::move(registry);
  absl::StatusOr<std::unique_ptr<policy::ImageVerifier>> verifier = policy::ImageVerifier::Create(std::move(options));
  if (!verifier.ok()) {
    PrintError(err, verifier.status().message());
    return kVerifyError;
  }
  const policy::Decision decision = (*verifier)->Decide(**compiled, request);
  std::fputs(json ? absl::StrCat(FormatDecisionJson(decision), "\n").c_str() : FormatDecision(decision).c_str(), out);
  std::fflush(out);
  return ExitCodeFor(decision);
}

int RunVerifyCommand(const VerifyCommandArgs& args, std::FILE* out, std::FILE* err) {
  absl::StatusOr<std::shared_ptr<const config::Config>> config = config::LoadConfig(args.config);
  if (!config.ok()) {
    PrintError(err, config.status().message());
    return kVerifyError;
  }
  log::SetLevel((*config)->log.level);
  for (const std::string& warning : (*config)->warnings) PrintError(err, absl::StrCat("warning: ", warning));
  policy::VerifyRequest request;
  request.image = args.image;
  request.namespace_name = args.namespace_name;
  return RunVerify(**config, request, nullptr, out, err, args.json);
}

absl::StatusOr<std::string> DescribeEffectivePolicy(const config::Config& config) {
  absl::StatusOr<std::unique_ptr<policy::Policy>> compiled = policy::Policy::Create(config);
  if (!compiled.ok()) return compiled.status();
  return (*compiled)->Describe(absl::Now());
}

namespace {

std::string CapabilityNames(uint32_t capabilities) {
  std::vector<std::string> names;
  if ((capabilities & registry::kCapabilityPull) != 0) names.push_back("pull");
  if ((capabilities & registry::kCapabilityResolve) != 0) names.push_back("resolve");
  if ((capabilities & registry::kCapabilityPush) != 0) names.push_back("push");
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

void DescribeEndpoint(std::string& out, int n, const registry::HostEndpoint& e) {
  absl::StrAppend(&out, "    ", n, ". ", e.scheme, "://", e.host, e.path, "  ", e.server ? "server" : "mirror", "  (",
                  e.origin, ")\n");
  absl::StrAppend(&out, "       capabilities: ", CapabilityNames(e.capabilities), "\n");
  if (e.http_fallback) absl::StrAppend(&out, "       HTTPS first, plain HTTP when the server answers in HTTP\n");
  if (e.tls == nullptr) {
    absl::StrAppend(&out, "       tls: the system's CAs and [registry] ca_file, no client certificate, verified\n");
  } else {
    absl::StrAppend(&out, "       tls: ca ",
                    e.ca_files.empty() ? std::string("(none added)") : absl::StrJoin(e.ca_files, ", "), "; client ");
    if (e.client_files.empty()) absl::StrAppend(&out, "(none)");
    for (size_t i = 0; i < e.client_files.size(); ++i) {
      const auto& [cert, key] = e.client_files[i];
      absl::StrAppend(&out, i == 0 ? "" : ", ", cert, cert == key ? " (key in the same file)" : absl::StrCat(" (key ", key, ")"),
                      i == 0 && e.client_files.size() > 1 ? " [presented]" : "");
    }
    absl::StrAppend(&out, "; skip_verify ", e.tls->skip_verify ? "true" : "false", "\n");
  }
  absl::StrAppend(&out, "       override_path: ", e.override_path ? "true" : "false", "\n");
  if (!e.headers.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, value] : e.headers) names.push_back(name);
    absl::StrAppend(&out, "       headers: ", absl::StrJoin(names, ", "), " (values not shown)\n");
  }
}

}  // namespace

absl::StatusOr<std::string> DescribeRegistryHosts(const config::Config& config) {
  const std::string& config_path = config.registry.config_path;
  if (config_path.empty()) {
    return std::string(
        "# registry hosts: [registry] config_path is not set; every registry is reached at its own name "
        "([registry] insecure, ca_file)\n");
  }
  absl::StatusOr<std::shared_ptr<const registry::RegistryHosts>> hosts =
      registry::RegistryHosts::Load({.config_path = config_path});
  if (!hosts.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.path, ": [registry] config_path: ", hosts.status().message()));
  }
  std::string out = absl::StrCat("# registry hosts of [registry] config_path \"", config_path,
                                 "\", read as containerd reads it\nhost folders (endpoints in the order a pull tries them):\n");
  if ((*hosts)->folders().empty()) absl::StrAppend(&out, "  (none: every registry is reached at its own name)\n");
  for (const auto& [folder, endpoints] : (*hosts)->folders()) {
    const size_t slash = folder.rfind('/');
    const std::string host =
        registry::RegistryHosts::HostOfFolderName(slash == std::string::npos ? folder : folder.substr(slash + 1));
    if (host.empty()) {
      absl::StrAppend(&out, "  ", folder, "  (every registry without a folder of its own)\n");
      int n = 0;
      for (const registry::HostEndpoint& e : endpoints) {
        if (e.host.empty()) {
          absl::StrAppend(&out, "    ", ++n, ". the registry itself, as containerd defaults it  server  (", e.origin,
                          ")\n");
        } else {
          DescribeEndpoint(out, ++n, e);
        }
      }
      continue;
    }
    const std::string used = (*hosts)->FolderFor(host);
    if (used != folder) {
      absl::StrAppend(&out, "  ", folder, "  (registry ", host, "): not used, ", used, " is read for it first\n");
      continue;
    }
    absl::StrAppend(&out, "  ", folder, "  (registry ", host, ")\n");
    int n = 0;
    for (const registry::HostEndpoint& e : (*hosts)->EndpointsFor(host)) DescribeEndpoint(out, ++n, e);
  }
  return out;
}

}  // namespace sigshim::shim
