// Internal to the store: RAII owners for sqlite3 handles and small helpers that turn SQLite
// return codes into vigil::Result errors carrying the database's message.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace vigil::store::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Read connections (the store's readers, hunts) read the database file through a memory map, up to
// SQLite's compile-time cap (2 GiB in Debian's build), instead of a pread and a copy per page:
// hunts that visit many rows by id ran 1.2-2.2x faster on a 10 M-event store (BENCHMARKS,
// Hunting). SQLite remaps when the file changes size (retention truncates it).
inline constexpr const char* kReadMmapPragma = "PRAGMA mmap_size=2147418112";

inline std::unexpected<Error> DbFail(sqlite3* db, std::string_view what) {
  return Fail(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace vigil::store::sqlite
namespace vigil::store::blocks {
Result<void> RegisterBlockTables(sqlite3* db, std::string_view prefix);  // block_table_vtab.hpp
}  // namespace vigil::store::blocks
namespace vigil::store::sqlite {

// Every connection reads the event tables the same way whatever the database's row layout: the
// column-block tables are registered on each (a row table of the same name wins).
inline Result<DbPtr> Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) return DbFail(db.get(), "open " + path);
  sqlite3_extended_result_codes(db.get(), 1);
  if (auto r = blocks::RegisterBlockTables(db.get(), ""); !r) return std::unexpected(r.error());
  return db;
}

inline Result<void> Exec(sqlite3* db, const std::string& sql);

// A connection of a side store (rule sets, scan jobs, ...) to the store's database file: waits up
// to 10 s for the writer's lock and creates the side store's tables (create_sql) if missing.
inline Result<DbPtr> OpenSideStore(const std::string& path, const std::string& create_sql) {
  auto db = Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return std::unexpected(db.error());
  sqlite3_busy_timeout(db->get(), 10000);
  if (auto r = Exec(db->get(), create_sql); !r) return std::unexpected(r.error());
  return db;
}

inline Result<void> Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = "sql \"" + sql.substr(0, 120) + "\": " + (err ? err : "?");
    sqlite3_free(err);
    return Fail(std::move(message));
  }
  return {};
}

inline Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &raw, nullptr) != SQLITE_OK)
    return DbFail(db, "prepare \"" + std::string(sql.substr(0, 120)) + "\"");
  return StmtPtr(raw);
}

// Resets a cached statement when it goes out of scope, so it never holds a read snapshot open.
class ResetGuard {
 public:
  explicit ResetGuard(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetGuard() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  ResetGuard(const ResetGuard&) = delete;
  ResetGuard& operator=(const ResetGuard&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

inline void BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

inline std::string_view ColumnText(sqlite3_stmt* stmt, int index) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, index));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, index)))
           : std::string_view();
}

// Steps a prepared, bound statement to its end and maps each row with from_row(stmt); an error
// says what was being read. The one row loop of every store's list queries.
template <class FromRow>
auto CollectRows(sqlite3* db, sqlite3_stmt* stmt, FromRow&& from_row, std::string_view what)
    -> Result<std::vector<decltype(from_row(stmt))>> {
  std::vector<decltype(from_row(stmt))> out;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) out.push_back(from_row(stmt));
  if (rc != SQLITE_DONE) return DbFail(db, "read " + std::string(what));
  return out;
}

// Runs a statement that returns one integer (or none: fallback).
inline Result<std::int64_t> QueryInt(sqlite3* db, const std::string& sql,
                                     std::int64_t fallback = 0) {
  auto stmt = Prepare(db, sql);
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(stmt->get(), 0);
  if (rc == SQLITE_DONE) return fallback;
  return DbFail(db, sql);
}

// A read-only, eponymous-only virtual table module (no xCreate: the table exists under the
// module's name on every connection that registers it); xDestroy is xDisconnect.
inline sqlite3_module EponymousModule(
    decltype(sqlite3_module::xConnect) connect, decltype(sqlite3_module::xBestIndex) best_index,
    decltype(sqlite3_module::xDisconnect) disconnect, decltype(sqlite3_module::xOpen) open,
    decltype(sqlite3_module::xClose) close, decltype(sqlite3_module::xFilter) filter,
    decltype(sqlite3_module::xNext) next, decltype(sqlite3_module::xEof) eof,
    decltype(sqlite3_module::xColumn) column, decltype(sqlite3_module::xRowid) rowid) {
  sqlite3_module m{};
  m.iVersion = 0;
  m.xConnect = connect;
  m.xBestIndex = best_index;
  m.xDisconnect = disconnect;
  m.xDestroy = disconnect;
  m.xOpen = open;
  m.xClose = close;
  m.xFilter = filter;
  m.xNext = next;
  m.xEof = eof;
  m.xColumn = column;
  m.xRowid = rowid;
  return m;
}

// Quotes an identifier for SQL ("name").
inline std::string Quote(std::string_view ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace vigil::store::sqlite
