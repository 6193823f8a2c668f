// Actions: carrying a verdict out on a lock, with the journal as the witness.
//
// Approve picks the call the reference lists for the device's lock type: a
// fresh password ticket, then
//   - v1.1 password-free open-door with the device's channel (access control),
//   - door-operate open=true (all-in-one Wi-Fi and Zigbee locks),
//   - v1.0 password-free open-door (the other types that list it),
//   - open-door with the password (Zigbee locks, only when the config holds a
//     reference to the door password);
// a type with none of these (a plain Wi-Fi lock) cannot be opened remotely:
// nothing is sent, and the journal records the approval as not sent (as it does
// a refusal where the type has no revoke call). A door call that refuses its ticket (1109: expired,
// or used, after a slow or retried call) opened nothing, so it is made once more with a fresh
// ticket; a second refusal is the outcome. A door call whose answer proves nothing
// (ClassifyLockCall: kUnknown — a timeout, HTTP 5xx, a garbled answer) may have opened the door:
// it is journaled "unknown", reported so, and never made again. Reject revokes the request (type 1,
// rejected) where the lock type lists the revoke call, and records that it could not elsewhere.
// Escalate sends nothing: a person decides.
//
// Every call that may open or refuse a door is journaled as an intent before
// it is sent and with its outcome after. An intent already in the journal for
// the same event and action means the call was (or may have been) sent
// before: it is never sent again.
//
// Thread-safety: an Actuator belongs to one thread (it uses that thread's
// LockApi); the Journal is shared and thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/secret.h"
#include "fetch/lock_api.h"
#include "pipeline/config.h"
#include "pipeline/journal.h"

namespace lockpipe {

struct ActionResult {
  std::string action;       // "approve", "reject" or "none"
  std::string endpoint;     // the call made or that would be made ("" for none)
  bool sent = false;        // a call that acts on the lock was made
  bool ok = false;          // it succeeded
  std::string detail;       // what happened, for a person; never a secret
  bool impossible = false;  // the lock type or config has no call for it: journaled as not sent
  // Of a call that was made (sent): kOk (ok is true), kFailed (the answer
  // proves the lock did nothing) or kUnknown (the answer was lost or garbled:
  // the door may have opened; journaled "unknown", never resent). Meaningless
  // when nothing was sent.
  LockCallOutcome outcome = LockCallOutcome::kFailed;

  // "ok" | "failed" | "unknown" for a call that was made, "" otherwise.
  std::string OutcomeName() const { return sent ? LockCallOutcomeName(outcome) : ""; }
};

class Actuator {
 public:
  // `journal` may be null (no journal); `dry_run` decides and sends nothing
  // (and `api` may then be null).
  Actuator(LockApi* api, Journal* journal, bool dry_run);

  // Carries out `verdict` for the event. `password` is the door password for
  // Zigbee locks (may be null). `expires`: when the request stops being fresh
  // (capture time + the safety limit); a door call that would go out after it
  // is not made, however long the ticket took. Never throws; a failure is in
  // the result.
  ActionResult Carry(std::int64_t event_id, const DeviceConfig& device, Verdict verdict,
                     const Secret* password, std::chrono::system_clock::time_point expires);

 private:
  ActionResult Approve(std::int64_t event_id, const DeviceConfig& device, const Secret* password,
                       std::chrono::system_clock::time_point expires);
  ActionResult Reject(std::int64_t event_id, const DeviceConfig& device);
  // Journals the intent; false (with result filled) when it must not be sent.
  bool BeginIntent(std::int64_t event_id, const DeviceConfig& device, ActionResult* result,
                   std::int64_t* action_id);
  // The door call of `endpoint` with `ticket`.
  Status DoorCall(const DeviceConfig& device, const std::string& endpoint, const Ticket& ticket,
                  const Secret* password);
  // Journals that `result`'s action could not be sent (outside a dry run).
  void NotSent(std::int64_t event_id, const DeviceConfig& device, ActionResult* result);
  // Records the call's outcome (ClassifyLockCall of `status`) in `result` and
  // the journal. A `status` for a call that was not made must carry
  // request_not_sent(), so that it reads "failed".
  void Finish(std::int64_t action_id, const Status& status, ActionResult* result);

  LockApi* api_;
  Journal* journal_;
  bool dry_run_;
};

// A refusal of a stale capture (CaptureIsStale): nothing is sent. The lock
// stopped waiting on that request long ago, and a revoke is per lock: it would
// refuse whatever request the lock holds now.
ActionResult StaleRefusal();

// A refusal of an alert: nothing is sent. An alert asks nothing of the lock,
// and a revoke would refuse whatever request the lock holds now.
ActionResult AlertRefusal();

// When a request captured at `captured_at` stops being fresh (see
// CaptureIsStale); the epoch, so already past, when the capture time is
// unknown.
std::chrono::system_clock::time_point RequestExpiry(
    std::chrono::system_clock::time_point captured_at, int max_age_seconds);

// The endpoint Approve would use for a device, or "" when none applies.
std::string ApproveEndpoint(const DeviceConfig& device, bool has_password);

// Why an approval for the device cannot be carried out (no remote unlock for
// its type, a Zigbee lock without a door password, an access control device
// without a channel), or nullopt when it can.
std::optional<std::string> CannotOpen(const DeviceConfig& device, bool has_password);

}  // namespace lockpipe
