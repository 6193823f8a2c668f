// End-to-end pipeline benchmarks (issue 5), against the in-process emulator on
// loopback HTTP. A plain program (not Google Benchmark): each phase is one
// long measurement, printed as a table with the command line that made it.
//
//   1. Throughput: N stored captures processed in the same run, side by side:
//      lockpipe's Pipeline (default threads) and a naive sequential baseline
//      (download to a file, decrypt to a file, decode, detect, next), the
//      latter twice: on one thread, as "sequential" means, and with OpenCV's
//      parallel_for left on inside each detection, as naive code gets it (the
//      cascade then already keeps both cores busy). Photos and videos separately, with the
//      process's CPU time per capture beside each (the same work should cost the same CPU).
//      The ways run interleaved, --rounds times; each row is its way's median round.
//      With --media-latency-ms, the table again with every media download answered that much
//      later (the emulator's media_latency_ms fault: storage across the internet). Then peak RSS of
//      the pipeline over N and over k*N photos, each in its own child process (its VmHWM), to show
//      that memory does not grow with the batch.
//   2. Latency: the emulator pushes a signed webhook per injected capture to a
//      WebhookServer feeding a Pipeline that acts (real door calls). For each
//      capture: system-clock time just before the injecting POST versus the
//      audit entry's "t" of the unlock that reached the lock.
//
//   build/bench/pipeline_e2e_bench --samples samples/media [--photos 200] [--videos 40]
//       [--latency-photos 200] [--latency-videos 40] [--devices 4] [--rss-factor 4]
//       [--skip-throughput] [--skip-rss] [--skip-latency] [--rounds 3] [--media-latency-ms MS]
//
// Everything binds 127.0.0.1 only; every wait is bounded; temp folders are
// removed at exit. bench/pipeline_e2e.sh runs it with the usual arguments.
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/secret.h"
#include "base/status.h"
#include "decoders/media_container.h"
#include "decoders/media_decoder.h"
#include "emulator/server.h"
#include "fetch/credentials.h"
#include "fetch/http_client.h"
#include "fetch/tuya_client.h"
#include "pipeline/config.h"
#include "pipeline/face_detector.h"
#include "pipeline/journal.h"
#include "pipeline/pipeline.h"
#include "pipeline/webhook.h"

extern char** environ;

namespace lockpipe {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const char kClientId[] = "e2e-bench-client";
const char kSecret[] = "e2e-bench-secret-0123456789abcde";  // 32 characters
const char kHookSecret[] = "e2e-bench-webhook-secret";
constexpr int kThumbnailCount = 4;  // config outputs.thumbnail_count: frames per video

struct Args {
  int photos = 200;
  int videos = 40;
  int latency_photos = 200;
  int latency_videos = 40;
  int devices = 4;
  int rss_factor = 4;
  int media_latency_ms = 0;  // > 0: the throughput table again with this media latency
  int rounds = 3;            // interleaved throughput rounds; the median is reported
  std::string samples = "samples/media";
  bool throughput = true;
  bool rss = true;
  bool latency = true;
  // Diagnostic: the pipeline's clients open a new connection per request.
  bool no_keepalive = false;
  // Child mode (internal): run the pipeline over the first `count` jobs of a file.
  std::string rss_child_file;
  int rss_child_count = 0;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pipeline_e2e_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// This process's own peak resident set (VmHWM of its address space). Unlike
// ru_maxrss of a spawned child, it does not inherit the parent's peak: Linux
// folds the pre-exec address space's high-water mark (the parent's, with
// vfork-style posix_spawn) into the child's ru_maxrss.
long VmHwmKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

// User + system CPU time of the whole process so far, in seconds.
double ProcessCpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

long PeakRssKiB() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A private temp folder, removed with everything in it at destruction.
class TempFolder {
 public:
  TempFolder() {
    char tmpl[] = "/tmp/lockpipe-e2e-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string DeviceId(int i) { return "gate-" + std::to_string(i); }

// Bluetooth locks: they answer latest/media/url and password-free open-door.
void WriteFixture(const std::string& path, int devices) {
  json devs = json::array();
  for (int i = 0; i < devices; ++i) devs.push_back({{"id", DeviceId(i)}, {"type", "bluetooth"}});
  std::ofstream(path) << json{
      {"client_id", kClientId},
      {"access_secret", kSecret},
      {"devices", devs}}.dump();
}

// Approve an unlock request with a face, reject one without; no rate limit.
Config MakeConfig(int devices, const std::string& out_dir) {
  std::string text = "[detector]\nkind = \"cascade\"\n[outputs]\ndir = \"" + out_dir +
                     "\"\nthumbnail_count = " + std::to_string(kThumbnailCount) +
                     "\n[safety]\non_error = \"reject\"\n";
  for (int i = 0; i < devices; ++i)
    text += "[[devices]]\nid = \"" + DeviceId(i) + "\"\ntype = \"bluetooth\"\n";
  text += R"(
[[rules]]
name = "a face"
action = "approve"
kind = "unlock"
faces = { min = 1 }
analysis = "ok"
[[rules]]
name = "nobody"
action = "reject"
kind = "unlock"
)";
  auto c = ParseConfig(text, "pipeline_e2e_bench.toml");
  if (!c.ok()) Die("config: " + c.status().ToString());
  return std::move(c).value();
}

bool g_no_keepalive = false;  // --no-keepalive

CurlOptions PipelineCurlOptions() {
  CurlOptions o;
  o.reuse_connections = !g_no_keepalive;
  return o;
}

PipelineDeps MakeDeps(std::shared_ptr<TokenManager> tokens) {
  PipelineDeps d;
  d.make_api = [tokens]() -> Result<std::unique_ptr<LockApi>> {
    ASSIGN_OR_RETURN(auto api, MakeTuyaLockApi(tokens, PipelineCurlOptions()));
    return std::unique_ptr<LockApi>(std::move(api));
  };
  d.make_http = []() -> Result<std::unique_ptr<HttpClient>> {
    ASSIGN_OR_RETURN(auto c, CurlHttpClient::Create(PipelineCurlOptions()));
    return std::unique_ptr<HttpClient>(std::move(c));
  };
  return d;
}

// The emulator's admin interface, from one thread.
class Admin {
 public:
  explicit Admin(std::string base) : base_(std::move(base)) {
    auto c = CurlHttpClient::Create(CurlOptions{});
    if (!c.ok()) Die("curl: " + c.status().ToString());
    http_ = std::move(c).value();
  }
  json Call(const std::string& method, const std::string& path, const std::string& body = "",
            const std::string& content_type = "application/json") {
    HttpRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = body;
    req.headers = {{"Content-Type", content_type}};
    auto res = http_->Send(req);
    if (!res.ok()) Die(path + ": " + res.status().ToString());
    if (res->status >= 300) Die(path + ": HTTP " + std::to_string(res->status) + ": " + res->body);
    json j = json::parse(res->body, nullptr, false);
    if (j.is_discarded()) Die(path + ": answer is not JSON");
    return j;
  }
  // Stores `bytes` as an unlock capture of `device`; returns the admin answer.
  json Inject(const std::string& device, const std::string& bytes) {
    return Call("POST", "/_emulator/devices/" + device + "/captures?kind=unlock", bytes,
                "application/octet-stream");
  }

 private:
  std::string base_;
  std::unique_ptr<CurlHttpClient> http_;
};

// Injects `count` captures cycling over `samples` and devices; the file_key
// comes from the signed latest/media/url call right after each injection.
std::vector<CaptureJob> InjectJobs(Admin& admin, LockApi& api, int devices, int count,
                                   const std::vector<std::string>& samples, int first_index) {
  std::vector<CaptureJob> jobs;
  for (int i = 0; i < count; ++i) {
    const int n = first_index + i;
    const std::string device = DeviceId(n % devices);
    json a = admin.Inject(device, samples[static_cast<std::size_t>(n) % samples.size()]);
    auto url = api.GetLatestMediaUrl(device, MediaKind::kUnlockRequest);
    if (!url.ok()) Die("latest/media/url " + device + ": " + url.status().ToString());
    if (url->file_path != a.value("file_path", ""))
      Die("latest/media/url " + device + ": not the capture just injected");
    CaptureJob j;
    j.where = CaptureJob::Where::kUrl;
    j.device_id = device;
    j.kind = MediaKind::kUnlockRequest;
    j.source = "batch";
    j.url = url->file_url;
    j.file_key = url->file_key;
    j.file_path = url->file_path;
    j.label = "c" + std::to_string(n);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

struct RunResult {
  double seconds = 0;
  double cpu_seconds = 0;  // the whole process (emulator included), user + system
  int done = 0;
  int failed = 0;
  long faces = 0;
  int with_face = 0;
};

// (a) lockpipe's Pipeline, default threads, no journal, no outputs, no door calls.
RunResult RunPipeline(const Config& config, std::shared_ptr<TokenManager> tokens,
                      const std::vector<CaptureJob>& jobs) {
  PipelineOptions o;
  o.act = false;
  o.write_outputs = false;
  RunResult r;
  std::mutex mu;
  PipelineDeps deps = MakeDeps(std::move(tokens));
  deps.on_report = [&](const EventReport& e) {
    std::lock_guard<std::mutex> lock(mu);
    ++r.done;
    if (!e.analysis_ok) ++r.failed;
    r.faces += e.faces;
    if (e.faces > 0) ++r.with_face;
  };
  Pipeline p(config, o, std::move(deps));
  Check(p.Start(), "pipeline start");
  const double cpu0 = ProcessCpuSeconds();
  auto t0 = Clock::now();
  for (const auto& j : jobs)
    if (!p.Submit(j)) Die("pipeline refused a capture");
  p.Finish();
  r.seconds = Seconds(Clock::now() - t0);
  r.cpu_seconds = ProcessCpuSeconds() - cpu0;
  Check(p.error(), "pipeline");
  return r;
}

// (b) the naive way: one capture at a time, every step through a file.
class Baseline {
 public:
  Baseline(const Config& config, std::string dir) : dir_(std::move(dir)) {
    auto h = CurlHttpClient::Create(CurlOptions{});
    if (!h.ok()) Die("curl: " + h.status().ToString());
    http_ = std::move(h).value();
    FaceDetectorOptions fo;
    fo.min_face_size = config.detector.min_face;
    fo.score_threshold = static_cast<float>(config.detector.score_threshold);
    auto d = MakeFaceDetector(fo);
    if (!d.ok()) Die("detector: " + d.status().ToString());
    detector_ = std::move(d).value();
  }

  // `opencv_threads`: 1 = sequential as the word means, one thread of work;
  // OpenCV's default count = as naive code gets it, with a
  // parallel_for inside each detection.
  RunResult Run(const std::vector<CaptureJob>& jobs, int opencv_threads) {
    const int saved = cv::getNumThreads();
    cv::setNumThreads(opencv_threads);
    RunResult r = RunAll(jobs);
    cv::setNumThreads(saved);
    return r;
  }

 private:
  RunResult RunAll(const std::vector<CaptureJob>& jobs) {
    RunResult r;
    const double cpu0 = ProcessCpuSeconds();
    auto t0 = Clock::now();
    for (const auto& j : jobs) {
      auto faces = One(j);
      ++r.done;
      if (!faces.ok()) {
        ++r.failed;
        std::fprintf(stderr, "baseline %s: %s\n", j.label.c_str(),
                     faces.status().ToString().c_str());
        continue;
      }
      r.faces += *faces;
      if (*faces > 0) ++r.with_face;
    }
    r.seconds = Seconds(Clock::now() - t0);
    r.cpu_seconds = ProcessCpuSeconds() - cpu0;
    return r;
  }

  // Returns the face count of the frame with the most faces.
  Result<int> One(const CaptureJob& j) {
    const std::string enc = dir_ + "/capture.enc";
    const std::string plain = dir_ + "/capture.plain";
    {  // Download the whole file.
      std::FILE* f = std::fopen(enc.c_str(), "wb");
      if (f == nullptr) return IoError("cannot write " + enc);
      HttpRequest req;
      req.url = j.url;
      req.sink = [f, &enc](std::string_view chunk) -> Status {
        if (std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size())
          return IoError("write " + enc);
        return Status::Ok();
      };
      auto res = http_->Send(req);
      const bool closed = std::fclose(f) == 0;
      if (!res.ok()) return res.status();
      if (res->status != 200)
        return IoError(RedactUrl(j.url) + ": HTTP " + std::to_string(res->status));
      if (!closed) return IoError("close " + enc);
    }
    {  // Decrypt it to disk.
      ASSIGN_OR_RETURN(auto dec, media::StreamDecryptor::Create(j.file_key, enc));
      std::FILE* in = std::fopen(enc.c_str(), "rb");
      std::FILE* out = std::fopen(plain.c_str(), "wb");
      Status s = (in && out) ? Status::Ok() : IoError("cannot open " + enc + " / " + plain);
      std::vector<std::uint8_t> buf(1 << 16);
      std::vector<std::uint8_t> pt;
      while (s.ok()) {
        std::size_t n = std::fread(buf.data(), 1, buf.size(), in);
        if (n == 0) break;
        pt.clear();
        s = dec.Update(std::span<const std::uint8_t>(buf.data(), n), &pt);
        if (s.ok() && std::fwrite(pt.data(), 1, pt.size(), out) != pt.size())
          s = IoError("write " + plain);
      }
      if (s.ok()) {
        pt.clear();
        s = dec.Finish(&pt);
        if (s.ok() && std::fwrite(pt.data(), 1, pt.size(), out) != pt.size())
          s = IoError("write " + plain);
      }
      if (in) std::fclose(in);
      if (out && std::fclose(out) != 0 && s.ok()) s = IoError("close " + plain);
      RETURN_IF_ERROR(s);
    }
    // Decode: the same request as Pipeline::Analyze.
    ASSIGN_OR_RETURN(auto src, media::OpenMediaFile(plain, std::nullopt));
    std::uint8_t head[media::kSniffBytes] = {};
    ASSIGN_OR_RETURN(std::size_t got, src->ReadAt(0, head));
    const media::ContentType type = media::SniffContent(std::span<const std::uint8_t>(head, got));
    if (type == media::ContentType::kUnknown) return Corrupt(plain + ": not a JPEG, PNG or MP4");
    const bool video = type == media::ContentType::kMp4;
    media::ThumbnailRequest req;
    req.mode = video ? media::ThumbnailMode::kSpread : media::ThumbnailMode::kFirst;
    req.count = video ? kThumbnailCount : 1;
    req.keyframes_only = video;
    req.max_width = 960;
    req.max_height = 960;
    ASSIGN_OR_RETURN(auto thumbs, media::ExtractThumbnails(*src, req));
    std::size_t best = 0;
    for (const auto& th : thumbs) {
      ASSIGN_OR_RETURN(auto faces, detector_->Detect(th.image));
      best = std::max(best, faces.size());
    }
    return static_cast<int>(best);
  }

  std::string dir_;
  std::unique_ptr<CurlHttpClient> http_;
  std::unique_ptr<FaceDetector> detector_;
};

struct Emulator {
  std::unique_ptr<emulator::Server> server;
  std::shared_ptr<TokenManager> tokens;
};

Emulator StartEmulator(const TempFolder& tmp, const std::string& name, int devices,
                       const std::string& webhook_url) {
  WriteFixture(tmp.File(name + "-fixture.json"), devices);
  emulator::ServerOptions o;
  o.fixture_path = tmp.File(name + "-fixture.json");
  o.state_dir = tmp.File(name + "-state");
  o.webhook_url = webhook_url;
  o.webhook_secret = Secret(kHookSecret);
  auto s = emulator::Server::Start(o);
  if (!s.ok()) Die("emulator: " + s.status().ToString());
  Emulator e;
  e.server = std::move(s).value();
  e.tokens = std::make_shared<TokenManager>(e.server->base_url(),
                                            TuyaCredentials{kClientId, Secret(kSecret)});
  return e;
}

// --- peak memory: the pipeline alone, in a child process ---------------------

void WriteJobs(const std::string& path, const std::vector<CaptureJob>& jobs) {
  std::ofstream out(path);
  for (const auto& j : jobs)
    out << json{{"url", j.url},
                {"file_key", j.file_key.reveal()},
                {"file_path", j.file_path},
                {"device", j.device_id},
                {"id", j.label}}
               .dump()
        << "\n";
  out.close();
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

int RssChild(const Args& args) {
  std::vector<CaptureJob> jobs;
  std::ifstream in(args.rss_child_file);
  std::string line;
  while (static_cast<int>(jobs.size()) < args.rss_child_count && std::getline(in, line)) {
    json l = json::parse(line, nullptr, false);
    if (l.is_discarded()) Die("bad job line in " + args.rss_child_file);
    CaptureJob j;
    j.where = CaptureJob::Where::kUrl;
    j.device_id = l.value("device", "");
    j.source = "batch";
    j.url = l.value("url", "");
    j.file_key = Secret(l.value("file_key", ""));
    j.file_path = l.value("file_path", "");
    j.label = l.value("id", "");
    jobs.push_back(std::move(j));
  }
  if (static_cast<int>(jobs.size()) != args.rss_child_count)
    Die("not enough jobs in " + args.rss_child_file);
  Config config = MakeConfig(args.devices, "/nonexistent-outputs-off");
  // The child has no emulator of its own: the storage URLs need no token, and
  // the API clients are made but not called (kUrl jobs, act=false).
  auto tokens = std::make_shared<TokenManager>("http://127.0.0.1:9",
                                               TuyaCredentials{kClientId, Secret(kSecret)});
  RunResult r = RunPipeline(config, tokens, jobs);
  std::printf("%d %d %.3f %ld\n", r.done, r.failed, r.seconds, VmHwmKiB());
  return r.done == args.rss_child_count && r.failed == 0 ? 0 : 1;
}

struct ChildRun {
  long rss_kib = 0;
  std::string out;
};

// Runs this program as an RSS child over the first `count` jobs; the child
// prints "done failed seconds VmHWM_KiB".
ChildRun SpawnRssChild(const std::string& jobs_file, int count, int devices,
                       const std::string& out_file) {
  std::vector<std::string> argv_s = {
      "/proc/self/exe", "--rss-child",          jobs_file, "--count", std::to_string(count),
      "--devices",      std::to_string(devices)};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  char exe[4096] = {};
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) Die("readlink /proc/self/exe failed");
  int rc = posix_spawn(&pid, exe, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Die(std::string("posix_spawn: ") + std::strerror(rc));
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) Die("waitpid failed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    Die("rss child over " + std::to_string(count) + " captures failed");
  ChildRun c;
  c.out = ReadWhole(out_file);
  while (!c.out.empty() && c.out.back() == '\n') c.out.pop_back();
  std::istringstream fields(c.out);
  int done = 0, failed = 0;
  double seconds = 0;
  if (!(fields >> done >> failed >> seconds >> c.rss_kib) || c.rss_kib <= 0)
    Die("rss child: unexpected output: " + c.out);
  return c;
}

// --- latency: webhook → decision → door call ---------------------------------

struct LatencyResult {
  std::vector<double> ms;           // injection → audit t of the unlock
  std::vector<double> pipeline_ms;  // webhook received → acted (EventReport::latency_ms)
  int missed = 0;                   // no approve, or no unlock in the audit
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::max(1.0, std::ceil(p * static_cast<double>(v.size()))));
  return v[std::min(rank, v.size()) - 1];
}

LatencyResult RunLatency(const Args& args, const TempFolder& tmp, const std::string& name,
                         const std::string& sample, int count) {
  // The submit target is set once the pipeline exists; the hook must exist
  // first because the emulator is started with its URL.
  std::atomic<Pipeline*> target{nullptr};
  auto hook = WebhookServer::Start("127.0.0.1", 0, Secret(kHookSecret), [&](CaptureJob j) {
    Pipeline* p = target.load();
    return p != nullptr && p->Submit(std::move(j));
  });
  if (!hook.ok()) Die("webhook server: " + hook.status().ToString());
  const std::string hook_url = "http://127.0.0.1:" + std::to_string((*hook)->port()) + "/events";
  Emulator emu = StartEmulator(tmp, name, args.devices, hook_url);
  Admin admin(emu.server->base_url());
  Config config = MakeConfig(args.devices, tmp.File(name + "-out"));
  auto journal = Journal::Open(tmp.File(name + "-journal.db"));
  if (!journal.ok()) Die("journal: " + journal.status().ToString());

  std::mutex mu;
  std::condition_variable cv;
  std::vector<EventReport> reports;
  PipelineDeps deps = MakeDeps(emu.tokens);
  deps.journal = journal->get();
  deps.on_report = [&](const EventReport& r) {
    std::lock_guard<std::mutex> lock(mu);
    reports.push_back(r);
    cv.notify_all();
  };
  PipelineOptions o;  // act, write outputs, default threads: as `lockpipe run`
  Pipeline p(config, o, std::move(deps));
  Check(p.Start(), "pipeline start");
  target = &p;

  const std::string bytes = ReadWhole(args.samples + "/" + sample);
  std::vector<std::size_t> audit_len(static_cast<std::size_t>(args.devices), 0);
  LatencyResult res;
  for (int i = 0; i < count; ++i) {
    const int dev = i % args.devices;
    const std::int64_t t0 = NowMs();
    admin.Inject(DeviceId(dev), bytes);
    EventReport report;
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, std::chrono::seconds(30),
                       [&] { return reports.size() > static_cast<std::size_t>(i); }))
        Die(name + ": no decision 30 s after injecting capture " + std::to_string(i));
      report = reports.back();
    }
    json audit = admin.Call("GET", "/_emulator/devices/" + DeviceId(dev) + "/audit")["audit"];
    auto& seen = audit_len[static_cast<std::size_t>(dev)];
    if (report.verdict != "approve" || audit.size() != seen + 1 ||
        !audit.back().value("ok", false) ||
        audit.back().value("endpoint", "") != "password-free/open-door") {
      ++res.missed;
      std::fprintf(stderr, "%s capture %d: verdict %s (%s), audit %zu entries %s\n", name.c_str(),
                   i, report.verdict.c_str(), report.error.c_str(), audit.size(),
                   audit.empty() ? "" : audit.back().dump().c_str());
    } else {
      res.ms.push_back(static_cast<double>(audit.back()["t"].get<std::int64_t>() - t0));
      res.pipeline_ms.push_back(report.latency_ms);
    }
    seen = audit.size();
  }
  target = nullptr;
  (*hook)->Stop();
  p.Finish();
  return res;
}

// --- main --------------------------------------------------------------------

bool ParseInt(const char* text, int* out) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 0 || v > 1'000'000) return false;
  *out = static_cast<int>(v);
  return true;
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) Die(k + " needs a value");
      return argv[++i];
    };
    auto num = [&](int* out) {
      const char* v = next();
      if (!ParseInt(v, out)) Die(k + ": not a count: " + v);
    };
    if (k == "--photos")
      num(&a.photos);
    else if (k == "--videos")
      num(&a.videos);
    else if (k == "--latency-photos")
      num(&a.latency_photos);
    else if (k == "--latency-videos")
      num(&a.latency_videos);
    else if (k == "--devices")
      num(&a.devices);
    else if (k == "--rss-factor")
      num(&a.rss_factor);
    else if (k == "--media-latency-ms")
      num(&a.media_latency_ms);
    else if (k == "--rounds")
      num(&a.rounds);
    else if (k == "--count")
      num(&a.rss_child_count);
    else if (k == "--samples")
      a.samples = next();
    else if (k == "--rss-child")
      a.rss_child_file = next();
    else if (k == "--skip-throughput")
      a.throughput = false;
    else if (k == "--skip-rss")
      a.rss = false;
    else if (k == "--skip-latency")
      a.latency = false;
    else if (k == "--no-keepalive")
      a.no_keepalive = true;
    else if (k == "-h" || k == "--help") {
      std::printf(
          "usage: pipeline_e2e_bench [--samples DIR] [--photos N] [--videos N] [--latency-photos "
          "N]\n"
          "       [--latency-videos N] [--devices N] [--rss-factor K] [--skip-throughput] "
          "[--skip-rss]\n"
          "       [--skip-latency] [--media-latency-ms MS (the throughput table again, media\n"
          "       served MS ms late)] [--no-keepalive (diagnostic: a new connection per "
          "request)]\n");
      std::exit(0);
    } else {
      Die("unknown argument " + k + " (see --help)");
    }
  }
  if (a.devices < 1) Die("--devices must be at least 1");
  if (a.rss_factor < 1) Die("--rss-factor must be at least 1");
  if (a.rounds < 1) Die("--rounds must be at least 1");
  if (a.media_latency_ms < 0 || a.media_latency_ms > 60000)
    Die("--media-latency-ms must be 0..60000");
  return a;
}

double Rate(const RunResult& r) { return r.seconds > 0 ? r.done / r.seconds : 0; }

// One way's rounds. The rounds of all ways run interleaved, so a drift in the
// machine's speed (a VM's neighbours, clocks) hits every way alike.
struct Rounds {
  std::vector<RunResult> runs;

  // The round with the median rate (the lower middle one for an even count).
  const RunResult& Median() const {
    std::vector<const RunResult*> by_rate;
    for (const auto& r : runs) by_rate.push_back(&r);
    std::sort(by_rate.begin(), by_rate.end(),
              [](const RunResult* a, const RunResult* b) { return Rate(*a) < Rate(*b); });
    return *by_rate[(by_rate.size() - 1) / 2];
  }
  double MinRate() const {
    double m = Rate(runs.front());
    for (const auto& r : runs) m = std::min(m, Rate(r));
    return m;
  }
  double MaxRate() const {
    double m = Rate(runs.front());
    for (const auto& r : runs) m = std::max(m, Rate(r));
    return m;
  }
};

void PrintRow(const char* what, const char* way, const Rounds& rounds) {
  const RunResult& r = rounds.Median();
  char range[32];
  std::snprintf(range, sizeof range, "%.1f-%.1f", rounds.MinRate(), rounds.MaxRate());
  std::printf("%-7s %-30s %5d %9.2f %10.1f %11s %9.1f %7d %9d\n", what, way, r.done, r.seconds,
              Rate(r), range, r.done > 0 ? 1000 * r.cpu_seconds / r.done : 0, r.failed,
              r.with_face);
}

// `seq`: the naive loop on one thread; `par`: the same loop with OpenCV's
// parallel_for inside each detection (what naive code gets by default).
void PrintThroughput(const char* what, const Rounds& p, const Rounds& seq, const Rounds& par) {
  PrintRow(what, "pipeline (default)", p);
  PrintRow(what, "naive sequential (1 thread)", seq);
  PrintRow(what, "naive + OpenCV's threads", par);
  const double rp = Rate(p.Median()), rs = Rate(seq.Median()), rpar = Rate(par.Median());
  std::printf("%-7s %-30s %5s %9s %9.2fx\n", what, "ratio pipeline/naive sequential", "", "",
              rs > 0 ? rp / rs : 0);
  std::printf("%-7s %-30s %5s %9s %9.2fx\n", what, "ratio pipeline/naive + OpenCV", "", "",
              rpar > 0 ? rp / rpar : 0);
}

// Runs the three ways over the same photos, then the same videos, `rounds`
// times interleaved, and prints each way's median round with both ratios.
void ThroughputTable(const Config& config, std::shared_ptr<TokenManager> tokens, Baseline& baseline,
                     const std::vector<CaptureJob>& photos, const std::vector<CaptureJob>& videos,
                     int opencv_default_threads, int rounds) {
  Rounds pp, bp, bpp, pv, bv, bvp;
  for (int i = 0; i < rounds; ++i) {
    pp.runs.push_back(RunPipeline(config, tokens, photos));
    bp.runs.push_back(baseline.Run(photos, 1));
    bpp.runs.push_back(baseline.Run(photos, opencv_default_threads));
    pv.runs.push_back(RunPipeline(config, tokens, videos));
    bv.runs.push_back(baseline.Run(videos, 1));
    bvp.runs.push_back(baseline.Run(videos, opencv_default_threads));
  }
  std::printf("%-7s %-30s %5s %9s %10s %11s %9s %7s %9s\n", "media", "way", "n", "seconds",
              "captures/s", "(range)", "CPU ms/c", "failed", "with face");
  PrintThroughput("photos", pp, bp, bpp);
  PrintThroughput("videos", pv, bv, bvp);
  const int faces = pp.runs.front().with_face;
  const int video_faces = pv.runs.front().with_face;
  for (const Rounds* r : {&pp, &bp, &bpp})
    for (const auto& run : r->runs)
      if (run.with_face != faces)
        std::printf("NOTE: the ways or rounds disagree on how many photos have a face\n");
  for (const Rounds* r : {&pv, &bv, &bvp})
    for (const auto& run : r->runs)
      if (run.with_face != video_faces)
        std::printf("NOTE: the ways or rounds disagree on how many videos have a face\n");
}

int Main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  const int opencv_default_threads = cv::getNumThreads();
  log::SetLevel(log::Level::kWarn);
  g_no_keepalive = args.no_keepalive;
  if (!args.rss_child_file.empty()) return RssChild(args);

  std::string cmdline;
  for (int i = 0; i < argc; ++i) cmdline += std::string(i ? " " : "") + argv[i];
  std::printf("command: %s\n", cmdline.c_str());
  std::printf(
      "machine: %u hardware threads; pipeline defaults: %d fetch threads, one analyze thread per "
      "core\n",
      std::thread::hardware_concurrency(), PipelineOptions{}.fetch_threads);
  if (args.no_keepalive)
    std::printf("--no-keepalive: the pipeline's HTTP clients do not reuse connections\n");
  std::fflush(stdout);

  const std::string photo_a = ReadWhole(args.samples + "/astronaut.jpg");
  const std::string photo_b = ReadWhole(args.samples + "/noface.jpg");
  const std::string video = ReadWhole(args.samples + "/astronaut_360p_faststart.mp4");
  TempFolder tmp;

  if (args.throughput || args.rss) {
    Emulator emu = StartEmulator(tmp, "store", args.devices, "");
    Admin admin(emu.server->base_url());
    auto api_r = MakeTuyaLockApi(emu.tokens, CurlOptions{});
    if (!api_r.ok()) Die("lock api: " + api_r.status().ToString());
    auto api = std::move(api_r).value();
    Config config = MakeConfig(args.devices, tmp.File("store-out"));
    std::filesystem::create_directories(tmp.File("baseline"));

    auto t_inject = Clock::now();
    std::vector<CaptureJob> photos =
        InjectJobs(admin, *api, args.devices, args.photos, {photo_a, photo_b}, 0);
    std::printf("injected %d photos (astronaut.jpg / noface.jpg alternating) in %.1f s\n",
                args.photos, Seconds(Clock::now() - t_inject));
    std::fflush(stdout);

    if (args.throughput) {
      t_inject = Clock::now();
      std::vector<CaptureJob> videos =
          InjectJobs(admin, *api, args.devices, args.videos, {video}, args.photos);
      std::printf("injected %d videos (astronaut_360p_faststart.mp4) in %.1f s\n", args.videos,
                  Seconds(Clock::now() - t_inject));
      Baseline baseline(config, tmp.File("baseline"));
      // Warm-up (page cache, connections, cascade), not timed.
      std::vector<CaptureJob> warm(
          photos.begin(), photos.begin() + std::min<std::ptrdiff_t>(4, std::ssize(photos)));
      if (!videos.empty()) warm.push_back(videos.front());
      RunPipeline(config, emu.tokens, warm);
      baseline.Run(warm, 1);
      baseline.Run(warm, opencv_default_threads);

      std::printf(
          "\nThroughput (same run, same emulator; stored captures given as url + file_key; no door "
          "calls,\n"
          "no outputs, no journal; timing excludes detector/client setup; CPU ms/c = CPU time of "
          "the\n"
          "whole process, emulator included, per capture)\n");
      ThroughputTable(config, emu.tokens, baseline, photos, videos, opencv_default_threads,
                      args.rounds);
      if (args.media_latency_ms > 0) {
        admin.Call("POST", "/_emulator/faults",
                   json{{"media_latency_ms", args.media_latency_ms}}.dump());
        std::printf(
            "\nThe same with %d ms before the first byte of every media download (an object "
            "store across\nthe internet instead of loopback; emulator fault media_latency_ms)\n",
            args.media_latency_ms);
        ThroughputTable(config, emu.tokens, baseline, photos, videos, opencv_default_threads,
                        args.rounds);
        admin.Call("DELETE", "/_emulator/faults");
      }
      std::fflush(stdout);
    }

    if (args.rss) {
      const int big = args.photos * args.rss_factor;
      t_inject = Clock::now();
      std::vector<CaptureJob> more = InjectJobs(admin, *api, args.devices, big - args.photos,
                                                {photo_a, photo_b}, args.photos + args.videos);
      std::printf("\ninjected %d more photos for the memory runs in %.1f s\n", big - args.photos,
                  Seconds(Clock::now() - t_inject));
      photos.insert(photos.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
      WriteJobs(tmp.File("rss-jobs.jsonl"), photos);
      ChildRun small = SpawnRssChild(tmp.File("rss-jobs.jsonl"), args.photos, args.devices,
                                     tmp.File("rss-small.out"));
      ChildRun large =
          SpawnRssChild(tmp.File("rss-jobs.jsonl"), big, args.devices, tmp.File("rss-large.out"));
      std::printf(
          "\nPeak RSS of the pipeline: a child process each (this program with --rss-child, no "
          "emulator in\nthe child), its own VmHWM at the end. Child output: done failed seconds "
          "VmHWM\n");
      std::printf("%-8s %10s %12s   %s\n", "photos", "peak KiB", "peak MiB", "child output");
      std::printf("%-8d %10ld %12.1f   %s\n", args.photos, small.rss_kib,
                  static_cast<double>(small.rss_kib) / 1024.0, small.out.c_str());
      std::printf("%-8d %10ld %12.1f   %s\n", big, large.rss_kib,
                  static_cast<double>(large.rss_kib) / 1024.0, large.out.c_str());
      std::printf("growth: %+ld KiB for %dx the captures\n", large.rss_kib - small.rss_kib,
                  args.rss_factor);
      std::fflush(stdout);
    }
  }

  if (args.latency) {
    std::printf(
        "\nLatency: injection (system clock just before the POST) -> the unlock reached the "
        "emulator\n"
        "(audit entry t). Webhook -> WebhookServer -> Pipeline (default threads, act, outputs, "
        "SQLite\n"
        "journal) -> password-ticket + password-free/open-door. One capture at a time, devices "
        "round-robin.\n");
    std::printf("%-7s %5s %7s %8s %8s %8s %8s %6s   %s\n", "media", "n", "missed", "p50 ms",
                "p90 ms", "p99 ms", "max ms", ">1 s", "pipeline received->acted p50/p99 ms");
    struct Case {
      const char* name;
      const char* sample;
      int count;
    };
    for (const Case& c : {Case{"photos", "astronaut.jpg", args.latency_photos},
                          Case{"videos", "astronaut_360p_faststart.mp4", args.latency_videos}}) {
      if (c.count == 0) continue;
      LatencyResult r = RunLatency(args, tmp, std::string("latency-") + c.name, c.sample, c.count);
      const auto over_1s =
          std::count_if(r.ms.begin(), r.ms.end(), [](double v) { return v > 1000; });
      std::printf("%-7s %5d %7d %8.0f %8.0f %8.0f %8.0f %6td   %.0f / %.0f\n", c.name, c.count,
                  r.missed, Percentile(r.ms, 0.5), Percentile(r.ms, 0.9), Percentile(r.ms, 0.99),
                  Percentile(r.ms, 1.0), over_1s, Percentile(r.pipeline_ms, 0.5),
                  Percentile(r.pipeline_ms, 0.99));
      std::fflush(stdout);
    }
  }
  std::printf("\npeak RSS of this process (emulator included): %ld KiB\n", PeakRssKiB());
  return 0;
}

}  // namespace
}  // namespace lockpipe

int main(int argc, char** argv) { return lockpipe::Main(argc, argv); }
