// The hash sweep ("where is this file in my fleet"): walks the selected paths (file_walker) and
// reports every regular file whose SHA-256 is on a list, whether or not it ever ran. Hashes come
// from the agent's HashCache keyed by (device, inode, size, mtime, ctime): a file unchanged since
// it was last hashed is not read again (files_cached), the others are read under the governor's
// CPU and I/O caps (files_hashed). Same job machinery, progress and events as a YARA file scan.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "agent/scan/file_scanner.hpp"

namespace vigil::agent {
class HashCache;
}

namespace vigil::agent::scan {

struct HashSweepOptions {
  WalkOptions walk;
  std::set<std::string> sha256;  // lower-case hex (ParseSha256List)
  int threads = 1;
  GovernorOptions governor;
  std::optional<std::uint64_t> splay_random;  // default: from std::random_device
  HashCache* hashes = nullptr;                // one is made per sweep when null
  const Checkpoint* resume = nullptr;         // continue an interrupted run from here
  CheckpointSink checkpoint;                  // receives the run's position (optional)
};

class HashSweeper {
 public:
  HashSweeper(HashSweepOptions options, ScanContext context);
  // Runs to completion or cancellation; findings are HashFinding events, unreadable files
  // FileWarning events. Fails only when no sweep path exists.
  Result<ScanSummary> Run(ScanControl& control, const Clock& clock, const EventSink& sink,
                          const ProgressCallback& progress);

 private:
  HashSweepOptions options_;
  ScanContext context_;
};

}  // namespace vigil::agent::scan
