// Pieces every threaded event source shares: asking whether Stop() was requested (an eventfd the
// source polls with its input), waking and joining the thread, and delivering an event to the sink,
// counted, without letting a throwing sink kill the source's thread.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string_view>
#include <thread>
#include <utility>

#include "agent/sensor/event_source.hpp"
#include "common/log.hpp"

namespace vigil::agent {

inline bool WakeRequested(int wake_fd) {
  pollfd p{wake_fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// Wakes the source's thread through its eventfd and joins it.
inline void WakeAndJoin(int wake_fd, std::thread& thread, std::string_view source) {
  if (!thread.joinable()) return;
  std::uint64_t one = 1;
  if (::write(wake_fd, &one, sizeof one) < 0)
    VLOG_WARN("{} source: wake: {}", source, std::strerror(errno));
  thread.join();
}

inline void DeliverEvent(const EventSink& sink, std::atomic<std::uint64_t>& events,
                         std::string_view source, v1::Event&& e) {
  events.fetch_add(1, std::memory_order_relaxed);
  try {
    sink(std::move(e));
  } catch (const std::exception& ex) {
    VLOG_ERROR("{} source: sink: {}", source, ex.what());
  }
}

}  // namespace vigil::agent
