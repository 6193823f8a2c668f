// Getting the encrypted media a lock uploaded: as a stream (feed a
// StreamDecryptor as bytes arrive) or as random access over HTTP byte ranges
// (let FFmpeg seek in an MP4 without downloading it all).
//
// URLs appear in messages without their query (RedactUrl), since a storage
// URL's query may be a signature.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/byte_source.h"
#include "fetch/http_client.h"

namespace lockpipe {

// GETs `url` and hands the body to `sink` as it arrives. Fails unless the
// server answers 200 (the error names the URL and status; the body of an
// error answer is not passed to the sink). Retried with `retry` only while no
// byte has reached the sink. Returns the number of body bytes delivered.
Result<std::uint64_t> StreamDownload(HttpClient& http, const std::string& url, const BodySink& sink,
                                     const RetryPolicy& retry = {}, int timeout_ms = 0);

// A RandomAccessSource over HTTP byte ranges. Size() comes from the
// Content-Range of a "bytes=0-0" request (asked once, at Open). Every read
// checks that the server answered 206 with the asked range. Reads smaller
// than block_size are served from a read-ahead block of block_size bytes, so
// a demuxer's many small reads cost few requests.
//
// Thread-safety: one thread at a time. `http` is not owned and must outlive
// the source.
class HttpRangeSource final : public RandomAccessSource {
 public:
  static constexpr std::size_t kDefaultBlockSize = 256 * 1024;

  // Fails if the server does not support ranges (answers 200 to a range
  // request), or the URL cannot be reached.
  static Result<std::unique_ptr<HttpRangeSource>> Open(HttpClient& http, std::string url,
                                                       std::size_t block_size = kDefaultBlockSize,
                                                       RetryPolicy retry = {});

  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override;
  Result<std::uint64_t> Size() override { return size_; }
  std::string name() const override { return RedactUrl(url_); }

  // Range requests made so far (including the one of Open).
  int requests() const { return requests_; }

 private:
  HttpRangeSource(HttpClient& http, std::string url, std::size_t block_size, RetryPolicy retry)
      : http_(http), url_(std::move(url)), block_size_(block_size), retry_(std::move(retry)) {}
  // Fetches [first, last] (inclusive, within size) into *out.
  Status FetchRange(std::uint64_t first, std::uint64_t last, std::string* out);

  HttpClient& http_;
  std::string url_;
  std::size_t block_size_;
  RetryPolicy retry_;
  std::uint64_t size_ = 0;
  std::uint64_t cache_offset_ = 0;
  std::string cache_;
  int requests_ = 0;
};

// Parses "bytes FIRST-LAST/TOTAL" or "bytes */TOTAL". TOTAL "*" (unknown) is an error.
struct ContentRange {
  bool has_range = false;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t total = 0;
};
Result<ContentRange> ParseContentRange(const std::string& value);

}  // namespace lockpipe
