// lockpipe batch: process a list of captures (remote or local), report, exit.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "base/file_util.h"
#include "base/json_text.h"
#include "base/log.h"
#include "pipeline/cli/runtime.h"
#include "pipeline/batch_list.h"

namespace lockpipe::cli {
namespace {

// A one-line progress bar on a terminal; nothing otherwise.
class Progress {
 public:
  Progress(bool enabled, std::int64_t total) : enabled_(enabled), total_(total) {}
  void Update(std::int64_t done, bool final_update = false) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (!final_update && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
    const int width = 30;
    int fill = total_ > 0 ? static_cast<int>(width * done / total_) : 0;
    std::string bar(static_cast<std::size_t>(fill), '=');
    bar.resize(width, ' ');
    double eta = rate > 0 && total_ > done ? static_cast<double>(total_ - done) / rate : 0;
    std::fprintf(stderr, "\r  %lld/%lld [%s] %.1f/s  ETA %d:%02d ", static_cast<long long>(done),
                 static_cast<long long>(total_), bar.c_str(), rate, static_cast<int>(eta) / 60,
                 static_cast<int>(eta) % 60);
    if (final_update) std::fprintf(stderr, "\n");
  }

 private:
  bool enabled_;
  std::int64_t total_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

int RunBatch(int argc, char** argv) {
  const std::string cmd = "batch";
  po::options_description opts("Options");
  AddRuntimeOptions(opts);
  opts.add_options()("input,i", po::value<std::string>()->required(),
                     "the list of captures (JSON lines; '-' = stdin)")(
      "report,o", po::value<std::string>(),
      "JSON-lines report, one line per capture and a summary line")(
      "act",
      "send the decisions to the locks (default: decide and journal only; needs the journal)")(
      "no-outputs", "write no thumbnails, contact sheets or records");
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, cmd, "lockpipe batch --config rules.toml LIST.jsonl [-o report.jsonl]", opts,
          pos,
          "Processes every capture in a list — decrypt, decode, thumbnails, faces, rules —\n"
          "writes the outputs (under the config's outputs.dir) and a report, and exits.\n"
          "Decisions are journaled; nothing is sent to a lock unless --act is given (and\n"
          "then a stale capture is still never approved: one whose \"captured_at\" is\n"
          "more than [safety] max_capture_age_seconds ago, or that has none). --act needs\n"
          "the journal (it records every lock call before it is sent, and a rerun skips\n"
          "what it decided): --act with --no-journal is refused, unless a dry run.\n\n"
          "Each line of the list is a JSON object:\n"
          "  {\"url\": \"https://...\", \"file_key\": \"...\", \"device\": \"front-door\", "
          "\"kind\": \"unlock\", \"id\": \"a1\", \"captured_at\": 1764150000000}\n"
          "  {\"path\": \"captures/0001.enc\", \"key_env\": \"FILE_KEY\", \"device\": "
          "\"front-door\", \"kind\": \"alert\"}\n"
          "A \"path\" with no key is read as plaintext media; relative paths are taken\n"
          "from the list's folder; \"captured_at\" is the capture time, an integer of ms\n"
          "since the epoch (optional; without it, rules can refuse or escalate but never\n"
          "approve); \"kind\" is \"unlock\" when left out; \"id\" is a string or an integer,\n"
          "a label for the report. With a \"url\", \"file_path\" may give the cloud's\n"
          "file_path for it (as `lockpipe api media` prints it); without it, the URL's\n"
          "path stands for it.\n"
          "A capture is its device, its kind and its object (the file_path, the URL's\n"
          "path without host or signature, or the local file), whatever its \"id\": a\n"
          "capture that a poll, a webhook or an earlier line already decided is\n"
          "reported as already seen and decided nothing again (the journal keeps it\n"
          "across runs).\n"
          "Only a key left out takes its default: a key given with the wrong type or an\n"
          "unusable value (\"kind\": 2, an empty string, a NUL or control character in a\n"
          "string) makes the line invalid. Blank lines and lines whose first non-blank\n"
          "character is '#' are skipped.\n"
          "A line that is not a capture (not JSON, no \"device\", no \"url\" or \"path\",\n"
          "a key of the wrong type) is a failed item: it is logged, reported with its\n"
          "\"line\" and \"error\", and counted in the summary's \"invalid_lines\"; the\n"
          "rest of the list still runs.\n"
          "A list that cannot be read (an I/O error) stops the batch.\n"
          "With --act, the summary counts the lock calls: \"lock_calls_ok\",\n"
          "\"lock_calls_failed\" (the answer proves the lock did nothing) and\n"
          "\"lock_calls_unknown\" (the answer was lost or garbled: the lock may have\n"
          "acted; `lockpipe journal unknown` lists them, and they are never resent).\n"
          "Exit status: 0 when every capture was analysed,\n"
          "1 when any failed or a line was invalid (they are in the report),\n"
          "2 for a bad command line (--act with --no-journal among them),\n"
          "130 when interrupted (Ctrl-C), 143 when terminated (SIGTERM).",
          &vm, &rc))
    return rc;
  // Every lock call is journaled before it is sent, and the journal is what
  // keeps a rerun of the list from sending it again.
  const bool act = vm.count("act") > 0;
  auto config = LoadRuntimeConfig(vm);
  if (!config.ok()) return Fail(cmd, config.status());
  if (act && vm.count("no-journal") && !config->safety.dry_run)
    return UsageError(cmd,
                      "--act with --no-journal would send lock calls that are journaled "
                      "nowhere, and send them again on every rerun of the list (the journal "
                      "records each call before it is sent and skips the captures it has "
                      "decided): keep the journal, or leave out --act");
  const std::string list = vm["input"].as<std::string>();
  const std::string list_name = list == "-" ? "stdin" : list;
  std::ifstream file;
  std::istream* in = &std::cin;
  if (list != "-") {
    if (std::error_code ec; std::filesystem::is_directory(list, ec))
      return Fail(cmd, InvalidArgument(list + ": is a folder; name a JSON-lines list of captures"));
    file.open(list);
    if (!file) return Fail(cmd, IoError(list + ": cannot open: " + ErrnoText(errno)));
    in = &file;
  }
  // Count the lines first for the progress bar (cheap next to the work).
  std::int64_t total = 0;
  if (list != "-") {
    std::ifstream count(list);
    std::string l;
    while (std::getline(count, l))
      if (!IsBlankOrCommentListLine(l)) ++total;
  }

  // Watching for Ctrl-C and SIGTERM from here on, before any other thread:
  // a stop while the journal opens or the detectors load takes the same path.
  std::atomic<Pipeline*> running{nullptr};
  SignalWatcher signals([&] {
    if (Pipeline* p = running.load()) p->Abort();
  });
  auto rt = MakeRuntime(vm, std::move(config).value(), /*need_cloud=*/act);
  if (!rt.ok()) return Fail(cmd, rt.status());
  Runtime& r = **rt;
  if (r.journal) ReportInterruptedWork(*r.journal);
  PipelineOptions popts = PipelineOptionsFrom(vm);
  popts.act = act;
  popts.write_outputs = !vm.count("no-outputs");

  std::optional<AtomicFile> report;
  if (vm.count("report")) {
    auto f = AtomicFile::Create(vm["report"].as<std::string>());
    if (!f.ok()) return Fail(cmd, f.status());
    report = std::move(f).value();
  }
  Status report_status;
  const bool as_json = vm.count("json") > 0;
  const bool tty = isatty(2) && !as_json;
  Progress progress(tty && total > 0, total);
  std::mutex mu;
  std::int64_t done = 0;
  r.deps.on_report = [&](const EventReport& e) {
    std::lock_guard<std::mutex> lock(mu);
    ++done;
    if (report && report_status.ok()) report_status = report->Write(JsonText(e.ToJson()) + "\n");
    if (as_json)
      std::cout << JsonText(e.ToJson()) << "\n";
    else if (!tty)
      std::cout << DescribeReport(e) << "\n";
    else if (!e.analysis_ok && !e.duplicate)
      std::fprintf(stderr, "\r%s\n", DescribeReport(e).c_str());
    progress.Update(done);
  };

  Pipeline pipeline(r.config, popts, r.deps);
  if (auto s = pipeline.Start(); !s.ok()) return Fail(cmd, s);
  running = &pipeline;
  if (signals.fired()) pipeline.Abort();  // stopped while starting

  const std::string dir = list == "-" ? "." : std::filesystem::path(list).parent_path().string();
  std::string line;
  int line_no = 0;
  std::int64_t invalid_lines = 0;
  while (!pipeline.aborted() && std::getline(*in, line)) {
    ++line_no;
    if (IsBlankOrCommentListLine(line)) continue;
    auto job = ParseBatchLine(line, dir.empty() ? "." : dir, line_no);
    if (!job.ok()) {
      // One bad line is that item's failure, not the batch's: the rest runs.
      // The item names no device or capture: the line did not say them.
      const nlohmann::json item = {{"source", "batch"},    {"list", list_name},
                                   {"line", line_no},      {"invalid_line", true},
                                   {"analysis_ok", false}, {"error", job.status().message()}};
      const std::string where = list_name + ":" + std::to_string(line_no);
      std::lock_guard<std::mutex> lock(mu);
      ++invalid_lines;
      ++done;
      if (report && report_status.ok()) report_status = report->Write(JsonText(item) + "\n");
      if (as_json)
        std::cout << JsonText(item) << "\n";
      else if (!tty)
        std::cout << Printable("[INVALID] " + where + ": " + job.status().message()) << "\n";
      if (tty) std::fputc('\r', stderr);
      log::Error(where + ": " + job.status().message() + "; line skipped");
      progress.Update(done);
      continue;
    }
    if (!pipeline.Submit(std::move(job).value())) break;
  }
  // A list that cannot be read is not a finished list; what it gave is finished.
  Status input_status;
  if (in->bad() || (in == &std::cin && std::ferror(stdin)))
    input_status = IoError(list_name + ":" + std::to_string(line_no + 1) +
                           ": cannot read: " + ErrnoText(errno));
  pipeline.Finish();
  progress.Update(done, true);
  auto st = pipeline.stats();
  nlohmann::json summary = {{"summary",
                             {{"captures", st.done},
                              {"analysis_failed", st.failed},
                              {"approved", st.approved},
                              {"rejected", st.rejected},
                              {"escalated", st.escalated},
                              {"already_seen", st.duplicates},
                              {"skipped", st.skipped},
                              {"lock_calls_ok", st.actions_ok},
                              {"lock_calls_failed", st.actions_failed},
                              {"lock_calls_unknown", st.actions_unknown},
                              {"lock_calls_impossible", st.actions_impossible},
                              {"invalid_lines", invalid_lines},
                              {"outputs_failed", st.outputs_failed},
                              {"interrupted", signals.fired()}}}};
  if (!input_status.ok()) summary["summary"]["input_error"] = input_status.message();
  if (report) {
    if (report_status.ok()) report_status = report->Write(JsonText(summary) + "\n");
    if (report_status.ok()) report_status = report->Commit();
    if (!report_status.ok()) return Fail(cmd, report_status);
  }
  std::cerr << "lockpipe batch: " << st.done << " capture(s): " << st.failed << " failed analysis, "
            << st.approved << " approved, " << st.rejected << " rejected, " << st.escalated
            << " escalated, " << st.duplicates << " already seen"
            << (invalid_lines > 0 ? "; " + std::to_string(invalid_lines) + " invalid line(s)" : "")
            << (st.outputs_failed > 0 ? "; outputs of " + std::to_string(st.outputs_failed) +
                                            " capture(s) could not be written (see above)"
                                      : "")
            << (popts.act ? "; " + std::to_string(st.actions_ok) + " lock call(s) ok, " +
                                std::to_string(st.actions_failed) + " failed, " +
                                std::to_string(st.actions_unknown) + " unknown" +
                                (st.actions_unknown > 0
                                     ? " (the lock may have acted: lockpipe journal unknown)"
                                     : "")
                          : " (nothing sent: no --act)")
            << "\n";
  if (!input_status.ok()) return Fail(cmd, input_status);
  if (signals.fired()) return signals.exit_code();
  if (!pipeline.error().ok()) return Fail(cmd, pipeline.error());
  return st.failed > 0 || invalid_lines > 0 || st.outputs_failed > 0 ? kExitFailure : kExitOk;
}

}  // namespace

LOCKPIPE_COMMAND("batch",
                 "process a list of captures (decrypt, thumbnails, faces, rules), report, exit",
                 RunBatch);

}  // namespace lockpipe::cli
