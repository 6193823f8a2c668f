// The lockpipe config file: where the lock cloud is, which devices to watch,
// which face detector to run, what to write, the safety settings and the
// ordered approval rules. samples/rules.toml documents every key.
//
// The file is TOML. It is validated completely at load: every mistake
// (unknown key, wrong type, bad value, a rule naming a device or group that
// does not exist, an unknown time zone) is refused with a message that names
// the file, the line and the field, one line per mistake:
//   rules.toml:14: rules[2].faces.min: must be a whole number >= 0
// Array indexes in those field paths count from 0. Unknown keys are errors
// because a misspelt condition must never silently widen a rule.
//
// Paths the config reads (credentials file, CA file, detector model, door
// password files) are resolved against the folder of the config file when
// they are relative; outputs.dir is left as written (relative to the working
// directory), like an output flag on a command line.
//
// Thread-safety: Config and everything in it are values; once loaded they are
// immutable and safe to read from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/secret.h"
#include "base/status.h"
#include "fetch/lock_api.h"
#include "fetch/lock_types.h"
#include "pipeline/time_zone.h"

namespace lockpipe {

// What a rule (or the safety net) decides.
enum class Verdict { kApprove, kReject, kEscalate };
// "approve" / "reject" / "escalate".
const char* VerdictName(Verdict verdict);

// [cloud]: where the lock API is and how to authenticate.
struct CloudConfig {
  // Base URL without a trailing slash ("https://openapi.tuyaeu.com"). Empty
  // when the file has no [cloud] section (batch runs on local files).
  std::string endpoint;
  // The region name when the endpoint was given as one ("eu"), else "".
  std::string region;
  // Credentials (access id + secret) come from the environment when
  // credentials_from_env, else from credentials_file (resolved path).
  bool credentials_from_env = false;
  std::string credentials_file;
  // Extra CA bundle to trust (resolved path), "" for the system's.
  std::string ca_file;
  // Turns TLS verification off for this endpoint only. Default off.
  bool insecure = false;
};

enum class DetectorKind { kCascade, kYuNet };
// "cascade" / "yunet".
const char* DetectorKindName(DetectorKind kind);

// [detector]
struct DetectorConfig {
  DetectorKind kind = DetectorKind::kCascade;
  // kYuNet: the ONNX model (required). kCascade: an optional cascade .xml
  // ("" = the built-in default). Resolved path.
  std::string model;
  int min_face = 40;             // px, shorter side of a face box
  double score_threshold = 0.6;  // YuNet only, in [0, 1]
};

// [outputs]
struct OutputsConfig {
  std::string dir = "out";
  bool thumbnails = true;
  bool contact_sheet = true;
  bool decrypted_media = false;
  int thumbnail_count = 4;  // 1..64
};

// [safety]
struct SafetyConfig {
  // What any error before a decision turns into. Never kApprove (refused at load).
  Verdict on_error = Verdict::kEscalate;
  // A capture older than this is never approved. 1..90: the reference serves
  // captures of the last 90 seconds, so a larger value is refused.
  int max_capture_age_seconds = 90;
  // Decide and journal, but send nothing to the locks.
  bool dry_run = false;
};
inline constexpr int kMaxCaptureAgeSeconds = 90;

// [[devices]]: one lock.
struct DeviceConfig {
  std::string id;
  LockType type = LockType::kWifi;
  std::string name;            // "" when not given
  std::optional<int> channel;  // required for (and only for) wifi_access_control
  std::vector<std::string> groups;
  // Where the door password is (password_file / password_env), never the
  // password itself. Empty when the device has none (password unlock is then
  // never used).
  std::optional<SecretSource> password;
  int line = 0;  // where the entry starts in the file

  // name when set, else id (for messages).
  const std::string& DisplayName() const { return name.empty() ? id : name; }
};

// A rule's time-of-day window in a zone: from <= t < to, or, when from > to,
// t >= from or t < to (the window crosses midnight).
struct TimeWindow {
  int from_second = 0;  // seconds since local midnight, [0, 86400)
  int to_second = 0;    // (0, 86400]
  TimeZone zone;
};

enum class AnalysisCondition { kAny, kOk, kFailed };

struct RateLimit {
  int count = 0;        // at most this many approvals of one device...
  int per_seconds = 0;  // ...in any sliding window of this length
};

// [[rules]]: one rule. Every condition that is set must hold for the rule to
// match (see pipeline/rules.h for what each one means exactly).
struct RuleConfig {
  std::string name;
  int line = 0;  // where the rule starts in the file
  Verdict action = Verdict::kEscalate;
  std::optional<MediaKind> kind;     // empty = any kind
  std::vector<std::string> devices;  // empty and groups empty = any device
  std::vector<std::string> groups;
  std::optional<TimeWindow> time;
  std::optional<int> faces_min;
  std::optional<int> faces_max;
  std::optional<double> min_face_score;
  std::optional<int> min_face_size;
  AnalysisCondition analysis = AnalysisCondition::kAny;
  std::optional<int> max_age_seconds;
  std::optional<RateLimit> rate_limit;
};

struct Config {
  std::string source;  // the file name given to LoadConfig / ParseConfig
  CloudConfig cloud;
  DetectorConfig detector;
  OutputsConfig outputs;
  SafetyConfig safety;
  std::vector<DeviceConfig> devices;  // ids are unique
  std::vector<RuleConfig> rules;      // in file order: first match wins

  // The device with this id, or nullptr.
  const DeviceConfig* FindDevice(std::string_view id) const;
};

// Reads and validates a config file. Fails with kNotFound / kIoError when the
// file cannot be read and kInvalidArgument listing every mistake found, each
// as "path:line: field: what is wrong".
Result<Config> LoadConfig(const std::string& path);
// The same for text already in memory; `name` is used in messages and its
// folder (if any) resolves relative paths.
Result<Config> ParseConfig(std::string_view text, const std::string& name);

}  // namespace lockpipe
