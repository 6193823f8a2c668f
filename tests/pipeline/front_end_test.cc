// The two programs: `lockpipe`, the front end users type, and lockpipe-media,
// which it runs for the commands that decode or look at media.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "emulator/server.h"
#include "pipeline/journal.h"
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

// A result that never reached its reader is not a success: a command that
// prints one fails, naming the error, when standard output cannot be written
// (/dev/full answers every write with ENOSPC).
const char kNoSpace[] = ": cannot write to standard output: No space left on device\n";

TEST(FrontEnd, ProbeFailsWhenStandardOutputCannotBeWritten) {
  // probe runs in lockpipe-media, behind the front end.
  const std::string probe =
      Lockpipe("probe --json " + ShellQuote(testing::SourceDir() + "/samples/media/noface.jpg"));
  auto r = RunShell(probe + " >/dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunShell(probe + " >/dev/full");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, std::string("lockpipe probe") + kNoSpace);
}

TEST(FrontEnd, HelpAndVersionFailWhenStandardOutputCannotBeWritten) {
  // --version is the front end's own; --help runs in lockpipe-media.
  for (const char* args : {"--help", "--version", "help"}) {
    auto r = RunShell(Lockpipe(args) + " >/dev/null");
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.err;
    r = RunShell(Lockpipe(args) + " >/dev/full");
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_EQ(r.err, std::string("lockpipe") + kNoSpace) << args;
  }
  // No command at all is a usage error, whatever became of the help.
  auto r = RunShell(Lockpipe("") + " >/dev/full");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, std::string("lockpipe") + kNoSpace);
}

TEST(FrontEnd, JournalFailsWhenStandardOutputCannotBeWritten) {
  testing::TempDir dir;
  const std::string db = dir.File("j.db");
  {
    auto journal = Journal::Open(db);
    ASSERT_OK_R(journal);
    EventRecord e;
    e.capture_key = "door/unlock/a.jpg";
    e.device_id = "door";
    e.kind = "unlock";
    e.source = "poll";
    auto id = (*journal)->BeginEvent(e);
    ASSERT_OK_R(id);
  }
  for (const char* args : {"list", "list --json", "show 1", "show 1 --json"}) {
    const std::string journal =
        Lockpipe("journal --db " + ShellQuote(db) + " " + std::string(args));
    auto r = RunShell(journal + " >/dev/null");
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.err;
    r = RunShell(journal + " >/dev/full");
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_EQ(r.err, std::string("lockpipe journal") + kNoSpace) << args;
  }
}

TEST(FrontEnd, JournalShowsControlCharactersAsEscapes) {
  // A device id that came from outside (a webhook, a list) must not be able
  // to clear or recolour the screen of whoever reads the journal.
  testing::TempDir dir;
  const std::string db = dir.File("j.db");
  {
    auto journal = Journal::Open(db);
    ASSERT_OK_R(journal);
    EventRecord e;
    e.capture_key = "k";
    e.device_id = "door\x1b[2J\x07";
    e.kind = "unlock";
    e.source = "webhook";
    ASSERT_OK_R((*journal)->BeginEvent(e));
  }
  for (const char* args : {"list", "show 1"}) {
    auto r = RunShell(Lockpipe("journal --db " + ShellQuote(db) + " " + args));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << args;
    EXPECT_NE(r.out.find("door\\x1B[2J\\x07"), std::string::npos) << args << ": " << r.out;
  }
  // JSON keeps the value, escaped the JSON way.
  auto r = RunShell(Lockpipe("journal --db " + ShellQuote(db) + " list --json"));
  EXPECT_NE(r.out.find("door\\u001b[2J\\u0007"), std::string::npos) << r.out;
}

TEST(FrontEnd, AJournalCanBeReadFromAFolderTheReaderCannotWrite) {
  // An auditor with read access only: SQLite would have to create the -shm
  // file to read a WAL journal, and the folder refuses it.
  testing::TempDir dir;
  const std::string folder = dir.File("journals");
  ASSERT_EQ(::mkdir(folder.c_str(), 0755), 0);
  const std::string db = folder + "/j.db";
  {
    auto journal = Journal::Open(db);
    ASSERT_OK_R(journal);
    EventRecord e;
    e.capture_key = "k";
    e.device_id = "back-door";
    e.kind = "unlock";
    e.source = "poll";
    ASSERT_OK_R((*journal)->BeginEvent(e));
  }  // the last connection closed: SQLite removed the -wal and -shm files
  ASSERT_FALSE(testing::FileExists(db + "-shm"));
  std::string reader;
  if (::geteuid() == 0) {
    // Root writes anywhere: read as nobody instead.
    ::chmod(dir.path().c_str(), 0755);
    ::chmod(db.c_str(), 0644);
    reader = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
    if (RunShell(reader + "test -x " + ShellQuote(testing::LockpipeBinary())).exit_code != 0)
      GTEST_SKIP() << "user nobody cannot run " << testing::LockpipeBinary();
  } else {
    ::chmod(folder.c_str(), 0555);
  }
  auto r = RunShell(reader + Lockpipe("journal --db " + ShellQuote(db) + " list"));
  ::chmod(folder.c_str(), 0755);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("back-door"), std::string::npos) << r.out;
  EXPECT_FALSE(testing::FileExists(db + "-shm"));
}

TEST(FrontEnd, ApiFailsWhenStandardOutputCannotBeWritten) {
  testing::TempDir dir;
  const char kClientId[] = "front-end-client";
  const char kSecret[] = "front-end-secret-0123456789abcde";  // 32 characters
  testing::WriteFile(dir.File("fixture.json"),
                     nlohmann::json{{"client_id", kClientId},
                                    {"access_secret", kSecret},
                                    {"devices", {{{"id", "zb"}, {"type", "zigbee"}}}}}
                         .dump());
  emulator::ServerOptions o;
  o.fixture_path = dir.File("fixture.json");
  auto server = emulator::Server::Start(o);
  ASSERT_OK_R(server);
  const std::string api =
      std::string("TUYA_CLIENT_ID=") + kClientId + " TUYA_CLIENT_SECRET=" + kSecret + " " +
      Lockpipe("api ticket --device zb --endpoint " + ShellQuote((*server)->base_url()));
  auto r = RunShell(api + " >/dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunShell(api + " >/dev/full");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, std::string("lockpipe api") + kNoSpace);
  // A closed standard output is no better.
  r = RunShell(api + " >&-");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "lockpipe api: cannot write to standard output: Bad file descriptor\n");
}

}  // namespace
}  // namespace lockpipe
