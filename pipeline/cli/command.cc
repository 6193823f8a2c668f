#include "pipeline/cli/command.h"

#include <cstdlib>
#include <iostream>

#include "decoders/media_container.h"

namespace lockpipe::cli {
namespace {
std::vector<Command>& Registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace

bool RegisterCommand(const Command& command) {
  Registry().push_back(command);
  return true;
}

const std::vector<Command>& Commands() { return Registry(); }

int Fail(const std::string& command, const Status& status) {
  std::cerr << "lockpipe " << command << ": " << status.ToString() << "\n";
  return kExitFailure;
}

int UsageError(const std::string& command, const std::string& message) {
  std::cerr << "lockpipe " << command << ": " << message << "\n"
            << "Try 'lockpipe " << command << " --help'.\n";
  return kExitUsage;
}

std::function<void(int)> IntIn(const std::string& option, int lo, int hi) {
  return [option, lo, hi](int v) {
    if (v < lo || v > hi)
      throw po::error(option + " must be " + std::to_string(lo) + ".." + std::to_string(hi) +
                      ", not " + std::to_string(v));
  };
}

bool ParseCommandLine(int argc, char** argv, const std::string& command, const std::string& usage,
                      const po::options_description& options,
                      const po::positional_options_description& positional,
                      const std::string& details, po::variables_map* vm, int* exit_code) {
  po::options_description all(options);
  all.add_options()("help,h", "show this help and exit");
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), *vm);
    if (vm->count("help")) {
      std::cout << "Usage: " << usage << "\n\n" << all << "\n";
      if (!details.empty()) std::cout << details << "\n";
      *exit_code = kExitOk;
      return false;
    }
    po::notify(*vm);
  } catch (const po::error& e) {
    *exit_code = UsageError(command, e.what());
    return false;
  }
  return true;
}

void AddKeyOptions(po::options_description& options, const std::string& what) {
  options.add_options()(
      "key", po::value<std::string>(),
      (what + " as a literal value (visible in shell history; prefer --key-file or --key-env)")
          .c_str())("key-file", po::value<std::string>(),
                    (what + " read from the first line of a file").c_str())(
      "key-env", po::value<std::string>(),
      (what + " read from the named environment variable").c_str());
}

bool HasKey(const po::variables_map& vm) {
  return vm.count("key") || vm.count("key-file") || vm.count("key-env");
}

Result<Secret> KeyFromOptions(const po::variables_map& vm, const std::string& what) {
  SecretSource src;
  if (vm.count("key")) src.literal = vm["key"].as<std::string>();
  if (vm.count("key-file")) src.file = vm["key-file"].as<std::string>();
  if (vm.count("key-env")) src.env = vm["key-env"].as<std::string>();
  return LoadSecret(src, what);
}

Result<std::optional<Secret>> OptionalMediaKey(const po::variables_map& vm) {
  if (!HasKey(vm)) return std::optional<Secret>();
  ASSIGN_OR_RETURN(Secret key, KeyFromOptions(vm, "file key"));
  RETURN_IF_ERROR(media::ValidateKey(key).WithContext("file key"));
  return std::optional<Secret>(std::move(key));
}

std::string JournalPath(const po::variables_map& vm, const char* option) {
  if (vm.count(option)) return vm[option].as<std::string>();
  if (const char* env = std::getenv("LOCKPIPE_JOURNAL"); env != nullptr && *env != '\0') return env;
  return "lockpipe-journal.db";
}

}  // namespace lockpipe::cli
