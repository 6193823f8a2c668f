// The two programs: `lockpipe`, the front end users type, and lockpipe-media,
// which it runs for the commands that decode or look at media.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/testutil.h"

namespace lockpipe {
namespace {

using testing::RunShell;
using testing::ShellQuote;

std::string Lockpipe(const std::string& args) {
  return ShellQuote(testing::LockpipeBinary()) + " " + args;
}

TEST(FrontEnd, HelpListsEveryCommandOfBothPrograms) {
  auto r = RunShell(Lockpipe("--help"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* command : {"api", "batch", "decide", "decrypt", "detect", "emulator", "encrypt",
                              "journal", "probe", "run", "thumbnail"})
    EXPECT_NE(r.out.find("\n  " + std::string(command) + " "), std::string::npos) << command;
  auto bare = RunShell(Lockpipe(""));  // no command: the same list, and a usage exit
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_EQ(bare.out, r.out);
}

TEST(FrontEnd, MediaCommandsRunThroughTheFrontEnd) {
  auto r = RunShell(Lockpipe("probe --help"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Usage: lockpipe probe"), std::string::npos) << r.out;
  r = RunShell(Lockpipe("probe " + ShellQuote(testing::SourceDir() + "/samples/media/noface.jpg")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("size:      600x400"), std::string::npos) << r.out;
  r = RunShell(Lockpipe("frobnicate"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "lockpipe: unknown command 'frobnicate'. Try 'lockpipe --help'.\n");
}

// What keeps `lockpipe decrypt` fast: the front end loads no media library.
TEST(FrontEnd, FrontEndLinksNoMediaLibrary) {
  if (!testing::HaveProgram("ldd")) GTEST_SKIP() << "skipped: no ldd on PATH";
  auto r = RunShell("ldd " + ShellQuote(testing::LockpipeBinary()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("libavcodec"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("libopencv"), std::string::npos) << r.out;
}

TEST(FrontEnd, MissingMediaProgramIsExplained) {
  testing::TempDir dir;
  const std::string lone = dir.File("lockpipe");
  std::filesystem::copy_file(testing::LockpipeBinary(), lone);
  std::filesystem::permissions(lone, std::filesystem::perms::owner_all);
  auto r = RunShell(ShellQuote(lone) + " probe x.mp4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "lockpipe: 'probe' is run by " + dir.File("lockpipe-media") +
                       ", which is not installed. Build or install both programs (see "
                       "README.md).\n");
  r = RunShell(ShellQuote(lone) + " --version");  // its own commands still work
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace lockpipe
