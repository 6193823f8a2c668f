// Face detection cost per frame, single thread, and what the downscale limit
// trades against finding the sample faces.
//
//   build/bench/face_bench                        (cascade; YuNet too when ../shared has it)
//   build/bench/face_bench --benchmark_filter=Detect/
//
// BM_Detect/<detector>/<height>p: ms per frame on the astronaut sample letterboxed
//   into a 16:9 frame of that height (the face is about a fifth of the frame
//   height, as at a door), with max_side = 0 (full size, the baseline) and 640
//   (the default). Counter found=1 when the sample face was found.
// BM_DownscaleLimit/<detector>/<max_side>: the 1080p frame at several limits;
//   counters say whether each sample face (astronaut, cameraman) was found.
// BM_Cascade/<file>: the candidate cascades on the 720p frame (how the default
//   cascade was chosen: found count over the 1x..2x resized samples, and false
//   faces in the no-face sample).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pipeline/face_detector.h"

namespace lockpipe {
namespace {

std::string SourceDir() {
  if (const char* env = std::getenv("LOCKPIPE_SOURCE_DIR")) return env;
  // bench programs run from build*/bench: the repository is two levels up.
  for (const char* p : {"..", "../..", "."}) {
    if (std::filesystem::exists(std::string(p) + "/samples/media/faces.json")) return p;
  }
  return ".";
}

std::string YuNetModel() {
  const char* env = std::getenv("LOCKPIPE_SHARED_DIR");
  std::string shared = env ? env : SourceDir() + "/../shared";
  std::string model = shared + "/models/face_detection_yunet_2022mar.onnx";
  return std::filesystem::exists(model) ? model : "";
}

cv::Mat Sample(const std::string& name) {
  cv::Mat m = cv::imread(SourceDir() + "/samples/media/" + name, cv::IMREAD_COLOR);
  if (m.empty()) {
    std::cerr << "cannot read samples/media/" << name << " (run from the build folder or set "
              << "LOCKPIPE_SOURCE_DIR)\n";
    std::exit(1);
  }
  return m;
}

// Known face boxes in the 512x512 stills (samples/media/faces.json, YuNet).
const cv::Rect kAstronautFace(178, 58, 94, 118);
const cv::Rect kCameramanFace(202, 115, 54, 84);

// The still scaled so its height is `height` * 0.5 and centred on a grey 16:9
// canvas `height` tall: the face is about a fifth of the frame, as a lock
// camera a metre from the visitor sees it. Returns the face box in the frame.
cv::Mat Frame(const cv::Mat& still, int height, const cv::Rect& face, cv::Rect* frame_face) {
  const int width = height * 16 / 9;
  const double s = 0.5 * height / still.rows;
  cv::Mat scaled;
  cv::resize(still, scaled, cv::Size(), s, s, cv::INTER_AREA);
  cv::Mat frame(height, width, CV_8UC3, cv::Scalar(128, 128, 128));
  const cv::Point at((width - scaled.cols) / 2, (height - scaled.rows) / 2);
  scaled.copyTo(frame(cv::Rect(at, scaled.size())));
  *frame_face = cv::Rect(at.x + static_cast<int>(face.x * s), at.y + static_cast<int>(face.y * s),
                         static_cast<int>(face.width * s), static_cast<int>(face.height * s));
  return frame;
}

bool Found(const std::vector<Face>& faces, const cv::Rect& known) {
  for (const Face& f : faces) {
    const cv::Point c(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2);
    if (BoxIoU(f.box, known) >= 0.4 || known.contains(c)) return true;
  }
  return false;
}

std::unique_ptr<FaceDetector> MakeOrDie(const FaceDetectorOptions& o, benchmark::State& state) {
  auto d = MakeFaceDetector(o);
  if (!d.ok()) {
    state.SkipWithError(d.status().ToString().c_str());
    return nullptr;
  }
  return std::move(*d);
}

// args: detector (0 cascade, 1 yunet), frame height, max_side
void BM_Detect(benchmark::State& state) {
  FaceDetectorOptions o;
  if (state.range(0) == 1) {
    o.model_path = YuNetModel();
    if (o.model_path.empty()) return state.SkipWithError("no YuNet model in ../shared/models");
  }
  o.max_side = static_cast<int>(state.range(2));
  auto detector = MakeOrDie(o, state);
  if (!detector) return;
  cv::Rect face;
  cv::Mat frame =
      Frame(Sample("astronaut.jpg"), static_cast<int>(state.range(1)), kAstronautFace, &face);
  bool found = false;
  for (auto _ : state) {
    auto faces = detector->Detect(frame);
    if (!faces.ok()) return state.SkipWithError(faces.status().ToString().c_str());
    found = Found(*faces, face);
    benchmark::DoNotOptimize(faces);
  }
  state.counters["found"] = found ? 1 : 0;
}

// args: detector, max_side. The 1080p frame; counters for each sample face.
void BM_DownscaleLimit(benchmark::State& state) {
  FaceDetectorOptions o;
  if (state.range(0) == 1) {
    o.model_path = YuNetModel();
    if (o.model_path.empty()) return state.SkipWithError("no YuNet model in ../shared/models");
  }
  o.max_side = static_cast<int>(state.range(1));
  // The cascade cannot see faces below its window (20 px) on the scaled copy;
  // min_face_size is in frame pixels, so keep it out of the way here.
  o.min_face_size = 20;
  auto detector = MakeOrDie(o, state);
  if (!detector) return;
  cv::Rect astronaut_face, cameraman_face;
  cv::Mat astronaut = Frame(Sample("astronaut.jpg"), 1080, kAstronautFace, &astronaut_face);
  cv::Mat cameraman = Frame(Sample("camera.jpg"), 1080, kCameramanFace, &cameraman_face);
  bool a = false, c = false;
  for (auto _ : state) {
    auto fa = detector->Detect(astronaut);
    auto fc = detector->Detect(cameraman);
    if (!fa.ok() || !fc.ok()) return state.SkipWithError("detection failed");
    a = Found(*fa, astronaut_face);
    c = Found(*fc, cameraman_face);
  }
  state.counters["astronaut"] = a ? 1 : 0;
  state.counters["cameraman"] = c ? 1 : 0;
  state.counters["frames"] = benchmark::Counter(2, benchmark::Counter::kIsIterationInvariantRate);
}

const char* const kCascades[] = {"haarcascade_frontalface_default.xml",
                                 "haarcascade_frontalface_alt.xml",
                                 "haarcascade_frontalface_alt2.xml", "lbpcascade_frontalface.xml",
                                 "lbpcascade_frontalface_improved.xml"};

// args: cascade index. Times the 720p frame; counters from the accuracy sweep
// (astronaut and no-face stills resized 0.5x..2x).
void BM_Cascade(benchmark::State& state) {
  auto path = FindOpenCvDataFile(kCascades[state.range(0)]);
  if (!path.ok()) return state.SkipWithError(path.status().ToString().c_str());
  FaceDetectorOptions o;
  o.model_path = *path;
  o.max_side = 0;
  auto detector = MakeOrDie(o, state);
  if (!detector) return;
  int found = 0, false_faces = 0;
  const cv::Mat astronaut = Sample("astronaut.jpg");
  const cv::Mat noface = Sample("noface.jpg");
  for (double s : {0.5, 0.75, 1.0, 1.25, 1.5, 2.0}) {
    cv::Mat a, n;
    cv::resize(astronaut, a, cv::Size(), s, s, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    cv::resize(noface, n, cv::Size(), s, s, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    const cv::Rect truth(
        static_cast<int>(kAstronautFace.x * s), static_cast<int>(kAstronautFace.y * s),
        static_cast<int>(kAstronautFace.width * s), static_cast<int>(kAstronautFace.height * s));
    auto fa = detector->Detect(a);
    auto fn = detector->Detect(n);
    if (!fa.ok() || !fn.ok()) return state.SkipWithError("detection failed");
    for (const Face& f : *fa) {
      if (Found({f}, truth))
        ++found;
      else
        ++false_faces;
    }
    false_faces += static_cast<int>(fn->size());
  }
  cv::Rect face;
  cv::Mat frame = Frame(astronaut, 720, kAstronautFace, &face);
  for (auto _ : state) {
    auto faces = detector->Detect(frame);
    benchmark::DoNotOptimize(faces);
  }
  state.SetLabel(kCascades[state.range(0)]);
  state.counters["found_of_6"] = found;
  state.counters["false_faces"] = false_faces;
}

void DetectArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"yunet", "height", "max_side"});
  for (int det : {0, 1})
    for (int h : {360, 720, 1080})
      for (int max_side : {0, 640}) b->Args({det, h, max_side});
}

void DownscaleArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"yunet", "max_side"});
  for (int det : {0, 1})
    for (int max_side : {0, 1280, 960, 640, 480, 320, 240}) b->Args({det, max_side});
}

BENCHMARK(BM_Detect)->Apply(DetectArgs)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_DownscaleLimit)->Apply(DownscaleArgs)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_Cascade)->DenseRange(0, 4)->Unit(benchmark::kMillisecond)->MinTime(0.5);

}  // namespace
}  // namespace lockpipe

int main(int argc, char** argv) {
  // Single thread: the pipeline runs one detector per worker thread, so
  // OpenCV's own parallel_for would only compete with the other workers.
  cv::setNumThreads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
