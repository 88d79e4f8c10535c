#include "test/pkg/verify/test_tsa.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace sigshim::verify::test_tsa {
namespace {

struct Free {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(TS_RESP_CTX* p) const { TS_RESP_CTX_free(p); }
  void operator()(TS_RESP* p) const { TS_RESP_free(p); }
  void operator()(TS_REQ* p) const { TS_REQ_free(p); }
  void operator()(TS_MSG_IMPRINT* p) const { TS_MSG_IMPRINT_free(p); }
  void operator()(X509_ALGOR* p) const { X509_ALGOR_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(ASN1_OBJECT* p) const { ASN1_OBJECT_free(p); }
  void operator()(EVP_MD* p) const { EVP_MD_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Free>;

absl::Status OpenSslError(absl::string_view what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  char buf[256] = "no detail";
  if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
  return absl::InternalError(absl::StrCat(what, ": ", buf));
}

absl::StatusOr<Ptr<EVP_PKEY>> NewKey() {
  Ptr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("EVP_EC_gen");
  return key;
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status DeleteExtension(X509* cert, int nid) {
  for (int i = X509_get_ext_by_NID(cert, nid, -1); i >= 0; i = X509_get_ext_by_NID(cert, nid, -1)) {
    X509_EXTENSION_free(X509_delete_ext(cert, i));
  }
  return absl::OkStatus();
}

// Makes a certificate for `key` named CN=`name`, signed by `issuer_key` (self-signed when `issuer` is
// null). `extensions` are (nid, OpenSSL config value) pairs.
absl::StatusOr<Ptr<X509>> NewCertificate(const std::string& name, EVP_PKEY* key, X509* issuer,
                                         EVP_PKEY* issuer_key, long serial, absl::Time not_before,
                                         absl::Time not_after,
                                         const std::vector<std::pair<int, const char*>>& extensions) {
  Ptr<X509> cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("sigshim test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : subject);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(not_after));
  if (X509_set_pubkey(cert.get(), key) != 1) return OpenSslError("X509_set_pubkey");
  X509* issuer_cert = issuer != nullptr ? issuer : cert.get();
  for (const auto& [nid, value] : extensions) {
    if (absl::Status s = AddExtension(cert.get(), issuer_cert, nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) <= 0) {
    return OpenSslError("X509_sign");
  }
  return cert;
}

std::string Der(X509* cert) {
  unsigned char* out = nullptr;
  int len = i2d_X509(cert, &out);
  std::string der(reinterpret_cast<const char*>(out), len > 0 ? static_cast<size_t>(len) : 0);
  OPENSSL_free(out);
  return der;
}

int TimeCallback(TS_RESP_CTX*, void* data, long* sec, long* usec) {
  absl::Time when = *static_cast<const absl::Time*>(data);
  absl::Duration since_epoch = when - absl::UnixEpoch();
  *sec = static_cast<long>(absl::ToInt64Seconds(since_epoch));
  *usec = static_cast<long>(absl::ToInt64Microseconds(since_epoch - absl::Seconds(*sec)));
  return 1;
}

}  // namespace

struct TestTsa::State {
  Ptr<EVP_PKEY> root_key, intermediate_key, leaf_key;
  Ptr<X509> root, intermediate, leaf;
};

TestTsa::TestTsa(std::unique_ptr<State> state) : state_(std::move(state)) {}
TestTsa::~TestTsa() = default;

absl::StatusOr<std::unique_ptr<TestTsa>> TestTsa::Create(const TsaOptions& options) {
  auto state = std::make_unique<State>();
  const absl::Time ca_from = absl::FromCivil(absl::CivilSecond(2000, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  const absl::Time ca_until = absl::FromCivil(absl::CivilSecond(2099, 12, 31, 0, 0, 0), absl::UTCTimeZone());
  for (Ptr<EVP_PKEY>* key : {&state->root_key, &state->intermediate_key, &state->leaf_key}) {
    absl::StatusOr<Ptr<EVP_PKEY>> made = NewKey();
    if (!made.ok()) return made.status();
    *key = *std::move(made);
  }
  const std::vector<std::pair<int, const char*>> ca_extensions = {
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,keyCertSign,cRLSign"},
      {NID_subject_key_identifier, "hash"},
  };
  absl::StatusOr<Ptr<X509>> root = NewCertificate(options.name + " root", state->root_key.get(), nullptr,
                                                  nullptr, 1, ca_from, ca_until, ca_extensions);
  if (!root.ok()) return root.status();
  state->root = *std::move(root);
  X509* leaf_issuer = state->root.get();
  EVP_PKEY* leaf_issuer_key = state->root_key.get();
  if (options.with_intermediate) {
    auto extensions = ca_extensions;
    extensions.push_back({NID_authority_key_identifier, "keyid:always"});
    extensions.push_back(
        {NID_ext_key_usage, options.intermediate_code_signing_only ? "codeSigning" : "timeStamping"});
    absl::StatusOr<Ptr<X509>> intermediate =
        NewCertificate(options.name + " intermediate", state->intermediate_key.get(), state->root.get(),
                       state->root_key.get(), 2, ca_from, ca_until, extensions);
    if (!intermediate.ok()) return intermediate.status();
    state->intermediate = *std::move(intermediate);
    leaf_issuer = state->intermediate.get();
    leaf_issuer_key = state->intermediate_key.get();
  }
  // The signing certificate starts with the usage OpenSSL's TS_RESP_CTX insists on (it checks the
  // purpose when the certificate is set and caches the result in the X509 object); the variants a
  // test asks for are made by editing and re-signing that same object afterwards, so the tokens
  // are signed by, and name in their ESS attribute, the certificate with the edited usage.
  absl::StatusOr<Ptr<X509>> leaf =
      NewCertificate(options.name + " signer", state->leaf_key.get(), leaf_issuer, leaf_issuer_key, 3,
                     options.leaf_not_before, options.leaf_not_after,
                     {{NID_basic_constraints, "critical,CA:FALSE"},
                      {NID_key_usage, "critical,digitalSignature"},
                      {NID_ext_key_usage, "critical,timeStamping"},
                      {NID_subject_key_identifier, "hash"},
                      {NID_authority_key_identifier, "keyid:always"}});
  if (!leaf.ok()) return leaf.status();
  state->leaf = *std::move(leaf);
  if (X509_check_purpose(state->leaf.get(), X509_PURPOSE_TIMESTAMP_SIGN, 0) != 1) {
    return OpenSslError("the signing certificate is not fit for timestamping");
  }
  bool edited = false;
  if (options.eku != Eku::kCriticalTimestamping) {
    DeleteExtension(state->leaf.get(), NID_ext_key_usage).IgnoreError();
    const char* value = options.eku == Eku::kNonCriticalTimestamping ? "timeStamping"
                        : options.eku == Eku::kTimestampingAndCodeSigning
                            ? "critical,timeStamping,codeSigning"
                            : nullptr;
    if (value != nullptr) {
      if (absl::Status s = AddExtension(state->leaf.get(), leaf_issuer, NID_ext_key_usage, value); !s.ok()) {
        return s;
      }
    }
    edited = true;
  }
  if (options.leaf_is_ca) {
    DeleteExtension(state->leaf.get(), NID_basic_constraints).IgnoreError();
    DeleteExtension(state->leaf.get(), NID_key_usage).IgnoreError();
    if (absl::Status s =
            AddExtension(state->leaf.get(), leaf_issuer, NID_basic_constraints, "critical,CA:TRUE");
        !s.ok()) {
      return s;
    }
    edited = true;
  }
  if (edited && X509_sign(state->leaf.get(), leaf_issuer_key, EVP_sha256()) <= 0) {
    return OpenSslError("X509_sign (edited signing certificate)");
  }
  return std::unique_ptr<TestTsa>(new TestTsa(std::move(state)));
}

absl::StatusOr<std::string> TestTsa::Stamp(absl::string_view data, absl::Time when,
                                           const StampOptions& options) const {
  Ptr<EVP_MD> md(EVP_MD_fetch(nullptr, options.hash.c_str(), nullptr));
  if (md == nullptr) return OpenSslError(absl::StrCat("EVP_MD_fetch ", options.hash));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &digest_len, md.get(), nullptr) != 1) {
    return OpenSslError("EVP_Digest");
  }
  // The request.
  Ptr<TS_REQ> request(TS_REQ_new());
  Ptr<TS_MSG_IMPRINT> imprint(TS_MSG_IMPRINT_new());
  Ptr<X509_ALGOR> algorithm(X509_ALGOR_new());
  if (request == nullptr || imprint == nullptr || algorithm == nullptr) return OpenSslError("TS_REQ_new");
  X509_ALGOR_set_md(algorithm.get(), md.get());
  if (TS_MSG_IMPRINT_set_algo(imprint.get(), algorithm.get()) != 1 ||
      TS_MSG_IMPRINT_set_msg(imprint.get(), digest, static_cast<int>(digest_len)) != 1 ||
      TS_REQ_set_version(request.get(), 1) != 1 ||
      TS_REQ_set_msg_imprint(request.get(), imprint.get()) != 1 ||
      TS_REQ_set_cert_req(request.get(), options.include_certificates ? 1 : 0) != 1) {
    return OpenSslError("building the TS request");
  }
  Ptr<BIO> request_bio(BIO_new(BIO_s_mem()));
  if (request_bio == nullptr || i2d_TS_REQ_bio(request_bio.get(), request.get()) != 1) {
    return OpenSslError("i2d_TS_REQ_bio");
  }

  // The responder.
  Ptr<TS_RESP_CTX> ctx(TS_RESP_CTX_new());
  if (ctx == nullptr) return OpenSslError("TS_RESP_CTX_new");
  Ptr<ASN1_OBJECT> policy(OBJ_txt2obj("1.3.6.1.4.1.57264.99.1", 1));
  Ptr<STACK_OF(X509)> extra(sk_X509_new_null());
  if (state_->intermediate != nullptr) sk_X509_push(extra.get(), state_->intermediate.get());
  absl::Time genTime = when;
  // TS_RESP_CTX_set_signer_cert reads the extended key usage's critical flag from the extension
  // itself (the rest of its purpose check is cached): a non-critical one is raised for that call
  // only. The certificate's signed encoding, which the token carries and names, stays non-critical.
  int eku_index = X509_get_ext_by_NID(state_->leaf.get(), NID_ext_key_usage, -1);
  X509_EXTENSION* eku = eku_index >= 0 ? X509_get_ext(state_->leaf.get(), eku_index) : nullptr;
  bool lower_again = eku != nullptr && X509_EXTENSION_get_critical(eku) == 0;
  if (lower_again) X509_EXTENSION_set_critical(eku, 1);
  int signer_set = TS_RESP_CTX_set_signer_cert(ctx.get(), state_->leaf.get());
  if (lower_again) X509_EXTENSION_set_critical(eku, 0);
  if (signer_set != 1 || TS_RESP_CTX_set_signer_key(ctx.get(), state_->leaf_key.get()) != 1 ||
      TS_RESP_CTX_set_signer_digest(ctx.get(), EVP_sha256()) != 1 ||
      TS_RESP_CTX_set_ess_cert_id_digest(ctx.get(), EVP_sha256()) != 1 ||
      TS_RESP_CTX_set_def_policy(ctx.get(), policy.get()) != 1 ||
      TS_RESP_CTX_set_certs(ctx.get(), extra.get()) != 1 ||
      TS_RESP_CTX_set_clock_precision_digits(ctx.get(), 3) != 1) {
    return OpenSslError("setting up TS_RESP_CTX");
  }
  std::vector<Ptr<EVP_MD>> accepted;
  for (const std::string& name : options.accepted_hashes) {
    accepted.emplace_back(EVP_MD_fetch(nullptr, name.c_str(), nullptr));
    if (accepted.back() == nullptr || TS_RESP_CTX_add_md(ctx.get(), accepted.back().get()) != 1) {
      return OpenSslError(absl::StrCat("TS_RESP_CTX_add_md ", name));
    }
  }
  TS_RESP_CTX_set_time_cb(ctx.get(), TimeCallback, &genTime);
  Ptr<TS_RESP> response(TS_RESP_create_response(ctx.get(), request_bio.get()));
  if (response == nullptr) return OpenSslError("TS_RESP_create_response");
  unsigned char* out = nullptr;
  int len = i2d_TS_RESP(response.get(), &out);
  if (len <= 0) return OpenSslError("i2d_TS_RESP");
  std::string der(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

std::vector<std::string> TestTsa::ChainDer() const {
  std::vector<std::string> chain = {Der(state_->leaf.get())};
  if (state_->intermediate != nullptr) chain.push_back(Der(state_->intermediate.get()));
  chain.push_back(Der(state_->root.get()));
  return chain;
}

absl::StatusOr<std::string> TokenOfResponse(absl::string_view response_der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(response_der.data());
  Ptr<TS_RESP> response(d2i_TS_RESP(nullptr, &p, static_cast<long>(response_der.size())));
  if (response == nullptr || TS_RESP_get_token(response.get()) == nullptr) return OpenSslError("d2i_TS_RESP");
  unsigned char* out = nullptr;
  int len = i2d_PKCS7(TS_RESP_get_token(response.get()), &out);
  if (len <= 0) return OpenSslError("i2d_PKCS7");
  std::string der(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

}  // namespace sigshim::verify::test_tsa
