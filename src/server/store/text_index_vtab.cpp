// The vigil_text table-valued function: SQLite virtual-table plumbing around Candidates().
#include "server/store/text_index_vtab.hpp"

#include <algorithm>
#include <limits>
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

namespace {

// How one index answers for one partition: sealed (from its blocks through `block_stmt`, bound to
// tbl and col) or live (false when the live index does not hold the partition).
struct PartitionMatcher {
  std::string block_sql;  // ?1 tbl, ?2 col, ?3 part, then the matcher's own parameters
  std::function<void(sqlite3_stmt* block_stmt, std::int64_t part,
                     std::vector<std::uint16_t>& offsets)>
      sealed;
  std::function<bool(const LiveTextIndex& live, std::int64_t part,
                     std::vector<std::uint16_t>& offsets)>
      live;
  // False when a sealed partition certainly has no match (its filter says so); none: probe all.
  std::function<bool(std::int64_t part)> may_hold;
};

// The candidate ids of `table` over all its partitions, ascending. `st` keeps the statements
// for the next walk of the same table, column and matcher. nullopt once the candidates pass
// `max_share` of the table's id range (and 4,096): a caller that can scan instead does. (Postings
// may still list rows retention deleted: without a bound, never nullopt.)
Result<std::optional<std::vector<std::int64_t>>> Walk(
    sqlite3* db, const std::string& table, const std::string& column, const PartitionMatcher& m,
    WalkStatements& st, double max_share = std::numeric_limits<double>::infinity()) {
  if (!IsIdentifier(table) || !IsIdentifier(column))
    return Fail("table and column must be plain names, got '" + table + "', '" + column + "'");
  std::vector<std::int64_t> ids;
  std::int64_t min_id = 0, max_id = 0;
  auto too_many = [&] {
    return ids.size() > 4096 &&
           static_cast<double>(ids.size()) > max_share * static_cast<double>(max_id - min_id + 1);
  };
  if (!st.range) {
    // Two subqueries, each one seek (a lone min() or max() is one too, but not on a virtual
    // table: the column-block tables, block_table_vtab.hpp, take ORDER BY id and read no row
    // data).
    auto range =
        Bound(db, !st.range_sql.empty() ? st.range_sql
                                        : "SELECT (SELECT id FROM \"" + table +
                                              "\" ORDER BY id LIMIT 1), (SELECT id FROM \"" +
                                              table + "\" ORDER BY id DESC LIMIT 1)");
    if (!range) return std::unexpected(range.error());
    st.range = std::move(*range);
    // A database without the index (no store has opened it since) has no partition sealed.
    if (auto parts = Bound(db, "SELECT part FROM text_index_parts WHERE tbl = ?1")) {
      auto block = Bound(db, m.block_sql);
      if (!block) return std::unexpected(block.error());
      st.parts = std::move(*parts);
      st.block = std::move(*block);
      sqlite3_bind_text(st.parts.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st.block.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st.block.get(), 2, column.c_str(), -1, SQLITE_TRANSIENT);
    }
  }
  sqlite3_stmt* range = st.range.get();
  const int stepped = sqlite3_step(range);
  const bool empty = stepped != SQLITE_ROW || sqlite3_column_type(range, 0) == SQLITE_NULL;
  min_id = empty ? 0 : sqlite3_column_int64(range, 0);
  max_id = empty ? 0 : sqlite3_column_int64(range, 1);
  sqlite3_reset(range);
  if (stepped != SQLITE_ROW && stepped != SQLITE_DONE) return sqlite::DbFail(db, "vigil_text");
  if (empty) return ids;

  std::set<std::int64_t> sealed;
  sqlite3_stmt* block_stmt = st.block.get();
  if (st.parts) {
    while (sqlite3_step(st.parts.get()) == SQLITE_ROW)
      sealed.insert(sqlite3_column_int64(st.parts.get(), 0));
    sqlite3_reset(st.parts.get());
  }
  const char* file = sqlite3_db_filename(db, "main");
  auto live = FindLive(file ? file : "");

  std::vector<std::uint16_t> offsets;
  for (std::int64_t part = PartitionOf(min_id); part <= PartitionOf(max_id); ++part) {
    offsets.clear();
    const std::int64_t base = PartitionFirstId(part);
    // Not indexed in this snapshot nor held in memory: every row is a candidate.
    bool every_row = false;
    if (sealed.contains(part)) {
      if (!m.may_hold || m.may_hold(part)) m.sealed(block_stmt, part, offsets);
    } else {
      every_row = !live || !m.live(*live, part, offsets);
    }
    if (every_row)
      for (std::int64_t id = std::max(base, min_id); id <= std::min(PartitionLastId(part), max_id);
           ++id)
        ids.push_back(id);
    else
      for (std::uint16_t offset : offsets) ids.push_back(base + offset);
    if (too_many()) return std::nullopt;
  }
  return ids;
}

// A walk without a share bound, which never gives nullopt.
Result<std::vector<std::int64_t>> Unbounded(Result<std::optional<std::vector<std::int64_t>>> ids) {
  if (!ids) return std::unexpected(ids.error());
  return std::move(**ids);
}

std::string BlobText(sqlite3_stmt* s, int column) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(s, column));
  return std::string(data ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(s, column)));
}

}  // namespace

Result<std::vector<std::int64_t>> Candidates(sqlite3* db, const std::string& table,
                                             const std::string& column,
                                             const std::vector<std::string>& patterns) {
  auto sets = PatternTrigrams(patterns);
  if (!sets) return Fail("every pattern needs a literal run of 3 characters (between wildcards)");
  PartitionMatcher m;
  m.block_sql =
      "SELECT first_key, data FROM text_postings WHERE tbl = ?1 AND col = ?2 AND part = ?3 AND "
      "kind = ?4 AND first_key <= ?5 ORDER BY first_key DESC LIMIT 1";
  m.sealed = [&](sqlite3_stmt* s, std::int64_t part, std::vector<std::uint16_t>& offsets) {
    MatchSealed(
        *sets,
        [&](int kind, std::int64_t key) -> std::optional<Block> {
          sqlite3_bind_int64(s, 3, part);
          sqlite3_bind_int(s, 4, kind);
          sqlite3_bind_int64(s, 5, key);
          std::optional<Block> out;
          if (sqlite3_step(s) == SQLITE_ROW)
            out = Block{kind, sqlite3_column_int64(s, 0), BlobText(s, 1)};
          sqlite3_reset(s);
          return out;
        },
        offsets);
  };
  m.live = [&](const LiveTextIndex& live, std::int64_t part, std::vector<std::uint16_t>& offsets) {
    return live.Match(table, column, part, *sets, offsets);
  };
  WalkStatements statements;
  return Unbounded(Walk(db, table, column, m, statements));
}

namespace {

PartitionMatcher TermMatcher(const std::string& table, const std::string& column,
                             const TermQuery& query) {
  PartitionMatcher m;
  // ?4: the term, ?5: 0 for the block at or before it, 1 for the first block after it
  m.block_sql =
      "SELECT first_term, data FROM (SELECT first_term, data FROM term_postings WHERE tbl = ?1 "
      "AND col = ?2 AND part = ?3 AND ?5 = 0 AND first_term <= ?4 ORDER BY first_term DESC LIMIT "
      "1) UNION ALL SELECT first_term, data FROM (SELECT first_term, data FROM term_postings WHERE "
      "tbl = ?1 AND col = ?2 AND part = ?3 AND ?5 = 1 AND first_term > ?4 ORDER BY first_term "
      "LIMIT 1)";
  m.sealed = [&query](sqlite3_stmt* s, std::int64_t part, std::vector<std::uint16_t>& offsets) {
    MatchSealedTerms(
        query,
        [&](std::string_view term, bool after) -> std::optional<TermBlock> {
          sqlite3_bind_int64(s, 3, part);
          sqlite3_bind_blob(s, 4, term.data(), static_cast<int>(term.size()), SQLITE_TRANSIENT);
          sqlite3_bind_int(s, 5, after ? 1 : 0);
          std::optional<TermBlock> out;
          if (sqlite3_step(s) == SQLITE_ROW) out = TermBlock{BlobText(s, 0), BlobText(s, 1)};
          sqlite3_reset(s);
          return out;
        },
        offsets);
  };
  m.live = [&table, &column, &query](const LiveTextIndex& live, std::int64_t part,
                                     std::vector<std::uint16_t>& offsets) {
    return live.MatchTerms(table, column, part, query, offsets);
  };
  return m;
}

}  // namespace

Result<std::vector<std::int64_t>> TermCandidates(sqlite3* db, const std::string& table,
                                                 const std::string& column,
                                                 const std::vector<std::string>& values,
                                                 bool prefix) {
  const TermQuery query = MakeTermQuery(values, prefix);
  WalkStatements statements;
  return Unbounded(Walk(db, table, column, TermMatcher(table, column, query), statements));
}

TermLookup::TermLookup(sqlite3* db, std::string table, std::string column, std::string range_sql)
    : db_(db), table_(std::move(table)), column_(std::move(column)) {
  statements_.range_sql = std::move(range_sql);
}

Result<std::optional<std::vector<std::int64_t>>> TermLookup::Find(const std::string& value,
                                                                  double max_share) {
  const TermQuery query = MakeTermQuery({value}, false);
  PartitionMatcher m = TermMatcher(table_, column_, query);
  if (!filter_stmt_) {
    auto stmt =
        Bound(db_, "SELECT bits FROM term_filters WHERE tbl = ?1 AND col = ?2 AND part = ?3");
    if (!stmt)  // a database without filters
      return Walk(db_, table_, column_, m, statements_, max_share);
    filter_stmt_ = std::move(*stmt);
    sqlite3_bind_text(filter_stmt_.get(), 1, table_.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(filter_stmt_.get(), 2, column_.c_str(), -1, SQLITE_TRANSIENT);
  }
  const std::string& term = query.exact.front();
  m.may_hold = [&](std::int64_t part) {
    auto cached = filters_.find(part);
    if (cached == filters_.end()) {
      if (filter_bytes_ > kFilterCacheBytes) filters_.clear(), filter_bytes_ = 0;
      sqlite3_stmt* s = filter_stmt_.get();
      sqlite3_bind_int64(s, 3, part);
      // No filter (a partition sealed before filters, or not a key column): it is probed.
      std::string bits = sqlite3_step(s) == SQLITE_ROW ? BlobText(s, 0) : std::string();
      sqlite3_reset(s);
      filter_bytes_ += bits.size();
      cached = filters_.emplace(part, std::move(bits)).first;
    }
    return cached->second.empty() || FilterMayHold(cached->second, term);
  };
  return Walk(db_, table_, column_, m, statements_, max_share);
}

namespace {

enum class Function { Text, Terms };
constexpr Function kText = Function::Text, kTerms = Function::Terms;

struct TextVtab {
  sqlite3_vtab base{};
  sqlite3* db = nullptr;
  Function function = Function::Text;
  int arguments = 3;
};

struct TextCursor {
  sqlite3_vtab_cursor base{};
  std::vector<std::int64_t> ids;
  std::size_t pos = 0;
};

// vigil_text(tbl, col, patterns), vigil_terms(tbl, col, mode, values): argument i is column i.
constexpr int kId = 0, kTable = 1;

int Connect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char**) {
  const Function function = *static_cast<const Function*>(aux);
  int rc = sqlite3_declare_vtab(
      db, function == Function::Text
              ? "CREATE TABLE x(id INTEGER, tbl HIDDEN, col HIDDEN, patterns HIDDEN)"
              : "CREATE TABLE x(id INTEGER, tbl HIDDEN, col HIDDEN, mode HIDDEN, vals HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  auto vtab = std::make_unique<TextVtab>();
  vtab->db = db;
  vtab->function = function;
  vtab->arguments = function == Function::Text ? 3 : 4;
  *out = &vtab.release()->base;  // owned by SQLite until Disconnect
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* vtab) {
  std::unique_ptr<TextVtab>(reinterpret_cast<TextVtab*>(vtab));
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab* base, sqlite3_index_info* info) {
  const int arguments = reinterpret_cast<TextVtab*>(base)->arguments;
  int argv_of[5] = {-1, -1, -1, -1, -1};
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (c.iColumn < kTable || c.op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!c.usable) return SQLITE_CONSTRAINT;  // the arguments must be known before the scan
    argv_of[c.iColumn] = i;
  }
  for (int col = kTable; col <= arguments; ++col) {
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
  const bool text_index = vtab->function == Function::Text;
  const char* name = text_index ? "vigil_text" : "vigil_terms";
  if (argc != vtab->arguments)
    return fail(text_index ? "vigil_text(tbl, col, patterns) takes three arguments"
                           : "vigil_terms(tbl, col, mode, values) takes four arguments");
  auto text = [&](int i) {
    const auto* t = sqlite3_value_text(argv[i]);
    return std::string(t ? reinterpret_cast<const char*>(t) : "");
  };
  auto json = nlohmann::json::parse(text(argc - 1), nullptr, false);
  if (json.is_discarded() || !json.is_array())
    return fail(std::string(name) + ": the last argument must be a JSON array of strings");
  std::vector<std::string> values;
  for (const auto& p : json) {
    if (!p.is_string())
      return fail(std::string(name) + ": the last argument must be a JSON array of strings");
    values.push_back(p.get<std::string>());
  }
  Result<std::vector<std::int64_t>> ids;
  if (text_index) {
    ids = Candidates(vtab->db, text(0), text(1), values);
  } else {
    std::string mode = text(2);
    if (mode != "eq" && mode != "prefix")
      return fail("vigil_terms: mode must be 'eq' or 'prefix', got '" + mode + "'");
    ids = TermCandidates(vtab->db, text(0), text(1), values, mode == "prefix");
  }
  if (!ids) return fail(std::string(name) + ": " + ids.error().message);
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

const sqlite3_module kModule = sqlite::EponymousModule(Connect, BestIndex, Disconnect, Open, Close,
                                                       Filter, Next, Eof, ColumnValue, Rowid);

}  // namespace

Result<void> RegisterFunction(sqlite3* db) {
  // aux: which function (static, so it outlives every connection)
  if (sqlite3_create_module_v2(db, "vigil_text", &kModule, const_cast<Function*>(&kText),
                               nullptr) != SQLITE_OK ||
      sqlite3_create_module_v2(db, "vigil_terms", &kModule, const_cast<Function*>(&kTerms),
                               nullptr) != SQLITE_OK)
    return sqlite::DbFail(db, "register vigil_text and vigil_terms");
  return {};
}

}  // namespace vigil::store::text_index
