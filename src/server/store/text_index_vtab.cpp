// The vigil_text table-valued function: SQLite virtual-table plumbing around Candidates().
#include "server/store/text_index_vtab.hpp"

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "server/store/sqlite_util.hpp"
#include "server/store/text_index.hpp"

namespace vigil::store::text_index {
namespace {

bool IsIdentifier(const std::string& s) {
  return !s.empty() && std::ranges::all_of(s, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<sqlite::StmtPtr> Bound(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr) != SQLITE_OK)
    return sqlite::DbFail(db, "vigil_text");
  return sqlite::StmtPtr(raw);
}

}  // namespace

Result<std::vector<std::int64_t>> Candidates(sqlite3* db, const std::string& table,
                                             const std::string& column,
                                             const std::vector<std::string>& patterns) {
  if (!IsIdentifier(table) || !IsIdentifier(column))
    return Fail("vigil_text: table and column must be plain names, got '" + table + "', '" +
                column + "'");
  auto sets = PatternTrigrams(patterns);
  if (!sets)
    return Fail(
        "vigil_text: every pattern needs a literal run of 3 characters (between wildcards)");
  std::vector<std::int64_t> ids;

  auto range = Bound(db, "SELECT min(id), max(id) FROM \"" + table + "\"");
  if (!range) return std::unexpected(range.error());
  if (sqlite3_step(range->get()) != SQLITE_ROW ||
      sqlite3_column_type(range->get(), 0) == SQLITE_NULL)
    return ids;
  const std::int64_t min_id = sqlite3_column_int64(range->get(), 0);
  const std::int64_t max_id = sqlite3_column_int64(range->get(), 1);
  range->reset();

  std::set<std::int64_t> sealed;
  auto parts = Bound(db, "SELECT part FROM text_index_parts WHERE tbl = ?1");
  sqlite::StmtPtr block_stmt;
  if (parts) {  // a database without the index (no store has opened it since) has none sealed
    sqlite3_bind_text(parts->get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(parts->get()) == SQLITE_ROW)
      sealed.insert(sqlite3_column_int64(parts->get(), 0));
    auto block =
        Bound(db,
              "SELECT first_key, data FROM text_postings WHERE tbl = ?1 AND col = ?2 AND "
              "part = ?3 AND kind = ?4 AND first_key <= ?5 ORDER BY first_key DESC LIMIT 1");
    if (!block) return std::unexpected(block.error());
    block_stmt = std::move(*block);
    sqlite3_bind_text(block_stmt.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(block_stmt.get(), 2, column.c_str(), -1, SQLITE_TRANSIENT);
  }
  const char* file = sqlite3_db_filename(db, "main");
  auto live = FindLive(file ? file : "");

  std::vector<std::uint16_t> offsets;
  for (std::int64_t part = PartitionOf(min_id); part <= PartitionOf(max_id); ++part) {
    offsets.clear();
    const std::int64_t base = PartitionFirstId(part);
    if (sealed.contains(part)) {
      sqlite3_stmt* s = block_stmt.get();
      MatchSealed(
          *sets,
          [&](int kind, std::int64_t key) -> std::optional<Block> {
            sqlite3_bind_int64(s, 3, part);
            sqlite3_bind_int(s, 4, kind);
            sqlite3_bind_int64(s, 5, key);
            std::optional<Block> out;
            if (sqlite3_step(s) == SQLITE_ROW) {
              const auto* data = static_cast<const char*>(sqlite3_column_blob(s, 1));
              out = Block{kind, sqlite3_column_int64(s, 0),
                          std::string(data ? data : "",
                                      static_cast<std::size_t>(sqlite3_column_bytes(s, 1)))};
            }
            sqlite3_reset(s);
            return out;
          },
          offsets);
    } else if (!live || !live->Match(table, column, part, *sets, offsets)) {
      // Not indexed in this snapshot nor held in memory: every row is a candidate.
      for (std::int64_t id = std::max(base, min_id); id <= std::min(PartitionLastId(part), max_id);
           ++id)
        ids.push_back(id);
      continue;
    }
    for (std::uint16_t offset : offsets) ids.push_back(base + offset);
  }
  return ids;
}

namespace {

struct TextVtab {
  sqlite3_vtab base{};
  sqlite3* db = nullptr;
};

struct TextCursor {
  sqlite3_vtab_cursor base{};
  std::vector<std::int64_t> ids;
  std::size_t pos = 0;
};

enum Column { kId = 0, kTable, kColumn, kPatterns };

int Connect(sqlite3* db, void*, int, const char* const*, sqlite3_vtab** out, char**) {
  int rc = sqlite3_declare_vtab(
      db, "CREATE TABLE x(id INTEGER, tbl HIDDEN, col HIDDEN, patterns HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  auto vtab = std::make_unique<TextVtab>();
  vtab->db = db;
  *out = &vtab.release()->base;  // owned by SQLite until Disconnect
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* vtab) {
  std::unique_ptr<TextVtab>(reinterpret_cast<TextVtab*>(vtab));
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) {
  int argv_of[4] = {-1, -1, -1, -1};
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (c.iColumn < kTable || c.op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!c.usable) return SQLITE_CONSTRAINT;  // the arguments must be known before the scan
    argv_of[c.iColumn] = i;
  }
  for (int col = kTable; col <= kPatterns; ++col) {
    if (argv_of[col] < 0) return SQLITE_CONSTRAINT;
    info->aConstraintUsage[argv_of[col]].argvIndex = col;
    info->aConstraintUsage[argv_of[col]].omit = 1;
  }
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == kId && !info->aOrderBy[0].desc)
    info->orderByConsumed = 1;
  info->estimatedCost = 1000;
  info->estimatedRows = 1000;
  return SQLITE_OK;
}

int Open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  *out = &std::make_unique<TextCursor>().release()->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cursor) {
  std::unique_ptr<TextCursor>(reinterpret_cast<TextCursor*>(cursor));
  return SQLITE_OK;
}

int Filter(sqlite3_vtab_cursor* base, int, const char*, int argc, sqlite3_value** argv) {
  auto* cursor = reinterpret_cast<TextCursor*>(base);
  auto* vtab = reinterpret_cast<TextVtab*>(base->pVtab);
  cursor->ids.clear();
  cursor->pos = 0;
  auto fail = [&](const std::string& message) {
    sqlite3_free(vtab->base.zErrMsg);
    vtab->base.zErrMsg = sqlite3_mprintf("%s", message.c_str());
    return SQLITE_ERROR;
  };
  if (argc != 3) return fail("vigil_text(tbl, col, patterns) takes three arguments");
  auto text = [&](int i) {
    const auto* t = sqlite3_value_text(argv[i]);
    return std::string(t ? reinterpret_cast<const char*>(t) : "");
  };
  auto json = nlohmann::json::parse(text(2), nullptr, false);
  if (json.is_discarded() || !json.is_array())
    return fail("vigil_text: patterns must be a JSON array of strings");
  std::vector<std::string> patterns;
  for (const auto& p : json) {
    if (!p.is_string()) return fail("vigil_text: patterns must be a JSON array of strings");
    patterns.push_back(p.get<std::string>());
  }
  auto ids = Candidates(vtab->db, text(0), text(1), patterns);
  if (!ids) return fail(ids.error().message);
  cursor->ids = std::move(*ids);
  return SQLITE_OK;
}

int Next(sqlite3_vtab_cursor* base) {
  ++reinterpret_cast<TextCursor*>(base)->pos;
  return SQLITE_OK;
}

int Eof(sqlite3_vtab_cursor* base) {
  auto* cursor = reinterpret_cast<TextCursor*>(base);
  return cursor->pos >= cursor->ids.size();
}

int ColumnValue(sqlite3_vtab_cursor* base, sqlite3_context* context, int column) {
  auto* cursor = reinterpret_cast<TextCursor*>(base);
  if (column == kId)
    sqlite3_result_int64(context, cursor->ids[cursor->pos]);
  else
    sqlite3_result_null(context);
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* base, sqlite3_int64* rowid) {
  *rowid = static_cast<sqlite3_int64>(reinterpret_cast<TextCursor*>(base)->pos);
  return SQLITE_OK;
}

sqlite3_module MakeModule() {
  sqlite3_module m{};
  m.iVersion = 0;
  m.xCreate = nullptr;  // eponymous only: vigil_text(...) needs no CREATE VIRTUAL TABLE
  m.xConnect = Connect;
  m.xBestIndex = BestIndex;
  m.xDisconnect = Disconnect;
  m.xDestroy = Disconnect;
  m.xOpen = Open;
  m.xClose = Close;
  m.xFilter = Filter;
  m.xNext = Next;
  m.xEof = Eof;
  m.xColumn = ColumnValue;
  m.xRowid = Rowid;
  return m;
}

const sqlite3_module kModule = MakeModule();

}  // namespace

Result<void> RegisterFunction(sqlite3* db) {
  if (sqlite3_create_module_v2(db, "vigil_text", &kModule, nullptr, nullptr) != SQLITE_OK)
    return sqlite::DbFail(db, "register vigil_text");
  return {};
}

}  // namespace vigil::store::text_index
