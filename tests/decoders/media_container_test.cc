#include "decoders/media_container.h"

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <map>
#include <random>

#include "base/file_util.h"
#include "tests/testutil.h"

namespace lockpipe::media {
namespace {

using lockpipe::testing::RandomBytes;
using lockpipe::testing::RunShell;
using lockpipe::testing::ShellQuote;
using lockpipe::testing::TempDir;

const std::vector<std::size_t> kSizes = {0,  1,    15,   16,   17,    31,     32,
                                         33, 4095, 4096, 4097, 65536, 3 << 20};
const std::vector<std::size_t> kChunks = {1, 15, 16, 17, 4096, 65536};
// Every key length AES takes, as the file_key strings a cloud would hand out.
const std::vector<std::string> kKeys = {"u8kstrtjm7qun83q", "0123456789abcdefghijklmn",
                                        "0123456789abcdefghijklmnopqrstuv"};

// Sealed under a fixed IV: what a wrong key makes of the last block - and so
// whether its padding happens to check out, about 1 time in 256 - is then the
// same in every run, instead of a flaky test.
std::vector<std::uint8_t> SealWithFixedIv(const Secret& key, std::span<const std::uint8_t> plain) {
  std::array<std::uint8_t, 16> iv;
  iv.fill(0x5A);
  auto enc = StreamEncryptor::Create(key, iv);
  EXPECT_TRUE(enc.ok());
  std::vector<std::uint8_t> out;
  EXPECT_OK(enc->Update(plain, &out));
  EXPECT_OK(enc->Finish(&out));
  return out;
}

std::vector<std::uint8_t> DecryptInChunks(const Secret& key, std::span<const std::uint8_t> sealed,
                                          std::size_t chunk, Status* status) {
  auto dec = StreamDecryptor::Create(key, "test");
  EXPECT_TRUE(dec.ok());
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < sealed.size(); i += chunk) {
    auto piece = sealed.subspan(i, std::min(chunk, sealed.size() - i));
    *status = dec->Update(piece, &out);
    if (!status->ok()) return out;
    // Plaintext comes out as it becomes known: never more than one block
    // (plus the header) behind what went in.
    std::size_t in_so_far = i + piece.size();
    if (in_so_far > kHeaderSize + 2 * kBlockSize) {
      EXPECT_GE(out.size() + kHeaderSize + 2 * kBlockSize, in_so_far);
    }
  }
  *status = dec->Finish(&out);
  return out;
}

TEST(MediaContainer, RoundTripsEverySizeChunkAndKeyLength) {
  for (const auto& k : kKeys) {
    Secret key(k);
    for (std::size_t size : kSizes) {
      auto plain = RandomBytes(size, static_cast<std::uint32_t>(size + k.size()));
      auto sealed = Encrypt(key, plain);
      ASSERT_OK_R(sealed);
      ASSERT_EQ(sealed->size(), kHeaderSize + (size / kBlockSize + 1) * kBlockSize);
      for (std::size_t chunk : kChunks) {
        if (size > 100000 && chunk < 4096) continue;  // 1-byte feeds of MiBs add nothing
        Status st;
        auto out = DecryptInChunks(key, *sealed, chunk, &st);
        ASSERT_OK(st);
        ASSERT_EQ(out, plain) << "size " << size << " chunk " << chunk << " key " << k.size();
      }
    }
  }
}

TEST(MediaContainer, EncryptorChunkingDoesNotChangeCiphertext) {
  Secret key(kKeys[0]);
  std::array<std::uint8_t, 16> iv{};
  iv.fill(7);
  auto plain = RandomBytes(10000, 3);
  std::vector<std::uint8_t> whole;
  {
    auto enc = StreamEncryptor::Create(key, iv);
    ASSERT_OK_R(enc);
    ASSERT_OK(enc->Update(plain, &whole));
    ASSERT_OK(enc->Finish(&whole));
  }
  for (std::size_t chunk : kChunks) {
    auto enc = StreamEncryptor::Create(key, iv);
    ASSERT_OK_R(enc);
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < plain.size(); i += chunk)
      ASSERT_OK(enc->Update(std::span(plain).subspan(i, std::min(chunk, plain.size() - i)), &out));
    ASSERT_OK(enc->Finish(&out));
    EXPECT_EQ(out, whole) << "chunk " << chunk;
  }
}

TEST(MediaContainer, HeaderLayoutAndFreshIvs) {
  Secret key(kKeys[0]);
  auto a = Encrypt(key, RandomBytes(100, 1));
  auto b = Encrypt(key, RandomBytes(100, 1));
  ASSERT_OK_R(a);
  ASSERT_OK_R(b);
  // Reserved bytes are zero, as the reference demo writes them.
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ((*a)[i], 0);
  for (std::size_t i = 20; i < 64; ++i) EXPECT_EQ((*a)[i], 0);
  // A fresh IV per file.
  EXPECT_NE(std::vector(a->begin() + 4, a->begin() + 20),
            std::vector(b->begin() + 4, b->begin() + 20));
}

TEST(MediaContainer, IvsAreWrittenAsTheCloudWritesThem) {
  // getIv: digits, A..Y and a..y (never Z or z), each class a third of the time.
  const std::string alphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYabcdefghijklmnopqrstuvwxy";
  std::map<char, int> seen;
  int digits = 0, upper = 0, lower = 0;
  constexpr int kIvs = 3000;
  for (int i = 0; i < kIvs; ++i) {
    auto iv = DrawReferenceIv();
    ASSERT_OK_R(iv);
    for (std::uint8_t c : *iv) {
      ASSERT_NE(alphabet.find(static_cast<char>(c)), std::string::npos) << int{c};
      ++seen[static_cast<char>(c)];
      digits += std::isdigit(c) != 0;
      upper += std::isupper(c) != 0;
      lower += std::islower(c) != 0;
    }
  }
  EXPECT_EQ(seen.size(), alphabet.size());  // every character is drawn
  // 48,000 draws: each class 16,000 ± 5 standard deviations (~103).
  for (int n : {digits, upper, lower}) {
    EXPECT_GT(n, 16000 - 520);
    EXPECT_LT(n, 16000 + 520);
  }
  // What Encrypt (and so `lockpipe encrypt` and the emulator) writes.
  auto sealed = Encrypt(Secret(kKeys[0]), RandomBytes(10, 2));
  ASSERT_OK_R(sealed);
  for (std::size_t i = 4; i < 20; ++i)
    EXPECT_NE(alphabet.find(static_cast<char>((*sealed)[i])), std::string::npos) << i;
}

TEST(MediaContainer, ReservedFieldsAreInformationalOnly) {
  Secret key(kKeys[0]);
  auto plain = RandomBytes(1000, 9);
  auto sealed = Encrypt(key, plain);
  ASSERT_OK_R(sealed);
  // A producer that writes a version in 0..3 and a big-endian length in 20..23.
  (*sealed)[3] = 2;
  (*sealed)[22] = 0x03;
  (*sealed)[23] = 0xE8;
  auto hdr = ParseHeader(*sealed, "x");
  ASSERT_OK_R(hdr);
  EXPECT_EQ(hdr->version(), 2u);
  ASSERT_TRUE(hdr->declared_length().has_value());
  EXPECT_EQ(*hdr->declared_length(), 1000u);
  auto out = Decrypt(key, *sealed);
  ASSERT_OK_R(out);
  EXPECT_EQ(*out, plain);
}

// A source that hands out at most one byte per read, like a slow socket.
class TrickleSource : public ByteSource {
 public:
  explicit TrickleSource(std::span<const std::uint8_t> d) : data_(d) {}
  Result<std::size_t> Read(std::span<std::uint8_t> out) override {
    if (pos_ >= data_.size() || out.empty()) return std::size_t{0};
    out[0] = data_[pos_++];
    return std::size_t{1};
  }
  std::string name() const override { return "trickle"; }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

TEST(MediaContainer, HeaderReaderHandlesShortReads) {
  auto sealed = Encrypt(Secret(kKeys[0]), RandomBytes(10, 2));
  ASSERT_OK_R(sealed);
  TrickleSource src(*sealed);
  auto hdr = ReadHeader(src);
  ASSERT_OK_R(hdr);
  EXPECT_TRUE(std::equal(hdr->iv.begin(), hdr->iv.end(), sealed->begin() + 4));
  std::vector<std::uint8_t> shorter(sealed->begin(), sealed->begin() + 40);
  TrickleSource short_src(shorter);
  auto bad = ReadHeader(short_src);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "trickle: header is cut short: got 40 of 64 bytes");
}

TEST(MediaContainer, StreamingErrorsNameTheProblem) {
  Secret key(kKeys[0]);
  const auto sealed = SealWithFixedIv(key, RandomBytes(100, 4));
  auto fail = [&](std::span<const std::uint8_t> data, const Secret& k) {
    auto r = Decrypt(k, data, "cap.bin");
    EXPECT_FALSE(r.ok());
    return r.status().message();
  };
  EXPECT_EQ(fail(std::span(sealed).first(63), key),
            "cap.bin: header is cut short: got 63 of 64 bytes");
  EXPECT_EQ(fail(std::span(sealed).first(64), key),
            "cap.bin: no ciphertext after the 64-byte header");
  EXPECT_EQ(fail(std::span(sealed).first(64 + 20), key),
            "cap.bin: ciphertext is 20 bytes, not a whole number of 16-byte AES blocks (truncated "
            "or corrupt)");
  EXPECT_EQ(fail(sealed, Secret("wrongwrongwrong!")),
            "cap.bin: wrong key or corrupt data (bad padding)");
  auto short_key = Decrypt(Secret("short"), sealed);
  ASSERT_FALSE(short_key.ok());
  EXPECT_EQ(short_key.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(short_key.status().message(),
            "key is 5 bytes long; AES takes 16, 24 or 32 (the file_key string as-is)");
}

TEST(MediaContainer, WrongKeyAlmostAlwaysFailsPaddingAndContentCheckCatchesTheRest) {
  // CBC is unauthenticated: count how often a wrong key passes the padding
  // check, and check that content sniffing rejects every one that does.
  std::vector<std::uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1};
  auto rest = RandomBytes(500, 5);
  jpeg.insert(jpeg.end(), rest.begin(), rest.end());
  auto sealed = Encrypt(Secret(kKeys[0]), jpeg);
  ASSERT_OK_R(sealed);
  ASSERT_EQ(SniffContent(*Decrypt(Secret(kKeys[0]), *sealed)), ContentType::kJpeg);
  int passed_padding = 0;
  for (int i = 0; i < 2000; ++i) {
    char k[17];
    std::snprintf(k, sizeof k, "wrongkey%08d", i);
    auto r = Decrypt(Secret(k), *sealed);
    if (!r.ok()) continue;
    ++passed_padding;
    EXPECT_EQ(SniffContent(*r), ContentType::kUnknown);
  }
  EXPECT_LT(passed_padding, 40);  // about 2000/256 expected
}

TEST(MediaContainer, SniffsCommonMedia) {
  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0};
  std::vector<std::uint8_t> mp4 = {0, 0, 0, 0x20, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm'};
  std::vector<std::uint8_t> txt = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'};
  EXPECT_EQ(SniffContent(png), ContentType::kPng);
  EXPECT_EQ(SniffContent(mp4), ContentType::kMp4);
  EXPECT_EQ(SniffContent(txt), ContentType::kUnknown);
  EXPECT_EQ(SniffContent({}), ContentType::kUnknown);
}

TEST(RandomAccess, RandomRangesEqualTheFullDecryption) {
  std::mt19937 gen(42);
  for (const auto& k : kKeys) {
    Secret key(k);
    for (std::size_t size : kSizes) {
      if (size == 0) continue;
      auto plain = RandomBytes(size, static_cast<std::uint32_t>(size));
      auto sealed = Encrypt(key, plain);
      ASSERT_OK_R(sealed);
      auto r = RandomAccessDecryptor::Open(std::make_unique<MemorySource>(*sealed), key);
      ASSERT_OK_R(r);
      ASSERT_EQ((*r)->size(), size);
      for (int i = 0; i < 50; ++i) {
        std::uint64_t off = gen() % size;
        std::size_t len = 1 + gen() % std::min<std::size_t>(size - off + 20, 200000);
        std::vector<std::uint8_t> buf(len);
        auto n = (*r)->ReadAt(off, buf);
        ASSERT_OK_R(n);
        std::size_t expect = std::min<std::size_t>(len, size - off);
        ASSERT_EQ(*n, expect);
        ASSERT_TRUE(std::equal(buf.begin(), buf.begin() + static_cast<long>(expect),
                               plain.begin() + static_cast<long>(off)))
            << "size " << size << " off " << off << " len " << len;
      }
      std::vector<std::uint8_t> past(4);
      auto n = (*r)->ReadAt(size, past);
      ASSERT_OK_R(n);
      EXPECT_EQ(*n, 0u);
    }
  }
}

// Counts what the decryptor reads, to prove it does not decrypt what lies
// before the range it was asked for.
class CountingSource : public RandomAccessSource {
 public:
  explicit CountingSource(std::vector<std::uint8_t> d) : mem_(std::move(d)) {}
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
    bytes_read += out.size();
    return mem_.ReadAt(offset, out);
  }
  Result<std::uint64_t> Size() override { return mem_.Size(); }
  std::string name() const override { return "counting"; }
  std::size_t bytes_read = 0;

 private:
  MemorySource mem_;
};

TEST(RandomAccess, ReadsOnlyTheBlocksItNeeds) {
  Secret key(kKeys[0]);
  auto plain = RandomBytes(8 << 20, 11);
  auto sealed = Encrypt(key, plain);
  ASSERT_OK_R(sealed);
  auto src = std::make_unique<CountingSource>(*sealed);
  CountingSource* counter = src.get();
  auto r = RandomAccessDecryptor::Open(std::move(src), key);
  ASSERT_OK_R(r);
  // Opening reads the header and the last two blocks only.
  EXPECT_LE(counter->bytes_read, kHeaderSize + 2 * kBlockSize);
  counter->bytes_read = 0;
  std::vector<std::uint8_t> buf(100);
  ASSERT_OK_R((*r)->ReadAt(7'000'001, buf));
  EXPECT_LE(counter->bytes_read, 100 + 3 * kBlockSize);
  EXPECT_TRUE(std::equal(buf.begin(), buf.end(), plain.begin() + 7'000'001));
}

TEST(RandomAccess, RefusesBadContainers) {
  Secret key(kKeys[0]);
  const auto sealed = SealWithFixedIv(key, RandomBytes(1000, 12));
  auto open = [&](std::vector<std::uint8_t> data, const Secret& k) {
    auto r =
        RandomAccessDecryptor::Open(std::make_unique<MemorySource>(std::move(data), "cap.bin"), k);
    EXPECT_FALSE(r.ok());
    return r.status().message();
  };
  EXPECT_EQ(open(std::vector(sealed.begin(), sealed.begin() + 10), key),
            "cap.bin: header is cut short: got 10 of 64 bytes");
  EXPECT_EQ(open(std::vector(sealed.begin(), sealed.end() - 1), key),
            "cap.bin: ciphertext is 1007 bytes, not a whole number of 16-byte AES blocks "
            "(truncated or corrupt)");
  EXPECT_EQ(open(sealed, Secret("wrongwrongwrong!")),
            "cap.bin: wrong key or corrupt data (bad padding)");
}

// Independent implementation #1: the openssl command line, on the ciphertext
// after the header, with the IV from bytes 4..19.
TEST(CrossCheck, OpensslEncAgreesBothWays) {
  if (!lockpipe::testing::HaveProgram("openssl")) GTEST_SKIP() << "no openssl program on PATH";
  TempDir dir;
  for (const auto& k : kKeys) {
    Secret key(k);
    const char* cipher = k.size() == 16   ? "aes-128-cbc"
                         : k.size() == 24 ? "aes-192-cbc"
                                          : "aes-256-cbc";
    std::string key_hex;
    for (char c : k) {
      char h[3];
      std::snprintf(h, sizeof h, "%02x", static_cast<unsigned char>(c));
      key_hex += h;
    }
    for (std::size_t size :
         {std::size_t{0}, std::size_t{17}, std::size_t{4096}, std::size_t{100000}}) {
      auto plain = RandomBytes(size, 77);
      lockpipe::testing::WriteFile(dir.File("plain"), plain);
      // lockpipe encrypts, openssl decrypts.
      auto sealed = Encrypt(key, plain);
      ASSERT_OK_R(sealed);
      lockpipe::testing::WriteFile(dir.File("sealed"), *sealed);
      std::string iv_hex;
      for (std::size_t i = 4; i < 20; ++i) {
        char h[3];
        std::snprintf(h, sizeof h, "%02x", (*sealed)[i]);
        iv_hex += h;
      }
      auto r = RunShell("tail -c +65 " + ShellQuote(dir.File("sealed")) + " | openssl enc -d -" +
                        cipher + " -K " + key_hex + " -iv " + iv_hex + " > " +
                        ShellQuote(dir.File("out")));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(lockpipe::testing::ReadFile(dir.File("out")), plain);
      // openssl encrypts (behind a header we write), lockpipe decrypts.
      std::vector<std::uint8_t> header(64, 0);
      for (std::size_t i = 0; i < 16; ++i) header[4 + i] = static_cast<std::uint8_t>(0xA0 + i);
      lockpipe::testing::WriteFile(dir.File("hdr"), header);
      r = RunShell("{ cat " + ShellQuote(dir.File("hdr")) + "; openssl enc -e -" + cipher + " -K " +
                   key_hex + " -iv a0a1a2a3a4a5a6a7a8a9aaabacadaeaf < " +
                   ShellQuote(dir.File("plain")) + "; } > " + ShellQuote(dir.File("sealed2")));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      auto back = Decrypt(key, lockpipe::testing::ReadFile(dir.File("sealed2")));
      ASSERT_OK_R(back);
      EXPECT_EQ(*back, plain);
    }
  }
}

}  // namespace
}  // namespace lockpipe::media
