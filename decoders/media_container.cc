#include "decoders/media_container.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "base/openssl_ptr.h"

namespace lockpipe::media {
namespace {

using CipherCtxPtr = OpenSslPtr<EVP_CIPHER_CTX>;
using CipherPtr = OpenSslPtr<EVP_CIPHER>;

// The last OpenSSL error as text, and the queue cleared.
std::string OpenSslError() {
  std::string e = OpenSslErrorText();
  return e.empty() ? "unknown OpenSSL error" : e;
}

// Fetched once per call site and kept: an explicit fetch avoids OpenSSL 3's
// per-init implicit algorithm lookup, which dominates small random reads.
Result<CipherPtr> FetchCbc(std::size_t key_len) {
  const char* name = key_len == 16 ? "AES-128-CBC" : key_len == 24 ? "AES-192-CBC" : "AES-256-CBC";
  CipherPtr c(EVP_CIPHER_fetch(nullptr, name, nullptr));
  if (!c) return InternalError(std::string("OpenSSL has no ") + name + ": " + OpenSslError());
  return c;
}

const std::uint8_t* KeyBytes(const Secret& key) {
  return reinterpret_cast<const std::uint8_t*>(key.reveal().data());
}

// EVP takes int lengths; feed it in pieces well under INT_MAX.
constexpr std::size_t kMaxEvpChunk = std::size_t{1} << 30;

}  // namespace

std::uint32_t Header::version() const {
  return (std::uint32_t{reserved_front[0]} << 24) | (std::uint32_t{reserved_front[1]} << 16) |
         (std::uint32_t{reserved_front[2]} << 8) | std::uint32_t{reserved_front[3]};
}

std::optional<std::uint32_t> Header::declared_length() const {
  std::uint32_t v = (std::uint32_t{reserved_back[0]} << 24) |
                    (std::uint32_t{reserved_back[1]} << 16) |
                    (std::uint32_t{reserved_back[2]} << 8) | std::uint32_t{reserved_back[3]};
  if (v == 0) return std::nullopt;
  return v;
}

std::array<std::uint8_t, kHeaderSize> Header::Serialize() const {
  std::array<std::uint8_t, kHeaderSize> out{};
  std::memcpy(out.data(), reserved_front.data(), reserved_front.size());
  std::memcpy(out.data() + kIvOffset, iv.data(), iv.size());
  std::memcpy(out.data() + kIvOffset + iv.size(), reserved_back.data(), reserved_back.size());
  return out;
}

Result<Header> ParseHeader(std::span<const std::uint8_t> bytes, const std::string& name) {
  if (bytes.size() < kHeaderSize) {
    return Corrupt(name + ": header is cut short: got " + std::to_string(bytes.size()) +
                   " of 64 bytes");
  }
  Header h;
  std::memcpy(h.reserved_front.data(), bytes.data(), h.reserved_front.size());
  std::memcpy(h.iv.data(), bytes.data() + kIvOffset, h.iv.size());
  std::memcpy(h.reserved_back.data(), bytes.data() + kIvOffset + h.iv.size(),
              h.reserved_back.size());
  return h;
}

Result<Header> ReadHeader(ByteSource& source) {
  std::array<std::uint8_t, kHeaderSize> buf{};
  RETURN_IF_ERROR(ReadExactly(source, buf, "header"));
  return ParseHeader(buf, source.name());
}

Status ValidateKey(const Secret& key) {
  std::size_t n = key.size();
  if (n == 16 || n == 24 || n == 32) return Status::Ok();
  return InvalidArgument("key is " + std::to_string(n) +
                         " bytes long; AES takes 16, 24 or 32 (the file_key string as-is)");
}

// ---------------------------------------------------------------------------
// StreamDecryptor

struct StreamDecryptor::Impl {
  CipherCtxPtr ctx;
  CipherPtr cipher;
  Secret key;
};

StreamDecryptor::StreamDecryptor(std::unique_ptr<Impl> impl, std::string name)
    : impl_(std::move(impl)), name_(std::move(name)) {}
StreamDecryptor::StreamDecryptor(StreamDecryptor&&) noexcept = default;
StreamDecryptor& StreamDecryptor::operator=(StreamDecryptor&&) noexcept = default;
StreamDecryptor::~StreamDecryptor() = default;

Result<StreamDecryptor> StreamDecryptor::Create(const Secret& key, std::string name) {
  RETURN_IF_ERROR(ValidateKey(key));
  auto impl = std::make_unique<Impl>();
  impl->ctx.reset(EVP_CIPHER_CTX_new());
  if (!impl->ctx) return InternalError("EVP_CIPHER_CTX_new failed: " + OpenSslError());
  ASSIGN_OR_RETURN(impl->cipher, FetchCbc(key.size()));
  impl->key = key;
  return StreamDecryptor(std::move(impl), std::move(name));
}

Result<std::size_t> StreamDecryptor::Update(std::span<const std::uint8_t> in,
                                            std::span<std::uint8_t> out) {
  if (finished_) return InternalError(name_ + ": decryptor used after Finish");
  if (!header_) {
    std::size_t take = std::min(kHeaderSize - header_have_, in.size());
    std::memcpy(header_buf_.data() + header_have_, in.data(), take);
    header_have_ += take;
    in = in.subspan(take);
    if (header_have_ < kHeaderSize) return std::size_t{0};
    ASSIGN_OR_RETURN(header_, ParseHeader(header_buf_, name_));
    if (EVP_DecryptInit_ex2(impl_->ctx.get(), impl_->cipher.get(), KeyBytes(impl_->key),
                            header_->iv.data(), nullptr) != 1) {
      return InternalError(name_ + ": cannot start AES-CBC: " + OpenSslError());
    }
  }
  if (out.size() < in.size() + kBlockSize) {
    return InternalError(name_ + ": decrypt output buffer too small");
  }
  std::size_t written = 0;
  while (!in.empty()) {
    std::size_t piece = std::min(in.size(), kMaxEvpChunk);
    int outl = 0;
    if (EVP_DecryptUpdate(impl_->ctx.get(), out.data() + written, &outl, in.data(),
                          static_cast<int>(piece)) != 1) {
      return Corrupt(name_ + ": AES-CBC decryption failed: " + OpenSslError());
    }
    written += static_cast<std::size_t>(outl);
    ciphertext_bytes_ += piece;
    in = in.subspan(piece);
  }
  return written;
}

Status StreamDecryptor::Update(std::span<const std::uint8_t> in, std::vector<std::uint8_t>* out) {
  std::size_t old = out->size();
  out->resize(old + in.size() + kBlockSize);
  auto n = Update(in, std::span<std::uint8_t>(out->data() + old, in.size() + kBlockSize));
  out->resize(old + (n.ok() ? *n : 0));
  return n.status();
}

Status StreamDecryptor::Finish(std::vector<std::uint8_t>* out) {
  if (finished_) return InternalError(name_ + ": Finish called twice");
  finished_ = true;
  if (!header_) {
    return Corrupt(name_ + ": header is cut short: got " + std::to_string(header_have_) +
                   " of 64 bytes");
  }
  if (ciphertext_bytes_ == 0) return Corrupt(name_ + ": no ciphertext after the 64-byte header");
  if (ciphertext_bytes_ % kBlockSize != 0) {
    return Corrupt(name_ + ": ciphertext is " + std::to_string(ciphertext_bytes_) +
                   " bytes, not a whole number of 16-byte AES blocks (truncated or corrupt)");
  }
  std::uint8_t last[kBlockSize];
  int outl = 0;
  if (EVP_DecryptFinal_ex(impl_->ctx.get(), last, &outl) != 1) {
    ERR_clear_error();
    return Corrupt(name_ + ": wrong key or corrupt data (bad padding)");
  }
  out->insert(out->end(), last, last + outl);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// StreamEncryptor

struct StreamEncryptor::Impl {
  CipherCtxPtr ctx;
};

StreamEncryptor::StreamEncryptor(std::unique_ptr<Impl> impl, Header header)
    : impl_(std::move(impl)), header_(header) {}
StreamEncryptor::StreamEncryptor(StreamEncryptor&&) noexcept = default;
StreamEncryptor& StreamEncryptor::operator=(StreamEncryptor&&) noexcept = default;
StreamEncryptor::~StreamEncryptor() = default;

Result<std::array<std::uint8_t, 16>> DrawReferenceIv() {
  // An unbiased draw from [0, n): bytes at or above the largest multiple of
  // n below 256 are drawn again.
  std::array<std::uint8_t, 64> pool{};
  std::size_t used = pool.size();
  auto draw = [&](unsigned n) -> Result<unsigned> {
    const unsigned limit = 256 - 256 % n;
    for (;;) {
      if (used == pool.size()) {
        if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1)
          return InternalError("cannot draw a random IV: " + OpenSslError());
        used = 0;
      }
      const unsigned b = pool[used++];
      if (b < limit) return b % n;
    }
  };
  std::array<std::uint8_t, 16> iv{};
  for (auto& c : iv) {
    ASSIGN_OR_RETURN(const unsigned kind, draw(3));
    // As getIv: rd.nextInt(10) digits, 65 + rd.nextInt(25), 97 + rd.nextInt(25).
    ASSIGN_OR_RETURN(const unsigned v, draw(kind == 0 ? 10 : 25));
    c = static_cast<std::uint8_t>((kind == 0 ? '0' : kind == 1 ? 'A' : 'a') + v);
  }
  return iv;
}

Result<StreamEncryptor> StreamEncryptor::Create(const Secret& key,
                                                std::optional<std::array<std::uint8_t, 16>> iv) {
  RETURN_IF_ERROR(ValidateKey(key));
  Header header;
  if (iv) {
    header.iv = *iv;
  } else {
    ASSIGN_OR_RETURN(header.iv, DrawReferenceIv());
  }
  auto impl = std::make_unique<Impl>();
  impl->ctx.reset(EVP_CIPHER_CTX_new());
  if (!impl->ctx) return InternalError("EVP_CIPHER_CTX_new failed: " + OpenSslError());
  ASSIGN_OR_RETURN(CipherPtr cipher, FetchCbc(key.size()));
  if (EVP_EncryptInit_ex2(impl->ctx.get(), cipher.get(), KeyBytes(key), header.iv.data(),
                          nullptr) != 1) {
    return InternalError("cannot start AES-CBC: " + OpenSslError());
  }
  return StreamEncryptor(std::move(impl), header);
}

Status StreamEncryptor::Update(std::span<const std::uint8_t> in, std::vector<std::uint8_t>* out) {
  if (!header_written_) {
    auto h = header_.Serialize();
    out->insert(out->end(), h.begin(), h.end());
    header_written_ = true;
  }
  while (!in.empty()) {
    std::size_t piece = std::min(in.size(), kMaxEvpChunk);
    std::size_t old = out->size();
    out->resize(old + piece + kBlockSize);
    int outl = 0;
    if (EVP_EncryptUpdate(impl_->ctx.get(), out->data() + old, &outl, in.data(),
                          static_cast<int>(piece)) != 1) {
      out->resize(old);
      return InternalError("AES-CBC encryption failed: " + OpenSslError());
    }
    out->resize(old + static_cast<std::size_t>(outl));
    in = in.subspan(piece);
  }
  return Status::Ok();
}

Status StreamEncryptor::Finish(std::vector<std::uint8_t>* out) {
  RETURN_IF_ERROR(Update({}, out));
  std::uint8_t last[kBlockSize];
  int outl = 0;
  if (EVP_EncryptFinal_ex(impl_->ctx.get(), last, &outl) != 1) {
    return InternalError("AES-CBC encryption failed: " + OpenSslError());
  }
  out->insert(out->end(), last, last + outl);
  return Status::Ok();
}

Result<std::vector<std::uint8_t>> Encrypt(const Secret& key, std::span<const std::uint8_t> plain) {
  ASSIGN_OR_RETURN(auto enc, StreamEncryptor::Create(key));
  std::vector<std::uint8_t> out;
  out.reserve(kHeaderSize + plain.size() + kBlockSize);
  RETURN_IF_ERROR(enc.Update(plain, &out));
  RETURN_IF_ERROR(enc.Finish(&out));
  return out;
}

Result<std::vector<std::uint8_t>> Decrypt(const Secret& key,
                                          std::span<const std::uint8_t> container,
                                          const std::string& name) {
  ASSIGN_OR_RETURN(auto dec, StreamDecryptor::Create(key, name));
  std::vector<std::uint8_t> out;
  out.reserve(container.size());
  RETURN_IF_ERROR(dec.Update(container, &out));
  RETURN_IF_ERROR(dec.Finish(&out));
  return out;
}

// ---------------------------------------------------------------------------
// RandomAccessDecryptor

struct RandomAccessDecryptor::Impl {
  CipherCtxPtr ctx;
  CipherPtr cipher;
  Secret key;
};

RandomAccessDecryptor::~RandomAccessDecryptor() = default;

namespace {
// Blocks decrypted per round trip to the source: bounds the scratch buffer.
constexpr std::uint64_t kBlocksPerRead = 4096;  // 64 KiB
}  // namespace

Result<std::unique_ptr<RandomAccessDecryptor>> RandomAccessDecryptor::Open(
    std::unique_ptr<RandomAccessSource> source, const Secret& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  std::unique_ptr<RandomAccessDecryptor> r(new RandomAccessDecryptor());
  r->name_ = source->name();
  ASSIGN_OR_RETURN(std::uint64_t total, source->Size());
  std::array<std::uint8_t, kHeaderSize> hbuf{};
  ASSIGN_OR_RETURN(std::size_t got, source->ReadAt(0, hbuf));
  ASSIGN_OR_RETURN(r->header_, ParseHeader(std::span(hbuf.data(), got), r->name_));
  std::uint64_t ct = total - kHeaderSize;
  if (ct == 0) return Corrupt(r->name_ + ": no ciphertext after the 64-byte header");
  if (ct % kBlockSize != 0) {
    return Corrupt(r->name_ + ": ciphertext is " + std::to_string(ct) +
                   " bytes, not a whole number of 16-byte AES blocks (truncated or corrupt)");
  }
  r->block_count_ = ct / kBlockSize;
  r->source_ = std::move(source);
  r->impl_ = std::make_unique<Impl>();
  r->impl_->ctx.reset(EVP_CIPHER_CTX_new());
  if (!r->impl_->ctx) return InternalError("EVP_CIPHER_CTX_new failed: " + OpenSslError());
  ASSIGN_OR_RETURN(r->impl_->cipher, FetchCbc(key.size()));
  r->impl_->key = key;
  r->scratch_.resize((kBlocksPerRead + 1) * kBlockSize);
  r->plain_.resize(kBlocksPerRead * kBlockSize);

  std::uint8_t last[kBlockSize];
  RETURN_IF_ERROR(r->DecryptBlocks(r->block_count_ - 1, 1, last));
  unsigned pad = last[kBlockSize - 1];
  bool ok = pad >= 1 && pad <= kBlockSize;
  for (unsigned i = 0; ok && i < pad; ++i) ok = last[kBlockSize - 1 - i] == pad;
  if (!ok) return Corrupt(r->name_ + ": wrong key or corrupt data (bad padding)");
  r->plaintext_size_ = ct - pad;
  return r;
}

// Decrypts `count` (<= kBlocksPerRead) ciphertext blocks starting at block
// `first` into dst (count * 16 bytes), without padding handling.
Status RandomAccessDecryptor::DecryptBlocks(std::uint64_t first, std::uint64_t count,
                                            std::uint8_t* dst) {
  const bool from_header = first == 0;
  std::uint64_t offset = kHeaderSize + (from_header ? 0 : (first - 1) * kBlockSize);
  std::size_t want = static_cast<std::size_t>((count + (from_header ? 0 : 1)) * kBlockSize);
  ASSIGN_OR_RETURN(std::size_t got, source_->ReadAt(offset, std::span(scratch_.data(), want)));
  if (got != want) {
    return Corrupt(name_ + ": source ended early (" + std::to_string(got) + " of " +
                   std::to_string(want) + " bytes at offset " + std::to_string(offset) + ")");
  }
  const std::uint8_t* iv = from_header ? header_.iv.data() : scratch_.data();
  const std::uint8_t* in = from_header ? scratch_.data() : scratch_.data() + kBlockSize;
  EVP_CIPHER_CTX* ctx = impl_->ctx.get();
  // Re-keying costs little next to a fresh context; padding is ours to handle.
  if (EVP_DecryptInit_ex2(ctx, impl_->cipher.get(), KeyBytes(impl_->key), iv, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
    return InternalError(name_ + ": cannot start AES-CBC: " + OpenSslError());
  }
  int outl = 0;
  if (EVP_DecryptUpdate(ctx, dst, &outl, in, static_cast<int>(count * kBlockSize)) != 1 ||
      static_cast<std::uint64_t>(outl) != count * kBlockSize) {
    return Corrupt(name_ + ": AES-CBC decryption failed: " + OpenSslError());
  }
  return Status::Ok();
}

Result<std::size_t> RandomAccessDecryptor::ReadAt(std::uint64_t offset,
                                                  std::span<std::uint8_t> out) {
  if (offset >= plaintext_size_ || out.empty()) return std::size_t{0};
  std::size_t n =
      static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), plaintext_size_ - offset));
  std::size_t done = 0;
  while (done < n) {
    std::uint64_t pos = offset + done;
    std::uint64_t first = pos / kBlockSize;
    std::uint64_t last = (offset + n - 1) / kBlockSize;
    std::uint64_t count = std::min<std::uint64_t>(last - first + 1, kBlocksPerRead);
    RETURN_IF_ERROR(DecryptBlocks(first, count, plain_.data()));
    std::size_t skip = static_cast<std::size_t>(pos - first * kBlockSize);
    std::size_t take =
        std::min<std::size_t>(n - done, static_cast<std::size_t>(count * kBlockSize) - skip);
    std::memcpy(out.data() + done, plain_.data() + skip, take);
    done += take;
  }
  return n;
}

// ---------------------------------------------------------------------------

const char* ContentTypeName(ContentType type) {
  switch (type) {
    case ContentType::kJpeg:
      return "JPEG";
    case ContentType::kPng:
      return "PNG";
    case ContentType::kMp4:
      return "MP4";
    case ContentType::kUnknown:
      return "unknown";
  }
  return "unknown";
}

ContentType SniffContent(std::span<const std::uint8_t> h) {
  if (h.size() >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) return ContentType::kJpeg;
  static constexpr std::uint8_t kPng[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (h.size() >= 8 && std::memcmp(h.data(), kPng, 8) == 0) return ContentType::kPng;
  if (h.size() >= 8 && std::memcmp(h.data() + 4, "ftyp", 4) == 0) return ContentType::kMp4;
  return ContentType::kUnknown;
}

}  // namespace lockpipe::media
