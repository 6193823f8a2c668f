#include "fetch/http_client.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include "base/log.h"

namespace lockpipe {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return std::string(s);
}

// State of one transfer, reached from libcurl's C callbacks.
struct Transfer {
  CURL* curl = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  Status sink_status;
};

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  if (t->request->sink && code >= 200 && code < 300) {
    Status s = t->request->sink(std::string_view(data, n));
    if (!s.ok()) {
      t->sink_status = std::move(s);
      return 0;  // makes libcurl abort with CURLE_WRITE_ERROR
    }
    return n;
  }
  t->response->body.append(data, n);
  return n;
}

size_t HeaderCallback(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  std::string_view line(data, n);
  // A new status line (after a 100 Continue or a redirect) starts a new header set.
  if (line.substr(0, 5) == "HTTP/") {
    t->response->headers.clear();
    return n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->response->headers.emplace_back(Trim(line.substr(0, colon)), Trim(line.substr(colon + 1)));
  }
  return n;
}

std::once_flag g_curl_init;

// Whether libcurl's `rc` proves that no byte of the request was sent. URL and
// setup errors come before any connection is chosen. Errors of the connect
// phase (name resolution, TCP connect, TLS handshake and certificate checks)
// prove it only on a connection opened for this request
// (`fresh_connection`): on a reused connection libcurl may have sent the
// request, found the connection dead, and failed while reconnecting to resend
// it — the first copy may have reached the server. Everything else (send and
// receive errors, resets, an empty reply, timeouts) may come after the server
// got the request.
bool FailedBeforeSending(CURLcode rc, bool fresh_connection) {
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_FAILED_INIT:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return true;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return fresh_connection;
    default:
      return false;
  }
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

struct CurlHttpClient::Impl {
  CurlOptions options;
  CurlPtr curl;
  bool warned_insecure = false;
};

CurlHttpClient::CurlHttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CurlHttpClient::~CurlHttpClient() = default;

Result<std::unique_ptr<CurlHttpClient>> CurlHttpClient::Create(const CurlOptions& options) {
  // main() initialises libcurl before threads exist; this covers tests and
  // library users that do not (curl_global_init is idempotent but not
  // thread-safe, hence call_once).
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (!options.ca_file.empty()) {
    struct stat st {};
    if (::stat(options.ca_file.c_str(), &st) != 0)
      return NotFound("CA file " + options.ca_file + ": does not exist");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->curl.reset(curl_easy_init());
  if (!impl->curl) return InternalError("libcurl: curl_easy_init failed");
  return std::unique_ptr<CurlHttpClient>(new CurlHttpClient(std::move(impl)));
}

Result<HttpResponse> CurlHttpClient::Send(const HttpRequest& request) {
  CURL* c = impl_->curl.get();
  const CurlOptions& o = impl_->options;
  // Reset options but keep the connection cache and TLS session cache.
  curl_easy_reset(c);
  HttpResponse response;
  Transfer transfer{c, &request, &response, Status::Ok()};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout_ms));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(request.timeout_ms > 0 ? request.timeout_ms : o.timeout_ms));
  curl_easy_setopt(c, CURLOPT_USERAGENT, o.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (o.insecure) {
    if (!impl_->warned_insecure && request.url.rfind("https:", 0) == 0) {
      auto host_end = request.url.find('/', 8);
      log::Warn("TLS verification is OFF for " + request.url.substr(0, host_end) +
                " (--insecure): the server is not authenticated");
      impl_->warned_insecure = true;
    }
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!o.reuse_connections || !request.idempotent) {
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
  }
  // A door call's one-shot connection is closed after use too: left in the
  // cache it would hold one of the server's worker threads while idle.
  if (!o.reuse_connections || !request.idempotent) curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);

  if (request.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    // POSTFIELDS with an explicit size sends exactly these bytes (the signed
    // ones), also when empty; CUSTOMREQUEST turns the POST into PUT etc.
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    if (request.method != "POST")
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  std::string range;
  if (request.range) {
    range = std::to_string(request.range->first) + "-" + std::to_string(request.range->second);
    curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  }
  std::vector<std::string> lines;
  for (const auto& [k, v] : request.headers) lines.push_back(k + ": " + v);
  // No "Expect: 100-continue" round trip for the small JSON bodies we send.
  lines.emplace_back("Expect:");
  SlistPtr headers;
  for (const auto& line : lines) {
    // curl_slist_append returns the list's head (new for an empty list), or
    // null with the list untouched (still owned by `headers`).
    curl_slist* head = curl_slist_append(headers.get(), line.c_str());
    if (head == nullptr) return InternalError("libcurl: out of memory building headers");
    (void)headers.release();
    headers.reset(head);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    if (rc == CURLE_WRITE_ERROR && !transfer.sink_status.ok()) return transfer.sink_status;
    std::string why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    std::string msg = request.method + " " + RedactUrl(request.url) + ": " + why;
    // A timeout may strike after the request went out: never "not sent".
    if (rc == CURLE_OPERATION_TIMEDOUT) return TimeoutError(msg);
    const bool fresh_connection = !o.reuse_connections || !request.idempotent;
    Status s = NetworkError(msg);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
        rc == CURLE_SSL_CONNECT_ERROR) {
      s = NetworkError(msg +
                       " (TLS: the server's certificate is not trusted; name a CA with "
                       "--ca-file)");
    }
    return s.set_request_not_sent(FailedBeforeSending(rc, fresh_connection));
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  response.status = static_cast<int>(code);
  long connects = 0;
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
  response.new_connections = connects;
  return response;
}

int BackoffDelayMs(const RetryPolicy& policy, int retry, std::uint32_t random) {
  long long d = policy.base_delay_ms;
  for (int i = 1; i < retry && d < policy.max_delay_ms; ++i) d *= 2;
  d = std::min<long long>(d, policy.max_delay_ms);
  if (d <= 1) return static_cast<int>(d);
  const long long half = d / 2;
  return static_cast<int>(
      half + static_cast<long long>(random % static_cast<std::uint32_t>(d - half + 1)));
}

Result<HttpResponse> SendWithRetry(HttpClient& http, const HttpRequest& request,
                                   const RetryPolicy& policy) {
  const bool safe_method = request.method == "GET" || request.method == "HEAD";
  bool streamed = false;
  HttpRequest req = request;
  if (request.sink) {
    req.sink = [&](std::string_view chunk) {
      if (!chunk.empty()) streamed = true;
      return request.sink(chunk);
    };
  }
  std::mt19937 rng(policy.seed != 0 ? policy.seed : std::random_device{}());
  const int attempts = std::max(1, policy.max_attempts);
  for (int attempt = 1;; ++attempt) {
    Result<HttpResponse> r = http.Send(req);
    bool retryable = safe_method && !streamed && attempt < attempts;
    if (retryable) {
      if (r.ok()) {
        retryable = r->status >= 500;
      } else {
        retryable =
            r.status().code() == StatusCode::kNetwork || r.status().code() == StatusCode::kTimeout;
      }
    }
    if (!retryable) return r;
    const int delay = BackoffDelayMs(policy, attempt, static_cast<std::uint32_t>(rng()));
    // A failure's message already names the request.
    log::Debug((r.ok() ? request.method + " " + RedactUrl(request.url) + ": HTTP " +
                             std::to_string(r->status)
                       : r.status().message()) +
               "; retrying in " + std::to_string(delay) + " ms");
    if (policy.sleep) {
      policy.sleep(delay);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
  }
}

std::string RedactUrl(std::string_view url) {
  std::string out(url.substr(0, url.find_first_of("?#")));
  const bool cut = out.size() < url.size();
  // user:password@ in the authority is a secret too.
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    const std::size_t host = scheme + 3;
    const std::size_t end = std::min(out.find('/', host), out.size());
    const std::size_t at = out.rfind('@', end == 0 ? 0 : end - 1);
    if (at != std::string::npos && at >= host) out.replace(host, at - host, "***");
  }
  return cut ? out + "?..." : out;
}

std::string UrlEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  return out;
}

}  // namespace lockpipe
