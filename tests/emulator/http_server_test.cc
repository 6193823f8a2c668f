// The emulator as an HTTP server: owning its port, bodies of any content
// type, bodiless admin POSTs, error bodies, webhook event dates, and a stop
// that does not wait for slow clients.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "emulator/server.h"
#include "tests/emulator/emu_client.h"
#include "tests/raw_http.h"
#include "tests/testutil.h"

namespace lockpipe::emulator {
namespace {

using lockpipe::testing::BodyOf;
using lockpipe::testing::RawExchange;
using lockpipe::testing::StatusOf;
using nlohmann::json;
using testing::Admin;
using testing::ApiReply;

class EmulatorHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.fixture_path = testing::WriteTestFixture(dir_.path());
    auto s = Server::Start(o);
    ASSERT_OK_R(s);
    server_ = std::move(*s);
  }
  lockpipe::testing::TempDir dir_;
  std::unique_ptr<Server> server_;
};

std::string FakeJpeg(std::size_t n) {
  auto b = lockpipe::testing::RandomBytes(n, 7);
  b[0] = 0xFF, b[1] = 0xD8, b[2] = 0xFF, b[3] = 0xE0;
  return std::string(b.begin(), b.end());
}

TEST_F(EmulatorHttpTest, APortInUseIsAnErrorNamingTheAddress) {
  ServerOptions o;
  o.fixture_path = testing::WriteTestFixture(dir_.path());
  o.port = server_->port();
  auto second = Server::Start(o);
  ASSERT_FALSE(second.ok()) << "two emulators on port " << o.port;
  const std::string where = "127.0.0.1:" + std::to_string(o.port);
  EXPECT_NE(second.status().message().find(where), std::string::npos) << second.status().ToString();
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status().ToString();
  EXPECT_EQ(Admin(*server_, "GET", "/_emulator/health").http, 200);
}

TEST_F(EmulatorHttpTest, BodilessAdminPostsWork) {
  // What `curl -X POST URL` sends: no Content-Length, no body.
  for (const char* path :
       {"/_emulator/tokens/expire", "/_emulator/reset", "/_emulator/clock/advance?seconds=1"}) {
    const std::string r =
        RawExchange(server_->port(), std::string("POST ") + path +
                                         " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(StatusOf(r), 200) << path << ": " << r;
    EXPECT_TRUE(json::parse(BodyOf(r), nullptr, false).is_object()) << r;
  }
}

TEST_F(EmulatorHttpTest, CapturesAcceptAnyContentType) {
  const std::string photo = FakeJpeg(100 * 1024);  // over cpp-httplib's 8 KiB form cap
  // curl --data-binary's default content type.
  ApiReply form = Admin(*server_, "POST", "/_emulator/devices/wifi1/captures?kind=unlock", photo,
                        "application/x-www-form-urlencoded");
  ASSERT_EQ(form.http, 200) << form.body;
  EXPECT_EQ(form.json.at("plain_size"), photo.size());

  // curl -F file=@photo.jpg: the part is the capture.
  auto client = testing::MakeClient(*server_);
  httplib::MultipartFormDataItems items = {{"file", photo, "photo.jpg", "image/jpeg"}};
  auto multipart = client->Post("/_emulator/devices/wifi1/captures?kind=alert", items);
  ASSERT_TRUE(multipart);
  ASSERT_EQ(multipart->status, 200) << multipart->body;
  EXPECT_EQ(json::parse(multipart->body).at("plain_size"), photo.size());

  // A chunked body is read too, and the device check still answers.
  const std::string chunked = RawExchange(
      server_->port(),
      "POST /_emulator/devices/nope/captures HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n");
  EXPECT_EQ(StatusOf(chunked), 404) << chunked;
  EXPECT_NE(BodyOf(chunked).find("unknown device"), std::string::npos) << chunked;
}

TEST_F(EmulatorHttpTest, ErrorsCarryABody) {
  const std::string unknown =
      RawExchange(server_->port(), "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(unknown), 404) << unknown;
  json j = json::parse(BodyOf(unknown), nullptr, false);
  ASSERT_TRUE(j.is_object()) << unknown;
  EXPECT_NE(j.value("error", "").find("/nothing"), std::string::npos) << unknown;

  const std::string huge =
      RawExchange(server_->port(),
                  "POST /_emulator/faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  "Content-Length: 999999999999\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(StatusOf(huge), 413) << huge;
  EXPECT_TRUE(json::parse(BodyOf(huge), nullptr, false).is_object()) << huge;
}

TEST(EmulatorHttpWebhookTest, EventsAreDatedOnTheWallClockAfterAClockAdvance) {
  httplib::Server receiver;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  receiver.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(mu);
      got.push_back(req.body);
    }
    cv.notify_all();
    res.set_content("ok", "text/plain");
  });
  const int port = receiver.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { receiver.listen_after_bind(); });
  for (int i = 0; i < 5000 && !receiver.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));

  lockpipe::testing::TempDir dir;
  ServerOptions o;
  o.fixture_path = testing::WriteTestFixture(dir.path());
  o.webhook_url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  o.webhook_secret = Secret("hook-secret");
  auto s = Server::Start(o);
  ASSERT_OK_R(s);
  ASSERT_EQ(Admin(**s, "POST", "/_emulator/clock/advance?seconds=86400").http, 200);
  ApiReply cap = Admin(**s, "POST", "/_emulator/devices/wifi1/captures?kind=unlock", FakeJpeg(100),
                       "application/octet-stream");
  ASSERT_EQ(cap.http, 200) << cap.body;
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return !got.empty(); });
  }
  (*s)->Stop();
  receiver.stop();
  t.join();
  ASSERT_EQ(got.size(), 1u);
  const std::int64_t event_t = json::parse(got[0]).at("t").get<std::int64_t>();
  // The capture itself lives on the emulated clock, a day ahead.
  EXPECT_GT(cap.json.at("t").get<std::int64_t>() - event_t, 86'000'000);
  // The event is within the receiver's replay window of the wall clock.
  EXPECT_LT(std::abs(event_t - NowMs()), 300'000) << got[0];
}

TEST_F(EmulatorHttpTest, StopDoesNotWaitForClientsStillSending) {
  lockpipe::testing::Dripper drip(server_->port(), 2,
                                  "POST /_emulator/devices/wifi1/captures HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Length: 100000\r\n\r\n");
  ASSERT_EQ(drip.connected(), 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both are being served
  const bool stopped = lockpipe::testing::FinishesWithin(
      30, [&] { server_->Stop(); }, [&] { drip.Stop(); });
  EXPECT_TRUE(stopped) << "Stop() waited for the slow clients";
}

}  // namespace
}  // namespace lockpipe::emulator
