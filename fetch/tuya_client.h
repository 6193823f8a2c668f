// The Tuya OpenAPI layer: signed requests, the response envelope, tokens.
//
//   TokenManager  — one per process (shared by threads): gets a token, refreshes
//                   it ahead of expiry with the refresh token (falling back to a
//                   new token), one refresh at a time, never stores an error
//                   payload as a token, keeps the server's clock offset. The
//                   new-token call is retried with backoff on transient
//                   failures (TokenOptions::retry): a GET is safe to repeat.
//   TuyaClient    — one per thread: signs a call, sends it over the thread's
//                   HttpClient, reads the envelope, replays once after a token
//                   error (1010/1011/1012/1400) or a clock error (1013), and
//                   retries with backoff where it is safe (500, 1110, 1111,
//                   1199; HTTP 5xx/network errors on GET). A door-opening call
//                   is never resent once it may have reached the server: only
//                   answers that prove it was refused before acting (token,
//                   clock and rate-limit codes) lead to a resend.
//
// Errors: kApiError with http_status and api_code set and the message
// "<METHOD> <path>: Tuya code N: msg"; kCorrupt for a body that is not the
// envelope (not JSON, or no boolean `success`; api_code is still set when it
// has a code); kNetwork/kTimeout from the HTTP layer. A call that never went
// out because no access token could be had carries
// Status::request_not_sent(). Never a secret.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "base/secret.h"
#include "base/status.h"
#include "fetch/http_client.h"

namespace lockpipe {

struct TuyaCredentials {
  std::string client_id;
  Secret access_secret;
};

// Milliseconds since the epoch; a seam for tests.
using ClockMs = std::function<std::int64_t()>;
std::int64_t SystemClockMs();

struct TokenOptions {
  // Refresh when less than this is left of the token's life.
  int refresh_ahead_seconds = 300;
  ClockMs clock;  // default SystemClockMs
  // How often and how patiently a new token is asked for (the same defaults
  // as TuyaClient's): a busy code (1110/1111/1199), Tuya code 500, HTTP 5xx, a
  // network error, a timeout or a garbled answer is tried again after a
  // backoff, up to max_attempts calls in all. retry.sleep is the test seam.
  RetryPolicy retry;
};

// Thread-safe: every public method may be called from any thread. Tokens are
// fetched with the HttpClient of the calling thread, under the mutex, so one
// refresh happens at a time and the other callers wait for its result.
class TokenManager {
 public:
  TokenManager(std::string base_url, TuyaCredentials credentials, TokenOptions options = {});

  // A valid access token: the cached one, or a refreshed one if it expires
  // within refresh_ahead_seconds (refresh token first, tried once, then a new
  // token), or a new one (retried per options.retry). Fails with the token
  // endpoint's last error. Holds the mutex through the retries' backoff.
  Result<Secret> AccessToken(HttpClient& http);
  // Drops `failed` if it is still the cached token (another thread may
  // already have replaced it), so the next AccessToken gets a new one.
  void Invalidate(const Secret& failed);
  // Clock: the local clock corrected by the offset learned from the server.
  std::int64_t NowMs() const;
  // Learns the offset from a server `t` observed between local times
  // sent_ms and received_ms (assumes the server stamped the midpoint).
  void ObserveServerTime(std::int64_t server_t_ms, std::int64_t sent_ms, std::int64_t received_ms);
  std::int64_t clock_offset_ms() const;

  const std::string& base_url() const { return base_url_; }
  const TuyaCredentials& credentials() const { return credentials_; }
  std::int64_t LocalNowMs() const;

  // Counters for tests and diagnostics.
  int new_token_calls() const;
  int refresh_calls() const;

 private:
  // Caller holds mu_.
  Status FetchLocked(HttpClient& http, bool use_refresh);

  const std::string base_url_;
  const TuyaCredentials credentials_;
  const TokenOptions options_;
  mutable std::mutex mu_;
  Secret access_token_;
  Secret refresh_token_;
  std::int64_t expires_at_ms_ = 0;  // local clock
  std::int64_t offset_ms_ = 0;
  int new_token_calls_ = 0;
  int refresh_calls_ = 0;
};

struct ApiRequest {
  std::string method;  // GET, POST, PUT
  std::string path;    // "/v1.0/devices/ID/door-lock/open-door" (already encoded)
  std::map<std::string, std::string> query;  // signed sorted, sent encoded
  std::string body;                          // exact bytes; JSON for POST/PUT
  // True for calls that may open a door (see the header comment).
  bool door_opening = false;
};

// Sends one signed call (token calls when access_token is empty) and returns
// the envelope's `result` (null when absent). Used by TokenManager and
// TuyaClient; exposed for tests.
// t_ms is the `t` header; *server_t receives the envelope's `t` (0 if none).
Result<nlohmann::json> SendSigned(HttpClient& http, const std::string& base_url,
                                  const TuyaCredentials& credentials,
                                  const std::string& access_token, const ApiRequest& request,
                                  std::int64_t t_ms, std::int64_t* server_t,
                                  const RetryPolicy& retry);

// True for Tuya codes meaning "the token is bad: get a new one and replay".
bool IsTokenError(std::int64_t code);
// True for Tuya codes meaning "busy, try again later".
bool IsBusyError(std::int64_t code);

// One per thread. `tokens` is shared and must outlive the client.
class TuyaClient {
 public:
  TuyaClient(std::unique_ptr<HttpClient> http, std::shared_ptr<TokenManager> tokens,
             RetryPolicy retry = {});

  // Makes the call (see the header comment for replays and retries) and
  // returns the envelope's `result`.
  Result<nlohmann::json> Call(const ApiRequest& request);

  HttpClient& http() { return *http_; }
  TokenManager& tokens() { return *tokens_; }
  const RetryPolicy& retry() const { return retry_; }

 private:
  std::unique_ptr<HttpClient> http_;
  std::shared_ptr<TokenManager> tokens_;
  RetryPolicy retry_;
};

}  // namespace lockpipe
