// The enricher's memory of live processes: pid -> identity and names, a bounded LRU so a fork bomb
// or missed exit events cannot grow it without limit. Used by one thread (the pipeline).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace vigil::agent {

struct ProcessInfo {
  std::string entity_id;
  std::optional<std::uint64_t> start_ticks;
  std::int64_t ppid = 0;
  std::string name;
  std::string executable;
  std::string command_line;
  std::int64_t start_ns = 0;
};

class ProcessTable {
 public:
  explicit ProcessTable(std::size_t capacity);

  // The entry of pid (marked most recently used), or nullptr. The pointer stays valid until the
  // entry is erased or evicted.
  ProcessInfo* Find(std::int64_t pid);
  // The entry of pid, created empty when missing; evicts the least recently used entry when full.
  ProcessInfo& Upsert(std::int64_t pid);
  void Erase(std::int64_t pid);
  // The pid of the entry with this entity id (a linear scan: for rare lookups, e.g. a kill).
  std::optional<std::int64_t> FindEntity(std::string_view entity_id) const;

  std::size_t size() const { return index_.size(); }
  std::size_t capacity() const { return capacity_; }
  std::uint64_t evictions() const { return evictions_; }

 private:
  using Lru = std::list<std::pair<std::int64_t, ProcessInfo>>;
  std::size_t capacity_;
  Lru lru_;  // most recently used first
  std::unordered_map<std::int64_t, Lru::iterator> index_;
  std::uint64_t evictions_ = 0;
};

}  // namespace vigil::agent
