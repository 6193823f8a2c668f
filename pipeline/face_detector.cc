#include "pipeline/face_detector.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "base/log.h"

namespace lockpipe {
namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The file must exist and be readable before OpenCV sees it: OpenCV's own
// messages for a missing file ("can't open file", or a silent `false` from
// CascadeClassifier::load) do not say which.
Status CheckReadable(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound(what + " " + path + ": no such file");
  if (fs::is_directory(path, ec))
    return InvalidArgument(what + " " + path + ": is a folder, not a file");
  std::ifstream probe(path, std::ios::binary);
  if (!probe)
    return PermissionDenied(what + " " + path + ": cannot be opened: " + std::strerror(errno));
  return Status::Ok();
}

Status CheckImage(const cv::Mat& image) {
  if (image.empty()) return InvalidArgument("face detection: the image is empty (no pixels)");
  if (image.depth() != CV_8U ||
      (image.channels() != 1 && image.channels() != 3 && image.channels() != 4))
    return InvalidArgument("face detection: unsupported pixel type " +
                           cv::typeToString(image.type()) + " (want 8-bit gray, BGR or BGRA)");
  return Status::Ok();
}

// The factor that brings the longest side down to max_side (1 = no change).
double DownscaleFactor(const cv::Size& size, int max_side) {
  const int longest = std::max(size.width, size.height);
  if (max_side <= 0 || longest <= max_side) return 1.0;
  return static_cast<double>(max_side) / longest;
}

cv::Mat Resized(const cv::Mat& image, double scale) {
  if (scale == 1.0) return image;
  cv::Size target(std::max(1, static_cast<int>(std::lround(image.cols * scale))),
                  std::max(1, static_cast<int>(std::lround(image.rows * scale))));
  cv::Mat out;
  // INTER_AREA averages the source pixels under each target pixel: no aliasing,
  // which would otherwise add edges the detectors react to.
  cv::resize(image, out, target, 0, 0, cv::INTER_AREA);
  return out;
}

int ToInt(double v) { return static_cast<int>(std::lround(v)); }

// Maps a box found on the scaled copy back to frame coordinates, clipped.
cv::Rect MapBack(const cv::Rect2d& r, double scale, const cv::Size& frame) {
  const double x0 = r.x / scale, y0 = r.y / scale;
  const double x1 = (r.x + r.width) / scale, y1 = (r.y + r.height) / scale;
  cv::Rect box(cv::Point(ToInt(x0), ToInt(y0)), cv::Point(ToInt(x1), ToInt(y1)));
  return box & cv::Rect(0, 0, frame.width, frame.height);
}

void SortLargestFirst(std::vector<Face>& faces) {
  std::stable_sort(faces.begin(), faces.end(),
                   [](const Face& a, const Face& b) { return a.box.area() > b.box.area(); });
}

// --- Cascade ---------------------------------------------------------------
//
// No score: detectMultiScale3's levelWeights is only filled with
// outputRejectLevels=true, and that mode changes what is detected (it also
// keeps windows rejected in the last stages) and the weight is the last stage's
// raw sum, not a probability comparable across cascades or with YuNet's score.
// The neighbour count (min_neighbors) is the cascade's confidence knob instead.
class CascadeFaceDetector final : public FaceDetector {
 public:
  CascadeFaceDetector(std::string path, const FaceDetectorOptions& options)
      : path_(std::move(path)), options_(options) {}

  Status Load() {
    try {
      if (!cascade_.load(path_) || cascade_.empty())
        return Corrupt("face cascade " + path_ +
                       ": OpenCV could not load it as a cascade classifier");
    } catch (const cv::Exception& e) {
      return Corrupt("face cascade " + path_ + ": OpenCV could not load it: " + e.err);
    }
    return Status::Ok();
  }

  Result<std::vector<Face>> Detect(const cv::Mat& image) override {
    RETURN_IF_ERROR(CheckImage(image));
    try {
      cv::Mat gray;
      if (image.channels() == 3)
        cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
      else if (image.channels() == 4)
        cv::cvtColor(image, gray, cv::COLOR_BGRA2GRAY);
      else
        gray = image;
      const double scale = DownscaleFactor(gray.size(), options_.max_side);
      cv::Mat small = Resized(gray, scale);
      cv::Mat equalized;
      // Lock cameras shoot into backlight and at night; equalizing is what the
      // cascades were trained and are documented with.
      cv::equalizeHist(small, equalized);
      const int min_side = std::max(1, ToInt(options_.min_face_size * scale));
      std::vector<cv::Rect> hits;
      cascade_.detectMultiScale(equalized, hits, 1.1, options_.min_neighbors, 0,
                                cv::Size(min_side, min_side));
      std::vector<Face> faces;
      for (const cv::Rect& r : hits) {
        Face f;
        f.box = MapBack(cv::Rect2d(r), scale, image.size());
        if (std::min(f.box.width, f.box.height) < options_.min_face_size || f.box.empty()) continue;
        faces.push_back(std::move(f));
      }
      SortLargestFirst(faces);
      return faces;
    } catch (const cv::Exception& e) {
      return InternalError("face cascade " + path_ + ": detection failed: " + e.err);
    }
  }

  FaceDetectorKind kind() const override { return FaceDetectorKind::kCascade; }
  std::string description() const override { return "cascade:" + path_; }

 private:
  std::string path_;
  FaceDetectorOptions options_;
  cv::CascadeClassifier cascade_;
};

// --- YuNet -----------------------------------------------------------------

// FaceDetectorYN::detect's output: one CV_32F row per face.
constexpr int kYuNetColumns = 15;  // x y w h, 5 x (lx ly), score
constexpr int kYuNetScoreColumn = 14;
// Below this the network's pooling layers shrink the feature maps to nothing
// and OpenCV throws; smaller frames are padded up to it.
constexpr int kYuNetMinSide = 64;

class YuNetFaceDetector final : public FaceDetector {
 public:
  YuNetFaceDetector(std::string path, const FaceDetectorOptions& options)
      : path_(std::move(path)), options_(options) {}

  Status Load() {
    try {
      // The input size given here is a placeholder: Detect() sets the real one
      // per frame size (the priors depend on it).
      yunet_ = cv::FaceDetectorYN::create(path_, "", cv::Size(320, 320), options_.score_threshold,
                                          options_.nms_threshold, 5000);
      if (yunet_.empty()) return Corrupt("YuNet model " + path_ + ": OpenCV returned no detector");
    } catch (const cv::Exception& e) {
      return Corrupt("YuNet model " + path_ +
                     ": OpenCV could not load it (is it the 2022mar ONNX " +
                     "model? OpenCV 4.6 cannot load the 2023 ones): " + e.err);
    }
    return Status::Ok();
  }

  Result<std::vector<Face>> Detect(const cv::Mat& image) override {
    RETURN_IF_ERROR(CheckImage(image));
    try {
      cv::Mat bgr;
      if (image.channels() == 1)
        cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
      else if (image.channels() == 4)
        cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
      else
        bgr = image;
      const double scale = DownscaleFactor(bgr.size(), options_.max_side);
      cv::Mat small = Resized(bgr, scale);
      if (small.cols < kYuNetMinSide || small.rows < kYuNetMinSide) {
        // Padding right/bottom keeps the coordinates of what is there.
        cv::copyMakeBorder(small, small, 0, std::max(0, kYuNetMinSide - small.rows), 0,
                           std::max(0, kYuNetMinSide - small.cols), cv::BORDER_CONSTANT,
                           cv::Scalar(0, 0, 0));
      }
      if (small.size() != input_size_) {
        yunet_->setInputSize(small.size());
        input_size_ = small.size();
      }
      cv::Mat out;
      yunet_->detect(small, out);
      std::vector<Face> faces;
      if (!out.empty() && (out.cols != kYuNetColumns || out.type() != CV_32F))
        return InternalError("YuNet model " + path_ + ": unexpected output shape " +
                             std::to_string(out.rows) + "x" + std::to_string(out.cols));
      for (int i = 0; i < out.rows; ++i) {
        const float* row = out.ptr<float>(i);
        Face f;
        f.box = MapBack(cv::Rect2d(row[0], row[1], row[2], row[3]), scale, image.size());
        if (std::min(f.box.width, f.box.height) < options_.min_face_size || f.box.empty()) continue;
        f.score = row[kYuNetScoreColumn];
        for (int k = 0; k < 5; ++k) {
          f.landmarks.emplace_back(static_cast<float>(row[4 + 2 * k] / scale),
                                   static_cast<float>(row[5 + 2 * k] / scale));
        }
        faces.push_back(std::move(f));
      }
      SortLargestFirst(faces);
      return faces;
    } catch (const cv::Exception& e) {
      return InternalError("YuNet model " + path_ + ": detection failed: " + e.err);
    }
  }

  FaceDetectorKind kind() const override { return FaceDetectorKind::kYuNet; }
  std::string description() const override { return "yunet:" + path_; }

 private:
  std::string path_;
  FaceDetectorOptions options_;
  cv::Ptr<cv::FaceDetectorYN> yunet_;
  cv::Size input_size_{320, 320};
};

Status ValidateOptions(const FaceDetectorOptions& o) {
  if (o.min_face_size < 0)
    return InvalidArgument("face detector: min face size must be >= 0, not " +
                           std::to_string(o.min_face_size));
  if (!(o.score_threshold >= 0.0f && o.score_threshold <= 1.0f))
    return InvalidArgument("face detector: score threshold must be in [0, 1], not " +
                           std::to_string(o.score_threshold));
  if (!(o.nms_threshold >= 0.0f && o.nms_threshold <= 1.0f))
    return InvalidArgument("face detector: NMS threshold must be in [0, 1], not " +
                           std::to_string(o.nms_threshold));
  if (o.min_neighbors < 0)
    return InvalidArgument("face detector: min neighbors must be >= 0, not " +
                           std::to_string(o.min_neighbors));
  // Below ~32 px neither detector can see a face at all.
  if (o.max_side != 0 && o.max_side < 32)
    return InvalidArgument("face detector: downscale limit must be 0 (off) or >= 32 pixels, not " +
                           std::to_string(o.max_side));
  return Status::Ok();
}

}  // namespace

const char* FaceDetectorKindName(FaceDetectorKind kind) {
  switch (kind) {
    case FaceDetectorKind::kCascade:
      return "cascade";
    case FaceDetectorKind::kYuNet:
      return "yunet";
  }
  return "unknown";
}

Result<std::string> FindOpenCvDataFile(const std::string& file_name) {
  std::vector<std::string> roots;
  if (const char* env = std::getenv("LOCKPIPE_OPENCV_DATA"); env != nullptr && *env != '\0')
    roots.emplace_back(env);
  for (const char* r : {"/usr/share/opencv4", "/usr/local/share/opencv4", "/usr/share/opencv",
                        "/usr/local/share/opencv"})
    roots.emplace_back(r);
  std::string searched;
  for (const std::string& root : roots) {
    for (const char* sub : {"", "/haarcascades", "/lbpcascades"}) {
      const std::string dir = root + sub;
      const std::string candidate = dir + "/" + file_name;
      std::error_code ec;
      if (fs::is_regular_file(candidate, ec)) return candidate;
      if (!searched.empty()) searched += ", ";
      searched += dir;
    }
  }
  return NotFound("OpenCV data file " + file_name + " not found (searched " + searched +
                  "); install the Debian package opencv-data, set LOCKPIPE_OPENCV_DATA to the " +
                  "folder holding it, or give a model path");
}

Result<std::unique_ptr<FaceDetector>> MakeFaceDetector(const FaceDetectorOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<FaceDetector> detector;
  if (options.model_path.empty() || EndsWith(options.model_path, ".xml")) {
    std::string path = options.model_path;
    if (path.empty()) {
      ASSIGN_OR_RETURN(path, FindOpenCvDataFile(kDefaultCascade));
    }
    RETURN_IF_ERROR(CheckReadable(path, "face cascade"));
    auto cascade = std::make_unique<CascadeFaceDetector>(path, options);
    RETURN_IF_ERROR(cascade->Load());
    detector = std::move(cascade);
  } else {
    RETURN_IF_ERROR(CheckReadable(options.model_path, "YuNet model"));
    auto yunet = std::make_unique<YuNetFaceDetector>(options.model_path, options);
    RETURN_IF_ERROR(yunet->Load());
    detector = std::move(yunet);
  }
  // Some broken models load and only fail on the first forward pass; find out
  // now rather than on the first capture.
  cv::Mat blank(96, 128, CV_8UC3, cv::Scalar(128, 128, 128));
  auto probe = detector->Detect(blank);
  if (!probe.ok()) {
    return Status(StatusCode::kCorrupt, probe.status().message() + " (on a test frame)");
  }
  log::Debug("face detector ready: " + detector->description());
  return detector;
}

void DrawFaces(cv::Mat& image, const std::vector<Face>& faces) {
  if (image.empty()) return;
  const int longest = std::max(image.cols, image.rows);
  const int thickness = std::max(1, longest / 320);
  const cv::Scalar box_color(0, 255, 0);       // green (BGR)
  const cv::Scalar landmark_color(0, 0, 255);  // red
  for (const Face& f : faces) {
    // LINE_8, not LINE_AA: a crisp outline survives JPEG thumbnails better.
    cv::rectangle(image, f.box, box_color, thickness, cv::LINE_8);
    for (const cv::Point2f& p : f.landmarks) {
      cv::circle(image, cv::Point(ToInt(p.x), ToInt(p.y)), thickness + 1, landmark_color,
                 cv::FILLED, cv::LINE_8);
    }
    if (f.score) {
      char label[16];
      std::snprintf(label, sizeof label, "%.2f", static_cast<double>(*f.score));
      const double font_scale = 0.4 * thickness;
      cv::putText(image, label, cv::Point(f.box.x, std::max(0, f.box.y - 2 * thickness)),
                  cv::FONT_HERSHEY_SIMPLEX, font_scale, box_color, thickness, cv::LINE_AA);
    }
  }
}

double BoxIoU(const cv::Rect& a, const cv::Rect& b) {
  const double inter = (a & b).area();
  const double uni = static_cast<double>(a.area()) + b.area() - inter;
  return uni <= 0 ? 0.0 : inter / uni;
}

}  // namespace lockpipe
