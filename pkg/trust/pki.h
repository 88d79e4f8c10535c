// A private PKI's trust root, from PEM files.
#ifndef SIGSHIM_PKG_TRUST_PKI_H_
#define SIGSHIM_PKG_TRUST_PKI_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "pkg/trust/trust_root.h"

namespace sigshim::trust {

// One PEM file: where it came from (for messages and TrustRoot::source) and its text.
struct PemFile {
  std::string source;
  std::string text;
};

struct PkiFiles {
  // CERTIFICATE blocks, each a CA certificate (basicConstraints CA:TRUE): the trust anchors.
  // Required.
  PemFile ca_roots;
  // CERTIFICATE blocks, each a CA certificate: intermediates chain building may use. Default none.
  std::optional<PemFile> ca_intermediates;
  // One TSA chain: its leaf first (which must have the timeStamping extended key usage), then
  // its intermediates, its root last (each a CA certificate). Default none.
  std::optional<PemFile> timestamp_authorities;
  // PUBLIC KEY blocks, one per trusted Rekor log. Default none.
  std::optional<PemFile> rekor_keys;
};

// Builds a TrustRoot of kind kPrivatePki from `files` (each decoded by DecodePemBundle): one
// certificate authority per ca_roots certificate, its chain every ca_intermediates certificate
// then that root, valid over the root's notBefore..notAfter; one timestamp authority, valid over
// the intersection of its certificates' validity; one transparency log per rekor_keys key, its
// log id the SHA-256 of the DER key (as Rekor computes it), valid always, with no URL. The root
// requires a transparency log when it lists one. No name or origin.
// InvalidArgument "<source>: <problem>" (e.g. "roots.pem: block 2 (line 14): certificate CN=x is
// not a CA certificate …") on anything that does not decode or does not fit its role.
absl::StatusOr<TrustRoot> LoadPkiTrustRoot(const PkiFiles& files);

}  // namespace sigshim::trust

#endif  // SIGSHIM_PKG_TRUST_PKI_H_
