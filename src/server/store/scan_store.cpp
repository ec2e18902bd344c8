// See scan_store.hpp.
#include "server/store/scan_store.hpp"

#include <nlohmann/json.hpp>

#include "common/time.hpp"

namespace vigil::store {
namespace {
using nlohmann::json;
using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::Prepare;

constexpr std::string_view kJobColumns =
    "id, kind, rule_set, rule_version, rules_sha256, spec, agent_ids, every_ns, next_run_ns, "
    "owner, created_ns, status";

ScanJob JobFromRow(sqlite3_stmt* s) {
  ScanJob j;
  j.id = sqlite3_column_int64(s, 0);
  j.kind = ColumnText(s, 1);
  j.rule_set = ColumnText(s, 2);
  j.rule_version = sqlite3_column_int64(s, 3);
  j.rules_sha256 = ColumnText(s, 4);
  j.spec = ColumnText(s, 5);
  try {
    j.agent_ids = json::parse(ColumnText(s, 6)).get<std::vector<std::string>>();
  } catch (const std::exception&) {
  }
  j.every_ns = sqlite3_column_int64(s, 7);
  j.next_run_ns = sqlite3_column_int64(s, 8);
  j.owner = ColumnText(s, 9);
  j.created_ns = sqlite3_column_int64(s, 10);
  j.status = ColumnText(s, 11);
  return j;
}

Result<std::vector<ScanJob>> Jobs(sqlite3* db, const std::string& where,
                                  std::optional<std::int64_t> arg) {
  auto stmt = Prepare(db, "SELECT " + std::string(kJobColumns) + " FROM scan_jobs " + where);
  if (!stmt) return std::unexpected(stmt.error());
  sqlite::ResetGuard guard(stmt->get());
  if (arg) sqlite3_bind_int64(stmt->get(), 1, *arg);
  return sqlite::CollectRows(db, stmt->get(), JobFromRow, "scan_jobs");
}
ScanJobStore::HostProgress ProgressFromRow(sqlite3_stmt* s) {
  ScanJobStore::HostProgress p;
  p.agent_id = ColumnText(s, 0);
  p.host_name = ColumnText(s, 1);
  p.status = ColumnText(s, 2);
  p.error = ColumnText(s, 3);
  p.files_total = sqlite3_column_int64(s, 4);
  p.files_done = sqlite3_column_int64(s, 5);
  p.bytes_total = sqlite3_column_int64(s, 6);
  p.bytes_done = sqlite3_column_int64(s, 7);
  p.processes_total = sqlite3_column_int64(s, 8);
  p.processes_done = sqlite3_column_int64(s, 9);
  p.findings = sqlite3_column_int64(s, 10);
  p.errors = sqlite3_column_int64(s, 11);
  p.eta_seconds = sqlite3_column_type(s, 12) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 12);
  p.updated_ns = sqlite3_column_int64(s, 13);
  p.files_cached = sqlite3_column_int64(s, 14);
  p.files_hashed = sqlite3_column_int64(s, 15);
  return p;
}

}  // namespace

Result<std::unique_ptr<ScanJobStore>> ScanJobStore::Open(const std::filesystem::path& db_path) {
  auto db = sqlite::OpenSideStore(
      db_path.string(),
      "CREATE TABLE IF NOT EXISTS scan_jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
      " rule_set TEXT NOT NULL, rule_version INTEGER NOT NULL, rules_sha256 TEXT NOT NULL,"
      " spec TEXT NOT NULL, agent_ids TEXT NOT NULL, every_ns INTEGER NOT NULL,"
      " next_run_ns INTEGER NOT NULL, owner TEXT NOT NULL, created_ns INTEGER NOT NULL,"
      " status TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS scan_runs (job_id INTEGER NOT NULL, run INTEGER NOT NULL,"
      " action_id INTEGER NOT NULL, started_ns INTEGER NOT NULL, PRIMARY KEY (job_id, run))");
  if (!db) return std::unexpected(db.error());
  return std::unique_ptr<ScanJobStore>(new ScanJobStore(std::move(*db)));
}

Result<ScanJob> ScanJobStore::Create(ScanJob job) {
  std::lock_guard lock(mu_);
  job.created_ns = NowNs();
  auto stmt = Prepare(db_.get(),
                      "INSERT INTO scan_jobs (kind, rule_set, rule_version, rules_sha256, spec, "
                      "agent_ids, every_ns, next_run_ns, owner, created_ns, status) VALUES "
                      "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite::ResetGuard guard(stmt->get());
  auto* s = stmt->get();
  const std::string agents = json(job.agent_ids).dump();
  BindText(s, 1, job.kind);
  BindText(s, 2, job.rule_set);
  sqlite3_bind_int64(s, 3, job.rule_version);
  BindText(s, 4, job.rules_sha256);
  BindText(s, 5, job.spec);
  BindText(s, 6, agents);
  sqlite3_bind_int64(s, 7, job.every_ns);
  sqlite3_bind_int64(s, 8, job.next_run_ns);
  BindText(s, 9, job.owner);
  sqlite3_bind_int64(s, 10, job.created_ns);
  BindText(s, 11, job.status);
  if (sqlite3_step(s) != SQLITE_DONE) return sqlite::DbFail(db_.get(), "insert scan job");
  job.id = sqlite3_last_insert_rowid(db_.get());
  return job;
}

Result<std::vector<ScanJob>> ScanJobStore::List() {
  std::lock_guard lock(mu_);
  return Jobs(db_.get(), "ORDER BY id DESC", std::nullopt);
}

Result<std::optional<ScanJob>> ScanJobStore::Get(std::int64_t id) {
  std::lock_guard lock(mu_);
  auto jobs = Jobs(db_.get(), "WHERE id = ?", id);
  if (!jobs) return std::unexpected(jobs.error());
  if (jobs->empty()) return std::nullopt;
  return jobs->front();
}

Result<void> ScanJobStore::SetStatus(std::int64_t id, const std::string& status) {
  std::lock_guard lock(mu_);
  auto stmt = Prepare(db_.get(), "UPDATE scan_jobs SET status = ? WHERE id = ?");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite::ResetGuard guard(stmt->get());
  BindText(stmt->get(), 1, status);
  sqlite3_bind_int64(stmt->get(), 2, id);
  if (sqlite3_step(stmt->get()) != SQLITE_DONE) return sqlite::DbFail(db_.get(), "update scan job");
  return {};
}

Result<void> ScanJobStore::AddRun(const ScanRun& run) {
  std::lock_guard lock(mu_);
  if (auto r = sqlite::Exec(db_.get(), "BEGIN IMMEDIATE"); !r) return r;
  auto fail = [&](std::string what) {
    (void)sqlite::Exec(db_.get(), "ROLLBACK");
    return sqlite::DbFail(db_.get(), what);
  };
  {
    auto stmt = Prepare(db_.get(),
                        "INSERT INTO scan_runs (job_id, run, action_id, started_ns) "
                        "VALUES (?, ?, ?, ?)");
    if (!stmt) return fail("prepare scan run");
    sqlite::ResetGuard guard(stmt->get());
    sqlite3_bind_int64(stmt->get(), 1, run.job_id);
    sqlite3_bind_int64(stmt->get(), 2, run.run);
    sqlite3_bind_int64(stmt->get(), 3, run.action_id);
    sqlite3_bind_int64(stmt->get(), 4, run.started_ns);
    if (sqlite3_step(stmt->get()) != SQLITE_DONE) return fail("insert scan run");
  }
  {
    // Recurring: the next run is one period after this one was due (never in the past twice).
    auto stmt = Prepare(db_.get(),
                        "UPDATE scan_jobs SET next_run_ns = CASE WHEN every_ns > 0 THEN "
                        "MAX(next_run_ns + every_ns, ? + 1) ELSE next_run_ns END, status = CASE "
                        "WHEN every_ns > 0 THEN status ELSE 'finished' END WHERE id = ?");
    if (!stmt) return fail("prepare scan job update");
    sqlite::ResetGuard guard(stmt->get());
    sqlite3_bind_int64(stmt->get(), 1, run.started_ns);
    sqlite3_bind_int64(stmt->get(), 2, run.job_id);
    if (sqlite3_step(stmt->get()) != SQLITE_DONE) return fail("update scan job");
  }
  return sqlite::Exec(db_.get(), "COMMIT");
}

Result<std::vector<ScanRun>> ScanJobStore::Runs(std::int64_t job_id) {
  std::lock_guard lock(mu_);
  auto stmt = Prepare(db_.get(),
                      "SELECT job_id, run, action_id, started_ns FROM scan_runs WHERE job_id = ? "
                      "ORDER BY run DESC");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite::ResetGuard guard(stmt->get());
  sqlite3_bind_int64(stmt->get(), 1, job_id);
  return sqlite::CollectRows(
      db_.get(), stmt->get(),
      [](sqlite3_stmt* s) {
        return ScanRun{sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                       sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3)};
      },
      "scan_runs");
}

Result<std::vector<ScanJob>> ScanJobStore::Due(std::int64_t now_ns) {
  std::lock_guard lock(mu_);
  return Jobs(db_.get(), "WHERE status = 'active' AND every_ns > 0 AND next_run_ns <= ?", now_ns);
}

Result<std::vector<ScanJobStore::HostProgress>> ScanJobStore::Progress(const std::string& scan_id) {
  std::lock_guard lock(mu_);
  // The newest progress event of each agent (ties on timestamp: the later row).
  auto stmt = Prepare(
      db_.get(),
      "SELECT agent_id, host_name, vigil_scan_status, error_message, vigil_scan_files_total, "
      "vigil_scan_files_done, vigil_scan_bytes_total, vigil_scan_bytes_done, "
      "vigil_scan_processes_total, vigil_scan_processes_done, vigil_scan_findings, "
      "vigil_scan_errors, vigil_scan_eta_seconds, timestamp, "
      "CAST(json_extract(extra, '$.\"vigil.scan.files_cached\"') AS INTEGER), "
      "CAST(json_extract(extra, '$.\"vigil.scan.files_hashed\"') AS INTEGER) "
      "FROM scan p WHERE vigil_scan_id = ? "
      "AND event_action = 'scan_progress' AND id = (SELECT id FROM scan q WHERE q.vigil_scan_id "
      "= p.vigil_scan_id AND q.agent_id = p.agent_id AND q.event_action = 'scan_progress' ORDER "
      "BY q.timestamp DESC, q.id DESC LIMIT 1) ORDER BY host_name");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite::ResetGuard guard(stmt->get());
  auto* s = stmt->get();
  BindText(s, 1, scan_id);
  return sqlite::CollectRows(db_.get(), s, ProgressFromRow, "scan progress");
}

}  // namespace vigil::store
