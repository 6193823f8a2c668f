// Pushed events: a signed webhook that turns each event into a capture job.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/secret.h"
#include "base/status.h"
#include "pipeline/capture_job.h"

namespace lockpipe {

// A signed webhook event dated further than this from the receiver's clock is
// refused (HTTP 400): a replay, or a delivery so late that nothing can be done
// for its request any more.
inline constexpr std::int64_t kWebhookMaxEventAgeSeconds = 300;

// An HTTP endpoint (POST /events) for pushed events: JSON
//   {"event_id": "...", "device_id": "...", "file_type": 1|2 (or "kind": "unlock"|"alert"),
//    "t": <ms, the capture time>, optional "file_url" + "file_key" + "file_path" (all three)}
// authenticated by `X-Lockpipe-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
// Without a media reference the pipeline fetches the device's latest capture.
// Answers 202 when queued, 401 for a missing or wrong signature, 400 for a
// malformed event or one dated more than kWebhookMaxEventAgeSeconds away,
// 503 when the pipeline is stopping. Before reading a body: 411 without a
// Content-Length (a chunked body included), 413 for one over 1 MiB, 405 (with
// Allow: POST) for another method, 404 for another path; 408 when the body
// takes more than 10 s. Every answer is JSON {"ok", "message"}. One request
// per connection.
//
// Thread-safety: Start/Stop from the owner; requests are served on the
// server's own threads and call `submit` from them.
class WebhookServer {
 public:
  // Binds host:port (0 = a free port) and returns once it accepts. Fails,
  // naming the address, when the port is in use by another socket (no
  // SO_REUSEPORT sharing) or the address is not local.
  static Result<std::unique_ptr<WebhookServer>> Start(const std::string& host, int port,
                                                      Secret secret, SubmitFn submit);
  ~WebhookServer();  // Stop()s
  int port() const;
  // Stops accepting, gives requests in flight a second to finish, then closes
  // the connections still open (clients still sending) and joins the server's
  // threads: `submit` is not called once it returns. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit WebhookServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses one webhook body into a job (exposed for tests).
Result<CaptureJob> ParseWebhookEvent(const std::string& body);
// Checks the X-Lockpipe-Signature header value against the body.
bool WebhookSignatureValid(const Secret& secret, const std::string& body,
                           const std::string& header);

}  // namespace lockpipe
