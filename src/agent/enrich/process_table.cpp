// ProcessTable: list + hash map LRU.
#include "agent/enrich/process_table.hpp"

namespace vigil::agent {

ProcessTable::ProcessTable(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  index_.reserve(capacity_ < 65536 ? capacity_ : 65536);
}

ProcessInfo* ProcessTable::Find(std::int64_t pid) {
  auto it = index_.find(pid);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->second;
}

ProcessInfo& ProcessTable::Upsert(std::int64_t pid) {
  if (ProcessInfo* found = Find(pid)) return *found;
  while (index_.size() >= capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
    ++evictions_;
  }
  lru_.emplace_front(pid, ProcessInfo{});
  index_.emplace(pid, lru_.begin());
  return lru_.front().second;
}

void ProcessTable::Erase(std::int64_t pid) {
  auto it = index_.find(pid);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

std::optional<std::int64_t> ProcessTable::FindEntity(std::string_view entity_id) const {
  for (const auto& [pid, info] : lru_)
    if (info.entity_id == entity_id) return pid;
  return std::nullopt;
}

}  // namespace vigil::agent
