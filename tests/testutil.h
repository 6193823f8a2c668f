// Helpers shared by the test binaries.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const auto& _s = (expr);                                \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    const auto& _s = (expr);                                \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
// For Result<T>: ASSERT_OK_R(r) checks r.ok() and prints its status.
#define ASSERT_OK_R(r) ASSERT_TRUE((r).ok()) << #r << ": " << (r).status().ToString()

namespace lockpipe::testing {

// The repository root (samples/ lives there).
std::string SourceDir();
// The built `lockpipe` program.
std::string LockpipeBinary();
// ../shared beside the repository, if it exists (an extra oracle; optional).
std::optional<std::string> SharedDir();

// A fresh empty folder, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Random bytes from a seeded generator (reproducible).
std::vector<std::uint8_t> RandomBytes(std::size_t n, std::uint32_t seed);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs a shell command line (through /bin/sh) and captures its output.
CommandResult RunShell(const std::string& command_line);
// Quotes one argument for /bin/sh.
std::string ShellQuote(const std::string& arg);

bool FileExists(const std::string& path);
void WriteFile(const std::string& path, const std::vector<std::uint8_t>& bytes);
void WriteFile(const std::string& path, const std::string& text);
std::vector<std::uint8_t> ReadFile(const std::string& path);
// Names of the entries of a folder (not . and ..), sorted.
std::vector<std::string> ListDir(const std::string& path);
// Whether a program is on PATH.
bool HaveProgram(const std::string& name);

}  // namespace lockpipe::testing
