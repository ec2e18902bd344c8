// Clocks and durations: nanosecond timestamps and human durations ("30s", "10m", "24h", "7d").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace vigil {

// Wall-clock nanoseconds since the Unix epoch.
std::int64_t NowNs();
// Parse "500ms", "30s", "10m", "24h", "7d", "2w" (or a plain number of seconds) into nanoseconds.
Result<std::int64_t> ParseDurationNs(std::string_view text);
// Parse an RFC 3339 time (2026-01-31T12:00:00.5+01:00; no offset: UTC) into ns since the epoch;
// out-of-range fields and years outside 1678-2261 are errors.
Result<std::int64_t> ParseRfc3339Ns(const std::string& text);
// Parse a duration ("10m": that long ago), an RFC 3339 time or a date (2026-01-31: midnight UTC)
// into absolute ns since the epoch.
Result<std::int64_t> ParseSinceNs(std::string_view text, std::int64_t now_ns);
// RFC 3339 with nanoseconds in UTC, e.g. 2026-11-22T15:30:16.123456789Z.
std::string FormatRfc3339(std::int64_t ns);

}  // namespace vigil
