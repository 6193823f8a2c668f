// The approval rules: from what was seen in a capture to approve / reject /
// escalate, with a sentence saying why.
//
// How a decision is made (fail closed at every step):
//  1. The rules of the config are tried in file order; the first rule whose
//     every condition holds decides. No rule matching means escalate: a
//     person decides.
//  2. Conditions (each one that a rule sets must hold):
//     - kind: the capture's media kind (unlock request / alert).
//     - devices / groups: the device is one of `devices` or belongs to one of
//       `groups` (either list matching is enough when both are set).
//     - time: the capture's local time of day, in the window's zone (DST
//       included), is inside [from, to); a window with from > to crosses
//       midnight.
//     - faces {min, max}: the number of faces found is in the range.
//     - min_face_score / min_face_size: at least one face was found and every
//       face scores at least that (a face without a score never does) and has
//       a shorter side of at least that many pixels. Strict on purpose: a
//       second, unclear face in the frame is a reason not to match.
//     - analysis: "ok" / "failed" / "any" (default "any"). Face conditions
//       never hold when the analysis failed: the faces are unknown, not zero.
//       (The pipeline decides a failed analysis here too, and by
//       DecideForError, safety.on_error, only when no rule matches.)
//     - max_age_seconds: the capture is at most that old.
//     - rate_limit: see 5.
//  3. Rules that reject or escalate decide as they say. An approval must also
//     pass the safety net below, whatever the rule says.
//  4. The safety net, in this order:
//     - an alert → escalate: only an unlock request can be granted (a rule
//       with kind = "alert" and action = "approve" is refused at load).
//     - a device that is not in the config → safety.on_error.
//     - analysis failed → never approved: safety.on_error.
//     - stale (older than safety.max_capture_age_seconds, at most 90 s, or
//       dated more than kMaxFutureSkew in the future) → reject. The lock
//       accepts a remote unlock only for a recent request, so a stale request
//       can no longer be granted; rejecting it clears it rather than leaving a
//       person to answer a question that has expired.
//  5. rate_limit {count, per_seconds} on an approving rule: when the device
//     already had `count` approvals (by any rule) less than per_seconds
//     before Evidence::now, the approval becomes escalate. Only approvals that
//     are returned are counted; each counts for exactly per_seconds.
//
// Time never comes from the wall clock inside the engine: "now" is
// Evidence::now, so tests and replays are exact.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "fetch/lock_api.h"
#include "pipeline/config.h"

namespace lockpipe {

// One face the analysis found.
struct FaceObservation {
  float score = -1;  // in [0, 1]; -1 when the detector gives no score (cascade)
  int width = 0;     // px
  int height = 0;    // px
};

// Everything a decision is made from.
struct Evidence {
  std::string device_id;
  MediaKind kind = MediaKind::kUnlockRequest;
  // When the lock took the media; the epoch (a default time_point) when
  // nobody knows, and then the capture is never approved.
  std::chrono::system_clock::time_point captured_at;
  std::chrono::system_clock::time_point now;  // when the decision is made
  bool analysis_ok = false;
  std::string analysis_error;  // why analysis failed (no secrets), when !analysis_ok
  std::vector<FaceObservation> faces;
};

struct Decision {
  Verdict verdict = Verdict::kEscalate;
  std::string rule;    // the rule that matched, "" when none did
  std::string reason;  // a sentence for a person
};

// A capture dated further than this in the future is treated as stale: the
// clocks disagree and its age is unknown.
inline constexpr std::chrono::seconds kMaxFutureSkew{30};

// Whether a capture taken at `captured_at` is too old to act on at `now`:
// older than `max_age_seconds`, dated more than kMaxFutureSkew ahead, or of
// unknown time (the epoch). The lock has stopped waiting on its request, or
// nobody can tell that it has not: it is never approved, and a refusal sends
// no revoke (revoke is per lock: it would refuse whatever request the lock
// holds now, a newer one).
bool CaptureIsStale(std::chrono::system_clock::time_point captured_at,
                    std::chrono::system_clock::time_point now, int max_age_seconds);

// Thread-safe: Decide and DecideForError may be called from any number of
// threads at once; the rate-limit history is the only mutable state and is
// guarded by a mutex. The engine keeps its own copy of the config.
class RuleEngine {
 public:
  explicit RuleEngine(Config config);
  RuleEngine(const RuleEngine&) = delete;
  RuleEngine& operator=(const RuleEngine&) = delete;

  // Decides for one capture (see the top of this file). Never fails; an
  // approval is recorded for the device's rate limit before returning.
  Decision Decide(const Evidence& evidence);

  // Approvals of a device since a time, as a longer memory than this
  // engine's (the journal: earlier runs, other processes). A rate limit counts
  // the larger of that and the engine's own count; a counter that fails
  // counts as the limit reached (fail closed: escalate). Set before deciding.
  using ApprovalCounter = std::function<Result<std::int64_t>(
      const std::string& device_id, std::chrono::system_clock::time_point since)>;
  void SetApprovalCounter(ApprovalCounter counter) { counter_ = std::move(counter); }

  // The decision when something failed before a decision could be made
  // (fetch, decrypt, decode, analysis crash, ...): safety.on_error, never
  // approve. The reason names the device and the error's message.
  Decision DecideForError(const std::string& device_id, const Status& error) const;

  const Config& config() const { return config_; }

 private:
  bool RateLimited(const std::string& device_id, const RateLimit& limit,
                   std::chrono::system_clock::time_point now, int* recent) const;

  const Config config_;
  ApprovalCounter counter_;
  // The longest rate-limit window of any rule: how much history to keep.
  std::chrono::seconds max_window_{0};
  mutable std::mutex mu_;
  // Approval times per device, for rate limits. Guarded by mu_.
  std::map<std::string, std::multiset<std::chrono::system_clock::time_point>> approvals_;
};

}  // namespace lockpipe
