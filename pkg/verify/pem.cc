#include "pkg/verify/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sigshim::verify {

absl::StatusOr<PemBlock> DecodeSinglePemBlock(absl::string_view text) {
  if (text.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat("PEM text of ", text.size(),
                                                   " bytes is larger than the limit of ", kMaxPemBytes));
  }
  constexpr absl::string_view kBegin = "-----BEGIN ";
  constexpr absl::string_view kEnd = "-----END ";
  size_t first = text.find(kBegin);
  if (first == absl::string_view::npos) {
    return absl::InvalidArgumentError("no PEM block found (expected a -----BEGIN …----- line)");
  }
  if (text.find(kBegin, first + 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError("several PEM blocks found; exactly one is expected");
  }
  if (!absl::StripAsciiWhitespace(text.substr(0, first)).empty()) {
    return absl::InvalidArgumentError("unexpected text before the PEM block");
  }
  size_t end = text.find(kEnd, first);
  if (end == absl::string_view::npos) {
    return absl::InvalidArgumentError("PEM block has no -----END …----- line");
  }
  size_t end_close = text.find("-----", end + kEnd.size());
  if (end_close == absl::string_view::npos) {
    return absl::InvalidArgumentError("malformed PEM END line");
  }
  if (!absl::StripAsciiWhitespace(text.substr(end_close + 5)).empty()) {
    return absl::InvalidArgumentError("unexpected text after the PEM block");
  }

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf failed");
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    char detail[256] = "no detail from OpenSSL";
    if (code != 0) ERR_error_string_n(code, detail, sizeof(detail));
    return absl::InvalidArgumentError(absl::StrCat("PEM block does not decode: ", detail));
  }
  PemBlock out;
  out.type = name;
  out.der.assign(reinterpret_cast<char*>(data), static_cast<size_t>(len));
  bool has_header = header != nullptr && header[0] != '\0';
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  if (has_header) {
    return absl::InvalidArgumentError(
        absl::StrCat("PEM ", out.type, " block has headers (encrypted?); a plain block is required"));
  }
  return out;
}

}  // namespace sigshim::verify
