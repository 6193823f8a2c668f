#include "pipeline/sources.h"

#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "base/json_text.h"
#include "base/log.h"
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

bool Poller::PollOne(const DeviceConfig& device, MediaKind kind) {
  const std::string key = device.id + (kind == MediaKind::kAlert ? "|alert" : "|unlock");
  const std::int64_t asked_ms = NowMs();
  auto url = api_.GetLatestMediaUrl(device.id, kind);
  if (!url.ok()) {
    if (IsBusyError(url.status().api_code())) {
      auto& b = backoff_[key];
      b = std::min(options_.max_backoff, b.count() ? b * 2 : options_.interval * 2);
      log::Warn("poll " + device.id + ": cloud is busy (code " +
                std::to_string(url.status().api_code()) + "); backing off to " +
                std::to_string(b.count() / 1000) + " s");
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
  std::string capture_key = key + "|" + url->file_path;
  if (!seen_.insert(capture_key).second) return false;
  CaptureJob job;
  job.where = CaptureJob::Where::kUrl;
  job.device_id = device.id;
  job.kind = kind;
  job.source = "poll";
  job.url = url->file_url;
  job.file_key = url->file_key;
  job.file_path = url->file_path;
  job.captured_at_ms = previous_answer != 0 ? previous_answer : asked_ms;
  job.capture_key =
      device.id + (kind == MediaKind::kAlert ? "|alert|" : "|unlock|") + url->file_path;
  return submit_(std::move(job));
}

int Poller::RunOnce(const StopFlag* stop) {
  int n = 0;
  for (const auto& d : config_.devices) {
    if (!Supports(d.type, Endpoint::kLatestMediaUrl)) continue;
    if (stop != nullptr && stop->stopped()) break;
    n += PollOne(d, MediaKind::kUnlockRequest);
    if (stop != nullptr && stop->stopped()) break;
    if (options_.alerts) n += PollOne(d, MediaKind::kAlert);
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
        PollOne(*d, MediaKind::kUnlockRequest);
        if (stop.stopped()) return;  // a poll can take a while: do not start another
        if (options_.alerts) PollOne(*d, MediaKind::kAlert);
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
    int ft = j["file_type"].get<int>();
    if (ft != 1 && ft != 2) return Corrupt("event file_type must be 1 (unlock) or 2 (alert)");
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

struct WebhookServer::Impl {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  Secret secret;
  SubmitFn submit;
};

WebhookServer::WebhookServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebhookServer::~WebhookServer() { Stop(); }
int WebhookServer::port() const { return impl_->port; }

void WebhookServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

Result<std::unique_ptr<WebhookServer>> WebhookServer::Start(const std::string& host, int port,
                                                            Secret secret, SubmitFn submit) {
  if (secret.empty())
    return InvalidArgument("webhook: a shared secret is required (unsigned events are refused)");
  auto impl = std::make_unique<Impl>();
  impl->secret = std::move(secret);
  impl->submit = std::move(submit);
  Impl* raw = impl.get();
  raw->server.Post("/events", [raw](const httplib::Request& req, httplib::Response& res) {
    auto reply = [&](int status, const std::string& msg) {
      res.status = status;
      res.set_content(JsonText(nlohmann::json{{"ok", status == 202}, {"message", msg}}),
                      "application/json");
    };
    std::string sig = req.get_header_value("X-Lockpipe-Signature");
    if (sig.empty()) return reply(401, "missing X-Lockpipe-Signature");
    if (!WebhookSignatureValid(raw->secret, req.body, sig)) {
      log::Warn("webhook: refused an event with a wrong signature");
      return reply(401, "bad signature");
    }
    auto job = ParseWebhookEvent(req.body);
    if (!job.ok()) return reply(400, job.status().message());
    job->received_at_ms = NowMs();
    // A signed event is good once, while it is fresh: an older one is a replay
    // or a delivery so late that its request has timed out on the lock.
    const std::int64_t age_s = (job->received_at_ms - job->captured_at_ms) / 1000;
    if (age_s > kWebhookMaxEventAgeSeconds || -age_s > kWebhookMaxEventAgeSeconds) {
      log::Warn("webhook: refused a signed event dated " + std::to_string(age_s) +
                " s ago (a replay, a very late delivery or a clock problem)");
      return reply(400, "event t is " + std::to_string(age_s) + " s from now (limit " +
                            std::to_string(kWebhookMaxEventAgeSeconds) +
                            " s): refused as a replay");
    }
    if (!raw->submit(std::move(job).value())) return reply(503, "stopping");
    reply(202, "queued");
  });
  raw->server.set_payload_max_length(1 << 20);
  raw->server.set_tcp_nodelay(true);  // answers go out at once, not after a delayed ACK
  // More senders than worker threads would otherwise wait for an idle
  // kept-alive connection to time out.
  raw->server.new_task_queue = [] { return new httplib::ThreadPool(16); };
  raw->server.set_keep_alive_timeout(2);
  if (port == 0) {
    raw->port = raw->server.bind_to_any_port(host);
  } else {
    raw->port = raw->server.bind_to_port(host, port) ? port : -1;
  }
  if (raw->port <= 0)
    return IoError("webhook: cannot listen on " + host + ":" + std::to_string(port));
  raw->thread = std::thread([raw] { raw->server.listen_after_bind(); });
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
  // The line's id is part of the identity: a list may name one file twice as
  // two captures, and a rerun of the same list skips what it already decided.
  job.capture_key = job.device_id + "|" + MediaKindName(job.kind) + "|" +
                    (job.where == CaptureJob::Where::kUrl ? StripMediaRef(job.url) : job.path) +
                    (id ? "#" + *id : "");
  return job;
}

}  // namespace lockpipe
