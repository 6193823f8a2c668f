// The token call's bounded retry with backoff (TokenManager), over a scripted
// HttpClient: each transient failure once, then a token; what is not retried;
// the attempts and backoff of TokenOptions::retry.
#include <gtest/gtest.h>

#include <deque>

#include "fetch/tuya_client.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

const char kClientId[] = "token-retry-client";
const char kSecret[] = "0123456789abcdef0123456789abcdef";

const char kToken[] =
    R"({"success":true,"t":0,"result":{"access_token":"tok-1","refresh_token":"ref-1",)"
    R"("expire_time":7200,"uid":"u"}})";

// Answers from a script, then kToken; records the paths asked for.
class ScriptedTokenHttp final : public HttpClient {
 public:
  std::deque<Result<HttpResponse>> script;
  std::vector<std::string> paths;
  Result<HttpResponse> Send(const HttpRequest& request) override {
    paths.push_back(request.url.substr(request.url.find('/', 8)));
    if (script.empty()) return Json(200, kToken);
    Result<HttpResponse> r = std::move(script.front());
    script.pop_front();
    return r;
  }
  static Result<HttpResponse> Json(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

std::string Err(int code) {
  return R"({"success":false,"t":0,"code":)" + std::to_string(code) + R"(,"msg":"m"})";
}

struct Tokens {
  explicit Tokens(int max_attempts = 3) {
    TokenOptions o;
    o.retry.max_attempts = max_attempts;
    o.retry.seed = 7;
    o.retry.sleep = [this](int ms) { sleeps.push_back(ms); };
    manager = std::make_unique<TokenManager>("http://cloud.test",
                                             TuyaCredentials{kClientId, Secret(kSecret)}, o);
  }
  std::unique_ptr<TokenManager> manager;
  ScriptedTokenHttp http;
  std::vector<int> sleeps;
};

TEST(TokenRetry, TheDefaultsAreTheClientsRetryPolicy) {
  TokenOptions o;
  RetryPolicy client;
  EXPECT_EQ(o.retry.max_attempts, client.max_attempts);
  EXPECT_EQ(o.retry.base_delay_ms, client.base_delay_ms);
  EXPECT_EQ(o.retry.max_delay_ms, client.max_delay_ms);
}

TEST(TokenRetry, OneTransientFailureThenAToken) {
  const std::vector<std::pair<std::string, Result<HttpResponse>>> faults = {
      {"Tuya 500", ScriptedTokenHttp::Json(200, Err(500))},
      {"1110", ScriptedTokenHttp::Json(200, Err(1110))},
      {"1111", ScriptedTokenHttp::Json(200, Err(1111))},
      {"1199", ScriptedTokenHttp::Json(200, Err(1199))},
      {"garbled", ScriptedTokenHttp::Json(200, R"({"success":true,"t":17000000)")},
      {"HTTP 500", ScriptedTokenHttp::Json(500, Err(500))},
      {"HTTP 503 page", ScriptedTokenHttp::Json(503, "<html>busy</html>")},
      {"network", Result<HttpResponse>(NetworkError("GET x: Connection reset by peer"))},
      {"timeout", Result<HttpResponse>(TimeoutError("GET x: Operation timed out"))},
  };
  for (const auto& [name, fault] : faults) {
    Tokens t;
    t.http.script.push_back(fault);
    auto token = t.manager->AccessToken(t.http);
    ASSERT_TRUE(token.ok()) << name << ": " << token.status().ToString();
    EXPECT_EQ(token->reveal(), "tok-1") << name;
    EXPECT_EQ(t.manager->new_token_calls(), 2) << name;
    EXPECT_EQ(t.http.paths, (std::vector<std::string>(2, "/v1.0/token?grant_type=1"))) << name;
    ASSERT_EQ(t.sleeps.size(), 1u) << name;
    EXPECT_GE(t.sleeps[0], 100) << name;  // the first backoff: [base/2, base]
    EXPECT_LE(t.sleeps[0], 200) << name;
    // Cached from now on: no more calls.
    ASSERT_OK_R(t.manager->AccessToken(t.http));
    EXPECT_EQ(t.http.paths.size(), 2u) << name;
  }
}

TEST(TokenRetry, GivesUpAfterMaxAttemptsWithGrowingBackoff) {
  Tokens t(4);
  for (int i = 0; i < 10; ++i) t.http.script.push_back(ScriptedTokenHttp::Json(200, Err(1110)));
  auto token = t.manager->AccessToken(t.http);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().api_code(), 1110);
  EXPECT_EQ(t.manager->new_token_calls(), 4);
  ASSERT_EQ(t.sleeps.size(), 3u);
  EXPECT_LE(t.sleeps[0], 200);
  EXPECT_GE(t.sleeps[1], 200);
  EXPECT_LE(t.sleeps[1], 400);
  EXPECT_GE(t.sleeps[2], 400);
  EXPECT_LE(t.sleeps[2], 800);
}

TEST(TokenRetry, WhatTheServerRefusesIsNotRetried) {
  // Signature and client refusals, and a well-formed success without a token.
  for (auto answer :
       {ScriptedTokenHttp::Json(200, Err(1004)), ScriptedTokenHttp::Json(200, Err(1005)),
        ScriptedTokenHttp::Json(404, "not found"),
        ScriptedTokenHttp::Json(200, R"({"success":true,"result":{"uid":"x"}})")}) {
    Tokens t;
    t.http.script.push_back(answer);
    EXPECT_FALSE(t.manager->AccessToken(t.http).ok());
    EXPECT_EQ(t.manager->new_token_calls(), 1);
    EXPECT_TRUE(t.sleeps.empty());
  }
}

TEST(TokenRetry, OneAttemptMeansNoRetry) {
  Tokens t(1);
  t.http.script.push_back(ScriptedTokenHttp::Json(200, Err(500)));
  EXPECT_FALSE(t.manager->AccessToken(t.http).ok());
  EXPECT_EQ(t.manager->new_token_calls(), 1);
  EXPECT_TRUE(t.sleeps.empty());
}

TEST(TokenRetry, TheClockReplayIsNotAnAttempt) {
  Tokens t(2);
  t.http.script.push_back(
      ScriptedTokenHttp::Json(200, R"({"success":false,"t":1700000000000,"code":1013,"msg":"t"})"));
  t.http.script.push_back(ScriptedTokenHttp::Json(200, Err(1111)));
  auto token = t.manager->AccessToken(t.http);
  ASSERT_OK_R(token);
  EXPECT_EQ(t.manager->new_token_calls(), 3);
  EXPECT_EQ(t.sleeps.size(), 1u);
}

}  // namespace
}  // namespace lockpipe
