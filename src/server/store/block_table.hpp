// Event tables as column blocks (docs/store.md, *Rows as column blocks*): a category's rows live
// in `<table>_blocks (first_id, last_id, min_ts, max_ts, data)`, a row per at most 512 rows of one
// transaction, `data` a ColumnBlock (column_block.hpp) of the rows first_id..last_id.
// BlockTablesWriter appends them; RegisterBlockTables (block_table_vtab.hpp) makes each readable in
// SQL with the row table's name and columns (id, the schema's fields, extra), so the same queries
// run on either layout.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "server/store/column_block.hpp"
#include "server/store/row_stamp.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store::blocks {

// The fields of a category's event table, in the store's column order (schema order).
std::vector<const schema::FieldDef*> TableColumns(schema::Category category);
// The table holding the blocks of event table `table`: "<table>_blocks".
std::string BlocksTableName(std::string_view table);
// SELECT of the largest id of event table `table`'s blocks (0 when it has none).
std::string LastIdSql(std::string_view table);
// Keys that select a few rows of a large table, which the row layout keeps in B-tree indexes
// (process.entity_id, process.parent.entity_id, host.id, destination.port): a block store keeps
// them in its term postings instead (text_index.hpp; an integer as its decimal text), which cost a
// hash lookup per row to build where a B-tree rewrote its hot pages at every commit
// (docs/store.md, *Rows as column blocks*). The tables answer an equality on one of them from the
// postings (block_table_vtab.hpp).
bool TermKey(const schema::FieldDef& f);
// CREATE TABLE IF NOT EXISTS of every category's blocks table (and DROP of the unique-key tables
// of the first block stores, which the term postings replace).
std::string CreateSql();

// Appends events to the blocks tables of one writer connection: rows are buffered per table and
// written as blocks by Flush, inside the caller's transaction. A table's block is closed when it
// holds `max_block_rows` (set aside uncompressed, so Add stays cheap while the store holds the
// live postings' lock), so a group commit of many batches makes blocks of bounded size (a lookup
// decompresses the columns it reads of a whole block).
class BlockTablesWriter {
 public:
  static constexpr std::size_t kMaxBlockRows = 512;
  struct Row {
    std::size_t table = 0;  // index into schema::Categories()
    std::int64_t id = 0;
  };

  // Creates the blocks tables when missing and continues each table's ids after its last block.
  static Result<BlockTablesWriter> Open(sqlite3* db, int zstd_level = 1,
                                        std::size_t max_block_rows = kMaxBlockRows);

  // Buffers the event in its table's open block; nullopt when it has no known category.
  Result<std::optional<Row>> Add(const v1::Event& event, const RowStamp& stamp);
  // Writes every non-empty open block. On error the caller rolls its transaction back and calls
  // Discard().
  Result<void> Flush();
  // Forgets the buffered rows and continues the ids after the blocks the database holds (after a
  // rolled-back transaction).
  Result<void> Discard();

  // Bytes of the blocks written so far, before and after compression.
  std::uint64_t raw_bytes() const { return raw_bytes_; }
  std::uint64_t stored_bytes() const { return stored_bytes_; }

 private:
  struct ClosedBlock {
    std::unique_ptr<ColumnBlockWriter> rows;
    std::int64_t first_id = 0, last_id = 0;
  };
  struct Table {
    std::string name;
    std::vector<const schema::FieldDef*> columns;
    std::unique_ptr<ColumnBlockWriter> block;  // the open block's rows (ids block_first..)
    std::vector<ClosedBlock> closed;           // full blocks of this transaction, to write
    std::vector<std::unique_ptr<ColumnBlockWriter>> spare;  // written ones, kept for reuse
    std::int64_t next_id = 1, block_first = 1;
    sqlite::StmtPtr insert;
  };
  Result<void> ContinueIds(Table& t);
  Result<void> WriteBlock(Table& t, ColumnBlockWriter& rows, std::int64_t first_id,
                          std::int64_t last_id);

  sqlite3* db_ = nullptr;
  int zstd_level_ = 1;
  std::size_t max_block_rows_ = kMaxBlockRows;
  std::vector<Table> tables_;
  std::uint64_t raw_bytes_ = 0, stored_bytes_ = 0;
};

}  // namespace vigil::store::blocks
