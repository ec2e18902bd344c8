// Scan windows, splay and the system clock; see schedule.hpp.
#include "agent/scan/schedule.hpp"

#include <charconv>
#include <ctime>

namespace vigil::agent::scan {
namespace {

std::optional<int> ParseHhMm(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  int h = -1, m = -1;
  auto hs = s.substr(0, colon), ms = s.substr(colon + 1);
  if (hs.empty() || ms.size() != 2) return std::nullopt;
  if (std::from_chars(hs.data(), hs.data() + hs.size(), h).ptr != hs.data() + hs.size())
    return std::nullopt;
  if (std::from_chars(ms.data(), ms.data() + ms.size(), m).ptr != ms.data() + ms.size())
    return std::nullopt;
  if (h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0)) return std::nullopt;
  return (h * 60 + m) % (24 * 60);
}

}  // namespace

bool SystemClock::SleepUntil(TimePoint t, ScanControl& control) const {
  while (!control.cancelled()) {
    const auto now = Now();
    if (now >= t) return true;
    // Wake at least every minute: the wall clock may jump (NTP, suspend).
    control.SleepFor(std::min<std::chrono::nanoseconds>(t - now, std::chrono::minutes(1)));
  }
  return false;
}

bool TimeWindow::Contains(int minute) const {
  if (start_minute == end_minute) return true;
  if (start_minute < end_minute) return minute >= start_minute && minute < end_minute;
  return minute >= start_minute || minute < end_minute;  // crosses midnight
}

Result<TimeWindow> ParseWindow(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos)
    return Fail("window: expected HH:MM-HH:MM, got '" + std::string(text) + "'");
  auto a = ParseHhMm(text.substr(0, dash)), b = ParseHhMm(text.substr(dash + 1));
  if (!a || !b) return Fail("window: expected HH:MM-HH:MM, got '" + std::string(text) + "'");
  return TimeWindow{*a, *b};
}

int LocalMinuteOfDay(TimePoint t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  return tm.tm_hour * 60 + tm.tm_min;
}

TimePoint NextWindowOpen(const TimeWindow& window, TimePoint now) {
  if (window.Contains(LocalMinuteOfDay(now))) return now;
  const std::time_t tt = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&tt, &tm);
  for (int day = 0; day < 3; ++day) {
    std::tm open = tm;
    open.tm_mday += day;
    open.tm_hour = window.start_minute / 60;
    open.tm_min = window.start_minute % 60;
    open.tm_sec = 0;
    open.tm_isdst = -1;
    const std::time_t t = std::mktime(&open);
    if (t != -1 && std::chrono::system_clock::from_time_t(t) > now)
      return std::chrono::system_clock::from_time_t(t);
  }
  return now;  // unreachable for a valid window
}

TimePoint Schedule::StartTime(TimePoint now, std::uint64_t random) const {
  const TimePoint base = window ? NextWindowOpen(*window, now) : now;
  if (splay.count() <= 0) return base;
  const auto splay_ms = static_cast<std::uint64_t>(splay.count()) * 1000;
  return base + std::chrono::milliseconds(random % splay_ms);
}

}  // namespace vigil::agent::scan
