// Unit tests of the column-block event tables (block_table.hpp, block_table_vtab.hpp): the same
// events written by the store as rows and by BlockTablesWriter as blocks answer the same SQL with
// the same rows (point lookups, IN lists, id and time ranges, both orders, joins, subqueries);
// plans use the id and time constraints; damaged blocks are errors that say which block and
// column; a rolled-back transaction's ids are reused.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "bench/store/telemetry_generator.hpp"
#include "server/store/block_table.hpp"
#include "server/store/block_table_vtab.hpp"
#include "server/store/sqlite_tuning.hpp"
#include "server/store/store.hpp"
#include "server/store/text_index_vtab.hpp"

namespace vigil::store::blocks {
namespace {

namespace fs = std::filesystem;

// The id BlockTablesWriter::Add gave the event; 0 when it was not added, -1 on an error.
std::int64_t Added(BlockTablesWriter& writer, const v1::Event& event, RowStamp stamp = {}) {
  auto row = writer.Add(event, stamp);
  EXPECT_TRUE(row.has_value()) << row.error().message;
  return !row ? -1 : *row ? (*row)->id : 0;
}

class BlockTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vigil-block-table-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "vigil.db";
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(dir_);
  }

  // Writes `batches` batches of generated events (plus rows with lists, extra maps and bools) as
  // rows through the store and as blocks through BlockTablesWriter, one transaction per batch
  // each, into the same database; then opens a connection with the blocks tables as blk_*.
  void WriteBoth(int batches) {
    bench::Generator gen(7);
    std::vector<IngestBatch> all;
    for (int b = 0; b < batches; ++b) {
      IngestBatch batch = gen.Next(b % 3 == 0 ? 1 : 500);
      for (std::size_t i = 0; i < batch.events.size(); ++i) {
        auto& e = batch.events[i];
        e.set_event_ingested(e.timestamp() + 5);  // the store would stamp its commit time
        if (i % 17 == 0 && e.event_category() == "process") {
          e.add_process_args("-c");
          e.add_process_args("echo \"quoted\" \\ back");
          (*e.mutable_extra())["zz"] = "last";
          (*e.mutable_extra())["aa"] = "first \"one\"";
        }
      }
      all.push_back(std::move(batch));
    }
    {
      auto store = OpenSqliteStore(SqliteOptions{path_, false});
      ASSERT_TRUE(store.has_value()) << store.error().message;
      for (const auto& h : gen.hosts()) ASSERT_TRUE((*store)->RegisterAgent(h.agent_id, h.name));
      for (const auto& batch : all) {
        auto r = (*store)->Append(std::span<const IngestBatch>(&batch, 1));
        ASSERT_TRUE(r.has_value()) << r.error().message;
        ASSERT_EQ((*r)[0].stored, batch.events.size());
      }
    }
    auto db = sqlite::Open(path_.string(), SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(db.has_value());
    db_ = std::move(*db);
    auto writer = BlockTablesWriter::Open(db_.get());
    ASSERT_TRUE(writer.has_value()) << writer.error().message;
    for (const auto& batch : all) {
      ASSERT_TRUE(sqlite::Exec(db_.get(), "BEGIN"));
      for (std::size_t i = 0; i < batch.events.size(); ++i)
        ASSERT_EQ(Added(*writer, batch.events[i], RowStamp{batch.first_sequence + i, 1}) > 0, true);
      ASSERT_TRUE(writer->Flush());
      ASSERT_TRUE(sqlite::Exec(db_.get(), "COMMIT"));
    }
    ASSERT_TRUE(RegisterBlockTables(db_.get(), "blk_"));
    ASSERT_TRUE(text_index::RegisterFunction(db_.get()));
  }

  // Every row of `sql` as text, each value tagged with its SQLite type; or the error.
  std::vector<std::string> Rows(const std::string& sql) {
    std::vector<std::string> rows;
    auto stmt = sqlite::Prepare(db_.get(), sql);
    if (!stmt) return {"prepare: " + stmt.error().message};
    int rc;
    while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(stmt->get()); ++c) {
        const int type = sqlite3_column_type(stmt->get(), c);
        const auto* text = sqlite3_column_text(stmt->get(), c);
        row += std::to_string(type) + ":" + (text ? reinterpret_cast<const char*>(text) : "") + "|";
      }
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) rows.push_back(std::string("error: ") + sqlite3_errmsg(db_.get()));
    return rows;
  }

  // `sql` with {T} naming the row table, then the blocks table: the same rows, in the same order.
  std::size_t ExpectSame(const std::string& sql, const std::string& table) {
    auto with = [&](const std::string& name) {
      std::string out = sql;
      for (std::size_t at; (at = out.find("{T}")) != std::string::npos;) out.replace(at, 3, name);
      return out;
    };
    const auto rows = Rows(with(table));
    const auto blocks = Rows(with("blk_" + table));
    EXPECT_EQ(blocks, rows) << with("blk_" + table);
    return rows.size();
  }

  std::string Plan(const std::string& sql) {
    std::string plan;
    for (const auto& row : Rows("EXPLAIN QUERY PLAN " + sql)) plan += row + "\n";
    return plan;
  }

  std::int64_t Int(const std::string& sql) {
    auto v = sqlite::QueryInt(db_.get(), sql, -1);
    EXPECT_TRUE(v.has_value()) << sql;
    return v ? *v : -1;
  }

  fs::path dir_, path_;
  sqlite::DbPtr db_;
};

TEST_F(BlockTableTest, AnswersLikeTheRowTables) {
  WriteBoth(40);
  ASSERT_EQ(Int("SELECT count(*) FROM process"), Int("SELECT count(*) FROM blk_process"));
  const std::int64_t processes = Int("SELECT count(*) FROM process");
  ASSERT_GT(processes, 5000);
  // Every table whole, every column, in both orders.
  for (const auto& c : schema::Categories()) {
    const std::string t(c.name);
    ExpectSame("SELECT * FROM {T} ORDER BY id", t);
    ExpectSame("SELECT * FROM {T} ORDER BY id DESC", t);
    ExpectSame("SELECT count(*), min(id), max(id), sum(timestamp % 1000) FROM {T}", t);
  }
  EXPECT_EQ(ExpectSame("SELECT * FROM {T}", "process"), static_cast<std::size_t>(processes));

  // Point lookups and IN lists (with ids that do not exist, duplicates, text and real values).
  EXPECT_EQ(ExpectSame("SELECT * FROM {T} WHERE id = 17", "process"), 1u);
  EXPECT_EQ(ExpectSame("SELECT * FROM {T} WHERE id = '18'", "process"), 1u);
  EXPECT_EQ(ExpectSame("SELECT id FROM {T} WHERE id = 0", "process"), 0u);
  EXPECT_EQ(ExpectSame("SELECT id FROM {T} WHERE id = " + std::to_string(processes + 1), "process"),
            0u);
  EXPECT_EQ(ExpectSame("SELECT id, process_command_line FROM {T} WHERE id IN (3, 1000, 5, 99999, "
                       "2, 5, 2.0, 3.5, 'x') ORDER BY id",
                       "process"),
            4u);
  EXPECT_EQ(ExpectSame("SELECT id, process_args FROM {T} WHERE id IN (3, 1000, 5, 2) ORDER BY id "
                       "DESC",
                       "process"),
            4u);
  EXPECT_EQ(
      ExpectSame("SELECT id FROM {T} WHERE id IN (SELECT id FROM {T} WHERE "
                 "destination_port = 443) ORDER BY id DESC",
                 "network"),
      static_cast<std::size_t>(Int("SELECT count(*) FROM network WHERE destination_port = 443")));

  // Ranges of ids and of time, and LIMIT in both orders.
  EXPECT_EQ(ExpectSame("SELECT id, timestamp FROM {T} WHERE id > 500 AND id <= 1700 ORDER BY id "
                       "DESC LIMIT 50",
                       "process"),
            50u);
  EXPECT_EQ(ExpectSame("SELECT * FROM {T} WHERE id >= 499.5 AND id < 1200 ORDER BY id", "process"),
            700u);
  const std::int64_t lo = Int("SELECT timestamp FROM process WHERE id = 2000");
  const std::int64_t hi = Int("SELECT timestamp FROM process WHERE id = 2600");
  EXPECT_EQ(ExpectSame("SELECT id, host_name FROM {T} WHERE timestamp >= " + std::to_string(lo) +
                           " AND timestamp < " + std::to_string(hi) + " ORDER BY id",
                       "process"),
            600u);  // the generator's timestamps rise with ids
  ExpectSame("SELECT id FROM {T} WHERE timestamp > 'text' ORDER BY id LIMIT 3", "process");

  // Term keys (entity ids): equality on them goes to the store's term postings, which these
  // blk_ tables have none of, so each is a scan here, with the same rows (the postings path:
  // block_store_test).
  const std::string entity = "(SELECT process_entity_id FROM process WHERE id = 77)";
  const std::string parent = "(SELECT process_parent_entity_id FROM process WHERE id = 300)";
  EXPECT_GE(ExpectSame("SELECT * FROM {T} WHERE process_entity_id = " + entity, "process"), 1u);
  EXPECT_GE(ExpectSame("SELECT id FROM {T} WHERE process_parent_entity_id = " + parent +
                           " ORDER BY id DESC",
                       "process"),
            1u);
  ExpectSame("SELECT id, destination_port FROM {T} WHERE process_entity_id = " + entity, "network");
  EXPECT_EQ(ExpectSame("SELECT id FROM {T} WHERE process_entity_id = NULL", "process"), 0u);
  EXPECT_EQ(ExpectSame("SELECT id FROM {T} WHERE process_entity_id = 'no such id'", "process"), 0u);

  // Lineage joins and text filters.
  EXPECT_GT(ExpectSame("SELECT c.id, p.id, p.process_name FROM {T} c JOIN {T} p ON "
                       "p.process_entity_id = c.process_parent_entity_id WHERE c.id BETWEEN 100 "
                       "AND 300 ORDER BY c.id, p.id",
                       "process"),
            100u);
  EXPECT_GT(ExpectSame("SELECT count(*), group_concat(id) FROM {T} WHERE process_command_line LIKE "
                       "'%python%' AND extra IS NULL",
                       "process"),
            0u);
  // The term index's prefilter over either table (blk_process has no postings of its own: every
  // row is a candidate, between its first and last id).
  EXPECT_GT(ExpectSame("SELECT id, process_name FROM {T} WHERE id IN (SELECT id FROM "
                       "vigil_terms('{T}', 'process_name', 'eq', '[\"bash\"]')) AND process_name = "
                       "'bash' ORDER BY id",
                       "process"),
            100u);
  EXPECT_EQ(ExpectSame("SELECT id, extra, process_args FROM {T} WHERE extra IS NOT NULL ORDER BY "
                       "id LIMIT 5",
                       "process"),
            5u);
  EXPECT_EQ(Rows("SELECT extra, json_extract(process_args, '$[#-1]') FROM blk_process WHERE "
                 "extra IS NOT NULL LIMIT 1"),
            std::vector<std::string>{
                "3:{\"aa\":\"first \\\"one\\\"\",\"zz\":\"last\"}|3:echo \"quoted\" \\ back|"});
}

TEST_F(BlockTableTest, PlansUseIdsAndTime) {
  WriteBoth(4);
  EXPECT_NE(Plan("SELECT * FROM blk_process WHERE id = 5").find("VIRTUAL TABLE INDEX 1:"),
            std::string::npos)
      << Plan("SELECT * FROM blk_process WHERE id = 5");
  EXPECT_NE(Plan("SELECT * FROM blk_process WHERE id IN (5, 6)").find("VIRTUAL TABLE INDEX 2:"),
            std::string::npos);
  EXPECT_NE(Plan("SELECT * FROM blk_process WHERE id > 5 AND id < 9 AND timestamp >= 1 AND "
                 "timestamp < 2 ORDER BY id DESC")
                .find("VIRTUAL TABLE INDEX 124:"),
            std::string::npos);
  // Term keys: equality reads the term postings (key 0: host_id, 1: process_entity_id, 2:
  // parent); a lineage join looks up each parent by its entity id.
  EXPECT_NE(Plan("SELECT * FROM blk_process WHERE host_id = 'x' AND timestamp > 5")
                .find("VIRTUAL TABLE INDEX 272:"),
            std::string::npos);
  EXPECT_NE(Plan("SELECT * FROM blk_process WHERE process_entity_id = 'x'")
                .find("VIRTUAL TABLE INDEX 768:"),
            std::string::npos);
  EXPECT_NE(Plan("SELECT * FROM blk_process WHERE process_parent_entity_id = 'x'")
                .find("VIRTUAL TABLE INDEX 1280:"),
            std::string::npos);
  EXPECT_NE(Plan("SELECT c.id, p.id FROM blk_process c JOIN blk_process p ON p.process_entity_id "
                 "= c.process_parent_entity_id WHERE c.id < 50")
                .find("SCAN p VIRTUAL TABLE INDEX 768:"),
            std::string::npos)
      << Plan(
             "SELECT c.id, p.id FROM blk_process c JOIN blk_process p ON p.process_entity_id "
             "= c.process_parent_entity_id WHERE c.id < 50");
  // What the hunt executor reads from such plans.
  auto access = [&](const std::string& sql) {
    const std::string plan = Plan(sql);
    const std::size_t at = plan.find("3:");
    return PlannedAccess(plan.substr(at == std::string::npos ? 0 : at + 2));
  };
  EXPECT_EQ(access("SELECT * FROM blk_process WHERE id = 5"), BlockAccess::kLookup);
  EXPECT_EQ(access("SELECT * FROM blk_process WHERE id IN (5, 7)"), BlockAccess::kLookup);
  EXPECT_EQ(access("SELECT * FROM blk_process WHERE process_entity_id = 'x'"),
            BlockAccess::kLookup);
  EXPECT_EQ(access("SELECT * FROM blk_process WHERE timestamp > 5"), BlockAccess::kRange);
  EXPECT_EQ(access("SELECT * FROM blk_process WHERE process_name = 'x'"), BlockAccess::kScan);
  EXPECT_EQ(access("SELECT * FROM process WHERE id = 5"), std::nullopt);  // a row table
  // A join on ids looks up each id, no scan of the inner table.
  EXPECT_NE(Plan("SELECT * FROM network n JOIN blk_process p ON p.id = n.id")
                .find("SCAN p VIRTUAL TABLE INDEX 1:"),
            std::string::npos)
      << Plan("SELECT * FROM network n JOIN blk_process p ON p.id = n.id");
}

TEST_F(BlockTableTest, DamagedBlocksAreErrorsThatSayWhere) {
  WriteBoth(4);
  const std::int64_t first = Int("SELECT min(first_id) FROM process_blocks WHERE first_id > 1");
  ASSERT_TRUE(sqlite::Exec(db_.get(),
                           "UPDATE process_blocks SET data = substr(data, 1, 40) WHERE "
                           "first_id = " +
                               std::to_string(first)));
  const auto rows = Rows("SELECT process_command_line FROM blk_process");
  ASSERT_FALSE(rows.empty());
  EXPECT_NE(rows.back().find("error: process block " + std::to_string(first) + ": column block"),
            std::string::npos)
      << rows.back();
  // Other blocks still read, and a query of ids alone reads no block's data.
  EXPECT_EQ(Rows("SELECT id, typeof(timestamp) FROM blk_process WHERE id = 1"),
            std::vector<std::string>{"1:1|3:integer|"});
  EXPECT_EQ(Int("SELECT count(*) FROM blk_process"), Int("SELECT count(*) FROM process"));

  // A block whose id range does not match its rows.
  const std::int64_t last = Int("SELECT last_id FROM process_blocks WHERE first_id = 1");
  ASSERT_TRUE(sqlite::Exec(db_.get(),
                           "UPDATE process_blocks SET last_id = last_id + 1 WHERE "
                           "first_id = 1"));
  EXPECT_EQ(Rows("SELECT id, typeof(timestamp) FROM blk_process WHERE id = 1"),
            std::vector<std::string>{"error: process block 1: holds " + std::to_string(last) +
                                     " rows, not ids 1.." + std::to_string(last + 1)});
}

TEST_F(BlockTableTest, RolledBackIdsAreReused) {
  auto db = sqlite::Open(path_.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  ASSERT_TRUE(db.has_value());
  db_ = std::move(*db);
  auto writer = BlockTablesWriter::Open(db_.get());
  ASSERT_TRUE(writer.has_value()) << writer.error().message;
  v1::Event e;
  e.set_event_category("process");
  e.set_timestamp(100);
  e.set_process_name("first");
  ASSERT_TRUE(sqlite::Exec(db_.get(), "BEGIN"));
  EXPECT_EQ(Added(*writer, e), 1);
  EXPECT_EQ(Added(*writer, e), 2);
  ASSERT_TRUE(writer->Flush());
  ASSERT_TRUE(sqlite::Exec(db_.get(), "COMMIT"));

  e.set_process_name("lost");
  ASSERT_TRUE(sqlite::Exec(db_.get(), "BEGIN"));
  EXPECT_EQ(Added(*writer, e), 3);
  ASSERT_TRUE(writer->Flush());
  ASSERT_TRUE(sqlite::Exec(db_.get(), "ROLLBACK"));
  ASSERT_TRUE(writer->Discard());

  e.set_process_name("second");
  e.set_event_category("no such category");
  EXPECT_EQ(Added(*writer, e), 0);
  e.set_event_category("process");
  ASSERT_TRUE(sqlite::Exec(db_.get(), "BEGIN"));
  EXPECT_EQ(Added(*writer, e), 3);
  ASSERT_TRUE(writer->Flush());
  ASSERT_TRUE(sqlite::Exec(db_.get(), "COMMIT"));
  ASSERT_TRUE(RegisterBlockTables(db_.get()));
  EXPECT_EQ(Rows("SELECT id, process_name FROM process ORDER BY id DESC"),
            (std::vector<std::string>{"1:3|3:second|", "1:2|3:first|", "1:1|3:first|"}));
  // A reopened writer continues after the last block.
  auto reopened = BlockTablesWriter::Open(db_.get());
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ(Added(*reopened, e), 4);
}

// Blocks closed at max_block_rows in a transaction that is rolled back, whether written by Flush
// or not yet, are forgotten: the ids are taken again and only the committed rows read back.
TEST_F(BlockTableTest, RolledBackFullBlocksAreForgotten) {
  auto db = sqlite::Open(path_.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  ASSERT_TRUE(db.has_value());
  db_ = std::move(*db);
  auto writer = BlockTablesWriter::Open(db_.get(), 1, /*max_block_rows=*/4);
  ASSERT_TRUE(writer.has_value()) << writer.error().message;
  v1::Event e;
  e.set_event_category("process");
  e.set_timestamp(100);
  for (const bool flushed : {true, false}) {
    e.set_process_name(flushed ? "flushed then rolled back" : "rolled back");
    ASSERT_TRUE(sqlite::Exec(db_.get(), "BEGIN"));
    for (int i = 1; i <= 10; ++i) {
      EXPECT_EQ(Added(*writer, e), i);
    }
    if (flushed) {
      ASSERT_TRUE(writer->Flush());
    }
    ASSERT_TRUE(sqlite::Exec(db_.get(), "ROLLBACK"));
    ASSERT_TRUE(writer->Discard());
  }
  e.set_process_name("kept");
  ASSERT_TRUE(sqlite::Exec(db_.get(), "BEGIN"));
  for (int i = 1; i <= 5; ++i) {
    e.set_timestamp(200 + i);
    EXPECT_EQ(Added(*writer, e), i);
  }
  ASSERT_TRUE(writer->Flush());
  ASSERT_TRUE(sqlite::Exec(db_.get(), "COMMIT"));
  EXPECT_EQ(Rows("SELECT first_id, last_id, min_ts, max_ts FROM process_blocks ORDER BY first_id"),
            (std::vector<std::string>{"1:1|1:4|1:201|1:204|", "1:5|1:5|1:205|1:205|"}));
  ASSERT_TRUE(RegisterBlockTables(db_.get()));
  EXPECT_EQ(Rows("SELECT count(*), min(id), max(id), min(process_name), max(process_name) FROM "
                 "process"),
            (std::vector<std::string>{"1:5|1:1|1:5|3:kept|3:kept|"}));
}

}  // namespace
}  // namespace vigil::store::blocks
