#include "server/store/column_block.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "common/zstd.hpp"
#include "server/store/varint.hpp"

// Stored block:
//   "VB" 0x04 (0x03: strings without the repeat tag), varint rows, varint fields (the table's
//   columns when written), per field: varint field id, varint field type (schema::FieldType),
//   varint raw size, varint (stored size << 1 | 1 when zstd-compressed); then the same two sizes of
//   the extra map; then the columns' stored bytes, in order. Columns are matched to the reader's
//   table by field id: a field the table gained since reads as absent, a field it lost is not read.
//   A column is compressed on its own (a reader decompresses only the columns it reads) and kept
//   raw when compression does not shrink it (or, as the writer chooses, without trying: see
//   raw_for_ in column_block.hpp).
// Column bytes (raw), one entry per row:
//   string (keyword, text, ip): 0 = none, 1 = the previous row's value (host, agent, event kind,
//                               parent: runs of rows share them), else varint(length + 2) and
//                               the bytes
//   integer (long, timestamp):  0 = none, 1 = the value in 8 bytes (little-endian; when the zigzag
//                               delta is one of the 2 largest), else varint(zigzag(value -
//                               previous value in the column) + 2)
//   bool:                       0 = none, 1 = false, 2 = true
//   keywords (list):            0 = none, else varint(count + 1), then varint length + bytes each
//   extra map:                  varint count, then key and value, each varint length + bytes

namespace vigil::store {
namespace {
// A column that compressed by less than 10 % in a block of kMinRowsToJudge rows or more is stored
// raw in this many following blocks.
constexpr std::uint8_t kRawBlocksAfterNoGain = 15;
constexpr std::size_t kMinRowsToJudge = 128;

constexpr std::string_view kMagic = "VB\x04", kMagicWithoutRepeats = "VB\x03";
constexpr std::size_t kMaxRawBytes = 256u << 20;

void PutString(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}

std::uint64_t ZigZag(std::uint64_t delta) {
  const auto d = static_cast<std::int64_t>(delta);
  return (delta << 1) ^ static_cast<std::uint64_t>(d >> 63);
}

std::uint64_t UnZigZag(std::uint64_t z) { return (z >> 1) ^ (~(z & 1) + 1); }

// A bounded reader over one column's bytes.
struct Cursor {
  std::string_view data;
  std::size_t pos = 0;

  bool Varint(std::uint64_t& v) { return ReadVarint(data, pos, v); }
  bool Bytes(std::uint64_t n, std::string_view& out) {
    if (n > data.size() - pos) return false;
    out = data.substr(pos, n);
    pos += n;
    return true;
  }
  bool String(std::string_view& out) {
    std::uint64_t n = 0;
    return Varint(n) && Bytes(n, out);
  }
};

std::unexpected<Error> Corrupt(std::string_view what, const schema::FieldDef* column,
                               std::size_t row) {
  std::string where = column ? "column `" + std::string(column->column) + "`" : "extra map";
  return Fail("column block: " + std::string(what) + " (" + where + ", row " + std::to_string(row) +
              ")");
}

// Decodes the next row of a column (not the extra map) into `out`; `previous` carries the state a
// row depends on (the column's last integer, the row before's value). An error says what is wrong.
std::optional<std::string_view> DecodeRow(Cursor& col, const schema::FieldDef& f, bool repeats,
                                          std::size_t row, std::int64_t& previous_int,
                                          const BlockValue& previous_value,
                                          std::vector<std::string_view>& list_items,
                                          BlockValue& out) {
  out = BlockValue{};
  if (f.type == schema::FieldType::Bool) {
    std::string_view byte;
    if (!col.Bytes(1, byte) || static_cast<unsigned char>(byte[0]) > 2) return "bad bool";
    if (byte[0] != 0) out = byte[0] == 2;
    return std::nullopt;
  }
  std::uint64_t tag = 0;
  if (!col.Varint(tag)) return "value runs past the end of the column";
  if (tag == 0) return std::nullopt;
  if (f.IsString()) {
    if (repeats && tag == 1) {
      if (row == 0 || !std::holds_alternative<std::string_view>(previous_value))
        return "repeats a value the row before does not have";
      out = previous_value;
      return std::nullopt;
    }
    std::string_view s;
    if (!col.Bytes(tag - (repeats ? 2 : 1), s)) return "string runs past the end of the column";
    out = s;
  } else if (f.IsInteger()) {
    if (tag == 1) {
      std::string_view bytes8;
      if (!col.Bytes(8, bytes8)) return "value runs past the end of the column";
      std::uint64_t u = 0;
      for (int i = 7; i >= 0; --i) u = u << 8 | static_cast<unsigned char>(bytes8[i]);
      previous_int = static_cast<std::int64_t>(u);
    } else {
      previous_int =
          static_cast<std::int64_t>(static_cast<std::uint64_t>(previous_int) + UnZigZag(tag - 2));
    }
    out = previous_int;
  } else {  // keywords
    const std::uint64_t count = tag - 1;
    if (count > col.data.size()) return "bad list length";
    ListRef list{static_cast<std::uint32_t>(list_items.size()), static_cast<std::uint32_t>(count)};
    for (std::uint64_t i = 0; i < count; ++i) {
      std::string_view item;
      if (!col.String(item)) return "list item runs past the end of the column";
      list_items.push_back(item);
    }
    out = list;
  }
  return std::nullopt;
}

}  // namespace

ColumnBlockWriter::ColumnBlockWriter(std::vector<const schema::FieldDef*> columns)
    : columns_(std::move(columns)),
      data_(columns_.size() + 1),
      previous_(columns_.size(), 0),
      previous_string_(columns_.size()),
      raw_for_(columns_.size() + 1, 0) {}

void ColumnBlockWriter::Add(const v1::Event& event, const RowStamp& stamp) {
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    const schema::FieldDef& f = *columns_[c];
    std::string& out = data_[c];
    const schema::FieldValue v = StampedValue(event, f, stamp);
    switch (v.index()) {
      case 0:
        out += '\0';
        previous_string_[c] = {};
        break;
      case 1: {
        const auto s = std::get<1>(v);
        auto& [at, size] = previous_string_[c];  // size: length + 1, 0: none
        if (size == s.size() + 1 && out.compare(at, s.size(), s) == 0) {
          out += '\1';
          break;
        }
        PutVarint(out, s.size() + 2);
        at = out.size();
        size = s.size() + 1;
        out.append(s);
        break;
      }
      case 2: {
        const std::int64_t n = std::get<2>(v);
        const std::uint64_t z =
            ZigZag(static_cast<std::uint64_t>(n) - static_cast<std::uint64_t>(previous_[c]));
        if (z >= std::numeric_limits<std::uint64_t>::max() - 1) {
          out += '\1';
          for (int b = 0; b < 8; ++b)
            out += static_cast<char>(static_cast<std::uint64_t>(n) >> (8 * b));
        } else {
          PutVarint(out, z + 2);
        }
        previous_[c] = n;
        if (f.id == schema::field::kTimestamp) {
          if (rows_ == 0 || n < min_ts_) min_ts_ = n;
          if (rows_ == 0 || n > max_ts_) max_ts_ = n;
        }
        break;
      }
      case 3:
        out += std::get<3>(v) ? '\2' : '\1';
        break;
      case 4: {
        const auto& list = *std::get<4>(v);
        if (list.empty()) {
          out += '\0';
          break;
        }
        PutVarint(out, static_cast<std::uint64_t>(list.size()) + 1);
        for (const auto& item : list) PutString(out, item);
        break;
      }
    }
  }
  std::string& extra = data_.back();
  extra_.clear();
  for (const auto& [key, value] : event.extra()) extra_.emplace_back(&key, &value);
  std::ranges::sort(extra_, [](const auto& a, const auto& b) { return *a.first < *b.first; });
  PutVarint(extra, extra_.size());
  for (const auto& [key, value] : extra_) {
    PutString(extra, *key);
    PutString(extra, *value);
  }
  ++rows_;
}

std::string ColumnBlockWriter::Finish(int zstd_level) {
  std::string block(kMagic);
  payload_.clear();  // its capacity stays: compressed straight into it
  PutVarint(block, rows_);
  PutVarint(block, columns_.size());
  last_raw_ = 0;
  for (std::size_t c = 0; c < data_.size(); ++c) {
    std::string& column = data_[c];
    if (c < columns_.size()) {
      PutVarint(block, columns_[c]->id);
      PutVarint(block, static_cast<std::uint64_t>(columns_[c]->type));
    }
    const std::size_t at = payload_.size();
    std::size_t stored = 0;
    if (raw_for_[c] > 0) {
      --raw_for_[c];
    } else if (column.size() > 64) {
      stored = ZstdCompressTo(payload_, column, zstd_level);
      if (rows_ >= kMinRowsToJudge && (stored == 0 || stored * 10 > column.size() * 9))
        raw_for_[c] = kRawBlocksAfterNoGain;
    }
    const bool compressed = stored > 0 && stored < column.size();
    if (!compressed) {
      payload_.resize(at);
      payload_ += column;
      stored = column.size();
    }
    PutVarint(block, column.size());
    PutVarint(block, stored << 1 | (compressed ? 1 : 0));
    last_raw_ += column.size();
  }
  block += payload_;
  Clear();
  return block;
}

void ColumnBlockWriter::Clear() {
  for (std::string& column : data_) column.clear();
  std::ranges::fill(previous_, 0);
  std::ranges::fill(previous_string_, std::pair<std::size_t, std::size_t>{});
  rows_ = 0;
  min_ts_ = max_ts_ = 0;
}

Result<ColumnBlock> ColumnBlock::Open(std::string_view stored,
                                      std::vector<const schema::FieldDef*> columns) {
  ColumnBlock b;
  b.d_->columns = std::move(columns);
  b.d_->stored.assign(stored);
  Cursor head{b.d_->stored};
  std::string_view magic;
  std::uint64_t rows = 0, nfields = 0;
  if (!head.Bytes(kMagic.size(), magic) || (magic != kMagic && magic != kMagicWithoutRepeats))
    return Fail("column block: not a column block (bad magic or version)");
  b.d_->repeats = magic == kMagic;
  if (!head.Varint(rows) || !head.Varint(nfields)) return Fail("column block: truncated header");
  if (nfields > 4096) return Fail("column block: " + std::to_string(nfields) + " fields");
  const std::size_t ncolumns = b.d_->columns.size() + 1;
  b.d_->extents.assign(ncolumns, Extent{});  // absent until the header names the field
  std::uint64_t total = 0;
  for (std::uint64_t c = 0; c <= nfields; ++c) {
    std::uint64_t id = 0, type = 0, raw = 0, stored_size = 0;
    if ((c < nfields && (!head.Varint(id) || !head.Varint(type))) || !head.Varint(raw) ||
        !head.Varint(stored_size))
      return Fail("column block: truncated header");
    // The table's column of this field (the extra map is always the last one); npos: a field the
    // schema no longer has, not read.
    std::size_t column = c == nfields ? ncolumns - 1 : std::string::npos;
    for (std::size_t t = 0; c < nfields && t + 1 < ncolumns; ++t)
      if (b.d_->columns[t]->id == id) column = t;
    const schema::FieldDef* f = column < ncolumns - 1 ? b.d_->columns[column] : nullptr;
    if (f && type != static_cast<std::uint64_t>(f->type))
      return Fail("column block: column `" + std::string(f->column) + "` was written as " +
                  (type <= static_cast<std::uint64_t>(schema::FieldType::Keywords)
                       ? std::string(schema::TypeName(static_cast<schema::FieldType>(type)))
                       : "type " + std::to_string(type)) +
                  ", the schema says " + std::string(schema::TypeName(f->type)));
    // Every row takes at least one byte of every column.
    if (raw > kMaxRawBytes || raw < rows) return Corrupt("bad column size", f, 0);
    if (column != std::string::npos) {
      if (b.d_->extents[column].present) return Corrupt("field written twice", f, 0);
      b.d_->extents[column] = {total, stored_size >> 1, raw, (stored_size & 1) != 0, true};
    }
    total += stored_size >> 1;
    if (total > b.d_->stored.size())
      return Fail("column block: columns run past the end of the block");
  }
  if (head.pos + total != b.d_->stored.size())
    return Fail("column block: " + std::to_string(b.d_->stored.size() - head.pos) +
                " bytes of columns, the header declares " + std::to_string(total));
  for (auto& e : b.d_->extents) e.offset += head.pos;
  b.d_->rows = static_cast<std::size_t>(rows);
  b.d_->values.resize(b.d_->columns.size());
  b.d_->raw.resize(ncolumns);
  return b;
}

Result<ColumnBlock> ColumnBlock::Decode(std::string_view stored,
                                        std::vector<const schema::FieldDef*> columns) {
  auto b = Open(stored, std::move(columns));
  if (!b) return b;
  if (auto r = b->LoadAll(); !r) return std::unexpected(r.error());
  return b;
}

Result<void> ColumnBlock::LoadAll() {
  for (std::size_t c = 0; c <= d_->columns.size(); ++c)
    if (auto r = Load(c); !r) return r;
  return {};
}

Result<std::string_view> ColumnBlock::Raw(std::size_t c) {
  const schema::FieldDef* f = c == d_->columns.size() ? nullptr : d_->columns[c];
  const Extent& e = d_->extents[c];
  std::string_view bytes = std::string_view(d_->stored).substr(e.offset, e.stored);
  if (!e.compressed) {
    if (bytes.size() != e.raw) return Corrupt("raw column of the wrong size", f, 0);
    return bytes;
  }
  if (d_->raw[c].empty()) {
    auto raw = ZstdDecompress(bytes, e.raw, kMaxRawBytes);
    if (!raw) return Corrupt(raw.error().message, f, 0);
    d_->raw[c] = std::move(*raw);
  }
  return std::string_view(d_->raw[c]);
}

Result<void> ColumnBlock::Load(std::size_t c) {
  const bool extra = c == d_->columns.size();
  if (extra ? !d_->extra_first.empty() : !d_->values[c].empty() || d_->rows == 0) return {};
  const schema::FieldDef* f = extra ? nullptr : d_->columns[c];
  const Extent& e = d_->extents[c];
  if (!e.present) {  // a field the table gained after the block was written: absent in every row
    if (!extra) d_->values[c].assign(d_->rows, BlockValue{});
    return {};
  }
  auto bytes = Raw(c);
  if (!bytes) return std::unexpected(bytes.error());
  Cursor col{*bytes};
  auto fail = [&](std::string_view what, std::size_t row) -> Result<void> {
    if (extra) {
      d_->extra_first.clear();
      d_->extra_items.clear();
    } else {
      d_->values[c].clear();
    }
    return Corrupt(what, f, row);
  };
  if (extra) {
    d_->extra_first.reserve(d_->rows + 1);
    for (std::size_t r = 0; r < d_->rows; ++r) {
      d_->extra_first.push_back(static_cast<std::uint32_t>(d_->extra_items.size()));
      std::uint64_t n = 0;
      if (!col.Varint(n) || n > col.data.size()) return fail("bad entry count", r);
      for (std::uint64_t i = 0; i < n; ++i) {
        std::string_view key, value;
        if (!col.String(key) || !col.String(value))
          return fail("entry runs past the end of the column", r);
        d_->extra_items.emplace_back(key, value);
      }
    }
    d_->extra_first.push_back(static_cast<std::uint32_t>(d_->extra_items.size()));
    if (col.pos != col.data.size()) return fail("bytes after the last row", d_->rows);
    return {};
  }
  std::vector<BlockValue>& values = d_->values[c];
  values.resize(d_->rows);
  std::int64_t previous = 0;
  for (std::size_t r = 0; r < d_->rows; ++r)
    if (auto error = DecodeRow(col, *f, d_->repeats, r, previous,
                               r == 0 ? BlockValue{} : values[r - 1], d_->list_items, values[r]))
      return fail(*error, r);
  if (col.pos != col.data.size()) return fail("bytes after the last row", d_->rows);
  return {};
}

Result<BlockValue> ColumnBlock::ValueAt(std::size_t row, std::size_t c) {
  if (row >= d_->rows) return Corrupt("no such row", d_->columns[c], row);
  if (d_->values[c].empty() && d_->columns[c]->type == schema::FieldType::Keywords)
    if (auto r = Load(c); !r) return std::unexpected(r.error());  // lists: the whole column
  if (!d_->values[c].empty()) return d_->values[c][row];
  if (!d_->extents[c].present) return BlockValue{};
  if (d_->sparse.empty()) d_->sparse.resize(d_->columns.size());
  Data::Sparse& at = d_->sparse[c];
  if (row < at.next_row || at.next_row == 0) {  // from the column's first row
    auto bytes = Raw(c);
    if (!bytes) return std::unexpected(bytes.error());
    at = Data::Sparse{};
    at.bytes = *bytes;
  }
  Cursor col{at.bytes, at.pos};
  for (; at.next_row <= row; ++at.next_row) {
    BlockValue value;
    if (auto error = DecodeRow(col, *d_->columns[c], d_->repeats, at.next_row, at.previous_int,
                               at.value, d_->list_items, value)) {
      at = Data::Sparse{};
      return Corrupt(*error, d_->columns[c], row);
    }
    at.value = value;
  }
  at.pos = col.pos;
  return at.value;
}

std::span<const std::pair<std::string_view, std::string_view>> ColumnBlock::Extra(
    std::size_t row) const {
  return std::span(d_->extra_items)
      .subspan(d_->extra_first[row], d_->extra_first[row + 1] - d_->extra_first[row]);
}

void ColumnBlock::ToEvent(std::size_t row, v1::Event& event) const {
  for (std::size_t c = 0; c < d_->columns.size(); ++c) {
    const std::uint16_t id = d_->columns[c]->id;
    const BlockValue v = Value(row, c);
    switch (v.index()) {
      case 1:
        schema::SetString(event, id, std::get<1>(v));
        break;
      case 2:
        schema::SetInt(event, id, std::get<2>(v));
        break;
      case 3:
        schema::SetInt(event, id, std::get<3>(v) ? 1 : 0);
        break;
      case 4: {
        const ListRef list = std::get<4>(v);
        for (std::uint32_t i = 0; i < list.count; ++i)
          schema::SetString(event, id, d_->list_items[list.first + i]);
        break;
      }
      default:
        break;
    }
  }
  for (const auto& [key, value] : Extra(row))
    (*event.mutable_extra())[std::string(key)] = std::string(value);
}

}  // namespace vigil::store
