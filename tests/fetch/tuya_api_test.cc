// The Tuya layer (signing on the wire, envelope, tokens, replays), the typed
// client's request shapes and answer parsing, credentials and the recording
// fake, against a loopback MiniTuya.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "fetch/credentials.h"
#include "fetch/fake_lock_api.h"
#include "fetch/tuya_lock_api.h"
#include "fetch/tuya_sign.h"
#include "tests/fetch/test_server.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

using testing::MiniTuya;
using testing::Reply;
using testing::SeenRequest;
using testing::TestServer;

const char kClientId[] = "testclientid0001";
const char kSecret[] = "0123456789abcdef0123456789abcdef";  // 32 chars, like Tuya's

struct Fixture {
  explicit Fixture(TokenOptions topts = {}, int max_attempts = 3)
      : tuya(kClientId, kSecret), server([this](const SeenRequest& r) { return tuya.Handle(r); }) {
    tokens = std::make_shared<TokenManager>(server.base_url(),
                                            TuyaCredentials{kClientId, Secret(kSecret)}, topts);
    retry.max_attempts = max_attempts;
    retry.seed = 1;
    retry.sleep = [this](int ms) { delays.push_back(ms); };
    auto api_r = MakeTuyaLockApi(tokens, CurlOptions{}, retry);
    EXPECT_TRUE(api_r.ok());
    api = std::move(api_r).value();
  }
  std::vector<SeenRequest> Business() const {
    std::vector<SeenRequest> out;
    for (auto& r : server.requests())
      if (r.path.rfind("/v1.0/token", 0) != 0) out.push_back(r);
    return out;
  }
  MiniTuya tuya;
  TestServer server;
  std::shared_ptr<TokenManager> tokens;
  RetryPolicy retry;
  std::vector<int> delays;
  std::unique_ptr<TuyaLockApi> api;
};

Reply OkTrue() { return {200, MiniTuya::Ok("true")}; }

TEST(TuyaClient, SignsEveryCallAndGetsATokenFirst) {
  Fixture f;
  f.tuya.business = [](const SeenRequest&) { return OkTrue(); };
  ASSERT_OK(f.api->SetRemoteUnlockSwitch("dev1", "remoteUnlockWithPwd", true));
  auto seen = f.server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/v1.0/token?grant_type=1");
  EXPECT_EQ(seen[0].Header("access_token"), "");
  EXPECT_EQ(seen[0].body, "");
  EXPECT_EQ(f.tuya.VerifySignature(seen[0], true), "");
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].path, "/v1.0/devices/dev1/door-lock/remote-unlock/config");
  EXPECT_EQ(seen[1].body, R"({"open":true,"remote_unlock_type":"remoteUnlockWithPwd"})");
  EXPECT_EQ(seen[1].Header("access_token"), "tok-1");
  EXPECT_EQ(seen[1].Header("sign_method"), "HMAC-SHA256");
  EXPECT_EQ(seen[1].Header("Content-Type"), "application/json");
  EXPECT_EQ(seen[1].Header("t").size(), 13u);
  EXPECT_EQ(f.tuya.VerifySignature(seen[1], false), "");
  // The signature is over exactly these bytes: recompute it independently.
  tuya::SignInput in;
  in.method = "POST";
  in.body = seen[1].body;
  in.url = seen[1].path;
  in.client_id = kClientId;
  in.access_token = "tok-1";
  in.t = seen[1].Header("t");
  EXPECT_EQ(seen[1].Header("sign"), tuya::Sign(Secret(kSecret), in));
  EXPECT_EQ(f.tuya.bad_signatures.load(), 0);
}

TEST(TuyaLockApi, RequestShapesOfEveryEndpoint) {
  Fixture f;
  f.tuya.business = [](const SeenRequest& r) {
    if (r.path.find("password-ticket") != std::string::npos) {
      auto key = tuya::EncryptTicketKey(Secret("0123456789ABCDEF"), Secret(kSecret));
      return Reply{200, MiniTuya::Ok(R"({"ticket_id":"T1","ticket_key":")" + *key +
                                     R"(","expire_time":300})")};
    }
    if (r.path.find("remote-unlocks") != std::string::npos)
      return Reply{
          200, MiniTuya::Ok(R"([{"remote_unlock_type":"remoteUnlockWithoutPwd","open":true}])")};
    if (r.path.find("media/url") != std::string::npos)
      return Reply{
          200,
          MiniTuya::Ok(
              R"({"file_url":"https://s/x.jpg","file_key":"k","bucket":"b","file_path":"/x.jpg"})")};
    return OkTrue();
  };
  ASSERT_OK_R(f.api->GetRemoteUnlockMethods("d1"));
  ASSERT_OK(f.api->SetRemoteUnlockSwitch("d1", "remoteUnlockWithoutPwd", false));
  auto ticket = f.api->GetPasswordTicket("d1");
  ASSERT_OK_R(ticket);
  EXPECT_EQ(ticket->ticket_id, "T1");
  EXPECT_EQ(ticket->expire_time, 300);
  ASSERT_OK(f.api->UnlockWithPassword("d1", *ticket, Secret("123456")));
  ASSERT_OK(f.api->PasswordFreeUnlock("d1", "T2"));
  ASSERT_OK(f.api->PasswordFreeUnlockChannel("d1", "T3", 2));
  ASSERT_OK(f.api->RevokePasswordFree("d1", RevokeReason::kRejected));
  ASSERT_OK(f.api->RevokePasswordFree("d1", RevokeReason::kCanceled));
  ASSERT_OK(f.api->DoorOperate("d1", "T4", false));
  ASSERT_OK_R(f.api->GetLatestMediaUrl("d1", MediaKind::kAlert));

  auto seen = f.Business();
  ASSERT_EQ(seen.size(), 10u);
  std::vector<std::string> lines;
  for (const auto& r : seen) {
    lines.push_back(r.method + " " + r.target + " " + r.body);
    EXPECT_EQ(f.tuya.VerifySignature(r, false), "") << r.target;
  }
  // The password is encrypted under the ticket's original key.
  auto pw = tuya::EncryptDoorPassword(Secret("123456"), Secret("0123456789ABCDEF"));
  ASSERT_OK_R(pw);
  const std::vector<std::string> expected = {
      "GET /v1.0/devices/d1/door-lock/remote-unlocks ",
      R"(POST /v1.0/devices/d1/door-lock/remote-unlock/config {"open":false,"remote_unlock_type":"remoteUnlockWithoutPwd"})",
      "POST /v1.0/smart-lock/devices/d1/password-ticket ",
      R"(POST /v1.0/devices/d1/door-lock/open-door {"password":")" + *pw +
          R"(","password_type":"ticket","ticket_id":"T1"})",
      R"(POST /v1.0/devices/d1/door-lock/password-free/open-door {"ticket_id":"T2"})",
      R"(POST /v1.1/devices/d1/door-lock/password-free/open-door {"channel_id":2,"ticket_id":"T3"})",
      R"(PUT /v1.0/devices/d1/door-lock/password-free/open-door/cancel {"type":1})",
      R"(PUT /v1.0/devices/d1/door-lock/password-free/open-door/cancel {"type":2})",
      R"(POST /v1.0/smart-lock/devices/d1/password-free/door-operate {"open":false,"ticket_id":"T4"})",
      "GET /v1.0/devices/d1/door-lock/latest/media/url?file_type=2 ",
  };
  EXPECT_EQ(lines, expected);
  // The server's side can read the password back.
  auto back = tuya::DecryptDoorPassword(pw.value(), Secret("0123456789ABCDEF"));
  ASSERT_OK_R(back);
  EXPECT_EQ(back->reveal(), "123456");
}

TEST(TuyaLockApi, ParsesAnswers) {
  Fixture f;
  std::string answer;
  f.tuya.business = [&](const SeenRequest&) { return Reply{200, answer}; };
  answer = MiniTuya::Ok(R"({"remote_unlock_type":"remoteUnlockWithPwd","open":true})");
  auto one = f.api->GetRemoteUnlockMethods("d");
  ASSERT_OK_R(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].type, "remoteUnlockWithPwd");
  EXPECT_TRUE((*one)[0].open);
  answer = MiniTuya::Ok(
      R"([{"remote_unlock_type":"remoteUnlockWithoutPwd","open":"false"},{"remote_unlock_type":"remoteUnlockWithPwd","open":true}])");
  auto list = f.api->GetRemoteUnlockMethods("d");
  ASSERT_OK_R(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].type, "remoteUnlockWithoutPwd");
  EXPECT_FALSE((*list)[0].open);
  EXPECT_TRUE((*list)[1].open);
  answer = MiniTuya::Ok(
      R"({"file_url":"https://b/p.jpg","file_key":"abcdefghijklmnop","bucket":"bk","file_path":"/p.jpg"})");
  auto m = f.api->GetLatestMediaUrl("d", MediaKind::kUnlockRequest);
  ASSERT_OK_R(m);
  EXPECT_EQ(m->file_url, "https://b/p.jpg");
  EXPECT_EQ(m->file_key.reveal(), "abcdefghijklmnop");
  EXPECT_EQ(m->bucket, "bk");
  EXPECT_EQ(m->file_path, "/p.jpg");
  answer = MiniTuya::Ok("null");  // nothing captured lately
  EXPECT_EQ(f.api->GetLatestMediaUrl("d", MediaKind::kUnlockRequest).status().code(),
            StatusCode::kNotFound);
}

TEST(TuyaLockApi, FailuresCarryEndpointCodeAndMsg) {
  Fixture f;
  std::string answer;
  int status = 200;
  f.tuya.business = [&](const SeenRequest&) { return Reply{status, answer}; };

  answer = MiniTuya::Err(2001, "device is offline");
  Status s = f.api->PasswordFreeUnlock("d9", "T");
  EXPECT_EQ(s.code(), StatusCode::kApiError);
  EXPECT_EQ(s.api_code(), 2001);
  EXPECT_EQ(s.http_status(), 200);
  EXPECT_EQ(
      s.message(),
      "POST /v1.0/devices/d9/door-lock/password-free/open-door: Tuya code 2001: device is offline");

  answer = MiniTuya::Ok("false");
  s = f.api->DoorOperate("d9", "T", true);
  EXPECT_EQ(s.code(), StatusCode::kApiError);
  EXPECT_NE(s.message().find("result is false"), std::string::npos) << s.message();

  answer = MiniTuya::Ok("null");
  s = f.api->RevokePasswordFree("d9", RevokeReason::kRejected);
  EXPECT_EQ(s.code(), StatusCode::kApiError);

  answer = R"({"success":true,"result":{"ticket_id":)";  // cut short
  auto t = f.api->GetPasswordTicket("d9");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(t.status().message().find("malformed JSON"), std::string::npos);

  answer = "[1,2,3]";
  EXPECT_EQ(f.api->GetRemoteUnlockMethods("d9").status().code(), StatusCode::kCorrupt);

  answer = MiniTuya::Ok(R"({"ticket_id":"x"})");
  EXPECT_EQ(f.api->GetPasswordTicket("d9").status().code(), StatusCode::kCorrupt);

  answer = MiniTuya::Ok(R"([{"open":true}])");
  EXPECT_EQ(f.api->GetRemoteUnlockMethods("d9").status().code(), StatusCode::kCorrupt);

  status = 502;
  answer = "<html>bad gateway</html>";
  auto m = f.api->GetLatestMediaUrl("d9", MediaKind::kAlert);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().http_status(), 502);
  EXPECT_NE(m.status().message().find("HTTP 502"), std::string::npos) << m.status().message();
}

TEST(TuyaLockApi, NoSecretInAnyErrorMessage) {
  Fixture f;
  auto key = tuya::EncryptTicketKey(Secret("0123456789ABCDEF"), Secret(kSecret));
  // The server echoes secrets back in broken answers.
  std::vector<std::string> answers = {
      R"({"success":true,"result":{"ticket_key":")" + *key + R"(" )",
      MiniTuya::Err(1109, "param is illegal"),
      MiniTuya::Ok("false"),
  };
  std::size_t i = 0;
  f.tuya.business = [&](const SeenRequest&) { return Reply{200, answers[i % answers.size()]}; };
  std::vector<std::string> messages;
  for (i = 0; i < answers.size(); ++i) {
    Ticket t{"T", Secret(*key), 300};
    messages.push_back(f.api->UnlockWithPassword("d", t, Secret("654321")).message());
    messages.push_back(f.api->GetPasswordTicket("d").status().message());
  }
  // A bad ticket key never shows up either.
  messages.push_back(
      f.api->UnlockWithPassword("d", Ticket{"T", Secret("00ZZ"), 1}, Secret("654321")).message());
  messages.push_back(
      f.api->UnlockWithPassword("d", Ticket{"T", Secret(*key), 1}, Secret("12")).message());
  for (const auto& msg : messages) {
    EXPECT_FALSE(msg.empty());
    for (const std::string& secret : {std::string(kSecret), *key, std::string("654321"),
                                      f.tuya.last_token(), std::string("ref-")}) {
      EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
    }
  }
}

TEST(TokenManager, RefreshesAheadOfExpiry) {
  std::atomic<std::int64_t> now{testing::NowMsForTest()};
  TokenOptions o;
  o.refresh_ahead_seconds = 300;
  o.clock = [&] { return now.load(); };
  Fixture f(o);
  f.tuya.check_time = false;  // the test's clock runs ahead of the server's
  f.tuya.token_lifetime_s = 7200;
  f.tuya.business = [](const SeenRequest&) { return OkTrue(); };
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));
  now += 6000 * 1000LL;  // 1200 s left: still fine
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));
  EXPECT_EQ(f.tokens->refresh_calls(), 0);
  now += 1000 * 1000LL;  // 200 s left: refresh before calling
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));
  EXPECT_EQ(f.tokens->new_token_calls(), 1);
  EXPECT_EQ(f.tokens->refresh_calls(), 1);
  auto seen = f.server.requests();
  std::vector<std::string> paths;
  for (auto& r : seen) paths.push_back(r.path + " " + r.Header("access_token"));
  const std::vector<std::string> expected = {
      "/v1.0/token ",
      "/v1.0/devices/d/door-lock/password-free/open-door tok-1",
      "/v1.0/devices/d/door-lock/password-free/open-door tok-1",
      "/v1.0/token/ref-1 ",
      "/v1.0/devices/d/door-lock/password-free/open-door tok-2",
  };
  EXPECT_EQ(paths, expected);
}

TEST(TokenManager, FallsBackToANewTokenWhenRefreshFails) {
  std::atomic<std::int64_t> now{testing::NowMsForTest()};
  TokenOptions o;
  o.clock = [&] { return now.load(); };
  Fixture f(o);
  f.tuya.check_time = false;
  f.tuya.business = [](const SeenRequest&) { return OkTrue(); };
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));
  now += 7100 * 1000LL;
  f.tuya.token_reply_once = MiniTuya::Err(1012, "token invalid");  // the refresh fails
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));
  EXPECT_EQ(f.tokens->refresh_calls(), 1);
  EXPECT_EQ(f.tokens->new_token_calls(), 2);
  EXPECT_EQ(f.Business().back().Header("access_token"), "tok-2");
}

TEST(TokenManager, ReplaysOnceAfterTokenExpired) {
  Fixture f;
  f.tuya.business = [](const SeenRequest&) { return OkTrue(); };
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));
  f.tuya.ExpireToken("tok-1");
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));
  auto b = f.Business();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[1].Header("access_token"), "tok-1");  // answered 1010
  EXPECT_EQ(b[2].Header("access_token"), "tok-2");  // replayed once
}

TEST(TokenManager, ReplaysOnlyOnce) {
  Fixture f;
  f.tuya.business = [](const SeenRequest&) {
    return Reply{200, MiniTuya::Err(1010, "token expired")};
  };
  Status s = f.api->PasswordFreeUnlock("d", "T");
  EXPECT_EQ(s.api_code(), 1010);
  EXPECT_EQ(f.Business().size(), 2u);
}

TEST(TokenManager, ErrorPayloadIsNeverStoredAsAToken) {
  Fixture f;
  f.tuya.business = [](const SeenRequest&) { return OkTrue(); };
  f.tuya.token_reply_once = MiniTuya::Err(1004, "sign invalid");
  Status s = f.api->PasswordFreeUnlock("d", "T");
  EXPECT_EQ(s.api_code(), 1004);
  EXPECT_NE(s.message().find("GET /v1.0/token"), std::string::npos) << s.message();
  EXPECT_TRUE(f.Business().empty());
  // A success envelope without a token is refused too.
  f.tuya.token_reply_once = MiniTuya::Ok(R"({"uid":"x"})");
  s = f.api->PasswordFreeUnlock("d", "T");
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_TRUE(f.Business().empty());
  // Then a real token works.
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));
  EXPECT_EQ(f.Business().back().Header("access_token"), "tok-1");
}

TEST(TokenManager, OneRefreshAcrossConcurrentThreads) {
  MiniTuya tuya(kClientId, kSecret);
  tuya.business = [](const SeenRequest&) {
    return Reply{200, MiniTuya::Ok("true"), "application/json", {}, 0};
  };
  // Slow token answers widen the race window.
  TestServer server([&](const SeenRequest& r) {
    Reply rep = tuya.Handle(r);
    if (r.path.rfind("/v1.0/token", 0) == 0) rep.delay_ms = 100;
    return rep;
  });
  auto tokens = std::make_shared<TokenManager>(server.base_url(),
                                               TuyaCredentials{kClientId, Secret(kSecret)});
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto api = MakeTuyaLockApi(tokens, CurlOptions{});
      if (!api.ok()) {
        ++failures;
        return;
      }
      for (int k = 0; k < 3; ++k)
        if (!(*api)->PasswordFreeUnlock("d", "T").ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(tuya.token_calls.load(), 1);
  EXPECT_EQ(tokens->new_token_calls(), 1);
}

TEST(TokenManager, ClockSkewIsCorrectedFromTheServersT) {
  Fixture f;
  f.tuya.server_time_offset_ms = 10 * 60 * 1000;  // the server is 10 minutes ahead
  f.tuya.business = [](const SeenRequest&) {
    return Reply{200, MiniTuya::Ok("true", testing::NowMsForTest() + 10 * 60 * 1000)};
  };
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));
  EXPECT_GT(f.tokens->clock_offset_ms(), 9 * 60 * 1000);
  // First token call answered 1013 and was replayed with a corrected t.
  auto seen = f.server.requests();
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0].path, "/v1.0/token");
  EXPECT_EQ(seen[1].path, "/v1.0/token");
  EXPECT_EQ(f.tuya.token_calls.load(), 1);
}

TEST(TuyaClient, BusyCodesBackOffAndRetry) {
  Fixture f;
  int n = 0;
  f.tuya.business = [&](const SeenRequest&) {
    return ++n < 3 ? Reply{200, MiniTuya::Err(1111, "system busy")} : OkTrue();
  };
  ASSERT_OK(f.api->PasswordFreeUnlock("d", "T"));  // a refusal, so safe even for a door call
  EXPECT_EQ(n, 3);
  EXPECT_EQ(f.delays.size(), 2u);
}

TEST(TuyaClient, Code500IsRetriedForReadsButNeverForDoorCalls) {
  Fixture f;
  int n = 0;
  f.tuya.business = [&](const SeenRequest&) {
    ++n;
    return Reply{200, MiniTuya::Err(500, "system error")};
  };
  EXPECT_EQ(f.api->PasswordFreeUnlock("d", "T").api_code(), 500);
  EXPECT_EQ(f.api->DoorOperate("d", "T", true).api_code(), 500);
  EXPECT_EQ(f.api->UnlockWithPassword("d", Ticket{"T", Secret("00"), 1}, Secret("123456")).ok(),
            false);
  EXPECT_EQ(f.api->PasswordFreeUnlockChannel("d", "T", 1).api_code(), 500);
  EXPECT_EQ(n, 3);
  EXPECT_TRUE(f.delays.empty());
  n = 0;
  EXPECT_EQ(f.api->GetRemoteUnlockMethods("d").status().api_code(), 500);
  EXPECT_EQ(n, 3);
}

TEST(TuyaClient, HttpErrorsOnDoorCallsAreNotRetried) {
  Fixture f;
  int n = 0;
  f.tuya.business = [&](const SeenRequest&) {
    ++n;
    return Reply{503, "unavailable", "text/plain"};
  };
  Status s = f.api->PasswordFreeUnlock("d", "T");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.http_status(), 503);
  EXPECT_EQ(n, 1);
}

// ------------------------------------------------------------ credentials

TEST(Credentials, RefusesAFileOthersCanRead) {
  testing::TempDir dir;
  const std::string path = dir.File("creds");
  testing::WriteFile(path, std::string("client_id = abc\nclient_secret = ") + kSecret + "\n");
  ::chmod(path.c_str(), 0644);
  auto r = ReadCredentialsFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("chmod 600 " + path), std::string::npos);
  EXPECT_EQ(r.status().message().find(kSecret), std::string::npos);
  ::chmod(path.c_str(), 0600);
  auto ok = ReadCredentialsFile(path);
  ASSERT_OK_R(ok);
  EXPECT_EQ(ok->credentials.client_id, "abc");
  EXPECT_EQ(ok->credentials.access_secret.reveal(), kSecret);
}

TEST(Credentials, ParsesKeyValueWithCommentsAndQuotes) {
  testing::TempDir dir;
  const std::string path = dir.File("creds");
  testing::WriteFile(path,
                     "# lock cloud\n\naccess_id = \"id 1\"\naccess_secret=s3cr3t\nregion = eu\n");
  ::chmod(path.c_str(), 0600);
  auto r = ReadCredentialsFile(path);
  ASSERT_OK_R(r);
  EXPECT_EQ(r->credentials.client_id, "id 1");
  EXPECT_EQ(r->credentials.access_secret.reveal(), "s3cr3t");
  EXPECT_EQ(r->region, "eu");
  auto target = ResolveApiTarget(path, "", "");
  ASSERT_OK_R(target);
  EXPECT_EQ(target->base_url, "https://openapi.tuyaeu.com");
  auto over = ResolveApiTarget(path, "http://127.0.0.1:9", "");
  ASSERT_OK_R(over);
  EXPECT_EQ(over->base_url, "http://127.0.0.1:9");
  testing::WriteFile(path, "client_id = a\nbogus = 1\n");
  auto bad = ReadCredentialsFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos);
}

TEST(Credentials, Regions) {
  EXPECT_EQ(*RegionBaseUrl("cn"), "https://openapi.tuyacn.com");
  EXPECT_EQ(*RegionBaseUrl("us"), "https://openapi.tuyaus.com");
  EXPECT_EQ(*RegionBaseUrl("us-east"), "https://openapi-ueaz.tuyaus.com");
  EXPECT_EQ(*RegionBaseUrl("eu"), "https://openapi.tuyaeu.com");
  EXPECT_EQ(*RegionBaseUrl("eu-west"), "https://openapi-weaz.tuyaeu.com");
  EXPECT_EQ(*RegionBaseUrl("us-e"), *RegionBaseUrl("us-east"));  // the short spellings too
  EXPECT_EQ(*RegionBaseUrl("eu-w"), *RegionBaseUrl("eu-west"));
  EXPECT_EQ(*RegionBaseUrl("in"), "https://openapi.tuyain.com");
  EXPECT_EQ(RegionBaseUrl("mars").status().code(), StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------ the fake

TEST(RecordingLockApi, RecordsCallsInOrderAndAnswersFromTheScript) {
  RecordingLockApi api;
  api.FailNext(Endpoint::kPasswordFreeOpen,
               Status(StatusCode::kApiError, "offline").set_api_code(2001));
  auto t = api.GetPasswordTicket("d1");
  ASSERT_OK_R(t);
  EXPECT_EQ(t->ticket_id, "ticket-1");
  EXPECT_EQ(api.PasswordFreeUnlock("d1", t->ticket_id).api_code(), 2001);
  EXPECT_OK(api.PasswordFreeUnlock("d1", t->ticket_id));
  EXPECT_OK(api.UnlockWithPassword("d1", *t, Secret("123456")));
  EXPECT_OK(api.RevokePasswordFree("d1", RevokeReason::kCanceled));
  EXPECT_OK(api.PasswordFreeUnlockChannel("d2", "x", 3));
  api.FailAlways(Endpoint::kLatestMediaUrl, NetworkError("down"));
  EXPECT_FALSE(api.GetLatestMediaUrl("d1", MediaKind::kAlert).ok());
  const std::vector<std::string> expected = {
      "password-ticket d1",
      "password-free/open-door d1 ticket_id=ticket-1",
      "password-free/open-door d1 ticket_id=ticket-1",
      "open-door d1 ticket_id=ticket-1 password_type=ticket",
      "password-free/open-door/cancel d1 type=2",
      "password-free/open-door (v1.1) d2 ticket_id=x channel_id=3",
      "latest/media/url d1 file_type=2",
  };
  EXPECT_EQ(api.CallStrings(), expected);
  for (const auto& c : api.CallStrings()) EXPECT_EQ(c.find("123456"), std::string::npos);
  EXPECT_EQ(api.CountCalls(Endpoint::kPasswordFreeOpen), 2);
}

}  // namespace
}  // namespace lockpipe
