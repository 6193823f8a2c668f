#include "pipeline/cli/runtime.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string_view>

#include "base/clock.h"
#include "base/log.h"

namespace lockpipe::cli {

void AddCloudOptions(po::options_description& options) {
  options.add_options()("config,c", po::value<std::string>()->required(),
                        "rules file (TOML); see samples/rules.toml")(
      "journal", po::value<std::string>(),
      "journal file (default: $LOCKPIPE_JOURNAL, else lockpipe-journal.db here)")(
      "endpoint", po::value<std::string>(),
      "cloud base URL, overriding the config (e.g. http://127.0.0.1:8080)")(
      "region", po::value<std::string>(),
      "cloud region (cn, us, us-east, eu, eu-west, in), overriding the config")(
      "credentials", po::value<std::string>(),
      "credentials file (chmod 600), overriding the config; else "
      "TUYA_CLIENT_ID/TUYA_CLIENT_SECRET")("ca-file", po::value<std::string>(),
                                           "PEM file of the CA to trust for the cloud's TLS")(
      "insecure", "do not verify the cloud's TLS certificate (prints a warning)")("verbose,v",
                                                                                  "log more");
}

void AddRuntimeOptions(po::options_description& options) {
  AddCloudOptions(options);
  options.add_options()("no-journal",
                        "keep no journal (nothing is remembered across runs; refused when "
                        "lock calls would be sent)")(
      "dry-run", "decide and journal, but send nothing to the locks")(
      "threads", po::value<int>()->default_value(0)->notifier(IntIn("--threads", 0, 256)),
      "analysis threads (0 = one per core)")(
      "fetch-threads",
      po::value<int>()->default_value(2)->notifier(IntIn("--fetch-threads", 1, 64)),
      "download threads")("json", "print one JSON object per capture instead of a readable line");
}

void ReportInterruptedWork(Journal& journal) {
  // Younger than this may be another process's work in flight (a door call
  // gives up well before), not a stop.
  const std::int64_t settled_before = NowMs() - 60'000;
  auto unknown = journal.UnknownOutcomes();
  if (unknown.ok()) {
    for (const auto& a : *unknown) {
      if (a.intent_at_ms >= settled_before) continue;
      log::Warn("journal: action " + std::to_string(a.id) + " (" + a.action + " " + a.device_id +
                " via " + a.endpoint +
                ") has no recorded outcome: it may or may not have reached the lock; not resent");
      (void)journal.MarkUnknown(a.id);
    }
  }
  constexpr int kShown = 20;
  auto undecided = journal.UndecidedEvents(settled_before, kShown + 1);
  if (undecided.ok() && !undecided->empty()) {
    std::string ids;
    for (std::size_t i = 0; i < undecided->size() && i < kShown; ++i)
      ids += (i ? ", " : "") + std::to_string((*undecided)[i].id);
    if (undecided->size() > kShown) ids += ", ...";
    log::Warn("journal: event(s) " + ids +
              " were journaled but never decided (lockpipe stopped before deciding them); "
              "nothing was sent for them, and they are not decided again "
              "(lockpipe journal show ID)");
  }
}

PipelineOptions PipelineOptionsFrom(const po::variables_map& vm) {
  PipelineOptions o;
  o.analyze_threads = vm["threads"].as<int>();
  o.fetch_threads = vm["fetch-threads"].as<int>();
  return o;
}

namespace {

// Whether `url` is https://, or http:// to this machine (a local emulator).
bool IsLoopbackOrHttps(const std::string& url) {
  if (url.rfind("http://", 0) != 0) return true;
  CURLU* u = curl_url();
  char* host = nullptr;
  bool local = false;
  if (u != nullptr && curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    const std::string h = host;
    local = h == "localhost" || h == "[::1]" || h.rfind("127.", 0) == 0;
  }
  curl_free(host);
  curl_url_cleanup(u);
  return local;
}

}  // namespace

Result<Config> LoadRuntimeConfig(const po::variables_map& vm) {
  if (vm.count("verbose")) log::SetLevel(log::Level::kDebug);
  ASSIGN_OR_RETURN(Config config, LoadConfig(vm["config"].as<std::string>()));
  if (vm.count("dry-run")) config.safety.dry_run = true;
  return config;
}

Result<std::unique_ptr<Runtime>> MakeRuntime(const po::variables_map& vm, bool need_cloud) {
  ASSIGN_OR_RETURN(Config config, LoadRuntimeConfig(vm));
  return MakeRuntime(vm, std::move(config), need_cloud);
}

Result<std::unique_ptr<Runtime>> MakeRuntime(const po::variables_map& vm, Config config,
                                             bool need_cloud) {
  auto rt = std::make_unique<Runtime>();
  if (vm.count("verbose")) log::SetLevel(log::Level::kDebug);
  rt->config = std::move(config);

  if (!vm.count("no-journal")) {
    ASSIGN_OR_RETURN(rt->journal, Journal::Open(JournalPath(vm, "journal")));
    rt->deps.journal = rt->journal.get();
  }

  const auto& cloud = rt->config.cloud;
  rt->curl.ca_file = vm.count("ca-file") ? vm["ca-file"].as<std::string>() : cloud.ca_file;
  rt->curl.insecure = vm.count("insecure") || cloud.insecure;
  CurlOptions curl = rt->curl;
  rt->deps.make_http = [curl]() -> Result<std::unique_ptr<HttpClient>> {
    ASSIGN_OR_RETURN(auto c, CurlHttpClient::Create(curl));
    return std::unique_ptr<HttpClient>(std::move(c));
  };

  std::string creds = vm.count("credentials")      ? vm["credentials"].as<std::string>()
                      : cloud.credentials_from_env ? ""
                                                   : cloud.credentials_file;
  if (vm.count("endpoint") && vm.count("region"))
    return InvalidArgument("give --endpoint or --region, not both");
  // Either option replaces the config's whole choice of server.
  std::string endpoint = vm.count("endpoint") ? vm["endpoint"].as<std::string>()
                         : vm.count("region") ? ""
                                              : cloud.endpoint;
  std::string region = vm.count("region") ? vm["region"].as<std::string>() : cloud.region;
  auto target = ResolveApiTarget(creds, endpoint, region);
  if (!target.ok()) {
    if (need_cloud) return target.status();
    // A batch of local files needs no cloud: any call fails closed.
    rt->deps.make_api = []() -> Result<std::unique_ptr<LockApi>> {
      return std::unique_ptr<LockApi>(nullptr);
    };
    return rt;
  }
  if (!IsLoopbackOrHttps(target->base_url))
    log::Warn("cloud " + RedactUrl(target->base_url) +
              " is plain http:// to another machine: access tokens and lock commands cross the "
              "network unencrypted (use https://; http:// is meant for a local emulator)");
  rt->tokens = std::make_shared<TokenManager>(target->base_url, target->credentials);
  auto tokens = rt->tokens;
  rt->deps.make_api = [tokens, curl]() -> Result<std::unique_ptr<LockApi>> {
    ASSIGN_OR_RETURN(auto api, MakeTuyaLockApi(tokens, curl));
    return std::unique_ptr<LockApi>(std::move(api));
  };
  return rt;
}

std::string DescribeReport(const EventReport& r) {
  std::ostringstream o;
  std::string verdict = r.duplicate ? "SKIP" : r.verdict;
  for (auto& c : verdict) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  o << "[" << verdict << "] " << r.device_name;
  if (!r.lock_type.empty()) o << " (" << r.lock_type << ")";
  o << " " << r.kind;
  if (r.event_id) o << " #" << r.event_id;
  if (!r.label.empty() && r.source == "batch") o << " [" << r.label << "]";
  o << ": ";
  if (r.duplicate) {
    o << r.reason;
    return Printable(o.str());
  }
  if (r.analysis_ok) {
    o << r.media_type << ", " << r.faces << (r.faces == 1 ? " face" : " faces");
    if (r.best_score >= 0)
      o << " (best score " << static_cast<int>(r.best_score * 100 + 0.5f) / 100.0 << ")";
    o << "; ";
  }
  o << r.reason << " → " << r.action.detail;
  if (!r.contact_sheet.empty()) o << "\n        evidence: " << r.contact_sheet;
  return Printable(o.str());
}

SignalWatcher::SignalWatcher(std::function<void()> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this, set, on_signal = std::move(on_signal)] {
    auto say = [](std::string_view m) { (void)!write(2, m.data(), m.size()); };
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (done_) return;
      const bool term = sig == SIGTERM;
      if (int first = 0; !signal_.compare_exchange_strong(first, sig)) {
        say(term ? "\nlockpipe: terminated again (SIGTERM), exiting now\n"
                 : "\nlockpipe: second interrupt, exiting now\n");
        _exit(term ? kExitTerminated : kExitInterrupted);
      }
      say(term ? "\nlockpipe: terminated (SIGTERM); finishing captures in flight (send it again "
                 "to quit at once)\n"
               : "\nlockpipe: interrupted; finishing captures in flight (Ctrl-C again to quit "
                 "at once)\n");
      on_signal();
    }
  });
}

int SignalWatcher::exit_code() const {
  switch (signal_.load()) {
    case 0:
      return kExitOk;
    case SIGTERM:
      return kExitTerminated;
    default:
      return kExitInterrupted;
  }
}

SignalWatcher::~SignalWatcher() {
  done_ = true;
  pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait; done_ makes it return
  thread_.join();
}

}  // namespace lockpipe::cli
