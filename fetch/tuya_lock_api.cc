#include "fetch/tuya_lock_api.h"

#include <algorithm>
#include <cctype>

#include "base/json_text.h"
#include "fetch/tuya_sign.h"

namespace lockpipe {
namespace {

std::string DevicePath(const std::string& prefix, const std::string& device_id,
                       const std::string& suffix) {
  return prefix + UrlEncode(device_id) + suffix;
}

std::string Where(const ApiRequest& r) { return r.method + " " + r.path; }

Status BadAnswer(const ApiRequest& r, const std::string& what) {
  return Corrupt(Where(r) + ": " + what);
}

// Reads a string field; empty when missing or not a string.
std::string StringField(const nlohmann::json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<RemoteUnlockMethod> ParseMethod(const ApiRequest& r, const nlohmann::json& item) {
  if (!item.is_object()) return BadAnswer(r, "remote-unlock entry is not an object");
  RemoteUnlockMethod m;
  m.type = StringField(item, "remote_unlock_type");
  if (m.type.empty()) return BadAnswer(r, "remote-unlock entry has no remote_unlock_type");
  auto open = item.find("open");
  if (open == item.end()) return BadAnswer(r, "remote-unlock entry has no 'open'");
  // Some servers send "true"/"false" strings.
  if (open->is_boolean()) {
    m.open = open->get<bool>();
  } else if (open->is_string() && (*open == "true" || *open == "false")) {
    m.open = *open == "true";
  } else {
    return BadAnswer(r, "remote-unlock entry's 'open' is not a boolean");
  }
  return m;
}

}  // namespace

TuyaLockApi::TuyaLockApi(std::unique_ptr<TuyaClient> client) : client_(std::move(client)) {}

Status TuyaLockApi::CallExpectTrue(const ApiRequest& request) {
  ASSIGN_OR_RETURN(nlohmann::json result, client_->Call(request));
  // Fail closed: anything but an explicit true is a refusal.
  if (result.is_boolean() && result.get<bool>()) return Status::Ok();
  return Status(StatusCode::kApiError,
                Where(request) + ": the server answered success but result is " +
                    (result.is_null() ? std::string("missing") : JsonText(result)) + " (not done)")
      .set_http_status(200);
}

Result<std::vector<RemoteUnlockMethod>> TuyaLockApi::GetRemoteUnlockMethods(
    const std::string& device_id) {
  ApiRequest r{
      "GET", DevicePath("/v1.0/devices/", device_id, "/door-lock/remote-unlocks"), {}, "", false};
  ASSIGN_OR_RETURN(nlohmann::json result, client_->Call(r));
  std::vector<RemoteUnlockMethod> out;
  // The reference shows one object; real servers send a list. Accept both.
  if (result.is_array()) {
    for (const auto& item : result) {
      ASSIGN_OR_RETURN(RemoteUnlockMethod m, ParseMethod(r, item));
      out.push_back(std::move(m));
    }
  } else if (result.is_object()) {
    ASSIGN_OR_RETURN(RemoteUnlockMethod m, ParseMethod(r, result));
    out.push_back(std::move(m));
  } else {
    return BadAnswer(r, "result is neither a list nor an object");
  }
  return out;
}

Status TuyaLockApi::SetRemoteUnlockSwitch(const std::string& device_id, const std::string& type,
                                          bool open) {
  nlohmann::json body = {{"remote_unlock_type", type}, {"open", open}};
  return CallExpectTrue({"POST",
                         DevicePath("/v1.0/devices/", device_id, "/door-lock/remote-unlock/config"),
                         {},
                         JsonText(body),
                         false});
}

Result<Ticket> TuyaLockApi::GetPasswordTicket(const std::string& device_id) {
  ApiRequest r{"POST",
               DevicePath("/v1.0/smart-lock/devices/", device_id, "/password-ticket"),
               {},
               "",
               false};
  ASSIGN_OR_RETURN(nlohmann::json result, client_->Call(r));
  if (!result.is_object()) return BadAnswer(r, "result is not an object");
  Ticket t;
  t.ticket_id = StringField(result, "ticket_id");
  t.ticket_key = Secret(StringField(result, "ticket_key"));
  if (t.ticket_id.empty()) return BadAnswer(r, "result has no ticket_id");
  if (t.ticket_key.empty()) return BadAnswer(r, "result has no ticket_key");
  auto exp = result.find("expire_time");
  if (exp != result.end() && exp->is_number_integer()) t.expire_time = exp->get<std::int64_t>();
  return t;
}

Status TuyaLockApi::UnlockWithPassword(const std::string& device_id, const Ticket& ticket,
                                       const Secret& password) {
  const std::string path = DevicePath("/v1.0/devices/", device_id, "/door-lock/open-door");
  const std::string& p = password.reveal();
  if (p.size() != 6 || !std::all_of(p.begin(), p.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
      })) {
    return InvalidArgument("POST " + path + ": the door password must be exactly 6 digits")
        .set_request_not_sent();
  }
  // These local failures stop the call before it is made: nothing was sent.
  auto key = tuya::DecryptTicketKey(ticket.ticket_key.reveal(),
                                    client_->tokens().credentials().access_secret);
  if (!key.ok()) {
    return key.status()
        .WithContext("POST " + path + ": ticket " + ticket.ticket_id +
                     ": cannot decrypt ticket_key with the access secret")
        .set_request_not_sent();
  }
  auto enc = tuya::EncryptDoorPassword(password, *key);
  if (!enc.ok()) return Status(enc.status()).set_request_not_sent();
  nlohmann::json body = {
      {"password", *enc}, {"password_type", "ticket"}, {"ticket_id", ticket.ticket_id}};
  return CallExpectTrue({"POST", path, {}, JsonText(body), true});
}

Status TuyaLockApi::PasswordFreeUnlock(const std::string& device_id, const std::string& ticket_id) {
  nlohmann::json body = {{"ticket_id", ticket_id}};
  return CallExpectTrue(
      {"POST",
       DevicePath("/v1.0/devices/", device_id, "/door-lock/password-free/open-door"),
       {},
       JsonText(body),
       true});
}

Status TuyaLockApi::PasswordFreeUnlockChannel(const std::string& device_id,
                                              const std::string& ticket_id, int channel_id) {
  nlohmann::json body = {{"ticket_id", ticket_id}, {"channel_id", channel_id}};
  return CallExpectTrue(
      {"POST",
       DevicePath("/v1.1/devices/", device_id, "/door-lock/password-free/open-door"),
       {},
       JsonText(body),
       true});
}

Status TuyaLockApi::RevokePasswordFree(const std::string& device_id, RevokeReason reason) {
  nlohmann::json body = {{"type", static_cast<int>(reason)}};
  return CallExpectTrue(
      {"PUT",
       DevicePath("/v1.0/devices/", device_id, "/door-lock/password-free/open-door/cancel"),
       {},
       JsonText(body),
       false});
}

Status TuyaLockApi::DoorOperate(const std::string& device_id, const std::string& ticket_id,
                                bool open) {
  nlohmann::json body = {{"ticket_id", ticket_id}, {"open", open}};
  return CallExpectTrue(
      {"POST",
       DevicePath("/v1.0/smart-lock/devices/", device_id, "/password-free/door-operate"),
       {},
       JsonText(body),
       true});
}

Result<MediaUrl> TuyaLockApi::GetLatestMediaUrl(const std::string& device_id, MediaKind kind) {
  ApiRequest r{"GET",
               DevicePath("/v1.0/devices/", device_id, "/door-lock/latest/media/url"),
               {{"file_type", std::to_string(static_cast<int>(kind))}},
               "",
               false};
  ASSIGN_OR_RETURN(nlohmann::json result, client_->Call(r));
  // The cloud answers success with no result when nothing was captured lately.
  if (result.is_null()) {
    return NotFound(Where(r) + ": no " + MediaKindName(kind) + " capture for device " + device_id +
                    " recently");
  }
  if (!result.is_object()) return BadAnswer(r, "result is not an object");
  MediaUrl m;
  m.file_url = StringField(result, "file_url");
  m.file_key = Secret(StringField(result, "file_key"));
  m.bucket = StringField(result, "bucket");
  m.file_path = StringField(result, "file_path");
  if (m.file_url.empty()) return BadAnswer(r, "result has no file_url");
  if (m.file_key.empty()) return BadAnswer(r, "result has no file_key");
  return m;
}

}  // namespace lockpipe
