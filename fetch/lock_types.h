// Lock types and which endpoint of the remote-unlocking API each one supports,
// exactly as the reference's "Applicable lock types" lists say. Shared by the
// emulator (which answers only for listed types, 2004 otherwise) and the
// pipeline (which picks the unlock call for a device's type).
//
// One reading of the reference is deliberate: password-ticket lists Wi-Fi,
// Zigbee, Bluetooth, Zigbee-hotel and video-talk locks, yet every
// password-free unlock and door-operate call takes a ticket_id from it (the
// v1.1 text says so). A ticket is therefore available to every type that has a
// ticket-taking endpoint, so that the documented unlock calls can be made.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lockpipe {

enum class LockType {
  kWifi,               // Wi-Fi lock
  kZigbee,             // Zigbee lock
  kBluetooth,          // Bluetooth lock
  kWifiAllInOne,       // All-in-one Wi-Fi lock
  kZigbeeAllInOne,     // All-in-one Zigbee lock
  kZigbeeHotel,        // Zigbee lock for hotel use
  kWifiKeepalive,      // Keepalive Wi-Fi lock
  kWifiVideo,          // Wi-Fi lock with video talk
  kWifiAccessControl,  // Wi-Fi access control device (with channels)
};

// Every endpoint of remote-unlocking-api.txt (plus the token calls, which
// apply to no lock).
enum class Endpoint {
  kRemoteUnlocks,         // GET  /v1.0/devices/{id}/door-lock/remote-unlocks
  kRemoteUnlockConfig,    // POST /v1.0/devices/{id}/door-lock/remote-unlock/config
  kOpenDoorWithPassword,  // POST /v1.0/devices/{id}/door-lock/open-door
  kPasswordFreeOpen,      // POST /v1.0/devices/{id}/door-lock/password-free/open-door
  kPasswordFreeOpenV11,   // POST /v1.1/devices/{id}/door-lock/password-free/open-door
  kRevokePasswordFree,    // PUT  /v1.0/devices/{id}/door-lock/password-free/open-door/cancel
  kDoorOperate,           // POST /v1.0/smart-lock/devices/{id}/password-free/door-operate
  kPasswordTicket,        // POST /v1.0/smart-lock/devices/{id}/password-ticket
  kLatestMediaUrl,        // GET  /v1.0/devices/{id}/door-lock/latest/media/url
};

// Stable config/fixture names: "wifi", "zigbee", "bluetooth", "wifi_all_in_one",
// "zigbee_all_in_one", "zigbee_hotel", "wifi_keepalive", "wifi_video",
// "wifi_access_control".
std::string_view LockTypeName(LockType type);
std::optional<LockType> ParseLockType(std::string_view name);
std::vector<LockType> AllLockTypes();
// "Wi-Fi lock", as the reference writes it.
std::string_view LockTypeDescription(LockType type);

std::string_view EndpointName(Endpoint endpoint);
// Whether the reference lists `type` for `endpoint` (with the ticket reading above).
bool Supports(LockType type, Endpoint endpoint);

// The call that opens a door of this type without a password, in order of
// preference: v1.1 with a channel for access control; password-free v1.0 where
// listed; door-operate where only that is listed; nothing for plain Wi-Fi and
// Zigbee locks (Zigbee opens only with a password).
std::optional<Endpoint> PasswordFreeUnlockEndpoint(LockType type);

}  // namespace lockpipe
