#include "pkg/verify/public_key.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/base/base64.h"
#include "test/signer/signer.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;
using test_signer::KeyType;

constexpr char kRsa1024[] = R"(-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCgL5N3fCV1C4jXSuiCWhxpQdAO
znnBSpzQYIr9PGb8d7u27W2DhCmkSKYOaX4yksacTBVZYVQRgAAk1wphU7q93W+e
Tn7vyFG/PoOgfxY1bKg5nSXcip0nUJrpxHpff1zv1eULLBWeU/HDAySuMJc20hT0
afboEKJozkn3Ahl9bwIDAQAB
-----END PUBLIC KEY-----
)";
constexpr char kSecp256k1[] = R"(-----BEGIN PUBLIC KEY-----
MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAER3bYNopu2Lw4ick78AUgX/pRHrud1WdB
V9UfSHf6m9SjxO4hewYnFIkZTY/Ws95VGnrnmhxYhKU3zmUiYKAPSg==
-----END PUBLIC KEY-----
)";
constexpr char kEd448[] = R"(-----BEGIN PUBLIC KEY-----
MEMwBQYDK2VxAzoAd2y/g/Tj49InJsWUhap+FXeL3ni6eonSieIxa3W1qy03agJV
c2JqasAZ9fNQ1L8chZ7leeQ4JjSA
-----END PUBLIC KEY-----
)";
constexpr char kX25519[] = R"(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VuAyEApiJdIt1VjTxwm3VWZTeU4flAivnJLn3fqSuegX5Or14=
-----END PUBLIC KEY-----
)";
constexpr char kDsa[] = R"(-----BEGIN PUBLIC KEY-----
MIIBvjCCATMGByqGSM44BAEwggEmAoGBALjnM8+FxH9BKgn9e/BEzboHK/a9Lxkn
4bXq8oooZtnJVT/CAfqR7sypXJqhmiTqePN4mCS4LVCOxhA4A1XbRgbXMn3OvSBr
CkK9M5lGLIqrvxdTkL4Rj255juXA9tTd/x1yJsJCt3DXGaKh6onWC6kUMsoUJBt0
u3XS5fzpaj2dAh0A4nZFyZ9koIVX7uTHaqom0ZTQCy9wh1ci5AC4PwKBgDdXVAzz
5z0jofBFZ3HR8qGXqnOwnEpoM7bCOGe3USMyNnUhDOPHjIw2e+1t5Wp9HFeYLdxV
GBVH3Mi/BAbOyNQzi5jZDFM0NCO2Yk+pS3ibZAHYq0fBz8DDUykt7mez3x8slq8/
vmHzwrA05e2KMjAg+HUT8VDNLlDJRMyqAWOoA4GEAAKBgDMvTSNTmUEthnXWhCL6
od/et3woZg3LpVDas8RRUEOURwypSjvj0/lm4ezug2WwoWYAuW0Y8hd2QJAdx4r2
Z9f7Z2b4JEA/jayNg3gs7OE2t3mLyu2ieC3DFoLLd3urZ+CXJ7ecd2YxRuDRj0ML
IMySWMBCsc88ftumkGgJYMjW
-----END PUBLIC KEY-----
)";
constexpr char kRsaPss[] = R"(-----BEGIN PUBLIC KEY-----
MIIBIDALBgkqhkiG9w0BAQoDggEPADCCAQoCggEBAMp2wXTDhrvgru67gYWaARQU
dwrOA9SecfNqL5JvyLBCYV58FVc9sapgx6N8P6K1Z9dzOpShprwWdvBqr8YLzKw9
LfJPLjMsCqSGrDunPMdg2/y4+mOBhpQUaXNuezgHM9uworhEVFgUetz46aDGW2/t
qkzjTxEhB8+QV0wV9yqMQGBMF+EXwJEJqG3i5I2uxSNeu6uQcxy5DJA3JUKRivEA
4rk7ztHKxMzbqIBGG4gWhKqhJcrXlHHXgqVwj7N+Is8k3+kZg/a93LuH01/BHEM8
KwALzKd9ZTx43BvIFmyNAConYgaoQAFUu+kVkF5N0UM5O8WqjU67y77qHYqsj48C
AwEAAQ==
-----END PUBLIC KEY-----
)";

std::string ErrorOf(absl::string_view pem) {
  auto key = ParsePublicKeyPem(pem);
  EXPECT_FALSE(key.ok());
  if (key.ok()) return "";
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(key.status().message());
}

struct TypeCase {
  KeyType type;
  KeyAlgorithm algorithm;
};

class EveryAlgorithm : public testing::TestWithParam<TypeCase> {
 protected:
  void SetUp() override {
    auto generated = test_signer::GenerateSigningKey(GetParam().type);
    ASSERT_TRUE(generated.ok()) << generated.status();
    signer_ = std::move(generated->signer);
    auto key = ParsePublicKeyPem(generated->pair.public_pem);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = *std::move(key);
  }
  std::unique_ptr<test_signer::Signer> signer_;
  std::unique_ptr<const PublicKey> key_;
};

TEST_P(EveryAlgorithm, ParsesWithTheRightAlgorithm) {
  EXPECT_EQ(key_->Algorithm(), GetParam().algorithm);
  EXPECT_THAT(key_->Describe(), HasSubstr(std::string(KeyAlgorithmName(GetParam().algorithm))));
}

TEST_P(EveryAlgorithm, AcceptsItsOwnSignatureAndNothingAltered) {
  const std::string message = "the signed bytes";
  auto signature = signer_->Sign(message);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_TRUE(key_->Verify(message, *signature).ok());

  absl::Status altered_message = key_->Verify("the signed byteS", *signature);
  EXPECT_EQ(altered_message.code(), absl::StatusCode::kPermissionDenied);

  std::string flipped = *signature;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_EQ(key_->Verify(message, flipped).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(key_->Verify(message, "").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(key_->Verify(message, signature->substr(0, signature->size() - 1)).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(key_->Verify(message, *signature + "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(key_->Verify(message, std::string(8192, 'x')).code(), absl::StatusCode::kPermissionDenied);
}

TEST_P(EveryAlgorithm, ConcurrentCallersEachGetTheRightAnswer) {
  auto good = signer_->Sign("message");
  ASSERT_TRUE(good.ok()) << good.status();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        // Odd threads check an altered message, so good and bad verifications interleave.
        bool expect_ok = t % 2 == 0;
        bool ok = key_->Verify(expect_ok ? "message" : "massage", *good).ok();
        if (ok != expect_ok) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Keys, EveryAlgorithm,
    testing::Values(TypeCase{KeyType::kEcdsaP256, KeyAlgorithm::kEcdsaP256Sha256},
                    TypeCase{KeyType::kEcdsaP384, KeyAlgorithm::kEcdsaP384Sha384},
                    TypeCase{KeyType::kEcdsaP521, KeyAlgorithm::kEcdsaP521Sha512},
                    TypeCase{KeyType::kRsa2048, KeyAlgorithm::kRsaPkcs1Sha256},
                    TypeCase{KeyType::kRsa3072, KeyAlgorithm::kRsaPkcs1Sha256},
                    TypeCase{KeyType::kEd25519, KeyAlgorithm::kEd25519}),
    [](const testing::TestParamInfo<TypeCase>& info) {
      std::string name(test_signer::KeyTypeName(info.param.type));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

TEST(ParsePublicKeyPem, RefusesSmallRsaNamingItsSize) {
  EXPECT_EQ(ErrorOf(kRsa1024), "RSA key of 1024 bits: at least 2048 required");
}

TEST(ParsePublicKeyPem, RefusesOtherKeyTypesByName) {
  EXPECT_THAT(ErrorOf(kSecp256k1), HasSubstr("curve secp256k1"));
  EXPECT_THAT(ErrorOf(kEd448), HasSubstr("Ed448"));
  EXPECT_THAT(ErrorOf(kX25519), HasSubstr("X25519"));
  EXPECT_THAT(ErrorOf(kDsa), HasSubstr("DSA key"));
  EXPECT_THAT(ErrorOf(kRsaPss), HasSubstr("RSA-PSS"));
}

TEST(ParsePublicKeyPem, RefusesPrivateKeysAndCertificates) {
  auto pair = test_signer::GenerateKey(KeyType::kEcdsaP256);
  ASSERT_TRUE(pair.ok());
  EXPECT_THAT(ErrorOf(pair->private_pem), HasSubstr("private key"));
  EXPECT_THAT(ErrorOf("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"),
              HasSubstr("CERTIFICATE, not a PUBLIC KEY"));
  EXPECT_THAT(ErrorOf("-----BEGIN RSA PUBLIC KEY-----\nMAA=\n-----END RSA PUBLIC KEY-----\n"),
              HasSubstr("PKCS#1"));
}

TEST(ParsePublicKeyPem, RefusesMalformedFraming) {
  auto pair = test_signer::GenerateKey(KeyType::kEcdsaP256);
  ASSERT_TRUE(pair.ok());
  EXPECT_THAT(ErrorOf(""), HasSubstr("no PEM block"));
  EXPECT_THAT(ErrorOf("garbage"), HasSubstr("no PEM block"));
  EXPECT_THAT(ErrorOf(pair->public_pem + pair->public_pem), HasSubstr("several PEM blocks"));
  EXPECT_THAT(ErrorOf("comment\n" + pair->public_pem), HasSubstr("before the PEM block"));
  EXPECT_THAT(ErrorOf(pair->public_pem + "trailer"), HasSubstr("after the PEM block"));
  EXPECT_THAT(ErrorOf("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"),
              HasSubstr("does not decode"));
  EXPECT_THAT(ErrorOf("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"),
              HasSubstr("not a valid SubjectPublicKeyInfo"));
  EXPECT_THAT(ErrorOf(std::string(100000, ' ') + pair->public_pem), HasSubstr("larger than"));
}

TEST(ParsePublicKeyPem, FingerprintIsTheSha256OfTheDerWhateverTheWrapping) {
  auto pair = test_signer::GenerateKey(KeyType::kRsa2048);
  ASSERT_TRUE(pair.ok());
  auto key = ParsePublicKeyPem(pair->public_pem);
  ASSERT_TRUE(key.ok()) << key.status();
  // The same key with the base64 on one line and blank lines around it.
  std::string body = pair->public_pem;
  body = body.substr(body.find('\n') + 1);
  body = body.substr(0, body.find("-----END"));
  std::string one_line = absl::StrCat("\n\n-----BEGIN PUBLIC KEY-----\n",
                                      absl::StrReplaceAll(body, {{"\n", ""}}),
                                      "\n-----END PUBLIC KEY-----\n\n");
  auto rewrapped = ParsePublicKeyPem(one_line);
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.status();
  EXPECT_EQ((*key)->Fingerprint(), (*rewrapped)->Fingerprint());
  EXPECT_EQ((*key)->Fingerprint().substr(0, 7), "sha256:");
  EXPECT_EQ((*key)->Fingerprint().size(), 7u + 64u);
  auto der = Base64Decode(body);
  ASSERT_TRUE(der.ok());
  EXPECT_EQ((*key)->Der(), *der);
}

}  // namespace
}  // namespace sigshim::verify
