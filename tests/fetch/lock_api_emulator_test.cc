// TuyaLockApi against the real emulator (emulator/server.h) over loopback HTTP
// and HTTPS: every endpoint's success and documented failures, transparent
// recovery from a token that expires mid-run, and media download (stream and
// byte ranges) decrypting to the original bytes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "decoders/media_container.h"
#include "emulator/server.h"
#include "fetch/credentials.h"
#include "fetch/media_download.h"
#include "fetch/tuya_lock_api.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

const char kClientId[] = "emu-test-client";
const char kSecret[] = "emu-test-secret-0123456789abcdef";  // 32 chars

class EmulatorTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    // A small fake JPEG: the emulator stores it encrypted, we fetch it back.
    jpeg_ = testing::RandomBytes(50'000, 9);
    jpeg_[0] = 0xFF;
    jpeg_[1] = 0xD8;
    jpeg_[2] = 0xFF;
    jpeg_[3] = 0xE0;
    testing::WriteFile(dir_.File("capture.jpg"), jpeg_);
    nlohmann::json fixture = {{"client_id", kClientId},
                              {"access_secret", kSecret},
                              {"devices",
                               {{{"id", "zb"}, {"type", "zigbee"}, {"door_password", "123456"}},
                                {{"id", "bt"},
                                 {"type", "bluetooth"},
                                 {"captures", {{{"kind", "unlock"}, {"path", "capture.jpg"}}}}},
                                {{"id", "wifi"}, {"type", "wifi"}},
                                {{"id", "allin"}, {"type", "wifi_all_in_one"}},
                                {{"id", "ac"}, {"type", "wifi_access_control"}, {"channels", 2}},
                                {{"id", "off"}, {"type", "bluetooth"}, {"online", false}}}}};
    testing::WriteFile(dir_.File("fixture.json"), fixture.dump(2));
    emulator::ServerOptions o;
    o.fixture_path = dir_.File("fixture.json");
    o.tls = GetParam();
    auto s = emulator::Server::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    http_opts_.ca_file = server_->ca_cert_path();
    tokens_ = std::make_shared<TokenManager>(server_->base_url(),
                                             TuyaCredentials{kClientId, Secret(kSecret)});
    RetryPolicy retry;
    retry.sleep = [](int) {};
    auto api = MakeTuyaLockApi(tokens_, http_opts_, retry);
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    api_ = std::move(api).value();
    auto admin = CurlHttpClient::Create(http_opts_);
    ASSERT_TRUE(admin.ok());
    admin_ = std::move(admin).value();
  }

  // An admin call; returns the JSON answer.
  nlohmann::json Admin(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    HttpRequest req;
    req.method = method;
    req.url = server_->base_url() + path;
    req.body = body;
    if (!body.empty()) req.headers = {{"Content-Type", "application/json"}};
    auto r = admin_->Send(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    return nlohmann::json::parse(r->body, nullptr, false);
  }

  std::string DeviceState(const std::string& id) {
    return Admin("GET", "/_emulator/devices/" + id).value("state", "");
  }

  testing::TempDir dir_;
  std::vector<std::uint8_t> jpeg_;
  std::unique_ptr<emulator::Server> server_;
  CurlOptions http_opts_;
  std::shared_ptr<TokenManager> tokens_;
  std::unique_ptr<TuyaLockApi> api_;
  std::unique_ptr<CurlHttpClient> admin_;
};

TEST_P(EmulatorTest, RemoteUnlockMethodsAndSwitch) {
  auto m = api_->GetRemoteUnlockMethods("zb");
  ASSERT_OK_R(m);
  ASSERT_EQ(m->size(), 2u);
  ASSERT_OK(api_->SetRemoteUnlockSwitch("zb", "remoteUnlockWithPwd", false));
  m = api_->GetRemoteUnlockMethods("zb");
  ASSERT_OK_R(m);
  for (const auto& x : *m) EXPECT_EQ(x.open, x.type != "remoteUnlockWithPwd") << x.type;
  // Documented failures: unknown device, type not supported, offline.
  EXPECT_EQ(api_->GetRemoteUnlockMethods("nope").status().api_code(), 2010);
  EXPECT_EQ(api_->GetRemoteUnlockMethods("wifi").status().api_code(), 2004);
  EXPECT_EQ(api_->SetRemoteUnlockSwitch("off", "remoteUnlockWithPwd", true).api_code(), 2001);
}

TEST_P(EmulatorTest, UnlockWithPassword) {
  auto t = api_->GetPasswordTicket("zb");
  ASSERT_OK_R(t);
  EXPECT_FALSE(t->ticket_id.empty());
  EXPECT_GT(t->expire_time, 0);
  ASSERT_OK(api_->UnlockWithPassword("zb", *t, Secret("123456")));
  EXPECT_EQ(DeviceState("zb"), "unlocked");
  // A ticket works once.
  Status again = api_->UnlockWithPassword("zb", *t, Secret("123456"));
  EXPECT_EQ(again.api_code(), 1109) << again.ToString();
  // Wrong password.
  auto t2 = api_->GetPasswordTicket("zb");
  ASSERT_OK_R(t2);
  Status wrong = api_->UnlockWithPassword("zb", *t2, Secret("000000"));
  EXPECT_EQ(wrong.api_code(), 1106) << wrong.ToString();
  EXPECT_EQ(wrong.message().find("000000"), std::string::npos);
  EXPECT_EQ(wrong.message().find(kSecret), std::string::npos);
  // Switch off -> 2008.
  ASSERT_OK(api_->SetRemoteUnlockSwitch("zb", "remoteUnlockWithPwd", false));
  auto t3 = api_->GetPasswordTicket("zb");
  ASSERT_OK_R(t3);
  EXPECT_EQ(api_->UnlockWithPassword("zb", *t3, Secret("123456")).api_code(), 2008);
}

TEST_P(EmulatorTest, PasswordFreeAndDoorOperate) {
  auto t = api_->GetPasswordTicket("bt");
  ASSERT_OK_R(t);
  ASSERT_OK(api_->PasswordFreeUnlock("bt", t->ticket_id));
  EXPECT_EQ(DeviceState("bt"), "unlocked");
  EXPECT_EQ(api_->PasswordFreeUnlock("bt", t->ticket_id).api_code(), 1109);
  EXPECT_EQ(api_->PasswordFreeUnlock("bt", "made-up").api_code(), 1109);
  auto t2 = api_->GetPasswordTicket("bt");
  ASSERT_OK_R(t2);
  ASSERT_OK(api_->DoorOperate("bt", t2->ticket_id, true));
  // Locking remotely: only all-in-one Wi-Fi locks.
  auto t3 = api_->GetPasswordTicket("bt");
  ASSERT_OK_R(t3);
  EXPECT_EQ(api_->DoorOperate("bt", t3->ticket_id, false).api_code(), 2008);
  auto t4 = api_->GetPasswordTicket("allin");
  ASSERT_OK_R(t4);
  ASSERT_OK(api_->DoorOperate("allin", t4->ticket_id, false));
  EXPECT_EQ(DeviceState("allin"), "locked");
  // Offline lock.
  auto t5 = api_->GetPasswordTicket("off");
  ASSERT_OK_R(t5);
  EXPECT_EQ(api_->PasswordFreeUnlock("off", t5->ticket_id).api_code(), 2001);
  // Not for this type.
  EXPECT_EQ(api_->PasswordFreeUnlock("zb", "x").api_code(), 2004);
}

TEST_P(EmulatorTest, ChannelUnlock) {
  auto t = api_->GetPasswordTicket("ac");
  ASSERT_OK_R(t);
  ASSERT_OK(api_->PasswordFreeUnlockChannel("ac", t->ticket_id, 2));
  auto t2 = api_->GetPasswordTicket("ac");
  ASSERT_OK_R(t2);
  EXPECT_EQ(api_->PasswordFreeUnlockChannel("ac", t2->ticket_id, 9).api_code(), 1109);
  EXPECT_EQ(api_->PasswordFreeUnlockChannel("bt", "x", 1).api_code(), 2004);
}

TEST_P(EmulatorTest, Revoke) {
  ASSERT_OK(api_->RevokePasswordFree("wifi", RevokeReason::kRejected));
  ASSERT_OK(api_->RevokePasswordFree("wifi", RevokeReason::kCanceled));
  EXPECT_EQ(api_->RevokePasswordFree("bt", RevokeReason::kRejected).api_code(), 2004);
  auto audit = Admin("GET", "/_emulator/devices/wifi/audit");
  ASSERT_TRUE(audit.contains("audit"));
  EXPECT_EQ(audit["audit"].size(), 2u);
}

TEST_P(EmulatorTest, MediaUrlStreamAndRanges) {
  auto m = api_->GetLatestMediaUrl("bt", MediaKind::kUnlockRequest);
  ASSERT_OK_R(m);
  EXPECT_FALSE(m->file_url.empty());
  // No alert captured: nothing to fetch.
  EXPECT_EQ(api_->GetLatestMediaUrl("bt", MediaKind::kAlert).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(api_->GetLatestMediaUrl("zb", MediaKind::kAlert).status().api_code(), 2004);

  auto http = CurlHttpClient::Create(http_opts_);
  ASSERT_OK_R(http);
  auto dec = media::StreamDecryptor::Create(m->file_key, "capture");
  ASSERT_OK_R(dec);
  std::vector<std::uint8_t> plain;
  Status dec_status;
  auto n = StreamDownload(**http, m->file_url, [&](std::string_view chunk) {
    return dec->Update(std::span(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size()),
                       &plain);
  });
  ASSERT_OK_R(n);
  ASSERT_OK(dec->Finish(&plain));
  EXPECT_EQ(plain, jpeg_);

  auto src = HttpRangeSource::Open(**http, m->file_url, 8192);
  ASSERT_OK_R(src);
  EXPECT_EQ(*(*src)->Size(), *n);
  std::vector<std::uint8_t> whole(*n);
  for (std::uint64_t off = 0; off < whole.size();) {
    const std::size_t len = std::min<std::size_t>(1000, whole.size() - off);
    auto got = (*src)->ReadAt(off, std::span(whole.data() + off, len));
    ASSERT_OK_R(got);
    ASSERT_GT(*got, 0u);
    off += *got;
  }
  auto dec2 = media::StreamDecryptor::Create(m->file_key, "capture");
  ASSERT_OK_R(dec2);
  std::vector<std::uint8_t> plain2;
  ASSERT_OK(dec2->Update(whole, &plain2));
  ASSERT_OK(dec2->Finish(&plain2));
  EXPECT_EQ(plain2, jpeg_);
}

TEST_P(EmulatorTest, ExpiredTokenMidRunRecoversTransparently) {
  ASSERT_OK_R(api_->GetRemoteUnlockMethods("zb"));
  EXPECT_EQ(tokens_->new_token_calls(), 1);
  Admin("POST", "/_emulator/tokens/expire");
  ASSERT_OK_R(api_->GetRemoteUnlockMethods("zb"));
  auto t = api_->GetPasswordTicket("bt");
  ASSERT_OK_R(t);
  Admin("POST", "/_emulator/tokens/expire");
  // Even a door-opening call replays after a token refusal.
  ASSERT_OK(api_->PasswordFreeUnlock("bt", t->ticket_id));
  EXPECT_EQ(DeviceState("bt"), "unlocked");
  EXPECT_GE(tokens_->new_token_calls() + tokens_->refresh_calls(), 3);
}

TEST_P(EmulatorTest, RateLimitsAreRetriedAndMalformedAnswersFail) {
  ASSERT_OK_R(api_->GetRemoteUnlockMethods("zb"));  // token in hand before the faults
  Admin("POST", "/_emulator/faults", R"({"rate_limit_next":2,"rate_limit_code":1199})");
  ASSERT_OK_R(api_->GetRemoteUnlockMethods("zb"));
  Admin("DELETE", "/_emulator/faults");
  Admin("POST", "/_emulator/faults", R"({"malformed_next":1})");
  auto r = api_->GetRemoteUnlockMethods("zb");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
  Admin("POST", "/_emulator/faults", R"({"error_next":1})");
  auto t = api_->GetPasswordTicket("bt");
  ASSERT_OK_R(t);  // a ticket is not a door action: a 500 is retried
  Admin("POST", "/_emulator/faults", R"({"error_next":1})");
  EXPECT_EQ(api_->PasswordFreeUnlock("bt", t->ticket_id).api_code(), 500);  // a door call is not
  EXPECT_EQ(DeviceState("bt"), "locked");
}

TEST_P(EmulatorTest, CommandLine) {
  const std::string common =
      " --endpoint " + testing::ShellQuote(server_->base_url()) +
      (GetParam() ? " --ca-file " + testing::ShellQuote(server_->ca_cert_path()) : "");
  const std::string env =
      std::string("TUYA_CLIENT_ID=") + kClientId + " TUYA_CLIENT_SECRET=" + kSecret + " ";
  auto ok = testing::RunShell(env + testing::ShellQuote(testing::LockpipeBinary()) +
                              " api password-free-open --device bt" + common);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  auto j = nlohmann::json::parse(ok.out, nullptr, false);
  EXPECT_EQ(j.value("result", false), true) << ok.out;
  EXPECT_EQ(j.value("device_id", ""), "bt");
  EXPECT_EQ(DeviceState("bt"), "unlocked");
  auto bad = testing::RunShell(env + testing::ShellQuote(testing::LockpipeBinary()) +
                               " api revoke --reason rejected --device bt" + common);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(
      bad.err.rfind("lockpipe api: PUT /v1.0/devices/bt/door-lock/password-free/open-door/cancel: "
                    "Tuya code 2004: ",
                    0),
      0u)
      << bad.err;
  EXPECT_EQ(bad.err.find(kSecret), std::string::npos);
  EXPECT_EQ(ok.out.find(kSecret), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(HttpAndHttps, EmulatorTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "https" : "http"; });

}  // namespace
}  // namespace lockpipe
