// Progress counters, ETA and throttled reporting; see progress.hpp.
#include "agent/scan/progress.hpp"

namespace vigil::agent::scan {

ProgressTracker::ProgressTracker(ProgressCallback callback, std::chrono::milliseconds interval)
    : callback_(std::move(callback)),
      interval_(interval),
      start_(std::chrono::steady_clock::now()),
      last_report_(start_) {}

void ProgressTracker::SetTotals(std::uint64_t files, std::uint64_t bytes, std::uint64_t processes) {
  files_total_ = files;
  bytes_total_ = bytes;
  processes_total_ = processes;
}

void ProgressTracker::FileDone(std::uint64_t bytes, bool cached) {
  ++files_done_;
  if (cached) ++files_cached_;
  bytes_done_ += bytes;
}

void ProgressTracker::ProcessDone(std::uint64_t bytes) {
  ++processes_done_;
  bytes_done_ += bytes;
}

Progress ProgressTracker::Snapshot() const {
  Progress p;
  p.files_total = files_total_;
  p.files_done = files_done_;
  p.files_cached = files_cached_;
  p.files_hashed = files_hashed_;
  p.bytes_total = bytes_total_;
  p.bytes_done = bytes_done_;
  p.processes_total = processes_total_;
  p.processes_done = processes_done_;
  p.findings = findings_;
  p.errors = errors_;
  p.timeouts = timeouts_;
  p.elapsed = std::chrono::steady_clock::now() - start_;
  // Files: by bytes (a file's cost is its size). Processes: by count (sizes are not known ahead).
  double done = 0, total = 0;
  if (p.files_total > 0) {
    done = static_cast<double>(p.bytes_done) + static_cast<double>(p.files_done);
    total = static_cast<double>(p.bytes_total) + static_cast<double>(p.files_total);
  } else if (p.processes_total > 0) {
    done = static_cast<double>(p.processes_done);
    total = static_cast<double>(p.processes_total);
  }
  if (done > 0 && total >= done) {
    const double secs = std::chrono::duration<double>(p.elapsed).count() * (total - done) / done;
    p.eta = std::chrono::seconds(static_cast<long long>(secs + 0.5));
  }
  return p;
}

void ProgressTracker::MaybeReport() {
  if (!callback_) return;
  std::unique_lock lock(report_mu_, std::try_to_lock);
  if (!lock) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_report_ < interval_) return;
  last_report_ = now;
  callback_(Snapshot());
}

void ProgressTracker::Finish() {
  if (!callback_) return;
  std::lock_guard lock(report_mu_);
  auto p = Snapshot();
  p.finished = true;
  p.eta = std::chrono::seconds(0);
  callback_(p);
}

}  // namespace vigil::agent::scan
