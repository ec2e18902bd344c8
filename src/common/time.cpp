#include "common/time.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace vigil {

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::int64_t> ParseDurationNs(std::string_view text) {
  if (text.empty()) return Fail("empty duration");
  std::int64_t total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::int64_t number = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), number);
    if (ec != std::errc{} || number < 0)
      return Fail("bad duration '" + std::string(text) +
                  "': expected a number like 30s, 10m, 24h, 7d");
    rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
    std::int64_t unit = 1'000'000'000;
    std::size_t unit_len = 0;
    if (rest.starts_with("ms"))
      unit = 1'000'000, unit_len = 2;
    else if (rest.starts_with("us"))
      unit = 1'000, unit_len = 2;
    else if (rest.starts_with("ns"))
      unit = 1, unit_len = 2;
    else if (rest.starts_with("s"))
      unit_len = 1;
    else if (rest.starts_with("m"))
      unit = 60'000'000'000, unit_len = 1;
    else if (rest.starts_with("h"))
      unit = 3'600'000'000'000, unit_len = 1;
    else if (rest.starts_with("d"))
      unit = 86'400'000'000'000, unit_len = 1;
    else if (rest.starts_with("w"))
      unit = 7 * 86'400'000'000'000, unit_len = 1;
    else if (!rest.empty())
      return Fail("bad duration '" + std::string(text) + "': unknown unit '" + std::string(rest) +
                  "' (use ms, s, m, h, d or w)");
    total += number * unit;
    rest.remove_prefix(unit_len);
  }
  return total;
}

Result<std::int64_t> ParseRfc3339Ns(const std::string& text) {
  int year, mon, day, hour, min, sec;
  char rest[64] = {};
  if (std::sscanf(text.c_str(), "%d-%d-%d%*[T ]%d:%d:%d%63s", &year, &mon, &day, &hour, &min, &sec,
                  rest) < 6)
    return Fail("bad timestamp '" + text + "': expected RFC 3339 (2026-01-31T12:00:00Z)");
  // timegm would take 2026-02-31 for March 3rd.
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  if (mon < 1 || mon > 12 || day < 1 || day > kDays[mon - 1] || (mon == 2 && day == 29 && !leap) ||
      hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60)
    return Fail("bad timestamp '" + text + "': a date or time field is out of range");
  // Nanoseconds since 1970 in 64 bits reach from 1677 to 2262.
  if (year < 1678 || year > 2261)
    return Fail("bad timestamp '" + text + "': year " + std::to_string(year) +
                " is outside 1678-2261");
  std::tm tm{};
  tm.tm_year = year - 1900, tm.tm_mon = mon - 1, tm.tm_mday = day;
  tm.tm_hour = hour, tm.tm_min = min, tm.tm_sec = sec;
  std::int64_t ns = static_cast<std::int64_t>(timegm(&tm)) * 1'000'000'000;
  const char* p = rest;
  if (*p == '.') {
    ++p;
    std::int64_t frac = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (digits < 9) frac = frac * 10 + (*p - '0'), ++digits;
      ++p;
    }
    while (digits++ < 9) frac *= 10;
    ns += frac;
  }
  if (*p == '+' || *p == '-') {
    int oh = 0, om = 0;
    std::sscanf(p + 1, "%d:%d", &oh, &om);
    if (oh < 0 || oh > 23 || om < 0 || om > 59)
      return Fail("bad timestamp '" + text + "': bad UTC offset");
    std::int64_t offset = (oh * 3600LL + om * 60LL) * 1'000'000'000;
    ns += (*p == '+') ? -offset : offset;
  }
  return ns;
}

Result<std::int64_t> ParseSinceNs(std::string_view text, std::int64_t now_ns) {
  if (text.size() >= 10 && text[4] == '-') {
    std::string time(text);
    if (time.size() == 10) time += "T00:00:00Z";  // a date: its midnight, UTC
    return ParseRfc3339Ns(time);
  }
  auto d = ParseDurationNs(text);
  if (!d) return std::unexpected(d.error());
  return now_ns - *d;
}

std::string FormatRfc3339(std::int64_t ns) {
  std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  long frac = static_cast<long>(ns % 1'000'000'000);
  if (frac < 0) frac += 1'000'000'000, secs -= 1;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

}  // namespace vigil
