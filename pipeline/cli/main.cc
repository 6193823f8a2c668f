// lockpipe: the command-line program. Dispatches to the registered subcommands.
#include <curl/curl.h>

#include <algorithm>
#include <cstring>
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    PrintHelp();
    return argc < 2 ? lockpipe::cli::kExitUsage : lockpipe::cli::kExitOk;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::cout << "lockpipe 0.1.0\n";
    return 0;
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
      rc = c.run(argc - 1, argv + 1);
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
