// Where a file scan or hash sweep stands, so a run interrupted by an agent restart resumes
// instead of starting over: the walk position up to which every file is done (with that file's
// path, to notice a tree that changed meanwhile) and the files whose findings were reported
// (never reported twice). The scanners' workers feed a Checkpointer; ScanJobs persists what it
// hands out (docs/scan.md, "Resuming after a restart").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/scan/file_walker.hpp"
#include "agent/scan/progress.hpp"

namespace vigil::agent::scan {

struct Checkpoint {
  std::size_t done = 0;            // files [0, done) of the walk are finished
  std::string last_path;           // the walk's file done - 1 ("" when done == 0)
  std::set<std::string> reported;  // paths whose findings went out
  std::uint64_t findings = 0;      // finding events among them
  nlohmann::json ToJson() const;
  static Checkpoint FromJson(const nlohmann::json& j);  // missing fields: defaults
};

// Called with a consistent copy: after each file with findings (before the next one is taken
// up), at most every `interval` as the position advances, and at the end.
using CheckpointSink = std::function<void(const Checkpoint&)>;

class Checkpointer {
 public:
  // resume: where the interrupted run stood, or null. The position is used only when the walk's
  // file at done - 1 is still last_path; otherwise the run starts over (findings still not
  // repeated). The finished prefix and the findings reported count into progress at once.
  Checkpointer(const Checkpoint* resume, const std::vector<FileEntry>& files, CheckpointSink sink,
               ProgressTracker& progress,
               std::chrono::milliseconds interval = std::chrono::milliseconds(1000));

  std::size_t first() const { return first_; }  // the walk index to start at
  bool AlreadyReported(const std::string& path) const;
  // The n findings of path went out (sink called at once).
  void Reported(const std::string& path, std::uint64_t n);
  // File `index` is finished.
  void Done(std::size_t index);
  // Hands out the current position (at the end of a run, or when it is interrupted).
  void Flush();

 private:
  void SaveLocked();
  const std::vector<FileEntry>& files_;
  CheckpointSink sink_;
  std::chrono::milliseconds interval_;
  std::size_t first_ = 0;
  mutable std::mutex mu_;
  Checkpoint state_;
  std::vector<bool> finished_;  // beyond the contiguous prefix
  std::chrono::steady_clock::time_point last_save_{};
};

// Marks a worker's file done when it goes out of scope, unless abandoned (cancelled mid-file).
struct FileDoneGuard {
  Checkpointer& checkpoints;
  std::size_t index;
  bool abandoned = false;
  void Abandon() { abandoned = true; }
  ~FileDoneGuard() {
    if (!abandoned) checkpoints.Done(index);
  }
};

}  // namespace vigil::agent::scan
