// TuyaLockApi: LockApi over the Tuya OpenAPI (TuyaClient), one method per
// endpoint of remote-unlocking-api.txt.
//
// Request bodies are compact JSON with keys in alphabetical order (nlohmann's
// default), so the bytes sent (and signed) are predictable:
//   {"open":true,"remote_unlock_type":"remoteUnlockWithPwd"}
//   {"password":"<HEX>","password_type":"ticket","ticket_id":"T"}
//   {"ticket_id":"T"}   {"channel_id":1,"ticket_id":"T"}   {"type":1}
//   {"open":false,"ticket_id":"T"}
// password-ticket is a POST with an empty body. The device id is
// percent-encoded into the path.
//
// Thread-safety: one instance per thread (it owns its TuyaClient); the
// TokenManager behind it may be shared.
#pragma once

#include <memory>

#include "fetch/lock_api.h"
#include "fetch/tuya_client.h"

namespace lockpipe {

class TuyaLockApi final : public LockApi {
 public:
  explicit TuyaLockApi(std::unique_ptr<TuyaClient> client);

  Result<std::vector<RemoteUnlockMethod>> GetRemoteUnlockMethods(
      const std::string& device_id) override;
  Status SetRemoteUnlockSwitch(const std::string& device_id, const std::string& type,
                               bool open) override;
  Result<Ticket> GetPasswordTicket(const std::string& device_id) override;
  // Decrypts the ticket key with the access secret (AES-256-ECB), encrypts the
  // password under it (AES-128-ECB, upper-case hex) and posts open-door.
  // Fails before sending anything if the password is not 6 digits.
  Status UnlockWithPassword(const std::string& device_id, const Ticket& ticket,
                            const Secret& password) override;
  Status PasswordFreeUnlock(const std::string& device_id, const std::string& ticket_id) override;
  Status PasswordFreeUnlockChannel(const std::string& device_id, const std::string& ticket_id,
                                   int channel_id) override;
  Status RevokePasswordFree(const std::string& device_id, RevokeReason reason) override;
  Status DoorOperate(const std::string& device_id, const std::string& ticket_id,
                     bool open) override;
  Result<MediaUrl> GetLatestMediaUrl(const std::string& device_id, MediaKind kind) override;

  TuyaClient& client() { return *client_; }

 private:
  // Makes a call whose result must be `true`.
  Status CallExpectTrue(const ApiRequest& request);
  std::unique_ptr<TuyaClient> client_;
};

}  // namespace lockpipe
