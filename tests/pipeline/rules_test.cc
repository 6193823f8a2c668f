// The rule engine: first match wins, no match escalates, each condition
// matches and mismatches, and the safety net (stale, failed analysis, unknown
// device, rate limit) holds whatever the rules say.
#include "pipeline/rules.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

using std::chrono::sys_days;
using Clock = std::chrono::system_clock;
using namespace std::chrono_literals;

Clock::time_point Utc(int y, unsigned m, unsigned d, int hh, int mm, int ss = 0) {
  return sys_days(std::chrono::year(y) / std::chrono::month(m) / std::chrono::day(d)) +
         std::chrono::hours(hh) + std::chrono::minutes(mm) + std::chrono::seconds(ss);
}

bool HaveBerlin() { return lockpipe::testing::FileExists("/usr/share/zoneinfo/Europe/Berlin"); }

constexpr const char* kBase = R"(
[detector]
kind = "yunet"
model = "m.onnx"

[[devices]]
id = "front"
type = "wifi_video"
name = "Front door"
groups = ["home"]

[[devices]]
id = "gate"
type = "wifi_all_in_one"
groups = ["home", "outside"]

[[devices]]
id = "office"
type = "wifi_access_control"
channel = 2
groups = ["work"]
)";

RuleEngine MakeEngine(const std::string& extra) {
  auto c = ParseConfig(std::string(kBase) + extra, "rules.toml");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return RuleEngine(c.ok() ? std::move(c).value() : Config{});
}

// A fresh unlock request from the front door with one clear face, at
// 2026-07-15 12:00:00 UTC (14:00 in Berlin), 5 s old.
Evidence Good() {
  Evidence e;
  e.device_id = "front";
  e.kind = MediaKind::kUnlockRequest;
  e.captured_at = Utc(2026, 7, 15, 12, 0);
  e.now = e.captured_at + 5s;
  e.analysis_ok = true;
  e.faces = {{0.95f, 120, 140}};
  return e;
}

std::string Rule(const std::string& name, const std::string& action, const std::string& body) {
  return "\n[[rules]]\nname = \"" + name + "\"\naction = \"" + action + "\"\n" + body + "\n";
}

TEST(CaptureTime, AnyMillisecondCountIsATimeAndOnlyNowIsFresh) {
  // Capture times come from outside (batch lines, webhooks): the conversion
  // must not overflow the clock (UBSan would stop here), and what it gives for
  // the absurd is never a fresh capture.
  const auto now = std::chrono::system_clock::now();
  EXPECT_FALSE(CaptureIsStale(FromMs(NowMs()), now, 90));
  for (std::int64_t ms :
       {std::numeric_limits<std::int64_t>::max(), std::int64_t{10000000000000},
        std::int64_t{-10000000000000}, std::numeric_limits<std::int64_t>::min(), std::int64_t{0}}) {
    EXPECT_TRUE(CaptureIsStale(FromMs(ms), now, 90)) << ms;
  }
  EXPECT_GT(FromMs(std::numeric_limits<std::int64_t>::max()), now);
  EXPECT_EQ(FromMs(-1), FromMs(0));  // before the epoch: time unknown
  // Whatever the time point, the comparison cannot overflow.
  EXPECT_TRUE(CaptureIsStale(Clock::time_point::min() + std::chrono::hours(1), now, 90));
  EXPECT_TRUE(CaptureIsStale(Clock::time_point::max() - std::chrono::hours(1), now, 90));
  // The window is 90 s, to the millisecond: 90.001 s is past it.
  EXPECT_FALSE(CaptureIsStale(now - std::chrono::seconds(90), now, 90));
  EXPECT_TRUE(CaptureIsStale(now - std::chrono::milliseconds(90001), now, 90));
  EXPECT_TRUE(CaptureIsStale(now - std::chrono::milliseconds(90999), now, 90));
}

TEST(RulesTest, NoRulesEscalates) {
  RuleEngine engine = MakeEngine("");
  const Decision d = engine.Decide(Good());
  EXPECT_EQ(d.verdict, Verdict::kEscalate);
  EXPECT_EQ(d.rule, "");
  EXPECT_EQ(d.reason,
            "no rule matched: escalated (unlock request from Front door, 1 face (score 0.95, "
            "120x140 px), 5 s old)");
}

TEST(RulesTest, FirstMatchWins) {
  RuleEngine engine = MakeEngine(Rule("first", "reject", "kind = \"unlock\"") +
                                 Rule("second", "approve", "kind = \"unlock\""));
  const Decision d = engine.Decide(Good());
  EXPECT_EQ(d.verdict, Verdict::kReject);
  EXPECT_EQ(d.rule, "first");
  EXPECT_EQ(d.reason,
            "rule 'first' matched: unlock request from Front door, 1 face (score 0.95, 120x140 "
            "px), 5 s old: rejected");
  RuleEngine other =
      MakeEngine(Rule("a", "reject", "kind = \"alert\"") +
                 Rule("b", "approve", "kind = \"unlock\"") + Rule("c", "reject", ""));
  const Decision d2 = other.Decide(Good());
  EXPECT_EQ(d2.verdict, Verdict::kApprove);
  EXPECT_EQ(d2.rule, "b");
}

// Each condition: a rule "x" that approves with only that condition; the
// evidence is changed so that the condition fails and nothing else.
struct ConditionCase {
  const char* what;
  const char* body;
  void (*mismatch)(Evidence&);
};

TEST(RulesTest, EachConditionMatchesAndMismatches) {
  const std::vector<ConditionCase> cases = {
      {"kind", "kind = \"unlock\"", [](Evidence& e) { e.kind = MediaKind::kAlert; }},
      {"kind alert", "kind = \"alert\"", nullptr},
      {"device", "devices = [\"front\"]", [](Evidence& e) { e.device_id = "gate"; }},
      {"group", "groups = [\"home\"]", [](Evidence& e) { e.device_id = "office"; }},
      {"faces min", "faces = { min = 1 }", [](Evidence& e) { e.faces.clear(); }},
      {"faces max", "faces = { max = 1 }",
       [](Evidence& e) {
         e.faces.push_back({0.99f, 100, 100});
       }},
      {"min score", "min_face_score = 0.9", [](Evidence& e) { e.faces[0].score = 0.89f; }},
      {"min score, no score", "min_face_score = 0.1", [](Evidence& e) { e.faces[0].score = -1; }},
      {"min score, every face", "min_face_score = 0.9",
       [](Evidence& e) {
         e.faces.push_back({0.5f, 100, 100});
       }},
      {"min score, no face", "min_face_score = 0.9", [](Evidence& e) { e.faces.clear(); }},
      {"min size", "min_face_size = 120", [](Evidence& e) { e.faces[0].height = 119; }},
      {"min size, no face", "min_face_size = 10", [](Evidence& e) { e.faces.clear(); }},
      {"analysis ok", "analysis = \"ok\"",
       [](Evidence& e) {
         e.analysis_ok = false;
         e.faces.clear();
       }},
      {"max age", "max_age_seconds = 5", [](Evidence& e) { e.now += 1s; }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    RuleEngine engine = MakeEngine(Rule("x", "reject", c.body));
    Evidence e = Good();
    if (std::string(c.what) == "kind alert") {
      EXPECT_EQ(engine.Decide(e).rule, "");
      e.kind = MediaKind::kAlert;
      EXPECT_EQ(engine.Decide(e).rule, "x");
      continue;
    }
    const Decision hit = engine.Decide(e);
    EXPECT_EQ(hit.verdict, Verdict::kReject);
    EXPECT_EQ(hit.rule, "x");
    c.mismatch(e);
    const Decision miss = engine.Decide(e);
    EXPECT_EQ(miss.verdict, Verdict::kEscalate);
    EXPECT_EQ(miss.rule, "");
  }
}

TEST(RulesTest, FaceCountRangeBounds) {
  RuleEngine engine = MakeEngine(Rule("two or three", "reject", "faces = { min = 2, max = 3 }"));
  for (int n = 0; n <= 4; ++n) {
    Evidence e = Good();
    e.faces.assign(static_cast<std::size_t>(n), FaceObservation{0.9f, 80, 80});
    EXPECT_EQ(engine.Decide(e).rule, (n >= 2 && n <= 3) ? "two or three" : "") << n;
  }
  // No face, counted when analysis worked; unknown (not zero) when it failed.
  RuleEngine none = MakeEngine(Rule("nobody", "reject", "faces = { max = 0 }"));
  Evidence e = Good();
  e.faces.clear();
  EXPECT_EQ(none.Decide(e).verdict, Verdict::kReject);
  e.analysis_ok = false;
  EXPECT_EQ(none.Decide(e).verdict, Verdict::kEscalate);
}

TEST(RulesTest, AnalysisFailedCondition) {
  RuleEngine engine = MakeEngine(Rule("broken", "reject", "analysis = \"failed\""));
  Evidence e = Good();
  EXPECT_EQ(engine.Decide(e).rule, "");
  e.analysis_ok = false;
  e.faces.clear();
  EXPECT_EQ(engine.Decide(e).verdict, Verdict::kReject);
}

TEST(RulesTest, DeviceOrGroup) {
  RuleEngine engine =
      MakeEngine(Rule("x", "reject", "devices = [\"office\"]\ngroups = [\"outside\"]"));
  Evidence e = Good();
  EXPECT_EQ(engine.Decide(e).rule, "");  // front: neither listed nor in "outside"
  e.device_id = "office";
  EXPECT_EQ(engine.Decide(e).rule, "x");
  e.device_id = "gate";
  EXPECT_EQ(engine.Decide(e).rule, "x");
}

TEST(RulesTest, TimeWindowInBerlinWithDst) {
  if (!HaveBerlin()) GTEST_SKIP() << "no tz database in /usr/share/zoneinfo";
  RuleEngine engine = MakeEngine(Rule(
      "day", "approve", "time = { from = \"07:00\", to = \"22:00\", zone = \"Europe/Berlin\" }"));
  struct Case {
    Clock::time_point at;
    bool in;
  } cases[] = {
      {Utc(2026, 7, 15, 4, 59, 59), false},  // 06:59:59 CEST
      {Utc(2026, 7, 15, 5, 0), true},        // 07:00 CEST
      {Utc(2026, 7, 15, 19, 59, 59), true},  // 21:59:59 CEST
      {Utc(2026, 7, 15, 20, 0), false},      // 22:00 CEST
      {Utc(2026, 1, 15, 5, 30), false},      // 06:30 CET (07:30 if DST were ignored)
      {Utc(2026, 1, 15, 6, 0), true},        // 07:00 CET
      {Utc(2026, 1, 15, 20, 30), true},      // 21:30 CET (22:30 if DST were applied)
      {Utc(2026, 1, 15, 21, 0), false},      // 22:00 CET
  };
  for (const auto& c : cases) {
    Evidence e = Good();
    e.captured_at = c.at;
    e.now = c.at + 1s;
    const Decision d = engine.Decide(e);
    EXPECT_EQ(d.verdict, c.in ? Verdict::kApprove : Verdict::kEscalate)
        << Clock::to_time_t(c.at) << ": " << d.reason;
  }
  Evidence e = Good();  // 14:00 Berlin
  EXPECT_EQ(engine.Decide(e).reason,
            "rule 'day' matched: unlock request from Front door, 1 face (score 0.95, 120x140 "
            "px), 5 s old, at 14:00 Europe/Berlin: approved");
}

TEST(RulesTest, TimeWindowCrossingMidnight) {
  if (!HaveBerlin()) GTEST_SKIP() << "no tz database in /usr/share/zoneinfo";
  RuleEngine engine = MakeEngine(Rule(
      "night", "reject", "time = { from = \"23:00\", to = \"05:00\", zone = \"Europe/Berlin\" }"));
  struct Case {
    Clock::time_point at;
    bool in;
  } cases[] = {
      {Utc(2026, 7, 15, 20, 59), false},  // 22:59 CEST
      {Utc(2026, 7, 15, 21, 0), true},    // 23:00
      {Utc(2026, 7, 15, 22, 30), true},   // 00:30 next day
      {Utc(2026, 7, 16, 2, 59), true},    // 04:59
      {Utc(2026, 7, 16, 3, 0), false},    // 05:00
      {Utc(2026, 7, 16, 10, 0), false},   // noon
  };
  for (const auto& c : cases) {
    Evidence e = Good();
    e.captured_at = c.at;
    e.now = c.at + 1s;
    EXPECT_EQ(engine.Decide(e).rule, c.in ? "night" : "") << Clock::to_time_t(c.at);
  }
}

TEST(RulesTest, StaleIsNeverApproved) {
  RuleEngine engine = MakeEngine(Rule("always", "approve", ""));
  Evidence e = Good();
  e.now = e.captured_at + 90s;
  EXPECT_EQ(engine.Decide(e).verdict, Verdict::kApprove);  // at the limit
  e.now = e.captured_at + 91s;
  Decision d = engine.Decide(e);
  EXPECT_EQ(d.verdict, Verdict::kReject);
  EXPECT_EQ(d.rule, "always");
  EXPECT_EQ(d.reason,
            "capture is 91 s old (limit 90 s): never approved; rule 'always' would "
            "approve: rejected");
  e.now = e.captured_at + 90s + 400ms;  // past the limit, though "90 s" in whole seconds
  EXPECT_EQ(engine.Decide(e).reason.rfind("capture is 90.4 s old (limit 90 s): never approved", 0),
            0u);
  e.now = e.captured_at + 140s;
  EXPECT_EQ(engine.Decide(e).reason.rfind("capture is 140 s old (limit 90 s): never approved", 0),
            0u);
  // Unknown capture time (epoch) is stale, not fresh.
  Evidence unknown = Good();
  unknown.captured_at = Clock::time_point{};
  EXPECT_EQ(engine.Decide(unknown).verdict, Verdict::kReject);
  // Far in the future: clocks disagree; a little ahead is tolerated.
  Evidence future = Good();
  future.captured_at = future.now + 31s;
  d = engine.Decide(future);
  EXPECT_EQ(d.verdict, Verdict::kReject);
  EXPECT_EQ(d.reason,
            "capture is dated 31 s in the future (clock skew): never approved; rule "
            "'always' would approve: rejected");
  future.captured_at = future.now + 30s;
  EXPECT_EQ(engine.Decide(future).verdict, Verdict::kApprove);

  // A tighter configured limit.
  RuleEngine tight =
      MakeEngine("[safety]\nmax_capture_age_seconds = 30\n" + Rule("always", "approve", ""));
  e.now = e.captured_at + 31s;
  EXPECT_EQ(tight.Decide(e).verdict, Verdict::kReject);
  // A stale capture that a rule rejects or escalates keeps that verdict.
  RuleEngine esc = MakeEngine(Rule("ask", "escalate", ""));
  EXPECT_EQ(esc.Decide(e).verdict, Verdict::kEscalate);
}

TEST(RulesTest, FailedAnalysisIsNeverApproved) {
  Evidence e = Good();
  e.analysis_ok = false;
  e.analysis_error = "decode failed: Invalid data found when processing input";
  e.faces.clear();
  RuleEngine engine = MakeEngine(Rule("always", "approve", ""));
  Decision d = engine.Decide(e);
  EXPECT_EQ(d.verdict, Verdict::kEscalate);
  EXPECT_EQ(d.rule, "always");
  EXPECT_EQ(d.reason,
            "analysis failed (decode failed: Invalid data found when processing input): never "
            "approved; rule 'always' would approve: escalated");
  RuleEngine strict =
      MakeEngine("[safety]\non_error = \"reject\"\n" + Rule("always", "approve", ""));
  EXPECT_EQ(strict.Decide(e).verdict, Verdict::kReject);
  // Even faces left in the evidence by a half-done analysis do not count.
  e.faces = {{0.99f, 200, 200}};
  EXPECT_EQ(strict.Decide(e).verdict, Verdict::kReject);
}

TEST(RulesTest, AlertIsNeverApproved) {
  RuleEngine engine = MakeEngine(Rule("always", "approve", ""));
  Evidence e = Good();
  e.kind = MediaKind::kAlert;
  const Decision d = engine.Decide(e);
  EXPECT_EQ(d.verdict, Verdict::kEscalate);
  EXPECT_EQ(d.rule, "always");
  EXPECT_EQ(d.reason,
            "an alert is never approved; rule 'always' would approve (alert from Front door, 1 "
            "face (score 0.95, 120x140 px), 5 s old): escalated");
  // A rule that rejects alerts still does.
  RuleEngine rej = MakeEngine(Rule("alarm", "reject", "kind = \"alert\""));
  EXPECT_EQ(rej.Decide(e).verdict, Verdict::kReject);
}

TEST(RulesTest, UnknownDeviceIsNeverApproved) {
  RuleEngine engine = MakeEngine(Rule("always", "approve", ""));
  Evidence e = Good();
  e.device_id = "stranger";
  const Decision d = engine.Decide(e);
  EXPECT_EQ(d.verdict, Verdict::kEscalate);
  EXPECT_EQ(d.reason,
            "device stranger is not in the config: never approved; rule 'always' would approve "
            "(unlock request from stranger, 1 face (score 0.95, 120x140 px), 5 s old): "
            "escalated");
}

TEST(RulesTest, OnErrorIsNeverApprove) {
  RuleEngine engine = MakeEngine("");
  const Decision d = engine.DecideForError("front", IoError("fetching media for front: HTTP 500"));
  EXPECT_EQ(d.verdict, Verdict::kEscalate);
  EXPECT_EQ(d.rule, "");
  EXPECT_EQ(d.reason,
            "error before the decision for Front door: fetching media for front: HTTP 500: "
            "escalated");
  RuleEngine strict = MakeEngine("[safety]\non_error = \"reject\"\n");
  EXPECT_EQ(strict.DecideForError("nope", Corrupt("bad padding")).verdict, Verdict::kReject);
  // A Config built in code with on_error = approve is still held to it.
  Config c;
  c.safety.on_error = Verdict::kApprove;
  RuleEngine forced(c);
  EXPECT_EQ(forced.DecideForError("x", Corrupt("bad")).verdict, Verdict::kEscalate);
  Evidence e = Good();
  e.analysis_ok = false;
  c.devices.push_back(DeviceConfig{});
  c.devices.back().id = "front";
  c.rules.push_back(RuleConfig{});
  c.rules.back().action = Verdict::kApprove;
  c.rules.back().name = "always";
  RuleEngine forced2(c);
  EXPECT_EQ(forced2.Decide(e).verdict, Verdict::kEscalate);
}

TEST(RulesTest, RateLimitSlidingWindow) {
  RuleEngine engine =
      MakeEngine(Rule("family", "approve", "rate_limit = { count = 3, per_seconds = 3600 }"));
  const Clock::time_point t0 = Utc(2026, 7, 15, 12, 0);
  auto at = [&](Clock::duration offset, const std::string& device = "front") {
    Evidence e = Good();
    e.device_id = device;
    e.captured_at = t0 + offset;
    e.now = e.captured_at + 1s;
    return engine.Decide(e);
  };
  EXPECT_EQ(at(0s).verdict, Verdict::kApprove);
  EXPECT_EQ(at(10min).verdict, Verdict::kApprove);
  EXPECT_EQ(at(20min).verdict, Verdict::kApprove);
  const Decision fourth = at(30min);
  EXPECT_EQ(fourth.verdict, Verdict::kEscalate);
  EXPECT_EQ(fourth.rule, "family");
  EXPECT_EQ(fourth.reason,
            "rule 'family' matched: unlock request from Front door, 1 face (score 0.95, 120x140 "
            "px), 1 s old; but Front door already had 3 approvals in the last 3600 s (limit 3): "
            "escalated");
  // Another device has its own count.
  EXPECT_EQ(at(30min, "gate").verdict, Verdict::kApprove);
  // The first approval (at t0 + 1 s) counts for exactly 3600 s.
  EXPECT_EQ(at(60min - 1s).verdict, Verdict::kEscalate);
  EXPECT_EQ(at(60min).verdict, Verdict::kApprove);
  EXPECT_EQ(at(60min + 1s).verdict, Verdict::kEscalate);
  // Escalations are not approvals: after the window, three more fit.
  EXPECT_EQ(at(200min).verdict, Verdict::kApprove);
  EXPECT_EQ(at(201min).verdict, Verdict::kApprove);
  EXPECT_EQ(at(202min).verdict, Verdict::kApprove);
  EXPECT_EQ(at(203min).verdict, Verdict::kEscalate);
}

TEST(RulesTest, RateLimitCountsApprovalsOfEveryRule) {
  // "vip" has no limit but its approvals count against "family"'s.
  RuleEngine engine =
      MakeEngine(Rule("vip", "approve", "faces = { min = 2 }") +
                 Rule("family", "approve", "rate_limit = { count = 2, per_seconds = 600 }"));
  Evidence two = Good();
  two.faces.push_back({0.97f, 100, 100});
  EXPECT_EQ(engine.Decide(two).rule, "vip");
  EXPECT_EQ(engine.Decide(two).verdict, Verdict::kApprove);
  EXPECT_EQ(engine.Decide(Good()).verdict, Verdict::kEscalate);
}

TEST(RulesTest, RateLimitRemembersWhatTheCounterRemembers) {
  // A fresh engine (a restart) is told of earlier approvals by the journal.
  RuleEngine engine =
      MakeEngine(Rule("family", "approve", "rate_limit = { count = 2, per_seconds = 600 }"));
  std::int64_t remembered = 2;
  Clock::time_point asked_since{};
  engine.SetApprovalCounter(
      [&](const std::string& device, Clock::time_point since) -> Result<std::int64_t> {
        asked_since = since;
        return device == "front" ? remembered : 0;
      });
  Evidence e = Good();
  Decision d = engine.Decide(e);
  EXPECT_EQ(d.verdict, Verdict::kEscalate);
  EXPECT_NE(d.reason.find("already had 2 approvals in the last 600 s"), std::string::npos)
      << d.reason;
  EXPECT_EQ(asked_since, e.now - 600s);
  e.device_id = "gate";
  EXPECT_EQ(engine.Decide(e).verdict, Verdict::kApprove);
  // The larger of the two counts: the engine's own approvals count too.
  remembered = 0;
  e.device_id = "front";
  EXPECT_EQ(engine.Decide(e).verdict, Verdict::kApprove);
  EXPECT_EQ(engine.Decide(e).verdict, Verdict::kApprove);
  EXPECT_EQ(engine.Decide(e).verdict, Verdict::kEscalate);
  // A counter that fails counts as the limit reached: escalate, never approve.
  RuleEngine failing =
      MakeEngine(Rule("family", "approve", "rate_limit = { count = 5, per_seconds = 600 }"));
  failing.SetApprovalCounter([](const std::string&, Clock::time_point) -> Result<std::int64_t> {
    return IoError("journal: database is locked");
  });
  EXPECT_EQ(failing.Decide(Good()).verdict, Verdict::kEscalate);
}

TEST(RulesTest, ConcurrentDecideKeepsRateLimitExact) {
  RuleEngine engine =
      MakeEngine(Rule("family", "approve", "rate_limit = { count = 25, per_seconds = 3600 }"));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::atomic<int> approved{0}, escalated{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Evidence e = Good();
        e.device_id = (i % 2 == 0) ? "front" : "gate";
        e.now = e.captured_at + std::chrono::milliseconds(t * kPerThread + i);
        const Decision d = engine.Decide(e);
        (d.verdict == Verdict::kApprove ? approved : escalated).fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(approved.load(), 50);  // 25 per device, exactly
  EXPECT_EQ(escalated.load(), kThreads * kPerThread - 50);
}

}  // namespace
}  // namespace lockpipe
