// The file scan: walks the selected paths (file_walker), then N threads each open a file with no
// symlink resolution, read it under the governor's I/O bucket, scan it with the shared rule set
// and emit one event per matching rule (with the file's SHA-256 from the hash cache). A file
// whose scan times out yields a warning event and the scan goes on. Files found clean are
// remembered in the optional unchanged-file cache and skipped on the next scan.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/scan/checkpoint.hpp"
#include "agent/scan/file_walker.hpp"
#include "agent/scan/finding_event.hpp"
#include "agent/scan/governor.hpp"
#include "agent/scan/progress.hpp"
#include "agent/scan/rule_set.hpp"
#include "agent/scan/scan_cache.hpp"
#include "common/error.hpp"

namespace vigil::agent {
class HashCache;
}

namespace vigil::agent::scan {

// Receives findings and warnings; calls are serialized by the scanner.
using EventSink = std::function<void(const v1::Event&)>;

struct FileScanOptions {
  WalkOptions walk;
  int threads = 1;
  // Budget per file in seconds of CPU (libyara's wall-clock timeout is stretched by the CPU cap).
  int timeout_seconds = 60;
  GovernorOptions governor;
  std::optional<std::uint64_t> splay_random;  // default: from std::random_device
  ScanCache* cache = nullptr;                 // unchanged-file cache, optional
  HashCache* hashes = nullptr;                // optional; one is made per scan when null
  const Checkpoint* resume = nullptr;         // continue an interrupted run from here
  CheckpointSink checkpoint;                  // receives the run's position (optional)
};

struct ScanSummary {
  Progress progress;
  WalkStats walk;
  bool cancelled = false;
  std::chrono::nanoseconds cpu{0};        // CPU used by the scanner threads
  std::chrono::nanoseconds throttled{0};  // time they slept to honour the CPU cap
  std::chrono::nanoseconds wall{0};
};

class FileScanner {
 public:
  FileScanner(std::shared_ptr<const RuleSet> rules, FileScanOptions options, ScanContext context);
  // Runs to completion or cancellation. Fails only when the rules cannot be used or no scan path
  // exists.
  Result<ScanSummary> Run(ScanControl& control, const Clock& clock, const EventSink& sink,
                          const ProgressCallback& progress);

 private:
  std::shared_ptr<const RuleSet> rules_;
  FileScanOptions options_;
  ScanContext context_;
};

// Shared by the file scanners' Run: waits for the start (window, splay; nullopt when cancelled
// meanwhile), walks on a governed thread (its CPU counts against the cap) and sets the totals.
Result<std::optional<WalkResult>> StartFileRun(Governor& governor, std::uint64_t splay_random,
                                               const WalkOptions& walk, ScanSummary& summary,
                                               ProgressTracker& progress);
// Opens a walked file for reading (no symlink followed) into fd and st. False when it vanished
// (silently), cannot be opened (an error event, counted) or is no longer the file the walk
// selected; the file then counts as done.
bool OpenWalkedFile(const FileEntry& entry, UniqueFd& fd, struct stat& st, const ScanContext& ctx,
                    ProgressTracker& progress, const EventSink& emit);
// Shared by every scanner's Run: the summary's end (final progress report, cancelled, CPU,
// throttled and wall time).
void FinishSummary(ScanSummary& summary, ProgressTracker& progress, const ScanControl& control,
                   const Governor& governor, std::chrono::steady_clock::time_point started);

// libyara's timeout for a CPU budget of `seconds` when a thread may use `share` of a core.
int StretchedTimeout(int seconds, double share);
// A random 64-bit value for the splay.
std::uint64_t RandomSplayValue();

// What a scan's Run shares with its worker threads: their events reach the caller's sink one at a
// time, and a worker that cannot set up (no YARA scanner) fails the run with its reason.
class RunSink {
 public:
  explicit RunSink(const EventSink& sink) : sink_(sink) {}
  RunSink(const RunSink&) = delete;
  RunSink& operator=(const RunSink&) = delete;
  void operator()(const v1::Event& e) {
    std::lock_guard lock(mu_);
    if (sink_) sink_(e);
  }
  void SetupFailed(const std::string& why) {
    std::lock_guard lock(mu_);
    if (!setup_error_) setup_error_ = why;
  }
  // After the workers joined: the first set-up failure, if any.
  Result<void> SetupResult() const {
    std::lock_guard lock(mu_);
    if (setup_error_) return Fail(*setup_error_);
    return {};
  }

 private:
  const EventSink& sink_;
  mutable std::mutex mu_;
  std::optional<std::string> setup_error_;
};

// Runs worker on `threads` threads of its own (the governor lowers the priority of the threads it
// runs on, so none is reused) and joins them.
void RunWorkers(int threads, const std::function<void()>& worker);

// The hash cache a run uses: the caller's, else a new one of `capacity` entries kept in own.
HashCache* RunHashCache(HashCache* given, std::unique_ptr<HashCache>& own, std::size_t capacity);

}  // namespace vigil::agent::scan
