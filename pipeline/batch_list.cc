#include "pipeline/batch_list.h"

#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "base/log.h"

namespace lockpipe {

bool IsBlankOrCommentListLine(const std::string& line) {
  // " \t\r": a CRLF list's blank line is "\r", and an indented comment is a comment.
  const auto first = line.find_first_not_of(" \t\r");
  return first == std::string::npos || line[first] == '#';
}

namespace {

// A JSON value as an error message shows it: on one line, cut short.
std::string Shown(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// Why `text`, the value of `key`, cannot be used, or "" when it can. A NUL
// would cut the text short where it reaches a C API (a path would open
// another file) and would be journaled as it is; other control characters
// have no place in an identifier, a path or a URL, and garble the log lines
// that name them. A secret is checked for NUL only, and never shown.
std::string BadText(const std::string& key, const std::string& text, bool secret) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) return "\"" + key + "\" contains a NUL character (\\u0000)";
    if (!secret && (c < 0x20 || c == 0x7f)) {
      char code[8];
      std::snprintf(code, sizeof code, "\\u%04x", c);
      return "\"" + key + "\" contains a control character (" + code + ")";
    }
  }
  return "";
}

// The text of `key` in a batch line: nullopt when the line has no such key
// (the caller's default applies), else a non-empty string free of NUL and
// control characters; anything else is an error that says what `key` must be
// (`expected`). A wrong value is never taken for a missing one: `"kind": 2`
// must not become the default "unlock". A secret's value is never shown.
Result<std::optional<std::string>> StringField(const nlohmann::json& j, const std::string& key,
                                               const std::string& expected, bool secret = false) {
  const auto it = j.find(key);
  if (it == j.end()) return std::optional<std::string>();
  if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
    // A wrong secret is named by its type ("a number"), never shown.
    const std::string type = it->type_name();
    const std::string shown = !secret || it->is_string()          ? Shown(*it)
                              : it->is_null()                     ? type
                              : it->is_object() || it->is_array() ? "an " + type
                                                                  : "a " + type;
    return Corrupt("\"" + key + "\" must be " + expected + ", not " + shown);
  }
  const std::string& text = it->get_ref<const std::string&>();
  if (std::string bad = BadText(key, text, secret); !bad.empty()) return Corrupt(bad);
  return std::optional<std::string>(text);
}

}  // namespace

Result<CaptureJob> ParseBatchLine(const std::string& line, const std::string& list_dir,
                                  int line_no) {
  // A key given twice would count once, the last time, where a person or
  // another program reading the line may take the first: refused.
  std::set<std::string> keys;
  std::optional<nlohmann::json> twice;
  auto find_twice = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && !twice &&
        !keys.insert(parsed.get<std::string>()).second)
      twice = parsed;
    return true;
  };
  nlohmann::json j = nlohmann::json::parse(line, find_twice, false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("not a JSON object");
  if (twice) return Corrupt(Shown(*twice) + " is given twice");
  const char kText[] = "a non-empty string";
  CaptureJob job;
  job.source = "batch";

  ASSIGN_OR_RETURN(auto device, StringField(j, "device", kText));
  if (!device) return Corrupt("\"device\" is missing");
  job.device_id = *device;

  const char kKinds[] = "\"unlock\" or \"alert\"";
  ASSIGN_OR_RETURN(auto kind_text, StringField(j, "kind", kKinds));
  job.kind = MediaKind::kUnlockRequest;
  if (kind_text) {
    auto kind = ParseMediaKind(*kind_text);
    if (!kind.ok())
      return Corrupt("\"kind\" must be " + std::string(kKinds) + ", not " + Shown(j.at("kind")));
    job.kind = *kind;
  }

  // An id is an identifier: an integer is taken as its decimal text (7 and
  // "7" are one id), never dropped.
  std::optional<std::string> id;
  if (const auto it = j.find("id"); it != j.end() && it->is_number_integer()) {
    id = it->dump();
  } else {
    ASSIGN_OR_RETURN(id, StringField(j, "id", "a string or an integer"));
  }
  job.label = id ? *id : std::to_string(line_no);

  if (const auto it = j.find("captured_at"); it != j.end()) {
    // Positive JSON integers parse as unsigned; a negative one is signed.
    const bool valid = it->is_number_unsigned() && it->get<std::uint64_t>() > 0 &&
                       it->get<std::uint64_t>() <=
                           static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (!valid)
      return Corrupt(
          "\"captured_at\" must be a positive integer, the capture time in milliseconds since "
          "the epoch, not " +
          Shown(*it));
    job.captured_at_ms = it->get<std::int64_t>();
  }

  ASSIGN_OR_RETURN(auto file_key, StringField(j, "file_key", kText, /*secret=*/true));
  ASSIGN_OR_RETURN(auto key_env, StringField(j, "key_env", "the name of an environment variable"));
  if (file_key && key_env) return Corrupt("give \"file_key\" or \"key_env\", not both");
  std::string key = file_key ? *file_key : "";
  if (key_env) {
    const char* v = std::getenv(key_env->c_str());
    if (v == nullptr) return InvalidArgument("environment variable " + *key_env + " is not set");
    // An empty key would read the file as plaintext: it is a mistake, not a choice.
    if (*v == '\0') return InvalidArgument("environment variable " + *key_env + " is empty");
    key = v;
  }

  ASSIGN_OR_RETURN(auto url, StringField(j, "url", kText));
  ASSIGN_OR_RETURN(auto path, StringField(j, "path", kText));
  ASSIGN_OR_RETURN(auto file_path, StringField(j, "file_path", kText));
  if (url && path) return Corrupt("give \"url\" or \"path\", not both");
  if (url) {
    if (key.empty()) return Corrupt("a \"url\" needs a \"file_key\"");
    job.where = CaptureJob::Where::kUrl;
    job.url = *url;
    job.file_path = file_path.value_or("");
  } else if (path) {
    job.where = CaptureJob::Where::kFile;
    job.path = *path;
    if (job.path.front() != '/') job.path = list_dir + "/" + job.path;
  } else {
    return Corrupt("needs \"url\" or \"path\"");
  }
  job.file_key = Secret(std::move(key));
  // The line's id is a label, not part of the identity (CaptureKey): the same
  // object listed twice, or also polled or pushed, is one capture.
  return job;
}

}  // namespace lockpipe
