#include "pkg/base/digest.h"

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"

namespace sigshim {

std::string Sha256Hex(absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string Sha256Digest(absl::string_view data) { return absl::StrCat("sha256:", Sha256Hex(data)); }

absl::Status ValidateDigest(absl::string_view digest) {
  constexpr absl::string_view kPrefix = "sha256:";
  if (digest.substr(0, kPrefix.size()) != kPrefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest \"", digest.substr(0, 80), "\" does not use the sha256 algorithm"));
  }
  absl::string_view hex = digest.substr(kPrefix.size());
  if (hex.size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat("digest \"", digest.substr(0, 80),
                                                   "\" must have 64 hex characters, has ", hex.size()));
  }
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError(
          absl::StrCat("digest \"", digest, "\" has a character that is not lowercase hex"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDigest(absl::string_view data, absl::string_view expected) {
  std::string actual = Sha256Digest(data);
  if (actual != expected) {
    return absl::DataLossError(
        absl::StrCat("content digest is ", actual, " but ", expected, " was expected"));
  }
  return absl::OkStatus();
}

}  // namespace sigshim
