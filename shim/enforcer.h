// The enforcement layer: what sigshim decides about the images of PullImage, CreateContainer
// and RunPodSandbox, and the state those decisions rest on (the policy in force, the verdict
// store and which stored verdicts hold under that policy).
//
// Every method may block (registry round trips, runtime calls, the disk): callers run them on
// worker threads, never on the proxy's queue threads. The hooks in enforcement_hooks.h do that.
//
// What each decision rests on:
//   - PullImage: the registry, asked now (tag → digest → signatures), except for a reference
//     pinned by digest that already has a valid verdict. Many pulls of one reference (with the
//     same credentials) at once share one verification. An allowed pull is forwarded pinned to
//     the verified digest; FinishPull then makes the original tag name that digest.
//   - CreateContainer / RunPodSandbox: the image's manifest digests as the runtime knows them
//     (CRI repo_digests, and containerd's image records for its tags and id). Allowed when one of
//     them has a verdict valid under the current policy, or when the registry verifies one now.
//     The request is then pinned to the image id that was checked.
//   - A verdict is evidence about a digest; whether it admits a call is decided per namespace: it
//     is valid for a call when the policy that decides its repository in the call's namespace
//     (Policy::Find) accepts its stored signatures today. Every policy a verdict's repository
//     matches judges it offline (no registry) whenever the configuration changes, so removing,
//     retiring (not_after in the past) or revoking a key or certificate, or revoking the digest,
//     takes effect at the next call. An approval that rested on a key window judged by the time
//     of the check lapses at the key's not_after. Every cache (approvals, admitted image ids,
//     shared pull verifications) is keyed by that policy or namespace, so an image verified for
//     namespace A never admits a container in namespace B whose policy trusts others.
//   - Then pkg/policy/governance.h: a revoked digest is refused, an [[exceptions]] entry admits a
//     denial while it has not expired, a denial before its policy's enforce_from or in audit mode
//     is let through, not enforced. These rules are applied at every call, at its time. What a
//     CreateContainer admitted by an exception remembers is the registry's refusal (per digest,
//     repository and namespace, under the policy in force, until no exception admits it or the
//     configuration changes), so that the next call asks no registry, only the rules.
//   - A refusal after a stored verdict stopped holding (a reload revoked its key, ...) names why,
//     whatever the registry then says (or when it cannot be reached).
// Refusals are absl::Status values whose message starts "SignatureValidationFailed: " (or
// "RegistryUnavailable: " when the registry could not be reached) and names the image, the
// digest when known, and the reason; the proxy answers them as gRPC UNKNOWN. Errors never allow.
#ifndef SIGSHIM_SHIM_ENFORCER_H_
#define SIGSHIM_SHIM_ENFORCER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pkg/audit/audit_log.h"
#include "pkg/base/budget.h"
#include "pkg/containerd/content_store.h"
#include "pkg/containerd/image_store.h"
#include "pkg/cri/api.pb.h"
#include "pkg/policy/image_verifier.h"
#include "pkg/policy/policy.h"
#include "pkg/reference/reference.h"
#include "pkg/registry/registry_client.h"
#include "pkg/verdicts/verdict_store.h"
#include "pkg/verify/statement.h"
#include "shim/runtime_client.h"

namespace sigshim::shim {

// Who asked, from the CRI request (recorded in the audit log), and whether they still wait.
struct Caller {
  std::string method;          // "PullImage", "CreateContainer", "RunPodSandbox"
  std::string namespace_name;  // the pod's namespace, "" when the request names no pod
  std::string pod;             // the pod's name, "" when none
  std::string container;       // the container's name (CreateContainer), else ""
  // When the call arrived: a verification made for it must end by arrived +
  // [registry] verification_timeout. InfinitePast (the default) counts from the decision's start.
  absl::Time arrived = absl::InfinitePast();
  // Becomes true once the caller no longer waits for the answer (it left, its deadline passed, or
  // the call ended); a verification nobody waits for stops. Null (the default): always waits.
  std::shared_ptr<const std::atomic<bool>> gone;
};

struct EnforcerOptions {
  // The runtime, asked for image records, pinned pulls and its sandbox image. Required; must
  // outlive the Enforcer.
  RuntimeClient* runtime = nullptr;
  // containerd's image records (namespace k8s.io): manifest digests of images the CRI shows
  // without one, and the tag records made after a pinned pull. Required; must outlive the Enforcer.
  containerd::ImageStore* images = nullptr;
  // containerd's content store (namespace k8s.io): the manifests behind image records, read to
  // learn which image id a manifest digest stands for. Required; must outlive the Enforcer.
  containerd::ContentStore* content = nullptr;
  // The verdict store. Required; must outlive the Enforcer.
  verdicts::VerdictStore* store = nullptr;
  // Receives one record per decision (the audit log, metrics). Called on the deciding thread.
  // Default null: records are dropped.
  std::function<void(const audit::AuditRecord&)> on_decision;
  // Receives the outcome ("allow", "deny", "error") and latency of every registry verification.
  // Default null.
  std::function<void(absl::string_view outcome, absl::Duration latency)> on_verification;
  // The clock. Default null: absl::Now.
  std::function<absl::Time()> now;
  // How long FinishPull waits for the runtime to show the new tag (its CRI cache follows
  // containerd's image events). Default 5s.
  absl::Duration tag_wait = absl::Seconds(5);
};

// What to forward for an allowed pull.
struct PullPlan {
  std::string forward_image;  // the reference to pull: "repo@sha256:…" when the digest is known
  std::string tag_name;       // "repo:tag" to point at the pulled digest afterwards; "" for none
  std::string digest;         // the verified digest, "" when not established
  std::string namespace_name;  // the namespace the pull was decided for ("" when none)
};

// Stored verdicts checked against a policy.
struct RecheckReport {
  int valid = 0;
  std::vector<std::string> invalid;  // "<repository>@<digest>: <why>"
};

// Thread-safe.
class Enforcer {
 public:
  // InvalidArgument when a required option is missing.
  static absl::StatusOr<std::unique_ptr<Enforcer>> Create(EnforcerOptions options);

  // Puts `policy` in force (at start-up and after every reload), with `verifier` (built from the
  // same configuration's [registry]) to ask registries and `sandbox_image` from [enforcement]
  // ("" to ask the runtime), and re-checks every stored verdict against it, offline. Calls made
  // from here on decide under the new policy. Call it before serving: until then every image
  // is refused.
  // `verification_timeout` is [registry] verification_timeout: the budget of each verification.
  RecheckReport SetPolicy(std::shared_ptr<const policy::Policy> policy,
                          std::shared_ptr<const policy::ImageVerifier> verifier, std::string sandbox_image,
                          absl::Duration verification_timeout = absl::Seconds(30));

  // Ends every verification in flight as if nobody waited for it, and every later one at once
  // (shutdown). Thread-safe.
  void Shutdown();

  // Returns true for the status of a decision made without the registry (registry_allowed =
  // false) that only the registry can make: the caller then asks again with the registry allowed,
  // on a thread that may wait for it. Such a status is never an answer to a CRI call.
  static bool NeedsRegistry(const absl::Status& status);

  // Runs `task` on some thread; returns false when it cannot (the caller is then refused).
  using Scheduler = std::function<bool(std::function<void()> task)>;
  // Receives a pull decision: what to forward, or the refusal.
  using PullDone = std::function<void(absl::StatusOr<PullPlan>)>;

  // Decides a PullImage of `image` with `auth` and hands the answer to `done`. Does not block. A
  // pull by digest that a stored verdict decides runs as a task given to `local` (it never waits
  // behind registry work); a verification runs as a task given to `registry`, within the budget of
  // [registry] verification_timeout from the caller's arrival, and stops once nobody waits for it.
  // A pull of the same reference with the same credentials that arrives while one is being
  // verified joins it instead of starting another (its `done` is called with its own answer when
  // that verification ends). `done` is called exactly once, on the thread that ran the task (or
  // inline when scheduling fails). Each caller gets its own audit record.
  void StartPull(const Caller& caller, const std::string& image, const runtime::v1::AuthConfig& auth,
                 const Scheduler& local, const Scheduler& registry, PullDone done);

  // StartPull on the calling thread, waiting for the answer.
  absl::StatusOr<PullPlan> DecidePull(const Caller& caller, const std::string& image,
                                      const runtime::v1::AuthConfig& auth);

  // After the runtime pulled plan.forward_image: points plan.tag_name at the same manifest in
  // containerd and waits (up to tag_wait) until the runtime's CRI shows it. An error when the tag
  // could not be made; the pull itself has happened.
  absl::Status FinishPull(const PullPlan& plan);

  // Decides whether a container may be created from `image` (as CreateContainer names it: an
  // image id or a reference). Returns the image to forward instead (the runtime's image id that
  // was checked), or the refusal. Without `registry_allowed` it asks only the runtime and the
  // stored verdicts, and answers NeedsRegistry when they cannot decide.
  absl::StatusOr<std::string> AdmitImage(const Caller& caller, const std::string& image, bool registry_allowed = true);

  // Returns the audit record of an allow when `image` is an image id that AdmitImage admitted
  // before, for a pod in the caller's namespace, by a verdict still valid under the current policy,
  // or by an [[exceptions]] entry that still admits it now (the same rules as AdmitImage, at this
  // call's time; the record is not reported: pass it to Report). Makes no runtime, registry or disk call, so it may run on the proxy's threads;
  // nullopt when AdmitImage must decide. Safe because an image id is the digest of the image
  // config, which fixes the layers' content: whatever manifest the runtime now keeps under that
  // id, the container's file system is the one that was verified.
  std::optional<audit::AuditRecord> AdmitFromCache(const Caller& caller, const std::string& image);

  // Records that the runtime pulled plan.forward_image (a verified digest) as image id
  // `image_id`, so that AdmitFromCache admits containers of that id in plan.namespace_name at
  // once. Does nothing unless the pull rested on a verdict valid under the policy that decides it
  // in that namespace.
  void RememberPulled(const PullPlan& plan, const std::string& image_id);

  // Reports a decision made by AdmitFromCache (audit log, metrics). May write to disk.
  void Report(const audit::AuditRecord& record);

  // Decides whether a pod sandbox may start. The image is the one the runtime reports it will
  // start. Pinned by digest ([enforcement] sandbox_image, or the runtime's own configuration): the
  // runtime's image must be that manifest (when it is not on the node yet, the pinned manifest is
  // pulled and given the runtime's name). Otherwise it passes like a container image, and when it
  // is not on the node yet it is pulled now through the same verified, pinned pull as PullImage.
  // A sandbox_image naming another image than the runtime's is a refusal. Without
  // `registry_allowed`, answers NeedsRegistry where a verification or a pull would be needed.
  absl::Status AdmitSandbox(const Caller& caller, bool registry_allowed = true);

  // Refuses a call whose image name is `size` bytes long, more than any image reference may be
  // (reference::kMaxReferenceLength): records the decision (an error, whatever the mode) with
  // `shown`, the start of the name, and returns the refusal. Makes no runtime or registry call.
  absl::Status RefuseOverlongImage(const Caller& caller, const std::string& shown, size_t size);

  // Returns the manifest digests the runtime holds for `image`, so that their verdicts can be
  // dropped once the image is removed (empty when the runtime does not know it).
  std::vector<std::string> DigestsOf(const std::string& image);

  // Drops every verdict for `digests` (RemoveImage succeeded).
  void ForgetDigests(const std::vector<std::string>& digests);

  // Returns the number of stored verdicts, and of those valid under the current policy.
  std::pair<size_t, size_t> VerdictCounts() const;

 private:
  // A (manifest digest, repository) the runtime associates with an image.
  struct Candidate {
    std::string digest;
    std::string repository;
    // Set on the candidate AdmitPresent reports when an [[exceptions]] entry admitted it (then no
    // verdict did).
    bool excepted = false;
  };
  // A stored verdict judged under one rule: (digest, repository, Rule::index).
  using ApprovalKey = std::tuple<std::string, std::string, size_t>;
  // Why a verdict holds under a rule.
  struct Approval {
    std::string policy;
    std::string identity;  // every [[keys]] name that counted, comma-separated
    std::optional<verify::SigningTime> signed_at;  // earliest proven signing time; nullopt: unknown
    // The approval lapses after this instant: a key window that was judged by the time of the
    // check (no proven signing time) closes at its not_after, without a reload.
    absl::Time valid_until = absl::InfiniteFuture();
  };
  struct Flight;

  explicit Enforcer(EnforcerOptions options) : options_(std::move(options)) {}

  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }
  std::shared_ptr<const policy::Policy> CurrentPolicy() const;

  // Returns the digests of `candidates`, each once, in order.
  static std::vector<std::string> DigestsIn(const std::vector<Candidate>& candidates);

  // Fills `r` as an allow resting on the stored verdict of (repository, digest).
  static void FillFromApproval(const std::string& repository, const std::string& digest, const Approval& approval,
                               audit::AuditRecord& r);

  // Returns why `verdict` holds under `rule` at `now`, or the reason it does not: its stored
  // artifacts go through the same statement producer as a registry decision, chosen by their
  // format (cosign simple signing or sigstore bundle, policy::RuleEvaluation::AddStored), and the
  // same evaluation, [[policy.attestations]] included, offline (revoked keys and certificates count for nothing; a revoked digest holds under no
  // rule); the decision time is `now`.
  static absl::StatusOr<Approval> CheckVerdict(const verdicts::Verdict& verdict, const policy::Rule& rule,
                                               absl::Time now);

  // Judges `verdict` under every rule of `policy` its repository matches, adding the approvals to
  // `approvals` and, for each rule that does not approve it, why to `rejections`; returns the number
  // of rules that approve it, and sets `why` (may be null) to the reason when none does.
  static int ApproveUnder(const verdicts::Verdict& verdict, const policy::Policy& policy, absl::Time now,
                          absl::flat_hash_map<ApprovalKey, Approval>& approvals,
                          absl::flat_hash_map<ApprovalKey, std::string>& rejections, std::string* why);

  // Returns the rule that decides (digest, repository) in `namespace_name` under `policy`, or
  // null when none does.
  static const policy::Rule* RuleFor(const policy::Policy& policy, const std::string& digest,
                                     const std::string& repository, const std::string& namespace_name);

  // Returns the approval of (digest, repository) under the rule that decides it in
  // `namespace_name` under the current policy, if any, still valid now. When there is none but a
  // stored verdict for it was judged under that rule, sets `stale` (may be null) to why that
  // verdict does not admit it now (a revoked or removed key, a closed key window, ...).
  std::optional<Approval> FindApproval(const std::string& digest, const std::string& repository,
                                       const std::string& namespace_name, std::string* stale = nullptr) const;

  // Stores the verdict of an accepted decision and approves it under the current policy.
  void Record(const policy::Decision& decision, const reference::Reference& ref);

  // Asks the registry within `budget`, counting and reporting the verification.
  policy::Decision Verify(const std::string& image, const Caller& caller, const registry::Credentials& credentials,
                          const Budget& budget);

  // Returns the budget of a verification for `caller`: [registry] verification_timeout from its
  // arrival; abandoned once `waiting` returns false or the Enforcer shuts down.
  std::unique_ptr<Budget> BudgetFor(const Caller& caller, std::function<bool()> waiting) const;

  // What one verification of a pull found, shared by the callers of its flight.
  struct PullOutcome {
    policy::Decision decision;        // from the registry, unless `approval` is set
    std::optional<Approval> approval;  // set when a stored verdict decided a pull by digest
  };
  // Turns a flight's outcome into one caller's answer (audit record included).
  absl::StatusOr<PullPlan> ConcludePull(const Caller& caller, absl::Time start, const std::string& image,
                                        const PullOutcome& outcome, bool shared);

  // Returns the candidates of the runtime image `found` (looked up as `image`): the manifests
  // containerd's records for its names (repo_digests, repo_tags, `image`) and its id point at,
  // each with the repository of its name — only those manifests that are, by their content, image
  // `found.id` (a name can be re-pointed at another image between the runtime's answer and the
  // lookup of the record: such a name lends nothing to this id).
  std::vector<Candidate> CandidatesOf(const std::string& image, const RuntimeImage& found);

  // Returns true when the manifest (or index) `digest`, read from containerd's content store, is
  // image `image_id`: its config is that id (for an index, the config of one of its manifests on
  // the node). The answer depends on content alone, so it is cached.
  bool ManifestIsImage(const std::string& digest, const std::string& image_id);

  // Admission of an image present on the node: verdict, unmatched policy or the registry.
  // Sets `admitted_by` (may be null) to the candidate whose verdict (or remembered, excepted
  // refusal) admitted it.
  absl::Status AdmitPresent(const Caller& caller, const std::string& image, const RuntimeImage& found,
                            absl::Time start, bool registry_allowed, std::optional<Candidate>* admitted_by = nullptr);

  // Fills `record` with the allow an [[exceptions]] entry gives at `now` to the remembered registry
  // refusal of (digest, repository) in the caller's namespace under the current policy (Govern, so
  // a revoked digest or an expired exception admits nothing), and returns true. Returns false, and
  // forgets the refusal, when none is remembered or no exception admits it now. Asks no registry
  // and no runtime.
  bool AdmitExcepted(const Caller& caller, const std::string& digest, const std::string& repository, absl::Time now,
                     audit::AuditRecord& record);

  // Remembers the registry's refusal that decision `d` (an allow by an exception) of (digest,
  // repository) for `namespace_name` rests on, unless the policy changed since `generation`.
  void RememberExcepted(const policy::Decision& d, const Candidate& c, const std::string& namespace_name,
                        uint64_t generation);

  // Reports a decision and turns it into the call's answer: OK when allowed (or not enforced),
  // else the refusal. Unless `governed` (the record comes from a Decision that ImageVerifier
  // already governed), applies pkg/policy/governance.h first: revoked digest, exceptions,
  // enforce_from, audit mode, at the time of the call.
  absl::Status Conclude(const Caller& caller, audit::AuditRecord record, const std::string& refusal_subject,
                        bool governed = false);

  const EnforcerOptions options_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const policy::Policy> policy_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const policy::ImageVerifier> verifier_ ABSL_GUARDED_BY(mu_);
  std::string sandbox_image_ ABSL_GUARDED_BY(mu_);  // configured; "" to ask the runtime
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;    // bumped by SetPolicy
  absl::Duration verification_timeout_ ABSL_GUARDED_BY(mu_) = absl::Seconds(30);
  std::atomic<bool> shutting_down_{false};
  // (digest, repository, rule index) → why its stored verdict holds under that rule of policy_.
  absl::flat_hash_map<ApprovalKey, Approval> approvals_ ABSL_GUARDED_BY(mu_);
  // (digest, repository, rule index) → why its stored verdict does not hold under that rule of
  // policy_: named in a refusal that the registry then has to decide.
  absl::flat_hash_map<ApprovalKey, std::string> rejections_ ABSL_GUARDED_BY(mu_);
  // (image id, namespace) → the verdict AdmitImage admitted it by, for AdmitFromCache. An entry
  // holds while its generation is current and its approval is still in approvals_ and valid.
  struct AdmittedId {
    uint64_t generation;
    ApprovalKey approval;  // for an exception: (digest, repository, 0) of its remembered refusal
    bool excepted = false;  // admitted by an exception (excepted_), judged again at every call
  };
  absl::flat_hash_map<std::pair<std::string, std::string>, AdmittedId> admitted_ids_ ABSL_GUARDED_BY(mu_);

  // A registry refusal that an [[exceptions]] entry turned into an allow, for one (digest,
  // repository, namespace) under policy_: the next call asks no registry, only Govern (which applies
  // the exception's expiry and revocation at the call's time). Emptied by SetPolicy; an entry goes
  // once no exception admits it any more (then the registry is asked again).
  struct ExceptedRefusal {
    reference::Reference image;  // what was decided on: repository@digest
    std::string index_digest;    // the index it was reached through, "" when none
    std::string policy;          // the matched [[policy]] name, "" when none matched
    std::string reason;          // the registry's refusal
    std::string answered;        // " (the registry's answer of <when it was asked>, remembered …)"
  };
  using ExceptedKey = std::tuple<std::string, std::string, std::string>;  // digest, repository, namespace
  // Shared: a call copies the pointer, not the strings, out of the lock.
  absl::flat_hash_map<ExceptedKey, std::shared_ptr<const ExceptedRefusal>> excepted_ ABSL_GUARDED_BY(mu_);

  // Manifest digest → the image ids (config digests) it stands for, as read from containerd's
  // content store. Content never changes under its digest, so entries never go stale; the map is
  // emptied when it grows past its bound.
  absl::Mutex manifests_mu_;
  absl::flat_hash_map<std::string, std::vector<std::string>> manifest_images_ ABSL_GUARDED_BY(manifests_mu_);

  absl::Mutex flights_mu_;
  // Pulls being verified, by reference and credentials.
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(flights_mu_);
};

// Returns the CRI credentials as the registry client takes them.
registry::Credentials CredentialsFrom(const runtime::v1::AuthConfig& auth);

}  // namespace sigshim::shim

#endif  // SIGSHIM_SHIM_ENFORCER_H_
