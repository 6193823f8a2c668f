#include "pipeline/cli/command.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <streambuf>

#include "base/file_util.h"
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

// An unbuffered std::streambuf in front of std::cout's own: it forwards every
// write and keeps the errno of the first that fails, on the thread it failed
// on. Nothing else can tell later: glibc drops a buffer it could not write
// and leaves no error behind, and errno is the writing thread's.
class StdoutWatch::Buf : public std::streambuf {
 public:
  explicit Buf(std::streambuf* out) : out_(out) {}
  int first_error() const { return first_error_; }

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    errno = 0;
    const int_type r = out_->sputc(traits_type::to_char_type(c));
    if (traits_type::eq_int_type(r, traits_type::eof())) Record();
    return r;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    errno = 0;
    const std::streamsize written = out_->sputn(s, n);
    if (written < n) Record();
    return written;
  }
  int sync() override {
    errno = 0;
    const int r = out_->pubsync();
    if (r != 0) Record();
    return r;
  }

 private:
  void Record() {
    int none = 0;
    first_error_.compare_exchange_strong(none, errno != 0 ? errno : EIO);
  }
  std::streambuf* out_;
  std::atomic<int> first_error_{0};
};

StdoutWatch::StdoutWatch()
    : buf_(std::make_unique<Buf>(std::cout.rdbuf())), previous_(std::cout.rdbuf(buf_.get())) {}

StdoutWatch::~StdoutWatch() {
  std::cout.flush();
  std::cout.rdbuf(previous_);
}

Status FlushStdout() {
  const bool was_good = std::cout.good() && !std::ferror(stdout);
  errno = 0;
  std::cout.flush();
  int err = errno;
  if (std::fflush(stdout) != 0 && err == 0) err = errno;  // what printf() wrote
  const auto* watch = dynamic_cast<const StdoutWatch::Buf*>(std::cout.rdbuf());
  const int watched = watch != nullptr ? watch->first_error() : 0;
  if (watched == 0 && std::cout.good() && !std::ferror(stdout)) return Status::Ok();
  if (watched != 0)
    err = watched;
  else if (!was_good)
    err = 0;  // it failed before this flush, and errno has moved on since
  return IoError("cannot write to standard output: " +
                 (err != 0 ? ErrnoText(err) : std::string("a write failed")));
}

int FinishStdout(const std::string& command, int rc) {
  Status s = FlushStdout();
  if (s.ok()) return rc;
  Fail(command, s);
  return rc == kExitOk ? kExitFailure : rc;
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
