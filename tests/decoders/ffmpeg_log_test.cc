// FFmpeg's log lines reach lockpipe's logger (decoders/ffmpeg_log.h): whole
// lines, at debug level, with FFmpeg's "[name @ 0x...]" prefix, and nothing on
// stderr at the default level.
#include "decoders/ffmpeg_log.h"

#include <gtest/gtest.h>

#include <string>

extern "C" {
#include <libavutil/log.h>
}

#include "base/log.h"

namespace lockpipe::media {
namespace {

// Logs through FFmpeg as its decoders do, and returns what reached stderr.
std::string StderrOf(log::Level level) {
  RouteFfmpegLogToLogger();
  RouteFfmpegLogToLogger();  // idempotent
  const log::Level before = log::GetLevel();
  log::SetLevel(level);
  ::testing::internal::CaptureStderr();
  // One line built from two calls, as FFmpeg's decoders often do.
  av_log(nullptr, AV_LOG_WARNING, "EOI missing");
  av_log(nullptr, AV_LOG_WARNING, ", emulating\n");
  av_log(nullptr, AV_LOG_ERROR, "bell \a in a line\n");
  av_log(nullptr, AV_LOG_DEBUG, "per-packet chatter\n");
  std::string err = ::testing::internal::GetCapturedStderr();
  log::SetLevel(before);
  return err;
}

TEST(FfmpegLog, AtDebugLevelWholeLinesGoThroughTheLogger) {
  const std::string err = StderrOf(log::Level::kDebug);
  EXPECT_NE(err.find(" debug: ffmpeg: EOI missing, emulating\n"), std::string::npos) << err;
  EXPECT_NE(err.find(" debug: ffmpeg: bell \\x07 in a line\n"), std::string::npos) << err;
  EXPECT_EQ(err.find("chatter"), std::string::npos) << err;  // below FFmpeg's info level
  EXPECT_EQ(err.find('\a'), std::string::npos) << err;
}

TEST(FfmpegLog, AtTheDefaultLevelStderrStaysClean) {
  EXPECT_EQ(StderrOf(log::Level::kInfo), "");
}

}  // namespace
}  // namespace lockpipe::media
