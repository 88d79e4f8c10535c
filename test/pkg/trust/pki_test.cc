#include "pkg/trust/pki.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/trust/pem_bundle.h"
#include "test/pkg/trust/test_files.h"

namespace sigshim::trust {
namespace {

using ::sigshim::trust::testing::kCosignTrust;
using ::sigshim::trust::testing::kPki;
using ::sigshim::trust::testing::PemBlocks;
using ::sigshim::trust::testing::Read;
using ::testing::HasSubstr;
using ::testing::SizeIs;

PemFile File(const std::string& dir, const std::string& name) { return PemFile{name, Read(dir + name)}; }

absl::Time Utc(int y, int m, int d, int hh, int mm, int ss) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

TEST(LoadPkiTrustRoot, TurnsEachRootIntoAnAuthorityWithTheIntermediatesAndTheRootsValidity) {
  PkiFiles files;
  files.ca_roots = File(kCosignTrust, "pki_root_crts.pem");
  files.ca_intermediates = File(kCosignTrust, "pki_intermediate_crts.pem");
  absl::StatusOr<TrustRoot> root = LoadPkiTrustRoot(files);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->kind, TrustRootKind::kPrivatePki);
  EXPECT_THAT(root->source, ::testing::ElementsAre("pki_root_crts.pem", "pki_intermediate_crts.pem"));
  EXPECT_FALSE(root->require_transparency_log);
  EXPECT_THAT(root->transparency_logs, ::testing::IsEmpty());
  ASSERT_THAT(root->certificate_authorities, SizeIs(1));
  const CertificateAuthority& ca = root->certificate_authorities[0];
  EXPECT_THAT(ca.chain_der, SizeIs(2));
  EXPECT_EQ(ca.subject, "CN=Linuxera Root Certificate Authority, O=IT");
  // The root's notBefore (Oct  1 14:28:40 2024 GMT) and notAfter (Feb 16 14:28:40 2052 GMT), inclusive.
  EXPECT_EQ(ca.valid_for.start, Utc(2024, 10, 1, 14, 28, 40));
  EXPECT_EQ(ca.valid_for.end, Utc(2052, 2, 16, 14, 28, 40));
  EXPECT_THAT(root->CertificateAuthoritiesAt(Utc(2052, 2, 16, 14, 28, 40)), SizeIs(1));
  EXPECT_THAT(root->CertificateAuthoritiesAt(Utc(2052, 2, 16, 14, 28, 41)), ::testing::IsEmpty());
}

TEST(LoadPkiTrustRoot, ReadsATimestampAuthorityChainValidWhileAllItsCertificatesAre) {
  PkiFiles files;
  files.ca_roots = File(kCosignTrust, "pki_root_crts.pem");
  files.timestamp_authorities = File(kPki, "tsa-chain.pem");
  absl::StatusOr<TrustRoot> root = LoadPkiTrustRoot(files);
  ASSERT_TRUE(root.ok()) << root.status();
  ASSERT_THAT(root->timestamp_authorities, SizeIs(1));
  const CertificateAuthority& tsa = root->timestamp_authorities[0];
  EXPECT_THAT(tsa.chain_der, SizeIs(3));
  EXPECT_EQ(tsa.subject, "CN=TSA Root, O=sigshim test");
  // The leaf is valid 10 years, the CAs 100: the window is the leaf's.
  EXPECT_LT(tsa.valid_for.end - tsa.valid_for.start, absl::Hours(24 * 3651));
  EXPECT_GT(tsa.valid_for.end - tsa.valid_for.start, absl::Hours(24 * 3649));
}

TEST(LoadPkiTrustRoot, TrustsRekorKeysUnderTheLogIdRekorComputes) {
  PkiFiles files;
  files.ca_roots = File(kCosignTrust, "pki_root_crts.pem");
  files.rekor_keys = File(kCosignTrust, "rekor.pub");
  absl::StatusOr<TrustRoot> root = LoadPkiTrustRoot(files);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_TRUE(root->require_transparency_log);
  ASSERT_THAT(root->transparency_logs, SizeIs(1));
  // cosign's rekor.pub is the public-good Rekor key: the id public-good.json lists for it.
  EXPECT_EQ(root->transparency_logs[0].LogIdHex(), "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
  EXPECT_EQ(root->transparency_logs[0].valid_for.start, absl::InfinitePast());
  EXPECT_EQ(root->transparency_logs[0].valid_for.end, absl::InfiniteFuture());
  EXPECT_NE(root->FindTransparencyLog(root->transparency_logs[0].log_id), nullptr);
  EXPECT_THAT(root->Describe(), HasSubstr("  tlog (no URL) ecdsa-p256-sha256 sha256:c0d23d6a"));

  files.rekor_keys->text = Read(std::string(kCosignTrust) + "rekor.pub") + Read(std::string(kCosignTrust) + "rekor.pub");
  absl::StatusOr<TrustRoot> twice = LoadPkiTrustRoot(files);
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(), HasSubstr("rekor.pub: key 2 is listed twice"));
}

TEST(LoadPkiTrustRoot, RefusesARootThatIsNoCa) {
  PkiFiles files;
  files.ca_roots = PemFile{"roots.pem", Read(std::string(kCosignTrust) + "pki_root_crts.pem") +
                                            PemBlocks(Read(std::string(kPki) + "tsa-chain.pem"))[0]};
  absl::StatusOr<TrustRoot> root = LoadPkiTrustRoot(files);
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(root.status().message(),
              HasSubstr("roots.pem: certificate 2 (CN=TSA Leaf, O=sigshim test) is not a CA certificate"));
}

TEST(LoadPkiTrustRoot, RefusesAnIntermediateThatIsNoCa) {
  PkiFiles files;
  files.ca_roots = File(kCosignTrust, "pki_root_crts.pem");
  files.ca_intermediates = PemFile{"inter.pem", PemBlocks(Read(std::string(kPki) + "tsa-chain.pem"))[0]};
  absl::StatusOr<TrustRoot> root = LoadPkiTrustRoot(files);
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(root.status().message(), HasSubstr("inter.pem: certificate 1 (CN=TSA Leaf, O=sigshim test) is not a CA"));
}

TEST(LoadPkiTrustRoot, RefusesATimestampLeafWithoutTheTimeStampingUsage) {
  PkiFiles files;
  files.ca_roots = File(kCosignTrust, "pki_root_crts.pem");
  files.timestamp_authorities = File(kPki, "tsa-chain-without-eku.pem");
  absl::StatusOr<TrustRoot> root = LoadPkiTrustRoot(files);
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(root.status().message(),
              HasSubstr("tsa-chain-without-eku.pem: certificate 1 (CN=TSA Leaf, O=sigshim test) is not a timestamp "
                        "authority's leaf: it lacks the timeStamping extended key usage"));
}

TEST(LoadPkiTrustRoot, RefusesATimestampChainInTheWrongOrder) {
  const std::vector<std::string> chain = PemBlocks(Read(std::string(kPki) + "tsa-chain.pem"));
  PkiFiles files;
  files.ca_roots = File(kCosignTrust, "pki_root_crts.pem");
  files.timestamp_authorities = PemFile{"tsa.pem", chain[0] + chain[0] + chain[2]};
  absl::StatusOr<TrustRoot> root = LoadPkiTrustRoot(files);
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(root.status().message(), HasSubstr("tsa.pem: certificate 2 (CN=TSA Leaf, O=sigshim test) is not a CA"));
}

TEST(LoadPkiTrustRoot, RefusesKeysAndCertificatesInEachOthersPlace) {
  PkiFiles files;
  files.ca_roots = File(kCosignTrust, "rekor.pub");
  absl::StatusOr<TrustRoot> root = LoadPkiTrustRoot(files);
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(root.status().message(),
              HasSubstr("rekor.pub: block 1 (line 1): a PUBLIC KEY block where CERTIFICATE blocks are expected"));
  files.ca_roots = File(kCosignTrust, "pki_root_crts.pem");
  files.rekor_keys = File(kCosignTrust, "pki_root_crts.pem");
  root = LoadPkiTrustRoot(files);
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(root.status().message(), HasSubstr("a CERTIFICATE block where PUBLIC KEY blocks are expected"));
}

TEST(LoadPkiTrustRoot, RefusesGarbageCertificates) {
  PkiFiles files;
  files.ca_roots = PemFile{"roots.pem", "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n"};
  absl::StatusOr<TrustRoot> root = LoadPkiTrustRoot(files);
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(root.status().message(), HasSubstr("roots.pem: certificate 1: not an X.509 certificate"));
}

TEST(DecodePemBundle, ReadsEveryBlockWithBlankLinesAround) {
  const std::string chain = Read(std::string(kPki) + "tsa-chain.pem");
  const std::vector<std::string> blocks = PemBlocks(chain);
  absl::StatusOr<std::vector<std::string>> der =
      DecodePemBundle("\n\n" + blocks[0] + "\n  \n" + blocks[1] + blocks[2] + "\n", "CERTIFICATE");
  ASSERT_TRUE(der.ok()) << der.status();
  EXPECT_THAT(*der, SizeIs(3));
}

TEST(DecodePemBundle, RefusesTextBeforeOrBetweenBlocks) {
  const std::vector<std::string> blocks = PemBlocks(Read(std::string(kPki) + "tsa-chain.pem"));
  absl::StatusOr<std::vector<std::string>> between =
      DecodePemBundle(blocks[0] + "Subject: CN=TSA Intermediate\n" + blocks[1], "CERTIFICATE");
  ASSERT_FALSE(between.ok());
  EXPECT_THAT(between.status().message(), HasSubstr("text between PEM blocks"));
  const size_t line = 1 + std::count(blocks[0].begin(), blocks[0].end(), '\n');
  EXPECT_THAT(between.status().message(), HasSubstr(absl::StrCat("line ", line, ": ")));
  absl::StatusOr<std::vector<std::string>> before = DecodePemBundle("roots:\n" + blocks[0], "CERTIFICATE");
  ASSERT_FALSE(before.ok());
  EXPECT_THAT(before.status().message(), HasSubstr("line 1: text before the first PEM block"));
  absl::StatusOr<std::vector<std::string>> after = DecodePemBundle(blocks[0] + "trailer", "CERTIFICATE");
  ASSERT_FALSE(after.ok());
  EXPECT_THAT(after.status().message(), HasSubstr("text between PEM blocks"));
}

TEST(DecodePemBundle, RefusesEmptyTruncatedAndOversizeInput) {
  EXPECT_THAT(DecodePemBundle(" \n", "CERTIFICATE").status().message(), HasSubstr("no PEM CERTIFICATE block"));
  const std::string block = PemBlocks(Read(std::string(kPki) + "tsa-chain.pem"))[0];
  EXPECT_THAT(DecodePemBundle(block + block.substr(0, block.size() / 2), "CERTIFICATE").status().message(),
              HasSubstr("block 2 (line"));
  std::string many;
  for (size_t i = 0; i <= kMaxPemBundleBlocks; ++i) many += block;
  EXPECT_THAT(DecodePemBundle(many, "CERTIFICATE").status().message(), HasSubstr("more than 256 PEM blocks"));
  EXPECT_THAT(DecodePemBundle(std::string(kMaxPemBundleBytes + 1, '\n'), "CERTIFICATE").status().message(),
              HasSubstr("larger than the limit of 1048576"));
}

}  // namespace
}  // namespace sigshim::trust
