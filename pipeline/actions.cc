#include "pipeline/actions.h"

#include "base/clock.h"
#include "base/log.h"
#include "fetch/lock_types.h"

namespace lockpipe {
namespace {

bool IsAllInOne(LockType t) {
  return t == LockType::kWifiAllInOne || t == LockType::kZigbeeAllInOne;
}

}  // namespace

std::string ApproveEndpoint(const DeviceConfig& device, bool has_password) {
  const LockType t = device.type;
  if (Supports(t, Endpoint::kPasswordFreeOpenV11))
    return std::string(EndpointName(Endpoint::kPasswordFreeOpenV11));
  if (IsAllInOne(t) && Supports(t, Endpoint::kDoorOperate))
    return std::string(EndpointName(Endpoint::kDoorOperate));
  if (Supports(t, Endpoint::kPasswordFreeOpen))
    return std::string(EndpointName(Endpoint::kPasswordFreeOpen));
  if (Supports(t, Endpoint::kOpenDoorWithPassword) && has_password)
    return std::string(EndpointName(Endpoint::kOpenDoorWithPassword));
  return "";
}

std::optional<std::string> CannotOpen(const DeviceConfig& device, bool has_password) {
  if (ApproveEndpoint(device, has_password).empty()) {
    if (Supports(device.type, Endpoint::kOpenDoorWithPassword))
      return device.password
                 ? "a Zigbee lock opens only with its door password, and the one the config "
                   "names could not be read"
                 : "a Zigbee lock opens only with its door password, and the config holds none";
    return "the reference lists no remote unlock for a " +
           std::string(LockTypeDescription(device.type));
  }
  if (Supports(device.type, Endpoint::kPasswordFreeOpenV11) && !device.channel)
    return "an access control device needs a channel in the config";
  return std::nullopt;
}

ActionResult AlertRefusal() {
  return {"reject", "", false, true,
          "refused; an alert is not a request, so nothing was sent (a revoke would refuse the "
          "lock's pending request, if it has one)"};
}

std::chrono::system_clock::time_point RequestExpiry(
    std::chrono::system_clock::time_point captured_at, int max_age_seconds) {
  if (captured_at == std::chrono::system_clock::time_point{}) return captured_at;
  return captured_at + std::chrono::seconds(max_age_seconds);
}

ActionResult StaleRefusal() {
  return {"reject", "", false, true,
          "refused; the capture is stale, so no revoke was sent (it would refuse the lock's "
          "current request, not this one)"};
}

Actuator::Actuator(LockApi* api, Journal* journal, bool dry_run)
    : api_(api), journal_(journal), dry_run_(dry_run || api == nullptr) {}

ActionResult Actuator::Carry(std::int64_t event_id, const DeviceConfig& device, Verdict verdict,
                             const Secret* password,
                             std::chrono::system_clock::time_point expires) {
  switch (verdict) {
    case Verdict::kApprove:
      return Approve(event_id, device, password, expires);
    case Verdict::kReject:
      return Reject(event_id, device);
    case Verdict::kEscalate:
      break;
  }
  return {"none", "", false, true, "escalated: nothing sent, a person decides"};
}

bool Actuator::BeginIntent(std::int64_t event_id, const DeviceConfig& device, ActionResult* result,
                           std::int64_t* action_id) {
  if (dry_run_) {
    result->detail = "dry run: would call " + result->endpoint + "; nothing sent";
    return false;
  }
  if (journal_ == nullptr) return true;
  auto id =
      journal_->RecordIntent(event_id, {result->action, result->endpoint, device.id, NowMs()});
  if (!id.ok()) {
    if (IsAlreadyJournaled(id.status())) {
      result->detail = "already sent before (journal holds the intent): not sent again";
    } else {
      // Fail closed: an action we cannot journal is an action we do not send.
      result->detail = "journal refused the intent, nothing sent: " + id.status().ToString();
    }
    return false;
  }
  *action_id = *id;
  return true;
}

void Actuator::NotSent(std::int64_t event_id, const DeviceConfig& device, ActionResult* result) {
  result->impossible = true;
  if (dry_run_ || journal_ == nullptr) return;
  Status s = journal_->RecordNotSent(
      event_id, {result->action, result->endpoint, device.id, NowMs()}, result->detail);
  if (!s.ok() && !IsAlreadyJournaled(s))
    log::Error("journal: cannot record that event " + std::to_string(event_id) + "'s " +
               result->action + " was not sent: " + s.ToString());
}

void Actuator::Finish(std::int64_t action_id, const Status& status, ActionResult* result) {
  result->outcome = ClassifyLockCall(status);
  result->ok = result->outcome == LockCallOutcome::kOk;
  switch (result->outcome) {
    case LockCallOutcome::kOk:
      result->detail = result->endpoint + " succeeded";
      break;
    case LockCallOutcome::kFailed:
      result->detail = status.ToString();
      break;
    case LockCallOutcome::kUnknown:
      result->detail = "outcome unknown, the lock may have acted (not resent; check the lock): " +
                       status.ToString();
      break;
  }
  if (journal_ == nullptr || action_id == 0) return;
  Status s = journal_->RecordOutcome(action_id, {LockCallOutcomeName(result->outcome),
                                                 status.ok() ? "" : status.ToString(), NowMs()});
  if (!s.ok())
    log::Error("journal: cannot record the outcome of action " + std::to_string(action_id) + ": " +
               s.ToString());
}

ActionResult Actuator::Approve(std::int64_t event_id, const DeviceConfig& device,
                               const Secret* password,
                               std::chrono::system_clock::time_point expires) {
  ActionResult r;
  r.action = "approve";
  const bool has_password = password != nullptr && !password->empty();
  r.endpoint = ApproveEndpoint(device, has_password);
  if (auto why = CannotOpen(device, has_password)) {
    r.endpoint.clear();
    r.detail = "cannot open " + device.id + ": " + *why;
    NotSent(event_id, device, &r);
    return r;
  }
  std::int64_t action_id = 0;
  if (!BeginIntent(event_id, device, &r, &action_id)) return r;
  r.sent = true;
  Status s;
  std::string refused;  // the first door call's answer when it refused its ticket
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto ticket = api_->GetPasswordTicket(device.id);
    Status not_sent;  // why this attempt's door call does not go out
    if (!ticket.ok()) {
      not_sent = ticket.status().WithContext(refused.empty() ? "no ticket, door call not sent"
                                                             : "no fresh ticket");
    } else if (std::chrono::system_clock::now() > expires) {
      // The ticket took long enough (timeouts, retries, a new token) for the
      // request to go stale: the door stays shut.
      not_sent = InvalidArgument(
          "door call not sent: the request went stale while its ticket was fetched (a door is "
          "never opened for a request older than the safety limit)");
    }
    if (!not_sent.ok()) {
      // No door call went out on this attempt (and an earlier one, if any,
      // was refused): nothing happened.
      not_sent.set_request_not_sent();
      if (refused.empty()) r.sent = false;
      Finish(action_id,
             refused.empty()
                 ? not_sent
                 : not_sent.WithContext("the door refused the first ticket (" + refused + ")"),
             &r);
      return r;
    }
    s = DoorCall(device, r.endpoint, *ticket, password);
    // 1109 "param is illegal" in a well-formed refusal answers a ticket the
    // cloud no longer takes; the call opened nothing, so one more try with a
    // fresh ticket is safe. Not after an unknown outcome (a 1109 in a garbled
    // or HTTP 5xx answer proves nothing): the door may have opened.
    const bool ticket_refused = ClassifyLockCall(s) == LockCallOutcome::kFailed &&
                                !s.request_not_sent() && s.api_code() == 1109;
    if (!ticket_refused || attempt == 2) break;
    refused = s.ToString();
    log::Warn(device.id + ": " + r.endpoint + " refused its ticket (" + refused +
              "); once more with a fresh ticket");
  }
  if (!refused.empty() && !s.ok())
    s = s.WithContext("after a fresh ticket; the first was refused: " + refused);
  Finish(action_id, s, &r);
  if (s.ok() && !refused.empty()) r.detail += " (with a fresh ticket; the first was refused)";
  return r;
}

Status Actuator::DoorCall(const DeviceConfig& device, const std::string& endpoint,
                          const Ticket& ticket, const Secret* password) {
  if (endpoint == EndpointName(Endpoint::kPasswordFreeOpenV11))
    return api_->PasswordFreeUnlockChannel(device.id, ticket.ticket_id, *device.channel);
  if (endpoint == EndpointName(Endpoint::kDoorOperate))
    return api_->DoorOperate(device.id, ticket.ticket_id, true);
  if (endpoint == EndpointName(Endpoint::kPasswordFreeOpen))
    return api_->PasswordFreeUnlock(device.id, ticket.ticket_id);
  return api_->UnlockWithPassword(device.id, ticket, *password);
}

ActionResult Actuator::Reject(std::int64_t event_id, const DeviceConfig& device) {
  ActionResult r;
  r.action = "reject";
  if (!Supports(device.type, Endpoint::kRevokePasswordFree)) {
    r.detail = "refused; the reference lists no revoke call for a " +
               std::string(LockTypeDescription(device.type)) +
               ", so nothing was sent (the request times out on the lock)";
    NotSent(event_id, device, &r);
    return r;
  }
  r.endpoint = std::string(EndpointName(Endpoint::kRevokePasswordFree));
  std::int64_t action_id = 0;
  if (!BeginIntent(event_id, device, &r, &action_id)) return r;
  r.sent = true;
  Finish(action_id, api_->RevokePasswordFree(device.id, RevokeReason::kRejected), &r);
  return r;
}

}  // namespace lockpipe
