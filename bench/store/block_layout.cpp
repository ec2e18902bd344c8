// bench_block_layout: the store's two row layouts side by side (issue 2). The events of
// bench_store_ingest's generator go, batch by batch in rotating order, into the store with the
// column-block layout (SqliteOptions::column_blocks: rows as compressed column blocks, every key
// in the text and term postings, block_table.hpp), the store with rows and every index, and rows
// without any index (the baseline). Then the same SQL reads both stores while they are open (as
// the server's hunts do): a scan of every process command line, random lookups by id, by entity
// id (one process) and by parent entity id (its children). Both layouts must return the same
// rows in the same order (exit 1 when not); ctest runs it small as bench_block_layout_agrees.
// Usage: bench_block_layout [--events N] [--batch B] [--sync full|normal] [--dir D]
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/schema.hpp"
#include "server/store/block_table.hpp"
#include "server/store/block_table_vtab.hpp"
#include "server/store/sqlite_tuning.hpp"
#include "server/store/sqlite_util.hpp"
#include "server/store/store.hpp"
#include "server/store/text_index.hpp"
#include "telemetry_generator.hpp"

namespace {

namespace fs = std::filesystem;
namespace ti = vigil::store::text_index;
namespace blocks = vigil::store::blocks;
namespace schema = vigil::schema;
using Clock = std::chrono::steady_clock;

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// FNV-1a over a sequence of optional texts (a marker tells none from empty).
std::uint64_t DigestText(std::uint64_t digest, const std::string_view* text) {
  auto fold = [&](unsigned char c) { digest = (digest ^ c) * 1099511628211ull; };
  fold(text ? 1 : 0);
  if (text)
    for (char c : *text) fold(static_cast<unsigned char>(c));
  return digest;
}

// What a read-back pass saw: rows, rows containing the needle, a digest of the texts in order.
struct Read {
  double rows = 0, seconds = 0;
  std::uint64_t hits = 0, digest = 14695981039346656037ull;
};

// Steps `stmt` to the end, folding its first column into the digest.
void Drain(sqlite3_stmt* stmt, std::string_view needle, Read& read) {
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    ++read.rows;
    const bool none = sqlite3_column_type(stmt, 0) == SQLITE_NULL;
    const std::string_view text = vigil::store::sqlite::ColumnText(stmt, 0);
    read.digest = DigestText(read.digest, none ? nullptr : &text);
    if (!needle.empty() && text.find(needle) != std::string_view::npos) ++read.hits;
  }
  Check(rc, sqlite3_db_handle(stmt), "read back");
}

Read ScanCommandLines(sqlite3* db, std::string_view needle) {
  auto stmt = vigil::store::sqlite::Prepare(db, "SELECT process_command_line FROM process");
  if (!stmt) std::exit(1);
  Read read;
  const auto t0 = Clock::now();
  Drain(stmt->get(), needle, read);
  read.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return read;
}

// One run of `sql` per key (bound as ?1), in order.
template <typename Key>
Read LookUp(sqlite3* db, const std::string& sql, const std::vector<Key>& keys) {
  auto stmt = vigil::store::sqlite::Prepare(db, sql);
  if (!stmt) {
    std::fprintf(stderr, "%s\n", stmt.error().message.c_str());
    std::exit(1);
  }
  Read read;
  const auto t0 = Clock::now();
  for (const Key& key : keys) {
    if constexpr (std::is_same_v<Key, std::string>)
      vigil::store::sqlite::BindText(stmt->get(), 1, key);
    else
      sqlite3_bind_int64(stmt->get(), 1, key);
    Drain(stmt->get(), "", read);
    sqlite3_reset(stmt->get());
  }
  read.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return read;
}

struct Timed {
  double seconds = 0, window = 0;
};

// A store in `dir`: rows without indexes, rows with every index, or column blocks with every
// postings index.
std::unique_ptr<vigil::store::Store> OpenStore(const fs::path& dir, bool sync_full, bool indexes,
                                               bool blocks, vigil::bench::Generator& gen) {
  fs::create_directories(dir);
  vigil::store::SqliteTuning tuning;
  tuning.secondary_indexes = indexes;
  tuning.full_text = indexes;
  auto store = vigil::store::OpenSqliteStoreTuned(
      vigil::store::SqliteOptions{dir / "vigil.db", sync_full, blocks}, tuning);
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().message.c_str());
    std::exit(1);
  }
  for (const auto& h : gen.hosts())
    if (auto r = (*store)->RegisterAgent(h.agent_id, h.name); !r) std::exit(1);
  return std::move(*store);
}

template <typename F>
void Time(Timed& t, F&& f) {
  const auto t0 = Clock::now();
  f();
  const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  t.seconds += dt;
  t.window += dt;
}

}  // namespace

// The same statement on both layouts: a check that they agree, so the bench also runs as a test.
struct Pair {
  const char* what;
  Read blocks, rows;
};

int main(int argc, char** argv) {
  std::uint64_t events = 1'000'000;
  std::size_t batch = 1000;
  bool sync_full = true;
  fs::path dir = fs::temp_directory_path() / ("vigil-bench-blocks-" + std::to_string(::getpid()));
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--events" && has_value)
      events = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--batch" && has_value)
      batch = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--sync" && has_value)
      sync_full = std::string_view(argv[++i]) == "full";
    else if (a == "--dir" && has_value)
      dir = argv[++i];
    else {
      std::fprintf(a == "--help" ? stdout : stderr,
                   "usage: bench_block_layout [--events N] [--batch B] [--sync full|normal] "
                   "[--dir D]\n"
                   "Writes each batch into a block store, a row store (every index) and rows "
                   "without indexes, then reads both stores back with the same SQL and checks "
                   "that they return the same rows.\n");
      return a == "--help" ? 0 : 2;
    }
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::printf("bench_block_layout: %llu events, batches of %zu, synchronous=%s\n",
              static_cast<unsigned long long>(events), batch, sync_full ? "FULL" : "NORMAL");
  Timed blocks, rows, store;
  std::vector<Pair> reads;
  vigil::bench::Generator gen(42);
  auto block_store = OpenStore(dir / "blocks", sync_full, true, true, gen);
  auto baseline = OpenStore(dir / "rows", sync_full, false, false, gen);
  auto row_store = OpenStore(dir / "store", sync_full, true, false, gen);
  auto append = [](vigil::store::Store& s, const vigil::store::IngestBatch& b) {
    auto r = s.Append(std::span<const vigil::store::IngestBatch>(&b, 1));
    if (!r || (*r)[0].stored != b.events.size()) {
      std::fprintf(stderr, "store append: %s\n",
                   r ? ("stored " + std::to_string((*r)[0].stored) + " of " +
                        std::to_string(b.events.size()))
                           .c_str()
                     : r.error().message.c_str());
      std::exit(1);
    }
  };
  std::uint64_t done = 0, window = 0, round = 0;
  while (done < events) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(batch, events - done));
    const auto b = gen.Next(n);
    // Rotating order: no store always runs right after the same other one.
    for (int k = 0; k < 3; ++k) switch ((round + static_cast<std::uint64_t>(k)) % 3) {
        case 0:
          Time(blocks, [&] { append(*block_store, b); });
          break;
        case 1:
          Time(rows, [&] { append(*baseline, b); });
          break;
        case 2:
          Time(store, [&] { append(*row_store, b); });
          break;
      }
    ++round;
    done += n;
    window += n;
    if (window >= 1'000'000 || done == events) {
      const auto w = static_cast<double>(window);
      std::printf(
          "  events %9llu  blocks %7.0f ev/s  rows without indexes %7.0f  rows %7.0f  blocks / "
          "baseline %.2f\n",
          static_cast<unsigned long long>(done), w / blocks.window, w / rows.window,
          w / store.window, rows.window / blocks.window);
      std::fflush(stdout);
      window = 0;
      blocks.window = rows.window = store.window = 0;
    }
  }
  baseline.reset();
  // Reading back through SQL while both stores are open (their partitions in memory count).
  auto open = [&](const char* name) {
    auto db = vigil::store::sqlite::Open((dir / name / "vigil.db").string(), SQLITE_OPEN_READONLY);
    if (!db) {
      std::fprintf(stderr, "%s\n", db.error().message.c_str());
      std::exit(1);
    }
    return std::move(*db);
  };
  auto block_db = open("blocks"), row_db = open("store");
  reads.push_back({"scan of the process command lines", ScanCommandLines(block_db.get(), "curl"),
                   ScanCommandLines(row_db.get(), "curl")});
  // Random process ids, and the entity and parent entity ids of other random processes.
  std::mt19937_64 rng(5);
  const auto processes = static_cast<std::int64_t>(reads[0].rows.rows);
  std::uniform_int_distribution<std::int64_t> pick(1, processes);
  std::vector<std::int64_t> ids(20000);
  for (auto& id : ids) id = pick(rng);
  std::vector<std::string> entity_ids, parent_ids;
  auto entity = vigil::store::sqlite::Prepare(
      row_db.get(), "SELECT process_entity_id, process_parent_entity_id FROM process WHERE id = ?");
  if (!entity) std::exit(1);
  for (int i = 0; i < 2000; ++i) {
    sqlite3_bind_int64(entity->get(), 1, pick(rng));
    if (sqlite3_step(entity->get()) == SQLITE_ROW) {
      entity_ids.emplace_back(vigil::store::sqlite::ColumnText(entity->get(), 0));
      parent_ids.emplace_back(vigil::store::sqlite::ColumnText(entity->get(), 1));
    }
    sqlite3_reset(entity->get());
  }
  auto both = [&](const char* what, const std::string& sql, const auto& keys) {
    reads.push_back({what, LookUp(block_db.get(), sql, keys), LookUp(row_db.get(), sql, keys)});
  };
  both("lookups of random process ids", "SELECT process_command_line FROM process WHERE id = ?1",
       ids);
  both("lookups of random process entity ids",
       "SELECT process_command_line FROM process WHERE process_entity_id = ?1", entity_ids);
  both("lookups of the children of random processes",
       "SELECT process_command_line FROM process WHERE process_parent_entity_id = ?1 ORDER BY id",
       parent_ids);
  bool agree = reads[2].rows.rows == static_cast<double>(entity_ids.size());
  for (const Pair& p : reads) {
    const bool same = p.blocks.rows == p.rows.rows && p.blocks.digest == p.rows.digest &&
                      p.blocks.hits == p.rows.hits;
    agree = agree && same;
    std::printf("%s: %.0f rows, blocks %.0f rows/s, rows %.0f rows/s (%.2f)%s\n", p.what,
                p.rows.rows, p.blocks.rows / p.blocks.seconds, p.rows.rows / p.rows.seconds,
                p.rows.seconds / p.blocks.seconds,
                same ? "" : "  -- THE LAYOUTS DISAGREE (rows, digest or hits differ)");
  }
  if (agree) std::printf("the layouts agree: the same rows in the same order for every read\n");
  block_db.reset();
  row_db.reset();
  block_store.reset();
  row_store.reset();
  auto bytes_of = [](const fs::path& p) {
    std::uint64_t bytes = 0;
    if (fs::exists(p))
      for (const auto& entry : fs::recursive_directory_iterator(p))
        if (entry.is_regular_file()) bytes += entry.file_size();
    return static_cast<double>(bytes);
  };
  const auto n = static_cast<double>(events);
  std::printf("blocks (every postings index): %.0f ev/s (store time), db %.0f bytes/event\n",
              n / blocks.seconds, bytes_of(dir / "blocks") / n);
  std::printf("rows without indexes: %.0f ev/s, db %.0f bytes/event\n", n / rows.seconds,
              bytes_of(dir / "rows") / n);
  std::printf("rows (every index): %.0f ev/s, db %.0f bytes/event\n", n / store.seconds,
              bytes_of(dir / "store") / n);
  std::printf("blocks / rows without indexes = %.2f, blocks / rows = %.2f\n",
              rows.seconds / blocks.seconds, store.seconds / blocks.seconds);
  fs::remove_all(dir);
  return agree ? 0 : 1;
}
