#include "pipeline/face_detector.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tests/testutil.h"

namespace lockpipe {
namespace {

using ::lockpipe::testing::SharedDir;
using ::lockpipe::testing::SourceDir;
using ::lockpipe::testing::TempDir;

std::string MediaDir() { return SourceDir() + "/samples/media"; }

// samples/media/faces.json: the known face boxes of each sample.
struct Samples {
  nlohmann::json doc;
  double tolerance_iou = 0.5;
};

const Samples& LoadSamples() {
  static const Samples samples = [] {
    Samples s;
    std::ifstream in(MediaDir() + "/faces.json");
    if (!in) return s;
    s.doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (s.doc.is_object() && s.doc.contains("tolerance_iou"))
      s.tolerance_iou = s.doc["tolerance_iou"].get<double>();
    return s;
  }();
  return samples;
}

// The faces listed for a still (`faces`: measured with YuNet, the ground
// truth; `haar_faces`: what OpenCV's stock Haar cascade finds), or for frame 0
// of a clip.
std::vector<cv::Rect> KnownFaces(const std::string& name, const std::string& list = "faces") {
  std::vector<cv::Rect> out;
  const nlohmann::json& doc = LoadSamples().doc;
  if (!doc.is_object() || !doc["samples"].contains(name)) {
    ADD_FAILURE() << "samples/media/faces.json has no entry for " << name;
    return out;
  }
  const nlohmann::json& s = doc["samples"][name].contains("frame0") ? doc["samples"][name]["frame0"]
                                                                    : doc["samples"][name];
  if (!s.contains(list)) {
    ADD_FAILURE() << "samples/media/faces.json: " << name << " has no " << list;
    return out;
  }
  for (const auto& f : s[list])
    out.emplace_back(f["x"].get<int>(), f["y"].get<int>(), f["w"].get<int>(), f["h"].get<int>());
  return out;
}

// The documented rule in faces.json: IoU >= tolerance, or the detected box's
// centre inside the known one (detectors frame a face differently: YuNet's box
// is taller than the cascades').
bool Matches(const cv::Rect& found, const cv::Rect& known) {
  const cv::Point centre(found.x + found.width / 2, found.y + found.height / 2);
  return BoxIoU(found, known) >= LoadSamples().tolerance_iou || known.contains(centre);
}

cv::Mat LoadSample(const std::string& name, int flags = cv::IMREAD_COLOR) {
  cv::Mat m = cv::imread(MediaDir() + "/" + name, flags);
  EXPECT_FALSE(m.empty()) << "cannot read sample " << MediaDir() << "/" << name;
  return m;
}

std::optional<std::string> YuNetModel() {
  auto shared = SharedDir();
  if (!shared) return std::nullopt;
  std::string p = *shared + "/models/face_detection_yunet_2022mar.onnx";
  if (!std::filesystem::exists(p)) return std::nullopt;
  return p;
}

// Runs the test body once per detector; YuNet only where ../shared has it.
class FaceDetectorTest : public ::testing::TestWithParam<FaceDetectorKind> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(LoadSamples().doc.is_object())
        << MediaDir() << "/faces.json is missing or not JSON (samples/make-samples.sh makes it)";
    if (GetParam() == FaceDetectorKind::kYuNet) {
      auto model = YuNetModel();
      if (!model) {
        GTEST_SKIP() << "YuNet model not available: ../shared/models/"
                        "face_detection_yunet_2022mar.onnx is absent (set LOCKPIPE_SHARED_DIR)";
      }
      options_.model_path = *model;
    }
  }

  std::unique_ptr<FaceDetector> Make() {
    auto d = MakeFaceDetector(options_);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? std::move(*d) : nullptr;
  }

  FaceDetectorOptions options_;
};

// Each face a detector of this kind is known to find is found, and every face
// found is a real one (matches the ground-truth list). The Haar cascade does not
// find the cameraman (a three-quarter view; faces.json's haar_faces is empty
// for him): the cascade is held to what it can see, YuNet to everything.
TEST_P(FaceDetectorTest, FindsEachKnownFaceInTheStills) {
  auto detector = Make();
  ASSERT_NE(detector, nullptr);
  EXPECT_EQ(detector->kind(), GetParam());
  const std::string must_find = GetParam() == FaceDetectorKind::kYuNet ? "faces" : "haar_faces";
  int checked = 0;
  for (const std::string name : {"astronaut.jpg", "camera.jpg"}) {
    SCOPED_TRACE(name);
    cv::Mat image = LoadSample(name);
    ASSERT_FALSE(image.empty());
    auto faces = detector->Detect(image);
    ASSERT_OK_R(faces);
    for (const cv::Rect& known : KnownFaces(name, must_find)) {
      ++checked;
      bool found = false;
      for (const Face& f : *faces) found = found || Matches(f.box, known);
      EXPECT_TRUE(found) << "no detected face matches the known face " << known << " ("
                         << faces->size() << " detected)";
    }
    const std::vector<cv::Rect> truth = KnownFaces(name, "faces");
    for (const Face& f : *faces) {
      bool real = false;
      for (const cv::Rect& t : truth) real = real || Matches(f.box, t);
      EXPECT_TRUE(real) << "false face " << f.box;
      EXPECT_TRUE((f.box & cv::Rect(0, 0, image.cols, image.rows)) == f.box) << f.box;
      EXPECT_GE(std::min(f.box.width, f.box.height), options_.min_face_size);
      if (GetParam() == FaceDetectorKind::kYuNet) {
        ASSERT_TRUE(f.score.has_value());
        EXPECT_GE(*f.score, options_.score_threshold);
        EXPECT_LE(*f.score, 1.0f);
        ASSERT_EQ(f.landmarks.size(), 5u);
        // The eyes are above the mouth corners, all inside the box.
        EXPECT_LT(f.landmarks[0].y, f.landmarks[3].y);
        EXPECT_LT(f.landmarks[1].y, f.landmarks[4].y);
        for (const cv::Point2f& p : f.landmarks)
          EXPECT_TRUE(cv::Rect2f(f.box).contains(p)) << p << " outside " << f.box;
      } else {
        EXPECT_FALSE(f.score.has_value());
        EXPECT_TRUE(f.landmarks.empty());
      }
    }
  }
  EXPECT_GE(checked, GetParam() == FaceDetectorKind::kYuNet ? 2 : 1)
      << "faces.json lists fewer faces than expected in the face stills";
}

TEST_P(FaceDetectorTest, FindsNoFaceInTheNoFaceSample) {
  auto detector = Make();
  ASSERT_NE(detector, nullptr);
  ASSERT_TRUE(KnownFaces("noface.jpg").empty());
  ASSERT_TRUE(KnownFaces("noface.jpg", "haar_faces").empty());
  cv::Mat image = LoadSample("noface.jpg");
  ASSERT_FALSE(image.empty());
  auto faces = detector->Detect(image);
  ASSERT_OK_R(faces);
  EXPECT_TRUE(faces->empty()) << "first false face: " << faces->front().box;
}

TEST_P(FaceDetectorTest, GrayAndBgraInputsGiveTheSameFaceAsBgr) {
  auto detector = Make();
  ASSERT_NE(detector, nullptr);
  cv::Mat bgr = LoadSample("astronaut.jpg");
  ASSERT_FALSE(bgr.empty());
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  auto a = detector->Detect(bgr);
  auto b = detector->Detect(bgra);
  ASSERT_OK_R(a);
  ASSERT_OK_R(b);
  ASSERT_EQ(a->size(), b->size());
  for (std::size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].box, (*b)[i].box);
  // A gray frame (a night capture) is accepted as it is.
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  auto g = detector->Detect(gray);
  ASSERT_OK_R(g);
  const std::vector<cv::Rect> known = KnownFaces("astronaut.jpg");
  ASSERT_FALSE(known.empty());
  bool found = false;
  for (const Face& f : *g) found = found || Matches(f.box, known[0]);
  EXPECT_TRUE(found);
}

// A 3x upscaled frame (1536 px) is detected on a copy scaled back down to
// max_side; the boxes must come back in the large frame's coordinates.
TEST_P(FaceDetectorTest, DownscaledDetectionMapsBoxesBack) {
  cv::Mat image = LoadSample("astronaut.jpg");
  ASSERT_FALSE(image.empty());
  const std::vector<cv::Rect> known = KnownFaces("astronaut.jpg");
  ASSERT_FALSE(known.empty());
  options_.max_side = 0;
  auto native = Make();
  ASSERT_NE(native, nullptr);
  auto at_1x = native->Detect(image);
  ASSERT_OK_R(at_1x);
  ASSERT_FALSE(at_1x->empty());

  cv::Mat big;
  cv::resize(image, big, cv::Size(), 3.0, 3.0, cv::INTER_CUBIC);
  options_.max_side = image.cols;  // so the big frame is detected at 1x again
  auto scaled = Make();
  ASSERT_NE(scaled, nullptr);
  auto at_3x = scaled->Detect(big);
  ASSERT_OK_R(at_3x);
  ASSERT_FALSE(at_3x->empty());

  const cv::Rect& small_box = at_1x->front().box;
  const cv::Rect& big_box = at_3x->front().box;
  const cv::Rect expected(small_box.x * 3, small_box.y * 3, small_box.width * 3,
                          small_box.height * 3);
  // Both runs see nearly the same pixels (cubic up, area down), so the box is
  // the 1x box times three up to resampling noise: a few source pixels.
  EXPECT_GE(BoxIoU(big_box, expected), 0.8) << big_box << " vs " << expected;
  EXPECT_NEAR(big_box.width, expected.width, 3 * 4);
  EXPECT_NEAR(big_box.x, expected.x, 3 * 4);
  EXPECT_NEAR(big_box.y, expected.y, 3 * 4);
  const cv::Rect known_big(known[0].x * 3, known[0].y * 3, known[0].width * 3, known[0].height * 3);
  EXPECT_TRUE(Matches(big_box, known_big)) << big_box << " vs " << known_big;
  if (GetParam() == FaceDetectorKind::kYuNet) {
    // Landmarks are mapped back too: they stay inside the (big) box.
    for (const cv::Point2f& p : at_3x->front().landmarks) {
      EXPECT_TRUE(big_box.contains(cv::Point(static_cast<int>(p.x), static_cast<int>(p.y)))) << p;
    }
  }
}

TEST_P(FaceDetectorTest, EmptyAndUnsupportedImagesAreErrors) {
  auto detector = Make();
  ASSERT_NE(detector, nullptr);
  auto empty = detector->Detect(cv::Mat());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos) << empty.status().message();

  auto floats = detector->Detect(cv::Mat(64, 64, CV_32FC3, cv::Scalar(0.5, 0.5, 0.5)));
  ASSERT_FALSE(floats.ok());
  EXPECT_EQ(floats.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(floats.status().message().find("32FC3"), std::string::npos)
      << floats.status().message();

  // Tiny frames are valid, merely faceless.
  auto tiny = detector->Detect(cv::Mat(1, 1, CV_8UC3, cv::Scalar(0, 0, 0)));
  ASSERT_OK_R(tiny);
  EXPECT_TRUE(tiny->empty());
}

INSTANTIATE_TEST_SUITE_P(Detectors, FaceDetectorTest,
                         ::testing::Values(FaceDetectorKind::kCascade, FaceDetectorKind::kYuNet),
                         [](const auto& p) { return std::string(FaceDetectorKindName(p.param)); });

TEST(FaceDetectorFactory, MissingModelIsNotFoundNamingThePath) {
  FaceDetectorOptions o;
  o.model_path = "/nonexistent/lockpipe/yunet.onnx";
  auto d = MakeFaceDetector(o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(d.status().message(), "YuNet model /nonexistent/lockpipe/yunet.onnx: no such file");

  o.model_path = "/nonexistent/lockpipe/face.xml";
  d = MakeFaceDetector(o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(d.status().message(), "face cascade /nonexistent/lockpipe/face.xml: no such file");
}

TEST(FaceDetectorFactory, CorruptModelIsCorruptNamingThePath) {
  TempDir dir;
  const std::string onnx = dir.File("garbage.onnx");
  testing::WriteFile(onnx, testing::RandomBytes(4096, 7));
  FaceDetectorOptions o;
  o.model_path = onnx;
  auto d = MakeFaceDetector(o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(d.status().message().rfind("YuNet model " + onnx + ": OpenCV could not load it", 0), 0u)
      << d.status().message();

  // A YuNet model cut short, as an interrupted download leaves it.
  if (auto model = YuNetModel()) {
    std::vector<std::uint8_t> bytes = testing::ReadFile(*model);
    bytes.resize(bytes.size() / 2);
    const std::string cut = dir.File("cut.onnx");
    testing::WriteFile(cut, bytes);
    o.model_path = cut;
    d = MakeFaceDetector(o);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
    EXPECT_NE(d.status().message().find(cut), std::string::npos) << d.status().message();
  }

  const std::string xml = dir.File("garbage.xml");
  testing::WriteFile(xml, std::string("<?xml version=\"1.0\"?>\n<opencv_storage><cascade>"));
  o.model_path = xml;
  d = MakeFaceDetector(o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(d.status().message().rfind("face cascade " + xml + ": OpenCV could not load it", 0), 0u)
      << d.status().message();

  // An empty file is not a model either.
  const std::string empty = dir.File("empty.onnx");
  testing::WriteFile(empty, std::string());
  o.model_path = empty;
  d = MakeFaceDetector(o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kCorrupt);
}

TEST(FaceDetectorFactory, ModelPathThatIsAFolderIsRejected) {
  TempDir dir;
  FaceDetectorOptions o;
  o.model_path = dir.path();
  auto d = MakeFaceDetector(o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("is a folder"), std::string::npos);
}

TEST(FaceDetectorFactory, OptionsOutOfRangeAreInvalidArguments) {
  const auto code = [](FaceDetectorOptions o) { return MakeFaceDetector(o).status().code(); };
  FaceDetectorOptions o;
  o.max_side = 16;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  o = {};
  o.score_threshold = 1.5f;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  o = {};
  o.nms_threshold = -0.1f;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  o = {};
  o.min_face_size = -1;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  o = {};
  o.min_neighbors = -1;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  o = {};
  o.max_side = 0;  // "never downscale" is allowed
  EXPECT_EQ(code(o), StatusCode::kOk);
}

TEST(FaceDetectorFactory, DefaultCascadeIsFoundInTheOpenCvDataFolders) {
  auto path = FindOpenCvDataFile(kDefaultCascade);
  ASSERT_OK_R(path);
  EXPECT_TRUE(std::filesystem::exists(*path));
  auto missing = FindOpenCvDataFile("no_such_cascade.xml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("opencv-data"), std::string::npos);
  EXPECT_NE(missing.status().message().find("/usr/share/opencv4/haarcascades"), std::string::npos);
}

TEST(DrawFaces, DrawsOnTheBoxOutlineAndLandmarksOnly) {
  cv::Mat image(200, 300, CV_8UC3, cv::Scalar(0, 0, 0));
  Face f;
  f.box = cv::Rect(50, 40, 100, 80);
  f.landmarks = {cv::Point2f(100, 80)};
  DrawFaces(image, {f});
  // The outline is green, the landmark red, the corners far from both untouched.
  EXPECT_EQ(image.at<cv::Vec3b>(40, 100), cv::Vec3b(0, 255, 0));
  EXPECT_EQ(image.at<cv::Vec3b>(80, 100), cv::Vec3b(0, 0, 255));
  EXPECT_EQ(image.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(image.at<cv::Vec3b>(60, 70), cv::Vec3b(0, 0, 0));  // inside, away from the marks
  EXPECT_EQ(image.at<cv::Vec3b>(199, 299), cv::Vec3b(0, 0, 0));

  cv::Mat empty;
  DrawFaces(empty, {f});  // no crash, nothing to draw on
  EXPECT_TRUE(empty.empty());
}

TEST(BoxIoU, KnownValues) {
  EXPECT_DOUBLE_EQ(BoxIoU(cv::Rect(0, 0, 10, 10), cv::Rect(0, 0, 10, 10)), 1.0);
  EXPECT_DOUBLE_EQ(BoxIoU(cv::Rect(0, 0, 10, 10), cv::Rect(5, 0, 10, 10)), 50.0 / 150.0);
  EXPECT_DOUBLE_EQ(BoxIoU(cv::Rect(0, 0, 10, 10), cv::Rect(20, 20, 5, 5)), 0.0);
  EXPECT_DOUBLE_EQ(BoxIoU(cv::Rect(), cv::Rect()), 0.0);
}

// --- lockpipe detect ----------------------------------------------------------

using ::lockpipe::testing::LockpipeBinary;
using ::lockpipe::testing::RunShell;
using ::lockpipe::testing::ShellQuote;

testing::CommandResult Detect(const std::string& args) {
  return RunShell(ShellQuote(LockpipeBinary()) + " detect " + args);
}

TEST(DetectCli, PlainAndEncryptedStillGiveTheSameFaces) {
  const std::string plain = ShellQuote(MediaDir() + "/astronaut.jpg");
  const std::string sealed = ShellQuote(MediaDir() + "/astronaut.enc");
  auto a = Detect(plain + " --json");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = Detect("--key lockpipesample16 " + sealed + " --json");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto ja = nlohmann::json::parse(a.out, nullptr, false);
  auto jb = nlohmann::json::parse(b.out, nullptr, false);
  ASSERT_TRUE(ja.is_object()) << a.out;
  ASSERT_TRUE(jb.is_object()) << b.out;
  EXPECT_EQ(ja["frames"], jb["frames"]);
  ASSERT_EQ(ja["frames"].size(), 1u);
  ASSERT_EQ(ja["frames"][0]["faces"].size(), 1u);
  const auto& box = ja["frames"][0]["faces"][0]["box"];
  const cv::Rect found(box["x"].get<int>(), box["y"].get<int>(), box["w"].get<int>(),
                       box["h"].get<int>());
  EXPECT_TRUE(Matches(found, KnownFaces("astronaut.jpg", "haar_faces")[0])) << found;
  EXPECT_TRUE(ja["frames"][0]["faces"][0]["score"].is_null());  // the cascade has no score
  // The key never reaches the output.
  EXPECT_EQ(b.out.find("lockpipesample16"), std::string::npos);
  EXPECT_EQ(b.err.find("lockpipesample16"), std::string::npos);
}

TEST(DetectCli, ClipIsSampledEverySecond) {
  auto r = Detect(ShellQuote(MediaDir() + "/astronaut_360p_faststart.mp4") + " --every 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_EQ(j["frames"].size(), 4u);  // a 4 s clip: 0, 1, 2, 3 s
  const cv::Rect known = KnownFaces("astronaut_360p_faststart.mp4", "haar_faces").at(0);
  const auto& f0 = j["frames"][0];
  EXPECT_EQ(f0["seconds"].get<double>(), 0.0);
  // The cascade also reports a small false face (51 px, top right) on frame 0
  // of this clip; faces come largest first, and the largest is the real one.
  ASSERT_GE(f0["faces"].size(), 1u);
  const auto& box = f0["faces"][0]["box"];
  EXPECT_TRUE(Matches(
      cv::Rect(box["x"].get<int>(), box["y"].get<int>(), box["w"].get<int>(), box["h"].get<int>()),
      known));
  for (const auto& f : j["frames"]) EXPECT_GE(f["faces"].size(), 1u) << f.dump();
}

TEST(DetectCli, DrawWritesAnAnnotatedImage) {
  TempDir dir;
  const std::string out = dir.File("faces.png");
  auto r = Detect(ShellQuote(MediaDir() + "/astronaut.jpg") + " --draw " + ShellQuote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 face"), std::string::npos) << r.out;
  cv::Mat drawn = cv::imread(out, cv::IMREAD_COLOR);
  ASSERT_FALSE(drawn.empty());
  cv::Mat original = LoadSample("astronaut.jpg");
  ASSERT_EQ(drawn.size(), original.size());
  EXPECT_GT(cv::norm(drawn, original, cv::NORM_L1), 0.0);
}

TEST(DetectCli, ErrorsAndUsage) {
  const std::string sealed = ShellQuote(MediaDir() + "/astronaut.enc");
  auto no_key = Detect(sealed);
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_NE(no_key.err.find("--key"), std::string::npos) << no_key.err;

  auto wrong_key = Detect("--key wrongwrongwrong1 " + sealed);
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_EQ(wrong_key.err.find("wrongwrongwrong1"), std::string::npos) << wrong_key.err;

  auto missing_model =
      Detect(ShellQuote(MediaDir() + "/astronaut.jpg") + " --model /nonexistent/yunet.onnx");
  EXPECT_EQ(missing_model.exit_code, 1);
  EXPECT_NE(missing_model.err.find("/nonexistent/yunet.onnx: no such file"), std::string::npos)
      << missing_model.err;

  auto missing_file = Detect("/nonexistent/capture.jpg");
  EXPECT_EQ(missing_file.exit_code, 1);
  EXPECT_NE(missing_file.err.find("/nonexistent/capture.jpg"), std::string::npos);

  EXPECT_EQ(Detect(sealed + " --every 1 --count 3").exit_code, 2);
  EXPECT_EQ(Detect(sealed + " --every 0").exit_code, 2);
  EXPECT_EQ(Detect(sealed + " --max-side 8").exit_code, 2);
  EXPECT_EQ(Detect("").exit_code, 2);
  auto help = Detect("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Examples:"), std::string::npos);
}

}  // namespace
}  // namespace lockpipe
