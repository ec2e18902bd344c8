// Hash sweep workers; see hash_sweep.hpp.
#include "agent/scan/hash_sweep.hpp"

#include <sys/stat.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/enrich/hash_cache.hpp"

namespace vigil::agent::scan {

HashSweeper::HashSweeper(HashSweepOptions options, ScanContext context)
    : options_(std::move(options)), context_(std::move(context)) {}

Result<ScanSummary> HashSweeper::Run(ScanControl& control, const Clock& clock,
                                     const EventSink& sink, const ProgressCallback& progress_cb) {
  const auto started = std::chrono::steady_clock::now();
  const int threads = std::clamp(options_.threads, 1, 16);
  Governor governor(options_.governor, control, clock, threads);
  ScanSummary summary;
  ProgressTracker progress(progress_cb);

  auto walked = StartFileRun(governor, options_.splay_random.value_or(RandomSplayValue()),
                             options_.walk, summary, progress);
  if (!walked) return std::unexpected(walked.error());
  if (!*walked) return summary;  // cancelled before it started
  const auto& files = (*walked)->files;

  std::unique_ptr<HashCache> own_hashes;
  HashCache* hashes = RunHashCache(options_.hashes, own_hashes, 1 << 16);
  RunSink emit(sink);
  Checkpointer checkpoints(options_.resume, files, options_.checkpoint, progress);
  std::atomic<std::size_t> next{checkpoints.first()};

  auto worker = [&] {
    Governor::ThreadScope scope(governor);
    for (;;) {
      if (!governor.Checkpoint()) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= files.size()) return;
      FileDoneGuard done{checkpoints, i};
      const FileEntry& entry = files[i];
      std::optional<std::string> sha = hashes->Find(HashCache::Key{
          entry.dev, entry.ino, static_cast<off_t>(entry.size), entry.mtime_ns, entry.ctime_ns});
      std::uint64_t size = entry.size;
      const bool cached = sha.has_value();
      if (!cached) {
        UniqueFd fd;
        struct stat st {};
        if (!OpenWalkedFile(entry, fd, st, context_, progress, std::ref(emit))) continue;
        bool stopped = false;
        auto digest = hashes->Sha256(fd.get(), [&](std::size_t bytes) {
          stopped = !governor.AcquireIo(bytes);
          return !stopped;
        });
        if (stopped) return done.Abandon();  // cancelled: not done
        if (!digest) {
          progress.AddError();
          emit(FileWarning(context_, kActionError, entry.path, entry.size,
                           "hash: " + digest.error().message));
          progress.FileDone(entry.size, false);
          continue;
        }
        sha = std::move(*digest);
        size = static_cast<std::uint64_t>(st.st_size);
        progress.AddHashed();
      }
      if (options_.sha256.contains(*sha) && !checkpoints.AlreadyReported(entry.path)) {
        emit(HashFinding(context_, entry.path, size, *sha));
        progress.AddFindings(1);
        checkpoints.Reported(entry.path, 1);
      }
      progress.FileDone(entry.size, cached);
      progress.MaybeReport();
    }
  };
  RunWorkers(threads, worker);
  checkpoints.Flush();

  FinishSummary(summary, progress, control, governor, started);
  return summary;
}

}  // namespace vigil::agent::scan
