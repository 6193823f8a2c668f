#include "fetch/lock_types.h"

#include <array>

namespace lockpipe {
namespace {

struct TypeInfo {
  LockType type;
  std::string_view name;
  std::string_view description;
};
constexpr std::array<TypeInfo, 9> kTypes = {{
    {LockType::kWifi, "wifi", "Wi-Fi lock"},
    {LockType::kZigbee, "zigbee", "Zigbee lock"},
    {LockType::kBluetooth, "bluetooth", "Bluetooth lock"},
    {LockType::kWifiAllInOne, "wifi_all_in_one", "All-in-one Wi-Fi lock"},
    {LockType::kZigbeeAllInOne, "zigbee_all_in_one", "All-in-one Zigbee lock"},
    {LockType::kZigbeeHotel, "zigbee_hotel", "Zigbee lock for hotel use"},
    {LockType::kWifiKeepalive, "wifi_keepalive", "Keepalive Wi-Fi lock"},
    {LockType::kWifiVideo, "wifi_video", "Wi-Fi lock with video talk"},
    {LockType::kWifiAccessControl, "wifi_access_control", "Wi-Fi access control device"},
}};

using L = LockType;

// The reference's "Applicable lock types", endpoint by endpoint.
bool Listed(LockType t, Endpoint e) {
  switch (e) {
    case Endpoint::kRemoteUnlocks:
      return t == L::kZigbee || t == L::kBluetooth;
    case Endpoint::kRemoteUnlockConfig:
      return t == L::kWifi || t == L::kZigbee || t == L::kBluetooth;
    case Endpoint::kOpenDoorWithPassword:
      return t == L::kZigbee;
    case Endpoint::kPasswordFreeOpen:
    case Endpoint::kDoorOperate:
      return t == L::kWifiAllInOne || t == L::kZigbeeAllInOne || t == L::kZigbeeHotel ||
             t == L::kBluetooth || t == L::kWifiKeepalive || t == L::kWifiVideo;
    case Endpoint::kPasswordFreeOpenV11:
      return t == L::kWifiAccessControl;
    case Endpoint::kRevokePasswordFree:
      return t == L::kWifi;
    case Endpoint::kPasswordTicket:
      return t == L::kWifi || t == L::kZigbee || t == L::kBluetooth || t == L::kZigbeeHotel ||
             t == L::kWifiVideo;
    case Endpoint::kLatestMediaUrl:
      return t == L::kWifi || t == L::kZigbeeHotel || t == L::kBluetooth;
  }
  return false;
}

}  // namespace

std::string_view LockTypeName(LockType type) {
  for (const auto& i : kTypes)
    if (i.type == type) return i.name;
  return "unknown";
}

std::string_view LockTypeDescription(LockType type) {
  for (const auto& i : kTypes)
    if (i.type == type) return i.description;
  return "unknown lock type";
}

std::optional<LockType> ParseLockType(std::string_view name) {
  for (const auto& i : kTypes)
    if (i.name == name) return i.type;
  return std::nullopt;
}

std::vector<LockType> AllLockTypes() {
  std::vector<LockType> out;
  for (const auto& i : kTypes) out.push_back(i.type);
  return out;
}

std::string_view EndpointName(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kRemoteUnlocks:
      return "remote-unlocks";
    case Endpoint::kRemoteUnlockConfig:
      return "remote-unlock/config";
    case Endpoint::kOpenDoorWithPassword:
      return "open-door";
    case Endpoint::kPasswordFreeOpen:
      return "password-free/open-door";
    case Endpoint::kPasswordFreeOpenV11:
      return "password-free/open-door (v1.1)";
    case Endpoint::kRevokePasswordFree:
      return "password-free/open-door/cancel";
    case Endpoint::kDoorOperate:
      return "password-free/door-operate";
    case Endpoint::kPasswordTicket:
      return "password-ticket";
    case Endpoint::kLatestMediaUrl:
      return "latest/media/url";
  }
  return "unknown";
}

bool Supports(LockType type, Endpoint endpoint) {
  if (endpoint == Endpoint::kPasswordTicket) {
    // See the header: tickets exist for every type with a ticket-taking call.
    return Listed(type, Endpoint::kPasswordTicket) || Listed(type, Endpoint::kPasswordFreeOpen) ||
           Listed(type, Endpoint::kPasswordFreeOpenV11) || Listed(type, Endpoint::kDoorOperate) ||
           Listed(type, Endpoint::kOpenDoorWithPassword);
  }
  return Listed(type, endpoint);
}

std::optional<Endpoint> PasswordFreeUnlockEndpoint(LockType type) {
  if (Supports(type, Endpoint::kPasswordFreeOpenV11)) return Endpoint::kPasswordFreeOpenV11;
  if (Supports(type, Endpoint::kPasswordFreeOpen)) return Endpoint::kPasswordFreeOpen;
  if (Supports(type, Endpoint::kDoorOperate)) return Endpoint::kDoorOperate;
  return std::nullopt;
}

}  // namespace lockpipe
