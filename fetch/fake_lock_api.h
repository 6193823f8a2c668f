// RecordingLockApi: a LockApi that makes no network call. It records every
// call in order (endpoint, device and non-secret arguments) and answers from a
// script, so pipeline tests can assert the exact call sequence and exercise
// every failure path.
//
// Script: each endpoint has a queue of one-shot answers (Push*/FailNext),
// consumed in order, then a standing answer (Set*/FailAlways) used when the
// queue is empty. Without any script an endpoint succeeds: remote-unlocks
// answers [{remoteUnlockWithoutPwd, open}], password-ticket answers ticket
// ids "ticket-1", "ticket-2", ... and latest/media/url answers an empty
// MediaUrl (set one for real use).
//
// Thread-safety: all methods lock an internal mutex, so a test thread may read
// calls() while a pipeline thread makes calls.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fetch/lock_api.h"
#include "fetch/lock_types.h"

namespace lockpipe {

struct RecordedCall {
  Endpoint endpoint;
  std::string device_id;
  // Non-secret arguments, "key=value" joined by " " in the order of the
  // method's parameters ("ticket_id=ticket-1 channel_id=2"). Passwords and
  // ticket keys are never recorded.
  std::string args;
  // "password-free/open-door dev1 ticket_id=ticket-1" (args part omitted when empty).
  std::string ToString() const;
};

class RecordingLockApi final : public LockApi {
 public:
  RecordingLockApi() = default;

  // --- script ---------------------------------------------------------
  // The next call of `endpoint` fails with `status` (queued, one-shot).
  void FailNext(Endpoint endpoint, Status status);
  // Every call of `endpoint` fails with `status` once its queue is empty;
  // ClearFailure restores success.
  void FailAlways(Endpoint endpoint, Status status);
  void ClearFailure(Endpoint endpoint);
  void SetRemoteUnlockMethods(std::vector<RemoteUnlockMethod> methods);
  // The next GetPasswordTicket returns `ticket` (queued).
  void PushTicket(Ticket ticket);
  void SetMediaUrl(MediaUrl url);
  // The next GetLatestMediaUrl returns `url` (queued).
  void PushMediaUrl(MediaUrl url);

  // --- what happened ----------------------------------------------------
  std::vector<RecordedCall> calls() const;
  // calls() as ToString() lines, for EXPECT_EQ against an expected sequence.
  std::vector<std::string> CallStrings() const;
  // How many calls of `endpoint` were made.
  int CountCalls(Endpoint endpoint) const;
  // The plaintext passwords given to UnlockWithPassword (for tests only;
  // never part of calls()).
  std::vector<std::string> passwords_seen() const;
  void ClearCalls();

  // --- LockApi ------------------------------------------------------------
  Result<std::vector<RemoteUnlockMethod>> GetRemoteUnlockMethods(
      const std::string& device_id) override;
  Status SetRemoteUnlockSwitch(const std::string& device_id, const std::string& type,
                               bool open) override;
  Result<Ticket> GetPasswordTicket(const std::string& device_id) override;
  Status UnlockWithPassword(const std::string& device_id, const Ticket& ticket,
                            const Secret& password) override;
  Status PasswordFreeUnlock(const std::string& device_id, const std::string& ticket_id) override;
  Status PasswordFreeUnlockChannel(const std::string& device_id, const std::string& ticket_id,
                                   int channel_id) override;
  Status RevokePasswordFree(const std::string& device_id, RevokeReason reason) override;
  Status DoorOperate(const std::string& device_id, const std::string& ticket_id,
                     bool open) override;
  Result<MediaUrl> GetLatestMediaUrl(const std::string& device_id, MediaKind kind) override;

 private:
  // Records the call and returns the scripted failure, if any. Caller holds mu_.
  Status Record(Endpoint endpoint, const std::string& device_id, std::string args);

  mutable std::mutex mu_;
  std::vector<RecordedCall> calls_;
  std::map<Endpoint, std::deque<Status>> fail_next_;
  std::map<Endpoint, Status> fail_always_;
  std::vector<RemoteUnlockMethod> methods_{{"remoteUnlockWithoutPwd", true}};
  std::deque<Ticket> tickets_;
  int next_ticket_ = 1;
  std::deque<MediaUrl> media_queue_;
  MediaUrl media_;
  std::vector<std::string> passwords_;
};

}  // namespace lockpipe
