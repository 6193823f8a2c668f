#include "pipeline/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>

#include "fetch/credentials.h"

namespace lockpipe {

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kApprove:
      return "approve";
    case Verdict::kReject:
      return "reject";
    case Verdict::kEscalate:
      return "escalate";
  }
  return "?";
}

const char* DetectorKindName(DetectorKind kind) {
  switch (kind) {
    case DetectorKind::kCascade:
      return "cascade";
    case DetectorKind::kYuNet:
      return "yunet";
  }
  return "?";
}

const DeviceConfig* Config::FindDevice(std::string_view id) const {
  for (const auto& d : devices) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// The TOML reader.

namespace {

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += sep;
    out += v[i];
  }
  return out;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

class Reader {
 public:
  Reader(std::string name, std::string dir) : name_(std::move(name)), dir_(std::move(dir)) {}

  void Error(std::uint32_t line, const std::string& field, const std::string& what) {
    errors_.emplace_back(line, name_ + ":" + std::to_string(line) + ": " + field + ": " + what);
  }
  void Error(const toml::node& n, const std::string& field, const std::string& what) {
    Error(n.source().begin.line, field, what);
  }
  bool ok() const { return errors_.empty(); }
  // Every error, one per line, in file order.
  std::string ErrorText() const {
    auto sorted = errors_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> lines;
    for (auto& e : sorted) lines.push_back(std::move(e.second));
    return Join(lines, "\n");
  }

  // Refuses keys outside `allowed`: a misspelt key must not be ignored.
  void CheckKeys(const toml::table& t, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
    for (const auto& [key, node] : t) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
      std::vector<std::string> names;
      for (auto a : allowed) names.emplace_back(a);
      Error(key.source().begin.line ? key.source().begin.line : node.source().begin.line,
            Field(path, key.str()), "unknown key (expected one of: " + Join(names, ", ") + ")");
    }
  }

  static std::string Field(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  std::optional<std::string> String(const toml::table& t, const std::string& path,
                                    std::string_view key) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    if (const auto* v = n->as_string()) return v->get();
    Error(*n, Field(path, key), "must be a string");
    return std::nullopt;
  }

  std::optional<bool> Bool(const toml::table& t, const std::string& path, std::string_view key) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    if (const auto* v = n->as_boolean()) return v->get();
    Error(*n, Field(path, key), "must be true or false");
    return std::nullopt;
  }

  std::optional<int> Int(const toml::table& t, const std::string& path, std::string_view key,
                         std::int64_t min, std::int64_t max) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    const auto* v = n->as_integer();
    if (v == nullptr || v->get() < min || v->get() > max) {
      std::string range = max == std::numeric_limits<int>::max() && (v == nullptr || v->get() < min)
                              ? ">= " + std::to_string(min)
                              : "from " + std::to_string(min) + " to " + std::to_string(max);
      Error(*n, Field(path, key), "must be a whole number " + range);
      return std::nullopt;
    }
    return static_cast<int>(v->get());
  }

  std::optional<double> Number(const toml::table& t, const std::string& path, std::string_view key,
                               double min, double max) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    std::optional<double> value;
    if (const auto* f = n->as_floating_point()) value = f->get();
    if (const auto* i = n->as_integer()) value = static_cast<double>(i->get());
    if (!value || !std::isfinite(*value) || *value < min || *value > max) {
      std::ostringstream range;
      range << "must be a number from " << min << " to " << max;
      Error(*n, Field(path, key), range.str());
      return std::nullopt;
    }
    return value;
  }

  // One of `choices` (exact spelling).
  std::optional<std::string> Enum(const toml::table& t, const std::string& path,
                                  std::string_view key,
                                  std::initializer_list<std::string_view> choices) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    std::vector<std::string> quoted;
    for (auto c : choices) quoted.push_back(Quote(c));
    const auto* v = n->as_string();
    if (v == nullptr) {
      Error(*n, Field(path, key), "must be one of " + Join(quoted, ", "));
      return std::nullopt;
    }
    if (std::find(choices.begin(), choices.end(), v->get()) == choices.end()) {
      Error(*n, Field(path, key), Quote(v->get()) + " is not one of " + Join(quoted, ", "));
      return std::nullopt;
    }
    return v->get();
  }

  std::optional<std::vector<std::string>> StringList(const toml::table& t, const std::string& path,
                                                     std::string_view key) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    const auto* a = n->as_array();
    if (a == nullptr) {
      Error(*n, Field(path, key), "must be a list of strings, like [\"a\", \"b\"]");
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const auto* s = e.as_string();
      if (s == nullptr || s->get().empty()) {
        Error(e, Field(path, key) + "[" + std::to_string(i) + "]", "must be a non-empty string");
        ok = false;
        continue;
      }
      out.push_back(s->get());
    }
    if (!ok) return std::nullopt;
    return out;
  }

  const toml::table* Table(const toml::table& t, const std::string& path, std::string_view key) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return nullptr;
    if (const auto* tt = n->as_table()) return tt;
    Error(*n, Field(path, key), "must be a table, like { key = value }");
    return nullptr;
  }

  std::string ResolvePath(const std::string& p) const {
    if (p.empty() || p.front() == '/' || dir_.empty()) return p;
    return dir_ + "/" + p;
  }

 private:
  std::string name_;
  std::string dir_;
  std::vector<std::pair<std::uint32_t, std::string>> errors_;
};

// "HH:MM" or "HH:MM:SS" (or a TOML local time); "24:00" only when allow_24.
std::optional<int> ParseClock(const toml::node& n, bool allow_24) {
  if (const auto* tv = n.as_time()) {
    const toml::time& t = tv->get();
    return t.hour * 3600 + t.minute * 60 + t.second;
  }
  const auto* s = n.as_string();
  if (s == nullptr) return std::nullopt;
  const std::string& v = s->get();
  auto two = [&](std::size_t at, int max) -> std::optional<int> {
    if (at + 2 > v.size() || v[at] < '0' || v[at] > '9' || v[at + 1] < '0' || v[at + 1] > '9') {
      return std::nullopt;
    }
    const int x = (v[at] - '0') * 10 + (v[at + 1] - '0');
    if (x > max) return std::nullopt;
    return x;
  };
  if (v.size() != 5 && v.size() != 8) return std::nullopt;
  const auto h = two(0, 24);
  if (!h || v[2] != ':') return std::nullopt;
  const auto m = two(3, 59);
  if (!m) return std::nullopt;
  int sec = 0;
  if (v.size() == 8) {
    if (v[5] != ':') return std::nullopt;
    const auto ss = two(6, 59);
    if (!ss) return std::nullopt;
    sec = *ss;
  }
  const int total = *h * 3600 + *m * 60 + sec;
  if (*h == 24 && (!allow_24 || total != 86400)) return std::nullopt;
  return total;
}

void ReadCloud(Reader& r, const toml::table& t, Config& c) {
  const std::string p = "cloud";
  r.CheckKeys(t, p, {"endpoint", "region", "credentials", "ca_file", "insecure"});
  const auto endpoint = r.String(t, p, "endpoint");
  const auto region = r.String(t, p, "region");
  if (endpoint && region) {
    r.Error(*t.get("region"), "cloud.region", "give either endpoint or region, not both");
  } else if (endpoint) {
    std::string e = *endpoint;
    while (!e.empty() && e.back() == '/') e.pop_back();
    if (e.rfind("https://", 0) != 0 && e.rfind("http://", 0) != 0) {
      r.Error(*t.get("endpoint"), "cloud.endpoint",
              Quote(*endpoint) + " must start with https:// (or http:// for a local emulator)");
    } else {
      c.cloud.endpoint = e;
    }
  } else if (region) {
    if (auto url = RegionBaseUrl(*region); url.ok()) {
      c.cloud.endpoint = *url;
      c.cloud.region = *region;
    } else {
      r.Error(*t.get("region"), "cloud.region",
              Quote(*region) + " is not one of \"cn\", \"us\", \"us-east\", \"eu\", " +
                  "\"eu-west\", \"in\"");
    }
  } else {
    r.Error(t.source().begin.line, "cloud", "needs endpoint = \"https://...\" or region = \"eu\"");
  }
  if (const auto cred = r.String(t, p, "credentials")) {
    if (*cred == "env") {
      c.cloud.credentials_from_env = true;
    } else if (cred->empty()) {
      r.Error(*t.get("credentials"), "cloud.credentials", "must be \"env\" or a file path");
    } else {
      c.cloud.credentials_file = r.ResolvePath(*cred);
    }
  }
  if (const auto ca = r.String(t, p, "ca_file")) c.cloud.ca_file = r.ResolvePath(*ca);
  if (const auto ins = r.Bool(t, p, "insecure")) c.cloud.insecure = *ins;
}

void ReadDetector(Reader& r, const toml::table& t, Config& c) {
  const std::string p = "detector";
  r.CheckKeys(t, p, {"kind", "model", "min_face", "score_threshold"});
  if (const auto kind = r.Enum(t, p, "kind", {"cascade", "yunet"})) {
    c.detector.kind = *kind == "yunet" ? DetectorKind::kYuNet : DetectorKind::kCascade;
  }
  if (const auto model = r.String(t, p, "model")) c.detector.model = r.ResolvePath(*model);
  if (c.detector.kind == DetectorKind::kYuNet && c.detector.model.empty()) {
    const toml::node* n = t.get("kind");
    r.Error(n ? n->source().begin.line : t.source().begin.line, "detector.model",
            "kind \"yunet\" needs model = \"path/to/face_detection_yunet.onnx\"");
  }
  if (const auto v = r.Int(t, p, "min_face", 1, 10000)) c.detector.min_face = *v;
  if (const auto v = r.Number(t, p, "score_threshold", 0.0, 1.0)) {
    c.detector.score_threshold = *v;
    if (c.detector.kind == DetectorKind::kCascade) {
      r.Error(*t.get("score_threshold"), "detector.score_threshold",
              "only applies to kind \"yunet\" (the cascade gives no scores)");
    }
  }
}

void ReadOutputs(Reader& r, const toml::table& t, Config& c) {
  const std::string p = "outputs";
  r.CheckKeys(t, p, {"dir", "thumbnails", "contact_sheet", "decrypted_media", "thumbnail_count"});
  if (const auto v = r.String(t, p, "dir")) {
    if (v->empty()) {
      r.Error(*t.get("dir"), "outputs.dir", "must not be empty");
    } else {
      c.outputs.dir = *v;
    }
  }
  if (const auto v = r.Bool(t, p, "thumbnails")) c.outputs.thumbnails = *v;
  if (const auto v = r.Bool(t, p, "contact_sheet")) c.outputs.contact_sheet = *v;
  if (const auto v = r.Bool(t, p, "decrypted_media")) c.outputs.decrypted_media = *v;
  if (const auto v = r.Int(t, p, "thumbnail_count", 1, 64)) c.outputs.thumbnail_count = *v;
}

void ReadSafety(Reader& r, const toml::table& t, Config& c) {
  const std::string p = "safety";
  r.CheckKeys(t, p, {"on_error", "max_capture_age_seconds", "dry_run"});
  if (const toml::node* n = t.get("on_error")) {
    const auto* s = n->as_string();
    if (s != nullptr && s->get() == "approve") {
      r.Error(*n, "safety.on_error",
              "an error is never an approval: use \"reject\" or \"escalate\"");
    } else if (const auto v = r.Enum(t, p, "on_error", {"reject", "escalate"})) {
      c.safety.on_error = *v == "reject" ? Verdict::kReject : Verdict::kEscalate;
    }
  }
  if (const toml::node* n = t.get("max_capture_age_seconds")) {
    const auto* i = n->as_integer();
    if (i != nullptr && i->get() > kMaxCaptureAgeSeconds) {
      r.Error(*n, "safety.max_capture_age_seconds",
              std::to_string(i->get()) +
                  " is above the hard cap of 90 (the reference's window for a capture)");
    } else if (const auto v = r.Int(t, p, "max_capture_age_seconds", 1, kMaxCaptureAgeSeconds)) {
      c.safety.max_capture_age_seconds = *v;
    }
  }
  if (const auto v = r.Bool(t, p, "dry_run")) c.safety.dry_run = *v;
}

void ReadDevice(Reader& r, const toml::table& t, const std::string& p, Config& c) {
  r.CheckKeys(t, p, {"id", "type", "name", "channel", "groups", "password_file", "password_env"});
  DeviceConfig d;
  d.line = static_cast<int>(t.source().begin.line);
  bool ok = true;
  if (const auto id = r.String(t, p, "id")) {
    const bool plain = std::all_of(id->begin(), id->end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.' ||
             ch == ':';
    });
    if (id->empty()) {
      r.Error(*t.get("id"), p + ".id", "must not be empty");
      ok = false;
    } else if (!plain || id->size() > 128) {
      // Cloud device ids are letters and digits; a space or a control
      // character here is a typo that would never match, or a forged log line.
      std::string shown = id->substr(0, 64);
      for (char& ch : shown)
        if (std::iscntrl(static_cast<unsigned char>(ch))) ch = '?';
      r.Error(*t.get("id"), p + ".id",
              Quote(shown) + " is not a device id: at most 128 letters, digits and - _ . :");
      ok = false;
    } else if (const DeviceConfig* prev = c.FindDevice(*id)) {
      r.Error(*t.get("id"), p + ".id",
              "duplicate device id " + Quote(*id) + " (first at line " +
                  std::to_string(prev->line) + ")");
      ok = false;
    }
    d.id = *id;
  } else {
    if (t.get("id") == nullptr) r.Error(t.source().begin.line, p + ".id", "is required");
    ok = false;
  }
  if (const auto type = r.String(t, p, "type")) {
    if (auto lt = ParseLockType(*type)) {
      d.type = *lt;
    } else {
      std::vector<std::string> names;
      for (LockType x : AllLockTypes()) names.push_back(Quote(LockTypeName(x)));
      r.Error(*t.get("type"), p + ".type",
              "unknown lock type " + Quote(*type) + " (one of " + Join(names, ", ") + ")");
      ok = false;
    }
  } else {
    if (t.get("type") == nullptr) r.Error(t.source().begin.line, p + ".type", "is required");
    ok = false;
  }
  if (const auto name = r.String(t, p, "name")) d.name = *name;
  if (const toml::node* n = t.get("channel")) {
    if (const auto ch = r.Int(t, p, "channel", 1, std::numeric_limits<int>::max())) {
      if (ok && d.type != LockType::kWifiAccessControl) {
        r.Error(*n, p + ".channel", "only applies to type \"wifi_access_control\"");
        ok = false;
      }
      d.channel = *ch;
    } else {
      ok = false;
    }
  } else if (ok && d.type == LockType::kWifiAccessControl) {
    r.Error(t.source().begin.line, p + ".channel",
            "is required for type \"wifi_access_control\" (the channel to unlock)");
    ok = false;
  }
  if (auto groups = r.StringList(t, p, "groups")) d.groups = std::move(*groups);
  const auto pw_file = r.String(t, p, "password_file");
  const auto pw_env = r.String(t, p, "password_env");
  if (pw_file && pw_env) {
    r.Error(*t.get("password_env"), p + ".password_env",
            "give either password_file or password_env, not both");
  } else if (pw_file || pw_env) {
    SecretSource src;
    if (pw_file) src.file = r.ResolvePath(*pw_file);
    if (pw_env) src.env = *pw_env;
    if (src.file.empty() && src.env.empty()) {
      r.Error(*t.get(pw_file ? "password_file" : "password_env"),
              p + (pw_file ? ".password_file" : ".password_env"), "must not be empty");
    } else {
      d.password = std::move(src);
    }
  }
  // A broken entry is still kept (when it has an id) so that rules naming it
  // do not add a second, misleading "unknown device" error.
  if (!d.id.empty() && c.FindDevice(d.id) == nullptr) c.devices.push_back(std::move(d));
}

void ReadRule(Reader& r, const toml::table& t, const std::string& p, Config& c,
              const std::set<std::string>& groups) {
  r.CheckKeys(t, p,
              {"name", "action", "kind", "devices", "groups", "time", "faces", "min_face_score",
               "min_face_size", "analysis", "max_age_seconds", "rate_limit"});
  RuleConfig rule;
  rule.line = static_cast<int>(t.source().begin.line);
  if (const auto name = r.String(t, p, "name")) {
    rule.name = *name;
    for (const auto& other : c.rules) {
      if (other.name == rule.name) {
        r.Error(*t.get("name"), p + ".name",
                "duplicate rule name " + Quote(rule.name) + " (first at line " +
                    std::to_string(other.line) + ")");
      }
    }
  }
  if (rule.name.empty()) rule.name = p;  // decisions name their rule
  const auto action = r.Enum(t, p, "action", {"approve", "reject", "escalate"});
  if (const auto& a = action) {
    rule.action = *a == "approve" ? Verdict::kApprove
                                  : (*a == "reject" ? Verdict::kReject : Verdict::kEscalate);
  } else if (t.get("action") == nullptr) {
    r.Error(t.source().begin.line, p + ".action",
            "is required (\"approve\", \"reject\" or \"escalate\")");
  }
  if (const auto k = r.Enum(t, p, "kind", {"unlock", "alert", "any"})) {
    if (*k == "unlock") rule.kind = MediaKind::kUnlockRequest;
    if (*k == "alert") rule.kind = MediaKind::kAlert;
    if (rule.kind == MediaKind::kAlert && rule.action == Verdict::kApprove) {
      r.Error(*t.get("kind"), p + ".kind",
              "an alert is not a request to open: a rule for alerts can never approve (use "
              "\"escalate\" or \"reject\")");
    }
  }
  if (auto devices = r.StringList(t, p, "devices")) {
    // An empty list would read as "no device" but mean "every device".
    if (devices->empty())
      r.Error(*t.get("devices"), p + ".devices",
              "is empty: list at least one device, or leave devices out for every device");
    for (std::size_t i = 0; i < devices->size(); ++i) {
      if (c.FindDevice((*devices)[i]) == nullptr) {
        r.Error(*t.get("devices")->as_array()->get(i), p + ".devices[" + std::to_string(i) + "]",
                "unknown device " + Quote((*devices)[i]) + " (not in [[devices]])");
      }
    }
    rule.devices = std::move(*devices);
  }
  if (auto gs = r.StringList(t, p, "groups")) {
    if (gs->empty())
      r.Error(*t.get("groups"), p + ".groups",
              "is empty: list at least one group, or leave groups out for every device");
    for (std::size_t i = 0; i < gs->size(); ++i) {
      if (groups.count((*gs)[i]) == 0) {
        r.Error(*t.get("groups")->as_array()->get(i), p + ".groups[" + std::to_string(i) + "]",
                "unknown group " + Quote((*gs)[i]) + " (no device lists it in its groups)");
      }
    }
    rule.groups = std::move(*gs);
  }
  if (const toml::table* tw = r.Table(t, p, "time")) {
    const std::string tp = p + ".time";
    r.CheckKeys(*tw, tp, {"from", "to", "zone"});
    TimeWindow w;
    bool ok = true;
    for (const char* key : {"from", "to"}) {
      const toml::node* n = tw->get(key);
      const bool is_to = std::strcmp(key, "to") == 0;
      if (n == nullptr) {
        r.Error(tw->source().begin.line, tp + "." + key, "is required (like \"07:00\")");
        ok = false;
        continue;
      }
      const auto secs = ParseClock(*n, is_to);
      if (!secs) {
        std::string shown;
        if (const auto* s = n->as_string()) shown = Quote(s->get()) + " ";
        r.Error(*n, tp + "." + key,
                shown + "is not a time of day \"HH:MM\" from 00:00 to 23:59" +
                    (is_to ? " (or 24:00)" : ""));
        ok = false;
        continue;
      }
      (is_to ? w.to_second : w.from_second) = *secs;
    }
    if (ok && w.from_second == w.to_second) {
      r.Error(*tw, tp, "from and to are equal: the window is empty (leave time out for all day)");
      ok = false;
    }
    if (const toml::node* zn = tw->get("zone")) {
      if (const auto zone_name = r.String(*tw, tp, "zone")) {
        auto zone = TimeZone::Load(*zone_name);
        if (zone.ok()) {
          w.zone = std::move(zone).value();
        } else {
          r.Error(*zn, tp + ".zone", zone.status().message());
          ok = false;
        }
      } else {
        ok = false;
      }
    } else {
      r.Error(tw->source().begin.line, tp + ".zone",
              "is required (like \"Europe/Berlin\" or \"UTC\"): the lock's local time is not "
              "guessed");
      ok = false;
    }
    if (ok) rule.time = std::move(w);
  }
  if (const toml::table* f = r.Table(t, p, "faces")) {
    const std::string fp = p + ".faces";
    r.CheckKeys(*f, fp, {"min", "max"});
    rule.faces_min = r.Int(*f, fp, "min", 0, 1000);
    rule.faces_max = r.Int(*f, fp, "max", 0, 1000);
    if (rule.faces_min && rule.faces_max && *rule.faces_min > *rule.faces_max) {
      r.Error(*f, fp, "min is greater than max: the rule could never match");
    }
    if (f->empty()) r.Error(*f, fp, "needs min and/or max");
  }
  rule.min_face_score = r.Number(t, p, "min_face_score", 0.0, 1.0);
  if (rule.min_face_score && c.detector.kind == DetectorKind::kCascade) {
    r.Error(*t.get("min_face_score"), p + ".min_face_score",
            "the \"cascade\" detector gives no scores, so this could never match (use "
            "detector.kind = \"yunet\")");
  }
  rule.min_face_size = r.Int(t, p, "min_face_size", 1, 100000);
  if (const auto a = r.Enum(t, p, "analysis", {"ok", "failed", "any"})) {
    rule.analysis = *a == "ok"
                        ? AnalysisCondition::kOk
                        : (*a == "failed" ? AnalysisCondition::kFailed : AnalysisCondition::kAny);
    if (rule.analysis == AnalysisCondition::kFailed && rule.action == Verdict::kApprove) {
      r.Error(*t.get("analysis"), p + ".analysis",
              "a rule for failed analysis can never approve (fail closed): use \"reject\" or "
              "\"escalate\"");
    }
  }
  rule.max_age_seconds = r.Int(t, p, "max_age_seconds", 1, kMaxCaptureAgeSeconds);
  if (const toml::table* rl = r.Table(t, p, "rate_limit")) {
    const std::string rp = p + ".rate_limit";
    r.CheckKeys(*rl, rp, {"count", "per_seconds"});
    const auto count = r.Int(*rl, rp, "count", 1, 100000);
    // A week bounds the history the engine keeps per device.
    const auto per = r.Int(*rl, rp, "per_seconds", 1, 7 * 24 * 3600);
    if (rl->get("count") == nullptr) r.Error(*rl, rp + ".count", "is required");
    if (rl->get("per_seconds") == nullptr) r.Error(*rl, rp + ".per_seconds", "is required");
    if (count && per) rule.rate_limit = RateLimit{*count, *per};
    if (action && rule.action != Verdict::kApprove)
      r.Error(*rl, rp,
              "limits approvals, and this rule does not approve: it would never apply (move it "
              "to an approving rule, or remove it)");
  }
  c.rules.push_back(std::move(rule));
}

// Reads an array of tables ([[devices]] / [[rules]]), calling fn for each.
template <typename Fn>
void ForEachTable(Reader& r, const toml::table& root, std::string_view key, Fn fn) {
  const toml::node* n = root.get(key);
  if (n == nullptr) return;
  const auto* a = n->as_array();
  if (a == nullptr) {
    r.Error(*n, std::string(key), "must be an array of tables ([[" + std::string(key) + "]])");
    return;
  }
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const std::string path = std::string(key) + "[" + std::to_string(i) + "]";
    if (const auto* t = e.as_table()) {
      fn(*t, path);
    } else {
      r.Error(e, path, "must be a table");
    }
  }
}

}  // namespace

Result<Config> ParseConfig(std::string_view text, const std::string& name) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    return InvalidArgument(name + ":" + std::to_string(e.source().begin.line) + ": " +
                           std::string(e.description()));
  }
  const std::size_t slash = name.rfind('/');
  Reader r(name, slash == std::string::npos ? std::string() : name.substr(0, slash));
  Config c;
  c.source = name;
  r.CheckKeys(root, "", {"cloud", "detector", "outputs", "safety", "devices", "rules"});
  if (const auto* t = r.Table(root, "", "cloud")) ReadCloud(r, *t, c);
  // The detector comes before the rules: min_face_score depends on its kind.
  if (const auto* t = r.Table(root, "", "detector")) ReadDetector(r, *t, c);
  if (const auto* t = r.Table(root, "", "outputs")) ReadOutputs(r, *t, c);
  if (const auto* t = r.Table(root, "", "safety")) ReadSafety(r, *t, c);
  ForEachTable(r, root, "devices",
               [&](const toml::table& t, const std::string& p) { ReadDevice(r, t, p, c); });
  std::set<std::string> groups;
  for (const auto& d : c.devices) groups.insert(d.groups.begin(), d.groups.end());
  ForEachTable(r, root, "rules",
               [&](const toml::table& t, const std::string& p) { ReadRule(r, t, p, c, groups); });
  if (!r.ok()) return InvalidArgument(r.ErrorText());
  return c;
}

Result<Config> LoadConfig(const std::string& path) {
  if (std::error_code ec; std::filesystem::is_directory(path, ec))
    return InvalidArgument("config file " + path + " is a folder; name the rules file (TOML)");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) return NotFound("config file " + path + " does not exist");
    return IoError("cannot open config file " + path + ": " + std::generic_category().message(err));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return IoError("reading config file " + path + " failed");
  return ParseConfig(buf.str(), path);
}

}  // namespace lockpipe
