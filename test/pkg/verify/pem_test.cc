#include "pkg/verify/pem.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigshim::verify {
namespace {

using ::testing::HasSubstr;

TEST(DecodeSinglePemBlock, ReturnsTypeAndBody) {
  auto block = DecodeSinglePemBlock("\n-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n\n");
  ASSERT_TRUE(block.ok()) << block.status();
  EXPECT_EQ(block->type, "CERTIFICATE");
  EXPECT_EQ(block->der, "hello");
}

TEST(DecodeSinglePemBlock, RefusesAnythingButExactlyOneCleanBlock) {
  const std::string one = "-----BEGIN X-----\naGVsbG8=\n-----END X-----\n";
  EXPECT_THAT(DecodeSinglePemBlock("").status().message(), HasSubstr("no PEM block"));
  EXPECT_THAT(DecodeSinglePemBlock(one + one).status().message(), HasSubstr("several PEM blocks"));
  EXPECT_THAT(DecodeSinglePemBlock("x" + one).status().message(), HasSubstr("before the PEM block"));
  EXPECT_THAT(DecodeSinglePemBlock(one + "x").status().message(), HasSubstr("after the PEM block"));
  EXPECT_THAT(DecodeSinglePemBlock("-----BEGIN X-----\naGVsbG8=\n").status().message(),
              HasSubstr("no -----END"));
  EXPECT_FALSE(DecodeSinglePemBlock("-----BEGIN X-----\naGVsbG8=\n-----END Y-----\n").ok());
  EXPECT_THAT(DecodeSinglePemBlock("-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\naGVsbG8=\n-----END X-----\n")
                  .status()
                  .message(),
              HasSubstr("headers"));
}

}  // namespace
}  // namespace sigshim::verify
