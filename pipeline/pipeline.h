// The pipeline: fetch → decrypt → decode → analyze → decide → act → journal.
//
//   Submit() ─► [jobs] ─► fetch workers ─► [fetched] ─► analyze workers ─► [analyzed] ─► act worker
//                         resolve the URL   (bounded)    decode, thumbnails  (bounded)    rules,
//                         lock API, journal the event               faces, outputs journal, report
//                         download+decrypt
//
// Each arrow is a BoundedQueue (backpressure: memory stays bounded whatever
// the batch size). Each worker thread owns its LockApi, HttpClient and face
// detector. A photo is streamed through the decryptor as it downloads; a
// video is read through HTTP byte ranges and the random-access decryptor, so
// the decoder fetches only what it needs.
//
// Safety: any error between the event and the decision (fetch, decrypt,
// decode, detect) is decided by the rules for failed analysis, else by the
// configured on_error verdict, never an approval; an event with no capture
// behind it ("fetch the latest" that found none) is skipped, decided never. A capture already in
// the journal is skipped (never decided twice); the Actuator never sends an action twice. A capture
// older than the safety limit when its action is about to go out is not approved.
//
// Shutdown: Finish() closes the input and waits for everything queued to be
// done (end of batch). Abort() stops taking work and drops what has not
// started; items already journaled are finished so the journal stays
// consistent. Abort() is safe to call from a signal-watching thread (it only
// closes the input queue); Finish() joins the workers and is called by the owner
// only, after which nothing may be submitted.
//
// Thread-safety: Submit, Abort, stats are thread-safe; Start/Finish are called
// by the owner.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"  // NowMs
#include "base/secret.h"
#include "base/status.h"
#include "fetch/http_client.h"
#include "fetch/lock_api.h"
#include "pipeline/actions.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/capture_job.h"
#include "pipeline/config.h"
#include "pipeline/journal.h"
#include "pipeline/rules.h"

namespace lockpipe {

// What became of one capture, for the caller to print or report.
struct EventReport {
  std::int64_t event_id = 0;  // journal id (0 without a journal or when skipped)
  std::string capture_key;
  std::string device_id;
  std::string device_name;
  std::string lock_type;
  std::string kind;
  std::string source;
  std::string label;
  bool duplicate = false;  // already journaled: skipped, nothing decided
  bool analysis_ok = false;
  std::string error;       // why analysis failed (no secrets)
  std::string media_type;  // "JPEG", "MP4", ...
  int width = 0;
  int height = 0;
  double duration_s = 0;
  int faces = 0;
  float best_score = -1;
  std::string verdict;  // approve / reject / escalate
  std::string rule;
  std::string reason;
  ActionResult action;
  std::vector<std::string> thumbnails;
  std::string contact_sheet;
  std::string record;         // the per-event JSON file
  std::string outputs_error;  // the first output that could not be written, if any
  double latency_ms = 0;      // received → acted

  nlohmann::json ToJson() const;
};

struct PipelineOptions {
  int fetch_threads = 2;
  int analyze_threads = 0;         // 0 = one per core
  std::size_t queue_capacity = 0;  // per queue; 0 = 4
  bool write_outputs = true;       // thumbnails, contact sheets, records (per config.outputs)
  bool act = true;                 // false: decide and journal, never call the lock API
  int video_thumbnails = 0;        // 0 = config.outputs.thumbnail_count
  bool keyframes_only = true;      // video thumbnails from keyframes (fast) or exact times
  // The largest photo (a URL not named like a video) downloaded: a photo is
  // held in memory whole for the image decoder, a video is read in byte ranges.
  std::uint64_t max_photo_bytes = 32ull << 20;
};

struct PipelineDeps {
  // Each worker thread makes its own (one per thread, as libcurl wants).
  std::function<Result<std::unique_ptr<LockApi>>()> make_api;
  std::function<Result<std::unique_ptr<HttpClient>>()> make_http;
  // May be null (nothing is remembered across runs) only when nothing is sent:
  // Start() refuses to act without a journal unless config dry_run is on.
  Journal* journal = nullptr;
  // Called once per capture, from the act thread, in completion order.
  std::function<void(const EventReport&)> on_report;
};

struct PipelineStats {
  std::int64_t submitted = 0;
  std::int64_t duplicates = 0;
  std::int64_t skipped = 0;  // nothing to decide: no capture behind the event, no journal
  std::int64_t failed = 0;   // analysis failed (decided by on_error)
  std::int64_t approved = 0;
  std::int64_t rejected = 0;
  std::int64_t escalated = 0;
  std::int64_t actions_ok = 0;
  std::int64_t actions_failed = 0;  // the answer proves the lock did nothing
  // Calls whose answer was lost or garbled: the lock may have acted (the
  // door may be open). Journaled "unknown", never resent.
  std::int64_t actions_unknown = 0;
  // Verdicts the lock type or the config left no call for (a plain Wi-Fi lock
  // cannot be opened remotely; some types have no revoke): journaled as not sent.
  std::int64_t actions_impossible = 0;
  std::int64_t outputs_failed = 0;  // captures with an output that could not be written
  std::int64_t done = 0;
};

class Pipeline {
 public:
  Pipeline(const Config& config, PipelineOptions options, PipelineDeps deps);
  ~Pipeline();  // Abort()s and joins
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Starts the workers. Fails if a worker's resources (detector, API client)
  // cannot be made — before any capture is touched.
  Status Start();
  // Queues a capture; blocks while the pipeline is full. False once stopping.
  bool Submit(CaptureJob job);
  // Closes the input and waits until every queued capture is done.
  void Finish();
  // Stops taking work and drops captures that have not started.
  void Abort();
  bool aborted() const { return aborted_; }
  PipelineStats stats() const;
  // The first fatal error of a worker, if any.
  Status error() const;

 private:
  struct Fetched;
  struct Analyzed;
  struct EvidenceFiles;
  void FetchWorker(LockApi* api, HttpClient* http);
  void AnalyzeWorker(int index);
  void ActWorker(LockApi* api);
  void WriteEvidence(EvidenceFiles& evidence);
  std::unique_ptr<Analyzed> Analyze(std::unique_ptr<Fetched> item, class FaceDetector& detector);
  void Act(Analyzed& item, Actuator& actuator);
  void SetError(const Status& s);

  const Config& config_;
  RuleEngine rules_;
  PipelineOptions options_;
  PipelineDeps deps_;

  BoundedQueue<CaptureJob> jobs_;
  BoundedQueue<std::unique_ptr<Fetched>> fetched_;
  BoundedQueue<std::unique_ptr<Analyzed>> analyzed_;

  std::vector<std::unique_ptr<LockApi>> apis_;
  std::vector<std::unique_ptr<HttpClient>> https_;
  std::vector<std::unique_ptr<class FaceDetector>> detectors_;
  std::vector<std::thread> fetchers_, analyzers_, actors_;
  std::atomic<int> fetchers_left_{0}, analyzers_left_{0};
  std::atomic<bool> aborted_{false};
  bool started_ = false;
  bool finished_ = false;

  mutable std::mutex mu_;
  PipelineStats stats_;
  Status error_;
};

// Makes a file or folder name from server- or user-given text: only
// [A-Za-z0-9._-], no leading dot, at most 80 characters, never empty. Paths
// from the server go through this, so they can never escape the output folder.
std::string SafePathComponent(const std::string& text);

}  // namespace lockpipe
