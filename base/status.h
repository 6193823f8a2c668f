// Status and Result<T>: how every lockpipe module reports failure.
//
// No exception crosses a module boundary. A function that can fail returns a
// Status (or a Result<T> holding either a value or a non-OK Status). The
// message is for a person: it names the file, device, endpoint or library call
// and says what is wrong. Secrets never go into a message.
//
// Thread-safety: values; safe to copy and move between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace lockpipe {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // the caller's input is wrong (bad key length, bad flag)
  kNotFound,          // a file, device or resource does not exist
  kIoError,           // reading or writing failed
  kCorrupt,           // data is malformed (short header, bad padding, bad JSON)
  kUnsupported,       // valid but not something we (or the lock type) can do
  kNetwork,           // could not reach or talk to a server
  kApiError,          // the server answered with an error (see api_code)
  kPermissionDenied,  // credentials or file permissions refuse the operation
  kTimeout,
  kCancelled,
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // For API errors: the HTTP status (0 when none) and Tuya's numeric `code`
  // (0 when none).
  int http_status() const { return http_status_; }
  std::int64_t api_code() const { return api_code_; }
  Status& set_http_status(int s) {
    http_status_ = s;
    return *this;
  }
  Status& set_api_code(std::int64_t c) {
    api_code_ = c;
    return *this;
  }
  // True when the failed request provably never left this machine: the
  // connection failed before a byte of it was sent (name not resolved,
  // connection refused, TLS handshake refused, malformed URL), the access
  // token for it could not be obtained, or a local check refused it. Set only
  // where that is certain: a request that may have reached the server (a
  // timeout, a reset, a garbled answer) never carries it, so a caller may
  // treat it as "nothing happened". Copied by WithContext.
  bool request_not_sent() const { return request_not_sent_; }
  Status& set_request_not_sent(bool not_sent = true) {
    request_not_sent_ = not_sent;
    return *this;
  }

  // Returns a copy whose message is "context: message".
  Status WithContext(const std::string& context) const;

  // The message for a person: "ok" for OK, the code's name when the message is
  // empty. Holds nothing secret, since no message is built from a secret.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  int http_status_ = 0;
  std::int64_t api_code_ = 0;
  bool request_not_sent_ = false;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status Corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status NetworkError(std::string m) { return {StatusCode::kNetwork, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status TimeoutError(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }
inline Status PermissionDenied(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}

// Either a T or a non-OK Status. Constructing from an OK Status is a bug and
// is turned into kInternal so that it can never be mistaken for success.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = InternalError("Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace lockpipe

#define LOCKPIPE_CONCAT_INNER(a, b) a##b
#define LOCKPIPE_CONCAT(a, b) LOCKPIPE_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)        \
  do {                               \
    ::lockpipe::Status _st = (expr); \
    if (!_st.ok()) return _st;       \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Foo()); declares x from a Result or returns its error.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL(LOCKPIPE_CONCAT(_res_, __LINE__), lhs, rexpr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                          \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
