// The whole program against the real emulator over loopback: the door opens
// but the door call's answer is cut in half (400 ms of latency leave time to
// inject the fault between the ticket and the door call). The outcome must be
// "unknown" everywhere a person looks, and the call never made again.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "pipeline/journal.h"
#include "tests/pipeline/one_lock_e2e.h"

namespace lockpipe {
namespace {

using nlohmann::json;
using testing::RunShell;
using testing::ShellQuote;

class DoorOutcomeE2E : public testing::OneLockE2E {
 protected:
  void SetUp() override {
    StartWithRule(
        "name = \"a face\"\naction = \"approve\"\nkind = \"unlock\"\nfaces = { min = 1 }\n");
  }

  std::string Run(const std::string& args) { return RunCommand("j.db", args); }
  std::string JournalCmd(const std::string& args) {
    return ShellQuote(testing::LockpipeBinary()) + " journal --db " +
           ShellQuote(dir_.File("j.db")) + " " + args;
  }
};

TEST_F(DoorOutcomeE2E, TheDoorOpenedButItsAnswerWasLost) {
  InjectUnlock("astronaut.jpg");
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
