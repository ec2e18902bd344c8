// Retrying the agent's connection to the server and its calls: exponential backoff with jitter (so
// a fleet does not reconnect in lockstep after a server restart), and the uplink's reconnect loop.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

namespace vigil::agent {

// 250 ms doubling up to max, each wait drawn from [half, all] of it; an attempt that lasted 30 s
// starts over at 250 ms.
class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds max) : max_(max) {}
  // The wait before the next attempt, after one that lasted `lasted`.
  std::chrono::milliseconds Next(std::chrono::steady_clock::duration lasted);

 private:
  std::chrono::milliseconds max_;
  std::chrono::milliseconds backoff_{250};
  std::mt19937_64 rng_{std::random_device{}()};
};

struct ReconnectLoop {
  std::string_view what;    // for the log: "uplink", "command channel"
  std::string_view server;  // host:port
  std::chrono::milliseconds max_backoff{30000};
  // Stop() sets `running` false under `mutex` and notifies `cv`: the wait between sessions ends.
  std::atomic<bool>& running;
  std::mutex& mutex;
  std::condition_variable& cv;

  // session() runs one connection's life and returns why it ended; on_end (may be empty) sees that
  // reason before the wait.
  void Run(const std::function<std::string()>& session,
           const std::function<void(const std::string&)>& on_end = {}) const;
};

}  // namespace vigil::agent
