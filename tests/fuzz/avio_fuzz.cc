// libFuzzer target: arbitrary bytes as a plaintext MP4 through the custom AVIO
// path (probe, then the first frame and a seek), with a small time budget so a
// pathological input ends as kTimeout instead of a hang.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/byte_source.h"
#include "decoders/media_decoder.h"

// FFmpeg's log lines go to lockpipe's logger at debug level
// (decoders/ffmpeg_log.h), which the default level drops: the fuzzer is quiet.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lockpipe::MemorySource source(std::span<const std::uint8_t>(data, size), "fuzz.mp4");
  lockpipe::media::DecodeOptions options;
  options.time_budget = std::chrono::seconds(2);
  options.max_still_bytes = 1 << 20;
  auto info = lockpipe::media::Probe(source, options);
  (void)info;
  lockpipe::media::ThumbnailRequest request;
  request.mode = lockpipe::media::ThumbnailMode::kAt;
  request.at_seconds = 0.5;
  request.max_width = 64;
  request.decode = options;
  auto thumbs = lockpipe::media::ExtractThumbnails(source, request);
  (void)thumbs;
  return 0;
}
