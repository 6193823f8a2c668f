// The journal: an SQLite file that remembers every capture lockpipe saw, what
// it found in it, what it decided and by which rule, and every lock API call
// it made — the intent before the call, the outcome after.
//
// It is what makes the pipeline idempotent across restarts:
//  - BeginEvent() admits a capture once; a capture_key already journaled is
//    answered with nullopt and the pipeline skips it (never decided twice).
//  - RecordIntent() is written durably (synchronous=FULL, committed before it
//    returns) BEFORE the call goes out, and a second intent for the same event
//    and action is refused: an action is never sent twice.
//  - An intent with no outcome after a crash is listed by UnknownOutcomes();
//    the pipeline reports it as "unknown" (MarkUnknown) and never resends it,
//    because the door may or may not have opened. A call whose answer was
//    lost or garbled (a timeout, HTTP 5xx, a cut answer) is recorded with
//    outcome "unknown" straight away, for the same reason.
//
// Fail closed, in depth: an "approve" intent is refused unless the event has a
// non-dry-run "approve" decision (or an escalation a person answered "approve"), and no intent is
// accepted for a dry-run decision, so a pipeline bug cannot journal (and therefore cannot send) an
// unlock nobody decided.
//
// No secret is ever written. The API takes no Secret; media_ref is stored
// without its query string or fragment and without URL userinfo, because
// presigned media URLs carry credentials there. Callers must not put keys,
// tokens or passwords in the free-text fields (error, reason, detail).
//
// Storage: WAL mode (readers such as `lockpipe journal list` never block the
// pipeline). synchronous=FULL for the intent's commit — it must survive power
// loss before the door call is sent, and syncing the WAL there makes every
// earlier commit durable too — and NORMAL for all other writes: in WAL mode
// NORMAL loses nothing on a process crash, and what an OS crash could drop (an
// event, an analysis, a decision with no action, an outcome) is safe to lose:
// a lost outcome is reported unknown and never resent. foreign_keys=ON, busy_timeout 5 s for other
// processes, a schema_version table with forward-only migrations, and PRAGMA application_id to
// recognise a lockpipe journal. Values are always bound to prepared statements.
//
// Thread-safety: a Journal is safe to use from any number of threads. It owns
// one SQLite connection, opened with SQLITE_OPEN_NOMUTEX and guarded by the
// Journal's own mutex, so each method runs alone on the connection and every
// multi-statement write is one transaction. Several processes may open the same
// file (SQLite's file locks + busy_timeout arbitrate).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

struct sqlite3;

namespace lockpipe {

// One capture as it entered the pipeline.
struct EventRecord {
  // Unique identity of a capture, "<device>|<kind>|<object>", made by
  // CaptureKey (pipeline/capture_job.h) for every source. The same key is never
  // decided twice.
  std::string capture_key;
  std::string device_id;
  std::string kind;       // "unlock" | "alert"
  std::string source;     // "poll" | "webhook" | "batch"
  std::string media_ref;  // file_path or URL; stored without "?query", "#fragment", userinfo
  std::int64_t captured_at_ms = 0;
  std::int64_t received_at_ms = 0;
};

// What decode + analysis found (or why it failed).
struct AnalysisRecord {
  bool ok = false;
  std::string error;       // why analysis failed ("" when ok)
  std::string faces_json;  // JSON text (e.g. an array of boxes + scores); "" = none
  std::vector<std::string> thumbnail_paths;
  std::string contact_sheet_path;
  std::string media_type;  // "jpeg", "png", "mp4", ...
  double duration_s = 0;
};

struct DecisionRecord {
  std::string verdict;  // "approve" | "reject" | "escalate"
  std::string rule;     // the rule that made it ("" = default)
  std::string reason;
  bool dry_run = false;
  std::int64_t decided_at_ms = 0;
};

// A person's answer to an escalated unlock request (`lockpipe decide`). It
// does not replace the decision - the rules did escalate - it completes it.
struct ResolutionRecord {
  std::string verdict;     // "approve" | "reject"
  std::string decided_by;  // who answered: a name or an account, never a secret
  std::string reason;
  std::int64_t decided_at_ms = 0;
};

struct ActionIntent {
  std::string action;    // "approve" | "reject"
  std::string endpoint;  // e.g. "POST /v1.0/devices/{device_id}/door-lock/password-free/open-door"
  std::string device_id;
  std::int64_t at_ms = 0;
};

struct ActionOutcome {
  // "ok" | "failed" (the answer proves nothing happened) | "unknown" (the
  // call may have acted: its answer was lost or garbled; see ClassifyLockCall).
  std::string outcome;
  std::string detail;  // Tuya code/msg, HTTP status; never a secret
  std::int64_t at_ms = 0;
};

// An action as stored: its intent and, once known, its outcome.
struct ActionRecord {
  std::int64_t id = 0;
  std::int64_t event_id = 0;
  std::string action;
  std::string endpoint;
  std::string device_id;
  std::int64_t intent_at_ms = 0;
  // "" = no outcome recorded (in flight, or the process stopped before it
  // knew); "ok" | "failed"; "unknown" = the call's answer was lost or garbled
  // (RecordOutcome), or reported by MarkUnknown: never resent.
  std::string outcome;
  std::string detail;
  std::int64_t outcome_at_ms = 0;
};

// An event with all its evidence.
struct JournalEntry {
  std::int64_t id = 0;
  EventRecord event;
  std::optional<AnalysisRecord> analysis;
  std::optional<DecisionRecord> decision;
  std::optional<ResolutionRecord> resolution;  // a person's answer to an escalation
  std::vector<ActionRecord> actions;           // oldest first
};

struct EventFilter {
  int limit = 50;              // newest first; <= 0 = no limit
  std::string device_id;       // "" = every device
  std::int64_t before_id = 0;  // > 0: only events with id < before_id (paging)
  // Only unlock requests the rules escalated (not in a dry run) that no one has
  // answered yet: what `lockpipe decide` can still take.
  bool waiting_only = false;
};

// Whether `status` is the journal's "already recorded" refusal (a capture,
// decision, analysis, intent or outcome that exists): StatusCode::kUnsupported.
inline bool IsAlreadyJournaled(const Status& status) {
  return status.code() == StatusCode::kUnsupported;
}

// "https://h/p?X-Amz-Signature=..#f" -> "https://h/p"; also drops "user:pw@".
std::string StripMediaRef(const std::string& media_ref);

class Journal {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // The schema version this build writes.
  static constexpr int kSchemaVersion = 2;
  // PRAGMA application_id of a lockpipe journal ("LKPJ").
  static constexpr std::int32_t kApplicationId = 0x4C4B504A;

  // Opens (kReadWrite: creating if absent and migrating to kSchemaVersion) the
  // journal at `path`. Fails with kNotFound when the parent folder (or, for
  // kReadOnly, the file) does not exist, kPermissionDenied when it cannot be
  // written, kCorrupt when the file is not an SQLite database,
  // kInvalidArgument when it is an SQLite database but not a lockpipe journal,
  // kUnsupported when a newer lockpipe wrote it. Every message names the path.
  static Result<std::unique_ptr<Journal>> Open(const std::string& path,
                                               Mode mode = Mode::kReadWrite);

  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  const std::string& path() const { return path_; }

  // Admits a capture. Returns its new event id, or nullopt when capture_key is
  // already journaled (by this or an earlier process): skip it. kInvalidArgument
  // for an empty capture_key/device_id or a kind/source outside the lists.
  Result<std::optional<std::int64_t>> BeginEvent(const EventRecord& event);

  // One analysis per event; a second is refused (IsAlreadyJournaled).
  // kNotFound for an unknown event id.
  Status RecordAnalysis(std::int64_t event_id, const AnalysisRecord& analysis);
  // Where the analysis's evidence went (thumbnails, contact sheet), written
  // after the decision was carried out: the door does not wait on it.
  Status RecordEvidencePaths(std::int64_t event_id, const std::vector<std::string>& thumbnails,
                             const std::string& contact_sheet);

  // One decision per event; a second is refused (IsAlreadyJournaled), so a
  // capture is never decided twice. kNotFound for an unknown event id.
  Status RecordDecision(std::int64_t event_id, const DecisionRecord& decision);

  // A person's answer to an escalated unlock request: only an event whose
  // decision is a non-dry-run "escalate" of kind "unlock" takes one
  // (kInvalidArgument otherwise, saying why), and only one (IsAlreadyJournaled).
  // An "approve" resolution is what lets an approve intent follow an
  // escalation. The caller checks the capture's age; kNotFound for no event.
  Status RecordResolution(std::int64_t event_id, const ResolutionRecord& resolution);

  // Durably records that `intent.action` is about to be sent for the event,
  // and returns the action id to pass to RecordOutcome. Returns only after the
  // commit reached the disk. Refused — and the call must then NOT be sent —
  // when an intent for the same event and action exists (IsAlreadyJournaled,
  // even across restarts), when the event has no decision or a dry-run one, or
  // when an "approve" intent follows neither an "approve" decision nor an
  // "approve" resolution of an escalation (kInvalidArgument).
  Result<std::int64_t> RecordIntent(std::int64_t event_id, const ActionIntent& intent);

  // Records an action the lock type or the config made impossible, so nothing
  // was sent: one row with outcome "failed", detail "not sent: <why>", and
  // `intent.endpoint` "" when there is no call for it. Refused like RecordIntent.
  Status RecordNotSent(std::int64_t event_id, const ActionIntent& intent, const std::string& why);

  // Records what the call answered: "ok", "failed" or "unknown" (anything
  // else is kInvalidArgument). kNotFound for an unknown action id;
  // IsAlreadyJournaled when it already has an outcome (or was marked unknown).
  Status RecordOutcome(std::int64_t action_id, const ActionOutcome& outcome);

  // Intents with no outcome, oldest first. Call at start-up, before workers
  // send anything: then each is a call whose result was lost in a crash. With
  // include_reported, also those whose outcome is "unknown" (marked so after
  // a crash, or recorded so when the call's answer was lost).
  Result<std::vector<ActionRecord>> UnknownOutcomes(bool include_reported = false);
  // Events received before `received_before_ms` that have no decision: the
  // process stopped between journaling the capture and deciding it (nothing
  // was sent for them). Oldest first, at most `limit`; event records only.
  Result<std::vector<JournalEntry>> UndecidedEvents(std::int64_t received_before_ms, int limit);

  // Records that an intent without outcome was reported as "unknown" (it is
  // never resent; it no longer appears in UnknownOutcomes()). kNotFound for an
  // unknown id, IsAlreadyJournaled when it has an outcome.
  Status MarkUnknown(std::int64_t action_id);

  // Events newest first, with analysis, decision and actions.
  Result<std::vector<JournalEntry>> ListEvents(const EventFilter& filter = {});
  // One event with all its evidence; kNotFound when there is none.
  Result<JournalEntry> GetEvent(std::int64_t event_id);
  // Events per verdict: "approve", "reject", "escalate" and "undecided" (begun,
  // never decided: e.g. a crash mid-analysis; such a capture is not retried).
  Result<std::map<std::string, std::int64_t>> CountVerdicts();
  // Decisions with `verdict` for `device_id` decided at or after since_ms,
  // dry-run ones only with `include_dry_run` (a rate limit counts what was
  // really decided: a rehearsal must not use up a real run's quota).
  Result<std::int64_t> CountDecisions(const std::string& device_id, const std::string& verdict,
                                      std::int64_t since_ms, bool include_dry_run = true);

  // The journal_mode SQLite reports ("wal") and the schema version, for tests.
  Result<std::string> JournalMode();
  Result<int> SchemaVersion();

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

  Journal(std::string path, DbPtr db);
  Result<JournalEntry> LoadEntryLocked(std::int64_t event_id);
  Status LoadDetailsLocked(JournalEntry* entry);
  // RecordIntent's checks and row; with `settled`, the row has that outcome already.
  Result<std::int64_t> InsertAction(std::int64_t event_id, const ActionIntent& intent,
                                    const ActionOutcome* settled);
  Status SetOutcome(std::int64_t action_id, const ActionOutcome& outcome, const std::string& doing);

  const std::string path_;
  std::mutex mu_;  // guards db_ (opened NOMUTEX)
  DbPtr db_;
};

// JSON forms used by `lockpipe journal --json` (stable keys; no secrets).
nlohmann::json ToJson(const ActionRecord& action);
nlohmann::json ToJson(const JournalEntry& entry);

}  // namespace lockpipe
