#include "pkg/verify/identity.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pkg/base/status_macros.h"

namespace sigshim::verify {
namespace {

absl::Status Mismatch(absl::string_view signed_text, absl::string_view image_text,
                      const IdentityRule& rule, absl::string_view detail = "") {
  return absl::PermissionDeniedError(absl::StrCat("reference mismatch: payload names ", signed_text,
                                                  ", image is ", image_text, " (",
                                                  IdentityKindName(rule.kind), detail, ")"));
}

absl::Status CheckPrefix(absl::string_view prefix, absl::string_view what) {
  if (prefix.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("remapIdentity ", what, " is empty"));
  }
  for (char c : prefix) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '@') {
      return absl::InvalidArgumentError(
          absl::StrCat("remapIdentity ", what, " \"", prefix, "\" must be a repository prefix"));
    }
  }
  if (absl::EndsWith(prefix, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("remapIdentity ", what, " \"", prefix, "\" must not end with '/'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view IdentityKindName(IdentityRule::Kind kind) {
  switch (kind) {
    case IdentityRule::Kind::kMatchRepository:
      return "matchRepository";
    case IdentityRule::Kind::kMatchExact:
      return "matchExact";
    case IdentityRule::Kind::kExactReference:
      return "exactReference";
    case IdentityRule::Kind::kRemapIdentity:
      return "remapIdentity";
  }
  return "unknown";
}

absl::Status ValidateIdentityRule(const IdentityRule& rule) {
  switch (rule.kind) {
    case IdentityRule::Kind::kMatchRepository:
    case IdentityRule::Kind::kMatchExact:
      return absl::OkStatus();
    case IdentityRule::Kind::kExactReference: {
      absl::StatusOr<reference::Reference> parsed = reference::Parse(rule.reference);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("exactReference identity: ", parsed.status().message()));
      }
      if (parsed->tag.empty() || !parsed->digest.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "exactReference identity \"", rule.reference, "\" must carry a tag and no digest"));
      }
      return absl::OkStatus();
    }
    case IdentityRule::Kind::kRemapIdentity:
      RETURN_IF_ERROR(CheckPrefix(rule.prefix, "prefix"));
      return CheckPrefix(rule.signed_prefix, "signed prefix");
  }
  return absl::InvalidArgumentError("unknown identity rule kind");
}

absl::Status MatchIdentity(const IdentityRule& rule, absl::string_view signed_reference,
                           const reference::Reference& image) {
  absl::StatusOr<reference::Reference> signed_ref = reference::Parse(signed_reference);
  if (!signed_ref.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("payload docker-reference is not a valid image "
                                                    "reference: ", signed_ref.status().message()));
  }
  switch (rule.kind) {
    case IdentityRule::Kind::kMatchRepository:
      if (signed_ref->Repository() != image.Repository()) {
        return Mismatch(signed_ref->Repository(), image.Repository(), rule);
      }
      return absl::OkStatus();
    case IdentityRule::Kind::kMatchExact:
      if (signed_ref->tag.empty()) {
        return Mismatch(signed_ref->String(), image.String(), rule,
                        "; the signed reference has no tag");
      }
      if (image.tag.empty()) {
        return Mismatch(signed_ref->String(), image.String(), rule, "; the image reference has no tag");
      }
      if (signed_ref->String() != image.String()) {
        return Mismatch(signed_ref->String(), image.String(), rule);
      }
      return absl::OkStatus();
    case IdentityRule::Kind::kExactReference: {
      absl::StatusOr<reference::Reference> required = reference::Parse(rule.reference);
      if (!required.ok()) return required.status();
      if (signed_ref->String() != required->String()) {
        return absl::PermissionDeniedError(
            absl::StrCat("reference mismatch: payload names ", signed_ref->String(),
                         ", the policy requires exactly ", required->String(), " (exactReference)"));
      }
      return absl::OkStatus();
    }
    case IdentityRule::Kind::kRemapIdentity: {
      std::string repository = image.Repository();
      absl::string_view rest = repository;
      // The prefix's host part compares without case, as the image's (lowercase) domain does.
      std::string prefix = rule.prefix;
      const size_t host_end = std::min(prefix.find('/'), prefix.size());
      for (size_t i = 0; i < host_end; ++i) prefix[i] = absl::ascii_tolower(static_cast<unsigned char>(prefix[i]));
      if (!absl::ConsumePrefix(&rest, prefix) || !(rest.empty() || rest[0] == '/')) {
        // Outside the remapped namespace the rule behaves as matchRepository.
        if (signed_ref->Repository() != repository) {
          return Mismatch(signed_ref->Repository(), repository, rule);
        }
        return absl::OkStatus();
      }
      std::string remapped = absl::StrCat(rule.signed_prefix, rest);
      absl::StatusOr<reference::Reference> remapped_ref = reference::Parse(remapped);
      if (!remapped_ref.ok()) {
        return absl::PermissionDeniedError(absl::StrCat("image ", repository, " remapped to ", remapped,
                                                        " is not a valid reference: ",
                                                        remapped_ref.status().message()));
      }
      if (signed_ref->Repository() != remapped_ref->Repository()) {
        return Mismatch(signed_ref->Repository(), absl::StrCat(repository, " (remapped to ",
                                                               remapped_ref->Repository(), ")"),
                        rule);
      }
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unknown identity rule kind");
}

}  // namespace sigshim::verify
