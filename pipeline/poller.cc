#include "pipeline/poller.h"

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "fetch/lock_types.h"
#include "fetch/tuya_client.h"

namespace lockpipe {

void StopFlag::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

bool StopFlag::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stopped_.load(); });
}

Poller::Poller(const Config& config, LockApi& api, SubmitFn submit, PollOptions options)
    : config_(config), api_(api), submit_(std::move(submit)), options_(options) {}

bool Poller::PollOne(const DeviceConfig& device, MediaKind kind, bool again) {
  const std::string key = device.id + (kind == MediaKind::kAlert ? "|alert" : "|unlock");
  const std::int64_t asked_ms = NowMs();
  auto url = api_.GetLatestMediaUrl(device.id, kind);
  if (!url.ok()) {
    if (IsBusyError(url.status().api_code()) && again) {
      auto& b = backoff_[key];
      b = std::min(options_.max_backoff, b.count() ? b * 2 : options_.interval * 2);
      log::Warn("poll " + device.id + ": cloud is busy (code " +
                std::to_string(url.status().api_code()) + "); backing off to " +
                std::to_string(b.count() / 1000) + " s");
    } else if (IsBusyError(url.status().api_code())) {
      // RunOnce polls no more: there is no back-off to announce.
      log::Warn("poll " + device.id + ": cloud is busy: " + url.status().ToString());
    } else if (url.status().code() != StatusCode::kNotFound) {
      log::Warn("poll " + device.id + ": " + url.status().ToString());
    } else {
      last_answer_ms_[key] = asked_ms;  // answered: nothing in the window
      ++answered_;
      return false;
    }
    ++failed_;
    return false;
  }
  ++answered_;
  backoff_.erase(key);
  std::int64_t& last_answer = last_answer_ms_[key];
  const std::int64_t previous_answer = last_answer;
  last_answer = asked_ms;
  if (url->file_url.empty() || url->file_path.empty()) return false;  // nothing in the window
  CaptureJob job;
  job.where = CaptureJob::Where::kUrl;
  job.device_id = device.id;
  job.kind = kind;
  job.source = "poll";
  job.url = url->file_url;
  job.file_key = url->file_key;
  job.file_path = url->file_path;
  job.captured_at_ms = previous_answer != 0 ? previous_answer : asked_ms;
  // The latest capture stays the latest for a while: submitted once per
  // process (the journal admits it once across processes and sources).
  if (!seen_.insert(CaptureKey(job)).second) return false;
  return submit_(std::move(job));
}

int Poller::RunOnce(const StopFlag* stop) {
  int n = 0;
  for (const auto& d : config_.devices) {
    if (!Supports(d.type, Endpoint::kLatestMediaUrl)) continue;
    if (stop != nullptr && stop->stopped()) break;
    n += PollOne(d, MediaKind::kUnlockRequest, /*again=*/false);
    if (stop != nullptr && stop->stopped()) break;
    if (options_.alerts) n += PollOne(d, MediaKind::kAlert, /*again=*/false);
  }
  return n;
}

void Poller::Run(StopFlag& stop) {
  std::vector<const DeviceConfig*> devices;
  for (const auto& d : config_.devices)
    if (Supports(d.type, Endpoint::kLatestMediaUrl)) devices.push_back(&d);
  if (devices.empty()) {
    log::Warn(
        "poll: no configured device has latest/media/url (Wi-Fi, Zigbee hotel or Bluetooth locks)");
    stop.SleepFor(std::chrono::hours(24 * 365));
    return;
  }
  // Spread the polls over the interval instead of bursting them.
  const auto step = std::max(std::chrono::milliseconds(10),
                             options_.interval / static_cast<long>(devices.size()));
  std::map<std::string, std::chrono::steady_clock::time_point> next;
  while (!stop.stopped()) {
    for (const auto* d : devices) {
      if (stop.stopped()) return;
      auto now = std::chrono::steady_clock::now();
      auto& due = next[d->id];
      if (now >= due) {
        PollOne(*d, MediaKind::kUnlockRequest, /*again=*/true);
        if (stop.stopped()) return;  // a poll can take a while: do not start another
        if (options_.alerts) PollOne(*d, MediaKind::kAlert, /*again=*/true);
        // The cloud's rate limits are per device: a busy answer to either
        // poll slows both down.
        auto wait = options_.interval;
        for (const char* kind : {"|unlock", "|alert"})
          if (auto b = backoff_.find(d->id + kind); b != backoff_.end())
            wait = std::max(wait, b->second);
        due = now + wait;
      }
      if (!stop.SleepFor(step)) return;
    }
  }
}

}  // namespace lockpipe
