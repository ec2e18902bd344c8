// BlockTablesWriter: buffers rows per table, writes them as column blocks of at most
// max_block_rows rows when the transaction flushes.
#include <algorithm>
#include <utility>

#include "server/store/block_table.hpp"

namespace vigil::store::blocks {

std::vector<const schema::FieldDef*> TableColumns(schema::Category category) {
  std::vector<const schema::FieldDef*> columns;
  for (const auto& f : schema::Fields())
    if (f.In(category)) columns.push_back(&f);
  return columns;
}

std::string BlocksTableName(std::string_view table) { return std::string(table) + "_blocks"; }

std::string LastIdSql(std::string_view table) {
  // Blocks hold consecutive id ranges: the last block by its key holds the largest id. (max of
  // last_id read every row of the table: 1.5 s at each start of a 10 M-event store.)
  return "SELECT coalesce((SELECT last_id FROM " + sqlite::Quote(BlocksTableName(table)) +
         " ORDER BY first_id DESC LIMIT 1), 0)";
}

bool TermKey(const schema::FieldDef& f) {
  return f.id == schema::field::kProcessEntityId || f.id == schema::field::kProcessParentEntityId ||
         f.id == schema::field::kHostId || f.id == schema::field::kDestinationPort;
}

std::string CreateSql() {
  std::string sql;
  for (const auto& c : schema::Categories()) {
    sql += "CREATE TABLE IF NOT EXISTS " + sqlite::Quote(BlocksTableName(c.name)) +
           " (first_id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL, min_ts INTEGER NOT NULL, "
           "max_ts INTEGER NOT NULL, data BLOB NOT NULL);\n";
    for (const auto* f : TableColumns(c.category))
      if (f->id == schema::field::kProcessEntityId ||
          f->id == schema::field::kProcessParentEntityId)
        sql += "DROP TABLE IF EXISTS " +
               sqlite::Quote(std::string(c.name) + "_" + std::string(f->column) + "_keys") + ";\n";
  }
  return sql;
}

Result<BlockTablesWriter> BlockTablesWriter::Open(sqlite3* db, int zstd_level,
                                                  std::size_t max_block_rows) {
  if (auto r = sqlite::Exec(db, CreateSql()); !r) return std::unexpected(r.error());
  BlockTablesWriter w;
  w.db_ = db;
  w.zstd_level_ = zstd_level;
  w.max_block_rows_ = std::max<std::size_t>(1, max_block_rows);
  for (const auto& c : schema::Categories()) {
    Table t;
    t.name = std::string(c.name);
    t.columns = TableColumns(c.category);
    t.block = std::make_unique<ColumnBlockWriter>(t.columns);
    if (auto r = w.ContinueIds(t); !r) return std::unexpected(r.error());
    const std::string blocks = sqlite::Quote(BlocksTableName(c.name));
    auto insert = sqlite::Prepare(db, "INSERT INTO " + blocks + " VALUES (?, ?, ?, ?, ?)");
    if (!insert) return std::unexpected(insert.error());
    t.insert = std::move(*insert);
    w.tables_.push_back(std::move(t));
  }
  return w;
}

Result<std::optional<BlockTablesWriter::Row>> BlockTablesWriter::Add(const v1::Event& event,
                                                                     const RowStamp& stamp) {
  const auto category = schema::CategoryOf(event);
  if (!category) return std::nullopt;
  const auto table = static_cast<std::size_t>(*category);
  Table& t = tables_[table];
  const std::int64_t id = t.next_id;
  t.block->Add(event, stamp);
  ++t.next_id;
  if (t.block->rows() >= max_block_rows_) {
    std::unique_ptr<ColumnBlockWriter> next;
    if (t.spare.empty()) {
      next = std::make_unique<ColumnBlockWriter>(t.columns);
    } else {
      next = std::move(t.spare.back());
      t.spare.pop_back();
    }
    t.closed.push_back(
        ClosedBlock{std::exchange(t.block, std::move(next)), t.block_first, t.next_id - 1});
    t.block_first = t.next_id;
  }
  return Row{table, id};
}

Result<void> BlockTablesWriter::Flush() {
  for (Table& t : tables_) {
    for (ClosedBlock& c : t.closed)  // on error Discard() still finds every one of them
      if (auto r = WriteBlock(t, *c.rows, c.first_id, c.last_id); !r) return r;
    for (ClosedBlock& c : t.closed) t.spare.push_back(std::move(c.rows));
    t.closed.clear();
    if (t.next_id != t.block_first) {
      if (auto r = WriteBlock(t, *t.block, t.block_first, t.next_id - 1); !r) return r;
      t.block_first = t.next_id;
    }
  }
  return {};
}

Result<void> BlockTablesWriter::WriteBlock(Table& t, ColumnBlockWriter& rows, std::int64_t first_id,
                                           std::int64_t last_id) {
  const std::int64_t min_ts = rows.min_timestamp(), max_ts = rows.max_timestamp();
  const std::string data = rows.Finish(zstd_level_);
  sqlite3_stmt* s = t.insert.get();
  sqlite3_bind_int64(s, 1, first_id);
  sqlite3_bind_int64(s, 2, last_id);
  sqlite3_bind_int64(s, 3, min_ts);
  sqlite3_bind_int64(s, 4, max_ts);
  sqlite3_bind_blob(s, 5, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return sqlite::DbFail(db_, "insert into " + BlocksTableName(t.name));
  raw_bytes_ += rows.last_raw_bytes();
  stored_bytes_ += data.size();
  return {};
}

Result<void> BlockTablesWriter::Discard() {
  for (Table& t : tables_) {
    t.block->Clear();
    for (ClosedBlock& c : t.closed) {
      c.rows->Clear();
      t.spare.push_back(std::move(c.rows));
    }
    t.closed.clear();
    if (auto r = ContinueIds(t); !r) return r;
  }
  return {};
}

Result<void> BlockTablesWriter::ContinueIds(Table& t) {
  auto last = sqlite::QueryInt(db_, LastIdSql(t.name));
  if (!last) return std::unexpected(last.error());
  t.next_id = t.block_first = *last + 1;
  return {};
}

}  // namespace vigil::store::blocks
