#include "agent/uplink/reconnect.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace vigil::agent {

std::chrono::milliseconds Backoff::Next(std::chrono::steady_clock::duration lasted) {
  if (lasted > std::chrono::seconds(30)) backoff_ = std::chrono::milliseconds(250);
  auto wait = std::chrono::milliseconds(
      std::uniform_int_distribution<long>(backoff_.count() / 2, backoff_.count())(rng_));
  backoff_ = std::min(backoff_ * 2, max_);
  return wait;
}

void ReconnectLoop::Run(const std::function<std::string()>& session,
                        const std::function<void(const std::string&)>& on_end) const {
  Backoff backoff(max_backoff);
  while (running) {
    auto started = std::chrono::steady_clock::now();
    std::string reason = session();
    if (!running) break;
    if (on_end) on_end(reason);
    auto wait = backoff.Next(std::chrono::steady_clock::now() - started);
    VLOG_WARN("{} to {}: {}; retrying in {} ms", what, server, reason, wait.count());
    std::unique_lock lock(mutex);
    cv.wait_for(lock, wait, [&] { return !running; });
  }
}

}  // namespace vigil::agent
