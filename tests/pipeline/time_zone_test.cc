// Time zones: TZif files read right across DST changes and past their last
// transition (the POSIX footer), and bad names and files refused.
#include "pipeline/time_zone.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/testutil.h"

namespace lockpipe {
namespace {

using std::chrono::sys_days;

bool HaveZone(const std::string& name) {
  return lockpipe::testing::FileExists("/usr/share/zoneinfo/" + name);
}

std::chrono::system_clock::time_point Utc(int y, unsigned m, unsigned d, int hh, int mm,
                                          int ss = 0) {
  return sys_days(std::chrono::year(y) / std::chrono::month(m) / std::chrono::day(d)) +
         std::chrono::hours(hh) + std::chrono::minutes(mm) + std::chrono::seconds(ss);
}

TEST(TimeZoneTest, BerlinAcrossDst) {
  if (!HaveZone("Europe/Berlin")) GTEST_SKIP() << "no tz database in /usr/share/zoneinfo";
  auto z = TimeZone::Load("Europe/Berlin");
  ASSERT_OK_R(z);
  EXPECT_EQ(z->name(), "Europe/Berlin");
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2026, 1, 15, 12, 0)), 3600);
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2026, 7, 15, 12, 0)), 7200);
  // 2026-03-29 01:00 UTC: clocks go from 02:00 CET to 03:00 CEST.
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2026, 3, 29, 0, 59, 59)), 3600);
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2026, 3, 29, 1, 0, 0)), 7200);
  // 2026-10-25 01:00 UTC: back to CET.
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2026, 10, 25, 0, 59, 59)), 7200);
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2026, 10, 25, 1, 0, 0)), 3600);
  EXPECT_EQ(z->LocalSecondOfDay(Utc(2026, 7, 15, 23, 30)), 3600 + 1800);  // 01:30 next day
  // Past the file's last transition the POSIX footer rule takes over.
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2060, 7, 1, 12, 0)), 7200);
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2060, 12, 1, 12, 0)), 3600);
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2060, 3, 28, 0, 59)), 3600);  // last Sunday of March 2060
  EXPECT_EQ(z->UtcOffsetSeconds(Utc(2060, 3, 28, 1, 0)), 7200);
}

TEST(TimeZoneTest, OtherZones) {
  if (!HaveZone("America/New_York") || !HaveZone("Australia/Sydney") || !HaveZone("Asia/Kolkata") ||
      !HaveZone("UTC")) {
    GTEST_SKIP() << "no tz database in /usr/share/zoneinfo";
  }
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_OK_R(ny);
  EXPECT_EQ(ny->UtcOffsetSeconds(Utc(2026, 1, 15, 12, 0)), -5 * 3600);
  EXPECT_EQ(ny->UtcOffsetSeconds(Utc(2026, 7, 15, 12, 0)), -4 * 3600);
  EXPECT_EQ(ny->UtcOffsetSeconds(Utc(2070, 7, 15, 12, 0)), -4 * 3600);
  EXPECT_EQ(ny->LocalSecondOfDay(Utc(2026, 1, 15, 3, 0)), 22 * 3600);  // previous day 22:00
  auto syd = TimeZone::Load("Australia/Sydney");  // southern hemisphere: DST over new year
  ASSERT_OK_R(syd);
  EXPECT_EQ(syd->UtcOffsetSeconds(Utc(2026, 1, 15, 12, 0)), 11 * 3600);
  EXPECT_EQ(syd->UtcOffsetSeconds(Utc(2026, 7, 15, 12, 0)), 10 * 3600);
  EXPECT_EQ(syd->UtcOffsetSeconds(Utc(2070, 1, 15, 12, 0)), 11 * 3600);
  EXPECT_EQ(syd->UtcOffsetSeconds(Utc(2070, 7, 15, 12, 0)), 10 * 3600);
  auto kol = TimeZone::Load("Asia/Kolkata");
  ASSERT_OK_R(kol);
  EXPECT_EQ(kol->UtcOffsetSeconds(Utc(2026, 1, 15, 12, 0)), 5 * 3600 + 1800);
  EXPECT_EQ(kol->UtcOffsetSeconds(Utc(2070, 1, 15, 12, 0)), 5 * 3600 + 1800);
  auto utc = TimeZone::Load("UTC");
  ASSERT_OK_R(utc);
  EXPECT_EQ(utc->UtcOffsetSeconds(Utc(2026, 7, 15, 12, 0)), 0);
  TimeZone def;
  EXPECT_EQ(def.name(), "UTC");
  EXPECT_EQ(def.LocalSecondOfDay(Utc(2026, 7, 15, 12, 34, 56)), 12 * 3600 + 34 * 60 + 56);
}

TEST(TimeZoneTest, RefusesBadNamesAndFiles) {
  EXPECT_EQ(TimeZone::Load("../etc/passwd").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TimeZone::Load("/etc/localtime").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TimeZone::Load("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TimeZone::Load("Nowhere/Atlantis").status().code(), StatusCode::kNotFound);
  auto junk = TimeZone::FromTzif("Junk", "not a tz file at all, just text padding it out");
  EXPECT_EQ(junk.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(junk.status().message(), "time zone 'Junk': not a valid TZif file: no TZif header");
  if (!HaveZone("Europe/Berlin")) GTEST_SKIP() << "no tz database in /usr/share/zoneinfo";
  auto bytes = lockpipe::testing::ReadFile("/usr/share/zoneinfo/Europe/Berlin");
  const std::string full(bytes.begin(), bytes.end());
  // Every truncation is refused cleanly or still reads (the footer is optional).
  for (std::size_t n = 0; n < full.size(); n += 7) {
    auto z = TimeZone::FromTzif("Cut", std::string_view(full).substr(0, n));
    if (!z.ok()) {
      EXPECT_EQ(z.status().code(), StatusCode::kCorrupt);
    }
  }
  EXPECT_TRUE(TimeZone::FromTzif("Berlin", full).ok());
}

}  // namespace
}  // namespace lockpipe
