// File scan workers; see file_scanner.hpp.
#include "agent/scan/file_scanner.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "agent/enrich/hash_cache.hpp"
#include "common/fd.hpp"

namespace vigil::agent::scan {
namespace {

constexpr std::size_t kReadChunk = 1 << 20;

std::int64_t Ns(const timespec& ts) { return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec; }

FileIdentity IdentityOf(const struct stat& st) {
  return FileIdentity{st.st_dev, st.st_ino, static_cast<std::uint64_t>(st.st_size), Ns(st.st_mtim),
                      Ns(st.st_ctim)};
}

}  // namespace

int StretchedTimeout(int seconds, double share) {
  if (seconds <= 0) return 0;
  if (share <= 0 || share >= 1) return seconds;
  return static_cast<int>(std::ceil(seconds / share));
}

std::uint64_t RandomSplayValue() {
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) ^ rd();
}

void RunWorkers(int threads, const std::function<void()>& worker) {
  std::vector<std::jthread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
}  // the jthreads join here

HashCache* RunHashCache(HashCache* given, std::unique_ptr<HashCache>& own, std::size_t capacity) {
  if (given) return given;
  own = std::make_unique<HashCache>(capacity);
  return own.get();
}

FileScanner::FileScanner(std::shared_ptr<const RuleSet> rules, FileScanOptions options,
                         ScanContext context)
    : rules_(std::move(rules)), options_(std::move(options)), context_(std::move(context)) {
  if (context_.rules_version.empty()) context_.rules_version = rules_->version();
}

Result<std::optional<WalkResult>> StartFileRun(Governor& governor, std::uint64_t splay_random,
                                               const WalkOptions& walk, ScanSummary& summary,
                                               ProgressTracker& progress) {
  if (!governor.WaitForStart(splay_random)) {
    summary.cancelled = true;
    return std::nullopt;
  }
  Result<WalkResult> walked = Fail("walk did not run");
  std::jthread([&] {
    Governor::ThreadScope scope(governor);
    walked = WalkFiles(walk);
  }).join();
  if (!walked) return std::unexpected(walked.error());
  summary.walk = walked->stats;
  progress.SetTotals(walked->files.size(), walked->stats.bytes, 0);
  return std::move(*walked);
}

bool OpenWalkedFile(const FileEntry& entry, UniqueFd& fd, struct stat& st, const ScanContext& ctx,
                    ProgressTracker& progress, const EventSink& emit) {
  fd = OpenNoFollow(entry.path);
  if (!fd || fstat(fd.get(), &st) != 0) {
    if (errno != ENOENT) {
      progress.AddError();
      emit(FileWarning(ctx, kActionError, entry.path, entry.size,
                       std::string("open: ") + std::strerror(errno)));
    }
    progress.FileDone(entry.size, false);
    return false;
  }
  if (!S_ISREG(st.st_mode) || st.st_dev != entry.dev || st.st_ino != entry.ino) {
    progress.FileDone(entry.size, false);  // replaced since the walk: not the file selected
    return false;
  }
  return true;
}

void FinishSummary(ScanSummary& summary, ProgressTracker& progress, const ScanControl& control,
                   const Governor& governor, std::chrono::steady_clock::time_point started) {
  progress.Finish();
  summary.progress = progress.Snapshot();
  summary.progress.finished = true;
  summary.cancelled = control.cancelled();
  summary.cpu = governor.cpu_used();
  summary.throttled = governor.throttled();
  summary.wall = std::chrono::steady_clock::now() - started;
}

Result<ScanSummary> FileScanner::Run(ScanControl& control, const Clock& clock,
                                     const EventSink& sink, const ProgressCallback& progress_cb) {
  const auto started = std::chrono::steady_clock::now();
  const int threads = std::clamp(options_.threads, 1, YaraMaxThreads());
  Governor governor(options_.governor, control, clock, threads);
  ScanSummary summary;
  ProgressTracker progress(progress_cb);

  auto walked = StartFileRun(governor, options_.splay_random.value_or(RandomSplayValue()),
                             options_.walk, summary, progress);
  if (!walked) return std::unexpected(walked.error());
  if (!*walked) return summary;  // cancelled before it started
  const auto& files = (*walked)->files;

  std::unique_ptr<HashCache> own_hashes;
  HashCache* hashes = RunHashCache(options_.hashes, own_hashes, 1024);
  const std::uint64_t rules_key = ScanCache::RulesKey(rules_->version());
  const int timeout = StretchedTimeout(options_.timeout_seconds, governor.thread_share());
  RunSink emit(sink);
  Checkpointer checkpoints(options_.resume, files, options_.checkpoint, progress);
  std::atomic<std::size_t> next{checkpoints.first()};

  auto worker = [&] {
    Governor::ThreadScope scope(governor);
    auto scanner = YaraScanner::Create(rules_, timeout);
    if (!scanner) return emit.SetupFailed(scanner.error().message);
    std::vector<std::uint8_t> buffer;
    for (;;) {
      if (!governor.Checkpoint()) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= files.size()) return;
      FileDoneGuard done{checkpoints, i};
      const FileEntry& entry = files[i];
      const FileIdentity walked_id{entry.dev, entry.ino, entry.size, entry.mtime_ns,
                                   entry.ctime_ns};
      if (options_.cache && options_.cache->IsClean(walked_id, rules_key)) {
        progress.FileDone(entry.size, true);
        progress.MaybeReport();
        continue;
      }
      UniqueFd fd;
      struct stat st {};
      if (!OpenWalkedFile(entry, fd, st, context_, progress, std::ref(emit))) continue;
      const FileIdentity id = IdentityOf(st);
      auto size = static_cast<std::uint64_t>(st.st_size);
      if (options_.walk.max_size && size > options_.walk.max_size) size = options_.walk.max_size;
      buffer.resize(size);
      std::uint64_t got = 0;
      bool read_error = false, cancelled = false;
      while (got < size) {
        const std::size_t want =
            static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunk, size - got));
        if (!governor.AcquireIo(want)) {
          cancelled = true;
          break;
        }
        const ssize_t r = ::pread(fd.get(), buffer.data() + got, want, static_cast<off_t>(got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
          read_error = true;
          break;
        }
        if (r == 0) break;  // shrank
        got += static_cast<std::uint64_t>(r);
      }
      if (cancelled) return done.Abandon();
      if (read_error) {
        progress.AddError();
        emit(FileWarning(context_, kActionError, entry.path, size,
                         std::string("read: ") + std::strerror(errno)));
        progress.FileDone(entry.size, false);
        continue;
      }
      ScanOutcome outcome =
          (*scanner)->ScanBuffer(std::span<const std::uint8_t>(buffer.data(), got));
      if (!outcome.matches.empty() && !checkpoints.AlreadyReported(entry.path)) {
        std::string sha;
        if (auto digest = hashes->Sha256(fd.get())) sha = std::move(*digest);
        for (const auto& m : outcome.matches) emit(FileFinding(context_, m, entry.path, got, sha));
        progress.AddFindings(outcome.matches.size());
        checkpoints.Reported(entry.path, outcome.matches.size());
      }
      if (outcome.status == ScanStatus::kTimeout) {
        progress.AddTimeout();
        emit(FileWarning(context_, kActionTimeout, entry.path, got,
                         "yara scan timed out after " + std::to_string(options_.timeout_seconds) +
                             " s of CPU; findings so far reported"));
      } else if (outcome.status == ScanStatus::kError) {
        progress.AddError();
        emit(FileWarning(context_, kActionError, entry.path, got, outcome.error));
      } else if (outcome.matches.empty() && options_.cache) {
        struct stat after {};
        // Clean only when nothing changed while it was read.
        if (fstat(fd.get(), &after) == 0 && IdentityOf(after) == id &&
            got == static_cast<std::uint64_t>(st.st_size))
          options_.cache->MarkClean(id, rules_key);
      }
      progress.FileDone(entry.size, false);
      progress.MaybeReport();
    }
  };

  RunWorkers(threads, worker);
  if (auto ok = emit.SetupResult(); !ok) return std::unexpected(ok.error());
  checkpoints.Flush();

  FinishSummary(summary, progress, control, governor, started);
  return summary;
}

}  // namespace vigil::agent::scan
