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

// The system-clock time of `ms` milliseconds since the Unix epoch (0: the epoch).
inline std::chrono::system_clock::time_point FromMs(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace lockpipe
