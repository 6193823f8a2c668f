// lockpipe thumbnail: frames of lock media as JPEG or PNG, one or a contact sheet.
#include <array>
#include <cmath>
#include <iostream>
#include <optional>
#include <span>

#include "base/file_util.h"
#include "decoders/media_decoder.h"
#include "pipeline/cli/command.h"

namespace lockpipe::cli {
namespace {

// OUT.jpg -> OUT-<i>.jpg for the i-th of several thumbnails.
std::string NumberedPath(const std::string& path, std::size_t i) {
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  const std::string suffix = "-" + std::to_string(i);
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + suffix;
  return path.substr(0, dot) + suffix + path.substr(dot);
}

// Whether `source` holds a video clip (not a still photo).
bool IsClip(RandomAccessSource& source) {
  std::array<std::uint8_t, media::kSniffBytes> head{};
  auto n = source.ReadAt(0, head);
  return n.ok() && media::SniffContent(std::span(head.data(), *n)) == media::ContentType::kMp4;
}

int RunThumbnail(int argc, char** argv) {
  const std::string cmd = "thumbnail";
  po::options_description opts("Options");
  // clang-format off
  opts.add_options()
      ("input", po::value<std::string>()->required(), "media file (encrypted when a key is given)")
      ("output,o", po::value<std::string>()->required(),
       "image to write: .png is PNG; .jpg, .jpeg, no extension or '-' (stdout) is JPEG")
      ("at", po::value<double>(), "the frame nearest this time, in seconds")
      ("count", po::value<int>(), "N frames spread evenly over the clip")
      ("keyframes", po::bool_switch(),
       "decode keyframes only (fast); with neither --at nor --count: every keyframe")
      ("contact-sheet", po::bool_switch(), "one grid image of all frames, timestamps drawn")
      ("quality", po::value<int>()->default_value(90), "JPEG quality, 1-100 (PNG is lossless)")
      ("width", po::value<int>()->default_value(0), "scale each frame down to at most this width")
      ("threads", po::value<int>()->default_value(1)->notifier(IntIn("--threads", 0, 64)),
       "decoder threads (0 = one per core)");
  // clang-format on
  AddKeyOptions(opts, "the file_key (omit for plaintext media)");
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, cmd,
          "lockpipe thumbnail [--key-file KEYFILE] FILE -o OUT.jpg|OUT.png [--at S | --count N] "
          "[--keyframes] [--contact-sheet] [--quality Q] [--width W]",
          opts, pos,
          "Decodes frames of lock media and writes them as JPEG, or as PNG when OUT ends\n"
          "in .png (other image formats' extensions, such as .gif, are refused). By\n"
          "default the first frame. --at seeks back to a keyframe and decodes forward to\n"
          "the nearest frame; --count spreads N frames over the clip (with --keyframes,\n"
          "the keyframe at or before each time); --keyframes alone takes every keyframe.\n"
          "No frame is written twice: a clip with fewer frames (or keyframes) than N\n"
          "gives fewer, with a note on stderr. Several frames go to OUT-0.jpg,\n"
          "OUT-1.jpg, ... unless --contact-sheet puts them in one grid image, whose cells\n"
          "are scaled down where needed to keep it within 8192x8192 pixels. A still\n"
          "photo always gives one image. Files are written whole or not at all. A clip\n"
          "still being uploaded gives the frames that arrived whole; a cut photo fails.\n\n"
          "Examples:\n"
          "  lockpipe thumbnail --key-env FILE_KEY capture.enc -o first.jpg --width 320\n"
          "  lockpipe thumbnail clip.mp4 -o sheet.jpg --count 9 --contact-sheet\n"
          "  lockpipe thumbnail clip.mp4 -o key.png --keyframes --contact-sheet",
          &vm, &rc))
    return rc;
  if (vm.count("at") && vm.count("count")) return UsageError(cmd, "give --at or --count, not both");
  const std::string out = vm["output"].as<std::string>();
  const auto format = media::ImageFormatForPath(out);
  if (!format.ok()) return UsageError(cmd, "-o/--output: " + format.status().message());
  media::ThumbnailRequest req;
  req.keyframes_only = vm["keyframes"].as<bool>();
  if (vm.count("at")) {
    req.mode = media::ThumbnailMode::kAt;
    req.at_seconds = vm["at"].as<double>();
    // isfinite also refuses nan; inf would otherwise reach the decoder and
    // fail there as a bad file (exit 1) rather than a bad command line.
    if (!std::isfinite(req.at_seconds) || req.at_seconds < 0)
      return UsageError(cmd, "--at must be a finite number of seconds, 0 or more");
  } else if (vm.count("count")) {
    req.mode = media::ThumbnailMode::kSpread;
    req.count = vm["count"].as<int>();
    if (req.count < 1 || req.count > 1000) return UsageError(cmd, "--count must be 1..1000");
  } else if (req.keyframes_only) {
    req.mode = media::ThumbnailMode::kKeyframes;
    req.count = 0;
  }
  const int quality = vm["quality"].as<int>();
  if (quality < 1 || quality > 100) return UsageError(cmd, "--quality must be 1..100");
  req.max_width = vm["width"].as<int>();
  if (req.max_width < 0) return UsageError(cmd, "--width must be 0 (native) or more");
  req.decode.threads = vm["threads"].as<int>();
  if (req.decode.threads < 0) return UsageError(cmd, "--threads must be 0 or more");

  std::optional<Secret> key;
  if (auto k = OptionalMediaKey(vm); k.ok()) {
    key = std::move(k).value();
  } else {
    return Fail(cmd, k.status());
  }
  // A person may look at a clip still being uploaded: its frames that arrived
  // whole are shown. This is for eyes only; nothing is decided from it (the
  // pipeline and `detect` decode strictly). A cut still photo still fails.
  req.decode.tolerate_truncated_clip = true;
  auto source = media::OpenMediaFile(vm["input"].as<std::string>(), key);
  if (!source.ok()) return Fail(cmd, source.status());
  auto thumbs = media::ExtractThumbnails(**source, req);
  if (!thumbs.ok()) return Fail(cmd, thumbs.status());
  // ExtractThumbnails returns each frame once, so a clip shorter (in frames,
  // or keyframes with --keyframes) than --count gives fewer. A still gives one
  // whatever is asked, as --help says.
  if (req.mode == media::ThumbnailMode::kSpread &&
      thumbs->size() < static_cast<std::size_t>(req.count) && IsClip(**source)) {
    std::cerr << "lockpipe " << cmd << ": note: asked for " << req.count << " frames; got "
              << thumbs->size() << " distinct " << (req.keyframes_only ? "keyframes" : "frames")
              << " (several times fell on the same one)\n";
  }
  if (vm["contact-sheet"].as<bool>()) {
    auto sheet = media::MakeContactSheet(*thumbs);
    if (!sheet.ok()) {
      return Fail(cmd,
                  Status(sheet.status().code(), "--contact-sheet: " + sheet.status().message() +
                                                    "; ask for fewer frames with --count"));
    }
    auto bytes = media::EncodeImage(*sheet, *format, quality);
    if (!bytes.ok()) return Fail(cmd, bytes.status());
    if (auto s = WriteFileAtomically(out, *bytes); !s.ok()) return Fail(cmd, s);
    return kExitOk;
  }
  if (out == "-" && thumbs->size() > 1)
    return UsageError(cmd, "several frames cannot go to stdout; use --contact-sheet");
  // Encode everything first so that a failure leaves no partial set behind.
  std::vector<std::vector<std::uint8_t>> images;
  for (const media::Thumbnail& t : *thumbs) {
    auto bytes = media::EncodeImage(t.image, *format, quality);
    if (!bytes.ok()) return Fail(cmd, bytes.status());
    images.push_back(std::move(*bytes));
  }
  if (images.size() == 1) {
    if (auto s = WriteFileAtomically(out, images.front()); !s.ok()) return Fail(cmd, s);
    return kExitOk;
  }
  for (std::size_t i = 0; i < images.size(); ++i) {
    const std::string path = NumberedPath(out, i);
    if (auto s = WriteFileAtomically(path, images[i]); !s.ok()) return Fail(cmd, s);
    std::cout << path << "\t" << media::FormatTimestamp((*thumbs)[i].seconds)
              << ((*thumbs)[i].keyframe ? "\tkey" : "") << "\n";
  }
  return kExitOk;
}

}  // namespace

LOCKPIPE_COMMAND("thumbnail",
                 "decode frames of lock media to JPEG or PNG (one, several, or a contact sheet)",
                 RunThumbnail);

}  // namespace lockpipe::cli
