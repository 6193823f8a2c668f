// Minimal leveled logging to stderr, one whole line per call (thread-safe).
// Never pass a secret: log identifiers, sizes and outcomes, not keys or tokens.
#pragma once

#include <string>

namespace lockpipe::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kQuiet = 4 };

void SetLevel(Level level);
Level GetLevel();
void Write(Level level, const std::string& message);

inline void Debug(const std::string& m) { Write(Level::kDebug, m); }
inline void Info(const std::string& m) { Write(Level::kInfo, m); }
inline void Warn(const std::string& m) { Write(Level::kWarn, m); }
inline void Error(const std::string& m) { Write(Level::kError, m); }

}  // namespace lockpipe::log
