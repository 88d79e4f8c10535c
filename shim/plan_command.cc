#include "shim/plan_command.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pkg/audit/audit_log.h"
#include "pkg/base/log.h"
#include "pkg/base/status_macros.h"
#include "pkg/config/config.h"
#include "pkg/containerd/content_store.h"
#include "pkg/containerd/image_store_grpc.h"
#include "pkg/cri/api.grpc.pb.h"
#include "pkg/policy/image_verifier.h"
#include "pkg/policy/policy.h"
#include "pkg/registry/registry_client.h"
#include "pkg/verdicts/verdict_store.h"
#include "shim/enforcer.h"
#include "shim/runtime_client.h"
#include "shim/server.h"
#include "shim/verify_command.h"

namespace sigshim::shim {
namespace {

// How long each runtime call of the plan may take.
constexpr absl::Duration kRuntimeCallTimeout = absl::Seconds(30);

std::unique_ptr<grpc::ClientContext> ContextWithDeadline() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + kRuntimeCallTimeout));
  return context;
}

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", status.error_message(), " (gRPC code ",
                                             static_cast<int>(status.error_code()), ")"));
}

// A private temporary folder, removed with everything in it when destroyed.
class ScratchDir {
 public:
  static absl::StatusOr<std::unique_ptr<ScratchDir>> Create() {
    const char* tmp = getenv("TMPDIR");
    std::string pattern = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/sigshim-plan-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create a temporary folder ", pattern, ": ", strerror(errno)));
    }
    return std::unique_ptr<ScratchDir>(new ScratchDir(pattern));
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// What the runtime holds.
struct NodeInventory {
  std::vector<runtime::v1::Image> images;
  struct RunningContainer {
    runtime::v1::Container container;
    std::string pod;
    std::string namespace_name;
  };
  std::vector<RunningContainer> containers;
};

// Asks the runtime over `channel` for its images and its running containers, each with its pod's
// name and namespace (from PodSandboxStatus).
absl::StatusOr<NodeInventory> GatherNode(const std::shared_ptr<grpc::Channel>& channel, const std::string& endpoint) {
  auto images = runtime::v1::ImageService::NewStub(channel);
  auto runtime = runtime::v1::RuntimeService::NewStub(channel);
  NodeInventory node;
  runtime::v1::ListImagesResponse listed_images;
  RETURN_IF_ERROR(FromGrpc(images->ListImages(ContextWithDeadline().get(), {}, &listed_images),
                           absl::StrCat("cannot list the images of the runtime at ", endpoint)));
  node.images.assign(listed_images.images().begin(), listed_images.images().end());

  runtime::v1::ListContainersRequest list_containers;
  list_containers.mutable_filter()->mutable_state()->set_state(runtime::v1::CONTAINER_RUNNING);
  runtime::v1::ListContainersResponse listed_containers;
  RETURN_IF_ERROR(FromGrpc(runtime->ListContainers(ContextWithDeadline().get(), list_containers, &listed_containers),
                           absl::StrCat("cannot list the containers of the runtime at ", endpoint)));
  std::map<std::string, runtime::v1::PodSandboxMetadata> pods;  // sandbox id → its metadata
  for (const runtime::v1::Container& c : listed_containers.containers()) {
    if (c.state() != runtime::v1::CONTAINER_RUNNING) continue;
    auto pod = pods.find(c.pod_sandbox_id());
    if (pod == pods.end()) {
      runtime::v1::PodSandboxStatusRequest request;
      request.set_pod_sandbox_id(c.pod_sandbox_id());
      runtime::v1::PodSandboxStatusResponse response;
      RETURN_IF_ERROR(FromGrpc(runtime->PodSandboxStatus(ContextWithDeadline().get(), request, &response),
                               absl::StrCat("cannot read pod sandbox ", c.pod_sandbox_id(), " of container ", c.id())));
      pod = pods.emplace(c.pod_sandbox_id(), response.status().metadata()).first;
    }
    node.containers.push_back({c, pod->second.name(), pod->second.namespace_()});
  }
  return node;
}

// One configuration, ready to decide: its policy compiled, its verifier, and an enforcement layer
// over a private copy of the node's stored verdicts.
struct Judge {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const policy::Policy> policy;
  std::unique_ptr<verdicts::VerdictStore> store;
  std::unique_ptr<Enforcer> enforcer;
  std::optional<audit::AuditRecord> last;  // the record of the last decision
  // "<repository>@<digest>" → why its stored verdict holds under no rule of this configuration.
  std::map<std::string, std::string> invalid_verdicts;
};

// Returns the configuration at `path` compiled, with a verifier built from its [registry].
absl::Status Load(const std::string& path, Judge& judge, std::shared_ptr<const policy::ImageVerifier>* verifier) {
  ASSIGN_OR_RETURN(judge.config, config::LoadConfig(path));
  ASSIGN_OR_RETURN(std::unique_ptr<policy::Policy> compiled, policy::Policy::Create(*judge.config));
  judge.policy = std::move(compiled);
  absl::StatusOr<std::unique_ptr<registry::RegistryClient>> client =
      registry::RegistryClient::Create(RegistryClientOptionsFrom(*judge.config));
  if (!client.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": [registry]: ", client.status().message()));
  policy::ImageVerifierOptions options;
  options.registry = *std::move(client);
  ASSIGN_OR_RETURN(std::unique_ptr<policy::ImageVerifier> built, policy::ImageVerifier::Create(std::move(options)));
  *verifier = std::move(built);
  return absl::OkStatus();
}

PlanDecision FromRecord(const audit::AuditRecord& r, bool allowed) {
  PlanDecision d;
  d.decision = r.decision;
  d.allowed = allowed;
  d.enforced = r.enforced;
  d.source = r.source;
  d.policy = r.policy;
  d.identity = r.identity;
  d.exception = r.exception;
  d.reason = r.reason;
  return d;
}

// Decides a CreateContainer of `image_id` (whose manifests the runtime names `repo_digests`) in
// `caller`'s namespace under `judge`.
PlanDecision Decide(Judge& judge, const Caller& caller, const std::string& image_id,
                    const std::vector<std::string>& repo_digests) {
  judge.last.reset();
  absl::StatusOr<std::string> admitted = judge.enforcer->AdmitImage(caller, image_id, /*registry_allowed=*/true);
  PlanDecision d;
  if (judge.last.has_value()) {
    d = FromRecord(*judge.last, admitted.ok());
  } else {  // refused before a decision was recorded (the runtime could not be asked)
    d.decision = "error";
    d.allowed = admitted.ok();
    d.reason = admitted.ok() ? "allowed" : std::string(admitted.status().message());
  }
  for (const std::string& name : repo_digests) {
    auto invalid = judge.invalid_verdicts.find(name);
    if (invalid != judge.invalid_verdicts.end()) d.stored_verdict = absl::StrCat(name, ": ", invalid->second);
  }
  return d;
}

// Returns a name of `image` for a person.
std::string ImageName(const runtime::v1::Image& image) {
  if (!image.repo_tags().empty()) return image.repo_tags(0);
  if (!image.repo_digests().empty()) return image.repo_digests(0);
  return image.id();
}

}  // namespace

int RunPlanCommand(const PlanCommandArgs& args, std::FILE* out, std::FILE* err) {
  auto fail = [err](absl::string_view message) {
    std::fprintf(err, "sigshim plan: %s\n", std::string(message).c_str());
    return kPlanError;
  };
  // Decisions are the report; the enforcement layer's own log lines would only repeat them.
  log::SetLevel(log::Level::kError);
  Judge now_judge;
  Judge new_judge;
  std::shared_ptr<const policy::ImageVerifier> now_verifier;
  std::shared_ptr<const policy::ImageVerifier> new_verifier;
  if (absl::Status s = Load(args.current, now_judge, &now_verifier); !s.ok()) {
    return fail(absl::StrCat("the configuration in force (--current): ", s.message()));
  }
  if (absl::Status s = Load(args.config, new_judge, &new_verifier); !s.ok()) return fail(s.message());
  for (const std::string& warning : new_judge.config->warnings) {
    std::fprintf(err, "sigshim plan: warning: %s\n", warning.c_str());
  }

  // The node: the runtime and the state folder named by the configuration in force.
  const config::ServerConfig& server = now_judge.config->server;
  absl::StatusOr<std::string> socket = UnixSocketPath(server.runtime_endpoint);
  if (!socket.ok()) return fail(absl::StrCat(args.current, ": [server] runtime_endpoint: ", socket.status().message()));
  ServerOptions channel_options;
  channel_options.runtime_endpoint = server.runtime_endpoint;
  std::shared_ptr<grpc::Channel> channel = MakeRuntimeChannel(*socket, channel_options);
  absl::StatusOr<NodeInventory> node = GatherNode(channel, server.runtime_endpoint);
  if (!node.ok()) return fail(node.status().message());

  // The node's stored verdicts, read (never written): a missing folder holds none.
  std::vector<verdicts::Verdict> stored;
  const std::string verdict_dir = absl::StrCat(server.state_dir, "/verdicts");
  struct stat st;
  if (::stat(verdict_dir.c_str(), &st) == 0) {
    verdicts::LoadReport load_report;
    absl::StatusOr<std::unique_ptr<verdicts::VerdictStore>> node_store =
        verdicts::VerdictStore::Open({.dir = verdict_dir}, &load_report);
    if (!node_store.ok()) return fail(absl::StrCat("the verdict store: ", node_store.status().message()));
    for (const std::string& line : load_report.ignored) {
      std::fprintf(err, "sigshim plan: warning: verdict store: ignored %s\n", line.c_str());
    }
    stored = (*node_store)->All();
  }

  absl::StatusOr<std::unique_ptr<ScratchDir>> scratch = ScratchDir::Create();
  if (!scratch.ok()) return fail(scratch.status().message());
  std::unique_ptr<RuntimeClient> runtime_client = NewGrpcRuntimeClient(channel);
  absl::StatusOr<std::unique_ptr<containerd::ImageStore>> image_store = containerd::GrpcImageStore::Create(channel);
  if (!image_store.ok()) return fail(image_store.status().message());
  absl::StatusOr<std::unique_ptr<containerd::ContentStore>> content = containerd::NewGrpcContentStore(channel);
  if (!content.ok()) return fail(content.status().message());

  // The enforcement layers hold the clients above: they go first, whatever the way out.
  absl::Cleanup release_judges = [&now_judge, &new_judge] {
    for (Judge* judge : {&now_judge, &new_judge}) {
      judge->enforcer.reset();
      judge->store.reset();
    }
  };
  struct Side {
    Judge* judge;
    std::shared_ptr<const policy::ImageVerifier> verifier;
    const char* folder;
  };
  for (const Side& side : {Side{&now_judge, now_verifier, "current"}, Side{&new_judge, new_verifier, "new"}}) {
    Judge& judge = *side.judge;
    absl::StatusOr<std::unique_ptr<verdicts::VerdictStore>> copy =
        verdicts::VerdictStore::Open({.dir = absl::StrCat((*scratch)->path(), "/", side.folder)}, nullptr);
    if (!copy.ok()) return fail(copy.status().message());
    judge.store = *std::move(copy);
    for (const verdicts::Verdict& v : stored) {
      if (absl::Status put = judge.store->Put(v); !put.ok()) {
        return fail(absl::StrCat("cannot copy verdict ", v.repository, "@", v.digest, ": ", put.message()));
      }
    }
    EnforcerOptions options;
    options.runtime = runtime_client.get();
    options.images = image_store->get();
    options.content = content->get();
    options.store = judge.store.get();
    options.on_decision = [&judge](const audit::AuditRecord& record) { judge.last = record; };
    // The clock stays the real one: dates (exceptions, enforce_from, key windows) are judged at the
    // moment of each decision, and so is [registry] verification_timeout.
    absl::StatusOr<std::unique_ptr<Enforcer>> enforcer = Enforcer::Create(std::move(options));
    if (!enforcer.ok()) return fail(enforcer.status().message());
    judge.enforcer = *std::move(enforcer);
    const RecheckReport recheck = judge.enforcer->SetPolicy(judge.policy, side.verifier,
                                                            judge.config->enforcement.sandbox_image,
                                                            judge.config->registry.verification_timeout);
    for (const std::string& line : recheck.invalid) {  // "<repository>@<digest>: <why>"
      const size_t colon = line.find(": ");
      if (colon != std::string::npos) judge.invalid_verdicts[line.substr(0, colon)] = line.substr(colon + 2);
    }
  }

  PlanReport report;
  report.current_config = args.current;
  report.new_config = args.config;
  report.runtime_endpoint = server.runtime_endpoint;
  std::map<std::string, std::string> names;  // image id → a name for a person
  std::map<std::string, std::vector<std::string>> digests;  // image id → its "repo@sha256:…" names
  for (const runtime::v1::Image& image : node->images) {
    PlanRow& row = report.images.emplace_back();
    row.image = ImageName(image);
    row.image_id = image.id();
    names[image.id()] = row.image;
    digests[image.id()].assign(image.repo_digests().begin(), image.repo_digests().end());
    Caller caller;
    caller.method = "CreateContainer";
    row.now = Decide(now_judge, caller, image.id(), digests[image.id()]);
    row.next = Decide(new_judge, caller, image.id(), digests[image.id()]);
  }
  for (const NodeInventory::RunningContainer& running : node->containers) {
    const runtime::v1::Container& c = running.container;
    PlanRow& row = report.containers.emplace_back();
    row.image_id = !c.image_ref().empty() ? c.image_ref() : c.image().image();
    auto name = names.find(row.image_id);
    row.image = name != names.end() ? name->second : row.image_id;
    row.namespace_name = running.namespace_name;
    row.pod = running.pod;
    row.container = c.metadata().name();
    row.container_id = c.id();
    Caller caller;
    caller.method = "CreateContainer";
    caller.namespace_name = running.namespace_name;
    caller.pod = running.pod;
    caller.container = row.container;
    row.now = Decide(now_judge, caller, row.image_id, digests[row.image_id]);
    row.next = Decide(new_judge, caller, row.image_id, digests[row.image_id]);
  }
  const std::string printed = args.json ? absl::StrCat(FormatPlanJson(report), "\n") : FormatPlan(report);
  std::fputs(printed.c_str(), out);
  std::fflush(out);
  return PlanExitCode(report);
}

}  // namespace sigshim::shim
