// lockpipe: the command-line program. Dispatches to the registered subcommands.
//
// Built twice (see CMakeLists.txt): as lockpipe-media, with every subcommand, and
// as the front end `lockpipe` (LOCKPIPE_FRONT_END), with the commands that need
// no media library; the front end execs lockpipe-media, found beside itself,
// for everything else, --help included, so users only ever type `lockpipe`.
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include "pipeline/cli/command.h"

namespace {

void PrintHelp() {
  std::cout << "lockpipe — decide who gets in: fetch, decrypt, decode and look at smart-lock\n"
               "captures, apply the owner's rules, and answer the lock (open or refuse).\n\n"
               "Usage: lockpipe <command> [options]\n"
               "       lockpipe <command> --help   (every command explains itself)\n\n"
               "Commands:\n";
  auto commands = lockpipe::cli::Commands();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return std::strcmp(a.name, b.name) < 0; });
  for (const auto& c : commands) {
    std::string name = c.name;
    name.resize(std::max<std::size_t>(name.size() + 2, 14), ' ');
    std::cout << "  " << name << c.summary << "\n";
  }
  std::cout << "\nOptions:\n  -h, --help    show this help\n  --version     show the version\n";
}

#ifdef LOCKPIPE_FRONT_END
bool IsLocalCommand(const char* name) {
  const auto& commands = lockpipe::cli::Commands();
  return std::any_of(commands.begin(), commands.end(),
                     [&](const auto& c) { return std::strcmp(name, c.name) == 0; });
}

// Replaces this process with lockpipe-media from the same folder; returns only
// on failure, with the exit code.
int ExecMediaProgram(char** argv) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    std::cerr << "lockpipe: cannot find where this program lives (/proc/self/exe: " << ec.message()
              << ")\n";
    return lockpipe::cli::kExitFailure;
  }
  const std::string media = (self.parent_path() / "lockpipe-media").string();
  execv(media.c_str(), argv);
  const int error = errno;
  std::cerr << "lockpipe: '" << argv[1] << "' is run by " << media << ", which "
            << (error == ENOENT ? "is not installed" : std::strerror(error))
            << ". Build or install both programs (see README.md).\n";
  return lockpipe::cli::kExitFailure;
}
#endif

// The exit code of the top-level --help or --version: like FinishStdout, with
// no command to name.
int FinishTopLevel(int rc) {
  lockpipe::Status s = lockpipe::cli::FlushStdout();
  if (s.ok()) return rc;
  std::cerr << "lockpipe: " << s.ToString() << "\n";
  return rc == lockpipe::cli::kExitOk ? lockpipe::cli::kExitFailure : rc;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef LOCKPIPE_FRONT_END
  if (argc < 2 || (std::strcmp(argv[1], "--version") != 0 && !IsLocalCommand(argv[1]))) {
    return ExecMediaProgram(argv);
  }
#endif
  lockpipe::cli::StdoutWatch stdout_watch;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    PrintHelp();
    return FinishTopLevel(argc < 2 ? lockpipe::cli::kExitUsage : lockpipe::cli::kExitOk);
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::cout << "lockpipe 0.1.0\n";
    return FinishTopLevel(lockpipe::cli::kExitOk);
  }
  // Once per process, before any thread exists (curl's rule).
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    std::cerr << "lockpipe: cannot initialise libcurl\n";
    return lockpipe::cli::kExitFailure;
  }
  int rc = lockpipe::cli::kExitUsage;
  bool found = false;
  for (const auto& c : lockpipe::cli::Commands()) {
    if (std::strcmp(argv[1], c.name) == 0) {
      std::string argv0 = std::string("lockpipe ") + c.name;
      argv[1] = argv0.data();
      // Here, not in each command: every command's result counts only once it
      // has reached standard output.
      rc = lockpipe::cli::FinishStdout(c.name, c.run(argc - 1, argv + 1));
      found = true;
      break;
    }
  }
  if (!found) {
    std::cerr << "lockpipe: unknown command '" << argv[1] << "'. Try 'lockpipe --help'.\n";
  }
  curl_global_cleanup();
  return rc;
}
