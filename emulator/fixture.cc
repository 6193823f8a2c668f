#include "emulator/fixture.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>

#include "base/file_util.h"

namespace lockpipe::emulator {
namespace {

using nlohmann::json;

std::string TypeList() {
  std::string out;
  for (LockType t : AllLockTypes()) {
    if (!out.empty()) out += ", ";
    out += LockTypeName(t);
  }
  return out;
}

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  Status Error(const std::string& field, const std::string& what) const {
    return InvalidArgument(name_ + ": " + field + ": " + what);
  }

  Result<std::string> String(const json& obj, const std::string& key, const std::string& field,
                             bool required, const std::string& fallback = "") const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      if (required) return Error(field, "missing (a string is required)");
      return fallback;
    }
    if (!it->is_string()) return Error(field, "must be a string");
    return it->get<std::string>();
  }

  Result<bool> Bool(const json& obj, const std::string& key, const std::string& field,
                    bool fallback) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return Error(field, "must be true or false");
    return it->get<bool>();
  }

  Result<int> Int(const json& obj, const std::string& key, const std::string& field, int fallback,
                  int min, int max) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_number_integer()) return Error(field, "must be an integer");
    auto v = it->get<std::int64_t>();
    if (v < min || v > max)
      return Error(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return static_cast<int>(v);
  }

 private:
  std::string name_;
};

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<FixtureDevice> ParseDevice(const Reader& r, const json& d, const std::string& field,
                                  const std::string& base_dir) {
  if (!d.is_object()) return r.Error(field, "must be an object");
  FixtureDevice dev;
  ASSIGN_OR_RETURN(dev.id, r.String(d, "id", field + ".id", true));
  if (dev.id.empty()) return r.Error(field + ".id", "must not be empty");
  for (char c : dev.id) {
    if (c == '/' || c == '?' || c == '#' || c == '%' || c <= ' ')
      return r.Error(field + ".id",
                     "'" + dev.id + "' may not contain '/', '?', '#', '%' or spaces");
  }
  ASSIGN_OR_RETURN(dev.name, r.String(d, "name", field + ".name", false, dev.id));
  ASSIGN_OR_RETURN(std::string type, r.String(d, "type", field + ".type", true));
  auto parsed = ParseLockType(type);
  if (!parsed)
    return r.Error(field + ".type",
                   "unknown lock type '" + type + "' (expected one of " + TypeList() + ")");
  dev.type = *parsed;
  ASSIGN_OR_RETURN(dev.online, r.Bool(d, "online", field + ".online", true));
  if (auto it = d.find("remote_unlock"); it != d.end()) {
    if (!it->is_object()) return r.Error(field + ".remote_unlock", "must be an object");
    for (const auto& [k, v] : it->items()) {
      if (k != "remoteUnlockWithoutPwd" && k != "remoteUnlockWithPwd")
        return r.Error(field + ".remote_unlock." + k,
                       "unknown switch (expected remoteUnlockWithoutPwd or remoteUnlockWithPwd)");
      if (!v.is_boolean()) return r.Error(field + ".remote_unlock." + k, "must be true or false");
    }
    ASSIGN_OR_RETURN(dev.remote_unlock_without_pwd,
                     r.Bool(*it, "remoteUnlockWithoutPwd",
                            field + ".remote_unlock.remoteUnlockWithoutPwd", true));
    ASSIGN_OR_RETURN(
        dev.remote_unlock_with_pwd,
        r.Bool(*it, "remoteUnlockWithPwd", field + ".remote_unlock.remoteUnlockWithPwd", true));
  }
  ASSIGN_OR_RETURN(std::string pw, r.String(d, "door_password", field + ".door_password", false));
  if (!pw.empty()) {
    bool digits = pw.size() == 6;
    for (char c : pw) digits = digits && c >= '0' && c <= '9';
    if (!digits) return r.Error(field + ".door_password", "must be exactly 6 digits");
    dev.door_password = Secret(pw);
  }
  const bool access = dev.type == LockType::kWifiAccessControl;
  ASSIGN_OR_RETURN(dev.channels, r.Int(d, "channels", field + ".channels", access ? 1 : 0, 0, 64));
  if (access && dev.channels < 1)
    return r.Error(field + ".channels", "an access control device needs at least 1 channel");
  if (auto it = d.find("captures"); it != d.end()) {
    if (!it->is_array()) return r.Error(field + ".captures", "must be an array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string cf = field + ".captures[" + std::to_string(i) + "]";
      const json& c = (*it)[i];
      if (!c.is_object()) return r.Error(cf, "must be an object");
      FixtureCapture cap;
      ASSIGN_OR_RETURN(std::string kind, r.String(c, "kind", cf + ".kind", false, "unlock"));
      if (kind == "unlock")
        cap.file_type = 1;
      else if (kind == "alert")
        cap.file_type = 2;
      else
        return r.Error(cf + ".kind", "must be 'unlock' or 'alert', not '" + kind + "'");
      ASSIGN_OR_RETURN(cap.path, r.String(c, "path", cf + ".path", true));
      if (cap.path.empty()) return r.Error(cf + ".path", "must not be empty");
      if (cap.path[0] != '/') cap.path = base_dir + "/" + cap.path;
      if (!IsRegularFile(cap.path))
        return r.Error(cf + ".path", "capture file " + cap.path + " does not exist");
      dev.captures.push_back(std::move(cap));
    }
  }
  return dev;
}

}  // namespace

Result<Fixture> ParseFixture(const std::string& text, const std::string& name,
                             const std::string& base_dir) {
  Reader r(name);
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    return Corrupt(name + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) return r.Error("(top level)", "must be a JSON object");
  Fixture fx;
  fx.path = name;
  ASSIGN_OR_RETURN(fx.client_id, r.String(root, "client_id", "client_id", true));
  if (fx.client_id.empty()) return r.Error("client_id", "must not be empty");
  ASSIGN_OR_RETURN(std::string secret, r.String(root, "access_secret", "access_secret", true));
  // The secret is the AES-256 key that encrypts ticket_key, so its length is fixed.
  if (secret.size() != 32)
    return r.Error("access_secret", "must be exactly 32 characters (it is the AES-256 ticket key)");
  fx.access_secret = Secret(std::move(secret));
  ASSIGN_OR_RETURN(fx.uid, r.String(root, "uid", "uid", false, fx.uid));
  auto it = root.find("devices");
  if (it == root.end() || !it->is_array())
    return r.Error("devices", "missing (an array of devices is required)");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const std::string field = "devices[" + std::to_string(i) + "]";
    ASSIGN_OR_RETURN(FixtureDevice dev, ParseDevice(r, (*it)[i], field, base_dir));
    if (!ids.insert(dev.id).second)
      return r.Error(field + ".id", "duplicate device id '" + dev.id + "'");
    fx.devices.push_back(std::move(dev));
  }
  return fx;
}

Result<Fixture> LoadFixture(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text.ok()) return text.status().WithContext("emulator fixture");
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos)
    dir = slash == 0 ? "/" : path.substr(0, slash);
  return ParseFixture(*text, path, dir);
}

}  // namespace lockpipe::emulator
