#include "pkg/verify/verifier.h"

#include "absl/strings/str_cat.h"

namespace sigshim::verify {
namespace {

std::string ShortDigest(const std::string& digest) {
  if (digest.empty()) return "(no layer digest)";
  return digest.size() > 7 + 12 ? absl::StrCat(digest.substr(0, 7 + 12), "…") : digest;
}

}  // namespace

std::string ImageVerdict::Explain() const {
  if (accepted && accepted_by.has_value()) {
    std::string out = absl::StrCat("accepted: signature ", ShortDigest(accepted_by->layer_digest),
                                   " by key ", accepted_by->key_description, " for ",
                                   accepted_by->payload.docker_reference);
    if (accepted_by->rekor.has_value()) {
      absl::StrAppend(&out, ", logged in Rekor at index ", accepted_by->rekor->log_index);
    }
    return out;
  }
  if (rejected.empty()) {
    return absl::StrCat("no signature: the signature manifest holds no ",
                        kSimpleSigningMediaType, " layer",
                        ignored_layers == 0   ? ""
                        : ignored_layers == 1 ? " (1 other layer ignored)"
                                              : absl::StrCat(" (", ignored_layers, " other layers ignored)"));
  }
  std::string out = rejected.size() == 1
                        ? std::string("the only signature is not acceptable:")
                        : absl::StrCat("none of ", rejected.size(), " signatures is acceptable:");
  for (size_t i = 0; i < rejected.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? " " : "; ", "[", i + 1, "] ",
                    ShortDigest(rejected[i].layer_digest), ": ", rejected[i].reason);
  }
  if (unchecked_signatures > 0) {
    absl::StrAppend(&out, "; ", unchecked_signatures,
                    " further signatures were not checked (limit reached)");
  }
  return out;
}

}  // namespace sigshim::verify
