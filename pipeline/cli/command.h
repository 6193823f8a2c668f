// The subcommand registry of the `lockpipe` program.
//
// Each subcommand lives in its own pipeline/cli/cmd_<name>.cc and registers
// itself with LOCKPIPE_COMMAND; main.cc dispatches on the first argument.
// A subcommand's Run gets argv with argv[0] = "lockpipe <name>" and returns the
// process exit code (see ExitCode).
#pragma once

#include <boost/program_options.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <streambuf>
#include <string>
#include <vector>

#include "base/secret.h"
#include "base/status.h"

namespace lockpipe::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,        // the work failed (bad input, server error, ...)
  kExitUsage = 2,          // the command line is wrong
  kExitInterrupted = 130,  // SIGINT (Ctrl-C): 128 + 2, as shells report it
  kExitTerminated = 143,   // SIGTERM (kill, a service manager's stop): 128 + 15
};

struct Command {
  const char* name;
  const char* summary;  // one line, shown by `lockpipe --help`
  int (*run)(int argc, char** argv);
};

bool RegisterCommand(const Command& command);
const std::vector<Command>& Commands();

#define LOCKPIPE_COMMAND(name, summary, fn)                   \
  static const bool LOCKPIPE_CONCAT(kRegistered_, __LINE__) = \
      ::lockpipe::cli::RegisterCommand({name, summary, fn})

// Prints "lockpipe <cmd>: <message>" on stderr and returns kExitFailure.
int Fail(const std::string& command, const Status& status);
int UsageError(const std::string& command, const std::string& message);

// While it lives, std::cout writes through it and the first write that fails
// is remembered with its errno, from whichever thread wrote, for FlushStdout
// to name. main() holds one around the command. Not copyable or movable.
class StdoutWatch {
 public:
  StdoutWatch();
  ~StdoutWatch();  // flushes std::cout and gives it back its own buffer
  StdoutWatch(const StdoutWatch&) = delete;
  StdoutWatch& operator=(const StdoutWatch&) = delete;

  class Buf;

 private:
  std::unique_ptr<Buf> buf_;
  std::streambuf* previous_;
};

// Flushes std::cout and stdout and says whether everything written to them
// reached standard output: IoError "cannot write to standard output: <why>"
// if a write failed (a full disk, /dev/full, a closed descriptor), now or
// earlier. <why> is the errno text when known (always under a StdoutWatch).
Status FlushStdout();
// The exit code of a command whose result went to standard output: `rc`, or,
// when FlushStdout fails, the failure printed as Fail does and kExitFailure
// (a non-zero `rc` is kept: it says more). main() calls it after every
// command, so a result that never reached its reader is never a success.
int FinishStdout(const std::string& command, int rc);

// A program_options notifier that refuses a value outside [lo, hi] with a
// usage error naming the option: po::value<int>()->notifier(IntIn("--threads", 0, 64)).
std::function<void(int)> IntIn(const std::string& option, int lo, int hi);

namespace po = boost::program_options;

// Parses argv against `options` (and positional names); on --help prints
// `usage`, the options and `details`, and returns kExitOk through *exit_code.
// Returns false when the caller should return *exit_code right away.
bool ParseCommandLine(int argc, char** argv, const std::string& command, const std::string& usage,
                      const po::options_description& options,
                      const po::positional_options_description& positional,
                      const std::string& details, po::variables_map* vm, int* exit_code);

// --key / --key-file / --key-env, the three ways to give a secret without
// putting it in shell history. `what` is e.g. "media key".
void AddKeyOptions(po::options_description& options, const std::string& what);
bool HasKey(const po::variables_map& vm);
Result<Secret> KeyFromOptions(const po::variables_map& vm, const std::string& what);
// The media file_key if one of the key options was given (checked for a length
// AES takes), nullopt when none was: the media is then read as plaintext.
Result<std::optional<Secret>> OptionalMediaKey(const po::variables_map& vm);

// The journal file: the value of `option` when given, else $LOCKPIPE_JOURNAL,
// else lockpipe-journal.db in the current folder.
std::string JournalPath(const po::variables_map& vm, const char* option);

}  // namespace lockpipe::cli
