// The ImageVerifier over a RegistryClient (see image_verifier.h for the contract).
#ifndef SIGSHIM_PKG_POLICY_IMAGE_VERIFIER_IMPL_H_
#define SIGSHIM_PKG_POLICY_IMAGE_VERIFIER_IMPL_H_

#include <memory>
#include <optional>
#include <utility>

#include "pkg/policy/image_verifier.h"
#include "pkg/registry/referrers.h"

namespace sigshim::policy {

class RegistryImageVerifier final : public ImageVerifier {
 public:
  // `options` has been validated by ImageVerifier::Create.
  explicit RegistryImageVerifier(ImageVerifierOptions options) : options_(std::move(options)) {}

  Decision Decide(const Policy& policy, const VerifyRequest& request) const override;

 private:
  // Fills `decision` for an image `rule` matched: resolve, fetch, evaluate the signed statements
  // (before audit mode), every registry request within `budget` (may be null). `now` is the time
  // of the decision, for key validity windows when a signing time is not proven. When `resolved`
  // is not null and the tag was resolved, receives the manifest it resolved to.
  void DecideMatched(const Rule& rule, const reference::Reference& image, const registry::Credentials& credentials,
                     const Budget* budget, absl::Time now, Decision& decision,
                     std::optional<registry::FetchedManifest>* resolved = nullptr) const;

  const ImageVerifierOptions options_;
  // Which registries answered the referrers API, so that later lookups there skip the referrers
  // tag (pkg/registry/referrers.h). Thread-safe.
  const std::unique_ptr<registry::ReferrersApiMemory> referrers_api_ = std::make_unique<registry::ReferrersApiMemory>();
};

}  // namespace sigshim::policy

#endif  // SIGSHIM_PKG_POLICY_IMAGE_VERIFIER_IMPL_H_
