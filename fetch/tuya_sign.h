// Tuya OpenAPI request signing (HMAC-SHA256 scheme) and the ticket/password
// cryptography of the lock API. Shared by the client (fetch/) and the
// emulator (emulator/), and checked against Tuya's published test vectors.
//
//   stringToSign = METHOD "\n" hex(sha256(body)) "\n" signedHeaders "\n" url
//   token call:    str = client_id + t + nonce + stringToSign
//   business call: str = client_id + access_token + t + nonce + stringToSign
//   sign = UPPERCASE_HEX(HMAC_SHA256(access secret, str))
//
// All functions are pure and thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/secret.h"
#include "base/status.h"

namespace lockpipe::tuya {

// Lower-case hex of SHA-256 of `data`; "" if OpenSSL fails (never a digest of
// uninitialised memory). SignaturesEqual never accepts "".
std::string Sha256Hex(std::string_view data);
// Upper-case hex of HMAC-SHA256(key, msg); "" if OpenSSL fails.
std::string HmacSha256HexUpper(std::string_view key, std::string_view msg);

// The `url` part of the string to sign: the path, then "?" and the query
// parameters sorted by key, joined with "&", values not URL-encoded.
std::string CanonicalUrl(std::string_view path, const std::map<std::string, std::string>& query);

struct SignInput {
  std::string method;          // "GET", "POST", ...
  std::string body;            // exactly the bytes sent ("" for none)
  std::string signed_headers;  // "name:value\n" per header in Signature-Headers, or ""
  std::string url;             // CanonicalUrl(...)
  std::string client_id;
  std::string access_token;  // empty for token calls
  std::string t;             // 13-digit milliseconds
  std::string nonce;         // may be empty
};

// "" if OpenSSL cannot hash the body.
std::string StringToSign(const SignInput& in);
// The `sign` header value; "" if OpenSSL fails (a request signed "" is refused).
std::string Sign(const Secret& access_secret, const SignInput& in);
// Constant-time comparison of two signatures (case-insensitive hex). An empty
// signature equals nothing, itself included: a failed digest never verifies.
bool SignaturesEqual(std::string_view a, std::string_view b);

// --- password-ticket cryptography ---------------------------------------
// ticket_key (hex) decrypted with AES-256-ECB/PKCS7 under the 32-byte access
// secret gives the 16-byte "original key".
Result<Secret> DecryptTicketKey(std::string_view ticket_key_hex, const Secret& access_secret);
// The 6-digit door password encrypted with AES-128-ECB/PKCS7 under the
// original key, as upper-case hex (the documentation's form).
Result<std::string> EncryptDoorPassword(const Secret& password, const Secret& original_key);

// The server's side of the same (used by the emulator).
Result<std::string> EncryptTicketKey(const Secret& original_key, const Secret& access_secret);
// Accepts upper- or lower-case hex.
Result<Secret> DecryptDoorPassword(std::string_view password_hex, const Secret& original_key);

// Hex helpers.
std::string HexEncode(std::string_view bytes, bool upper);
Result<std::string> HexDecode(std::string_view hex);

}  // namespace lockpipe::tuya
