// Where captures come from: polling the cloud, a signed webhook, a batch list.
//
// Each source turns what it sees into CaptureJobs and hands them to a submit
// function (Pipeline::Submit), which blocks when the pipeline is full.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/secret.h"
#include "base/status.h"
#include "fetch/lock_api.h"
#include "pipeline/config.h"
#include "pipeline/pipeline.h"

namespace lockpipe {

using SubmitFn = std::function<bool(CaptureJob)>;

// Something a Poller or a watcher can sleep on and be woken from (Ctrl-C).
class StopFlag {
 public:
  void Stop();
  bool stopped() const { return stopped_; }
  // Sleeps up to `d`; returns false if stopped meanwhile.
  bool SleepFor(std::chrono::milliseconds d);

 private:
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

struct PollOptions {
  std::chrono::milliseconds interval{5000};  // per device and kind
  std::chrono::milliseconds max_backoff{60000};
  bool alerts = true;  // also poll alert media (file_type 2)
};

// The reference's non-real-time flow: ask latest/media/url for each device's
// unlock-request (and alert) media on an interval; a capture not seen before
// is an event. Polls are spread evenly over the interval; a rate-limit answer
// (1110/1111/1199) doubles the device's interval up to max_backoff (Run only:
// RunOnce just reports it).
//
// The cloud does not say when a capture was taken, only that it is from the
// last 90 seconds. A new capture is dated at this device's previous answered
// poll (it was not there then, so its age is an upper bound); on the first
// poll after start, at that poll, and the cloud's 90-second window is then the
// only bound on its age.
//
// Thread-safety: RunOnce/Run on one thread; the LockApi is that thread's.
class Poller {
 public:
  Poller(const Config& config, LockApi& api, SubmitFn submit, PollOptions options);
  // Polls every device and kind once, or until `stop` (may be null) is
  // stopped. Returns how many new captures it submitted.
  int RunOnce(const StopFlag* stop = nullptr);
  // Polls until `stop` is stopped.
  void Run(StopFlag& stop);
  // Polls so far that the cloud answered (a capture or none) and that failed.
  int answered() const { return answered_; }
  int failed() const { return failed_; }

 private:
  // `again`: the device will be polled again (Run), so a busy answer backs
  // off; RunOnce polls once and announces no back-off it will not do.
  bool PollOne(const DeviceConfig& device, MediaKind kind, bool again);
  const Config& config_;
  LockApi& api_;
  SubmitFn submit_;
  PollOptions options_;
  std::set<std::string> seen_;
  int answered_ = 0;
  int failed_ = 0;
  std::map<std::string, std::chrono::milliseconds> backoff_;
  std::map<std::string, std::int64_t>
      last_answer_ms_;  // device|kind -> start of its last answered poll
};

// A signed webhook event dated further than this from the receiver's clock is
// refused (HTTP 400): a replay, or a delivery so late that nothing can be done
// for its request any more.
inline constexpr std::int64_t kWebhookMaxEventAgeSeconds = 300;

// An HTTP endpoint (POST /events) for pushed events: JSON
//   {"event_id": "...", "device_id": "...", "file_type": 1|2 (or "kind": "unlock"|"alert"),
//    "t": <ms, the capture time>, optional "file_url" + "file_key" + "file_path" (all three)}
// authenticated by `X-Lockpipe-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
// Without a media reference the pipeline fetches the device's latest capture.
// Answers 202 when queued, 401 for a missing or wrong signature, 400 for a
// malformed event or one dated more than kWebhookMaxEventAgeSeconds away,
// 503 when the pipeline is stopping. Before reading a body: 411 without a
// Content-Length (a chunked body included), 413 for one over 1 MiB, 405 (with
// Allow: POST) for another method, 404 for another path; 408 when the body
// takes more than 10 s. Every answer is JSON {"ok", "message"}. One request
// per connection.
//
// Thread-safety: Start/Stop from the owner; requests are served on the
// server's own threads and call `submit` from them.
class WebhookServer {
 public:
  // Binds host:port (0 = a free port) and returns once it accepts. Fails,
  // naming the address, when the port is in use by another socket (no
  // SO_REUSEPORT sharing) or the address is not local.
  static Result<std::unique_ptr<WebhookServer>> Start(const std::string& host, int port,
                                                      Secret secret, SubmitFn submit);
  ~WebhookServer();  // Stop()s
  int port() const;
  // Stops accepting, gives requests in flight a second to finish, then closes
  // the connections still open (clients still sending) and joins the server's
  // threads: `submit` is not called once it returns. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit WebhookServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses one webhook body into a job (exposed for tests).
Result<CaptureJob> ParseWebhookEvent(const std::string& body);
// Checks the X-Lockpipe-Signature header value against the body.
bool WebhookSignatureValid(const Secret& secret, const std::string& body,
                           const std::string& header);

// A batch list: JSON lines, each either a remote capture
//   {"url": "...", "file_key": "...", "device": "...", "kind": "unlock"|"alert", "id": "..."}
// or a local file {"path": "...", "file_key": "..." | "key_env": "VAR" (or no key: plaintext),
//   "device": "...", "kind": ..., "id": ...}; optional "captured_at" (an integer: ms since the
// epoch). Lines IsBlankOrCommentListLine() accepts are skipped. Relative paths are taken from
// the list's folder.
// Only a key that is absent takes its default ("kind": "unlock"; no "id": the line number;
// no key: plaintext; no "captured_at": unknown, never approved). A key that is present must
// hold the right type and a usable value, or the line is an error that names the key and
// says what is wrong: a string is non-empty with no NUL or control character; "id" is a
// string or an integer (taken as its decimal text); "captured_at" a positive integer.
// `line_no` labels a line without an "id". An error says what is wrong with
// the line, not where it is: the caller names the list and the line.
Result<CaptureJob> ParseBatchLine(const std::string& line, const std::string& list_dir,
                                  int line_no);

// Whether a line of a batch list is skipped: blank (spaces, tabs, a CRLF
// list's "\r") or a comment (its first other character is '#'). The one test
// for the lines a batch runs and the lines its progress counts.
bool IsBlankOrCommentListLine(const std::string& line);

}  // namespace lockpipe
