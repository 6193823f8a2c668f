// The emulator over real loopback HTTP and HTTPS, driven by a Tuya-signing
// client: every endpoint's success and its documented failures.
#include "emulator/server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "decoders/media_container.h"
#include "fetch/tuya_sign.h"
#include "tests/emulator/emu_client.h"
#include "tests/testutil.h"

namespace lockpipe::emulator {
namespace {

using nlohmann::json;
using testing::Admin;
using testing::ApiClient;
using testing::ApiReply;

class EmulatorTest : public ::testing::Test {
 protected:
  void StartServer(bool tls = false, std::string webhook = "") {
    ServerOptions o;
    o.fixture_path = testing::WriteTestFixture(dir_.path());
    o.tls = tls;
    o.webhook_url = std::move(webhook);
    o.webhook_secret = Secret("hook-secret");
    auto s = Server::Start(o);
    ASSERT_OK_R(s);
    server_ = std::move(*s);
    client_ = std::make_unique<ApiClient>(*server_);
    ASSERT_TRUE(client_->Login().success());
  }
  void SetUp() override { StartServer(); }

  ApiReply Ticket(const std::string& dev) {
    return client_->Call("POST", "/v1.0/smart-lock/devices/" + dev + "/password-ticket");
  }
  std::string TicketId(const std::string& dev) {
    ApiReply r = Ticket(dev);
    EXPECT_TRUE(r.success()) << r.body;
    return r.success() ? r.result().at("ticket_id").get<std::string>() : "";
  }
  json Device(const std::string& dev) {
    return Admin(*server_, "GET", "/_emulator/devices/" + dev).json;
  }
  void Advance(int seconds) {
    ASSERT_EQ(
        Admin(*server_, "POST", "/_emulator/clock/advance?seconds=" + std::to_string(seconds)).http,
        200);
  }
  ApiReply Inject(const std::string& dev, const std::vector<std::uint8_t>& bytes,
                  const std::string& kind) {
    return Admin(*server_, "POST", "/_emulator/devices/" + dev + "/captures?kind=" + kind,
                 std::string(bytes.begin(), bytes.end()), "application/octet-stream");
  }

  lockpipe::testing::TempDir dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<ApiClient> client_;
};

std::vector<std::uint8_t> FakeJpeg(std::size_t n, std::uint32_t seed) {
  auto b = lockpipe::testing::RandomBytes(n, seed);
  b[0] = 0xFF, b[1] = 0xD8, b[2] = 0xFF, b[3] = 0xE0;
  return b;
}

TEST_F(EmulatorTest, TokenCallAndEnvelope) {
  ApiReply r = client_->Login();
  ASSERT_TRUE(r.success()) << r.body;
  EXPECT_EQ(r.http, 200);
  EXPECT_EQ(r.result().at("uid"), "test-uid");
  EXPECT_EQ(r.result().at("expire_time"), 7200);
  EXPECT_EQ(r.result().at("access_token").get<std::string>().size(), 32u);
  EXPECT_TRUE(r.json.at("t").is_number_integer());
  EXPECT_FALSE(r.json.contains("code"));
}

TEST_F(EmulatorTest, AcceptsEverySdkSigningStyle) {
  const std::string path = "/v1.0/devices/bt1/door-lock/remote-unlocks";
  testing::SignOptions python;  // no nonce, no signed headers
  testing::SignOptions java;
  java.nonce = "5138cc3a9033d69856923fd07b491173";
  testing::SignOptions openhab;
  openhab.nonce = "abc";
  openhab.sig_headers = {{"area_id", "29a33e8796834b1efa6"},
                         {"call_id", "8afdb70ab2ed11eb85290242ac130003"}};
  for (const auto* o : {&python, &java, &openhab}) {
    ApiReply r = client_->Call("GET", path, {}, "", *o);
    ASSERT_TRUE(r.success()) << r.body;
    EXPECT_EQ(r.result(),
              json::parse(R"([{"remote_unlock_type":"remoteUnlockWithoutPwd","open":true},
                                          {"remote_unlock_type":"remoteUnlockWithPwd","open":true}])"));
    EXPECT_TRUE(client_->Call("GET", "/v1.0/token", {{"grant_type", "1"}}, "", *o).success());
  }
}

TEST_F(EmulatorTest, SignatureTimeAndTokenFailures) {
  const std::string path = "/v1.0/devices/bt1/door-lock/remote-unlocks";
  testing::SignOptions bad;
  bad.corrupt_sign = true;
  EXPECT_EQ(client_->Call("GET", path, {}, "", bad).code(), 1004);
  EXPECT_EQ(client_->Call("GET", "/v1.0/token", {{"grant_type", "1"}}, "", bad).code(), 1004);
  // A body that differs from what was signed.
  testing::SignOptions stale;
  stale.t_ms = 1588925778000;  // 2020
  EXPECT_EQ(client_->Call("GET", path, {}, "", stale).code(), 1013);
  testing::SignOptions unknown;
  unknown.token_override = "00000000000000000000000000000000";
  EXPECT_EQ(client_->Call("GET", path, {}, "", unknown).code(), 1011);
  testing::SignOptions none;
  none.send_token = false;
  EXPECT_EQ(client_->Call("GET", path, {}, "", none).code(), 1011);
  ApiClient stranger(*server_, "someone-else");
  EXPECT_EQ(stranger.Login().code(), 1005);
  ApiClient wrong_secret(*server_, testing::kClientId, "ffffffffffffffffffffffffffffffff");
  EXPECT_EQ(wrong_secret.Login().code(), 1004);
  EXPECT_EQ(client_->Call("GET", "/v1.0/nothing/here").code(), 1108);
  EXPECT_EQ(client_->Call("GET", "/v1.0/token", {{"grant_type", "2"}}).code(), 1109);
}

TEST_F(EmulatorTest, TokenExpiryAndRefreshOnce) {
  const std::string path = "/v1.0/devices/bt1/door-lock/remote-unlocks";
  ASSERT_TRUE(client_->Call("GET", path).success());
  Advance(7200);
  EXPECT_EQ(client_->Call("GET", path).code(), 1010);
  const std::string old_token = client_->access_token;
  const std::string old_refresh = client_->refresh_token;
  ASSERT_TRUE(client_->Refresh().success());
  EXPECT_NE(client_->access_token, old_token);
  EXPECT_TRUE(client_->Call("GET", path).success());
  // The old pair is dead: its token is unknown and its refresh token spent.
  testing::SignOptions old;
  old.token_override = old_token;
  EXPECT_EQ(client_->Call("GET", path, {}, "", old).code(), 1011);
  EXPECT_EQ(client_->Call("GET", "/v1.0/token/" + old_refresh).code(), 1011);
  // Forced expiry from the admin interface.
  ASSERT_EQ(Admin(*server_, "POST", "/_emulator/tokens/expire").http, 200);
  EXPECT_EQ(client_->Call("GET", path).code(), 1010);
}

TEST_F(EmulatorTest, DeviceLookupTypeAndOnline) {
  EXPECT_EQ(client_->Call("GET", "/v1.0/devices/nope/door-lock/remote-unlocks").code(), 2010);
  // Wi-Fi locks are not listed for remote-unlocks; Zigbee is.
  EXPECT_EQ(client_->Call("GET", "/v1.0/devices/wifi1/door-lock/remote-unlocks").code(), 2004);
  EXPECT_TRUE(client_->Call("GET", "/v1.0/devices/zb1/door-lock/remote-unlocks").success());
  EXPECT_EQ(client_
                ->Call("POST", "/v1.0/devices/wifi1/door-lock/password-free/open-door", {},
                       R"({"ticket_id":"x"})")
                .code(),
            2004);
  EXPECT_EQ(client_
                ->Call("PUT", "/v1.0/devices/bt1/door-lock/password-free/open-door/cancel", {},
                       R"({"type":1})")
                .code(),
            2004);
  const std::string t = TicketId("off");
  EXPECT_EQ(client_
                ->Call("POST", "/v1.0/devices/off/door-lock/password-free/open-door", {},
                       json({{"ticket_id", t}}).dump())
                .code(),
            2001);
  EXPECT_EQ(
      client_->Call("POST", "/v1.0/devices/bt1/door-lock/password-free/open-door", {}, "{oops")
          .code(),
      1109);
  EXPECT_EQ(
      client_->Call("POST", "/v1.0/devices/bt1/door-lock/password-free/open-door", {}, "{}").code(),
      1109);
}

TEST_F(EmulatorTest, PasswordFreeTicketsWorkOnceAndExpire) {
  ApiReply tr = Ticket("bt1");
  ASSERT_TRUE(tr.success()) << tr.body;
  EXPECT_EQ(tr.result().at("expire_time"), 300);
  // The ticket_key decrypts under the access secret to a 16-byte key.
  auto original = tuya::DecryptTicketKey(tr.result().at("ticket_key").get<std::string>(),
                                         Secret(testing::kSecret));
  ASSERT_OK_R(original);
  EXPECT_EQ(original->size(), 16u);
  const std::string t1 = tr.result().at("ticket_id").get<std::string>();
  const std::string path = "/v1.0/devices/bt1/door-lock/password-free/open-door";
  EXPECT_EQ(Device("bt1").at("state"), "locked");
  ApiReply ok = client_->Call("POST", path, {}, json({{"ticket_id", t1}}).dump());
  ASSERT_TRUE(ok.success()) << ok.body;
  EXPECT_EQ(ok.result(), true);
  EXPECT_EQ(Device("bt1").at("state"), "unlocked");
  ApiReply reuse = client_->Call("POST", path, {}, json({{"ticket_id", t1}}).dump());
  EXPECT_EQ(reuse.code(), 1109);
  EXPECT_EQ(reuse.json.at("msg"), "param is illegal: ticket invalid (already used)");
  const std::string t2 = TicketId("bt1");
  Advance(301);
  EXPECT_EQ(client_->Call("POST", path, {}, json({{"ticket_id", t2}}).dump()).json.at("msg"),
            "param is illegal: ticket invalid (expired)");
  // A ticket belongs to the device it was issued for.
  const std::string t3 = TicketId("hotel");
  EXPECT_EQ(client_->Call("POST", path, {}, json({{"ticket_id", t3}}).dump()).code(), 1109);
  // The other ticket path seen in the wild works too.
  EXPECT_TRUE(client_->Call("POST", "/v1.0/devices/bt1/door-lock/password-ticket").success());

  json audit = Admin(*server_, "GET", "/_emulator/devices/bt1/audit").json.at("audit");
  ASSERT_EQ(audit.size(), 4u);
  EXPECT_EQ(audit[0].at("endpoint"), "password-free/open-door");
  EXPECT_EQ(audit[0].at("ticket_id"), t1);
  EXPECT_EQ(audit[0].at("ok"), true);
  EXPECT_EQ(audit[0].at("outcome"), "unlocked");
  EXPECT_EQ(audit[1].at("ok"), false);
  EXPECT_EQ(audit[1].at("code"), 1109);
  EXPECT_EQ(audit[2].at("ticket_id"), t2);
  EXPECT_EQ(audit[3].at("ticket_id"), t3);
}

TEST_F(EmulatorTest, OpenDoorWithPassword) {
  const std::string path = "/v1.0/devices/zb1/door-lock/open-door";
  auto open_with = [&](const std::string& password, bool lower) {
    ApiReply tr = Ticket("zb1");
    EXPECT_TRUE(tr.success()) << tr.body;
    auto key = tuya::DecryptTicketKey(tr.result().at("ticket_key").get<std::string>(),
                                      Secret(testing::kSecret));
    EXPECT_TRUE(key.ok());
    auto enc = tuya::EncryptDoorPassword(Secret(password), *key);
    EXPECT_TRUE(enc.ok());
    std::string hex = *enc;
    if (lower)
      for (auto& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return client_->Call("POST", path, {},
                         json({{"password", hex},
                               {"password_type", "ticket"},
                               {"ticket_id", tr.result().at("ticket_id")}})
                             .dump());
  };
  EXPECT_EQ(open_with("654321", false).code(), 1106);
  EXPECT_EQ(Device("zb1").at("state"), "locked");
  ApiReply ok = open_with("123456", true);
  EXPECT_TRUE(ok.success()) << ok.body;
  EXPECT_EQ(Device("zb1").at("state"), "unlocked");
  EXPECT_TRUE(open_with("123456", false).success());
  // Turning remoteUnlockWithPwd off refuses the next attempt.
  ApiReply cfg = client_->Call("POST", "/v1.0/devices/zb1/door-lock/remote-unlock/config", {},
                               R"({"remote_unlock_type":"remoteUnlockWithPwd","open":"false"})");
  ASSERT_TRUE(cfg.success()) << cfg.body;
  EXPECT_EQ(cfg.result(), true);
  EXPECT_EQ(open_with("123456", false).code(), 2008);
  EXPECT_EQ(
      client_->Call("GET", "/v1.0/devices/zb1/door-lock/remote-unlocks").result()[1].at("open"),
      false);
  EXPECT_EQ(client_
                ->Call("POST", "/v1.0/devices/zb1/door-lock/remote-unlock/config", {},
                       R"({"remote_unlock_type":"remoteUnlockWithPwd","open":"maybe"})")
                .code(),
            1109);
  json audit = Device("zb1").at("audit");
  ASSERT_EQ(audit.size(), 5u);
  EXPECT_EQ(audit[0].at("code"), 1106);
  EXPECT_EQ(audit[1].at("outcome"), "unlocked");
  EXPECT_EQ(audit[3].at("outcome"), "remoteUnlockWithPwd off");
  EXPECT_EQ(audit[4].at("code"), 2008);
}

TEST_F(EmulatorTest, DisabledPasswordFreeRefuses) {
  const std::string t = TicketId("closed");
  ApiReply r = client_->Call("POST", "/v1.0/devices/closed/door-lock/password-free/open-door", {},
                             json({{"ticket_id", t}}).dump());
  EXPECT_EQ(r.code(), 2008);
  EXPECT_EQ(Device("closed").at("state"), "locked");
}

TEST_F(EmulatorTest, DoorOperateLocksOnlyAllInOneWifi) {
  const std::string bt = "/v1.0/smart-lock/devices/bt1/password-free/door-operate";
  EXPECT_EQ(
      client_->Call("POST", bt, {}, json({{"ticket_id", TicketId("bt1")}, {"open", false}}).dump())
          .code(),
      2008);
  EXPECT_TRUE(
      client_->Call("POST", bt, {}, json({{"ticket_id", TicketId("bt1")}}).dump()).success());
  EXPECT_EQ(Device("bt1").at("state"), "unlocked");
  const std::string aio = "/v1.0/smart-lock/devices/aio/password-free/door-operate";
  ASSERT_EQ(Admin(*server_, "POST", "/_emulator/devices/aio/state", R"({"state":"unlocked"})").http,
            200);
  ApiReply lock = client_->Call("POST", aio, {},
                                json({{"ticket_id", TicketId("aio")}, {"open", "false"}}).dump());
  ASSERT_TRUE(lock.success()) << lock.body;
  EXPECT_EQ(Device("aio").at("state"), "locked");
  EXPECT_EQ(Device("aio").at("audit")[0].at("outcome"), "locked");
}

TEST_F(EmulatorTest, AccessControlChannels) {
  const std::string path = "/v1.1/devices/ac/door-lock/password-free/open-door";
  EXPECT_EQ(
      client_
          ->Call("POST", path, {}, json({{"ticket_id", TicketId("ac")}, {"channel_id", 3}}).dump())
          .code(),
      1109);
  ApiReply ok = client_->Call("POST", path, {},
                              json({{"ticket_id", TicketId("ac")}, {"channel_id", 2}}).dump());
  ASSERT_TRUE(ok.success()) << ok.body;
  EXPECT_EQ(Device("ac").at("audit")[0].at("outcome"), "unlocked channel 2");
  EXPECT_EQ(Device("ac").at("audit")[0].at("channel_id"), 2);
  // v1.0 is not listed for access control devices.
  EXPECT_EQ(client_
                ->Call("POST", "/v1.0/devices/ac/door-lock/password-free/open-door", {},
                       json({{"ticket_id", TicketId("ac")}}).dump())
                .code(),
            2004);
}

TEST_F(EmulatorTest, RevokeRefusesThePendingRequest) {
  ApiReply cap = Inject("wifi1", FakeJpeg(1000, 1), "unlock");
  ASSERT_EQ(cap.http, 200) << cap.body;
  const std::string id = cap.json.at("capture_id");
  EXPECT_EQ(Device("wifi1").at("pending_request"), id);
  ApiReply r = client_->Call("PUT", "/v1.0/devices/wifi1/door-lock/password-free/open-door/cancel",
                             {}, R"({"type":1})");
  ASSERT_TRUE(r.success()) << r.body;
  json d = Device("wifi1");
  EXPECT_TRUE(d.at("pending_request").is_null());
  ASSERT_EQ(d.at("audit").size(), 1u);
  EXPECT_EQ(d.at("audit")[0].at("endpoint"), "password-free/open-door/cancel");
  EXPECT_EQ(d.at("audit")[0].at("outcome"), "rejected request " + id);
  EXPECT_EQ(client_
                ->Call("PUT", "/v1.0/devices/wifi1/door-lock/password-free/open-door/cancel", {},
                       R"({"type":3})")
                .code(),
            1109);
  EXPECT_EQ(d.at("state"), "locked");
}

TEST_F(EmulatorTest, MediaRoundTripWindowAndRanges) {
  const std::string url = "/v1.0/devices/wifi1/door-lock/latest/media/url";
  ApiReply none = client_->Call("GET", url, {{"file_type", "1"}});
  ASSERT_TRUE(none.success()) << none.body;
  EXPECT_TRUE(none.result().is_null());
  EXPECT_EQ(client_->Call("GET", url, {{"file_type", "3"}}).code(), 1109);

  const auto photo = FakeJpeg(5000, 7);
  const auto alert = FakeJpeg(333, 8);
  ASSERT_EQ(Inject("wifi1", photo, "unlock").http, 200);
  ASSERT_EQ(Inject("wifi1", alert, "alert").http, 200);
  ApiReply m = client_->Call("GET", url, {{"file_type", "1"}});
  ASSERT_TRUE(m.success()) << m.body;
  const std::string file_key = m.result().at("file_key");
  EXPECT_EQ(file_key.size(), 16u);
  EXPECT_EQ(m.result().at("bucket"), "lockpipe-emulator");
  const std::string file_url = m.result().at("file_url");
  const std::string file_path = m.result().at("file_path");
  // As the cloud's: the URL's path is the file_path, signed afresh by each answer.
  ASSERT_EQ(file_url.rfind(server_->base_url() + file_path + "?sign=", 0), 0u) << file_url;
  const std::string storage_path = file_url.substr(server_->base_url().size());
  ApiReply again = client_->Call("GET", url, {{"file_type", "1"}});
  ASSERT_TRUE(again.success()) << again.body;
  EXPECT_EQ(again.result().at("file_path"), file_path);
  EXPECT_NE(again.result().at("file_url"), file_url);

  auto http = testing::MakeClient(*server_);
  auto got = http->Get(storage_path);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200);
  const std::vector<std::uint8_t> sealed(got->body.begin(), got->body.end());
  EXPECT_EQ(sealed.size(), media::kHeaderSize + 5008u);  // 5000 padded to 5008
  auto plain = media::Decrypt(Secret(file_key), sealed);
  ASSERT_OK_R(plain);
  EXPECT_EQ(*plain, photo);

  ApiReply a = client_->Call("GET", url, {{"file_type", "2"}});
  ASSERT_TRUE(a.success());
  auto alert_bytes =
      http->Get(a.result().at("file_url").get<std::string>().substr(server_->base_url().size()));
  ASSERT_TRUE(alert_bytes);
  auto alert_plain =
      media::Decrypt(Secret(a.result().at("file_key").get<std::string>()),
                     std::vector<std::uint8_t>(alert_bytes->body.begin(), alert_bytes->body.end()));
  ASSERT_OK_R(alert_plain);
  EXPECT_EQ(*alert_plain, alert);

  // Byte ranges and HEAD, as object storage serves them.
  const std::string total = std::to_string(sealed.size());
  auto r1 = http->Get(storage_path, {{"Range", "bytes=0-9"}});
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 206);
  EXPECT_EQ(r1->get_header_value("Content-Range"), "bytes 0-9/" + total);
  EXPECT_EQ(r1->body, got->body.substr(0, 10));
  auto r2 = http->Get(storage_path, {{"Range", "bytes=-16"}});
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 206);
  EXPECT_EQ(r2->body, got->body.substr(sealed.size() - 16));
  auto r3 = http->Get(storage_path, {{"Range", "bytes=100-"}});
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, 206);
  EXPECT_EQ(r3->body, got->body.substr(100));
  auto r4 = http->Get(storage_path, {{"Range", "bytes=" + total + "-"}});
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->status, 416);
  EXPECT_EQ(r4->get_header_value("Content-Range"), "bytes */" + total);
  auto head = http->Head(storage_path);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->get_header_value("Content-Length"), total);
  EXPECT_TRUE(head->body.empty());
  auto missing = http->Get("/wifi1/000000000000.jpg");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "no such object: /wifi1/000000000000.jpg\n");

  // Outside the 90-second window the capture is no longer "latest".
  Advance(91);
  EXPECT_TRUE(client_->Call("GET", url, {{"file_type", "1"}}).result().is_null());
  // Media is only listed for some lock types.
  EXPECT_EQ(
      client_->Call("GET", "/v1.0/devices/zb1/door-lock/latest/media/url", {{"file_type", "1"}})
          .code(),
      2004);
}

TEST_F(EmulatorTest, Faults) {
  const std::string path = "/v1.0/devices/bt1/door-lock/remote-unlocks";
  ASSERT_EQ(Admin(*server_, "POST", "/_emulator/faults", R"({"error_next":2})").http, 200);
  ApiReply e = client_->Call("GET", path);
  EXPECT_EQ(e.code(), 500);
  EXPECT_EQ(e.json.at("msg"), "system error, please contact the admin");
  EXPECT_EQ(client_->Call("GET", path).code(), 500);
  EXPECT_TRUE(client_->Call("GET", path).success());

  ASSERT_EQ(
      Admin(*server_, "POST", "/_emulator/faults", R"({"error_rate":1.0,"error_http":true})").http,
      200);
  EXPECT_EQ(client_->Call("GET", path).http, 500);
  ASSERT_EQ(Admin(*server_, "DELETE", "/_emulator/faults").http, 200);
  EXPECT_TRUE(client_->Call("GET", path).success());

  for (int code : {1110, 1111, 1199}) {
    ASSERT_EQ(Admin(*server_, "POST", "/_emulator/faults",
                    json({{"rate_limit_code", code}, {"rate_limit_next", 1}}).dump())
                  .http,
              200);
    EXPECT_EQ(client_->Call("GET", path).code(), code);
    EXPECT_TRUE(client_->Call("GET", path).success());
  }
  ASSERT_EQ(Admin(*server_, "POST", "/_emulator/faults",
                  R"({"rate_limit_rate":1.0,"rate_limit_code":1111})")
                .http,
            200);
  EXPECT_EQ(client_->Call("GET", path).code(), 1111);
  ASSERT_EQ(Admin(*server_, "DELETE", "/_emulator/faults").http, 200);

  ASSERT_EQ(Admin(*server_, "POST", "/_emulator/faults", R"({"malformed_next":1})").http, 200);
  ApiReply bad = client_->Call("GET", path);
  EXPECT_EQ(bad.http, 200);
  EXPECT_TRUE(bad.json.is_null()) << bad.body;
  EXPECT_FALSE(bad.body.empty());
  EXPECT_TRUE(client_->Call("GET", path).success());

  EXPECT_EQ(Admin(*server_, "POST", "/_emulator/faults", R"({"no_such_fault":1})").http, 400);
  EXPECT_EQ(Admin(*server_, "POST", "/_emulator/faults", R"({"rate_limit_code":42})").http, 400);
  EXPECT_EQ(Admin(*server_, "POST", "/_emulator/faults", R"({"expire_tickets_next":-1})").http,
            400);

  // Truncated media: the download stops short and decryption fails.
  ASSERT_EQ(Inject("bt1", FakeJpeg(4000, 3), "unlock").http, 200);
  ApiReply m =
      client_->Call("GET", "/v1.0/devices/bt1/door-lock/latest/media/url", {{"file_type", "1"}});
  ASSERT_TRUE(m.success());
  ASSERT_EQ(Admin(*server_, "POST", "/_emulator/faults", R"({"truncate_media_bytes":100})").http,
            200);
  auto http = testing::MakeClient(*server_);
  auto got =
      http->Get(m.result().at("file_url").get<std::string>().substr(server_->base_url().size()));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body.size(), 100u);
  EXPECT_FALSE(media::Decrypt(Secret(m.result().at("file_key").get<std::string>()),
                              std::vector<std::uint8_t>(got->body.begin(), got->body.end()))
                   .ok());

  // Added latency still answers (no timing assertion: only that it works).
  ASSERT_EQ(Admin(*server_, "POST", "/_emulator/faults",
                  R"({"latency_ms":20,"media_latency_ms":20,"truncate_media_bytes":-1})")
                .http,
            200);
  EXPECT_TRUE(client_->Call("GET", path).success());
  auto slow =
      http->Get(m.result().at("file_url").get<std::string>().substr(server_->base_url().size()));
  ASSERT_TRUE(slow);
  EXPECT_TRUE(media::Decrypt(Secret(m.result().at("file_key").get<std::string>()),
                             std::vector<std::uint8_t>(slow->body.begin(), slow->body.end()))
                  .ok());
  ApiReply faults = Admin(*server_, "GET", "/_emulator/faults");
  EXPECT_EQ(faults.json.at("media_latency_ms"), 20) << faults.body;
  EXPECT_EQ(Admin(*server_, "POST", "/_emulator/faults", R"({"media_latency_ms":-1})").http, 400);
  EXPECT_EQ(Admin(*server_, "POST", "/_emulator/faults", R"({"media_latency_ms":60001})").http,
            400);
}

TEST_F(EmulatorTest, AdminErrorsAndReset) {
  EXPECT_EQ(Admin(*server_, "GET", "/_emulator/devices/nope").http, 404);
  EXPECT_EQ(Inject("nope", FakeJpeg(10, 1), "unlock").http, 404);
  EXPECT_EQ(Inject("bt1", FakeJpeg(10, 1), "sideways").http, 400);
  EXPECT_EQ(
      Admin(*server_, "POST", "/_emulator/devices/bt1/captures", R"({"path":"/no/such/file.jpg"})")
          .http,
      400);
  const std::string file = dir_.File("capture.jpg");
  lockpipe::testing::WriteFile(file, FakeJpeg(64, 9));
  ApiReply by_path = Admin(*server_, "POST", "/_emulator/devices/bt1/captures",
                           json({{"path", file}, {"kind", "alert"}}).dump());
  ASSERT_EQ(by_path.http, 200) << by_path.body;
  EXPECT_EQ(by_path.json.at("file_type"), 2);
  EXPECT_EQ(Admin(*server_, "GET", "/_emulator/devices").json.at("devices").size(), 8u);
  ASSERT_EQ(Admin(*server_, "POST", "/_emulator/devices/bt1/state", R"({"online":false})").http,
            200);
  EXPECT_FALSE(Device("bt1").at("online").get<bool>());
  ASSERT_EQ(Admin(*server_, "POST", "/_emulator/reset").http, 200);
  EXPECT_TRUE(Device("bt1").at("online").get<bool>());
  EXPECT_TRUE(Device("bt1").at("captures").empty());
  // Reset drops tokens too.
  EXPECT_EQ(client_->Call("GET", "/v1.0/devices/bt1/door-lock/remote-unlocks").code(), 1011);
}

TEST(EmulatorTlsTest, HttpsWithGeneratedCertificate) {
  lockpipe::testing::TempDir dir;
  ServerOptions o;
  o.fixture_path = testing::WriteTestFixture(dir.path());
  o.tls = true;
  o.state_dir = dir.File("state");
  auto s = Server::Start(o);
  ASSERT_OK_R(s);
  Server& server = **s;
  EXPECT_EQ(server.base_url(), "https://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(server.ca_cert_path(), dir.File("state") + "/emulator-cert.pem");
  ApiClient client(server);
  ApiReply r = client.Login();
  ASSERT_TRUE(r.success()) << r.body;
  EXPECT_TRUE(client.Call("GET", "/v1.0/devices/bt1/door-lock/remote-unlocks").success());
  // Without trusting the certificate, verification fails.
  httplib::Client untrusting(server.base_url());
  untrusting.enable_server_certificate_verification(true);
  untrusting.set_ca_cert_path("/nonexistent-ca.pem");
  untrusting.set_connection_timeout(5, 0);
  EXPECT_FALSE(untrusting.Get("/_emulator/health"));
  server.Stop();
  server.Stop();  // idempotent
  EXPECT_TRUE(lockpipe::testing::FileExists(dir.File("state") +
                                            "/emulator-cert.pem"));  // caller's folder stays
}

TEST(EmulatorWebhookTest, EventArrivesSigned) {
  httplib::Server receiver;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, std::string>> got;  // body, signature
  receiver.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(mu);
      got.emplace_back(req.body, req.get_header_value("X-Lockpipe-Signature"));
    }
    cv.notify_all();
    res.set_content("ok", "text/plain");
  });
  const int port = receiver.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { receiver.listen_after_bind(); });
  for (int i = 0; i < 5000 && !receiver.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));

  lockpipe::testing::TempDir dir;
  ServerOptions o;
  o.fixture_path = testing::WriteTestFixture(dir.path());
  o.webhook_url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  o.webhook_secret = Secret("hook-secret");
  auto s = Server::Start(o);
  ASSERT_OK_R(s);
  auto photo = FakeJpeg(100, 5);
  ApiReply cap = Admin(**s, "POST", "/_emulator/devices/wifi1/captures?kind=unlock",
                       std::string(photo.begin(), photo.end()), "application/octet-stream");
  ASSERT_EQ(cap.http, 200);
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return !got.empty(); });
  }
  (*s)->Stop();
  receiver.stop();
  t.join();
  ASSERT_EQ(got.size(), 1u);
  const auto& [body, sig] = got[0];
  std::string expected = tuya::HmacSha256HexUpper("hook-secret", body);
  for (auto& c : expected) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(sig, "sha256=" + expected);
  json event = json::parse(body);
  EXPECT_EQ(event.at("event_id"), cap.json.at("event_id"));
  EXPECT_EQ(event.at("device_id"), "wifi1");
  EXPECT_EQ(event.at("file_type"), 1);
  EXPECT_EQ(event.at("kind"), "unlock");
  EXPECT_TRUE(event.at("t").is_number_integer());
}

}  // namespace
}  // namespace lockpipe::emulator
