// Column blocks: rows of one event table stored column by column in one compressed value, the row
// layout issue 2's ingest target needs (docs/store.md, *Performance*; measured by
// bench/store/block_layout.cpp). One block holds the rows one transaction wrote to a table: each
// column's values are contiguous (strings length-prefixed, integers as zigzag deltas against the
// column's previous value, so timestamps, sequences and ids shrink to a byte or two) and
// zstd-compressed on its own, so a reader decompresses and decodes only the columns it reads,
// once, into typed arrays. A corrupt or truncated block is an error that names the column and
// row, never a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "server/store/row_stamp.hpp"

namespace vigil::store {

class ColumnBlockWriter {
 public:
  // `columns`: the table's fields in column order (a table's columns of schema::Fields()).
  explicit ColumnBlockWriter(std::vector<const schema::FieldDef*> columns);

  void Add(const v1::Event& event, const RowStamp& stamp);
  std::size_t rows() const { return rows_; }
  // The smallest and largest @timestamp of the rows added (0 when none).
  std::int64_t min_timestamp() const { return min_ts_; }
  std::int64_t max_timestamp() const { return max_ts_; }
  // The compressed block of the rows added since the last Finish; the writer is empty after.
  std::string Finish(int zstd_level = 1);
  // Forgets the rows added since the last Finish (a rolled-back transaction's).
  void Clear();
  // Bytes of the last finished block before compression.
  std::size_t last_raw_bytes() const { return last_raw_; }

 private:
  std::vector<const schema::FieldDef*> columns_;
  std::vector<std::string> data_;       // per column, then the extra map last
  std::vector<std::int64_t> previous_;  // per column: the last integer written (delta base)
  // Per string column: where the previous row's value is in the column (offset, length + 1; 0:
  // the row had none).
  std::vector<std::pair<std::size_t, std::size_t>> previous_string_;
  std::vector<std::pair<const std::string*, const std::string*>> extra_;  // reused, sorted by key
  std::string payload_;  // Finish's columns, reused
  // Per column (the extra map last): blocks to keep it raw before trying zstd again. Columns of
  // varint deltas (timestamps, ports, sizes) do not shrink; compressing them only to throw the
  // result away was ~10 % of the blocks' compression time. Judged on blocks of 128 rows or more
  // only: zstd gains nothing on a few rows of any column.
  std::vector<std::uint8_t> raw_for_;
  std::size_t rows_ = 0, last_raw_ = 0;
  std::int64_t min_ts_ = 0, max_ts_ = 0;
};

// One value of a decoded block; a list is the block's strings [first, first + count).
struct ListRef {
  std::uint32_t first = 0, count = 0;
  bool operator==(const ListRef&) const = default;
};
using BlockValue = std::variant<std::monostate, std::string_view, std::int64_t, bool, ListRef>;

class ColumnBlock {
 public:
  // Reads the header of a stored block for a table of `columns`; no column is decompressed yet.
  // The block's columns are matched by field id: a field of `columns` the block lacks reads as
  // absent in every row, a field of the block `columns` lack is not read (schema evolution).
  static Result<ColumnBlock> Open(std::string_view stored,
                                  std::vector<const schema::FieldDef*> columns);
  // Open and load every column.
  static Result<ColumnBlock> Decode(std::string_view stored,
                                    std::vector<const schema::FieldDef*> columns);
  // Decompresses and decodes one column (index columns.size(): the extra map), once.
  Result<void> Load(std::size_t column);
  Result<void> LoadAll();
  // One row's value of a column (not the extra map) without loading the column: it is decoded up
  // to that row only, with no value kept per row (lookups read a few rows of a ~730-row block).
  // Forward-only: rows asked in ascending order cost one pass; an earlier row starts over. (A list
  // column is loaded whole.)
  Result<BlockValue> ValueAt(std::size_t row, std::size_t column);

  std::size_t rows() const { return d_->rows; }
  // A value of a loaded column.
  BlockValue Value(std::size_t row, std::size_t column) const { return d_->values[column][row]; }
  std::string_view ListItem(std::uint32_t index) const { return d_->list_items[index]; }
  // The row's extra map (loaded) as (key, value) pairs, sorted by key.
  std::span<const std::pair<std::string_view, std::string_view>> Extra(std::size_t row) const;
  // The row as an event (every column loaded): what the store stored.
  void ToEvent(std::size_t row, v1::Event& event) const;

 private:
  struct Extent {
    std::uint64_t offset = 0, stored = 0, raw = 0;
    bool compressed = false;
    bool present = false;  // false: the block predates the field (every row reads as absent)
  };
  // Behind a pointer: the string_views into the buffers must survive moves of the block.
  struct Data {
    std::vector<const schema::FieldDef*> columns;
    std::string stored;            // the block as stored
    std::vector<Extent> extents;   // per column, into stored
    std::vector<std::string> raw;  // per column, once decompressed
    std::size_t rows = 0;
    bool repeats = true;  // strings may repeat the row before (every block since VB 0x04)
    std::vector<std::vector<BlockValue>> values;  // per loaded column, per row
    std::vector<std::string_view> list_items;
    // Per column, where ValueAt stopped: the next row to decode and the state it depends on.
    struct Sparse {
      std::string_view bytes;
      std::size_t pos = 0, next_row = 0;
      std::int64_t previous_int = 0;
      BlockValue value;  // of row next_row - 1
    };
    std::vector<Sparse> sparse;
    std::vector<std::pair<std::string_view, std::string_view>> extra_items;
    std::vector<std::uint32_t> extra_first;  // per row + 1: the row's range in extra_items
  };
  // The column's raw bytes (decompressed once).
  Result<std::string_view> Raw(std::size_t column);
  std::unique_ptr<Data> d_ = std::make_unique<Data>();
};

}  // namespace vigil::store
