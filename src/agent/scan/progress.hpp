// Live progress of a scan: counters updated by the scanner threads, reported through a callback
// at most every `interval` and once at the end, with an estimated time to completion.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

namespace vigil::agent::scan {

struct Progress {
  std::uint64_t files_total = 0;   // regular files selected by the walk
  std::uint64_t files_done = 0;    // scanned, skipped by the cache, or failed
  std::uint64_t files_cached = 0;  // of files_done: skipped as unchanged since a clean scan
  std::uint64_t files_hashed = 0;  // of files_done: read and hashed by a hash sweep
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_done = 0;
  std::uint64_t processes_total = 0;
  std::uint64_t processes_done = 0;
  std::uint64_t findings = 0;
  std::uint64_t errors = 0;    // unreadable files or processes
  std::uint64_t timeouts = 0;  // items whose scan hit the YARA timeout
  std::chrono::nanoseconds elapsed{0};
  std::optional<std::chrono::seconds> eta;  // unknown until some work is done
  bool finished = false;
};

using ProgressCallback = std::function<void(const Progress&)>;

class ProgressTracker {
 public:
  explicit ProgressTracker(ProgressCallback callback,
                           std::chrono::milliseconds interval = std::chrono::milliseconds(1000));

  void SetTotals(std::uint64_t files, std::uint64_t bytes, std::uint64_t processes);
  void FileDone(std::uint64_t bytes, bool cached);
  void ProcessDone(std::uint64_t bytes);
  void AddFindings(std::uint64_t n) { findings_ += n; }
  void AddHashed() { ++files_hashed_; }
  void AddError() { ++errors_; }
  void AddTimeout() { ++timeouts_; }

  Progress Snapshot() const;
  // Calls the callback when the interval has passed since the last report (any thread).
  void MaybeReport();
  // The final report (finished = true).
  void Finish();

 private:
  ProgressCallback callback_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<std::uint64_t> files_total_{0}, files_done_{0}, files_cached_{0}, files_hashed_{0},
      bytes_total_{0}, bytes_done_{0}, processes_total_{0}, processes_done_{0}, findings_{0},
      errors_{0}, timeouts_{0};
  std::mutex report_mu_;
  std::chrono::steady_clock::time_point last_report_;
};

}  // namespace vigil::agent::scan
