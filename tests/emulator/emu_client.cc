#include "tests/emulator/emu_client.h"

#include <chrono>

#include "fetch/tuya_sign.h"
#include "tests/testutil.h"

namespace lockpipe::emulator::testing {

using nlohmann::json;

std::unique_ptr<httplib::Client> MakeClient(const Server& server) {
  auto c = std::make_unique<httplib::Client>(server.base_url());
  if (!server.ca_cert_path().empty()) {
    c->set_ca_cert_path(server.ca_cert_path().c_str());
    c->enable_server_certificate_verification(true);
  }
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(10, 0);
  return c;
}

namespace {
ApiReply ToReply(const httplib::Result& r) {
  ApiReply out;
  if (!r) {
    out.http = -1;
    out.body = httplib::to_string(r.error());
    return out;
  }
  out.http = r->status;
  out.body = r->body;
  out.json = json::parse(r->body, nullptr, false);
  if (out.json.is_discarded()) out.json = nullptr;
  return out;
}
}  // namespace

ApiClient::ApiClient(const Server& server, std::string id, std::string s)
    : secret(std::move(s)), client_id(std::move(id)), http_(MakeClient(server)) {}

ApiReply ApiClient::Call(const std::string& method, const std::string& path,
                         const std::map<std::string, std::string>& query, const std::string& body,
                         const SignOptions& opts) {
  const bool token_call = path.rfind("/v1.0/token", 0) == 0;
  tuya::SignInput in;
  in.method = method;
  in.body = body;
  in.url = tuya::CanonicalUrl(path, query);
  in.client_id = client_id;
  const std::int64_t t = opts.t_ms.value_or(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  in.t = std::to_string(t);
  in.nonce = opts.nonce;
  const std::string token = opts.token_override.value_or(access_token);
  if (!token_call && opts.send_token) in.access_token = token;
  httplib::Headers headers = {
      {"client_id", client_id}, {"t", in.t}, {"sign_method", "HMAC-SHA256"}};
  if (!opts.nonce.empty()) headers.emplace("nonce", opts.nonce);
  if (!opts.sig_headers.empty()) {
    std::string names;
    for (const auto& [k, v] : opts.sig_headers) {
      names += (names.empty() ? "" : ":") + k;
      in.signed_headers += k + ":" + v + "\n";
      headers.emplace(k, v);
    }
    headers.emplace("Signature-Headers", names);
  }
  if (!token_call && opts.send_token) headers.emplace("access_token", token);
  std::string sign = tuya::Sign(secret, in);
  if (opts.corrupt_sign) sign[0] = sign[0] == 'A' ? 'B' : 'A';
  headers.emplace("sign", sign);
  std::string target = path;
  char sep = '?';
  for (const auto& [k, v] : query) {
    target += sep + k + "=" + v;
    sep = '&';
  }
  if (method == "GET") return ToReply(http_->Get(target, headers));
  if (method == "POST") return ToReply(http_->Post(target, headers, body, "application/json"));
  if (method == "PUT") return ToReply(http_->Put(target, headers, body, "application/json"));
  if (method == "DELETE") return ToReply(http_->Delete(target, headers));
  return {};
}

ApiReply ApiClient::Login() {
  ApiReply r = Call("GET", "/v1.0/token", {{"grant_type", "1"}});
  if (r.success()) {
    access_token = r.result().at("access_token").get<std::string>();
    refresh_token = r.result().at("refresh_token").get<std::string>();
  }
  return r;
}

ApiReply ApiClient::Refresh() {
  ApiReply r = Call("GET", "/v1.0/token/" + refresh_token);
  if (r.success()) {
    access_token = r.result().at("access_token").get<std::string>();
    refresh_token = r.result().at("refresh_token").get<std::string>();
  }
  return r;
}

ApiReply Admin(const Server& server, const std::string& method, const std::string& path,
               const std::string& body, const std::string& content_type) {
  auto c = MakeClient(server);
  if (method == "GET") return ToReply(c->Get(path));
  if (method == "POST") return ToReply(c->Post(path, body, content_type));
  if (method == "DELETE") return ToReply(c->Delete(path));
  return {};
}

std::string WriteTestFixture(const std::string& dir) {
  json fx = {
      {"client_id", kClientId},
      {"access_secret", kSecret},
      {"uid", "test-uid"},
      {"devices",
       json::array({
           {{"id", "wifi1"}, {"type", "wifi"}},
           {{"id", "bt1"}, {"type", "bluetooth"}},
           {{"id", "zb1"}, {"type", "zigbee"}, {"door_password", "123456"}},
           {{"id", "hotel"}, {"type", "zigbee_hotel"}},
           {{"id", "ac"}, {"type", "wifi_access_control"}, {"channels", 2}},
           {{"id", "aio"}, {"type", "wifi_all_in_one"}},
           {{"id", "off"}, {"type", "bluetooth"}, {"online", false}},
           {{"id", "closed"},
            {"type", "bluetooth"},
            {"remote_unlock", {{"remoteUnlockWithoutPwd", false}, {"remoteUnlockWithPwd", true}}}},
       })}};
  const std::string path = dir + "/fixture.json";
  lockpipe::testing::WriteFile(path, fx.dump(2));
  return path;
}

}  // namespace lockpipe::emulator::testing
