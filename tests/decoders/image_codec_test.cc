// Stills through FFmpeg's codecs, checked against libjpeg/libpng (OpenCV's
// imgcodecs) as the independent decoder.
#include "decoders/image_codec.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "tests/testutil.h"

namespace lockpipe::media {
namespace {

using testing::ReadFile;

std::string Sample(const std::string& name) {
  return testing::SourceDir() + "/samples/media/" + name;
}

// `jpeg` with an EXIF APP1 segment holding only Orientation = `orientation`.
std::vector<std::uint8_t> WithOrientation(const std::vector<std::uint8_t>& jpeg, int orientation) {
  const std::vector<std::uint8_t> app1 = {0xFF, 0xE1,
                                          0x00, 0x22,
                                          'E',  'x',
                                          'i',  'f',
                                          0,    0,  // APP1, length 34
                                          'M',  'M',
                                          0x00, 0x2A,
                                          0x00, 0x00,
                                          0x00, 0x08,  // TIFF, IFD0 at 8
                                          0x00, 0x01,  // one entry
                                          0x01, 0x12,
                                          0x00, 0x03,
                                          0x00, 0x00,
                                          0x00, 0x01,  // Orientation, SHORT, 1
                                          0x00, static_cast<std::uint8_t>(orientation),
                                          0x00, 0x00,  // its value
                                          0x00, 0x00,
                                          0x00, 0x00};  // no next IFD
  std::vector<std::uint8_t> out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), app1.begin(), app1.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

TEST(ImageCodec, ExifOrientationIsAppliedLikeImread) {
  const auto plain = ReadFile(Sample("noface.jpg"));  // 600x400
  for (int orientation = 1; orientation <= 8; ++orientation) {
    const auto bytes = WithOrientation(plain, orientation);
    auto ours = DecodeImage(bytes, "rotated.jpg");
    ASSERT_OK_R(ours);
    cv::Mat theirs = cv::imdecode(bytes, cv::IMREAD_COLOR);
    ASSERT_FALSE(theirs.empty());
    EXPECT_EQ(ours->size(), theirs.size()) << orientation;
    EXPECT_EQ(ours->size(), orientation >= 5 ? cv::Size(400, 600) : cv::Size(600, 400));
    EXPECT_GT(cv::PSNR(*ours, theirs), 35.0) << orientation;
  }
}

TEST(ImageCodec, PngIsLosslessBothWays) {
  cv::Mat colour(37, 51, CV_8UC3);  // odd sizes on purpose
  cv::randu(colour, 0, 256);
  cv::Mat grey(20, 9, CV_8UC1);
  cv::randu(grey, 0, 256);
  for (const cv::Mat& image : {colour, grey}) {
    auto png = EncodePng(image);
    ASSERT_OK_R(png);
    cv::Mat by_libpng = cv::imdecode(*png, cv::IMREAD_UNCHANGED);
    ASSERT_EQ(by_libpng.size(), image.size());
    EXPECT_EQ(cv::norm(by_libpng, image, cv::NORM_INF), 0.0);
    auto back = DecodeImage(*png, "x.png");  // always BGR
    ASSERT_OK_R(back);
    cv::Mat expected = image;
    if (image.channels() == 1) cv::merge(std::vector<cv::Mat>{image, image, image}, expected);
    EXPECT_EQ(cv::norm(*back, expected, cv::NORM_INF), 0.0);
  }
}

TEST(ImageCodec, JpegQualityFollowsLibjpegsScale) {
  auto source = DecodeImage(ReadFile(Sample("astronaut.jpg")), "astronaut.jpg");
  ASSERT_OK_R(source);
  std::size_t previous_size = 0;
  double previous_psnr = 0;
  for (int quality : {30, 75, 90, 98}) {
    auto jpeg = EncodeJpeg(*source, quality);
    ASSERT_OK_R(jpeg);
    cv::Mat by_libjpeg = cv::imdecode(*jpeg, cv::IMREAD_COLOR);
    ASSERT_EQ(by_libjpeg.size(), source->size());
    const double psnr = cv::PSNR(by_libjpeg, *source);
    EXPECT_GT(jpeg->size(), previous_size) << quality;
    EXPECT_GT(psnr, previous_psnr) << quality;
    // libjpeg's own encoder at the same quality, as the yardstick.
    std::vector<std::uint8_t> theirs;
    ASSERT_TRUE(cv::imencode(".jpg", *source, theirs, {cv::IMWRITE_JPEG_QUALITY, quality}));
    EXPECT_NEAR(psnr, cv::PSNR(cv::imdecode(theirs, cv::IMREAD_COLOR), *source), 3.0) << quality;
    previous_size = jpeg->size();
    previous_psnr = psnr;
  }
  EXPECT_GT(previous_psnr, 38.0);
  cv::Mat grey(31, 17, CV_8UC1, cv::Scalar(77));
  auto jpeg = EncodeJpeg(grey, 90);
  ASSERT_OK_R(jpeg);
  cv::Mat back = cv::imdecode(*jpeg, cv::IMREAD_GRAYSCALE);
  ASSERT_EQ(back.size(), grey.size());
  EXPECT_LE(cv::norm(back, grey, cv::NORM_INF), 2.0);
}

TEST(ImageCodec, OutputFormatFollowsTheExtension) {
  for (const std::string path : {"x.png", "x.PNG", "dir.jpg/x.Png", ".png"}) {
    auto f = ImageFormatForPath(path);
    ASSERT_OK_R(f);
    EXPECT_EQ(*f, ImageFormat::kPng) << path;
  }
  // JPEG: its own extensions, none, stdout, and names that are not images.
  for (const std::string path : {"x.jpg", "x.JPEG", "x", "-", "dir.png/x", "x.out", "x.jfif"}) {
    auto f = ImageFormatForPath(path);
    ASSERT_OK_R(f);
    EXPECT_EQ(*f, ImageFormat::kJpeg) << path;
  }
  for (const std::string path : {"x.gif", "x.BMP", "x.webp", "x.tiff"}) {
    EXPECT_EQ(ImageFormatForPath(path).status().code(), StatusCode::kInvalidArgument) << path;
  }
  EXPECT_EQ(ImageFormatForPath("out/x.GIF").status().message(),
            "out/x.GIF: cannot write .gif images; name the file .jpg, .jpeg (JPEG) or .png (PNG)");

  const cv::Mat image(9, 7, CV_8UC3, cv::Scalar(1, 2, 3));
  EXPECT_EQ(EncodeImage(image, ImageFormat::kPng, 0).value(), EncodePng(image).value());
  EXPECT_EQ(EncodeImage(image, ImageFormat::kJpeg, 70).value(), EncodeJpeg(image, 70).value());
}

TEST(ImageCodec, BadInputsAreClearErrors) {
  EXPECT_EQ(EncodeJpeg(cv::Mat(), 90).status().message(), "cannot encode an empty image as JPEG");
  EXPECT_EQ(EncodeJpeg(cv::Mat(4, 4, CV_8UC3), 0).status().message(),
            "JPEG quality must be 1..100, not 0");
  EXPECT_EQ(EncodeJpeg(cv::Mat(4, 4, CV_8UC3), 101).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePng(cv::Mat(4, 4, CV_32FC1)).status().message(),
            "only 8-bit BGR or grey images can be encoded as PNG");

  EXPECT_EQ(DecodeImage({}, "e.jpg").status().message(), "e.jpg: empty file, no image in it");
  const std::vector<std::uint8_t> text = {'h', 'e', 'l', 'l', 'o', ' ',
                                          'w', 'o', 'r', 'l', 'd', '!'};
  EXPECT_EQ(DecodeImage(text, "t.jpg").status().message(), "t.jpg: not a JPEG or PNG image");

  // A header claiming 20000x20000 is refused before anything is allocated.
  auto jpeg = ReadFile(Sample("noface.jpg"));
  for (std::size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {  // SOF0: height, width at +5, +7
      jpeg[i + 5] = jpeg[i + 7] = 0x4E;
      jpeg[i + 6] = jpeg[i + 8] = 0x20;
      break;
    }
  }
  auto huge = DecodeImage(jpeg, "huge.jpg");
  EXPECT_EQ(huge.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(huge.status().message(),
            "huge.jpg: the JPEG image is 20000x20000 pixels, more than the 8192x8192 limit");
  auto png = EncodePng(cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)));
  ASSERT_OK_R(png);
  (*png)[16] = 0x7F;  // IHDR width: 2^31-ish
  EXPECT_EQ(DecodeImage(*png, "huge.png").status().code(), StatusCode::kUnsupported);
  png->resize(40);  // cut inside the data
  (*png)[16] = 0;
  EXPECT_EQ(DecodeImage(*png, "cut.png").status().code(), StatusCode::kCorrupt);
}

}  // namespace
}  // namespace lockpipe::media
