// A loopback HTTP(S) server for the fetch/ tests (cpp-httplib on 127.0.0.1,
// a free port), recording every request, with a handler the test sets; and a
// minimal Tuya cloud on top of it that verifies signatures and issues tokens.
//
// Thread-safety: the handler runs on the server's threads; requests() and the
// setters lock a mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/secret.h"

namespace httplib {
struct Request;
struct Response;
class Server;
}  // namespace httplib

namespace lockpipe::testing {

struct SeenRequest {
  std::string method;
  std::string path;
  std::string target;  // path + "?" + raw query
  std::map<std::string, std::string> params;
  std::multimap<std::string, std::string> headers;
  std::string body;
  int remote_port = 0;
  std::string Header(const std::string& name) const;
};

// Answer with a status, JSON/text body and headers.
struct Reply {
  Reply(int status_in = 200, std::string body_in = "",
        std::string content_type_in = "application/json",
        std::vector<std::pair<std::string, std::string>> headers_in = {}, int delay_ms_in = 0)
      : status(status_in),
        body(std::move(body_in)),
        content_type(std::move(content_type_in)),
        headers(std::move(headers_in)),
        delay_ms(delay_ms_in) {}
  int status;
  std::string body;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  int delay_ms;  // sleep before answering (timeout tests)
};

class TestServer {
 public:
  using Handler = std::function<Reply(const SeenRequest&)>;
  // tls: serve HTTPS with cert_file/key_file.
  explicit TestServer(Handler handler, const std::string& cert_file = "",
                      const std::string& key_file = "");
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  bool ok() const { return port_ > 0; }
  int port() const { return port_; }
  std::string base_url() const;
  std::vector<SeenRequest> requests() const;
  void SetHandler(Handler handler);
  void ClearRequests();

 private:
  void Serve(const httplib::Request& req, httplib::Response& res);
  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  Handler handler_;
  std::vector<SeenRequest> requests_;
};

// Generates a self-signed cert for 127.0.0.1/localhost with the openssl CLI
// into dir/cert.pem + dir/key.pem. Returns false if openssl failed.
bool MakeSelfSignedCert(const std::string& dir, std::string* cert, std::string* key);

// A minimal Tuya cloud: verifies client_id, t and sign on every call, issues
// tokens ("tok-N", refresh "ref-N", expire_time `token_lifetime_s`), and hands
// business calls to `business` (which sees a verified request). Scripted
// token-endpoint failures via token_error_once.
class MiniTuya {
 public:
  MiniTuya(std::string client_id, std::string secret);
  // The TestServer handler.
  Reply Handle(const SeenRequest& r);

  std::function<Reply(const SeenRequest&)> business;
  std::int64_t token_lifetime_s = 7200;
  std::int64_t server_time_offset_ms = 0;  // server clock = local + this
  bool check_time = true;                  // answer 1013 to a t more than 60 s off
  // When set, the next token call answers this body (e.g. an error envelope).
  std::string token_reply_once;
  std::atomic<int> token_calls{0};
  std::atomic<int> refresh_calls{0};
  std::atomic<int> bad_signatures{0};
  // Tokens that are no longer accepted (code 1010).
  void ExpireToken(const std::string& token);
  std::string last_token() const;
  // Verifies the signature of a request: returns "" or why not.
  std::string VerifySignature(const SeenRequest& r, bool token_call) const;

  static std::string Ok(const std::string& result_json, std::int64_t t = 0);
  static std::string Err(int code, const std::string& msg, std::int64_t t = 0);

 private:
  std::string client_id_;
  Secret secret_;
  mutable std::mutex mu_;
  int next_ = 1;
  std::map<std::string, bool> valid_tokens_;  // token -> valid
  std::map<std::string, bool> valid_refresh_;
  std::string last_token_;
};

std::int64_t NowMsForTest();

}  // namespace lockpipe::testing
