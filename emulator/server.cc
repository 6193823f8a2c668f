#include "emulator/server.h"

#include <httplib.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <thread>
#include <vector>

#include "base/file_util.h"
#include "base/json_text.h"
#include "base/listener_thread.h"
#include "base/log.h"
#include "base/server_socket.h"
#include "decoders/media_container.h"
#include "emulator/fixture.h"
#include "emulator/tls_cert.h"
#include "fetch/lock_api.h"
#include "fetch/lock_types.h"
#include "fetch/tuya_sign.h"

namespace lockpipe::emulator {
namespace {

using json = nlohmann::json;

constexpr const char* kBucket = "lockpipe-emulator";
constexpr const char* kSystemError = "system error, please contact the admin";
// The largest request body (a capture's media), for Content-Length and chunked bodies alike.
constexpr std::size_t kMaxCaptureBytes = 256u * 1024 * 1024;

std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Random identifiers and keys from OpenSSL's CSPRNG (tokens and file keys are
// credentials, so std::random_device is not good enough).
std::string RandomChars(std::size_t n, std::string_view alphabet) {
  std::vector<unsigned char> raw(n);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    // Fall back rather than fail: ids only need uniqueness, which the
    // sequence-numbered callers also give. Never reached in practice.
    std::random_device rd;
    for (auto& b : raw) b = static_cast<unsigned char>(rd());
  }
  std::string out;
  out.reserve(n);
  for (unsigned char b : raw) out.push_back(alphabet[b % alphabet.size()]);
  return out;
}
std::string RandomHex(std::size_t n) { return RandomChars(n, "0123456789abcdef"); }
std::string RandomAlnum(std::size_t n) {
  return RandomChars(n, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
}

// An API answer before it is wrapped in the envelope.
struct Answer {
  bool ok = true;
  json result;
  int code = 0;
  std::string msg;
};
Answer Ok(json result) { return {true, std::move(result), 0, ""}; }
Answer Err(int code, std::string msg) { return {false, nullptr, code, std::move(msg)}; }

struct Capture {
  std::string id;
  std::string device_id;
  int file_type = 1;
  std::int64_t t_ms = 0;  // emulated clock
  Secret file_key;
  std::string file_path;    // "/<device>/<id>-<rand>.<ext>", as the API returns it
  std::string stored_path;  // the encrypted file in state_dir/media
  std::uint64_t plain_size = 0;
  std::uint64_t stored_size = 0;
  std::string content_type;
  std::string event_id;
};

struct AuditEntry {
  std::int64_t seq = 0;
  std::int64_t t_ms = 0;
  std::string endpoint;
  std::string ticket_id;
  int channel_id = 0;
  bool ok = false;
  int code = 0;
  std::string outcome;
};

struct DeviceState {
  FixtureDevice fx;
  bool online = true;
  bool without_pwd = true;
  bool with_pwd = true;
  bool locked = true;
  std::string pending_request;  // capture id of an unanswered unlock request
  std::vector<AuditEntry> audit;
};

struct TokenPair {
  std::string refresh_token;
  std::int64_t expires_ms = 0;
};

struct TicketState {
  std::string device_id;
  Secret original_key;
  std::int64_t expires_ms = 0;
  bool used = false;
};

struct Faults {
  int latency_ms = 0;
  int media_latency_ms = 0;  // storage: wait this long before the first byte of each answer
  double error_rate = 0;
  int error_next = 0;
  bool error_http = false;  // also answer HTTP 500, not only the envelope code
  int rate_limit_code = 1110;
  int rate_limit_next = 0;
  double rate_limit_rate = 0;
  int malformed_next = 0;
  int expire_tickets_next = 0;             // the next N tickets are issued already expired
  double truncate_media_fraction = 0;      // serve this fraction of each media file (0 = off)
  std::int64_t truncate_media_bytes = -1;  // or at most this many bytes (-1 = off)

  json ToJson() const {
    return {{"latency_ms", latency_ms},
            {"media_latency_ms", media_latency_ms},
            {"error_rate", error_rate},
            {"error_next", error_next},
            {"error_http", error_http},
            {"rate_limit_code", rate_limit_code},
            {"rate_limit_next", rate_limit_next},
            {"rate_limit_rate", rate_limit_rate},
            {"malformed_next", malformed_next},
            {"expire_tickets_next", expire_tickets_next},
            {"truncate_media_fraction", truncate_media_fraction},
            {"truncate_media_bytes", truncate_media_bytes}};
  }
};

const char* RateLimitMessage(int code) {
  switch (code) {
    case 1110:
      return "concurrent request over limit";
    case 1111:
      return "system busy";
    case 1199:
      return "requests too frequent";
  }
  return "rate limited";
}

// The reference's file_type: 1 a remote unlock request, 2 an alert.
std::string KindName(int file_type) {
  return MediaKindName(file_type == 2 ? MediaKind::kAlert : MediaKind::kUnlockRequest);
}

// `open` as the reference's boolean, or the strings some clients send.
std::optional<bool> ParseBool(const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "true") return true;
    if (s == "false") return false;
  }
  return std::nullopt;
}
std::optional<std::int64_t> ParseInt(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s.empty() || s.size() > 12) return std::nullopt;
    std::int64_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  return std::nullopt;
}

struct Route {
  const char* method;
  std::regex pattern;
  Endpoint endpoint;
  bool token_call = false;
};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Fixture fixture;
  std::string state_dir;
  bool owns_state_dir = false;
  std::string cert_path;
  std::string key_path;
  std::string scheme;
  int bound_port = 0;
  std::unique_ptr<httplib::Server> http;
  ListenerThread<httplib::Server> listener;  // after `http`: stopped before it goes
  std::atomic<bool> stopped{false};
  std::mutex stop_mu;

  // --- state, guarded by mu ----------------------------------------------
  std::mutex mu;
  std::map<std::string, DeviceState> devices;
  std::map<std::string, TokenPair> tokens;           // access token -> pair
  std::map<std::string, std::string> refresh_index;  // refresh token -> access token
  std::map<std::string, TicketState> tickets;
  std::vector<Capture> captures;  // in injection order
  std::vector<Capture> preloaded;
  std::int64_t clock_offset_ms = 0;
  std::int64_t seq = 0;
  Faults faults;
  std::mt19937_64 rng{std::random_device{}()};
  std::map<std::string, std::int64_t> call_counts;

  // --- webhook -------------------------------------------------------------
  std::mutex hook_mu;
  std::condition_variable hook_cv;
  std::deque<std::string> hook_queue;
  bool hook_stop = false;
  std::thread hook_thread;
  std::atomic<std::int64_t> hooks_sent{0};
  std::atomic<std::int64_t> hooks_failed{0};

  std::vector<Route> routes;

  ~Impl() { StopAll(); }

  std::int64_t NowMs() const { return WallMs() + clock_offset_ms; }

  std::string BaseUrl() const {
    return scheme + "://" + (options.host == "0.0.0.0" ? "127.0.0.1" : options.host) + ":" +
           std::to_string(bound_port);
  }

  void ResetDevicesLocked() {
    devices.clear();
    for (const auto& d : fixture.devices) {
      DeviceState s;
      s.fx = d;
      s.online = d.online;
      s.without_pwd = d.remote_unlock_without_pwd;
      s.with_pwd = d.remote_unlock_with_pwd;
      devices.emplace(d.id, std::move(s));
    }
  }

  // ---------------------------------------------------------------- media
  // Encrypts `plain` under a fresh file key and stores it. Runs without the
  // lock (encryption is the slow part); Register() publishes it.
  Result<Capture> Seal(const std::string& device_id, int file_type,
                       std::span<const std::uint8_t> plain) {
    Capture c;
    c.device_id = device_id;
    c.file_type = file_type;
    c.file_key = Secret(RandomAlnum(16));
    c.id = RandomHex(12);
    const auto type =
        media::SniffContent(plain.subspan(0, std::min(plain.size(), media::kSniffBytes)));
    std::string ext = "bin";
    c.content_type = "application/octet-stream";
    if (type == media::ContentType::kJpeg)
      ext = "jpg";
    else if (type == media::ContentType::kPng)
      ext = "png";
    else if (type == media::ContentType::kMp4)
      ext = "mp4";
    c.file_path = "/" + device_id + "/" + c.id + "." + ext;
    ASSIGN_OR_RETURN(auto sealed, media::Encrypt(c.file_key, plain));
    c.stored_path = state_dir + "/media/" + c.id + ".bin";
    RETURN_IF_ERROR(WriteFileAtomically(c.stored_path, sealed, 0600));
    c.plain_size = plain.size();
    c.stored_size = sealed.size();
    c.event_id = "evt-" + RandomHex(16);
    return c;
  }

  // Publishes a sealed capture: it becomes the latest of its kind and, for
  // an unlock request, the lock's pending request.
  json RegisterLocked(Capture c) {
    c.t_ms = NowMs();
    auto& dev = devices.at(c.device_id);
    if (c.file_type == 1) dev.pending_request = c.id;
    json event = {{"event_id", c.event_id},
                  {"device_id", c.device_id},
                  {"file_type", c.file_type},
                  {"kind", KindName(c.file_type)},
                  // The receiver checks t against its own clock (a replay
                  // guard), so it is wall-clock time even after
                  // /_emulator/clock/advance moved the emulated clock.
                  {"t", WallMs()}};
    json out = CaptureJson(c);
    out["event_id"] = c.event_id;
    captures.push_back(std::move(c));
    if (!options.webhook_url.empty()) EnqueueHook(JsonText(event));
    return out;
  }

  // Where a capture's media is, as the cloud hands it out: the bucket is the
  // cloud's host (here, ours), the URL's path is the capture's file_path, and
  // each answer signs it afresh (the query; storage does not check it).
  std::string MediaUrl(const Capture& c) const {
    return BaseUrl() + c.file_path + "?sign=" + RandomHex(32) + "&t=" + std::to_string(NowMs());
  }

  json CaptureJson(const Capture& c) const {
    return {{"capture_id", c.id},
            {"device_id", c.device_id},
            {"file_type", c.file_type},
            {"kind", KindName(c.file_type)},
            {"t", c.t_ms},
            {"bucket", kBucket},
            {"file_path", c.file_path},
            {"file_url", MediaUrl(c)},
            {"plain_size", c.plain_size},
            {"stored_size", c.stored_size},
            {"content_type", c.content_type}};
  }

  // --------------------------------------------------------------- webhook
  void EnqueueHook(std::string body) {
    {
      std::lock_guard<std::mutex> lock(hook_mu);
      hook_queue.push_back(std::move(body));
    }
    hook_cv.notify_one();
  }

  void HookLoop() {
    const std::string& url = options.webhook_url;
    auto scheme_end = url.find("://");
    auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    const std::string origin = url.substr(0, path_start);
    const std::string path = path_start == std::string::npos ? "/" : url.substr(path_start);
    for (;;) {
      std::string body;
      {
        std::unique_lock<std::mutex> lock(hook_mu);
        hook_cv.wait(lock, [&] { return hook_stop || !hook_queue.empty(); });
        if (hook_stop) {
          if (!hook_queue.empty())
            log::Warn("emulator: dropping " + std::to_string(hook_queue.size()) +
                      " undelivered webhook event(s) on shutdown");
          return;
        }
        body = std::move(hook_queue.front());
        hook_queue.pop_front();
      }
      const std::string sig =
          "sha256=" + tuya::HexEncode(*tuya::HexDecode(tuya::HmacSha256HexUpper(
                                          options.webhook_secret.reveal(), body)),
                                      false);
      httplib::Client client(origin);
      client.set_connection_timeout(2, 0);
      client.set_read_timeout(3, 0);
      client.set_write_timeout(3, 0);
      httplib::Headers headers = {{"X-Lockpipe-Signature", sig}};
      auto res = client.Post(path, headers, body, "application/json");
      if (!res) {
        ++hooks_failed;
        log::Warn("emulator: webhook POST " + url + " failed: " + httplib::to_string(res.error()));
      } else if (res->status < 200 || res->status >= 300) {
        ++hooks_failed;
        log::Warn("emulator: webhook POST " + url + " answered HTTP " +
                  std::to_string(res->status));
      } else {
        ++hooks_sent;
      }
    }
  }

  void StopAll() {
    std::lock_guard<std::mutex> guard(stop_mu);
    if (stopped.exchange(true)) return;
    listener.Stop();
    {
      std::lock_guard<std::mutex> lock(hook_mu);
      hook_stop = true;
    }
    hook_cv.notify_all();
    if (hook_thread.joinable()) hook_thread.join();
    if (owns_state_dir && !state_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(state_dir, ec);
      if (ec) log::Warn("emulator: could not remove " + state_dir + ": " + ec.message());
    }
  }

  // ------------------------------------------------------------ API calls
  void WriteEnvelope(httplib::Response& res, const Answer& a, bool malformed,
                     int http_status = 200) {
    json env;
    if (a.ok) {
      env = {{"success", true}, {"t", WallMs()}, {"result", a.result}, {"tid", RandomHex(32)}};
    } else {
      env = {{"success", false},
             {"code", a.code},
             {"msg", a.msg},
             {"t", WallMs()},
             {"tid", RandomHex(32)}};
    }
    std::string body = JsonText(env);
    // A cut-off answer, as a proxy or a crashing backend produces.
    if (malformed) body = body.substr(0, std::max<std::size_t>(1, body.size() / 2));
    res.status = http_status;
    res.set_content(body, "application/json");
  }

  // Checks client_id, t, sign_method, sign and (for business calls) the
  // access token. Returns an error Answer, or ok.
  Answer Authenticate(const httplib::Request& req, bool token_call) {
    const std::string client_id = req.get_header_value("client_id");
    const std::string sign = req.get_header_value("sign");
    const std::string t = req.get_header_value("t");
    const std::string method = req.get_header_value("sign_method");
    if (client_id.empty() || client_id != fixture.client_id)
      return Err(1005, "clientId is invalid");
    if (sign.empty()) return Err(1004, "sign invalid: no sign header");
    if (!method.empty() && method != "HMAC-SHA256")
      return Err(1004, "sign invalid: sign_method must be HMAC-SHA256");
    bool digits = !t.empty() && t.size() <= 16;
    for (char c : t) digits = digits && c >= '0' && c <= '9';
    if (!digits) return Err(1013, "request time invalid");
    const std::int64_t skew = std::llabs(std::stoll(t) - WallMs());
    if (skew > static_cast<std::int64_t>(options.max_clock_skew_seconds) * 1000)
      return Err(1013, "request time invalid");

    tuya::SignInput in;
    in.method = req.method;
    in.body = req.body;
    const std::string names = req.get_header_value("Signature-Headers");
    std::size_t start = 0;
    while (!names.empty() && start <= names.size()) {
      auto end = names.find(':', start);
      if (end == std::string::npos) end = names.size();
      std::string name = names.substr(start, end - start);
      if (!name.empty())
        in.signed_headers += name + ":" + req.get_header_value(name.c_str()) + "\n";
      start = end + 1;
    }
    std::map<std::string, std::string> query;
    for (const auto& [k, v] : req.params) query[k] = v;
    in.url = tuya::CanonicalUrl(req.path, query);
    in.client_id = client_id;
    in.t = t;
    in.nonce = req.get_header_value("nonce");
    const std::string token = req.get_header_value("access_token");
    if (token_call) {
      // Token calls are signed without a token; tolerate a client that sends
      // (and signs) a stale one anyway.
      bool good = tuya::SignaturesEqual(tuya::Sign(fixture.access_secret, in), sign);
      if (!good && !token.empty()) {
        in.access_token = token;
        good = tuya::SignaturesEqual(tuya::Sign(fixture.access_secret, in), sign);
      }
      return good ? Ok(nullptr) : Err(1004, "sign invalid");
    }
    if (token.empty()) return Err(1011, "token invalid: no access_token header");
    in.access_token = token;
    if (!tuya::SignaturesEqual(tuya::Sign(fixture.access_secret, in), sign))
      return Err(1004, "sign invalid");
    auto it = tokens.find(token);
    if (it == tokens.end()) return Err(1011, "token invalid");
    if (NowMs() >= it->second.expires_ms) return Err(1010, "token expired");
    return Ok(nullptr);
  }

  json IssueTokenLocked() {
    const std::string access = RandomHex(32);
    const std::string refresh = RandomHex(32);
    tokens[access] = {refresh,
                      NowMs() + static_cast<std::int64_t>(options.token_lifetime_seconds) * 1000};
    refresh_index[refresh] = access;
    return {{"uid", fixture.uid},
            {"access_token", access},
            {"expire_time", options.token_lifetime_seconds},
            {"refresh_token", refresh}};
  }

  void Audit(DeviceState& dev, Endpoint e, const std::string& ticket_id, int channel,
             const Answer& a, const std::string& outcome) {
    AuditEntry entry;
    entry.seq = ++seq;
    entry.t_ms = NowMs();
    entry.endpoint = std::string(EndpointName(e));
    entry.ticket_id = ticket_id;
    entry.channel_id = channel;
    entry.ok = a.ok;
    entry.code = a.code;
    entry.outcome = a.ok ? outcome : a.msg;
    dev.audit.push_back(std::move(entry));
  }

  // Validates and consumes a ticket for `device_id`.
  Answer UseTicket(const std::string& device_id, const std::string& ticket_id, Secret* key) {
    auto it = tickets.find(ticket_id);
    if (it == tickets.end() || it->second.device_id != device_id)
      return Err(1109, "param is illegal: ticket invalid (unknown ticket_id)");
    if (it->second.used) return Err(1109, "param is illegal: ticket invalid (already used)");
    if (NowMs() >= it->second.expires_ms)
      return Err(1109, "param is illegal: ticket invalid (expired)");
    it->second.used = true;
    if (key) *key = it->second.original_key;
    return Ok(nullptr);
  }

  // The answer to a lock's pending unlock request (approved by an unlock).
  void AnswerPending(DeviceState& dev) { dev.pending_request.clear(); }

  Answer HandleDevice(Endpoint e, DeviceState& dev, const httplib::Request& req, const json& body) {
    const std::string& id = dev.fx.id;
    auto field = [&](const char* k) -> const json* {
      auto it = body.find(k);
      return it == body.end() ? nullptr : &*it;
    };
    auto ticket_field = [&](std::string* out) -> bool {
      const json* t = field("ticket_id");
      if (!t || !t->is_string() || t->get<std::string>().empty()) return false;
      *out = t->get<std::string>();
      return true;
    };
    switch (e) {
      case Endpoint::kRemoteUnlocks:
        return Ok(json::array(
            {{{"remote_unlock_type", "remoteUnlockWithoutPwd"}, {"open", dev.without_pwd}},
             {{"remote_unlock_type", "remoteUnlockWithPwd"}, {"open", dev.with_pwd}}}));
      case Endpoint::kRemoteUnlockConfig: {
        const json* type = field("remote_unlock_type");
        const json* open = field("open");
        if (!type || !type->is_string() ||
            (type->get<std::string>() != "remoteUnlockWithoutPwd" &&
             type->get<std::string>() != "remoteUnlockWithPwd"))
          return Err(1109,
                     "param is illegal: remote_unlock_type must be remoteUnlockWithoutPwd or "
                     "remoteUnlockWithPwd");
        auto value = open ? ParseBool(*open) : std::nullopt;
        if (!value) return Err(1109, "param is illegal: open must be true or false");
        if (!dev.online) return Err(2001, "device is offline");
        const bool without = type->get<std::string>() == "remoteUnlockWithoutPwd";
        (without ? dev.without_pwd : dev.with_pwd) = *value;
        Answer a = Ok(true);
        Audit(dev, e, "", 0, a, type->get<std::string>() + (*value ? " on" : " off"));
        return a;
      }
      case Endpoint::kPasswordTicket: {
        Secret original(RandomAlnum(16));
        auto sealed = tuya::EncryptTicketKey(original, fixture.access_secret);
        if (!sealed.ok()) return Err(500, kSystemError);
        std::string ticket_id = RandomAlnum(8);
        std::int64_t expires_ms =
            NowMs() + static_cast<std::int64_t>(options.ticket_lifetime_seconds) * 1000;
        if (faults.expire_tickets_next > 0) {
          // As if the door call came after the ticket's lifetime (a slow network, a retry).
          --faults.expire_tickets_next;
          expires_ms = NowMs();
        }
        tickets[ticket_id] = {id, original, expires_ms, false};
        return Ok({{"ticket_id", ticket_id},
                   {"ticket_key", *sealed},
                   {"expire_time", options.ticket_lifetime_seconds}});
      }
      case Endpoint::kLatestMediaUrl: {
        auto ft = req.has_param("file_type") ? ParseInt(json(req.get_param_value("file_type")))
                                             : std::nullopt;
        if (!ft || (*ft != 1 && *ft != 2))
          return Err(1109, "param is illegal: file_type must be 1 (remote unlocking) or 2 (alert)");
        const std::int64_t since =
            NowMs() - static_cast<std::int64_t>(options.media_window_seconds) * 1000;
        for (auto it = captures.rbegin(); it != captures.rend(); ++it) {
          if (it->device_id != id || it->file_type != *ft) continue;
          if (it->t_ms < since) break;
          return Ok({{"file_url", MediaUrl(*it)},
                     {"file_key", it->file_key.reveal()},
                     {"bucket", kBucket},
                     {"file_path", it->file_path}});
        }
        // Nothing captured in the window: success with no result.
        return Ok(nullptr);
      }
      case Endpoint::kOpenDoorWithPassword: {
        std::string ticket_id;
        const json* pw = field("password");
        const json* pw_type = field("password_type");
        if (!ticket_field(&ticket_id)) return Err(1109, "param is illegal: ticket_id is required");
        if (!pw || !pw->is_string() || pw->get<std::string>().empty())
          return Err(1109, "param is illegal: password is required");
        if (!pw_type || !pw_type->is_string() || pw_type->get<std::string>() != "ticket")
          return Err(1109, "param is illegal: password_type must be 'ticket'");
        if (!dev.online) return Err(2001, "device is offline");
        Answer a;
        Secret key;
        if (!dev.with_pwd) {
          a = Err(2008,
                  "command or value not support: remoteUnlockWithPwd is turned off on this lock");
        } else if (a = UseTicket(id, ticket_id, &key); a.ok) {
          auto plain = tuya::DecryptDoorPassword(pw->get<std::string>(), key);
          if (!plain.ok() || dev.fx.door_password.empty() ||
              !tuya::SignaturesEqual(tuya::HexEncode(plain->reveal(), true),
                                     tuya::HexEncode(dev.fx.door_password.reveal(), true)))
            a = Err(1106, "permission deny: wrong door password");
        }
        if (a.ok) {
          dev.locked = false;
          AnswerPending(dev);
          a = Ok(true);
        }
        Audit(dev, e, ticket_id, 0, a, "unlocked");
        return a;
      }
      case Endpoint::kPasswordFreeOpen:
      case Endpoint::kPasswordFreeOpenV11:
      case Endpoint::kDoorOperate: {
        std::string ticket_id;
        if (!ticket_field(&ticket_id)) return Err(1109, "param is illegal: ticket_id is required");
        int channel = 0;
        bool open = true;
        if (e == Endpoint::kPasswordFreeOpenV11) {
          const json* ch = field("channel_id");
          auto v = ch ? ParseInt(*ch) : std::nullopt;
          if (!v || *v < 1 || *v > dev.fx.channels)
            return Err(
                1109, "param is illegal: channel_id must be 1.." + std::to_string(dev.fx.channels));
          channel = static_cast<int>(*v);
        }
        if (e == Endpoint::kDoorOperate) {
          if (const json* o = field("open")) {
            auto v = ParseBool(*o);
            if (!v) return Err(1109, "param is illegal: open must be true or false");
            open = *v;
          }
        }
        if (!dev.online) return Err(2001, "device is offline");
        Answer a;
        if (!open && dev.fx.type != LockType::kWifiAllInOne) {
          a = Err(2008, "command or value not support: only all-in-one Wi-Fi locks lock remotely");
        } else if (!dev.without_pwd) {
          a = Err(
              2008,
              "command or value not support: remoteUnlockWithoutPwd is turned off on this lock");
        } else {
          a = UseTicket(id, ticket_id, nullptr);
        }
        if (a.ok) {
          dev.locked = !open;
          if (open) AnswerPending(dev);
          a = Ok(true);
        }
        Audit(dev, e, ticket_id, channel, a,
              open ? (channel ? "unlocked channel " + std::to_string(channel) : "unlocked")
                   : "locked");
        return a;
      }
      case Endpoint::kRevokePasswordFree: {
        const json* type = field("type");
        auto v = type ? ParseInt(*type) : std::nullopt;
        if (!v || (*v != 1 && *v != 2))
          return Err(1109, "param is illegal: type must be 1 (rejected) or 2 (canceled)");
        if (!dev.online) return Err(2001, "device is offline");
        const std::string what = *v == 1 ? "rejected" : "canceled";
        const std::string outcome = dev.pending_request.empty()
                                        ? what + " (no pending request)"
                                        : what + " request " + dev.pending_request;
        dev.pending_request.clear();
        Answer a = Ok(true);
        Audit(dev, e, "", 0, a, outcome);
        return a;
      }
    }
    return Err(1108, "uri path invalid");
  }

  void HandleApi(const httplib::Request& req, httplib::Response& res) {
    int latency = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      latency = faults.latency_ms;
    }
    if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));

    std::lock_guard<std::mutex> lock(mu);
    bool malformed = false;
    if (faults.malformed_next > 0) {
      --faults.malformed_next;
      malformed = true;
    }
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    if (faults.rate_limit_next > 0 ||
        (faults.rate_limit_rate > 0 && uniform(rng) < faults.rate_limit_rate)) {
      if (faults.rate_limit_next > 0) --faults.rate_limit_next;
      ++call_counts["fault:rate_limit"];
      return WriteEnvelope(
          res, Err(faults.rate_limit_code, RateLimitMessage(faults.rate_limit_code)), malformed);
    }
    if (faults.error_next > 0 || (faults.error_rate > 0 && uniform(rng) < faults.error_rate)) {
      if (faults.error_next > 0) --faults.error_next;
      ++call_counts["fault:error"];
      return WriteEnvelope(res, Err(500, kSystemError), malformed, faults.error_http ? 500 : 200);
    }

    const Route* route = nullptr;
    std::smatch m;
    bool path_known = false;
    for (const auto& r : routes) {
      if (std::regex_match(req.path, m, r.pattern)) {
        path_known = true;
        if (req.method == r.method) {
          route = &r;
          break;
        }
      }
    }
    const bool token_call = req.path == "/v1.0/token" || req.path.rfind("/v1.0/token/", 0) == 0;
    Answer auth = Authenticate(req, token_call);
    if (!auth.ok) return WriteEnvelope(res, auth, malformed);
    if (!route) {
      return WriteEnvelope(
          res,
          Err(1108, path_known ? "uri path invalid: method " + req.method + " not allowed"
                               : "uri path invalid"),
          malformed);
    }
    ++call_counts[route->token_call
                      ? std::string(req.path == "/v1.0/token" ? "token" : "token/refresh")
                      : std::string(EndpointName(route->endpoint))];

    if (route->token_call) {
      if (req.path == "/v1.0/token") {
        if (req.get_param_value("grant_type") != "1")
          return WriteEnvelope(res, Err(1109, "param is illegal: grant_type must be 1"), malformed);
        return WriteEnvelope(res, Ok(IssueTokenLocked()), malformed);
      }
      const std::string refresh = m[1].str();
      auto it = refresh_index.find(refresh);
      if (it == refresh_index.end())
        return WriteEnvelope(res, Err(1011, "token invalid: unknown or used refresh token"),
                             malformed);
      // A refresh token works once and kills the pair it belonged to.
      tokens.erase(it->second);
      refresh_index.erase(it);
      return WriteEnvelope(res, Ok(IssueTokenLocked()), malformed);
    }

    const std::string device_id = m[1].str();
    auto dit = devices.find(device_id);
    if (dit == devices.end()) return WriteEnvelope(res, Err(2010, "device not exist"), malformed);
    DeviceState& dev = dit->second;
    if (!Supports(dev.fx.type, route->endpoint)) {
      return WriteEnvelope(
          res,
          Err(2004, "lock type not supported: " + std::string(LockTypeDescription(dev.fx.type)) +
                        " has no " + std::string(EndpointName(route->endpoint))),
          malformed);
    }
    json body = json::object();
    if (req.method == "POST" || req.method == "PUT") {
      if (!req.body.empty()) {
        try {
          body = json::parse(req.body);
        } catch (const json::exception&) {
          return WriteEnvelope(res, Err(1109, "param is illegal: body is not JSON"), malformed);
        }
        if (!body.is_object())
          return WriteEnvelope(res, Err(1109, "param is illegal: body is not a JSON object"),
                               malformed);
      }
    }
    WriteEnvelope(res, HandleDevice(route->endpoint, dev, req, body), malformed);
  }

  // ------------------------------------------------------------- storage
  void HandleStorage(const httplib::Request& req, httplib::Response& res) {
    const std::string path = req.path;
    std::string stored;
    std::uint64_t size = 0;
    int latency = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      latency = faults.media_latency_ms;
      for (const auto& c : captures) {
        if (c.file_path == path) {
          stored = c.stored_path;
          size = c.stored_size;
        }
      }
      if (!stored.empty()) {
        if (faults.truncate_media_fraction > 0 && faults.truncate_media_fraction < 1)
          size = static_cast<std::uint64_t>(static_cast<double>(size) *
                                            faults.truncate_media_fraction);
        if (faults.truncate_media_bytes >= 0)
          size = std::min(size, static_cast<std::uint64_t>(faults.truncate_media_bytes));
      }
    }
    if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
    if (stored.empty()) {
      res.status = 404;
      res.set_content("no such object: " + path + "\n", "text/plain");
      return;
    }
    auto bytes = ReadWholeFile(stored);
    if (!bytes.ok()) {
      res.status = 500;
      res.set_content("cannot read stored object\n", "text/plain");
      log::Error("emulator: " + bytes.status().ToString());
      return;
    }
    std::string content(reinterpret_cast<const char*>(bytes->data()),
                        static_cast<std::size_t>(std::min<std::uint64_t>(size, bytes->size())));
    // httplib 0.11 applies a satisfiable Range itself (206 + Content-Range)
    // but serves a range past the end as garbage, so refuse those here.
    for (const auto& r : req.ranges) {
      const auto total = static_cast<std::int64_t>(content.size());
      const bool suffix = r.first < 0;
      if ((suffix && (r.second <= 0 || total == 0)) || (!suffix && r.first >= total) ||
          (!suffix && r.second >= 0 && r.second < r.first)) {
        res.status = 416;
        res.set_header("Content-Range", "bytes */" + std::to_string(total));
        return;
      }
    }
    res.set_header("Accept-Ranges", "bytes");
    res.set_content(std::move(content), "application/octet-stream");
  }

  // --------------------------------------------------------------- admin
  static void AdminJson(httplib::Response& res, int status, const json& j) {
    res.status = status;
    res.set_content(JsonText(j, 2) + "\n", "application/json");
  }
  static void AdminError(httplib::Response& res, int status, const std::string& msg) {
    AdminJson(res, status, {{"error", msg}});
  }

  json DeviceJsonLocked(const DeviceState& d, bool full) const {
    json j = {
        {"id", d.fx.id},
        {"name", d.fx.name},
        {"type", std::string(LockTypeName(d.fx.type))},
        {"online", d.online},
        {"state", d.locked ? "locked" : "unlocked"},
        {"remote_unlock",
         {{"remoteUnlockWithoutPwd", d.without_pwd}, {"remoteUnlockWithPwd", d.with_pwd}}},
        {"channels", d.fx.channels},
        {"pending_request", d.pending_request.empty() ? json(nullptr) : json(d.pending_request)}};
    if (full) {
      j["audit"] = AuditJson(d);
      json caps = json::array();
      for (const auto& c : captures)
        if (c.device_id == d.fx.id) caps.push_back(CaptureJson(c));
      j["captures"] = caps;
    }
    return j;
  }

  static json AuditJson(const DeviceState& d) {
    json a = json::array();
    for (const auto& e : d.audit) {
      a.push_back({{"seq", e.seq},
                   {"t", e.t_ms},
                   {"endpoint", e.endpoint},
                   {"ticket_id", e.ticket_id},
                   {"channel_id", e.channel_id},
                   {"ok", e.ok},
                   {"code", e.code},
                   {"outcome", e.outcome}});
    }
    return a;
  }

  // The body, whatever its content type; of a multipart form (curl -F), the
  // first part. Fails with the HTTP status to answer and why.
  static Result<std::vector<std::uint8_t>> ReadCaptureBody(const httplib::Request& req,
                                                           const httplib::ContentReader& reader,
                                                           int* status) {
    std::vector<std::uint8_t> body;
    bool too_large = false;
    auto append = [&](const char* data, std::size_t n) {
      if (body.size() + n > kMaxCaptureBytes) return !(too_large = true);
      body.insert(body.end(), data, data + n);
      return true;
    };
    bool ok = false;
    if (req.is_multipart_form_data()) {
      int parts = 0;
      ok = reader(
          [&](const httplib::MultipartFormData&) {
            ++parts;
            return true;
          },
          [&](const char* data, std::size_t n) { return parts != 1 || append(data, n); });
    } else {
      ok = reader(append);
    }
    if (ok) return body;
    *status = too_large ? 413 : 400;
    return InvalidArgument(too_large ? "capture over the limit of " +
                                           std::to_string(kMaxCaptureBytes >> 20) + " MiB"
                                     : "could not read the request body");
  }

  void InjectCapture(const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) {
    const std::string device_id = req.matches[1].str();
    // The body first, even for an unknown device: left unread, a kept-alive
    // connection would take it for the next request.
    int read_status = 400;
    auto received = ReadCaptureBody(req, reader, &read_status);
    if (!received.ok()) return AdminError(res, read_status, received.status().message());
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!devices.count(device_id))
        return AdminError(res, 404, "unknown device '" + device_id + "'");
    }
    std::string kind = req.get_param_value("kind");
    std::vector<std::uint8_t> plain;
    const bool is_json = req.get_header_value("Content-Type").rfind("application/json", 0) == 0;
    if (is_json) {
      json body;
      try {
        body = json::parse(received->begin(), received->end());
      } catch (const json::exception& e) {
        return AdminError(res, 400, std::string("body is not JSON: ") + e.what());
      }
      if (!body.is_object() || !body.contains("path") || !body["path"].is_string())
        return AdminError(res, 400, "JSON body needs \"path\": the media file to capture");
      if (body.contains("kind") && body["kind"].is_string()) kind = body["kind"].get<std::string>();
      auto bytes = ReadWholeFile(body["path"].get<std::string>());
      if (!bytes.ok()) return AdminError(res, 400, bytes.status().ToString());
      plain = std::move(*bytes);
    } else {
      plain = std::move(*received);
    }
    if (kind.empty()) kind = "unlock";
    if (kind != "unlock" && kind != "alert")
      return AdminError(res, 400, "kind must be unlock or alert, not '" + kind + "'");
    if (plain.empty())
      return AdminError(res, 400, "empty capture: send the media bytes as the body");
    auto sealed = Seal(device_id, kind == "alert" ? 2 : 1, plain);
    if (!sealed.ok()) return AdminError(res, 500, sealed.status().ToString());
    std::lock_guard<std::mutex> lock(mu);
    AdminJson(res, 200, RegisterLocked(std::move(*sealed)));
  }

  Status ApplyFaults(const json& j) {
    Faults f = faults;
    try {
      for (const auto& [k, v] : j.items()) {
        if (k == "latency_ms")
          f.latency_ms = v.get<int>();
        else if (k == "media_latency_ms")
          f.media_latency_ms = v.get<int>();
        else if (k == "error_rate")
          f.error_rate = v.get<double>();
        else if (k == "error_next")
          f.error_next = v.get<int>();
        else if (k == "error_http")
          f.error_http = v.get<bool>();
        else if (k == "rate_limit_code")
          f.rate_limit_code = v.get<int>();
        else if (k == "rate_limit_next")
          f.rate_limit_next = v.get<int>();
        else if (k == "rate_limit_rate")
          f.rate_limit_rate = v.get<double>();
        else if (k == "malformed_next")
          f.malformed_next = v.get<int>();
        else if (k == "expire_tickets_next")
          f.expire_tickets_next = v.get<int>();
        else if (k == "truncate_media_fraction")
          f.truncate_media_fraction = v.get<double>();
        else if (k == "truncate_media_bytes")
          f.truncate_media_bytes = v.get<std::int64_t>();
        else if (k == "seed")
          rng.seed(v.get<std::uint64_t>());
        else
          return InvalidArgument("unknown fault '" + k + "'");
      }
    } catch (const json::exception& e) {
      return InvalidArgument(std::string("bad fault value: ") + e.what());
    }
    if (f.rate_limit_code != 1110 && f.rate_limit_code != 1111 && f.rate_limit_code != 1199)
      return InvalidArgument("rate_limit_code must be 1110, 1111 or 1199");
    if (f.error_rate < 0 || f.error_rate > 1 || f.rate_limit_rate < 0 || f.rate_limit_rate > 1 ||
        f.truncate_media_fraction < 0 || f.truncate_media_fraction >= 1)
      return InvalidArgument("rates must be in [0, 1] and truncate_media_fraction in [0, 1)");
    if (f.error_next < 0 || f.rate_limit_next < 0 || f.malformed_next < 0 ||
        f.expire_tickets_next < 0)
      return InvalidArgument("the *_next counts must be 0 or more");
    if (f.latency_ms < 0 || f.latency_ms > 60000)
      return InvalidArgument("latency_ms must be 0..60000");
    if (f.media_latency_ms < 0 || f.media_latency_ms > 60000)
      return InvalidArgument("media_latency_ms must be 0..60000");
    faults = f;
    return Status::Ok();
  }

  void RegisterRoutes() {
    auto& s = *http;
    // The API: one handler per method so faults and authentication run for
    // every /v1.x path, known or not (an unknown path answers 1108).
    auto api = [this](const httplib::Request& req, httplib::Response& res) { HandleApi(req, res); };
    // Storage first: like a presigned object URL, no authentication. Its
    // paths are file_paths ("/<device>/<12 hex>.<ext>"), which no API path is.
    s.Get(R"(/[^/]+/[0-9a-f]{12}\.(jpg|png|mp4|bin))",
          [this](const httplib::Request& req, httplib::Response& res) { HandleStorage(req, res); });
    const char* kApi = R"(/v\d+\.\d+/.*)";
    s.Get(kApi, api);
    s.Post(kApi, api);
    s.Put(kApi, api);
    s.Delete(kApi, api);

    const std::string dev = "([^/]+)";
    auto add = [&](const char* method, const std::string& re, Endpoint e) {
      routes.push_back({method, std::regex(re), e, false});
    };
    routes.push_back({"GET", std::regex("/v1\\.0/token"), Endpoint::kRemoteUnlocks, true});
    routes.push_back({"GET", std::regex("/v1\\.0/token/([^/]+)"), Endpoint::kRemoteUnlocks, true});
    add("GET", "/v1\\.0/devices/" + dev + "/door-lock/remote-unlocks", Endpoint::kRemoteUnlocks);
    add("POST", "/v1\\.0/devices/" + dev + "/door-lock/remote-unlock/config",
        Endpoint::kRemoteUnlockConfig);
    add("POST", "/v1\\.0/devices/" + dev + "/door-lock/open-door", Endpoint::kOpenDoorWithPassword);
    add("POST", "/v1\\.0/devices/" + dev + "/door-lock/password-free/open-door",
        Endpoint::kPasswordFreeOpen);
    add("POST", "/v1\\.1/devices/" + dev + "/door-lock/password-free/open-door",
        Endpoint::kPasswordFreeOpenV11);
    add("PUT", "/v1\\.0/devices/" + dev + "/door-lock/password-free/open-door/cancel",
        Endpoint::kRevokePasswordFree);
    add("POST", "/v1\\.0/smart-lock/devices/" + dev + "/password-free/door-operate",
        Endpoint::kDoorOperate);
    add("POST", "/v1\\.0/smart-lock/devices/" + dev + "/password-ticket",
        Endpoint::kPasswordTicket);
    add("POST", "/v1\\.0/devices/" + dev + "/door-lock/password-ticket", Endpoint::kPasswordTicket);
    add("GET", "/v1\\.0/devices/" + dev + "/door-lock/latest/media/url", Endpoint::kLatestMediaUrl);


    // Admin.
    s.Get("/_emulator/health", [this](const httplib::Request&, httplib::Response& res) {
      AdminJson(res, 200, {{"ok", true}, {"base_url", BaseUrl()}});
    });
    s.Get("/_emulator/devices", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu);
      json list = json::array();
      for (const auto& [id, d] : devices) list.push_back(DeviceJsonLocked(d, false));
      AdminJson(res, 200, {{"devices", list}});
    });
    s.Get("/_emulator/devices/([^/]+)",
          [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(mu);
            auto it = devices.find(req.matches[1].str());
            if (it == devices.end())
              return AdminError(res, 404, "unknown device '" + req.matches[1].str() + "'");
            AdminJson(res, 200, DeviceJsonLocked(it->second, true));
          });
    s.Get("/_emulator/devices/([^/]+)/audit",
          [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(mu);
            auto it = devices.find(req.matches[1].str());
            if (it == devices.end())
              return AdminError(res, 404, "unknown device '" + req.matches[1].str() + "'");
            AdminJson(res, 200, {{"device_id", it->first}, {"audit", AuditJson(it->second)}});
          });
    s.Post("/_emulator/devices/([^/]+)/state",
           [this](const httplib::Request& req, httplib::Response& res) {
             std::lock_guard<std::mutex> lock(mu);
             auto it = devices.find(req.matches[1].str());
             if (it == devices.end())
               return AdminError(res, 404, "unknown device '" + req.matches[1].str() + "'");
             json j;
             try {
               j = json::parse(req.body);
             } catch (const json::exception& e) {
               return AdminError(res, 400, std::string("body is not JSON: ") + e.what());
             }
             DeviceState next = it->second;
             try {
               for (const auto& [k, v] : j.items()) {
                 if (k == "online")
                   next.online = v.get<bool>();
                 else if (k == "state") {
                   const auto st = v.get<std::string>();
                   if (st != "locked" && st != "unlocked")
                     return AdminError(res, 400, "state must be locked or unlocked");
                   next.locked = st == "locked";
                 } else if (k == "remoteUnlockWithoutPwd")
                   next.without_pwd = v.get<bool>();
                 else if (k == "remoteUnlockWithPwd")
                   next.with_pwd = v.get<bool>();
                 else
                   return AdminError(res, 400, "unknown field '" + k + "'");
               }
             } catch (const json::exception& e) {
               return AdminError(res, 400, std::string("bad value: ") + e.what());
             }
             it->second = std::move(next);
             AdminJson(res, 200, DeviceJsonLocked(it->second, false));
           });
    // Read through a content reader: cpp-httplib caps a body sent as
    // application/x-www-form-urlencoded (curl --data-binary's default) at
    // 8 KiB when it reads it for a plain handler.
    s.Post("/_emulator/devices/([^/]+)/captures",
           httplib::Server::HandlerWithContentReader(
               [this](const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader) { InjectCapture(req, res, reader); }));
    s.Get("/_emulator/faults", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu);
      AdminJson(res, 200, faults.ToJson());
    });
    s.Post("/_emulator/faults", [this](const httplib::Request& req, httplib::Response& res) {
      json j;
      try {
        j = json::parse(req.body);
      } catch (const json::exception& e) {
        return AdminError(res, 400, std::string("body is not JSON: ") + e.what());
      }
      if (!j.is_object()) return AdminError(res, 400, "body must be a JSON object of faults");
      std::lock_guard<std::mutex> lock(mu);
      if (Status st = ApplyFaults(j); !st.ok()) return AdminError(res, 400, st.message());
      AdminJson(res, 200, faults.ToJson());
    });
    s.Delete("/_emulator/faults", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu);
      faults = Faults{};
      AdminJson(res, 200, faults.ToJson());
    });
    s.Post("/_emulator/tokens/expire", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu);
      const std::int64_t now = NowMs();
      for (auto& [t, p] : tokens) p.expires_ms = std::min(p.expires_ms, now);
      AdminJson(res, 200, {{"expired", tokens.size()}});
    });
    s.Post("/_emulator/clock/advance", [this](const httplib::Request& req, httplib::Response& res) {
      auto v = ParseInt(json(req.get_param_value("seconds")));
      if (!v) return AdminError(res, 400, "seconds=N (a non-negative integer) is required");
      std::lock_guard<std::mutex> lock(mu);
      clock_offset_ms += *v * 1000;
      AdminJson(res, 200, {{"offset_ms", clock_offset_ms}, {"now", NowMs()}});
    });
    s.Post("/_emulator/reset", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu);
      ResetLocked();
      AdminJson(res, 200, {{"ok", true}});
    });
    s.Get("/_emulator/stats", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu);
      AdminJson(res, 200,
                {{"calls", call_counts},
                 {"webhooks_sent", hooks_sent.load()},
                 {"webhooks_failed", hooks_failed.load()}});
    });
  }

  // Back to the fixture: devices, switches and preloaded captures as at
  // start; no tokens, tickets, injected captures, faults or clock offset.
  void ResetLocked() {
    clock_offset_ms = 0;
    faults = Faults{};
    tokens.clear();
    refresh_index.clear();
    tickets.clear();
    call_counts.clear();
    ResetDevicesLocked();
    captures.clear();
    for (const auto& c : preloaded) {
      Capture copy = c;
      copy.t_ms = NowMs();
      if (copy.file_type == 1) devices.at(copy.device_id).pending_request = copy.id;
      captures.push_back(std::move(copy));
    }
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Stop(); }
void Server::Stop() {
  if (impl_) impl_->StopAll();
}
int Server::port() const { return impl_->bound_port; }
std::string Server::base_url() const { return impl_->BaseUrl(); }
std::string Server::ca_cert_path() const { return impl_->options.tls ? impl_->cert_path : ""; }

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  if (options.fixture_path.empty()) return InvalidArgument("emulator: no fixture file given");
  if (options.token_lifetime_seconds < 1 || options.ticket_lifetime_seconds < 1 ||
      options.media_window_seconds < 1)
    return InvalidArgument("emulator: token, ticket and media lifetimes must be at least 1 second");
  if (options.port < 0 || options.port > 65535)
    return InvalidArgument("emulator: port " + std::to_string(options.port) + " is not 0..65535");
  if (!options.webhook_url.empty() && options.webhook_url.rfind("http://", 0) != 0 &&
      options.webhook_url.rfind("https://", 0) != 0)
    return InvalidArgument("emulator: webhook URL '" + options.webhook_url +
                           "' must start with http:// or https://");

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ASSIGN_OR_RETURN(impl->fixture, LoadFixture(options.fixture_path));

  if (options.state_dir.empty()) {
    std::string tmpl =
        std::filesystem::temp_directory_path().string() + "/lockpipe-emulator-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      return IoError("emulator: cannot create a temporary state folder: " + ErrnoText(errno));
    impl->state_dir = tmpl;
    impl->owns_state_dir = true;
  } else {
    impl->state_dir = options.state_dir;
    std::error_code ec;
    std::filesystem::create_directories(impl->state_dir, ec);
    if (ec)
      return IoError("emulator: cannot create state folder " + impl->state_dir + ": " +
                     ec.message());
  }
  if (::mkdir((impl->state_dir + "/media").c_str(), 0700) != 0 && errno != EEXIST)
    return IoError("emulator: cannot create " + impl->state_dir + "/media: " + ErrnoText(errno));

  impl->scheme = options.tls ? "https" : "http";
  if (options.tls) {
    if (options.cert_file.empty() != options.key_file.empty())
      return InvalidArgument("emulator: give both a certificate and a key file, or neither");
    if (options.cert_file.empty()) {
      impl->cert_path = impl->state_dir + "/emulator-cert.pem";
      impl->key_path = impl->state_dir + "/emulator-key.pem";
      RETURN_IF_ERROR(GenerateSelfSignedCert(impl->cert_path, impl->key_path));
    } else {
      impl->cert_path = options.cert_file;
      impl->key_path = options.key_file;
    }
    auto ssl =
        std::make_unique<httplib::SSLServer>(impl->cert_path.c_str(), impl->key_path.c_str());
    if (!ssl->is_valid())
      return InvalidArgument("emulator: cannot use TLS certificate " + impl->cert_path +
                             " with key " + impl->key_path +
                             " (unreadable, not PEM, or they do not match)");
    impl->http = std::move(ssl);
  } else {
    impl->http = std::make_unique<httplib::Server>();
  }
  impl->http->set_payload_max_length(kMaxCaptureBytes);
  // SO_REUSEADDR only: cpp-httplib's default SO_REUSEPORT lets a second
  // emulator bind this port and take half of its traffic.
  impl->http->set_socket_options([](socket_t fd) { SetListenSocketOptions(fd); });
  // Small JSON answers on a kept-alive connection otherwise wait out Nagle's
  // algorithm against the client's delayed ACK (~40 ms a call).
  impl->http->set_tcp_nodelay(true);
  // cpp-httplib's default pool is a few threads, each held by an idle
  // kept-alive connection until it times out (5 s): with more clients than
  // threads a request would wait that long. A larger pool and a short idle
  // timeout keep the emulator answering like a cloud.
  impl->http->new_task_queue = [] { return new httplib::ThreadPool(32); };
  impl->http->set_keep_alive_timeout(2);
  impl->http->set_read_timeout(10, 0);
  impl->http->set_write_timeout(10, 0);
  impl->http->set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                       std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::Error("emulator: " + req.method + " " + req.path + ": " + what);
    res.status = 500;
    res.set_content(
        JsonText(json({{"success", false}, {"code", 500}, {"msg", kSystemError}, {"t", WallMs()}})),
        "application/json");
  });
  impl->http->set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    // A request with neither Content-Length nor Transfer-Encoding has no body
    // (RFC 9112 6.3), but cpp-httplib 0.11 reads a POST/PUT/PATCH body until
    // the connection closes: `curl -X POST URL` waited out the read timeout
    // and got 400. Declare the empty body it has. (The Request is the server's
    // own non-const object; the callback only receives it as const.)
    if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") &&
        !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
      const_cast<httplib::Request&>(req).set_header("Content-Length", "0");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // A client that asks first (Expect: 100-continue) about a body over the
  // limit is refused before it sends it, rather than invited and then read to
  // the end to be thrown away.
  impl->http->set_expect_100_continue_handler(
      [](const httplib::Request& req, httplib::Response& res) {
        const std::string length = req.get_header_value("Content-Length");
        if (!length.empty() && std::strtoull(length.c_str(), nullptr, 10) > kMaxCaptureBytes) {
          res.status = 413;
          return 413;
        }
        return 100;
      });
  // Errors cpp-httplib answers by itself (unknown route, body over the limit,
  // malformed request) get a body saying what is wrong, like the admin errors.
  impl->http->set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string msg = "HTTP error " + std::to_string(res.status);
        if (res.status == 404)
          msg = "no route for " + req.method + " " + req.path;
        else if (res.status == 413)
          msg = "request body over the limit of " + std::to_string(kMaxCaptureBytes >> 20) + " MiB";
        else if (res.status == 400)
          msg = "malformed request, or its body could not be read";
        res.set_content(JsonText(json{{"error", msg}}) + "\n", "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));
  impl->RegisterRoutes();

  {
    std::lock_guard<std::mutex> lock(impl->mu);
    impl->ResetDevicesLocked();
  }
  for (const auto& dev : impl->fixture.devices) {
    for (const auto& cap : dev.captures) {
      auto bytes = ReadWholeFile(cap.path);
      if (!bytes.ok())
        return bytes.status().WithContext("emulator fixture " + options.fixture_path);
      auto sealed = impl->Seal(dev.id, cap.file_type, *bytes);
      if (!sealed.ok()) return sealed.status().WithContext("emulator capture " + cap.path);
      impl->preloaded.push_back(std::move(*sealed));
    }
  }
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    impl->ResetLocked();
  }

  errno = 0;
  if (options.port == 0) {
    impl->bound_port = impl->http->bind_to_any_port(options.host);
  } else {
    impl->bound_port = impl->http->bind_to_port(options.host, options.port) ? options.port : -1;
  }
  if (impl->bound_port <= 0) {
    const int err = errno;
    return NetworkError("emulator: cannot listen on " + options.host + ":" +
                        std::to_string(options.port) + ": " +
                        (err == EADDRINUSE ? "the address is in use (another program listens there)"
                         : err != 0        ? ErrnoText(err)
                                           : "not a local address?"));
  }
  Impl* raw = impl.get();
  if (!raw->listener.Start(*raw->http, options.host, raw->bound_port, "emulator"))
    return InternalError("emulator: the server thread did not start");
  if (!options.webhook_url.empty()) impl->hook_thread = std::thread([raw] { raw->HookLoop(); });
  log::Info("emulator: serving " + std::to_string(impl->fixture.devices.size()) +
            " device(s) from " + options.fixture_path + " on " + impl->BaseUrl());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace lockpipe::emulator
