#include "pipeline/sources.h"

#include <httplib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "base/file_util.h"
#include "base/json_text.h"
#include "base/listener_thread.h"
#include "base/log.h"
#include "base/server_socket.h"
#include "fetch/tuya_client.h"
#include "fetch/tuya_sign.h"
#include "pipeline/journal.h"

namespace lockpipe {

void StopFlag::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

bool StopFlag::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stopped_.load(); });
}

// --- Poller ------------------------------------------------------------------

Poller::Poller(const Config& config, LockApi& api, SubmitFn submit, PollOptions options)
    : config_(config), api_(api), submit_(std::move(submit)), options_(options) {}

bool Poller::PollOne(const DeviceConfig& device, MediaKind kind, bool again) {
  const std::string key = device.id + (kind == MediaKind::kAlert ? "|alert" : "|unlock");
  const std::int64_t asked_ms = NowMs();
  auto url = api_.GetLatestMediaUrl(device.id, kind);
  if (!url.ok()) {
    if (IsBusyError(url.status().api_code()) && again) {
      auto& b = backoff_[key];
      b = std::min(options_.max_backoff, b.count() ? b * 2 : options_.interval * 2);
      log::Warn("poll " + device.id + ": cloud is busy (code " +
                std::to_string(url.status().api_code()) + "); backing off to " +
                std::to_string(b.count() / 1000) + " s");
    } else if (IsBusyError(url.status().api_code())) {
      // RunOnce polls no more: there is no back-off to announce.
      log::Warn("poll " + device.id + ": cloud is busy: " + url.status().ToString());
    } else if (url.status().code() != StatusCode::kNotFound) {
      log::Warn("poll " + device.id + ": " + url.status().ToString());
    } else {
      last_answer_ms_[key] = asked_ms;  // answered: nothing in the window
      ++answered_;
      return false;
    }
    ++failed_;
    return false;
  }
  ++answered_;
  backoff_.erase(key);
  std::int64_t& last_answer = last_answer_ms_[key];
  const std::int64_t previous_answer = last_answer;
  last_answer = asked_ms;
  if (url->file_url.empty() || url->file_path.empty()) return false;  // nothing in the window
  CaptureJob job;
  job.where = CaptureJob::Where::kUrl;
  job.device_id = device.id;
  job.kind = kind;
  job.source = "poll";
  job.url = url->file_url;
  job.file_key = url->file_key;
  job.file_path = url->file_path;
  job.captured_at_ms = previous_answer != 0 ? previous_answer : asked_ms;
  // The latest capture stays the latest for a while: submitted once per
  // process (the journal admits it once across processes and sources).
  if (!seen_.insert(CaptureKey(job)).second) return false;
  return submit_(std::move(job));
}

int Poller::RunOnce(const StopFlag* stop) {
  int n = 0;
  for (const auto& d : config_.devices) {
    if (!Supports(d.type, Endpoint::kLatestMediaUrl)) continue;
    if (stop != nullptr && stop->stopped()) break;
    n += PollOne(d, MediaKind::kUnlockRequest, /*again=*/false);
    if (stop != nullptr && stop->stopped()) break;
    if (options_.alerts) n += PollOne(d, MediaKind::kAlert, /*again=*/false);
  }
  return n;
}

void Poller::Run(StopFlag& stop) {
  std::vector<const DeviceConfig*> devices;
  for (const auto& d : config_.devices)
    if (Supports(d.type, Endpoint::kLatestMediaUrl)) devices.push_back(&d);
  if (devices.empty()) {
    log::Warn(
        "poll: no configured device has latest/media/url (Wi-Fi, Zigbee hotel or Bluetooth locks)");
    stop.SleepFor(std::chrono::hours(24 * 365));
    return;
  }
  // Spread the polls over the interval instead of bursting them.
  const auto step = std::max(std::chrono::milliseconds(10),
                             options_.interval / static_cast<long>(devices.size()));
  std::map<std::string, std::chrono::steady_clock::time_point> next;
  while (!stop.stopped()) {
    for (const auto* d : devices) {
      if (stop.stopped()) return;
      auto now = std::chrono::steady_clock::now();
      auto& due = next[d->id];
      if (now >= due) {
        PollOne(*d, MediaKind::kUnlockRequest, /*again=*/true);
        if (stop.stopped()) return;  // a poll can take a while: do not start another
        if (options_.alerts) PollOne(*d, MediaKind::kAlert, /*again=*/true);
        // The cloud's rate limits are per device: a busy answer to either
        // poll slows both down.
        auto wait = options_.interval;
        for (const char* kind : {"|unlock", "|alert"})
          if (auto b = backoff_.find(d->id + kind); b != backoff_.end())
            wait = std::max(wait, b->second);
        due = now + wait;
      }
      if (!stop.SleepFor(step)) return;
    }
  }
}

// --- webhook ------------------------------------------------------------------

bool WebhookSignatureValid(const Secret& secret, const std::string& body,
                           const std::string& header) {
  const std::string prefix = "sha256=";
  if (header.compare(0, prefix.size(), prefix) != 0) return false;
  return tuya::SignaturesEqual(header.substr(prefix.size()),
                               tuya::HmacSha256HexUpper(secret.reveal(), body));
}

Result<CaptureJob> ParseWebhookEvent(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("event is not a JSON object");
  CaptureJob job;
  job.source = "webhook";
  if (!j.contains("device_id") || !j["device_id"].is_string() ||
      j["device_id"].get<std::string>().empty())
    return Corrupt("event has no device_id");
  job.device_id = j["device_id"].get<std::string>();
  if (j.contains("file_type") && j["file_type"].is_number_integer()) {
    // Read wide: get<int>() would wrap 4294967297 to 1, an unlock request.
    const std::int64_t ft = j["file_type"].get<std::int64_t>();
    if (ft != 1 && ft != 2)
      return Corrupt("event file_type must be 1 (unlock) or 2 (alert), not " +
                     j["file_type"].dump());
    job.kind = ft == 2 ? MediaKind::kAlert : MediaKind::kUnlockRequest;
  } else if (j.contains("kind") && j["kind"].is_string()) {
    auto k = ParseMediaKind(j["kind"].get<std::string>());
    if (!k.ok()) return Corrupt("event kind: " + k.status().message());
    job.kind = *k;
  } else {
    return Corrupt("event has neither file_type nor kind");
  }
  if (j.contains("event_id") && j["event_id"].is_string())
    job.label = j["event_id"].get<std::string>();
  if (!j.contains("t") || !j["t"].is_number_integer() || j["t"].get<std::int64_t>() <= 0)
    return Corrupt(
        "event has no t (the capture time, ms since the epoch): it dates the request and "
        "refuses replays");
  job.captured_at_ms = j["t"].get<std::int64_t>();
  if (j.contains("file_url")) {
    if (!j["file_url"].is_string() || !j.contains("file_key") || !j["file_key"].is_string())
      return Corrupt("event with file_url needs a file_key");
    job.where = CaptureJob::Where::kUrl;
    job.url = j["file_url"].get<std::string>();
    job.file_key = Secret(j["file_key"].get<std::string>());
    // The capture's identity, as the cloud's push gives it: the poller and a
    // "fetch the latest" event key the same capture by it, so it is never
    // decided twice.
    if (!j.contains("file_path") || !j["file_path"].is_string() ||
        j["file_path"].get<std::string>().empty())
      return Corrupt("event with file_url needs its file_path too (the capture's identity)");
    job.file_path = j["file_path"].get<std::string>();
  }
  return job;
}

namespace {

// A valid event is a few hundred bytes; this leaves room for long ids and URLs.
constexpr std::size_t kWebhookMaxBody = 1 << 20;
// The whole body must arrive this soon after the headers: a client dripping it
// would otherwise hold a server thread for as long as it likes.
constexpr auto kWebhookBodyDeadline = std::chrono::seconds(10);
// On Stop, requests in flight get this long to finish before the connections
// still open (clients still sending) are cut.
constexpr auto kWebhookStopGrace = std::chrono::seconds(1);

void WebhookReply(httplib::Response& res, int status, const std::string& msg) {
  res.status = status;
  res.set_content(JsonText(nlohmann::json{{"ok", status == 202}, {"message", msg}}),
                  "application/json");
}

// Checks what can be checked before the body is read: the route, the method
// and the declared length. Returns 0, or the HTTP status to refuse with and
// its message. cpp-httplib reads a body before any handler runs and applies
// its length limit to Content-Length only (a chunked body is read whole), so
// this runs as its pre-routing handler and its Expect: 100-continue handler.
int WebhookRequestError(const httplib::Request& req, httplib::Response& res, std::string* msg) {
  if (req.path != "/events") {
    *msg = "no such path " + req.path + ": events go to POST /events";
    return 404;
  }
  if (req.method != "POST") {
    res.set_header("Allow", "POST");
    *msg = req.method + " is not allowed on /events: POST an event";
    return 405;
  }
  if (req.has_header("Transfer-Encoding")) {
    *msg = "send the event with a Content-Length, not Transfer-Encoding: " +
           req.get_header_value("Transfer-Encoding");
    return 411;
  }
  if (!req.has_header("Content-Length")) {
    *msg = "an event needs a Content-Length";
    return 411;
  }
  const std::string text = req.get_header_value("Content-Length");
  char* end = nullptr;
  errno = 0;
  const unsigned long long length = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || *end != '\0') {
    *msg = "Content-Length '" + text + "' is not a number";
    return 400;
  }
  if (errno == ERANGE || length > kWebhookMaxBody) {
    *msg = "event body of " + text + " bytes is over the limit of " +
           std::to_string(kWebhookMaxBody) + " bytes";
    return 413;
  }
  return 0;
}

// A short message for errors cpp-httplib answers by itself (a malformed
// request line, a body it could not read), so that no error goes out empty.
std::string WebhookStatusMessage(int status) {
  switch (status) {
    case 400:
      return "malformed HTTP request";
    case 404:
      return "not found: events go to POST /events";
    case 408:
      return "the request did not arrive in time";
    case 413:
      return "request too large";
    case 414:
      return "request target too long";
    case 416:
      return "bad Range header";
    default:
      return "HTTP error " + std::to_string(status);
  }
}

}  // namespace

struct WebhookServer::Impl {
  httplib::Server server;
  std::string host;
  int port = 0;
  Secret secret;
  SubmitFn submit;
  ListenerThread<httplib::Server> listener;  // after `server`: stopped before it goes
};

WebhookServer::WebhookServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebhookServer::~WebhookServer() { Stop(); }
int WebhookServer::port() const { return impl_->port; }

void WebhookServer::Stop() {
  if (impl_) impl_->listener.Stop();
}

Result<std::unique_ptr<WebhookServer>> WebhookServer::Start(const std::string& host, int port,
                                                            Secret secret, SubmitFn submit) {
  if (secret.empty())
    return InvalidArgument("webhook: a shared secret is required (unsigned events are refused)");
  auto impl = std::make_unique<Impl>();
  impl->secret = std::move(secret);
  impl->submit = std::move(submit);
  impl->host = host;
  Impl* raw = impl.get();
  using Handled = httplib::Server::HandlerResponse;
  raw->server.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    std::string msg;
    const int status = WebhookRequestError(req, res, &msg);
    if (status == 0) return Handled::Unhandled;
    WebhookReply(res, status, msg);
    return Handled::Handled;
  });
  // A client that asks first (Expect: 100-continue, as curl does for large
  // bodies) is refused before it sends the body at all.
  raw->server.set_expect_100_continue_handler(
      [](const httplib::Request& req, httplib::Response& res) {
        std::string msg;
        const int status = WebhookRequestError(req, res, &msg);
        if (status == 0) return 100;
        WebhookReply(res, status, msg);
        return status;
      });
  raw->server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return Handled::Unhandled;  // a handler's own answer
        WebhookReply(res, res.status, WebhookStatusMessage(res.status));
        return Handled::Handled;
      }));
  raw->server.Post(
      "/events",
      httplib::Server::HandlerWithContentReader(
          [raw](const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& content_reader) {
            // The pre-routing handler checked the declared length;
            // this also bounds the time the body may take.
            const auto deadline = std::chrono::steady_clock::now() + kWebhookBodyDeadline;
            std::string body;
            bool too_large = false, too_slow = false;
            const bool read = content_reader([&](const char* data, std::size_t n) {
              if (body.size() + n > kWebhookMaxBody) return !(too_large = true);
              if (std::chrono::steady_clock::now() > deadline) return !(too_slow = true);
              body.append(data, n);
              return true;
            });
            if (!read) {
              if (too_large) return WebhookReply(res, 413, "event body over the limit");
              if (too_slow)
                return WebhookReply(res, 408,
                                    "the event body did not arrive within " +
                                        std::to_string(kWebhookBodyDeadline.count()) + " s");
              return WebhookReply(res, 400, "could not read the event body");
            }
            std::string sig = req.get_header_value("X-Lockpipe-Signature");
            if (sig.empty()) return WebhookReply(res, 401, "missing X-Lockpipe-Signature");
            if (!WebhookSignatureValid(raw->secret, body, sig)) {
              log::Warn("webhook: refused an event with a wrong signature");
              return WebhookReply(res, 401, "bad signature");
            }
            auto job = ParseWebhookEvent(body);
            if (!job.ok()) return WebhookReply(res, 400, job.status().message());
            job->received_at_ms = NowMs();
            // A signed event is good once, while it is fresh: an older one is a replay
            // or a delivery so late that its request has timed out on the lock.
            const std::int64_t age_s = (job->received_at_ms - job->captured_at_ms) / 1000;
            if (age_s > kWebhookMaxEventAgeSeconds || -age_s > kWebhookMaxEventAgeSeconds) {
              log::Warn("webhook: refused a signed event dated " + std::to_string(age_s) +
                        " s ago (a replay, a very late delivery or a clock problem)");
              return WebhookReply(res, 400,
                                  "event t is " + std::to_string(age_s) + " s from now (limit " +
                                      std::to_string(kWebhookMaxEventAgeSeconds) +
                                      " s): refused as a replay");
            }
            if (!raw->submit(std::move(job).value())) return WebhookReply(res, 503, "stopping");
            WebhookReply(res, 202, "queued");
          }));
  raw->server.set_payload_max_length(kWebhookMaxBody);
  raw->server.set_tcp_nodelay(true);  // answers go out at once, not after a delayed ACK
  // One request per connection: a request refused before its body was read
  // leaves that body unread, and on a kept-alive connection cpp-httplib would
  // parse it as the next request. Webhook senders post one event at a time.
  raw->server.set_keep_alive_max_count(1);
  // Senders wait for a free worker thread; each slow sender holds one for at
  // most kWebhookBodyDeadline once its headers are in, or read_timeout between
  // two packets.
  raw->server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  raw->server.set_read_timeout(3, 0);
  raw->server.set_write_timeout(3, 0);
  raw->server.set_socket_options([](socket_t fd) { SetListenSocketOptions(fd); });
  errno = 0;
  if (port == 0) {
    raw->port = raw->server.bind_to_any_port(host);
  } else {
    raw->port = raw->server.bind_to_port(host, port) ? port : -1;
  }
  if (raw->port <= 0) {
    const int err = errno;
    return IoError("webhook: cannot listen on " + host + ":" + std::to_string(port) + ": " +
                   (err == EADDRINUSE ? "the address is in use (another program listens there)"
                    : err != 0        ? ErrnoText(err)
                                      : "not a local address?"));
  }
  if (!raw->listener.Start(raw->server, host, raw->port, "webhook", kWebhookStopGrace))
    return InternalError("webhook: the server on " + host + ":" + std::to_string(raw->port) +
                         " did not start");
  return std::unique_ptr<WebhookServer>(new WebhookServer(std::move(impl)));
}

// --- batch --------------------------------------------------------------------

bool IsBlankOrCommentListLine(const std::string& line) {
  // " \t\r": a CRLF list's blank line is "\r", and an indented comment is a comment.
  const auto first = line.find_first_not_of(" \t\r");
  return first == std::string::npos || line[first] == '#';
}

namespace {

// A JSON value as an error message shows it: on one line, cut short.
std::string Shown(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// Why `text`, the value of `key`, cannot be used, or "" when it can. A NUL
// would cut the text short where it reaches a C API (a path would open
// another file) and would be journaled as it is; other control characters
// have no place in an identifier, a path or a URL, and garble the log lines
// that name them. A secret is checked for NUL only, and never shown.
std::string BadText(const std::string& key, const std::string& text, bool secret) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) return "\"" + key + "\" contains a NUL character (\\u0000)";
    if (!secret && (c < 0x20 || c == 0x7f)) {
      char code[8];
      std::snprintf(code, sizeof code, "\\u%04x", c);
      return "\"" + key + "\" contains a control character (" + code + ")";
    }
  }
  return "";
}

// The text of `key` in a batch line: nullopt when the line has no such key
// (the caller's default applies), else a non-empty string free of NUL and
// control characters; anything else is an error that says what `key` must be
// (`expected`). A wrong value is never taken for a missing one: `"kind": 2`
// must not become the default "unlock". A secret's value is never shown.
Result<std::optional<std::string>> StringField(const nlohmann::json& j, const std::string& key,
                                               const std::string& expected, bool secret = false) {
  const auto it = j.find(key);
  if (it == j.end()) return std::optional<std::string>();
  if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
    // A wrong secret is named by its type ("a number"), never shown.
    const std::string type = it->type_name();
    const std::string shown = !secret || it->is_string()          ? Shown(*it)
                              : it->is_null()                     ? type
                              : it->is_object() || it->is_array() ? "an " + type
                                                                  : "a " + type;
    return Corrupt("\"" + key + "\" must be " + expected + ", not " + shown);
  }
  const std::string& text = it->get_ref<const std::string&>();
  if (std::string bad = BadText(key, text, secret); !bad.empty()) return Corrupt(bad);
  return std::optional<std::string>(text);
}

}  // namespace

Result<CaptureJob> ParseBatchLine(const std::string& line, const std::string& list_dir,
                                  int line_no) {
  // A key given twice would count once, the last time, where a person or
  // another program reading the line may take the first: refused.
  std::set<std::string> keys;
  std::optional<nlohmann::json> twice;
  auto find_twice = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && !twice &&
        !keys.insert(parsed.get<std::string>()).second)
      twice = parsed;
    return true;
  };
  nlohmann::json j = nlohmann::json::parse(line, find_twice, false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("not a JSON object");
  if (twice) return Corrupt(Shown(*twice) + " is given twice");
  const char kText[] = "a non-empty string";
  CaptureJob job;
  job.source = "batch";

  ASSIGN_OR_RETURN(auto device, StringField(j, "device", kText));
  if (!device) return Corrupt("\"device\" is missing");
  job.device_id = *device;

  const char kKinds[] = "\"unlock\" or \"alert\"";
  ASSIGN_OR_RETURN(auto kind_text, StringField(j, "kind", kKinds));
  job.kind = MediaKind::kUnlockRequest;
  if (kind_text) {
    auto kind = ParseMediaKind(*kind_text);
    if (!kind.ok())
      return Corrupt("\"kind\" must be " + std::string(kKinds) + ", not " + Shown(j.at("kind")));
    job.kind = *kind;
  }

  // An id is an identifier: an integer is taken as its decimal text (7 and
  // "7" are one id), never dropped.
  std::optional<std::string> id;
  if (const auto it = j.find("id"); it != j.end() && it->is_number_integer()) {
    id = it->dump();
  } else {
    ASSIGN_OR_RETURN(id, StringField(j, "id", "a string or an integer"));
  }
  job.label = id ? *id : std::to_string(line_no);

  if (const auto it = j.find("captured_at"); it != j.end()) {
    // Positive JSON integers parse as unsigned; a negative one is signed.
    const bool valid = it->is_number_unsigned() && it->get<std::uint64_t>() > 0 &&
                       it->get<std::uint64_t>() <=
                           static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (!valid)
      return Corrupt(
          "\"captured_at\" must be a positive integer, the capture time in milliseconds since "
          "the epoch, not " +
          Shown(*it));
    job.captured_at_ms = it->get<std::int64_t>();
  }

  ASSIGN_OR_RETURN(auto file_key, StringField(j, "file_key", kText, /*secret=*/true));
  ASSIGN_OR_RETURN(auto key_env, StringField(j, "key_env", "the name of an environment variable"));
  if (file_key && key_env) return Corrupt("give \"file_key\" or \"key_env\", not both");
  std::string key = file_key ? *file_key : "";
  if (key_env) {
    const char* v = std::getenv(key_env->c_str());
    if (v == nullptr) return InvalidArgument("environment variable " + *key_env + " is not set");
    // An empty key would read the file as plaintext: it is a mistake, not a choice.
    if (*v == '\0') return InvalidArgument("environment variable " + *key_env + " is empty");
    key = v;
  }

  ASSIGN_OR_RETURN(auto url, StringField(j, "url", kText));
  ASSIGN_OR_RETURN(auto path, StringField(j, "path", kText));
  ASSIGN_OR_RETURN(auto file_path, StringField(j, "file_path", kText));
  if (url && path) return Corrupt("give \"url\" or \"path\", not both");
  if (url) {
    if (key.empty()) return Corrupt("a \"url\" needs a \"file_key\"");
    job.where = CaptureJob::Where::kUrl;
    job.url = *url;
    job.file_path = file_path.value_or("");
  } else if (path) {
    job.where = CaptureJob::Where::kFile;
    job.path = *path;
    if (job.path.front() != '/') job.path = list_dir + "/" + job.path;
  } else {
    return Corrupt("needs \"url\" or \"path\"");
  }
  job.file_key = Secret(std::move(key));
  // The line's id is a label, not part of the identity (CaptureKey): the same
  // object listed twice, or also polled or pushed, is one capture.
  return job;
}

}  // namespace lockpipe
