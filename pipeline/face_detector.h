// Face detection on decoded frames: the step between pixels and approval rules.
//
// Two detectors behind one interface:
//   - an OpenCV cascade (the default): needs nothing but Debian's opencv-data
//     cascades, found under /usr/share/opencv4 at run time. No score.
//   - YuNet (cv::FaceDetectorYN) when a model path is given: a score in [0, 1]
//     and five landmarks per face. OpenCV 4.6 loads the 2022mar ONNX model; the
//     2023 models need OpenCV 4.7+ and are refused with a clear error.
//
// Large frames are detected on a downscaled copy (FaceDetectorOptions::max_side)
// and the boxes mapped back, so callers always get original-frame coordinates.
//
// Thread-safety: a FaceDetector is NOT thread-safe. It owns OpenCV objects
// (a CascadeClassifier or a FaceDetectorYN with its dnn::Net and scratch
// buffers) that must not be used from two threads at once. Make one detector
// per thread with MakeFaceDetector(); they share nothing.
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace lockpipe {

struct Face {
  cv::Rect box;  // in the coordinates of the frame given to Detect()
  // YuNet's confidence in [0, 1]; empty for the cascade (see face_detector.cc
  // for why levelWeights is not offered as a score).
  std::optional<float> score;
  // YuNet: right eye, left eye, nose tip, right and left mouth corner (the
  // subject's right/left), in frame coordinates. Empty for the cascade.
  std::vector<cv::Point2f> landmarks;
};

enum class FaceDetectorKind { kCascade, kYuNet };
const char* FaceDetectorKindName(FaceDetectorKind kind);

struct FaceDetectorOptions {
  // Empty: the default cascade (kDefaultCascade, searched for under the OpenCV
  // data folders). A path ending in ".xml": that cascade file. Anything else:
  // a YuNet ONNX model.
  std::string model_path;
  // Faces smaller than this (pixels, shorter side of the box, in frame
  // coordinates) are not reported. The cascade does not even look for them.
  int min_face_size = 40;
  // YuNet only: faces scoring below this are dropped. In [0, 1].
  float score_threshold = 0.6f;
  // YuNet only: boxes overlapping more than this (IoU) are merged.
  float nms_threshold = 0.3f;
  // Cascade only: how many overlapping raw hits a face needs (higher = fewer
  // false faces, more missed ones). OpenCV's default is 3.
  int min_neighbors = 4;
  // When the frame's longest side exceeds this, detect on a copy scaled down
  // to this longest side (INTER_AREA) and scale the boxes back. 0 = never
  // downscale. Smaller is faster but loses small faces; see bench/face_bench.cc.
  int max_side = 640;
};

// The cascade file used when FaceDetectorOptions::model_path is empty, chosen
// by measurement on samples/media (see the report in bench/face_bench.cc).
inline constexpr const char* kDefaultCascade = "haarcascade_frontalface_alt2.xml";

// Finds an OpenCV data file (e.g. kDefaultCascade) in the usual install
// folders (/usr/share/opencv4/{haarcascades,lbpcascades}, /usr/local/share/...,
// and $LOCKPIPE_OPENCV_DATA when set). Fails with kNotFound listing the folders
// searched and the Debian package that provides them (opencv-data).
Result<std::string> FindOpenCvDataFile(const std::string& file_name);

class FaceDetector {
 public:
  virtual ~FaceDetector() = default;

  // Finds the faces in a BGR (CV_8UC3), gray (CV_8UC1) or BGRA (CV_8UC4)
  // image. Returns them sorted by area, largest first; an empty vector when
  // there are none. Fails with kInvalidArgument on an empty image or another
  // pixel type, and kInternal if OpenCV throws (the message says what it said).
  // Never throws.
  virtual Result<std::vector<Face>> Detect(const cv::Mat& bgr) = 0;

  virtual FaceDetectorKind kind() const = 0;
  // What was loaded, for logs and JSON: "cascade:/usr/share/.../x.xml" or
  // "yunet:/path/model.onnx".
  virtual std::string description() const = 0;
};

// Builds the detector the options ask for and checks it works by running it
// once on a blank frame, so that a bad model fails here and not mid-stream.
// Fails with kNotFound (model or cascade file missing), kCorrupt (the file is
// there but OpenCV cannot load or run it; the message names the file and
// carries OpenCV's words) or kInvalidArgument (an option out of range).
Result<std::unique_ptr<FaceDetector>> MakeFaceDetector(const FaceDetectorOptions& options);

// Draws each face's box (and landmarks, and score when there is one) onto
// `image` in place, with line widths scaled to the image size, for thumbnails
// and contact sheets. Boxes partly outside the image are clipped by OpenCV.
// Does nothing to an empty image.
void DrawFaces(cv::Mat& image, const std::vector<Face>& faces);

// Intersection over union of two boxes, in [0, 1] (0 when either is empty).
double BoxIoU(const cv::Rect& a, const cv::Rect& b);

}  // namespace lockpipe
