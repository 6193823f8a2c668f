#include "pipeline/capture_job.h"

namespace lockpipe {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX sequences become their bytes; a '%' not followed by two hex digits stays.
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int high = HexValue(s[i + 1]);
      const int low = HexValue(s[i + 2]);
      if (high >= 0 && low >= 0) {
        out += static_cast<char>(high * 16 + low);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string Rooted(std::string path) {
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  return path;
}

}  // namespace

std::string MediaObjectPath(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  if (const std::size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    // The authority (user info, host, port) runs to the first '/'.
    const std::size_t path = url.find('/', scheme + 3);
    url = path == std::string_view::npos ? std::string_view("/") : url.substr(path);
  }
  return Rooted(PercentDecode(url));
}

std::string CaptureKey(const CaptureJob& job) {
  std::string object;
  if (!job.file_path.empty()) {
    object = Rooted(job.file_path);
  } else if (!job.url.empty()) {
    object = MediaObjectPath(job.url);
  } else if (!job.path.empty()) {
    object = "file:" + job.path;
  } else {
    return "";
  }
  return job.device_id + "|" + MediaKindName(job.kind) + "|" + object;
}

}  // namespace lockpipe
