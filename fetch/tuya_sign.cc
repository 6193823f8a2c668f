#include "fetch/tuya_sign.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <vector>

#include "base/openssl_ptr.h"

namespace lockpipe::tuya {
namespace {

using CtxPtr = OpenSslPtr<EVP_CIPHER_CTX>;

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// AES-ECB with PKCS#7 padding, one shot.
Result<std::string> AesEcb(bool encrypt, std::string_view key, std::string_view in) {
  const EVP_CIPHER* cipher = key.size() == 16   ? EVP_aes_128_ecb()
                             : key.size() == 32 ? EVP_aes_256_ecb()
                                                : nullptr;
  if (cipher == nullptr) {
    return InvalidArgument("AES-ECB key is " + std::to_string(key.size()) +
                           " bytes; expected 16 or 32");
  }
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return InternalError("EVP_CIPHER_CTX_new failed");
  if (EVP_CipherInit_ex(ctx.get(), cipher, nullptr, U(key), nullptr, encrypt ? 1 : 0) != 1) {
    ERR_clear_error();
    return InternalError("cannot start AES-ECB");
  }
  std::string out(in.size() + 16, '\0');
  int n1 = 0;
  int n2 = 0;
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_CipherUpdate(ctx.get(), dst, &n1, U(in), static_cast<int>(in.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), dst + n1, &n2) != 1) {
    ERR_clear_error();
    return Corrupt(encrypt ? "AES-ECB encryption failed"
                           : "AES-ECB decryption failed (bad padding)");
  }
  out.resize(static_cast<std::size_t>(n1 + n2));
  return out;
}

}  // namespace

std::string HexEncode(std::string_view bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

Result<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return Corrupt("hex string has an odd length");
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = val(hex[2 * i]);
    int lo = val(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Corrupt("not a hex string");
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  if (SHA256(U(data), data.size(), md) == nullptr) return "";
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), sizeof md), false);
}

std::string HmacSha256HexUpper(std::string_view key, std::string_view msg) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), U(msg), msg.size(), md, &len) ==
          nullptr ||
      len == 0)
    return "";
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len), true);
}

std::string CanonicalUrl(std::string_view path, const std::map<std::string, std::string>& query) {
  std::string url(path);
  char sep = '?';
  for (const auto& [k, v] : query) {  // std::map iterates in key order
    url += sep;
    url += k;
    url += '=';
    url += v;
    sep = '&';
  }
  return url;
}

std::string StringToSign(const SignInput& in) {
  const std::string body_hash = Sha256Hex(in.body);
  if (body_hash.empty()) return "";
  return in.method + "\n" + body_hash + "\n" + in.signed_headers + "\n" + in.url;
}

std::string Sign(const Secret& access_secret, const SignInput& in) {
  const std::string to_sign = StringToSign(in);
  if (to_sign.empty()) return "";
  return HmacSha256HexUpper(access_secret.reveal(),
                            in.client_id + in.access_token + in.t + in.nonce + to_sign);
}

bool SignaturesEqual(std::string_view a, std::string_view b) {
  if (a.empty() || a.size() != b.size()) return false;
  std::string ua(a);
  std::string ub(b);
  for (auto& c : ua) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (auto& c : ub) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return CRYPTO_memcmp(ua.data(), ub.data(), ua.size()) == 0;
}

Result<Secret> DecryptTicketKey(std::string_view ticket_key_hex, const Secret& access_secret) {
  if (access_secret.size() != 32) {
    return InvalidArgument("the access secret must be 32 characters to decrypt a ticket key (got " +
                           std::to_string(access_secret.size()) + ")");
  }
  auto raw = HexDecode(ticket_key_hex);
  if (!raw.ok()) return Corrupt("ticket_key is " + raw.status().message());
  auto plain = AesEcb(false, access_secret.reveal(), *raw);
  if (!plain.ok()) return Corrupt("ticket_key does not decrypt under the access secret");
  Secret key(std::move(plain).value());
  if (key.size() != 16) {
    return Corrupt("ticket_key decrypts to " + std::to_string(key.size()) +
                   " bytes, not the 16-byte key expected");
  }
  return key;
}

Result<std::string> EncryptDoorPassword(const Secret& password, const Secret& original_key) {
  ASSIGN_OR_RETURN(std::string sealed, AesEcb(true, original_key.reveal(), password.reveal()));
  return HexEncode(sealed, true);
}

Result<std::string> EncryptTicketKey(const Secret& original_key, const Secret& access_secret) {
  ASSIGN_OR_RETURN(std::string sealed, AesEcb(true, access_secret.reveal(), original_key.reveal()));
  return HexEncode(sealed, true);
}

Result<Secret> DecryptDoorPassword(std::string_view password_hex, const Secret& original_key) {
  auto raw = HexDecode(password_hex);
  if (!raw.ok()) return Corrupt("password is " + raw.status().message());
  auto plain = AesEcb(false, original_key.reveal(), *raw);
  if (!plain.ok()) return Corrupt("password does not decrypt under the ticket's key");
  return Secret(std::move(plain).value());
}

}  // namespace lockpipe::tuya
