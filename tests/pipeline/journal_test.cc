#include "pipeline/journal.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil.h"

namespace lockpipe {
namespace {

using ::lockpipe::testing::LockpipeBinary;
using ::lockpipe::testing::RunShell;
using ::lockpipe::testing::ShellQuote;
using ::lockpipe::testing::TempDir;
using ::lockpipe::testing::WriteFile;

EventRecord Event(const std::string& key, const std::string& device = "dev1") {
  EventRecord e;
  e.capture_key = key;
  e.device_id = device;
  e.kind = "unlock";
  e.source = "poll";
  e.media_ref = "/media/" + key + ".jpg";
  e.captured_at_ms = 1700000000000;
  e.received_at_ms = 1700000000500;
  return e;
}

DecisionRecord Decision(const std::string& verdict, bool dry_run = false) {
  return DecisionRecord{verdict, "rule-" + verdict, "because", dry_run, 1700000001000};
}

// An intent with the endpoint its action calls: an approval opens the door, a
// refusal revokes the request.
ActionIntent Intent(const std::string& action, const std::string& device = "dev1") {
  return ActionIntent{action,
                      action == "reject"
                          ? "PUT /v1.0/devices/{device_id}/door-lock/password-free/open-door/cancel"
                          : "POST /v1.1/devices/{device_id}/door-lock/password-free/open-door",
                      device, 1700000002000};
}

std::unique_ptr<Journal> MustOpen(const std::string& path) {
  auto j = Journal::Open(path);
  EXPECT_TRUE(j.ok()) << j.status().ToString();
  return j.ok() ? std::move(*j) : nullptr;
}

std::int64_t MustBegin(Journal& j, const EventRecord& e) {
  auto id = j.BeginEvent(e);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_TRUE(id.ok() && id->has_value());
  return id.ok() && id->has_value() ? **id : -1;
}

TEST(JournalTest, CreatesSchemaInWalMode) {
  TempDir dir;
  auto j = MustOpen(dir.File("j.db"));
  ASSERT_NE(j, nullptr);
  auto mode = j->JournalMode();
  ASSERT_OK_R(mode);
  EXPECT_EQ(*mode, "wal");
  auto version = j->SchemaVersion();
  ASSERT_OK_R(version);
  EXPECT_EQ(*version, Journal::kSchemaVersion);
  j.reset();

  // Seen from outside with the plain C API: the marker, the tables, the version row.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir.File("j.db").c_str(), &raw, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, &sqlite3_close_v2);
  auto query = [&](const char* sql) {
    std::string out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db.get(), sql, -1, &st, nullptr), SQLITE_OK) << sql;
    while (sqlite3_step(st) == SQLITE_ROW) {
      if (!out.empty()) out += ",";
      const unsigned char* t = sqlite3_column_text(st, 0);
      out += t != nullptr ? reinterpret_cast<const char*>(t) : "NULL";
    }
    sqlite3_finalize(st);
    return out;
  };
  EXPECT_EQ(query("PRAGMA application_id"), std::to_string(Journal::kApplicationId));
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name"),
            "actions,analyses,decisions,events,resolutions,schema_version");
  EXPECT_EQ(query("SELECT version FROM schema_version"), "1,2");
}

TEST(JournalTest, ReopenKeepsSchemaAndData) {
  TempDir dir;
  const std::string path = dir.File("j.db");
  std::int64_t id = 0;
  {
    auto j = MustOpen(path);
    ASSERT_NE(j, nullptr);
    id = MustBegin(*j, Event("a"));
  }
  auto j = MustOpen(path);
  ASSERT_NE(j, nullptr);
  auto e = j->GetEvent(id);
  ASSERT_OK_R(e);
  EXPECT_EQ(e->event.capture_key, "a");
  EXPECT_EQ(e->event.media_ref, "/media/a.jpg");
  EXPECT_EQ(e->event.captured_at_ms, 1700000000000);
  EXPECT_FALSE(e->decision.has_value());
}

TEST(JournalTest, BeginEventIsIdempotentAcrossReopen) {
  TempDir dir;
  const std::string path = dir.File("j.db");
  {
    auto j = MustOpen(path);
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(MustBegin(*j, Event("cap-1")), 1);
    auto again = j->BeginEvent(Event("cap-1"));
    ASSERT_OK_R(again);
    EXPECT_FALSE(again->has_value());
  }
  auto j = MustOpen(path);
  ASSERT_NE(j, nullptr);
  auto again = j->BeginEvent(Event("cap-1"));
  ASSERT_OK_R(again);
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(MustBegin(*j, Event("cap-2")), 2);
}

TEST(JournalTest, BeginEventValidatesFields) {
  TempDir dir;
  auto j = MustOpen(dir.File("j.db"));
  ASSERT_NE(j, nullptr);
  EventRecord e = Event("x");
  e.kind = "doorbell";
  auto r = j->BeginEvent(e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "journal event x: kind must be 'unlock' or 'alert', not 'doorbell'");
  e = Event("");
  EXPECT_EQ(j->BeginEvent(e).status().code(), StatusCode::kInvalidArgument);
  e = Event("y");
  e.source = "carrier-pigeon";
  EXPECT_EQ(j->BeginEvent(e).status().code(), StatusCode::kInvalidArgument);
  // A rejected event was not stored: the key stays free.
  EXPECT_EQ(MustBegin(*j, Event("x")), 1);
}

TEST(JournalTest, MediaRefLosesQueryStringAndUserinfo) {
  EXPECT_EQ(StripMediaRef("https://bucket.example/p/a.jpg?X-Amz-Signature=abc&X-Amz-Credential=k"),
            "https://bucket.example/p/a.jpg");
  EXPECT_EQ(StripMediaRef("https://user:pw@bucket.example/p/a.jpg#frag"),
            "https://bucket.example/p/a.jpg");
  EXPECT_EQ(StripMediaRef("https://bucket.example/a@b.jpg"), "https://bucket.example/a@b.jpg");
  EXPECT_EQ(StripMediaRef("/lock/media/1.jpg"), "/lock/media/1.jpg");
  EXPECT_EQ(StripMediaRef(""), "");

  TempDir dir;
  auto j = MustOpen(dir.File("j.db"));
  ASSERT_NE(j, nullptr);
  EventRecord e = Event("signed");
  e.media_ref = "https://u:secretpw@s3.example/x.mp4?token=SECRETTOKEN";
  std::int64_t id = MustBegin(*j, e);
  auto got = j->GetEvent(id);
  ASSERT_OK_R(got);
  EXPECT_EQ(got->event.media_ref, "https://s3.example/x.mp4");
  j.reset();
  // Nowhere in the file (or its WAL) do the secrets appear.
  for (const char* suffix : {"", "-wal"}) {
    const std::string f = dir.File(std::string("j.db") + suffix);
    if (!::lockpipe::testing::FileExists(f)) continue;
    auto bytes = ::lockpipe::testing::ReadFile(f);
    std::string text(bytes.begin(), bytes.end());
    EXPECT_EQ(text.find("SECRETTOKEN"), std::string::npos) << f;
    EXPECT_EQ(text.find("secretpw"), std::string::npos) << f;
  }
}

TEST(JournalTest, SecondDecisionAndAnalysisRefused) {
  TempDir dir;
  const std::string path = dir.File("j.db");
  std::int64_t id = 0;
  {
    auto j = MustOpen(path);
    ASSERT_NE(j, nullptr);
    id = MustBegin(*j, Event("a"));
    ASSERT_OK(j->RecordAnalysis(id, AnalysisRecord{true, "", "[]", {}, "", "jpeg", 0}));
    ASSERT_OK(j->RecordDecision(id, Decision("escalate")));
    Status s = j->RecordDecision(id, Decision("approve"));
    EXPECT_TRUE(IsAlreadyJournaled(s)) << s.ToString();
    EXPECT_EQ(s.message(), "journal " + path +
                               ": event 1 was already decided (escalate); a capture "
                               "is never decided twice");
  }
  auto j = MustOpen(path);
  ASSERT_NE(j, nullptr);
  EXPECT_TRUE(IsAlreadyJournaled(j->RecordDecision(id, Decision("approve"))));
  EXPECT_TRUE(IsAlreadyJournaled(j->RecordAnalysis(id, AnalysisRecord{})));
  EXPECT_EQ(j->RecordDecision(99, Decision("reject")).code(), StatusCode::kNotFound);
  EXPECT_EQ(j->RecordDecision(id, Decision("maybe")).code(), StatusCode::kInvalidArgument);
  auto e = j->GetEvent(id);
  ASSERT_OK_R(e);
  ASSERT_TRUE(e->decision.has_value());
  EXPECT_EQ(e->decision->verdict, "escalate");
  EXPECT_EQ(e->decision->rule, "rule-escalate");
}

TEST(JournalTest, IntentForSameEventAndActionRefusedAcrossReopen) {
  TempDir dir;
  const std::string path = dir.File("j.db");
  std::int64_t event = 0;
  std::int64_t action = 0;
  {
    auto j = MustOpen(path);
    ASSERT_NE(j, nullptr);
    event = MustBegin(*j, Event("a"));
    ASSERT_OK(j->RecordDecision(event, Decision("approve")));
    auto a = j->RecordIntent(event, Intent("approve"));
    ASSERT_OK_R(a);
    action = *a;
    ASSERT_OK(j->RecordOutcome(action, ActionOutcome{"ok", "success=true", 1700000003000}));
    auto again = j->RecordIntent(event, Intent("approve"));
    ASSERT_FALSE(again.ok());
    EXPECT_TRUE(IsAlreadyJournaled(again.status())) << again.status().ToString();
  }
  auto j = MustOpen(path);
  ASSERT_NE(j, nullptr);
  auto again = j->RecordIntent(event, Intent("approve"));
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(IsAlreadyJournaled(again.status()));
  EXPECT_EQ(again.status().message(), "journal " + path +
                                          ": event 1 already has a 'approve' action, id 1 "
                                          "(outcome ok); it is never sent twice");
  EXPECT_TRUE(IsAlreadyJournaled(j->RecordOutcome(action, ActionOutcome{"failed", "", 1})));
  auto e = j->GetEvent(event);
  ASSERT_OK_R(e);
  ASSERT_EQ(e->actions.size(), 1u);
  EXPECT_EQ(e->actions[0].outcome, "ok");
  EXPECT_EQ(e->actions[0].detail, "success=true");
  EXPECT_EQ(e->actions[0].outcome_at_ms, 1700000003000);
}

TEST(JournalTest, IntentMustFollowAMatchingLiveDecision) {
  TempDir dir;
  auto j = MustOpen(dir.File("j.db"));
  ASSERT_NE(j, nullptr);
  const std::int64_t undecided = MustBegin(*j, Event("u"));
  const std::int64_t rejected = MustBegin(*j, Event("r"));
  const std::int64_t dry = MustBegin(*j, Event("d"));
  ASSERT_OK(j->RecordDecision(rejected, Decision("reject")));
  ASSERT_OK(j->RecordDecision(dry, Decision("approve", /*dry_run=*/true)));

  auto r = j->RecordIntent(undecided, Intent("approve"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = j->RecordIntent(rejected, Intent("approve"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("decided 'reject'; refusing to record an approve"),
            std::string::npos)
      << r.status().message();
  r = j->RecordIntent(dry, Intent("approve"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = j->RecordIntent(rejected, Intent("reject", "other-device"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = j->RecordIntent(12345, Intent("reject"));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  r = j->RecordIntent(rejected, Intent("reject"));
  ASSERT_OK_R(r);
  // Nothing else was stored by the refused attempts.
  auto unknown = j->UnknownOutcomes();
  ASSERT_OK_R(unknown);
  ASSERT_EQ(unknown->size(), 1u);
  EXPECT_EQ((*unknown)[0].id, *r);
}

TEST(JournalTest, AnActionNotSentIsStoredSettledUnderTheSameChecks) {
  TempDir dir;
  auto j = MustOpen(dir.File("j.db"));
  ASSERT_NE(j, nullptr);
  const std::int64_t approved = MustBegin(*j, Event("a"));
  const std::int64_t dry = MustBegin(*j, Event("d"));
  ASSERT_OK(j->RecordDecision(approved, Decision("approve")));
  ASSERT_OK(j->RecordDecision(dry, Decision("approve", /*dry_run=*/true)));
  const ActionIntent none{"approve", "", "dev1", 1700000002000};
  // The intent checks hold: not for a dry-run decision, nor a reject that was not decided.
  EXPECT_EQ(j->RecordNotSent(dry, none, "no call").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(j->RecordIntent(approved, none).status().code(), StatusCode::kInvalidArgument);
  ASSERT_OK(j->RecordNotSent(approved, none, "cannot open dev1: no remote unlock"));
  auto e = j->GetEvent(approved);
  ASSERT_OK_R(e);
  ASSERT_EQ(e->actions.size(), 1u);
  EXPECT_EQ(e->actions[0].endpoint, "");
  EXPECT_EQ(e->actions[0].outcome, "failed");
  EXPECT_EQ(e->actions[0].detail, "not sent: cannot open dev1: no remote unlock");
  EXPECT_EQ(e->actions[0].outcome_at_ms, 1700000002000);
  // Settled: never an unknown outcome, and never recorded (or sent) again.
  auto unknown = j->UnknownOutcomes(/*include_reported=*/true);
  ASSERT_OK_R(unknown);
  EXPECT_TRUE(unknown->empty());
  EXPECT_TRUE(IsAlreadyJournaled(j->RecordNotSent(approved, none, "again")));
  EXPECT_TRUE(IsAlreadyJournaled(j->RecordIntent(approved, Intent("approve")).status()));
}

TEST(JournalTest, APersonAnswersAnEscalationOnceAndOnlyAnEscalation) {
  TempDir dir;
  const std::string path = dir.File("j.db");
  auto j = MustOpen(path);
  ASSERT_NE(j, nullptr);
  const std::int64_t escalated = MustBegin(*j, Event("e"));
  const std::int64_t rejected = MustBegin(*j, Event("r"));
  const std::int64_t dry = MustBegin(*j, Event("d"));
  const std::int64_t undecided = MustBegin(*j, Event("u"));
  EventRecord alert_event = Event("a");
  alert_event.kind = "alert";
  const std::int64_t alert = MustBegin(*j, alert_event);
  ASSERT_OK(j->RecordDecision(escalated, Decision("escalate")));
  ASSERT_OK(j->RecordDecision(rejected, Decision("reject")));
  ASSERT_OK(j->RecordDecision(dry, Decision("escalate", /*dry_run=*/true)));
  ASSERT_OK(j->RecordDecision(alert, Decision("escalate")));
  const ResolutionRecord approve{"approve", "alice", "expected guest", 1700000005000};

  // Without an answer, an escalation takes no approve intent.
  EXPECT_EQ(j->RecordIntent(escalated, Intent("approve")).status().code(),
            StatusCode::kInvalidArgument);
  auto refused = [&](std::int64_t id, const ResolutionRecord& r, const std::string& why) {
    Status s = j->RecordResolution(id, r);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(why), std::string::npos) << s.message();
  };
  refused(rejected, approve, "decided 'reject' by rule 'rule-reject'; only escalated requests");
  refused(dry, approve, "dry-run mode");
  refused(undecided, approve, "has not been decided yet");
  refused(alert, approve, "is an alert, not an unlock request");
  refused(escalated, ResolutionRecord{"escalate", "alice", "", 1}, "must be 'approve' or 'reject'");
  refused(escalated, ResolutionRecord{"approve", "", "", 1}, "must say who gave it");
  EXPECT_EQ(j->RecordResolution(999, approve).code(), StatusCode::kNotFound);

  ASSERT_OK(j->RecordResolution(escalated, approve));
  Status twice = j->RecordResolution(escalated, ResolutionRecord{"reject", "bob", "", 2});
  EXPECT_TRUE(IsAlreadyJournaled(twice)) << twice.ToString();
  EXPECT_EQ(twice.message(), "journal " + path +
                                 ": event 1 was already answered (approve by alice); it is "
                                 "never answered twice");
  // The answer is what lets the unlock be journaled (and so sent), once.
  ASSERT_OK_R(j->RecordIntent(escalated, Intent("approve")));
  EXPECT_TRUE(IsAlreadyJournaled(j->RecordIntent(escalated, Intent("approve")).status()));
  auto e = j->GetEvent(escalated);
  ASSERT_OK_R(e);
  ASSERT_TRUE(e->resolution.has_value());
  EXPECT_EQ(e->resolution->verdict, "approve");
  EXPECT_EQ(e->resolution->decided_by, "alice");
  EXPECT_EQ(e->resolution->reason, "expected guest");
  EXPECT_EQ(e->decision->verdict, "escalate");  // the rules' decision stays as it was
  const auto json = ToJson(*e);
  EXPECT_EQ(json["resolution"]["decided_by"], "alice");
  EXPECT_TRUE(ToJson(*j->GetEvent(rejected))["resolution"].is_null());

  // A person who says reject does not open the door either.
  const std::int64_t second = MustBegin(*j, Event("e2"));
  ASSERT_OK(j->RecordDecision(second, Decision("escalate")));
  ASSERT_OK(j->RecordResolution(second, ResolutionRecord{"reject", "bob", "", 3}));
  auto r = j->RecordIntent(second, Intent("approve"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("decided 'escalate' and answered 'reject'"),
            std::string::npos)
      << r.status().message();
}

TEST(JournalTest, AVersionOneJournalIsMigrated) {
  TempDir dir;
  const std::string path = dir.File("j.db");
  {
    auto j = MustOpen(path);
    ASSERT_NE(j, nullptr);
    MustBegin(*j, Event("old"));
  }
  {  // Make it look like a journal written before resolutions existed.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db, "DROP TABLE resolutions; DELETE FROM schema_version WHERE version = 2",
                     nullptr, nullptr, nullptr),
        SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  auto j = MustOpen(path);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(*j->SchemaVersion(), 2);
  ASSERT_OK(j->RecordDecision(1, Decision("escalate")));
  EXPECT_OK(j->RecordResolution(1, ResolutionRecord{"reject", "carol", "", 1}));
  auto e = j->GetEvent(1);
  ASSERT_OK_R(e);
  EXPECT_EQ(e->event.capture_key, "old");
  ASSERT_TRUE(e->resolution.has_value());
}

TEST(JournalTest, UndecidedEventsAreTheOnesAStopLeftBehind) {
  TempDir dir;
  auto j = MustOpen(dir.File("j.db"));
  auto decided = j->BeginEvent(Event("a"));
  ASSERT_OK_R(decided);
  ASSERT_OK(j->RecordDecision(**decided, {"reject", "nobody", "no face", false, 1700000001000}));
  auto stopped = j->BeginEvent(Event("b"));
  ASSERT_OK_R(stopped);
  EventRecord fresh = Event("c");
  fresh.received_at_ms = 1700000100000;  // still in flight at the time asked about
  ASSERT_OK_R(j->BeginEvent(fresh));
  auto undecided = j->UndecidedEvents(1700000050000, 10);
  ASSERT_OK_R(undecided);
  ASSERT_EQ(undecided->size(), 1u);
  EXPECT_EQ((*undecided)[0].id, **stopped);
  EXPECT_EQ((*undecided)[0].event.capture_key, "b");
  auto later = j->UndecidedEvents(1700000200000, 1);  // the limit holds
  ASSERT_OK_R(later);
  EXPECT_EQ(later->size(), 1u);
}

TEST(JournalTest, IntentWithoutOutcomeIsUnknownAfterCrash) {
  TempDir dir;
  const std::string path = dir.File("j.db");
  std::int64_t action = 0;
  {
    auto j = MustOpen(path);
    ASSERT_NE(j, nullptr);
    const std::int64_t event = MustBegin(*j, Event("a"));
    ASSERT_OK(j->RecordDecision(event, Decision("approve")));
    auto a = j->RecordIntent(event, Intent("approve"));
    ASSERT_OK_R(a);
    action = *a;
    // The "crash": the object goes away with the call's outcome never recorded.
  }
  auto j = MustOpen(path);
  ASSERT_NE(j, nullptr);
  auto unknown = j->UnknownOutcomes();
  ASSERT_OK_R(unknown);
  ASSERT_EQ(unknown->size(), 1u);
  const ActionRecord& a = (*unknown)[0];
  EXPECT_EQ(a.id, action);
  EXPECT_EQ(a.event_id, 1);
  EXPECT_EQ(a.action, "approve");
  EXPECT_EQ(a.device_id, "dev1");
  EXPECT_EQ(a.intent_at_ms, 1700000002000);
  EXPECT_EQ(a.outcome, "");

  // Reported once; never resendable; no longer in the start-up list.
  ASSERT_OK(j->MarkUnknown(action));
  EXPECT_TRUE(IsAlreadyJournaled(j->MarkUnknown(action)));
  EXPECT_EQ(j->MarkUnknown(777).code(), StatusCode::kNotFound);
  EXPECT_TRUE(IsAlreadyJournaled(j->RecordIntent(1, Intent("approve")).status()));
  EXPECT_TRUE(IsAlreadyJournaled(j->RecordOutcome(action, ActionOutcome{"ok", "", 1})));
  unknown = j->UnknownOutcomes();
  ASSERT_OK_R(unknown);
  EXPECT_TRUE(unknown->empty());
  unknown = j->UnknownOutcomes(/*include_reported=*/true);
  ASSERT_OK_R(unknown);
  ASSERT_EQ(unknown->size(), 1u);
  EXPECT_EQ((*unknown)[0].outcome, "unknown");
}

TEST(JournalTest, ConcurrentWritersLoseNothing) {
  TempDir dir;
  auto j = MustOpen(dir.File("j.db"));
  ASSERT_NE(j, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::atomic<int> failures{0};
  std::atomic<int> shared_won{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string device = "dev" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = device + "-" + std::to_string(i);
        auto id = j->BeginEvent(Event(key, device));
        if (!id.ok() || !id->has_value()) {
          ++failures;
          continue;
        }
        // Admitting the same capture again is refused, whoever asks.
        auto dup = j->BeginEvent(Event(key, device));
        if (!dup.ok() || dup->has_value()) ++failures;
        // Every thread races for the same shared captures: exactly one wins each.
        auto shared = j->BeginEvent(Event("shared-" + std::to_string(i), "shared"));
        if (!shared.ok())
          ++failures;
        else if (shared->has_value())
          ++shared_won;
        const bool approve = i % 2 == 0;
        if (!j->RecordDecision(**id, Decision(approve ? "approve" : "reject")).ok()) ++failures;
        auto a = j->RecordIntent(**id, Intent(approve ? "approve" : "reject", device));
        if (!a.ok() || !j->RecordOutcome(*a, ActionOutcome{"ok", "", 1}).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(shared_won.load(), kPerThread);
  auto counts = j->CountVerdicts();
  ASSERT_OK_R(counts);
  EXPECT_EQ((*counts)["approve"], kThreads * kPerThread / 2);
  EXPECT_EQ((*counts)["reject"], kThreads * kPerThread / 2);
  EXPECT_EQ((*counts)["undecided"], kPerThread);
  auto shared = j->ListEvents(EventFilter{0, "shared", 0});
  ASSERT_OK_R(shared);
  EXPECT_EQ(shared->size(), static_cast<std::size_t>(kPerThread));
  std::set<std::string> keys;
  for (int t = 0; t < kThreads; ++t) {
    auto all = j->ListEvents(EventFilter{0, "dev" + std::to_string(t), 0});
    ASSERT_OK_R(all);
    ASSERT_EQ(all->size(), static_cast<std::size_t>(kPerThread));
    for (const auto& e : *all) {
      keys.insert(e.event.capture_key);
      ASSERT_EQ(e.actions.size(), 1u);
      EXPECT_EQ(e.actions[0].outcome, "ok");
    }
  }
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(kThreads * kPerThread));
  auto unknown = j->UnknownOutcomes();
  ASSERT_OK_R(unknown);
  EXPECT_TRUE(unknown->empty());
  auto dev2 = j->CountDecisions("dev2", "approve", 0);
  ASSERT_OK_R(dev2);
  EXPECT_EQ(*dev2, kPerThread / 2);
}

TEST(JournalTest, CountDecisionsCanLeaveOutDryRuns) {
  TempDir dir;
  auto j = MustOpen(dir.File("j.db"));
  auto real = j->BeginEvent(Event("real"));
  auto rehearsal = j->BeginEvent(Event("rehearsal"));
  ASSERT_OK_R(real);
  ASSERT_OK_R(rehearsal);
  ASSERT_OK(j->RecordDecision(**real, {"approve", "r", "", false, 1700000001000}));
  ASSERT_OK(j->RecordDecision(**rehearsal, {"approve", "r", "", true, 1700000002000}));
  auto all = j->CountDecisions("dev1", "approve", 0);
  ASSERT_OK_R(all);
  EXPECT_EQ(*all, 2);
  auto really = j->CountDecisions("dev1", "approve", 0, /*include_dry_run=*/false);
  ASSERT_OK_R(really);
  EXPECT_EQ(*really, 1);
  auto later = j->CountDecisions("dev1", "approve", 1700000001500, false);
  ASSERT_OK_R(later);
  EXPECT_EQ(*later, 0);
}

TEST(JournalTest, RefusesNonJournalFiles) {
  TempDir dir;
  const std::string text = dir.File("notes.txt");
  WriteFile(text, std::string("this is not a database, just some text that is long enough\n") +
                      std::string(200, 'x'));
  auto r = Journal::Open(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(r.status().message(),
            "journal " + text + " is not an SQLite database (so not a lockpipe journal)");

  const std::string other = dir.File("other.db");
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(other.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, &sqlite3_close_v2);
    ASSERT_EQ(sqlite3_exec(db.get(), "CREATE TABLE photos(id INTEGER)", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  r = Journal::Open(other);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "journal " + other +
                                      " is an SQLite database but not a lockpipe journal (1 "
                                      "tables/indexes, application_id 0); refusing to use it");
  // Refused without being touched: still no journal tables in it.
  r = Journal::Open(other, Journal::Mode::kReadOnly);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);

  // An empty file is a fresh database: it becomes a journal.
  const std::string empty = dir.File("empty.db");
  WriteFile(empty, std::string());
  EXPECT_OK(Journal::Open(empty).status());
}

TEST(JournalTest, RefusesANewerSchema) {
  TempDir dir;
  const std::string path = dir.File("j.db");
  ASSERT_NE(MustOpen(path), nullptr);
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, &sqlite3_close_v2);
    ASSERT_EQ(sqlite3_exec(db.get(), "INSERT INTO schema_version VALUES (99, 'from the future', 0)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  auto r = Journal::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(r.status().message(), "journal " + path +
                                      " has schema version 99, written by a newer lockpipe "
                                      "(this one knows up to 2)");
}

TEST(JournalTest, MissingFolderIsAClearError) {
  TempDir dir;
  const std::string missing = dir.File("no-such-folder/j.db");
  auto r = Journal::Open(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "journal " + missing + ": folder " + dir.File("no-such-folder") +
                                      " does not exist (create it first)");

  r = Journal::Open(dir.File("absent.db"), Journal::Mode::kReadOnly);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "journal " + dir.File("absent.db") + " does not exist");
  EXPECT_FALSE(::lockpipe::testing::FileExists(dir.File("absent.db")));

  r = Journal::Open(dir.path());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(JournalTest, UnwritableFolderIsAClearError) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: folder permissions do not bind root";
  TempDir dir;
  const std::string locked = dir.File("locked");
  ASSERT_EQ(::mkdir(locked.c_str(), 0555), 0);
  auto r = Journal::Open(locked + "/j.db");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(), "journal " + locked + "/j.db: cannot create a file in folder " +
                                      locked + ": Permission denied");
  ::chmod(locked.c_str(), 0755);
}

TEST(JournalTest, ReaderSeesAWriterThatIsStillOpen) {
  TempDir dir;
  const std::string path = dir.File("j.db");
  auto writer = MustOpen(path);
  ASSERT_NE(writer, nullptr);
  const std::int64_t id = MustBegin(*writer, Event("live"));
  auto reader = Journal::Open(path, Journal::Mode::kReadOnly);
  ASSERT_OK_R(reader);
  ASSERT_OK(writer->RecordDecision(id, Decision("escalate")));
  auto e = (*reader)->GetEvent(id);
  ASSERT_OK_R(e);
  ASSERT_TRUE(e->decision.has_value());
  EXPECT_EQ(e->decision->verdict, "escalate");
  // The reader cannot write.
  auto w = (*reader)->BeginEvent(Event("from-reader"));
  EXPECT_EQ(w.status().code(), StatusCode::kPermissionDenied) << w.status().ToString();
}

// A journal with one event of each kind of story, for the CLI tests.
void Seed(const std::string& path) {
  auto j = MustOpen(path);
  ASSERT_NE(j, nullptr);
  // 1: approved and opened.
  const std::int64_t e1 = MustBegin(*j, Event("dev1/unlock/a.jpg"));
  ASSERT_OK(j->RecordAnalysis(e1, AnalysisRecord{true,
                                                 "",
                                                 R"([{"x":10,"y":20,"w":30,"h":40,"score":0.9}])",
                                                 {"/out/1/thumb0.jpg", "/out/1/thumb1.jpg"},
                                                 "/out/1/sheet.jpg",
                                                 "jpeg",
                                                 0}));
  ASSERT_OK(j->RecordDecision(
      e1, DecisionRecord{"approve", "family", "known face", false, 1700000001000}));
  auto a1 = j->RecordIntent(e1, Intent("approve"));
  ASSERT_OK_R(a1);
  ASSERT_OK(j->RecordOutcome(*a1, ActionOutcome{"ok", "result=true", 1700000003000}));
  // 2: analysis failed, rejected, the call's outcome lost in a crash.
  EventRecord ev2 = Event("dev2/unlock/b.mp4", "dev2");
  ev2.source = "webhook";
  const std::int64_t e2 = MustBegin(*j, ev2);
  ASSERT_OK(
      j->RecordAnalysis(e2, AnalysisRecord{false, "decode: invalid data", "", {}, "", "", 0}));
  ASSERT_OK(j->RecordDecision(e2, DecisionRecord{"reject", "", "analysis failed", false, 2}));
  auto a2 = j->RecordIntent(e2, Intent("reject", "dev2"));
  ASSERT_OK_R(a2);
  // 3: begun, never decided.
  MustBegin(*j, Event("dev1/alert/c.jpg"));
}

std::string Lockpipe(const std::string& db, const std::string& args) {
  return ShellQuote(LockpipeBinary()) + " journal --db " + ShellQuote(db) + " " + args;
}

TEST(JournalCliTest, ListTableAndJson) {
  TempDir dir;
  const std::string db = dir.File("j.db");
  Seed(db);
  auto r = RunShell(Lockpipe(db, "list"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ID  CAPTURED (UTC)            DEVICE  KIND    SOURCE   FACES  VERDICT    RULE    "
            "ACTIONS\n"
            "3   2023-11-14T22:13:20.000Z  dev1    unlock  poll     -      undecided  -       -\n"
            "2   2023-11-14T22:13:20.000Z  dev2    unlock  webhook  error  reject     -       "
            "reject:pending\n"
            "1   2023-11-14T22:13:20.000Z  dev1    unlock  poll     1      approve    family  "
            "approve:ok\n");

  r = RunShell(Lockpipe(db, "list --json --device dev1 --limit 1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["id"], 3);
  EXPECT_EQ(j["verdict"], "undecided");
  EXPECT_TRUE(j["decision"].is_null());

  r = RunShell(Lockpipe(db, "list --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  while (start < r.out.size()) {
    std::size_t nl = r.out.find('\n', start);
    ASSERT_NE(nl, std::string::npos);
    lines.push_back(nlohmann::json::parse(r.out.substr(start, nl - start)));
    start = nl + 1;
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2]["id"], 1);
  EXPECT_EQ(lines[2]["decision"]["rule"], "family");
  EXPECT_EQ(lines[2]["analysis"]["faces"][0]["score"], 0.9);
  EXPECT_EQ(lines[2]["actions"][0]["outcome"], "ok");
  EXPECT_EQ(lines[1]["actions"][0]["outcome"], nullptr);
}

TEST(JournalCliTest, ShowTextAndJson) {
  TempDir dir;
  const std::string db = dir.File("j.db");
  Seed(db);
  auto r = RunShell(Lockpipe(db, "show 1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Event 1\n"
            "  capture key: dev1/unlock/a.jpg\n"
            "  device:      dev1\n"
            "  kind:        unlock (from poll)\n"
            "  media:       /media/dev1/unlock/a.jpg.jpg\n"
            "  captured:    2023-11-14T22:13:20.000Z\n"
            "  received:    2023-11-14T22:13:20.500Z\n"
            "Analysis: ok\n"
            "  media type:    jpeg, duration 0 s\n"
            "  faces:         1  [{\"x\":10,\"y\":20,\"w\":30,\"h\":40,\"score\":0.9}]\n"
            "  thumbnail:     /out/1/thumb0.jpg\n"
            "  thumbnail:     /out/1/thumb1.jpg\n"
            "  contact sheet: /out/1/sheet.jpg\n"
            "Decision: approve by rule 'family'\n"
            "  reason:  known face\n"
            "  decided: 2023-11-14T22:13:21.000Z\n"
            "Actions:\n"
            "  #1 approve via POST /v1.1/devices/{device_id}/door-lock/password-free/open-door "
            "(device dev1)\n"
            "      intent:  2023-11-14T22:13:22.000Z\n"
            "      outcome: ok at 2023-11-14T22:13:23.000Z\n"
            "      detail:  result=true\n");

  r = RunShell(Lockpipe(db, "show 2 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["source"], "webhook");
  EXPECT_EQ(j["analysis"]["ok"], false);
  EXPECT_EQ(j["analysis"]["error"], "decode: invalid data");
  EXPECT_EQ(j["decision"]["verdict"], "reject");
  EXPECT_EQ(j["decision"]["reason"], "analysis failed");

  r = RunShell(Lockpipe(db, "show 42"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "lockpipe journal: journal " + db + ": no event 42\n");
  r = RunShell(Lockpipe(db, "show abc"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("EVENT_ID must be a positive whole number, not 'abc'"), std::string::npos);
}

TEST(JournalCliTest, UnknownStatsAndErrors) {
  TempDir dir;
  const std::string db = dir.File("j.db");
  Seed(db);
  auto r = RunShell(Lockpipe(db, "unknown"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ID  EVENT  DEVICE  ACTION  INTENT (UTC)              STATE       ENDPOINT\n"
            "2   2      dev2    reject  2023-11-14T22:13:22.000Z  no outcome  PUT "
            "/v1.0/devices/{device_id}/door-lock/password-free/open-door/cancel\n"
            "These calls may or may not have reached the lock (the process stopped, or the\n"
            "answer was lost or garbled); lockpipe never resends them.\n"
            "Check the lock's own history before acting by hand (lockpipe journal show EVENT\n"
            "has each call's detail).\n");
  r = RunShell(Lockpipe(db, "unknown --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["id"], 2);
  EXPECT_EQ(j["event_id"], 2);
  EXPECT_EQ(j["outcome"], nullptr);

  r = RunShell(Lockpipe(db, "stats --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out),
            nlohmann::json({{"approve", 1}, {"reject", 1}, {"escalate", 0}, {"undecided", 1}}));

  // $LOCKPIPE_JOURNAL is the default; reading never creates a journal.
  r = RunShell("LOCKPIPE_JOURNAL=" + ShellQuote(db) + " " + ShellQuote(LockpipeBinary()) +
               " journal stats");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "approve    1\nreject     1\nescalate   0\nundecided  1\n");
  const std::string absent = dir.File("absent.db");
  r = RunShell(Lockpipe(absent, "list"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "lockpipe journal: journal " + absent + " does not exist\n");
  EXPECT_FALSE(::lockpipe::testing::FileExists(absent));

  r = RunShell(Lockpipe(db, "frobnicate"));
  EXPECT_EQ(r.exit_code, 2);
  r = RunShell(Lockpipe(db, "show 1 --limit 3"));
  EXPECT_EQ(r.exit_code, 2);
  r = RunShell(ShellQuote(LockpipeBinary()) + " journal --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("lockpipe journal [--db FILE] list"), std::string::npos);
}

}  // namespace
}  // namespace lockpipe
