// AtomicFile: whole or nothing, and never replacing what is not a file.
#include "base/file_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/testutil.h"

namespace lockpipe {
namespace {

using testing::TempDir;

std::string Text(const std::string& path) {
  auto bytes = testing::ReadFile(path);
  return std::string(bytes.begin(), bytes.end());
}

TEST(AtomicFile, WholeOrNothing) {
  TempDir dir;
  const std::string path = dir.File("out.txt");
  {
    auto f = AtomicFile::Create(path);
    ASSERT_OK_R(f);
    ASSERT_OK(f->Write("half"));
    EXPECT_FALSE(testing::FileExists(path));  // nothing under the name until Commit
  }                                           // abandoned: no output, no temporary file left
  EXPECT_FALSE(testing::FileExists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  ASSERT_OK(WriteFileAtomically(path, "whole"));
  EXPECT_EQ(Text(path), "whole");
  ASSERT_OK(WriteFileAtomically(path, "again"));
  EXPECT_EQ(Text(path), "again");
}

TEST(AtomicFile, APipeIsWrittenInPlaceNeverReplaced) {
  // `-o /dev/null` once turned /dev/null into a regular file (for root). Not
  // tried on /dev/null itself: a regression would break the machine; a FIFO
  // takes the same path (any existing file that is not a regular file).
  struct stat st {};
  TempDir dir;
  const std::string fifo = dir.File("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  ASSERT_OK(WriteFileAtomically(fifo, "through"));
  char buf[16] = {};
  EXPECT_EQ(::read(reader, buf, sizeof buf), 7);
  EXPECT_EQ(std::string(buf, 7), "through");
  ::close(reader);
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(AtomicFile, ASymlinkKeepsPointingAtTheNewFile) {
  TempDir dir;
  const std::string real = dir.File("real.txt");
  const std::string link = dir.File("link.txt");
  testing::WriteFile(real, "old");
  std::filesystem::create_symlink(real, link);
  ASSERT_OK(WriteFileAtomically(link, "new"));
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(Text(real), "new");
  EXPECT_EQ(Text(link), "new");
}

TEST(AtomicFile, AFolderIsRefusedAndALongNameStillWorks) {
  TempDir dir;
  auto f = AtomicFile::Create(dir.path());
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("is a folder"), std::string::npos) << f.status().message();
  // A 250-character name: its temporary sibling must fit in 255 too.
  const std::string path = dir.File(std::string(246, 'x') + ".jpg");
  ASSERT_OK(WriteFileAtomically(path, "long"));
  EXPECT_EQ(Text(path), "long");
}

}  // namespace
}  // namespace lockpipe
