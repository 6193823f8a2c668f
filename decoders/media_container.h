// The lock media container: how Tuya camera locks store photos and videos.
//
// Layout (remote-unlocking-api.txt, "Remote unlocking with photo capturing"):
//   bytes  0..3   reserved (some producers write a version here)
//   bytes  4..19  the AES-CBC IV
//   bytes 20..63  reserved (some producers write a big-endian length in 20..23)
//   bytes 64..    AES-CBC ciphertext, PKCS#5/#7 padded
// The key is the `file_key` string's bytes as-is (16, 24 or 32 of them for
// AES-128/192/256), exactly as the reference Java demo uses them.
//
// CBC has no authentication: a wrong key is caught by the padding check only
// about 255 times in 256. Use SniffContent() on the first plaintext bytes to
// catch the rest.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/secret.h"
#include "base/status.h"
#include "base/byte_source.h"

namespace lockpipe::media {

inline constexpr std::size_t kHeaderSize = 64;
inline constexpr std::size_t kBlockSize = 16;
inline constexpr std::size_t kIvOffset = 4;

struct Header {
  std::array<std::uint8_t, 16> iv{};
  std::array<std::uint8_t, 4> reserved_front{};  // bytes 0..3
  std::array<std::uint8_t, 44> reserved_back{};  // bytes 20..63

  // Informational only; never required. 0 when the producer wrote zeros.
  std::uint32_t version() const;
  // The big-endian length some producers write in bytes 20..23, if non-zero.
  std::optional<std::uint32_t> declared_length() const;

  std::array<std::uint8_t, kHeaderSize> Serialize() const;
};

// Parses the first 64 bytes of `bytes`. Fails (kCorrupt) if there are fewer.
Result<Header> ParseHeader(std::span<const std::uint8_t> bytes, const std::string& name);
// Reads exactly 64 bytes from `source`, tolerating short reads.
Result<Header> ReadHeader(ByteSource& source);

// Checks that the key has a length AES accepts (16, 24 or 32 bytes).
Status ValidateKey(const Secret& key);

// Decrypts a container fed in chunks of any size, header included. Plaintext
// is appended to `out` as soon as it is known (CBC with padding holds back the
// last block until Finish). Memory use is constant whatever the input size.
//
// Thread-safety: one thread at a time. Owns an EVP_CIPHER_CTX.
class StreamDecryptor {
 public:
  // `name` labels errors (a file name or URL).
  static Result<StreamDecryptor> Create(const Secret& key, std::string name);
  StreamDecryptor(StreamDecryptor&&) noexcept;
  StreamDecryptor& operator=(StreamDecryptor&&) noexcept;
  ~StreamDecryptor();

  Status Update(std::span<const std::uint8_t> in, std::vector<std::uint8_t>* out);
  // The same into a caller's buffer, which must hold in.size() + 16 bytes (no
  // allocation on the hot path). Returns the plaintext bytes written.
  Result<std::size_t> Update(std::span<const std::uint8_t> in, std::span<std::uint8_t> out);
  // Checks that the ciphertext was a whole number of blocks and the padding is
  // valid, and appends the last plaintext bytes.
  Status Finish(std::vector<std::uint8_t>* out);

  // The header, once 64 bytes have been fed.
  const std::optional<Header>& header() const { return header_; }
  std::uint64_t ciphertext_bytes() const { return ciphertext_bytes_; }

 private:
  struct Impl;
  StreamDecryptor(std::unique_ptr<Impl> impl, std::string name);
  std::unique_ptr<Impl> impl_;
  std::string name_;
  std::optional<Header> header_;
  std::array<std::uint8_t, kHeaderSize> header_buf_{};
  std::size_t header_have_ = 0;
  std::uint64_t ciphertext_bytes_ = 0;
  bool finished_ = false;
};

// An IV as the cloud's encryptor writes it (the reference's getIv): 16 ASCII
// characters, each a digit, an upper-case letter A..Y or a lower-case letter
// a..y, the three classes equally likely, drawn from OpenSSL's CSPRNG without
// modulo bias. kInternal when the CSPRNG fails. Decryption takes any 16 bytes.
Result<std::array<std::uint8_t, 16>> DrawReferenceIv();

// Encrypts into the reference layout with a fresh IV from DrawReferenceIv()
// unless one is given (tests). The header goes out with the first Update (or
// Finish, for empty input).
//
// Thread-safety: one thread at a time.
class StreamEncryptor {
 public:
  static Result<StreamEncryptor> Create(const Secret& key,
                                        std::optional<std::array<std::uint8_t, 16>> iv = {});
  StreamEncryptor(StreamEncryptor&&) noexcept;
  StreamEncryptor& operator=(StreamEncryptor&&) noexcept;
  ~StreamEncryptor();

  Status Update(std::span<const std::uint8_t> in, std::vector<std::uint8_t>* out);
  Status Finish(std::vector<std::uint8_t>* out);
  const Header& header() const { return header_; }

 private:
  struct Impl;
  StreamEncryptor(std::unique_ptr<Impl> impl, Header header);
  std::unique_ptr<Impl> impl_;
  Header header_;
  bool header_written_ = false;
};

// One-shot helpers over the streaming classes.
Result<std::vector<std::uint8_t>> Encrypt(const Secret& key, std::span<const std::uint8_t> plain);
Result<std::vector<std::uint8_t>> Decrypt(const Secret& key,
                                          std::span<const std::uint8_t> container,
                                          const std::string& name = "memory");

// Reads any plaintext byte range of a container on a seekable source without
// decrypting what lies before it: CBC block k decrypts with ciphertext block
// k-1 as its IV (the header IV for block 0). Opening decrypts only the last
// block, to learn the padding and so the plaintext size.
//
// Thread-safety: one thread at a time (owns a cipher context and a scratch
// buffer). Open several readers on the same file for several threads.
class RandomAccessDecryptor {
 public:
  static Result<std::unique_ptr<RandomAccessDecryptor>> Open(
      std::unique_ptr<RandomAccessSource> source, const Secret& key);
  ~RandomAccessDecryptor();

  std::uint64_t size() const { return plaintext_size_; }
  const Header& header() const { return header_; }
  const std::string& name() const { return name_; }

  // Reads up to out.size() plaintext bytes at `offset`; fewer only at the end.
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out);

 private:
  struct Impl;
  RandomAccessDecryptor() = default;
  Status DecryptBlocks(std::uint64_t first_block, std::uint64_t count, std::uint8_t* dst);
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<RandomAccessSource> source_;
  Header header_;
  std::string name_;
  std::uint64_t plaintext_size_ = 0;
  std::uint64_t block_count_ = 0;
  std::vector<std::uint8_t> scratch_;  // ciphertext (with the IV block)
  std::vector<std::uint8_t> plain_;    // decrypted blocks
};

// What the first plaintext bytes say the content is.
enum class ContentType { kUnknown, kJpeg, kPng, kMp4 };
const char* ContentTypeName(ContentType type);
ContentType SniffContent(std::span<const std::uint8_t> head);
// Bytes SniffContent needs to decide.
inline constexpr std::size_t kSniffBytes = 12;

}  // namespace lockpipe::media
