// Test data shared by the pkg/trust tests (read from test/testdata: tests run from the repository root).
#ifndef SIGSHIM_TEST_PKG_TRUST_TEST_FILES_H_
#define SIGSHIM_TEST_PKG_TRUST_TEST_FILES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "pkg/base/file.h"

namespace sigshim::trust::testing {

inline constexpr char kTrustedRoots[] = "test/testdata/sigstore-go/trusted-roots/";
inline constexpr char kPki[] = "test/testdata/trust/";
inline constexpr char kCosignTrust[] = "test/testdata/cosign-conformance/trust/";

// Returns the whole file at `path` (relative to the repository root); fails the test if unreadable.
inline std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, 4 << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : std::string();
}

// Returns the PEM blocks of `text`, each with its END line and a newline.
inline std::vector<std::string> PemBlocks(absl::string_view text) {
  std::vector<std::string> out;
  constexpr absl::string_view kEnd = "-----END CERTIFICATE-----";
  size_t pos = 0;
  while (true) {
    size_t begin = text.find("-----BEGIN", pos);
    if (begin == absl::string_view::npos) break;
    size_t end = text.find(kEnd, begin);
    out.push_back(std::string(text.substr(begin, end + kEnd.size() - begin)) + "\n");
    pos = end + kEnd.size();
  }
  return out;
}

}  // namespace sigshim::trust::testing

#endif  // SIGSHIM_TEST_PKG_TRUST_TEST_FILES_H_
