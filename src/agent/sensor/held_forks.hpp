// Fork records the eBPF source holds back for a moment: most forked children exec at once (a
// shell's commands, a fork + execve spawn), and their exec event stands for the process's creation
// (start, parent, lineage), as the kernel's folded vfork children already do (bpf/sensor.bpf.c).
// The source holds each fork record it reads; the child's exec takes it (no fork event), and a
// held fork goes out as its own event before any other record of its process or of a child of it,
// before its parent's exec (the fork event takes parent fields from what the parent runs), with
// its process's exit, after `hold` (a child that never execs: a daemon's worker) or, past
// `capacity` held, oldest first. Only the record's header is kept: the child's paths are in
// ReportedImages from the moment the record was read, and nothing of the child changes them
// before its held fork goes out. See docs/sensor.md, *A forked child is reported by its exec*.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/sensor/bpf/records.h"

namespace vigil::agent {

class HeldForks {
 public:
  using Clock = std::chrono::steady_clock;

  // hold 0: nothing is held (every fork is an event at once).
  HeldForks(std::chrono::milliseconds hold, std::size_t capacity)
      : hold_(hold), capacity_(capacity) {}

  bool holding() const { return hold_.count() > 0; }
  bool empty() const { return held_.empty(); }
  std::size_t size() const { return held_.size(); }
  std::size_t order_size() const { return order_.size(); }  // bounded: ~4 x capacity

  // Holds the fork record (header) of a new process, read at `now`. A held fork of an earlier
  // process with the same pid (its exit record lost) is returned, to go out now.
  std::optional<vg_hdr> Hold(const vg_hdr& fork, Clock::time_point now) {
    std::optional<vg_hdr> displaced;
    auto [it, fresh] = held_.try_emplace(fork.proc.tgid);
    if (!fresh) {
      displaced = it->second.fork;
      Forgotten(*displaced);
    }
    it->second = {fork, now, ++sequence_};
    ++children_of_[fork.proc.ppid];
    order_.emplace_back(sequence_, fork.proc.tgid);
    if (order_.size() > 4 * capacity_ + 64) Compact();
    return displaced;
  }

  // The held fork of process tgid started at start_ticks, taken; nullopt when none is held.
  std::optional<vg_hdr> Take(std::uint32_t tgid, std::uint64_t start_ticks) {
    auto it = held_.find(tgid);
    if (it == held_.end() || it->second.fork.proc.start_ticks != start_ticks) return std::nullopt;
    return Erase(it);
  }

  // The held forks of the children of process ppid started at parent_start_ticks, taken, oldest
  // first (a parent that execs with a child's fork still held: rare, so a scan).
  std::vector<vg_hdr> TakeChildrenOf(std::uint32_t ppid, std::uint64_t parent_start_ticks) {
    std::vector<vg_hdr> children;
    if (!children_of_.contains(ppid)) return children;
    for (auto it = held_.begin(); it != held_.end();) {
      const vg_proc& p = it->second.fork.proc;
      if (p.ppid == ppid && p.parent_start_ticks == parent_start_ticks) {
        children.push_back(it->second.fork);
        Forgotten(it->second.fork);
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
    std::sort(children.begin(), children.end(),
              [](const vg_hdr& a, const vg_hdr& b) { return a.boot_ns < b.boot_ns; });
    return children;
  }

  // The oldest held fork, taken, if it was held `hold` by `now` or more than `capacity` are held
  // (every held fork when `now` is Clock::time_point::max()); nullopt otherwise.
  std::optional<vg_hdr> TakeDue(Clock::time_point now) {
    while (!order_.empty()) {
      auto [sequence, tgid] = order_.front();
      auto it = held_.find(tgid);
      if (it == held_.end() || it->second.sequence != sequence) {
        order_.pop_front();  // taken by its exec, or held again for a later process
        continue;
      }
      const bool due = now == Clock::time_point::max() || now - it->second.since >= hold_ ||
                       held_.size() > capacity_;
      if (!due) return std::nullopt;
      order_.pop_front();
      return Erase(it);
    }
    return std::nullopt;
  }

 private:
  struct Held {
    vg_hdr fork;
    Clock::time_point since;
    std::uint64_t sequence;
  };

  vg_hdr Erase(std::unordered_map<std::uint32_t, Held>::iterator it) {
    vg_hdr fork = it->second.fork;
    held_.erase(it);
    Forgotten(fork);
    return fork;
  }

  // One child of fork's parent fewer held.
  void Forgotten(const vg_hdr& fork) {
    auto it = children_of_.find(fork.proc.ppid);
    if (it != children_of_.end() && --it->second == 0) children_of_.erase(it);
  }

  // Drops the order's entries of forks no longer held (their execs took them), which otherwise
  // wait for the front to reach them: bounded memory under a storm of fork + exec.
  void Compact() {
    std::erase_if(order_, [&](const std::pair<std::uint64_t, std::uint32_t>& entry) {
      auto it = held_.find(entry.second);
      return it == held_.end() || it->second.sequence != entry.first;
    });
  }

  std::chrono::milliseconds hold_;
  std::size_t capacity_;
  std::unordered_map<std::uint32_t, Held> held_;                // by pid
  std::deque<std::pair<std::uint64_t, std::uint32_t>> order_;   // (sequence, pid), oldest first
  std::unordered_map<std::uint32_t, std::size_t> children_of_;  // held forks per parent pid
  std::uint64_t sequence_ = 0;
};

}  // namespace vigil::agent
