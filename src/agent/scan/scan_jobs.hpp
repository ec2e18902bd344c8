// Scan jobs sent by the server over the agent's command channel (command types "scan" and
// "scan_control", docs/scan.md): YARA file and memory scans, and hash sweeps (kind "hash"). Each
// job runs on its own thread under the governor; its findings and its progress (events of category
// scan, event.action "scan_progress", every few seconds and at each state change) go into the
// agent's pipeline like any telemetry. A command is answered when the job is accepted, not when it
// ends: a scan may take hours and the channel runs one command at a time. So the command
// journal cannot bring a job back after an agent restart: file scans and hash sweeps persist
// their payload and position themselves and resume (ResumeInterrupted).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/scan/checkpoint.hpp"
#include "common/error.hpp"
#include "common/host_info.hpp"
#include "common/schema.hpp"

namespace vigil::agent {
class HashCache;
}

namespace vigil::agent::scan {

class Clock;

struct ScanJobsOptions {
  std::filesystem::path state_dir;  // the unchanged-file cache is kept below it
  HostInfo host;
  std::function<void(v1::Event&&)> emit;  // into the pipeline (spool -> server)
  std::chrono::milliseconds progress_interval{5000};
  int max_jobs = 4;  // running at once; more are refused
};

class ScanJobs {
 public:
  explicit ScanJobs(ScanJobsOptions options);
  ~ScanJobs();  // cancels running jobs and waits for them
  ScanJobs(const ScanJobs&) = delete;
  ScanJobs& operator=(const ScanJobs&) = delete;

  // "scan": {"job", "run", "kind": "files"|"memory"|"hash", "rules": {"name", "version", "sha256",
  // "sources": PackSources(...)} (YARA) or "sha256": [hex...] (hash), "paths", "exclude",
  // "max_size_mb", "one_fs", "pids", "cpu", "io", "window", "splay_seconds", "threads",
  // "timeout_seconds"}. Answers {"accepted": job}.
  Result<nlohmann::json> Start(const nlohmann::json& payload);
  // File scans and hash sweeps that an agent stop interrupted (persisted under
  // STATE_DIR/scan/jobs/ with their position), started again where they stood. Call once, before
  // the command channel starts. Returns how many were resumed.
  std::size_t ResumeInterrupted();
  // "scan_control": {"job", "op": "pause"|"resume"|"cancel"}. Answers {"job", "op", "state"}.
  Result<nlohmann::json> Control(const nlohmann::json& payload);

  // Jobs still running (for tests and status).
  std::size_t Running() const;

 private:
  struct Job;
  void Reap();
  Result<nlohmann::json> StartJob(const nlohmann::json& payload, std::optional<Checkpoint> resume);
  std::filesystem::path JobFile(const std::string& id, const char* ext) const;

  ScanJobsOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::atomic<bool> stopping_{false};  // jobs cancelled by the agent's stop are kept to resume
};

}  // namespace vigil::agent::scan
