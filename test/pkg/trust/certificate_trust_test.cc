// CertificateTrustFor: a trust root's material decoded once, when the policy is built, for every
// verification under it to share.
#include "pkg/trust/certificate_trust.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/trust/trusted_root_json.h"
#include "test/pkg/trust/test_files.h"

namespace sigshim::trust {
namespace {

using ::sigshim::trust::testing::kTrustedRoots;
using ::sigshim::trust::testing::Read;
using ::testing::HasSubstr;
using ::testing::SizeIs;

TrustRoot PublicGood() {
  absl::StatusOr<TrustRoot> root =
      ParseTrustedRoot(Read(std::string(kTrustedRoots) + "public-good.json"), "public-good.json");
  EXPECT_TRUE(root.ok()) << root.status();
  TrustRoot out = root.ok() ? *std::move(root) : TrustRoot{};
  out.name = "sigstore";
  return out;
}

TEST(CertificateTrustFor, DecodesTheCtLogKeysAndTimestampAuthorityChainsWhenBuilt) {
  TrustRoot root = PublicGood();
  ASSERT_THAT(root.ct_logs, SizeIs(2));
  ASSERT_THAT(root.timestamp_authorities, SizeIs(1));
  absl::StatusOr<verify::CertificateTrust> trust = CertificateTrustFor(root);
  ASSERT_TRUE(trust.ok()) << trust.status();
  ASSERT_NE(trust->ct_logs, nullptr);
  EXPECT_EQ(trust->ct_logs->size(), 2u);
  const verify::CtLogs::Log* log = trust->ct_logs->Find(root.ct_logs[1].log_id);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->name, "https://ctfe.sigstore.dev/2022");
  EXPECT_NE(log->key, nullptr);
  ASSERT_THAT(trust->timestamp_authorities, SizeIs(1));
  EXPECT_NE(trust->timestamp_authorities[0].parsed, nullptr);
  ASSERT_NE(trust->certificate_authorities, nullptr);
  EXPECT_EQ(trust->certificate_authorities->RootCount(), root.certificate_authorities.size());
}

TEST(CertificateTrustFor, RootWithoutCtLogsChecksNoScts) {
  TrustRoot root = PublicGood();
  root.ct_logs.clear();
  absl::StatusOr<verify::CertificateTrust> trust = CertificateTrustFor(root);
  ASSERT_TRUE(trust.ok()) << trust.status();
  EXPECT_EQ(trust->ct_logs, nullptr);
}

TEST(CertificateTrustFor, RefusesACtLogWhoseIdIsNotItsKeyWhenBuilt) {
  // Found when the policy is built, not at the first keyless signature.
  TrustRoot root = PublicGood();
  root.ct_logs[1].log_id = root.ct_logs[0].log_id;
  absl::StatusOr<verify::CertificateTrust> trust = CertificateTrustFor(root);
  ASSERT_FALSE(trust.ok());
  EXPECT_EQ(trust.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(trust.status().message()), HasSubstr("trust root \"sigstore\": CT log "));
  EXPECT_THAT(std::string(trust.status().message()), HasSubstr("is not the SHA-256 of its key"));
}

TEST(CertificateTrustFor, RefusesATimestampAuthorityWhoseChainDoesNotDecodeWhenBuilt) {
  TrustRoot root = PublicGood();
  root.timestamp_authorities[0].chain_der[0] = "not a certificate";
  absl::StatusOr<verify::CertificateTrust> trust = CertificateTrustFor(root);
  ASSERT_FALSE(trust.ok());
  EXPECT_EQ(trust.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(trust.status().message()), HasSubstr("trust root \"sigstore\": timestamp authority "));
}

}  // namespace
}  // namespace sigshim::trust
