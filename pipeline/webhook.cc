#include "pipeline/webhook.h"

#include <httplib.h>

#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/json_text.h"
#include "base/listener_thread.h"
#include "base/log.h"
#include "base/server_socket.h"
#include "fetch/tuya_sign.h"

namespace lockpipe {

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

}  // namespace lockpipe
