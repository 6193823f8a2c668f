// The pipeline end to end against the real emulator over loopback HTTP: real
// signing and tokens, real encrypted media, real FFmpeg, real OpenCV faces, a
// real SQLite journal.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "emulator/server.h"
#include "fetch/credentials.h"
#include "fetch/http_client.h"
#include "fetch/tuya_sign.h"
#include "pipeline/pipeline.h"
#include "pipeline/poller.h"
#include "pipeline/webhook.h"
#include "tests/testutil.h"

namespace lockpipe {
namespace {

using nlohmann::json;
using testing::RunShell;
using testing::ShellQuote;
using testing::TempDir;

const char kClientId[] = "e2e-client";
const char kSecret[] = "e2e-secret-0123456789abcdefghijk";  // 32 characters
const char kSampleKey[] = "lockpipesample16";

std::string Media(const std::string& name) {
  return testing::SourceDir() + "/samples/media/" + name;
}

// "HH:MM" in UTC, `hours` from now: the e2e rules' time windows are built
// around the moment the test runs, so they hold at any hour.
std::string UtcClock(int hours) {
  const std::time_t t = std::time(nullptr) + static_cast<std::time_t>(hours) * 3600;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[8];
  std::strftime(buf, sizeof buf, "%H:%M", &tm);
  return buf;
}

class PipelineE2E : public ::testing::Test {
 protected:
  void SetUp() override { StartEmulator(""); }

  void StartEmulator(const std::string& webhook_url, const std::string& hook_secret = "") {
    json fixture = {{"client_id", kClientId},
                    {"access_secret", kSecret},
                    {"devices",
                     {{{"id", "door-wifi"}, {"type", "wifi"}},
                      {{"id", "gate-ble"}, {"type", "bluetooth"}},
                      {{"id", "room-hotel"}, {"type", "zigbee_hotel"}},
                      {{"id", "side-door"}, {"type", "bluetooth"}}}}};
    testing::WriteFile(dir_.File("fixture.json"), fixture.dump());
    emulator::ServerOptions o;
    o.fixture_path = dir_.File("fixture.json");
    o.webhook_url = webhook_url;
    o.webhook_secret = Secret(hook_secret);
    auto s = emulator::Server::Start(o);
    ASSERT_OK_R(s);
    server_ = std::move(s).value();
    std::string rules = R"(
[cloud]
endpoint = ")" + server_->base_url() +
                        R"("
credentials = "env"
[detector]
kind = "cascade"
[outputs]
dir = ")" + dir_.File("out") +
                        R"("
thumbnail_count = 3
[safety]
on_error = "reject"
[[devices]]
id = "door-wifi"
type = "wifi"
[[devices]]
id = "gate-ble"
type = "bluetooth"
[[devices]]
id = "room-hotel"
type = "zigbee_hotel"
[[devices]]
id = "side-door"
type = "bluetooth"
[[rules]]
name = "alerts to a person"
action = "escalate"
kind = "alert"
[[rules]]
name = "nobody"
action = "reject"
kind = "unlock"
faces = { max = 0 }
[[rules]]
name = "a face"
action = "approve"
kind = "unlock"
devices = ["door-wifi", "gate-ble", "room-hotel"]
time = { from = ")" + UtcClock(-2) +
                        R"(", to = ")" + UtcClock(2) + R"(", zone = "UTC" }
faces = { min = 1, max = 3 }
analysis = "ok"
[[rules]]
name = "side door, later"
action = "approve"
kind = "unlock"
devices = ["side-door"]
time = { from = ")" + UtcClock(3) +
                        R"(", to = ")" + UtcClock(5) + R"(", zone = "UTC" }
faces = { min = 1 }
)";
    testing::WriteFile(dir_.File("rules.toml"), rules);
    auto cfg = LoadConfig(dir_.File("rules.toml"));
    ASSERT_OK_R(cfg);
    config_ = std::move(cfg).value();
    auto j = Journal::Open(dir_.File("journal.db"));
    ASSERT_OK_R(j);
    journal_ = std::move(j).value();
    tokens_ = std::make_shared<TokenManager>(server_->base_url(),
                                             TuyaCredentials{kClientId, Secret(kSecret)});
  }

  PipelineDeps Deps() {
    PipelineDeps d;
    auto tokens = tokens_;
    d.make_api = [tokens]() -> Result<std::unique_ptr<LockApi>> {
      ASSIGN_OR_RETURN(auto api, MakeTuyaLockApi(tokens, CurlOptions{}));
      return std::unique_ptr<LockApi>(std::move(api));
    };
    d.make_http = []() -> Result<std::unique_ptr<HttpClient>> {
      ASSIGN_OR_RETURN(auto c, CurlHttpClient::Create(CurlOptions{}));
      return std::unique_ptr<HttpClient>(std::move(c));
    };
    d.journal = journal_.get();
    d.on_report = [this](const EventReport& r) {
      std::lock_guard<std::mutex> lock(mu_);
      reports_.push_back(r);
    };
    return d;
  }

  // Admin call to the emulator; returns the JSON answer.
  json Admin(const std::string& method, const std::string& path, const std::string& body = "",
             const std::string& content_type = "application/json") {
    auto http = CurlHttpClient::Create(CurlOptions{});
    EXPECT_TRUE(http.ok());
    HttpRequest req;
    req.method = method;
    req.url = server_->base_url() + path;
    req.body = body;
    req.headers = {{"Content-Type", content_type}};
    auto res = (*http)->Send(req);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    if (!res.ok()) return {};
    EXPECT_LT(res->status, 300) << path << ": " << res->body;
    return json::parse(res->body, nullptr, false);
  }

  // Injects a sample file as a capture; returns its file_path.
  std::string Inject(const std::string& device, const std::string& kind,
                     const std::string& sample) {
    auto bytes = testing::ReadFile(Media(sample));
    json r = Admin("POST", "/_emulator/devices/" + device + "/captures?kind=" + kind,
                   std::string(bytes.begin(), bytes.end()), "application/octet-stream");
    return r.value("file_path", "");
  }

  // The device's latest unlock capture with its media reference, dated
  // `seconds_late` before now: a pushed event delivered late.
  CaptureJob LateJob(const std::string& device, int seconds_late) {
    auto api = Deps().make_api();
    EXPECT_TRUE(api.ok());
    CaptureJob j;
    if (!api.ok()) return j;
    auto url = (*api)->GetLatestMediaUrl(device, MediaKind::kUnlockRequest);
    EXPECT_TRUE(url.ok()) << url.status().ToString();
    if (!url.ok()) return j;
    j.where = CaptureJob::Where::kUrl;
    j.device_id = device;
    j.source = "webhook";
    j.label = "late-event";
    j.url = url->file_url;
    j.file_key = url->file_key;
    j.file_path = url->file_path;
    j.captured_at_ms = NowMs() - seconds_late * 1000LL;
    return j;
  }

  std::vector<std::string> AuditEndpoints(const std::string& device) {
    json d = Admin("GET", "/_emulator/devices/" + device);
    std::vector<std::string> out;
    for (const auto& e : d["audit"])
      out.push_back(e["endpoint"].get<std::string>() + ":" +
                    (e["ok"].get<bool>() ? "ok" : "failed"));
    return out;
  }

  // Polls every device once through a fresh pipeline and returns the reports.
  std::vector<EventReport> PollOnce(PipelineOptions options = {}) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      reports_.clear();
    }
    options.analyze_threads = 2;
    Pipeline p(config_, options, Deps());
    EXPECT_OK(p.Start());
    auto api = Deps().make_api();
    EXPECT_TRUE(api.ok());
    Poller poller(
        config_, **api, [&](CaptureJob j) { return p.Submit(std::move(j)); }, PollOptions{});
    poller.RunOnce();
    p.Finish();
    std::lock_guard<std::mutex> lock(mu_);
    return reports_;
  }

  static const EventReport* Find(const std::vector<EventReport>& rs, const std::string& device,
                                 const std::string& kind) {
    for (const auto& r : rs)
      if (r.device_id == device && r.kind == kind) return &r;
    return nullptr;
  }

  TempDir dir_;
  std::unique_ptr<emulator::Server> server_;
  Config config_;
  std::unique_ptr<Journal> journal_;
  std::shared_ptr<TokenManager> tokens_;
  std::mutex mu_;
  std::vector<EventReport> reports_;
};

TEST_F(PipelineE2E, AFaceAtTheDoorOpensTheLock) {
  // "a face" approves gate-ble within its time window (two hours either side of now).
  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->analysis_ok) << r->error;
  EXPECT_GE(r->faces, 1);
  EXPECT_EQ(r->verdict, "approve");
  EXPECT_EQ(r->rule, "a face");
  EXPECT_TRUE(r->action.sent);
  EXPECT_TRUE(r->action.ok) << r->action.detail;
  EXPECT_EQ(r->action.endpoint, "password-free/open-door");
  // The lock saw a ticket, then the password-free unlock with it.
  json dev = Admin("GET", "/_emulator/devices/gate-ble");
  EXPECT_EQ(dev["state"], "unlocked");
  ASSERT_EQ(dev["audit"].size(), 1u) << dev.dump();
  EXPECT_EQ(dev["audit"][0]["endpoint"], "password-free/open-door");
  EXPECT_FALSE(dev["audit"][0]["ticket_id"].get<std::string>().empty());
  json stats = Admin("GET", "/_emulator/stats");
  EXPECT_GE(stats["calls"].value("password-ticket", 0), 1) << stats.dump();
  // Evidence on disk and in the journal.
  EXPECT_TRUE(testing::FileExists(r->contact_sheet));
  auto entry = journal_->GetEvent(r->event_id);
  ASSERT_OK_R(entry);
  ASSERT_TRUE(entry->decision.has_value());
  EXPECT_EQ(entry->decision->verdict, "approve");
  ASSERT_EQ(entry->actions.size(), 1u);
  EXPECT_EQ(entry->actions[0].outcome, "ok");
  // The journal keeps the faces the rules saw, and every frame's, and where
  // the evidence went (written while the door call went out).
  ASSERT_TRUE(entry->analysis.has_value());
  EXPECT_EQ(entry->analysis->contact_sheet_path, r->contact_sheet);
  EXPECT_EQ(entry->analysis->thumbnail_paths, r->thumbnails);
  EXPECT_FALSE(r->thumbnails.empty());
  ASSERT_FALSE(r->record.empty());
  const auto record_bytes = testing::ReadFile(r->record);
  const json record = json::parse(std::string(record_bytes.begin(), record_bytes.end()));
  EXPECT_EQ(record["contact_sheet"], r->contact_sheet);
  json faces = json::parse(entry->analysis->faces_json);
  EXPECT_EQ(faces["faces"].size(), static_cast<std::size_t>(r->faces));
  EXPECT_EQ(faces["frames"].size(), 1u);  // a photo is one frame
}

TEST_F(PipelineE2E, AFaceOutsideTheAllowedWindowIsNotApproved) {
  // side-door's approve rule holds from 3 to 5 hours from now: a face now
  // matches no rule, so a person decides and nothing reaches the lock.
  Inject("side-door", "unlock", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "side-door", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->analysis_ok) << r->error;
  EXPECT_GE(r->faces, 1);
  EXPECT_EQ(r->verdict, "escalate");
  EXPECT_FALSE(r->action.sent);
  EXPECT_TRUE(AuditEndpoints("side-door").empty());
  EXPECT_EQ(Admin("GET", "/_emulator/devices/side-door")["state"], "locked");
}

TEST_F(PipelineE2E, NoFaceIsRejectedAndTheRequestRevoked) {
  Inject("door-wifi", "unlock", "noface.jpg");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "door-wifi", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->analysis_ok) << r->error;
  EXPECT_EQ(r->faces, 0);
  EXPECT_EQ(r->verdict, "reject");
  EXPECT_TRUE(r->action.ok) << r->action.detail;
  EXPECT_EQ(AuditEndpoints("door-wifi"),
            std::vector<std::string>{"password-free/open-door/cancel:ok"});
  EXPECT_EQ(Admin("GET", "/_emulator/devices/door-wifi")["state"], "locked");
}

TEST_F(PipelineE2E, WhatTheLockTypeCannotDoIsJournaledAsNotSent) {
  // "a face" approves door-wifi, but the reference lists no remote unlock for
  // a plain Wi-Fi lock; and a Bluetooth lock has no revoke call.
  Inject("door-wifi", "unlock", "astronaut.jpg");
  Inject("gate-ble", "unlock", "noface.jpg");
  auto rs = PollOnce();
  const EventReport* approved = Find(rs, "door-wifi", "unlock");
  const EventReport* refused = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(approved, nullptr);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(approved->verdict, "approve") << approved->reason;
  EXPECT_FALSE(approved->action.sent);
  EXPECT_FALSE(approved->action.ok);
  EXPECT_TRUE(approved->action.impossible);
  EXPECT_EQ(approved->action.detail,
            "cannot open door-wifi: the reference lists no remote unlock for a Wi-Fi lock");
  EXPECT_EQ(refused->verdict, "reject") << refused->reason;
  EXPECT_TRUE(refused->action.impossible);
  EXPECT_TRUE(AuditEndpoints("door-wifi").empty());
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
  for (const EventReport* r : {approved, refused}) {
    auto entry = journal_->GetEvent(r->event_id);
    ASSERT_OK_R(entry);
    ASSERT_EQ(entry->actions.size(), 1u) << r->device_id;
    const ActionRecord& a = entry->actions[0];
    EXPECT_EQ(a.action, r->verdict);
    EXPECT_EQ(a.endpoint, "");
    EXPECT_EQ(a.outcome, "failed");
    EXPECT_EQ(a.detail, "not sent: " + r->action.detail);
    EXPECT_EQ(a.device_id, r->device_id);
  }
  // Not listed as a call whose outcome is unknown.
  auto unknown = journal_->UnknownOutcomes(/*include_reported=*/true);
  ASSERT_OK_R(unknown);
  EXPECT_TRUE(unknown->empty());
  auto shown =
      RunShell(ShellQuote(testing::LockpipeBinary()) + " journal show " +
               std::to_string(approved->event_id) + " --db " + ShellQuote(dir_.File("journal.db")));
  EXPECT_NE(shown.out.find("approve, not sent (device door-wifi)"), std::string::npos) << shown.out;
}

TEST_F(PipelineE2E, AnAlertIsJournaledAndNotActedOn) {
  Inject("room-hotel", "alert", "astronaut_360p_faststart.mp4");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "room-hotel", "alert");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->analysis_ok) << r->error;
  EXPECT_EQ(r->media_type, "MP4");
  EXPECT_EQ(r->verdict, "escalate");
  EXPECT_FALSE(r->action.sent);
  EXPECT_TRUE(AuditEndpoints("room-hotel").empty());
  auto entry = journal_->GetEvent(r->event_id);
  ASSERT_OK_R(entry);
  ASSERT_TRUE(entry->analysis.has_value());
  EXPECT_TRUE(entry->actions.empty());
}

TEST_F(PipelineE2E, AVideoWithAFaceOpensAHotelRoom) {
  Inject("room-hotel", "unlock", "astronaut_720p_moov_end.mp4");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "room-hotel", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->analysis_ok) << r->error;
  EXPECT_EQ(r->verdict, "approve");
  EXPECT_EQ(AuditEndpoints("room-hotel"), std::vector<std::string>{"password-free/open-door:ok"});
}

TEST_F(PipelineE2E, CorruptMediaFailsClosed) {
  Admin("POST", "/_emulator/faults", R"({"truncate_media_fraction": 0.5})");
  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->analysis_ok);
  EXPECT_FALSE(r->error.empty());
  EXPECT_EQ(r->verdict, "reject");                  // safety.on_error
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());  // Bluetooth: no revoke; certainly no unlock
  EXPECT_EQ(Admin("GET", "/_emulator/devices/gate-ble")["state"], "locked");
  // The failure is on record: in the journal, and in the capture's own folder.
  auto entry = journal_->GetEvent(r->event_id);
  ASSERT_OK_R(entry);
  ASSERT_TRUE(entry->analysis.has_value());
  EXPECT_FALSE(entry->analysis->ok);
  EXPECT_EQ(entry->analysis->error, r->error);
  ASSERT_FALSE(r->record.empty());
  const auto bytes = testing::ReadFile(r->record);
  json record = json::parse(std::string(bytes.begin(), bytes.end()), nullptr, false);
  EXPECT_EQ(record["analysis_ok"], false);
  EXPECT_EQ(record["error"], r->error);
  EXPECT_EQ(record["verdict"], "reject");
  EXPECT_FALSE(record.contains("contact_sheet"));
}

TEST_F(PipelineE2E, AnOversizedPhotoIsNotDownloadedWhole) {
  // A photo is held in memory whole, so its size is bounded: past the bound
  // the download stops and the capture fails closed.
  Inject("gate-ble", "unlock", "astronaut.jpg");
  PipelineOptions small;
  small.max_photo_bytes = 4096;
  auto rs = PollOnce(small);
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->analysis_ok);
  EXPECT_NE(r->error.find(": larger than 4096 bytes, the most a lock photo may be"),
            std::string::npos)
      << r->error;
  EXPECT_EQ(r->verdict, "reject");
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
}

TEST_F(PipelineE2E, AWrongKeyFailsClosed) {
  std::string path = Inject("gate-ble", "unlock", "astronaut.jpg");
  std::vector<EventReport> rs;
  Pipeline p(config_, PipelineOptions{}, Deps());
  ASSERT_OK(p.Start());
  CaptureJob j;
  j.where = CaptureJob::Where::kUrl;
  j.device_id = "gate-ble";
  j.source = "batch";
  j.url = server_->base_url() + path;
  j.file_path = path;
  j.file_key = Secret("0000000000000000");
  ASSERT_TRUE(p.Submit(std::move(j)));
  p.Finish();
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_FALSE(reports_[0].analysis_ok);
  EXPECT_NE(reports_[0].verdict, "approve");
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
}

TEST_F(PipelineE2E, AStaleCaptureIsNeverApproved) {
  // A capture delivered with its media reference two minutes after it was
  // taken: a face, a rule that approves it, and still refused. Refused
  // without a revoke: the lock stopped waiting on this request long ago, and
  // a revoke is per lock; it would refuse whatever request the lock holds now.
  Inject("door-wifi", "unlock", "astronaut.jpg");
  Pipeline p(config_, PipelineOptions{}, Deps());
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.Submit(LateJob("door-wifi", 120)));
  p.Finish();
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_TRUE(reports_[0].analysis_ok) << reports_[0].error;
  EXPECT_GE(reports_[0].faces, 1);
  EXPECT_EQ(reports_[0].verdict, "reject") << reports_[0].reason;
  EXPECT_NE(reports_[0].reason.find("s old (limit 90 s): never approved"), std::string::npos)
      << reports_[0].reason;
  EXPECT_FALSE(reports_[0].action.sent);
  EXPECT_TRUE(AuditEndpoints("door-wifi").empty());  // no unlock, and no revoke either
}

TEST_F(PipelineE2E, ARequestThatGoesStaleWhileItsTicketIsFetchedStaysShut) {
  // Approved while fresh; the ticket then takes longer than the request has
  // left (a slow cloud, retries). The door call is not made.
  config_.safety.max_capture_age_seconds = 3;
  Inject("gate-ble", "unlock", "astronaut.jpg");
  CaptureJob job = LateJob("gate-ble", 0);
  Admin("POST", "/_emulator/faults", R"({"latency_ms": 4000})");
  Pipeline p(config_, PipelineOptions{}, Deps());
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.Submit(std::move(job)));
  p.Finish();
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].verdict, "approve") << reports_[0].reason;
  EXPECT_FALSE(reports_[0].action.sent);
  EXPECT_FALSE(reports_[0].action.ok);
  EXPECT_NE(reports_[0].action.detail.find("went stale while its ticket was fetched"),
            std::string::npos)
      << reports_[0].action.detail;
  Admin("POST", "/_emulator/faults", R"({"latency_ms": 0})");
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
  EXPECT_EQ(Admin("GET", "/_emulator/devices/gate-ble")["state"], "locked");
  // The journal says so: an intent whose outcome is "failed", never resent.
  auto entry = journal_->GetEvent(reports_[0].event_id);
  ASSERT_OK_R(entry);
  ASSERT_EQ(entry->actions.size(), 1u);
  EXPECT_EQ(entry->actions[0].outcome, "failed");
}

TEST_F(PipelineE2E, ARefusedAlertRevokesNothing) {
  // A revoke is per lock: sent for an alert it would refuse the lock's real
  // pending request, which here waits for a person.
  RuleConfig ask;
  ask.name = "requests to a person";
  ask.action = Verdict::kEscalate;
  ask.kind = MediaKind::kUnlockRequest;
  RuleConfig refuse;
  refuse.name = "alerts refused";
  refuse.action = Verdict::kReject;
  refuse.kind = MediaKind::kAlert;
  config_.rules.insert(config_.rules.begin(), {ask, refuse});
  Inject("door-wifi", "unlock", "astronaut.jpg");
  Inject("door-wifi", "alert", "noface.jpg");
  auto rs = PollOnce();
  const EventReport* alert = Find(rs, "door-wifi", "alert");
  ASSERT_NE(alert, nullptr);
  EXPECT_EQ(alert->verdict, "reject");
  EXPECT_EQ(alert->rule, "alerts refused");
  EXPECT_FALSE(alert->action.sent);
  EXPECT_NE(alert->action.detail.find("an alert is not a request"), std::string::npos)
      << alert->action.detail;
  const EventReport* request = Find(rs, "door-wifi", "unlock");
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->verdict, "escalate");
  EXPECT_TRUE(AuditEndpoints("door-wifi").empty());
  EXPECT_FALSE(Admin("GET", "/_emulator/devices/door-wifi")["pending_request"].is_null());
}

TEST_F(PipelineE2E, ACutPhotoOrClipNeverOpensTheDoor) {
  // The camera's file cut, then encrypted whole (its padding checks): FFmpeg
  // would decode 60 % of the photo and conceal the rest, and the face in the
  // part that arrived would open the door. The missing part can hide people.
  auto inject_cut = [&](const std::string& device, const std::string& sample) {
    auto bytes = testing::ReadFile(Media(sample));
    bytes.resize(bytes.size() * 60 / 100);
    Admin("POST", "/_emulator/devices/" + device + "/captures?kind=unlock",
          std::string(bytes.begin(), bytes.end()), "application/octet-stream");
  };
  inject_cut("gate-ble", "astronaut.jpg");
  inject_cut("room-hotel", "astronaut_360p_faststart.mp4");
  auto rs = PollOnce();
  for (const char* device : {"gate-ble", "room-hotel"}) {
    const EventReport* r = Find(rs, device, "unlock");
    ASSERT_NE(r, nullptr) << device;
    EXPECT_FALSE(r->analysis_ok) << device;
    EXPECT_NE(r->error.find("truncated"), std::string::npos) << device << ": " << r->error;
    EXPECT_EQ(r->verdict, "reject") << device << ": " << r->reason;  // safety.on_error
    for (const std::string& call : AuditEndpoints(device))
      EXPECT_EQ(call.find("open-door"), std::string::npos) << device << ": " << call;
  }
  EXPECT_EQ(Admin("GET", "/_emulator/devices/gate-ble")["state"], "locked");
}

TEST_F(PipelineE2E, AFailedAnalysisIsDecidedByTheRulesForIt) {
  // on_error is "reject"; a rule for failed analysis sends them to a person.
  RuleConfig broken;
  broken.name = "broken media to a person";
  broken.action = Verdict::kEscalate;
  broken.analysis = AnalysisCondition::kFailed;
  broken.devices = {"gate-ble"};
  config_.rules.insert(config_.rules.begin(), broken);
  Admin("POST", "/_emulator/faults", R"({"truncate_media_fraction": 0.5})");
  Inject("gate-ble", "unlock", "astronaut.jpg");
  Inject("room-hotel", "unlock", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* gate = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(gate, nullptr);
  EXPECT_FALSE(gate->analysis_ok);
  EXPECT_EQ(gate->verdict, "escalate") << gate->reason;
  EXPECT_EQ(gate->rule, "broken media to a person");
  EXPECT_NE(gate->reason.find("analysis failed ("), std::string::npos) << gate->reason;
  // No rule for the other device's failure: on_error decides.
  const EventReport* room = Find(rs, "room-hotel", "unlock");
  ASSERT_NE(room, nullptr);
  EXPECT_FALSE(room->analysis_ok);
  EXPECT_EQ(room->verdict, "reject") << room->reason;
  EXPECT_EQ(room->rule, "");
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
}

TEST_F(PipelineE2E, ALateFetchTheLatestEventClaimsNoCapture) {
  // A "fetch the latest" event two minutes late would judge whatever capture
  // is the latest now, a newer request, by its own date. It is not fetched,
  // and the newer request is decided on its own.
  Inject("gate-ble", "unlock", "astronaut.jpg");
  Pipeline p(config_, PipelineOptions{}, Deps());
  ASSERT_OK(p.Start());
  CaptureJob j;
  j.where = CaptureJob::Where::kLatest;
  j.device_id = "gate-ble";
  j.source = "webhook";
  j.label = "late-event";
  j.captured_at_ms = NowMs() - 120'000;
  ASSERT_TRUE(p.Submit(std::move(j)));
  p.Finish();
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_FALSE(reports_[0].analysis_ok);
  EXPECT_NE(reports_[0].error.find("not fetched"), std::string::npos) << reports_[0].error;
  // No capture behind it: skipped, not journaled, nothing decided.
  EXPECT_TRUE(reports_[0].duplicate);
  EXPECT_EQ(reports_[0].event_id, 0);
  EXPECT_EQ(reports_[0].verdict, "");
  EXPECT_EQ(reports_[0].ToJson()["skipped"], true);
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->duplicate);
  EXPECT_EQ(r->verdict, "approve") << r->reason;
  EXPECT_EQ(AuditEndpoints("gate-ble"), std::vector<std::string>{"password-free/open-door:ok"});
}

TEST_F(PipelineE2E, AFetchTheLatestEventThatFindsNoCaptureDecidesNothing) {
  // Nothing in the cloud's window (or the cloud busy): no capture identity, so
  // nothing is journaled that could be decided beside the real capture.
  Pipeline p(config_, PipelineOptions{}, Deps());
  ASSERT_OK(p.Start());
  CaptureJob j;
  j.where = CaptureJob::Where::kLatest;
  j.device_id = "gate-ble";
  j.source = "webhook";
  j.label = "evt-1";
  j.captured_at_ms = NowMs();
  ASSERT_TRUE(p.Submit(std::move(j)));
  p.Finish();
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_TRUE(reports_[0].duplicate);
  EXPECT_EQ(reports_[0].event_id, 0);
  EXPECT_NE(reports_[0].error.find("no unlock capture"), std::string::npos) << reports_[0].error;
  EXPECT_EQ(p.stats().skipped, 1);
  EXPECT_EQ(p.stats().duplicates, 0);
  auto counts = journal_->CountVerdicts();
  ASSERT_OK_R(counts);
  std::int64_t events = 0;
  for (const auto& [verdict, n] : *counts) events += n;
  EXPECT_EQ(events, 0);
}

TEST_F(PipelineE2E, AnExpiredTokenMidRunRecovers) {
  Inject("door-wifi", "unlock", "noface.jpg");
  PollOnce();
  Admin("POST", "/_emulator/tokens/expire");
  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->verdict, "approve");
  EXPECT_TRUE(r->action.ok) << r->action.detail;
}

TEST_F(PipelineE2E, AnExpiredTicketIsReplacedOnceAndNeverMore) {
  // The first ticket is dead on arrival: the door refuses it, opens nothing,
  // and the pipeline asks for a fresh ticket once.
  Admin("POST", "/_emulator/faults", R"({"expire_tickets_next":1})");
  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->verdict, "approve");
  EXPECT_TRUE(r->action.ok) << r->action.detail;
  EXPECT_NE(r->action.detail.find("fresh ticket"), std::string::npos) << r->action.detail;
  json dev = Admin("GET", "/_emulator/devices/gate-ble");
  EXPECT_EQ(dev["state"], "unlocked");
  ASSERT_EQ(dev["audit"].size(), 2u) << dev.dump();
  EXPECT_FALSE(dev["audit"][0]["ok"].get<bool>());
  EXPECT_EQ(dev["audit"][0]["code"], 1109);
  EXPECT_TRUE(dev["audit"][1]["ok"].get<bool>());
  EXPECT_NE(dev["audit"][0]["ticket_id"], dev["audit"][1]["ticket_id"]);
  auto entry = journal_->GetEvent(r->event_id);
  ASSERT_OK_R(entry);
  ASSERT_EQ(entry->actions.size(), 1u);  // one action, carried out with the second ticket
  EXPECT_EQ(entry->actions[0].outcome, "ok");

  // Two dead tickets: two refused calls, then the failure stands (no third try).
  Admin("POST", "/_emulator/faults", R"({"expire_tickets_next":2})");
  Inject("room-hotel", "unlock", "astronaut.jpg");
  rs = PollOnce();
  r = Find(rs, "room-hotel", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->verdict, "approve");
  EXPECT_TRUE(r->action.sent);
  EXPECT_FALSE(r->action.ok);
  EXPECT_NE(r->action.detail.find("ticket invalid (expired)"), std::string::npos)
      << r->action.detail;
  dev = Admin("GET", "/_emulator/devices/room-hotel");
  EXPECT_EQ(dev["state"], "locked");
  EXPECT_EQ(dev["audit"].size(), 2u) << dev.dump();
  entry = journal_->GetEvent(r->event_id);
  ASSERT_OK_R(entry);
  ASSERT_EQ(entry->actions.size(), 1u);
  EXPECT_EQ(entry->actions[0].outcome, "failed");
}

TEST_F(PipelineE2E, APolledCaptureIsDatedAtThePreviousPoll) {
  // The cloud does not say when a capture was taken: a new one is dated at
  // the previous poll that did not show it, so its age is never understated.
  auto api = Deps().make_api();
  ASSERT_OK_R(api);
  std::vector<CaptureJob> jobs;
  auto submit = [&](CaptureJob j) {
    jobs.push_back(std::move(j));
    return true;
  };
  Poller poller(config_, **api, submit, PollOptions{});
  const std::int64_t before_first_poll = NowMs();
  poller.RunOnce();
  EXPECT_TRUE(jobs.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::int64_t before_inject = NowMs();
  Inject("gate-ble", "unlock", "astronaut.jpg");
  poller.RunOnce();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_GE(jobs[0].captured_at_ms, before_first_poll);
  EXPECT_LT(jobs[0].captured_at_ms, before_inject);  // at or before the capture
  // The first poll after a start has nothing earlier: the cloud's 90 s
  // window is then the only bound, and the capture is dated at that poll.
  jobs.clear();
  Poller restarted(config_, **api, submit, PollOptions{});
  const std::int64_t before_restart_poll = NowMs();
  restarted.RunOnce();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_GE(jobs[0].captured_at_ms, before_restart_poll);
}

TEST_F(PipelineE2E, ARateLimitHoldsAcrossRestarts) {
  // One approval an hour at the gate. Each PollOnce is a new pipeline (a
  // restart); the journal remembers the first approval.
  const auto bytes = testing::ReadFile(dir_.File("rules.toml"));
  std::string rules(bytes.begin(), bytes.end());
  rules.insert(rules.find("[[rules]]"),
               "[[rules]]\nname = \"gate once an hour\"\naction = \"approve\"\n"
               "kind = \"unlock\"\ndevices = [\"gate-ble\"]\nfaces = { min = 1 }\n"
               "rate_limit = { count = 1, per_seconds = 3600 }\n");
  testing::WriteFile(dir_.File("rules.toml"), rules);
  auto cfg = LoadConfig(dir_.File("rules.toml"));
  ASSERT_OK_R(cfg);
  config_ = std::move(cfg).value();

  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->verdict, "approve") << r->reason;
  Inject("gate-ble", "unlock", "astronaut.jpg");
  rs = PollOnce();
  r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->verdict, "escalate") << r->reason;
  EXPECT_NE(r->reason.find("already had 1 approvals in the last 3600 s"), std::string::npos)
      << r->reason;
  EXPECT_EQ(AuditEndpoints("gate-ble"), std::vector<std::string>{"password-free/open-door:ok"});
}

TEST_F(PipelineE2E, TheSameCaptureIsNeverDecidedTwice) {
  Inject("door-wifi", "unlock", "noface.jpg");
  PollOnce();
  // A restart: a new pipeline, the same journal, the same capture still latest.
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "door-wifi", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->duplicate);
  EXPECT_EQ(AuditEndpoints("door-wifi").size(), 1u);
}

TEST_F(PipelineE2E, ACrashBetweenIntentAndOutcomeSendsNothingTwice) {
  std::string path = Inject("gate-ble", "unlock", "astronaut.jpg");
  // What a crash right after journaling the intent leaves behind.
  auto id = journal_->BeginEvent(
      {"gate-ble|unlock|" + path, "gate-ble", "unlock", "poll", path, NowMs(), NowMs()});
  ASSERT_OK_R(id);
  ASSERT_TRUE(id->has_value());
  ASSERT_OK(journal_->RecordDecision(**id, {"approve", "a face", "test", false, NowMs()}));
  auto intent =
      journal_->RecordIntent(**id, {"approve", "password-free/open-door", "gate-ble", NowMs()});
  ASSERT_OK_R(intent);
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->duplicate);
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
  auto unknown = journal_->UnknownOutcomes();
  ASSERT_OK_R(unknown);
  ASSERT_EQ(unknown->size(), 1u);
  EXPECT_EQ((*unknown)[0].id, *intent);
}

TEST_F(PipelineE2E, TheWebhookPathOpensTheLockAndRefusesBadSignatures) {
  const std::string secret = "hook-secret-for-tests";
  PipelineOptions o;
  o.analyze_threads = 1;
  auto deps = Deps();
  Pipeline p(config_, o, deps);
  ASSERT_OK(p.Start());
  auto hook = WebhookServer::Start("127.0.0.1", 0, Secret(secret),
                                   [&](CaptureJob j) { return p.Submit(std::move(j)); });
  ASSERT_OK_R(hook);
  const std::string hook_url = "http://127.0.0.1:" + std::to_string((*hook)->port()) + "/events";

  auto post = [&](const std::string& body, const std::string& sig) {
    auto http = CurlHttpClient::Create(CurlOptions{});
    HttpRequest req;
    req.method = "POST";
    req.url = hook_url;
    req.body = body;
    req.headers = {{"Content-Type", "application/json"}};
    if (!sig.empty()) req.headers.push_back({"X-Lockpipe-Signature", sig});
    auto res = (*http)->Send(req);
    return res.ok() ? res->status : -1;
  };
  const std::string event = R"({"event_id":"e1","device_id":"gate-ble","file_type":1,"t":)" +
                            std::to_string(NowMs()) + "}";
  EXPECT_EQ(post(event, ""), 401);
  EXPECT_EQ(post(event, "sha256=" + std::string(64, '0')), 401);
  EXPECT_EQ(post(event, "sha256=" + tuya::HmacSha256HexUpper("another secret", event)), 401);
  // Well signed but refused: no date, too old (a replay), and a media
  // reference without the capture's file_path (its identity).
  auto signed_post = [&](const std::string& body) {
    return post(body, "sha256=" + tuya::HmacSha256HexUpper(secret, body));
  };
  EXPECT_EQ(signed_post(R"({"event_id":"e2","device_id":"gate-ble","file_type":1})"), 400);
  EXPECT_EQ(signed_post(R"({"event_id":"e3","device_id":"gate-ble","file_type":1,"t":)" +
                        std::to_string(NowMs() - 600'000) + "}"),
            400);
  EXPECT_EQ(signed_post(R"({"device_id":"gate-ble","file_type":1,"file_url":"http://x/y.jpg",)"
                        R"("file_key":"k","t":)" +
                        std::to_string(NowMs()) + "}"),
            400);

  // The emulator pushes the event itself when a capture arrives, signed. The
  // pipeline above reads the config of the old emulator: it stops before that
  // config is replaced, and a new one starts.
  (*hook)->Stop();
  p.Finish();
  server_.reset();
  StartEmulator(hook_url, secret);
  reports_.clear();
  Pipeline p2(config_, o, Deps());
  ASSERT_OK(p2.Start());
  auto hook2 = WebhookServer::Start("127.0.0.1", (*hook)->port(), Secret(secret),
                                    [&](CaptureJob j) { return p2.Submit(std::move(j)); });
  ASSERT_OK_R(hook2);
  Inject("gate-ble", "unlock", "astronaut.jpg");
  for (int i = 0; i < 300; ++i) {  // at most 30 s
    if (p2.stats().done >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  (*hook2)->Stop();
  p2.Finish();
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].source, "webhook");
  EXPECT_EQ(reports_[0].verdict, "approve");
  EXPECT_EQ(AuditEndpoints("gate-ble"), std::vector<std::string>{"password-free/open-door:ok"});
}

// A person answers what the rules escalated: `lockpipe decide`, the real
// program, against the same emulator and journal.
class DecideE2E : public PipelineE2E {
 protected:
  void SetUp() override {
    PipelineE2E::SetUp();
    // The same rules, with every unlock request at the gate escalated first.
    const auto bytes = testing::ReadFile(dir_.File("rules.toml"));
    std::string rules(bytes.begin(), bytes.end());
    const std::string first_rule = "[[rules]]";
    rules.insert(rules.find(first_rule),
                 "[[rules]]\nname = \"the gate asks a person\"\naction = \"escalate\"\n"
                 "kind = \"unlock\"\ndevices = [\"gate-ble\"]\n");
    testing::WriteFile(dir_.File("rules.toml"), rules);
    auto cfg = LoadConfig(dir_.File("rules.toml"));
    ASSERT_OK_R(cfg);
    config_ = std::move(cfg).value();
  }

  // `lockpipe decide ARGS` with the cloud credentials in the environment, the
  // rules file and journal named in the test's folder.
  testing::CommandResult Decide(const std::string& args, const std::string& config = "rules.toml",
                                const std::string& journal = "journal.db") {
    return RunShell(std::string("TUYA_CLIENT_ID=") + kClientId + " TUYA_CLIENT_SECRET=" + kSecret +
                    " " + ShellQuote(testing::LockpipeBinary()) + " decide --config " +
                    ShellQuote(dir_.File(config)) + " --journal " + ShellQuote(dir_.File(journal)) +
                    " " + args);
  }
};

TEST_F(DecideE2E, APersonApprovesAnEscalatedRequestAndTheDoorOpensOnce) {
  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->verdict, "escalate");
  EXPECT_EQ(r->rule, "the gate asks a person");
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
  const std::string id = std::to_string(r->event_id);
  auto shown = RunShell(ShellQuote(testing::LockpipeBinary()) + " journal show " + id + " --db " +
                        ShellQuote(dir_.File("journal.db")));
  EXPECT_NE(shown.out.find("Answered: not yet"), std::string::npos) << shown.out;
  const std::string waiting = ShellQuote(testing::LockpipeBinary()) + " journal list --waiting " +
                              "--json --db " + ShellQuote(dir_.File("journal.db"));
  auto listed = RunShell(waiting);
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 1) << listed.out;
  EXPECT_EQ(json::parse(listed.out)["id"], r->event_id);

  // A pipeline's door call in flight at the same moment (intent, no outcome
  // yet): decide must leave it alone, not take it for one a crash lost.
  EventRecord other{"in-flight", "door-wifi", "unlock", "poll", "/x.jpg", NowMs(), NowMs()};
  auto other_id = journal_->BeginEvent(other);
  ASSERT_OK_R(other_id);
  ASSERT_OK(journal_->RecordDecision(**other_id, {"approve", "a face", "", false, NowMs()}));
  auto in_flight =
      journal_->RecordIntent(**other_id, {"approve", "open-door", "door-wifi", NowMs()});
  ASSERT_OK_R(in_flight);

  auto d = Decide(id + " approve --by alice --reason 'expected guest'");
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_OK(journal_->RecordOutcome(*in_flight, {"ok", "", NowMs()}));  // still open to it
  EXPECT_EQ(d.out.rfind("[APPROVE] gate-ble (bluetooth) #" + id + " by alice → ", 0), 0u) << d.out;
  EXPECT_EQ(AuditEndpoints("gate-ble"), std::vector<std::string>{"password-free/open-door:ok"});
  EXPECT_EQ(Admin("GET", "/_emulator/devices/gate-ble")["state"], "unlocked");
  auto entry = journal_->GetEvent(r->event_id);
  ASSERT_OK_R(entry);
  ASSERT_TRUE(entry->resolution.has_value());
  EXPECT_EQ(entry->resolution->decided_by, "alice");
  EXPECT_EQ(entry->resolution->reason, "expected guest");
  ASSERT_EQ(entry->actions.size(), 1u);
  EXPECT_EQ(entry->actions[0].outcome, "ok");
  EXPECT_EQ(RunShell(waiting).out, "");  // answered: no longer waiting

  // Never answered twice, whatever the second answer.
  d = Decide(id + " reject --by bob");
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("was already answered (approve by alice)"), std::string::npos) << d.err;
  EXPECT_EQ(AuditEndpoints("gate-ble").size(), 1u);
  EXPECT_EQ(d.err.find(kSecret), std::string::npos);
}

TEST_F(DecideE2E, AnAnswerTheCloudCouldNotTakeCanBeGivenAgain) {
  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* r = Find(rs, "gate-ble", "unlock");
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->verdict, "escalate");
  const std::string id = std::to_string(r->event_id);
  // The cloud is out of reach: the answer is not spent...
  auto d = Decide(id + " approve --by alice --endpoint http://127.0.0.1:1");
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("event " + id +
                       ": the cloud cannot be asked; the request is left "
                       "unanswered"),
            std::string::npos)
      << d.err;
  auto entry = journal_->GetEvent(r->event_id);
  ASSERT_OK_R(entry);
  EXPECT_FALSE(entry->resolution.has_value());
  // ...so it can be given once the cloud answers, and the door opens.
  d = Decide(id + " approve --by alice");
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(AuditEndpoints("gate-ble"), std::vector<std::string>{"password-free/open-door:ok"});
}

TEST_F(DecideE2E, WhatCannotBeAnsweredIsRefusedAndNothingIsSent) {
  // Decided by a rule (no face: rejected and revoked).
  Inject("door-wifi", "unlock", "noface.jpg");
  // An alert (escalated by rule, but there is no request to answer).
  Inject("room-hotel", "alert", "astronaut.jpg");
  auto rs = PollOnce();
  const EventReport* rejected = Find(rs, "door-wifi", "unlock");
  const EventReport* alert = Find(rs, "room-hotel", "alert");
  ASSERT_NE(rejected, nullptr);
  ASSERT_NE(alert, nullptr);
  auto d = Decide(std::to_string(rejected->event_id) + " approve --by alice");
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("decided 'reject' by rule 'nobody'; only escalated requests wait"),
            std::string::npos)
      << d.err;
  d = Decide(std::to_string(alert->event_id) + " approve --by alice");
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("is an alert, not an unlock request"), std::string::npos) << d.err;
  EXPECT_EQ(Decide("424242 approve --by alice").exit_code, 1);
  d = Decide("1 reject --by alice", "rules.toml", "typo.db");
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("typo.db does not exist"), std::string::npos) << d.err;
  EXPECT_FALSE(testing::FileExists(dir_.File("typo.db")));
  {  // A config in dry-run mode sends nothing, whoever asks.
    const auto bytes = testing::ReadFile(dir_.File("rules.toml"));
    std::string dry(bytes.begin(), bytes.end());
    dry.insert(dry.find("[safety]\n") + 9, "dry_run = true\n");
    testing::WriteFile(dir_.File("dry.toml"), dry);
    d = Decide(std::to_string(alert->event_id) + " reject --by alice", "dry.toml");
    EXPECT_EQ(d.exit_code, 1);
    EXPECT_NE(d.err.find("dry_run is on: nothing may be sent"), std::string::npos) << d.err;
  }
  d = Decide(std::to_string(alert->event_id) + " maybe --by alice");
  EXPECT_EQ(d.exit_code, 2);
  EXPECT_NE(d.err.find("the answer must be approve or reject, not 'maybe'"), std::string::npos);
  EXPECT_EQ(Decide(std::to_string(alert->event_id) + " approve").exit_code, 2);  // no --by
  EXPECT_EQ(Decide(std::to_string(alert->event_id) + " approve --by '   '").exit_code, 2);
  EXPECT_EQ(
      Decide(std::to_string(alert->event_id) + " approve --by \"$(printf 'al\\351')\"").exit_code,
      2);  // not UTF-8
  EXPECT_EQ(AuditEndpoints("door-wifi"),
            std::vector<std::string>{"password-free/open-door/cancel:ok"});
  EXPECT_TRUE(AuditEndpoints("room-hotel").empty());
  {  // A person cannot open a lock its type does not let open remotely: the
     // answer is refused before it is journaled, so it is not used up.
    EventRecord ev{"wifi-asks", "door-wifi", "unlock", "poll", "/w.jpg", NowMs(), NowMs()};
    auto ev_id = journal_->BeginEvent(ev);
    ASSERT_OK_R(ev_id);
    ASSERT_OK(
        journal_->RecordDecision(**ev_id, {"escalate", "", "a person decides", false, NowMs()}));
    d = Decide(std::to_string(**ev_id) + " approve --by alice");
    EXPECT_EQ(d.exit_code, 1);
    EXPECT_NE(d.err.find("cannot open door-wifi: the reference lists no remote unlock for a "
                         "Wi-Fi lock; the request is left unanswered"),
              std::string::npos)
        << d.err;
    auto entry = journal_->GetEvent(**ev_id);
    ASSERT_OK_R(entry);
    EXPECT_FALSE(entry->resolution.has_value());
    EXPECT_TRUE(entry->actions.empty());
  }

  // A request older than the lock waits is never approved by a person
  // either; refusing it is still possible.
  Inject("gate-ble", "unlock", "astronaut.jpg");
  Pipeline p(config_, PipelineOptions{}, Deps());
  ASSERT_OK(p.Start());
  reports_.clear();
  ASSERT_TRUE(p.Submit(LateJob("gate-ble", 120)));
  p.Finish();
  ASSERT_EQ(reports_.size(), 1u);
  ASSERT_EQ(reports_[0].verdict, "escalate");
  const std::string late = std::to_string(reports_[0].event_id);
  d = Decide(late + " approve --by alice");
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find(" s old; a request older than 90 s is never approved"), std::string::npos)
      << d.err;
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
  d = Decide(late + " reject --by alice --json");
  EXPECT_EQ(d.exit_code, 0) << d.err;
  json answered = json::parse(d.out, nullptr, false);
  EXPECT_EQ(answered["answer"], "reject") << d.out;
  EXPECT_EQ(answered["by"], "alice");
  EXPECT_EQ(answered["done"], true);
  EXPECT_EQ(answered["action"]["action"], "reject");
  EXPECT_EQ(Admin("GET", "/_emulator/devices/gate-ble")["state"], "locked");
  auto entry = journal_->GetEvent(reports_[0].event_id);
  ASSERT_OK_R(entry);
  ASSERT_TRUE(entry->resolution.has_value());
  EXPECT_EQ(entry->resolution->verdict, "reject");
}

TEST(PipelineCli, ARulesFileWithAMistakeIsRefusedWithItsLine) {
  TempDir dir;
  testing::WriteFile(
      dir.File("bad.toml"),
      "[detector]\nkind = \"cascade\"\n\n[[rules]]\nname = \"x\"\naction = \"aprove\"\n");
  auto r = RunShell(ShellQuote(testing::LockpipeBinary()) + " run --once -c " +
                    ShellQuote(dir.File("bad.toml")));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(dir.File("bad.toml") + ":6"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("action"), std::string::npos) << r.err;
}

TEST(PipelineCli, RunOnceFailsWhenTheCloudCannotBeAsked) {
  // Wrong credentials or a dead cloud must not look like "nothing new" to cron.
  TempDir dir;
  testing::WriteFile(dir.File("rules.toml"),
                     "[cloud]\nendpoint = \"http://127.0.0.1:1\"\ncredentials = \"env\"\n"
                     "[detector]\nkind = \"cascade\"\n[[devices]]\nid = \"gate\"\n"
                     "type = \"bluetooth\"\n");
  auto r =
      RunShell(std::string("TUYA_CLIENT_ID=") + kClientId + " TUYA_CLIENT_SECRET=" + kSecret + " " +
               ShellQuote(testing::LockpipeBinary()) + " run --once -c " +
               ShellQuote(dir.File("rules.toml")) + " --journal " + ShellQuote(dir.File("j.db")));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("every poll failed"), std::string::npos) << r.err;
}

// `lockpipe run` against the fixture's emulator, with its rules and credentials.
std::string RunCommand(const TempDir& dir, const std::string& journal, const std::string& args) {
  return std::string("TUYA_CLIENT_ID=") + kClientId + " TUYA_CLIENT_SECRET=" + kSecret + " " +
         ShellQuote(testing::LockpipeBinary()) + " run -c " + ShellQuote(dir.File("rules.toml")) +
         " --journal " + ShellQuote(dir.File(journal)) + " " + args;
}

// One capture by two routes: the cloud's media URL for it (freshly signed) in
// a batch list, and the poll or the pushed event that found it. Whichever
// comes first decides it; the other finds it journaled. The emulator's audit,
// not lockpipe's output, says how often the door was opened.
class TwoRoutesE2E : public PipelineE2E {
 protected:
  // A batch list line for the device's latest unlock capture, as `lockpipe api
  // media` gives its URL and key: no file_path, a signature of its own.
  std::string ListLineForLatest(const std::string& device) {
    auto api = Deps().make_api();
    EXPECT_TRUE(api.ok());
    if (!api.ok()) return "";
    auto url = (*api)->GetLatestMediaUrl(device, MediaKind::kUnlockRequest);
    EXPECT_TRUE(url.ok()) << url.status().ToString();
    if (!url.ok()) return "";
    return json{{"url", url->file_url},
                {"file_key", url->file_key.reveal()},
                {"device", device},
                {"captured_at", NowMs()}}
        .dump();
  }

  testing::CommandResult Batch(const std::string& line) {
    testing::WriteFile(dir_.File("list.jsonl"), line + "\n");
    return RunShell(std::string("TUYA_CLIENT_ID=") + kClientId + " TUYA_CLIENT_SECRET=" +
                    kSecret + " " + ShellQuote(testing::LockpipeBinary()) + " batch -c " +
                    ShellQuote(dir_.File("rules.toml")) + " " +
                    ShellQuote(dir_.File("list.jsonl")) + " --act --json --journal " +
                    ShellQuote(dir_.File("routes.db")));
  }

  testing::CommandResult PollOnceCli() {
    return RunShell(RunCommand(dir_, "routes.db", "--once --no-alerts"));
  }

  // Events and approvals in the journal the CLI runs share.
  void ExpectDecidedOnce() {
    auto j = Journal::Open(dir_.File("routes.db"), Journal::Mode::kReadOnly);
    ASSERT_OK_R(j);
    auto counts = (*j)->CountVerdicts();
    ASSERT_OK_R(counts);
    EXPECT_EQ((*counts)["approve"], 1);
    EXPECT_EQ((*counts)["reject"] + (*counts)["escalate"] + (*counts)["undecided"], 0);
    EXPECT_EQ(AuditEndpoints("gate-ble"), std::vector<std::string>{"password-free/open-door:ok"});
  }
};

TEST_F(TwoRoutesE2E, PolledThenListedByItsUrlOpensTheDoorOnce) {
  Inject("gate-ble", "unlock", "astronaut.jpg");  // a face: the rules approve it
  auto polled = PollOnceCli();
  ASSERT_EQ(polled.exit_code, 0) << polled.err;
  auto listed = Batch(ListLineForLatest("gate-ble"));
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("\"duplicate\":true"), std::string::npos) << listed.out;
  ExpectDecidedOnce();
}

TEST_F(TwoRoutesE2E, ListedByItsUrlThenPolledOpensTheDoorOnce) {
  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto listed = Batch(ListLineForLatest("gate-ble"));
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("\"verdict\":\"approve\""), std::string::npos) << listed.out;
  auto polled = PollOnceCli();
  EXPECT_EQ(polled.exit_code, 0) << polled.err;
  ExpectDecidedOnce();
}

TEST_F(TwoRoutesE2E, PushedThenListedByItsUrlOpensTheDoorOnce) {
  const std::string secret = "hook-secret-for-tests";
  auto journal = Journal::Open(dir_.File("routes.db"));
  ASSERT_OK_R(journal);
  PipelineOptions o;
  o.analyze_threads = 1;
  // The webhook first (the emulator needs its address), then the emulator
  // that pushes to it, then the pipeline that asks that emulator.
  std::atomic<Pipeline*> pipeline{nullptr};
  auto hook = WebhookServer::Start("127.0.0.1", 0, Secret(secret), [&](CaptureJob j) {
    Pipeline* to = pipeline.load();
    return to != nullptr && to->Submit(std::move(j));
  });
  ASSERT_OK_R(hook);
  server_.reset();
  StartEmulator("http://127.0.0.1:" + std::to_string((*hook)->port()) + "/events", secret);
  auto deps = Deps();
  deps.journal = journal->get();
  Pipeline p(config_, o, deps);
  ASSERT_OK(p.Start());
  pipeline = &p;
  Inject("gate-ble", "unlock", "astronaut.jpg");
  for (int i = 0; i < 300 && p.stats().done < 1; ++i)  // at most 30 s
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*hook)->Stop();
  p.Finish();
  ASSERT_EQ(p.stats().done, 1);
  journal->reset();
  ASSERT_EQ(AuditEndpoints("gate-ble"), std::vector<std::string>{"password-free/open-door:ok"});

  auto listed = Batch(ListLineForLatest("gate-ble"));
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("\"duplicate\":true"), std::string::npos) << listed.out;
  ExpectDecidedOnce();
}

TEST_F(PipelineE2E, RunJsonFailsWhenStandardOutputCannotBeWritten) {
  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto r = RunShell(RunCommand(dir_, "run.db", "--once --json --dry-run --no-alerts >/dev/full"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("\nlockpipe run: cannot write to standard output: No space left on "
                       "device\n"),
            std::string::npos)
      << r.err;
  // The capture was still decided and journaled: only its report went nowhere.
  auto j = Journal::Open(dir_.File("run.db"), Journal::Mode::kReadOnly);
  ASSERT_OK_R(j);
  auto counts = (*j)->CountVerdicts();
  ASSERT_OK_R(counts);
  EXPECT_EQ((*counts)["approve"] + (*counts)["reject"] + (*counts)["escalate"], 1);
  EXPECT_EQ((*counts)["undecided"], 0);
}

TEST_F(PipelineE2E, RunJsonPrintsOnlyJsonOnStandardOutput) {
  Inject("gate-ble", "unlock", "astronaut.jpg");
  auto r = RunShell("HOOK_SECRET=s3cret " +
                    RunCommand(dir_, "run.db",
                               "--once --json --dry-run --no-alerts --webhook-listen 127.0.0.1:0 "
                               "--webhook-secret-env HOOK_SECRET"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream out(r.out);
  std::vector<json> lines;
  for (std::string line; std::getline(out, line);) {
    EXPECT_TRUE(json::accept(line)) << "not JSON on stdout: " << line;
    lines.push_back(json::parse(line, nullptr, false));
  }
  ASSERT_EQ(lines.size(), 2u) << r.out;  // the capture's report, then the summary
  EXPECT_EQ(lines[0].value("device", ""), "gate-ble") << r.out;
  EXPECT_TRUE(lines[1].contains("summary")) << r.out;
  EXPECT_NE(r.err.find("webhook listening on http://127.0.0.1:"), std::string::npos) << r.err;
}

TEST_F(PipelineE2E, RunWithoutAJournalIsRefusedUnlessItSendsNothing) {
  Inject("gate-ble", "unlock", "astronaut.jpg");  // a face: approved, the gate would open
  // Nothing would record the door call before it is sent, nor keep a restart
  // from sending it again.
  auto r = RunShell(RunCommand(dir_, "run.db", "--once --no-alerts --no-journal"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("lockpipe run: --no-journal without --dry-run would send lock calls that "
                        "are journaled nowhere, and send them again after a restart",
                        0),
            0u)
      << r.err;
  EXPECT_NE(r.err.find("Try 'lockpipe run --help'."), std::string::npos) << r.err;
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
  EXPECT_EQ(Admin("GET", "/_emulator/devices/gate-ble")["state"], "locked");
  EXPECT_FALSE(testing::FileExists(dir_.File("run.db")));
  // A dry run sends nothing: it may keep no journal, by option or by config.
  r = RunShell(RunCommand(dir_, "run.db", "--once --no-alerts --no-journal --dry-run"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto bytes = testing::ReadFile(dir_.File("rules.toml"));
  std::string dry(bytes.begin(), bytes.end());
  dry.insert(dry.find("[safety]\n") + 9, "dry_run = true\n");
  testing::WriteFile(dir_.File("rules.toml"), dry);
  r = RunShell(RunCommand(dir_, "run.db", "--once --no-alerts --no-journal"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(AuditEndpoints("gate-ble").empty());
  EXPECT_FALSE(testing::FileExists(dir_.File("run.db")));
}

TEST_F(PipelineE2E, APipelineThatActsRefusesToStartWithoutAJournal) {
  PipelineDeps deps = Deps();
  deps.journal = nullptr;
  PipelineOptions acting;
  acting.analyze_threads = 1;
  Pipeline p(config_, acting, deps);
  Status s = p.Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("a pipeline that sends lock calls needs a journal"), std::string::npos)
      << s.ToString();
  PipelineOptions deciding = acting;
  deciding.act = false;  // decides and sends nothing: no journal needed
  Pipeline q(config_, deciding, deps);
  EXPECT_OK(q.Start());
  q.Finish();
}

TEST_F(PipelineE2E, SigtermStopsRunWithStatus143) {
  // A service manager stops a daemon with SIGTERM and expects 128 + 15 back.
  auto r = RunShell(RunCommand(dir_, "run.db", "--poll-interval 1") + " & pid=$!; " +
                    "for i in $(seq 200); do [ -s " + ShellQuote(dir_.File("run.db")) +
                    " ] && break; sleep 0.05; done; sleep 1; kill -TERM $pid; wait $pid; "
                    "echo \"exit=$?\"");
  EXPECT_NE(r.out.find("exit=143"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("\nlockpipe: terminated (SIGTERM); finishing captures in flight (send it "
                       "again to quit at once)\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("Ctrl-C"), std::string::npos) << r.err;
}

// A batch of a thousand local captures, through the CLI, with a journal; then
// the same batch interrupted with Ctrl-C.
class BatchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteFile(dir_.File("rules.toml"), R"(
[detector]
kind = "cascade"
[outputs]
dir = ")" + dir_.File("out") + R"("
[[devices]]
id = "door"
type = "wifi"
[[rules]]
name = "a face"
action = "approve"
kind = "unlock"
faces = { min = 1 }
)");
  }
  static std::string ListLine(const std::string& sample, const std::string& id,
                              const std::string& path = "") {
    return json{{"path", path.empty() ? Media(sample) : path},
                {"file_key", kSampleKey},
                {"device", "door"},
                {"kind", "unlock"},
                {"id", id}}
        .dump();
  }
  // n captures, alternately with and without a face. A file is one capture
  // (CaptureKey), so each line names a file of its own: a link to a sample.
  void WriteList(int n) {
    std::ofstream list(dir_.File("list.jsonl"));
    for (int i = 0; i < n; ++i) {
      const std::string sample = i % 2 ? "noface.enc" : "astronaut.enc";
      const std::string link = dir_.File("c" + std::to_string(i) + ".enc");
      std::error_code ec;  // already there from an earlier list: kept
      std::filesystem::create_symlink(Media(sample), link, ec);
      list << ListLine(sample, "c" + std::to_string(i), link) << "\n";
    }
  }
  // `lockpipe batch` of the list, with a report and a journal.
  std::string Batch(const std::string& args) const {
    return ShellQuote(testing::LockpipeBinary()) + " batch -c " +
           ShellQuote(dir_.File("rules.toml")) + " " + ShellQuote(dir_.File("list.jsonl")) +
           " -o " + ShellQuote(dir_.File("report.jsonl")) + " --no-outputs --journal " +
           ShellQuote(dir_.File("j.db")) + " " + args;
  }
  std::vector<json> Report() const {
    std::vector<json> lines;
    std::ifstream in(dir_.File("report.jsonl"));
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
  }
  TempDir dir_;
};

TEST_F(BatchCli, AThousandCapturesRunInBoundedMemory) {
  auto run = [&](int n, const std::string& journal) {
    WriteList(n);
    return RunShell(
        "/usr/bin/time -f '%M' -o " + ShellQuote(dir_.File("rss")) + " " +
        ShellQuote(testing::LockpipeBinary()) + " batch -c " + ShellQuote(dir_.File("rules.toml")) +
        " " + ShellQuote(dir_.File("list.jsonl")) + " -o " + ShellQuote(dir_.File("report.jsonl")) +
        " --no-outputs --threads 2 --journal " + ShellQuote(dir_.File(journal)));
  };
  if (!testing::HaveProgram("/usr/bin/time"))
    GTEST_SKIP() << "skipped: GNU time (package 'time') is not installed";
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP()
      << "skipped under AddressSanitizer: its quarantine makes peak memory meaningless, and the "
         "release build runs this test";
#endif
  auto small = run(100, "j1.db");
  ASSERT_EQ(small.exit_code, 0) << small.err;
  long rss_small = std::stol(RunShell("tail -n1 " + ShellQuote(dir_.File("rss"))).out);
  auto big = run(1000, "j2.db");
  ASSERT_EQ(big.exit_code, 0) << big.err;
  long rss_big = std::stol(RunShell("tail -n1 " + ShellQuote(dir_.File("rss"))).out);
  // Ten times the captures, (nearly) the same peak memory: measured 61.6 and
  // 63.2 MiB; 16 MiB more would be a leak of 18 KiB a capture.
  EXPECT_LT(rss_big, rss_small + 16 * 1024)
      << "peak KiB: " << rss_small << " for 100, " << rss_big << " for 1000";
  // Every capture is in the report, then the summary.
  auto lines = RunShell("wc -l < " + ShellQuote(dir_.File("report.jsonl")));
  EXPECT_EQ(std::stoi(lines.out), 1001);
  auto summary = json::parse(RunShell("tail -n1 " + ShellQuote(dir_.File("report.jsonl"))).out);
  EXPECT_EQ(summary["summary"]["captures"], 1000);
  EXPECT_EQ(summary["summary"]["analysis_failed"], 0);
  EXPECT_EQ(summary["summary"]["approved"].get<int>() + summary["summary"]["rejected"].get<int>() +
                summary["summary"]["escalated"].get<int>(),
            1000);
}

TEST_F(BatchCli, CtrlCStopsCleanlyAndLeavesTheJournalConsistent) {
  WriteList(2000);
  const std::string cmd =
      ShellQuote(testing::LockpipeBinary()) + " batch -c " + ShellQuote(dir_.File("rules.toml")) +
      " " + ShellQuote(dir_.File("list.jsonl")) + " -o " + ShellQuote(dir_.File("report.jsonl")) +
      " --no-outputs --threads 1 --journal " + ShellQuote(dir_.File("j.db"));
  // Start it, wait until it has made progress, interrupt it.
  // set -m: a background job of a non-interactive shell would ignore SIGINT.
  auto r = RunShell(
      "set -m; " + cmd + " & pid=$!; for i in $(seq 200); do [ -s " +
      ShellQuote(dir_.File("j.db")) +
      " ] && break; sleep 0.05; done; sleep 1; kill -INT $pid; wait $pid; echo \"exit=$?\"");
  EXPECT_NE(r.out.find("exit=130"), std::string::npos) << r.out << r.err;
  // The report is whole: what was done, then a summary that says it was interrupted...
  auto summary = json::parse(RunShell("tail -n1 " + ShellQuote(dir_.File("report.jsonl"))).out,
                             nullptr, false);
  ASSERT_FALSE(summary.is_discarded());
  EXPECT_EQ(summary["summary"]["interrupted"], true);
  // ...and every capture the journal knows about was decided.
  auto j = Journal::Open(dir_.File("j.db"), Journal::Mode::kReadOnly);
  ASSERT_OK_R(j);
  auto counts = (*j)->CountVerdicts();
  ASSERT_OK_R(counts);
  std::int64_t decided = 0;
  std::int64_t undecided = 0;
  for (const auto& [k, v] : *counts) (k == "undecided" ? undecided : decided) += v;
  EXPECT_GT(decided, 0);
  EXPECT_LT(decided, 2000);
  EXPECT_EQ(undecided, 0);
}

TEST_F(BatchCli, SigtermStopsCleanlyWithStatus143) {
  WriteList(2000);
  // A service manager stops a job with SIGTERM and expects 128 + 15 back.
  auto r = RunShell(Batch("--threads 1") + " & pid=$!; for i in $(seq 200); do [ -s " +
                    ShellQuote(dir_.File("j.db")) +
                    " ] && break; sleep 0.05; done; sleep 1; kill -TERM $pid; wait $pid; "
                    "echo \"exit=$?\"");
  EXPECT_NE(r.out.find("exit=143"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("\nlockpipe: terminated (SIGTERM); finishing captures in flight (send it "
                       "again to quit at once)\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("Ctrl-C"), std::string::npos) << r.err;
  // Stopped the same way as by Ctrl-C: a whole report that says so.
  auto report = Report();
  ASSERT_FALSE(report.empty());
  EXPECT_EQ(report.back()["summary"]["interrupted"], true);
  EXPECT_LT(report.back()["summary"]["captures"], 2000);
}

TEST_F(BatchCli, AnInvalidLineIsAFailedItemAndTheRestOfTheListRuns) {
  {
    std::ofstream list(dir_.File("list.jsonl"));
    list << ListLine("astronaut.enc", "c0") << "\n"
         << "{\"path\": \"cut.enc\", \"device\": \n"  // 2: not JSON
         << "# a comment\n"
         << "\n"
         << " \t\r\n"  // blank too, as a CRLF list's blank line is
         << R"({"path": "x.enc", "kind": "unlock"})"
         << "\n"  // 6: no device
         << ListLine("noface.enc", "c1") << "\n";
  }
  auto r = RunShell(Batch("--json"));
  EXPECT_EQ(r.exit_code, 1) << r.err;  // "1 when any failed"
  const std::string list = dir_.File("list.jsonl");
  EXPECT_NE(r.err.find("error: " + list + ":2: not a JSON object; line skipped\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("error: " + list + ":6: \"device\" is missing; line skipped\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("; 2 invalid line(s)"), std::string::npos) << r.err;

  // In the report, each bad line is an item of its own, with nothing it did
  // not say; every capture of the list was still done.
  auto report = Report();
  ASSERT_EQ(report.size(), 5u);
  std::vector<json> invalid;
  std::vector<std::string> done;
  for (std::size_t i = 0; i + 1 < report.size(); ++i) {
    if (report[i].contains("invalid_line"))
      invalid.push_back(report[i]);
    else
      done.push_back(report[i]["label"].get<std::string>() + ":" +
                     (report[i]["analysis_ok"].get<bool>() ? "ok" : "failed"));
  }
  std::sort(done.begin(), done.end());
  EXPECT_EQ(done, (std::vector<std::string>{"c0:ok", "c1:ok"}));
  ASSERT_EQ(invalid.size(), 2u);
  EXPECT_EQ(invalid[0], (json{{"source", "batch"},
                              {"list", list},
                              {"line", 2},
                              {"invalid_line", true},
                              {"analysis_ok", false},
                              {"error", "not a JSON object"}}));
  EXPECT_EQ(invalid[1], (json{{"source", "batch"},
                              {"list", list},
                              {"line", 6},
                              {"invalid_line", true},
                              {"analysis_ok", false},
                              {"error", "\"device\" is missing"}}));
  const json& summary = report.back()["summary"];
  EXPECT_EQ(summary["captures"], 2);
  EXPECT_EQ(summary["analysis_failed"], 0);
  EXPECT_EQ(summary["invalid_lines"], 2);
  EXPECT_EQ(summary["interrupted"], false);
  // --json prints what the report holds, summary aside.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 4) << r.out;
  EXPECT_NE(r.out.find(invalid[0].dump()), std::string::npos) << r.out;
}

TEST_F(BatchCli, OutputsThatCannotBeWrittenFailTheBatch) {
  // The outputs folder is under a file: nothing can be written there.
  testing::WriteFile(dir_.File("afile"), "x");
  const auto bytes = testing::ReadFile(dir_.File("rules.toml"));
  std::string rules(bytes.begin(), bytes.end());
  const std::string out = dir_.File("out");
  rules.replace(rules.find(out), out.size(), dir_.File("afile") + "/out");
  testing::WriteFile(dir_.File("rules.toml"), rules);
  WriteList(2);
  auto r =
      RunShell(ShellQuote(testing::LockpipeBinary()) + " batch -c " +
               ShellQuote(dir_.File("rules.toml")) + " " + ShellQuote(dir_.File("list.jsonl")) +
               " -o " + ShellQuote(dir_.File("report.jsonl")) + " --no-journal");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("outputs of 2 capture(s) could not be written"), std::string::npos) << r.err;
  auto report = Report();
  ASSERT_EQ(report.size(), 3u);
  EXPECT_EQ(report.back()["summary"]["outputs_failed"], 2);
  EXPECT_NE(report[0].value("outputs_error", "").find("cannot create"), std::string::npos)
      << report[0].dump();
  EXPECT_FALSE(report[0].contains("record"));
}

TEST_F(BatchCli, TwoCapturesNeverShareAnEvidenceFolder) {
  // The same label twice, and the batch twice without a journal: every
  // capture gets its own folder; nothing is overwritten.
  {
    std::ofstream list(dir_.File("list.jsonl"));
    list << ListLine("astronaut.enc", "same") << "\n" << ListLine("noface.enc", "same") << "\n";
  }
  const std::string batch = ShellQuote(testing::LockpipeBinary()) + " batch -c " +
                            ShellQuote(dir_.File("rules.toml")) + " " +
                            ShellQuote(dir_.File("list.jsonl")) + " -o " +
                            ShellQuote(dir_.File("report.jsonl")) + " --no-journal --threads 1";
  std::set<std::string> records;
  for (int run = 0; run < 2; ++run) {
    auto r = RunShell(batch);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (const auto& item : Report()) {
      if (item.contains("summary")) continue;
      const std::string record = item.value("record", "");
      ASSERT_FALSE(record.empty()) << item.dump();
      EXPECT_TRUE(records.insert(record).second) << record << " written twice";
    }
  }
  ASSERT_EQ(records.size(), 4u);
  // Each record still describes its own capture.
  int with_face = 0;
  for (const auto& path : records) {
    const auto bytes = testing::ReadFile(path);
    const json rec = json::parse(std::string(bytes.begin(), bytes.end()));
    with_face += rec["faces"].get<int>() > 0;
  }
  EXPECT_EQ(with_face, 2);
}

TEST_F(BatchCli, AListThatCannotBeReadStopsTheBatch) {
  const std::string batch = ShellQuote(testing::LockpipeBinary()) + " batch -c " +
                            ShellQuote(dir_.File("rules.toml")) + " --no-outputs --journal " +
                            ShellQuote(dir_.File("j.db"));
  // A read error is not the end of the list: no silent success on half a list.
  auto r = RunShell(batch + " - </");  // stdin is a folder: read() fails with EISDIR
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("lockpipe batch: stdin:1: cannot read: Is a directory\n"), std::string::npos)
      << r.err;
  r = RunShell(batch + " /proc/self/mem");  // opens, then read() fails with EIO
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("lockpipe batch: /proc/self/mem:1: cannot read: Input/output error\n"),
            std::string::npos)
      << r.err;
}

TEST_F(BatchCli, JsonFailsWhenStandardOutputCannotBeWritten) {
  WriteList(2);
  auto r = RunShell(Batch("--json >/dev/full"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("\nlockpipe batch: cannot write to standard output: No space left on "
                       "device\n"),
            std::string::npos)
      << r.err;
  // The report is a file of its own, and whole.
  auto report = Report();
  ASSERT_EQ(report.size(), 3u);
  EXPECT_EQ(report.back()["summary"]["captures"], 2);
  // Readable lines go to standard output too.
  r = RunShell(Batch(">/dev/full"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("lockpipe batch: cannot write to standard output"), std::string::npos)
      << r.err;
}

TEST_F(BatchCli, AKeyOfTheWrongTypeMakesTheLineInvalidNeverADefault) {
  const json capture = {
      {"path", Media("astronaut.enc")}, {"file_key", kSampleKey}, {"device", "door"}};
  auto with = [&](const char* key, const json& value) {
    json line = capture;
    line[key] = value;
    return line.dump();
  };
  {
    std::ofstream list(dir_.File("list.jsonl"));
    list << ListLine("astronaut.enc", "c0") << "\n"                            // 1
         << with("kind", 2) << "\n"                                            // 2: not "unlock"
         << with("kind", nullptr) << "\n"                                      // 3
         << with("id", 7) << "\n"                                              // 4: id "7"
         << with("id", 8) << "\n"                                              // 5: line 1 again
         << with("file_key", 12345) << "\n"                                    // 6: not plaintext
         << with("captured_at", "1764150000000") << "\n"                       // 7
         << with("path", Media("astronaut.jpg") + std::string("\0-x.mp4", 7))  // 8
         << "\n";
  }
  auto r = RunShell(Batch("--json"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string list = dir_.File("list.jsonl");
  EXPECT_NE(r.err.find("error: " + list +
                       ":2: \"kind\" must be \"unlock\" or \"alert\", not 2; line skipped\n"),
            std::string::npos)
      << r.err;
  std::map<int, std::string> errors;
  std::vector<std::string> done;
  auto report = Report();
  ASSERT_FALSE(report.empty());
  for (std::size_t i = 0; i + 1 < report.size(); ++i) {
    if (report[i].contains("invalid_line"))
      errors[report[i]["line"].get<int>()] = report[i]["error"].get<std::string>();
    else
      done.push_back(report[i]["duplicate"].get<bool>() ? "seen"
                     : report[i]["analysis_ok"].get<bool>() ? "ok"
                                                            : "failed");
  }
  EXPECT_EQ(errors,
            (std::map<int, std::string>{
                {2, R"("kind" must be "unlock" or "alert", not 2)"},
                {3, R"("kind" must be "unlock" or "alert", not null)"},
                {6, R"("file_key" must be a non-empty string, not a number)"},
                {7, R"("captured_at" must be a positive integer, the capture time in milliseconds )"
                    R"(since the epoch, not "1764150000000")"},
                {8, R"("path" contains a NUL character (\u0000))"}}));
  // Ids 7 and 8 label the file of line 1 again: an id is not the capture's
  // identity (CaptureKey), so the file is decided once and twice seen.
  std::sort(done.begin(), done.end());
  EXPECT_EQ(done, (std::vector<std::string>{"ok", "seen", "seen"}));
  const json& summary = report.back()["summary"];
  EXPECT_EQ(summary["captures"], 3);
  EXPECT_EQ(summary["already_seen"], 2);
  EXPECT_EQ(summary["invalid_lines"], 5);
  auto j = Journal::Open(dir_.File("j.db"), Journal::Mode::kReadOnly);
  ASSERT_OK_R(j);
  auto counts = (*j)->CountVerdicts();
  ASSERT_OK_R(counts);
  std::int64_t journaled = 0;
  for (const auto& [verdict, n] : *counts) journaled += n;
  EXPECT_EQ(journaled, 1);
}

TEST_F(BatchCli, ActWithoutAJournalIsRefused) {
  WriteList(2);
  // Door calls journaled nowhere, and sent again on every rerun of the list.
  auto r = RunShell(Batch("--act --no-journal"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("lockpipe batch: --act with --no-journal would send lock calls that are "
                        "journaled nowhere, and send them again on every rerun of the list",
                        0),
            0u)
      << r.err;
  EXPECT_NE(r.err.find("Try 'lockpipe batch --help'."), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(testing::FileExists(dir_.File("report.jsonl")));
  EXPECT_FALSE(testing::FileExists(dir_.File("j.db")));
  // Without --act nothing is sent: no journal is needed.
  r = RunShell(Batch("--no-journal"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Report().back()["summary"]["captures"], 2);
  EXPECT_FALSE(testing::FileExists(dir_.File("j.db")));
}

TEST_F(BatchCli, TheProgressBarCountsTheLinesTheBatchRuns) {
  if (!testing::HaveProgram("script"))
    GTEST_SKIP() << "skipped: script (package 'bsdutils') is not installed";
  {
    std::ofstream list(dir_.File("list.jsonl"));
    list << ListLine("astronaut.enc", "c0") << "\n"
         << "\r\n"
         << " \t\n"
         << "  # an indented comment\n"
         << ListLine("noface.enc", "c1") << "\n";
  }
  // The bar is drawn on a terminal only: `script` gives the batch one.
  auto r = RunShell("script -qec " + ShellQuote(Batch("")) + " /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(" 2/2 ["), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("/5 ["), std::string::npos) << r.out;
}

}  // namespace
}  // namespace lockpipe
