// ActionStore: the actions, commands and action_log tables. actions and action_log refuse UPDATE
// and DELETE (triggers), so the audit trail is append-only; commands holds the delivery state.
#include "server/store/action_store.hpp"

#include <openssl/rand.h>

#include <algorithm>

#include "common/sha256.hpp"
#include "common/time.hpp"

namespace vigil::store {
namespace {

using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::DbFail;
using sqlite::Exec;
using sqlite::Prepare;

constexpr int kBusyTimeoutMs = 10000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS actions(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_ns INTEGER NOT NULL,
  actor TEXT NOT NULL,
  type TEXT NOT NULL,
  params TEXT NOT NULL,
  reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands(
  id TEXT PRIMARY KEY,
  action_id INTEGER NOT NULL REFERENCES actions(id),
  agent_id TEXT NOT NULL,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  result TEXT NOT NULL DEFAULT '',
  created_ns INTEGER NOT NULL,
  sent_ns INTEGER NOT NULL DEFAULT 0,
  done_ns INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS commands_agent ON commands(agent_id, status);
CREATE INDEX IF NOT EXISTS commands_action ON commands(action_id);
CREATE TABLE IF NOT EXISTS action_log(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ns INTEGER NOT NULL,
  action_id INTEGER NOT NULL,
  agent_id TEXT NOT NULL,
  command_id TEXT NOT NULL,
  what TEXT NOT NULL,
  error TEXT NOT NULL,
  result TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS action_log_action ON action_log(action_id, seq);
CREATE TABLE IF NOT EXISTS fleet_wide_actions(
  action_id INTEGER PRIMARY KEY REFERENCES actions(id));
CREATE TRIGGER IF NOT EXISTS fleet_wide_append_only_u BEFORE UPDATE ON fleet_wide_actions
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS fleet_wide_append_only_d BEFORE DELETE ON fleet_wide_actions
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS actions_append_only_u BEFORE UPDATE ON actions
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS actions_append_only_d BEFORE DELETE ON actions
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS action_log_append_only_u BEFORE UPDATE ON action_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS action_log_append_only_d BEFORE DELETE ON action_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql";

std::string NewCommandId() {
  unsigned char bytes[12];
  RAND_bytes(bytes, sizeof bytes);
  return "cmd-" + ToHex(bytes, sizeof bytes);
}

// BEGIN IMMEDIATE ... COMMIT, rolled back when not committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  Result<void> Begin() {
    auto r = Exec(db_, "BEGIN IMMEDIATE");
    open_ = r.has_value();
    return r;
  }
  Result<void> Commit() {
    auto r = Exec(db_, "COMMIT");
    if (r) open_ = false;
    return r;
  }
  ~Transaction() {
    if (open_) (void)Exec(db_, "ROLLBACK");
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

// One row of "SELECT id, created_ns, actor, type, params, reason, <last seq> FROM actions".
ActionRecord ActionRow(sqlite3_stmt* stmt) {
  ActionRecord r;
  r.id = sqlite3_column_int64(stmt, 0);
  r.created_ns = sqlite3_column_int64(stmt, 1);
  r.actor = ColumnText(stmt, 2);
  r.type = ColumnText(stmt, 3);
  r.params = ColumnText(stmt, 4);
  r.reason = ColumnText(stmt, 5);
  r.seq = sqlite3_column_int64(stmt, 6);
  return r;
}

}  // namespace

std::string AggregateStatus(const std::vector<ActionTarget>& targets) {
  bool pending = false, sent = false, failed = false;
  for (const auto& t : targets) {
    if (t.status == "pending") pending = true;
    if (t.status == "sent") sent = true;
    if (t.status == "failed") failed = true;
  }
  if (pending) return "pending";
  if (sent) return "sent";
  if (failed) return "failed";
  return "done";
}

ActionStore::ActionStore(sqlite::DbPtr db) : db_(std::move(db)) {}

Result<std::unique_ptr<ActionStore>> ActionStore::Open(const std::filesystem::path& db_path) {
  auto db = sqlite::Open(db_path.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return std::unexpected(db.error());
  sqlite3_busy_timeout(db->get(), kBusyTimeoutMs);
  if (auto r = Exec(db->get(), "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL"); !r)
    return std::unexpected(r.error());
  if (auto r = Exec(db->get(), kSchema); !r) return std::unexpected(r.error());
  auto seq = sqlite::QueryInt(db->get(), "SELECT COALESCE(MAX(seq), 0) FROM action_log");
  if (!seq) return std::unexpected(seq.error());
  std::unique_ptr<ActionStore> store(new ActionStore(std::move(*db)));
  store->seq_ = *seq;
  return store;
}

void ActionStore::Bump() {
  Result<std::int64_t> seq = 0;
  {
    std::lock_guard db_lock(mu_);  // the connection is used by one thread at a time (NOMUTEX)
    seq = sqlite::QueryInt(db_.get(), "SELECT COALESCE(MAX(seq), 0) FROM action_log");
  }
  std::lock_guard lock(seq_mu_);
  if (seq) seq_ = *seq;
  seq_cv_.notify_all();
}

std::int64_t ActionStore::Sequence() const {
  std::lock_guard lock(seq_mu_);
  return seq_;
}

std::int64_t ActionStore::WaitForChange(std::int64_t known,
                                        std::chrono::milliseconds timeout) const {
  std::unique_lock lock(seq_mu_);
  seq_cv_.wait_for(lock, timeout, [&] { return seq_ > known; });
  return seq_;
}

Result<void> ActionStore::Log(std::int64_t action_id, const std::string& agent_id,
                              const std::string& command_id, const std::string& what,
                              const std::string& error, const std::string& result) {
  auto stmt = Prepare(db_.get(),
                      "INSERT INTO action_log(ts_ns, action_id, agent_id, command_id, what, error, "
                      "result) VALUES(?,?,?,?,?,?,?)");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite3_bind_int64(stmt->get(), 1, NowNs());
  sqlite3_bind_int64(stmt->get(), 2, action_id);
  BindText(stmt->get(), 3, agent_id);
  BindText(stmt->get(), 4, command_id);
  BindText(stmt->get(), 5, what);
  BindText(stmt->get(), 6, error);
  BindText(stmt->get(), 7, result);
  if (sqlite3_step(stmt->get()) != SQLITE_DONE) return DbFail(db_.get(), "action_log insert");
  return {};
}

Result<ActionTarget> ActionStore::QueueCommand(std::int64_t action_id, const std::string& agent_id,
                                               const std::string& type, const std::string& payload,
                                               std::int64_t created_ns, const std::string& what) {
  auto queue = Prepare(db_.get(),
                       "INSERT INTO commands(id, action_id, agent_id, type, payload, status, "
                       "created_ns) VALUES(?,?,?,?,?,'pending',?)");
  if (!queue) return std::unexpected(queue.error());
  ActionTarget target{.agent_id = agent_id,
                      .command_id = NewCommandId(),
                      .status = "pending",
                      .error = {},
                      .result = {},
                      .sent_ns = 0,
                      .done_ns = 0};
  BindText(queue->get(), 1, target.command_id);
  sqlite3_bind_int64(queue->get(), 2, action_id);
  BindText(queue->get(), 3, agent_id);
  BindText(queue->get(), 4, type);
  BindText(queue->get(), 5, payload);
  sqlite3_bind_int64(queue->get(), 6, created_ns);
  if (sqlite3_step(queue->get()) != SQLITE_DONE) return DbFail(db_.get(), "commands insert");
  if (auto r = Log(action_id, agent_id, target.command_id, what, "", ""); !r)
    return std::unexpected(r.error());
  return target;
}

Result<int> ActionStore::AdoptFleetWide(const std::string& agent_id) {
  int added = 0;
  {
    std::lock_guard lock(mu_);
    Transaction tx(db_.get());
    if (auto r = tx.Begin(); !r) return std::unexpected(r.error());
    // The payload of a fleet-wide action is the same for every target: take any target's.
    auto missing = Prepare(
        db_.get(),
        "SELECT a.id, a.type, COALESCE((SELECT payload FROM commands c WHERE c.action_id=a.id "
        "LIMIT 1), a.params) FROM fleet_wide_actions f JOIN actions a ON a.id=f.action_id WHERE "
        "NOT EXISTS (SELECT 1 FROM commands c WHERE c.action_id=a.id AND c.agent_id=?) "
        "ORDER BY a.id");
    if (!missing) return std::unexpected(missing.error());
    BindText(missing->get(), 1, agent_id);
    struct Missing {
      std::int64_t id;
      std::string type, payload;
    };
    std::vector<Missing> todo;
    int rc;
    while ((rc = sqlite3_step(missing->get())) == SQLITE_ROW)
      todo.push_back({sqlite3_column_int64(missing->get(), 0),
                      std::string(ColumnText(missing->get(), 1)),
                      std::string(ColumnText(missing->get(), 2))});
    if (rc != SQLITE_DONE) return DbFail(db_.get(), "fleet_wide_actions query");
    const std::int64_t now = NowNs();
    for (const auto& m : todo) {
      // "joined": this host was not enrolled (or not known) when the fleet-wide action was taken.
      if (auto t = QueueCommand(m.id, agent_id, m.type, m.payload, now, "joined"); !t)
        return std::unexpected(t.error());
      ++added;
    }
    if (auto r = tx.Commit(); !r) return std::unexpected(r.error());
  }
  if (added > 0) Bump();
  return added;
}

Result<ActionRecord> ActionStore::Create(const NewAction& action) {
  ActionRecord record{.id = 0,
                      .created_ns = NowNs(),
                      .actor = action.actor,
                      .type = action.type,
                      .params = action.params,
                      .reason = action.reason,
                      .targets = {},
                      .status = "pending",
                      .seq = 0};
  {
    std::lock_guard lock(mu_);
    Transaction tx(db_.get());
    if (auto r = tx.Begin(); !r) return std::unexpected(r.error());
    auto insert =
        Prepare(db_.get(),
                "INSERT INTO actions(created_ns, actor, type, params, reason) VALUES(?,?,?,?,?)");
    if (!insert) return std::unexpected(insert.error());
    sqlite3_bind_int64(insert->get(), 1, record.created_ns);
    BindText(insert->get(), 2, record.actor);
    BindText(insert->get(), 3, record.type);
    BindText(insert->get(), 4, record.params);
    BindText(insert->get(), 5, record.reason);
    if (sqlite3_step(insert->get()) != SQLITE_DONE) return DbFail(db_.get(), "actions insert");
    record.id = sqlite3_last_insert_rowid(db_.get());
    if (auto r = Log(record.id, "", "", "created", "", ""); !r) return std::unexpected(r.error());
    for (const auto& agent : action.agent_ids) {
      auto target = QueueCommand(record.id, agent, record.type,
                                 action.payload.empty() ? record.params : action.payload,
                                 record.created_ns, "pending");
      if (!target) return std::unexpected(target.error());
      record.targets.push_back(std::move(*target));
    }
    if (action.fleet_wide) {
      auto mark = Prepare(db_.get(), "INSERT INTO fleet_wide_actions(action_id) VALUES(?)");
      if (!mark) return std::unexpected(mark.error());
      sqlite3_bind_int64(mark->get(), 1, record.id);
      if (sqlite3_step(mark->get()) != SQLITE_DONE)
        return DbFail(db_.get(), "fleet_wide_actions insert");
    }
    if (auto r = tx.Commit(); !r) return std::unexpected(r.error());
    auto seq = sqlite::QueryInt(db_.get(), "SELECT COALESCE(MAX(seq), 0) FROM action_log");
    record.seq = seq ? *seq : 0;
  }
  Bump();
  return record;
}

Result<std::vector<QueuedCommand>> ActionStore::Undelivered(const std::string& agent_id,
                                                            bool only_pending) {
  std::lock_guard lock(mu_);
  auto stmt = Prepare(
      db_.get(), only_pending
                     ? "SELECT id, type, payload, action_id, created_ns FROM commands WHERE "
                       "agent_id=? AND status='pending' ORDER BY created_ns, rowid"
                     : "SELECT id, type, payload, action_id, created_ns FROM commands WHERE "
                       "agent_id=? AND status IN ('pending','sent') ORDER BY created_ns, rowid");
  if (!stmt) return std::unexpected(stmt.error());
  BindText(stmt->get(), 1, agent_id);
  std::vector<QueuedCommand> out;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW)
    out.push_back({std::string(ColumnText(stmt->get(), 0)), std::string(ColumnText(stmt->get(), 1)),
                   std::string(ColumnText(stmt->get(), 2)), sqlite3_column_int64(stmt->get(), 3),
                   sqlite3_column_int64(stmt->get(), 4)});
  if (rc != SQLITE_DONE) return DbFail(db_.get(), "commands query");
  return out;
}

Result<void> ActionStore::MarkSent(const std::string& command_id) {
  {
    std::lock_guard lock(mu_);
    Transaction tx(db_.get());
    if (auto r = tx.Begin(); !r) return std::unexpected(r.error());
    auto stmt = Prepare(db_.get(),
                        "UPDATE commands SET status='sent', sent_ns=? WHERE id=? AND "
                        "status='pending' RETURNING action_id, agent_id");
    if (!stmt) return std::unexpected(stmt.error());
    sqlite3_bind_int64(stmt->get(), 1, NowNs());
    BindText(stmt->get(), 2, command_id);
    int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_ROW) {
      std::int64_t action = sqlite3_column_int64(stmt->get(), 0);
      std::string agent(ColumnText(stmt->get(), 1));
      sqlite3_reset(stmt->get());
      if (auto r = Log(action, agent, command_id, "sent", "", ""); !r)
        return std::unexpected(r.error());
    } else if (rc != SQLITE_DONE) {
      return DbFail(db_.get(), "commands update");
    }
    stmt->reset();
    if (auto r = tx.Commit(); !r) return std::unexpected(r.error());
  }
  Bump();
  return {};
}

Result<bool> ActionStore::Complete(const std::string& agent_id, const std::string& command_id,
                                   bool ok, const std::string& error, const std::string& result) {
  {
    std::lock_guard lock(mu_);
    Transaction tx(db_.get());
    if (auto r = tx.Begin(); !r) return std::unexpected(r.error());
    auto find =
        Prepare(db_.get(), "SELECT action_id, status FROM commands WHERE id=? AND agent_id=?");
    if (!find) return std::unexpected(find.error());
    BindText(find->get(), 1, command_id);
    BindText(find->get(), 2, agent_id);
    int rc = sqlite3_step(find->get());
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return DbFail(db_.get(), "commands query");
    std::int64_t action = sqlite3_column_int64(find->get(), 0);
    std::string status(ColumnText(find->get(), 1));
    find->reset();
    if (status == "done" || status == "failed") return true;  // the first answer stands
    auto update =
        Prepare(db_.get(), "UPDATE commands SET status=?, error=?, result=?, done_ns=? WHERE id=?");
    if (!update) return std::unexpected(update.error());
    const char* what = ok ? "done" : "failed";
    BindText(update->get(), 1, what);
    BindText(update->get(), 2, error);
    BindText(update->get(), 3, result);
    sqlite3_bind_int64(update->get(), 4, NowNs());
    BindText(update->get(), 5, command_id);
    if (sqlite3_step(update->get()) != SQLITE_DONE) return DbFail(db_.get(), "commands update");
    if (auto r = Log(action, agent_id, command_id, what, error, result); !r)
      return std::unexpected(r.error());
    if (auto r = tx.Commit(); !r) return std::unexpected(r.error());
  }
  Bump();
  return true;
}

Result<void> ActionStore::LoadTargets(ActionRecord& record) {
  auto stmt = Prepare(db_.get(),
                      "SELECT agent_id, id, status, error, result, sent_ns, done_ns FROM commands "
                      "WHERE action_id=? ORDER BY rowid");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite3_bind_int64(stmt->get(), 1, record.id);
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW)
    record.targets.push_back(
        {std::string(ColumnText(stmt->get(), 0)), std::string(ColumnText(stmt->get(), 1)),
         std::string(ColumnText(stmt->get(), 2)), std::string(ColumnText(stmt->get(), 3)),
         std::string(ColumnText(stmt->get(), 4)), sqlite3_column_int64(stmt->get(), 5),
         sqlite3_column_int64(stmt->get(), 6)});
  if (rc != SQLITE_DONE) return DbFail(db_.get(), "commands query");
  record.status = AggregateStatus(record.targets);
  return {};
}

Result<std::vector<ActionRecord>> ActionStore::List(std::int64_t after_seq, std::size_t limit) {
  std::lock_guard lock(mu_);
  auto stmt = Prepare(db_.get(),
                      "SELECT a.id, a.created_ns, a.actor, a.type, a.params, a.reason, l.last "
                      "FROM actions a JOIN (SELECT action_id, MAX(seq) AS last FROM action_log "
                      "GROUP BY action_id) l ON l.action_id = a.id WHERE l.last > ? "
                      "ORDER BY l.last DESC LIMIT ?");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite3_bind_int64(stmt->get(), 1, after_seq);
  sqlite3_bind_int64(stmt->get(), 2, static_cast<std::int64_t>(limit));
  std::vector<ActionRecord> out;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    out.push_back(ActionRow(stmt->get()));
  }
  if (rc != SQLITE_DONE) return DbFail(db_.get(), "actions query");
  stmt->reset();
  for (auto& r : out)
    if (auto l = LoadTargets(r); !l) return std::unexpected(l.error());
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::optional<ActionRecord>> ActionStore::Get(std::int64_t id) {
  std::lock_guard lock(mu_);
  auto stmt = Prepare(db_.get(),
                      "SELECT a.id, a.created_ns, a.actor, a.type, a.params, a.reason, "
                      "(SELECT MAX(seq) FROM action_log WHERE action_id=a.id) FROM actions a "
                      "WHERE a.id=?");
  if (!stmt) return std::unexpected(stmt.error());
  sqlite3_bind_int64(stmt->get(), 1, id);
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_DONE) return std::optional<ActionRecord>();
  if (rc != SQLITE_ROW) return DbFail(db_.get(), "actions query");
  ActionRecord r = ActionRow(stmt->get());
  stmt->reset();
  if (auto l = LoadTargets(r); !l) return std::unexpected(l.error());
  return std::optional<ActionRecord>(std::move(r));
}

}  // namespace vigil::store
