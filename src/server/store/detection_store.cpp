// The rule registry, alerts and IOC sets in SQLite (see detection_store.hpp).
#include "server/store/detection_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <variant>

#include "common/time.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store {
namespace {

using nlohmann::json;
using sqlite::ColumnText;
using sqlite::DbFail;
using sqlite::StmtPtr;
using Param = std::variant<std::nullptr_t, std::int64_t, std::string>;

// Prepares sql with its parameters bound (copied: the statement owns them).
Result<StmtPtr> Bound(sqlite3* db, std::string_view sql, const std::vector<Param>& params) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) != SQLITE_OK)
    return DbFail(db, "prepare \"" + std::string(sql.substr(0, 80)) + "\"");
  StmtPtr stmt(raw);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    if (const auto* n = std::get_if<std::int64_t>(&params[i]))
      sqlite3_bind_int64(raw, index, *n);
    else if (const auto* s = std::get_if<std::string>(&params[i]))
      sqlite3_bind_text(raw, index, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
    else
      sqlite3_bind_null(raw, index);
  }
  return stmt;
}

Result<void> Execute(sqlite3* db, std::string_view sql, const std::vector<Param>& params) {
  auto stmt = Bound(db, sql, params);
  if (!stmt) return std::unexpected(stmt.error());
  if (sqlite3_step(stmt->get()) != SQLITE_DONE) return DbFail(db, std::string(sql.substr(0, 60)));
  return {};
}

json Strings(const std::vector<std::string>& list) { return json(list); }

std::vector<std::string> ParseStrings(std::string_view text) {
  std::vector<std::string> out;
  auto j = json::parse(text, nullptr, false);
  if (j.is_array())
    for (const auto& item : j)
      if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

constexpr std::string_view kRuleColumns =
    "SELECT id, name, kind, source, enabled, severity, tags, description, origin, version, "
    "created_ns, updated_ns FROM rules";

RuleRecord RuleFromRow(sqlite3_stmt* s) {
  RuleRecord r;
  r.id = ColumnText(s, 0);
  r.name = ColumnText(s, 1);
  r.kind = ColumnText(s, 2);
  r.source = ColumnText(s, 3);
  r.enabled = sqlite3_column_int(s, 4) != 0;
  r.severity = ColumnText(s, 5);
  r.tags = ParseStrings(ColumnText(s, 6));
  r.description = ColumnText(s, 7);
  r.origin = ColumnText(s, 8);
  r.version = sqlite3_column_int64(s, 9);
  r.created_ns = sqlite3_column_int64(s, 10);
  r.updated_ns = sqlite3_column_int64(s, 11);
  return r;
}

constexpr std::string_view kAlertColumns =
    "SELECT id, rule_id, rule_name, severity, tags, host_id, host_name, entity_id, events, status, "
    "assignee, comments, count, first_ns, last_ns, created_ns, updated_ns FROM alerts";

AlertRecord AlertFromRow(sqlite3_stmt* s) {
  AlertRecord a;
  a.id = sqlite3_column_int64(s, 0);
  a.rule_id = ColumnText(s, 1);
  a.rule_name = ColumnText(s, 2);
  a.severity = ColumnText(s, 3);
  a.tags = ParseStrings(ColumnText(s, 4));
  a.host_id = ColumnText(s, 5);
  a.host_name = ColumnText(s, 6);
  a.entity_id = ColumnText(s, 7);
  a.events = json::parse(ColumnText(s, 8), nullptr, false);
  if (!a.events.is_array()) a.events = json::array();
  a.status = ColumnText(s, 9);
  a.assignee = ColumnText(s, 10);
  auto comments = json::parse(ColumnText(s, 11), nullptr, false);
  if (comments.is_array())
    for (const auto& c : comments)
      a.comments.push_back({c.value("author", ""), c.value("text", ""), c.value("time_ns", 0LL)});
  a.count = static_cast<std::uint64_t>(sqlite3_column_int64(s, 12));
  a.first_ns = sqlite3_column_int64(s, 13);
  a.last_ns = sqlite3_column_int64(s, 14);
  a.created_ns = sqlite3_column_int64(s, 15);
  a.updated_ns = sqlite3_column_int64(s, 16);
  return a;
}

json CommentsJson(const std::vector<AlertComment>& comments) {
  json out = json::array();
  for (const auto& c : comments)
    out.push_back({{"author", c.author}, {"text", c.text}, {"time_ns", c.time_ns}});
  return out;
}

// A transaction on the detection connection that rolls back unless committed.
class Tx {
 public:
  explicit Tx(sqlite3* db) : db_(db) {}
  Result<void> Begin() {
    if (auto r = sqlite::Exec(db_, "BEGIN IMMEDIATE"); !r) return r;
    open_ = true;
    return {};
  }
  Result<void> Commit() {
    open_ = false;
    return sqlite::Exec(db_, "COMMIT");
  }
  ~Tx() {
    if (open_) (void)sqlite::Exec(db_, "ROLLBACK");
  }
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;

 private:
  sqlite3* db_;
  bool open_ = false;
};

}  // namespace

bool ValidAlertStatus(std::string_view status) {
  return status == "new" || status == "acknowledged" || status == "closed";
}

DetectionStore::~DetectionStore() = default;

Result<std::unique_ptr<DetectionStore>> DetectionStore::Open(const std::filesystem::path& db_path) {
  const char* schema = R"(
    PRAGMA journal_mode=WAL;
    CREATE TABLE IF NOT EXISTS rules (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
      enabled INTEGER NOT NULL DEFAULT 1, severity TEXT NOT NULL DEFAULT 'medium',
      tags TEXT NOT NULL DEFAULT '[]', description TEXT NOT NULL DEFAULT '',
      origin TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL DEFAULT 1,
      created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS alerts (
      id INTEGER PRIMARY KEY, rule_id TEXT NOT NULL, rule_name TEXT NOT NULL,
      severity TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]', host_id TEXT NOT NULL DEFAULT '',
      host_name TEXT NOT NULL DEFAULT '', entity_id TEXT NOT NULL DEFAULT '',
      events TEXT NOT NULL DEFAULT '[]', status TEXT NOT NULL DEFAULT 'new',
      assignee TEXT NOT NULL DEFAULT '', comments TEXT NOT NULL DEFAULT '[]',
      count INTEGER NOT NULL DEFAULT 1, first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,
      created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS alerts_suppress ON alerts (rule_id, host_id, entity_id, last_ns);
    CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status, id);
    CREATE TABLE IF NOT EXISTS ioc_sets (
      name TEXT PRIMARY KEY, source TEXT NOT NULL DEFAULT '', expires_ns INTEGER NOT NULL DEFAULT 0,
      created_ns INTEGER NOT NULL, sha256 TEXT NOT NULL DEFAULT '[]',
      ips TEXT NOT NULL DEFAULT '[]', domains TEXT NOT NULL DEFAULT '[]') WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS detection_cursors (
      category TEXT PRIMARY KEY, last_id INTEGER NOT NULL) WITHOUT ROWID;
  )";
  auto db = sqlite::OpenSideStore(db_path.string(), schema);
  if (!db) return Fail(db_path.string() + ": detection tables: " + db.error().message);
  std::unique_ptr<DetectionStore> store(new DetectionStore());
  store->db_ = std::move(*db);
  return store;
}

// ---------------------------------------------------------------- rules

Result<UpsertOutcome> DetectionStore::UpsertRule(const RuleRecord& rule, bool keep_enabled) {
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  Tx tx(db);
  if (auto r = tx.Begin(); !r) return std::unexpected(r.error());
  auto existing = Bound(db, std::string(kRuleColumns) + " WHERE id = ?", {rule.id});
  if (!existing) return std::unexpected(existing.error());
  const std::int64_t now = NowNs();
  UpsertOutcome outcome = UpsertOutcome::Added;
  const std::string tags = Strings(rule.tags).dump();
  int rc = sqlite3_step(existing->get());
  if (rc == SQLITE_ROW) {
    RuleRecord old = RuleFromRow(existing->get());
    existing->reset();
    const bool same = old.source == rule.source && old.name == rule.name && old.kind == rule.kind &&
                      old.severity == rule.severity && old.tags == rule.tags &&
                      old.description == rule.description && old.origin == rule.origin;
    const bool enabled = keep_enabled ? old.enabled : rule.enabled;
    if (same && enabled == old.enabled) return UpsertOutcome::Unchanged;
    outcome = same ? UpsertOutcome::Unchanged : UpsertOutcome::Updated;
    if (auto r =
            Execute(db,
                    "UPDATE rules SET name = ?, kind = ?, source = ?, enabled = ?, "
                    "severity = ?, tags = ?, description = ?, origin = ?, version = ?, "
                    "updated_ns = ? WHERE id = ?",
                    {rule.name, rule.kind, rule.source, std::int64_t{enabled}, rule.severity, tags,
                     rule.description, rule.origin, old.version + (same ? 0 : 1), now, rule.id});
        !r)
      return std::unexpected(r.error());
  } else if (rc == SQLITE_DONE) {
    existing->reset();
    if (auto r = Execute(db,
                         "INSERT INTO rules (id, name, kind, source, enabled, severity, tags, "
                         "description, origin, version, created_ns, updated_ns) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                         {rule.id, rule.name, rule.kind, rule.source, std::int64_t{rule.enabled},
                          rule.severity, tags, rule.description, rule.origin, now, now});
        !r)
      return std::unexpected(r.error());
  } else {
    return DbFail(db, "read rule");
  }
  if (auto r = tx.Commit(); !r) return std::unexpected(r.error());
  return outcome;
}

Result<std::vector<RuleRecord>> DetectionStore::ListRules() {
  std::lock_guard lock(mu_);
  auto stmt = Bound(db_.get(), std::string(kRuleColumns) + " ORDER BY id", {});
  if (!stmt) return std::unexpected(stmt.error());
  return sqlite::CollectRows(db_.get(), stmt->get(), RuleFromRow, "rules");
}

Result<std::optional<RuleRecord>> DetectionStore::GetRule(const std::string& id) {
  std::lock_guard lock(mu_);
  auto stmt = Bound(db_.get(), std::string(kRuleColumns) + " WHERE id = ?", {id});
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_ROW) return RuleFromRow(stmt->get());
  if (rc == SQLITE_DONE) return std::nullopt;
  return DbFail(db_.get(), "read rule");
}

Result<bool> DetectionStore::SetRuleEnabled(const std::string& id, bool enabled) {
  std::lock_guard lock(mu_);
  if (auto r = Execute(db_.get(), "UPDATE rules SET enabled = ?, updated_ns = ? WHERE id = ?",
                       {std::int64_t{enabled}, NowNs(), id});
      !r)
    return std::unexpected(r.error());
  return sqlite3_changes(db_.get()) > 0;
}

// ---------------------------------------------------------------- alerts

namespace {

// One alert inside an open transaction: a repeat counted on an open alert, or a new row.
Result<std::pair<AlertRecord, bool>> RaiseOne(sqlite3* db, const AlertRecord& alert,
                                              std::int64_t window_ns, std::int64_t now) {
  if (window_ns > 0) {
    auto open = Bound(db,
                      std::string(kAlertColumns) +
                          " WHERE rule_id = ? AND host_id = ? AND entity_id = ? AND status != "
                          "'closed' AND last_ns >= ? ORDER BY id DESC LIMIT 1",
                      {alert.rule_id, alert.host_id, alert.entity_id, alert.first_ns - window_ns});
    if (!open) return std::unexpected(open.error());
    int rc = sqlite3_step(open->get());
    if (rc == SQLITE_ROW) {
      AlertRecord existing = AlertFromRow(open->get());
      open->reset();
      existing.count += 1;
      existing.last_ns = std::max(existing.last_ns, alert.last_ns);
      existing.updated_ns = now;
      if (auto r = Execute(
              db, "UPDATE alerts SET count = ?, last_ns = ?, updated_ns = ? WHERE id = ?",
              {static_cast<std::int64_t>(existing.count), existing.last_ns, now, existing.id});
          !r)
        return std::unexpected(r.error());
      return std::make_pair(std::move(existing), false);
    }
    if (rc != SQLITE_DONE) return DbFail(db, "find alert to suppress into");
  }
  AlertRecord stored = alert;
  stored.status = "new";
  stored.count = 1;
  stored.created_ns = stored.updated_ns = now;
  if (auto r =
          Execute(db,
                  "INSERT INTO alerts (rule_id, rule_name, severity, tags, host_id, "
                  "host_name, entity_id, events, status, assignee, comments, count, "
                  "first_ns, last_ns, created_ns, updated_ns) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'new', '', '[]', 1, ?, ?, ?, ?)",
                  {stored.rule_id, stored.rule_name, stored.severity, Strings(stored.tags).dump(),
                   stored.host_id, stored.host_name, stored.entity_id, stored.events.dump(),
                   stored.first_ns, stored.last_ns, now, now});
      !r)
    return std::unexpected(r.error());
  stored.id = sqlite3_last_insert_rowid(db);
  return std::make_pair(std::move(stored), true);
}

}  // namespace

Result<std::pair<AlertRecord, bool>> DetectionStore::RaiseAlert(const AlertRecord& alert,
                                                                std::int64_t window_ns) {
  auto all = RaiseAlerts({alert}, window_ns);
  if (!all) return std::unexpected(all.error());
  return std::move(all->front());
}

Result<std::vector<std::pair<AlertRecord, bool>>> DetectionStore::RaiseAlerts(
    const std::vector<AlertRecord>& alerts, std::int64_t window_ns,
    const std::map<std::string, std::int64_t>& cursors) {
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  Tx tx(db);
  if (auto r = tx.Begin(); !r) return std::unexpected(r.error());
  const std::int64_t now = NowNs();
  std::vector<std::pair<AlertRecord, bool>> out;
  out.reserve(alerts.size());
  for (const auto& alert : alerts) {
    auto one = RaiseOne(db, alert, window_ns, now);
    if (!one) return std::unexpected(one.error());
    out.push_back(std::move(*one));
  }
  for (const auto& [category, last_id] : cursors)
    if (auto r = Execute(db,
                         "INSERT INTO detection_cursors (category, last_id) VALUES (?, ?) "
                         "ON CONFLICT (category) DO UPDATE SET last_id = excluded.last_id",
                         {category, last_id});
        !r)
      return std::unexpected(r.error());
  if (auto r = tx.Commit(); !r) return std::unexpected(r.error());
  return out;
}

Result<std::map<std::string, std::int64_t>> DetectionStore::Cursors() {
  std::lock_guard lock(mu_);
  auto stmt = Bound(db_.get(), "SELECT category, last_id FROM detection_cursors", {});
  if (!stmt) return std::unexpected(stmt.error());
  std::map<std::string, std::int64_t> out;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW)
    out[std::string(ColumnText(stmt->get(), 0))] = sqlite3_column_int64(stmt->get(), 1);
  if (rc != SQLITE_DONE) return DbFail(db_.get(), "read detection cursors");
  return out;
}

Result<std::vector<AlertRecord>> DetectionStore::ListAlerts(const AlertFilter& f) {
  std::lock_guard lock(mu_);
  std::string sql = std::string(kAlertColumns) + " WHERE id > ? AND created_ns >= ?";
  std::vector<Param> params{f.after_id, f.since_ns};
  if (!f.status.empty()) sql += " AND status = ?", params.emplace_back(f.status);
  if (!f.rule_id.empty()) sql += " AND rule_id = ?", params.emplace_back(f.rule_id);
  if (!f.severity.empty()) sql += " AND severity = ?", params.emplace_back(f.severity);
  if (!f.host.empty()) {
    sql += " AND (host_id = ? OR host_name = ?)";
    params.emplace_back(f.host);
    params.emplace_back(f.host);
  }
  sql += " ORDER BY id DESC LIMIT ?";
  params.emplace_back(static_cast<std::int64_t>(f.limit));
  auto stmt = Bound(db_.get(), sql, params);
  if (!stmt) return std::unexpected(stmt.error());
  return sqlite::CollectRows(db_.get(), stmt->get(), AlertFromRow, "alerts");
}

Result<std::optional<AlertRecord>> DetectionStore::GetAlert(std::int64_t id) {
  std::lock_guard lock(mu_);
  auto stmt = Bound(db_.get(), std::string(kAlertColumns) + " WHERE id = ?", {id});
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_ROW) return AlertFromRow(stmt->get());
  if (rc == SQLITE_DONE) return std::nullopt;
  return DbFail(db_.get(), "read alert");
}

Result<std::optional<AlertRecord>> DetectionStore::UpdateAlert(std::int64_t id,
                                                               const AlertChange& change) {
  if (change.status && !ValidAlertStatus(*change.status))
    return Fail("status must be new, acknowledged or closed, not '" + *change.status + "'");
  auto current = GetAlert(id);
  if (!current || !*current) return current;
  std::lock_guard lock(mu_);
  AlertRecord a = std::move(**current);
  const std::int64_t now = NowNs();
  if (change.status) a.status = *change.status;
  if (change.assignee) a.assignee = *change.assignee;
  if (change.comment) a.comments.push_back({change.author, *change.comment, now});
  a.updated_ns = now;
  if (auto r = Execute(db_.get(),
                       "UPDATE alerts SET status = ?, assignee = ?, comments = ?, updated_ns = ? "
                       "WHERE id = ?",
                       {a.status, a.assignee, CommentsJson(a.comments).dump(), now, id});
      !r)
    return std::unexpected(r.error());
  return a;
}

// ---------------------------------------------------------------- IOC sets

Result<void> DetectionStore::PutIocSet(const IocSet& set) {
  std::lock_guard lock(mu_);
  return Execute(db_.get(),
                 "INSERT OR REPLACE INTO ioc_sets (name, source, expires_ns, created_ns, sha256, "
                 "ips, domains) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 {set.name, set.source, set.expires_ns, NowNs(), Strings(set.sha256).dump(),
                  Strings(set.ips).dump(), Strings(set.domains).dump()});
}

Result<std::vector<IocSet>> DetectionStore::ListIocSets() {
  std::lock_guard lock(mu_);
  auto stmt = Bound(db_.get(),
                    "SELECT name, source, expires_ns, created_ns, sha256, ips, domains FROM "
                    "ioc_sets ORDER BY name",
                    {});
  if (!stmt) return std::unexpected(stmt.error());
  std::vector<IocSet> out;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    sqlite3_stmt* s = stmt->get();
    out.push_back(IocSet{std::string(ColumnText(s, 0)), std::string(ColumnText(s, 1)),
                         sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3),
                         ParseStrings(ColumnText(s, 4)), ParseStrings(ColumnText(s, 5)),
                         ParseStrings(ColumnText(s, 6))});
  }
  if (rc != SQLITE_DONE) return DbFail(db_.get(), "list IOC sets");
  return out;
}

Result<bool> DetectionStore::DeleteIocSet(const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto r = Execute(db_.get(), "DELETE FROM ioc_sets WHERE name = ?", {name}); !r)
    return std::unexpected(r.error());
  return sqlite3_changes(db_.get()) > 0;
}

}  // namespace vigil::store
