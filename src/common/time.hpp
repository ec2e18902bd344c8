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
// Parse a duration ("10m": that long ago), or an RFC 3339 time, into absolute ns since the epoch.
Result<std::int64_t> ParseSinceNs(std::string_view text, std::int64_t now_ns);
// RFC 3339 with nanoseconds in UTC, e.g. 2026-11-22T15:30:16.123456789Z.
std::string FormatRfc3339(std::int64_t ns);

}  // namespace vigil
