// The reconnect loop shared by the agent's connections to the server (event uplink, command
// channel): runs one session after another until stopped, waiting between them with exponential
// backoff and jitter so that a fleet does not reconnect in lockstep after a server restart.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace vigil::agent {

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
