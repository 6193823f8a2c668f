// The HTTP layer of fetch/: one interface (HttpClient) so tests can inject
// errors, one libcurl implementation (CurlHttpClient), and a retry helper that
// retries only what is safe to retry.
//
// CurlHttpClient keeps one CURL handle for its lifetime, so consecutive
// requests to the same host reuse the connection (TLS session included). TLS
// peer and host verification are on unless the caller turns them off
// explicitly (CurlOptions::insecure), which logs a warning naming the host.
// CURLOPT_NOSIGNAL is set on every request (threads + timeouts).
//
// Thread-safety: an HttpClient instance belongs to one thread at a time; make
// one per thread (a CURL handle must not be shared). curl_global_init must
// have been called once before any thread uses it (main does that; tests get
// it from CurlHttpClient::Create, which calls it on first use).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace lockpipe {

// Receives response body bytes as they arrive. Returning a non-OK Status
// aborts the transfer; Send then returns that Status.
using BodySink = std::function<Status(std::string_view chunk)>;

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT, DELETE
  std::string url;             // absolute, query already encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent as-is for POST/PUT (also when empty)
  // Inclusive byte range [first, last] ("Range: bytes=first-last").
  std::optional<std::pair<std::uint64_t, std::uint64_t>> range;
  // When set, the body of a 2xx answer goes here as it arrives and
  // HttpResponse::body stays empty; the body of any other answer (an error
  // page) goes to HttpResponse::body instead, never to the sink.
  BodySink sink;
  // Total time allowed for this request; 0 = the client's default.
  int timeout_ms = 0;
  // False for a request that may change the world if it arrives twice (door
  // opening). It is then sent on a fresh connection, because libcurl silently
  // resends a request on a reused connection that turns out to be dead, and
  // such a resend could open a door twice.
  bool idempotent = true;
};

struct HttpResponse {
  int status = 0;
  // Header names as received; Header() matches case-insensitively.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Connections libcurl had to open for this request (0 when one was reused).
  long new_connections = 0;

  // The first header named `name` (case-insensitive), or "".
  std::string Header(std::string_view name) const;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Sends `request` and waits for the whole answer (or until the sink has
  // taken it all). Any HTTP status is a success here; a failure means no
  // complete answer: kNetwork (could not connect, reset, TLS refused — the
  // message names the URL and libcurl's reason), kTimeout, or the sink's Status.
  // Status::request_not_sent() is set when the failure proves no byte of the
  // request was sent (see CurlHttpClient); an implementation that cannot tell
  // leaves it unset: "may have been sent" is the safe answer.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

struct CurlOptions {
  std::string ca_file;    // PEM bundle to trust instead of the system store
  bool insecure = false;  // turn off TLS verification (warns)
  int connect_timeout_ms = 10000;
  int timeout_ms = 30000;         // default total time per request
  bool reuse_connections = true;  // false: a new connection per request (benchmarks)
  std::string user_agent = "lockpipe/0.1";
};

// request_not_sent() is set for URL/setup errors, and for connect-phase
// errors (name resolution, TCP connect, TLS handshake or certificate) when the
// request had a connection of its own (not idempotent, or reuse off): on a
// reused connection libcurl may already have sent it once before reconnecting.
class CurlHttpClient final : public HttpClient {
 public:
  // Fails (kInternal) only if libcurl cannot make a handle, or (kNotFound)
  // if ca_file does not exist.
  static Result<std::unique_ptr<CurlHttpClient>> Create(const CurlOptions& options);
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  Result<HttpResponse> Send(const HttpRequest& request) override;

 private:
  struct Impl;
  explicit CurlHttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// When and how often to retry.
struct RetryPolicy {
  int max_attempts = 3;     // total tries, including the first
  int base_delay_ms = 200;  // first backoff; doubles per attempt
  int max_delay_ms = 5000;
  // How to wait (tests record instead of sleeping). Default: sleep_for.
  std::function<void(int delay_ms)> sleep;
  // Seed of the jitter generator (0 = random).
  std::uint32_t seed = 0;
};

// The backoff before retry number `retry` (1 = first retry): exponential with
// jitter, in [d/2, d] where d = min(max_delay, base * 2^(retry-1)).
int BackoffDelayMs(const RetryPolicy& policy, int retry, std::uint32_t random);

// Sends `request`, retrying with backoff only where it is safe: GET and HEAD
// requests that failed with a network error or timeout, or answered 5xx, and
// whose sink (if any) has not yet received a byte. Anything else (POST, PUT,
// a request that streamed part of its body) is sent exactly once. Returns the
// last answer or error.
Result<HttpResponse> SendWithRetry(HttpClient& http, const HttpRequest& request,
                                   const RetryPolicy& policy);

// The URL without its query and fragment, and with any user:password@ as
// ***@: how URLs appear in messages, since a media URL's query may carry a
// signature.
std::string RedactUrl(std::string_view url);

// Percent-encodes a URL query value or path segment (RFC 3986 unreserved kept).
std::string UrlEncode(std::string_view text);

}  // namespace lockpipe
