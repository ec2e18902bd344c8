// The column-block event tables' virtual-table plumbing: plans (xBestIndex), block iteration
// (xFilter/xNext) and values (xColumn).
#include "server/store/block_table_vtab.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <optional>
#include <ranges>

#include "server/store/block_table.hpp"
#include "server/store/json_text.hpp"
#include "server/store/text_index_vtab.hpp"

namespace vigil::store::blocks {
namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// What one virtual table reads: registered once per category, owned by SQLite's module.
struct TableSpec {
  std::string table;  // the event table, e.g. "process"
  std::vector<const schema::FieldDef*> columns;
  int timestamp_column = -1;  // position of @timestamp in columns
  // The term keys (block_table.hpp): their positions in columns.
  std::vector<int> term_keys;
};

// Column numbers of the declared table: 0 id, 1..n the fields, n+1 extra.
struct BlockVtab {
  sqlite3_vtab base{};
  sqlite3* db = nullptr;
  const TableSpec* spec = nullptr;
  std::string schema;  // "schema"
  std::string blocks;  // "schema"."<table>_blocks"
  // The blocks lookups by id read last, with the columns they loaded: lineage walks and id lists
  // come back to the same blocks. Keyed by id range and stored size (blocks are written once;
  // one rewritten by retention has another range or size).
  struct Cached {
    std::int64_t first_id = 0, last_id = 0, bytes = 0;
    std::uint64_t used = 0;
    std::shared_ptr<ColumnBlock> block;
  };
  std::vector<Cached> cache;
  std::uint64_t clock = 0;
  sqlite::StmtPtr fetch;  // a block's data by first_id
  // Statements of closed cursors, for the next ones (SQLite opens a cursor per execution of a
  // statement: preparing them anew made a lookup cost as much as its reading).
  struct Statements {
    sqlite::StmtPtr ascending, descending_range, point;
  };
  std::vector<Statements> idle;
  // Per term key: whether the database's term postings cover it (read once), and its lookups.
  std::optional<std::vector<bool>> indexed_keys;
  std::vector<std::unique_ptr<text_index::TermLookup>> term_lookups;
};
constexpr std::size_t kCachedBlocks = 16;

// The plan xBestIndex chose, as idxNum bits; the xFilter arguments come in this bit order.
enum PlanBit : int {
  kIdEq = 1,      // argument: one id
  kIdIn = 2,      // argument: the IN list, all values at once
  kIdLower = 4,   // id > or >= argument
  kIdUpper = 8,   // id < or <= argument
  kTsLower = 16,  // timestamp > or >= argument
  kTsUpper = 32,  // timestamp < or <= argument
  kDescending = 64,
  kIdsOnly = 128,  // the query reads no column but id: block data is never read
  kKeyEq = 256,    // argument (after the others): a term key's value; which key: bits 9..12
};

struct Cursor {
  sqlite3_vtab_cursor base{};
  // ascending, descending_range: blocks in id order, for scans and ranges; point: the block
  // holding one id, for IN
  BlockVtab::Statements statements;
  sqlite3_stmt* range = nullptr;  // the one of the two range statements in use
  bool descending = false, eof = true;
  std::int64_t id_lower = kMin, id_upper = kMax, ts_lower = kMin, ts_upper = kMax;
  std::optional<std::vector<std::int64_t>> ids;  // IN / = lists, sorted in output order
  std::size_t next_id = 0;
  bool ids_only = false;
  bool in_block = false;               // first_id and rows describe a block
  std::int64_t rows = 0;               // rows of the current block
  std::shared_ptr<ColumnBlock> block;  // its data (none when ids_only)
  std::int64_t first_id = 0, row = 0;
  std::string text;  // the current JSON value of a list or extra column
};

BlockVtab& VtabOf(sqlite3_vtab_cursor* c) { return *reinterpret_cast<BlockVtab*>(c->pVtab); }
Cursor& CursorOf(sqlite3_vtab_cursor* c) { return *reinterpret_cast<Cursor*>(c); }

int VtabFail(sqlite3_vtab* vtab, const std::string& message) {
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = sqlite3_mprintf("%s", message.c_str());
  return SQLITE_ERROR;
}

// An error of the table's block `first_id`: "process block 401: ...".
int BlockFail(sqlite3_vtab_cursor* base, std::int64_t first_id, const std::string& message) {
  return VtabFail(base->pVtab,
                  VtabOf(base).spec->table + " block " + std::to_string(first_id) + ": " + message);
}

// The integer a value gives an integer column: itself, or a real rounded down (a lower bound:
// `>` read as `>=`), up (an upper bound: `<` read as `<=`) or kept only when it has no fraction
// (an `id =` or `IN` value). A bound is a superset: SQLite applies the exact test. nullopt when
// the value sets no bound or names no id (text, NULL and blobs compare above or outside
// integers).
enum class Rounding { kDown, kUp, kExact };
std::optional<std::int64_t> IntegerOf(sqlite3_value* v, Rounding rounding) {
  const int type = sqlite3_value_numeric_type(v);
  if (type == SQLITE_INTEGER) return sqlite3_value_int64(v);
  if (type != SQLITE_FLOAT) return std::nullopt;
  const double d = sqlite3_value_double(v);
  switch (rounding) {
    case Rounding::kDown:
      if (!(d > -9.2e18)) return std::nullopt;
      return d >= 9.2e18 ? kMax : static_cast<std::int64_t>(std::floor(d));
    case Rounding::kUp:
      if (!(d < 9.2e18)) return std::nullopt;
      return d <= -9.2e18 ? kMin : static_cast<std::int64_t>(std::ceil(d));
    case Rounding::kExact:
      if (d == std::floor(d) && std::abs(d) < 9e18) return static_cast<std::int64_t>(d);
      return std::nullopt;
  }
  return std::nullopt;
}

int Connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out,
            char** error) {
  const auto* spec = static_cast<const TableSpec*>(aux);
  std::string declare = "CREATE TABLE x(id INTEGER";
  for (const auto* f : spec->columns)
    declare += ", " + sqlite::Quote(f->column) + " " + ColumnType(*f);
  declare += ", extra TEXT)";
  if (int rc = sqlite3_declare_vtab(db, declare.c_str()); rc != SQLITE_OK) return rc;
  if (argc < 2) {
    *error = sqlite3_mprintf("%s: no schema", spec->table.c_str());
    return SQLITE_ERROR;
  }
  auto vtab = std::make_unique<BlockVtab>();
  vtab->db = db;
  vtab->spec = spec;
  vtab->schema = sqlite::Quote(argv[1]);
  vtab->blocks = vtab->schema + "." + sqlite::Quote(BlocksTableName(spec->table));
  *out = &vtab.release()->base;  // owned by SQLite until Disconnect
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* vtab) {
  std::unique_ptr<BlockVtab>(reinterpret_cast<BlockVtab*>(vtab));
  return SQLITE_OK;
}

// How many rows a value of a term key selects, roughly: 0 a few (entity ids), 1 a host's share,
// 2 possibly most of the table (ports).
int KeyRank(const schema::FieldDef& f) {
  if (f.id == schema::field::kHostId) return 1;
  return f.type == schema::FieldType::Long ? 2 : 0;
}

int BestIndex(sqlite3_vtab* base, sqlite3_index_info* info) {
  const auto& spec = *reinterpret_cast<BlockVtab*>(base)->spec;
  const int timestamp = spec.timestamp_column + 1;
  int chosen[7] = {-1, -1, -1, -1, -1, -1, -1};  // constraint per plan bit position
  auto take = [&](int bit, int constraint) {
    const int slot = std::countr_zero(static_cast<unsigned>(bit));
    if (chosen[slot] < 0) chosen[slot] = constraint;
  };
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (!c.usable) continue;
    const bool is_id = c.iColumn == 0 || c.iColumn == -1;
    if (!is_id && c.iColumn != timestamp) continue;
    switch (c.op) {
      case SQLITE_INDEX_CONSTRAINT_EQ:
        if (is_id) take(sqlite3_vtab_in(info, i, -1) ? kIdIn : kIdEq, i);
        break;
      case SQLITE_INDEX_CONSTRAINT_GT:
      case SQLITE_INDEX_CONSTRAINT_GE:
        take(is_id ? kIdLower : kTsLower, i);
        break;
      case SQLITE_INDEX_CONSTRAINT_LT:
      case SQLITE_INDEX_CONSTRAINT_LE:
        take(is_id ? kIdUpper : kTsUpper, i);
        break;
      default:
        break;
    }
  }
  if (chosen[0] >= 0) chosen[1] = -1;  // one id equality is enough
  // A term key's equality, when no id equality: the most selective key of those constrained.
  int key_constraint = -1, key = -1;
  if (chosen[0] < 0 && chosen[1] < 0)
    for (int i = 0; i < info->nConstraint; ++i) {
      const auto& c = info->aConstraint[i];
      if (!c.usable || c.op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
      for (std::size_t k = 0; k < spec.term_keys.size(); ++k)
        if (c.iColumn == spec.term_keys[k] + 1 &&
            (key < 0 ||
             KeyRank(*spec.columns[spec.term_keys[k]]) <
                 KeyRank(*spec.columns[spec.term_keys[static_cast<std::size_t>(key)]]))) {
          key_constraint = i;
          key = static_cast<int>(k);
        }
    }
  int plan = 0, argument = 0;
  double cost = 4e6, rows = 1e6;
  for (int slot = 0; slot < 6; ++slot) {
    if (chosen[slot] < 0) continue;
    plan |= 1 << slot;
    info->aConstraintUsage[chosen[slot]].argvIndex = ++argument;
    if ((1 << slot) == kIdIn) sqlite3_vtab_in(info, chosen[slot], 1);
  }
  if (key_constraint >= 0) {
    plan |= kKeyEq | key << 9;
    info->aConstraintUsage[key_constraint].argvIndex = ++argument;
  }
  if (plan & kIdEq) {
    cost = 10, rows = 1;
    info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  } else if (plan & kIdIn) {
    cost = 100, rows = 10;
  } else if (plan & kKeyEq) {
    // An entity id has a few rows, a host many; a port value (443, 53) can be most of the table.
    switch (KeyRank(*spec.columns[spec.term_keys[static_cast<std::size_t>(key)]])) {
      case 0:
        cost = 20, rows = 4;
        break;
      case 1:
        cost = 4e3, rows = 1e3;
        break;
      default:
        cost = 4e4, rows = 1e4;
        break;
    }
  } else {
    if ((plan & kIdLower) && (plan & kIdUpper))
      cost /= 100, rows /= 100;
    else if (plan & (kIdLower | kIdUpper))
      cost /= 4, rows /= 4;
    if ((plan & kTsLower) && (plan & kTsUpper))
      cost /= 20, rows /= 20;
    else if (plan & (kTsLower | kTsUpper))
      cost /= 2, rows /= 2;
  }
  if (info->nOrderBy == 1 && (info->aOrderBy[0].iColumn == 0 || info->aOrderBy[0].iColumn == -1)) {
    info->orderByConsumed = 1;
    if (info->aOrderBy[0].desc) plan |= kDescending;
  }
  if ((info->colUsed & ~static_cast<sqlite3_uint64>(1)) == 0) plan |= kIdsOnly;
  info->idxNum = plan;
  info->estimatedCost = cost;
  info->estimatedRows = static_cast<sqlite3_int64>(rows);
  return SQLITE_OK;
}

int Open(sqlite3_vtab* base, sqlite3_vtab_cursor** out) {
  auto cursor = std::make_unique<Cursor>();
  auto& idle = reinterpret_cast<BlockVtab*>(base)->idle;
  if (!idle.empty()) {
    cursor->statements = std::move(idle.back());
    idle.pop_back();
  }
  *out = &cursor.release()->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* base) {
  std::unique_ptr<Cursor> cursor(&CursorOf(base));
  for (auto* s : {&cursor->statements.ascending, &cursor->statements.descending_range,
                  &cursor->statements.point})
    if (*s) sqlite3_reset(s->get());
  auto& idle = VtabOf(base).idle;
  if (idle.size() < 8) idle.push_back(std::move(cursor->statements));
  return SQLITE_OK;
}

// Opens block (first_id, last_id, data) as the cursor's block.
int TakeBlock(sqlite3_vtab_cursor* base, std::int64_t first_id, std::int64_t last_id,
              std::string_view data) {
  Cursor& c = CursorOf(base);
  const TableSpec& spec = *VtabOf(base).spec;
  c.first_id = first_id;
  auto block = ColumnBlock::Open(data, spec.columns);
  if (!block) return BlockFail(base, first_id, block.error().message);
  if (last_id - first_id + 1 != static_cast<std::int64_t>(block->rows()))
    return BlockFail(base, first_id,
                     "holds " + std::to_string(block->rows()) + " rows, not ids " +
                         std::to_string(first_id) + ".." + std::to_string(last_id));
  c.block = std::make_shared<ColumnBlock>(std::move(*block));
  c.rows = last_id - first_id + 1;
  c.in_block = true;
  return SQLITE_OK;
}

std::string_view BlobView(sqlite3_stmt* s, int column) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(s, column));
  return {data ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(s, column))};
}

// Makes block (first_id, last_id) of `bytes` stored bytes the cursor's block, from the cache or
// read and cached.
int TakeCachedBlock(sqlite3_vtab_cursor* base, std::int64_t first_id, std::int64_t last_id,
                    std::int64_t bytes) {
  BlockVtab& vtab = VtabOf(base);
  Cursor& c = CursorOf(base);
  for (auto& entry : vtab.cache)
    if (entry.first_id == first_id && entry.last_id == last_id && entry.bytes == bytes) {
      entry.used = ++vtab.clock;
      c.first_id = first_id;
      c.block = entry.block;
      c.rows = last_id - first_id + 1;
      c.in_block = true;
      return SQLITE_OK;
    }
  if (!vtab.fetch) {
    auto fetch =
        sqlite::Prepare(vtab.db, "SELECT data FROM " + vtab.blocks + " WHERE first_id = ?");
    if (!fetch) return VtabFail(base->pVtab, fetch.error().message);
    vtab.fetch = std::move(*fetch);
  }
  sqlite3_stmt* s = vtab.fetch.get();
  sqlite3_bind_int64(s, 1, first_id);
  const int step = sqlite3_step(s);
  int rc = step == SQLITE_ROW ? TakeBlock(base, first_id, last_id, BlobView(s, 0))
                              : VtabFail(base->pVtab, sqlite3_errmsg(vtab.db));
  sqlite3_reset(s);
  if (rc != SQLITE_OK) return rc;
  auto slot = vtab.cache.end();
  if (vtab.cache.size() < kCachedBlocks)
    slot = vtab.cache.emplace(vtab.cache.end());
  else
    slot = std::ranges::min_element(vtab.cache, {}, &BlockVtab::Cached::used);
  *slot = BlockVtab::Cached{first_id, last_id, bytes, ++vtab.clock, c.block};
  return SQLITE_OK;
}

// The current row's value of a column (not the extra map): a lookup of ids in ascending order
// decodes that row only (ColumnBlock::ValueAt reads forward), anything else loads the column.
Result<BlockValue> CurrentValue(Cursor& c, std::size_t column) {
  const auto row = static_cast<std::size_t>(c.row);
  if (c.ids && !c.descending) return c.block->ValueAt(row, column);
  if (auto loaded = c.block->Load(column); !loaded) return std::unexpected(loaded.error());
  return c.block->Value(row, column);
}

// Whether the current row passes the cursor's bounds (skipping what SQLite would reject anyway).
bool RowInBounds(sqlite3_vtab_cursor* base, int& rc) {
  Cursor& c = CursorOf(base);
  const std::int64_t id = c.first_id + c.row;
  if (id < c.id_lower || id > c.id_upper) return false;
  // No time bounds, or no block data (a query of ids alone has no timestamp constraint).
  if ((c.ts_lower == kMin && c.ts_upper == kMax) || !c.block) return true;
  auto ts = CurrentValue(c, static_cast<std::size_t>(VtabOf(base).spec->timestamp_column));
  if (!ts) {
    rc = BlockFail(base, c.first_id, ts.error().message);
    return false;
  }
  const auto* n = std::get_if<std::int64_t>(&*ts);
  return n && *n >= c.ts_lower && *n <= c.ts_upper;
}

// Moves to the next row in output order that passes the bounds, reading blocks as needed.
int Advance(sqlite3_vtab_cursor* base, bool first) {
  Cursor& c = CursorOf(base);
  int rc = SQLITE_OK;
  if (c.ids) {  // IN or = : one id after another
    for (; c.next_id < c.ids->size(); ++c.next_id) {
      const std::int64_t id = (*c.ids)[c.next_id];
      if (!c.in_block || id < c.first_id || id >= c.first_id + c.rows) {
        sqlite3_stmt* s = c.statements.point.get();
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, id);
        const int step = sqlite3_step(s);
        if (step == SQLITE_DONE) continue;
        if (step != SQLITE_ROW) return VtabFail(base->pVtab, sqlite3_errmsg(VtabOf(base).db));
        const std::int64_t first_id = sqlite3_column_int64(s, 0);
        const std::int64_t last_id = sqlite3_column_int64(s, 1);
        if (last_id < id) continue;  // past the block's last id: no such row
        if (sqlite3_column_int64(s, 4) < c.ts_lower || sqlite3_column_int64(s, 3) > c.ts_upper) {
          // No row of the block is in the time range: skip its ids without reading it.
          while (c.next_id + 1 < c.ids->size() && (*c.ids)[c.next_id + 1] >= first_id &&
                 (*c.ids)[c.next_id + 1] <= last_id)
            ++c.next_id;
          continue;
        }
        if (c.ids_only)
          c.first_id = first_id, c.rows = last_id - first_id + 1, c.in_block = true;
        else if ((rc = TakeCachedBlock(base, first_id, last_id, sqlite3_column_int64(s, 2))) !=
                 SQLITE_OK)
          return rc;
      }
      c.row = id - c.first_id;
      if (RowInBounds(base, rc)) {
        ++c.next_id;
        c.eof = false;
        return SQLITE_OK;
      }
      if (rc != SQLITE_OK) return rc;
    }
    c.eof = true;
    return SQLITE_OK;
  }
  for (;;) {
    if (c.in_block) {
      const std::int64_t rows = c.rows;
      if (first) {
        c.row = c.descending ? rows - 1 : 0;
        first = false;
      } else {
        c.row += c.descending ? -1 : 1;
      }
      for (; c.row >= 0 && c.row < rows; c.row += c.descending ? -1 : 1) {
        if (RowInBounds(base, rc)) {
          c.eof = false;
          return SQLITE_OK;
        }
        if (rc != SQLITE_OK) return rc;
        const std::int64_t id = c.first_id + c.row;
        if (c.descending ? id < c.id_lower : id > c.id_upper) break;  // the rest is out of range
      }
    }
    const int step = sqlite3_step(c.range);
    if (step == SQLITE_DONE) {
      c.eof = true;
      c.block.reset();
      c.in_block = false;
      return SQLITE_OK;
    }
    if (step != SQLITE_ROW) return VtabFail(base->pVtab, sqlite3_errmsg(VtabOf(base).db));
    const std::int64_t first_id = sqlite3_column_int64(c.range, 0);
    const std::int64_t last_id = sqlite3_column_int64(c.range, 2);
    if (c.ids_only)
      c.first_id = first_id, c.rows = last_id - first_id + 1, c.in_block = true;
    else if ((rc = TakeBlock(base, first_id, last_id, BlobView(c.range, 1))) != SQLITE_OK)
      return rc;
    first = true;
  }
}

// Whether the database's term postings cover each term key of the table: the layout the store
// recorded for the table (text_index_layout) lists its term columns.
std::vector<bool> IndexedKeys(const BlockVtab& vtab) {
  const TableSpec& spec = *vtab.spec;
  std::vector<bool> indexed(spec.term_keys.size(), false);
  if (vtab.schema != "\"main\"") return indexed;  // the postings are the main database's
  auto layout = sqlite::Prepare(vtab.db, "SELECT columns FROM text_index_layout WHERE tbl = ?");
  if (!layout) return indexed;  // a database without postings
  sqlite::BindText(layout->get(), 1, spec.table);
  if (sqlite3_step(layout->get()) != SQLITE_ROW) return indexed;
  const std::string columns(sqlite::ColumnText(layout->get(), 0));
  const std::size_t terms = columns.find(" terms:");
  if (terms == std::string::npos) return indexed;
  const std::string listed = "," + columns.substr(terms + 7);  // ",a,b,"
  for (std::size_t k = 0; k < spec.term_keys.size(); ++k)
    indexed[k] = listed.find("," + std::string(spec.columns[spec.term_keys[k]]->column) + ",") !=
                 std::string::npos;
  return indexed;
}

// The ids of the rows whose term key `key` may equal `value` (a superset: SQLite tests every row
// it gets), ascending; nullopt when the database keeps no postings of that column (a store
// without postings): then the scan reads every block.
Result<std::optional<std::vector<std::int64_t>>> KeyIds(sqlite3_vtab_cursor* base, int key,
                                                        sqlite3_value* value) {
  BlockVtab& vtab = VtabOf(base);
  const auto k = static_cast<std::size_t>(key);
  if (k >= vtab.spec->term_keys.size()) return Fail("no term key " + std::to_string(key));
  if (!vtab.indexed_keys) vtab.indexed_keys = IndexedKeys(vtab);
  if (!(*vtab.indexed_keys)[k]) return std::nullopt;
  std::vector<std::int64_t> ids;
  if (!value || sqlite3_value_type(value) == SQLITE_NULL) return ids;  // = NULL matches nothing
  const schema::FieldDef& column = *vtab.spec->columns[vtab.spec->term_keys[k]];
  std::string wanted;
  if (column.type == schema::FieldType::Long) {  // held as decimal text
    const auto n = IntegerOf(value, Rounding::kExact);
    if (!n) return std::nullopt;  // 'abc', 443.5: no integer equals it; the scan decides
    wanted = std::to_string(*n);
  } else {
    const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(value));
    wanted.assign(text ? text : "", static_cast<std::size_t>(sqlite3_value_bytes(value)));
  }
  if (wanted.empty()) return std::nullopt;  // the term index skips empty values: a scan finds them
  vtab.term_lookups.resize(vtab.spec->term_keys.size());
  if (!vtab.term_lookups[k])
    vtab.term_lookups[k] = std::make_unique<text_index::TermLookup>(
        vtab.db, vtab.spec->table, std::string(column.column),
        "SELECT (SELECT first_id FROM " + vtab.blocks + " ORDER BY first_id LIMIT 1), (SELECT " +
            "last_id FROM " + vtab.blocks + " ORDER BY first_id DESC LIMIT 1)");
  // Past an eighth of the table, a scan (each block read once) beats a list of its ids.
  auto candidates = vtab.term_lookups[k]->Find(wanted, 1.0 / 8);
  if (!candidates) return std::unexpected(candidates.error());
  return std::move(*candidates);
}

int Filter(sqlite3_vtab_cursor* base, int plan, const char*, int argc, sqlite3_value** argv) {
  Cursor& c = CursorOf(base);
  BlockVtab& vtab = VtabOf(base);
  // A new scan: keep the prepared statements, reset the rest.
  c.eof = true;
  c.range = nullptr;
  c.id_lower = c.ts_lower = kMin;
  c.id_upper = c.ts_upper = kMax;
  c.ids.reset();
  c.next_id = 0;
  c.block.reset();
  c.in_block = false;
  c.first_id = c.row = c.rows = 0;
  c.ids_only = (plan & kIdsOnly) != 0;
  c.descending = (plan & kDescending) != 0;
  int argument = 0;
  auto next = [&]() -> sqlite3_value* { return argument < argc ? argv[argument++] : nullptr; };
  if (plan & kIdEq) {
    c.ids.emplace();
    if (auto id = IntegerOf(next(), Rounding::kExact)) c.ids->push_back(*id);
  }
  if (plan & kIdIn) {
    c.ids.emplace();
    sqlite3_value* list = next();
    sqlite3_value* v = nullptr;
    int rc = sqlite3_vtab_in_first(list, &v);
    for (; rc == SQLITE_OK && v; rc = sqlite3_vtab_in_next(list, &v))
      if (auto id = IntegerOf(v, Rounding::kExact)) c.ids->push_back(*id);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) return VtabFail(base->pVtab, "reading an IN list");
  }
  if (c.ids) {
    std::ranges::sort(*c.ids);
    c.ids->erase(std::unique(c.ids->begin(), c.ids->end()), c.ids->end());
    if (c.descending) std::ranges::reverse(*c.ids);
  }
  if (plan & kIdLower)
    if (auto b = IntegerOf(next(), Rounding::kDown)) c.id_lower = *b;
  if (plan & kIdUpper)
    if (auto b = IntegerOf(next(), Rounding::kUp)) c.id_upper = *b;
  if (plan & kTsLower)
    if (auto b = IntegerOf(next(), Rounding::kDown)) c.ts_lower = *b;
  if (plan & kTsUpper)
    if (auto b = IntegerOf(next(), Rounding::kUp)) c.ts_upper = *b;
  if (plan & kKeyEq) {
    auto ids = KeyIds(base, (plan >> 9) & 15, next());
    if (!ids) return VtabFail(base->pVtab, ids.error().message);
    if (*ids) {
      c.ids = std::move(**ids);
      if (c.descending) std::ranges::reverse(*c.ids);
    }
  }

  if (c.ids) {
    if (!c.statements.point) {
      auto point = sqlite::Prepare(
          vtab.db, "SELECT first_id, last_id, length(data), min_ts, max_ts FROM " + vtab.blocks +
                       " WHERE first_id <= ?1 ORDER BY first_id DESC LIMIT 1");
      if (!point) return VtabFail(base->pVtab, point.error().message);
      c.statements.point = std::move(*point);
    }
  } else {
    // ?1..?2: ids; ?3..?4: timestamps; ?5: 1 when only ids are read. The first block is the one
    // holding ?1 (the last one starting at or before it).
    auto prepare = [&](sqlite::StmtPtr& stmt, const char* order) -> int {
      if (stmt) return SQLITE_OK;
      auto range = sqlite::Prepare(
          vtab.db, "SELECT first_id, CASE WHEN ?5 THEN NULL ELSE data END, last_id FROM " +
                       vtab.blocks + " WHERE first_id >= coalesce((SELECT max(first_id) FROM " +
                       vtab.blocks +
                       " WHERE first_id <= ?1), ?1) AND first_id <= ?2 AND max_ts >= ?3 AND "
                       "min_ts <= ?4 ORDER BY first_id " +
                       order);
      if (!range) return VtabFail(base->pVtab, range.error().message);
      stmt = std::move(*range);
      return SQLITE_OK;
    };
    sqlite::StmtPtr& stmt = c.descending ? c.statements.descending_range : c.statements.ascending;
    if (int rc = prepare(stmt, c.descending ? "DESC" : "ASC"); rc != SQLITE_OK) return rc;
    c.range = stmt.get();
    sqlite3_stmt* s = c.range;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, c.id_lower);
    sqlite3_bind_int64(s, 2, c.id_upper);
    sqlite3_bind_int64(s, 3, c.ts_lower);
    sqlite3_bind_int64(s, 4, c.ts_upper);
    sqlite3_bind_int(s, 5, c.ids_only ? 1 : 0);
  }
  return Advance(base, true);
}

int Next(sqlite3_vtab_cursor* base) { return Advance(base, false); }

int Eof(sqlite3_vtab_cursor* base) { return CursorOf(base).eof ? 1 : 0; }

int ColumnValue(sqlite3_vtab_cursor* base, sqlite3_context* context, int column) {
  Cursor& c = CursorOf(base);
  const TableSpec& spec = *VtabOf(base).spec;
  const auto fields = static_cast<int>(spec.columns.size());
  if (column <= 0 || column > fields + 1) {
    sqlite3_result_int64(context, c.first_id + c.row);
    return SQLITE_OK;
  }
  const auto index = static_cast<std::size_t>(column - 1);
  if (!c.block) {  // ids_only: SQLite asked for no other column
    sqlite3_result_null(context);
    return SQLITE_OK;
  }
  const auto row = static_cast<std::size_t>(c.row);
  auto fail = [&](const Error& error) {
    const std::string message =
        spec.table + " block " + std::to_string(c.first_id) + ": " + error.message;
    sqlite3_result_error(context, message.c_str(), static_cast<int>(message.size()));
    return SQLITE_ERROR;
  };
  if (column == fields + 1) {  // extra: a JSON object with sorted keys, NULL when empty
    if (auto loaded = c.block->Load(index); !loaded) return fail(loaded.error());
    const auto extra = c.block->Extra(row);
    if (extra.empty()) {
      sqlite3_result_null(context);
      return SQLITE_OK;
    }
    json::SetStringObject(c.text, extra);  // stored sorted by key, as the row layout writes it
    sqlite3_result_text(context, c.text.data(), static_cast<int>(c.text.size()), SQLITE_TRANSIENT);
    return SQLITE_OK;
  }
  auto value = CurrentValue(c, index);
  if (!value) return fail(value.error());
  const BlockValue& v = *value;
  if (const auto* s = std::get_if<std::string_view>(&v)) {
    sqlite3_result_text(context, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
  } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
    sqlite3_result_int64(context, *n);
  } else if (const auto* b = std::get_if<bool>(&v)) {
    sqlite3_result_int(context, *b ? 1 : 0);
  } else if (const auto* list = std::get_if<ListRef>(&v)) {
    json::SetStringArray(
        c.text, std::views::iota(list->first, list->first + list->count) |
                    std::views::transform([&](std::uint32_t i) { return c.block->ListItem(i); }));
    sqlite3_result_text(context, c.text.data(), static_cast<int>(c.text.size()), SQLITE_TRANSIENT);
  } else {
    sqlite3_result_null(context);
  }
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* base, sqlite3_int64* rowid) {
  *rowid = CursorOf(base).first_id + CursorOf(base).row;
  return SQLITE_OK;
}

const sqlite3_module kModule = sqlite::EponymousModule(Connect, BestIndex, Disconnect, Open, Close,
                                                       Filter, Next, Eof, ColumnValue, Rowid);

}  // namespace

std::optional<BlockAccess> PlannedAccess(std::string_view plan_detail) {
  constexpr std::string_view kMarker = " VIRTUAL TABLE INDEX ";
  const std::size_t at = plan_detail.find(kMarker);
  if (at == std::string_view::npos) return std::nullopt;
  int plan = 0;
  for (std::size_t i = at + kMarker.size();
       i < plan_detail.size() && plan_detail[i] >= '0' && plan_detail[i] <= '9'; ++i)
    plan = plan * 10 + (plan_detail[i] - '0');
  if (plan & (kIdEq | kIdIn | kKeyEq)) return BlockAccess::kLookup;
  if (plan & (kIdLower | kIdUpper | kTsLower | kTsUpper)) return BlockAccess::kRange;
  return BlockAccess::kScan;
}

Result<void> RegisterBlockTables(sqlite3* db, std::string_view prefix) {
  for (const auto& category : schema::Categories()) {
    auto spec = std::make_unique<TableSpec>();
    spec->table = std::string(category.name);
    spec->columns = TableColumns(category.category);
    for (std::size_t i = 0; i < spec->columns.size(); ++i)
      if (spec->columns[i]->id == schema::field::kTimestamp)
        spec->timestamp_column = static_cast<int>(i);
    if (spec->timestamp_column < 0) return Fail(spec->table + " has no @timestamp column");
    for (std::size_t i = 0; i < spec->columns.size(); ++i)
      if (TermKey(*spec->columns[i])) spec->term_keys.push_back(static_cast<int>(i));
    const std::string name = std::string(prefix) + spec->table;
    // SQLite owns the spec from here: freed when the module is replaced or the connection closes.
    if (sqlite3_create_module_v2(db, name.c_str(), &kModule, spec.release(), [](void* p) {
          std::unique_ptr<TableSpec>(static_cast<TableSpec*>(p));
        }) != SQLITE_OK)
      return sqlite::DbFail(db, "register " + name);
  }
  return {};
}

}  // namespace vigil::store::blocks
