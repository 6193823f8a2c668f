// Minimal leveled logging to stderr, one whole line per call (thread-safe).
// Never pass a secret: log identifiers, sizes and outcomes, not keys or tokens.
#pragma once

#include <string>
#include <string_view>

namespace lockpipe {

// Text bound for a person's terminal with its control characters (C0 but
// newline and tab, DEL, and UTF-8 C1) shown as \xNN: a device id, rule name or
// error that came from a webhook, a list or the journal cannot clear, recolour
// or rewrite the screen. The log does this to every line; CLIs to what they
// print for people (never to JSON, which escapes them itself).
std::string Printable(std::string_view text);

}  // namespace lockpipe

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
