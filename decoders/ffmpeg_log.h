// FFmpeg's own log lines, routed through lockpipe's logger (base/log.h).
#pragma once

namespace lockpipe::media {

// Sends every line FFmpeg logs (at its info level or more severe) to
// log::Debug, prefixed "ffmpeg: " and made Printable like every log line, in
// place of FFmpeg's raw stderr output. Process-wide (av_log_set_callback) and
// idempotent: the decoders library calls it before it first uses FFmpeg, so
// no program has to remember; calling it again does nothing. Thread-safe.
//
// Why debug: lockpipe carries every failure FFmpeg reports in a Status with
// the reason, so at the default level stderr holds one line per failure;
// `--verbose` (or log::SetLevel(kDebug)) shows FFmpeg's view of it too.
void RouteFfmpegLogToLogger();

}  // namespace lockpipe::media
