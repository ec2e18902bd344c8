#include "agent/uplink/reconnect.hpp"

#include <algorithm>
#include <random>

#include "common/log.hpp"

namespace vigil::agent {

void ReconnectLoop::Run(const std::function<std::string()>& session,
                        const std::function<void(const std::string&)>& on_end) const {
  std::mt19937_64 rng(std::random_device{}());
  auto backoff = std::chrono::milliseconds(250);
  while (running) {
    auto started = std::chrono::steady_clock::now();
    std::string reason = session();
    if (!running) break;
    if (on_end) on_end(reason);
    // A session that lasted a while resets the backoff; a failing one doubles it.
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(30))
      backoff = std::chrono::milliseconds(250);
    auto jittered = std::chrono::milliseconds(
        std::uniform_int_distribution<long>(backoff.count() / 2, backoff.count())(rng));
    VLOG_WARN("{} to {}: {}; retrying in {} ms", what, server, reason, jittered.count());
    std::unique_lock lock(mutex);
    cv.wait_for(lock, jittered, [&] { return !running; });
    backoff = std::min(backoff * 2, max_backoff);
  }
}

}  // namespace vigil::agent
