// Bytes to pixels: probing and decoding lock media (H.264 MP4 clips, JPEG and
// PNG stills) straight from a RandomAccessSource, which is usually a
// RandomAccessDecryptor over the encrypted file (see DecryptedSource), so a clip
// is demuxed and decoded without its plaintext ever touching disk or being
// held whole in memory.
//
// Start here:
//   OpenMediaFile(path, key)     a file, encrypted (key given) or plaintext
//   Probe(source)                container, codec, size, duration, frame counts
//   ExtractThumbnails(source, request)   BGR cv::Mat frames picked by mode
//   VideoDecoder                 frame-by-frame decoding (full decodes, tests)
//   EncodeImage / WriteImage / MakeContactSheet   images for a person to look at
//
// Video goes through FFmpeg's C API over a custom AVIO context whose read and
// seek callbacks sit on the source. Every FFmpeg failure is carried into the
// Status with av_strerror's text. An interrupt callback enforces a time budget
// so that corrupt input can never hang a caller.
//
// Stills are read whole (photos are small; there is a size cap) and decoded
// by FFmpeg's JPEG and PNG decoders straight from the bytes, with the EXIF
// orientation applied (decoders/image_codec.h): no demuxer needed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/secret.h"
#include "base/status.h"
#include "base/byte_source.h"
#include "decoders/ffmpeg_log.h"
#include "decoders/image_codec.h"
#include "decoders/media_container.h"

namespace lockpipe::media {

// A RandomAccessSource view of a RandomAccessDecryptor: the plaintext of an
// encrypted container. Owns the decryptor. Thread-safety: one thread at a time.
class DecryptedSource final : public RandomAccessSource {
 public:
  explicit DecryptedSource(std::unique_ptr<RandomAccessDecryptor> decryptor)
      : decryptor_(std::move(decryptor)) {}
  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
    return decryptor_->ReadAt(offset, out);
  }
  Result<std::uint64_t> Size() override { return decryptor_->size(); }
  std::string name() const override { return decryptor_->name(); }

 private:
  std::unique_ptr<RandomAccessDecryptor> decryptor_;
};

// Opens `path` for decoding. With a key, the file is the lock media container
// and the result reads its plaintext; the first plaintext bytes must look like
// a JPEG, PNG or MP4, otherwise it fails with kCorrupt ("wrong key or not lock
// media") - CBC padding alone misses about 1 wrong key in 256. Without a key
// the file is read as it is. Fails with kNotFound / kIoError on file errors,
// kInvalidArgument on a bad key length, kCorrupt on a short/garbled container.
Result<std::unique_ptr<RandomAccessSource>> OpenMediaFile(const std::string& path,
                                                          const std::optional<Secret>& key);

struct DecodeOptions {
  // Decoder threads (frame + slice threading); 1 = decode on the caller's
  // thread only. 0 = FFmpeg picks (one per core).
  int threads = 1;
  // Wall-clock budget for one Open + all the reads/decodes that follow. When
  // it runs out, FFmpeg's blocking calls are interrupted and the call fails
  // with kTimeout.
  std::chrono::milliseconds time_budget{std::chrono::seconds(60)};
  // How many bytes FFmpeg may read to find the streams, and how much media
  // time it may analyse. MP4 needs little of either (the moov atom says it).
  std::int64_t probe_bytes = 2 << 20;
  std::int64_t analyze_microseconds = 2'000'000;
  // Stills larger than this are refused (kUnsupported) rather than read whole.
  std::uint64_t max_still_bytes = 64 << 20;
  // A clip that ends before its data does (its index promises bytes past the
  // end of the file, or a frame is cut short), or a frame the decoder had to
  // conceal, fails with kCorrupt: the missing or patched part can hide people.
  // True only for a person's look at a clip still being uploaded (`lockpipe
  // thumbnail`): such a clip then opens, and a cut or damaged frame after at
  // least one good one ends the stream like EOF. Never set it on a path that
  // leads to a decision. Stills are never tolerated.
  bool tolerate_truncated_clip = false;
};

struct MediaInfo {
  ContentType content = ContentType::kUnknown;
  bool is_still = false;
  std::string container;  // FFmpeg's demuxer name ("mov,mp4,m4a,3gp,3g2,mj2"), or "jpeg"/"png"
  std::string codec;      // "h264", or "jpeg"/"png" for stills
  int width = 0;
  int height = 0;
  double duration_seconds = 0;  // 0 for stills
  double fps = 0;               // average frame rate; 0 for stills
  std::int64_t frames = 0;      // video packets counted by demuxing (1 for stills)
  std::int64_t keyframes = 0;   // of which flagged key (1 for stills)
  std::uint64_t bytes = 0;      // plaintext size
};

// Reads what the media is. For video, demuxes every packet (no decoding) to
// count frames and keyframes exactly. Fails with kCorrupt (with FFmpeg's or
// OpenCV's reason) for anything that is not decodable media, kTimeout when the
// budget runs out.
Result<MediaInfo> Probe(RandomAccessSource& source, const DecodeOptions& options = {});

// One decoded frame, as the pipeline sees it. `boxes` are in `image`'s pixel
// coordinates; the decoder leaves them empty, face detection fills them.
struct Thumbnail {
  cv::Mat image;  // CV_8UC3, BGR
  double seconds = 0;
  bool keyframe = false;
  std::vector<cv::Rect> boxes;
};

enum class ThumbnailMode {
  kFirst,  // the first decodable frame
  kAt,     // the frame nearest `at_seconds` (seek back to a keyframe, decode forward)
  // The frames nearest 0, d/N, 2d/N, ... for N = `count` (each as kAt), each
  // frame once: where several of those times share a nearest frame (N above
  // the clip's frame count, or above its keyframe count with keyframes_only),
  // fewer than `count` come back.
  kSpread,
  kKeyframes,  // every keyframe, in order, at most `count` of them (0 = all)
};

struct ThumbnailRequest {
  ThumbnailMode mode = ThumbnailMode::kFirst;
  double at_seconds = 0;
  int count = 1;
  // Decode keyframes only (the decoder's skip_frame = AVDISCARD_NONKEY):
  // much faster; kAt / kSpread then give the keyframe at or before the time.
  // kKeyframes implies it.
  bool keyframes_only = false;
  // Fit inside max_width x max_height keeping the aspect ratio (0 = no limit);
  // never enlarges.
  int max_width = 0;
  int max_height = 0;
  DecodeOptions decode;
};

// Decodes the frames `request` asks for, in time order, never the same frame
// (stream timestamp) twice. A still gives exactly one Thumbnail (seconds 0,
// keyframe true) whatever the mode. Fails (never returns an empty
// vector) when no frame can be decoded: kCorrupt with the reason, kTimeout,
// kInvalidArgument for a bad request (negative time, count < 1 for kSpread).
// A cut still or clip, or one with a frame the decoder concealed damage in,
// is kCorrupt too (DecodeOptions::tolerate_truncated_clip is the one
// exception, for clips only).
Result<std::vector<Thumbnail>> ExtractThumbnails(RandomAccessSource& source,
                                                 const ThumbnailRequest& request);

// Frame-by-frame video decoding over a source. Owns every FFmpeg handle it
// uses; borrows `source`, which must outlive it.
// Thread-safety: one thread at a time (the decoder may run its own worker
// threads internally when options.threads != 1).
class VideoDecoder {
 public:
  struct Frame {
    double seconds = 0;
    std::int64_t pts = 0;  // in the stream's time base
    bool keyframe = false;
  };

  // Opens the container and the first video stream's decoder. Fails with
  // kCorrupt (FFmpeg's reason, e.g. "Invalid data found when processing
  // input"; or "the clip is truncated" when its index places media past the
  // end of the source, unless options.tolerate_truncated_clip), kUnsupported
  // (no video stream, no decoder), kTimeout.
  static Result<std::unique_ptr<VideoDecoder>> Open(RandomAccessSource& source,
                                                    const DecodeOptions& options = {});
  ~VideoDecoder();
  VideoDecoder(const VideoDecoder&) = delete;
  VideoDecoder& operator=(const VideoDecoder&) = delete;

  // Container, codec, size, duration and fps (frames/keyframes are 0: Probe
  // counts them).
  const MediaInfo& info() const { return info_; }

  // Only keyframes from now on (takes effect for packets not yet read).
  void SetKeyframesOnly(bool on);

  // Decodes the next frame into the decoder's current frame. Returns false at
  // the end of the stream (after draining the decoder). A frame that fails to
  // decode, that the decoder concealed damage in, or whose packet the demuxer
  // cut short is an error (kCorrupt) - a truncated clip ends with an error,
  // not silently short - unless options.tolerate_truncated_clip.
  Result<bool> Next(Frame* frame);

  // Seeks so that the next Next() returns the keyframe at or before `seconds`
  // (or the first frame). Flushes the decoder.
  Status SeekBefore(double seconds);

  // Demuxes the rest of the stream without decoding, counting the video
  // packets (= frames) and those flagged key. A packet the demuxer cut short
  // is kCorrupt (unless options.tolerate_truncated_clip: counting stops
  // there). Consumes the stream: only SeekBefore() makes Next() useful again.
  Status CountPackets(std::int64_t* packets, std::int64_t* keyframes);

  // Converts the current frame to BGR at `size` (width/height 0 = native).
  // *out becomes a new continuous CV_8UC3 picture of exactly that size; it
  // shares no memory with an earlier *out.
  Status ToBgr(cv::Size size, cv::Mat* out);

 private:
  struct Impl;
  VideoDecoder();
  // Ends the stream like EOF when tolerating a truncated clip and a frame has
  // been decoded already; otherwise returns `error`.
  Result<bool> EndOrFail(Status error);
  std::unique_ptr<Impl> impl_;
  MediaInfo info_;
};

// Size that fits `native` inside max_w x max_h (0 = unlimited) keeping the
// aspect ratio, never enlarging, each side at least 1.
cv::Size FitInside(cv::Size native, int max_w, int max_h);

// EncodeJpeg (decoders/image_codec.h) then an atomic write (temp + rename; "-" = stdout).
Status WriteJpeg(const std::string& path, const cv::Mat& image, int quality = 90);
// The same in the format ImageFormatForPath(path) names: PNG for a .png file
// (`quality` unused), JPEG otherwise. kInvalidArgument for another image
// format's extension (.gif, .bmp, ...), before anything is written.
Status WriteImage(const std::string& path, const cv::Mat& image, int quality = 90);

// A grid of thumbnails (as square as possible, `columns` 0 = automatic), each
// labelled with its timestamp (and "K" for keyframes) and its boxes drawn as
// green rectangles. Cells are sized to the largest thumbnail, scaled down
// (keeping the aspect ratio, boxes scaled with them) where the sheet would
// otherwise be wider or taller than kMaxImageSide. Fails with
// kInvalidArgument on an empty list, and when there are so many thumbnails
// that cells under kMinContactSheetCell pixels a side would be needed to fit.
Result<cv::Mat> MakeContactSheet(const std::vector<Thumbnail>& thumbnails, int columns = 0);
// Pixels: the smallest cell side MakeContactSheet shrinks to.
inline constexpr int kMinContactSheetCell = 16;

// Decodes every frame of a clip (or the still) and returns how many decoded:
// a whole-file check, and what `lockpipe probe --decode` times.
Result<std::int64_t> DecodeAllFrames(RandomAccessSource& source, const DecodeOptions& options = {});

// "00:01.240" for 1.24 seconds.
std::string FormatTimestamp(double seconds);

}  // namespace lockpipe::media
