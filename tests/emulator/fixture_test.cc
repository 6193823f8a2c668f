// The fixture loader refuses bad fixtures with a message naming the file and
// the field, and the sample fixture of the demo is valid.
#include "emulator/fixture.h"

#include <gtest/gtest.h>

#include "emulator/server.h"
#include "tests/testutil.h"

namespace lockpipe::emulator {
namespace {

const char* kGood =
    R"({"client_id":"c","access_secret":"0123456789abcdef0123456789abcdef","devices":[
  {"id":"a","type":"wifi_access_control","channels":2},
  {"id":"z","type":"zigbee","door_password":"123456","online":false,
   "remote_unlock":{"remoteUnlockWithPwd":false}}]})";

TEST(FixtureTest, ParsesDevices) {
  auto fx = ParseFixture(kGood, "f.json", "/tmp");
  ASSERT_OK_R(fx);
  EXPECT_EQ(fx->client_id, "c");
  ASSERT_EQ(fx->devices.size(), 2u);
  EXPECT_EQ(fx->devices[0].type, LockType::kWifiAccessControl);
  EXPECT_EQ(fx->devices[0].channels, 2);
  EXPECT_FALSE(fx->devices[1].online);
  EXPECT_TRUE(fx->devices[1].remote_unlock_without_pwd);
  EXPECT_FALSE(fx->devices[1].remote_unlock_with_pwd);
  EXPECT_EQ(fx->devices[1].door_password.reveal(), "123456");
}

struct BadCase {
  const char* text;
  const char* message;
};

TEST(FixtureTest, RefusesBadFixturesNamingFileAndField) {
  const std::string secret = R"("access_secret":"0123456789abcdef0123456789abcdef")";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "bad.json: not valid JSON"},
      {"[]", "bad.json: (top level): must be a JSON object"},
      {R"({"access_secret":"x","devices":[]})", "bad.json: client_id: missing"},
      {R"({"client_id":"c","access_secret":"short","devices":[]})",
       "bad.json: access_secret: must be exactly 32 characters"},
      {R"({"client_id":"c",)" + secret + "}", "bad.json: devices: missing"},
      {R"({"client_id":"c",)" + secret +
           R"(,"devices":[{"id":"a","type":"wifi"},{"id":"b","type":"cloud"}]})",
       "bad.json: devices[1].type: unknown lock type 'cloud'"},
      {R"({"client_id":"c",)" + secret + R"(,"devices":[{"type":"wifi"}]})",
       "bad.json: devices[0].id: missing"},
      {R"({"client_id":"c",)" + secret +
           R"(,"devices":[{"id":"a","type":"wifi"},{"id":"a","type":"wifi"}]})",
       "bad.json: devices[1].id: duplicate device id 'a'"},
      {R"({"client_id":"c",)" + secret +
           R"(,"devices":[{"id":"a","type":"zigbee","door_password":"12"}]})",
       "bad.json: devices[0].door_password: must be exactly 6 digits"},
      {R"({"client_id":"c",)" + secret + R"(,"devices":[{"id":"a","type":"wifi","online":"yes"}]})",
       "bad.json: devices[0].online: must be true or false"},
      {R"({"client_id":"c",)" + secret +
           R"(,"devices":[{"id":"a","type":"wifi","captures":[{"kind":"unlock","path":"media/missing.jpg"}]}]})",
       "bad.json: devices[0].captures[0].path: capture file /base/media/missing.jpg does not "
       "exist"},
      {R"({"client_id":"c",)" + secret +
           R"(,"devices":[{"id":"a","type":"wifi","captures":[{"kind":"door","path":"x"}]}]})",
       "bad.json: devices[0].captures[0].kind: must be 'unlock' or 'alert'"},
      {R"({"client_id":"c",)" + secret + R"(,"devices":[{"id":"a/b","type":"wifi"}]})",
       "bad.json: devices[0].id: 'a/b' may not contain"},
  };
  for (const auto& [text, message] : cases) {
    auto fx = ParseFixture(text, "bad.json", "/base");
    ASSERT_FALSE(fx.ok()) << text;
    EXPECT_EQ(fx.status().message().rfind(message, 0), 0u) << fx.status().message();
  }
}

TEST(FixtureTest, ServerStartFailsOnBadFixture) {
  lockpipe::testing::TempDir dir;
  const std::string path = dir.File("fixture.json");
  lockpipe::testing::WriteFile(
      path,
      std::string(R"({"client_id":"c","access_secret":"0123456789abcdef0123456789abcdef",)"
                  R"("devices":[{"id":"a","type":"wifi","captures":[{"path":"gone.jpg"}]}]})"));
  ServerOptions o;
  o.fixture_path = path;
  auto s = Server::Start(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(path + ": devices[0].captures[0].path: capture file " +
                                      dir.path() + "/gone.jpg does not exist"),
            std::string::npos)
      << s.status().message();
  o.fixture_path = dir.File("absent.json");
  auto absent = Server::Start(o);
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("absent.json"), std::string::npos)
      << absent.status().message();
}

TEST(FixtureTest, CapturesResolveAgainstTheFixtureFolder) {
  lockpipe::testing::TempDir dir;
  lockpipe::testing::WriteFile(dir.File("photo.jpg"),
                               std::string("\xFF\xD8\xFF\xE0 not really a jpeg"));
  const std::string path = dir.File("fixture.json");
  lockpipe::testing::WriteFile(
      path,
      std::string(
          R"({"client_id":"c","access_secret":"0123456789abcdef0123456789abcdef",)"
          R"("devices":[{"id":"a","type":"wifi","captures":[{"kind":"alert","path":"photo.jpg"}]}]})"));
  auto fx = LoadFixture(path);
  ASSERT_OK_R(fx);
  ASSERT_EQ(fx->devices[0].captures.size(), 1u);
  EXPECT_EQ(fx->devices[0].captures[0].path, dir.path() + "/photo.jpg");
  EXPECT_EQ(fx->devices[0].captures[0].file_type, 2);
}

TEST(FixtureTest, SampleFixtureLoads) {
  const std::string sample = lockpipe::testing::SourceDir() + "/samples/emulator-fixture.json";
  if (!lockpipe::testing::FileExists(lockpipe::testing::SourceDir() +
                                     "/samples/media/astronaut.jpg"))
    GTEST_SKIP() << "samples/media/ is not there yet (produced by the decode work)";
  auto fx = LoadFixture(sample);
  ASSERT_OK_R(fx);
  EXPECT_EQ(fx->client_id, "lockpipe-demo-client");
  EXPECT_EQ(fx->access_secret.size(), 32u);
  EXPECT_GE(fx->devices.size(), 6u);
}

}  // namespace
}  // namespace lockpipe::emulator
