#include "pipeline/rules.h"

#include <algorithm>
#include <cstdio>

#include "base/log.h"

namespace lockpipe {

namespace {

using Clock = std::chrono::system_clock;

// Approvals a little older than the longest window are kept, so that a
// decision whose `now` is slightly behind another thread's still sees them.
constexpr std::chrono::seconds kPruneSlack{300};

std::string KindText(MediaKind kind) {
  return kind == MediaKind::kAlert ? "alert" : "unlock request";
}

std::string FacesText(const Evidence& e) {
  if (!e.analysis_ok)
    return e.analysis_error.empty() ? "analysis failed"
                                    : "analysis failed (" + e.analysis_error + ")";
  if (e.faces.empty()) return "no face";
  std::string out = std::to_string(e.faces.size()) + (e.faces.size() == 1 ? " face (" : " faces (");
  for (std::size_t i = 0; i < e.faces.size(); ++i) {
    const FaceObservation& f = e.faces[i];
    if (i > 0) out += "; ";
    if (f.score >= 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "score %.2f, ", static_cast<double>(f.score));
      out += buf;
    }
    out += std::to_string(f.width) + "x" + std::to_string(f.height) + " px";
  }
  return out + ")";
}

const char* Done(Verdict v) {
  switch (v) {
    case Verdict::kApprove:
      return "approved";
    case Verdict::kReject:
      return "rejected";
    case Verdict::kEscalate:
      return "escalated";
  }
  return "?";
}

std::string ClockText(int second_of_day) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", second_of_day / 3600, (second_of_day / 60) % 60);
  return buf;
}

bool TimeKnown(const Evidence& e) { return e.captured_at != Clock::time_point{}; }

std::int64_t AgeSeconds(const Evidence& e) {
  return std::chrono::floor<std::chrono::seconds>(e.now - e.captured_at).count();
}

// The local time of day a time window is checked against: the capture's, or
// the decision's when the capture time is unknown.
int SecondOfDay(const TimeWindow& w, const Evidence& e) {
  return w.zone.LocalSecondOfDay(TimeKnown(e) ? e.captured_at : e.now);
}

// The facts every reason starts with: "unlock request from Front door, 1 face
// (score 0.93, 120x140 px), 12 s old".
std::string Facts(const Evidence& e, const DeviceConfig* device) {
  return KindText(e.kind) + " from " + (device ? device->DisplayName() : e.device_id) + ", " +
         FacesText(e) + ", " +
         (TimeKnown(e) ? std::to_string(AgeSeconds(e)) + " s old" : "capture time unknown");
}

bool InWindow(const TimeWindow& w, int s) {
  if (w.from_second < w.to_second) return s >= w.from_second && s < w.to_second;
  return s >= w.from_second || s < w.to_second;  // crosses midnight
}

bool DeviceMatches(const RuleConfig& rule, const Evidence& e, const DeviceConfig* device) {
  if (rule.devices.empty() && rule.groups.empty()) return true;
  if (std::find(rule.devices.begin(), rule.devices.end(), e.device_id) != rule.devices.end()) {
    return true;
  }
  if (device == nullptr) return false;
  for (const auto& g : rule.groups) {
    if (std::find(device->groups.begin(), device->groups.end(), g) != device->groups.end()) {
      return true;
    }
  }
  return false;
}

bool RuleMatches(const RuleConfig& rule, const Evidence& e, const DeviceConfig* device) {
  if (rule.kind && *rule.kind != e.kind) return false;
  if (!DeviceMatches(rule, e, device)) return false;
  if (rule.analysis == AnalysisCondition::kOk && !e.analysis_ok) return false;
  if (rule.analysis == AnalysisCondition::kFailed && e.analysis_ok) return false;
  const bool face_conditions =
      rule.faces_min || rule.faces_max || rule.min_face_score || rule.min_face_size;
  if (face_conditions) {
    if (!e.analysis_ok) return false;  // unknown faces are not zero faces
    const auto n = static_cast<std::int64_t>(e.faces.size());
    if (rule.faces_min && n < *rule.faces_min) return false;
    if (rule.faces_max && n > *rule.faces_max) return false;
    if (rule.min_face_score) {
      if (e.faces.empty()) return false;
      for (const auto& f : e.faces) {
        // A missing score (-1) is below any minimum.
        if (f.score < 0 || static_cast<double>(f.score) < *rule.min_face_score) return false;
      }
    }
    if (rule.min_face_size) {
      if (e.faces.empty()) return false;
      for (const auto& f : e.faces) {
        if (std::min(f.width, f.height) < *rule.min_face_size) return false;
      }
    }
  }
  if (rule.max_age_seconds && CaptureIsStale(e.captured_at, e.now, *rule.max_age_seconds))
    return false;
  if (rule.time && !InWindow(*rule.time, SecondOfDay(*rule.time, e))) return false;
  return true;
}

}  // namespace

bool CaptureIsStale(Clock::time_point captured_at, Clock::time_point now, int max_age_seconds) {
  if (captured_at == Clock::time_point{}) return true;
  if (now + kMaxFutureSkew < captured_at) return true;
  // Older than max_age, to the clock's precision, without subtracting the
  // capture time from now: any capture time compares, none can overflow.
  return captured_at < now - std::chrono::seconds(max_age_seconds);
}

RuleEngine::RuleEngine(Config config) : config_(std::move(config)) {
  for (const auto& r : config_.rules) {
    if (r.rate_limit) {
      max_window_ = std::max(max_window_, std::chrono::seconds(r.rate_limit->per_seconds));
    }
  }
}

bool RuleEngine::RateLimited(const std::string& device_id, const RateLimit& limit,
                             Clock::time_point now, int* recent) const {
  // Caller holds mu_.
  *recent = 0;
  const auto it = approvals_.find(device_id);
  // Approvals dated after `now` (another thread ran ahead) count too: when in
  // doubt, fewer approvals.
  const auto from = now - std::chrono::seconds(limit.per_seconds);
  if (it != approvals_.end())
    *recent = static_cast<int>(std::distance(it->second.upper_bound(from), it->second.end()));
  if (counter_) {
    auto remembered = counter_(device_id, from);
    if (!remembered.ok()) {
      log::Warn("rate limit of " + device_id + ": cannot count earlier approvals (" +
                remembered.status().ToString() + "); treated as reached");
      *recent = std::max(*recent, limit.count);
    } else {
      *recent = std::max(*recent, static_cast<int>(std::min<std::int64_t>(*remembered, 1 << 30)));
    }
  }
  return *recent >= limit.count;
}

Decision RuleEngine::Decide(const Evidence& e) {
  // on_error is never kApprove in a loaded config; a Config built in code is
  // held to the same rule here.
  const Verdict on_error =
      config_.safety.on_error == Verdict::kReject ? Verdict::kReject : Verdict::kEscalate;
  const DeviceConfig* device = config_.FindDevice(e.device_id);
  const RuleConfig* matched = nullptr;
  for (const auto& rule : config_.rules) {
    if (RuleMatches(rule, e, device)) {
      matched = &rule;
      break;
    }
  }
  const std::string facts = Facts(e, device);
  if (matched == nullptr) {
    return {Verdict::kEscalate, "", "no rule matched: escalated (" + facts + ")"};
  }
  std::string matched_text = "rule '" + matched->name + "' matched: " + facts;
  if (matched->time) {
    matched_text +=
        ", at " + ClockText(SecondOfDay(*matched->time, e)) + " " + matched->time->zone.name();
  }
  if (matched->action != Verdict::kApprove) {
    return {matched->action, matched->name, matched_text + ": " + Done(matched->action)};
  }

  // The safety net: an approval has to survive every check below.
  const std::string would = "rule '" + matched->name + "' would approve";
  if (e.kind != MediaKind::kUnlockRequest) {
    // An alert asks nobody to be let in: opening the door on one would be an
    // unlock that no one requested.
    return {Verdict::kEscalate, matched->name,
            "an alert is never approved; " + would + " (" + facts + "): escalated"};
  }
  if (device == nullptr) {
    return {on_error, matched->name,
            "device " + e.device_id + " is not in the config: never approved; " + would + " (" +
                facts + "): " + Done(on_error)};
  }
  if (!e.analysis_ok) {
    const std::string why = e.analysis_error.empty() ? "" : " (" + e.analysis_error + ")";
    return {on_error, matched->name,
            "analysis failed" + why + ": never approved; " + would + ": " + Done(on_error)};
  }
  const std::int64_t age = AgeSeconds(e);
  if (!TimeKnown(e)) {
    return {Verdict::kReject, matched->name,
            "capture time unknown: never approved; " + would + ": rejected"};
  }
  if (e.now + kMaxFutureSkew < e.captured_at) {
    return {Verdict::kReject, matched->name,
            "capture is dated " + std::to_string(-age) +
                " s in the future (clock skew): never approved; " + would + ": rejected"};
  }
  if (CaptureIsStale(e.captured_at, e.now, config_.safety.max_capture_age_seconds)) {
    // 90.4 s is past a 90 s limit: the tenths say why.
    const auto age_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(e.now - e.captured_at).count();
    char shown[32];
    if (age_ms % 1000 == 0)
      std::snprintf(shown, sizeof shown, "%lld", static_cast<long long>(age_ms / 1000));
    else
      std::snprintf(shown, sizeof shown, "%.1f", static_cast<double>(age_ms) / 1000.0);
    return {Verdict::kReject, matched->name,
            "capture is " + std::string(shown) + " s old (limit " +
                std::to_string(config_.safety.max_capture_age_seconds) + " s): never approved; " +
                would + ": rejected"};
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (matched->rate_limit) {
    int recent = 0;
    if (RateLimited(e.device_id, *matched->rate_limit, e.now, &recent)) {
      return {Verdict::kEscalate, matched->name,
              matched_text + "; but " + device->DisplayName() + " already had " +
                  std::to_string(recent) + " approvals in the last " +
                  std::to_string(matched->rate_limit->per_seconds) + " s (limit " +
                  std::to_string(matched->rate_limit->count) + "): escalated"};
    }
  }
  auto& history = approvals_[e.device_id];
  history.insert(e.now);
  if (max_window_.count() > 0) {
    history.erase(history.begin(), history.lower_bound(e.now - max_window_ - kPruneSlack));
  } else {
    history.clear();  // no rule limits approvals: nothing to remember
  }
  return {Verdict::kApprove, matched->name, matched_text + ": approved"};
}

Decision RuleEngine::DecideForError(const std::string& device_id, const Status& error) const {
  // on_error is never kApprove (refused at load); guard anyway.
  const Verdict v =
      config_.safety.on_error == Verdict::kReject ? Verdict::kReject : Verdict::kEscalate;
  const DeviceConfig* device = config_.FindDevice(device_id);
  return {v, "",
          "error before the decision for " + (device ? device->DisplayName() : device_id) + ": " +
              error.ToString() + ": " + Done(v)};
}

}  // namespace lockpipe
