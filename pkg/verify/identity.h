// Which signed docker-reference is acceptable for an image: the identity part of a signature check.
#ifndef SIGSHIM_PKG_VERIFY_IDENTITY_H_
#define SIGSHIM_PKG_VERIFY_IDENTITY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "pkg/reference/reference.h"

namespace sigshim::verify {

// How the payload's critical.identity.docker-reference must relate to the image being checked.
struct IdentityRule {
  enum class Kind {
    // The signed reference names the image's repository after normalisation; tags and digests on
    // either side are ignored. cosign's own signatures carry a name-only reference.
    kMatchRepository,
    // Both the signed reference and the image reference carry a tag, and the two are equal after
    // normalisation. A name-only reference on either side never matches.
    kMatchExact,
    // The signed reference equals `reference` (normalised, with a tag) whatever the image is.
    kExactReference,
    // The image repository, with the leading `prefix` replaced by `signed_prefix`, must be the
    // signed repository (as kMatchRepository): images pulled through a mirror, signed under their
    // original name.
    kRemapIdentity,
  };
  Kind kind = Kind::kMatchRepository;  // default: same repository
  std::string reference;      // kExactReference only: e.g. "registry.example.com/app:v1"
  std::string prefix;         // kRemapIdentity only: a normalised repository prefix, e.g. "mirror.local/hub"
  std::string signed_prefix;  // kRemapIdentity only: what replaces `prefix`, e.g. "docker.io"
};

// Returns a short name for messages: "matchRepository", "matchExact", "exactReference", "remapIdentity".
absl::string_view IdentityKindName(IdentityRule::Kind kind);

// Checks that `rule` can be applied: kExactReference needs a parsable reference with a tag and no
// digest; kRemapIdentity needs two non-empty prefixes without tag, digest or spaces. InvalidArgument
// naming the problem otherwise (a configuration error, not a verdict).
absl::Status ValidateIdentityRule(const IdentityRule& rule);

// Returns OK when `signed_reference` (as written in a payload) satisfies `rule` for `image`;
// PermissionDenied with a message for a person otherwise, e.g. "reference mismatch: payload names
// docker.io/a/b, image is docker.io/c/d (matchRepository)". `rule` must have passed
// ValidateIdentityRule; an unparsable signed reference is PermissionDenied too.
absl::Status MatchIdentity(const IdentityRule& rule, absl::string_view signed_reference,
                           const reference::Reference& image);

}  // namespace sigshim::verify

#endif  // SIGSHIM_PKG_VERIFY_IDENTITY_H_
