// bench_block_layout: a design experiment for issue 2's next step, not the store. It writes the
// events of bench_store_ingest's generator the way a column-block store would: per transaction and
// table, one row holding the rows' columns (each column's values contiguous, zstd-compressed),
// with the block's id range and time range; the keys as per-partition postings (the store's text
// and term builders, sealed into blocks every 65,536 rows of a table): the text and term columns
// the store indexes today plus host.id and destination.port, which it keeps in B-trees; and the
// unique keys looked up one at a time (process.entity_id, process.parent.entity_id) in the
// writer's narrow (key, id) B-tree per table and column (block_table.hpp). The
// exactly-once bookkeeping (one sequence upsert per batch) is written in the same transaction.
// It answers one question: how fast can rows + every index go on this machine with this layout?
// The rows are written by the store's BlockTablesWriter and read back through SQL (the blocks as
// virtual tables, block_table_vtab.hpp): a scan of every process command line, random lookups
// by id and by entity id, timed on both layouts, which must return the same rows in the same
// order (exit 1 when not); ctest runs it small as bench_block_layout_agrees.
// Usage: bench_block_layout [--events N] [--batch B] [--sync full|normal] [--level L] [--dir D]
//                           [--no-compare]
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

// Keys the store keeps in B-trees today that many rows share: postings here.
bool SharedKey(const schema::FieldDef& f) {
  return f.name == "host.id" || f.name == "destination.port";
}

// A table's postings (its rows are the store's BlockTablesWriter's).
struct Table {
  std::string name;
  std::vector<const schema::FieldDef*> columns;
  std::vector<std::size_t> text_columns, term_columns;  // indexes into columns
  std::int64_t part = -1;
  std::vector<ti::PartitionBuilder> texts;
  std::vector<ti::TermBuilder> terms;
};

class Writer {
 public:
  Writer(const fs::path& path, bool sync_full, int level) {
    auto db = vigil::store::sqlite::Open(path.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!db) std::exit(1);
    db_ = std::move(*db);
    Exec(std::string("PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
         (sync_full ? "FULL" : "NORMAL") +
         "; PRAGMA cache_size=-262144; PRAGMA wal_autocheckpoint=4000;" +
         std::string(ti::kCreateSql) +
         "CREATE TABLE sequences (agent_id TEXT, spool_epoch INTEGER, committed_sequence INTEGER, "
         "PRIMARY KEY (agent_id, spool_epoch)) WITHOUT ROWID;");
    for (const auto& c : schema::Categories()) {
      Table t;
      t.name = std::string(c.name);
      t.columns = blocks::TableColumns(c.category);
      for (std::size_t i = 0; i < t.columns.size(); ++i) {
        if (ti::Indexed(*t.columns[i], c.category)) t.text_columns.push_back(i);
        if (ti::TermIndexed(*t.columns[i], c.category) || SharedKey(*t.columns[i]))
          t.term_columns.push_back(i);
      }
      tables_.push_back(std::move(t));
    }
    auto rows = blocks::BlockTablesWriter::Open(db_.get(), level);
    if (!rows) {
      std::fprintf(stderr, "%s\n", rows.error().message.c_str());
      std::exit(1);
    }
    rows_.emplace(std::move(*rows));
    auto seq = vigil::store::sqlite::Prepare(
        db_.get(),
        "INSERT INTO sequences VALUES (?, 1, ?) ON CONFLICT (agent_id, spool_epoch) DO UPDATE "
        "SET committed_sequence = excluded.committed_sequence");
    auto text = vigil::store::sqlite::Prepare(
        db_.get(), "INSERT INTO text_postings VALUES (?, ?, ?, ?, ?, ?)");
    auto term = vigil::store::sqlite::Prepare(db_.get(),
                                              "INSERT INTO term_postings VALUES (?, ?, ?, ?, ?)");
    auto part = vigil::store::sqlite::Prepare(
        db_.get(), "INSERT OR IGNORE INTO text_index_parts (tbl, part) VALUES (?, ?)");
    if (!seq || !text || !term || !part) std::exit(1);
    part_insert_ = std::move(*part);
    sequence_ = std::move(*seq);
    text_insert_ = std::move(*text);
    term_insert_ = std::move(*term);
  }

  void Append(const vigil::store::IngestBatch& batch) {
    Exec("BEGIN IMMEDIATE");
    now_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
    for (std::size_t i = 0; i < batch.events.size(); ++i)
      Row(batch.events[i], batch.first_sequence + i);
    if (auto r = rows_->Flush(); !r) {
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
      std::exit(1);
    }
    sqlite3_stmt* s = sequence_.get();
    vigil::store::sqlite::BindText(s, 1, batch.agent_id);
    sqlite3_bind_int64(s, 2,
                       static_cast<std::int64_t>(batch.first_sequence + batch.events.size() - 1));
    Check(sqlite3_step(s), db_.get(), "sequence");
    sqlite3_reset(s);
    Exec("COMMIT");
  }

  sqlite3* db() const { return db_.get(); }
  std::uint64_t raw_bytes() const { return rows_->raw_bytes(); }
  std::uint64_t compressed_bytes() const { return rows_->stored_bytes(); }

 private:
  void Exec(const std::string& sql) {
    Check(sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr), db_.get(), sql.c_str());
  }

  void Row(const vigil::v1::Event& event, std::uint64_t sequence) {
    const auto added = rows_->Add(event, vigil::store::RowStamp{sequence, now_});
    if (!added) {
      std::fprintf(stderr, "%s\n", added.error().message.c_str());
      std::exit(1);
    }
    const auto& row = *added;
    if (!row) return;
    Table& t = tables_[row->table];
    if (ti::PartitionOf(row->id) != t.part) Seal(t, ti::PartitionOf(row->id));
    const auto offset = static_cast<std::uint16_t>(row->id - ti::PartitionFirstId(t.part));
    for (std::size_t i = 0; i < t.text_columns.size(); ++i) {
      schema::FieldValue v = schema::Get(event, t.columns[t.text_columns[i]]->id);
      if (const auto* text = std::get_if<std::string_view>(&v)) t.texts[i].Add(offset, *text);
    }
    for (std::size_t i = 0; i < t.term_columns.size(); ++i) {
      schema::FieldValue v = schema::Get(event, t.columns[t.term_columns[i]]->id);
      if (const auto* text = std::get_if<std::string_view>(&v)) {
        t.terms[i].Add(offset, *text);
      } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
        char digits[24];
        const int len = std::snprintf(digits, sizeof digits, "%lld", static_cast<long long>(*n));
        t.terms[i].Add(offset, std::string_view(digits, static_cast<std::size_t>(len)));
      }
    }
  }

  // Writes the completed partition's postings (in the transaction that starts the next one).
  void Seal(Table& t, std::int64_t next_part) {
    if (t.part >= 0) {
      for (std::size_t i = 0; i < t.texts.size(); ++i)
        for (const auto& block : t.texts[i].Seal()) {
          sqlite3_stmt* s = text_insert_.get();
          vigil::store::sqlite::BindText(s, 1, t.name);
          vigil::store::sqlite::BindText(s, 2, t.columns[t.text_columns[i]]->column);
          sqlite3_bind_int64(s, 3, t.part);
          sqlite3_bind_int(s, 4, block.kind);
          sqlite3_bind_int64(s, 5, block.first_key);
          sqlite3_bind_blob(s, 6, block.data.data(), static_cast<int>(block.data.size()),
                            SQLITE_STATIC);
          Check(sqlite3_step(s), db_.get(), "insert text postings");
          sqlite3_reset(s);
        }
      for (std::size_t i = 0; i < t.terms.size(); ++i)
        for (const auto& block : t.terms[i].Seal()) {
          sqlite3_stmt* s = term_insert_.get();
          vigil::store::sqlite::BindText(s, 1, t.name);
          vigil::store::sqlite::BindText(s, 2, t.columns[t.term_columns[i]]->column);
          sqlite3_bind_int64(s, 3, t.part);
          sqlite3_bind_blob(s, 4, block.first_term.data(),
                            static_cast<int>(block.first_term.size()), SQLITE_STATIC);
          sqlite3_bind_blob(s, 5, block.data.data(), static_cast<int>(block.data.size()),
                            SQLITE_STATIC);
          Check(sqlite3_step(s), db_.get(), "insert term postings");
          sqlite3_reset(s);
        }
    }
    if (t.part >= 0) {  // readers read a partition's postings only once it is listed sealed
      sqlite3_stmt* s = part_insert_.get();
      vigil::store::sqlite::BindText(s, 1, t.name);
      sqlite3_bind_int64(s, 2, t.part);
      Check(sqlite3_step(s), db_.get(), "insert sealed partition");
      sqlite3_reset(s);
    }
    t.part = next_part;
    t.texts.resize(t.text_columns.size());
    t.terms.resize(t.term_columns.size());
    for (auto& b : t.texts) b.Clear();
    for (auto& b : t.terms) b.Clear();
  }

  vigil::store::sqlite::DbPtr db_;
  std::optional<blocks::BlockTablesWriter> rows_;
  std::int64_t now_ = 0;
  std::vector<Table> tables_;
  vigil::store::sqlite::StmtPtr sequence_, text_insert_, term_insert_, part_insert_;
};

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

std::unique_ptr<vigil::store::Store> OpenRowStore(const fs::path& dir, bool sync_full, bool indexes,
                                                  vigil::bench::Generator& gen) {
  fs::create_directories(dir);
  vigil::store::SqliteTuning tuning;
  tuning.secondary_indexes = indexes;
  tuning.full_text = indexes;
  auto store = vigil::store::OpenSqliteStoreTuned(
      vigil::store::SqliteOptions{dir / "vigil.db", sync_full}, tuning);
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

int main(int argc, char** argv) {
  std::uint64_t events = 1'000'000;
  std::size_t batch = 1000;
  bool sync_full = true, compare = true;
  int level = 1;
  fs::path dir = fs::temp_directory_path() / ("vigil-bench-blocks-" + std::to_string(::getpid()));
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--no-compare") {
      compare = false;
      continue;
    }
    const bool has_value = i + 1 < argc;
    if (a == "--events" && has_value)
      events = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--batch" && has_value)
      batch = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--sync" && has_value)
      sync_full = std::string_view(argv[++i]) == "full";
    else if (a == "--level" && has_value)
      level = std::atoi(argv[++i]);
    else if (a == "--dir" && has_value)
      dir = argv[++i];
    else {
      std::fprintf(a == "--help" ? stdout : stderr,
                   "usage: bench_block_layout [--events N] [--batch B] [--sync full|normal] "
                   "[--level L] [--dir D] [--no-compare]\n"
                   "Writes each batch as column blocks with every key as postings, into the store "
                   "without indexes and into the store as it runs (unless --no-compare), then "
                   "checks that both layouts hold the same process rows.\n");
      return a == "--help" ? 0 : 2;
    }
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::printf(
      "bench_block_layout: %llu events, batches of %zu, synchronous=%s, zstd level %d%s\n",
      static_cast<unsigned long long>(events), batch, sync_full ? "FULL" : "NORMAL", level,
      compare ? "; each batch also into the store without indexes and with all of them" : "");
  Timed blocks, rows, store;
  bool agree = true;
  std::uint64_t raw = 0, compressed = 0;
  {
    vigil::bench::Generator gen(42);
    Writer writer(dir / "blocks.db", sync_full, level);
    std::unique_ptr<vigil::store::Store> baseline, full;
    if (compare) {
      baseline = OpenRowStore(dir / "rows", sync_full, false, gen);
      full = OpenRowStore(dir / "store", sync_full, true, gen);
    }
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
      // Rotating order: no writer always runs right after the same other one.
      for (int k = 0; k < 3; ++k) switch ((round + static_cast<std::uint64_t>(k)) % 3) {
          case 0:
            Time(blocks, [&] { writer.Append(b); });
            break;
          case 1:
            if (compare) Time(rows, [&] { append(*baseline, b); });
            break;
          case 2:
            if (compare) Time(store, [&] { append(*full, b); });
            break;
        }
      ++round;
      done += n;
      window += n;
      if (window >= 1'000'000 || done == events) {
        const auto w = static_cast<double>(window);
        std::printf("  events %9llu  blocks %7.0f ev/s", static_cast<unsigned long long>(done),
                    w / blocks.window);
        if (compare)
          std::printf("  rows without indexes %7.0f  store %7.0f  blocks / rows %.2f",
                      w / rows.window, w / store.window, rows.window / blocks.window);
        std::printf("\n");
        std::fflush(stdout);
        window = 0;
        blocks.window = rows.window = store.window = 0;
      }
    }
    raw = writer.raw_bytes();
    compressed = writer.compressed_bytes();
    // Reading back through SQL, the same statements on both layouts: a full scan of the process
    // command lines, then point lookups of random process ids.
    if (compare) {
      full.reset();
      auto db =
          vigil::store::sqlite::Open((dir / "store" / "vigil.db").string(), SQLITE_OPEN_READONLY);
      if (!db || !blocks::RegisterBlockTables(writer.db())) std::exit(1);
      const Read block_scan = ScanCommandLines(writer.db(), "curl");
      const Read row_scan = ScanCommandLines(db->get(), "curl");
      std::printf(
          "scan of %llu process rows for \"curl\": blocks %.0f rows/s (%llu hits), store %.0f "
          "rows/s (%llu hits)\n",
          static_cast<unsigned long long>(row_scan.rows), block_scan.rows / block_scan.seconds,
          static_cast<unsigned long long>(block_scan.hits), row_scan.rows / row_scan.seconds,
          static_cast<unsigned long long>(row_scan.hits));
      // Random process ids, and the entity ids of other random processes (lineage lookups).
      std::mt19937_64 rng(5);
      std::uniform_int_distribution<std::int64_t> pick(1, static_cast<std::int64_t>(row_scan.rows));
      std::vector<std::int64_t> ids(20000);
      for (auto& id : ids) id = pick(rng);
      std::vector<std::string> entity_ids;
      auto entity = vigil::store::sqlite::Prepare(
          db->get(), "SELECT process_entity_id FROM process WHERE id = ?");
      if (!entity) std::exit(1);
      for (int i = 0; i < 2000; ++i) {
        sqlite3_bind_int64(entity->get(), 1, pick(rng));
        if (sqlite3_step(entity->get()) == SQLITE_ROW)
          entity_ids.emplace_back(vigil::store::sqlite::ColumnText(entity->get(), 0));
        sqlite3_reset(entity->get());
      }
      const std::string by_id = "SELECT process_command_line FROM process WHERE id = ?1";
      const Read block_lookups = LookUp(writer.db(), by_id, ids);
      const Read row_lookups = LookUp(db->get(), by_id, ids);
      std::printf("%llu lookups of random process ids: blocks %.0f /s, store %.0f /s\n",
                  static_cast<unsigned long long>(row_lookups.rows),
                  block_lookups.rows / block_lookups.seconds,
                  row_lookups.rows / row_lookups.seconds);
      const Read block_entities = LookUp(
          writer.db(), "SELECT process_command_line FROM process WHERE process_entity_id = ?1",
          entity_ids);
      const Read row_entities =
          LookUp(db->get(), "SELECT process_command_line FROM process WHERE process_entity_id = ?1",
                 entity_ids);
      std::printf(
          "%llu lookups of random process entity ids: blocks (key table) %.0f /s, store (index) "
          "%.0f /s\n",
          static_cast<unsigned long long>(row_entities.rows),
          block_entities.rows / block_entities.seconds, row_entities.rows / row_entities.seconds);
      // The two layouts must hold the same rows: a check, so the bench also runs as a test.
      if (block_scan.hits != row_scan.hits || block_scan.digest != row_scan.digest ||
          block_scan.rows != row_scan.rows || block_lookups.digest != row_lookups.digest ||
          block_entities.digest != row_entities.digest || row_entities.rows != entity_ids.size()) {
        std::fprintf(stderr,
                     "the layouts disagree: %llu vs %llu rows, %llu vs %llu hits, command line "
                     "digests %016llx vs %016llx, lookup digests %016llx vs %016llx\n",
                     static_cast<unsigned long long>(block_scan.rows),
                     static_cast<unsigned long long>(row_scan.rows),
                     static_cast<unsigned long long>(block_scan.hits),
                     static_cast<unsigned long long>(row_scan.hits),
                     static_cast<unsigned long long>(block_scan.digest),
                     static_cast<unsigned long long>(row_scan.digest),
                     static_cast<unsigned long long>(block_lookups.digest),
                     static_cast<unsigned long long>(row_lookups.digest));
        agree = false;
      } else {
        std::printf(
            "the layouts agree: same %llu process command lines in the same order, same rows "
            "for %llu id and %llu entity id lookups\n",
            static_cast<unsigned long long>(row_scan.rows),
            static_cast<unsigned long long>(row_lookups.rows),
            static_cast<unsigned long long>(row_entities.rows));
      }
    }
  }
  auto bytes_of = [](const fs::path& p) {
    std::uint64_t bytes = 0;
    if (fs::exists(p))
      for (const auto& entry : fs::recursive_directory_iterator(p))
        if (entry.is_regular_file()) bytes += entry.file_size();
    return static_cast<double>(bytes);
  };
  const auto n = static_cast<double>(events);
  const double blocks_db = bytes_of(dir) - bytes_of(dir / "rows") - bytes_of(dir / "store");
  std::printf(
      "blocks: %.0f ev/s (store time), columns %.0f -> %.0f bytes per event, db %.0f "
      "bytes/event\n",
      n / blocks.seconds, static_cast<double>(raw) / n, static_cast<double>(compressed) / n,
      blocks_db / n);
  if (compare) {
    std::printf("rows without indexes: %.0f ev/s, db %.0f bytes/event\n", n / rows.seconds,
                bytes_of(dir / "rows") / n);
    std::printf("store (all indexes): %.0f ev/s, db %.0f bytes/event\n", n / store.seconds,
                bytes_of(dir / "store") / n);
    std::printf("blocks / rows without indexes = %.2f, blocks / store = %.2f\n",
                rows.seconds / blocks.seconds, store.seconds / blocks.seconds);
  }
  fs::remove_all(dir);
  return agree ? 0 : 1;
}
