// lockpipe decide: a person answers an escalated unlock request.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/json_text.h"
#include "base/log.h"
#include "fetch/lock_types.h"
#include "pipeline/actions.h"
#include "pipeline/cli/runtime.h"
#include "pipeline/rules.h"

namespace lockpipe::cli {
namespace {

int RunDecide(int argc, char** argv) {
  const std::string cmd = "decide";
  po::options_description opts("Options");
  opts.add_options()("event", po::value<std::int64_t>()->required(),
                     "the journal's event id (lockpipe journal list)")(
      "answer", po::value<std::string>()->required(), "approve (open the door) or reject")(
      "by", po::value<std::string>()->required(), "who answers (a name or an account; journaled)")(
      "reason", po::value<std::string>()->default_value(""), "why, for the journal")(
      "json", "print the outcome as one JSON object (for a UI or a script)");
  AddCloudOptions(opts);
  po::positional_options_description pos;
  pos.add("event", 1).add("answer", 1);
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, cmd, "lockpipe decide --config rules.toml EVENT approve|reject --by NAME",
          opts, pos,
          "Answers an unlock request the rules escalated (no rule matched, or a rule said\n"
          "escalate): approve takes a fresh ticket and opens the door with the call the\n"
          "lock's type takes, exactly as a rule's approval would; reject revokes the\n"
          "request where the lock type allows it. The answer, who gave it, and every call\n"
          "go to the journal first; an event is answered once, never twice.\n\n"
          "Refused: events the rules decided themselves, alerts (nothing to answer),\n"
          "dry-run decisions, a config with dry_run on, and approving a request older\n"
          "than the config's max_capture_age_seconds (90 s at most: the lock has\n"
          "stopped waiting).\n\n"
          "Exit status 0 when the answer was carried out, 1 otherwise. A call whose\n"
          "answer was lost or garbled is reported \"outcome unknown\": the door may have\n"
          "opened; it is journaled so (`lockpipe journal unknown`) and never made again.\n\n"
          "Example:\n"
          "  lockpipe journal list --limit 5\n"
          "  lockpipe decide -c rules.toml 42 approve --by alice --reason \"expected guest\"",
          &vm, &rc))
    return rc;
  const std::int64_t event_id = vm["event"].as<std::int64_t>();
  const std::string answer = vm["answer"].as<std::string>();
  const std::string by = vm["by"].as<std::string>();
  if (answer != "approve" && answer != "reject")
    return UsageError(cmd, "the answer must be approve or reject, not '" + answer + "'");
  if (by.find_first_not_of(" \t\r\n") == std::string::npos)
    return UsageError(cmd, "--by must name who answers (it is journaled with the answer)");
  const std::string& reason = vm["reason"].as<std::string>();
  if (!IsUtf8(by) || !IsUtf8(reason) || Printable(by) != by || Printable(reason) != reason)
    return UsageError(cmd, "--by and --reason must be text (UTF-8, no control characters)");

  // The journal must be the pipeline's: opening a mistyped path would create
  // an empty one and answer "no event".
  const std::string journal_path = JournalPath(vm, "journal");
  if (std::error_code ec; !std::filesystem::exists(journal_path, ec))
    return Fail(cmd, NotFound("journal " + journal_path +
                              " does not exist: give the one `lockpipe run` writes (--journal)"));
  auto rt = MakeRuntime(vm, /*need_cloud=*/true);
  if (!rt.ok()) return Fail(cmd, rt.status());
  Runtime& runtime = **rt;
  Journal& journal = *runtime.journal;
  auto entry = journal.GetEvent(event_id);
  if (!entry.ok()) return Fail(cmd, entry.status());
  const std::string name = "event " + std::to_string(event_id);
  const DeviceConfig* device = runtime.config.FindDevice(entry->event.device_id);
  if (device == nullptr)
    return Fail(cmd, NotFound(name + ": its device " + entry->event.device_id + " is not in " +
                              runtime.config.source));
  const std::int64_t max_s = runtime.config.safety.max_capture_age_seconds;
  const bool stale = CaptureIsStale(FromMs(entry->event.captured_at_ms),
                                    std::chrono::system_clock::now(), static_cast<int>(max_s));
  if (answer == "approve" && stale) {
    // The same staleness rule as the rules' approvals: never open the door
    // for a request the lock has stopped waiting on.
    const std::int64_t captured = entry->event.captured_at_ms;
    return Fail(cmd,
                InvalidArgument(name + ": " +
                                (captured == 0
                                     ? std::string("the request's capture time is unknown")
                                     : "the request is " +
                                           std::to_string((NowMs() - captured) / 1000) + " s old") +
                                "; a request older than " + std::to_string(max_s) +
                                " s is never approved (the lock has stopped waiting)"));
  }

  if (runtime.config.safety.dry_run)
    return Fail(cmd, InvalidArgument(runtime.config.source +
                                     ": [safety] dry_run is on: nothing may be sent to a lock"));
  // Everything that can fail before the call, before the answer is journaled:
  // an answer is given once, so it must not be spent on a missing password.
  auto api = runtime.deps.make_api();
  if (!api.ok()) return Fail(cmd, api.status());
  std::optional<Secret> password;
  if (answer == "approve" && device->password) {
    auto p = LoadSecret(*device->password, "door password of " + device->id);
    if (!p.ok()) return Fail(cmd, p.status());
    password = std::move(p).value();
  }

  // (Only for a request still waiting: other answers get the journal's own refusal below.)
  const bool waiting = entry->decision && entry->decision->verdict == "escalate" &&
                       !entry->resolution && entry->event.kind == "unlock";
  if (answer == "approve" && waiting) {
    if (auto why = CannotOpen(*device, password.has_value() && !password->empty()))
      return Fail(cmd, Unsupported(name + ": cannot open " + device->id + ": " + *why +
                                   "; the request is left unanswered"));
  }
  const bool calls_lock =
      answer == "approve" || (!stale && Supports(device->type, Endpoint::kRevokePasswordFree));
  if (waiting && calls_lock) {
    // The cloud must answer first (an access token, kept for the call): an
    // answer that could not reach the lock because the cloud was down or the
    // credentials wrong can then be given again.
    auto http = runtime.deps.make_http();
    if (!http.ok()) return Fail(cmd, http.status());
    if (auto token = runtime.tokens->AccessToken(**http); !token.ok())
      return Fail(cmd, token.status().WithContext(name + ": the cloud cannot be asked; the request "
                                                         "is left unanswered"));
  }

  ResolutionRecord resolution{answer, by, vm["reason"].as<std::string>(), NowMs()};
  if (Status s = journal.RecordResolution(event_id, resolution); !s.ok()) return Fail(cmd, s);
  Actuator actuator(api->get(), &journal, /*dry_run=*/false);
  const ActionResult result =
      answer == "reject" && stale
          ? StaleRefusal()
          : actuator.Carry(
                event_id, *device, answer == "approve" ? Verdict::kApprove : Verdict::kReject,
                password ? &*password : nullptr,
                RequestExpiry(FromMs(entry->event.captured_at_ms), static_cast<int>(max_s)));
  // Approving means the door opened; a reject is done once it is journaled,
  // even where the lock type has no revoke call.
  const bool done = answer == "approve" ? result.sent && result.ok : !result.sent || result.ok;
  if (vm.count("json")) {
    const nlohmann::json out = {
        {"event_id", event_id},
        {"device_id", device->id},
        {"answer", answer},
        {"by", by},
        {"done", done},
        {"action",
         {{"action", result.action},
          {"endpoint", result.endpoint},
          {"sent", result.sent},
          {"ok", result.ok},
          // "ok" | "failed" | "unknown" (the lock
          // may have acted); null when nothing was sent
          {"outcome", result.sent ? nlohmann::json(result.OutcomeName()) : nlohmann::json(nullptr)},
          {"detail", result.detail}}}};
    std::cout << JsonText(out) << "\n";
  } else {
    std::cout << "[" << (answer == "approve" ? "APPROVE" : "REJECT")
              << (result.sent && result.outcome == LockCallOutcome::kUnknown ? ", OUTCOME UNKNOWN"
                                                                             : "")
              << "] " << device->DisplayName() << " (" << LockTypeName(device->type) << ") #"
              << event_id << " by " << by << " → " << Printable(result.detail) << "\n";
  }
  // The door may have opened already: whoever ran this must learn it even if
  // standard output is lost (main() then fails the command for that).
  if (!FlushStdout().ok())
    std::cerr << "lockpipe decide: the answer was journaled and carried out: " << result.detail
              << "\n";
  return done ? kExitOk : kExitFailure;
}

}  // namespace

LOCKPIPE_COMMAND("decide", "answer an escalated unlock request: approve (open) or reject",
                 RunDecide);

}  // namespace lockpipe::cli
