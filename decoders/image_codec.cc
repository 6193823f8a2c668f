#include "decoders/image_codec.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <opencv2/core.hpp>
#include <utility>

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include "decoders/ffmpeg_handles.h"
#include "decoders/ffmpeg_log.h"
#include "decoders/media_container.h"
#include "decoders/sws_picture.h"

namespace lockpipe::media {
namespace {

// libswscale takes the full-range ("J") YUV formats as their plain twins plus
// a range flag; passing the J formats works but logs a deprecation warning.
AVPixelFormat PlainYuv(AVPixelFormat format, bool* full_range) {
  switch (format) {
    case AV_PIX_FMT_YUVJ420P:
      *full_range = true;
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ411P:
      *full_range = true;
      return AV_PIX_FMT_YUV411P;
    case AV_PIX_FMT_YUVJ422P:
      *full_range = true;
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ440P:
      *full_range = true;
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ444P:
      *full_range = true;
      return AV_PIX_FMT_YUV444P;
    default:
      return format;
  }
}

// One libswscale conversion of a whole picture at the same size, with the
// CLI's default scaler flags (so a decode matches `ffmpeg -pix_fmt bgr24`).
// Both pictures must be laid out for SIMD blocks: an AVFrame from FFmpeg, or
// a cv::Mat from NewSwsBuffer / SwsReadable (decoders/sws_picture.h).
Status Convert(int width, int height, AVPixelFormat src_format, bool src_full,
               const std::uint8_t* const src[], const int src_stride[], AVPixelFormat dst_format,
               bool dst_full, std::uint8_t* const dst[], const int dst_stride[]) {
  // Ranges are options set before sws_init_context (as libavfilter's scale
  // does): sws_setColorspaceDetails on a ready context is ignored by the
  // unscaled RGB-to-YUV paths.
  SwsPtr sws(sws_alloc_context());
  if (!sws) return InternalError("sws_alloc_context failed");
  SwsContext* c = sws.get();
  av_opt_set_int(c, "srcw", width, 0);
  av_opt_set_int(c, "srch", height, 0);
  av_opt_set_int(c, "src_format", src_format, 0);
  av_opt_set_int(c, "dstw", width, 0);
  av_opt_set_int(c, "dsth", height, 0);
  av_opt_set_int(c, "dst_format", dst_format, 0);
  av_opt_set_int(c, "sws_flags", SWS_BICUBIC, 0);
  av_opt_set_int(c, "src_range", src_full ? 1 : 0, 0);
  av_opt_set_int(c, "dst_range", dst_full ? 1 : 0, 0);
  if (sws_init_context(c, nullptr, nullptr) < 0) {
    const char* from = av_get_pix_fmt_name(src_format);
    const char* to = av_get_pix_fmt_name(dst_format);
    return Unsupported(std::string("cannot convert ") + (from ? from : "unknown") +
                       " pictures to " + (to ? to : "unknown"));
  }
  const int rows = sws_scale(sws.get(), src, src_stride, 0, height, dst, dst_stride);
  if (rows != height) {
    return InternalError("sws_scale converted " + std::to_string(rows) + " of " +
                         std::to_string(height) + " rows");
  }
  return Status::Ok();
}

// EXIF orientation 1..8 (TIFF tag 0x0112), applied as OpenCV's imread does.
void ApplyOrientation(int orientation, cv::Mat* image) {
  cv::Mat& m = *image;
  if (orientation >= 5 && orientation <= 8) {
    cv::Mat t;
    cv::transpose(m, t);
    m = t;
  }
  switch (orientation) {
    case 2:
    case 6:
      cv::flip(m, m, 1);
      break;
    case 3:
    case 7:
      cv::flip(m, m, -1);
      break;
    case 4:
    case 8:
      cv::flip(m, m, 0);
      break;
    default:
      break;
  }
}

int Orientation(const AVFrame& frame) {
  // FFmpeg's JPEG decoder exports the EXIF IFD0 tags as frame metadata.
  const AVDictionaryEntry* e = av_dict_get(frame.metadata, "Orientation", nullptr, 0);
  if (e == nullptr || e->value == nullptr) return 1;
  const long v = std::strtol(e->value, nullptr, 10);  // the value is space-padded
  return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
}

Status CheckEncodable(const cv::Mat& image, const char* format) {
  if (image.empty())
    return InvalidArgument(std::string("cannot encode an empty image as ") + format);
  if (image.type() != CV_8UC3 && image.type() != CV_8UC1) {
    return InvalidArgument(std::string("only 8-bit BGR or grey images can be encoded as ") +
                           format);
  }
  if (image.cols > 65535 || image.rows > 65535) {
    return InvalidArgument(std::string("an image of ") + std::to_string(image.cols) + "x" +
                           std::to_string(image.rows) + " is too large for " + format);
  }
  return Status::Ok();
}

// Encodes one picture with FFmpeg's encoder `id`, in the codec's pixel format
// `format`; `qscale` 1..31 fixes the quantiser (0 = the codec's default).
Result<std::vector<std::uint8_t>> EncodePicture(const cv::Mat& image, AVCodecID id,
                                                AVPixelFormat format, int qscale) {
  RouteFfmpegLogToLogger();
  const AVCodec* codec = avcodec_find_encoder(id);
  const std::string name = avcodec_get_name(id);
  if (codec == nullptr) return Unsupported("this FFmpeg has no " + name + " encoder");
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) return InternalError("avcodec_alloc_context3 failed");
  bool full_range = false;
  const AVPixelFormat plain = PlainYuv(format, &full_range);
  ctx->width = image.cols;
  ctx->height = image.rows;
  ctx->pix_fmt = format;
  ctx->time_base = AVRational{1, 1};
  ctx->thread_count = 1;
  if (full_range) ctx->color_range = AVCOL_RANGE_JPEG;
  if (qscale > 0) {
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = qscale * FF_QP2LAMBDA;
    ctx->qmin = 1;
    ctx->qmax = 31;
  }
  int rc = avcodec_open2(ctx.get(), codec, nullptr);
  if (rc < 0) return InternalError("cannot open the " + name + " encoder: " + AvErrorText(rc));

  FramePtr frame(av_frame_alloc());
  if (!frame) return InternalError("av_frame_alloc failed");
  frame->format = format;
  frame->width = image.cols;
  frame->height = image.rows;
  frame->pts = 0;
  frame->quality = ctx->global_quality;
  rc = av_frame_get_buffer(frame.get(), 0);
  if (rc < 0) return InternalError("cannot allocate a picture: " + AvErrorText(rc));
  // sws_scale reads whole SIMD blocks past the end of a row (see
  // decoders/sws_picture.h); the frame it writes is FFmpeg's, padded already.
  const cv::Mat readable = SwsReadable(image);
  const std::uint8_t* src[4] = {readable.data, nullptr, nullptr, nullptr};
  const int src_stride[4] = {static_cast<int>(readable.step[0]), 0, 0, 0};
  const AVPixelFormat src_format = image.channels() == 3 ? AV_PIX_FMT_BGR24 : AV_PIX_FMT_GRAY8;
  RETURN_IF_ERROR(Convert(image.cols, image.rows, src_format, false, src, src_stride, plain,
                          full_range, frame->data, frame->linesize));

  rc = avcodec_send_frame(ctx.get(), frame.get());
  if (rc >= 0) rc = avcodec_send_frame(ctx.get(), nullptr);
  if (rc < 0) return InternalError("the " + name + " encoder failed: " + AvErrorText(rc));
  PacketPtr packet(av_packet_alloc());
  if (!packet) return InternalError("av_packet_alloc failed");
  std::vector<std::uint8_t> out;
  while ((rc = avcodec_receive_packet(ctx.get(), packet.get())) >= 0) {
    out.insert(out.end(), packet->data, packet->data + packet->size);
    av_packet_unref(packet.get());
  }
  if (rc != AVERROR_EOF)
    return InternalError("the " + name + " encoder failed: " + AvErrorText(rc));
  if (out.empty()) return InternalError("the " + name + " encoder produced nothing");
  return out;
}

// libjpeg's quality q scales its tables by S = 50/q (q < 50) or 2 - q/50.
// FFmpeg's JPEG encoder quantises with MPEG's intra matrix times qscale/8,
// whose mean step is ~4.25 per qscale unit against 57.6 for libjpeg's table at
// S = 1: qscale = 13.5 S matches the means (q 90 -> 3, q 75 -> 7, q 50 -> 14).
int JpegQscale(int quality) {
  const double s = quality < 50 ? 50.0 / quality : 2.0 - quality / 50.0;
  return std::clamp(static_cast<int>(std::lround(13.5 * s)), 1, 31);
}

std::uint32_t BigEndian(std::span<const std::uint8_t> b, std::size_t at, std::size_t n) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | b[at + i];
  return v;
}

// The picture size its header claims (0x0 when it cannot be found): PNG's IHDR,
// or a JPEG's start-of-frame segment, found by walking the marker segments.
std::pair<std::uint32_t, std::uint32_t> HeaderSize(std::span<const std::uint8_t> b,
                                                   ContentType type) {
  if (type == ContentType::kPng) {
    if (b.size() < 24) return {0, 0};
    return {BigEndian(b, 16, 4), BigEndian(b, 20, 4)};
  }
  std::size_t at = 2;  // after SOI
  while (at + 9 <= b.size() && b[at] == 0xFF) {
    const std::uint8_t marker = b[at + 1];
    const bool sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) return {BigEndian(b, at + 7, 2), BigEndian(b, at + 5, 2)};
    if (marker == 0xD9 || marker == 0xDA) break;  // EOI, or entropy-coded data follows
    at += 2 + BigEndian(b, at + 2, 2);
  }
  return {0, 0};
}

// Whether a JPEG reaches its end-of-image marker: the marker segments are
// walked by their lengths, and each scan's entropy-coded data byte by byte to
// the marker that ends it (FF00 is a stuffed FF byte and FFD0..FFD7 restart
// markers, both inside the scan; a progressive JPEG has several scans).
// Bytes after EOI are not looked at: cameras append data there.
//
// Why not trust FFmpeg: its JPEG decoder (5.1) decodes a cut file's first
// rows, logs "EOI missing, emulating" and returns a whole picture with the
// rest grey or smeared - even with AV_EF_EXPLODE - so a cut photo would be a
// photo of part of the door's view.
Status CheckJpegReachesEoi(std::span<const std::uint8_t> b, const std::string& name) {
  const Status truncated =
      Corrupt(name + ": the JPEG image is truncated: it ends before its end-of-image marker");
  std::size_t at = 2;  // after SOI
  for (;;) {
    // Between segments: FFmpeg skips anything up to the next FF, and so do we
    // (some encoders leave padding there); FF fill bytes may precede a marker.
    while (at < b.size() && b[at] != 0xFF) ++at;
    while (at < b.size() && b[at] == 0xFF) ++at;
    if (at >= b.size()) return truncated;
    const std::uint8_t marker = b[at++];
    if (marker == 0xD9) return Status::Ok();                           // EOI
    if (marker == 0x00 || marker == 0x01 || marker == 0xD8) continue;  // no length
    if (marker >= 0xD0 && marker <= 0xD7) continue;                    // RST, no length
    if (at + 2 > b.size()) return truncated;
    const std::uint32_t length = BigEndian(b, at, 2);
    if (length < 2) {
      char hex[3];
      std::snprintf(hex, sizeof hex, "%02X", marker);
      return Corrupt(name + ": the JPEG image is corrupt: the FF" + hex + " segment at byte " +
                     std::to_string(at - 2) + " has length " + std::to_string(length));
    }
    if (at + length > b.size()) return truncated;
    at += length;
    if (marker != 0xDA) continue;
    // SOS: entropy-coded data up to the next marker that is not FF00 or RST.
    for (;;) {
      while (at < b.size() && b[at] != 0xFF) ++at;
      if (at + 1 >= b.size()) return truncated;
      const std::uint8_t next = b[at + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
        at += 2;
      } else if (next == 0xFF) {
        ++at;  // fill byte before a marker
      } else {
        break;  // a marker: back to the segment walk, which skips the FF
      }
    }
  }
}

// Whether a PNG reaches its IEND chunk, walking the chunks by their lengths
// (at most 2^31 - 1 each, as the PNG spec says). Bytes after IEND are not
// looked at.
//
// Why not trust FFmpeg: its PNG decoder (5.1) returns a whole picture when the
// IEND chunk, or the end of the last IDAT chunk, is missing ("0 bytes left").
Status CheckPngReachesIend(std::span<const std::uint8_t> b, const std::string& name) {
  const Status truncated =
      Corrupt(name + ": the PNG image is truncated: it ends before its IEND chunk");
  std::size_t at = 8;  // after the signature
  for (;;) {
    if (at + 8 > b.size()) return truncated;
    const std::uint32_t length = BigEndian(b, at, 4);
    if (length > 0x7FFFFFFFu) {
      return Corrupt(name + ": the PNG image is corrupt: the chunk at byte " + std::to_string(at) +
                     " claims " + std::to_string(length) + " bytes");
    }
    const bool iend = BigEndian(b, at + 4, 4) == 0x49454E44u;        // "IEND"
    if (b.size() - at < std::size_t{12} + length) return truncated;  // length, type, data, CRC
    if (iend) return Status::Ok();
    at += std::size_t{12} + length;
  }
}

// Extensions of image formats other than JPEG and PNG, lower case.
constexpr const char* kOtherImageExtensions[] = {
    "apng", "avif", "bmp", "dib", "dng", "exr", "gif",  "hdr", "heic",
    "heif", "ico",  "j2k", "jp2", "jpx", "jxl", "pam",  "pbm", "pgm",
    "pnm",  "ppm",  "psd", "svg", "tga", "tif", "tiff", "webp"};

}  // namespace

Result<ImageFormat> ImageFormatForPath(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  const std::size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
    return ImageFormat::kJpeg;  // no extension, "-" included
  }
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == "png") return ImageFormat::kPng;
  if (std::find(std::begin(kOtherImageExtensions), std::end(kOtherImageExtensions), ext) !=
      std::end(kOtherImageExtensions)) {
    return InvalidArgument(path + ": cannot write ." + ext +
                           " images; name the file .jpg, .jpeg (JPEG) or .png (PNG)");
  }
  return ImageFormat::kJpeg;
}

Result<cv::Mat> DecodeImage(std::span<const std::uint8_t> bytes, const std::string& name) {
  if (bytes.empty()) return Corrupt(name + ": empty file, no image in it");
  const ContentType type = SniffContent(bytes.first(std::min(bytes.size(), kSniffBytes)));
  AVCodecID id = AV_CODEC_ID_NONE;
  if (type == ContentType::kJpeg) id = AV_CODEC_ID_MJPEG;
  if (type == ContentType::kPng) id = AV_CODEC_ID_PNG;
  if (id == AV_CODEC_ID_NONE) return Corrupt(name + ": not a JPEG or PNG image");
  const std::string what = std::string("the ") + ContentTypeName(type) + " image";
  if (bytes.size() > static_cast<std::size_t>(INT_MAX - AV_INPUT_BUFFER_PADDING_SIZE)) {
    return Unsupported(name + ": " + what + " is too large to decode");
  }
  if (auto [w, h] = HeaderSize(bytes, type);
      std::uint64_t{w} * h > static_cast<std::uint64_t>(kMaxImagePixels)) {
    return Unsupported(name + ": " + what + " is " + std::to_string(w) + "x" + std::to_string(h) +
                       " pixels, more than the 8192x8192 limit");
  }
  // A cut file is never a picture: the missing part can hide people.
  RETURN_IF_ERROR(type == ContentType::kJpeg ? CheckJpegReachesEoi(bytes, name)
                                             : CheckPngReachesIend(bytes, name));
  RouteFfmpegLogToLogger();
  const AVCodec* codec = avcodec_find_decoder(id);
  if (codec == nullptr) return Unsupported(name + ": this FFmpeg has no decoder for " + what);
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) return InternalError("avcodec_alloc_context3 failed");
  ctx->thread_count = 1;
  ctx->max_pixels = kMaxImagePixels;
  // Fail on bitstream errors instead of concealing them, where the decoder
  // supports it; what it still conceals shows in the frame's flags below.
  ctx->err_recognition |= AV_EF_EXPLODE;
  int rc = avcodec_open2(ctx.get(), codec, nullptr);
  if (rc < 0) return InternalError(name + ": cannot open the decoder: " + AvErrorText(rc));

  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  if (!packet || !frame) return InternalError("av_packet_alloc/av_frame_alloc failed");
  rc = av_new_packet(packet.get(), static_cast<int>(bytes.size()));
  if (rc < 0) return InternalError(name + ": cannot allocate a packet: " + AvErrorText(rc));
  std::memcpy(packet->data, bytes.data(), bytes.size());
  rc = avcodec_send_packet(ctx.get(), packet.get());
  if (rc >= 0) rc = avcodec_send_packet(ctx.get(), nullptr);
  if (rc >= 0) rc = avcodec_receive_frame(ctx.get(), frame.get());
  if (rc < 0 || frame->width <= 0 || frame->height <= 0) {
    return Corrupt(name + ": cannot decode " + what + " (truncated or corrupt)" +
                   (rc < 0 && rc != AVERROR_EOF ? ": " + AvErrorText(rc) : std::string()));
  }
  // A picture the decoder patched up (concealed slices or macroblocks) is not
  // the photo the camera took.
  if (frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT) != 0) {
    return Corrupt(name + ": " + what + " is corrupt: the decoder had to conceal damaged parts" +
                   " (decode_error_flags " + std::to_string(frame->decode_error_flags) + ")");
  }

  bool full_range = frame->color_range == AVCOL_RANGE_JPEG;
  const AVPixelFormat format = PlainYuv(static_cast<AVPixelFormat>(frame->format), &full_range);
  // sws_scale writes whole SIMD blocks past the end of a row: a picture
  // narrower than a block would overrun an exact-size cv::Mat.
  cv::Mat buffer = NewSwsBuffer(frame->width, frame->height, CV_8UC3);
  std::uint8_t* dst[4] = {buffer.data, nullptr, nullptr, nullptr};
  const int dst_stride[4] = {static_cast<int>(buffer.step[0]), 0, 0, 0};
  if (Status s = Convert(frame->width, frame->height, format, full_range, frame->data,
                         frame->linesize, AV_PIX_FMT_BGR24, false, dst, dst_stride);
      !s.ok()) {
    return s.WithContext(name);
  }
  cv::Mat image = SwsPicture(buffer, frame->width, frame->height);
  ApplyOrientation(Orientation(*frame), &image);
  return image;
}

Result<std::vector<std::uint8_t>> EncodeJpeg(const cv::Mat& image, int quality) {
  if (quality < 1 || quality > 100) {
    return InvalidArgument("JPEG quality must be 1..100, not " + std::to_string(quality));
  }
  RETURN_IF_ERROR(CheckEncodable(image, "JPEG"));
  return EncodePicture(image, AV_CODEC_ID_MJPEG, AV_PIX_FMT_YUVJ420P, JpegQscale(quality));
}

Result<std::vector<std::uint8_t>> EncodePng(const cv::Mat& image) {
  RETURN_IF_ERROR(CheckEncodable(image, "PNG"));
  return EncodePicture(image, AV_CODEC_ID_PNG,
                       image.channels() == 3 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_GRAY8, 0);
}

Result<std::vector<std::uint8_t>> EncodeImage(const cv::Mat& image, ImageFormat format,
                                              int quality) {
  return format == ImageFormat::kPng ? EncodePng(image) : EncodeJpeg(image, quality);
}

}  // namespace lockpipe::media
