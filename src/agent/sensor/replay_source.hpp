// Replay of a recorded JSON Lines file (one event object per line, as written by EventToJson):
// for tests, demos and offline imports. A malformed line is counted and skipped, never fatal.
#pragma once

#include <filesystem>
#include <memory>

#include "agent/sensor/event_source.hpp"
#include "common/error.hpp"

namespace vigil::agent {

struct ReplayOptions {
  std::filesystem::path file;
  double events_per_second = 0;  // 0 = as fast as possible
};

// Kind() == "replay". Fails when the file cannot be opened. Done() turns true once the last line
// has been delivered (or the replay was stopped).
Result<std::unique_ptr<EventSource>> MakeReplaySource(const ReplayOptions& options);

}  // namespace vigil::agent
