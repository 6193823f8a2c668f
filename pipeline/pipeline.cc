#include "pipeline/pipeline.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <latch>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/json_text.h"
#include "base/log.h"
#include "decoders/media_container.h"
#include "decoders/media_decoder.h"
#include "fetch/lock_types.h"
#include "fetch/media_download.h"
#include "pipeline/face_detector.h"

namespace lockpipe {

std::string SafePathComponent(const std::string& text) {
  std::string out;
  for (char c : text) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
    if (out.size() >= 80) break;
  }
  while (!out.empty() && out.front() == '.') out.front() = '_';
  if (out.empty()) out = "_";
  return out;
}

namespace {

// Creates the folder `base`, or `base-2`, `base-3`, ... when that is taken, and
// returns the one made: evidence from an earlier run, another journal or a
// capture with the same label is never overwritten or mixed with this one's.
Result<std::string> CreateFreshFolder(const std::string& base) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(base).parent_path(), ec);
  if (ec) return IoError("cannot create " + base + ": " + ec.message());
  for (int n = 1; n <= 1000; ++n) {
    const std::string dir = n == 1 ? base : base + "-" + std::to_string(n);
    if (std::filesystem::create_directory(dir, ec)) return dir;
    if (ec) return IoError("cannot create " + dir + ": " + ec.message());
  }
  return IoError("cannot create " + base + ": it and " + base + "-2 to -1000 exist already");
}

bool IsVideoPath(std::string path) {
  if (auto q = path.find_first_of("?#"); q != std::string::npos) path.resize(q);
  std::transform(path.begin(), path.end(), path.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* ext : {".mp4", ".m4v", ".mov", ".3gp"}) {
    std::string e(ext);
    if (path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0)
      return true;
  }
  return false;
}

}  // namespace

struct Pipeline::Fetched {
  CaptureJob job;
  const DeviceConfig* device = nullptr;
  std::int64_t event_id = 0;
  bool duplicate = false;
  Status error;
  // Declared before `media`, so a range source is destroyed before its client.
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<RandomAccessSource> media;
};

// A capture's evidence on disk (thumbnails with their boxes, a contact sheet,
// the plaintext media). The analyze worker writes it after handing the
// capture to the act stage, which acts first and waits for it only to record
// where it is: the door does not wait on JPEG encoding.
struct Pipeline::EvidenceFiles {
  std::string base;  // the folder to create (name, name-2, ... when taken)
  std::vector<media::Thumbnail> thumbs;
  std::vector<std::vector<Face>> per_frame;
  media::ContentType type = media::ContentType::kUnknown;
  RandomAccessSource* media = nullptr;  // owned by the capture, alive until done
  // Written by the analyze worker before `done`, read by the act stage after.
  std::string out_dir;
  std::vector<std::string> thumbnails;
  std::string contact_sheet;
  std::string error;  // the first output that could not be written
  std::latch done{1};
};

struct Pipeline::Analyzed {
  std::unique_ptr<Fetched> fetched;
  EventReport report;
  std::vector<FaceObservation> faces;
  std::string out_dir;
  std::shared_ptr<EvidenceFiles> evidence;  // null when no outputs are written
  bool evidence_taken = false;
};

nlohmann::json EventReport::ToJson() const {
  nlohmann::json j = {
      {"event_id", event_id},       {"capture", capture_key},
      {"device", device_id},        {"device_name", device_name},
      {"lock_type", lock_type},     {"kind", kind},
      {"source", source},           {"duplicate", duplicate && error.empty()},
      {"analysis_ok", analysis_ok}, {"faces", faces},
      {"verdict", verdict},         {"rule", rule},
      {"reason", reason},
  };
  if (!label.empty()) j["label"] = label;
  if (duplicate && !error.empty()) j["skipped"] = true;  // nothing to decide; error says why
  if (!error.empty()) j["error"] = error;
  if (!media_type.empty()) {
    j["media"] = {
        {"type", media_type}, {"width", width}, {"height", height}, {"duration_s", duration_s}};
  }
  if (best_score >= 0) j["best_face_score"] = best_score;
  j["action"] = {
      {"action", action.action}, {"endpoint", action.endpoint},     {"sent", action.sent},
      {"ok", action.ok},         {"impossible", action.impossible}, {"detail", action.detail}};
  // "ok" | "failed" | "unknown" (the lock may have acted) for a call that was
  // made; null when none was.
  j["action"]["outcome"] =
      action.sent ? nlohmann::json(action.OutcomeName()) : nlohmann::json(nullptr);
  if (!thumbnails.empty()) j["thumbnails"] = thumbnails;
  if (!contact_sheet.empty()) j["contact_sheet"] = contact_sheet;
  if (!record.empty()) j["record"] = record;
  if (!outputs_error.empty()) j["outputs_error"] = outputs_error;
  j["latency_ms"] = latency_ms;
  return j;
}

Pipeline::Pipeline(const Config& config, PipelineOptions options, PipelineDeps deps)
    : config_(config),
      rules_(config),
      options_(options),
      deps_(std::move(deps)),
      jobs_(options.queue_capacity ? options.queue_capacity : 4),
      fetched_(options.queue_capacity ? options.queue_capacity : 4),
      analyzed_(options.queue_capacity ? options.queue_capacity : 4) {
  if (options_.analyze_threads <= 0)
    options_.analyze_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (options_.fetch_threads <= 0) options_.fetch_threads = 1;
  if (options_.video_thumbnails <= 0) options_.video_thumbnails = config_.outputs.thumbnail_count;
  if (Journal* journal = deps_.journal; journal != nullptr) {
    // Rate limits remember what the journal remembers: earlier runs, other processes.
    rules_.SetApprovalCounter([journal](const std::string& device_id,
                                        std::chrono::system_clock::time_point since) {
      return journal->CountDecisions(
          device_id, "approve",
          std::chrono::duration_cast<std::chrono::milliseconds>(since.time_since_epoch()).count(),
          /*include_dry_run=*/false);
    });
  }
}

Pipeline::~Pipeline() {
  if (started_ && !finished_) {
    Abort();
    Finish();
  }
}

Status Pipeline::Start() {
  if (started_) return InternalError("pipeline started twice");
  // Every lock call is journaled before it is sent; without a journal a rerun
  // would send it again. Only a pipeline that sends nothing may keep none.
  if (options_.act && !config_.safety.dry_run && deps_.journal == nullptr)
    return InvalidArgument(
        "a pipeline that sends lock calls needs a journal (it records each call before it is "
        "sent, so that none is sent twice); keep one, or do not act (a dry run)");
  FaceDetectorOptions fo;
  fo.min_face_size = config_.detector.min_face;
  fo.score_threshold = static_cast<float>(config_.detector.score_threshold);
  if (config_.detector.kind == DetectorKind::kYuNet) fo.model_path = config_.detector.model;
  for (int i = 0; i < options_.analyze_threads; ++i) {
    ASSIGN_OR_RETURN(auto d, MakeFaceDetector(fo));
    detectors_.push_back(std::move(d));
  }
  // One API client per fetch thread and one for the act thread.
  for (int i = 0; i < options_.fetch_threads + 1; ++i) {
    ASSIGN_OR_RETURN(auto api, deps_.make_api());
    apis_.push_back(std::move(api));
  }
  for (int i = 0; i < options_.fetch_threads; ++i) {
    ASSIGN_OR_RETURN(auto http, deps_.make_http());
    https_.push_back(std::move(http));
  }
  if (options_.act) {
    for (const auto& device : config_.devices) {
      if (auto why = CannotOpen(device, device.password.has_value()))
        log::Warn(device.DisplayName() + ": an approval cannot be carried out (" + *why +
                  "); its unlock requests can only be refused or left to time out");
    }
  }
  started_ = true;
  fetchers_left_ = options_.fetch_threads;
  analyzers_left_ = options_.analyze_threads;
  for (int i = 0; i < options_.fetch_threads; ++i) {
    fetchers_.emplace_back(&Pipeline::FetchWorker, this, apis_[static_cast<std::size_t>(i)].get(),
                           https_[static_cast<std::size_t>(i)].get());
  }
  for (int i = 0; i < options_.analyze_threads; ++i)
    analyzers_.emplace_back(&Pipeline::AnalyzeWorker, this, i);
  actors_.emplace_back(&Pipeline::ActWorker, this, apis_.back().get());
  return Status::Ok();
}

bool Pipeline::Submit(CaptureJob job) {
  if (aborted_) return false;
  if (job.received_at_ms == 0) job.received_at_ms = NowMs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.submitted;
  }
  return jobs_.Push(std::move(job));
}

void Pipeline::Finish() {
  if (!started_ || finished_) return;
  jobs_.Close();
  for (auto& t : fetchers_) t.join();
  for (auto& t : analyzers_) t.join();
  for (auto& t : actors_) t.join();
  finished_ = true;
}

void Pipeline::Abort() {
  aborted_ = true;
  std::size_t dropped = jobs_.CloseAndDrain();
  if (dropped > 0)
    log::Warn("stopping: " + std::to_string(dropped) + " queued capture(s) not started");
}

PipelineStats Pipeline::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Status Pipeline::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void Pipeline::SetError(const Status& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.ok()) error_ = s;
}

// --- fetch -----------------------------------------------------------------

void Pipeline::FetchWorker(LockApi* api, HttpClient* http) {
  while (auto job = jobs_.Pop()) {
    auto item = std::make_unique<Fetched>();
    item->job = std::move(*job);
    CaptureJob& j = item->job;
    item->device = config_.FindDevice(j.device_id);
    if (item->device == nullptr) {
      item->error = NotFound("device " + j.device_id + " is not in the config");
    } else if (j.where == CaptureJob::Where::kLatest && api == nullptr) {
      item->error = InvalidArgument("no cloud configured: cannot ask for the latest capture");
    } else if (j.where == CaptureJob::Where::kLatest &&
               CaptureIsStale(FromMs(j.captured_at_ms), std::chrono::system_clock::now(),
                              config_.safety.max_capture_age_seconds)) {
      // The latest capture now may be a newer request than the one this
      // event is about: judging it by this event's date would refuse it and
      // spend its one decision. Not fetched; the newer one has its own event.
      const bool ahead = FromMs(j.captured_at_ms) > std::chrono::system_clock::now();
      item->error = InvalidArgument(
          (ahead ? std::string("the event is dated in the future (the clocks disagree)")
                 : "the event is older than " +
                       std::to_string(config_.safety.max_capture_age_seconds) +
                       " s (or of unknown time): its request has timed out") +
          ", and the latest capture may be another one; not fetched");
    } else if (j.where == CaptureJob::Where::kLatest) {
      auto url = api->GetLatestMediaUrl(j.device_id, j.kind);
      if (url.ok() && url->file_url.empty()) {
        item->error =
            NotFound(j.device_id + ": no " + MediaKindName(j.kind) + " media in the cloud's window");
      } else if (url.ok()) {
        j.url = url->file_url;
        j.file_key = url->file_key;
        j.file_path = url->file_path;
        j.where = CaptureJob::Where::kUrl;
      } else {
        item->error = url.status();
      }
    }
    if (j.where == CaptureJob::Where::kLatest) {
      // "Fetch the latest" that found no capture: there is nothing to decide.
      // Journaled under a key of its own, it would be decided beside the
      // capture it missed, which a poll (or a person) may decide too.
      log::Error(j.device_id + ": " + item->error.ToString() + "; event " + j.label + " skipped");
      item->duplicate = true;  // skipped like one: nothing decided, nothing sent
      if (!fetched_.Push(std::move(item))) break;
      continue;
    }
    j.capture_key = CaptureKey(j);
    if (j.capture_key.empty()) {
      // Every source names its object; a job without one cannot be told
      // apart from another capture, so it is never decided.
      log::Error(j.device_id + ": event " + j.label + " names no media; skipped");
      item->duplicate = true;  // skipped like one: nothing decided, nothing sent
      item->error = InvalidArgument("the event names no media");
      if (!fetched_.Push(std::move(item))) break;
      continue;
    }
    if (deps_.journal != nullptr) {
      EventRecord ev{j.capture_key,
                     j.device_id,
                     MediaKindName(j.kind),
                     j.source,
                     !j.file_path.empty() ? j.file_path
                     : !j.url.empty()     ? j.url
                                          : j.path,
                     j.captured_at_ms,  // 0 = unknown: never approved
                     j.received_at_ms};
      auto id = deps_.journal->BeginEvent(ev);
      if (!id.ok()) {
        // Without a journal entry the capture cannot be decided safely.
        log::Error("journal: " + id.status().ToString() + "; capture " + j.capture_key +
                   " skipped");
        SetError(id.status());
        item->duplicate = true;  // skipped like one: nothing decided, nothing sent
        item->error = id.status().WithContext("journal unavailable");
      } else if (!id->has_value()) {
        item->duplicate = true;
      } else {
        item->event_id = **id;
      }
    }
    if (!item->duplicate && item->error.ok()) {
      if (j.where == CaptureJob::Where::kFile) {
        auto file = FileRandomAccessSource::Open(j.path);
        if (!file.ok()) {
          item->error = file.status();
        } else if (j.file_key.empty()) {
          item->media = std::move(file).value();
        } else {
          auto dec = media::RandomAccessDecryptor::Open(std::move(file).value(), j.file_key);
          if (dec.ok())
            item->media = std::make_unique<media::DecryptedSource>(std::move(dec).value());
          else
            item->error = dec.status();
        }
      } else if (IsVideoPath(!j.file_path.empty() ? j.file_path : j.url)) {
        // A video is read in byte ranges as the decoder asks: its own client,
        // handed to the analyze thread with the source.
        auto own = deps_.make_http();
        if (!own.ok()) {
          item->error = own.status();
        } else {
          item->http = std::move(own).value();
          auto src = HttpRangeSource::Open(*item->http, j.url);
          if (!src.ok()) {
            item->error = src.status();
          } else {
            auto dec = media::RandomAccessDecryptor::Open(std::move(src).value(), j.file_key);
            if (dec.ok())
              item->media = std::make_unique<media::DecryptedSource>(std::move(dec).value());
            else
              item->error = dec.status();
          }
        }
      } else {
        // A photo is decrypted as it downloads.
        auto dec = media::StreamDecryptor::Create(j.file_key, RedactUrl(j.url));
        if (!dec.ok()) {
          item->error = dec.status();
        } else {
          std::vector<std::uint8_t> plain;
          std::uint64_t received = 0;
          auto n = StreamDownload(*http, j.url, [&](std::string_view chunk) -> Status {
            // A still is held whole for the image decoder: bounded, so a
            // hostile or mistaken URL cannot exhaust memory.
            received += chunk.size();
            if (received > options_.max_photo_bytes)
              return InvalidArgument(
                  RedactUrl(j.url) + ": larger than " + std::to_string(options_.max_photo_bytes) +
                  " bytes, the most a lock photo may be; not downloaded further");
            return dec->Update(
                std::span(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size()),
                &plain);
          });
          Status s = n.ok() ? dec->Finish(&plain) : n.status();
          if (s.ok())
            item->media = std::make_unique<MemorySource>(std::move(plain), RedactUrl(j.url));
          else
            item->error = s;
        }
      }
    }
    if (!fetched_.Push(std::move(item))) break;
  }
  if (--fetchers_left_ == 0) fetched_.Close();
}

// --- analyze ---------------------------------------------------------------

void Pipeline::AnalyzeWorker(int index) {
  FaceDetector& detector = *detectors_[static_cast<std::size_t>(index)];
  while (auto item = fetched_.Pop()) {
    auto analyzed = Analyze(std::move(*item), detector);
    const std::shared_ptr<EvidenceFiles> evidence = analyzed->evidence;
    const bool pushed = analyzed_.Push(std::move(analyzed));
    if (evidence) {
      // The act stage waits for `done`: it must come, whatever happens here.
      try {
        if (pushed) WriteEvidence(*evidence);
      } catch (const std::exception& e) {
        log::Error(std::string("outputs: ") + e.what());
        if (evidence->error.empty()) evidence->error = e.what();
      }
      evidence->done.count_down();
    }
    if (!pushed) break;
  }
  if (--analyzers_left_ == 0) analyzed_.Close();
}

std::unique_ptr<Pipeline::Analyzed> Pipeline::Analyze(std::unique_ptr<Fetched> item,
                                                      FaceDetector& detector) {
  auto a = std::make_unique<Analyzed>();
  EventReport& r = a->report;
  const CaptureJob& j = item->job;
  r.event_id = item->event_id;
  r.capture_key = j.capture_key;
  r.device_id = j.device_id;
  r.device_name = item->device ? item->device->DisplayName() : j.device_id;
  r.lock_type = item->device ? std::string(LockTypeName(item->device->type)) : "";
  r.kind = MediaKindName(j.kind);
  r.source = j.source;
  r.label = j.label;
  r.duplicate = item->duplicate;
  if (item->duplicate) {
    r.error = item->error.ok() ? "" : item->error.ToString();
    a->fetched = std::move(item);
    return a;
  }

  // A capture that could not be fetched is analysed as failed: journaled, and
  // recorded in its output folder, like one that does not decode.
  Status status = item->error;
  std::vector<media::Thumbnail> thumbs;
  std::uint8_t head[media::kSniffBytes] = {};
  auto got = status.ok() ? item->media->ReadAt(0, head) : Result<std::size_t>(status);
  media::ContentType type = media::SniffContent(std::span(head, got.ok() ? *got : 0));
  if (got.ok()) r.media_type = media::ContentTypeName(type);
  if (!got.ok()) {
    status = got.status();
  } else if (type == media::ContentType::kUnknown) {
    status = Corrupt(item->media->name() +
                     ": decrypted content is not a JPEG, PNG or MP4: wrong key or not lock media");
  } else {
    media::ThumbnailRequest req;
    const bool video = type == media::ContentType::kMp4;
    req.mode = video ? media::ThumbnailMode::kSpread : media::ThumbnailMode::kFirst;
    req.count = video ? options_.video_thumbnails : 1;
    req.keyframes_only = video && options_.keyframes_only;
    req.max_width = 960;
    req.max_height = 960;
    auto t = media::ExtractThumbnails(*item->media, req);
    if (t.ok() && t->empty())
      status = Corrupt(item->media->name() + ": no decodable frame");
    else if (t.ok())
      thumbs = std::move(t).value();
    else
      status = t.status();
  }

  // Faces on every thumbnail; the frame with the most faces is the evidence.
  std::size_t best = 0;
  std::vector<std::vector<Face>> per_frame;
  for (auto& th : thumbs) {
    if (!status.ok()) break;
    auto faces = detector.Detect(th.image);
    if (!faces.ok()) {
      status = faces.status();
      break;
    }
    for (const auto& f : *faces) th.boxes.push_back(f.box);
    per_frame.push_back(std::move(faces).value());
  }
  if (status.ok()) {
    for (std::size_t i = 1; i < per_frame.size(); ++i)
      if (per_frame[i].size() > per_frame[best].size()) best = i;
    if (!per_frame.empty()) {
      for (const auto& f : per_frame[best]) {
        a->faces.push_back({f.score ? *f.score : -1.0f, f.box.width, f.box.height});
        if (f.score) r.best_score = std::max(r.best_score, *f.score);
      }
    }
    r.faces = static_cast<int>(a->faces.size());
    r.width = thumbs.front().image.cols;
    r.height = thumbs.front().image.rows;
    r.duration_s = thumbs.back().seconds;
  }
  r.analysis_ok = status.ok();
  if (!status.ok()) r.error = status.ToString();

  // Outputs are written once the capture is on its way to the act stage
  // (AnalyzeWorker, WriteEvidence).
  if (options_.write_outputs) {
    auto ev = std::make_shared<EvidenceFiles>();
    const std::string tag = r.event_id
                                ? std::to_string(r.event_id)
                                : SafePathComponent(j.label.empty() ? j.capture_key : j.label);
    ev->base =
        config_.outputs.dir + "/" + SafePathComponent(j.device_id) + "/" + tag + "-" + r.kind;
    ev->type = type;
    ev->media = item->media.get();
    a->evidence = std::move(ev);
  }

  if (deps_.journal != nullptr && r.event_id != 0) {
    // "faces": the evidence frame's (what the rules saw); "frames": every frame's.
    nlohmann::json frames = nlohmann::json::array();
    for (std::size_t i = 0; i < per_frame.size(); ++i) {
      nlohmann::json boxes = nlohmann::json::array();
      for (const auto& f : per_frame[i]) {
        nlohmann::json fj = {{"box", {f.box.x, f.box.y, f.box.width, f.box.height}}};
        if (f.score) fj["score"] = *f.score;
        boxes.push_back(fj);
      }
      frames.push_back({{"frame", i}, {"seconds", thumbs[i].seconds}, {"faces", boxes}});
    }
    nlohmann::json faces_json = {
        {"evidence_frame", best},
        {"faces", frames.empty() ? nlohmann::json::array() : frames[best]["faces"]},
        {"frames", frames}};
    AnalysisRecord rec{r.analysis_ok,   r.error,      JsonText(faces_json), r.thumbnails,
                       r.contact_sheet, r.media_type, r.duration_s};
    if (auto s = deps_.journal->RecordAnalysis(r.event_id, rec); !s.ok())
      log::Error("journal: " + s.ToString());
  }
  if (a->evidence) {
    a->evidence->thumbs = std::move(thumbs);
    a->evidence->per_frame = std::move(per_frame);
  }
  a->fetched = std::move(item);
  return a;
}

void Pipeline::WriteEvidence(EvidenceFiles& ev) {
  auto output_failed = [&ev](const Status& s) {
    log::Error("outputs: " + s.ToString());
    if (ev.error.empty()) ev.error = s.ToString();
  };
  auto dir = CreateFreshFolder(ev.base);
  if (!dir.ok()) return output_failed(dir.status());
  ev.out_dir = std::move(dir).value();
  const auto& thumbs = ev.thumbs;
  if (config_.outputs.thumbnails) {
    for (std::size_t i = 0; i < thumbs.size(); ++i) {
      cv::Mat drawn = thumbs[i].image.clone();
      if (i < ev.per_frame.size()) DrawFaces(drawn, ev.per_frame[i]);
      std::string p = ev.out_dir + "/thumb-" + std::to_string(i) + ".jpg";
      if (auto s = media::WriteJpeg(p, drawn, 85); s.ok())
        ev.thumbnails.push_back(p);
      else
        output_failed(s);
    }
  }
  if (config_.outputs.contact_sheet && !thumbs.empty()) {
    auto sheet = media::MakeContactSheet(thumbs);
    std::string p = ev.out_dir + "/contact-sheet.jpg";
    Status s = sheet.ok() ? media::WriteJpeg(p, *sheet, 85) : sheet.status();
    if (s.ok())
      ev.contact_sheet = p;
    else
      output_failed(s);
  }
  if (config_.outputs.decrypted_media && !thumbs.empty() && ev.media != nullptr) {
    std::string ext = ev.type == media::ContentType::kMp4   ? ".mp4"
                      : ev.type == media::ContentType::kPng ? ".png"
                                                            : ".jpg";
    std::string p = ev.out_dir + "/media" + ext;
    auto out = AtomicFile::Create(p);
    Status s = out.status();
    std::vector<std::uint8_t> buf(1 << 16);
    for (std::uint64_t off = 0; s.ok();) {
      auto n = ev.media->ReadAt(off, buf);
      if (!n.ok()) {
        s = n.status();
        break;
      }
      if (*n == 0) {
        s = out->Commit();
        break;
      }
      s = out->Write(std::span(buf.data(), *n));
      off += *n;
    }
    if (!s.ok()) output_failed(s);
  }
  // On disk now: the pictures are not held while the capture waits to finish.
  ev.thumbs.clear();
  ev.per_frame.clear();
}

// --- decide and act ----------------------------------------------------------

void Pipeline::ActWorker(LockApi* api) {
  // Without a cloud client (a batch of local files) nothing can be sent.
  Actuator actuator(api, deps_.journal, config_.safety.dry_run || !options_.act || api == nullptr);
  while (auto item = analyzed_.Pop()) {
    Act(**item, actuator);
  }
}

void Pipeline::Act(Analyzed& a, Actuator& actuator) {
  EventReport& r = a.report;
  const Fetched& f = *a.fetched;
  auto acted = [&] { r.latency_ms = static_cast<double>(NowMs() - f.job.received_at_ms); };
  // The evidence its analyze worker writes meanwhile: waited for only once
  // the lock has its answer, then journaled with the analysis.
  auto collect_evidence = [&] {
    if (!a.evidence || a.evidence_taken) return;
    a.evidence_taken = true;
    EvidenceFiles& ev = *a.evidence;
    ev.done.wait();
    a.out_dir = ev.out_dir;
    r.thumbnails = ev.thumbnails;
    r.contact_sheet = ev.contact_sheet;
    if (r.outputs_error.empty()) r.outputs_error = ev.error;
    if (deps_.journal != nullptr && r.event_id != 0 &&
        (!r.thumbnails.empty() || !r.contact_sheet.empty())) {
      if (auto s = deps_.journal->RecordEvidencePaths(r.event_id, r.thumbnails, r.contact_sheet);
          !s.ok())
        log::Error("journal: " + s.ToString());
    }
  };
  auto finish = [&] {
    if (r.latency_ms == 0) acted();
    collect_evidence();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.done;
      if (r.duplicate)
        ++(r.error.empty() ? stats_.duplicates : stats_.skipped);
      else {
        if (!r.analysis_ok) ++stats_.failed;
        if (r.verdict == "approve") ++stats_.approved;
        if (r.verdict == "reject") ++stats_.rejected;
        if (r.verdict == "escalate") ++stats_.escalated;
        if (r.action.sent) {
          switch (r.action.outcome) {
            case LockCallOutcome::kOk:
              ++stats_.actions_ok;
              break;
            case LockCallOutcome::kFailed:
              ++stats_.actions_failed;
              break;
            case LockCallOutcome::kUnknown:
              ++stats_.actions_unknown;
              break;
          }
        }
        if (r.action.impossible) ++stats_.actions_impossible;
        if (!r.outputs_error.empty()) ++stats_.outputs_failed;
      }
    }
    if (deps_.on_report) deps_.on_report(r);
  };
  if (r.duplicate) {
    r.reason = r.error.empty() ? "already in the journal: not decided again"
                               : r.error + ": skipped, nothing decided or sent";
    return finish();
  }

  Evidence e;
  e.device_id = r.device_id;
  e.kind = f.job.kind;
  e.captured_at =  // 0 (unknown) is the epoch: never approved
      FromMs(f.job.captured_at_ms);
  e.now = std::chrono::system_clock::now();
  e.analysis_ok = r.analysis_ok;
  e.analysis_error = r.error;
  e.faces = a.faces;
  // A failed analysis goes to the rules too (analysis = "failed" rules, and
  // rules with no face condition), which never approve it; when none
  // matches, safety.on_error decides.
  Decision d = rules_.Decide(e);
  if (!r.analysis_ok && d.rule.empty()) d = rules_.DecideForError(r.device_id, Corrupt(r.error));
  r.verdict = VerdictName(d.verdict);
  r.rule = d.rule;
  r.reason = d.reason;
  const bool dry = config_.safety.dry_run || !options_.act;
  if (deps_.journal != nullptr && r.event_id != 0) {
    Status s =
        deps_.journal->RecordDecision(r.event_id, {r.verdict, r.rule, r.reason, dry, NowMs()});
    if (!s.ok()) {
      // Never act on a decision the journal did not take: fail closed.
      r.action = {"none", "", false, false,
                  "journal refused the decision, nothing sent: " + s.ToString()};
      return finish();
    }
  }
  if (f.device == nullptr) {
    r.action = {"none", "", false, false, "device not in the config: nothing sent"};
  } else {
    std::optional<Secret> password;
    if (d.verdict == Verdict::kApprove && f.device->password) {
      auto p = LoadSecret(*f.device->password, "door password of " + f.device->id);
      if (p.ok())
        password = std::move(p).value();
      else
        log::Error(p.status().ToString());
    }
    const bool stale = CaptureIsStale(e.captured_at, std::chrono::system_clock::now(),
                                      config_.safety.max_capture_age_seconds);
    if (d.verdict == Verdict::kReject && f.job.kind == MediaKind::kAlert)
      r.action = AlertRefusal();
    else if (d.verdict == Verdict::kReject && stale)
      r.action = StaleRefusal();
    else
      r.action =
          actuator.Carry(r.event_id, *f.device, d.verdict, password ? &*password : nullptr,
                         RequestExpiry(e.captured_at, config_.safety.max_capture_age_seconds));
    if (d.verdict == Verdict::kApprove && r.action.impossible)
      log::Error(f.device->DisplayName() + ": " + r.kind + " #" + std::to_string(r.event_id) +
                 " was approved by " + (r.rule.empty() ? "the rules" : "rule " + r.rule) +
                 " but the door was not opened: " + r.action.detail);
    if (r.action.sent && r.action.outcome == LockCallOutcome::kUnknown)
      log::Error(f.device->DisplayName() + ": " + r.kind + " #" + std::to_string(r.event_id) +
                 " (" + r.action.action + "): " + r.action.detail);
  }
  acted();
  collect_evidence();
  if (!a.out_dir.empty()) {
    r.record = a.out_dir + "/record.json";
    if (auto s = WriteFileAtomically(r.record, JsonText(r.ToJson(), 2) + "\n"); !s.ok()) {
      log::Error("outputs: " + s.ToString());
      if (r.outputs_error.empty()) r.outputs_error = s.ToString();
      r.record.clear();
    }
  }
  finish();
}

}  // namespace lockpipe
