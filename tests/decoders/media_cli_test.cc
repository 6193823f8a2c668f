// `lockpipe probe`, `lockpipe thumbnail` (and `lockpipe detect`'s handling of
// media and output) as a user runs them: outputs, exit codes (0 ok / 1 failure
// / 2 usage), one-line errors, no partial files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tests/testutil.h"

namespace lockpipe {
namespace {

using testing::ListDir;
using testing::ReadFile;
using testing::RunShell;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

std::string Sample(const std::string& name) {
  return testing::SourceDir() + "/samples/media/" + name;
}

testing::CommandResult Lockpipe(const std::string& args) {
  // `timeout`: a hang fails the test instead of stalling the suite.
  return RunShell("timeout 120 " + ShellQuote(testing::LockpipeBinary()) + " " + args);
}

TEST(ProbeCli, JsonForAnEncryptedMoovAtEndClip) {
  auto r = Lockpipe("probe --key lockpipesample16 " +
                    ShellQuote(Sample("astronaut_720p_moov_end.enc")) + " --json --decode");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["encrypted"], true);
  EXPECT_EQ(j["content"], "MP4");
  EXPECT_EQ(j["codec"], "h264");
  EXPECT_EQ(j["width"], 1280);
  EXPECT_EQ(j["height"], 720);
  EXPECT_EQ(j["frames"], 150);
  EXPECT_EQ(j["keyframes"], 6);
  EXPECT_EQ(j["decoded_frames"], 150);
  EXPECT_EQ(j["duration_seconds"], 6.0);
  EXPECT_EQ(j["bytes"], ReadFile(Sample("astronaut_720p_moov_end.mp4")).size());
  EXPECT_EQ(r.out.find("lockpipesample16"), std::string::npos);
}

TEST(ProbeCli, TextForAPlaintextStill) {
  auto r = Lockpipe("probe " + ShellQuote(Sample("camera.jpg")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("size:      512x512\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frames:    1\n"), std::string::npos) << r.out;
}

TEST(ProbeCli, AFileNameThatIsNotUtf8IsPrintedNotFatal) {
  // JSON must be UTF-8; a Latin-1 file name used to abort the program.
  testing::TempDir dir;
  const std::string name = dir.File("caf\xe9.jpg");
  testing::WriteFile(name, testing::ReadFile(Sample("astronaut.jpg")));
  auto r = Lockpipe("probe --json " + ShellQuote(name));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("caf\xef\xbf\xbd.jpg"), std::string::npos) << r.out;  // U+FFFD
  r = Lockpipe("detect --json " + ShellQuote(name));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(ThumbnailCli, OneFrameSeveralFramesAndAContactSheet) {
  TempDir dir;
  const std::string enc = ShellQuote(Sample("astronaut_360p_faststart.enc"));
  auto r = Lockpipe("thumbnail --key lockpipesample16 " + enc + " -o " +
                    ShellQuote(dir.File("one.jpg")) + " --width 320 --quality 80");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  cv::Mat one = cv::imread(dir.File("one.jpg"));
  EXPECT_EQ(one.size(), cv::Size(320, 180));

  r = Lockpipe("thumbnail --key lockpipesample16 " + enc + " -o " + ShellQuote(dir.File("k.jpg")) +
               " --keyframes");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, dir.File("k-0.jpg") + "\t00:00.000\tkey\n" + dir.File("k-1.jpg") +
                       "\t00:01.000\tkey\n" + dir.File("k-2.jpg") + "\t00:02.000\tkey\n" +
                       dir.File("k-3.jpg") + "\t00:03.000\tkey\n");

  r = Lockpipe("thumbnail --key lockpipesample16 " + enc + " -o " +
               ShellQuote(dir.File("sheet.jpg")) + " --count 4 --contact-sheet --width 160");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  cv::Mat sheet = cv::imread(dir.File("sheet.jpg"));
  EXPECT_EQ(sheet.size(), cv::Size(2 * 164 + 4, 2 * (90 + 22 + 4) + 4));
  EXPECT_EQ(ListDir(dir.path()), (std::vector<std::string>{"k-0.jpg", "k-1.jpg", "k-2.jpg",
                                                           "k-3.jpg", "one.jpg", "sheet.jpg"}));
}

// Every bad input: exit 1, one line on stderr naming the file, no output file.
TEST(ThumbnailCli, BadInputsFailCleanly) {
  TempDir dir;
  WriteFile(dir.File("empty.mp4"), std::string());
  WriteFile(dir.File("noise.mp4"), testing::RandomBytes(50000, 1));
  auto clip = ReadFile(Sample("astronaut_720p_moov_end.mp4"));
  clip.resize(clip.size() / 3);
  WriteFile(dir.File("truncated.mp4"), clip);
  auto enc = ReadFile(Sample("astronaut_360p_faststart.enc"));
  enc.resize(enc.size() - 5);  // not a whole number of AES blocks
  WriteFile(dir.File("cut.enc"), enc);
  struct Case {
    std::string args;
    std::string expect;  // part of the one error line
  };
  const std::vector<Case> cases = {
      {ShellQuote(dir.File("empty.mp4")), "empty.mp4: empty file"},
      {ShellQuote(dir.File("noise.mp4")), "Invalid data found when processing input"},
      {ShellQuote(dir.File("truncated.mp4")), "truncated.mp4: cannot open the container"},
      {"--key lockpipesample16 " + ShellQuote(dir.File("cut.enc")), "cut.enc"},
      {"--key wrongwrongwrong1 " + ShellQuote(Sample("astronaut.enc")), "astronaut.enc"},
      {ShellQuote(dir.File("missing.mp4")), "missing.mp4"},
  };
  for (const Case& c : cases) {
    for (const std::string cmd : {"thumbnail", "probe"}) {
      const std::string out = cmd == "thumbnail" ? " -o " + ShellQuote(dir.File("out.jpg")) : "";
      auto r = Lockpipe(cmd + " " + c.args + out);
      EXPECT_EQ(r.exit_code, 1) << cmd << " " << c.args << "\n" << r.err;
      EXPECT_NE(r.err.find(c.expect), std::string::npos) << cmd << " " << c.args << "\n" << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_EQ(r.err.find("wrongwrongwrong1"), std::string::npos);
    }
  }
  EXPECT_EQ(ListDir(dir.path()),
            (std::vector<std::string>{"cut.enc", "empty.mp4", "noise.mp4", "truncated.mp4"}));
}

bool StartsWith(const std::vector<std::uint8_t>& bytes, const std::string& magic) {
  return bytes.size() >= magic.size() &&
         std::equal(magic.begin(), magic.end(), bytes.begin(),
                    [](char m, std::uint8_t b) { return static_cast<std::uint8_t>(m) == b; });
}
const std::string kPngMagic = "\x89PNG\r\n\x1a\n";
const std::string kJpegMagic = "\xFF\xD8\xFF";

// camera_360p.mp4: 75 frames in 3 s, keyframes at 0, 1 and 2 s.
TEST(ThumbnailCli, MoreFramesThanTheClipHasGivesEachOnceWithANote) {
  TempDir dir;
  const std::string clip = ShellQuote(Sample("camera_360p.mp4"));
  auto r = Lockpipe("thumbnail " + clip + " -o " + ShellQuote(dir.File("k.jpg")) +
                    " --keyframes --count 10 --width 64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, dir.File("k-0.jpg") + "\t00:00.000\tkey\n" + dir.File("k-1.jpg") +
                       "\t00:01.000\tkey\n" + dir.File("k-2.jpg") + "\t00:02.000\tkey\n");
  EXPECT_EQ(r.err,
            "lockpipe thumbnail: note: asked for 10 frames; got 3 distinct keyframes (several "
            "times fell on the same one)\n");

  r = Lockpipe("thumbnail " + clip + " -o " + ShellQuote(dir.File("sheet.jpg")) +
               " --count 150 --contact-sheet --width 64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err,
            "lockpipe thumbnail: note: asked for 150 frames; got 75 distinct frames (several "
            "times fell on the same one)\n");
  cv::Mat sheet = cv::imread(dir.File("sheet.jpg"));
  // 75 cells of 64x36 in 9 columns and 9 rows.
  EXPECT_EQ(sheet.size(), cv::Size(9 * (64 + 4) + 4, 9 * (36 + 22 + 4) + 4));

  // Exactly as many as the clip has: no note.
  r = Lockpipe("thumbnail " + clip + " -o " + ShellQuote(dir.File("three.jpg")) +
               " --keyframes --count 3 --contact-sheet --width 64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(ListDir(dir.path()),
            (std::vector<std::string>{"k-0.jpg", "k-1.jpg", "k-2.jpg", "sheet.jpg", "three.jpg"}));
}

TEST(ThumbnailCli, TheOutputExtensionChoosesPngOrJpeg) {
  TempDir dir;
  const std::string clip = ShellQuote(Sample("camera_360p.mp4")) + " --width 64";
  auto r = Lockpipe("thumbnail " + clip + " -o " + ShellQuote(dir.File("one.png")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(StartsWith(ReadFile(dir.File("one.png")), kPngMagic));
  EXPECT_EQ(cv::imread(dir.File("one.png")).size(), cv::Size(64, 36));
  r = Lockpipe("thumbnail " + clip + " -o " + ShellQuote(dir.File("k.PNG")) + " --keyframes");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string name : {"k-0.PNG", "k-1.PNG", "k-2.PNG"}) {
    EXPECT_TRUE(StartsWith(ReadFile(dir.File(name)), kPngMagic)) << name;
  }
  r = Lockpipe("thumbnail " + clip + " -o " + ShellQuote(dir.File("sheet.png")) +
               " --keyframes --contact-sheet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(StartsWith(ReadFile(dir.File("sheet.png")), kPngMagic));

  // JPEG for its own extensions, for none, and on stdout.
  for (const std::string name : {"one.jpeg", "one.JPG", "plain"}) {
    r = Lockpipe("thumbnail " + clip + " -o " + ShellQuote(dir.File(name)));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(StartsWith(ReadFile(dir.File(name)), kJpegMagic)) << name;
  }
  r = Lockpipe("thumbnail " + clip + " -o -");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(StartsWith(std::vector<std::uint8_t>(r.out.begin(), r.out.end()), kJpegMagic));

  // Another image format's extension is a usage error naming the option, and
  // nothing is decoded or written.
  for (const std::string name : {"one.gif", "one.BMP"}) {
    r = Lockpipe("thumbnail " + clip + " -o " + ShellQuote(dir.File(name)));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("lockpipe thumbnail: -o/--output: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(".jpg, .jpeg (JPEG) or .png (PNG)"), std::string::npos) << r.err;
  }
  EXPECT_EQ(ListDir(dir.path()),
            (std::vector<std::string>{"k-0.PNG", "k-1.PNG", "k-2.PNG", "one.JPG", "one.jpeg",
                                      "one.png", "plain", "sheet.png"}));
}

TEST(DetectCli, ClipFramesAreNeverRepeated) {
  const std::string clip = ShellQuote(Sample("camera_360p.mp4"));
  for (const std::string sampling : {"--every 0.02", "--count 150"}) {
    auto r = Lockpipe("detect " + clip + " " + sampling + " --max-side 64 --json");
    ASSERT_EQ(r.exit_code, 0) << sampling << "\n" << r.err;
    EXPECT_EQ(r.err,
              "lockpipe detect: note: asked for 150 frames; got 75 distinct frames (several times "
              "fell on the same one)\n")
        << sampling;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["frames"].size(), 75u) << sampling;
    for (std::size_t i = 0; i < 75; ++i) {
      EXPECT_NEAR(j["frames"][i]["seconds"].get<double>(), static_cast<double>(i) / 25.0, 1e-9)
          << sampling << " " << i;
    }
  }
}

TEST(DetectCli, DrawWritesPngOrJpegByTheExtension) {
  TempDir dir;
  const std::string photo = ShellQuote(Sample("astronaut.jpg"));
  auto r = Lockpipe("detect " + photo + " --draw " + ShellQuote(dir.File("a.PNG")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(StartsWith(ReadFile(dir.File("a.PNG")), kPngMagic));
  r = Lockpipe("detect " + photo + " --draw " + ShellQuote(dir.File("a.jpeg")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(StartsWith(ReadFile(dir.File("a.jpeg")), kJpegMagic));
  r = Lockpipe("detect " + photo + " --draw " + ShellQuote(dir.File("a.bmp")));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("lockpipe detect: --draw: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot write .bmp images"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(ListDir(dir.path()), (std::vector<std::string>{"a.PNG", "a.jpeg"}));
}

TEST(DetectCli, AStdoutThatCannotBeWrittenIsAnError) {
  for (const std::string format : {"", " --json"}) {
    auto r = Lockpipe("detect " + ShellQuote(Sample("astronaut.jpg")) + format + " >/dev/full");
    EXPECT_EQ(r.exit_code, 1) << format << "\n" << r.err;
    EXPECT_EQ(r.err, "lockpipe detect: cannot write to standard output: No space left on device\n")
        << format;
  }
}

TEST(DetectCli, EveryMustBeAFiniteNumberOfSeconds) {
  const std::string clip = ShellQuote(Sample("camera_360p.mp4"));
  for (const std::string every : {"inf", "-inf", "nan", "0", "-1"}) {
    auto r = Lockpipe("detect " + clip + " --every=" + every);
    EXPECT_EQ(r.exit_code, 2) << every << "\n" << r.err;
    EXPECT_EQ(r.err,
              "lockpipe detect: --every must be a finite number of seconds, more than 0\n"
              "Try 'lockpipe detect --help'.\n")
        << every;
    EXPECT_EQ(r.out, "") << every;
  }
}

TEST(ThumbnailCli, UsageErrors) {
  const std::string in = ShellQuote(Sample("astronaut.jpg"));
  EXPECT_EQ(Lockpipe("thumbnail " + in).exit_code, 2);  // no -o
  EXPECT_EQ(Lockpipe("thumbnail " + in + " -o x.jpg --at 1 --count 2").exit_code, 2);
  EXPECT_EQ(Lockpipe("thumbnail " + in + " -o x.jpg --quality 0").exit_code, 2);
  EXPECT_EQ(Lockpipe("thumbnail " + in + " -o x.jpg --count 0").exit_code, 2);
  // Times that are not finite are a bad command line (2), named by their
  // option, not a bad file (1); the clip is never opened.
  const std::string clip = ShellQuote(Sample("camera_360p.mp4"));
  for (const std::string at : {"inf", "-inf", "nan", "-1"}) {
    TempDir dir;
    auto r = Lockpipe("thumbnail " + clip + " -o " + ShellQuote(dir.File("x.jpg")) + " --at=" + at);
    EXPECT_EQ(r.exit_code, 2) << at << "\n" << r.err;
    EXPECT_EQ(r.err,
              "lockpipe thumbnail: --at must be a finite number of seconds, 0 or more\n"
              "Try 'lockpipe thumbnail --help'.\n")
        << at;
    EXPECT_TRUE(ListDir(dir.path()).empty()) << at;
  }
  auto help = Lockpipe("thumbnail --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Examples:"), std::string::npos);
}

}  // namespace
}  // namespace lockpipe
