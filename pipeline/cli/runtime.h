// What `lockpipe run` and `lockpipe batch` share: loading the config, opening
// the journal, making one lock API client per thread, printing reports, and
// the one shutdown path for Ctrl-C.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "fetch/credentials.h"
#include "pipeline/cli/command.h"
#include "pipeline/config.h"
#include "pipeline/journal.h"
#include "pipeline/pipeline.h"

namespace lockpipe::cli {

struct Runtime {
  Config config;
  std::unique_ptr<Journal> journal;
  std::shared_ptr<TokenManager> tokens;  // null when no cloud is needed
  CurlOptions curl;
  PipelineDeps deps;
};

// --config, --journal, --endpoint, --region, --credentials, --ca-file, --insecure,
// --verbose: what any command that talks to the locks needs.
void AddCloudOptions(po::options_description& options);
// AddCloudOptions plus the pipeline's: --no-journal, --dry-run, --threads,
// --fetch-threads, --json. A command that sends lock calls refuses
// --no-journal unless it is a dry run: the journal records every call before
// it is sent and is what keeps a rerun from sending it again.
void AddRuntimeOptions(po::options_description& options);
// The rules file of --config, with --dry-run applied: what a command reads
// before it decides whether its command line can run (a dry run may keep no
// journal).
Result<Config> LoadRuntimeConfig(const po::variables_map& vm);
// `need_cloud` false lets a batch of local files run without credentials.
// The second form takes a config LoadRuntimeConfig returned.
Result<std::unique_ptr<Runtime>> MakeRuntime(const po::variables_map& vm, bool need_cloud);
Result<std::unique_ptr<Runtime>> MakeRuntime(const po::variables_map& vm, Config config,
                                             bool need_cloud);
PipelineOptions PipelineOptionsFrom(const po::variables_map& vm);

// At a pipeline's start, before it sends anything, what a stop left behind:
// every intent without an outcome is a call whose result was lost (logged and
// marked "unknown", never resent), and every capture journaled but never
// decided is named (nothing was sent for it; it is not decided again). Only
// work older than a minute: younger may be another process's, in flight.
// Only run and batch do this - `lockpipe decide` beside a running pipeline
// must not take its calls in flight for lost ones.
void ReportInterruptedWork(Journal& journal);

// One line a person reads, for a finished capture.
std::string DescribeReport(const EventReport& r);

// Blocks SIGINT and SIGTERM in every thread started after it and runs
// `on_signal` on a watcher thread at the first one; a second one exits at
// once (status 128 + its number). Call before starting any other thread.
// A command stopped by one returns exit_code(): 130 for SIGINT (Ctrl-C), 143
// for SIGTERM, what shells and service managers expect of a stopped program.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void()> on_signal);
  ~SignalWatcher();
  bool fired() const { return signal_ != 0; }
  // The first signal received (SIGINT or SIGTERM), 0 while none has been.
  int signal_number() const { return signal_; }
  // kExitInterrupted after SIGINT, kExitTerminated after SIGTERM, kExitOk
  // while none has fired.
  int exit_code() const;

 private:
  std::atomic<int> signal_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace lockpipe::cli
