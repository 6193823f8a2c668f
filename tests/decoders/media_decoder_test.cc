// Decoding lock media through the decrypting reader, checked against FFmpeg's
// own command-line tools (ffprobe / ffmpeg -f framemd5) on the plaintext as an
// independent oracle: frame counts, sizes, keyframe positions and the MD5 of
// every decoded BGR frame.
#include "decoders/media_decoder.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstdlib>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <thread>
#include <tuple>

#include "tests/testutil.h"

namespace lockpipe::media {
namespace {

using testing::ReadFile;
using testing::RunShell;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

const Secret kSampleKey("lockpipesample16");

std::string Sample(const std::string& name) {
  return testing::SourceDir() + "/samples/media/" + name;
}

std::string Md5Hex(const cv::Mat& m) {
  EXPECT_TRUE(m.isContinuous());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(m.data, m.total() * m.elemSize(), md, &len, EVP_md5(), nullptr), 1);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// FFmpeg's view: the MD5 of each frame converted to bgr24 at native size.
std::vector<std::string> FfmpegFrameMd5s(const std::string& plain) {
  auto r = RunShell("timeout 120 ffmpeg -v error -threads 1 -i " + ShellQuote(plain) +
                    " -map 0:v:0 -f framemd5 -pix_fmt bgr24 -");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> md5s;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    md5s.push_back(line.substr(line.rfind(',') + 2));
  }
  return md5s;
}

// ffprobe's keyframe flag of each frame, in presentation order.
std::vector<bool> FfprobeKeyframes(const std::string& plain) {
  auto r = RunShell(
      "timeout 120 ffprobe -v error -select_streams v:0 -show_entries "
      "frame=key_frame -of csv=p=0 " +
      ShellQuote(plain));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<bool> keys;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) keys.push_back(line[0] == '1');
  }
  return keys;
}

std::string Ffprobe(const std::string& plain, const std::string& entries) {
  auto r =
      RunShell("timeout 120 ffprobe -v error -select_streams v:0 -count_packets -show_entries " +
               entries + " -of csv=p=0 " + ShellQuote(plain));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == ',')) r.out.pop_back();
  return r.out;
}

std::unique_ptr<RandomAccessSource> OpenEncrypted(const std::string& name) {
  auto s = OpenMediaFile(Sample(name), kSampleKey);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

// Answers at most one byte per read: AVIO must cope with short reads.
class OneByteSource final : public RandomAccessSource {
 public:
  explicit OneByteSource(std::unique_ptr<RandomAccessSource> inner) : inner_(std::move(inner)) {}
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
    ++reads;
    return inner_->ReadAt(offset, out.first(std::min<std::size_t>(1, out.size())));
  }
  Result<std::uint64_t> Size() override { return inner_->Size(); }
  std::string name() const override { return inner_->name(); }
  std::uint64_t reads = 0;

 private:
  std::unique_ptr<RandomAccessSource> inner_;
};

// Fails every read after the first `good` ones.
class FailingSource final : public RandomAccessSource {
 public:
  FailingSource(std::unique_ptr<RandomAccessSource> inner, int good)
      : inner_(std::move(inner)), good_(good) {}
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
    if (good_-- <= 0) return IoError("disk.img: read failed: Input/output error");
    return inner_->ReadAt(offset, out);
  }
  Result<std::uint64_t> Size() override { return inner_->Size(); }
  std::string name() const override { return inner_->name(); }

 private:
  std::unique_ptr<RandomAccessSource> inner_;
  int good_;
};

// Each read takes 20 ms: lets the time budget run out without a corrupt file.
class SlowSource final : public RandomAccessSource {
 public:
  explicit SlowSource(std::unique_ptr<RandomAccessSource> inner) : inner_(std::move(inner)) {}
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return inner_->ReadAt(offset, out.first(std::min<std::size_t>(512, out.size())));
  }
  Result<std::uint64_t> Size() override { return inner_->Size(); }
  std::string name() const override { return inner_->name(); }

 private:
  std::unique_ptr<RandomAccessSource> inner_;
};

struct Decoded {
  std::vector<std::string> md5s;
  std::vector<bool> keys;
  std::vector<double> seconds;
};

Decoded DecodeAll(RandomAccessSource& source, int threads = 1) {
  Decoded out;
  DecodeOptions opts;
  opts.threads = threads;
  auto d = VideoDecoder::Open(source, opts);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  if (!d.ok()) return out;
  VideoDecoder::Frame f;
  cv::Mat bgr;
  for (int guard = 0; guard < 100000; ++guard) {
    auto more = (*d)->Next(&f);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) break;
    EXPECT_OK((*d)->ToBgr({}, &bgr));
    out.md5s.push_back(Md5Hex(bgr));
    out.keys.push_back(f.keyframe);
    out.seconds.push_back(f.seconds);
  }
  return out;
}

class ClipTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ClipTest, ProbeMatchesFfprobe) {
  const std::string base = GetParam();
  auto src = OpenEncrypted(base + ".enc");
  ASSERT_TRUE(src);
  auto info = Probe(*src);
  ASSERT_OK_R(info);
  const std::string plain = Sample(base + ".mp4");
  EXPECT_EQ(Ffprobe(plain, "stream=width,height,nb_read_packets"),
            std::to_string(info->width) + "," + std::to_string(info->height) + "," +
                std::to_string(info->frames));
  auto keys = FfprobeKeyframes(plain);
  EXPECT_EQ(info->keyframes, std::count(keys.begin(), keys.end(), true));
  EXPECT_EQ(info->codec, "h264");
  EXPECT_FALSE(info->is_still);
  EXPECT_EQ(info->bytes, ReadFile(plain).size());
  EXPECT_NEAR(info->duration_seconds, static_cast<double>(info->frames) / 25.0, 1e-6);
}

TEST_P(ClipTest, EveryFrameMatchesFfmpegPixelForPixel) {
  const std::string base = GetParam();
  auto src = OpenEncrypted(base + ".enc");
  ASSERT_TRUE(src);
  Decoded mine = DecodeAll(*src);
  const std::string plain = Sample(base + ".mp4");
  auto theirs = FfmpegFrameMd5s(plain);
  ASSERT_FALSE(theirs.empty());
  EXPECT_EQ(mine.md5s, theirs);
  EXPECT_EQ(mine.keys, FfprobeKeyframes(plain));
  for (std::size_t i = 0; i < mine.seconds.size(); ++i) {
    EXPECT_NEAR(mine.seconds[i], static_cast<double>(i) / 25.0, 1e-9) << "frame " << i;
  }
}

TEST_P(ClipTest, FrameThreadsDecodeTheSameFrames) {
  const std::string base = GetParam();
  auto a = OpenEncrypted(base + ".enc");
  auto b = OpenEncrypted(base + ".enc");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(DecodeAll(*a, 1).md5s, DecodeAll(*b, 2).md5s);
}

INSTANTIATE_TEST_SUITE_P(Samples, ClipTest,
                         ::testing::Values("astronaut_360p_faststart", "astronaut_720p_moov_end",
                                           "camera_360p"));

TEST(MediaDecoder, OneByteReadsStillDecodeTheMoovAtEndClip) {
  auto inner = OpenEncrypted("astronaut_720p_moov_end.enc");
  ASSERT_TRUE(inner);
  OneByteSource src(std::move(inner));
  auto info = Probe(src);
  ASSERT_OK_R(info);
  EXPECT_EQ(info->frames, 150);
  EXPECT_GT(src.reads, info->bytes);  // every byte came through a 1-byte read

  auto inner2 = OpenEncrypted("astronaut_360p_faststart.enc");
  ASSERT_TRUE(inner2);
  OneByteSource src2(std::move(inner2));
  EXPECT_EQ(DecodeAll(src2).md5s, FfmpegFrameMd5s(Sample("astronaut_360p_faststart.mp4")));
}

TEST(MediaDecoder, PlaintextAndEncryptedGiveTheSameFrames) {
  auto plain = OpenMediaFile(Sample("camera_360p.mp4"), std::nullopt);
  ASSERT_OK_R(plain);
  auto enc = OpenEncrypted("camera_360p.enc");
  ASSERT_TRUE(enc);
  EXPECT_EQ(DecodeAll(**plain).md5s, DecodeAll(*enc).md5s);
}

// Stills: bit-identical to FFmpeg's own decode of the plaintext, and close to
// libjpeg's (OpenCV imread): two decoders' IDCTs and chroma upsampling differ
// by a level or two, never by a picture.
TEST(MediaDecoder, StillsDecodeLikeFfmpegAndCloseToLibjpeg) {
  for (const std::string base : {"astronaut", "camera", "noface"}) {
    auto src = OpenEncrypted(base + ".enc");
    ASSERT_TRUE(src);
    auto info = Probe(*src);
    ASSERT_OK_R(info);
    EXPECT_TRUE(info->is_still);
    EXPECT_EQ(info->codec, "jpeg");
    EXPECT_EQ(info->frames, 1);
    cv::Mat libjpeg = cv::imread(Sample(base + ".jpg"), cv::IMREAD_COLOR);
    EXPECT_EQ(info->width, libjpeg.cols);
    EXPECT_EQ(info->height, libjpeg.rows);

    ThumbnailRequest req;
    req.mode = ThumbnailMode::kSpread;  // a still gives one frame whatever the mode
    req.count = 5;
    auto thumbs = ExtractThumbnails(*src, req);
    ASSERT_OK_R(thumbs);
    ASSERT_EQ(thumbs->size(), 1u);
    EXPECT_EQ(Md5Hex((*thumbs)[0].image), FfmpegFrameMd5s(Sample(base + ".jpg")).at(0)) << base;
    EXPECT_GT(cv::PSNR((*thumbs)[0].image, libjpeg), 35.0) << base;
    EXPECT_TRUE((*thumbs)[0].keyframe);
  }
}

TEST(MediaDecoder, StillIsScaledToFit) {
  auto src = OpenEncrypted("noface.enc");
  ASSERT_TRUE(src);
  ThumbnailRequest req;
  req.max_width = 300;
  auto thumbs = ExtractThumbnails(*src, req);
  ASSERT_OK_R(thumbs);
  EXPECT_EQ((*thumbs)[0].image.size(), cv::Size(300, 200));
}

class ThumbnailTest : public ::testing::Test {
 protected:
  // FFmpeg's frame hashes, computed once for the suite.
  static void SetUpTestSuite() { md5s_ = FfmpegFrameMd5s(Sample("astronaut_720p_moov_end.mp4")); }
  void SetUp() override { ASSERT_EQ(md5s_.size(), 150u); }
  std::vector<Thumbnail> Extract(const ThumbnailRequest& req) {
    auto src = OpenEncrypted("astronaut_720p_moov_end.enc");
    EXPECT_TRUE(src);
    if (!src) return {};
    auto t = ExtractThumbnails(*src, req);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(*t) : std::vector<Thumbnail>{};
  }
  // The frame index a native-size thumbnail is, by its pixels.
  int FrameOf(const Thumbnail& t) {
    auto it = std::find(md5s_.begin(), md5s_.end(), Md5Hex(t.image));
    return it == md5s_.end() ? -1 : static_cast<int>(it - md5s_.begin());
  }
  static inline std::vector<std::string> md5s_;
};

TEST_F(ThumbnailTest, FirstFrame) {
  auto t = Extract({});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(FrameOf(t[0]), 0);
  EXPECT_EQ(t[0].seconds, 0.0);
  EXPECT_TRUE(t[0].keyframe);
}

TEST_F(ThumbnailTest, NearestToATimeDecodesForwardFromTheKeyframeBefore) {
  ThumbnailRequest req;
  req.mode = ThumbnailMode::kAt;
  for (auto [at, frame] : std::vector<std::pair<double, int>>{
           {0.0, 0}, {2.31, 58}, {2.33, 58}, {2.35, 59}, {3.0, 75}, {5.99, 149}, {60.0, 149}}) {
    req.at_seconds = at;
    auto t = Extract(req);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(FrameOf(t[0]), frame) << "at " << at;
    EXPECT_NEAR(t[0].seconds, frame / 25.0, 1e-9);
    EXPECT_EQ(t[0].keyframe, frame % 25 == 0);
  }
}

TEST_F(ThumbnailTest, KeyframesOnlyGivesTheKeyframeAtOrBefore) {
  ThumbnailRequest req;
  req.mode = ThumbnailMode::kAt;
  req.keyframes_only = true;
  req.at_seconds = 2.9;
  auto t = Extract(req);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(FrameOf(t[0]), 50);
  EXPECT_TRUE(t[0].keyframe);
}

TEST_F(ThumbnailTest, EveryKeyframe) {
  ThumbnailRequest req;
  req.mode = ThumbnailMode::kKeyframes;
  req.count = 0;
  auto t = Extract(req);
  ASSERT_EQ(t.size(), 6u);
  for (std::size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(FrameOf(t[i]), static_cast<int>(i) * 25);
    EXPECT_EQ(t[i].seconds, static_cast<double>(i));
    EXPECT_TRUE(t[i].keyframe);
  }
  req.count = 2;
  EXPECT_EQ(Extract(req).size(), 2u);
}

TEST_F(ThumbnailTest, SpreadAndScale) {
  ThumbnailRequest req;
  req.mode = ThumbnailMode::kSpread;
  req.count = 4;
  auto t = Extract(req);
  ASSERT_EQ(t.size(), 4u);
  for (std::size_t i = 0; i < t.size(); ++i) {
    // 0, 1.5, 3 and 4.5 s: frames 0, 37 or 38 (equally near), 75, 112 or 113.
    EXPECT_LE(std::abs(FrameOf(t[i]) - 37.5 * static_cast<double>(i)), 0.5) << i;
    EXPECT_NEAR(t[i].seconds, FrameOf(t[i]) / 25.0, 1e-9);
  }
  req.max_width = 320;
  t = Extract(req);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].image.size(), cv::Size(320, 180));
}

// More times than the clip has keyframes (or frames) share nearest frames:
// each frame comes back once, in time order.
TEST_F(ThumbnailTest, SpreadGivesEachFrameOnce) {
  ThumbnailRequest req;
  req.mode = ThumbnailMode::kSpread;
  req.keyframes_only = true;
  req.count = 20;  // 6 keyframes
  auto t = Extract(req);
  ASSERT_EQ(t.size(), 6u);
  for (std::size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(FrameOf(t[i]), static_cast<int>(i) * 25);
    EXPECT_EQ(t[i].seconds, static_cast<double>(i));
  }

  // Every frame: camera_360p has 75 in 3 s, and 100 times 0.03 s apart pick
  // each of them at least once (the shorter clip keeps the 100 seeks quick).
  auto src = OpenEncrypted("camera_360p.enc");
  ASSERT_TRUE(src);
  req.keyframes_only = false;
  req.count = 100;
  auto all = ExtractThumbnails(*src, req);
  ASSERT_OK_R(all);
  ASSERT_EQ(all->size(), 75u);
  for (std::size_t i = 0; i < all->size(); ++i) {
    EXPECT_NEAR((*all)[i].seconds, static_cast<double>(i) / 25.0, 1e-9) << i;
  }
}

TEST(MediaDecoder, ContactSheetShrinksCellsToStayWithinTheImageLimit) {
  // 5 frames of 3000x200 in 3 columns would be 9016 pixels wide.
  std::vector<Thumbnail> thumbs(5);
  for (std::size_t i = 0; i < thumbs.size(); ++i) {
    thumbs[i].image = cv::Mat(200, 3000, CV_8UC3, cv::Scalar(0, 0, 200));
    thumbs[i].seconds = static_cast<double>(i);
    thumbs[i].boxes = {cv::Rect(330, 100, 600, 60)};
  }
  auto sheet = MakeContactSheet(thumbs);
  ASSERT_OK_R(sheet);
  // Cells of 2725x182 (3000x200 scaled by 2725/3000) fill 8191 of 8192 columns.
  EXPECT_EQ(sheet->size(), cv::Size(3 * (2725 + 4) + 4, 2 * (182 + 22 + 4) + 4));
  // The box is scaled with the frame: x 300..844, y 91..145.
  EXPECT_EQ(sheet->at<cv::Vec3b>(4 + 91, 4 + 500), cv::Vec3b(0, 255, 0));
  EXPECT_EQ(sheet->at<cv::Vec3b>(4 + 120, 4 + 300), cv::Vec3b(0, 255, 0));
  EXPECT_EQ(sheet->at<cv::Vec3b>(4 + 120, 4 + 844), cv::Vec3b(0, 255, 0));
  EXPECT_EQ(sheet->at<cv::Vec3b>(4 + 120, 4 + 500), cv::Vec3b(0, 0, 200));
  EXPECT_EQ(sheet->at<cv::Vec3b>(4 + 120, 4 + 929), cv::Vec3b(0, 0, 200));

  // One frame wider than the limit on its own.
  auto wide =
      MakeContactSheet({Thumbnail{cv::Mat(10, 9000, CV_8UC3, cv::Scalar::all(9)), 0, false, {}}});
  ASSERT_OK_R(wide);
  EXPECT_EQ(wide->cols, 8192);
  // So many frames that cells would be under 16 pixels: refused, not a smear.
  auto many = MakeContactSheet(std::vector<Thumbnail>(40000));
  EXPECT_EQ(many.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(many.status().message(),
            "40000 thumbnails do not fit a contact sheet of at most 8192x8192 pixels");
}

TEST(MediaDecoder, WriteImageFollowsTheExtension) {
  TempDir dir;
  const cv::Mat image(16, 24, CV_8UC3, cv::Scalar(10, 20, 30));
  ASSERT_OK(WriteImage(dir.File("a.png"), image));
  ASSERT_OK(WriteImage(dir.File("b.JPG"), image, 80));
  ASSERT_OK(WriteImage(dir.File("c"), image));
  EXPECT_EQ(ReadFile(dir.File("a.png")), EncodePng(image).value());
  EXPECT_EQ(ReadFile(dir.File("b.JPG")), EncodeJpeg(image, 80).value());
  EXPECT_EQ(ReadFile(dir.File("c")), EncodeJpeg(image, 90).value());
  EXPECT_EQ(WriteImage(dir.File("d.gif"), image).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(testing::ListDir(dir.path()), (std::vector<std::string>{"a.png", "b.JPG", "c"}));
}

TEST(MediaDecoder, ContactSheetAndJpeg) {
  std::vector<Thumbnail> thumbs(5);
  for (std::size_t i = 0; i < thumbs.size(); ++i) {
    thumbs[i].image = cv::Mat(90, 160, CV_8UC3, cv::Scalar(0, 0, 200));
    thumbs[i].seconds = static_cast<double>(i);
    thumbs[i].boxes = {cv::Rect(10, 10, 40, 40)};
  }
  auto sheet = MakeContactSheet(thumbs);
  ASSERT_OK_R(sheet);
  // 3 columns x 2 rows of 160x90 cells, 4 px gaps, a 22 px label strip.
  EXPECT_EQ(sheet->size(), cv::Size(3 * 164 + 4, 2 * (90 + 22 + 4) + 4));
  // The box is drawn in green on the first cell's edge.
  EXPECT_EQ(sheet->at<cv::Vec3b>(4 + 10, 4 + 30), cv::Vec3b(0, 255, 0));
  EXPECT_EQ(sheet->at<cv::Vec3b>(4 + 30, 4 + 30), cv::Vec3b(0, 0, 200));

  TempDir dir;
  ASSERT_OK(WriteJpeg(dir.File("sheet.jpg"), *sheet, 80));
  cv::Mat back = cv::imread(dir.File("sheet.jpg"));
  EXPECT_EQ(back.size(), sheet->size());
  EXPECT_FALSE(EncodeJpeg(*sheet, 0).ok());
  EXPECT_FALSE(EncodeJpeg(cv::Mat(), 90).ok());
  EXPECT_FALSE(MakeContactSheet({}).ok());
  EXPECT_EQ(FormatTimestamp(61.24), "01:01.240");
}

TEST(MediaDecoder, FitInside) {
  EXPECT_EQ(FitInside({1280, 720}, 320, 0), cv::Size(320, 180));
  EXPECT_EQ(FitInside({1280, 720}, 0, 0), cv::Size(1280, 720));
  EXPECT_EQ(FitInside({640, 360}, 1280, 0), cv::Size(640, 360));  // never enlarges
  EXPECT_EQ(FitInside({1280, 720}, 1000, 90), cv::Size(160, 90));
}

// ---------------------------------------------------------------------------
// Bad input: a clear error, never a crash or a hang.

Status ProbeBytes(std::vector<std::uint8_t> bytes, const std::string& name) {
  MemorySource src(std::move(bytes), name);
  DecodeOptions opts;
  opts.time_budget = std::chrono::seconds(20);
  auto info = Probe(src, opts);
  if (!info.ok()) return info.status();
  ThumbnailRequest req;
  req.decode = opts;
  auto t = ExtractThumbnails(src, req);
  return t.ok() ? Status::Ok() : t.status();
}

// Pictures narrower than libswscale's SIMD blocks (16 pixels a step for
// yuv420p to BGR24): sws_scale wrote whole blocks past the end of an
// exact-size cv::Mat, a heap overflow that aborted the program ("free():
// invalid next size") for 2x2 .. 8x8 and 2x64 clips. 36 wide is more than a
// block but not a whole number of them. Solid-colour clips and stills; every
// pixel must come back that colour, at the size asked for.
const cv::Vec3b kTinyBgr(192, 64, 32);  // 0x2040C0 as RGB: no channel alike
const std::vector<cv::Size> kTinySizes = {{2, 2}, {4, 4}, {8, 8}, {2, 64}, {36, 6}};

std::string SizeName(cv::Size s) {
  return std::to_string(s.width) + "x" + std::to_string(s.height);
}

// Every pixel of `m` (continuous CV_8UC3 of `size`) within `tolerance` of `bgr`.
void ExpectSolid(const cv::Mat& m, cv::Size size, cv::Vec3b bgr, int tolerance,
                 const std::string& what) {
  ASSERT_EQ(m.type(), CV_8UC3) << what;
  EXPECT_EQ(m.size(), size) << what;
  EXPECT_TRUE(m.isContinuous()) << what;
  int bad = 0;
  std::string first;
  for (int y = 0; y < m.rows; ++y) {
    for (int x = 0; x < m.cols; ++x) {
      const cv::Vec3b p = m.at<cv::Vec3b>(y, x);
      for (int c = 0; c < 3; ++c) {
        if (std::abs(int{p[c]} - int{bgr[c]}) > tolerance) {
          if (bad++ == 0) {
            first = "(" + std::to_string(x) + "," + std::to_string(y) + ") is BGR " +
                    std::to_string(p[0]) + "," + std::to_string(p[1]) + "," + std::to_string(p[2]);
          }
          break;
        }
      }
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " pixels off colour, first " << first;
}

TEST(MediaDecoderTinyPictures, ClipsNarrowerThanASimdBlockInEveryMode) {
  if (!testing::HaveProgram("ffmpeg")) GTEST_SKIP() << "skipped: no ffmpeg program on PATH";
  TempDir dir;
  for (const cv::Size size : kTinySizes) {
    // 1 s at 25 fps, a keyframe every 10 frames: keyframes at 0, 0.4, 0.8 s.
    const std::string clip = dir.File(SizeName(size) + ".mp4");
    auto made =
        RunShell("timeout 120 ffmpeg -v error -f lavfi -i color=c=0x2040C0:s=" + SizeName(size) +
                 ":d=1:r=25 -c:v libx264 -pix_fmt yuv420p -g 10 -threads 1 -y " + ShellQuote(clip));
    ASSERT_EQ(made.exit_code, 0) << made.err;
    struct Case {
      std::string name;
      ThumbnailRequest req;
      std::size_t frames;
    };
    std::vector<Case> cases(6);
    cases[0] = {"first", {}, 1};
    cases[1].name = "at 0.5 s";
    cases[1].req.mode = ThumbnailMode::kAt;
    cases[1].req.at_seconds = 0.5;
    cases[1].frames = 1;
    cases[2].name = "spread of 4";
    cases[2].req.mode = ThumbnailMode::kSpread;
    cases[2].req.count = 4;
    cases[2].frames = 4;
    cases[3].name = "spread of 5 keyframes only";  // 0, 0.2, ... 0.8 s: 3 keyframes
    cases[3].req.mode = ThumbnailMode::kSpread;
    cases[3].req.count = 5;
    cases[3].req.keyframes_only = true;
    cases[3].frames = 3;
    cases[4].name = "keyframes";
    cases[4].req.mode = ThumbnailMode::kKeyframes;
    cases[4].req.count = 0;
    cases[4].frames = 3;
    cases[5].name = "first, scaled down";  // libswscale's scaling path, not the unscaled one
    cases[5].req.max_height = size.height / 2;
    cases[5].frames = 1;
    for (const Case& c : cases) {
      const std::string what = SizeName(size) + " " + c.name;
      auto source = OpenMediaFile(clip, std::nullopt);
      ASSERT_OK_R(source);
      auto thumbs = ExtractThumbnails(**source, c.req);
      ASSERT_OK_R(thumbs);
      EXPECT_EQ(thumbs->size(), c.frames) << what;
      const cv::Size want = FitInside(size, c.req.max_width, c.req.max_height);
      for (const Thumbnail& t : *thumbs) {
        ExpectSolid(t.image, want, kTinyBgr, 8, what + " at " + std::to_string(t.seconds));
      }
    }
  }
}

TEST(MediaDecoderTinyPictures, StillsNarrowerThanASimdBlock) {
  for (const cv::Size size : kTinySizes) {
    const cv::Mat picture(size, CV_8UC3, cv::Scalar(kTinyBgr[0], kTinyBgr[1], kTinyBgr[2]));
    auto png = EncodePng(picture);
    ASSERT_OK_R(png);
    auto jpeg = EncodeJpeg(picture, 95);
    ASSERT_OK_R(jpeg);
    // PNG is lossless; JPEG's full-range YUV 4:2:0 of a flat colour is near.
    for (const auto& [name, bytes, tolerance] :
         {std::tuple{"png", *png, 0}, std::tuple{"jpeg", *jpeg, 8}}) {
      const std::string what = SizeName(size) + " " + name;
      auto decoded = DecodeImage(bytes, what);
      ASSERT_OK_R(decoded);
      ExpectSolid(*decoded, size, kTinyBgr, tolerance, what + " DecodeImage");
      MemorySource source(bytes, what);
      auto thumbs = ExtractThumbnails(source, {});
      ASSERT_OK_R(thumbs);
      ASSERT_EQ(thumbs->size(), 1u) << what;
      ExpectSolid((*thumbs)[0].image, size, kTinyBgr, tolerance, what + " ExtractThumbnails");
    }
  }
}

TEST(MediaDecoderBadInput, Empty) {
  Status s = ProbeBytes({}, "empty.mp4");
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_EQ(s.message(), "empty.mp4: empty file, no media in it");
}

TEST(MediaDecoderBadInput, NotMedia) {
  Status s = ProbeBytes(testing::RandomBytes(100000, 7), "noise.bin");
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_EQ(s.message(),
            "noise.bin: cannot open the container: Invalid data found when processing input");
}

TEST(MediaDecoderBadInput, TruncatedMoovAtEndClipHasNoIndex) {
  auto bytes = ReadFile(Sample("astronaut_720p_moov_end.mp4"));
  bytes.resize(bytes.size() / 2);
  Status s = ProbeBytes(bytes, "half.mp4");
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("half.mp4: cannot open the container: "), std::string::npos)
      << s.message();
}

TEST(MediaDecoderBadInput, TruncatedFaststartClip) {
  auto bytes = ReadFile(Sample("astronaut_360p_faststart.mp4"));
  bytes.resize(bytes.size() / 2);
  // The index promises more than is there: a failed decode, however little of
  // the clip is asked for (tests/decoders/truncation_test.cc has the rest).
  MemorySource src(bytes, "half.mp4");
  auto info = Probe(src);
  EXPECT_EQ(info.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(info.status().message().rfind("half.mp4: the clip is truncated: its index places", 0),
            0u)
      << info.status().message();
  MemorySource src2(bytes, "half.mp4");
  ThumbnailRequest req;
  EXPECT_EQ(ExtractThumbnails(src2, req).status().code(), StatusCode::kCorrupt);

  // Tolerated (a person's look at a clip still being uploaded): probing
  // counts the frames that arrived whole, thumbnails come from them.
  req.decode.tolerate_truncated_clip = true;
  MemorySource src3(bytes, "half.mp4");
  info = Probe(src3, req.decode);
  ASSERT_OK_R(info);
  EXPECT_GT(info->frames, 0);
  EXPECT_LT(info->frames, 100);
  MemorySource src4(bytes, "half.mp4");
  auto t = ExtractThumbnails(src4, req);
  ASSERT_OK_R(t);
  EXPECT_EQ(t->size(), 1u);
  // Asking for a time past the cut gives the last frame that decoded.
  req.mode = ThumbnailMode::kAt;
  req.at_seconds = 3.9;
  MemorySource src5(bytes, "half.mp4");
  auto late = ExtractThumbnails(src5, req);
  if (late.ok()) {
    EXPECT_LT((*late)[0].seconds, 3.9);
  } else {
    EXPECT_EQ(late.status().code(), StatusCode::kCorrupt) << late.status().ToString();
  }
}

TEST(MediaDecoderBadInput, CorruptHeaderAndCorruptPayload) {
  auto bytes = ReadFile(Sample("astronaut_360p_faststart.mp4"));
  // Overwrite the moov atom (right after ftyp in a faststart file).
  auto broken = bytes;
  for (std::size_t i = 40; i < 400; ++i) broken[i] = static_cast<std::uint8_t>(i * 7);
  Status s = ProbeBytes(broken, "badmoov.mp4");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.code() == StatusCode::kCorrupt || s.code() == StatusCode::kUnsupported)
      << s.ToString();
  EXPECT_NE(s.message().find("badmoov.mp4"), std::string::npos);

  // Garbage in the middle of the frame data: decoding must finish (H.264 is
  // resilient) or fail cleanly, never crash.
  auto noisy = bytes;
  auto noise = testing::RandomBytes(20000, 3);
  std::copy(noise.begin(), noise.end(), noisy.begin() + 60000);
  MemorySource src(noisy, "noisy.mp4");
  auto d = VideoDecoder::Open(src);
  ASSERT_OK_R(d);
  VideoDecoder::Frame f;
  int frames = 0;
  for (; frames < 1000; ++frames) {
    auto more = (*d)->Next(&f);
    if (!more.ok()) {
      EXPECT_EQ(more.status().code(), StatusCode::kCorrupt);
      break;
    }
    if (!*more) break;
  }
  EXPECT_LE(frames, 100);
}

TEST(MediaDecoderBadInput, TruncatedStill) {
  auto bytes = ReadFile(Sample("astronaut.jpg"));
  bytes.resize(100);
  Status s = ProbeBytes(bytes, "cut.jpg");
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_EQ(s.message(),
            "cut.jpg: the JPEG image is truncated: it ends before its end-of-image marker");
}

TEST(MediaDecoderBadInput, WrongKey) {
  // A wrong key fails the padding check (255 in 256) or the content sniff.
  for (const char* key : {"wrongwrongwrong1", "lockpipesample17", "0123456789abcdef"}) {
    auto s = OpenMediaFile(Sample("astronaut_360p_faststart.enc"), Secret(key));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kCorrupt);
    EXPECT_EQ(s.status().message().find(key), std::string::npos);  // never echo the key
  }
  auto bad_len = OpenMediaFile(Sample("astronaut.enc"), Secret("short"));
  EXPECT_EQ(bad_len.status().code(), StatusCode::kInvalidArgument);
  auto missing = OpenMediaFile(Sample("no-such-file.enc"), kSampleKey);
  EXPECT_FALSE(missing.ok());
}

TEST(MediaDecoderBadInput, ReadErrorsCarryTheSourcesMessage) {
  auto inner = OpenMediaFile(Sample("astronaut_720p_moov_end.mp4"), std::nullopt);
  ASSERT_OK_R(inner);
  FailingSource src(std::move(*inner), 3);
  auto info = Probe(src);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kIoError);
  EXPECT_NE(info.status().message().find("read failed: Input/output error"), std::string::npos)
      << info.status().ToString();
}

TEST(MediaDecoderBadInput, TimeBudgetStopsASlowSource) {
  auto inner = OpenMediaFile(Sample("astronaut_720p_moov_end.mp4"), std::nullopt);
  ASSERT_OK_R(inner);
  SlowSource src(std::move(*inner));
  DecodeOptions opts;
  opts.time_budget = std::chrono::milliseconds(200);
  auto info = Probe(src, opts);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kTimeout) << info.status().ToString();
}

TEST(MediaDecoderBadInput, BadRequests) {
  auto src = OpenEncrypted("astronaut_360p_faststart.enc");
  ASSERT_TRUE(src);
  ThumbnailRequest req;
  req.mode = ThumbnailMode::kAt;
  req.at_seconds = -1;
  EXPECT_EQ(ExtractThumbnails(*src, req).status().code(), StatusCode::kInvalidArgument);
  req.mode = ThumbnailMode::kSpread;
  req.at_seconds = 0;
  req.count = 0;
  EXPECT_EQ(ExtractThumbnails(*src, req).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lockpipe::media
