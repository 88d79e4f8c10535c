#include "test/pkg/verify/test_ca.h"

#include <openssl/asn1.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_join.h"

namespace sigshim::verify::test_ca {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "test_ca: %s failed\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

void Check(bool ok, const char* what) {
  if (!ok) Die(what);
}

Key Generate(const char* algorithm, int rsa_bits) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr);
  Check(ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1, "keygen init");
  if (rsa_bits > 0) {
    Check(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, rsa_bits) == 1, "rsa bits");
  } else {
    Check(EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1, "curve");
  }
  EVP_PKEY* key = nullptr;
  Check(EVP_PKEY_keygen(ctx, &key) == 1, "keygen");
  EVP_PKEY_CTX_free(ctx);
  return Key(key, EVP_PKEY_free);
}

void AddConf(X509* x509, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  Check(ext != nullptr, value.c_str());
  Check(X509_add_ext(x509, ext, -1) == 1, "add extension");
  X509_EXTENSION_free(ext);
}

}  // namespace

Key NewEcKey() { return Generate("EC", 0); }
Key NewRsaKey(int bits) { return Generate("RSA", bits); }

std::string MakeCertificate(const Spec& spec, const Key& subject_key, const Issued* issuer) {
  static std::atomic<long> serial{1000};
  X509* x509 = X509_new();
  Check(x509 != nullptr && X509_set_version(x509, 2) == 1, "X509_new");
  Check(ASN1_INTEGER_set(X509_get_serialNumber(x509), serial++) == 1, "serial");
  Check(ASN1_TIME_set(X509_getm_notBefore(x509), absl::ToTimeT(spec.not_before)) != nullptr, "notBefore");
  Check(ASN1_TIME_set(X509_getm_notAfter(x509), absl::ToTimeT(spec.not_after)) != nullptr, "notAfter");
  X509_NAME* name = X509_get_subject_name(x509);
  Check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                                   -1, 0) == 1,
        "subject");
  Check(X509_set_pubkey(x509, subject_key.get()) == 1, "pubkey");

  X509* issuer_x509 = x509;
  EVP_PKEY* signing_key = subject_key.get();
  X509* parsed_issuer = nullptr;
  if (issuer != nullptr) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(issuer->der.data());
    parsed_issuer = d2i_X509(nullptr, &p, static_cast<long>(issuer->der.size()));
    Check(parsed_issuer != nullptr, "issuer parse");
    issuer_x509 = parsed_issuer;
    signing_key = issuer->key.get();
  }
  Check(X509_set_issuer_name(x509, X509_get_subject_name(issuer_x509)) == 1, "issuer name");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_x509, x509, nullptr, nullptr, 0);
  if (spec.is_ca) {
    AddConf(x509, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    AddConf(x509, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddConf(x509, &ctx, NID_key_usage, "critical,digitalSignature");
  }
  if (spec.ekus.has_value()) AddConf(x509, &ctx, NID_ext_key_usage, absl::StrJoin(*spec.ekus, ","));
  if (!spec.sans.empty()) AddConf(x509, &ctx, NID_subject_alt_name, spec.sans);
  for (const auto& [oid, contents] : spec.raw_extensions) {
    ASN1_OBJECT* object = OBJ_txt2obj(oid.c_str(), 1);
    ASN1_OCTET_STRING* octets = ASN1_OCTET_STRING_new();
    Check(object != nullptr && octets != nullptr &&
              ASN1_OCTET_STRING_set(octets, reinterpret_cast<const unsigned char*>(contents.data()),
                                    static_cast<int>(contents.size())) == 1,
          "raw extension");
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, object, 0, octets);
    Check(ext != nullptr && X509_add_ext(x509, ext, -1) == 1, "add raw extension");
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(octets);
    ASN1_OBJECT_free(object);
  }
  Check(X509_sign(x509, signing_key, EVP_sha256()) > 0, "sign");
  unsigned char* der = nullptr;
  int len = i2d_X509(x509, &der);
  Check(len > 0, "i2d_X509");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  X509_free(parsed_issuer);
  X509_free(x509);
  return out;
}

Issued MakeRoot(const std::string& name, absl::Time not_before, absl::Time not_after) {
  Spec spec{.common_name = name, .not_before = not_before, .not_after = not_after, .is_ca = true,
            .ekus = std::nullopt};
  Key key = NewEcKey();
  return {MakeCertificate(spec, key, nullptr), key};
}

Issued MakeIntermediate(const std::string& name, const Issued& issuer, absl::Time not_before,
                        absl::Time not_after) {
  Spec spec{.common_name = name, .not_before = not_before, .not_after = not_after, .is_ca = true,
            .ekus = std::vector<std::string>{"1.3.6.1.5.5.7.3.3"}};
  Key key = NewEcKey();
  return {MakeCertificate(spec, key, &issuer), key};
}

Issued MakeLeaf(Spec spec, const Issued& issuer) {
  Key key = NewEcKey();
  return {MakeCertificate(spec, key, &issuer), key};
}

std::string Utf8StringDer(absl::string_view text) {
  // Short form lengths only (tests use values under 128 bytes) and the long form for longer.
  std::string out(1, '\x0c');
  if (text.size() < 128) {
    out.push_back(static_cast<char>(text.size()));
  } else {
    out.push_back('\x82');
    out.push_back(static_cast<char>(text.size() >> 8));
    out.push_back(static_cast<char>(text.size() & 0xff));
  }
  out.append(text.data(), text.size());
  return out;
}

std::string PemCertificate(absl::string_view der) {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(bio != nullptr &&
            PEM_write_bio(bio, "CERTIFICATE", "", reinterpret_cast<const unsigned char*>(der.data()),
                          static_cast<long>(der.size())) > 0,
        "PEM_write_bio");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

}  // namespace sigshim::verify::test_ca
