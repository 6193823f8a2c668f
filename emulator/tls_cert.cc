#include "emulator/tls_cert.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <span>

#include "base/file_util.h"
#include "base/openssl_ptr.h"

namespace lockpipe::emulator {
namespace {

template <typename T>
using Ptr = OpenSslPtr<T>;

Status SslError(const std::string& what) {
  const std::string detail = OpenSslErrorText();
  return InternalError("self-signed certificate: " + what + " failed" +
                       (detail.empty() ? "" : ": " + detail));
}

Status AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext) return SslError(std::string("extension ") + OBJ_nid2sn(nid));
  if (X509_add_ext(cert, ext.get(), -1) != 1) return SslError("X509_add_ext");
  return Status::Ok();
}

Result<std::string> BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n < 0 || data == nullptr) return SslError("BIO_get_mem_data");
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

Status GenerateSelfSignedCert(const std::string& cert_path, const std::string& key_path) {
  Ptr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return SslError("EVP_EC_gen(P-256)");
  Ptr<X509> cert(X509_new());
  if (!cert) return SslError("X509_new");
  if (X509_set_version(cert.get(), 2) != 1) return SslError("X509_set_version");
  // A random serial: clients that cache certificates must not confuse two runs.
  Ptr<BIGNUM> serial(BN_new());
  if (!serial || BN_rand(serial.get(), 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr)
    return SslError("serial number");
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600) == nullptr)
    return SslError("validity");
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("lockpipe emulator"), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1)
    return SslError("subject name");
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return SslError("X509_set_pubkey");
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return SslError("X509_sign");

  Ptr<BIO> key_bio(BIO_new(BIO_s_mem()));
  Ptr<BIO> cert_bio(BIO_new(BIO_s_mem()));
  if (!key_bio || !cert_bio) return SslError("BIO_new");
  if (PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
      1)
    return SslError("PEM_write_bio_PrivateKey");
  if (PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) return SslError("PEM_write_bio_X509");
  ASSIGN_OR_RETURN(std::string key_pem, BioText(key_bio.get()));
  ASSIGN_OR_RETURN(std::string cert_pem, BioText(cert_bio.get()));
  RETURN_IF_ERROR(WriteFileAtomically(key_path, key_pem, 0600));
  return WriteFileAtomically(cert_path, cert_pem, 0644);
}

}  // namespace lockpipe::emulator
