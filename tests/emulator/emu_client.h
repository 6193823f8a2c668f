// Test helpers for the emulator: a Tuya-signing client over cpp-httplib (the
// typed fetch/ client is tested separately) and a fixture writer.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/secret.h"
#include "emulator/server.h"

namespace lockpipe::emulator::testing {

inline constexpr const char* kClientId = "test-client";
inline constexpr const char* kSecret = "0123456789abcdef0123456789ABCDEF";  // 32 chars

struct ApiReply {
  int http = 0;
  std::string body;
  nlohmann::json json;  // null when the body is not JSON
  bool success() const { return json.is_object() && json.value("success", false); }
  std::int64_t code() const { return json.is_object() ? json.value("code", std::int64_t{0}) : -1; }
  const nlohmann::json& result() const { return json.at("result"); }
};

// How to sign one request: the SDK variants and the broken ones tests need.
struct SignOptions {
  std::string nonce;                                             // Java connector style
  std::vector<std::pair<std::string, std::string>> sig_headers;  // openHAB style
  std::optional<std::int64_t> t_ms;                              // default: now
  bool corrupt_sign = false;
  bool send_token = true;
  std::optional<std::string> token_override;
};

std::unique_ptr<httplib::Client> MakeClient(const Server& server);

class ApiClient {
 public:
  explicit ApiClient(const Server& server, std::string client_id = kClientId,
                     std::string secret = kSecret);
  ApiReply Call(const std::string& method, const std::string& path,
                const std::map<std::string, std::string>& query = {}, const std::string& body = "",
                const SignOptions& opts = {});
  // GET /v1.0/token?grant_type=1; keeps the token pair. Returns the reply.
  ApiReply Login();
  ApiReply Refresh();  // GET /v1.0/token/{refresh}; keeps the new pair on success

  std::string access_token;
  std::string refresh_token;
  Secret secret;
  std::string client_id;

 private:
  std::unique_ptr<httplib::Client> http_;
};

// Admin helpers (JSON in, JSON out; HTTP status in .http).
ApiReply Admin(const Server& server, const std::string& method, const std::string& path,
               const std::string& body = "", const std::string& content_type = "application/json");

// A fixture with one device of each interesting kind; returns its path.
std::string WriteTestFixture(const std::string& dir);

}  // namespace lockpipe::emulator::testing
