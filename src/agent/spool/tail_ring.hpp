// The spool's memory tail: the newest records written, consecutive sequences, in one buffer of a
// fixed size used as a ring. The uplink reads what was just appended from here instead of the
// segment files. One buffer instead of one heap string per record: an exec storm appends ~1,000
// records a second, and allocating each (freed in FIFO order) was ~9 % of the event thread's
// profile; side by side the agent spends 4 % less CPU per exec (bench/BENCHMARKS.md, session 18).
// Not thread-safe (the spool guards it with its mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include "agent/spool/spool.hpp"

namespace vigil::agent {

class TailRing {
 public:
  explicit TailRing(std::size_t capacity) : capacity_(capacity) {}

  // Appends a record, dropping the oldest ones until it fits. A sequence that does not follow the
  // newest one starts the ring over; a record larger than the ring empties it (it is then read from
  // the files, as everything older is).
  void Push(std::uint64_t sequence, std::string_view payload);
  // Drops every record with a sequence <= `sequence`.
  void DropThrough(std::uint64_t sequence);

  // Appends copies of the records after `from` to `out` (at least one, then while within
  // max_records and about max_bytes), when the ring holds the record from + 1; false when it
  // does not (then nothing is appended).
  bool Read(std::uint64_t from, std::size_t max_records, std::size_t max_bytes,
            std::vector<SpoolRecord>& out) const;

  std::size_t records() const { return entries_.size(); }
  std::size_t payload_bytes() const { return payload_bytes_; }

 private:
  struct Entry {
    std::uint64_t sequence;
    std::size_t offset;
    std::size_t size;
  };
  // Where a record of `size` bytes fits now without overwriting a held one, if anywhere, and
  // whether it goes back to the buffer's start for that.
  bool FindRoom(std::size_t size, std::size_t& offset, bool& wraps) const;
  void DropFront();
  void Clear();

  const std::size_t capacity_;
  std::unique_ptr<char[]> bytes_;    // allocated at the first Push
  std::deque<Entry> entries_;        // oldest first
  std::size_t head_ = 0;             // just after the newest record's bytes
  std::uint64_t wrap_sequence_ = 0;  // the record that went back to offset 0 (0: none held)
  std::size_t payload_bytes_ = 0;
};

}  // namespace vigil::agent
