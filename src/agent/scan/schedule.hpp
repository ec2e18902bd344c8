// When a scan may run: an optional daily window in local time ("01:00-05:00", may cross
// midnight) and a random splay before the start, so a fleet never starts together. Time comes
// from an injectable Clock so tests can run days in microseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "agent/scan/scan_control.hpp"
#include "common/error.hpp"

namespace vigil::agent::scan {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // Sleeps until t (or returns at once when t is past); false when the scan was cancelled.
  virtual bool SleepUntil(TimePoint t, ScanControl& control) const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  bool SleepUntil(TimePoint t, ScanControl& control) const override;
};

// Minutes since local midnight; [start, end). start > end crosses midnight; start == end is
// the whole day.
struct TimeWindow {
  int start_minute = 0;
  int end_minute = 0;
  bool Contains(int minute_of_day) const;
};

// "HH:MM-HH:MM".
Result<TimeWindow> ParseWindow(std::string_view text);

// The local minute of the day of t (localtime_r, so TZ applies).
int LocalMinuteOfDay(TimePoint t);
// The first moment >= now that lies inside the window (now itself when inside).
TimePoint NextWindowOpen(const TimeWindow& window, TimePoint now);

struct Schedule {
  std::optional<TimeWindow> window;
  std::chrono::seconds splay{0};

  // When to start: the next window opening (or now), plus a random delay in [0, splay) taken
  // from `random` (uniform 64-bit value; the caller's RNG, so tests are deterministic).
  TimePoint StartTime(TimePoint now, std::uint64_t random) const;
  // Whether work may proceed at now (inside the window, or no window).
  bool Allows(TimePoint now) const { return !window || window->Contains(LocalMinuteOfDay(now)); }
};

}  // namespace vigil::agent::scan
