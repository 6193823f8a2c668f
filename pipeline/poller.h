// Polling the lock cloud for captures: the reference's non-real-time flow.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "fetch/lock_api.h"
#include "pipeline/capture_job.h"
#include "pipeline/config.h"

namespace lockpipe {

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

}  // namespace lockpipe
