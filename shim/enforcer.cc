#include "shim/enforcer.h"

#include <algorithm>
#include <optional>
#include <variant>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "pkg/base/digest.h"
#include "pkg/base/log.h"
#include "pkg/base/status_macros.h"
#include "pkg/reference/reference.h"
#include "absl/container/flat_hash_set.h"
#include "pkg/policy/evaluation.h"
#include "pkg/policy/governance.h"
#include "pkg/registry/manifest.h"
#include "shim/work_queue.h"

namespace sigshim::shim {
namespace {

constexpr absl::string_view kRegistryUnavailable = "RegistryUnavailable: ";

// Runtime calls made on sigshim's own behalf (not bounded by a caller's deadline).
constexpr absl::Duration kRuntimeTimeout = absl::Seconds(30);
// A pull made for the sandbox image.
constexpr absl::Duration kSandboxPullTimeout = absl::Minutes(5);
// Bounds on what is read from containerd's content store to tell which image a manifest is.
constexpr size_t kMaxManifestBytes = 4 << 20;
constexpr size_t kMaxIndexManifestsRead = 64;
constexpr size_t kMaxCachedManifests = 4096;
// Bound on the registry refusals remembered for exceptions (Enforcer::excepted_); past it they are
// forgotten together and asked again.
constexpr size_t kMaxExceptedRefusals = 4096;

// Marks the status of a decision that only the registry can make (Enforcer::NeedsRegistry).
constexpr absl::string_view kNeedsRegistryPayload = "type.sigshim.dev/enforcer.needs_registry";

absl::Status NeedsRegistryError() {
  absl::Status status = absl::UnavailableError("this decision needs the registry");
  status.SetPayload(kNeedsRegistryPayload, absl::Cord("1"));
  return status;
}

// Names the image of a refusal for a person; a name from the runtime or the caller is cut at
// log::kMaxNameBytes (the refusal goes into gRPC's status, the log and the audit reason).
std::string DescribeImage(absl::string_view image, absl::string_view digest) {
  const std::string name = log::TruncateName(image);
  if (digest.empty() || absl::StrContains(name, digest)) return name;
  return absl::StrCat(name, " (digest ", digest, ")");
}

// Returns the refusal for a decision that is not an allow.
absl::Status Refusal(absl::string_view subject, const audit::AuditRecord& r) {
  if (absl::StartsWith(r.reason, kRegistryUnavailable)) {
    return absl::UnknownError(absl::StrCat(kRegistryUnavailable, subject, ": cannot verify: ",
                                           absl::StripPrefix(r.reason, kRegistryUnavailable)));
  }
  std::string by = r.policy.empty() ? "" : absl::StrCat(" by policy \"", r.policy, "\"");
  return absl::UnknownError(absl::StrCat("SignatureValidationFailed: ", subject, " refused", by, ": ", r.reason));
}

audit::AuditRecord RecordFor(const Caller& caller, absl::Time start) {
  audit::AuditRecord r;
  r.time = start;
  r.method = caller.method;
  r.namespace_name = caller.namespace_name;
  r.pod = caller.pod;
  r.container = caller.container;
  return r;
}

// Fills the signing time fields of `r`.
void FillSignedAt(const std::optional<verify::SigningTime>& t, audit::AuditRecord& r) {
  r.signed_at = t.has_value() ? verify::FormatTimeUtc(t->time) : "";
  r.signed_at_source = t.has_value() ? std::string(verify::TimeSourceName(t->source)) : "";
}

// Fills `r` from a registry decision.
void FillFromDecision(const policy::Decision& d, absl::string_view asked, audit::AuditRecord& r) {
  r.image = d.image.empty() ? std::string(asked) : d.image;
  r.digest = d.digest;
  r.decision = std::string(policy::OutcomeName(d.verdict));
  r.reason = d.reason;
  r.policy = d.policy;
  r.identity = d.identity;
  FillSignedAt(d.signed_at, r);
  r.source = d.source;
  r.enforced = d.enforced;
  if (!d.exception.empty()) {
    r.exception = d.exception;
    r.owner = d.exception_owner;
    r.expires = verify::FormatTimeUtc(d.exception_expires);
  }
}

}  // namespace

std::vector<std::string> Enforcer::DigestsIn(const std::vector<Candidate>& candidates) {
  std::vector<std::string> digests;
  for (const Candidate& c : candidates) {
    if (std::find(digests.begin(), digests.end(), c.digest) == digests.end()) digests.push_back(c.digest);
  }
  return digests;
}

void Enforcer::FillFromApproval(const std::string& repository, const std::string& digest, const Approval& approval,
                                audit::AuditRecord& r) {
  r.image = absl::StrCat(repository, "@", digest);
  r.digest = digest;
  r.decision = "allow";
  r.reason = "stored verdict valid under the current policy";
  r.policy = approval.policy;
  r.identity = approval.identity;
  FillSignedAt(approval.signed_at, r);
  r.source = "verdict";
}

registry::Credentials CredentialsFrom(const runtime::v1::AuthConfig& auth) {
  registry::Credentials c;
  c.username = auth.username();
  c.password = auth.password();
  c.auth = auth.auth();
  c.identity_token = auth.identity_token();
  c.registry_token = auth.registry_token();
  return c;
}

// One verification of a pull, shared by every caller that asks for the same reference with the
// same credentials while it runs.
struct Enforcer::Flight {
  struct Waiter {
    Caller caller;
    absl::Time start;
    PullDone done;
  };
  std::vector<Waiter> waiters;  // guarded by Enforcer::flights_mu_
};

absl::StatusOr<std::unique_ptr<Enforcer>> Enforcer::Create(EnforcerOptions options) {
  if (options.runtime == nullptr || options.images == nullptr || options.content == nullptr ||
      options.store == nullptr) {
    return absl::InvalidArgumentError(
        "Enforcer needs a runtime client, containerd's image and content stores and a verdict store");
  }
  return std::unique_ptr<Enforcer>(new Enforcer(std::move(options)));
}

std::shared_ptr<const policy::Policy> Enforcer::CurrentPolicy() const {
  absl::MutexLock lock(&mu_);
  return policy_;
}

absl::StatusOr<Enforcer::Approval> Enforcer::CheckVerdict(const verdicts::Verdict& verdict, const policy::Rule& rule,
                                                           absl::Time now) {
  absl::StatusOr<reference::Reference> ref = reference::Parse(absl::StrCat(verdict.repository, "@", verdict.digest));
  if (!ref.ok()) return absl::InvalidArgumentError(absl::StrCat("unusable repository: ", ref.status().message()));
  if (rule.revocation != nullptr) {
    for (const std::string& digest : {verdict.digest, verdict.index_digest}) {
      if (!digest.empty() && rule.revocation->ImageRevoked(digest)) {
        return absl::FailedPreconditionError(absl::StrCat("image ", digest, " is revoked ([revocation] images)"));
      }
    }
  }
  const policy::Target target{verdict.digest, *ref};
  RETURN_IF_ERROR(policy::RuleEvaluation::ValidateTarget(target));
  const policy::RuleEvaluation evaluation = policy::EvaluateSignatures(rule, target, verdict.evidence, now);
  if (!evaluation.Satisfied()) {
    if (!evaluation.error().ok()) return evaluation.error();
    return absl::FailedPreconditionError(
        absl::StrCat("policy \"", rule.name, "\" does not accept its signatures: ", evaluation.Explain()));
  }
  Approval approval;
  approval.policy = rule.name;
  approval.identity = evaluation.Identities();
  approval.signed_at = evaluation.EarliestSigningTime();
  approval.valid_until = evaluation.CountsUntil();
  return approval;
}

int Enforcer::ApproveUnder(const verdicts::Verdict& verdict, const policy::Policy& policy, absl::Time now,
                           absl::flat_hash_map<ApprovalKey, Approval>& approvals,
                           absl::flat_hash_map<ApprovalKey, std::string>& rejections, std::string* why) {
  absl::StatusOr<reference::Reference> ref = reference::Parse(absl::StrCat(verdict.repository, "@", verdict.digest));
  if (!ref.ok()) {
    if (why != nullptr) *why = absl::StrCat("unusable repository: ", ref.status().message());
    return 0;
  }
  const std::vector<const policy::Rule*> rules = policy.RulesMatching(*ref);
  if (rules.empty() && why != nullptr) *why = "no [[policy]] matches this repository any more";
  int approved = 0;
  std::vector<std::string> reasons;
  for (const policy::Rule* rule : rules) {
    const ApprovalKey key{verdict.digest, verdict.repository, rule->index};
    absl::StatusOr<Approval> approval = CheckVerdict(verdict, *rule, now);
    if (!approval.ok()) {
      reasons.emplace_back(approval.status().message());
      // An approval already there stays: it rests on evidence judged before (a verdict stored for
      // another namespace's policy may carry only the signatures that policy counted).
      rejections[key] = std::string(approval.status().message());
      continue;
    }
    rejections.erase(key);
    approvals[key] = *std::move(approval);
    ++approved;
  }
  if (approved == 0 && !reasons.empty() && why != nullptr) *why = absl::StrJoin(reasons, "; ");
  return approved;
}

const policy::Rule* Enforcer::RuleFor(const policy::Policy& policy, const std::string& digest,
                                      const std::string& repository, const std::string& namespace_name) {
  absl::StatusOr<reference::Reference> ref = reference::Parse(absl::StrCat(repository, "@", digest));
  if (!ref.ok()) return nullptr;
  std::optional<policy::Match> match = policy.Find(*ref, namespace_name);
  return match.has_value() ? match->rule : nullptr;
}

RecheckReport Enforcer::SetPolicy(std::shared_ptr<const policy::Policy> policy,
                                  std::shared_ptr<const policy::ImageVerifier> verifier, std::string sandbox_image,
                                  absl::Duration verification_timeout) {
  RecheckReport report;
  const absl::Time now = Now();
  absl::flat_hash_map<ApprovalKey, Approval> approvals;
  absl::flat_hash_map<ApprovalKey, std::string> rejections;
  absl::flat_hash_set<std::pair<std::string, std::string>> judged;
  // Checked outside the lock: a few hundred microseconds per verdict and matching rule, all offline.
  for (const verdicts::Verdict& v : options_.store->All()) {
    std::string why;
    judged.insert({v.digest, v.repository});
    if (ApproveUnder(v, *policy, now, approvals, rejections, &why) > 0) {
      ++report.valid;
    } else {
      report.invalid.push_back(absl::StrCat(v.repository, "@", v.digest, ": ", why));
    }
  }
  absl::MutexLock lock(&mu_);
  policy_ = std::move(policy);
  verifier_ = std::move(verifier);
  sandbox_image_ = std::move(sandbox_image);
  verification_timeout_ = verification_timeout;
  ++generation_;
  // Verdicts stored while this ran were approved under the old policy; check them again.
  for (const verdicts::Verdict& v : options_.store->All()) {
    if (judged.contains(std::make_pair(v.digest, v.repository))) continue;
    ApproveUnder(v, *policy_, now, approvals, rejections, nullptr);
  }
  approvals_ = std::move(approvals);
  rejections_ = std::move(rejections);
  admitted_ids_.clear();
  excepted_.clear();
  return report;
}

std::optional<Enforcer::Approval> Enforcer::FindApproval(const std::string& digest, const std::string& repository,
                                                          const std::string& namespace_name, std::string* stale) const {
  absl::MutexLock lock(&mu_);
  if (policy_ == nullptr) return std::nullopt;
  const policy::Rule* rule = RuleFor(*policy_, digest, repository, namespace_name);
  if (rule == nullptr) return std::nullopt;
  const ApprovalKey key{digest, repository, rule->index};
  auto it = approvals_.find(key);
  if (it == approvals_.end()) {
    auto rejected = rejections_.find(key);
    if (stale != nullptr && rejected != rejections_.end()) *stale = rejected->second;
    return std::nullopt;
  }
  if (Now() > it->second.valid_until) {
    if (stale != nullptr) {
      *stale = absl::StrCat("policy \"", rule->name, "\" accepted its signatures until ",
                            verify::FormatTimeUtc(it->second.valid_until),
                            " (a key's not_after, judged at the time of the check: no proven signing time)");
    }
    return std::nullopt;
  }
  return it->second;
}

std::pair<size_t, size_t> Enforcer::VerdictCounts() const {
  const size_t stored = options_.store->size();
  absl::MutexLock lock(&mu_);
  absl::flat_hash_set<std::pair<std::string, std::string>> valid;
  for (const auto& [key, approval] : approvals_) valid.insert({std::get<0>(key), std::get<1>(key)});
  return {stored, valid.size()};
}

void Enforcer::Record(const policy::Decision& decision, const reference::Reference& ref) {
  if (decision.evidence.empty() || decision.digest.empty()) return;
  verdicts::Verdict v;
  v.digest = decision.digest;
  v.repository = ref.Repository();
  v.reference = decision.image;
  v.index_digest = decision.index_digest;
  v.policy = decision.policy;
  v.identity = decision.identity;
  v.verified_at = decision.decided_at;
  for (const policy::Evidence& e : decision.evidence) {
    const verify::StatementArtifact& artifact = e.statement.artifact;
    // One stored signature per artifact, however many statements it made. Two signers of one image
    // sign the same payload (one blob, one layer digest): their signatures differ only in the
    // layer's annotations, and each is kept (a threshold of 2 needs both on the next re-check).
    bool stored = false;
    for (const verify::Signature& s : v.evidence) {
      stored = stored || (s.layer_digest == artifact.layer_digest && s.payload == artifact.payload &&
                          s.annotations == artifact.annotations);
    }
    if (!stored) {
      verify::Signature& signature = v.evidence.emplace_back();
      signature.layer_digest = artifact.layer_digest;
      signature.media_type = artifact.media_type;
      signature.payload = artifact.payload;
      signature.annotations = artifact.annotations;
    }
    verdicts::CountedStatement& counted = v.counted.emplace_back();
    counted.identity = e.identity;
    counted.signer_type = std::string(verify::SignerType(e.statement.signer));
    counted.fingerprint = verify::SignerFingerprint(e.statement.signer);
    if (const auto* certificate = std::get_if<verify::CertificateSigner>(&e.statement.signer)) {
      counted.trust_root = certificate->trust_root;
    }
    counted.attestation = e.attestation;
    counted.layer_digest = artifact.layer_digest;
    counted.signing_time = e.statement.signing_time;
  }
  absl::Status stored = options_.store->Put(v);
  if (!stored.ok()) {
    // The decision stands (it was verified now); only its persistence failed. It is approved in
    // memory and verified again after a restart.
    SIGSHIM_LOG(kError, "verdict for ", v.repository, "@", v.digest, " not stored: ", stored.message());
  }
  absl::MutexLock lock(&mu_);
  // The policy may have changed since the decision was made: approve under the one in force, by
  // every rule the repository matches (each namespace's decision picks its own).
  if (policy_ == nullptr) return;
  ApproveUnder(v, *policy_, Now(), approvals_, rejections_, nullptr);
}

void Enforcer::Shutdown() { shutting_down_.store(true); }

bool Enforcer::NeedsRegistry(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kNeedsRegistryPayload).has_value();
}

std::unique_ptr<Budget> Enforcer::BudgetFor(const Caller& caller, std::function<bool()> waiting) const {
  absl::Duration timeout;
  {
    absl::MutexLock lock(&mu_);
    timeout = verification_timeout_;
  }
  const absl::Time from = caller.arrived == absl::InfinitePast() ? Now() : caller.arrived;
  return std::make_unique<Budget>(
      from + timeout, [this, waiting = std::move(waiting)] { return shutting_down_.load() || !waiting(); },
      absl::StrCat("[registry] verification_timeout (", absl::FormatDuration(timeout), ")"), options_.now);
}

policy::Decision Enforcer::Verify(const std::string& image, const Caller& caller,
                                  const registry::Credentials& credentials, const Budget& budget) {
  std::shared_ptr<const policy::Policy> policy;
  std::shared_ptr<const policy::ImageVerifier> verifier;
  {
    absl::MutexLock lock(&mu_);
    policy = policy_;
    verifier = verifier_;
  }
  if (policy == nullptr || verifier == nullptr) {
    policy::Decision none;
    none.image = image;
    none.reason = "VerificationError: no policy is loaded yet";
    return none;
  }
  policy::VerifyRequest request;
  request.image = image;
  request.namespace_name = caller.namespace_name;
  request.credentials = credentials;
  request.budget = &budget;
  policy::Decision d = verifier->Decide(*policy, request);
  if (d.verdict == policy::Outcome::kAllow && !d.policy.empty()) {
    absl::StatusOr<reference::Reference> ref = reference::Parse(d.image);
    if (ref.ok()) Record(d, *ref);
  }
  if (options_.on_verification && !d.policy.empty()) {
    options_.on_verification(policy::OutcomeName(d.verdict), d.latency);
  }
  return d;
}

void Enforcer::RememberExcepted(const policy::Decision& d, const Candidate& c, const std::string& namespace_name,
                                uint64_t generation) {
  if (d.source != "exception" || d.excepted_refusal.empty()) return;
  absl::StatusOr<reference::Reference> image = reference::Parse(absl::StrCat(c.repository, "@", c.digest));
  if (!image.ok()) return;
  auto refusal = std::make_shared<ExceptedRefusal>();
  refusal->image = *std::move(image);
  refusal->index_digest = d.index_digest;
  refusal->policy = d.policy;
  refusal->reason = d.excepted_refusal;
  refusal->answered = absl::StrCat(" (the registry's answer of ", verify::FormatTimeUtc(d.decided_at),
                                   ", remembered while an exception admits it)");
  absl::MutexLock lock(&mu_);
  if (generation != generation_) return;  // decided under a policy no longer in force
  if (excepted_.size() >= kMaxExceptedRefusals) excepted_.clear();
  excepted_[ExceptedKey{c.digest, c.repository, namespace_name}] = std::move(refusal);
}

bool Enforcer::AdmitExcepted(const Caller& caller, const std::string& digest, const std::string& repository,
                             absl::Time now, audit::AuditRecord& record) {
  const ExceptedKey key{digest, repository, caller.namespace_name};
  std::shared_ptr<const policy::Policy> policy;
  std::shared_ptr<const ExceptedRefusal> refusal;
  {
    absl::MutexLock lock(&mu_);
    auto it = excepted_.find(key);
    if (it == excepted_.end() || policy_ == nullptr) return false;
    policy = policy_;
    refusal = it->second;
  }
  policy::GovernanceInput input;
  input.verdict = policy::Outcome::kDeny;
  input.reason = refusal->reason;
  input.image = &refusal->image;
  input.digests = {digest, refusal->index_digest};
  input.namespace_name = caller.namespace_name;
  input.rule = refusal->policy.empty() ? nullptr : policy->RuleNamed(refusal->policy);
  const policy::Governed g = policy::Govern(*policy, input, now);
  if (g.exception == nullptr) {
    // Expired (or the rules changed): the registry decides again.
    absl::MutexLock lock(&mu_);
    excepted_.erase(key);
    return false;
  }
  record.image = absl::StrCat(repository, "@", digest);
  record.digest = digest;
  record.decision = std::string(policy::OutcomeName(g.verdict));
  record.reason = absl::StrCat(g.reason, refusal->answered);
  record.enforced = g.enforced;
  record.policy = refusal->policy;
  record.identity.clear();
  record.signed_at.clear();
  record.signed_at_source.clear();
  record.source = "exception";
  record.exception = g.exception->name;
  record.owner = g.exception->owner;
  record.expires = verify::FormatTimeUtc(g.exception->expires);
  return true;
}

absl::Status Enforcer::Conclude(const Caller& caller, audit::AuditRecord record, const std::string& subject,
                                bool governed) {
  std::shared_ptr<const policy::Policy> policy = CurrentPolicy();
  if (!governed && policy != nullptr) {
    // Revocation, exceptions, enforce_from, audit mode: the same pure rules as a registry decision.
    absl::StatusOr<reference::Reference> image = reference::Parse(record.image);
    policy::GovernanceInput input;
    input.verdict = record.decision == "allow"  ? policy::Outcome::kAllow
                    : record.decision == "deny" ? policy::Outcome::kDeny
                                                : policy::Outcome::kError;
    input.reason = record.reason;
    input.image = image.ok() ? &*image : nullptr;
    input.digests = {record.digest};
    input.namespace_name = caller.namespace_name;
    input.rule = record.policy.empty() ? nullptr : policy->RuleNamed(record.policy);
    const policy::Governed g = policy::Govern(*policy, input, record.time);
    record.decision = std::string(policy::OutcomeName(g.verdict));
    record.reason = g.reason;
    record.enforced = g.enforced;
    if (g.exception != nullptr) {
      record.source = "exception";
      record.exception = g.exception->name;
      record.owner = g.exception->owner;
      record.expires = verify::FormatTimeUtc(g.exception->expires);
      record.identity.clear();
      record.signed_at.clear();
      record.signed_at_source.clear();
    }
  }
  record.latency = Now() - record.time;
  const bool allowed = record.decision == "allow";
  // A denial not enforced (audit mode, enforce_from) goes through; an error never.
  const bool audited = !allowed && record.decision == "deny" && !record.enforced;
  if (record.decision == "error") record.enforced = true;
  if (options_.on_decision) options_.on_decision(record);
  if (allowed) return absl::OkStatus();
  if (audited) {
    SIGSHIM_LOG(kWarning, "not enforced: ", caller.method, " of ", subject, " allowed although refused: ", record.reason);
    return absl::OkStatus();
  }
  absl::Status refusal = Refusal(subject, record);
  SIGSHIM_LOG(kInfo, caller.method, ": ", refusal.message());
  return refusal;
}

absl::StatusOr<PullPlan> Enforcer::ConcludePull(const Caller& caller, absl::Time start, const std::string& image,
                                                const PullOutcome& outcome, bool shared) {
  audit::AuditRecord record = RecordFor(caller, start);
  absl::StatusOr<reference::Reference> parsed = reference::Parse(image);
  if (outcome.approval.has_value()) {
    FillFromApproval(parsed->Repository(), parsed->digest, *outcome.approval, record);
    record.image = parsed->String();  // as asked, its tag kept
    RETURN_IF_ERROR(Conclude(caller, record, parsed->String()));
    return PullPlan{absl::StrCat(parsed->Repository(), "@", parsed->digest), "", parsed->digest, caller.namespace_name};
  }
  const policy::Decision& d = outcome.decision;
  FillFromDecision(d, image, record);
  if (shared && record.source == "registry") record.reason = absl::StrCat(record.reason, " (shared verification)");
  RETURN_IF_ERROR(Conclude(caller, record, DescribeImage(record.image, d.digest), /*governed=*/true));

  PullPlan plan;
  plan.namespace_name = caller.namespace_name;
  if (d.digest.empty() || !parsed.ok()) {
    // No policy matched (unmatched = "allow") or audit mode without a digest: forwarded as asked.
    plan.forward_image = image;
    return plan;
  }
  plan.digest = d.digest;
  plan.forward_image = absl::StrCat(parsed->Repository(), "@", d.digest);
  if (parsed->digest.empty()) plan.tag_name = parsed->WithDefaultTag().String();
  return plan;
}

void Enforcer::StartPull(const Caller& caller, const std::string& image, const runtime::v1::AuthConfig& auth,
                         const Scheduler& local, const Scheduler& registry, PullDone done) {
  const absl::Time start = Now();
  absl::StatusOr<reference::Reference> parsed = reference::Parse(image);
  // Pinned by digest, and that digest already holds: nothing to ask the registry, and nothing to
  // wait for behind registry work.
  if (parsed.ok() && !parsed->digest.empty()) {
    if (std::optional<Approval> approval = FindApproval(parsed->digest, parsed->Repository(), caller.namespace_name)) {
      auto answer = std::make_shared<PullDone>(std::move(done));
      const bool scheduled = local([this, caller, start, image, approval, answer] {
        PullOutcome outcome;
        outcome.approval = approval;
        (*answer)(ConcludePull(caller, start, image, outcome, /*shared=*/false));
      });
      if (!scheduled) (*answer)(OverloadedError());
      return;
    }
  }
  registry::Credentials credentials = CredentialsFrom(auth);
  // One verification per reference, namespace (it selects the policy and exceptions) and
  // credentials at a time; the others join it.
  std::string key = absl::StrCat(parsed.ok() ? parsed->WithDefaultTag().String() : image, "\n", caller.namespace_name,
                                 "\n",
                                 Sha256Hex(absl::StrCat(credentials.username, "\n", credentials.password, "\n",
                                                        credentials.auth, "\n", credentials.identity_token, "\n",
                                                        credentials.registry_token)));
  std::shared_ptr<Flight> flight;
  {
    absl::MutexLock lock(&flights_mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) {
      it->second = flight = std::make_shared<Flight>();
      flight->waiters.push_back(Flight::Waiter{caller, start, std::move(done)});
    } else {
      it->second->waiters.push_back(Flight::Waiter{caller, start, std::move(done)});
    }
  }
  // (Tests read these to know that every pull of a burst has reached the enforcer.)
  SIGSHIM_LOG(kDebug, "PullImage ", log::QuoteName(image),
              flight == nullptr ? ": joins the verification in flight" : ": starts a verification");
  if (flight == nullptr) return;
  // Takes the flight's waiters out; later pulls start a verification of their own.
  auto land = [this, key] {
    absl::MutexLock lock(&flights_mu_);
    auto it = flights_.find(key);
    std::vector<Flight::Waiter> waiters = std::move(it->second->waiters);
    flights_.erase(it);
    return waiters;
  };
  // The verification stops once none of the flight's callers waits any more.
  std::shared_ptr<Budget> budget = BudgetFor(caller, [this, flight] {
    absl::MutexLock lock(&flights_mu_);
    for (const Flight::Waiter& w : flight->waiters) {
      if (w.caller.gone == nullptr || !w.caller.gone->load()) return true;
    }
    return flight->waiters.empty();  // Landed: its callers are being answered.
  });
  const bool scheduled = registry([this, image, caller, credentials = std::move(credentials), land, budget] {
    PullOutcome outcome;
    outcome.decision = Verify(image, caller, credentials, *budget);
    std::vector<Flight::Waiter> waiters = land();
    for (size_t i = 0; i < waiters.size(); ++i) {
      waiters[i].done(ConcludePull(waiters[i].caller, waiters[i].start, image, outcome, /*shared=*/i > 0));
    }
  });
  if (!scheduled) {
    for (Flight::Waiter& w : land()) {
      w.done(OverloadedError());
    }
  }
}

absl::StatusOr<PullPlan> Enforcer::DecidePull(const Caller& caller, const std::string& image,
                                              const runtime::v1::AuthConfig& auth) {
  absl::Notification answered;
  absl::StatusOr<PullPlan> answer;
  auto inline_task = [](std::function<void()> task) {
    task();
    return true;
  };
  StartPull(
      caller, image, auth, inline_task, inline_task,
      [&](absl::StatusOr<PullPlan> plan) {
        answer = std::move(plan);
        answered.Notify();
      });
  answered.WaitForNotification();
  return answer;
}

absl::Status Enforcer::FinishPull(const PullPlan& plan) {
  if (plan.tag_name.empty()) return absl::OkStatus();
  absl::StatusOr<containerd::Image> pulled = options_.images->Get(plan.forward_image);
  if (!pulled.ok()) {
    return absl::InternalError(absl::StrCat("tag ", plan.tag_name, ": the pulled image ", plan.forward_image,
                                            " has no containerd record: ", pulled.status().message()));
  }
  if (pulled->target.digest != plan.digest) {
    // Re-pointed between the pull and now (records are names anyone with the socket can move):
    // never make the tag name anything but what was verified.
    return absl::InternalError(absl::StrCat("tag ", plan.tag_name, ": the record ", plan.forward_image, " points at ",
                                            pulled->target.digest, ", not at the verified ", plan.digest));
  }
  containerd::Image tag;
  tag.name = plan.tag_name;
  tag.target = pulled->target;
  tag.labels = pulled->labels;
  tag.labels[std::string(containerd::kCriManagedLabel)] = std::string(containerd::kCriManagedValue);
  absl::StatusOr<containerd::Image> made = containerd::CreateOrUpdate(*options_.images, tag);
  if (!made.ok()) {
    return absl::InternalError(absl::StrCat("tag ", plan.tag_name, " → ", plan.digest, ": ", made.status().message()));
  }
  // The runtime's CRI view follows containerd's image events: wait until it shows the tag, so
  // that kubelet's next ImageStatus by tag finds the image.
  const absl::Time until = Now() + options_.tag_wait;
  absl::Duration pause = absl::Milliseconds(2);
  while (true) {
    absl::StatusOr<std::optional<RuntimeImage>> seen =
        options_.runtime->ImageStatus(plan.tag_name, absl::Now() + kRuntimeTimeout);
    if (seen.ok() && seen->has_value()) {
      for (const std::string& rd : (*seen)->repo_digests) {
        if (absl::EndsWith(rd, plan.digest)) return absl::OkStatus();
      }
    }
    if (Now() >= until) {
      SIGSHIM_LOG(kWarning, "tag ", plan.tag_name, " → ", plan.digest, " made, but the runtime did not show it within ",
                  absl::FormatDuration(options_.tag_wait));
      return absl::OkStatus();
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(100));
  }
}

bool Enforcer::ManifestIsImage(const std::string& digest, const std::string& image_id) {
  {
    absl::MutexLock lock(&manifests_mu_);
    auto it = manifest_images_.find(digest);
    if (it != manifest_images_.end()) {
      return std::find(it->second.begin(), it->second.end(), image_id) != it->second.end();
    }
  }
  // Read outside the lock. Errors (containerd down, content gone) are not cached: the next call
  // asks again, and this one admits nothing on that manifest.
  absl::StatusOr<std::string> bytes = options_.content->Read(digest, kMaxManifestBytes);
  if (!bytes.ok()) {
    SIGSHIM_LOG(kWarning, "cannot read manifest ", digest, " from containerd: ", bytes.status().message());
    return false;
  }
  absl::StatusOr<registry::Manifest> manifest = registry::ParseManifest(*bytes, "");
  if (!manifest.ok()) {
    SIGSHIM_LOG(kWarning, "manifest ", digest, " in containerd does not parse: ", manifest.status().message());
    return false;
  }
  std::vector<std::string> ids;
  bool complete = true;
  if (!manifest->IsIndex()) {
    ids.push_back(manifest->config.digest);
  } else {
    // The manifests of the index that are on the node (a pull keeps only the node's platform).
    size_t read = 0;
    for (const registry::Descriptor& child : manifest->manifests) {
      if (++read > kMaxIndexManifestsRead) break;
      absl::StatusOr<std::string> child_bytes = options_.content->Read(child.digest, kMaxManifestBytes);
      if (!child_bytes.ok()) {
        if (!absl::IsNotFound(child_bytes.status())) complete = false;
        continue;
      }
      absl::StatusOr<registry::Manifest> parsed = registry::ParseManifest(*child_bytes, child.media_type);
      if (parsed.ok() && !parsed->IsIndex()) ids.push_back(parsed->config.digest);
    }
  }
  const bool is_image = std::find(ids.begin(), ids.end(), image_id) != ids.end();
  if (complete) {
    absl::MutexLock lock(&manifests_mu_);
    if (manifest_images_.size() >= kMaxCachedManifests) manifest_images_.clear();
    manifest_images_[digest] = std::move(ids);
  }
  return is_image;
}

std::vector<Enforcer::Candidate> Enforcer::CandidatesOf(const std::string& image, const RuntimeImage& found) {
  std::vector<Candidate> out;
  auto add = [&out](std::string digest, std::string repository) {
    for (const Candidate& c : out) {
      if (c.digest == digest && c.repository == repository) return;
    }
    out.push_back(Candidate{std::move(digest), std::move(repository)});
  };
  // The runtime's repo_digests and repo_tags are containerd's record names, written by whoever
  // made the record (`ctr images tag` writes any name, a digest in it included). Only what a
  // record's target points at is a fact: every name is looked up, and its target digest used.
  std::vector<std::string> names = found.repo_digests;
  names.insert(names.end(), found.repo_tags.begin(), found.repo_tags.end());
  if (std::find(names.begin(), names.end(), image) == names.end()) names.push_back(image);
  std::vector<std::string> repositories;
  for (const std::string& name : names) {
    // An image id ("sha256:<hex>", or its bare hex) names no repository.
    if (absl::StartsWith(name, "sha256:") || name == found.id || found.id == absl::StrCat("sha256:", name)) continue;
    absl::StatusOr<reference::Reference> ref = reference::Parse(name);
    if (!ref.ok()) continue;
    absl::StatusOr<containerd::Image> record = options_.images->Get(ref->String());
    if (!record.ok()) continue;
    if (!ref->digest.empty() && ref->digest != record->target.digest) {
      SIGSHIM_LOG(kWarning, "image record ", ref->String(), " points at ", record->target.digest,
                  ", not at the digest in its name; the target is what is checked");
    }
    // The runtime listed this name for the image a moment ago; the record may have moved since (a
    // concurrent pull re-points tags). Only a manifest that is this very image counts for it.
    if (!ManifestIsImage(record->target.digest, found.id)) {
      SIGSHIM_LOG(kWarning, "image record ", ref->String(), " points at manifest ", record->target.digest,
                  ", which is not image ", found.id, ": not used to admit it");
      continue;
    }
    repositories.push_back(ref->Repository());
    add(record->target.digest, ref->Repository());
  }
  // A manifest reached through the image id alone belongs to each repository the image is known by.
  absl::StatusOr<containerd::Image> by_id = options_.images->Get(found.id);
  if (by_id.ok() && ManifestIsImage(by_id->target.digest, found.id)) {
    for (const std::string& repository : repositories) add(by_id->target.digest, repository);
  }
  return out;
}

absl::Status Enforcer::AdmitPresent(const Caller& caller, const std::string& image, const RuntimeImage& found,
                                    absl::Time start, bool registry_allowed, std::optional<Candidate>* admitted_by) {
  audit::AuditRecord record = RecordFor(caller, start);
  record.image = image;
  std::shared_ptr<const policy::Policy> policy = CurrentPolicy();
  if (policy == nullptr) return absl::UnavailableError("SignatureValidationFailed: no policy is loaded yet");

  // 1. A stored verdict valid under the current policy.
  const std::vector<Candidate> candidates = CandidatesOf(image, found);
  // Why stored verdicts that exist no longer admit it (revoked key, ...): a refusal names them.
  std::vector<std::string> stale;
  for (const Candidate& c : candidates) {
    std::string why;
    if (std::optional<Approval> approval = FindApproval(c.digest, c.repository, caller.namespace_name, &why)) {
      FillFromApproval(c.repository, c.digest, *approval, record);
      if (admitted_by != nullptr) *admitted_by = c;
      return Conclude(caller, record, image);
    }
    if (!why.empty()) stale.push_back(absl::StrCat(c.repository, "@", c.digest, ": ", why));
  }

  // 2. The registry refused it before and an exception admitted it: the exception is judged again
  // now (expiry, revocation), the registry is not asked again.
  for (const Candidate& c : candidates) {
    if (AdmitExcepted(caller, c.digest, c.repository, start, record)) {
      if (admitted_by != nullptr) *admitted_by = Candidate{c.digest, c.repository, /*excepted=*/true};
      return Conclude(caller, record, image, /*governed=*/true);
    }
  }

  // 3. No policy names it, and unmatched images are allowed.
  for (const Candidate& c : candidates) {
    absl::StatusOr<reference::Reference> ref = reference::Parse(absl::StrCat(c.repository, "@", c.digest));
    if (ref.ok() && !policy->Find(*ref, caller.namespace_name).has_value() &&
        policy->unmatched() == config::Unmatched::kAllow) {
      record.image = ref->String();
      record.digest = c.digest;
      record.decision = "allow";
      record.reason = "no [[policy]] matches and [enforcement] unmatched = \"allow\"";
      record.source = "unmatched";
      return Conclude(caller, record, image);
    }
  }
  if (candidates.empty()) {
    record.decision = "deny";
    record.source = "registry";
    record.reason = absl::StrCat("the runtime knows no registry name or manifest digest for image id ", found.id,
                                 ", so no signature can be looked up; pull the image through the CRI instead");
    return Conclude(caller, record, image);
  }

  // 4. The registry, for each manifest in turn: the first accepted one admits the image. All of
  // them within one budget.
  if (!registry_allowed) return NeedsRegistryError();
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    generation = generation_;
  }
  const std::shared_ptr<const std::atomic<bool>> gone = caller.gone;
  std::unique_ptr<Budget> budget = BudgetFor(caller, [gone] { return gone == nullptr || !gone->load(); });
  std::optional<policy::Decision> first_refusal;
  for (const Candidate& c : candidates) {
    policy::Decision d = Verify(absl::StrCat(c.repository, "@", c.digest), caller, registry::Credentials{}, *budget);
    if (d.verdict == policy::Outcome::kAllow) {
      FillFromDecision(d, image, record);
      // Signatures leave a verdict; an exception leaves the registry's refusal, judged again at
      // every call.
      if (d.source == "exception") {
        RememberExcepted(d, c, caller.namespace_name, generation);
        if (admitted_by != nullptr) *admitted_by = Candidate{c.digest, c.repository, /*excepted=*/true};
      } else if (admitted_by != nullptr && !d.policy.empty() && d.source == "registry") {
        *admitted_by = c;
      }
      return Conclude(caller, record, image, /*governed=*/true);
    }
    if (!first_refusal.has_value()) first_refusal = std::move(d);
  }
  FillFromDecision(*first_refusal, image, record);
  if (!stale.empty()) {
    // A stored verdict that admitted it before no longer does (a reload revoked or removed its key,
    // ...): that is the news, whatever the registry said.
    const std::string why = absl::StrCat("its stored verdict no longer admits it (", absl::StrJoin(stale, "; "), ")");
    if (absl::StartsWith(first_refusal->reason, kRegistryUnavailable)) {
      record.reason = absl::StrCat(kRegistryUnavailable, why, ", and the registry could not be asked for other signatures: ",
                                   absl::StripPrefix(first_refusal->reason, kRegistryUnavailable));
    } else {
      record.reason = absl::StrCat(why, ", and the registry does not verify it: ", first_refusal->reason);
    }
  } else if (!first_refusal->policy.empty() && !absl::StartsWith(first_refusal->reason, kRegistryUnavailable)) {
    // A policy that matched but did not accept: say that nothing on the node vouched for it either.
    record.reason = absl::StrCat("no stored verdict, and the registry does not verify it: ", first_refusal->reason);
  }
  // An image id means nothing to a person: name the manifest that was looked up too.
  const std::string subject = image == found.id && !record.image.empty()
                                  ? absl::StrCat(image, " (", record.image, ")")
                                  : DescribeImage(image, first_refusal->digest);
  return Conclude(caller, record, subject, /*governed=*/true);
}

absl::StatusOr<std::string> Enforcer::AdmitImage(const Caller& caller, const std::string& image,
                                                 bool registry_allowed) {
  const absl::Time start = Now();
  absl::StatusOr<std::optional<RuntimeImage>> found = options_.runtime->ImageStatus(image, absl::Now() + kRuntimeTimeout);
  if (!found.ok()) {
    return absl::UnavailableError(absl::StrCat("SignatureValidationFailed: cannot look up image ", image,
                                               " in the runtime: ", found.status().message()));
  }
  if (!found->has_value()) {
    audit::AuditRecord record = RecordFor(caller, start);
    record.image = image;
    record.decision = "deny";
    record.source = "registry";
    record.reason = "the image is not on the node: nothing to verify";
    absl::Status s = Conclude(caller, record, image);
    if (!s.ok()) return absl::NotFoundError(s.message());
    return image;  // Audit mode: forwarded as asked; the runtime answers.
  }
  std::optional<Candidate> admitted_by;
  RETURN_IF_ERROR(AdmitPresent(caller, image, **found, start, registry_allowed, &admitted_by));
  if (admitted_by.has_value() && image == (*found)->id) {
    // Remembered for AdmitFromCache: the next container of this image id in this namespace needs
    // no runtime call.
    absl::MutexLock lock(&mu_);
    const policy::Rule* rule =
        policy_ == nullptr ? nullptr : RuleFor(*policy_, admitted_by->digest, admitted_by->repository, caller.namespace_name);
    if (admitted_by->excepted) {
      if (excepted_.contains(ExceptedKey{admitted_by->digest, admitted_by->repository, caller.namespace_name})) {
        admitted_ids_[{image, caller.namespace_name}] =
            AdmittedId{generation_, ApprovalKey{admitted_by->digest, admitted_by->repository, 0}, /*excepted=*/true};
      }
    } else if (rule != nullptr) {
      const ApprovalKey key{admitted_by->digest, admitted_by->repository, rule->index};
      if (approvals_.contains(key)) admitted_ids_[{image, caller.namespace_name}] = AdmittedId{generation_, key};
    }
  }
  // Pinned to the id that was checked: a name moved meanwhile cannot swap the content.
  return (*found)->id;
}

std::optional<audit::AuditRecord> Enforcer::AdmitFromCache(const Caller& caller, const std::string& image) {
  const absl::Time start = Now();
  audit::AuditRecord record = RecordFor(caller, start);
  std::optional<ApprovalKey> excepted;
  {
    absl::MutexLock lock(&mu_);
    // Keyed by namespace: a verdict that admits the image in one namespace says nothing about
    // another, whose policy may trust other identities.
    auto it = admitted_ids_.find(std::make_pair(image, caller.namespace_name));
    if (it == admitted_ids_.end()) return std::nullopt;
    const AdmittedId& admitted = it->second;
    if (admitted.generation != generation_) {
      admitted_ids_.erase(it);
      return std::nullopt;
    }
    if (admitted.excepted) {
      excepted = admitted.approval;
    } else {
      auto approval = approvals_.find(admitted.approval);
      if (approval == approvals_.end() || start > approval->second.valid_until) {
        admitted_ids_.erase(it);
        return std::nullopt;
      }
      FillFromApproval(std::get<1>(admitted.approval), std::get<0>(admitted.approval), approval->second, record);
    }
  }
  if (excepted.has_value() &&
      !AdmitExcepted(caller, std::get<0>(*excepted), std::get<1>(*excepted), start, record)) {
    absl::MutexLock lock(&mu_);
    admitted_ids_.erase(std::make_pair(image, caller.namespace_name));
    return std::nullopt;
  }
  record.latency = Now() - start;
  return record;
}

void Enforcer::RememberPulled(const PullPlan& plan, const std::string& image_id) {
  if (plan.digest.empty() || image_id.empty()) return;
  absl::StatusOr<reference::Reference> ref = reference::Parse(plan.forward_image);
  if (!ref.ok() || ref->digest != plan.digest) return;
  absl::MutexLock lock(&mu_);
  if (policy_ == nullptr) return;
  const policy::Rule* rule = RuleFor(*policy_, plan.digest, ref->Repository(), plan.namespace_name);
  if (rule == nullptr) return;
  const ApprovalKey key{plan.digest, ref->Repository(), rule->index};
  if (!approvals_.contains(key)) return;
  // The id is the digest of the config of the manifest the runtime just pulled by digest.
  admitted_ids_[{image_id, plan.namespace_name}] = AdmittedId{generation_, key};
}

void Enforcer::Report(const audit::AuditRecord& record) {
  if (options_.on_decision) options_.on_decision(record);
}

absl::Status Enforcer::AdmitSandbox(const Caller& caller, bool registry_allowed) {
  const absl::Time start = Now();
  std::string configured;
  {
    absl::MutexLock lock(&mu_);
    configured = sandbox_image_;
  }
  // What the runtime will start: the image its configuration names.
  // A runtime that does not say (only containerd is known to) is taken to start the configured one.
  absl::StatusOr<std::string> reported = options_.runtime->SandboxImage(absl::Now() + kRuntimeTimeout);
  if (!reported.ok() && configured.empty()) {
    return absl::UnknownError(absl::StrCat("SignatureValidationFailed: cannot tell which sandbox image the runtime "
                                           "will start (name it in [enforcement] sandbox_image): ",
                                           reported.status().message()));
  }
  const std::string image = reported.ok() ? *reported : configured;
  absl::StatusOr<reference::Reference> runtime_ref = reference::Parse(image);
  absl::StatusOr<reference::Reference> pin = reference::Parse(configured.empty() ? image : configured);
  if (!runtime_ref.ok() || !pin.ok()) {
    return absl::UnknownError(absl::StrCat("SignatureValidationFailed: sandbox image ", image,
                                           ": not an image reference: ",
                                           (!runtime_ref.ok() ? runtime_ref.status() : pin.status()).message()));
  }
  absl::StatusOr<std::optional<RuntimeImage>> found = options_.runtime->ImageStatus(image, absl::Now() + kRuntimeTimeout);
  if (!found.ok()) {
    return absl::UnavailableError(absl::StrCat("SignatureValidationFailed: cannot look up sandbox image ", image,
                                               " in the runtime: ", found.status().message()));
  }
  audit::AuditRecord record = RecordFor(caller, start);
  record.image = runtime_ref->String();
  record.source = "config";

  if (!pin->digest.empty()) {
    // Pinned by digest ([enforcement] sandbox_image, or the runtime's own configuration): trusted
    // as written, but only for the manifest it names.
    const std::string where = configured.empty() ? "the runtime's configuration" : "[enforcement] sandbox_image";
    record.digest = pin->digest;
    if (found->has_value()) {
      const std::vector<std::string> digests = DigestsIn(CandidatesOf(image, **found));
      if (std::find(digests.begin(), digests.end(), pin->digest) != digests.end()) {
        record.decision = "allow";
        record.reason = absl::StrCat("sandbox image pinned by digest in ", where);
        return Conclude(caller, record, image);
      }
      record.decision = "deny";
      record.reason = absl::StrCat("the runtime's sandbox image ", image, " is ",
                                   digests.empty() ? "of unknown digest" : absl::StrJoin(digests, ", "),
                                   ", not the ", pin->digest, " pinned in ", where);
      return Conclude(caller, record, image);
    }
    if (runtime_ref->digest == pin->digest) {
      // Not on the node yet; the runtime pulls exactly the pinned manifest.
      record.decision = "allow";
      record.reason = absl::StrCat("sandbox image pinned by digest in ", where);
      return Conclude(caller, record, image);
    }
    // The runtime would pull it by its name: put the pinned manifest under that name first.
    if (!registry_allowed) return NeedsRegistryError();
    const std::string pinned = absl::StrCat(pin->Repository(), "@", pin->digest);
    absl::StatusOr<std::string> pulled =
        options_.runtime->PullImage(pinned, runtime::v1::AuthConfig{}, absl::Now() + kSandboxPullTimeout);
    if (!pulled.ok()) {
      return absl::UnavailableError(absl::StrCat("pulling sandbox image ", pinned, ": ", pulled.status().message()));
    }
    RETURN_IF_ERROR(FinishPull(PullPlan{pinned, runtime_ref->WithDefaultTag().String(), pin->digest, caller.namespace_name}));
    record.decision = "allow";
    record.reason = absl::StrCat("sandbox image pinned by digest in ", where, "; pulled as ", pinned);
    return Conclude(caller, record, image);
  }

  if (!configured.empty() && pin->WithDefaultTag().String() != runtime_ref->WithDefaultTag().String()) {
    record.decision = "deny";
    record.reason = absl::StrCat("the runtime starts ", runtime_ref->String(), " as its sandbox image, but "
                                 "[enforcement] sandbox_image names ", pin->String());
    return Conclude(caller, record, image);
  }
  if (found->has_value()) return AdmitPresent(caller, image, **found, start, registry_allowed);
  // Not on the node: the runtime would pull it by name. Pull it now, verified and pinned.
  if (!registry_allowed) return NeedsRegistryError();
  absl::StatusOr<PullPlan> plan = DecidePull(caller, image, runtime::v1::AuthConfig{});
  if (!plan.ok()) return plan.status();
  absl::StatusOr<std::string> pulled =
      options_.runtime->PullImage(plan->forward_image, runtime::v1::AuthConfig{}, absl::Now() + kSandboxPullTimeout);
  if (!pulled.ok()) {
    return absl::UnavailableError(absl::StrCat("pulling sandbox image ", plan->forward_image, ": ", pulled.status().message()));
  }
  return FinishPull(*plan);
}

absl::Status Enforcer::RefuseOverlongImage(const Caller& caller, const std::string& shown, size_t size) {
  audit::AuditRecord record = RecordFor(caller, Now());
  record.image = shown;
  record.decision = "error";
  record.source = "registry";
  record.reason = absl::StrCat("InvalidReference: the image name is ", size, " bytes long; an image reference has at most ",
                               reference::kMaxReferenceLength);
  return Conclude(caller, record, log::QuoteName(shown, 256));
}

std::vector<std::string> Enforcer::DigestsOf(const std::string& image) {
  absl::StatusOr<std::optional<RuntimeImage>> found = options_.runtime->ImageStatus(image, absl::Now() + kRuntimeTimeout);
  if (!found.ok() || !found->has_value()) return {};
  return DigestsIn(CandidatesOf(image, **found));
}

void Enforcer::ForgetDigests(const std::vector<std::string>& digests) {
  for (const std::string& digest : digests) {
    absl::Status removed = options_.store->RemoveDigest(digest);
    if (!removed.ok()) SIGSHIM_LOG(kError, "verdicts for ", digest, " not removed: ", removed.message());
    absl::MutexLock lock(&mu_);
    absl::erase_if(approvals_, [&](const auto& entry) { return std::get<0>(entry.first) == digest; });
    absl::erase_if(rejections_, [&](const auto& entry) { return std::get<0>(entry.first) == digest; });
    absl::erase_if(admitted_ids_, [&](const auto& entry) { return std::get<0>(entry.second.approval) == digest; });
    absl::erase_if(excepted_, [&](const auto& entry) { return std::get<0>(entry.first) == digest; });
  }
}

}  // namespace sigshim::shim
