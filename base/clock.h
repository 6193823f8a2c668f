// Wall-clock time as the journal, the rules and the lock API record it.
#pragma once

#include <chrono>
#include <cstdint>

namespace lockpipe {

// Milliseconds since the Unix epoch, now (system clock). Thread-safe.
inline std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The system-clock time of `ms` milliseconds since the Unix epoch. A value
// from outside (a batch line, a webhook) may be anything, so it is clamped to
// 1970..2200: before the epoch is the epoch (which the rules read as "time
// unknown"), and what is left keeps any difference with now far inside the
// clock's ±292 years, where subtracting times cannot overflow.
inline std::chrono::system_clock::time_point FromMs(std::int64_t ms) {
  constexpr std::int64_t kYear2200Ms = 7258118400000;
  const std::int64_t clamped = ms < 0 ? 0 : ms > kYear2200Ms ? kYear2200Ms : ms;
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(clamped));
}

}  // namespace lockpipe
