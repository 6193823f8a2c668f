// A door call whose answer was lost: the Actuator over a recording lock API
// and a real journal (each kind of answer, what is retried, what is
// journaled). door_outcome_e2e_test.cc runs the whole program against the
// emulator.
#include <gtest/gtest.h>

#include <chrono>

#include "base/clock.h"
#include "fetch/fake_lock_api.h"
#include "pipeline/actions.h"
#include "pipeline/journal.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

using testing::TempDir;

Status Refusal(std::int64_t code, int http = 200) {
  return Status(StatusCode::kApiError,
                "POST /v1.0/devices/gate/door-lock/password-free/open-door: Tuya code " +
                    std::to_string(code) + ": refused")
      .set_http_status(http)
      .set_api_code(code);
}

class DoorOutcome : public ::testing::Test {
 protected:
  void SetUp() override {
    auto j = Journal::Open(dir_.File("journal.db"));
    ASSERT_OK_R(j);
    journal_ = std::move(j).value();
    gate_.id = "gate";
    gate_.type = LockType::kBluetooth;  // password-free/open-door; no revoke
    porch_.id = "porch";
    porch_.type = LockType::kWifi;  // no remote unlock; a revoke
  }

  // A journaled event the rules decided `verdict` (not a dry run).
  std::int64_t Decided(const std::string& device, const std::string& verdict) {
    EventRecord e{"cap-" + std::to_string(++n_), device, "unlock", "poll", "", NowMs(), NowMs()};
    auto id = journal_->BeginEvent(e);
    EXPECT_TRUE(id.ok() && id->has_value());
    if (!id.ok() || !id->has_value()) return 0;
    EXPECT_OK(journal_->RecordDecision(**id, {verdict, "rule", "why", false, NowMs()}));
    return **id;
  }

  ActionResult Approve(std::int64_t event) {
    Actuator a(&api_, journal_.get(), false);
    return a.Carry(event, gate_, Verdict::kApprove, nullptr,
                   std::chrono::system_clock::now() + std::chrono::seconds(60));
  }

  std::string Outcome(std::int64_t event) {
    auto e = journal_->GetEvent(event);
    EXPECT_TRUE(e.ok());
    if (!e.ok() || e->actions.size() != 1) return "<" + std::to_string(e->actions.size()) + ">";
    return e->actions[0].outcome;
  }

  TempDir dir_;
  std::unique_ptr<Journal> journal_;
  RecordingLockApi api_;
  DeviceConfig gate_, porch_;
  int n_ = 0;
};

TEST_F(DoorOutcome, ALostAnswerIsUnknownListedAndNeverResent) {
  const std::int64_t ev = Decided("gate", "approve");
  api_.FailNext(Endpoint::kPasswordFreeOpen,
                Corrupt("POST /v1.0/devices/gate/door-lock/password-free/open-door: malformed "
                        "JSON answer (44 bytes, syntax error at byte 45)")
                    .set_http_status(200));
  ActionResult r = Approve(ev);
  EXPECT_TRUE(r.sent);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.outcome, LockCallOutcome::kUnknown);
  EXPECT_EQ(r.OutcomeName(), "unknown");
  EXPECT_EQ(r.detail.rfind("outcome unknown, the lock may have acted", 0), 0u) << r.detail;
  EXPECT_EQ(Outcome(ev), "unknown");
  auto entry = journal_->GetEvent(ev);
  ASSERT_OK_R(entry);
  EXPECT_NE(entry->actions[0].detail.find("malformed JSON answer"), std::string::npos);
  auto unknown = journal_->UnknownOutcomes(/*include_reported=*/true);
  ASSERT_OK_R(unknown);
  ASSERT_EQ(unknown->size(), 1u);
  EXPECT_EQ((*unknown)[0].event_id, ev);
  // Not one more call: no fresh ticket, and not on a second try either.
  r = Approve(ev);
  EXPECT_FALSE(r.sent);
  EXPECT_NE(r.detail.find("already sent before"), std::string::npos) << r.detail;
  EXPECT_EQ(api_.CallStrings(), (std::vector<std::string>{
                                    "password-ticket gate",
                                    "password-free/open-door gate ticket_id=ticket-1",
                                }));
}

TEST_F(DoorOutcome, EveryAnswerThatProvesNothingIsUnknown) {
  const std::vector<Status> lost = {
      TimeoutError("POST x: Operation timed out after 30000 milliseconds"),
      NetworkError("POST x: Recv failure: Connection reset by peer"),
      Refusal(500),        // Tuya's "system error": perhaps after the lock acted
      Refusal(1109, 502),  // a refusal code in an HTTP 5xx answer
      Status(StatusCode::kApiError, "POST x: HTTP 503 with a body that is not JSON")
          .set_http_status(503),
      Status(StatusCode::kApiError, "POST x: the server answered success but result is false")
          .set_http_status(200),
  };
  for (const Status& s : lost) {
    api_.ClearCalls();
    const std::int64_t ev = Decided("gate", "approve");
    api_.FailNext(Endpoint::kPasswordFreeOpen, s);
    ActionResult r = Approve(ev);
    EXPECT_EQ(r.outcome, LockCallOutcome::kUnknown) << s.ToString();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(Outcome(ev), "unknown") << s.ToString();
    // The 1109 in a 502 is no proof that the ticket was refused: no fresh one.
    EXPECT_EQ(api_.CountCalls(Endpoint::kPasswordFreeOpen), 1) << s.ToString();
    EXPECT_EQ(api_.CountCalls(Endpoint::kPasswordTicket), 1) << s.ToString();
  }
}

TEST_F(DoorOutcome, ARefusalIsFailed) {
  for (std::int64_t code : {2001, 2008, 1106}) {
    const std::int64_t ev = Decided("gate", "approve");
    api_.FailNext(Endpoint::kPasswordFreeOpen, Refusal(code));
    ActionResult r = Approve(ev);
    EXPECT_TRUE(r.sent);
    EXPECT_EQ(r.outcome, LockCallOutcome::kFailed) << code;
    EXPECT_EQ(Outcome(ev), "failed") << code;
  }
  auto unknown = journal_->UnknownOutcomes(/*include_reported=*/true);
  ASSERT_OK_R(unknown);
  EXPECT_TRUE(unknown->empty());
}

TEST_F(DoorOutcome, ACallThatNeverLeftIsFailed) {
  const std::int64_t ev = Decided("gate", "approve");
  api_.FailNext(Endpoint::kPasswordFreeOpen,
                NetworkError("POST x: Could not connect to server").set_request_not_sent());
  EXPECT_EQ(Approve(ev).outcome, LockCallOutcome::kFailed);
  EXPECT_EQ(Outcome(ev), "failed");
  // No ticket (even a ticket call that timed out): the door call was not made.
  const std::int64_t ev2 = Decided("gate", "approve");
  api_.FailNext(Endpoint::kPasswordTicket, TimeoutError("POST ticket: timed out"));
  ActionResult r = Approve(ev2);
  EXPECT_FALSE(r.sent);
  EXPECT_EQ(r.outcome, LockCallOutcome::kFailed);
  EXPECT_EQ(Outcome(ev2), "failed");
}

TEST_F(DoorOutcome, OnlyAProvenTicketRefusalGetsAFreshTicket) {
  // 1109 in a well-formed refusal: once more with a fresh ticket ...
  const std::int64_t ev = Decided("gate", "approve");
  api_.FailNext(Endpoint::kPasswordFreeOpen, Refusal(1109));
  ActionResult r = Approve(ev);
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(api_.CountCalls(Endpoint::kPasswordFreeOpen), 2);
  // ... and when that second call's answer is lost, the outcome is unknown.
  api_.ClearCalls();
  const std::int64_t ev2 = Decided("gate", "approve");
  api_.FailNext(Endpoint::kPasswordFreeOpen, Refusal(1109));
  api_.FailNext(Endpoint::kPasswordFreeOpen, TimeoutError("POST x: timed out"));
  r = Approve(ev2);
  EXPECT_EQ(r.outcome, LockCallOutcome::kUnknown) << r.detail;
  EXPECT_EQ(Outcome(ev2), "unknown");
  EXPECT_EQ(api_.CountCalls(Endpoint::kPasswordFreeOpen), 2);
}

TEST_F(DoorOutcome, ARevokeWhoseAnswerWasLostIsUnknown) {
  const std::int64_t ev = Decided("porch", "reject");
  api_.FailNext(Endpoint::kRevokePasswordFree, TimeoutError("PUT cancel: timed out"));
  Actuator a(&api_, journal_.get(), false);
  ActionResult r = a.Carry(ev, porch_, Verdict::kReject, nullptr,
                           std::chrono::system_clock::now() + std::chrono::seconds(60));
  EXPECT_TRUE(r.sent);
  EXPECT_EQ(r.outcome, LockCallOutcome::kUnknown);
  EXPECT_EQ(Outcome(ev), "unknown");
}

TEST_F(DoorOutcome, TheJournalTakesOnlyItsThreeOutcomes) {
  const std::int64_t ev = Decided("gate", "approve");
  auto id = journal_->RecordIntent(ev, {"approve", "password-free/open-door", "gate", NowMs()});
  ASSERT_OK_R(id);
  EXPECT_EQ(journal_->RecordOutcome(*id, {"maybe", "", NowMs()}).code(),
            StatusCode::kInvalidArgument);
  ASSERT_OK(journal_->RecordOutcome(*id, {"unknown", "timed out", NowMs()}));
  EXPECT_TRUE(IsAlreadyJournaled(journal_->RecordOutcome(*id, {"ok", "", NowMs()})));
}

}  // namespace
}  // namespace lockpipe
