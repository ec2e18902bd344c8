// See host_directory.hpp.
#include "server/store/host_directory.hpp"

#include <map>
#include <tuple>

#include "common/time.hpp"

namespace vigil::store {
namespace {
using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::Prepare;

// Bounds one event table's host check to its (host_id, timestamp) index.
std::string EventHostExists(std::string_view table) {
  return "EXISTS (SELECT 1 FROM " + sqlite::Quote(table) + " WHERE host_id = ?1)";
}
}  // namespace

Result<std::unique_ptr<HostDirectory>> HostDirectory::Open(const std::filesystem::path& db_path) {
  auto db =
      sqlite::OpenSideStore(db_path.string(),
                            "CREATE TABLE IF NOT EXISTS imported_hosts ("
                            " host_id TEXT NOT NULL, hostname TEXT NOT NULL, source TEXT NOT NULL,"
                            " first_event_ns INTEGER NOT NULL, last_event_ns INTEGER NOT NULL,"
                            " events INTEGER NOT NULL, imported_ns INTEGER NOT NULL,"
                            " PRIMARY KEY (host_id, hostname, source)) WITHOUT ROWID");
  if (!db) return std::unexpected(db.error());
  return std::unique_ptr<HostDirectory>(new HostDirectory(std::move(*db)));
}

Result<void> HostDirectory::RecordImported(std::string_view source,
                                           std::span<const v1::Event> events) {
  struct Seen {
    std::int64_t first = 0, last = 0;
    std::uint64_t events = 0;
  };
  std::map<std::pair<std::string, std::string>, Seen> hosts;
  for (const auto& e : events) {
    if (e.host_id().empty() && e.host_name().empty()) continue;
    Seen& s = hosts[{e.host_id(), e.host_name()}];
    s.first = s.events == 0 ? e.timestamp() : std::min(s.first, e.timestamp());
    s.last = s.events == 0 ? e.timestamp() : std::max(s.last, e.timestamp());
    ++s.events;
  }
  if (hosts.empty()) return {};
  std::lock_guard lock(mu_);
  sqlite3* db = db_.get();
  auto stmt = Prepare(db,
                      "INSERT INTO imported_hosts (host_id, hostname, source, first_event_ns,"
                      " last_event_ns, events, imported_ns) VALUES (?, ?, ?, ?, ?, ?, ?)"
                      " ON CONFLICT (host_id, hostname, source) DO UPDATE SET"
                      " first_event_ns = min(first_event_ns, excluded.first_event_ns),"
                      " last_event_ns = max(last_event_ns, excluded.last_event_ns),"
                      " events = events + excluded.events, imported_ns = excluded.imported_ns");
  if (!stmt) return std::unexpected(stmt.error());
  if (auto r = sqlite::Exec(db, "BEGIN IMMEDIATE"); !r) return r;
  const std::int64_t now = NowNs();
  for (const auto& [key, seen] : hosts) {
    sqlite::ResetGuard guard(stmt->get());
    BindText(stmt->get(), 1, key.first);
    BindText(stmt->get(), 2, key.second);
    BindText(stmt->get(), 3, source);
    sqlite3_bind_int64(stmt->get(), 4, seen.first);
    sqlite3_bind_int64(stmt->get(), 5, seen.last);
    sqlite3_bind_int64(stmt->get(), 6, static_cast<std::int64_t>(seen.events));
    sqlite3_bind_int64(stmt->get(), 7, now);
    if (sqlite3_step(stmt->get()) != SQLITE_DONE) {
      auto failed = sqlite::DbFail(db, "record imported host");
      (void)sqlite::Exec(db, "ROLLBACK");
      return failed;
    }
  }
  return sqlite::Exec(db, "COMMIT");
}

Result<std::vector<ImportedHost>> HostDirectory::ListImported() {
  std::lock_guard lock(mu_);
  auto stmt = Prepare(db_.get(),
                      "SELECT host_id, hostname, source, first_event_ns, last_event_ns, events,"
                      " imported_ns FROM imported_hosts ORDER BY hostname, host_id, source");
  if (!stmt) return std::unexpected(stmt.error());
  return sqlite::CollectRows(
      db_.get(), stmt->get(),
      [](sqlite3_stmt* s) {
        return ImportedHost{
            std::string(ColumnText(s, 0)), std::string(ColumnText(s, 1)),
            std::string(ColumnText(s, 2)), sqlite3_column_int64(s, 3),
            sqlite3_column_int64(s, 4),    static_cast<std::uint64_t>(sqlite3_column_int64(s, 5)),
            sqlite3_column_int64(s, 6)};
      },
      "imported_hosts");
}

Result<bool> HostDirectory::Known(const std::string& host) {
  std::string sql =
      "SELECT EXISTS (SELECT 1 FROM agents WHERE agent_id = ?1 OR host_id = ?1 OR hostname = ?1)"
      " OR EXISTS (SELECT 1 FROM imported_hosts WHERE host_id = ?1 OR hostname = ?1)";
  for (const auto& c : schema::Categories()) sql += " OR " + EventHostExists(c.name);
  std::lock_guard lock(mu_);
  auto stmt = Prepare(db_.get(), sql);
  if (!stmt) return std::unexpected(stmt.error());
  BindText(stmt->get(), 1, host);
  if (sqlite3_step(stmt->get()) != SQLITE_ROW) return sqlite::DbFail(db_.get(), "look up a host");
  return sqlite3_column_int(stmt->get(), 0) != 0;
}

}  // namespace vigil::store
