// The memory scan: for every selected process (all by default, never the scanner itself), reads
// the regions chosen from /proc/PID/maps through pread on /proc/PID/mem — the process is never
// stopped or traced — and scans them as one YARA target per process. Each matching rule is one
// event with the pid, entity id, executable and the region of its first matched string
// (address, size, permissions, file-backed). Unreadable regions and vanished processes are
// tolerated; processes that cannot be opened at all yield a warning event.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "agent/scan/file_scanner.hpp"

namespace vigil::agent::scan {

struct MemoryScanOptions {
  std::vector<pid_t> pids;  // empty: every process
  int threads = 1;
  int timeout_seconds = 60;  // CPU budget per process (stretched like the file scan's)
  std::uint64_t max_region_size = 1ull << 30;
  std::size_t block_size = 16u << 20;  // regions are read and scanned in blocks of this size
  GovernorOptions governor;
  std::optional<std::uint64_t> splay_random;
};

class MemoryScanner {
 public:
  MemoryScanner(std::shared_ptr<const RuleSet> rules, MemoryScanOptions options,
                ScanContext context);
  Result<ScanSummary> Run(ScanControl& control, const Clock& clock, const EventSink& sink,
                          const ProgressCallback& progress);

 private:
  std::shared_ptr<const RuleSet> rules_;
  MemoryScanOptions options_;
  ScanContext context_;
};

}  // namespace vigil::agent::scan
