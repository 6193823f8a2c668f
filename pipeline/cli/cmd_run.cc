// lockpipe run: watch locks (poll and/or webhook) and answer them by the rules.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include "base/file_util.h"
#include "base/json_text.h"
#include "base/log.h"
#include "pipeline/cli/runtime.h"
#include "pipeline/poller.h"
#include "pipeline/webhook.h"

namespace lockpipe::cli {
namespace {

int RunRun(int argc, char** argv) {
  const std::string cmd = "run";
  po::options_description opts("Options");
  AddRuntimeOptions(opts);
  opts.add_options()("poll-interval", po::value<double>()->default_value(5.0),
                     "seconds between polls of one device (0 = no polling)")(
      "no-alerts", "poll unlock-request media only, not alert media")(
      "once", "poll every device once, process what is there, and exit")(
      "webhook-listen", po::value<std::string>(),
      "serve the webhook on HOST:PORT (e.g. 127.0.0.1:8090)")(
      "webhook-secret-file", po::value<std::string>(),
      "the webhook's shared HMAC secret, from a file")(
      "webhook-secret-env", po::value<std::string>(),
      "the webhook's shared HMAC secret, from an environment variable");
  po::positional_options_description pos;
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(
          argc, argv, cmd,
          "lockpipe run --config rules.toml [--once | --poll-interval S] [--webhook-listen "
          "HOST:PORT ...]",
          opts, pos,
          "Watches the configured locks and answers them. For every capture (a photo or\n"
          "video a lock took when someone asked to be let in, or when an alarm fired) it\n"
          "downloads and decrypts the media, finds faces, applies the rules in order\n"
          "(first match wins; no match escalates to a person) and calls the lock API:\n"
          "approve opens the door, reject revokes the request, escalate sends nothing\n"
          "(a person answers with `lockpipe decide`).\n"
          "Any error on the way is never an approval. Every step goes to the journal;\n"
          "`lockpipe journal list` shows it. Every lock call is journaled before it is\n"
          "sent, so --no-journal is refused unless a dry run (--dry-run or [safety]\n"
          "dry_run).\n\n"
          "Captures arrive by polling latest/media/url (the reference's non-real-time\n"
          "flow) and/or by a signed webhook (POST /events with X-Lockpipe-Signature:\n"
          "sha256=HMAC(secret, body); the event's \"t\" is required, and one more than\n"
          "300 s from now is refused as a replay). The cloud does not date a polled\n"
          "capture: lockpipe dates it at the previous poll that did not show it (on the\n"
          "first poll after a start, at that poll: the cloud's 90 s window is then the\n"
          "only bound on its age). A stale capture (older than [safety]\n"
          "max_capture_age_seconds) is never approved, and refusing it sends no revoke:\n"
          "the lock stopped waiting on it, and a revoke would refuse its current request.\n"
          "Ctrl-C stops taking work and finishes what is in flight.\n"
          "A lock call whose answer was lost or garbled (a timeout, HTTP 5xx, a cut\n"
          "answer) may have opened the door: it is reported and journaled \"unknown\"\n"
          "(`lockpipe journal unknown` lists it), counted apart from failed calls, and\n"
          "never resent. With --json, the last line is {\"summary\": {...}} with the\n"
          "counts (\"lock_calls_ok\", \"lock_calls_failed\", \"lock_calls_unknown\", ...).\n\n"
          "Examples:\n"
          "  lockpipe run -c rules.toml --endpoint http://127.0.0.1:8080 --once\n"
          "  lockpipe run -c rules.toml --webhook-listen 127.0.0.1:8090 --webhook-secret-env "
          "HOOK_SECRET",
          &vm, &rc))
    return rc;
  const double interval = vm["poll-interval"].as<double>();
  // Polls cost calls against the cloud's rate limits: at most 10 a second per lock and kind.
  if (!std::isfinite(interval) || (interval != 0 && interval < 0.1) || interval > 86400)
    return UsageError(cmd, "--poll-interval must be 0 (no polling) or 0.1..86400 seconds");
  const bool webhook = vm.count("webhook-listen") > 0;
  if (interval <= 0 && !webhook && !vm.count("once"))
    return UsageError(
        cmd, "nothing to watch: give a --poll-interval above 0, --once or --webhook-listen");
  // Every lock call is journaled before it is sent, and the journal is what
  // keeps a restart from sending it again: only a dry run may keep none.
  auto config = LoadRuntimeConfig(vm);
  if (!config.ok()) return Fail(cmd, config.status());
  if (vm.count("no-journal") && !config->safety.dry_run)
    return UsageError(cmd,
                      "--no-journal without --dry-run would send lock calls that are journaled "
                      "nowhere, and send them again after a restart (the journal records each "
                      "call before it is sent and skips the captures it has decided): keep the "
                      "journal, or add --dry-run (or set [safety] dry_run)");
  Secret hook_secret;
  std::string hook_host;
  int hook_port = 0;
  if (webhook) {
    // Checked before anything starts: a typo here is a usage error, not a
    // half-started run.
    const std::string hp = vm["webhook-listen"].as<std::string>();
    const auto colon = hp.rfind(':');
    if (colon == std::string::npos) return UsageError(cmd, "--webhook-listen takes HOST:PORT");
    const std::string port_text = hp.substr(colon + 1);
    char* end = nullptr;
    const long port_value = std::strtol(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end != '\0' || port_value < 0 || port_value > 65535)
      return UsageError(cmd, "--webhook-listen " + hp + ": the port must be 0..65535");
    hook_host = hp.substr(0, colon);
    hook_port = static_cast<int>(port_value);
    SecretSource src;
    if (vm.count("webhook-secret-file")) src.file = vm["webhook-secret-file"].as<std::string>();
    if (vm.count("webhook-secret-env")) src.env = vm["webhook-secret-env"].as<std::string>();
    auto s = LoadSecret(src, "webhook secret");
    if (!s.ok())
      return UsageError(cmd,
                        s.status().message() + " (--webhook-secret-file or --webhook-secret-env)");
    hook_secret = std::move(s).value();
  }

  // Watching for Ctrl-C and SIGTERM from here on, before any other thread:
  // a stop while the journal opens or the detectors load takes the same path.
  StopFlag stop;
  std::atomic<Pipeline*> running{nullptr};
  SignalWatcher signals([&] {
    stop.Stop();
    if (Pipeline* p = running.load()) p->Abort();
  });
  auto rt = MakeRuntime(vm, std::move(config).value(), /*need_cloud=*/true);
  if (!rt.ok()) return Fail(cmd, rt.status());
  Runtime& r = **rt;
  if (r.journal) ReportInterruptedWork(*r.journal);
  const bool as_json = vm.count("json") > 0;
  std::mutex out_mu;
  r.deps.on_report = [&](const EventReport& e) {
    std::lock_guard<std::mutex> lock(out_mu);
    if (as_json)
      std::cout << JsonText(e.ToJson()) << std::endl;
    else
      std::cout << DescribeReport(e) << std::endl;
  };
  Pipeline pipeline(r.config, PipelineOptionsFrom(vm), r.deps);
  if (auto s = pipeline.Start(); !s.ok()) return Fail(cmd, s);
  running = &pipeline;
  if (signals.fired()) pipeline.Abort();  // stopped while starting
  if (r.config.safety.dry_run)
    log::Warn("dry run: decisions are journaled, nothing is sent to the locks");

  std::unique_ptr<WebhookServer> server;
  if (webhook) {
    auto srv = WebhookServer::Start(hook_host, hook_port, hook_secret,
                                    [&](CaptureJob j) { return pipeline.Submit(std::move(j)); });
    if (!srv.ok()) return Fail(cmd, srv.status());
    server = std::move(srv).value();
    log::Info("webhook listening on http://" + hook_host + ":" + std::to_string(server->port()) +
              "/events");
    // Scripts read the port from stdout; under --json, stdout is JSON only
    // (the log line above says it on stderr).
    if (!as_json) std::cout << "webhook listening on port " << server->port() << std::endl;
  }

  auto api = r.deps.make_api();
  if (!api.ok()) return Fail(cmd, api.status());
  PollOptions po_opts;
  po_opts.interval = std::chrono::milliseconds(static_cast<long>(std::max(interval, 0.05) * 1000));
  po_opts.alerts = !vm.count("no-alerts");
  Poller poller(
      r.config, **api, [&](CaptureJob j) { return pipeline.Submit(std::move(j)); }, po_opts);
  bool every_poll_failed = false;
  if (signals.fired()) {
    // Stopped while starting: nothing polled, nothing waited for.
  } else if (vm.count("once")) {
    int n = poller.RunOnce(&stop);
    if (poller.answered() + poller.failed() == 0)
      log::Warn(
          "poll: no configured device has latest/media/url (Wi-Fi, Zigbee hotel or "
          "Bluetooth locks): nothing was asked");
    else
      log::Info("polled every device once: " + std::to_string(n) + " new capture(s)");
    every_poll_failed = poller.failed() > 0 && poller.answered() == 0;
  } else if (interval > 0) {
    poller.Run(stop);
  } else {
    while (stop.SleepFor(std::chrono::hours(1))) {
    }
  }
  if (server) server->Stop();
  pipeline.Finish();
  auto st = pipeline.stats();
  if (as_json) {
    // The last line: the counts of the summary below, for scripts.
    const nlohmann::json summary = {{"summary",
                                     {{"captures", st.done},
                                      {"analysis_failed", st.failed},
                                      {"approved", st.approved},
                                      {"rejected", st.rejected},
                                      {"escalated", st.escalated},
                                      {"already_seen", st.duplicates},
                                      {"skipped", st.skipped},
                                      {"lock_calls_ok", st.actions_ok},
                                      {"lock_calls_failed", st.actions_failed},
                                      {"lock_calls_unknown", st.actions_unknown},
                                      {"lock_calls_impossible", st.actions_impossible},
                                      {"outputs_failed", st.outputs_failed},
                                      {"interrupted", signals.fired()}}}};
    std::lock_guard<std::mutex> lock(out_mu);
    std::cout << JsonText(summary) << std::endl;
  }
  std::cerr << "lockpipe run: " << st.done << " capture(s): " << st.approved << " approved, "
            << st.rejected << " rejected, " << st.escalated << " escalated, " << st.duplicates
            << " already seen; " << st.actions_ok << " lock call(s) ok, " << st.actions_failed
            << " failed, " << st.actions_unknown << " unknown";
  if (st.actions_unknown > 0) std::cerr << " (the lock may have acted: lockpipe journal unknown)";
  if (st.skipped > 0) std::cerr << ", " << st.skipped << " event(s) skipped (see above)";
  if (st.actions_impossible > 0)
    std::cerr << ", " << st.actions_impossible << " not possible for the lock type (see above)";
  if (st.outputs_failed > 0)
    std::cerr << "; outputs of " << st.outputs_failed
              << " capture(s) could not be written (see above)";
  std::cerr << "\n";
  if (signals.fired()) return signals.exit_code();
  if (!pipeline.error().ok()) return Fail(cmd, pipeline.error());
  if (st.outputs_failed > 0)
    return Fail(cmd, IoError("the outputs of " + std::to_string(st.outputs_failed) +
                             " capture(s) could not be written; see the errors above"));
  if (every_poll_failed)
    return Fail(cmd, NetworkError("every poll failed (" + std::to_string(poller.failed()) +
                                  "): the cloud could not be asked; see the warnings above"));
  return kExitOk;
}

}  // namespace

LOCKPIPE_COMMAND("run", "watch locks (poll and webhook) and answer them by the rules", RunRun);

}  // namespace lockpipe::cli
