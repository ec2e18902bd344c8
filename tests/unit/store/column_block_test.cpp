// Unit tests of the column-block row layout (column_block.hpp): rows come back exactly as the
// store would have stored them (stamped sequence, ingest time and timestamp; every field type;
// lists; the extra map), and a damaged block is an error naming where, at every truncation.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/zstd.hpp"
#include "server/store/column_block.hpp"
#include "server/store/varint.hpp"

namespace vigil::store {
namespace {

using google::protobuf::util::MessageDifferencer;

std::vector<const schema::FieldDef*> Columns(schema::Category c) {
  std::vector<const schema::FieldDef*> columns;
  for (const auto& f : schema::Fields())
    if (f.In(c)) columns.push_back(&f);
  return columns;
}

std::vector<v1::Event> Events() {
  std::vector<v1::Event> events;
  for (int i = 0; i < 300; ++i) {
    v1::Event e;
    e.set_event_category("process");
    if (i % 7 != 3) e.set_timestamp(1'700'000'000'000'000'000 + i * 1'000'003);
    e.set_host_id("h-" + std::to_string(i % 5));
    e.set_process_pid(i % 11 == 0 ? -i : i * 977);
    e.set_process_command_line(i % 13 == 0 ? "" : "bash -c 'echo " + std::to_string(i) + "'");
    if (i % 2) e.set_process_name("bash");
    if (i % 3 == 0)
      for (int a = 0; a < i % 4 + 1; ++a) e.add_process_args("arg" + std::to_string(a));
    if (i % 5 == 0) (*e.mutable_extra())["zeta"] = "last", (*e.mutable_extra())["alpha"] = "1";
    events.push_back(std::move(e));
  }
  events[1].set_process_pid(std::numeric_limits<std::int64_t>::min());
  events[2].set_process_pid(std::numeric_limits<std::int64_t>::max());
  events[4].set_event_sequence(77);  // kept when the batch has no sequence
  return events;
}

TEST(ColumnBlock, RowsComeBackAsStored) {
  const auto columns = Columns(schema::Category::Process);
  ColumnBlockWriter writer(columns);
  auto events = Events();
  constexpr std::int64_t kNow = 1'800'000'000'000'000'000;
  for (std::size_t i = 0; i < events.size(); ++i)
    writer.Add(events[i], RowStamp{i == 4 ? 0 : 1000 + i, kNow});
  EXPECT_EQ(writer.rows(), 300u);
  EXPECT_EQ(writer.min_timestamp(), 1'700'000'000'000'000'000);
  EXPECT_EQ(writer.max_timestamp(), kNow);  // rows without a timestamp get the commit time
  const std::string data = writer.Finish();
  EXPECT_EQ(writer.rows(), 0u);
  EXPECT_LT(data.size(), writer.last_raw_bytes());

  auto block = ColumnBlock::Decode(data, columns);
  ASSERT_TRUE(block) << block.error().message;
  ASSERT_EQ(block->rows(), 300u);
  for (std::size_t i = 0; i < events.size(); ++i) {
    v1::Event expected = events[i];
    if (i != 4) expected.set_event_sequence(static_cast<std::int64_t>(1000 + i));
    expected.set_event_ingested(kNow);
    if (!expected.has_timestamp()) expected.set_timestamp(kNow);
    v1::Event got;
    block->ToEvent(i, got);
    std::string diff;
    MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(expected, got)) << "row " << i << ": " << diff;
  }
  EXPECT_EQ(events[4].event_sequence(), 77);
  const auto extra = block->Extra(5);
  ASSERT_EQ(extra.size(), 2u);
  EXPECT_EQ(extra[0].first, "alpha");  // sorted by key
  EXPECT_EQ(extra[1].second, "last");
  EXPECT_TRUE(block->Extra(6).empty());
}

TEST(ColumnBlock, WriterStartsOverAfterFinish) {
  const auto columns = Columns(schema::Category::Network);
  ColumnBlockWriter writer(columns);
  v1::Event e;
  e.set_timestamp(5);
  e.set_destination_port(443);
  writer.Add(e, {});
  (void)writer.Finish();
  e.set_timestamp(9);
  writer.Add(e, {});
  EXPECT_EQ(writer.min_timestamp(), 9);
  auto block = ColumnBlock::Decode(writer.Finish(), columns);
  ASSERT_TRUE(block) << block.error().message;
  ASSERT_EQ(block->rows(), 1u);
  v1::Event got;
  block->ToEvent(0, got);
  EXPECT_EQ(got.timestamp(), 9);  // deltas restart with each block
  EXPECT_EQ(got.destination_port(), 443);
}

// A column that did not shrink is kept raw for the next blocks without trying, and compressed
// again once the writer tries again: rows read back the same either way.
TEST(ColumnBlock, IncompressibleColumnsAreRetriedLater) {
  const auto columns = Columns(schema::Category::Network);
  ColumnBlockWriter writer(columns);
  std::mt19937_64 rng(5);
  std::vector<std::size_t> sizes;
  for (int b = 0; b < 24; ++b) {
    std::vector<v1::Event> rows(200);
    for (int i = 0; i < 200; ++i) {
      // Random timestamps in the first block: their deltas do not compress. Then constant ones.
      rows[i].set_timestamp(b == 0 ? static_cast<std::int64_t>(rng() >> 1) : 1000);
      rows[i].set_destination_port(443);
      writer.Add(rows[i], {});
    }
    const std::string stored = writer.Finish();
    sizes.push_back(stored.size());
    auto block = ColumnBlock::Decode(stored, columns);
    ASSERT_TRUE(block) << block.error().message;
    ASSERT_EQ(block->rows(), rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      v1::Event got;
      block->ToEvent(i, got);
      ASSERT_EQ(got.timestamp(), rows[i].timestamp()) << b << " " << i;
    }
  }
  // Blocks 1..15 keep the (now compressible) timestamps raw: 200 one-byte deltas; block 16 tries
  // zstd again and every block after it is smaller by about that column.
  EXPECT_EQ(sizes[1], sizes[15]);
  EXPECT_LT(sizes[16] + 150, sizes[15]);
  EXPECT_EQ(sizes[16], sizes[23]);
}

// A block of a few rows (the tail of a commit) does not make the writer keep a column raw: zstd
// gains nothing on a few rows of any column.
TEST(ColumnBlock, FewRowsDoNotDecideTheRawRule) {
  const auto columns = Columns(schema::Category::Process);
  auto rows = [](int n, bool random) {
    std::mt19937_64 rng(9);
    std::vector<v1::Event> out(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      std::string line = "bash -c 'echo " + std::to_string(i) + "'";
      if (random) {
        line.clear();
        for (int b = 0; b < 60; ++b) line += static_cast<char>(rng() & 0xff);
      }
      out[static_cast<std::size_t>(i)].set_process_command_line(line);
    }
    return out;
  };
  ColumnBlockWriter warmed(columns), fresh(columns);
  for (const auto& e : rows(3, true)) warmed.Add(e, {});
  (void)warmed.Finish();  // 3 rows of 60 random bytes: zstd does not shrink them
  for (const auto& e : rows(300, false)) {
    warmed.Add(e, {});
    fresh.Add(e, {});
  }
  const std::string a = warmed.Finish(), b = fresh.Finish();
  EXPECT_EQ(a, b);
  EXPECT_LT(a.size(), 3000u);  // 300 command lines of ~20 bytes, compressed
}

// A stored block split into its rows and raw columns, and put together again (columns raw).
struct Parts {
  std::string magic = "VB\x04";
  std::size_t rows = 0;
  std::vector<std::pair<std::size_t, std::size_t>> fields;  // id, type (extra map: none)
  std::vector<std::string> columns;
};
std::size_t Varint(std::string_view b, std::size_t& pos) {
  std::uint64_t v = 0;
  EXPECT_TRUE(ReadVarint(b, pos, v));
  return static_cast<std::size_t>(v);
}
Parts Split(std::string_view stored) {
  std::size_t pos = 3;
  Parts p;
  p.magic = stored.substr(0, 3);
  p.rows = Varint(stored, pos);
  const std::size_t n = Varint(stored, pos);
  std::vector<std::pair<std::size_t, std::size_t>> sizes;  // raw, stored << 1 | compressed
  for (std::size_t c = 0; c <= n; ++c) {
    if (c < n) {
      const std::size_t id = Varint(stored, pos);
      p.fields.emplace_back(id, Varint(stored, pos));
    }
    const std::size_t raw = Varint(stored, pos);
    sizes.emplace_back(raw, Varint(stored, pos));
  }
  for (const auto& [raw, packed] : sizes) {
    std::string_view bytes = stored.substr(pos, packed >> 1);
    pos += packed >> 1;
    if (packed & 1) {
      auto column = ZstdDecompress(bytes, raw, raw);
      p.columns.push_back(column ? *column : std::string());
    } else {
      p.columns.emplace_back(bytes);
    }
  }
  return p;
}
std::string Join(const Parts& p) {
  std::string out = p.magic, payload;
  PutVarint(out, p.rows);
  PutVarint(out, p.fields.size());
  for (std::size_t i = 0; i < p.columns.size(); ++i) {
    const std::string& c = p.columns[i];
    if (i < p.fields.size()) {
      PutVarint(out, p.fields[i].first);
      PutVarint(out, p.fields[i].second);
    }
    PutVarint(out, c.size());
    PutVarint(out, c.size() << 1);
    payload += c;
  }
  return out + payload;
}

// Blocks name their fields: a table that gained a field reads it as absent in older blocks, one
// that lost a field does not read it, and a field whose type changed is an error.
TEST(ColumnBlock, ColumnsAreMatchedByField) {
  const auto columns = Columns(schema::Category::Process);
  std::size_t name = 0;
  while (columns[name]->column != "process_name") ++name;
  auto without = columns;
  without.erase(without.begin() + static_cast<std::ptrdiff_t>(name));
  const auto events = Events();

  ColumnBlockWriter older(without);  // written before the schema had process.name
  for (const auto& e : events) older.Add(e, RowStamp{1, 2});
  auto gained = ColumnBlock::Decode(older.Finish(), columns);
  ASSERT_TRUE(gained) << gained.error().message;
  ColumnBlockWriter full(columns);
  for (const auto& e : events) full.Add(e, RowStamp{1, 2});
  const std::string data = full.Finish();
  auto lost = ColumnBlock::Decode(data, without);  // read after the schema dropped it
  ASSERT_TRUE(lost) << lost.error().message;
  for (std::size_t r = 0; r < events.size(); ++r) {
    v1::Event a, b, want;
    gained->ToEvent(r, a);
    lost->ToEvent(r, b);
    ColumnBlock::Decode(data, columns)->ToEvent(r, want);
    want.clear_process_name();
    EXPECT_TRUE(MessageDifferencer::Equals(a, want)) << r;
    EXPECT_TRUE(MessageDifferencer::Equals(b, want)) << r;
  }
  EXPECT_EQ(std::get<std::monostate>(gained->Value(1, name)), std::monostate{});

  schema::FieldDef retyped = *columns[name];
  retyped.type = schema::FieldType::Long;
  auto changed = columns;
  changed[name] = &retyped;
  auto refused = ColumnBlock::Open(data, changed);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            "column block: column `process_name` was written as keyword, the schema says long");
}

// ValueAt (one row, decoding forward only as far as that row) gives what the loaded column gives,
// for every column type (repeated strings, 8-byte integers, absent values, lists), in ascending
// order, in random order (each earlier row starts over), and after the column was loaded.
TEST(ColumnBlock, ValueAtIsTheLoadedValue) {
  const auto columns = Columns(schema::Category::Process);
  ColumnBlockWriter writer(columns);
  auto events = Events();
  for (std::size_t i = 0; i < events.size(); ++i) writer.Add(events[i], RowStamp{1000 + i, 5});
  const std::string data = writer.Finish();
  auto loaded = ColumnBlock::Decode(data, columns);
  ASSERT_TRUE(loaded) << loaded.error().message;
  auto same = [&](ColumnBlock& block, std::size_t row, std::size_t c) {
    auto v = block.ValueAt(row, c);
    ASSERT_TRUE(v) << v.error().message;
    const BlockValue want = loaded->Value(row, c);
    if (const auto* list = std::get_if<ListRef>(&want)) {  // items, not positions, compare
      const auto* got = std::get_if<ListRef>(&*v);
      ASSERT_TRUE(got) << columns[c]->column << " row " << row;
      ASSERT_EQ(got->count, list->count);
      for (std::uint32_t i = 0; i < list->count; ++i)
        EXPECT_EQ(block.ListItem(got->first + i), loaded->ListItem(list->first + i));
      return;
    }
    EXPECT_EQ(*v, want) << columns[c]->column << " row " << row;
  };
  auto ascending = ColumnBlock::Open(data, columns);
  ASSERT_TRUE(ascending);
  for (std::size_t c = 0; c < columns.size(); ++c)
    for (std::size_t r = 0; r < events.size(); r += 1 + r % 3) same(*ascending, r, c);
  auto shuffled = ColumnBlock::Open(data, columns);
  ASSERT_TRUE(shuffled);
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) same(*shuffled, rng() % events.size(), rng() % columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) same(*loaded, 299, c);
  EXPECT_FALSE(shuffled->ValueAt(300, 0));  // past the last row
}

TEST(ColumnBlock, DamageIsAnErrorThatSaysWhere) {
  const auto columns = Columns(schema::Category::Process);
  ColumnBlockWriter writer(columns);
  for (const auto& e : Events()) writer.Add(e, RowStamp{1, 2});
  const std::string data = writer.Finish();
  const Parts parts = Split(data);
  ASSERT_EQ(parts.rows, 300u);
  ASSERT_EQ(parts.columns.size(), columns.size() + 1);
  {  // the raw form of the same block reads the same
    auto a = ColumnBlock::Decode(data, columns);
    auto b = ColumnBlock::Decode(Join(parts), columns);
    ASSERT_TRUE(a && b) << (a ? b.error().message : a.error().message);
    for (std::size_t r = 0; r < 300; r += 37) {
      v1::Event x, y;
      a->ToEvent(r, x);
      b->ToEvent(r, y);
      EXPECT_TRUE(MessageDifferencer::Equals(x, y)) << r;
    }
  }

  // Every truncation is refused.
  for (std::size_t n = 0; n < data.size(); n += 7)
    EXPECT_FALSE(ColumnBlock::Decode(data.substr(0, n), columns)) << n << " bytes";

  Parts twice = parts;  // one field's column twice
  twice.fields[1] = twice.fields[0];
  auto duplicate = ColumnBlock::Open(Join(twice), columns);
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().message, "column block: field written twice (column `" +
                                           std::string(columns[0]->column) + "`, row 0)");

  std::string bad_magic = data;
  bad_magic[2] = 9;
  auto magic = ColumnBlock::Decode(bad_magic, columns);
  ASSERT_FALSE(magic);
  EXPECT_NE(magic.error().message.find("bad magic or version"), std::string::npos);

  // A string longer than what is left of its column: the error names the column and the row.
  std::size_t cmdline = 0;
  while (columns[cmdline]->column != "process_command_line") ++cmdline;
  Parts overrun = parts;
  overrun.columns[cmdline] = std::string(299, '\0') +
                             "\x06"
                             "abc";  // row 299: 4 bytes (tag: length + 2), 3 there
  auto opened = ColumnBlock::Open(Join(overrun), columns);
  ASSERT_TRUE(opened) << opened.error().message;
  ASSERT_TRUE(opened->Load(0));  // other columns still read
  auto load = opened->Load(cmdline);
  ASSERT_FALSE(load);
  EXPECT_EQ(load.error().message,
            "column block: string runs past the end of the column (column "
            "`process_command_line`, row 299)");

  // Blocks of the format before repeats (VB 0x03): string tags are length + 1, no repeats.
  Parts v3 = overrun;
  v3.magic = "VB\x03";
  v3.columns[cmdline] = std::string("\x01") + std::string(298, '\0') +
                        "\x04"
                        "abc";
  auto old_format = ColumnBlock::Open(Join(v3), columns);
  ASSERT_TRUE(old_format && old_format->Load(cmdline)) << "VB 0x03";
  EXPECT_EQ(std::get<std::string_view>(old_format->Value(0, cmdline)), "");
  EXPECT_EQ(std::get<std::string_view>(old_format->Value(299, cmdline)), "abc");
  EXPECT_EQ(std::get<std::monostate>(old_format->Value(1, cmdline)), std::monostate{});

  // A repeat of the row before, in the first row or after a row without a value.
  for (const std::string& column : {std::string("\x01") + std::string(299, '\0'),
                                    std::string(10, '\0') + '\x01' + std::string(289, '\0')}) {
    Parts repeat = parts;
    repeat.columns[cmdline] = column;
    auto block = ColumnBlock::Open(Join(repeat), columns);
    ASSERT_TRUE(block) << block.error().message;
    auto loaded = block->Load(cmdline);
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().message,
              "column block: repeats a value the row before does not have (column "
              "`process_command_line`, row " +
                  std::string(column[0] == 1 ? "0" : "10") + ")");
  }

  // Random damage of the stored and of the raw form: an error that says so, or rows that read.
  std::mt19937 rng(11);
  int refused = 0;
  const std::string joined = Join(parts);
  for (int i = 0; i < 3000; ++i) {
    std::string damaged = i % 2 ? data : joined;
    damaged[rng() % damaged.size()] = static_cast<char>(rng());
    auto b = ColumnBlock::Decode(damaged, columns);
    if (!b) {
      ++refused;
      EXPECT_EQ(b.error().message.rfind("column block: ", 0), 0u) << b.error().message;
      continue;
    }
    for (std::size_t r = 0; r < b->rows(); ++r) {
      v1::Event e;
      b->ToEvent(r, e);
    }
  }
  EXPECT_GT(refused, 300);

  auto garbage = ColumnBlock::Decode(std::string(64, '\xff'), columns);
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("column block"), std::string::npos);
}

}  // namespace
}  // namespace vigil::store
