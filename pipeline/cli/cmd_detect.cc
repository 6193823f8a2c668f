// lockpipe detect: run the face detector on a lock photo (plain or encrypted)
// and print the faces it finds.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "base/file_util.h"
#include "base/json_text.h"
#include "decoders/media_container.h"
#include "decoders/media_decoder.h"
#include "pipeline/cli/command.h"
#include "pipeline/face_detector.h"

namespace lockpipe::cli {
namespace {

using media::Thumbnail;

struct Sampling {
  double every_seconds = 0;  // > 0: one frame per this many seconds
  int count = 0;             // > 0: this many frames spread over the clip
};

// Frames never sampled from one clip, whatever --every says: a lock clip is
// seconds long, and this bounds the work a bad flag can ask for.
constexpr int kMaxFrames = 1000;

// The frames to look at: a still's one frame; for a clip, every keyframe by
// default, `count` frames spread over it, or one every `every_seconds`. Each
// frame once: a clip with fewer frames than the times asked for gives fewer.
// Sets *asked to how many frames --count or --every asked for (0 for a still
// or every keyframe).
Result<std::vector<Thumbnail>> LoadFrames(const std::string& path, const std::optional<Secret>& key,
                                          const Sampling& sampling, int* asked) {
  *asked = 0;
  ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessSource> source, media::OpenMediaFile(path, key));
  ASSIGN_OR_RETURN(media::MediaInfo info, media::Probe(*source));
  media::ThumbnailRequest request;
  if (info.is_still) return media::ExtractThumbnails(*source, request);
  if (sampling.count > 0) {
    request.mode = media::ThumbnailMode::kSpread;
    request.count = std::min(sampling.count, kMaxFrames);
    *asked = request.count;
    return media::ExtractThumbnails(*source, request);  // returns each frame once
  }
  if (sampling.every_seconds > 0) {
    std::vector<Thumbnail> frames;
    std::set<double> seen;  // the seconds of the frames kept
    request.mode = media::ThumbnailMode::kAt;
    for (int i = 0; i < kMaxFrames; ++i) {
      request.at_seconds = i * sampling.every_seconds;
      // A clip of duration d has frames in [0, d): past that there is nothing.
      if (i > 0 && request.at_seconds >= info.duration_seconds) break;
      ++*asked;
      ASSIGN_OR_RETURN(std::vector<Thumbnail> one, media::ExtractThumbnails(*source, request));
      for (Thumbnail& t : one) {
        // Times closer together than frames share their nearest frame. A
        // frame's time is always the same double (computed from its pts).
        if (seen.insert(t.seconds).second) frames.push_back(std::move(t));
      }
    }
    return frames;
  }
  request.mode = media::ThumbnailMode::kKeyframes;
  request.count = kMaxFrames;
  return media::ExtractThumbnails(*source, request);
}

std::string FormatScore(float score) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(score));
  return buf;
}

nlohmann::json FaceJson(const Face& f) {
  nlohmann::json j;
  j["box"] = {{"x", f.box.x}, {"y", f.box.y}, {"w", f.box.width}, {"h", f.box.height}};
  // A JSON null says "this detector has no score", distinct from a low one.
  j["score"] = f.score ? nlohmann::json(std::stod(FormatScore(*f.score))) : nlohmann::json(nullptr);
  nlohmann::json marks = nlohmann::json::array();
  for (const cv::Point2f& p : f.landmarks) {
    marks.push_back({std::round(p.x * 10.0) / 10.0, std::round(p.y * 10.0) / 10.0});
  }
  j["landmarks"] = std::move(marks);
  return j;
}

void PrintText(const std::string& path, const FaceDetector& detector,
               const std::vector<Thumbnail>& frames, const std::vector<std::vector<Face>>& faces) {
  std::cout << path << ": " << frames.size() << (frames.size() == 1 ? " frame" : " frames")
            << ", detector " << detector.description() << "\n";
  for (std::size_t i = 0; i < frames.size(); ++i) {
    char when[32];
    std::snprintf(when, sizeof when, "%.3f", frames[i].seconds);
    std::cout << "frame " << when << "s " << frames[i].image.cols << "x" << frames[i].image.rows
              << ": " << faces[i].size() << (faces[i].size() == 1 ? " face" : " faces") << "\n";
    for (std::size_t k = 0; k < faces[i].size(); ++k) {
      const Face& f = faces[i][k];
      std::cout << "  face " << k + 1 << ": x=" << f.box.x << " y=" << f.box.y
                << " w=" << f.box.width << " h=" << f.box.height;
      if (f.score) std::cout << " score=" << FormatScore(*f.score);
      std::cout << "\n";
    }
  }
}

int RunDetect(int argc, char** argv) {
  const std::string cmd = "detect";
  po::options_description opts("Options");
  opts.add_options()("input", po::value<std::string>()->required(),
                     "lock media file: JPEG/PNG still or MP4 clip, plain or encrypted")(
      "model", po::value<std::string>(),
      "YuNet ONNX model (face_detection_yunet_2022mar.onnx) or a cascade .xml; "
      "default: OpenCV's frontal-face cascade from opencv-data")(
      "json", po::bool_switch(), "print one JSON document instead of text")(
      "every", po::value<double>(), "clip: one frame every SECONDS (from 0)")(
      "count", po::value<int>(),
      "clip: N frames spread evenly over the clip "
      "(default: every keyframe)")("min-size", po::value<int>()->default_value(40),
                                   "smallest face reported, pixels")(
      "score-threshold", po::value<float>()->default_value(0.6f), "YuNet: lowest score kept, 0..1")(
      "max-side", po::value<int>()->default_value(640),
      "detect on a copy scaled down to this longest side (0 = full size)")(
      "draw", po::value<std::string>(),
      "write the (first) frame with the faces drawn to this image: "
      "PNG if it ends in .png, else JPEG");
  AddKeyOptions(opts, "the file_key (when FILE is encrypted)");
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, cmd,
          "lockpipe detect [--key-file KEYFILE] FILE [--model PATH] [--json] [--every S | --count "
          "N]",
          opts, pos,
          "Finds faces in a lock capture and prints one line per face (box in pixels of\n"
          "the frame, and with YuNet a score in 0..1). Without --key the file is read as\n"
          "plain media; with a key it is decrypted on the fly (64-byte header + AES-CBC).\n"
          "A still is one frame; a clip is sampled at every keyframe unless --every or\n"
          "--count says otherwise. Each frame is looked at once: asking for more frames\n"
          "than the clip has gives fewer, with a note on stderr.\n"
          "The default detector is OpenCV's Haar frontal-face cascade (no score); give\n"
          "--model face_detection_yunet_2022mar.onnx for YuNet (score + 5 landmarks).\n"
          "Exit status: 0 when detection ran (whether or not faces were found), 1 when\n"
          "the file, key or model is bad or the output cannot be written, 2 for a bad\n"
          "command line.\n\n"
          "Examples:\n"
          "  lockpipe detect samples/media/astronaut.jpg\n"
          "  lockpipe detect --key-env FILE_KEY capture.enc --json\n"
          "  lockpipe detect clip.mp4 --every 0.5\n"
          "  lockpipe detect photo.jpg --model models/face_detection_yunet_2022mar.onnx "
          "--draw faces.jpg",
          &vm, &rc))
    return rc;

  Sampling sampling;
  if (vm.count("every") && vm.count("count"))
    return UsageError(cmd, "give --every or --count, not both");
  if (vm.count("every")) {
    sampling.every_seconds = vm["every"].as<double>();
    // isfinite also refuses nan; with inf the first time asked for would be
    // 0 * inf = nan, refused later as if the file were bad (exit 1).
    if (!std::isfinite(sampling.every_seconds) || sampling.every_seconds <= 0)
      return UsageError(cmd, "--every must be a finite number of seconds, more than 0");
  }
  if (vm.count("count")) {
    sampling.count = vm["count"].as<int>();
    if (sampling.count <= 0) return UsageError(cmd, "--count must be >= 1");
  }
  std::optional<media::ImageFormat> draw_format;
  if (vm.count("draw")) {
    auto f = media::ImageFormatForPath(vm["draw"].as<std::string>());
    if (!f.ok()) return UsageError(cmd, "--draw: " + f.status().message());
    draw_format = *f;
  }
  FaceDetectorOptions options;
  if (vm.count("model")) options.model_path = vm["model"].as<std::string>();
  options.min_face_size = vm["min-size"].as<int>();
  options.score_threshold = vm["score-threshold"].as<float>();
  options.max_side = vm["max-side"].as<int>();
  if (options.min_face_size < 0) return UsageError(cmd, "--min-size must be >= 0");
  if (!(options.score_threshold >= 0 && options.score_threshold <= 1))
    return UsageError(cmd, "--score-threshold must be between 0 and 1");
  if (options.max_side != 0 && options.max_side < 32)
    return UsageError(cmd, "--max-side must be 0 (full size) or at least 32");

  std::optional<Secret> key;
  if (auto k = OptionalMediaKey(vm); k.ok()) {
    key = std::move(k).value();
  } else {
    return Fail(cmd, k.status());
  }

  auto detector = MakeFaceDetector(options);
  if (!detector.ok()) return Fail(cmd, detector.status());
  const std::string path = vm["input"].as<std::string>();
  int asked = 0;
  auto frames = LoadFrames(path, key, sampling, &asked);
  if (!frames.ok()) {
    if (!key && frames.status().code() == StatusCode::kCorrupt) {
      return Fail(cmd, Status(StatusCode::kCorrupt,
                              frames.status().message() + " (if it is encrypted lock media, give " +
                                  "its file_key with --key, --key-file or --key-env)"));
    }
    return Fail(cmd, frames.status());
  }
  if (frames->size() < static_cast<std::size_t>(asked)) {
    std::cerr << "lockpipe " << cmd << ": note: asked for " << asked << " frames; got "
              << frames->size() << " distinct frames (several times fell on the same one)\n";
  }

  std::vector<std::vector<Face>> faces;
  for (const Thumbnail& frame : *frames) {
    auto found = (*detector)->Detect(frame.image);
    if (!found.ok()) return Fail(cmd, found.status().WithContext(path));
    faces.push_back(std::move(*found));
  }

  if (vm.count("draw") && !frames->empty()) {
    std::size_t pick = 0;  // the first frame with a face, else the first frame
    for (std::size_t i = 0; i < faces.size(); ++i) {
      if (!faces[i].empty()) {
        pick = i;
        break;
      }
    }
    const std::string out_path = vm["draw"].as<std::string>();
    cv::Mat canvas = (*frames)[pick].image.clone();
    DrawFaces(canvas, faces[pick]);
    auto encoded = media::EncodeImage(canvas, *draw_format, 90);
    if (!encoded.ok()) return Fail(cmd, encoded.status().WithContext(out_path));
    if (auto s = WriteFileAtomically(out_path, *encoded); !s.ok()) return Fail(cmd, s);
  }

  if (vm["json"].as<bool>()) {
    nlohmann::json doc;
    doc["file"] = path;
    doc["detector"] = (*detector)->description();
    nlohmann::json jframes = nlohmann::json::array();
    for (std::size_t i = 0; i < frames->size(); ++i) {
      const Thumbnail& fr = (*frames)[i];
      nlohmann::json jf;
      jf["seconds"] = fr.seconds;
      jf["keyframe"] = fr.keyframe;
      jf["width"] = fr.image.cols;
      jf["height"] = fr.image.rows;
      nlohmann::json jfaces = nlohmann::json::array();
      for (const Face& f : faces[i]) jfaces.push_back(FaceJson(f));
      jf["faces"] = std::move(jfaces);
      jframes.push_back(std::move(jf));
    }
    doc["frames"] = std::move(jframes);
    std::cout << JsonText(doc, 2) << "\n";
  } else {
    PrintText(path, **detector, *frames, faces);
  }
  return kExitOk;  // main() fails it if the faces did not reach standard output
}

}  // namespace

LOCKPIPE_COMMAND("detect", "find faces in a lock photo (plain or encrypted) and print them",
                 RunDetect);

}  // namespace lockpipe::cli
