// Still images through FFmpeg's own codecs: JPEG and PNG bytes to a BGR
// cv::Mat, and a BGR (or grey) cv::Mat to JPEG or PNG bytes (ImageFormatForPath
// picks which from an output file's name).
//
// Why not OpenCV's imgcodecs: on Debian it pulls in GDAL and ~120 other shared
// libraries, 0.14 s and 40 MiB at every start of the program, and FFmpeg - the
// video decoder, loaded anyway - has the same codecs.
//
// Decoding applies the EXIF orientation (as cameras and OpenCV's imread do),
// converts with libswscale exactly as `ffmpeg -i photo.jpg -pix_fmt bgr24`
// does, and refuses pictures over kMaxImagePixels before allocating them.
// Thread-safety: every call has its own codec context; call from any thread.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace lockpipe::media {

// 8192 x 8192: far above any lock camera, far below what a hostile header
// could make the decoder allocate. Images lockpipe makes (contact sheets) stay
// within kMaxImageSide on each side, so lockpipe can always read them back.
inline constexpr int kMaxImageSide = 8192;
inline constexpr std::int64_t kMaxImagePixels = std::int64_t{kMaxImageSide} * kMaxImageSide;

// The image formats lockpipe writes.
enum class ImageFormat { kJpeg, kPng };

// The format for an output file named `path`, by its extension in any case:
// .png gives PNG; .jpg, .jpeg, any other extension, no extension and "-"
// (stdout) give JPEG. kInvalidArgument for the extension of another image
// format (.gif, .bmp, .webp, .tif, ...): whoever names a file x.gif expects a
// GIF, and JPEG bytes under that name would mislead every program that opens it.
Result<ImageFormat> ImageFormatForPath(const std::string& path);

// Decodes a whole JPEG or PNG file (`name` is for messages). kCorrupt when the
// bytes are not a decodable JPEG/PNG, kUnsupported when the picture is too big.
Result<cv::Mat> DecodeImage(std::span<const std::uint8_t> bytes, const std::string& name);

// JPEG bytes of a CV_8UC3 (BGR) or CV_8UC1 (grey) image, 4:2:0, with quality
// 1..100 on libjpeg's scale (90 keeps faces crisp at a third of PNG's size).
// kInvalidArgument for an empty image, another pixel type or a bad quality.
Result<std::vector<std::uint8_t>> EncodeJpeg(const cv::Mat& image, int quality = 90);

// Lossless PNG bytes of a CV_8UC3 (BGR) or CV_8UC1 (grey) image.
Result<std::vector<std::uint8_t>> EncodePng(const cv::Mat& image);

// EncodeJpeg(image, quality) or EncodePng(image) (which has no quality: PNG is
// lossless, and `quality` is then not checked).
Result<std::vector<std::uint8_t>> EncodeImage(const cv::Mat& image, ImageFormat format,
                                              int quality = 90);

}  // namespace lockpipe::media
