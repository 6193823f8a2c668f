// A capture to decide, and its one identity.
//
// Every source (the poller, the webhook, a batch list, and any later one)
// describes what it saw as a CaptureJob and names it with CaptureKey(): the
// device, the kind, and the storage object the media is, so that one capture
// reaching lockpipe by two routes (polled, then pushed; polled, then listed by
// its URL in a batch) is journaled, decided and acted on once.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/secret.h"
#include "fetch/lock_api.h"

namespace lockpipe {

struct CaptureJob {
  enum class Where {
    kLatest,  // ask latest/media/url for the device's newest capture of `kind`
    kUrl,     // url + file_key given (a batch line, or resolved by a poller)
    kFile,    // a local encrypted (or, with no key, plaintext) file
  };
  Where where = Where::kLatest;
  std::string device_id;
  MediaKind kind = MediaKind::kUnlockRequest;
  std::string source;               // "poll", "webhook", "batch"
  std::string url;                  // kUrl
  std::string path;                 // kFile
  std::string file_path;            // the server's relative path (identity of a capture)
  Secret file_key;                  // empty with kFile = plaintext
  // CaptureKey(*this), set by the pipeline once the object is known (a source
  // leaves it empty: the identity has one definition).
  std::string capture_key;
  std::int64_t captured_at_ms = 0;  // 0 = unknown: taken as received_at
  std::int64_t received_at_ms = 0;
  std::string label;  // batch line id or webhook event id, for reports
};

// How a source hands a job to the pipeline (Pipeline::Submit): blocks while
// the pipeline is full; false once it is stopping.
using SubmitFn = std::function<bool(CaptureJob)>;

// The storage object a media URL names: the URL's path, percent-decoded,
// without scheme, user info, host, port, query (where the signature and its
// expiry are) or fragment. "https://b.cos.example/3039e1.jpg?sign=..." gives
// "/3039e1.jpg": the lock cloud's file_path for that object, since its media
// URLs put the bucket in the host name. A URL with a fresh signature for the
// same object gives the same path.
std::string MediaObjectPath(std::string_view url);

// The identity of the capture `job` describes, "<device>|<kind>|<object>":
//   - object = the job's file_path (with a leading '/') when it has one,
//   - else MediaObjectPath(url) for a URL,
//   - else "file:" + the local path.
// The journal admits each identity once. Returns "" while the object is
// unknown (a "fetch the latest" job that has not been resolved yet).
std::string CaptureKey(const CaptureJob& job);

}  // namespace lockpipe
