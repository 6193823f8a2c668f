// A cut file is a failed analysis: a photo or clip that ends before its data
// does, or a frame FFmpeg had to conceal, must come back as kCorrupt from every
// decoding entry point (DecodeImage, Probe, ExtractThumbnails as the pipeline
// asks for them, DecodeAllFrames), plaintext and through the encrypted
// container alike - never as a picture that faces are found in.
//
// Fixtures are made at test time from samples/media: the sample JPEG, a PNG
// encoded from it by lockpipe's own encoder, and the faststart sample clip
// (its index comes first, so a cut hits the frame data, not the index).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

extern "C" {
#include <libavformat/avformat.h>
}

#include "decoders/media_container.h"
#include "decoders/media_decoder.h"
#include "tests/testutil.h"

namespace lockpipe::media {
namespace {

using testing::ReadFile;
using testing::RunShell;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

const Secret kKey("lockpipesample16");

std::string Sample(const std::string& name) {
  return testing::SourceDir() + "/samples/media/" + name;
}

struct Media {
  std::string name;  // file name, for messages
  std::vector<std::uint8_t> bytes;
  // How many bytes the last structure holds: JPEG's EOI marker (2), PNG's
  // IEND chunk (12), for a clip a part of its last frame (2).
  std::size_t tail = 0;
};

Media Jpeg() { return {"astronaut.jpg", ReadFile(Sample("astronaut.jpg")), 2}; }

Media Png() {
  auto image = DecodeImage(ReadFile(Sample("astronaut.jpg")), "astronaut.jpg");
  EXPECT_TRUE(image.ok()) << image.status().ToString();
  auto png = EncodePng(image.ok() ? *image : cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(0)));
  EXPECT_TRUE(png.ok()) << png.status().ToString();
  return {"astronaut.png", png.ok() ? *png : std::vector<std::uint8_t>{}, 12};
}

Media Clip() {
  return {"astronaut_360p_faststart.mp4", ReadFile(Sample("astronaut_360p_faststart.mp4")), 2};
}

struct Cut {
  std::string label;
  std::size_t size;
};

std::vector<Cut> CutsOf(const Media& m) {
  const std::size_t n = m.bytes.size();
  return {{"30%", n * 30 / 100},
          {"60%", n * 60 / 100},
          {"90%", n * 90 / 100},
          {"all but the last " + std::to_string(m.tail) + " bytes", n - m.tail}};
}

std::vector<std::uint8_t> Prefix(const std::vector<std::uint8_t>& b, std::size_t n) {
  return {b.begin(), b.begin() + static_cast<std::ptrdiff_t>(std::min(n, b.size()))};
}

// What the pipeline asks for (pipeline/pipeline.cc): the first frame of a
// still, frames spread over a clip, all frames or keyframes only.
std::vector<ThumbnailRequest> PipelineRequests() {
  std::vector<ThumbnailRequest> out;
  ThumbnailRequest first;
  first.max_width = first.max_height = 960;
  out.push_back(first);
  ThumbnailRequest spread = first;
  spread.mode = ThumbnailMode::kSpread;
  spread.count = 4;
  out.push_back(spread);
  spread.keyframes_only = true;
  out.push_back(spread);
  return out;
}

// Every decoding entry point on `open()`'s source must fail with kCorrupt;
// when `truncated` the message must also say so. `what` labels failures.
template <typename OpenFn>
void ExpectEveryRouteCorrupt(OpenFn open, const std::string& what, bool truncated) {
  auto check = [&](const Status& s, const std::string& route) {
    EXPECT_EQ(s.code(), StatusCode::kCorrupt) << what << " " << route << ": " << s.ToString();
    if (truncated && s.code() == StatusCode::kCorrupt) {
      EXPECT_NE(s.message().find("truncated"), std::string::npos)
          << what << " " << route << ": " << s.message();
    }
  };
  {
    auto src = open();
    if (!src.ok()) return check(src.status(), "open");
    auto info = Probe(**src);
    check(info.status(), "Probe");
  }
  for (const ThumbnailRequest& req : PipelineRequests()) {
    auto src = open();
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    auto t = ExtractThumbnails(**src, req);
    check(t.status(), "ExtractThumbnails(mode " + std::to_string(static_cast<int>(req.mode)) +
                          (req.keyframes_only ? ", keyframes only)" : ")"));
  }
  {
    auto src = open();
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    check(DecodeAllFrames(**src).status(), "DecodeAllFrames");
  }
}

Result<std::unique_ptr<RandomAccessSource>> InMemory(const std::vector<std::uint8_t>& bytes,
                                                     const std::string& name) {
  return std::unique_ptr<RandomAccessSource>(std::make_unique<MemorySource>(bytes, name));
}

class Truncation : public ::testing::TestWithParam<Media (*)()> {};

TEST_P(Truncation, TheWholeFileStillDecodesPlainAndEncrypted) {
  const Media m = GetParam()();
  TempDir dir;
  const std::string enc_path = dir.File(m.name + ".enc");
  auto enc = Encrypt(kKey, m.bytes);
  ASSERT_OK_R(enc);
  WriteFile(enc_path, *enc);
  for (bool encrypted : {false, true}) {
    auto open = [&]() {
      return encrypted ? OpenMediaFile(enc_path, kKey) : InMemory(m.bytes, m.name);
    };
    const std::string what = m.name + (encrypted ? " (encrypted)" : "");
    auto src = open();
    ASSERT_OK_R(src);
    EXPECT_OK(Probe(**src).status());
    for (const ThumbnailRequest& req : PipelineRequests()) {
      auto t = ExtractThumbnails(**src, req);
      ASSERT_OK_R(t);
      EXPECT_FALSE(t->empty()) << what;
    }
    auto n = DecodeAllFrames(**src);
    ASSERT_OK_R(n);
    EXPECT_EQ(*n, m.name.ends_with(".mp4") ? 100 : 1) << what;
  }
}

TEST_P(Truncation, ACutFileIsCorruptWhenDecodedDirectly) {
  const Media m = GetParam()();
  for (const Cut& cut : CutsOf(m)) {
    const auto bytes = Prefix(m.bytes, cut.size);
    const std::string what = m.name + " cut to " + cut.label;
    if (!m.name.ends_with(".mp4")) {
      auto image = DecodeImage(bytes, m.name);
      EXPECT_EQ(image.status().code(), StatusCode::kCorrupt)
          << what << " DecodeImage: " << image.status().ToString();
      EXPECT_NE(image.status().message().find(m.name + ": "), std::string::npos)
          << image.status().message();
      EXPECT_NE(image.status().message().find("truncated"), std::string::npos)
          << image.status().message();
    }
    ExpectEveryRouteCorrupt([&]() { return InMemory(bytes, m.name); }, what, true);
  }
}

TEST_P(Truncation, ACutFileIsCorruptThroughTheEncryptedContainer) {
  const Media m = GetParam()();
  TempDir dir;
  for (const Cut& cut : CutsOf(m)) {
    // The producer encrypted a file that was already cut (a partial upload
    // re-encrypted, a camera that stopped writing): the padding is right.
    const std::string path = dir.File("cut.enc");
    auto enc = Encrypt(kKey, Prefix(m.bytes, cut.size));
    ASSERT_OK_R(enc);
    WriteFile(path, *enc);
    ExpectEveryRouteCorrupt([&]() { return OpenMediaFile(path, kKey); },
                            m.name + " cut to " + cut.label + ", then encrypted", true);
  }
}

TEST_P(Truncation, ACutEncryptedFileIsCorrupt) {
  const Media m = GetParam()();
  TempDir dir;
  auto enc = Encrypt(kKey, m.bytes);
  ASSERT_OK_R(enc);
  const std::size_t blocks = (enc->size() - kHeaderSize) / kBlockSize;
  // The container itself cut on a block boundary, as a download that stopped:
  // CBC decrypts every whole block, so only the padding (or, 1 time in 256,
  // nothing at all about the container) tells; the content must tell then.
  for (std::size_t keep : {blocks * 30 / 100, blocks * 60 / 100, blocks * 90 / 100, blocks - 1}) {
    const std::string path = dir.File("cut.enc");
    WriteFile(path, Prefix(*enc, kHeaderSize + keep * kBlockSize));
    ExpectEveryRouteCorrupt([&]() { return OpenMediaFile(path, kKey); },
                            m.name + " encrypted, then cut to " + std::to_string(keep) + " of " +
                                std::to_string(blocks) + " blocks",
                            false);
  }
}

// The same with the 1-in-256 luck that lets a cut through the padding check:
// with a fixed IV, the first cut at or after 30 % whose last whole block
// happens to decrypt to valid padding. The container then opens, and only the
// content can tell.
TEST_P(Truncation, ACutEncryptedFileWhosePaddingHappensToCheckIsCorrupt) {
  const Media m = GetParam()();
  std::array<std::uint8_t, 16> iv{};
  iv.fill(0x5A);
  auto encryptor = StreamEncryptor::Create(kKey, iv);
  ASSERT_OK_R(encryptor);
  std::vector<std::uint8_t> enc;
  ASSERT_OK(encryptor->Update(m.bytes, &enc));
  ASSERT_OK(encryptor->Finish(&enc));
  const std::size_t blocks = (enc.size() - kHeaderSize) / kBlockSize;
  std::size_t found = 0;
  for (std::size_t keep = blocks * 30 / 100; keep < blocks && found == 0; ++keep) {
    const std::size_t size = kHeaderSize + keep * kBlockSize;
    auto dec = RandomAccessDecryptor::Open(
        std::make_unique<MemorySource>(std::span<const std::uint8_t>(enc.data(), size)), kKey);
    if (dec.ok()) found = size;
  }
  ASSERT_NE(found, 0u) << "no cut of " << m.name << " passes the padding check";
  TempDir dir;
  const std::string path = dir.File("cut.enc");
  WriteFile(path, Prefix(enc, found));
  ExpectEveryRouteCorrupt([&]() { return OpenMediaFile(path, kKey); },
                          m.name + " encrypted, then cut to " + std::to_string(found) +
                              " bytes where the padding checks",
                          false);
}

INSTANTIATE_TEST_SUITE_P(
    Media, Truncation, ::testing::Values(&Jpeg, &Png, &Clip), [](const auto& param) {
      return std::string(param.index == 0 ? "Jpeg" : param.index == 1 ? "Png" : "Mp4");
    });

TEST(StillStructure, BytesAfterTheEndMarkerAreAllowed) {
  // Cameras append their own data after EOI / IEND.
  const std::vector<std::uint8_t> trailer = {0x00, 0x11, 'c', 'a', 'm', 0xFF, 0xD8, 0xFF, 0xD9};
  for (Media m : {Jpeg(), Png()}) {
    m.bytes.insert(m.bytes.end(), trailer.begin(), trailer.end());
    auto image = DecodeImage(m.bytes, m.name);
    EXPECT_TRUE(image.ok()) << image.status().ToString();
  }
}

TEST(StillStructure, StuffingRestartMarkersAndSeveralScansAreInsideTheJpeg) {
  // Not a picture FFmpeg can decode (no frame header): only the walk to EOI
  // is under test. FF00 (a stuffed FF), FFD0..FFD7 (restarts) and FF fill
  // bytes sit in the entropy-coded data; a progressive JPEG has several SOS.
  const std::vector<std::uint8_t> jpeg = {
      0xFF, 0xD8,                                                  // SOI
      0xFF, 0xE0, 0x00, 0x07, 'J',  'F',  'I',  'F',  0x00,        // APP0
      0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00,  // SOS
      0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD7, 0x78,  // data
      0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00,  // SOS
      0x9A, 0xFF, 0x00, 0xFF, 0xFF, 0xD9,                          // data, EOI
  };
  auto whole = DecodeImage(jpeg, "crafted.jpg");
  EXPECT_EQ(whole.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(whole.status().message().find("is truncated: it ends before"), std::string::npos)
      << whole.status().message();
  for (std::size_t n = 3; n < jpeg.size(); ++n) {
    auto cut = DecodeImage(Prefix(jpeg, n), "crafted.jpg");
    EXPECT_EQ(cut.status().message(),
              "crafted.jpg: the JPEG image is truncated: it ends before its end-of-image marker")
        << "cut to " << n << " bytes";
  }
}

// Where the demuxer finds each video packet of a clip file, in file order.
struct PacketSpan {
  std::int64_t pos = 0;
  int size = 0;
  bool key = false;
};
std::vector<PacketSpan> VideoPackets(const std::string& path) {
  std::vector<PacketSpan> out;
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) return out;
  if (avformat_find_stream_info(fmt, nullptr) >= 0) {
    const int video = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    AVPacket* pkt = av_packet_alloc();
    while (pkt != nullptr && av_read_frame(fmt, pkt) >= 0) {
      if (pkt->stream_index == video)
        out.push_back({pkt->pos, pkt->size, (pkt->flags & AV_PKT_FLAG_KEY) != 0});
      av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
  }
  avformat_close_input(&fmt);
  return out;
}

// Garbage over the middle of one frame's data, the file's size unchanged:
// H.264 conceals the damage (FFmpeg flags the frame's decode_error_flags) and
// would hand out a picture whose damaged part shows something else.
std::vector<std::uint8_t> WithAGarbledFrame(bool keyframe) {
  const std::string path = Sample("astronaut_360p_faststart.mp4");
  auto bytes = ReadFile(path);
  const auto packets = VideoPackets(path);
  EXPECT_EQ(packets.size(), 100u);
  auto it = std::find_if(packets.begin(), packets.end(),
                         [&](const PacketSpan& p) { return p.key == keyframe && p.size > 1000; });
  EXPECT_NE(it, packets.end());
  if (it == packets.end()) return bytes;
  const auto noise = testing::RandomBytes(500, 5);
  std::copy(noise.begin(), noise.end(), bytes.begin() + it->pos + 400);
  return bytes;
}

TEST(Concealment, AClipWithAConcealedFrameIsCorrupt) {
  for (bool keyframe : {false, true}) {
    const auto bytes = WithAGarbledFrame(keyframe);
    const std::string what = keyframe ? "a garbled keyframe" : "a garbled frame";
    MemorySource src(bytes, "garbled.mp4");
    auto n = DecodeAllFrames(src);
    EXPECT_EQ(n.status().code(), StatusCode::kCorrupt) << what << ": " << n.status().ToString();
    EXPECT_NE(n.status().message().find("garbled.mp4: "), std::string::npos)
        << n.status().message();
    // Every frame, as thumbnails: the pipeline's way of looking at the clip.
    ThumbnailRequest req;
    req.mode = ThumbnailMode::kSpread;
    req.count = 100;
    MemorySource src2(bytes, "garbled.mp4");
    auto t = ExtractThumbnails(src2, req);
    EXPECT_EQ(t.status().code(), StatusCode::kCorrupt) << what << ": " << t.status().ToString();
  }
}

TEST(Concealment, ACutJpegSaysSoThroughTheCliAndFfmpegsLogStaysOff) {
  TempDir dir;
  const Media m = Jpeg();
  const std::string path = dir.File("cut.jpg");
  WriteFile(path, Prefix(m.bytes, m.bytes.size() * 60 / 100));
  for (const std::string& args :
       {"detect " + ShellQuote(path),
        "thumbnail " + ShellQuote(path) + " -o " + ShellQuote(dir.File("out.jpg"))}) {
    auto r = RunShell("timeout 120 " + ShellQuote(testing::LockpipeBinary()) + " " + args);
    EXPECT_NE(r.exit_code, 0) << args << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("cut.jpg: the JPEG image is truncated"), std::string::npos) << args << "\n"
                                                                                     << r.err;
    EXPECT_EQ(r.err.find("[mjpeg"), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(r.out.find("face"), std::string::npos) << args << "\n" << r.out;
  }
  EXPECT_FALSE(testing::FileExists(dir.File("out.jpg")));
}

}  // namespace
}  // namespace lockpipe::media
