#include "fetch/tuya_client.h"

#include <chrono>
#include <random>
#include <thread>

#include "base/log.h"
#include "fetch/tuya_sign.h"

namespace lockpipe {
namespace {

// What an error message calls the endpoint: the refresh call's path holds the
// refresh token, which must never be shown.
std::string DisplayEndpoint(const ApiRequest& request) {
  constexpr std::string_view kRefresh = "/v1.0/token/";
  if (request.path.rfind(kRefresh, 0) == 0) return request.method + " /v1.0/token/<refresh_token>";
  return request.method + " " + request.path;
}

std::string BuildUrl(const std::string& base_url, const ApiRequest& request) {
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += request.path;
  char sep = '?';
  for (const auto& [k, v] : request.query) {
    url += sep;
    url += UrlEncode(k) + "=" + UrlEncode(v);
    sep = '&';
  }
  return url;
}

}  // namespace

std::int64_t SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsTokenError(std::int64_t code) {
  return code == 1010 || code == 1011 || code == 1012 || code == 1400;
}
bool IsBusyError(std::int64_t code) { return code == 1110 || code == 1111 || code == 1199; }

Result<nlohmann::json> SendSigned(HttpClient& http, const std::string& base_url,
                                  const TuyaCredentials& credentials,
                                  const std::string& access_token, const ApiRequest& request,
                                  std::int64_t t_ms, std::int64_t* server_t,
                                  const RetryPolicy& retry) {
  if (server_t != nullptr) *server_t = 0;
  const std::string endpoint = DisplayEndpoint(request);
  tuya::SignInput in;
  in.method = request.method;
  in.body = request.body;
  in.url = tuya::CanonicalUrl(request.path, request.query);
  in.client_id = credentials.client_id;
  in.access_token = access_token;
  in.t = std::to_string(t_ms);
  // No nonce and no signed headers, like Tuya's own Python SDK.

  HttpRequest req;
  req.method = request.method;
  req.url = BuildUrl(base_url, request);
  req.body = request.body;
  req.idempotent = !request.door_opening;
  req.headers = {{"client_id", credentials.client_id},
                 {"sign", tuya::Sign(credentials.access_secret, in)},
                 {"sign_method", "HMAC-SHA256"},
                 {"t", in.t}};
  if (!access_token.empty()) req.headers.emplace_back("access_token", access_token);
  if (request.method == "POST" || request.method == "PUT") {
    req.headers.emplace_back("Content-Type", "application/json");
  }
  Result<HttpResponse> r = SendWithRetry(http, req, retry);
  if (!r.ok()) return r.status().WithContext(endpoint);
  const HttpResponse& resp = *r;

  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(resp.body);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() quotes the body, which can hold a token: give the position only.
    Status s =
        resp.status != 200
            ? Status(StatusCode::kApiError, endpoint + ": HTTP " + std::to_string(resp.status) +
                                                " with a body that is not JSON")
            : Corrupt(endpoint + ": malformed JSON answer (" + std::to_string(resp.body.size()) +
                      " bytes, syntax error at byte " + std::to_string(e.byte) + ")");
    return s.set_http_status(resp.status);
  }
  if (!doc.is_object()) {
    return Corrupt(endpoint + ": answer is not a JSON object (HTTP " + std::to_string(resp.status) +
                   ")")
        .set_http_status(resp.status);
  }
  if (server_t != nullptr) {
    auto t = doc.find("t");
    if (t != doc.end() && t->is_number_integer()) *server_t = t->get<std::int64_t>();
  }
  auto success = doc.find("success");
  const bool ok = success != doc.end() && success->is_boolean() && success->get<bool>();
  if (!ok || resp.status != 200) {
    std::int64_t code = 0;
    std::string msg;
    if (auto c = doc.find("code"); c != doc.end()) {
      if (c->is_number_integer()) {
        code = c->get<std::int64_t>();
      } else if (c->is_string()) {
        try {
          code = std::stoll(c->get<std::string>());
        } catch (const std::exception&) {
          code = 0;
        }
      }
    }
    if (auto m = doc.find("msg"); m != doc.end() && m->is_string()) msg = m->get<std::string>();
    std::string text = endpoint + ": ";
    const bool has_success = success != doc.end() && success->is_boolean();
    if (code != 0) {
      text += "Tuya code " + std::to_string(code) + ": " + (msg.empty() ? "(no msg)" : msg);
      if (!has_success) text += " (answer has no boolean 'success')";
    } else if (!has_success) {
      text += "answer has no boolean 'success' (HTTP " + std::to_string(resp.status) + ")";
    } else {
      text += "HTTP " + std::to_string(resp.status) + (msg.empty() ? "" : ": " + msg);
    }
    // Only the envelope as documented (a boolean `success`) is an API error;
    // anything else is a garbled answer, which proves nothing about what the
    // server did (LockCallOutcome). The code is kept either way for the
    // replay and retry decisions.
    return Status(has_success ? StatusCode::kApiError : StatusCode::kCorrupt, text)
        .set_http_status(resp.status)
        .set_api_code(code);
  }
  auto result = doc.find("result");
  if (result == doc.end()) return nlohmann::json();
  return *result;
}

// ---------------------------------------------------------------- tokens

TokenManager::TokenManager(std::string base_url, TuyaCredentials credentials, TokenOptions options)
    : base_url_(std::move(base_url)),
      credentials_(std::move(credentials)),
      options_(std::move(options)) {}

std::int64_t TokenManager::LocalNowMs() const {
  return options_.clock ? options_.clock() : SystemClockMs();
}

std::int64_t TokenManager::NowMs() const {
  std::lock_guard lock(mu_);
  return LocalNowMs() + offset_ms_;
}

std::int64_t TokenManager::clock_offset_ms() const {
  std::lock_guard lock(mu_);
  return offset_ms_;
}

void TokenManager::ObserveServerTime(std::int64_t server_t_ms, std::int64_t sent_ms,
                                     std::int64_t received_ms) {
  if (server_t_ms <= 0) return;
  std::lock_guard lock(mu_);
  offset_ms_ = server_t_ms - (sent_ms + (received_ms - sent_ms) / 2);
}

int TokenManager::new_token_calls() const {
  std::lock_guard lock(mu_);
  return new_token_calls_;
}
int TokenManager::refresh_calls() const {
  std::lock_guard lock(mu_);
  return refresh_calls_;
}

Result<Secret> TokenManager::AccessToken(HttpClient& http) {
  std::lock_guard lock(mu_);
  const std::int64_t now = LocalNowMs();
  if (!access_token_.empty() &&
      now < expires_at_ms_ - std::int64_t{options_.refresh_ahead_seconds} * 1000) {
    return access_token_;
  }
  if (!refresh_token_.empty()) {
    Status s = FetchLocked(http, /*use_refresh=*/true);
    if (s.ok()) return access_token_;
    log::Warn("token refresh failed (" + s.message() + "); getting a new token");
    refresh_token_ = Secret();
  }
  RETURN_IF_ERROR(FetchLocked(http, /*use_refresh=*/false));
  return access_token_;
}

void TokenManager::Invalidate(const Secret& failed) {
  std::lock_guard lock(mu_);
  if (access_token_.reveal() == failed.reveal()) {
    access_token_ = Secret();
    expires_at_ms_ = 0;
  }
}

namespace {

// A failure of the token call worth another try: the server was busy or
// failed (1110/1111/1199, Tuya 500, HTTP 5xx), the network failed or timed
// out, or the answer was garbled. Credentials and signature refusals are not.
bool IsTransientTokenFailure(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNetwork:
    case StatusCode::kTimeout:
    case StatusCode::kCorrupt:  // a garbled answer: a GET is safe to repeat
      return true;
    case StatusCode::kApiError:
      return IsBusyError(status.api_code()) || status.api_code() == 500 ||
             status.http_status() >= 500;
    default:
      return false;
  }
}

}  // namespace

Status TokenManager::FetchLocked(HttpClient& http, bool use_refresh) {
  ApiRequest req;
  req.method = "GET";
  if (use_refresh) {
    req.path = "/v1.0/token/" + refresh_token_.reveal();
  } else {
    req.path = "/v1.0/token";
    req.query = {{"grant_type", "1"}};
  }
  const std::string what = use_refresh ? "GET /v1.0/token/<refresh_token>" : "GET /v1.0/token";
  // Retries happen here, not in the HTTP layer, so that every kind of
  // transient failure counts against the same max_attempts. A refresh is
  // tried once: its token works once, so a repeat after a lost answer would
  // only be refused, and AccessToken falls back to a new token anyway.
  RetryPolicy once;
  once.max_attempts = 1;
  const int attempts = use_refresh ? 1 : std::max(1, options_.retry.max_attempts);
  std::mt19937 rng(options_.retry.seed != 0 ? options_.retry.seed : std::random_device{}());
  bool clock_replayed = false;
  for (int attempt = 1;; ++attempt) {
    (use_refresh ? refresh_calls_ : new_token_calls_)++;
    const std::int64_t sent = LocalNowMs();
    std::int64_t server_t = 0;
    Result<nlohmann::json> r =
        SendSigned(http, base_url_, credentials_, "", req, sent + offset_ms_, &server_t, once);
    const std::int64_t received = LocalNowMs();
    if (server_t > 0) offset_ms_ = server_t - (sent + (received - sent) / 2);
    // 1013: our clock is off; the answer's t has just corrected it. This
    // replay is not one of the attempts.
    if (!r.ok() && r.status().api_code() == 1013 && !clock_replayed && server_t > 0) {
      clock_replayed = true;
      --attempt;
      continue;
    }
    if (!r.ok()) {
      if (!IsTransientTokenFailure(r.status()) || attempt >= attempts) return r.status();
      const int delay = BackoffDelayMs(options_.retry, attempt, static_cast<std::uint32_t>(rng()));
      log::Debug(r.status().message() + "; retrying in " + std::to_string(delay) + " ms");
      if (options_.retry.sleep) {
        options_.retry.sleep(delay);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
      continue;
    }
    // Validate everything before storing anything: an error payload or a
    // half answer must never become the token. A well-formed success without
    // a token is not retried: the server would say the same again.
    const nlohmann::json& res = *r;
    if (!res.is_object()) return Corrupt(what + ": answer has no result object");
    auto at = res.find("access_token");
    auto rt = res.find("refresh_token");
    auto exp = res.find("expire_time");
    if (at == res.end() || !at->is_string() || at->get<std::string>().empty())
      return Corrupt(what + ": answer has no access_token");
    if (exp == res.end() || !exp->is_number_integer() || exp->get<std::int64_t>() <= 0)
      return Corrupt(what + ": answer has no positive expire_time");
    access_token_ = Secret(at->get<std::string>());
    refresh_token_ =
        (rt != res.end() && rt->is_string()) ? Secret(rt->get<std::string>()) : Secret();
    expires_at_ms_ = sent + exp->get<std::int64_t>() * 1000;
    log::Debug(what + ": token valid for " + std::to_string(exp->get<std::int64_t>()) + " s");
    return Status::Ok();
  }
}

// ---------------------------------------------------------------- client

TuyaClient::TuyaClient(std::unique_ptr<HttpClient> http, std::shared_ptr<TokenManager> tokens,
                       RetryPolicy retry)
    : http_(std::move(http)), tokens_(std::move(tokens)), retry_(std::move(retry)) {}

Result<nlohmann::json> TuyaClient::Call(const ApiRequest& request) {
  bool token_replayed = false;
  bool clock_replayed = false;
  int busy_tries = 1;
  std::mt19937 rng(retry_.seed != 0 ? retry_.seed : std::random_device{}());
  for (;;) {
    Result<Secret> got = tokens_->AccessToken(*http_);
    // Without a token the call itself never left this machine (a token
    // refusal answered to an earlier try of it proved that try refused).
    if (!got.ok()) return Status(got.status()).set_request_not_sent();
    Secret token = std::move(got).value();
    const std::int64_t sent = tokens_->LocalNowMs();
    std::int64_t server_t = 0;
    Result<nlohmann::json> r =
        SendSigned(*http_, tokens_->base_url(), tokens_->credentials(), token.reveal(), request,
                   tokens_->NowMs(), &server_t, retry_);
    tokens_->ObserveServerTime(server_t, sent, tokens_->LocalNowMs());
    if (r.ok()) return r;
    const std::int64_t code = r.status().api_code();
    // The server refused these before acting on them, so even a door-opening
    // call is safe to replay once.
    if (IsTokenError(code) && !token_replayed) {
      token_replayed = true;
      tokens_->Invalidate(token);
      continue;
    }
    if (code == 1013 && !clock_replayed && server_t > 0) {
      clock_replayed = true;
      continue;
    }
    // Busy codes are refusals too; 500 may have happened halfway, so it is
    // retried only for calls that cannot open a door.
    const bool retryable = IsBusyError(code) || (code == 500 && !request.door_opening);
    if (retryable && busy_tries < retry_.max_attempts) {
      const int delay = BackoffDelayMs(retry_, busy_tries, static_cast<std::uint32_t>(rng()));
      ++busy_tries;
      log::Debug(r.status().message() + "; retrying in " + std::to_string(delay) + " ms");
      if (retry_.sleep) {
        retry_.sleep(delay);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
      continue;
    }
    return r;
  }
}

}  // namespace lockpipe
