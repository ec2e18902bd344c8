// YARA scan jobs kept by the server: what to scan where with which rule set version, one run per
// dispatch (recurring jobs get a new run each period). A run's commands and their answers live in
// the response audit log (ActionStore: one action per run); its progress and findings are events
// of category scan in the event store, tagged vigil.scan.id = "<job>.<run>". Own SQLite connection
// to the store's database file (WAL).
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store {

struct ScanJob {
  std::int64_t id = 0;
  std::string kind;      // files | memory | hash (a hash sweep: no rule set, spec.sha256)
  std::string rule_set;  // empty for hash sweeps
  std::int64_t rule_version = 0;
  std::string rules_sha256;  // a hash sweep: the digest of its list (Sha256ListDigest)
  std::string spec;          // JSON object: paths, exclude, cpu, io, window, splay_seconds, ...
  std::vector<std::string> agent_ids;
  std::int64_t every_ns = 0;  // 0: once
  std::int64_t next_run_ns = 0;
  std::string owner;
  std::int64_t created_ns = 0;
  std::string status;  // active, cancelled, finished (a one-off job after its run)
};

struct ScanRun {
  std::int64_t job_id = 0;
  std::int64_t run = 0;
  std::int64_t action_id = 0;  // the audit log entry of its commands
  std::int64_t started_ns = 0;
};

class ScanJobStore {
 public:
  static Result<std::unique_ptr<ScanJobStore>> Open(const std::filesystem::path& db_path);

  Result<ScanJob> Create(ScanJob job);  // id and created_ns are assigned
  Result<std::vector<ScanJob>> List();
  Result<std::optional<ScanJob>> Get(std::int64_t id);
  Result<void> SetStatus(std::int64_t id, const std::string& status);
  // Records run `run` of the job and, for recurring jobs, moves next_run_ns on by every_ns.
  Result<void> AddRun(const ScanRun& run);
  Result<std::vector<ScanRun>> Runs(std::int64_t job_id);  // newest first
  // Active recurring jobs whose next run is due at now.
  Result<std::vector<ScanJob>> Due(std::int64_t now_ns);

  // Progress of one run: the newest scan_progress event per agent, read from the scan table
  // (files_cached and files_hashed from its extra map).
  struct HostProgress {
    std::string agent_id, host_name, status, error;
    std::int64_t files_total = 0, files_done = 0, files_cached = 0, files_hashed = 0;
    std::int64_t bytes_total = 0, bytes_done = 0;
    std::int64_t processes_total = 0, processes_done = 0, findings = 0, errors = 0;
    std::int64_t eta_seconds = -1;  // -1: unknown
    std::int64_t updated_ns = 0;
  };
  Result<std::vector<HostProgress>> Progress(const std::string& scan_id);

 private:
  explicit ScanJobStore(sqlite::DbPtr db) : db_(std::move(db)) {}
  std::mutex mu_;
  sqlite::DbPtr db_;
};

}  // namespace vigil::store
