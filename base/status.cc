#include "base/status.h"

namespace lockpipe {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kIoError:
      return "I/O error";
    case StatusCode::kCorrupt:
      return "corrupt data";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kNetwork:
      return "network error";
    case StatusCode::kApiError:
      return "API error";
    case StatusCode::kPermissionDenied:
      return "permission denied";
    case StatusCode::kTimeout:
      return "timeout";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

Status Status::WithContext(const std::string& context) const {
  Status s = *this;
  s.message_ = context + ": " + message_;
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return message_.empty() ? StatusCodeName(code_) : message_;
}

}  // namespace lockpipe
