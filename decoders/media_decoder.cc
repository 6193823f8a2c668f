#include "decoders/media_decoder.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <set>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include "base/file_util.h"
#include "decoders/ffmpeg_handles.h"
#include "decoders/image_codec.h"
#include "decoders/sws_picture.h"

namespace lockpipe::media {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kAvioBufferSize = 64 * 1024;

// The AVFormatContext and the custom AVIOContext that feeds it, kept together
// because their lifetimes are tangled: avformat_open_input frees the format
// context on failure (but never a custom pb), and lavf may replace the AVIO
// buffer, so the buffer to free is whatever avio->buffer points at the end.
class FormatInput {
 public:
  FormatInput(RandomAccessSource& source, const DecodeOptions& options)
      : source_(source), deadline_(Clock::now() + options.time_budget) {}
  ~FormatInput() {
    if (fmt_ != nullptr) avformat_close_input(&fmt_);
    if (avio_ != nullptr) {
      av_freep(&avio_->buffer);
      avio_context_free(&avio_);
    }
  }
  FormatInput(const FormatInput&) = delete;
  FormatInput& operator=(const FormatInput&) = delete;

  Status Open(const DecodeOptions& options) {
    RouteFfmpegLogToLogger();
    auto size = source_.Size();
    if (!size.ok()) return size.status();
    size_ = *size;
    if (size_ == 0) return Corrupt(source_.name() + ": empty file, no media in it");
    auto* buffer = static_cast<unsigned char*>(av_malloc(kAvioBufferSize));
    if (buffer == nullptr) return InternalError("av_malloc failed for the AVIO buffer");
    avio_ = avio_alloc_context(buffer, kAvioBufferSize, 0, this, &FormatInput::ReadPacket, nullptr,
                               &FormatInput::Seek);
    if (avio_ == nullptr) {
      av_free(buffer);
      return InternalError("avio_alloc_context failed");
    }
    fmt_ = avformat_alloc_context();
    if (fmt_ == nullptr) return InternalError("avformat_alloc_context failed");
    fmt_->pb = avio_;
    fmt_->flags |= AVFMT_FLAG_CUSTOM_IO;
    fmt_->interrupt_callback.callback = &FormatInput::Interrupt;
    fmt_->interrupt_callback.opaque = this;
    fmt_->probesize = options.probe_bytes;
    fmt_->max_analyze_duration = options.analyze_microseconds;

    AVDictionary* opts = nullptr;
    // Lock media is MP4. Refusing every other demuxer shrinks what corrupt or
    // hostile input can reach; refusing every protocol stops an MP4's data
    // reference ('dref' atom) from making lavf open some other file or URL.
    av_dict_set(&opts, "format_whitelist", "mov,mp4,m4a,3gp,3g2,mj2", 0);
    av_dict_set(&opts, "protocol_whitelist", "none", 0);
    int rc = avformat_open_input(&fmt_, nullptr, nullptr, &opts);
    av_dict_free(&opts);
    if (rc < 0) {
      fmt_ = nullptr;  // freed by avformat_open_input
      return Error(rc, "cannot open the container");
    }
    rc = avformat_find_stream_info(fmt_, nullptr);
    if (rc < 0) return Error(rc, "cannot read the stream parameters");
    if (!options.tolerate_truncated_clip) RETURN_IF_ERROR(CheckIndexWithinSource());
    return Status::Ok();
  }

  // kCorrupt when the demuxer's index places a sample past the end of the
  // source: the clip was cut after its index was written (a faststart MP4
  // cut in its frame data).
  //
  // Why here and not only while demuxing: lavf marks the one sample it reads
  // short AV_PKT_FLAG_CORRUPT, but every sample after it reads as a plain
  // EOF, and a caller that decodes only some frames (the first, or keyframes
  // spread over the clip) would never reach either.
  Status CheckIndexWithinSource() const {
    std::int64_t end = 0;
    for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
      const AVStream* st = fmt_->streams[i];
      const int n = avformat_index_get_entries_count(st);
      for (int k = 0; k < n; ++k) {
        const AVIndexEntry* e = avformat_index_get_entry(const_cast<AVStream*>(st), k);
        if (e != nullptr && e->pos >= 0) end = std::max(end, e->pos + e->size);
      }
    }
    if (end > static_cast<std::int64_t>(size_)) {
      return Corrupt(source_.name() +
                     ": the clip is truncated: its index places frames up to byte " +
                     std::to_string(end) + ", but it ends at byte " + std::to_string(size_));
    }
    return Status::Ok();
  }

  // Converts an AVERROR into a Status naming the source, preferring what the
  // source itself said when a read failed, and the time budget when that is
  // what interrupted FFmpeg.
  Status Error(int err, const std::string& what) const {
    if (!io_error_.ok()) return io_error_.WithContext(source_.name() + ": " + what);
    if (timed_out_ || err == AVERROR_EXIT) {
      return TimeoutError(source_.name() + ": " + what + ": gave up after the time budget ran out");
    }
    return Corrupt(source_.name() + ": " + what + ": " + AvErrorText(err));
  }

  bool OutOfTime() {
    if (Clock::now() > deadline_) timed_out_ = true;
    return timed_out_;
  }

  AVFormatContext* fmt() const { return fmt_; }
  std::uint64_t size() const { return size_; }
  std::string name() const { return source_.name(); }

 private:
  static int ReadPacket(void* opaque, std::uint8_t* buf, int buf_size) {
    auto* self = static_cast<FormatInput*>(opaque);
    if (buf_size <= 0) return 0;
    if (self->pos_ >= self->size_) return AVERROR_EOF;
    // Fill the buffer even from a source that answers a byte at a time: lavf
    // copes with short reads, but fewer callbacks are cheaper.
    std::size_t want = static_cast<std::size_t>(
        std::min<std::uint64_t>(static_cast<std::uint64_t>(buf_size), self->size_ - self->pos_));
    std::size_t got = 0;
    while (got < want) {
      auto n = self->source_.ReadAt(self->pos_ + got, std::span(buf + got, want - got));
      if (!n.ok()) {
        self->io_error_ = n.status();
        return AVERROR(EIO);
      }
      if (*n == 0) break;
      got += *n;
    }
    self->pos_ += got;
    if (got == 0) return AVERROR_EOF;
    return static_cast<int>(got);
  }

  static std::int64_t Seek(void* opaque, std::int64_t offset, int whence) {
    auto* self = static_cast<FormatInput*>(opaque);
    const auto size = static_cast<std::int64_t>(self->size_);
    std::int64_t target = 0;
    switch (whence & ~AVSEEK_FORCE) {
      case AVSEEK_SIZE:
        return size;
      case SEEK_SET:
        target = offset;
        break;
      case SEEK_CUR:
        target = static_cast<std::int64_t>(self->pos_) + offset;
        break;
      case SEEK_END:
        target = size + offset;
        break;
      default:
        return AVERROR(EINVAL);
    }
    if (target < 0) return AVERROR(EINVAL);
    // Past the end is allowed (reads then return EOF), as with a file.
    self->pos_ = static_cast<std::uint64_t>(target);
    return target;
  }

  static int Interrupt(void* opaque) {
    return static_cast<FormatInput*>(opaque)->OutOfTime() ? 1 : 0;
  }

  RandomAccessSource& source_;
  Clock::time_point deadline_;
  AVFormatContext* fmt_ = nullptr;
  AVIOContext* avio_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint64_t pos_ = 0;
  Status io_error_;
  bool timed_out_ = false;
};

// First bytes of the source, to route stills and video.
Result<ContentType> Sniff(RandomAccessSource& source) {
  std::array<std::uint8_t, kSniffBytes> head{};
  std::size_t got = 0;
  while (got < head.size()) {
    ASSIGN_OR_RETURN(std::size_t n, source.ReadAt(got, std::span(head).subspan(got)));
    if (n == 0) break;
    got += n;
  }
  if (got == 0) return Corrupt(source.name() + ": empty file, no media in it");
  return SniffContent(std::span(head.data(), got));
}

struct Still {
  cv::Mat image;
  std::uint64_t bytes = 0;
};

Result<Still> DecodeStill(RandomAccessSource& source, const DecodeOptions& options) {
  ASSIGN_OR_RETURN(std::uint64_t size, source.Size());
  if (size > options.max_still_bytes) {
    return Unsupported(source.name() + ": image of " + std::to_string(size) +
                       " bytes is larger than the " + std::to_string(options.max_still_bytes) +
                       "-byte limit for stills");
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  std::size_t got = 0;
  while (got < bytes.size()) {
    ASSIGN_OR_RETURN(std::size_t n, source.ReadAt(got, std::span(bytes).subspan(got)));
    if (n == 0) break;
    got += n;
  }
  if (got != bytes.size()) return Corrupt(source.name() + ": image ended early");
  Still still;
  still.bytes = size;
  ASSIGN_OR_RETURN(still.image, DecodeImage(bytes, source.name()));
  return still;
}

const char* StillName(ContentType type) { return type == ContentType::kPng ? "png" : "jpeg"; }

double ToSeconds(std::int64_t ts, AVRational tb) { return static_cast<double>(ts) * av_q2d(tb); }

}  // namespace

Result<std::unique_ptr<RandomAccessSource>> OpenMediaFile(const std::string& path,
                                                          const std::optional<Secret>& key) {
  ASSIGN_OR_RETURN(auto file, FileRandomAccessSource::Open(path));
  if (!key.has_value()) return std::unique_ptr<RandomAccessSource>(std::move(file));
  if (Status s = ValidateKey(*key); !s.ok()) return s.WithContext("media key");
  ASSIGN_OR_RETURN(auto dec, RandomAccessDecryptor::Open(std::move(file), *key));
  auto source = std::make_unique<DecryptedSource>(std::move(dec));
  ASSIGN_OR_RETURN(ContentType type, Sniff(*source));
  if (type == ContentType::kUnknown) {
    return Corrupt(path +
                   ": decrypted content is not a JPEG, PNG or MP4: wrong key or not lock media");
  }
  return std::unique_ptr<RandomAccessSource>(std::move(source));
}

// ---------------------------------------------------------------------------
// VideoDecoder

struct VideoDecoder::Impl {
  std::unique_ptr<FormatInput> input;
  CodecContextPtr codec;
  FramePtr frame;
  PacketPtr packet;
  SwsPtr sws;
  int stream_index = -1;
  AVStream* stream = nullptr;  // owned by input's format context
  bool demux_done = false;     // av_read_frame hit EOF; the decoder is being drained
  bool decoder_done = false;   // the decoder returned AVERROR_EOF
  bool have_frame = false;
  std::int64_t frames_out = 0;
  bool tolerate_truncated_clip = false;  // DecodeOptions::tolerate_truncated_clip
};

VideoDecoder::VideoDecoder() : impl_(std::make_unique<Impl>()) {}
VideoDecoder::~VideoDecoder() = default;

Result<std::unique_ptr<VideoDecoder>> VideoDecoder::Open(RandomAccessSource& source,
                                                         const DecodeOptions& options) {
  std::unique_ptr<VideoDecoder> d(new VideoDecoder());
  Impl& m = *d->impl_;
  m.tolerate_truncated_clip = options.tolerate_truncated_clip;
  m.input = std::make_unique<FormatInput>(source, options);
  RETURN_IF_ERROR(m.input->Open(options));
  AVFormatContext* fmt = m.input->fmt();

  const AVCodec* codec = nullptr;
  int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (idx < 0) {
    if (idx == AVERROR_DECODER_NOT_FOUND) {
      return Unsupported(source.name() + ": no decoder for its video stream");
    }
    return Unsupported(source.name() + ": no video stream in the container");
  }
  m.stream_index = idx;
  m.stream = fmt->streams[idx];
  // Every other stream (audio) is skipped by the demuxer.
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (static_cast<int>(i) != idx) fmt->streams[i]->discard = AVDISCARD_ALL;
  }

  m.codec.reset(avcodec_alloc_context3(codec));
  if (!m.codec) return InternalError("avcodec_alloc_context3 failed");
  int rc = avcodec_parameters_to_context(m.codec.get(), m.stream->codecpar);
  if (rc < 0) return m.input->Error(rc, "cannot copy the codec parameters");
  m.codec->thread_count = options.threads;
  m.codec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  m.codec->pkt_timebase = m.stream->time_base;
  // Fail on bitstream errors instead of concealing them, where the decoder
  // supports it (h264 does for damaged slice headers, not for damaged
  // macroblocks: those it conceals and flags in the frame; Next checks both).
  m.codec->err_recognition |= AV_EF_EXPLODE;
  rc = avcodec_open2(m.codec.get(), codec, nullptr);
  if (rc < 0) return m.input->Error(rc, std::string("cannot open the ") + codec->name + " decoder");
  m.frame.reset(av_frame_alloc());
  m.packet.reset(av_packet_alloc());
  if (!m.frame || !m.packet) return InternalError("av_frame_alloc/av_packet_alloc failed");

  MediaInfo& info = d->info_;
  info.content = ContentType::kMp4;
  info.container = fmt->iformat->name;
  info.codec = codec->name;
  info.width = m.stream->codecpar->width;
  info.height = m.stream->codecpar->height;
  if (info.width <= 0 || info.height <= 0) {
    return Corrupt(source.name() + ": the video stream has no frame size");
  }
  if (m.stream->duration != AV_NOPTS_VALUE && m.stream->duration > 0) {
    info.duration_seconds = ToSeconds(m.stream->duration, m.stream->time_base);
  } else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
    info.duration_seconds = static_cast<double>(fmt->duration) / AV_TIME_BASE;
  }
  if (m.stream->avg_frame_rate.num > 0 && m.stream->avg_frame_rate.den > 0) {
    info.fps = av_q2d(m.stream->avg_frame_rate);
  }
  info.bytes = m.input->size();
  return d;
}

void VideoDecoder::SetKeyframesOnly(bool on) {
  // Decoder-side only. Discarding non-key packets in the demuxer as well
  // (stream->discard) was tried: h264's reorder delay then pairs keyframes with
  // the pts of later packets (1.12 s instead of 1.00 s on the 720p sample).
  // Reading the skipped packets costs little; decoding them is what is saved.
  impl_->codec->skip_frame = on ? AVDISCARD_NONKEY : AVDISCARD_DEFAULT;
}

Result<bool> VideoDecoder::EndOrFail(Status error) {
  Impl& m = *impl_;
  if (m.tolerate_truncated_clip && m.frames_out > 0 && error.code() != StatusCode::kTimeout) {
    m.decoder_done = true;
    m.have_frame = false;
    return false;
  }
  return error;
}

Result<bool> VideoDecoder::Next(Frame* out) {
  Impl& m = *impl_;
  FormatInput& in = *m.input;
  m.have_frame = false;
  while (!m.decoder_done) {
    if (in.OutOfTime()) return in.Error(AVERROR_EXIT, "decoding");
    int rc = avcodec_receive_frame(m.codec.get(), m.frame.get());
    if (rc == 0) {
      // The packet's pts when there is one: best_effort_timestamp guesses
      // from dts deltas, which are wrong once non-key packets are discarded.
      const std::int64_t pts =
          m.frame->pts != AV_NOPTS_VALUE ? m.frame->pts : m.frame->best_effort_timestamp;
      const std::int64_t start = m.stream->start_time != AV_NOPTS_VALUE ? m.stream->start_time : 0;
      out->pts = pts == AV_NOPTS_VALUE ? 0 : pts;
      out->seconds = pts == AV_NOPTS_VALUE ? 0 : ToSeconds(pts - start, m.stream->time_base);
      out->keyframe = m.frame->key_frame != 0;
      // Why check: h264 conceals damaged macroblocks (copies them from the
      // previous picture) even with AV_EF_EXPLODE, and says so only here.
      if (m.frame->decode_error_flags != 0 || (m.frame->flags & AV_FRAME_FLAG_CORRUPT) != 0) {
        return EndOrFail(Corrupt(in.name() + ": the frame at " + FormatTimestamp(out->seconds) +
                                 " is corrupt: the decoder had to conceal damaged parts" +
                                 " (decode_error_flags " +
                                 std::to_string(m.frame->decode_error_flags) + ")"));
      }
      m.have_frame = true;
      ++m.frames_out;
      return true;
    }
    if (rc == AVERROR_EOF) {
      m.decoder_done = true;
      break;
    }
    if (rc != AVERROR(EAGAIN)) return EndOrFail(in.Error(rc, "cannot decode a frame"));
    // The decoder wants input.
    if (m.demux_done) {
      // Already sent the flush packet; EAGAIN here would be a decoder bug.
      return InternalError(in.name() + ": decoder asked for input after the end of the stream");
    }
    for (;;) {
      rc = av_read_frame(in.fmt(), m.packet.get());
      if (rc < 0) break;
      if (m.packet->stream_index == m.stream_index) break;
      av_packet_unref(m.packet.get());
    }
    if (rc == AVERROR_EOF) {
      m.demux_done = true;
      rc = avcodec_send_packet(m.codec.get(), nullptr);  // start draining
      if (rc < 0 && rc != AVERROR_EOF) return EndOrFail(in.Error(rc, "cannot flush the decoder"));
      continue;
    }
    Status read_error;
    if (rc < 0) {
      read_error = in.Error(rc, "cannot read a packet");
    } else if ((m.packet->flags & AV_PKT_FLAG_CORRUPT) != 0) {
      // Why check: lavf hands out a sample the file ends inside of, short,
      // with only this flag (and a "Packet corrupt" log line) to say so.
      const std::int64_t pts = m.packet->pts != AV_NOPTS_VALUE ? m.packet->pts : m.packet->dts;
      const std::int64_t start = m.stream->start_time != AV_NOPTS_VALUE ? m.stream->start_time : 0;
      const double at = pts == AV_NOPTS_VALUE ? 0 : ToSeconds(pts - start, m.stream->time_base);
      av_packet_unref(m.packet.get());
      read_error = Corrupt(in.name() + ": the clip is truncated: the frame at " +
                           FormatTimestamp(at) + " is cut short");
    }
    if (!read_error.ok()) {
      if (!m.tolerate_truncated_clip || m.frames_out == 0 ||
          read_error.code() == StatusCode::kTimeout) {
        return read_error;
      }
      // Tolerated: the frames already sent still come out, then the end.
      m.demux_done = true;
      avcodec_send_packet(m.codec.get(), nullptr);
      continue;
    }
    rc = avcodec_send_packet(m.codec.get(), m.packet.get());
    av_packet_unref(m.packet.get());
    // EAGAIN cannot happen: we only send after receive_frame said EAGAIN.
    if (rc < 0) return EndOrFail(in.Error(rc, "cannot decode a packet"));
  }
  return false;
}

Status VideoDecoder::CountPackets(std::int64_t* packets, std::int64_t* keyframes) {
  Impl& m = *impl_;
  *packets = 0;
  *keyframes = 0;
  PacketPtr pkt(av_packet_alloc());
  if (!pkt) return InternalError("av_packet_alloc failed");
  for (;;) {
    if (m.input->OutOfTime()) return m.input->Error(AVERROR_EXIT, "counting frames");
    int rc = av_read_frame(m.input->fmt(), pkt.get());
    if (rc == AVERROR_EOF) break;
    if (rc < 0) return m.input->Error(rc, "cannot read a packet");
    if (pkt->stream_index == m.stream_index) {
      // A cut-short sample (see Next): with a truncated clip tolerated, the
      // count is of the frames that arrived whole.
      if ((pkt->flags & AV_PKT_FLAG_CORRUPT) != 0) {
        av_packet_unref(pkt.get());
        if (m.tolerate_truncated_clip) break;
        return Corrupt(m.input->name() + ": the clip is truncated: frame " +
                       std::to_string(*packets + 1) + " is cut short");
      }
      ++*packets;
      if ((pkt->flags & AV_PKT_FLAG_KEY) != 0) ++*keyframes;
    }
    av_packet_unref(pkt.get());
  }
  m.demux_done = true;
  return Status::Ok();
}

Status VideoDecoder::SeekBefore(double seconds) {
  Impl& m = *impl_;
  const std::int64_t start = m.stream->start_time != AV_NOPTS_VALUE ? m.stream->start_time : 0;
  const auto ts = start + static_cast<std::int64_t>(
                              std::floor(std::max(0.0, seconds) / av_q2d(m.stream->time_base)));
  int rc = av_seek_frame(m.input->fmt(), m.stream_index, ts, AVSEEK_FLAG_BACKWARD);
  if (rc < 0) {
    // Before the first keyframe's timestamp (B-frame reordering can put it
    // slightly after 0): the start of the file is the answer.
    rc = av_seek_frame(m.input->fmt(), m.stream_index, start,
                       AVSEEK_FLAG_BACKWARD | AVSEEK_FLAG_ANY);
  }
  if (rc < 0) {
    return m.input->Error(rc, "cannot seek to " + FormatTimestamp(seconds));
  }
  avcodec_flush_buffers(m.codec.get());
  m.demux_done = false;
  m.decoder_done = false;
  m.have_frame = false;
  return Status::Ok();
}

Status VideoDecoder::ToBgr(cv::Size size, cv::Mat* out) {
  Impl& m = *impl_;
  if (!m.have_frame) return InternalError("VideoDecoder::ToBgr without a current frame");
  AVFrame* f = m.frame.get();
  const int w = size.width > 0 ? size.width : f->width;
  const int h = size.height > 0 ? size.height : f->height;
  // The same scaler flags as the ffmpeg CLI's default (bicubic), so a native
  // size conversion is bit-identical to `ffmpeg -pix_fmt bgr24`.
  m.sws.reset(sws_getCachedContext(m.sws.release(), f->width, f->height,
                                   static_cast<AVPixelFormat>(f->format), w, h, AV_PIX_FMT_BGR24,
                                   SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!m.sws) {
    return Unsupported(m.input->name() + ": cannot convert " +
                       (av_get_pix_fmt_name(static_cast<AVPixelFormat>(f->format))
                            ? av_get_pix_fmt_name(static_cast<AVPixelFormat>(f->format))
                            : "unknown") +
                       " frames to BGR");
  }
  // sws_scale writes whole SIMD blocks past the end of a row: it gets a
  // padded buffer, never *out itself (see decoders/sws_picture.h).
  cv::Mat buffer = NewSwsBuffer(w, h, CV_8UC3);
  std::uint8_t* dst[4] = {buffer.data, nullptr, nullptr, nullptr};
  int dst_stride[4] = {static_cast<int>(buffer.step[0]), 0, 0, 0};
  int rows = sws_scale(m.sws.get(), f->data, f->linesize, 0, f->height, dst, dst_stride);
  if (rows != h)
    return InternalError(m.input->name() + ": sws_scale converted " + std::to_string(rows) +
                         " of " + std::to_string(h) + " rows");
  *out = SwsPicture(buffer, w, h);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Probe and thumbnails

Result<MediaInfo> Probe(RandomAccessSource& source, const DecodeOptions& options) {
  ASSIGN_OR_RETURN(ContentType type, Sniff(source));
  if (type == ContentType::kJpeg || type == ContentType::kPng) {
    ASSIGN_OR_RETURN(Still still, DecodeStill(source, options));
    MediaInfo info;
    info.content = type;
    info.is_still = true;
    info.container = StillName(type);
    info.codec = StillName(type);
    info.width = still.image.cols;
    info.height = still.image.rows;
    info.frames = 1;
    info.keyframes = 1;
    info.bytes = still.bytes;
    return info;
  }
  ASSIGN_OR_RETURN(auto decoder, VideoDecoder::Open(source, options));
  MediaInfo info = decoder->info();
  info.content = type;
  RETURN_IF_ERROR(decoder->CountPackets(&info.frames, &info.keyframes));
  if (info.frames == 0) return Corrupt(source.name() + ": the video stream has no frames");
  return info;
}

namespace {

Status CheckRequest(const ThumbnailRequest& r) {
  if (r.at_seconds < 0 || !std::isfinite(r.at_seconds)) {
    return InvalidArgument("thumbnail time must be a non-negative number of seconds");
  }
  if (r.mode == ThumbnailMode::kSpread && r.count < 1) {
    return InvalidArgument("a spread of thumbnails needs a count of at least 1");
  }
  if (r.count < 0) return InvalidArgument("thumbnail count must not be negative");
  if (r.max_width < 0 || r.max_height < 0)
    return InvalidArgument("thumbnail size must not be negative");
  return Status::Ok();
}

Status Grab(VideoDecoder& d, const VideoDecoder::Frame& f, const ThumbnailRequest& r,
            std::vector<Thumbnail>* out) {
  Thumbnail t;
  t.seconds = f.seconds;
  t.keyframe = f.keyframe;
  RETURN_IF_ERROR(
      d.ToBgr(FitInside({d.info().width, d.info().height}, r.max_width, r.max_height), &t.image));
  out->push_back(std::move(t));
  return Status::Ok();
}

// Decodes forward from a keyframe at or before `target` and keeps the frame
// whose timestamp is nearest to it. Appends it to `out` unless its pts is
// already in `*seen` (it was picked for an earlier target), and adds it there.
Status NearestFrame(VideoDecoder& d, double target, const ThumbnailRequest& r,
                    std::set<std::int64_t>* seen, std::vector<Thumbnail>* out) {
  RETURN_IF_ERROR(d.SeekBefore(target));
  VideoDecoder::Frame f;
  std::optional<Thumbnail> best;
  std::int64_t best_pts = 0;
  auto keep = [&]() -> Status {
    std::vector<Thumbnail> one;
    RETURN_IF_ERROR(Grab(d, f, r, &one));
    best = std::move(one.front());
    best_pts = f.pts;
    return Status::Ok();
  };
  for (;;) {
    ASSIGN_OR_RETURN(bool more, d.Next(&f));
    if (!more) break;
    if (f.seconds <= target + 1e-6 || !best) {
      // The latest frame not after the target so far (or the first at all).
      RETURN_IF_ERROR(keep());
      if (f.seconds >= target - 1e-6) break;
      continue;
    }
    // The first frame after the target: it wins if it is strictly nearer.
    // With keyframes only, the keyframe at or before the target is the answer.
    if (!r.keyframes_only && f.seconds - target < target - best->seconds) RETURN_IF_ERROR(keep());
    break;
  }
  if (!best)
    return Corrupt(d.info().container + ": no frame could be decoded near " +
                   FormatTimestamp(target));
  if (seen->insert(best_pts).second) out->push_back(std::move(*best));
  return Status::Ok();
}

}  // namespace

Result<std::vector<Thumbnail>> ExtractThumbnails(RandomAccessSource& source,
                                                 const ThumbnailRequest& request) {
  RETURN_IF_ERROR(CheckRequest(request));
  ASSIGN_OR_RETURN(ContentType type, Sniff(source));
  std::vector<Thumbnail> out;
  if (type == ContentType::kJpeg || type == ContentType::kPng) {
    ASSIGN_OR_RETURN(Still still, DecodeStill(source, request.decode));
    Thumbnail t;
    t.keyframe = true;
    const cv::Size size = FitInside(still.image.size(), request.max_width, request.max_height);
    if (size == still.image.size()) {
      t.image = std::move(still.image);
    } else {
      try {
        cv::resize(still.image, t.image, size, 0, 0, cv::INTER_AREA);
      } catch (const cv::Exception& e) {
        return InternalError(source.name() + ": cannot resize the image: " + e.what());
      }
    }
    out.push_back(std::move(t));
    return out;
  }

  ASSIGN_OR_RETURN(auto d, VideoDecoder::Open(source, request.decode));
  const bool key_only = request.keyframes_only || request.mode == ThumbnailMode::kKeyframes;
  d->SetKeyframesOnly(key_only);
  VideoDecoder::Frame f;
  switch (request.mode) {
    case ThumbnailMode::kFirst: {
      ASSIGN_OR_RETURN(bool got, d->Next(&f));
      if (!got) return Corrupt(source.name() + ": the video has no decodable frame");
      RETURN_IF_ERROR(Grab(*d, f, request, &out));
      break;
    }
    case ThumbnailMode::kAt: {
      std::set<std::int64_t> seen;
      RETURN_IF_ERROR(NearestFrame(*d, request.at_seconds, request, &seen, &out));
      break;
    }
    case ThumbnailMode::kSpread: {
      // More times than the clip has frames (or keyframes, with keyframes
      // only) share nearest frames; each frame is decoded again for every time
      // that picks it, but returned once.
      const double duration = d->info().duration_seconds;
      std::set<std::int64_t> seen;
      for (int i = 0; i < request.count; ++i) {
        const double t = duration * i / request.count;
        RETURN_IF_ERROR(NearestFrame(*d, t, request, &seen, &out));
      }
      break;
    }
    case ThumbnailMode::kKeyframes: {
      for (;;) {
        if (request.count > 0 && out.size() >= static_cast<std::size_t>(request.count)) break;
        ASSIGN_OR_RETURN(bool more, d->Next(&f));
        if (!more) break;
        RETURN_IF_ERROR(Grab(*d, f, request, &out));
      }
      if (out.empty()) return Corrupt(source.name() + ": the video has no decodable keyframe");
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Images for people

cv::Size FitInside(cv::Size native, int max_w, int max_h) {
  double scale = 1.0;
  if (max_w > 0 && native.width > max_w) scale = std::min(scale, double(max_w) / native.width);
  if (max_h > 0 && native.height > max_h) scale = std::min(scale, double(max_h) / native.height);
  if (scale >= 1.0) return native;
  return {std::max(1, static_cast<int>(std::lround(native.width * scale))),
          std::max(1, static_cast<int>(std::lround(native.height * scale)))};
}

Status WriteJpeg(const std::string& path, const cv::Mat& image, int quality) {
  ASSIGN_OR_RETURN(auto bytes, EncodeJpeg(image, quality));
  return WriteFileAtomically(path, bytes);
}

Status WriteImage(const std::string& path, const cv::Mat& image, int quality) {
  ASSIGN_OR_RETURN(ImageFormat format, ImageFormatForPath(path));
  ASSIGN_OR_RETURN(auto bytes, EncodeImage(image, format, quality));
  return WriteFileAtomically(path, bytes);
}

Result<std::int64_t> DecodeAllFrames(RandomAccessSource& source, const DecodeOptions& options) {
  ASSIGN_OR_RETURN(ContentType type, Sniff(source));
  if (type == ContentType::kJpeg || type == ContentType::kPng) {
    ASSIGN_OR_RETURN(Still still, DecodeStill(source, options));
    return std::int64_t{1};
  }
  ASSIGN_OR_RETURN(auto d, VideoDecoder::Open(source, options));
  VideoDecoder::Frame f;
  std::int64_t n = 0;
  for (;;) {
    ASSIGN_OR_RETURN(bool more, d->Next(&f));
    if (!more) break;
    ++n;
  }
  if (n == 0) return Corrupt(source.name() + ": the video has no decodable frame");
  return n;
}

std::string FormatTimestamp(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const auto ms = static_cast<long long>(std::llround(seconds * 1000));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02lld:%02lld.%03lld", ms / 60000, (ms / 1000) % 60, ms % 1000);
  return buf;
}

Result<cv::Mat> MakeContactSheet(const std::vector<Thumbnail>& thumbnails, int columns) {
  if (thumbnails.empty()) return InvalidArgument("a contact sheet needs at least one thumbnail");
  const int n = static_cast<int>(thumbnails.size());
  const int cols = columns > 0 ? std::min(columns, n)
                               : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int rows = (n + cols - 1) / cols;
  int cell_w = 1;
  int cell_h = 1;
  for (const Thumbnail& t : thumbnails) {
    cell_w = std::max(cell_w, t.image.cols);
    cell_h = std::max(cell_h, t.image.rows);
  }
  constexpr int kGap = 4;
  constexpr int kLabel = 22;  // a strip under each cell for the timestamp
  // Many frames of a large clip (100 of 1280x720 make a sheet 12844 wide)
  // would make a sheet that lockpipe's own decoder refuses (kMaxImagePixels)
  // and few viewers show whole: the cells shrink instead, all by one factor.
  const int fit_w = (kMaxImageSide - kGap) / cols - kGap;
  const int fit_h = (kMaxImageSide - kGap) / rows - kGap - kLabel;
  if (fit_w < kMinContactSheetCell || fit_h < kMinContactSheetCell) {
    return InvalidArgument(
        std::to_string(n) + " thumbnails do not fit a contact sheet of at most " +
        std::to_string(kMaxImageSide) + "x" + std::to_string(kMaxImageSide) + " pixels");
  }
  const cv::Size cell = FitInside({cell_w, cell_h}, fit_w, fit_h);
  const bool shrink = cell != cv::Size(cell_w, cell_h);
  try {
    cv::Mat sheet(rows * (cell.height + kLabel + kGap) + kGap, cols * (cell.width + kGap) + kGap,
                  CV_8UC3, cv::Scalar(32, 32, 32));
    for (int i = 0; i < n; ++i) {
      const Thumbnail& t = thumbnails[static_cast<std::size_t>(i)];
      const int x = kGap + (i % cols) * (cell.width + kGap);
      const int y = kGap + (i / cols) * (cell.height + kLabel + kGap);
      if (!t.image.empty()) {
        cv::Mat bgr;
        if (t.image.channels() == 1)
          cv::cvtColor(t.image, bgr, cv::COLOR_GRAY2BGR);
        else
          bgr = t.image;
        std::vector<cv::Rect> boxes = t.boxes;
        if (shrink) {
          const cv::Size size = FitInside(bgr.size(), cell.width, cell.height);
          const double sx = static_cast<double>(size.width) / bgr.cols;
          const double sy = static_cast<double>(size.height) / bgr.rows;
          for (cv::Rect& b : boxes) {
            b = cv::Rect(static_cast<int>(std::lround(b.x * sx)),
                         static_cast<int>(std::lround(b.y * sy)),
                         static_cast<int>(std::lround(b.width * sx)),
                         static_cast<int>(std::lround(b.height * sy)));
          }
          cv::Mat small;
          cv::resize(bgr, small, size, 0, 0, cv::INTER_AREA);
          bgr = small;
        }
        cv::Mat cell_image = sheet(cv::Rect(x, y, bgr.cols, bgr.rows));
        bgr.copyTo(cell_image);
        for (const cv::Rect& b : boxes) {
          cv::rectangle(cell_image, b & cv::Rect(0, 0, bgr.cols, bgr.rows), cv::Scalar(0, 255, 0),
                        2);
        }
      }
      const std::string label = FormatTimestamp(t.seconds) + (t.keyframe ? " K" : "");
      cv::putText(sheet, label, cv::Point(x + 2, y + cell.height + kLabel - 6),
                  cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    }
    return sheet;
  } catch (const cv::Exception& e) {
    return InternalError(std::string("cannot draw the contact sheet: ") + e.what());
  }
}

}  // namespace lockpipe::media
