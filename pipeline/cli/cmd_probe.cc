// lockpipe probe: what a media file (encrypted or not) contains.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/json_text.h"
#include "decoders/media_decoder.h"
#include "pipeline/cli/command.h"

namespace lockpipe::cli {
namespace {

int RunProbe(int argc, char** argv) {
  const std::string cmd = "probe";
  po::options_description opts("Options");
  // clang-format off
  opts.add_options()
      ("input", po::value<std::string>()->required(), "media file (encrypted when a key is given)")
      ("json", po::bool_switch(), "print one JSON object instead of text")
      ("decode", po::bool_switch(),
       "also decode every frame: checks the whole file and reports decoded frames and time")
      ("threads", po::value<int>()->default_value(1)->notifier(IntIn("--threads", 0, 64)),
       "decoder threads (0 = one per core)");
  // clang-format on
  AddKeyOptions(opts, "the file_key (omit for plaintext media)");
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, cmd, "lockpipe probe [--key-file KEYFILE] FILE [--json]", opts, pos,
          "Reports the container, codec, frame size, duration, frame count and\n"
          "keyframe count of lock media. With a key, FILE is the encrypted container\n"
          "and is decrypted on the fly (nothing is written); without one, FILE is\n"
          "a plaintext MP4, JPEG or PNG. Frames are counted by demuxing every packet.\n\n"
          "Examples:\n"
          "  lockpipe probe --key lockpipesample16 samples/media/astronaut_720p_moov_end.enc\n"
          "  lockpipe probe samples/media/astronaut.jpg --json\n"
          "  lockpipe probe --decode clip.mp4       # decode every frame too",
          &vm, &rc))
    return rc;
  std::optional<Secret> key;
  if (auto k = OptionalMediaKey(vm); k.ok()) {
    key = std::move(k).value();
  } else {
    return Fail(cmd, k.status());
  }
  media::DecodeOptions options;
  options.threads = vm["threads"].as<int>();
  if (options.threads < 0) return UsageError(cmd, "--threads must be 0 or more");
  auto source = media::OpenMediaFile(vm["input"].as<std::string>(), key);
  if (!source.ok()) return Fail(cmd, source.status());
  auto info = media::Probe(**source, options);
  if (!info.ok()) return Fail(cmd, info.status());
  std::optional<std::int64_t> decoded;
  double decode_seconds = 0;
  if (vm["decode"].as<bool>()) {
    const auto start = std::chrono::steady_clock::now();
    auto n = media::DecodeAllFrames(**source, options);
    if (!n.ok()) return Fail(cmd, n.status());
    decode_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    decoded = *n;
  }
  if (vm["json"].as<bool>()) {
    nlohmann::json j = {
        {"file", vm["input"].as<std::string>()},
        {"encrypted", key.has_value()},
        {"content", media::ContentTypeName(info->content)},
        {"still", info->is_still},
        {"container", info->container},
        {"codec", info->codec},
        {"width", info->width},
        {"height", info->height},
        {"duration_seconds", info->duration_seconds},
        {"fps", info->fps},
        {"frames", info->frames},
        {"keyframes", info->keyframes},
        {"bytes", info->bytes},
    };
    if (decoded) {
      j["decoded_frames"] = *decoded;
      j["decode_seconds"] = decode_seconds;
    }
    std::cout << JsonText(j, 2) << "\n";
  } else {
    std::cout << "file:      " << vm["input"].as<std::string>() << (key ? " (encrypted)" : "")
              << "\n"
              << "container: " << info->container << "\n"
              << "codec:     " << info->codec << "\n"
              << "size:      " << info->width << "x" << info->height << "\n";
    if (!info->is_still) {
      std::cout << "duration:  " << media::FormatTimestamp(info->duration_seconds) << " ("
                << info->duration_seconds << " s)\n"
                << "fps:       " << info->fps << "\n";
    }
    std::cout << "frames:    " << info->frames << "\n"
              << "keyframes: " << info->keyframes << "\n"
              << "bytes:     " << info->bytes << "\n";
    if (decoded) {
      std::cout << "decoded:   " << *decoded << " frames in " << decode_seconds << " s\n";
    }
  }
  return kExitOk;
}

}  // namespace

LOCKPIPE_COMMAND("probe", "show a media file's container, codec, size, duration and frame counts",
                 RunProbe);

}  // namespace lockpipe::cli
