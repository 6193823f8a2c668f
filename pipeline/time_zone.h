// Time zones for rules' time-of-day windows, read from the system's tz
// database without touching the process's TZ or localtime state.
//
// Thread-safety: a TimeZone is immutable and shares its data between copies;
// safe to use from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace lockpipe {

// An IANA time zone read from the system's compiled tz database
// (/usr/share/zoneinfo, or $TZDIR when set), including the POSIX rule at the
// end of the file for instants past its last listed transition. Does not touch
// the process's TZ or localtime state, so it is safe from any thread.
class TimeZone {
 public:
  // UTC.
  TimeZone() = default;
  // Loads "Europe/Berlin", "UTC", "America/New_York", ... Fails with
  // kNotFound when there is no such zone and kCorrupt when the file is not a
  // valid TZif file. Names with "..", a leading '/' or unusual characters are
  // refused (kInvalidArgument): the name is never a way out of the database.
  static Result<TimeZone> Load(const std::string& name);
  // Builds a zone from the bytes of a TZif file (for tests and odd setups).
  static Result<TimeZone> FromTzif(const std::string& name, std::string_view bytes);

  // "UTC" for a default-constructed zone.
  const std::string& name() const;
  // The offset of local time from UTC at `t`, in seconds (east positive:
  // +3600 for Berlin in winter).
  std::int64_t UtcOffsetSeconds(std::chrono::system_clock::time_point t) const;
  // Seconds since local midnight at `t`, in [0, 86400).
  int LocalSecondOfDay(std::chrono::system_clock::time_point t) const;

  struct Data;  // parsed transitions; defined in time_zone.cc

 private:
  explicit TimeZone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

}  // namespace lockpipe
