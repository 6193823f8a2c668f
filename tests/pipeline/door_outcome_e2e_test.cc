// The whole program against the real emulator over loopback: the door opens
// but the door call's answer is cut in half (400 ms of latency leave time to
// inject the fault between the ticket and the door call). The outcome must be
// "unknown" everywhere a person looks, and the call never made again.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "emulator/server.h"
#include "fetch/http_client.h"
#include "pipeline/journal.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

using nlohmann::json;
using testing::RunShell;
using testing::ShellQuote;
using testing::TempDir;

const char kClientId[] = "door-outcome-client";
const char kSecret[] = "door-outcome-secret-0123456789ab";  // 32 characters

class DoorOutcomeE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    json fixture = {{"client_id", kClientId},
                    {"access_secret", kSecret},
                    {"devices", {{{"id", "gate"}, {"type", "bluetooth"}}}}};
    testing::WriteFile(dir_.File("fixture.json"), fixture.dump());
    emulator::ServerOptions o;
    o.fixture_path = dir_.File("fixture.json");
    auto s = emulator::Server::Start(o);
    ASSERT_OK_R(s);
    server_ = std::move(s).value();
    testing::WriteFile(dir_.File("rules.toml"), "[cloud]\nendpoint = \"" + server_->base_url() +
                                                    "\"\ncredentials = \"env\"\n"
                                                    "[detector]\nkind = \"cascade\"\n"
                                                    "[outputs]\ndir = \"" +
                                                    dir_.File("out") +
                                                    "\"\n"
                                                    "[[devices]]\nid = \"gate\"\n"
                                                    "type = \"bluetooth\"\n"
                                                    "[[rules]]\nname = \"a face\"\n"
                                                    "action = \"approve\"\nkind = \"unlock\"\n"
                                                    "faces = { min = 1 }\n");
  }

  json Admin(const std::string& method, const std::string& path, const std::string& body = "",
             const std::string& type = "application/json") {
    auto http = CurlHttpClient::Create(CurlOptions{});
    EXPECT_TRUE(http.ok());
    if (!http.ok()) return {};
    HttpRequest req;
    req.method = method;
    req.url = server_->base_url() + path;
    req.body = body;
    req.headers = {{"Content-Type", type}};
    auto res = (*http)->Send(req);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    if (!res.ok()) return {};
    return json::parse(res->body, nullptr, false);
  }

  std::string Run(const std::string& args) {
    return std::string("TUYA_CLIENT_ID=") + kClientId + " TUYA_CLIENT_SECRET=" + kSecret + " " +
           ShellQuote(testing::LockpipeBinary()) + " run -c " +
           ShellQuote(dir_.File("rules.toml")) + " --journal " + ShellQuote(dir_.File("j.db")) +
           " " + args;
  }
  std::string JournalCmd(const std::string& args) {
    return ShellQuote(testing::LockpipeBinary()) + " journal --db " +
           ShellQuote(dir_.File("j.db")) + " " + args;
  }

  TempDir dir_;
  std::unique_ptr<emulator::Server> server_;
};

TEST_F(DoorOutcomeE2E, TheDoorOpenedButItsAnswerWasLost) {
  auto bytes = testing::ReadFile(testing::SourceDir() + "/samples/media/astronaut.jpg");
  Admin("POST", "/_emulator/devices/gate/captures?kind=unlock",
        std::string(bytes.begin(), bytes.end()), "application/octet-stream");
  // 400 ms per call: once the ticket call is counted, its answer and then the
  // door call's own 400 ms are still ahead, time enough to cut the door
  // call's answer in half.
  Admin("POST", "/_emulator/faults", R"({"latency_ms": 400})");
  testing::CommandResult run;
  std::thread runner([&] { run = RunShell(Run("--once --no-alerts --json")); });
  bool armed = false;
  for (int i = 0; i < 3000 && !armed; ++i) {
    json stats = Admin("GET", "/_emulator/stats");
    if (stats.is_object() && stats["calls"].value("password-ticket", 0) >= 1) {
      Admin("POST", "/_emulator/faults", R"({"malformed_next": 1})");
      armed = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  runner.join();
  ASSERT_TRUE(armed) << run.err;
  Admin("POST", "/_emulator/faults", R"({"latency_ms": 0})");

  // The door opened.
  json dev = Admin("GET", "/_emulator/devices/gate");
  EXPECT_EQ(dev["state"], "unlocked");
  ASSERT_EQ(dev["audit"].size(), 1u) << dev.dump();
  EXPECT_EQ(dev["audit"][0]["outcome"], "unlocked");
  EXPECT_EQ(Admin("GET", "/_emulator/faults")["malformed_next"], 0);  // the door call took it

  // The program says the outcome is unknown, not failed.
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("0 lock call(s) ok, 0 failed, 1 unknown"), std::string::npos) << run.err;

  // The journal: "unknown", listed by `journal unknown`, shown by `journal show`.
  auto j = Journal::Open(dir_.File("j.db"), Journal::Mode::kReadOnly);
  ASSERT_OK_R(j);
  auto events = (*j)->ListEvents();
  ASSERT_OK_R(events);
  ASSERT_EQ(events->size(), 1u);
  ASSERT_EQ((*events)[0].actions.size(), 1u);
  EXPECT_EQ((*events)[0].actions[0].outcome, "unknown");
  EXPECT_NE((*events)[0].actions[0].detail.find("malformed JSON answer"), std::string::npos);
  auto list = RunShell(JournalCmd("list"));
  EXPECT_NE(list.out.find("approve:unknown"), std::string::npos) << list.out;
  auto unknown = RunShell(JournalCmd("unknown"));
  EXPECT_EQ(unknown.exit_code, 0);
  EXPECT_NE(unknown.out.find("password-free/open-door"), std::string::npos) << unknown.out;
  EXPECT_EQ(unknown.out.find("no actions with an unknown outcome"), std::string::npos);
  auto shown = RunShell(JournalCmd("show " + std::to_string((*events)[0].id)));
  EXPECT_NE(shown.out.find("outcome: unknown"), std::string::npos) << shown.out;

  // run --json: the capture's action and the summary say so too.
  std::vector<json> lines;
  for (std::size_t at = 0, nl; (nl = run.out.find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(json::parse(run.out.substr(at, nl - at), nullptr, false));
  EXPECT_EQ(lines.size(), 2u) << run.out;  // the capture, then the summary
  if (lines.size() == 2) {
    EXPECT_EQ(lines[0]["verdict"], "approve") << run.out;
    EXPECT_EQ(lines[0]["action"]["outcome"], "unknown") << run.out;
    EXPECT_EQ(lines[0]["action"]["ok"], false);
    EXPECT_EQ(lines[1]["summary"]["lock_calls_unknown"], 1) << run.out;
    EXPECT_EQ(lines[1]["summary"]["lock_calls_failed"], 0) << run.out;
  }

  // A second run sends nothing again.
  auto again = RunShell(Run("--once --no-alerts"));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("1 already seen"), std::string::npos) << again.err;
  EXPECT_EQ(Admin("GET", "/_emulator/devices/gate")["audit"].size(), 1u);
  events = (*j)->ListEvents();
  ASSERT_OK_R(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].actions.size(), 1u);
}

}  // namespace
}  // namespace lockpipe
