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

}  // namespace lockpipe
