// LockApi: the remote-unlocking calls of the lock cloud, as the pipeline sees
// them. TuyaLockApi (fetch/tuya_lock_api.h) makes them over HTTPS;
// RecordingLockApi (fetch/fake_lock_api.h) records them for unit tests.
//
// Every method is one real call of remote-unlocking-api.txt. A failure carries
// the endpoint, the HTTP status (Status::http_status), Tuya's code
// (Status::api_code) and msg; an answer of `result: false` is a failure
// (kApiError). No message ever contains a secret (access secret, tokens,
// ticket_key, file_key, password).
//
// Thread-safety: an instance belongs to one thread at a time (one per thread).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/secret.h"
#include "base/status.h"

namespace lockpipe {

// latest/media/url's file_type.
enum class MediaKind { kUnlockRequest = 1, kAlert = 2 };
// password-free/open-door/cancel's type.
enum class RevokeReason { kRejected = 1, kCanceled = 2 };

// One remote-unlock method: type is "remoteUnlockWithoutPwd" or
// "remoteUnlockWithPwd" (as the server spells it).
struct RemoteUnlockMethod {
  std::string type;
  bool open = false;
};

// A password ticket. ticket_key is the hex the server returned (still
// encrypted under the access secret); expire_time is the validity in seconds.
struct Ticket {
  std::string ticket_id;
  Secret ticket_key;
  std::int64_t expire_time = 0;
};

// Where the latest capture is and how to decrypt it.
struct MediaUrl {
  std::string file_url;
  Secret file_key;
  std::string bucket;
  std::string file_path;
};

// "unlock" / "alert"; ParseMediaKind accepts those and "1" / "2".
const char* MediaKindName(MediaKind kind);
Result<MediaKind> ParseMediaKind(const std::string& text);
// "rejected" / "canceled".
const char* RevokeReasonName(RevokeReason reason);
Result<RevokeReason> ParseRevokeReason(const std::string& text);

// What a call that acts on a lock (a door call, a revoke) is known to have
// done, from the Status it returned:
//   kOk       it succeeded;
//   kFailed   the answer proves nothing happened: a well-formed Tuya error
//             envelope (HTTP 200, success=false, a nonzero code other than
//             500 "system error", which may come after the lock acted), or a
//             request that never left this machine (Status::request_not_sent:
//             no connection, no token, a local check);
//   kUnknown  anything else — a garbled answer, HTTP 5xx, a timeout, a reset
//             after sending, success with a result other than true: the
//             lock may have acted. Never retried; reported to a person.
// Fail closed: only proof makes kFailed, so a door that may have opened is
// never reported shut.
enum class LockCallOutcome { kOk, kFailed, kUnknown };
LockCallOutcome ClassifyLockCall(const Status& status);
// "ok" | "failed" | "unknown" (the journal's outcome words).
const char* LockCallOutcomeName(LockCallOutcome outcome);

class LockApi {
 public:
  virtual ~LockApi() = default;

  // GET /v1.0/devices/{id}/door-lock/remote-unlocks. Accepts both the list
  // shape and the single-object shape of the answer.
  virtual Result<std::vector<RemoteUnlockMethod>> GetRemoteUnlockMethods(
      const std::string& device_id) = 0;
  // POST /v1.0/devices/{id}/door-lock/remote-unlock/config.
  virtual Status SetRemoteUnlockSwitch(const std::string& device_id, const std::string& type,
                                       bool open) = 0;
  // POST /v1.0/smart-lock/devices/{id}/password-ticket.
  virtual Result<Ticket> GetPasswordTicket(const std::string& device_id) = 0;
  // POST /v1.0/devices/{id}/door-lock/open-door: the 6-digit password is
  // encrypted under the ticket's key; password_type "ticket". Never retried
  // once the request may have reached the server.
  virtual Status UnlockWithPassword(const std::string& device_id, const Ticket& ticket,
                                    const Secret& password) = 0;
  // POST /v1.0/devices/{id}/door-lock/password-free/open-door. Never retried.
  virtual Status PasswordFreeUnlock(const std::string& device_id, const std::string& ticket_id) = 0;
  // POST /v1.1/devices/{id}/door-lock/password-free/open-door. Never retried.
  virtual Status PasswordFreeUnlockChannel(const std::string& device_id,
                                           const std::string& ticket_id, int channel_id) = 0;
  // PUT /v1.0/devices/{id}/door-lock/password-free/open-door/cancel.
  virtual Status RevokePasswordFree(const std::string& device_id, RevokeReason reason) = 0;
  // POST /v1.0/smart-lock/devices/{id}/password-free/door-operate. Never retried.
  virtual Status DoorOperate(const std::string& device_id, const std::string& ticket_id,
                             bool open) = 0;
  // GET /v1.0/devices/{id}/door-lock/latest/media/url?file_type=1|2.
  // kNotFound when the server has no recent capture of that kind (result null).
  virtual Result<MediaUrl> GetLatestMediaUrl(const std::string& device_id, MediaKind kind) = 0;
};

}  // namespace lockpipe
