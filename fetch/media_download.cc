#include "fetch/media_download.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace lockpipe {
namespace {

bool ParseU64(std::string_view s, std::uint64_t* v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<ContentRange> ParseContentRange(const std::string& value) {
  std::string_view v(value);
  auto bad = [&] { return Corrupt("malformed Content-Range '" + value + "'"); };
  if (v.substr(0, 6) != "bytes ") return bad();
  v.remove_prefix(6);
  auto slash = v.find('/');
  if (slash == std::string_view::npos) return bad();
  ContentRange cr;
  if (!ParseU64(v.substr(slash + 1), &cr.total)) return bad();
  std::string_view range = v.substr(0, slash);
  if (range == "*") return cr;
  auto dash = range.find('-');
  if (dash == std::string_view::npos || !ParseU64(range.substr(0, dash), &cr.first) ||
      !ParseU64(range.substr(dash + 1), &cr.last) || cr.last < cr.first || cr.last >= cr.total)
    return bad();
  cr.has_range = true;
  return cr;
}

Result<std::uint64_t> StreamDownload(HttpClient& http, const std::string& url, const BodySink& sink,
                                     const RetryPolicy& retry, int timeout_ms) {
  HttpRequest req;
  req.url = url;
  req.timeout_ms = timeout_ms;
  std::uint64_t delivered = 0;
  req.sink = [&](std::string_view chunk) -> Status {
    delivered += chunk.size();
    return sink(chunk);
  };
  ASSIGN_OR_RETURN(HttpResponse resp, SendWithRetry(http, req, retry));
  if (resp.status != 200) {
    return Status(StatusCode::kNetwork, "GET " + RedactUrl(url) + ": HTTP " +
                                            std::to_string(resp.status) + " (expected 200)")
        .set_http_status(resp.status);
  }
  return delivered;
}

Result<std::unique_ptr<HttpRangeSource>> HttpRangeSource::Open(HttpClient& http, std::string url,
                                                               std::size_t block_size,
                                                               RetryPolicy retry) {
  std::unique_ptr<HttpRangeSource> src(new HttpRangeSource(
      http, std::move(url), std::max<std::size_t>(block_size, 1), std::move(retry)));
  HttpRequest req;
  req.url = src->url_;
  req.range = std::make_pair(std::uint64_t{0}, std::uint64_t{0});
  ++src->requests_;
  ASSIGN_OR_RETURN(HttpResponse resp, SendWithRetry(http, req, src->retry_));
  const std::string where = "GET " + src->name();
  if (resp.status == 416) {
    // An empty file cannot satisfy 0-0; its size comes as "bytes */0".
    ASSIGN_OR_RETURN(ContentRange cr, ParseContentRange(resp.Header("Content-Range")));
    src->size_ = cr.total;
    return src;
  }
  if (resp.status == 200) {
    return Unsupported(where +
                       ": server ignored the Range request (HTTP 200, not 206): it does "
                       "not support byte ranges; download the whole file instead");
  }
  if (resp.status != 206) {
    return Status(StatusCode::kNetwork, where + ": HTTP " + std::to_string(resp.status) +
                                            " to a range request (expected 206)")
        .set_http_status(resp.status);
  }
  auto cr = ParseContentRange(resp.Header("Content-Range"));
  if (!cr.ok()) return cr.status().WithContext(where);
  if (!cr->has_range || cr->first != 0)
    return Corrupt(where + ": Content-Range does not start at 0");
  src->size_ = cr->total;
  src->cache_offset_ = 0;
  src->cache_ = resp.body;
  return src;
}

Status HttpRangeSource::FetchRange(std::uint64_t first, std::uint64_t last, std::string* out) {
  HttpRequest req;
  req.url = url_;
  req.range = std::make_pair(first, last);
  ++requests_;
  const std::string where =
      "GET " + name() + " bytes " + std::to_string(first) + "-" + std::to_string(last);
  ASSIGN_OR_RETURN(HttpResponse resp, SendWithRetry(http_, req, retry_));
  if (resp.status != 206) {
    return Status(StatusCode::kNetwork,
                  where + ": HTTP " + std::to_string(resp.status) + " (expected 206)")
        .set_http_status(resp.status);
  }
  auto cr = ParseContentRange(resp.Header("Content-Range"));
  if (!cr.ok()) return cr.status().WithContext(where);
  if (!cr->has_range || cr->first != first || cr->last != last || cr->total != size_) {
    return Corrupt(where + ": server answered a different range (" + resp.Header("Content-Range") +
                   "); the file may have changed");
  }
  if (resp.body.size() != last - first + 1) {
    return Corrupt(where + ": got " + std::to_string(resp.body.size()) + " bytes, expected " +
                   std::to_string(last - first + 1));
  }
  *out = std::move(resp.body);
  return Status::Ok();
}

Result<std::size_t> HttpRangeSource::ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) {
  if (offset >= size_ || out.empty()) return std::size_t{0};
  const std::uint64_t want = std::min<std::uint64_t>(out.size(), size_ - offset);
  std::size_t done = 0;
  while (done < want) {
    const std::uint64_t pos = offset + done;
    const std::uint64_t left = want - done;
    if (pos >= cache_offset_ && pos < cache_offset_ + cache_.size()) {
      const std::uint64_t skip = pos - cache_offset_;
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(left, cache_.size() - skip));
      std::memcpy(out.data() + done, cache_.data() + skip, n);
      done += n;
      continue;
    }
    if (left >= block_size_) {
      // A big read goes straight into the caller's buffer's worth of bytes.
      std::string chunk;
      RETURN_IF_ERROR(FetchRange(pos, pos + left - 1, &chunk));
      std::memcpy(out.data() + done, chunk.data(), chunk.size());
      done += chunk.size();
      continue;
    }
    const std::uint64_t last = std::min<std::uint64_t>(pos + block_size_, size_) - 1;
    std::string block;
    RETURN_IF_ERROR(FetchRange(pos, last, &block));
    cache_offset_ = pos;
    cache_ = std::move(block);
  }
  return static_cast<std::size_t>(want);
}

}  // namespace lockpipe
