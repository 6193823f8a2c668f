// The emulator's fixture: which client credentials it accepts, which locks
// exist and what media they have already captured. A JSON file, described in
// emulator/README.md.
//
// Thread-safety: plain values.
#pragma once

#include <string>
#include <vector>

#include "base/secret.h"
#include "base/status.h"
#include "fetch/lock_types.h"

namespace lockpipe::emulator {

struct FixtureCapture {
  int file_type = 1;  // 1 = unlock request, 2 = alert
  std::string path;   // resolved against the fixture's folder; checked to exist
};

struct FixtureDevice {
  std::string id;
  std::string name;
  LockType type = LockType::kWifi;
  bool online = true;
  bool remote_unlock_without_pwd = true;  // remoteUnlockWithoutPwd switch
  bool remote_unlock_with_pwd = true;     // remoteUnlockWithPwd switch
  Secret door_password;                   // 6 digits; empty = open-door always refuses
  int channels = 0;                       // access control: channel ids 1..channels
  std::vector<FixtureCapture> captures;
};

struct Fixture {
  std::string path;  // where it was loaded from ("" for text)
  std::string client_id;
  Secret access_secret;  // 32 characters (it is the AES-256 key of ticket_key)
  std::string uid = "emulator-uid";
  std::vector<FixtureDevice> devices;
};

// Reads and validates a fixture file. Every failure names the file and the
// field ("fixture.json: devices[2].type: unknown lock type 'x' ..."), and a
// capture whose file does not exist fails here, naming that file.
Result<Fixture> LoadFixture(const std::string& path);
// The same for text already in memory; `name` labels errors and `base_dir`
// resolves relative capture paths.
Result<Fixture> ParseFixture(const std::string& text, const std::string& name,
                             const std::string& base_dir);

}  // namespace lockpipe::emulator
