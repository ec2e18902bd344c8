// bench_block_layout: a design experiment for issue 2's next step, not the store. It writes the
// events of bench_store_ingest's generator the way a column-block store would: per transaction and
// table, one row holding the rows' columns (each column's values contiguous, zstd-compressed),
// with the block's id range and time range; every lookup key as per-partition postings (the
// store's text and term builders, sealed into blocks every 65,536 rows of a table): the text
// columns and term columns the store indexes today plus host.id, process.entity_id,
// process.parent.entity_id and destination.port, which the store keeps in B-trees. The
// exactly-once bookkeeping (one sequence upsert per batch) is written in the same transaction.
// It answers one question: how fast can rows + every index go on this machine with this layout?
// It also checks that both layouts hold the same process command lines in the same order (exit 1
// when not); ctest runs it small as bench_block_layout_agrees.
// Usage: bench_block_layout [--events N] [--batch B] [--sync full|normal] [--level L] [--dir D]
//                           [--no-compare]
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/schema.hpp"
#include "server/store/column_block.hpp"
#include "server/store/sqlite_tuning.hpp"
#include "server/store/sqlite_util.hpp"
#include "server/store/store.hpp"
#include "server/store/text_index.hpp"
#include "telemetry_generator.hpp"

namespace {

namespace fs = std::filesystem;
namespace ti = vigil::store::text_index;
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

bool KeyColumn(const schema::FieldDef& f) {
  return f.name == "host.id" || f.name == "process.entity_id" ||
         f.name == "process.parent.entity_id" || f.name == "destination.port";
}

struct Table {
  schema::Category category;
  std::string name;
  std::vector<const schema::FieldDef*> columns;
  std::unique_ptr<vigil::store::ColumnBlockWriter> block;  // this transaction's rows
  std::vector<std::size_t> text_columns, term_columns;     // indexes into columns
  std::int64_t next_id = 1, block_first = 1;
  std::int64_t part = -1;
  std::vector<ti::PartitionBuilder> texts;
  std::vector<ti::TermBuilder> terms;
  vigil::store::sqlite::StmtPtr insert;
};

class Writer {
 public:
  Writer(const fs::path& path, bool sync_full, int level) : level_(level) {
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
      t.category = c.category;
      t.name = std::string(c.name);
      for (const auto& f : schema::Fields()) {
        if (!f.In(c.category)) continue;
        if (ti::Indexed(f, c.category)) t.text_columns.push_back(t.columns.size());
        if (ti::TermIndexed(f, c.category) || KeyColumn(f))
          t.term_columns.push_back(t.columns.size());
        t.columns.push_back(&f);
      }
      t.block = std::make_unique<vigil::store::ColumnBlockWriter>(t.columns);
      Exec("CREATE TABLE " + t.name +
           "_blocks (first_id INTEGER PRIMARY KEY, last_id INTEGER, min_ts INTEGER, "
           "max_ts INTEGER, data BLOB)");
      auto s = vigil::store::sqlite::Prepare(
          db_.get(), "INSERT INTO " + t.name + "_blocks VALUES (?, ?, ?, ?, ?)");
      if (!s) std::exit(1);
      t.insert = std::move(*s);
      tables_.push_back(std::move(t));
    }
    auto seq = vigil::store::sqlite::Prepare(
        db_.get(),
        "INSERT INTO sequences VALUES (?, 1, ?) ON CONFLICT (agent_id, spool_epoch) DO UPDATE "
        "SET committed_sequence = excluded.committed_sequence");
    auto text = vigil::store::sqlite::Prepare(
        db_.get(), "INSERT INTO text_postings VALUES (?, ?, ?, ?, ?, ?)");
    auto term = vigil::store::sqlite::Prepare(db_.get(),
                                              "INSERT INTO term_postings VALUES (?, ?, ?, ?, ?)");
    if (!seq || !text || !term) std::exit(1);
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
    for (auto& t : tables_) FlushBlock(t);
    sqlite3_stmt* s = sequence_.get();
    vigil::store::sqlite::BindText(s, 1, batch.agent_id);
    sqlite3_bind_int64(s, 2,
                       static_cast<std::int64_t>(batch.first_sequence + batch.events.size() - 1));
    Check(sqlite3_step(s), db_.get(), "sequence");
    sqlite3_reset(s);
    Exec("COMMIT");
  }

  // A full scan of the process table that reads every command line: rows that contain `needle`,
  // and a digest of every command line in id order (`digest`, folded with DigestText).
  std::uint64_t ScanProcesses(std::string_view needle, std::uint64_t& digest) {
    auto stmt = vigil::store::sqlite::Prepare(db_.get(), "SELECT data FROM process_blocks");
    if (!stmt) std::exit(1);
    const Table& t = tables_[static_cast<std::size_t>(schema::Category::Process)];
    std::size_t column = 0;
    while (t.columns[column]->column != "process_command_line") ++column;
    std::uint64_t hits = 0;
    while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
      const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt->get(), 0));
      const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt->get(), 0));
      auto block = vigil::store::ColumnBlock::Open(std::string_view(data, size), t.columns);
      if (auto loaded = block ? block->Load(column) : std::unexpected(block.error()); !loaded) {
        std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
        std::exit(1);
      }
      for (std::size_t r = 0; r < block->rows(); ++r) {
        const auto v = block->Value(r, column);
        const auto* text = std::get_if<std::string_view>(&v);
        digest = DigestText(digest, text);
        if (text && text->find(needle) != std::string_view::npos) ++hits;
      }
    }
    return hits;
  }

  std::uint64_t raw_bytes = 0, compressed_bytes = 0;

 private:
  void Exec(const std::string& sql) {
    Check(sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr), db_.get(), sql.c_str());
  }

  void Row(const vigil::v1::Event& event, std::uint64_t sequence) {
    auto category = schema::CategoryOf(event);
    if (!category) return;
    Table& t = tables_[static_cast<std::size_t>(*category)];
    const std::int64_t id = t.next_id++;
    if (ti::PartitionOf(id) != t.part) Seal(t, ti::PartitionOf(id));
    const auto offset = static_cast<std::uint16_t>(id - ti::PartitionFirstId(t.part));
    t.block->Add(event, vigil::store::RowStamp{sequence, now_});
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

  void FlushBlock(Table& t) {
    if (t.next_id == t.block_first) return;
    const std::int64_t min_ts = t.block->min_timestamp(), max_ts = t.block->max_timestamp();
    const std::string data = t.block->Finish(level_);
    raw_bytes += t.block->last_raw_bytes();
    compressed_bytes += data.size();
    sqlite3_stmt* s = t.insert.get();
    sqlite3_bind_int64(s, 1, t.block_first);
    sqlite3_bind_int64(s, 2, t.next_id - 1);
    sqlite3_bind_int64(s, 3, min_ts);
    sqlite3_bind_int64(s, 4, max_ts);
    sqlite3_bind_blob(s, 5, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
    Check(sqlite3_step(s), db_.get(), "insert block");
    sqlite3_reset(s);
    t.block_first = t.next_id;
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
    t.part = next_part;
    t.texts.resize(t.text_columns.size());
    t.terms.resize(t.term_columns.size());
    for (auto& b : t.texts) b.Clear();
    for (auto& b : t.terms) b.Clear();
  }

  vigil::store::sqlite::DbPtr db_;
  int level_;
  std::int64_t now_ = 0;
  std::vector<Table> tables_;
  vigil::store::sqlite::StmtPtr sequence_, text_insert_, term_insert_;
};

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
      if (!r || (*r)[0].stored != b.events.size()) std::exit(1);
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
    raw = writer.raw_bytes;
    compressed = writer.compressed_bytes;
    // Reading back: a full scan of the process table's command lines, both layouts.
    if (compare) {
      full.reset();
      const auto t0 = Clock::now();
      std::uint64_t block_digest = 14695981039346656037ull, row_digest = block_digest;
      const std::uint64_t block_hits = writer.ScanProcesses("curl", block_digest);
      const double block_scan = std::chrono::duration<double>(Clock::now() - t0).count();
      auto db =
          vigil::store::sqlite::Open((dir / "store" / "vigil.db").string(), SQLITE_OPEN_READONLY);
      if (!db) std::exit(1);
      auto stmt =
          vigil::store::sqlite::Prepare(db->get(), "SELECT process_command_line FROM process");
      if (!stmt) std::exit(1);
      const auto t1 = Clock::now();
      std::uint64_t row_hits = 0, rows_read = 0;
      while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
        ++rows_read;
        const bool none = sqlite3_column_type(stmt->get(), 0) == SQLITE_NULL;
        const std::string_view text = vigil::store::sqlite::ColumnText(stmt->get(), 0);
        row_digest = DigestText(row_digest, none ? nullptr : &text);
        if (text.find("curl") != std::string_view::npos) ++row_hits;
      }
      const double row_scan = std::chrono::duration<double>(Clock::now() - t1).count();
      std::printf(
          "scan of %llu process rows for \"curl\": blocks %.0f rows/s (%llu hits), store %.0f "
          "rows/s (%llu hits)\n",
          static_cast<unsigned long long>(rows_read), static_cast<double>(rows_read) / block_scan,
          static_cast<unsigned long long>(block_hits), static_cast<double>(rows_read) / row_scan,
          static_cast<unsigned long long>(row_hits));
      // The two layouts must hold the same rows: a check, so the bench also runs as a test.
      if (block_hits != row_hits || block_digest != row_digest) {
        std::fprintf(stderr,
                     "the layouts disagree: %llu vs %llu hits, command line digests %016llx vs "
                     "%016llx\n",
                     static_cast<unsigned long long>(block_hits),
                     static_cast<unsigned long long>(row_hits),
                     static_cast<unsigned long long>(block_digest),
                     static_cast<unsigned long long>(row_digest));
        agree = false;
      } else {
        std::printf("the layouts agree: same %llu process command lines in the same order\n",
                    static_cast<unsigned long long>(rows_read));
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
