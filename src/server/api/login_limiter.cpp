// Login throttling per source address and user name (see login_limiter.hpp).
#include "server/api/login_limiter.hpp"

#include <algorithm>

#include "common/time.hpp"

namespace vigil::server {

LoginLimiter::LoginLimiter() : LoginLimiter(Options{}, [] { return NowNs(); }) {}

LoginLimiter::LoginLimiter(Options options, Clock now) : options_(options), now_(std::move(now)) {}

std::int64_t LoginLimiter::Wait(const std::string& key, std::int64_t now) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.blocked_until_ns <= now) return 0;
  const std::int64_t ns = it->second.blocked_until_ns - now;
  return (ns + 999'999'999) / 1'000'000'000;  // rounded up: never invite an early retry
}

std::int64_t LoginLimiter::RetryAfterSeconds(const std::string& address, const std::string& user) {
  std::lock_guard lock(mu_);
  const std::int64_t now = now_();
  return std::max(Wait("a:" + address, now), Wait("u:" + user, now));
}

void LoginLimiter::Fail(const std::string& key, std::int64_t now) {
  Entry& e = entries_[key];
  const std::int64_t forget = std::chrono::nanoseconds(options_.forget_after).count();
  if (e.failures > 0 && now - e.last_failure_ns > forget && e.blocked_until_ns <= now)
    e.failures = 0;
  ++e.failures;
  e.last_failure_ns = now;
  const int over = e.failures - options_.free_failures;
  if (over <= 0) return;
  // base * 2^(over-1), capped (the shift is bounded so it cannot overflow).
  const std::int64_t base = std::chrono::nanoseconds(options_.base_delay).count();
  const std::int64_t max = std::chrono::nanoseconds(options_.max_delay).count();
  const int shift = std::min(over - 1, 40);
  const std::int64_t delay = base > (max >> shift) ? max : std::min(max, base << shift);
  e.blocked_until_ns = now + delay;
}

void LoginLimiter::Failed(const std::string& address, const std::string& user) {
  std::lock_guard lock(mu_);
  const std::int64_t now = now_();
  Fail("a:" + address, now);
  Fail("u:" + user, now);
  if (entries_.size() >= sweep_at_) Sweep(now);
}

void LoginLimiter::Succeeded(const std::string& user) {
  std::lock_guard lock(mu_);
  entries_.erase("u:" + user);
}

// Drops keys that are neither blocked nor remembered any more, so guesses over many user names
// or addresses cannot grow the map without bound.
void LoginLimiter::Sweep(std::int64_t now) {
  const std::int64_t forget = std::chrono::nanoseconds(options_.forget_after).count();
  std::erase_if(entries_, [&](const auto& kv) {
    return kv.second.blocked_until_ns <= now && now - kv.second.last_failure_ns > forget;
  });
  sweep_at_ = std::max<std::size_t>(1024, entries_.size() * 2);
}

}  // namespace vigil::server
