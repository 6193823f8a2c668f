// lockpipe journal: read the decision journal (list, show, unknown, stats).
//
// Opens the journal read-only: looking never creates, migrates or changes it,
// and a running pipeline keeps writing meanwhile (WAL).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <sstream>
#include <string>

#include "base/json_text.h"
#include "base/log.h"
#include "pipeline/cli/command.h"
#include "pipeline/journal.h"

namespace lockpipe::cli {
namespace {

const char* kCmd = "journal";

// "2026-11-26T02:43:43.123Z"; "-" for 0 (not recorded).
std::string FormatTime(std::int64_t ms) {
  if (ms == 0) return "-";
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr) return std::to_string(ms) + "ms";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(frac));
  return out;
}

std::string Verdict(const JournalEntry& e) {
  if (!e.decision) return "undecided";
  if (e.resolution) return e.resolution->verdict + " (person)";  // answered an escalation
  return e.decision->verdict + (e.decision->dry_run ? " (dry)" : "");
}

std::string ActionsSummary(const JournalEntry& e) {
  if (e.actions.empty()) return "-";
  std::string s;
  for (const auto& a : e.actions) {
    if (!s.empty()) s += ",";
    s += a.action + ":" +
         (a.outcome.empty()    ? "pending"
          : a.endpoint.empty() ? "not-sent"  // the lock type or config has no call for it
                               : a.outcome);
  }
  return s;
}

// Face count when faces_json is an array (or has a "faces" array), else "-".
std::string FaceCount(const JournalEntry& e) {
  if (!e.analysis) return "-";
  if (!e.analysis->ok) return "error";
  auto j = nlohmann::json::parse(e.analysis->faces_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_array()) return std::to_string(j.size());
  if (j.is_object() && j.contains("faces") && j["faces"].is_array())
    return std::to_string(j["faces"].size());
  return "-";
}

// Columns sized to their widest cell; the last column is not padded.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

int List(Journal& journal, const po::variables_map& vm) {
  EventFilter filter;
  filter.limit = vm["limit"].as<int>();
  if (vm.count("device")) filter.device_id = vm["device"].as<std::string>();
  filter.waiting_only = vm.count("waiting") > 0;
  auto events = journal.ListEvents(filter);
  if (!events.ok()) return Fail(kCmd, events.status());
  if (vm.count("json")) {
    for (const auto& e : *events) std::cout << JsonText(ToJson(e)) << "\n";
    return kExitOk;
  }
  if (events->empty()) {
    std::cout << (filter.waiting_only ? "no request waiting for a person in " : "no events in ")
              << journal.path() << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows{
      {"ID", "CAPTURED (UTC)", "DEVICE", "KIND", "SOURCE", "FACES", "VERDICT", "RULE", "ACTIONS"}};
  for (const auto& e : *events) {
    rows.push_back({std::to_string(e.id), FormatTime(e.event.captured_at_ms), e.event.device_id,
                    e.event.kind, e.event.source, FaceCount(e), Verdict(e),
                    e.decision && !e.decision->rule.empty() ? e.decision->rule : "-",
                    ActionsSummary(e)});
  }
  PrintTable(rows);
  return kExitOk;
}

void PrintAction(const ActionRecord& a) {
  std::cout << "  #" << a.id << " " << a.action
            << (a.endpoint.empty() ? std::string(", not sent") : " via " + a.endpoint)
            << " (device " << a.device_id << ")\n"
            << "      intent:  " << FormatTime(a.intent_at_ms) << "\n"
            << "      outcome: "
            << (a.outcome.empty()        ? "none recorded (in flight, or lost in a crash)"
                : a.outcome == "unknown" ? "unknown (the lock may have acted; never resent)"
                                         : a.outcome);
  if (!a.outcome.empty()) std::cout << " at " << FormatTime(a.outcome_at_ms);
  std::cout << "\n";
  if (!a.detail.empty()) std::cout << "      detail:  " << a.detail << "\n";
}

int Show(Journal& journal, const po::variables_map& vm) {
  if (!vm.count("id")) return UsageError(kCmd, "show needs an EVENT_ID");
  const std::string id_text = vm["id"].as<std::string>();
  std::int64_t id = 0;
  try {
    std::size_t used = 0;
    id = std::stoll(id_text, &used);
    if (used != id_text.size() || id <= 0) throw std::invalid_argument("not a positive number");
  } catch (const std::exception&) {
    return UsageError(kCmd, "EVENT_ID must be a positive whole number, not '" + id_text + "'");
  }
  auto e = journal.GetEvent(id);
  if (!e.ok()) return Fail(kCmd, e.status());
  if (vm.count("json")) {
    std::cout << JsonText(ToJson(*e), 2) << "\n";
    return kExitOk;
  }
  const auto& ev = e->event;
  std::cout << "Event " << e->id << "\n"
            << "  capture key: " << ev.capture_key << "\n"
            << "  device:      " << ev.device_id << "\n"
            << "  kind:        " << ev.kind << " (from " << ev.source << ")\n"
            << "  media:       " << (ev.media_ref.empty() ? "-" : ev.media_ref) << "\n"
            << "  captured:    " << FormatTime(ev.captured_at_ms) << "\n"
            << "  received:    " << FormatTime(ev.received_at_ms) << "\n";
  if (!e->analysis) {
    std::cout << "Analysis: none recorded\n";
  } else {
    const auto& a = *e->analysis;
    std::cout << "Analysis: " << (a.ok ? "ok" : "FAILED: " + a.error) << "\n";
    std::ostringstream dur;
    dur << a.duration_s;
    std::cout << "  media type:    " << (a.media_type.empty() ? "-" : a.media_type) << ", duration "
              << dur.str() << " s\n"
              << "  faces:         " << FaceCount(*e);
    if (!a.faces_json.empty()) std::cout << "  " << a.faces_json;
    std::cout << "\n";
    for (const auto& t : a.thumbnail_paths) std::cout << "  thumbnail:     " << t << "\n";
    if (!a.contact_sheet_path.empty())
      std::cout << "  contact sheet: " << a.contact_sheet_path << "\n";
  }
  if (!e->decision) {
    std::cout << "Decision: none recorded\n";
  } else {
    const auto& d = *e->decision;
    std::cout << "Decision: " << d.verdict << " by rule "
              << (d.rule.empty() ? "(default)" : "'" + d.rule + "'")
              << (d.dry_run ? " [dry run: nothing sent]" : "") << "\n"
              << "  reason:  " << (d.reason.empty() ? "-" : d.reason) << "\n"
              << "  decided: " << FormatTime(d.decided_at_ms) << "\n";
  }
  if (e->resolution) {
    const auto& r = *e->resolution;
    std::cout << "Answered: " << r.verdict << " by " << r.decided_by << " (lockpipe decide)\n"
              << "  reason:  " << (r.reason.empty() ? "-" : r.reason) << "\n"
              << "  at:      " << FormatTime(r.decided_at_ms) << "\n";
  } else if (e->decision && e->decision->verdict == "escalate" && !e->decision->dry_run &&
             e->event.kind == "unlock") {
    std::cout << "Answered: not yet (a person answers with: lockpipe decide --config FILE " << e->id
              << " approve|reject --by NAME)\n";
  }
  if (e->actions.empty()) {
    std::cout << "Actions: none\n";
  } else {
    std::cout << "Actions:\n";
    for (const auto& a : e->actions) PrintAction(a);
  }
  return kExitOk;
}

int Unknown(Journal& journal, const po::variables_map& vm) {
  auto actions = journal.UnknownOutcomes(/*include_reported=*/true);
  if (!actions.ok()) return Fail(kCmd, actions.status());
  if (vm.count("json")) {
    for (const auto& a : *actions) std::cout << JsonText(ToJson(a)) << "\n";
    return kExitOk;
  }
  if (actions->empty()) {
    std::cout << "no actions with an unknown outcome\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows{
      {"ID", "EVENT", "DEVICE", "ACTION", "INTENT (UTC)", "STATE", "ENDPOINT"}};
  for (const auto& a : *actions) {
    rows.push_back({std::to_string(a.id), std::to_string(a.event_id), a.device_id, a.action,
                    FormatTime(a.intent_at_ms), a.outcome.empty() ? "no outcome" : "unknown",
                    a.endpoint});
  }
  PrintTable(rows);
  std::cout << "These calls may or may not have reached the lock (the process stopped, or the\n"
               "answer was lost or garbled); lockpipe never resends them.\n"
               "Check the lock's own history before acting by hand (lockpipe journal show EVENT\n"
               "has each call's detail).\n";
  return kExitOk;
}

int Stats(Journal& journal, const po::variables_map& vm) {
  auto counts = journal.CountVerdicts();
  if (!counts.ok()) return Fail(kCmd, counts.status());
  if (vm.count("json")) {
    std::cout << JsonText(nlohmann::json(*counts)) << "\n";
    return kExitOk;
  }
  for (const char* k : {"approve", "reject", "escalate", "undecided"})
    std::cout << k << std::string(11 - std::string(k).size(), ' ') << (*counts)[k] << "\n";
  return kExitOk;
}

int RunJournal(int argc, char** argv) {
  po::options_description opts("Options");
  opts.add_options()("db", po::value<std::string>(),
                     "journal file (default: $LOCKPIPE_JOURNAL, else lockpipe-journal.db here)")(
      "limit", po::value<int>()->default_value(50),
      "list: at most N events, newest first (0 = all)")("device", po::value<std::string>(),
                                                        "list: only this device's events")(
      "waiting", "list: only escalated unlock requests no one has answered (lockpipe decide)")(
      "json", "JSON for scripts: one object per line (list, unknown), one document (show)")(
      "what", po::value<std::string>(), "list | show | unknown | stats")(
      "id", po::value<std::string>(), "show: the event id");
  po::positional_options_description pos;
  pos.add("what", 1).add("id", 1);
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, kCmd,
          "lockpipe journal [--db FILE] list [--limit N] [--device ID] [--waiting] [--json]\n"
          "       lockpipe journal [--db FILE] show EVENT_ID [--json]\n"
          "       lockpipe journal [--db FILE] unknown [--json]\n"
          "       lockpipe journal [--db FILE] stats [--json]",
          opts, pos,
          "The journal is the SQLite file where the pipeline records every capture, what\n"
          "analysis found, the decision and the rule that made it, and every lock API call\n"
          "(intent before sending, outcome after). This command only reads it.\n\n"
          "  list     events newest first: verdict, rule, actions and their outcomes\n"
          "  show     one event with all its evidence (faces, thumbnails, reason, calls)\n"
          "  unknown  calls whose outcome is unknown: never recorded (a crash between\n"
          "           sending and hearing back), or recorded \"unknown\" because the answer\n"
          "           was lost or garbled (a timeout, HTTP 5xx, a cut answer): the door\n"
          "           may or may not have opened; never resent\n"
          "  stats    events per verdict\n\n"
          "Examples:\n"
          "  lockpipe journal list --limit 20\n"
          "  lockpipe journal list --waiting      (requests a person can still answer:\n"
          "                                        lockpipe decide)\n"
          "  lockpipe journal --db /var/lib/lockpipe/journal.db show 42\n"
          "  lockpipe journal list --json | jq 'select(.verdict == \"approve\")'",
          &vm, &rc))
    return rc;
  if (!vm.count("what")) return UsageError(kCmd, "say what to do: list, show, unknown or stats");
  const std::string what = vm["what"].as<std::string>();
  if (what != "list" && what != "show" && what != "unknown" && what != "stats")
    return UsageError(kCmd, "unknown action '" + what + "' (list, show, unknown or stats)");
  if (what != "show" && vm.count("id"))
    return UsageError(kCmd, what + " takes no argument '" + vm["id"].as<std::string>() + "'");
  if (what != "list" && (vm.count("device") || vm.count("waiting") || !vm["limit"].defaulted()))
    return UsageError(kCmd, "--limit, --device and --waiting apply to list only");
  if (vm["limit"].as<int>() < 0) return UsageError(kCmd, "--limit must be 0 or more");

  auto journal = Journal::Open(JournalPath(vm, "db"), Journal::Mode::kReadOnly);
  if (!journal.ok()) return Fail(kCmd, journal.status());
  // What people read goes through Printable: the journal holds device ids,
  // rule names and errors that came from outside (JSON escapes them itself).
  std::ostringstream text;
  std::streambuf* const screen = vm.count("json") ? nullptr : std::cout.rdbuf(text.rdbuf());
  const int result = what == "list"      ? List(**journal, vm)
                     : what == "show"    ? Show(**journal, vm)
                     : what == "unknown" ? Unknown(**journal, vm)
                                         : Stats(**journal, vm);
  if (screen != nullptr) {
    std::cout.rdbuf(screen);
    std::cout << Printable(text.str());
  }
  return result;
}

}  // namespace

LOCKPIPE_COMMAND("journal", "list and show decisions with their evidence from the journal",
                 RunJournal);

}  // namespace lockpipe::cli
