// Memory scan workers and the /proc/PID/mem block iterator; see memory_scanner.hpp.
#include "agent/scan/memory_scanner.hpp"

#include <yara.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "agent/scan/proc_maps.hpp"
#include "agent/sensor/procfs.hpp"
#include "common/entity_id.hpp"
#include "common/fd.hpp"

namespace vigil::agent::scan {
namespace {

// Walks the selected regions of one process in blocks; data is read on demand by fetch_data.
struct BlockIterator {
  int mem_fd = -1;
  const std::vector<MapRegion>* regions = nullptr;
  std::size_t block_size = 0;
  Governor* governor = nullptr;
  std::size_t region = 0;
  std::uint64_t next_addr = 0;
  YR_MEMORY_BLOCK block{};
  std::vector<std::uint8_t> buffer;
  std::uint64_t bytes_read = 0;
  std::uint64_t unreadable = 0;  // bytes that could not be read

  YR_MEMORY_BLOCK* Next() {
    if (!governor->Checkpoint()) return nullptr;  // cancelled: end the scan here
    while (region < regions->size()) {
      const MapRegion& r = (*regions)[region];
      if (next_addr < r.start) next_addr = r.start;
      if (next_addr >= r.end) {
        ++region;
        continue;
      }
      block.base = next_addr;
      block.size = static_cast<std::size_t>(std::min<std::uint64_t>(block_size, r.end - next_addr));
      block.context = this;
      block.fetch_data = &Fetch;
      next_addr += block.size;
      return &block;
    }
    return nullptr;
  }

  static const std::uint8_t* Fetch(YR_MEMORY_BLOCK* b) {
    auto* self = static_cast<BlockIterator*>(b->context);
    self->buffer.resize(b->size);
    std::size_t got = 0;
    while (got < b->size) {
      const ssize_t r = ::pread(self->mem_fd, self->buffer.data() + got, b->size - got,
                                static_cast<off_t>(b->base + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    self->bytes_read += got;
    if (got < b->size) {
      // Part of the block is unreadable (e.g. pages of an unmapped or guard area): scan what was
      // read when most of it is there, else skip the block.
      self->unreadable += b->size - got;
      if (got == 0) return nullptr;
      b->size = got;
    }
    return self->buffer.data();
  }

  static YR_MEMORY_BLOCK* First(YR_MEMORY_BLOCK_ITERATOR* it) {
    auto* self = static_cast<BlockIterator*>(it->context);
    self->region = 0;
    self->next_addr = 0;
    return self->Next();
  }
  static YR_MEMORY_BLOCK* NextBlock(YR_MEMORY_BLOCK_ITERATOR* it) {
    return static_cast<BlockIterator*>(it->context)->Next();
  }
};

std::optional<RegionInfo> RegionOf(const std::vector<MapRegion>& regions,
                                   std::optional<std::uint64_t> address) {
  if (!address) return std::nullopt;
  for (const auto& r : regions) {
    if (*address >= r.start && *address < r.end) {
      RegionInfo info{r.start, r.size(), r.permissions, r.file_backed(), ""};
      if (!r.path.empty()) info.path = r.path;
      return info;
    }
  }
  return std::nullopt;
}

}  // namespace

MemoryScanner::MemoryScanner(std::shared_ptr<const RuleSet> rules, MemoryScanOptions options,
                             ScanContext context)
    : rules_(std::move(rules)), options_(std::move(options)), context_(std::move(context)) {
  if (context_.rules_version.empty()) context_.rules_version = rules_->version();
}

Result<ScanSummary> MemoryScanner::Run(ScanControl& control, const Clock& clock,
                                       const EventSink& sink, const ProgressCallback& progress_cb) {
  const auto started = std::chrono::steady_clock::now();
  const int threads = std::clamp(options_.threads, 1, YaraMaxThreads());
  Governor governor(options_.governor, control, clock, threads);
  ScanSummary summary;
  ProgressTracker progress(progress_cb);
  if (!governor.WaitForStart(options_.splay_random.value_or(RandomSplayValue()))) {
    summary.cancelled = true;
    return summary;
  }

  const pid_t self = ::getpid();
  std::vector<pid_t> pids = options_.pids.empty() ? procfs::ListPids() : options_.pids;
  std::erase(pids, self);  // our own memory holds every rule's strings
  progress.SetTotals(0, 0, pids.size());
  const int timeout = StretchedTimeout(options_.timeout_seconds, governor.thread_share());

  RunSink emit(sink);
  std::atomic<std::size_t> next{0};

  auto worker = [&] {
    Governor::ThreadScope scope(governor);
    auto scanner = YaraScanner::Create(rules_, timeout);
    if (!scanner) return emit.SetupFailed(scanner.error().message);
    BlockIterator blocks;
    blocks.block_size = options_.block_size;
    blocks.governor = &governor;
    for (;;) {
      if (!governor.Checkpoint()) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= pids.size()) return;
      const pid_t pid = pids[i];
      ProcessInfo info;
      info.pid = pid;
      const auto stat = procfs::ReadStat(pid);
      if (!stat || stat->IsKernelThread()) {  // vanished, or no user memory
        progress.ProcessDone(0);
        continue;
      }
      info.name = stat->comm;
      info.entity_id = ProcessEntityId(context_.host_id, context_.boot_id, pid, stat->start_ticks);
      info.executable = procfs::ReadExe(pid).value_or("");
      const std::string mem_path = "/proc/" + std::to_string(pid) + "/mem";
      UniqueFd mem(::open(mem_path.c_str(), O_RDONLY | O_CLOEXEC));
      auto maps = ReadMaps(pid);
      if (!mem || !maps) {
        if (errno != ENOENT && errno != ESRCH) {
          progress.AddError();
          emit(
              ProcessWarning(context_, kActionError, info, mem_path + ": " + std::strerror(errno)));
        }
        progress.ProcessDone(0);
        continue;
      }
      std::vector<MapRegion> regions;
      for (auto& r : *maps)
        if (ShouldScanRegion(r, options_.max_region_size)) regions.push_back(std::move(r));
      blocks.mem_fd = mem.get();
      blocks.regions = &regions;
      blocks.bytes_read = 0;
      blocks.unreadable = 0;
      YR_MEMORY_BLOCK_ITERATOR it{};
      it.context = &blocks;
      it.first = &BlockIterator::First;
      it.next = &BlockIterator::NextBlock;
      it.file_size = nullptr;
      it.last_error = ERROR_SUCCESS;
      ScanOutcome outcome = (*scanner)->ScanBlocks(&it);
      for (const auto& m : outcome.matches)
        emit(MemoryFinding(context_, m, info, RegionOf(regions, m.first_match)));
      progress.AddFindings(outcome.matches.size());
      if (outcome.status == ScanStatus::kTimeout) {
        progress.AddTimeout();
        emit(ProcessWarning(
            context_, kActionTimeout, info,
            "yara scan timed out after " + std::to_string(options_.timeout_seconds) + " s of CPU"));
      } else if (outcome.status == ScanStatus::kError) {
        progress.AddError();
        emit(ProcessWarning(context_, kActionError, info, outcome.error));
      }
      progress.ProcessDone(blocks.bytes_read);
      progress.MaybeReport();
    }
  };

  RunWorkers(threads, worker);
  if (auto ok = emit.SetupResult(); !ok) return std::unexpected(ok.error());

  FinishSummary(summary, progress, control, governor, started);
  return summary;
}

}  // namespace vigil::agent::scan
