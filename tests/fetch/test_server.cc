#include "tests/fetch/test_server.h"

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "fetch/tuya_sign.h"
#include "tests/testutil.h"

namespace lockpipe::testing {

std::int64_t NowMsForTest() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string SeenRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

TestServer::TestServer(Handler handler, const std::string& cert_file, const std::string& key_file)
    : handler_(std::move(handler)) {
  if (!cert_file.empty()) {
    tls_ = true;
    server_ = std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  if (!server_->is_valid()) return;
  server_->set_keep_alive_max_count(1000);
  auto h = [this](const httplib::Request& req, httplib::Response& res) { Serve(req, res); };
  server_->Get(".*", h);
  server_->Post(".*", h);
  server_->Put(".*", h);
  server_->Delete(".*", h);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) {
    port_ = 0;
    return;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // Bounded wait for the accept loop.
  for (int i = 0; i < 500 && !server_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

TestServer::~TestServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string TestServer::base_url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

std::vector<SeenRequest> TestServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void TestServer::SetHandler(Handler handler) {
  std::lock_guard lock(mu_);
  handler_ = std::move(handler);
}

void TestServer::ClearRequests() {
  std::lock_guard lock(mu_);
  requests_.clear();
}

void TestServer::Serve(const httplib::Request& req, httplib::Response& res) {
  SeenRequest seen;
  seen.method = req.method;
  seen.path = req.path;
  seen.target = req.target;
  for (const auto& [k, v] : req.params) seen.params[k] = v;
  for (const auto& [k, v] : req.headers) seen.headers.emplace(k, v);
  seen.body = req.body;
  seen.remote_port = req.remote_port;
  Handler h;
  {
    std::lock_guard lock(mu_);
    requests_.push_back(seen);
    h = handler_;
  }
  Reply r = h ? h(seen) : Reply{404, "{}"};
  if (r.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_ms));
  // httplib would slice the body again for a Range request; the handlers here
  // answer ranges themselves (to test servers that do it right and wrong).
  const_cast<httplib::Request&>(req).ranges.clear();
  res.status = r.status;
  for (const auto& [k, v] : r.headers) res.set_header(k.c_str(), v);
  res.set_content(r.body, r.content_type.c_str());
}

bool MakeSelfSignedCert(const std::string& dir, std::string* cert, std::string* key) {
  *cert = dir + "/cert.pem";
  *key = dir + "/key.pem";
  auto r = RunShell(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
      ShellQuote(*key) + " -out " + ShellQuote(*cert) + " 2>&1");
  return r.exit_code == 0;
}

// ------------------------------------------------------------------ MiniTuya

MiniTuya::MiniTuya(std::string client_id, std::string secret)
    : client_id_(std::move(client_id)), secret_(std::move(secret)) {}

std::string MiniTuya::Ok(const std::string& result_json, std::int64_t t) {
  return R"({"result":)" + result_json + R"(,"success":true,"t":)" +
         std::to_string(t != 0 ? t : NowMsForTest()) + "}";
}

std::string MiniTuya::Err(int code, const std::string& msg, std::int64_t t) {
  nlohmann::json j = {
      {"success", false}, {"code", code}, {"msg", msg}, {"t", t != 0 ? t : NowMsForTest()}};
  return j.dump();
}

void MiniTuya::ExpireToken(const std::string& token) {
  std::lock_guard lock(mu_);
  valid_tokens_[token] = false;
}

std::string MiniTuya::last_token() const {
  std::lock_guard lock(mu_);
  return last_token_;
}

std::string MiniTuya::VerifySignature(const SeenRequest& r, bool token_call) const {
  if (r.Header("client_id") != client_id_) return "client_id";
  if (r.Header("sign_method") != "HMAC-SHA256") return "sign_method";
  tuya::SignInput in;
  in.method = r.method;
  in.body = r.body;
  std::map<std::string, std::string> q(r.params.begin(), r.params.end());
  in.url = tuya::CanonicalUrl(r.path, q);
  in.client_id = client_id_;
  in.access_token = token_call ? "" : r.Header("access_token");
  in.t = r.Header("t");
  in.nonce = r.Header("nonce");
  if (!tuya::SignaturesEqual(tuya::Sign(secret_, in), r.Header("sign"))) return "sign";
  return "";
}

Reply MiniTuya::Handle(const SeenRequest& r) {
  const std::int64_t now = NowMsForTest() + server_time_offset_ms;
  const bool token_call = r.path.rfind("/v1.0/token", 0) == 0;
  if (!VerifySignature(r, token_call).empty()) {
    ++bad_signatures;
    return {200, Err(1004, "sign invalid", now)};
  }
  // Tuya rejects a `t` more than a few minutes off.
  const std::int64_t t = std::atoll(r.Header("t").c_str());
  if (check_time && std::llabs(t - now) > 60000)
    return {200, Err(1013, "request time is invalid", now)};
  if (token_call) {
    if (!token_reply_once.empty()) {
      std::string body = token_reply_once;
      token_reply_once.clear();
      return {200, body};
    }
    std::lock_guard lock(mu_);
    if (r.path == "/v1.0/token") {
      ++token_calls;
    } else {
      ++refresh_calls;
      const std::string rt = r.path.substr(std::string("/v1.0/token/").size());
      if (!valid_refresh_[rt]) return {200, Err(1012, "token invalid", now)};
      valid_refresh_[rt] = false;  // a refresh token works once
    }
    const int n = next_++;
    const std::string tok = "tok-" + std::to_string(n);
    const std::string ref = "ref-" + std::to_string(n);
    valid_tokens_[tok] = true;
    valid_refresh_[ref] = true;
    last_token_ = tok;
    nlohmann::json res = {{"access_token", tok},
                          {"refresh_token", ref},
                          {"expire_time", token_lifetime_s},
                          {"uid", "u1"}};
    return {200, Ok(res.dump(), now)};
  }
  {
    std::lock_guard lock(mu_);
    auto it = valid_tokens_.find(r.Header("access_token"));
    if (it == valid_tokens_.end()) return {200, Err(1011, "token invalid", now)};
    if (!it->second) return {200, Err(1010, "token expired", now)};
  }
  if (!business) return {200, Err(1108, "uri path invalid", now)};
  return business(r);
}

}  // namespace lockpipe::testing
