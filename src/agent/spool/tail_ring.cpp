#include "agent/spool/tail_ring.hpp"

#include <cstring>
#include <string>

namespace vigil::agent {

bool TailRing::FindRoom(std::size_t size, std::size_t& offset, bool& wraps) const {
  wraps = false;
  if (entries_.empty()) {
    offset = 0;
    return size <= capacity_;
  }
  const std::size_t front = entries_.front().offset;
  // Wrapped: the held bytes are [front, where the wrap happened) and [0, head_). Told by
  // sequence, not by offsets: an empty record can sit at the very offset of the oldest.
  if (wrap_sequence_ != 0 && entries_.front().sequence < wrap_sequence_) {
    offset = head_;
    return head_ + size <= front;
  }
  if (head_ + size <= capacity_) {
    offset = head_;
    return true;
  }
  offset = 0;
  wraps = true;
  return size <= front;
}

void TailRing::DropFront() {
  payload_bytes_ -= entries_.front().size;
  entries_.pop_front();
  if (entries_.empty()) head_ = 0, wrap_sequence_ = 0;
}

void TailRing::Clear() {
  entries_.clear();
  head_ = 0;
  payload_bytes_ = 0;
  wrap_sequence_ = 0;
}

void TailRing::Push(std::uint64_t sequence, std::string_view payload) {
  if (!entries_.empty() && sequence != entries_.back().sequence + 1) Clear();
  if (payload.size() > capacity_) {
    Clear();
    return;
  }
  if (!bytes_) bytes_ = std::make_unique_for_overwrite<char[]>(capacity_);
  std::size_t offset = 0;
  bool wraps = false;
  while (!FindRoom(payload.size(), offset, wraps)) DropFront();  // an empty ring has room
  if (wraps) wrap_sequence_ = sequence;
  if (!payload.empty()) std::memcpy(bytes_.get() + offset, payload.data(), payload.size());
  entries_.push_back(Entry{sequence, offset, payload.size()});
  head_ = offset + payload.size();
  payload_bytes_ += payload.size();
}

void TailRing::DropThrough(std::uint64_t sequence) {
  while (!entries_.empty() && entries_.front().sequence <= sequence) DropFront();
}

bool TailRing::Read(std::uint64_t from, std::size_t max_records, std::size_t max_bytes,
                    std::vector<SpoolRecord>& out) const {
  if (entries_.empty() || entries_.front().sequence > from + 1 ||
      entries_.back().sequence <= from) {
    return false;
  }
  std::size_t bytes = 0;
  for (std::size_t i = from + 1 - entries_.front().sequence; i < entries_.size(); ++i) {
    const Entry& entry = entries_[i];
    if (!out.empty() && bytes + entry.size > max_bytes) break;
    out.push_back(
        SpoolRecord{entry.sequence, std::string(bytes_.get() + entry.offset, entry.size)});
    bytes += entry.size;
    if (out.size() >= max_records || bytes >= max_bytes) break;
  }
  return true;
}

}  // namespace vigil::agent
