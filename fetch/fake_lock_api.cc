#include "fetch/fake_lock_api.h"

#include <algorithm>

namespace lockpipe {

std::string RecordedCall::ToString() const {
  std::string s = std::string(EndpointName(endpoint)) + " " + device_id;
  if (!args.empty()) s += " " + args;
  return s;
}

void RecordingLockApi::FailNext(Endpoint endpoint, Status status) {
  std::lock_guard lock(mu_);
  fail_next_[endpoint].push_back(std::move(status));
}

void RecordingLockApi::FailAlways(Endpoint endpoint, Status status) {
  std::lock_guard lock(mu_);
  fail_always_[endpoint] = std::move(status);
}

void RecordingLockApi::ClearFailure(Endpoint endpoint) {
  std::lock_guard lock(mu_);
  fail_always_.erase(endpoint);
  fail_next_.erase(endpoint);
}

void RecordingLockApi::SetRemoteUnlockMethods(std::vector<RemoteUnlockMethod> methods) {
  std::lock_guard lock(mu_);
  methods_ = std::move(methods);
}

void RecordingLockApi::PushTicket(Ticket ticket) {
  std::lock_guard lock(mu_);
  tickets_.push_back(std::move(ticket));
}

void RecordingLockApi::SetMediaUrl(MediaUrl url) {
  std::lock_guard lock(mu_);
  media_ = std::move(url);
}

void RecordingLockApi::PushMediaUrl(MediaUrl url) {
  std::lock_guard lock(mu_);
  media_queue_.push_back(std::move(url));
}

std::vector<RecordedCall> RecordingLockApi::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

std::vector<std::string> RecordingLockApi::CallStrings() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(calls_.size());
  for (const auto& c : calls_) out.push_back(c.ToString());
  return out;
}

int RecordingLockApi::CountCalls(Endpoint endpoint) const {
  std::lock_guard lock(mu_);
  return static_cast<int>(std::count_if(
      calls_.begin(), calls_.end(), [&](const RecordedCall& c) { return c.endpoint == endpoint; }));
}

std::vector<std::string> RecordingLockApi::passwords_seen() const {
  std::lock_guard lock(mu_);
  return passwords_;
}

void RecordingLockApi::ClearCalls() {
  std::lock_guard lock(mu_);
  calls_.clear();
  passwords_.clear();
}

Status RecordingLockApi::Record(Endpoint endpoint, const std::string& device_id, std::string args) {
  calls_.push_back({endpoint, device_id, std::move(args)});
  if (auto it = fail_next_.find(endpoint); it != fail_next_.end() && !it->second.empty()) {
    Status s = std::move(it->second.front());
    it->second.pop_front();
    return s;
  }
  if (auto it = fail_always_.find(endpoint); it != fail_always_.end()) return it->second;
  return Status::Ok();
}

Result<std::vector<RemoteUnlockMethod>> RecordingLockApi::GetRemoteUnlockMethods(
    const std::string& device_id) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Record(Endpoint::kRemoteUnlocks, device_id, ""));
  return methods_;
}

Status RecordingLockApi::SetRemoteUnlockSwitch(const std::string& device_id,
                                               const std::string& type, bool open) {
  std::lock_guard lock(mu_);
  return Record(Endpoint::kRemoteUnlockConfig, device_id,
                "remote_unlock_type=" + type + " open=" + (open ? "true" : "false"));
}

Result<Ticket> RecordingLockApi::GetPasswordTicket(const std::string& device_id) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Record(Endpoint::kPasswordTicket, device_id, ""));
  if (!tickets_.empty()) {
    Ticket t = std::move(tickets_.front());
    tickets_.pop_front();
    return t;
  }
  Ticket t;
  t.ticket_id = "ticket-" + std::to_string(next_ticket_++);
  t.expire_time = 300;
  return t;
}

Status RecordingLockApi::UnlockWithPassword(const std::string& device_id, const Ticket& ticket,
                                            const Secret& password) {
  std::lock_guard lock(mu_);
  passwords_.push_back(password.reveal());
  return Record(Endpoint::kOpenDoorWithPassword, device_id,
                "ticket_id=" + ticket.ticket_id + " password_type=ticket");
}

Status RecordingLockApi::PasswordFreeUnlock(const std::string& device_id,
                                            const std::string& ticket_id) {
  std::lock_guard lock(mu_);
  return Record(Endpoint::kPasswordFreeOpen, device_id, "ticket_id=" + ticket_id);
}

Status RecordingLockApi::PasswordFreeUnlockChannel(const std::string& device_id,
                                                   const std::string& ticket_id, int channel_id) {
  std::lock_guard lock(mu_);
  return Record(Endpoint::kPasswordFreeOpenV11, device_id,
                "ticket_id=" + ticket_id + " channel_id=" + std::to_string(channel_id));
}

Status RecordingLockApi::RevokePasswordFree(const std::string& device_id, RevokeReason reason) {
  std::lock_guard lock(mu_);
  return Record(Endpoint::kRevokePasswordFree, device_id,
                "type=" + std::to_string(static_cast<int>(reason)));
}

Status RecordingLockApi::DoorOperate(const std::string& device_id, const std::string& ticket_id,
                                     bool open) {
  std::lock_guard lock(mu_);
  return Record(Endpoint::kDoorOperate, device_id,
                "ticket_id=" + ticket_id + " open=" + (open ? "true" : "false"));
}

Result<MediaUrl> RecordingLockApi::GetLatestMediaUrl(const std::string& device_id, MediaKind kind) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Record(Endpoint::kLatestMediaUrl, device_id,
                         "file_type=" + std::to_string(static_cast<int>(kind))));
  if (!media_queue_.empty()) {
    MediaUrl m = std::move(media_queue_.front());
    media_queue_.pop_front();
    return m;
  }
  return media_;
}

}  // namespace lockpipe
