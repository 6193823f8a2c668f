// libFuzzer target: arbitrary bytes as a still (JPEG or PNG) through
// DecodeImage - FFmpeg's decoders, the header size check, the swscale
// conversion and the EXIF orientation - then a JPEG and a PNG encode of what
// came out. Seeds in tests/fuzz/corpus/image_fuzz (tiny JPEG, EXIF JPEG, PNG).
#include <cstddef>
#include <cstdint>
#include <span>

#include "decoders/image_codec.h"
#include "decoders/media_decoder.h"

// FFmpeg's log lines go to lockpipe's logger at debug level
// (decoders/ffmpeg_log.h), which the default level drops: the fuzzer is quiet.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto image = lockpipe::media::DecodeImage(std::span<const std::uint8_t>(data, size), "fuzz");
  if (!image.ok()) return 0;
  if (image->total() > 256 * 256) return 0;  // encoding big pictures finds nothing new
  (void)lockpipe::media::EncodeJpeg(*image, 75);
  (void)lockpipe::media::EncodePng(*image);
  return 0;
}
