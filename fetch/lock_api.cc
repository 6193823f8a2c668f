#include "fetch/lock_api.h"

namespace lockpipe {

const char* MediaKindName(MediaKind kind) { return kind == MediaKind::kAlert ? "alert" : "unlock"; }

Result<MediaKind> ParseMediaKind(const std::string& text) {
  if (text == "unlock" || text == "1") return MediaKind::kUnlockRequest;
  if (text == "alert" || text == "2") return MediaKind::kAlert;
  return InvalidArgument(
      "media kind must be 'unlock' (file_type 1) or 'alert' (file_type 2), not '" + text + "'");
}

const char* RevokeReasonName(RevokeReason reason) {
  return reason == RevokeReason::kCanceled ? "canceled" : "rejected";
}

Result<RevokeReason> ParseRevokeReason(const std::string& text) {
  if (text == "rejected" || text == "1") return RevokeReason::kRejected;
  if (text == "canceled" || text == "cancelled" || text == "2") return RevokeReason::kCanceled;
  return InvalidArgument("revoke reason must be 'rejected' (type 1) or 'canceled' (type 2), not '" +
                         text + "'");
}

LockCallOutcome ClassifyLockCall(const Status& status) {
  if (status.ok()) return LockCallOutcome::kOk;
  if (status.request_not_sent()) return LockCallOutcome::kFailed;
  // SendSigned makes kApiError only of a parsed envelope with a boolean
  // `success`; with HTTP 200 and a code the cloud refused the call. Code 500
  // is the cloud's own failure, possibly after the lock acted. A success
  // whose result is not true carries no code: what it did is not known.
  if (status.code() == StatusCode::kApiError && status.http_status() == 200 &&
      status.api_code() != 0 && status.api_code() != 500)
    return LockCallOutcome::kFailed;
  return LockCallOutcome::kUnknown;
}

const char* LockCallOutcomeName(LockCallOutcome outcome) {
  switch (outcome) {
    case LockCallOutcome::kOk:
      return "ok";
    case LockCallOutcome::kFailed:
      return "failed";
    case LockCallOutcome::kUnknown:
      break;
  }
  return "unknown";
}

}  // namespace lockpipe
