// The last few processes that exited, each with what was known of it, found by pid and start
// ticks. Records of a process's children can come after its exit was read (a vfork parent resumes
// when the child's exec switches memory, before the exec's record is written; a daemon's double
// fork), and still need the parent's facts. Bounded: the oldest is dropped past `capacity`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

namespace vigil {

// Value has a `start_ticks` member comparable with the ticks given to Find().
template <typename Value>
class RecentExits {
 public:
  explicit RecentExits(std::size_t capacity) : capacity_(capacity) {}

  Value& Add(std::int64_t pid, Value value) {
    exits_.emplace_back(pid, std::move(value));
    if (exits_.size() > capacity_) exits_.pop_front();
    return exits_.back().second;
  }

  // The newest exited process with this pid and start ticks, or nullptr.
  template <typename Ticks>
  const Value* Find(std::int64_t pid, const Ticks& start_ticks) const {
    for (auto it = exits_.rbegin(); it != exits_.rend(); ++it)
      if (it->first == pid && it->second.start_ticks == start_ticks) return &it->second;
    return nullptr;
  }

  std::size_t size() const { return exits_.size(); }

 private:
  std::size_t capacity_;
  std::deque<std::pair<std::int64_t, Value>> exits_;  // oldest first
};

}  // namespace vigil
