#include "pipeline/journal.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/json_text.h"
#include "base/log.h"

namespace lockpipe {
namespace {

struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Maps an SQLite result code to our codes: "database is locked" beyond
// busy_timeout is a timeout, a full disk or I/O failure is kIoError, a file
// that is not a database is kCorrupt.
StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StatusCode::kTimeout;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return StatusCode::kCorrupt;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return StatusCode::kPermissionDenied;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      return StatusCode::kInvalidArgument;
    default:
      return StatusCode::kIoError;
  }
}

// "journal <path>: <what>: <sqlite message>". sqlite3_errmsg describes the
// connection's last error, which is ours alone (the mutex is held).
Status DbError(sqlite3* db, int rc, const std::string& path, const std::string& what) {
  std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  int sys = db != nullptr ? sqlite3_system_errno(db) : 0;
  if (sys != 0) msg += " (" + ErrnoText(sys) + ")";
  return {CodeFor(rc), "journal " + path + ": " + what + ": " + msg};
}

// A prepared statement bound to one connection; the only way values reach SQL.
class Stmt {
 public:
  static Result<Stmt> Prepare(sqlite3* db, const std::string& path, const char* sql) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return DbError(db, rc, path, "preparing a query");
    return Stmt(db, path, std::move(stmt));
  }

  Stmt& Bind(int i, std::int64_t v) {
    Check(sqlite3_bind_int64(stmt_.get(), i, v));
    return *this;
  }
  Stmt& Bind(int i, double v) {
    Check(sqlite3_bind_double(stmt_.get(), i, v));
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    Check(
        sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string(v)); }

  // true = a row is ready, false = done.
  Result<bool> Step(const std::string& what) {
    if (bind_rc_ != SQLITE_OK) return DbError(db_, bind_rc_, path_, what + " (binding)");
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return DbError(db_, rc, path_, what);
  }
  // For statements that return no rows.
  Status Run(const std::string& what) {
    auto r = Step(what);
    if (!r.ok()) return r.status();
    return Status::Ok();
  }

  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  double Double(int col) const { return sqlite3_column_double(stmt_.get(), col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_.get(), col);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), col)));
  }

 private:
  Stmt(sqlite3* db, std::string path, StmtPtr stmt)
      : db_(db), path_(std::move(path)), stmt_(std::move(stmt)) {}
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  sqlite3* db_;
  std::string path_;
  StmtPtr stmt_;
  int bind_rc_ = SQLITE_OK;
};

Status Exec(sqlite3* db, const std::string& path, const char* sql, const std::string& what) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  std::unique_ptr<char, decltype(&sqlite3_free)> err_owner(err, &sqlite3_free);
  if (rc != SQLITE_OK) return DbError(db, rc, path, what);
  return Status::Ok();
}

// BEGIN IMMEDIATE takes the write lock up front, so a check-then-insert cannot
// interleave with another process's write. Rolls back unless committed.
class Transaction {
 public:
  static Result<Transaction> Begin(sqlite3* db, const std::string& path) {
    RETURN_IF_ERROR(Exec(db, path, "BEGIN IMMEDIATE", "starting a transaction"));
    return Transaction(db, path);
  }
  Transaction(Transaction&& o) noexcept : db_(std::exchange(o.db_, nullptr)), path_(o.path_) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() {
    if (db_ != nullptr) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Status Commit() {
    Status s = Exec(db_, path_, "COMMIT", "committing");
    if (s.ok()) db_ = nullptr;
    return s;
  }

 private:
  Transaction(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Forward-only. Never edit a shipped migration: append a new one.
constexpr Migration kMigrations[] = {
    {1, "events, analyses, decisions, actions",
     R"sql(
CREATE TABLE events(
  id INTEGER PRIMARY KEY,
  capture_key TEXT NOT NULL UNIQUE,
  device_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK(kind IN ('unlock', 'alert')),
  source TEXT NOT NULL CHECK(source IN ('poll', 'webhook', 'batch')),
  media_ref TEXT NOT NULL,
  captured_at_ms INTEGER NOT NULL,
  received_at_ms INTEGER NOT NULL);
CREATE INDEX events_by_device ON events(device_id, id);
CREATE TABLE analyses(
  event_id INTEGER PRIMARY KEY REFERENCES events(id),
  ok INTEGER NOT NULL CHECK(ok IN (0, 1)),
  error TEXT NOT NULL,
  faces_json TEXT NOT NULL,
  thumbnail_paths_json TEXT NOT NULL,
  contact_sheet_path TEXT NOT NULL,
  media_type TEXT NOT NULL,
  duration_s REAL NOT NULL,
  recorded_at_ms INTEGER NOT NULL);
CREATE TABLE decisions(
  event_id INTEGER PRIMARY KEY REFERENCES events(id),
  verdict TEXT NOT NULL CHECK(verdict IN ('approve', 'reject', 'escalate')),
  rule TEXT NOT NULL,
  reason TEXT NOT NULL,
  dry_run INTEGER NOT NULL CHECK(dry_run IN (0, 1)),
  decided_at_ms INTEGER NOT NULL);
CREATE INDEX decisions_by_verdict ON decisions(verdict, decided_at_ms);
CREATE TABLE actions(
  id INTEGER PRIMARY KEY,
  event_id INTEGER NOT NULL REFERENCES events(id),
  action TEXT NOT NULL CHECK(action IN ('approve', 'reject')),
  endpoint TEXT NOT NULL,
  device_id TEXT NOT NULL,
  intent_at_ms INTEGER NOT NULL,
  outcome TEXT CHECK(outcome IN ('ok', 'failed', 'unknown')),
  detail TEXT NOT NULL DEFAULT '',
  outcome_at_ms INTEGER,
  UNIQUE(event_id, action));
CREATE INDEX actions_pending ON actions(outcome, id);
)sql"},
    {2, "resolutions: a person's answer to an escalation",
     R"sql(
CREATE TABLE resolutions(
  event_id INTEGER PRIMARY KEY REFERENCES decisions(event_id),
  verdict TEXT NOT NULL CHECK(verdict IN ('approve', 'reject')),
  decided_by TEXT NOT NULL CHECK(decided_by <> ''),
  reason TEXT NOT NULL,
  decided_at_ms INTEGER NOT NULL);
)sql"},
};

bool OneOf(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return true;
  return false;
}

std::string Quoted(const std::string& v) { return "'" + v + "'"; }

std::string ParentDir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status CheckLocation(const std::string& path, Journal::Mode mode) {
  if (path.empty()) return InvalidArgument("journal path is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return InvalidArgument("journal " + path + " is a folder, not a file");
    if (mode == Journal::Mode::kReadWrite && ::access(path.c_str(), R_OK | W_OK) != 0)
      return PermissionDenied("journal " + path + ": cannot open for writing: " + ErrnoText(errno));
    if (mode == Journal::Mode::kReadOnly && ::access(path.c_str(), R_OK) != 0)
      return PermissionDenied("journal " + path + ": cannot read: " + ErrnoText(errno));
    return Status::Ok();
  }
  if (errno != ENOENT) return IoError("journal " + path + ": " + ErrnoText(errno));
  if (mode == Journal::Mode::kReadOnly) return NotFound("journal " + path + " does not exist");
  const std::string dir = ParentDir(path);
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return NotFound("journal " + path + ": folder " + dir + " does not exist (create it first)");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return PermissionDenied("journal " + path + ": cannot create a file in folder " + dir + ": " +
                            ErrnoText(errno));
  return Status::Ok();
}

// `path` for a file: URI, with the characters a URI gives meaning to escaped.
std::string UriPath(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string VerdictOrUndecided(const JournalEntry& e) {
  return e.decision ? e.decision->verdict : "undecided";
}

}  // namespace

std::string StripMediaRef(const std::string& media_ref) {
  std::string ref = media_ref.substr(0, media_ref.find_first_of("?#"));
  auto scheme = ref.find("://");
  if (scheme != std::string::npos) {
    const std::size_t host = scheme + 3;
    const std::size_t end = ref.find('/', host);
    const std::size_t at = ref.rfind('@', end == std::string::npos ? ref.size() - 1 : end);
    if (at != std::string::npos && at >= host) ref.erase(host, at + 1 - host);
  }
  return ref;
}

void Journal::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

Journal::Journal(std::string path, DbPtr db) : path_(std::move(path)), db_(std::move(db)) {}
Journal::~Journal() = default;

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& path, Mode mode) {
  RETURN_IF_ERROR(CheckLocation(path, mode));
  const bool rw = mode == Mode::kReadWrite;
  sqlite3* raw = nullptr;
  // NOMUTEX: the Journal's own mutex serialises use of the connection.
  int flags = (rw ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY) |
              SQLITE_OPEN_NOMUTEX;
  std::string name = path;
  if (!rw) {
    // Reading a WAL journal needs its -shm file, which SQLite creates when the
    // first connection opens: a reader who may not write to the folder fails
    // ("attempt to write a readonly database") unless the writer is running.
    // With no -shm there is no writer, and with no WAL contents nothing is
    // missed by reading the file as it is (immutable).
    struct stat st {};
    const bool no_shm = ::stat((path + "-shm").c_str(), &st) != 0;
    const bool no_wal = ::stat((path + "-wal").c_str(), &st) != 0 || st.st_size == 0;
    const bool dir_writable = ::access(ParentDir(path).c_str(), W_OK | X_OK) == 0;
    if (no_shm && !dir_writable) {
      if (!no_wal)
        return PermissionDenied(
            "journal " + path +
            ": cannot be read without write access to its folder: SQLite "
            "must recreate " +
            path + "-shm to read what a stopped lockpipe left in " + path +
            "-wal (run this as a user who may write there, or while lockpipe runs)");
      name = "file:" + UriPath(path) + "?immutable=1";
      flags |= SQLITE_OPEN_URI;
    }
  }
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) return DbError(db.get(), rc, path, "cannot open");
  sqlite3_extended_result_codes(db.get(), 1);
  // Other processes (the CLI, a second pipeline) may hold the lock briefly.
  sqlite3_busy_timeout(db.get(), 5000);

  // The first read of the header is where a non-database file shows itself.
  std::int64_t app_id = 0;
  std::int64_t objects = 0;
  {
    auto st = Stmt::Prepare(db.get(), path, "PRAGMA application_id");
    if (!st.ok()) {
      if (st.status().code() == StatusCode::kCorrupt)
        return Corrupt("journal " + path +
                       " is not an SQLite database (so not a lockpipe journal)");
      return st.status();
    }
    auto row = st->Step("reading the application id");
    if (!row.ok()) {
      if (row.status().code() == StatusCode::kCorrupt)
        return Corrupt("journal " + path +
                       " is not an SQLite database (so not a lockpipe journal)");
      return row.status();
    }
    app_id = st->Int(0);
    ASSIGN_OR_RETURN(auto count,
                     Stmt::Prepare(db.get(), path, "SELECT count(*) FROM sqlite_schema"));
    ASSIGN_OR_RETURN(bool has, count.Step("listing tables"));
    if (has) objects = count.Int(0);
  }
  if (app_id != kApplicationId && !(app_id == 0 && objects == 0 && rw)) {
    return InvalidArgument("journal " + path +
                           " is an SQLite database but not a lockpipe journal (" +
                           std::to_string(objects) + " tables/indexes, application_id " +
                           std::to_string(app_id) + "); refusing to use it");
  }

  if (rw) {
    // journal_mode=WAL is persistent in the file and cannot change inside a
    // transaction; it answers the mode it ended up in.
    // Two processes creating the journal at once: SQLite answers BUSY here at
    // once, without its busy handler (both hold a shared lock and want to
    // upgrade), so the wait is ours: bounded like the busy timeout.
    std::string journal_mode;
    for (int attempt = 0;; ++attempt) {
      ASSIGN_OR_RETURN(auto wal, Stmt::Prepare(db.get(), path, "PRAGMA journal_mode=WAL"));
      auto has_row = wal.Step("switching to WAL mode");
      if (has_row.ok()) {
        if (*has_row) journal_mode = wal.Text(0);
        break;
      }
      if (has_row.status().code() != StatusCode::kTimeout || attempt == 100)
        return has_row.status();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (journal_mode != "wal")
      return IoError("journal " + path +
                     ": SQLite refused WAL mode (file system without shared "
                     "memory support?)");
  }
  // NORMAL by default (RecordIntent switches to FULL for its commit): in WAL
  // mode NORMAL survives a process crash; only an OS crash or power loss can
  // drop the last commits, and those can only be events, analyses, decisions
  // without an action, or outcomes (then reported unknown, never resent).
  RETURN_IF_ERROR(Exec(db.get(), path, "PRAGMA synchronous=NORMAL", "setting synchronous=NORMAL"));
  RETURN_IF_ERROR(Exec(db.get(), path, "PRAGMA foreign_keys=ON", "enabling foreign keys"));

  auto journal = std::unique_ptr<Journal>(new Journal(path, std::move(db)));
  sqlite3* h = journal->db_.get();
  if (rw) {
    ASSIGN_OR_RETURN(auto tx, Transaction::Begin(h, path));
    RETURN_IF_ERROR(Exec(h, path,
                         "CREATE TABLE IF NOT EXISTS schema_version("
                         "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                         "applied_at_ms INTEGER NOT NULL)",
                         "creating schema_version"));
    // Re-read inside the write lock: another process may have just migrated.
    ASSIGN_OR_RETURN(
        auto cur, Stmt::Prepare(h, path, "SELECT coalesce(max(version), 0) FROM schema_version"));
    ASSIGN_OR_RETURN(bool has_row, cur.Step("reading the schema version"));
    const std::int64_t version = has_row ? cur.Int(0) : 0;
    if (version > kSchemaVersion)
      return Unsupported("journal " + path + " has schema version " + std::to_string(version) +
                         ", written by a newer lockpipe (this one knows up to " +
                         std::to_string(kSchemaVersion) + ")");
    for (const Migration& m : kMigrations) {
      if (m.version <= version) continue;
      RETURN_IF_ERROR(
          Exec(h, path, m.sql, "migrating to schema version " + std::to_string(m.version)));
      ASSIGN_OR_RETURN(auto ins, Stmt::Prepare(h, path,
                                               "INSERT INTO schema_version(version, description, "
                                               "applied_at_ms) VALUES (?1, ?2, ?3)"));
      ins.Bind(1, static_cast<std::int64_t>(m.version)).Bind(2, m.description).Bind(3, NowMs());
      RETURN_IF_ERROR(ins.Run("recording schema version " + std::to_string(m.version)));
      log::Debug("journal " + path + ": migrated to schema version " + std::to_string(m.version));
    }
    // A constant, not a value from outside: PRAGMA takes no bound parameters.
    RETURN_IF_ERROR(Exec(h, path, "PRAGMA application_id=1280004170", "marking the journal"));
    static_assert(kApplicationId == 1280004170);
    RETURN_IF_ERROR(tx.Commit());
  } else {
    ASSIGN_OR_RETURN(int version, journal->SchemaVersion());
    if (version > kSchemaVersion)
      return Unsupported("journal " + path + " has schema version " + std::to_string(version) +
                         ", written by a newer lockpipe (this one knows up to " +
                         std::to_string(kSchemaVersion) + ")");
    if (version < kSchemaVersion)
      return Unsupported("journal " + path + " has schema version " + std::to_string(version) +
                         "; open it once read-write (run the pipeline) to migrate it");
  }
  return journal;
}

Result<std::optional<std::int64_t>> Journal::BeginEvent(const EventRecord& e) {
  if (e.capture_key.empty()) return InvalidArgument("journal event: capture_key is empty");
  if (e.device_id.empty())
    return InvalidArgument("journal event " + e.capture_key + ": device_id is empty");
  if (!OneOf(e.kind, {"unlock", "alert"}))
    return InvalidArgument("journal event " + e.capture_key +
                           ": kind must be 'unlock' or 'alert', not " + Quoted(e.kind));
  if (!OneOf(e.source, {"poll", "webhook", "batch"}))
    return InvalidArgument("journal event " + e.capture_key +
                           ": source must be 'poll', 'webhook' or 'batch', not " +
                           Quoted(e.source));
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  // ON CONFLICT on the key only: unlike INSERT OR IGNORE it does not swallow
  // other constraint failures.
  ASSIGN_OR_RETURN(auto st,
                   Stmt::Prepare(db, path_,
                                 "INSERT INTO events(capture_key, device_id, kind, source, "
                                 "media_ref, captured_at_ms, received_at_ms) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                                 "ON CONFLICT(capture_key) DO NOTHING"));
  st.Bind(1, e.capture_key).Bind(2, e.device_id).Bind(3, e.kind).Bind(4, e.source);
  st.Bind(5, StripMediaRef(e.media_ref)).Bind(6, e.captured_at_ms).Bind(7, e.received_at_ms);
  RETURN_IF_ERROR(st.Run("recording event " + e.capture_key));
  if (sqlite3_changes(db) == 0) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(sqlite3_last_insert_rowid(db));
}

Status Journal::RecordAnalysis(std::int64_t event_id, const AnalysisRecord& a) {
  if (!a.faces_json.empty() && !nlohmann::json::accept(a.faces_json))
    return InvalidArgument("journal event " + std::to_string(event_id) +
                           ": faces_json is not valid JSON");
  const std::string thumbs = JsonText(nlohmann::json(a.thumbnail_paths));
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db, path_));
  ASSIGN_OR_RETURN(auto ev, Stmt::Prepare(db, path_,
                                          "SELECT (SELECT count(*) FROM events WHERE id = ?1), "
                                          "(SELECT count(*) FROM analyses WHERE event_id = ?1)"));
  ev.Bind(1, event_id);
  ASSIGN_OR_RETURN(bool row, ev.Step("looking up event " + std::to_string(event_id)));
  if (!row || ev.Int(0) == 0)
    return NotFound("journal " + path_ + ": no event " + std::to_string(event_id));
  if (ev.Int(1) != 0)
    return Unsupported("journal " + path_ + ": event " + std::to_string(event_id) +
                       " already has an analysis");
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db, path_,
                                          "INSERT INTO analyses(event_id, ok, error, faces_json, "
                                          "thumbnail_paths_json, contact_sheet_path, media_type, "
                                          "duration_s, recorded_at_ms) "
                                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  st.Bind(1, event_id).Bind(2, std::int64_t{a.ok ? 1 : 0}).Bind(3, a.error).Bind(4, a.faces_json);
  st.Bind(5, thumbs).Bind(6, a.contact_sheet_path).Bind(7, a.media_type).Bind(8, a.duration_s);
  st.Bind(9, NowMs());
  RETURN_IF_ERROR(st.Run("recording the analysis of event " + std::to_string(event_id)));
  return tx.Commit();
}

Status Journal::RecordEvidencePaths(std::int64_t event_id,
                                    const std::vector<std::string>& thumbnails,
                                    const std::string& contact_sheet) {
  const std::string thumbs = JsonText(nlohmann::json(thumbnails));
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db, path_,
                                          "UPDATE analyses SET thumbnail_paths_json = ?2, "
                                          "contact_sheet_path = ?3 WHERE event_id = ?1"));
  st.Bind(1, event_id).Bind(2, thumbs).Bind(3, contact_sheet);
  RETURN_IF_ERROR(st.Run("recording the evidence of event " + std::to_string(event_id)));
  if (sqlite3_changes(db) != 1)
    return NotFound("journal " + path_ + ": event " + std::to_string(event_id) +
                    " has no analysis to add evidence to");
  return Status::Ok();
}

Status Journal::RecordDecision(std::int64_t event_id, const DecisionRecord& d) {
  if (!OneOf(d.verdict, {"approve", "reject", "escalate"}))
    return InvalidArgument("journal event " + std::to_string(event_id) +
                           ": verdict must be 'approve', 'reject' or 'escalate', not " +
                           Quoted(d.verdict));
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db, path_));
  ASSIGN_OR_RETURN(auto ev, Stmt::Prepare(db, path_,
                                          "SELECT (SELECT count(*) FROM events WHERE id = ?1), "
                                          "(SELECT verdict FROM decisions WHERE event_id = ?1)"));
  ev.Bind(1, event_id);
  ASSIGN_OR_RETURN(bool row, ev.Step("looking up event " + std::to_string(event_id)));
  if (!row || ev.Int(0) == 0)
    return NotFound("journal " + path_ + ": no event " + std::to_string(event_id));
  if (!ev.IsNull(1))
    return Unsupported("journal " + path_ + ": event " + std::to_string(event_id) +
                       " was already decided (" + ev.Text(1) +
                       "); a capture is never decided twice");
  ASSIGN_OR_RETURN(auto st,
                   Stmt::Prepare(db, path_,
                                 "INSERT INTO decisions(event_id, verdict, rule, reason, "
                                 "dry_run, decided_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  st.Bind(1, event_id).Bind(2, d.verdict).Bind(3, d.rule).Bind(4, d.reason);
  st.Bind(5, std::int64_t{d.dry_run ? 1 : 0}).Bind(6, d.decided_at_ms);
  RETURN_IF_ERROR(st.Run("recording the decision on event " + std::to_string(event_id)));
  return tx.Commit();
}

Status Journal::RecordResolution(std::int64_t event_id, const ResolutionRecord& r) {
  const std::string ev_name = "event " + std::to_string(event_id);
  if (!OneOf(r.verdict, {"approve", "reject"}))
    return InvalidArgument("journal " + ev_name +
                           ": an answer must be 'approve' or 'reject', not " + Quoted(r.verdict));
  if (r.decided_by.empty())
    return InvalidArgument("journal " + ev_name + ": an answer must say who gave it");
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db, path_));
  ASSIGN_OR_RETURN(auto ev,
                   Stmt::Prepare(db, path_,
                                 "SELECT e.kind, d.verdict, d.dry_run, d.rule, "
                                 "r.verdict, r.decided_by "
                                 "FROM events e LEFT JOIN decisions d ON d.event_id = e.id "
                                 "LEFT JOIN resolutions r ON r.event_id = e.id "
                                 "WHERE e.id = ?1"));
  ev.Bind(1, event_id);
  ASSIGN_OR_RETURN(bool row, ev.Step("looking up " + ev_name));
  if (!row) return NotFound("journal " + path_ + ": no " + ev_name);
  if (!ev.IsNull(4))
    return Unsupported("journal " + path_ + ": " + ev_name + " was already answered (" +
                       ev.Text(4) + " by " + ev.Text(5) + "); it is never answered twice");
  if (ev.Text(0) != "unlock")
    return InvalidArgument("journal " + path_ + ": " + ev_name + " is an " + ev.Text(0) +
                           ", not an unlock request: there is nothing to answer");
  if (ev.IsNull(1))
    return InvalidArgument("journal " + path_ + ": " + ev_name + " has not been decided yet");
  if (ev.Text(1) != "escalate")
    return InvalidArgument("journal " + path_ + ": " + ev_name + " was decided '" + ev.Text(1) +
                           "'" + (ev.Text(3).empty() ? "" : " by rule '" + ev.Text(3) + "'") +
                           "; only escalated requests wait for a person");
  if (ev.Int(2) != 0)
    return InvalidArgument("journal " + path_ + ": " + ev_name +
                           " was decided in dry-run mode; nothing may be sent for it");
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db, path_,
                                          "INSERT INTO resolutions(event_id, verdict, decided_by, "
                                          "reason, decided_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)"));
  st.Bind(1, event_id).Bind(2, r.verdict).Bind(3, r.decided_by).Bind(4, r.reason);
  st.Bind(5, r.decided_at_ms);
  RETURN_IF_ERROR(st.Run("recording the answer to " + ev_name));
  return tx.Commit();
}

Result<std::int64_t> Journal::RecordIntent(std::int64_t event_id, const ActionIntent& in) {
  if (in.endpoint.empty())
    return InvalidArgument("journal event " + std::to_string(event_id) +
                           ": intent has no endpoint");
  return InsertAction(event_id, in, nullptr);
}

Status Journal::RecordNotSent(std::int64_t event_id, const ActionIntent& in,
                              const std::string& why) {
  const ActionOutcome outcome{"failed", "not sent: " + why, in.at_ms};
  return InsertAction(event_id, in, &outcome).status();
}

Result<std::int64_t> Journal::InsertAction(std::int64_t event_id, const ActionIntent& in,
                                           const ActionOutcome* settled) {
  const std::string ev_name = "event " + std::to_string(event_id);
  if (!OneOf(in.action, {"approve", "reject"}))
    return InvalidArgument("journal " + ev_name + ": action must be 'approve' or 'reject', not " +
                           Quoted(in.action));
  if (in.device_id.empty())
    return InvalidArgument("journal " + ev_name + ": intent has no device_id");
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  // An intent must be on disk before the door call goes out, whatever
  // happens to the machine next: FULL fsyncs the WAL at this commit, which also
  // makes every earlier (NORMAL) commit durable, the event and decision
  // included. Set outside the transaction; restored on every path. A call that
  // is not sent needs no such care.
  if (settled == nullptr)
    RETURN_IF_ERROR(Exec(db, path_, "PRAGMA synchronous=FULL", "setting synchronous=FULL"));
  struct RestoreNormal {
    sqlite3* db;
    ~RestoreNormal() { sqlite3_exec(db, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr); }
  } restore{db};
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db, path_));
  ASSIGN_OR_RETURN(auto ev,
                   Stmt::Prepare(db, path_,
                                 "SELECT e.device_id, d.verdict, d.dry_run, "
                                 "(SELECT a.id || ' (outcome ' || coalesce(a.outcome, "
                                 "'not yet known') || ')' FROM actions a "
                                 " WHERE a.event_id = e.id AND a.action = ?2), r.verdict "
                                 "FROM events e LEFT JOIN decisions d ON d.event_id = e.id "
                                 "LEFT JOIN resolutions r ON r.event_id = e.id "
                                 "WHERE e.id = ?1"));
  ev.Bind(1, event_id).Bind(2, in.action);
  ASSIGN_OR_RETURN(bool row, ev.Step("looking up " + ev_name));
  if (!row) return NotFound("journal " + path_ + ": no " + ev_name);
  if (!ev.IsNull(3))
    return Unsupported("journal " + path_ + ": " + ev_name + " already has a '" + in.action +
                       "' action, id " + ev.Text(3) + "; it is never sent twice");
  if (ev.IsNull(1))
    return InvalidArgument("journal " + path_ + ": " + ev_name +
                           " has no decision; refusing to record an action for it");
  if (ev.Int(2) != 0)
    return InvalidArgument("journal " + path_ + ": " + ev_name +
                           " was decided in dry-run mode; nothing may be sent for it");
  const std::string verdict = ev.Text(1);
  const bool person_approved = !ev.IsNull(4) && ev.Text(4) == "approve";
  if (in.action == "approve" && verdict != "approve" && !person_approved)
    return InvalidArgument("journal " + path_ + ": " + ev_name + " was decided '" + verdict +
                           (ev.IsNull(4) ? "" : "' and answered '" + ev.Text(4)) +
                           "'; refusing to record an approve (unlock) action for it");
  if (ev.Text(0) != in.device_id)
    return InvalidArgument("journal " + path_ + ": " + ev_name + " is for device " + ev.Text(0) +
                           ", not " + in.device_id);
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db, path_,
                                          "INSERT INTO actions(event_id, action, endpoint, "
                                          "device_id, intent_at_ms, outcome, detail, "
                                          "outcome_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                                          "coalesce(?7, ''), ?8)"));
  st.Bind(1, event_id).Bind(2, in.action).Bind(3, in.endpoint).Bind(4, in.device_id);
  st.Bind(5, in.at_ms);
  if (settled != nullptr)
    st.Bind(6, settled->outcome).Bind(7, settled->detail).Bind(8, settled->at_ms);
  RETURN_IF_ERROR(st.Run("recording the " + in.action + " intent for " + ev_name));
  const std::int64_t id = sqlite3_last_insert_rowid(db);
  RETURN_IF_ERROR(tx.Commit());
  return id;
}

Status Journal::RecordOutcome(std::int64_t action_id, const ActionOutcome& o) {
  if (!OneOf(o.outcome, {"ok", "failed", "unknown"}))
    return InvalidArgument("journal action " + std::to_string(action_id) +
                           ": outcome must be 'ok', 'failed' or 'unknown', not " +
                           Quoted(o.outcome));
  return SetOutcome(action_id, o, "recording the outcome of");
}

// Writes the outcome of an action that has none yet (one transaction).
Status Journal::SetOutcome(std::int64_t action_id, const ActionOutcome& o,
                           const std::string& doing) {
  const std::string name = "action " + std::to_string(action_id);
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db, path_));
  ASSIGN_OR_RETURN(auto cur, Stmt::Prepare(db, path_, "SELECT outcome FROM actions WHERE id = ?1"));
  cur.Bind(1, action_id);
  ASSIGN_OR_RETURN(bool row, cur.Step("looking up " + name));
  if (!row) return NotFound("journal " + path_ + ": no " + name);
  if (!cur.IsNull(0))
    return Unsupported("journal " + path_ + ": " + name + " already has outcome '" + cur.Text(0) +
                       "'");
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db, path_,
                                          "UPDATE actions SET outcome = ?2, detail = ?3, "
                                          "outcome_at_ms = ?4 WHERE id = ?1"));
  st.Bind(1, action_id).Bind(2, o.outcome).Bind(3, o.detail).Bind(4, o.at_ms);
  RETURN_IF_ERROR(st.Run(doing + " " + name));
  return tx.Commit();
}

namespace {
constexpr const char* kActionColumns =
    "id, event_id, action, endpoint, device_id, intent_at_ms, coalesce(outcome, ''), detail, "
    "coalesce(outcome_at_ms, 0)";

ActionRecord ReadAction(const Stmt& st) {
  ActionRecord a;
  a.id = st.Int(0);
  a.event_id = st.Int(1);
  a.action = st.Text(2);
  a.endpoint = st.Text(3);
  a.device_id = st.Text(4);
  a.intent_at_ms = st.Int(5);
  a.outcome = st.Text(6);
  a.detail = st.Text(7);
  a.outcome_at_ms = st.Int(8);
  return a;
}
}  // namespace

Result<std::vector<ActionRecord>> Journal::UnknownOutcomes(bool include_reported) {
  std::lock_guard lock(mu_);
  const std::string sql = std::string("SELECT ") + kActionColumns +
                          " FROM actions WHERE outcome IS NULL OR (?1 AND outcome = 'unknown') "
                          "ORDER BY id";
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db_.get(), path_, sql.c_str()));
  st.Bind(1, std::int64_t{include_reported ? 1 : 0});
  std::vector<ActionRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step("listing actions without outcome"));
    if (!row) break;
    out.push_back(ReadAction(st));
  }
  return out;
}

Status Journal::MarkUnknown(std::int64_t action_id) {
  return SetOutcome(
      action_id,
      {"unknown", "no outcome was recorded before the process stopped; not resent", NowMs()},
      "marking unknown:");
}

Status Journal::LoadDetailsLocked(JournalEntry* e) {
  sqlite3* db = db_.get();
  const std::string id = std::to_string(e->id);
  {
    ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db, path_,
                                            "SELECT ok, error, faces_json, thumbnail_paths_json, "
                                            "contact_sheet_path, media_type, duration_s "
                                            "FROM analyses WHERE event_id = ?1"));
    st.Bind(1, e->id);
    ASSIGN_OR_RETURN(bool row, st.Step("reading the analysis of event " + id));
    if (row) {
      AnalysisRecord a;
      a.ok = st.Int(0) != 0;
      a.error = st.Text(1);
      a.faces_json = st.Text(2);
      auto thumbs = nlohmann::json::parse(st.Text(3), nullptr, /*allow_exceptions=*/false);
      if (!thumbs.is_array())
        return Corrupt("journal " + path_ + ": event " + id +
                       ": thumbnail list is not a JSON array");
      for (const auto& t : thumbs)
        if (t.is_string()) a.thumbnail_paths.push_back(t.get<std::string>());
      a.contact_sheet_path = st.Text(4);
      a.media_type = st.Text(5);
      a.duration_s = st.Double(6);
      e->analysis = std::move(a);
    }
  }
  {
    ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db, path_,
                                            "SELECT verdict, rule, reason, dry_run, decided_at_ms "
                                            "FROM decisions WHERE event_id = ?1"));
    st.Bind(1, e->id);
    ASSIGN_OR_RETURN(bool row, st.Step("reading the decision on event " + id));
    if (row) {
      DecisionRecord d;
      d.verdict = st.Text(0);
      d.rule = st.Text(1);
      d.reason = st.Text(2);
      d.dry_run = st.Int(3) != 0;
      d.decided_at_ms = st.Int(4);
      e->decision = std::move(d);
    }
  }
  {
    ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db, path_,
                                            "SELECT verdict, decided_by, reason, decided_at_ms "
                                            "FROM resolutions WHERE event_id = ?1"));
    st.Bind(1, e->id);
    ASSIGN_OR_RETURN(bool row, st.Step("reading the answer to event " + id));
    if (row) {
      ResolutionRecord r;
      r.verdict = st.Text(0);
      r.decided_by = st.Text(1);
      r.reason = st.Text(2);
      r.decided_at_ms = st.Int(3);
      e->resolution = std::move(r);
    }
  }
  const std::string sql =
      std::string("SELECT ") + kActionColumns + " FROM actions WHERE event_id = ?1 ORDER BY id";
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db, path_, sql.c_str()));
  st.Bind(1, e->id);
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step("reading the actions of event " + id));
    if (!row) break;
    e->actions.push_back(ReadAction(st));
  }
  return Status::Ok();
}

namespace {
constexpr const char* kEventColumns =
    "id, capture_key, device_id, kind, source, media_ref, captured_at_ms, received_at_ms";
JournalEntry ReadEvent(const Stmt& st) {
  JournalEntry e;
  e.id = st.Int(0);
  e.event.capture_key = st.Text(1);
  e.event.device_id = st.Text(2);
  e.event.kind = st.Text(3);
  e.event.source = st.Text(4);
  e.event.media_ref = st.Text(5);
  e.event.captured_at_ms = st.Int(6);
  e.event.received_at_ms = st.Int(7);
  return e;
}
}  // namespace

Result<JournalEntry> Journal::LoadEntryLocked(std::int64_t event_id) {
  const std::string sql = std::string("SELECT ") + kEventColumns + " FROM events WHERE id = ?1";
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db_.get(), path_, sql.c_str()));
  st.Bind(1, event_id);
  ASSIGN_OR_RETURN(bool row, st.Step("reading event " + std::to_string(event_id)));
  if (!row) return NotFound("journal " + path_ + ": no event " + std::to_string(event_id));
  JournalEntry e = ReadEvent(st);
  RETURN_IF_ERROR(LoadDetailsLocked(&e));
  return e;
}

Result<JournalEntry> Journal::GetEvent(std::int64_t event_id) {
  std::lock_guard lock(mu_);
  // One read transaction so the event and its evidence are one snapshot.
  RETURN_IF_ERROR(Exec(db_.get(), path_, "BEGIN", "starting a read"));
  auto e = LoadEntryLocked(event_id);
  sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr);
  return e;
}

Result<std::vector<JournalEntry>> Journal::ListEvents(const EventFilter& f) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Exec(db_.get(), path_, "BEGIN", "starting a read"));
  auto list = [&]() -> Result<std::vector<JournalEntry>> {
    const std::string sql =
        std::string("SELECT ") + kEventColumns +
        " FROM events WHERE (?1 = '' OR device_id = ?1) "
        "AND (?2 <= 0 OR id < ?2) "
        "AND (?4 = 0 OR (kind = 'unlock' "
        " AND EXISTS (SELECT 1 FROM decisions d WHERE d.event_id = events.id "
        "  AND d.verdict = 'escalate' AND d.dry_run = 0) "
        " AND NOT EXISTS (SELECT 1 FROM resolutions r WHERE r.event_id = events.id))) "
        "ORDER BY id DESC LIMIT ?3";
    ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db_.get(), path_, sql.c_str()));
    st.Bind(1, f.device_id).Bind(2, f.before_id);
    st.Bind(3, f.limit > 0 ? static_cast<std::int64_t>(f.limit) : std::int64_t{-1});
    st.Bind(4, std::int64_t{f.waiting_only ? 1 : 0});
    std::vector<JournalEntry> out;
    for (;;) {
      ASSIGN_OR_RETURN(bool row, st.Step("listing events"));
      if (!row) break;
      out.push_back(ReadEvent(st));
    }
    for (auto& e : out) RETURN_IF_ERROR(LoadDetailsLocked(&e));
    return out;
  }();
  sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr);
  return list;
}

Result<std::vector<JournalEntry>> Journal::UndecidedEvents(std::int64_t received_before_ms,
                                                           int limit) {
  std::lock_guard lock(mu_);
  const std::string sql = std::string("SELECT ") + kEventColumns +
                          " FROM events WHERE received_at_ms < ?1 "
                          "AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.event_id = events.id) "
                          "ORDER BY id LIMIT ?2";
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db_.get(), path_, sql.c_str()));
  st.Bind(1, received_before_ms).Bind(2, static_cast<std::int64_t>(limit));
  std::vector<JournalEntry> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step("listing undecided events"));
    if (!row) break;
    out.push_back(ReadEvent(st));
  }
  return out;
}

Result<std::map<std::string, std::int64_t>> Journal::CountVerdicts() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto st,
                   Stmt::Prepare(db_.get(), path_,
                                 "SELECT coalesce(d.verdict, 'undecided'), count(*) "
                                 "FROM events e LEFT JOIN decisions d ON d.event_id = e.id "
                                 "GROUP BY 1"));
  std::map<std::string, std::int64_t> out{
      {"approve", 0}, {"reject", 0}, {"escalate", 0}, {"undecided", 0}};
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step("counting verdicts"));
    if (!row) break;
    out[st.Text(0)] = st.Int(1);
  }
  return out;
}

Result<std::int64_t> Journal::CountDecisions(const std::string& device_id,
                                             const std::string& verdict, std::int64_t since_ms,
                                             bool include_dry_run) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db_.get(), path_,
                                          "SELECT count(*) FROM decisions d JOIN events e "
                                          "ON e.id = d.event_id WHERE e.device_id = ?1 AND "
                                          "d.verdict = ?2 AND d.decided_at_ms >= ?3 AND "
                                          "(?4 OR d.dry_run = 0)"));
  st.Bind(1, device_id).Bind(2, verdict).Bind(3, since_ms);
  st.Bind(4, std::int64_t{include_dry_run ? 1 : 0});
  ASSIGN_OR_RETURN(bool row, st.Step("counting decisions for device " + device_id));
  return row ? st.Int(0) : std::int64_t{0};
}

Result<std::string> Journal::JournalMode() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db_.get(), path_, "PRAGMA journal_mode"));
  ASSIGN_OR_RETURN(bool row, st.Step("reading the journal mode"));
  if (!row) return InternalError("journal " + path_ + ": PRAGMA journal_mode returned nothing");
  return st.Text(0);
}

Result<int> Journal::SchemaVersion() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto has,
                   Stmt::Prepare(db_.get(), path_,
                                 "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                 "AND name = 'schema_version'"));
  ASSIGN_OR_RETURN(bool row, has.Step("looking for schema_version"));
  if (!row || has.Int(0) == 0) return 0;
  ASSIGN_OR_RETURN(auto st, Stmt::Prepare(db_.get(), path_,
                                          "SELECT coalesce(max(version), 0) FROM schema_version"));
  ASSIGN_OR_RETURN(bool vrow, st.Step("reading the schema version"));
  return vrow ? static_cast<int>(st.Int(0)) : 0;
}

nlohmann::json ToJson(const ActionRecord& a) {
  nlohmann::json j = {
      {"id", a.id},
      {"event_id", a.event_id},
      {"action", a.action},
      {"endpoint", a.endpoint},
      {"device_id", a.device_id},
      {"intent_at_ms", a.intent_at_ms},
      {"outcome", a.outcome.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.outcome)},
      {"detail", a.detail}};
  j["outcome_at_ms"] =
      a.outcome.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.outcome_at_ms);
  return j;
}

nlohmann::json ToJson(const JournalEntry& e) {
  nlohmann::json j = {{"id", e.id},
                      {"capture_key", e.event.capture_key},
                      {"device_id", e.event.device_id},
                      {"kind", e.event.kind},
                      {"source", e.event.source},
                      {"media_ref", e.event.media_ref},
                      {"captured_at_ms", e.event.captured_at_ms},
                      {"received_at_ms", e.event.received_at_ms},
                      {"verdict", VerdictOrUndecided(e)}};
  if (e.analysis) {
    const auto& a = *e.analysis;
    nlohmann::json faces = nullptr;
    if (!a.faces_json.empty())
      faces = nlohmann::json::parse(a.faces_json, nullptr, /*allow_exceptions=*/false);
    j["analysis"] = {{"ok", a.ok},
                     {"error", a.error},
                     {"faces", faces},
                     {"thumbnail_paths", a.thumbnail_paths},
                     {"contact_sheet_path", a.contact_sheet_path},
                     {"media_type", a.media_type},
                     {"duration_s", a.duration_s}};
  } else {
    j["analysis"] = nullptr;
  }
  if (e.decision) {
    const auto& d = *e.decision;
    j["decision"] = {{"verdict", d.verdict},
                     {"rule", d.rule},
                     {"reason", d.reason},
                     {"dry_run", d.dry_run},
                     {"decided_at_ms", d.decided_at_ms}};
  } else {
    j["decision"] = nullptr;
  }
  if (e.resolution) {
    const auto& r = *e.resolution;
    j["resolution"] = {{"verdict", r.verdict},
                       {"decided_by", r.decided_by},
                       {"reason", r.reason},
                       {"decided_at_ms", r.decided_at_ms}};
  } else {
    j["resolution"] = nullptr;
  }
  j["actions"] = nlohmann::json::array();
  for (const auto& a : e.actions) j["actions"].push_back(ToJson(a));
  return j;
}

}  // namespace lockpipe
