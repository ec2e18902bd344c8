// Unit tests of the store with its opt-in column-block layout (SqliteOptions::column_blocks): the
// same batches written to a row store and a block store read back the same through the Store
// interface (queries, counts, live detection's cursor, exactly-once), across a reopen (ids and the
// text index continue), retention deletes whole old blocks, and a database keeps the layout it
// was written with.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "bench/store/telemetry_generator.hpp"
#include "common/time.hpp"
#include "server/store/block_table.hpp"
#include "server/store/block_table_vtab.hpp"
#include "server/store/sqlite_tuning.hpp"
#include "server/store/sqlite_util.hpp"
#include "server/store/store.hpp"
#include "server/store/text_index_vtab.hpp"

namespace vigil::store {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

class BlockStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vigil-block-store-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "rows");
    fs::create_directories(dir_ / "blocks");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> Open(const std::string& layout, bool blocks) {
    auto store = OpenSqliteStore(SqliteOptions{dir_ / layout / "vigil.db", false, blocks});
    EXPECT_TRUE(store.has_value()) << (store ? "" : store.error().message);
    return store ? std::move(*store) : nullptr;
  }

  std::vector<IngestBatch> Batches(int count, std::uint64_t seed = 3) {
    bench::Generator gen(seed);
    std::vector<IngestBatch> batches;
    for (int b = 0; b < count; ++b) {
      IngestBatch batch = gen.Next(b % 4 == 0 ? 3 : 400);
      for (std::size_t i = 0; i < batch.events.size(); ++i) {
        auto& e = batch.events[i];
        e.set_event_ingested(e.timestamp() + 9);  // the store would stamp its commit time
        if (i % 29 == 0) (*e.mutable_extra())["custom.field"] = "value " + std::to_string(i);
        if (i % 31 == 0 && e.has_process_parent_entity_id())
          e.set_process_parent_entity_id("");  // set, empty (imports do that): not NULL
      }
      batches.push_back(std::move(batch));
    }
    agents_ = gen.hosts();
    return batches;
  }

  void Append(Store& store, const std::vector<IngestBatch>& batches) {
    for (const auto& h : agents_) ASSERT_TRUE(store.RegisterAgent(h.agent_id, h.name));
    for (const auto& batch : batches) {
      auto r = store.Append(std::span<const IngestBatch>(&batch, 1));
      ASSERT_TRUE(r.has_value()) << r.error().message;
      ASSERT_EQ((*r)[0].stored, batch.events.size());
    }
  }

  static std::vector<v1::Event> Query(Store& store, EventQuery q) {
    std::vector<v1::Event> out;
    auto r = store.QueryEvents(q, [&](v1::Event&& e) {
      out.push_back(std::move(e));
      return true;
    });
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return out;
  }

  static void ExpectSameEvents(const std::vector<v1::Event>& a, const std::vector<v1::Event>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
      ASSERT_TRUE(MessageDifferencer::Equals(a[i], b[i])) << "event " << i << ":\n"
                                                          << a[i].DebugString() << "vs\n"
                                                          << b[i].DebugString();
  }

  // The ids of `sql`'s rows on the blocks database file (first column).
  std::vector<std::int64_t> Ids(const std::string& sql) {
    // sqlite::Open registers the block tables on every connection (side stores read events too).
    auto db = sqlite::Open((dir_ / "blocks" / "vigil.db").string(), SQLITE_OPEN_READONLY);
    EXPECT_TRUE(db.has_value());
    EXPECT_TRUE(text_index::RegisterFunction(db->get()));
    std::vector<std::int64_t> ids;
    auto stmt = sqlite::Prepare(db->get(), sql);
    EXPECT_TRUE(stmt.has_value()) << (stmt ? "" : stmt.error().message);
    if (!stmt) return ids;
    while (sqlite3_step(stmt->get()) == SQLITE_ROW)
      ids.push_back(sqlite3_column_int64(stmt->get(), 0));
    return ids;
  }

  fs::path dir_;
  std::vector<bench::Host> agents_;
};

TEST_F(BlockStoreTest, ReadsBackLikeTheRowStore) {
  const auto batches = Batches(30);
  auto rows = Open("rows", false);
  auto blocks = Open("blocks", true);
  ASSERT_TRUE(rows && blocks);
  Append(*rows, batches);
  Append(*blocks, batches);

  EventQuery all;
  all.limit = 0;
  const auto expected = Query(*rows, all);
  ASSERT_EQ(expected.size(), 8u * 3 + 22u * 400);
  ExpectSameEvents(Query(*blocks, all), expected);
  all.newest_first = false;
  ExpectSameEvents(Query(*blocks, all), Query(*rows, all));

  EventQuery some;
  some.category = schema::Category::Network;
  some.host = agents_[3].name;
  some.since_ns = expected[expected.size() / 2].timestamp();
  some.limit = 25;
  ExpectSameEvents(Query(*blocks, some), Query(*rows, some));
  some.host = agents_[4].id;
  ExpectSameEvents(Query(*blocks, some), Query(*rows, some));

  for (const auto& c : schema::Categories())
    EXPECT_EQ(*blocks->CountEvents(c.category), *rows->CountEvents(c.category)) << c.name;
  EXPECT_EQ(*blocks->CountEvents(std::nullopt), expected.size());
  EXPECT_EQ(*blocks->LastEventId(schema::Category::Process),
            *rows->LastEventId(schema::Category::Process));

  auto after = [](Store& store) {
    std::vector<std::pair<std::int64_t, std::string>> out;
    EXPECT_TRUE(store.ReadEventsAfter(schema::Category::Process, 100, 50,
                                      [&](std::int64_t id, v1::Event&& e) {
                                        out.emplace_back(id, e.SerializeAsString());
                                        return true;
                                      }));
    return out;
  };
  const auto read = after(*blocks);
  ASSERT_EQ(read.size(), 50u);
  EXPECT_EQ(read.front().first, 101);
  EXPECT_EQ(read, after(*rows));

  // A batch sent again (a lost ack) is stored once.
  auto again = blocks->Append(std::span<const IngestBatch>(&batches[5], 1));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)[0].stored, 0u);
  EXPECT_EQ((*again)[0].duplicates, batches[5].events.size());
  EXPECT_EQ(*blocks->CountEvents(std::nullopt), expected.size());
}

// A group commit of many batches (the gateway's leader takes every queued batch) writes blocks of
// at most kMaxBlockRows rows with consecutive ids, which read back like rows stored batch by batch.
TEST_F(BlockStoreTest, GroupCommitWritesBlocksOfBoundedSize) {
  const auto batches = Batches(12);
  auto rows = Open("rows", false);
  auto blocks = Open("blocks", true);
  ASSERT_TRUE(rows && blocks);
  Append(*rows, batches);
  for (const auto& h : agents_) ASSERT_TRUE(blocks->RegisterAgent(h.agent_id, h.name));
  auto grouped = blocks->Append(std::span<const IngestBatch>(batches));
  ASSERT_TRUE(grouped.has_value()) << grouped.error().message;
  ASSERT_EQ(grouped->size(), batches.size());
  for (std::size_t b = 0; b < batches.size(); ++b)
    EXPECT_EQ((*grouped)[b].stored, batches[b].events.size()) << b;

  const auto process_rows = *rows->CountEvents(schema::Category::Process);
  ASSERT_GT(process_rows, 2 * blocks::BlockTablesWriter::kMaxBlockRows);
  const auto firsts = Ids("SELECT first_id FROM process_blocks ORDER BY first_id");
  const auto lasts = Ids("SELECT last_id FROM process_blocks ORDER BY first_id");
  ASSERT_EQ(firsts.size(), (process_rows + blocks::BlockTablesWriter::kMaxBlockRows - 1) /
                               blocks::BlockTablesWriter::kMaxBlockRows);
  for (std::size_t i = 0; i < firsts.size(); ++i) {
    EXPECT_EQ(firsts[i], i == 0 ? 1 : lasts[i - 1] + 1);
    EXPECT_EQ(lasts[i] - firsts[i] + 1,
              i + 1 < firsts.size()
                  ? static_cast<std::int64_t>(blocks::BlockTablesWriter::kMaxBlockRows)
                  : static_cast<std::int64_t>(process_rows) - firsts[i] + 1);
  }
  EventQuery all;
  all.limit = 0;
  ExpectSameEvents(Query(*blocks, all), Query(*rows, all));
  // Key lookups through the postings still find every row of a host.
  const std::string host = agents_[2].id;
  EXPECT_EQ(Ids("SELECT count(*) FROM process WHERE host_id = '" + host + "'"),
            Ids("SELECT count(*) FROM process WHERE +host_id = '" + host + "'"));
  EXPECT_GT(Ids("SELECT count(*) FROM process WHERE host_id = '" + host + "'")[0], 0);
}

TEST_F(BlockStoreTest, ReopenContinuesIdsAndTextIndex) {
  // ~72k process rows: the first partition (65,536 rows) is sealed after the reopen.
  const auto batches = Batches(600);
  const std::vector<IngestBatch> first(batches.begin(), batches.begin() + 300);
  const std::vector<IngestBatch> second(batches.begin() + 300, batches.end());
  {
    auto blocks = Open("blocks", true);
    ASSERT_TRUE(blocks);
    Append(*blocks, first);
  }
  auto blocks = Open("blocks", true);
  ASSERT_TRUE(blocks);
  Append(*blocks, second);
  std::int64_t total = 0;
  for (const auto& b : batches) total += static_cast<std::int64_t>(b.events.size());
  EXPECT_EQ(*blocks->CountEvents(std::nullopt), static_cast<std::uint64_t>(total));
  // Ids run on without a gap or a repeat.
  const auto ids = Ids("SELECT id FROM process ORDER BY id");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), static_cast<std::int64_t>(ids.size()));
  // The text index (sealed partitions, and the one the store holds in memory) finds exactly
  // what a scan finds.
  const auto scan = Ids("SELECT id FROM process WHERE process_command_line LIKE '%python%'");
  ASSERT_GT(scan.size(), 100u);
  EXPECT_EQ(Ids("SELECT id FROM process WHERE id IN (SELECT id FROM vigil_text('process', "
                "'process_command_line', '[\"*python*\"]')) AND process_command_line LIKE "
                "'%python%'"),
            scan);
  ASSERT_GT(ids.size(), 65536u);
  EXPECT_EQ(Ids("SELECT count(*) FROM text_index_parts WHERE tbl = 'process'"),
            std::vector<std::int64_t>{1});
  // Term keys (entity ids, parent entity ids, host ids) through the term postings, sealed
  // (partition 0) and in memory (partition 1), find exactly the rows a scan finds (`+column`
  // keeps the constraint from the table).
  ASSERT_GT(Ids("SELECT count(*) FROM term_postings WHERE tbl = 'process' AND col = "
                "'process_parent_entity_id'")[0],
            0);
  // An empty key is a value too (the term index does not hold it: those lookups scan).
  const auto empty = Ids("SELECT id FROM process WHERE +process_parent_entity_id = ''");
  ASSERT_GT(empty.size(), 100u);
  EXPECT_EQ(Ids("SELECT id FROM process WHERE process_parent_entity_id = ''"), empty);
  for (const char* table : {"process", "network"})
    for (std::int64_t row : {77, 2000, 70000})
      for (std::string column : {"process_entity_id", "process_parent_entity_id", "host_id"}) {
        if (std::string_view(table) == "network" && column == "process_parent_entity_id") continue;
        const std::string value =
            "(SELECT " + column + " FROM " + table + " WHERE id = " + std::to_string(row) + ")";
        const auto scanned =
            Ids("SELECT id FROM " + std::string(table) + " WHERE +" + column + " = " + value);
        if (row < 70000 || std::string_view(table) == "process") {
          ASSERT_FALSE(scanned.empty());
        }
        EXPECT_EQ(Ids("SELECT id FROM " + std::string(table) + " WHERE " + column + " = " + value),
                  scanned)
            << table << "." << column << " of row " << row;
      }
}

TEST_F(BlockStoreTest, RetentionDeletesWholeOldBlocks) {
  auto batches = Batches(12);
  const std::int64_t now = NowNs();
  const std::int64_t old = now - 10LL * 24 * 3600 * 1'000'000'000;
  std::uint64_t old_events = 0, total = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    for (auto& e : batches[b].events) {
      e.set_timestamp((b < 8 ? old : now) + e.timestamp() % 1'000'000);
      e.set_event_ingested(e.timestamp());
    }
    if (b < 8) old_events += batches[b].events.size();
    total += batches[b].events.size();
  }
  auto blocks = Open("blocks", true);
  ASSERT_TRUE(blocks);
  Append(*blocks, batches);
  RetentionPolicy policy;
  policy.max_age_ns = 5LL * 24 * 3600 * 1'000'000'000;
  auto r = blocks->ApplyRetention(policy);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->deleted_events, old_events);  // each batch is one block per table
  EXPECT_EQ(*blocks->CountEvents(std::nullopt), total - old_events);
  EventQuery all;
  all.limit = 0;
  for (const auto& e : Query(*blocks, all)) EXPECT_GE(e.timestamp(), now);
  // Lookups through the term postings skip the deleted rows (the first batches' hosts).
  const std::string host = "(SELECT host_id FROM process ORDER BY id DESC LIMIT 1)";
  const auto kept = Ids("SELECT id FROM process WHERE +host_id = " + host);
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(Ids("SELECT id FROM process WHERE host_id = " + host), kept);
  EXPECT_EQ(Ids("SELECT id FROM process WHERE host_id = '" + batches[0].events[0].host_id() + "'"),
            std::vector<std::int64_t>{});

  // Everything old: the newest block of each table stays (its last id continues the ids).
  policy.max_age_ns = 1;
  r = blocks->ApplyRetention(policy);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(Ids("SELECT count(*) FROM process_blocks"), std::vector<std::int64_t>{1});
  EXPECT_EQ(Ids("SELECT max(id) FROM process"), Ids("SELECT max(last_id) FROM process_blocks"));
}

TEST_F(BlockStoreTest, RetentionBySizeDeletesTheOldestBlocks) {
  const auto batches = Batches(60);
  auto blocks = Open("blocks", true);
  ASSERT_TRUE(blocks);
  Append(*blocks, batches);
  auto used = [&] {
    return Ids("SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM "
               "pragma_freelist_count())")[0] *
           Ids("SELECT page_size FROM pragma_page_size()")[0];
  };
  const std::int64_t before = used();
  const std::uint64_t total = *blocks->CountEvents(std::nullopt);
  const std::int64_t oldest = Ids("SELECT min(min_ts) FROM process_blocks")[0];
  RetentionPolicy policy;
  policy.max_bytes = static_cast<std::uint64_t>(before / 2);
  auto r = blocks->ApplyRetention(policy);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_GT(r->deleted_events, 0u);
  EXPECT_EQ(*blocks->CountEvents(std::nullopt), total - r->deleted_events);
  EXPECT_LE(used(), before / 2);
  EXPECT_GT(Ids("SELECT min(min_ts) FROM process_blocks")[0], oldest);  // the oldest went first
  EXPECT_EQ(Ids("SELECT max(id) FROM process")[0],
            Ids("SELECT max(last_id) FROM process_blocks")[0]);
}

// destination.port, an integer term key (held as its decimal text), through sealed postings
// (network's first 65,536 rows) and the partition in memory, across a reopen: every form of the
// value SQLite's INTEGER affinity makes a number finds the rows a scan finds, through the
// postings (the plan looks rows up); anything else matches nothing, as in the scan.
TEST_F(BlockStoreTest, PortKeyLookups) {
  auto batches = Batches(300);
  std::vector<IngestBatch> network;  // the network events only, three times: > 65,536 rows
  for (int round = 0; round < 3; ++round)
    for (const auto& batch : batches) {
      IngestBatch b;
      for (const auto& e : batch.events)
        if (e.event_category() == "network") {
          b.events.push_back(e);
          // A rare port (the generator's are 443 and 80, each more than an eighth of the rows:
          // those lookups scan instead).
          if (b.events.size() % 97 == 0) b.events.back().set_destination_port(8443);
        }
      network.push_back(std::move(b));
    }
  {
    auto blocks = Open("blocks", true);
    ASSERT_TRUE(blocks);
    Append(*blocks, network);
    Append(*blocks, batches);  // dns rows too
  }
  auto blocks = Open("blocks", true);
  ASSERT_TRUE(blocks);
  ASSERT_GT(Ids("SELECT count(*) FROM network")[0], 70000);
  ASSERT_EQ(Ids("SELECT count(*) FROM term_filters WHERE tbl = 'network' AND col = "
                "'destination_port' AND part = 0"),
            std::vector<std::int64_t>{1});
  // (`+column`, the scan, has no affinity: hence the scan's own literal.)
  const std::pair<std::string, std::string> ports[] = {
      {"443", "443"},   {"80", "80"},       {"53", "53"},         {"443.0", "443"},
      {"'443'", "443"}, {"' 443'", "443"},  {"'0443'", "443"},    {"'4.43e2'", "443"},
      {"-1", "-1"},     {"443.5", "443.5"}, {"'443x'", "'443x'"}, {"NULL", "NULL"},
      {"8443", "8443"}, {"'08443'", "8443"}};
  for (const char* table : {"network", "dns"})
    for (const auto& [port, scan_port] : ports) {
      const std::string where = std::string(" FROM ") + table + " WHERE ";
      const auto scanned = Ids("SELECT id" + where + "+destination_port = " + scan_port);
      if (std::string_view(table) == "network" && (port == "443" || port == "'0443'")) {
        ASSERT_GT(scanned.size(), 10000u) << port;
      }
      EXPECT_EQ(Ids("SELECT id" + where + "destination_port = " + port), scanned)
          << table << ".destination_port = " << port;
    }
  // A rare port's rows come from the postings: SQLite steps over those rows, not the table's
  // (a scan of the ~80,000 network rows would take several steps each).
  const auto rare = Ids("SELECT id FROM network WHERE +destination_port = 8443");
  ASSERT_GT(rare.size(), 500u);
  ASSERT_LT(rare.size(), 5000u);
  {
    auto db = sqlite::Open((dir_ / "blocks" / "vigil.db").string(), SQLITE_OPEN_READONLY);
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(text_index::RegisterFunction(db->get()));
    auto stmt =
        sqlite::Prepare(db->get(), "SELECT count(*) FROM network WHERE destination_port = 8443");
    ASSERT_TRUE(stmt.has_value());
    ASSERT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int64(stmt->get(), 0), static_cast<std::int64_t>(rare.size()));
    EXPECT_LT(sqlite3_stmt_status(stmt->get(), SQLITE_STMTSTATUS_VM_STEP, 0),
              static_cast<int>(rare.size()) * 20 + 1000);
  }
  {  // the lookup the table makes: a value on more than an eighth of the table is left to a scan
    auto db = sqlite::Open((dir_ / "blocks" / "vigil.db").string(), SQLITE_OPEN_READONLY);
    ASSERT_TRUE(db.has_value());
    text_index::TermLookup lookup(db->get(), "network", "destination_port");
    auto common = lookup.Find("443", 1.0 / 8);
    ASSERT_TRUE(common.has_value()) << common.error().message;
    EXPECT_FALSE(common->has_value());
    auto few = lookup.Find("8443", 1.0 / 8);
    ASSERT_TRUE(few.has_value() && few->has_value());
    EXPECT_EQ(**few, rare);
  }
  // The port's postings answer (a lookup), and an entity id, more selective, wins over the port
  // whatever the order of the terms.
  auto plan = [&](const std::string& where) {
    auto db = sqlite::Open((dir_ / "blocks" / "vigil.db").string(), SQLITE_OPEN_READONLY);
    EXPECT_TRUE(db.has_value());
    auto stmt =
        sqlite::Prepare(db->get(), "EXPLAIN QUERY PLAN SELECT id FROM network WHERE " + where);
    EXPECT_TRUE(stmt.has_value());
    std::string detail;
    if (stmt && sqlite3_step(stmt->get()) == SQLITE_ROW)
      detail = reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 3));
    return detail;
  };
  EXPECT_EQ(blocks::PlannedAccess(plan("destination_port = 443")), blocks::BlockAccess::kLookup);
  EXPECT_EQ(plan("destination_port = 443 AND process_entity_id = 'x'"),
            plan("process_entity_id = 'x'"));
  EXPECT_EQ(plan("process_entity_id = 'x' AND destination_port = 443"),
            plan("process_entity_id = 'x'"));
  EXPECT_NE(plan("destination_port = 443"), plan("process_entity_id = 'x'"));
}

// A database whose postings tables are WITHOUT ROWID tables (before session 14: every seek read
// the compared rows' overflow pages) has them converted at open, rows kept: lookups give what a
// scan gives without a rebuild.
TEST_F(BlockStoreTest, OldPostingsTablesAreConverted) {
  const auto batches = Batches(600);  // > 65,536 process rows: partition 0 is sealed
  {
    auto blocks = Open("blocks", true);
    ASSERT_TRUE(blocks);
    Append(*blocks, batches);
  }
  const auto rows_before = Ids("SELECT count(*) FROM term_postings");
  ASSERT_GT(rows_before[0], 0);
  {
    auto db = sqlite::Open((dir_ / "blocks" / "vigil.db").string(), SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(sqlite::Exec(
        db->get(),
        "ALTER TABLE term_postings RENAME TO t; CREATE TABLE term_postings (tbl TEXT NOT NULL, col "
        "TEXT NOT NULL, part INTEGER NOT NULL, first_term BLOB NOT NULL, data BLOB NOT NULL, "
        "PRIMARY KEY (tbl, col, part, first_term)) WITHOUT ROWID; INSERT INTO term_postings "
        "SELECT * FROM t; DROP TABLE t; DROP INDEX IF EXISTS term_postings_key;"));
  }
  ASSERT_EQ(Ids("SELECT count(*) FROM sqlite_master WHERE name = 'term_postings' AND sql LIKE "
                "'%WITHOUT ROWID%'"),
            std::vector<std::int64_t>{1});
  auto blocks = Open("blocks", true);
  ASSERT_TRUE(blocks);
  EXPECT_EQ(Ids("SELECT count(*) FROM sqlite_master WHERE name = 'term_postings' AND sql LIKE "
                "'%WITHOUT ROWID%'"),
            std::vector<std::int64_t>{0});
  EXPECT_EQ(Ids("SELECT count(*) FROM term_postings"), rows_before);
  EXPECT_EQ(Ids("SELECT count(*) FROM sqlite_master WHERE name = 'term_postings_key'"),
            std::vector<std::int64_t>{1});
  const std::string value = "(SELECT process_entity_id FROM process WHERE id = 77)";
  const auto scanned = Ids("SELECT id FROM process WHERE +process_entity_id = " + value);
  ASSERT_FALSE(scanned.empty());
  EXPECT_EQ(Ids("SELECT id FROM process WHERE process_entity_id = " + value), scanned);
}

// A table's largest id (live detection asks at every pass, the store at every start) reads the
// last block row by its key: SQLite's VM steps stay flat however many blocks the table has
// (max(last_id) read every row: 1.5 s per 10 M events).
TEST_F(BlockStoreTest, LastIdReadsOneBlockRow) {
  auto blocks = Open("blocks", true);
  ASSERT_TRUE(blocks);
  Append(*blocks, Batches(160));
  const std::int64_t last = Ids("SELECT max(last_id) FROM process_blocks")[0];
  ASSERT_GT(Ids("SELECT count(*) FROM process_blocks")[0], 150);
  EXPECT_EQ(*blocks->LastEventId(schema::Category::Process), last);
  auto db = sqlite::Open((dir_ / "blocks" / "vigil.db").string(), SQLITE_OPEN_READONLY);
  ASSERT_TRUE(db.has_value());
  auto stmt = sqlite::Prepare(db->get(), blocks::LastIdSql("process"));
  ASSERT_TRUE(stmt.has_value());
  ASSERT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(stmt->get(), 0), last);
  EXPECT_EQ(sqlite3_stmt_status(stmt->get(), SQLITE_STMTSTATUS_FULLSCAN_STEP, 0), 0);
  EXPECT_LT(sqlite3_stmt_status(stmt->get(), SQLITE_STMTSTATUS_VM_STEP, 0), 40);
}

TEST_F(BlockStoreTest, ADatabaseKeepsItsLayout) {
  const auto batches = Batches(2);
  const std::uint64_t n = batches[0].events.size() + batches[1].events.size();
  for (const auto& [layout, blocks] : {std::pair{"rows", false}, std::pair{"blocks", true}}) {
    {
      auto store = Open(layout, blocks);
      ASSERT_TRUE(store);
      Append(*store, batches);
    }
    testing::internal::CaptureStderr();
    auto reopened = Open(layout, !blocks);  // the option is for new databases only
    const std::string said = testing::internal::GetCapturedStderr();
    EXPECT_EQ(said.find("keeps its events as rows; the column-block layout applies to new "
                        "databases only") != std::string::npos,
              !blocks)
        << said;
    ASSERT_TRUE(reopened);
    EXPECT_EQ(*reopened->CountEvents(std::nullopt), n) << layout;
    auto db = sqlite::Open((dir_ / layout / "vigil.db").string(), SQLITE_OPEN_READONLY);
    ASSERT_TRUE(db.has_value());
    auto tables = sqlite::QueryInt(db->get(),
                                   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                   "name = 'process_blocks'");
    EXPECT_EQ(*tables, blocks ? 1 : 0) << layout;
  }
  // Both layouts in one database: refused, not half read.
  {
    auto db = sqlite::Open((dir_ / "rows" / "vigil.db").string(), SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(sqlite::Exec(db->get(), "CREATE TABLE network_blocks (first_id INTEGER)"));
  }
  auto mixed = OpenSqliteStore(SqliteOptions{dir_ / "rows" / "vigil.db", false, false});
  ASSERT_FALSE(mixed.has_value());
  EXPECT_NE(mixed.error().message.find(
                "holds both row table network and its column blocks (network_blocks)"),
            std::string::npos)
      << mixed.error().message;
}

}  // namespace
}  // namespace vigil::store
