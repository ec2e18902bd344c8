// See checkpoint.hpp.
#include "agent/scan/checkpoint.hpp"

namespace vigil::agent::scan {

nlohmann::json Checkpoint::ToJson() const {
  return {{"done", done}, {"last_path", last_path}, {"reported", reported}, {"findings", findings}};
}

Checkpoint Checkpoint::FromJson(const nlohmann::json& j) {
  Checkpoint c;
  if (!j.is_object()) return c;
  c.done = j.value("done", std::size_t{0});
  c.last_path = j.value("last_path", "");
  c.reported = j.value("reported", std::set<std::string>{});
  c.findings = j.value("findings", std::uint64_t{0});
  return c;
}

Checkpointer::Checkpointer(const Checkpoint* resume, const std::vector<FileEntry>& files,
                           CheckpointSink sink, ProgressTracker& progress,
                           std::chrono::milliseconds interval)
    : files_(files), sink_(std::move(sink)), interval_(interval), finished_(files.size(), false) {
  if (!resume) return;
  state_.reported = resume->reported;
  state_.findings = resume->findings;
  if (resume->done > 0 && resume->done <= files.size() &&
      files[resume->done - 1].path == resume->last_path) {
    first_ = resume->done;
    state_.done = resume->done;
    state_.last_path = resume->last_path;
  }
  for (std::size_t i = 0; i < first_; ++i) progress.FileDone(files[i].size, false);
  progress.AddFindings(resume->findings);
}

bool Checkpointer::AlreadyReported(const std::string& path) const {
  std::lock_guard lock(mu_);
  return state_.reported.contains(path);
}

void Checkpointer::Reported(const std::string& path, std::uint64_t n) {
  std::lock_guard lock(mu_);
  state_.reported.insert(path);
  state_.findings += n;
  SaveLocked();
}

void Checkpointer::Done(std::size_t index) {
  std::lock_guard lock(mu_);
  if (index >= finished_.size()) return;
  finished_[index] = true;
  const std::size_t before = state_.done;
  while (state_.done < finished_.size() && finished_[state_.done]) ++state_.done;
  if (state_.done == before) return;
  state_.last_path = files_[state_.done - 1].path;
  if (std::chrono::steady_clock::now() - last_save_ >= interval_) SaveLocked();
}

void Checkpointer::Flush() {
  std::lock_guard lock(mu_);
  SaveLocked();
}

void Checkpointer::SaveLocked() {
  last_save_ = std::chrono::steady_clock::now();
  if (sink_) sink_(state_);
}

}  // namespace vigil::agent::scan
