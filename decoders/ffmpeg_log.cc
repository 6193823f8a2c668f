#include "decoders/ffmpeg_log.h"

#include <cstdarg>
#include <mutex>
#include <string>

extern "C" {
#include <libavutil/log.h>
}

#include "base/log.h"

namespace lockpipe::media {
namespace {

void Callback(void* avcl, int level, const char* fmt, va_list vl) {
  // Below FFmpeg's info level (verbose, debug, trace) it narrates, per packet.
  if (level > AV_LOG_INFO) return;
  // Formatting costs; the fuzzers decode millions of bad inputs at kQuiet.
  if (log::GetLevel() > log::Level::kDebug) return;
  // FFmpeg builds one line from several calls ("EOI missing" then ",
  // emulating\n" is one call, but many messages are not): keep the pieces
  // per thread until the newline, and let av_log_format_line2 add the
  // "[mjpeg @ 0x...] " prefix only at the start of a line, as FFmpeg's own
  // callback does.
  thread_local std::string pending;
  thread_local int print_prefix = 1;
  char piece[1024];
  if (av_log_format_line2(avcl, level, fmt, vl, piece, sizeof piece, &print_prefix) < 0) return;
  pending += piece;  // a piece longer than the buffer is cut, not overrun
  for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
    log::Debug("ffmpeg: " + pending.substr(0, nl));
    pending.erase(0, nl + 1);
  }
}

}  // namespace

void RouteFfmpegLogToLogger() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(&Callback); });
}

}  // namespace lockpipe::media
