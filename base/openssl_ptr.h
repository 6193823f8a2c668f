// One owner type for every OpenSSL object the project holds, as BoringSSL's
// bssl::UniquePtr: OpenSslPtr<EVP_CIPHER_CTX> frees with EVP_CIPHER_CTX_free,
// and so on. Plus the text of OpenSSL's last error, for a Status message.
//
// Header-only: base/ does not link OpenSSL; the modules that include this
// (decoders, fetch, emulator) do.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace lockpipe {

template <typename T>
struct OpenSslDeleter;

#define LOCKPIPE_OPENSSL_DELETER(type, free_fn)    \
  template <>                                      \
  struct OpenSslDeleter<type> {                    \
    void operator()(type* p) const { free_fn(p); } \
  }

LOCKPIPE_OPENSSL_DELETER(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free);
LOCKPIPE_OPENSSL_DELETER(EVP_CIPHER, EVP_CIPHER_free);
LOCKPIPE_OPENSSL_DELETER(EVP_PKEY, EVP_PKEY_free);
LOCKPIPE_OPENSSL_DELETER(X509, X509_free);
LOCKPIPE_OPENSSL_DELETER(X509_EXTENSION, X509_EXTENSION_free);
LOCKPIPE_OPENSSL_DELETER(BIO, BIO_free);
LOCKPIPE_OPENSSL_DELETER(BIGNUM, BN_free);

#undef LOCKPIPE_OPENSSL_DELETER

template <typename T>
using OpenSslPtr = std::unique_ptr<T, OpenSslDeleter<T>>;

// The oldest error in this thread's OpenSSL error queue as text ("" when the
// queue is empty), and the queue cleared so that a later call does not report
// this one again.
inline std::string OpenSslErrorText() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace lockpipe
