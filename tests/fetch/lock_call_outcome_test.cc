// What a door or revoke call is known to have done (ClassifyLockCall), from
// the Status the real fetch/ code makes of each kind of answer: a scripted
// HttpClient under the real TuyaClient/TuyaLockApi for the answers, and the
// real CurlHttpClient over loopback for the connection failures (refused
// before sending, reset after sending, timeout).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <thread>

#include "fetch/http_client.h"
#include "fetch/lock_api.h"
#include "fetch/tuya_lock_api.h"
#include "tests/fetch/test_server.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

const char kClientId[] = "outcome-client";
const char kSecret[] = "0123456789abcdef0123456789abcdef";

// Answers token calls with a token (or tokens_fail's Status) and every other
// call from `answers`, in order; records the paths it was asked for.
class ScriptedHttp final : public HttpClient {
 public:
  std::deque<Result<HttpResponse>> answers;
  std::optional<Result<HttpResponse>> token_answer;  // default: a good token
  std::vector<std::string> paths;

  Result<HttpResponse> Send(const HttpRequest& request) override {
    const std::string path = request.url.substr(request.url.find('/', 8));
    paths.push_back(request.method + " " + path.substr(0, path.find('?')));
    if (path.rfind("/v1.0/token", 0) == 0) {
      if (token_answer) return *token_answer;
      return Json(200,
                  R"({"success":true,"t":0,"result":{"access_token":"tok","refresh_token":"ref",)"
                  R"("expire_time":7200,"uid":"u"}})");
    }
    if (answers.empty()) return InternalError("ScriptedHttp: no answer scripted");
    Result<HttpResponse> r = std::move(answers.front());
    answers.pop_front();
    return r;
  }

  static Result<HttpResponse> Json(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

struct Api {
  Api() {
    auto http_owned = std::make_unique<ScriptedHttp>();
    http = http_owned.get();
    TokenOptions topts;
    topts.retry.sleep = [](int) {};
    auto tokens = std::make_shared<TokenManager>(
        "http://cloud.test", TuyaCredentials{kClientId, Secret(kSecret)}, topts);
    RetryPolicy retry;
    retry.sleep = [](int) {};
    retry.seed = 1;
    api = std::make_unique<TuyaLockApi>(
        std::make_unique<TuyaClient>(std::move(http_owned), tokens, retry));
  }
  // The outcome of a password-free door call answered with `answer`.
  LockCallOutcome Door(Result<HttpResponse> answer) {
    http->answers.push_back(std::move(answer));
    last = api->PasswordFreeUnlock("dev1", "T1");
    return ClassifyLockCall(last);
  }
  ScriptedHttp* http = nullptr;
  std::unique_ptr<TuyaLockApi> api;
  Status last;
};

std::string Envelope(int code, const std::string& msg) {
  return R"({"success":false,"t":0,"code":)" + std::to_string(code) + R"(,"msg":")" + msg + "\"}";
}

TEST(LockCallOutcome, NamesAreTheJournalsWords) {
  EXPECT_STREQ(LockCallOutcomeName(LockCallOutcome::kOk), "ok");
  EXPECT_STREQ(LockCallOutcomeName(LockCallOutcome::kFailed), "failed");
  EXPECT_STREQ(LockCallOutcomeName(LockCallOutcome::kUnknown), "unknown");
}

TEST(LockCallOutcome, SuccessIsOk) {
  Api a;
  EXPECT_EQ(a.Door(ScriptedHttp::Json(200, R"({"success":true,"t":0,"result":true})")),
            LockCallOutcome::kOk);
}

TEST(LockCallOutcome, AWellFormedRefusalProvesNothingHappened) {
  for (int code : {1109, 2001, 2008, 1106, 2004, 1110}) {
    Api a;
    // A busy code is retried (3 tries) before it is the answer.
    for (int i = 0; i < 2; ++i)
      a.http->answers.push_back(ScriptedHttp::Json(200, Envelope(code, "refused")));
    EXPECT_EQ(a.Door(ScriptedHttp::Json(200, Envelope(code, "refused"))), LockCallOutcome::kFailed)
        << code << ": " << a.last.ToString();
    EXPECT_EQ(a.last.api_code(), code);
  }
}

TEST(LockCallOutcome, ASystemErrorIsNotProof) {
  // Tuya code 500 may come after the lock acted.
  Api a;
  EXPECT_EQ(a.Door(ScriptedHttp::Json(200, Envelope(500, "system error"))),
            LockCallOutcome::kUnknown)
      << a.last.ToString();
  EXPECT_EQ(a.http->paths.size(), 2u);  // token, one door call: never resent
}

TEST(LockCallOutcome, AGarbledAnswerIsUnknown) {
  Api a;
  // The emulator's malformed_next: the answer cut in half.
  EXPECT_EQ(a.Door(ScriptedHttp::Json(200, R"({"success":true,"t":17000)")),
            LockCallOutcome::kUnknown)
      << a.last.ToString();
  EXPECT_EQ(a.last.code(), StatusCode::kCorrupt);
  // JSON, but not the envelope: a code without a boolean success.
  EXPECT_EQ(a.Door(ScriptedHttp::Json(200, R"({"code":1109,"msg":"param is illegal"})")),
            LockCallOutcome::kUnknown)
      << a.last.ToString();
  EXPECT_EQ(a.last.api_code(), 1109);
  EXPECT_EQ(a.Door(ScriptedHttp::Json(200, "[1,2]")), LockCallOutcome::kUnknown);
  // success, but a result other than true: what it did is not known.
  EXPECT_EQ(a.Door(ScriptedHttp::Json(200, R"({"success":true,"t":0,"result":false})")),
            LockCallOutcome::kUnknown);
}

TEST(LockCallOutcome, AnHttp5xxIsUnknown) {
  Api a;
  EXPECT_EQ(a.Door(ScriptedHttp::Json(502, "<html>bad gateway</html>")), LockCallOutcome::kUnknown);
  // Even with a refusal envelope in it: HTTP 200 is part of the proof.
  EXPECT_EQ(a.Door(ScriptedHttp::Json(500, Envelope(1109, "param is illegal"))),
            LockCallOutcome::kUnknown);
  EXPECT_EQ(a.last.api_code(), 1109);
}

TEST(LockCallOutcome, ATimeoutOrAResetAfterSendingIsUnknown) {
  Api a;
  EXPECT_EQ(a.Door(TimeoutError("POST x: Operation timed out")), LockCallOutcome::kUnknown);
  EXPECT_EQ(a.Door(NetworkError("POST x: Connection reset by peer")), LockCallOutcome::kUnknown);
  EXPECT_EQ(a.http->paths.size(), 3u);  // token, two door calls: neither resent
}

TEST(LockCallOutcome, AConnectionThatFailedBeforeSendingIsFailed) {
  Api a;
  EXPECT_EQ(a.Door(NetworkError("POST x: Could not connect").set_request_not_sent()),
            LockCallOutcome::kFailed);
  EXPECT_TRUE(a.last.request_not_sent());  // kept through the context added above it
}

TEST(LockCallOutcome, NoTokenMeansTheDoorCallWasNeverMade) {
  for (auto token : {ScriptedHttp::Json(200, Envelope(1004, "sign invalid")),
                     ScriptedHttp::Json(200, R"({"success":true,"result":{"uid":"x"}})"),
                     Result<HttpResponse>(TimeoutError("GET /v1.0/token: timed out"))}) {
    Api a;
    a.http->token_answer = token;
    EXPECT_EQ(a.Door(ScriptedHttp::Json(200, R"({"success":true,"result":true})")),
              LockCallOutcome::kFailed)
        << a.last.ToString();
    EXPECT_TRUE(a.last.request_not_sent());
    for (const auto& p : a.http->paths) EXPECT_EQ(p.find("open-door"), std::string::npos) << p;
  }
}

TEST(LockCallOutcome, ALocalErrorBeforeTheCallIsFailed) {
  Api a;
  Ticket t{"T1", Secret("00"), 300};
  Status s = a.api->UnlockWithPassword("dev1", t, Secret("12345"));  // not 6 digits
  EXPECT_EQ(ClassifyLockCall(s), LockCallOutcome::kFailed) << s.ToString();
  s = a.api->UnlockWithPassword("dev1", t, Secret("123456"));  // ticket_key not decryptable
  EXPECT_EQ(ClassifyLockCall(s), LockCallOutcome::kFailed) << s.ToString();
  for (const auto& p : a.http->paths) EXPECT_EQ(p.find("open-door"), std::string::npos) << p;
}

TEST(LockCallOutcome, ARevokeIsClassifiedTheSameWay) {
  Api a;
  a.http->answers.push_back(ScriptedHttp::Json(200, R"({"success":true,"t":0)"));
  EXPECT_EQ(ClassifyLockCall(a.api->RevokePasswordFree("dev1", RevokeReason::kRejected)),
            LockCallOutcome::kUnknown);
  a.http->answers.push_back(ScriptedHttp::Json(200, Envelope(2001, "device is offline")));
  EXPECT_EQ(ClassifyLockCall(a.api->RevokePasswordFree("dev1", RevokeReason::kRejected)),
            LockCallOutcome::kFailed);
}

// --- the real HTTP layer --------------------------------------------------

// A port nothing listens on (bound, then closed).
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

HttpRequest DoorRequest(const std::string& url) {
  HttpRequest r;
  r.method = "POST";
  r.url = url;
  r.body = R"({"ticket_id":"T"})";
  r.idempotent = false;  // a door call: a connection of its own
  return r;
}

TEST(CurlRequestNotSent, ARefusedConnectionSentNothing) {
  auto http = CurlHttpClient::Create(CurlOptions{});
  ASSERT_OK_R(http);
  auto r = (*http)->Send(DoorRequest("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNetwork);
  EXPECT_TRUE(r.status().request_not_sent()) << r.status().ToString();
  EXPECT_EQ(ClassifyLockCall(r.status()), LockCallOutcome::kFailed);
}

TEST(CurlRequestNotSent, AMalformedUrlSentNothing) {
  auto http = CurlHttpClient::Create(CurlOptions{});
  ASSERT_OK_R(http);
  auto r = (*http)->Send(DoorRequest("http://[::1/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().request_not_sent()) << r.status().ToString();
}

TEST(CurlRequestNotSent, AnUntrustedCertificateSentNothing) {
  testing::TempDir dir;
  std::string cert, key;
  if (!testing::MakeSelfSignedCert(dir.path(), &cert, &key)) GTEST_SKIP() << "no openssl CLI";
  testing::TestServer server(
      [](const testing::SeenRequest&) {
        return testing::Reply{200, "{}"};
      },
      cert, key);
  ASSERT_TRUE(server.ok());
  auto http = CurlHttpClient::Create(CurlOptions{});  // the system store: not this cert
  ASSERT_OK_R(http);
  auto r = (*http)->Send(DoorRequest(server.base_url() + "/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().request_not_sent()) << r.status().ToString();
  EXPECT_TRUE(server.requests().empty());
}

TEST(CurlRequestNotSent, OnAReusableConnectionAConnectErrorProvesNothing) {
  // libcurl may have sent the request on a reused connection, found it dead
  // and failed to reconnect: the first copy may have reached the server.
  auto http = CurlHttpClient::Create(CurlOptions{});
  ASSERT_OK_R(http);
  HttpRequest req = DoorRequest("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/x");
  req.idempotent = true;
  auto r = (*http)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.status().request_not_sent()) << r.status().ToString();
}

TEST(CurlRequestNotSent, AResetAfterTheRequestArrivedIsNotProof) {
  // A server that reads the whole request, then resets the connection.
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  ASSERT_EQ(::listen(lfd, 1), 0);
  std::string got;
  std::thread server([&] {
    const int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) return;
    char buf[4096];
    while (got.find(R"({"ticket_id":"T"})") == std::string::npos) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    linger lg{1, 0};  // close with RST
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(fd);
  });
  auto http = CurlHttpClient::Create(CurlOptions{});
  ASSERT_OK_R(http);
  auto r = (*http)->Send(DoorRequest("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) +
                                     "/v1.0/devices/d/door-lock/password-free/open-door"));
  server.join();
  ::close(lfd);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(got.find("POST /v1.0/devices/d/door-lock/password-free/open-door"), std::string::npos);
  EXPECT_FALSE(r.status().request_not_sent()) << r.status().ToString();
  EXPECT_EQ(ClassifyLockCall(r.status()), LockCallOutcome::kUnknown);
}

TEST(CurlRequestNotSent, ATimeoutIsNotProof) {
  testing::TestServer server([](const testing::SeenRequest&) {
    return testing::Reply{200, "{}", "application/json", {}, 1500};
  });
  ASSERT_TRUE(server.ok());
  auto http = CurlHttpClient::Create(CurlOptions{});
  ASSERT_OK_R(http);
  HttpRequest req = DoorRequest(server.base_url() + "/x");
  req.timeout_ms = 300;
  auto r = (*http)->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_FALSE(r.status().request_not_sent());
  EXPECT_EQ(ClassifyLockCall(r.status()), LockCallOutcome::kUnknown);
}

}  // namespace
}  // namespace lockpipe
