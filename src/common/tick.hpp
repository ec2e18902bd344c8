// A process-wide grid for periodic wake-ups: threads that wake on the same period and phase wake
// together, so one wake-up of an idle (virtual) CPU serves them all instead of one each. The agent
// puts its eBPF ring reads, the uplink's looks at the spool and the spool's syncs on one grid.
#pragma once

#include <chrono>

namespace vigil {

// The first time point after `now` whose steady_clock time is `offset` modulo `period`.
inline std::chrono::steady_clock::time_point NextTick(std::chrono::steady_clock::time_point now,
                                                      std::chrono::milliseconds period,
                                                      std::chrono::milliseconds offset = {}) {
  using std::chrono::steady_clock;
  if (period.count() <= 0) return now;
  auto since = now.time_since_epoch() - offset;
  auto k = since / period;  // whole periods since the grid's origin
  auto next = steady_clock::time_point(offset + (k + 1) * period);
  while (next <= now) next += period;  // (negative `since` rounds towards zero)
  return next;
}

}  // namespace vigil
