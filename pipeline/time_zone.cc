// TimeZone: a TZif (RFC 8536) reader, with the POSIX TZ rule of its footer.
#include "pipeline/time_zone.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace lockpipe {

namespace {

// The POSIX TZ rule in a TZif footer ("CET-1CEST,M3.5.0,M10.5.0/3"): it
// describes every instant after the file's last transition.
struct PosixRule {
  struct Date {
    char form = 'M';  // 'J' (1..365, no Feb 29), 'D' (0..365), 'M' (month.week.day)
    int a = 0, b = 0, c = 0;
    std::int64_t time = 7200;  // seconds after local midnight (may be < 0 or > 24 h)
  };
  std::int64_t std_offset = 0;  // east positive
  bool has_dst = false;
  std::int64_t dst_offset = 0;
  Date start, end;
};

}  // namespace

struct TimeZone::Data {
  std::string name;
  std::vector<std::int64_t> transitions;  // UTC seconds, ascending
  std::vector<std::uint8_t> transition_types;
  std::vector<std::int32_t> type_offsets;  // utoff of each local time type
  std::optional<PosixRule> footer;
};

namespace {

class ByteReader {
 public:
  explicit ByteReader(std::string_view b) : b_(b) {}
  bool Has(std::size_t n) const { return b_.size() - pos_ >= n; }
  std::size_t pos() const { return pos_; }
  void Skip(std::size_t n) { pos_ += n; }
  std::uint8_t U8() { return static_cast<std::uint8_t>(b_[pos_++]); }
  std::uint32_t U32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | U8();
    return v;
  }
  std::int64_t I64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | U8();
    return static_cast<std::int64_t>(v);
  }
  std::string_view Rest() const { return b_.substr(pos_); }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
};

// Parses [+-]hh[:mm[:ss]] at s[i...]; hours up to 167 (RFC 8536 extension).
bool ParsePosixTime(std::string_view s, std::size_t& i, std::int64_t& out) {
  int sign = 1;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
  std::int64_t parts[3] = {0, 0, 0};
  for (int p = 0; p < 3; ++p) {
    if (p > 0) {
      if (i >= s.size() || s[i] != ':') break;
      ++i;
    }
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
      parts[p] = parts[p] * 10 + (s[i] - '0');
      ++i;
    }
    if (i == start) return false;
  }
  if (parts[0] > 167 || parts[1] > 59 || parts[2] > 59) return false;
  out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  return true;
}

bool ParsePosixName(std::string_view s, std::size_t& i) {
  if (i < s.size() && s[i] == '<') {
    std::size_t close = s.find('>', i);
    if (close == std::string_view::npos) return false;
    i = close + 1;
    return true;
  }
  std::size_t start = i;
  while (i < s.size() && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
  return i - start >= 3;
}

bool ParseInt(std::string_view s, std::size_t& i, int& out) {
  std::size_t start = i;
  out = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 4)
    out = out * 10 + (s[i++] - '0');
  return i > start;
}

bool ParsePosixDate(std::string_view s, std::size_t& i, PosixRule::Date& d) {
  if (i < s.size() && s[i] == 'M') {
    ++i;
    d.form = 'M';
    if (!ParseInt(s, i, d.a) || i >= s.size() || s[i++] != '.') return false;
    if (!ParseInt(s, i, d.b) || i >= s.size() || s[i++] != '.') return false;
    if (!ParseInt(s, i, d.c)) return false;
    if (d.a < 1 || d.a > 12 || d.b < 1 || d.b > 5 || d.c > 6) return false;
  } else if (i < s.size() && s[i] == 'J') {
    ++i;
    d.form = 'J';
    if (!ParseInt(s, i, d.a) || d.a < 1 || d.a > 365) return false;
  } else {
    d.form = 'D';
    if (!ParseInt(s, i, d.a) || d.a > 365) return false;
  }
  d.time = 7200;
  if (i < s.size() && s[i] == '/') {
    ++i;
    if (!ParsePosixTime(s, i, d.time)) return false;
  }
  return true;
}

std::optional<PosixRule> ParsePosixRule(std::string_view s) {
  PosixRule r;
  std::size_t i = 0;
  if (!ParsePosixName(s, i)) return std::nullopt;
  std::int64_t west = 0;
  if (!ParsePosixTime(s, i, west)) return std::nullopt;
  r.std_offset = -west;  // POSIX counts hours west of Greenwich
  if (i == s.size()) return r;
  if (!ParsePosixName(s, i)) return std::nullopt;
  r.has_dst = true;
  r.dst_offset = r.std_offset + 3600;
  if (i < s.size() && s[i] != ',') {
    if (!ParsePosixTime(s, i, west)) return std::nullopt;
    r.dst_offset = -west;
  }
  // zic always writes the rule; a DST zone without one is not something a
  // TZif footer contains, so it is refused rather than guessed.
  if (i >= s.size() || s[i++] != ',') return std::nullopt;
  if (!ParsePosixDate(s, i, r.start) || i >= s.size() || s[i++] != ',') return std::nullopt;
  if (!ParsePosixDate(s, i, r.end) || i != s.size()) return std::nullopt;
  return r;
}

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Days since 1970-01-01 of local midnight of the rule's date in `year`.
std::int64_t RuleDay(const PosixRule::Date& d, int year) {
  using namespace std::chrono;
  const bool leap = std::chrono::year(year).is_leap();
  const sys_days jan1 = sys_days(std::chrono::year(year) / January / 1);
  std::int64_t day = jan1.time_since_epoch().count();
  switch (d.form) {
    case 'J':
      // Jn: February 29 is never counted.
      return day + d.a - 1 + ((leap && d.a >= 60) ? 1 : 0);
    case 'D':
      return day + d.a;
    default: {
      const auto m = std::chrono::month(static_cast<unsigned>(d.a));
      const sys_days first = sys_days(std::chrono::year(year) / m / 1);
      const unsigned first_wd = weekday(first).c_encoding();
      std::int64_t dom = (d.c - static_cast<int>(first_wd) + 7) % 7;  // 0-based first match
      dom += 7 * (d.b - 1);
      const auto month_end = year_month_day_last(std::chrono::year(year) / m / std::chrono::last);
      const std::int64_t days_in_month = static_cast<unsigned>(month_end.day());
      while (dom >= days_in_month) dom -= 7;
      return first.time_since_epoch().count() + dom;
    }
  }
}

std::int64_t PosixOffset(const PosixRule& r, std::int64_t t) {
  if (!r.has_dst) return r.std_offset;
  using namespace std::chrono;
  const std::int64_t local_day = FloorDiv(t + r.std_offset, 86400);
  const int year = static_cast<int>(year_month_day(sys_days(days(local_day))).year());
  // Start is given in standard local time, end in daylight local time.
  const std::int64_t start = RuleDay(r.start, year) * 86400 + r.start.time - r.std_offset;
  const std::int64_t end = RuleDay(r.end, year) * 86400 + r.end.time - r.dst_offset;
  const bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? r.dst_offset : r.std_offset;
}

bool IsSafeZoneName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("..") != std::string::npos || name.find("//") != std::string::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '-' || c == '+';
  });
}

}  // namespace

Result<TimeZone> TimeZone::FromTzif(const std::string& name, std::string_view bytes) {
  auto corrupt = [&](const std::string& what) {
    return Corrupt("time zone '" + name + "': not a valid TZif file: " + what);
  };
  ByteReader r(bytes);
  auto read_header = [&](std::array<std::uint32_t, 6>& counts, char& version) -> bool {
    if (!r.Has(44) || r.Rest().substr(0, 4) != "TZif") return false;
    r.Skip(4);
    version = static_cast<char>(r.U8());
    r.Skip(15);
    for (auto& c : counts) c = r.U32();
    return true;
  };
  std::array<std::uint32_t, 6> c{};  // isutcnt isstdcnt leapcnt timecnt typecnt charcnt
  char version = 0;
  if (!read_header(c, version)) return corrupt("no TZif header");
  auto data_size = [&](std::size_t time_size) {
    return std::size_t{c[3]} * time_size + c[3] + std::size_t{c[4]} * 6 + c[5] +
           std::size_t{c[2]} * (time_size + 4) + c[1] + c[0];
  };
  std::size_t time_size = 4;
  if (version >= '2') {
    // Skip the 32-bit block: the 64-bit one after the second header is complete.
    if (!r.Has(data_size(4))) return corrupt("truncated version 1 data");
    r.Skip(data_size(4));
    if (!read_header(c, version)) return corrupt("no second TZif header");
    time_size = 8;
  }
  if (c[4] == 0 || c[4] > 256 || c[3] > 100000 || c[5] > 65536) return corrupt("bad counts");
  if (!r.Has(data_size(time_size))) return corrupt("truncated data");
  auto data = std::make_shared<Data>();
  data->name = name;
  data->transitions.reserve(c[3]);
  for (std::uint32_t i = 0; i < c[3]; ++i) {
    data->transitions.push_back(time_size == 8 ? r.I64() : static_cast<std::int32_t>(r.U32()));
  }
  for (std::uint32_t i = 0; i < c[3]; ++i) {
    const std::uint8_t t = r.U8();
    if (t >= c[4]) return corrupt("transition type out of range");
    data->transition_types.push_back(t);
  }
  for (std::uint32_t i = 0; i < c[4]; ++i) {
    data->type_offsets.push_back(static_cast<std::int32_t>(r.U32()));
    r.Skip(2);  // isdst, desigidx
  }
  if (!std::is_sorted(data->transitions.begin(), data->transitions.end())) {
    return corrupt("transitions out of order");
  }
  r.Skip(c[5] + std::size_t{c[2]} * (time_size + 4) + c[1] + c[0]);
  if (time_size == 8) {
    std::string_view rest = r.Rest();
    if (rest.size() >= 2 && rest.front() == '\n') {
      const std::size_t nl = rest.find('\n', 1);
      if (nl == std::string_view::npos) return corrupt("unterminated footer");
      const std::string_view tz = rest.substr(1, nl - 1);
      if (!tz.empty()) {
        data->footer = ParsePosixRule(tz);
        if (!data->footer) return corrupt("unreadable POSIX rule '" + std::string(tz) + "'");
      }
    }
  }
  return TimeZone(std::move(data));
}

Result<TimeZone> TimeZone::Load(const std::string& name) {
  if (!IsSafeZoneName(name)) {
    return InvalidArgument("'" + name + "' is not a time zone name (like \"Europe/Berlin\")");
  }
  const char* env_dir = std::getenv("TZDIR");
  const std::string dir = env_dir != nullptr && *env_dir != '\0' ? env_dir : "/usr/share/zoneinfo";
  const std::string path = dir + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFound("unknown time zone '" + name + "' (no " + path + ")");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return IoError("reading time zone file " + path + " failed");
  return FromTzif(name, buf.str());
}

const std::string& TimeZone::name() const {
  static const std::string kUtc = "UTC";
  return data_ ? data_->name : kUtc;
}

std::int64_t TimeZone::UtcOffsetSeconds(std::chrono::system_clock::time_point t) const {
  if (!data_) return 0;
  const std::int64_t s = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  const auto& tr = data_->transitions;
  if (tr.empty() || s < tr.front()) {
    // RFC 8536: before the first transition, time type 0 applies; a file with
    // no transitions at all is described by its footer when it has one.
    if (tr.empty() && data_->footer) return PosixOffset(*data_->footer, s);
    return data_->type_offsets.front();
  }
  if (s >= tr.back() && data_->footer) return PosixOffset(*data_->footer, s);
  const auto it = std::upper_bound(tr.begin(), tr.end(), s);
  const auto idx = static_cast<std::size_t>(it - tr.begin()) - 1;
  return data_->type_offsets[data_->transition_types[idx]];
}

int TimeZone::LocalSecondOfDay(std::chrono::system_clock::time_point t) const {
  const std::int64_t s =
      std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count() + UtcOffsetSeconds(t);
  return static_cast<int>(s - FloorDiv(s, 86400) * 86400);
}

}  // namespace lockpipe
