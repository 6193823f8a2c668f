// The HTTP layer and the media downloader against a real loopback server.
#include "fetch/http_client.h"

#include <gtest/gtest.h>

#include <random>

#include "fetch/media_download.h"
#include "tests/fetch/test_server.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

using testing::Reply;
using testing::SeenRequest;
using testing::TestServer;

std::unique_ptr<CurlHttpClient> MakeClient(CurlOptions o = {}) {
  auto c = CurlHttpClient::Create(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

RetryPolicy RecordingPolicy(std::vector<int>* delays, int attempts = 3) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.base_delay_ms = 100;
  p.seed = 42;
  p.sleep = [delays](int ms) { delays->push_back(ms); };
  return p;
}

std::string AsString(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }

// A handler that serves `data` honouring one "Range: bytes=a-b" header.
Reply ServeRanges(const std::string& data, const SeenRequest& r) {
  std::string range = r.Header("Range");
  if (range.empty()) return {200, data, "application/octet-stream"};
  unsigned long long a = 0, b = 0;
  if (std::sscanf(range.c_str(), "bytes=%llu-%llu", &a, &b) != 2) return {400, "bad range"};
  if (data.empty() || a >= data.size())
    return {416, "", "text/plain", {{"Content-Range", "bytes */" + std::to_string(data.size())}}};
  b = std::min<unsigned long long>(b, data.size() - 1);
  return {206,
          data.substr(a, b - a + 1),
          "application/octet-stream",
          {{"Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                                 std::to_string(data.size())}}};
}

TEST(RedactUrl, DropsQueryFragmentAndCredentials) {
  EXPECT_EQ(RedactUrl("https://b.example.com/x/1.jpg?sig=abc"),
            "https://b.example.com/x/1.jpg?...");
  EXPECT_EQ(RedactUrl("https://b.example.com/x/1.jpg#frag"), "https://b.example.com/x/1.jpg?...");
  EXPECT_EQ(RedactUrl("http://user:hunter2pass@127.0.0.1:1/x.jpg"), "http://***@127.0.0.1:1/x.jpg");
  EXPECT_EQ(RedactUrl("http://u:p@host?q=1"), "http://***@host?...");
  EXPECT_EQ(RedactUrl("https://host/a@b.jpg"), "https://host/a@b.jpg");  // '@' in the path stays
  EXPECT_EQ(RedactUrl("/local/path.jpg"), "/local/path.jpg");
}

TEST(HttpClient, ReusesTheConnectionAcrossCalls) {
  TestServer server([](const SeenRequest&) { return Reply{200, "{}"}; });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  for (int i = 0; i < 5; ++i) {
    HttpRequest req;
    req.url = server.base_url() + "/x/" + std::to_string(i);
    auto r = http->Send(req);
    ASSERT_OK_R(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->new_connections, i == 0 ? 1 : 0) << i;
  }
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 5u);
  for (const auto& s : seen) EXPECT_EQ(s.remote_port, seen[0].remote_port);
}

TEST(HttpClient, WithoutReuseEveryCallConnects) {
  TestServer server([](const SeenRequest&) { return Reply{200, "{}"}; });
  ASSERT_TRUE(server.ok());
  CurlOptions o;
  o.reuse_connections = false;
  auto http = MakeClient(o);
  for (int i = 0; i < 3; ++i) {
    HttpRequest req;
    req.url = server.base_url() + "/y";
    auto r = http->Send(req);
    ASSERT_OK_R(r);
    EXPECT_EQ(r->new_connections, 1);
  }
}

TEST(HttpClient, NonIdempotentRequestUsesAFreshConnection) {
  TestServer server([](const SeenRequest&) { return Reply{200, "{}"}; });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  HttpRequest get;
  get.url = server.base_url() + "/a";
  ASSERT_OK_R(http->Send(get));
  HttpRequest post;
  post.method = "POST";
  post.url = server.base_url() + "/open";
  post.body = R"({"ticket_id":"t"})";
  post.idempotent = false;
  auto r = http->Send(post);
  ASSERT_OK_R(r);
  EXPECT_EQ(r->new_connections, 1);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].body, R"({"ticket_id":"t"})");
}

TEST(HttpClient, SendsMethodHeadersAndExactBody) {
  TestServer server([](const SeenRequest&) {
    return Reply{201, "made", "text/plain", {{"X-Answer", "42"}}};
  });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  HttpRequest req;
  req.method = "PUT";
  req.url = server.base_url() + "/thing?a=1";
  req.headers = {{"X-Test", "yes"}, {"Content-Type", "application/json"}};
  req.body = std::string("{\"k\":\"\0v\"}", 10);
  auto r = http->Send(req);
  ASSERT_OK_R(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "made");
  EXPECT_EQ(r->Header("x-answer"), "42");
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].target, "/thing?a=1");
  EXPECT_EQ(seen[0].body, req.body);
  EXPECT_EQ(seen[0].Header("X-Test"), "yes");
  EXPECT_EQ(seen[0].Header("Expect"), "");
}

TEST(HttpClient, TimesOut) {
  TestServer server([](const SeenRequest&) { return Reply{200, "late", "text/plain", {}, 1500}; });
  ASSERT_TRUE(server.ok());
  CurlOptions o;
  o.timeout_ms = 200;
  auto http = MakeClient(o);
  HttpRequest req;
  req.url = server.base_url() + "/slow";
  auto r = http->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout) << r.status().ToString();
  EXPECT_NE(r.status().message().find("/slow"), std::string::npos);
}

TEST(HttpClient, ConnectionRefusedIsANetworkError) {
  int port = 0;
  {
    TestServer server([](const SeenRequest&) { return Reply{}; });
    port = server.port();
  }
  auto http = MakeClient();
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/gone?sig=SECRETSIG";
  auto r = http->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNetwork);
  EXPECT_EQ(r.status().message().find("SECRETSIG"), std::string::npos) << r.status().message();
}

TEST(HttpClient, StreamsTheBodyIntoTheSink) {
  const auto data = testing::RandomBytes(3 * 1024 * 1024 + 17, 7);
  TestServer server([&](const SeenRequest&) {
    return Reply{200, AsString(data), "application/octet-stream"};
  });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  std::string got;
  int chunks = 0;
  auto n = StreamDownload(*http, server.base_url() + "/media.bin", [&](std::string_view c) {
    got.append(c);
    ++chunks;
    return Status::Ok();
  });
  ASSERT_OK_R(n);
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(got, AsString(data));
  EXPECT_GT(chunks, 1);  // it arrived in pieces, not as one buffer
}

TEST(HttpClient, SinkErrorAbortsAndErrorPagesNeverReachTheSink) {
  TestServer server([](const SeenRequest& r) {
    if (r.path == "/missing") return Reply{404, "not here", "text/plain"};
    return Reply{200, std::string(100000, 'x'), "text/plain"};
  });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  std::string got;
  auto sink = [&](std::string_view c) {
    got.append(c);
    return Status::Ok();
  };
  auto r = StreamDownload(*http, server.base_url() + "/missing", sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().http_status(), 404);
  EXPECT_EQ(got, "");
  auto r2 = StreamDownload(*http, server.base_url() + "/big",
                           [](std::string_view) { return Corrupt("decryptor says no"); });
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().message(), "decryptor says no");
}

TEST(HttpClient, RetriesGetOn5xxWithBackoff) {
  int calls = 0;
  TestServer server([&](const SeenRequest&) {
    return ++calls < 3 ? Reply{503, "busy", "text/plain"} : Reply{200, "fine", "text/plain"};
  });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  std::vector<int> delays;
  HttpRequest req;
  req.url = server.base_url() + "/get";
  auto r = SendWithRetry(*http, req, RecordingPolicy(&delays));
  ASSERT_OK_R(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "fine");
  EXPECT_EQ(server.requests().size(), 3u);
  ASSERT_EQ(delays.size(), 2u);
  EXPECT_GE(delays[0], 50);
  EXPECT_LE(delays[0], 100);
  EXPECT_GE(delays[1], 100);
  EXPECT_LE(delays[1], 200);
}

TEST(HttpClient, GivesUpAfterMaxAttempts) {
  TestServer server([](const SeenRequest&) { return Reply{500, "no", "text/plain"}; });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  std::vector<int> delays;
  HttpRequest req;
  req.url = server.base_url() + "/get";
  auto r = SendWithRetry(*http, req, RecordingPolicy(&delays, 4));
  ASSERT_OK_R(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(server.requests().size(), 4u);
  EXPECT_EQ(delays.size(), 3u);
}

TEST(HttpClient, NeverRetriesPostsOrPuts) {
  TestServer server([](const SeenRequest&) { return Reply{503, "busy", "text/plain"}; });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  std::vector<int> delays;
  for (const char* method : {"POST", "PUT"}) {
    HttpRequest req;
    req.method = method;
    req.url = server.base_url() + "/v1.0/devices/d/door-lock/password-free/open-door";
    req.body = R"({"ticket_id":"t"})";
    req.idempotent = false;
    auto r = SendWithRetry(*http, req, RecordingPolicy(&delays));
    ASSERT_OK_R(r);
    EXPECT_EQ(r->status, 503);
  }
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_TRUE(delays.empty());
}

TEST(HttpClient, NeverRetriesAPostThatTimedOut) {
  TestServer server([](const SeenRequest&) {
    return Reply{200, "{}", "application/json", {}, 1000};
  });
  ASSERT_TRUE(server.ok());
  CurlOptions o;
  o.timeout_ms = 150;
  auto http = MakeClient(o);
  std::vector<int> delays;
  HttpRequest req;
  req.method = "POST";
  req.url = server.base_url() + "/open-door";
  auto r = SendWithRetry(*http, req, RecordingPolicy(&delays));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(delays.empty());
}

TEST(HttpClient, BackoffIsExponentialWithJitterAndCapped) {
  RetryPolicy p;
  p.base_delay_ms = 100;
  p.max_delay_ms = 1000;
  EXPECT_EQ(BackoffDelayMs(p, 1, 0), 50);
  EXPECT_EQ(BackoffDelayMs(p, 1, 50), 100);
  EXPECT_EQ(BackoffDelayMs(p, 3, 0), 200);
  EXPECT_EQ(BackoffDelayMs(p, 3, 200), 400);
  EXPECT_EQ(BackoffDelayMs(p, 10, 0), 500);
  EXPECT_EQ(BackoffDelayMs(p, 10, 500), 1000);
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveProgram("openssl"))
      GTEST_SKIP() << "the openssl program is needed to make a test certificate";
    ASSERT_TRUE(testing::MakeSelfSignedCert(dir_.path(), &cert_, &key_));
  }
  testing::TempDir dir_;
  std::string cert_, key_;
};

TEST_F(TlsTest, TrustedThroughCaFile) {
  TestServer server(
      [](const SeenRequest&) {
        return Reply{200, "secure", "text/plain"};
      },
      cert_, key_);
  ASSERT_TRUE(server.ok());
  CurlOptions o;
  o.ca_file = cert_;
  auto http = MakeClient(o);
  for (int i = 0; i < 2; ++i) {
    HttpRequest req;
    req.url = server.base_url() + "/s";
    auto r = http->Send(req);
    ASSERT_OK_R(r);
    EXPECT_EQ(r->body, "secure");
    EXPECT_EQ(r->new_connections, i == 0 ? 1 : 0);
  }
}

TEST_F(TlsTest, RefusedWhenNotTrusted) {
  TestServer server(
      [](const SeenRequest&) {
        return Reply{200, "secure", "text/plain"};
      },
      cert_, key_);
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  HttpRequest req;
  req.url = server.base_url() + "/s";
  auto r = http->Send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNetwork);
  EXPECT_NE(r.status().message().find("--ca-file"), std::string::npos) << r.status().message();
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(TlsTest, InsecureIsExplicit) {
  TestServer server(
      [](const SeenRequest&) {
        return Reply{200, "secure", "text/plain"};
      },
      cert_, key_);
  ASSERT_TRUE(server.ok());
  CurlOptions o;
  o.insecure = true;
  auto http = MakeClient(o);
  HttpRequest req;
  req.url = server.base_url() + "/s";
  auto r = http->Send(req);
  ASSERT_OK_R(r);
  EXPECT_EQ(r->body, "secure");
}

TEST(HttpClient, MissingCaFileIsRefusedUpFront) {
  CurlOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  auto c = CurlHttpClient::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
}

// ------------------------------------------------------------ ranges

TEST(HttpRangeSource, RandomRangesEqualTheFile) {
  const std::string data = AsString(testing::RandomBytes(1'000'003, 11));
  TestServer server([&](const SeenRequest& r) { return ServeRanges(data, r); });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  auto src = HttpRangeSource::Open(*http, server.base_url() + "/clip.mp4?sig=abc", 64 * 1024);
  ASSERT_OK_R(src);
  auto size = (*src)->Size();
  ASSERT_OK_R(size);
  EXPECT_EQ(*size, data.size());
  EXPECT_EQ((*src)->name(), server.base_url() + "/clip.mp4?...");
  std::mt19937 rng(5);
  for (int i = 0; i < 200; ++i) {
    const std::uint64_t off = rng() % (data.size() + 10);
    const std::size_t len = i % 10 == 0 ? rng() % 300000 : rng() % 5000;
    std::vector<std::uint8_t> buf(len);
    auto n = (*src)->ReadAt(off, buf);
    ASSERT_OK_R(n);
    const std::size_t expect =
        off >= data.size() ? 0 : std::min<std::size_t>(len, data.size() - off);
    ASSERT_EQ(*n, expect) << "offset " << off << " len " << len;
    ASSERT_EQ(std::string(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n)),
              data.substr(std::min<std::size_t>(off, data.size()), expect));
  }
  for (const auto& r : server.requests()) EXPECT_FALSE(r.Header("Range").empty());
}

TEST(HttpRangeSource, SmallSequentialReadsAreCached) {
  const std::string data = AsString(testing::RandomBytes(200'000, 3));
  TestServer server([&](const SeenRequest& r) { return ServeRanges(data, r); });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  auto src = HttpRangeSource::Open(*http, server.base_url() + "/f", 64 * 1024);
  ASSERT_OK_R(src);
  std::string got;
  std::vector<std::uint8_t> buf(4096);
  for (std::uint64_t off = 0;;) {
    auto n = (*src)->ReadAt(off, buf);
    ASSERT_OK_R(n);
    if (*n == 0) break;
    got.append(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    off += *n;
  }
  EXPECT_EQ(got, data);
  // 1 size probe + ceil(200000 / 65536) = 4 blocks, instead of 49 reads.
  EXPECT_EQ((*src)->requests(), 5);
  EXPECT_EQ(server.requests().size(), 5u);
}

TEST(HttpRangeSource, RefusesAServerWithoutRanges) {
  TestServer server([](const SeenRequest&) { return Reply{200, "whole file", "text/plain"}; });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  auto src = HttpRangeSource::Open(*http, server.base_url() + "/f");
  ASSERT_FALSE(src.ok());
  EXPECT_EQ(src.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(src.status().message().find("206"), std::string::npos);
}

TEST(HttpRangeSource, DetectsAWrongRangeAnswer) {
  const std::string data(100000, 'a');
  bool lie = false;
  TestServer server([&](const SeenRequest& r) {
    Reply rep = ServeRanges(data, r);
    if (lie) rep.headers = {{"Content-Range", "bytes 0-9/100000"}};
    return rep;
  });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  auto src = HttpRangeSource::Open(*http, server.base_url() + "/f", 1024);
  ASSERT_OK_R(src);
  lie = true;
  std::vector<std::uint8_t> buf(10);
  auto n = (*src)->ReadAt(50000, buf);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kCorrupt);
}

TEST(HttpRangeSource, EmptyFile) {
  TestServer server([](const SeenRequest& r) { return ServeRanges("", r); });
  ASSERT_TRUE(server.ok());
  auto http = MakeClient();
  auto src = HttpRangeSource::Open(*http, server.base_url() + "/empty");
  ASSERT_OK_R(src);
  EXPECT_EQ(*(*src)->Size(), 0u);
  std::vector<std::uint8_t> buf(10);
  EXPECT_EQ(*(*src)->ReadAt(0, buf), 0u);
}

TEST(ContentRange, Parses) {
  auto a = ParseContentRange("bytes 0-0/1234");
  ASSERT_OK_R(a);
  EXPECT_TRUE(a->has_range);
  EXPECT_EQ(a->total, 1234u);
  auto b = ParseContentRange("bytes */55");
  ASSERT_OK_R(b);
  EXPECT_FALSE(b->has_range);
  EXPECT_EQ(b->total, 55u);
  EXPECT_FALSE(ParseContentRange("bytes 5-2/10").ok());
  EXPECT_FALSE(ParseContentRange("bytes 0-10/10").ok());
  EXPECT_FALSE(ParseContentRange("bytes 0-1/*").ok());
  EXPECT_FALSE(ParseContentRange("").ok());
}

}  // namespace
}  // namespace lockpipe
