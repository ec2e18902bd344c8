// Throttling of console logins against password guessing: failed attempts are counted per source
// address and per user name; past a few free failures, every further attempt on that key must
// wait an exponentially growing delay (1 s, 2 s, 4 s ... capped), which the login route answers
// with 429 and Retry-After. A successful login clears its user's count; an address's count is
// forgotten after a quiet period, so one valid account cannot launder guesses against another.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace vigil::server {

class LoginLimiter {
 public:
  struct Options {
    int free_failures = 5;                       // failures per key before any delay
    std::chrono::seconds base_delay{1};          // the first delay, doubled per failure after
    std::chrono::seconds max_delay{15 * 60};     // the longest delay
    std::chrono::seconds forget_after{15 * 60};  // a key without failures that long starts over
  };
  using Clock = std::function<std::int64_t()>;  // now, in ns

  LoginLimiter();
  LoginLimiter(Options options, Clock now);

  // 0 when an attempt for user from address may be checked now, else the whole seconds to wait.
  std::int64_t RetryAfterSeconds(const std::string& address, const std::string& user);
  void Failed(const std::string& address, const std::string& user);
  void Succeeded(const std::string& user);

 private:
  struct Entry {
    int failures = 0;
    std::int64_t last_failure_ns = 0;
    std::int64_t blocked_until_ns = 0;
  };
  void Fail(const std::string& key, std::int64_t now);
  std::int64_t Wait(const std::string& key, std::int64_t now) const;
  void Sweep(std::int64_t now);

  Options options_;
  Clock now_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // "a:" + address, "u:" + user
  std::size_t sweep_at_ = 1024;                     // entries before the next sweep
};

}  // namespace vigil::server
