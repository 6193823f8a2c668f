// Secret: a byte string that must never reach a log, an error or a report.
//
// It has no operator<< and no implicit conversion to std::string; the bytes
// are reachable only through reveal(), which makes every use greppable. The
// buffer is wiped when the Secret is destroyed or reassigned.
//
// Thread-safety: a value type; const access from several threads is safe.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace lockpipe {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret& other) = default;
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.Wipe(); }
  Secret& operator=(const Secret& other) {
    if (this != &other) {
      Wipe();
      value_ = other.value_;
    }
    return *this;
  }
  Secret& operator=(Secret&& other) noexcept {
    if (this != &other) {
      Wipe();
      value_ = std::move(other.value_);
      other.Wipe();
    }
    return *this;
  }
  ~Secret() { Wipe(); }

  bool empty() const { return value_.empty(); }
  std::size_t size() const { return value_.size(); }
  const std::string& reveal() const { return value_; }

  // What to print instead of the value.
  static constexpr std::string_view kRedacted = "<redacted>";

 private:
  void Wipe();
  std::string value_;
};

// Where a secret comes from on the command line: exactly one of a literal
// value, a file (first line, trailing newline removed) or an environment
// variable. `what` names the secret in errors ("media key").
struct SecretSource {
  std::string literal;
  std::string file;
  std::string env;
};
Result<Secret> LoadSecret(const SecretSource& source, const std::string& what);

}  // namespace lockpipe
