// The webhook receiver (WebhookServer) over loopback: what it refuses before
// reading a body, how it answers errors, that it owns its port, and that it
// stops promptly whatever its clients do.
#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/clock.h"
#include "emulator/server.h"
#include "fetch/tuya_sign.h"
#include "pipeline/webhook.h"
#include "tests/raw_http.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

using nlohmann::json;
using testing::BodyOf;
using testing::HeadOf;
using testing::RawExchange;
using testing::StatusOf;

const char kHookSecret[] = "webhook-test-secret";

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = WebhookServer::Start("127.0.0.1", 0, Secret(kHookSecret), [this](CaptureJob j) {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(j));
      return true;
    });
    ASSERT_OK_R(s);
    server_ = std::move(s).value();
  }

  int port() const { return server_->port(); }

  std::string Event(std::int64_t file_type) const {
    return R"({"event_id":"e1","device_id":"door","file_type":)" + std::to_string(file_type) +
           R"(,"t":)" + std::to_string(NowMs()) + "}";
  }

  // POSTs `body` to /events signed with the test secret; returns status and body.
  std::pair<int, std::string> PostSigned(const std::string& body) {
    httplib::Client c("127.0.0.1", port());
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(20, 0);
    httplib::Headers h = {
        {"X-Lockpipe-Signature", "sha256=" + tuya::HmacSha256HexUpper(kHookSecret, body)}};
    auto r = c.Post("/events", h, body, "application/json");
    if (!r) return {-1, ""};
    return {r->status, r->body};
  }

  std::size_t jobs() {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
  }

  std::mutex mu_;
  std::vector<CaptureJob> jobs_;
  std::unique_ptr<WebhookServer> server_;
};

// The message of a JSON error body, or "" when the body is not one.
std::string MessageOf(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("message") || !j["message"].is_string()) return "";
  return j["message"].get<std::string>();
}

TEST_F(WebhookTest, AValidEventIsQueued) {
  auto [status, body] = PostSigned(Event(1));
  EXPECT_EQ(status, 202) << body;
  EXPECT_EQ(MessageOf(body), "queued");
  EXPECT_EQ(jobs(), 1u);
}

TEST_F(WebhookTest, APortInUseIsAnErrorNamingTheAddress) {
  const std::string where = "127.0.0.1:" + std::to_string(port());
  auto second = WebhookServer::Start("127.0.0.1", port(), Secret(kHookSecret),
                                     [](CaptureJob) { return true; });
  ASSERT_FALSE(second.ok()) << "a second server bound " << where;
  EXPECT_NE(second.status().message().find(where), std::string::npos) << second.status().ToString();
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status().ToString();
  // The first one still gets every event.
  EXPECT_EQ(PostSigned(Event(1)).first, 202);

  // Nor may it share the emulator's port (`run --webhook-listen` on it).
  testing::TempDir dir;
  testing::WriteFile(dir.File("fixture.json"),
                     std::string(R"({"client_id":"c","access_secret":")") + std::string(32, 's') +
                         R"(","devices":[{"id":"d","type":"wifi"}]})");
  emulator::ServerOptions o;
  o.fixture_path = dir.File("fixture.json");
  auto emu = emulator::Server::Start(o);
  ASSERT_OK_R(emu);
  auto on_emulator = WebhookServer::Start("127.0.0.1", (*emu)->port(), Secret(kHookSecret),
                                          [](CaptureJob) { return true; });
  EXPECT_FALSE(on_emulator.ok());
}

TEST_F(WebhookTest, AStoppedServerFreesItsPort) {
  const int p = port();
  server_->Stop();
  auto again =
      WebhookServer::Start("127.0.0.1", p, Secret(kHookSecret), [](CaptureJob) { return true; });
  ASSERT_OK_R(again);
}

TEST(WebhookStartStop, StopRightAfterStartReturnsEveryTime) {
  // A stop before the accept loop ran used to be lost, and Stop() then joined
  // a thread accepting forever.
  const bool finished = testing::FinishesWithin(
      120,
      [] {
        for (int i = 0; i < 200; ++i) {
          auto s = WebhookServer::Start("127.0.0.1", 0, Secret(kHookSecret),
                                        [](CaptureJob) { return true; });
          if (!s.ok()) {
            ADD_FAILURE() << s.status().ToString();
            return;
          }
          (*s)->Stop();
        }
      },
      [] {});
  EXPECT_TRUE(finished) << "Start+Stop hung";
}

TEST_F(WebhookTest, BodiesTooLargeOrWithoutALengthAreRefusedBeforeTheyAreRead) {
  // Headers only: the answer must come without the body having been sent.
  const std::string chunked = RawExchange(port(),
                                          "POST /events HTTP/1.1\r\nHost: x\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(StatusOf(chunked), 411) << chunked;
  EXPECT_NE(MessageOf(BodyOf(chunked)).find("Content-Length"), std::string::npos) << chunked;

  const std::string no_length = RawExchange(
      port(), "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n");
  EXPECT_EQ(StatusOf(no_length), 411) << no_length;

  const std::string huge = RawExchange(port(),
                                       "POST /events HTTP/1.1\r\nHost: x\r\n"
                                       "Content-Length: 104857600\r\n\r\n");
  EXPECT_EQ(StatusOf(huge), 413) << huge;
  EXPECT_NE(MessageOf(BodyOf(huge)).find("104857600"), std::string::npos) << huge;

  const std::string bad = RawExchange(port(),
                                      "POST /events HTTP/1.1\r\nHost: x\r\n"
                                      "Content-Length: 12abc\r\n\r\n");
  EXPECT_EQ(StatusOf(bad), 400) << bad;

  // A client that asks first is refused before it sends anything.
  const std::string ask = RawExchange(port(),
                                      "POST /events HTTP/1.1\r\nHost: x\r\n"
                                      "Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(StatusOf(ask), 413) << ask;

  // A body sent whole but over 1 MiB, through a normal client. The server
  // answers 413 and closes without reading it, so the client may instead see
  // the connection reset under its still-unsent body (-1): refused either way.
  const auto [status, body] = PostSigned(std::string((1 << 20) + 1, ' '));
  EXPECT_TRUE(status == 413 || status == -1) << status << ": " << body;
  EXPECT_EQ(jobs(), 0u);
  EXPECT_EQ(PostSigned(Event(2)).first, 202);  // still serving
}

TEST_F(WebhookTest, OtherMethodsAndPathsGetAClearAnswer) {
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    const std::string r = RawExchange(
        port(), std::string(method) + " /events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(StatusOf(r), 405) << method << ": " << r;
    EXPECT_NE(HeadOf(r).find("\r\nAllow: POST"), std::string::npos) << r;
    EXPECT_NE(MessageOf(BodyOf(r)), "") << r;
  }
  const std::string unknown = RawExchange(port(), "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(StatusOf(unknown), 404) << unknown;
  EXPECT_NE(MessageOf(BodyOf(unknown)).find("POST /events"), std::string::npos) << unknown;
  // Errors cpp-httplib answers itself carry a body too.
  const std::string garbage = RawExchange(port(), "NONSENSE\r\n\r\n");
  EXPECT_EQ(StatusOf(garbage), 400) << garbage;
  EXPECT_NE(MessageOf(BodyOf(garbage)), "") << garbage;
}

TEST(WebhookEventTest, FileTypeOutsideIntRangeIsRefused) {
  // 2^32 + 1 and 2^32 + 2 used to wrap to 1 (an unlock request) and 2.
  for (const char* ft : {"4294967297", "4294967298", "-4294967295", "3", "0"}) {
    auto job = ParseWebhookEvent(std::string(R"({"device_id":"d","file_type":)") + ft +
                                 R"(,"t":1700000000000})");
    ASSERT_FALSE(job.ok()) << ft;
    EXPECT_NE(job.status().message().find("file_type"), std::string::npos) << ft;
    EXPECT_NE(job.status().message().find(ft), std::string::npos) << job.status().ToString();
  }
  auto unlock = ParseWebhookEvent(R"({"device_id":"d","file_type":1,"t":1700000000000})");
  ASSERT_OK_R(unlock);
  EXPECT_EQ(unlock->kind, MediaKind::kUnlockRequest);
}

TEST_F(WebhookTest, AnOutOfRangeFileTypeIsA400) {
  const auto [status, body] = PostSigned(Event(4294967297));
  EXPECT_EQ(status, 400) << body;
  EXPECT_NE(MessageOf(body).find("file_type"), std::string::npos) << body;
  EXPECT_EQ(jobs(), 0u);
}

TEST_F(WebhookTest, StopDoesNotWaitForClientsStillSending) {
  // One client drips a body, another its headers, a byte every 100 ms for up
  // to 60 s; Stop() must not wait for them.
  testing::Dripper body(port(), 1,
                        "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  testing::Dripper headers(port(), 1, "POST /events HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  ASSERT_EQ(body.connected(), 1);
  ASSERT_EQ(headers.connected(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both are being served
  const bool stopped = testing::FinishesWithin(
      30, [&] { server_->Stop(); },
      [&] {
        body.Stop();
        headers.Stop();
      });
  EXPECT_TRUE(stopped) << "Stop() waited for the slow clients";
}

TEST_F(WebhookTest, SlowClientsDoNotLockOutAValidEvent) {
  // As many dripping clients as the old worker pool had threads.
  testing::Dripper drip(port(), 16,
                        "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  ASSERT_EQ(drip.connected(), 16);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto [status, body] = PostSigned(Event(1));
  EXPECT_EQ(status, 202) << body;
}

}  // namespace
}  // namespace lockpipe
