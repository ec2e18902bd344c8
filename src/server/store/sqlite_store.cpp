// The embedded Store: one SQLite file in WAL mode, one table per event category with columns
// derived from the schema at run time, hunt indexes plus a trigram index of distinct texts over
// text fields (text_index.hpp), group-committed exactly-once ingest and retention. Design and
// rationale: docs/store.md.
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <unordered_map>
#include <utility>

#include "common/sha256.hpp"
#include "common/time.hpp"
#include "server/store/block_table.hpp"
#include "server/store/free_space.hpp"
#include "server/store/hunt_indexes.hpp"
#include "server/store/json_text.hpp"
#include "server/store/row_stamp.hpp"
#include "server/store/sqlite_tuning.hpp"
#include "server/store/sqlite_util.hpp"
#include "server/store/store.hpp"
#include "server/store/text_index.hpp"
#include "server/store/text_index_vtab.hpp"

namespace vigil::store {
namespace {

using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::DbPtr;
using sqlite::Exec;
using sqlite::Prepare;
using sqlite::Quote;
using sqlite::ResetGuard;
using sqlite::StmtPtr;

constexpr int kBusyTimeoutMs = 10000;
constexpr std::int64_t kDeleteChunk = 20000;

// One event table: its category, and the schema fields it has a column for, in schema order.
struct TableDef {
  schema::Category category;
  std::string name;
  std::vector<const schema::FieldDef*> columns;
  std::vector<std::size_t> text_columns;  // positions in `columns` of text-indexed fields
  std::vector<std::size_t> term_columns;  // ... of term-indexed fields
};

// The secondary B-tree indexes, as column lists; one is created where the table has every column
// (and, when `only` is set, only on that table). Each index costs ingest time, so the list is what
// hunts and the API need: time ranges, one host's timeline, a process's activity, lineage. Hashes,
// IPs and domains are in the term index (text_index.hpp): their keys scatter over a B-tree.
struct IndexDef {
  std::array<std::string_view, 2> columns;
  std::string_view only;  // a table name, or empty for every table that has the columns
};
constexpr std::array<IndexDef, 5> kIndexes{{
    {{"timestamp", ""}, ""},
    {{"host_id", "timestamp"}, ""},
    {{"process_entity_id", ""}, ""},
    {{"process_parent_entity_id", ""}, "process"},  // lineage lives in the process table
    {{"vigil_scan_id", "timestamp"}, "scan"},       // a scan job's progress and findings
}};
// B-tree indexes of older versions that the term index replaces (dropped on open).
constexpr std::array<std::string_view, 5> kRetiredIndexColumns{
    "process_hash_sha256", "file_hash_sha256", "source_ip", "destination_ip", "dns_question_name"};

// Creates a postings table, or converts one of an older database (a WITHOUT ROWID table, whose
// seeks read every compared row's overflow pages) to the rowid form: its rows are copied.
Result<void> CreatePostingsTable(sqlite3* w, const text_index::PostingsTable& table) {
  const std::string name(table.name);
  auto stmt = sqlite::Prepare(
      w, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '" + name + "'");
  if (!stmt) return std::unexpected(stmt.error());
  const bool old =
      sqlite3_step(stmt->get()) == SQLITE_ROW &&
      std::string_view(ColumnText(stmt->get(), 0)).find("WITHOUT ROWID") != std::string_view::npos;
  stmt->reset();
  if (old) {
    std::fprintf(stderr, "vigil-server: converting %s to a rowid table (once)\n", name.c_str());
    if (auto r = Exec(w, "ALTER TABLE " + name + " RENAME TO " + name + "_old"); !r) return r;
  }
  if (auto r = Exec(w, std::string(table.create)); !r) return r;
  if (old) {
    if (auto r = Exec(w, "INSERT INTO " + name + " SELECT * FROM " + name + "_old"); !r) return r;
    if (auto r = Exec(w, "DROP TABLE " + name + "_old"); !r) return r;
  }
  return {};
}

// column_blocks: the block layout, whose term postings also hold the keys the row layout keeps
// in B-tree indexes (blocks::TermKey).
std::vector<TableDef> BuildTables(bool column_blocks) {
  std::vector<TableDef> tables;
  for (const auto& c : schema::Categories()) {
    TableDef t{c.category, std::string(c.name), {}, {}, {}};
    for (const auto& f : schema::Fields()) {
      if (!f.In(c.category)) continue;
      if (text_index::Indexed(f, c.category)) t.text_columns.push_back(t.columns.size());
      if (text_index::TermIndexed(f, c.category) || (column_blocks && blocks::TermKey(f)))
        t.term_columns.push_back(t.columns.size());
      t.columns.push_back(&f);
    }
    tables.push_back(std::move(t));
  }
  return tables;
}

bool HasColumn(const TableDef& t, std::string_view column) {
  return std::ranges::any_of(t.columns, [&](const auto* f) { return f->column == column; });
}

Result<std::vector<std::string>> ColumnNames(sqlite3* db, const std::string& table) {
  auto stmt = Prepare(db, "PRAGMA table_info(" + Quote(table) + ")");
  if (!stmt) return std::unexpected(stmt.error());
  std::vector<std::string> names;
  while (sqlite3_step(stmt->get()) == SQLITE_ROW) names.emplace_back(ColumnText(stmt->get(), 1));
  return names;
}

Result<std::string> RandomSecret() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    return Fail("random bytes for a token: OpenSSL RAND_bytes failed");
  return ToHex(bytes.data(), bytes.size());
}

// A transaction on the writer connection: rolled back unless committed.
class Transaction {
 public:
  static Result<Transaction> Begin(sqlite3* db) {
    if (auto r = Exec(db, "BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
    return Transaction(db);
  }
  Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() {
    if (db_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Result<void> Commit() {
    auto r = Exec(std::exchange(db_, nullptr), "COMMIT");
    return r;
  }
  // Also after a failed Commit, which can leave the transaction open.
  static void RollBack(sqlite3* db) {
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// A statement and the values it needs, for control-data writes and reads (not hot paths).
struct Arg {
  std::variant<std::monostate, std::int64_t, std::string_view> value;
  Arg() = default;
  Arg(std::int64_t v) : value(v) {}                              // NOLINT: implicit on purpose
  Arg(std::uint64_t v) : value(static_cast<std::int64_t>(v)) {}  // NOLINT
  Arg(std::string_view v) : value(v) {}                          // NOLINT
  Arg(const std::string& v) : value(std::string_view(v)) {}      // NOLINT
};

Result<StmtPtr> PrepareBound(sqlite3* db, std::string_view sql, std::initializer_list<Arg> args) {
  auto stmt = Prepare(db, sql);
  if (!stmt) return stmt;
  int i = 1;
  for (const Arg& a : args) {
    if (const auto* n = std::get_if<std::int64_t>(&a.value))
      sqlite3_bind_int64(stmt->get(), i, *n);
    else if (const auto* s =
                 std::get_if<std::string_view>(&a.value))  // copied: args may be temporaries
      sqlite3_bind_text(stmt->get(), i, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
    else
      sqlite3_bind_null(stmt->get(), i);
    ++i;
  }
  return stmt;
}

// Runs a write statement; returns the number of rows changed.
Result<int> Run(sqlite3* db, std::string_view sql, std::initializer_list<Arg> args) {
  auto stmt = PrepareBound(db, sql, args);
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return sqlite::DbFail(db, std::string(sql));
  return sqlite3_changes(db);
}

class SqliteStore;

// A reader connection borrowed from the pool; goes back on destruction.
class ReaderLease {
 public:
  ReaderLease(SqliteStore* owner, DbPtr db) : owner_(owner), db_(std::move(db)) {}
  ReaderLease(ReaderLease&&) = default;
  ~ReaderLease();
  sqlite3* get() const { return db_.get(); }

 private:
  SqliteStore* owner_;
  DbPtr db_;
};

// One caller of Append waiting for its batches to be part of a group commit.
struct PendingAppend {
  std::span<const IngestBatch> batches;
  std::vector<AppendResult> results;
  std::optional<Error> error;
  bool done = false;
};

// Per-table prepared insert statements of the writer connection, with reusable JSON buffers.
struct TableWriter {
  StmtPtr insert;
  std::vector<std::string> json;  // one buffer per column (only list columns use theirs)
  std::int64_t max_id = 0;        // the table's highest row id (text index partitions)
  std::int64_t next_seal = 0;     // the lowest partition of the text index not sealed yet
  text_index::LiveTextIndex::Sink postings;  // the builders of the partition being written
  std::vector<std::string> text_columns, term_columns;  // their columns, in TableDef order
};

class SqliteStore final : public Store {
 public:
  SqliteStore(SqliteOptions options, SqliteTuning tuning, StoreLimits limits)
      : options_(std::move(options)),
        tuning_(tuning),
        free_space_(options_.path.parent_path().empty() ? "." : options_.path.parent_path(),
                    limits.min_free_bytes) {}

  Result<void> Open();

  Result<std::vector<AppendResult>> Append(std::span<const IngestBatch> batches) override;
  Result<std::uint64_t> CommittedSequence(const std::string& agent_id,
                                          std::uint64_t spool_epoch) override;
  Result<void> QueryEvents(const EventQuery& query,
                           const std::function<bool(v1::Event&&)>& sink) override;
  Result<RetentionResult> ApplyRetention(const RetentionPolicy& policy) override;
  Result<std::uint64_t> CountEvents(std::optional<schema::Category> category) override;
  Result<void> ReadEventsAfter(schema::Category category, std::int64_t after_id, std::size_t limit,
                               const std::function<bool(std::int64_t, v1::Event&&)>& sink) override;
  Result<std::int64_t> LastEventId(schema::Category category) override;
  DiskStatus Disk() const override { return free_space_.Status(); }
  CommitStats Commits() const override {
    return {committed_transactions_.load(), committed_batches_.load()};
  }

  Result<void> RegisterAgent(const std::string& agent_id, const std::string& hostname) override;
  Result<bool> AgentExists(const std::string& agent_id) override;
  Result<void> UpdateAgentHello(const std::string& agent_id, const HostRecord& hello) override;
  Result<void> UpdateAgentStatus(const std::string& agent_id,
                                 const AgentStatusUpdate& status) override;
  Result<void> CountRejectedBatch(const std::string& agent_id, std::uint64_t events) override;
  Result<std::vector<HostRecord>> ListHosts() override;

  Result<std::string> CreateEnrollmentToken(std::int64_t ttl_ns) override;
  Result<void> ConsumeEnrollmentToken(const std::string& secret) override;
  Result<std::string> CreateApiToken(const std::string& name, Role role) override;
  Result<Role> VerifyApiToken(const std::string& secret) override;
  Result<ApiPrincipal> AuthenticateApiToken(const std::string& secret) override;

  Result<void> SaveHunt(const SavedHunt& hunt) override;
  Result<std::vector<SavedHunt>> ListHunts() override;
  Result<std::optional<SavedHunt>> GetHunt(const std::string& name) override;
  Result<bool> DeleteHunt(const std::string& name) override;

  void ReturnReader(DbPtr db) {
    std::lock_guard lock(readers_mu_);
    readers_.push_back(std::move(db));
  }

 private:
  Result<void> CreateSchema();
  Result<void> PrepareWriters();
  Result<ReaderLease> Reader();
  Result<void> CommitGroup(std::vector<PendingAppend*>& group);
  Result<AppendResult> AppendBatch(
      const IngestBatch& batch, std::int64_t now,
      std::map<std::pair<std::string, std::uint64_t>, std::uint64_t>& committed);
  Result<void> InsertEvent(std::size_t table, const v1::Event& event, std::uint64_t sequence,
                           std::int64_t now);
  Result<std::int64_t> InsertRow(std::size_t table, const v1::Event& event, const RowStamp& stamp);
  Result<void> CheckLayout();
  Result<std::uint64_t> DeleteBlocksOlderThan(const TableDef& t, std::int64_t cutoff_exclusive);
  Result<void> DropEmptyPartitions(const TableDef& t, const std::string& lowest_id_sql);
  // The table's highest id (0 when empty); blocks answer from their id ranges.
  std::string MaxIdSql(const TableDef& t) const {
    return column_blocks_ ? blocks::LastIdSql(t.name)
                          : "SELECT coalesce(max(id), 0) FROM " + Quote(t.name);
  }
  Result<void> LoadTextIndex();
  Result<void> LoadPartition(std::size_t table, std::int64_t part);
  Result<std::vector<std::pair<std::size_t, std::int64_t>>> SealCompletedPartitions();
  Result<void> SealPartition(std::size_t table, std::int64_t part);
  Result<void> ReloadMaxIds();
  Result<std::uint64_t> UsedBytes();
  Result<std::uint64_t> DeleteOlderThan(const TableDef& t, std::int64_t cutoff_exclusive);
  Result<std::int64_t> KthOldestTimestamp(std::uint64_t k);
  void ReadRow(const TableDef& t, sqlite3_stmt* stmt, v1::Event& event) const;

  SqliteOptions options_;
  SqliteTuning tuning_;
  std::vector<TableDef> tables_;  // built by Open for the database's layout
  FreeSpaceGuard free_space_;

  std::mutex writer_mu_;  // guards writer_ and everything prepared on it
  DbPtr writer_;
  std::vector<TableWriter> table_writers_;
  bool column_blocks_ = false;  // the database's row layout (Open: its own, or the options')
  std::optional<blocks::BlockTablesWriter> blocks_;  // the column-block layout's rows
  StmtPtr get_sequence_;
  StmtPtr put_sequence_;
  StmtPtr agent_received_;
  StmtPtr put_text_block_;
  StmtPtr put_text_part_;
  StmtPtr put_term_block_, put_term_filter_;
  std::string extra_json_;
  std::shared_ptr<text_index::LiveTextIndex> live_text_ =
      std::make_shared<text_index::LiveTextIndex>();

  std::mutex queue_mu_;  // guards queue_ and leader_active_
  std::condition_variable queue_cv_;
  std::vector<PendingAppend*> queue_;
  bool leader_active_ = false;
  std::atomic<std::uint64_t> committed_transactions_{0}, committed_batches_{0};

  std::mutex readers_mu_;
  std::vector<DbPtr> readers_;
};

ReaderLease::~ReaderLease() {
  if (db_) owner_->ReturnReader(std::move(db_));
}

Result<void> SqliteStore::Open() {
  const std::string path = options_.path.string();
  auto db = sqlite::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return std::unexpected(db.error());
  writer_ = std::move(*db);
  sqlite3* w = writer_.get();
  sqlite3_busy_timeout(w, kBusyTimeoutMs);

  auto version = sqlite::QueryInt(w, "PRAGMA user_version");
  if (!version) return Fail(path + ": not a readable SQLite database: " + version.error().message);
  if (*version > schema::kSchemaVersion)
    return Fail(path + ": database schema version " + std::to_string(*version) +
                " is newer than this server's " + std::to_string(schema::kSchemaVersion) +
                "; upgrade vigil-server (or use another data directory)");
  auto objects = sqlite::QueryInt(w, "SELECT count(*) FROM sqlite_master");
  if (!objects) return std::unexpected(objects.error());
  if (*objects == 0) {
    // Only possible before the first table exists: larger pages (fewer, shallower B-trees for
    // wide rows) and incremental vacuum so retention can give space back to the filesystem.
    if (auto r = Exec(w, "PRAGMA page_size=8192; PRAGMA auto_vacuum=INCREMENTAL"); !r) return r;
  }
  {
    auto stmt = Prepare(w, "PRAGMA journal_mode=WAL");
    if (!stmt) return std::unexpected(stmt.error());
    if (sqlite3_step(stmt->get()) != SQLITE_ROW || ColumnText(stmt->get(), 0) != "wal")
      return Fail(path + ": cannot switch the database to WAL mode");
  }
  std::string pragmas = std::string("PRAGMA synchronous=") +
                        (options_.synchronous_full ? "FULL" : "NORMAL") +
                        "; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;"
                        " PRAGMA wal_autocheckpoint=4000; PRAGMA journal_size_limit=67108864;"
                        " PRAGMA cache_size=-" +
                        std::to_string(tuning_.writer_cache_mib * 1024);
  if (auto r = Exec(w, pragmas); !r) return r;
  auto layout = sqlite::QueryInt(
      w,
      "SELECT coalesce(max(name = 'process_blocks'), -1) FROM sqlite_master WHERE type = "
      "'table' AND name IN ('process', 'process_blocks')",
      -1);
  if (!layout) return std::unexpected(layout.error());
  column_blocks_ = *layout < 0 ? options_.column_blocks : *layout == 1;
  tables_ = BuildTables(column_blocks_);
  if (options_.column_blocks && !column_blocks_)  // asked for, but not a new database
    std::fprintf(stderr,
                 "vigil-server: %s keeps its events as rows; the column-block layout applies to "
                 "new databases only\n",
                 path.c_str());
  if (auto r = CreateSchema(); !r) return Fail(path + ": " + r.error().message);
  if (auto r = PrepareWriters(); !r) return r;
  if (!tuning_.full_text) return {};
  if (const char* file = sqlite3_db_filename(w, "main"); file && *file)
    text_index::PublishLive(file, live_text_);
  if (auto r = LoadTextIndex(); !r) return Fail(path + ": text index: " + r.error().message);
  return {};
}

Result<void> SqliteStore::CreateSchema() {
  sqlite3* w = writer_.get();
  auto tx = Transaction::Begin(w);
  if (!tx) return std::unexpected(tx.error());
  const char* control = R"(
    CREATE TABLE IF NOT EXISTS agents (
      agent_id TEXT PRIMARY KEY, host_id TEXT NOT NULL DEFAULT '', hostname TEXT NOT NULL DEFAULT '',
      os TEXT NOT NULL DEFAULT '', agent_version TEXT NOT NULL DEFAULT '',
      sensor_kind TEXT NOT NULL DEFAULT '', enrolled_ns INTEGER NOT NULL DEFAULT 0,
      last_seen_ns INTEGER NOT NULL DEFAULT 0, events_received INTEGER NOT NULL DEFAULT 0,
      events_rejected INTEGER NOT NULL DEFAULT 0, batches_rejected INTEGER NOT NULL DEFAULT 0,
      sensor_dropped INTEGER NOT NULL DEFAULT 0, spool_dropped INTEGER NOT NULL DEFAULT 0,
      sensor_parse_errors INTEGER NOT NULL DEFAULT 0,
      spool_discarded_bytes INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS sequences (
      agent_id TEXT NOT NULL, spool_epoch INTEGER NOT NULL, committed_sequence INTEGER NOT NULL,
      PRIMARY KEY (agent_id, spool_epoch)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS enrollment_tokens (
      sha256 TEXT PRIMARY KEY, created_ns INTEGER NOT NULL, expires_ns INTEGER NOT NULL,
      used_ns INTEGER) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS api_tokens (
      sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
      created_ns INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS saved_hunts (
      name TEXT PRIMARY KEY, query TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
      owner TEXT NOT NULL DEFAULT '', created_ns INTEGER NOT NULL,
      updated_ns INTEGER NOT NULL) WITHOUT ROWID;
  )";
  if (auto r = Exec(w, control); !r) return r;

  if (auto r = CheckLayout(); !r) return r;
  if (column_blocks_)
    if (auto r = Exec(w, blocks::CreateSql()); !r) return r;
  for (const TableDef& t : tables_) {
    if (column_blocks_) break;  // no row tables, no B-tree indexes
    std::string create = "CREATE TABLE IF NOT EXISTS " + Quote(t.name) + " (id INTEGER PRIMARY KEY";
    for (const auto* f : t.columns) create += ", " + Quote(f->column) + " " + ColumnType(*f);
    create += ", extra TEXT)";
    if (auto r = Exec(w, create); !r) return r;

    // Older databases: add the columns of fields the schema gained since.
    auto existing = ColumnNames(w, t.name);
    if (!existing) return std::unexpected(existing.error());
    std::set<std::string, std::less<>> have(existing->begin(), existing->end());
    for (const auto* f : t.columns) {
      if (have.contains(f->column)) continue;
      if (auto r = Exec(w, "ALTER TABLE " + Quote(t.name) + " ADD COLUMN " + Quote(f->column) +
                               " " + ColumnType(*f));
          !r)
        return r;
    }
    if (!have.contains("extra"))
      if (auto r = Exec(w, "ALTER TABLE " + Quote(t.name) + " ADD COLUMN extra TEXT"); !r) return r;

    if (tuning_.secondary_indexes) {
      for (const auto& index : kIndexes) {
        const auto& cols = index.columns;
        if (!index.only.empty() && index.only != t.name) continue;
        if (!HasColumn(t, cols[0]) || (!cols[1].empty() && !HasColumn(t, cols[1]))) continue;
        std::string name = t.name + "_" + std::string(cols[0]);
        std::string list = Quote(cols[0]);
        if (!cols[1].empty()) {
          name += "_" + std::string(cols[1]);
          list += ", " + Quote(cols[1]);
        }
        if (auto r = Exec(w, "CREATE INDEX IF NOT EXISTS " + Quote(name) + " ON " + Quote(t.name) +
                                 " (" + list + ")");
            !r)
          return r;
      }
    }

    if (tuning_.full_text) {
      // FTS5 tables and B-tree indexes of older versions: the text and term indexes replace them
      // (LoadTextIndex indexes the rows already there).
      if (auto r = Exec(w, "DROP TABLE IF EXISTS " + Quote(t.name + "_fts")); !r) return r;
      for (std::string_view column : kRetiredIndexColumns)
        if (auto r = Exec(w, "DROP INDEX IF EXISTS " + Quote(t.name + "_" + std::string(column)));
            !r)
          return r;
    }
  }
  if (tuning_.full_text) {
    if (auto r = Exec(w, std::string(text_index::kCreateSql)); !r) return r;
    for (const auto& table : text_index::kPostingsTables)
      if (auto r = CreatePostingsTable(w, table); !r) return r;
  }
  if (tuning_.secondary_indexes && !column_blocks_)
    if (auto r = CreateHuntIndexes(w); !r) return r;  // server/store/hunt_indexes.hpp
  if (auto r = Exec(w, "PRAGMA user_version=" + std::to_string(schema::kSchemaVersion)); !r)
    return r;
  return tx->Commit();
}

Result<void> SqliteStore::PrepareWriters() {
  sqlite3* w = writer_.get();
  if (column_blocks_) {
    auto writer = blocks::BlockTablesWriter::Open(w);
    if (!writer) return std::unexpected(writer.error());
    blocks_.emplace(std::move(*writer));
  }
  for (const TableDef& t : tables_) {
    TableWriter tw;
    std::string cols, params;
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
      cols += Quote(t.columns[i]->column) + ", ";
      params += "?, ";
    }
    if (!blocks_) {
      auto insert = Prepare(
          w, "INSERT INTO " + Quote(t.name) + " (" + cols + "extra) VALUES (" + params + "?)");
      if (!insert) return std::unexpected(insert.error());
      tw.insert = std::move(*insert);
    }
    tw.json.resize(t.columns.size());
    for (std::size_t c : t.text_columns) tw.text_columns.emplace_back(t.columns[c]->column);
    for (std::size_t c : t.term_columns) tw.term_columns.emplace_back(t.columns[c]->column);
    table_writers_.push_back(std::move(tw));
  }
  auto get =
      Prepare(w, "SELECT committed_sequence FROM sequences WHERE agent_id = ? AND spool_epoch = ?");
  if (!get) return std::unexpected(get.error());
  get_sequence_ = std::move(*get);
  auto put = Prepare(w,
                     "INSERT INTO sequences (agent_id, spool_epoch, committed_sequence) VALUES "
                     "(?, ?, ?) ON CONFLICT (agent_id, spool_epoch) DO UPDATE SET "
                     "committed_sequence = max(committed_sequence, excluded.committed_sequence)");
  if (!put) return std::unexpected(put.error());
  put_sequence_ = std::move(*put);
  auto agent =
      Prepare(w,
              "UPDATE agents SET events_received = events_received + ?, "
              "events_rejected = events_rejected + ?, last_seen_ns = ? WHERE agent_id = ?");
  if (!agent) return std::unexpected(agent.error());
  agent_received_ = std::move(*agent);
  if (tuning_.full_text) {
    auto block = Prepare(w,
                         "INSERT OR REPLACE INTO text_postings (tbl, col, part, kind, first_key, "
                         "data) VALUES (?, ?, ?, ?, ?, ?)");
    if (!block) return std::unexpected(block.error());
    put_text_block_ = std::move(*block);
    auto term = Prepare(w,
                        "INSERT OR REPLACE INTO term_postings (tbl, col, part, first_term, data) "
                        "VALUES (?, ?, ?, ?, ?)");
    if (!term) return std::unexpected(term.error());
    put_term_block_ = std::move(*term);
    auto filter = Prepare(
        w, "INSERT OR REPLACE INTO term_filters (tbl, col, part, bits) VALUES (?, ?, ?, ?)");
    if (!filter) return std::unexpected(filter.error());
    put_term_filter_ = std::move(*filter);
    auto part = Prepare(w, "INSERT OR IGNORE INTO text_index_parts (tbl, part) VALUES (?, ?)");
    if (!part) return std::unexpected(part.error());
    put_text_part_ = std::move(*part);
  }
  return {};
}

Result<ReaderLease> SqliteStore::Reader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!readers_.empty()) {
      DbPtr db = std::move(readers_.back());
      readers_.pop_back();
      return ReaderLease(this, std::move(db));
    }
  }
  auto db = sqlite::Open(options_.path.string(), SQLITE_OPEN_READWRITE);
  if (!db) return std::unexpected(db.error());
  sqlite3_busy_timeout(db->get(), kBusyTimeoutMs);
  if (auto r = text_index::RegisterFunction(db->get()); !r) return std::unexpected(r.error());
  if (auto r = Exec(db->get(),
                    std::string(sqlite::kReadMmapPragma) +
                        "; PRAGMA query_only=1; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-" +
                        std::to_string(tuning_.reader_cache_mib * 1024));
      !r)
    return std::unexpected(r.error());
  return ReaderLease(this, std::move(*db));
}

// ---------------------------------------------------------------- ingest

Result<std::vector<AppendResult>> SqliteStore::Append(std::span<const IngestBatch> batches) {
  PendingAppend mine;
  mine.batches = batches;
  std::unique_lock lock(queue_mu_);
  queue_.push_back(&mine);
  // Leader/follower group commit: whoever finds no commit in progress takes every queued request
  // (its own and those that arrived while the previous commit was syncing) and commits them in
  // one transaction; the others wait until their request is done or it is their turn to lead.
  while (!mine.done) {
    if (leader_active_) {
      queue_cv_.wait(lock);
      continue;
    }
    leader_active_ = true;
    std::vector<PendingAppend*> group;
    group.swap(queue_);
    lock.unlock();
    auto committed = CommitGroup(group);
    lock.lock();
    for (PendingAppend* p : group) {
      if (!committed) p->error = committed.error();
      p->done = true;
    }
    leader_active_ = false;
    queue_cv_.notify_all();
  }
  if (mine.error) return std::unexpected(*mine.error);
  lock.unlock();
  NotifyCommitted(batches, mine.results);
  return std::move(mine.results);
}

Result<void> SqliteStore::CommitGroup(std::vector<PendingAppend*>& group) {
  if (auto room = free_space_.Check(); !room) return room;
  std::lock_guard writer_lock(writer_mu_);
  sqlite3* w = writer_.get();
  const std::int64_t now = NowNs();
  auto tx = Transaction::Begin(w);
  if (!tx) return std::unexpected(tx.error());
  std::map<std::pair<std::string, std::uint64_t>, std::uint64_t> committed;
  // Any failure rolls the transaction back: the ids its rows took will be handed out again.
  auto rolled_back = [&](Error error) -> Result<void> {
    Transaction::RollBack(w);  // before the ids are read back
    if (blocks_)
      if (auto r = blocks_->Discard(); !r) return std::unexpected(r.error());
    if (auto r = ReloadMaxIds(); !r) return std::unexpected(r.error());
    return std::unexpected(std::move(error));
  };
  {
    auto postings_lock = live_text_->WriteLock();  // readers match the live partition meanwhile
    for (PendingAppend* p : group) {
      p->results.clear();
      p->results.reserve(p->batches.size());
      for (const IngestBatch& batch : p->batches) {
        auto r = AppendBatch(batch, now, committed);
        if (!r) {
          postings_lock.unlock();
          return rolled_back(r.error());
        }
        p->results.push_back(*r);
      }
    }
  }
  if (blocks_)
    if (auto r = blocks_->Flush(); !r) return rolled_back(r.error());
  std::vector<std::pair<std::size_t, std::int64_t>> sealed;
  if (tuning_.full_text) {
    auto s = SealCompletedPartitions();
    if (!s) return rolled_back(s.error());
    sealed = std::move(*s);
  }
  if (auto r = tx->Commit(); !r) return rolled_back(r.error());
  committed_transactions_++;
  for (const PendingAppend* p : group) committed_batches_ += p->batches.size();
  // The partition sealed last stays in memory for readers whose snapshot predates this commit.
  for (auto [table, part] : sealed) {
    table_writers_[table].next_seal = part + 1;
    live_text_->DropBelow(tables_[table].name, part);  // never the bound one (it is newer)
  }
  return {};
}

Result<AppendResult> SqliteStore::AppendBatch(
    const IngestBatch& batch, std::int64_t now,
    std::map<std::pair<std::string, std::uint64_t>, std::uint64_t>& committed) {
  sqlite3* w = writer_.get();
  AppendResult result;
  const bool sequenced = batch.first_sequence != 0;
  std::uint64_t done = 0;
  auto key = std::make_pair(batch.agent_id, batch.spool_epoch);
  if (sequenced) {
    auto it = committed.find(key);
    if (it != committed.end()) {
      done = it->second;
    } else {
      sqlite3_stmt* s = get_sequence_.get();
      ResetGuard reset(s);
      BindText(s, 1, batch.agent_id);
      sqlite3_bind_int64(s, 2, static_cast<std::int64_t>(batch.spool_epoch));
      int rc = sqlite3_step(s);
      if (rc == SQLITE_ROW)
        done = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
      else if (rc != SQLITE_DONE)
        return sqlite::DbFail(w, "read committed sequence");
    }
  }
  for (std::size_t i = 0; i < batch.events.size(); ++i) {
    const std::uint64_t seq = sequenced ? batch.first_sequence + i : 0;
    if (sequenced && seq <= done) {
      ++result.duplicates;
      continue;
    }
    const v1::Event& event = batch.events[i];
    auto category = schema::CategoryOf(event);
    if (!category) {
      ++result.rejected;
      continue;
    }
    if (auto r = InsertEvent(static_cast<std::size_t>(*category), event, seq, now); !r)
      return std::unexpected(r.error());
    ++result.stored;
  }
  if (sequenced) {
    if (!batch.events.empty())
      done = std::max<std::uint64_t>(done, batch.first_sequence + batch.events.size() - 1);
    committed[key] = done;
    sqlite3_stmt* s = put_sequence_.get();
    ResetGuard reset(s);
    BindText(s, 1, batch.agent_id);
    sqlite3_bind_int64(s, 2, static_cast<std::int64_t>(batch.spool_epoch));
    sqlite3_bind_int64(s, 3, static_cast<std::int64_t>(done));
    if (sqlite3_step(s) != SQLITE_DONE) return sqlite::DbFail(w, "store committed sequence");
  }
  result.committed_sequence = done;
  if (!batch.agent_id.empty() && (result.stored > 0 || result.rejected > 0)) {
    sqlite3_stmt* s = agent_received_.get();
    ResetGuard reset(s);
    sqlite3_bind_int64(s, 1, static_cast<std::int64_t>(result.stored));
    sqlite3_bind_int64(s, 2, static_cast<std::int64_t>(result.rejected));
    sqlite3_bind_int64(s, 3, now);
    BindText(s, 4, batch.agent_id);
    if (sqlite3_step(s) != SQLITE_DONE) return sqlite::DbFail(w, "update agent counters");
  }
  return result;
}

Result<void> SqliteStore::InsertEvent(std::size_t table, const v1::Event& event,
                                      std::uint64_t sequence, std::int64_t now) {
  const TableDef& t = tables_[table];
  TableWriter& tw = table_writers_[table];
  auto id = InsertRow(table, event, RowStamp{sequence, now});
  if (!id) return std::unexpected(id.error());
  tw.max_id = *id;
  if (tuning_.full_text && (!t.text_columns.empty() || !t.term_columns.empty())) {
    // CommitGroup holds the live index's write lock around the inserts.
    const std::int64_t part = text_index::PartitionOf(tw.max_id);
    if (tw.postings.part != part)
      live_text_->Bind(tw.postings, t.name, part, tw.text_columns, tw.term_columns);
    const auto offset = static_cast<std::uint16_t>(tw.max_id - text_index::PartitionFirstId(part));
    for (std::size_t i = 0; i < t.text_columns.size(); ++i) {
      schema::FieldValue v = schema::Get(event, t.columns[t.text_columns[i]]->id);
      if (const auto* text = std::get_if<std::string_view>(&v))
        tw.postings.texts[i]->Add(offset, *text);
    }
    for (std::size_t i = 0; i < t.term_columns.size(); ++i) {
      schema::FieldValue v = schema::Get(event, t.columns[t.term_columns[i]]->id);
      if (const auto* value = std::get_if<std::string_view>(&v)) {
        tw.postings.terms[i]->Add(offset, *value);
      } else if (const auto* number = std::get_if<std::int64_t>(&v)) {  // a key such as a port
        char text[24];
        const auto end = std::to_chars(text, text + sizeof text, *number).ptr;
        tw.postings.terms[i]->Add(offset, std::string_view(text, end));
      }
    }
  }
  return {};
}

// Writes the event's row (a row of its table, or a row of its table's open block); its id.
Result<std::int64_t> SqliteStore::InsertRow(std::size_t table, const v1::Event& event,
                                            const RowStamp& stamp) {
  if (blocks_) {
    auto row = blocks_->Add(event, stamp);
    if (!row) return std::unexpected(row.error());
    if (!*row || (*row)->table != table)
      return Fail("column blocks: the event's category is not table " + tables_[table].name);
    return (*row)->id;
  }
  const TableDef& t = tables_[table];
  TableWriter& tw = table_writers_[table];
  sqlite3_stmt* s = tw.insert.get();
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    const schema::FieldDef& f = *t.columns[c];
    const int index = static_cast<int>(c) + 1;
    const schema::FieldValue v = StampedValue(event, f, stamp);
    switch (v.index()) {
      case 0:
        sqlite3_bind_null(s, index);
        break;
      case 1:
        BindText(s, index, std::get<1>(v));
        break;
      case 2:
        sqlite3_bind_int64(s, index, std::get<2>(v));
        break;
      case 3:
        sqlite3_bind_int(s, index, std::get<3>(v) ? 1 : 0);
        break;
      case 4:
        json::SetStringArray(tw.json[c], *std::get<4>(v));
        BindText(s, index, tw.json[c]);
        break;
    }
  }
  const int extra_index = static_cast<int>(t.columns.size()) + 1;
  if (event.extra().empty()) {
    sqlite3_bind_null(s, extra_index);
  } else {
    // Sorted keys: the same map always gives the same text.
    std::vector<std::pair<std::string_view, std::string_view>> members(event.extra().begin(),
                                                                       event.extra().end());
    std::ranges::sort(members);
    json::SetStringObject(extra_json_, members);
    BindText(s, extra_index, extra_json_);
  }
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return sqlite::DbFail(writer_.get(), "insert into " + t.name);
  return sqlite3_last_insert_rowid(writer_.get());
}

// ---------------------------------------------------------------- text index

// Reads the rows of one partition into the live index.
Result<void> SqliteStore::LoadPartition(std::size_t table, std::int64_t part) {
  const TableDef& t = tables_[table];
  const TableWriter& tw = table_writers_[table];
  std::string cols;
  for (const auto& c : tw.text_columns) cols += ", " + Quote(c);
  for (const auto& c : tw.term_columns) cols += ", " + Quote(c);
  auto stmt = PrepareBound(
      writer_.get(),
      "SELECT id" + cols + " FROM " + Quote(t.name) + " WHERE id BETWEEN ? AND ? ORDER BY id",
      {text_index::PartitionFirstId(part), text_index::PartitionLastId(part)});
  if (!stmt) return std::unexpected(stmt.error());
  auto lock = live_text_->WriteLock();
  text_index::LiveTextIndex::Sink sink;  // held (and sealed) even when no row has a value
  live_text_->Bind(sink, t.name, part, tw.text_columns, tw.term_columns);
  while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
    const auto offset = static_cast<std::uint16_t>(sqlite3_column_int64(stmt->get(), 0) -
                                                   text_index::PartitionFirstId(part));
    int col = 1;
    for (auto* builder : sink.texts) builder->Add(offset, ColumnText(stmt->get(), col++));
    for (auto* builder : sink.terms) builder->Add(offset, ColumnText(stmt->get(), col++));
  }
  return {};
}

// At open: the partitions no transaction sealed (the one being written when the server stopped,
// or every one of a database from before the text index) are read from the rows; the complete
// ones are sealed, one transaction each.
Result<void> SqliteStore::LoadTextIndex() {
  sqlite3* w = writer_.get();
  for (std::size_t i = 0; i < tables_.size(); ++i) {
    const TableDef& t = tables_[i];
    TableWriter& tw = table_writers_[i];
    // Sealed partitions must cover every indexed column: another set of columns (a newer schema
    // or index choice) rebuilds the table's postings from its rows.
    std::string layout = "text:";
    for (std::size_t c : t.text_columns) layout += std::string(t.columns[c]->column) + ",";
    layout += " terms:";
    for (std::size_t c : t.term_columns) layout += std::string(t.columns[c]->column) + ",";
    auto recorded =
        PrepareBound(w, "SELECT columns FROM text_index_layout WHERE tbl = ?", {t.name});
    if (!recorded) return std::unexpected(recorded.error());
    if (sqlite3_step(recorded->get()) != SQLITE_ROW || ColumnText(recorded->get(), 0) != layout) {
      recorded->reset();
      auto tx = Transaction::Begin(w);
      if (!tx) return std::unexpected(tx.error());
      for (const char* index :
           {"text_postings", "term_postings", "term_filters", "text_index_parts"})
        if (auto r = Run(w, std::string("DELETE FROM ") + index + " WHERE tbl = ?", {t.name}); !r)
          return std::unexpected(r.error());
      if (auto r = Run(w, "INSERT OR REPLACE INTO text_index_layout (tbl, columns) VALUES (?, ?)",
                       {t.name, layout});
          !r)
        return std::unexpected(r.error());
      if (auto r = tx->Commit(); !r) return r;
    }
    auto max_id = sqlite::QueryInt(w, MaxIdSql(t));
    if (!max_id) return std::unexpected(max_id.error());
    tw.max_id = *max_id;
    if ((t.text_columns.empty() && t.term_columns.empty()) || tw.max_id == 0) continue;
    auto min_id = sqlite::QueryInt(
        w, column_blocks_ ? "SELECT min(first_id) FROM " + Quote(blocks::BlocksTableName(t.name))
                          : "SELECT min(id) FROM " + Quote(t.name));
    auto sealed = sqlite::QueryInt(
        w, "SELECT coalesce(max(part) + 1, 0) FROM text_index_parts WHERE tbl = '" + t.name + "'");
    if (!min_id || !sealed) return Fail("read " + t.name + " partitions");
    tw.next_seal = std::max(*sealed, text_index::PartitionOf(*min_id));
    const std::int64_t last = text_index::PartitionOf(tw.max_id);
    if (last - tw.next_seal > 1)
      std::fprintf(stderr, "vigil-server: indexing %lld partitions of %s (texts and terms)\n",
                   static_cast<long long>(last - tw.next_seal), t.name.c_str());
    for (std::int64_t part = tw.next_seal; part < last; ++part) {
      auto tx = Transaction::Begin(w);
      if (!tx) return std::unexpected(tx.error());
      if (auto r = SealPartition(i, part); !r) return r;  // reads the partition's rows
      if (auto r = tx->Commit(); !r) return r;
      tw.next_seal = part + 1;
      live_text_->DropBelow(t.name, part + 1);
    }
    if (auto r = LoadPartition(i, last); !r) return r;
  }
  return {};
}

// Within the ingest transaction: seals every partition that is complete (the table has a row past
// it) and not sealed yet. Returns (table, partition) of each, for after the commit.
Result<std::vector<std::pair<std::size_t, std::int64_t>>> SqliteStore::SealCompletedPartitions() {
  std::vector<std::pair<std::size_t, std::int64_t>> sealed;
  for (std::size_t i = 0; i < tables_.size(); ++i) {
    const TableDef& t = tables_[i];
    const TableWriter& tw = table_writers_[i];
    if ((t.text_columns.empty() && t.term_columns.empty()) || tw.max_id == 0) continue;
    for (std::int64_t part = tw.next_seal; part < text_index::PartitionOf(tw.max_id); ++part) {
      if (auto r = SealPartition(i, part); !r) return std::unexpected(r.error());
      sealed.emplace_back(i, part);
    }
  }
  return sealed;
}

// Writes one complete partition's blocks and records the seal (in the caller's transaction). A
// partition that is not in memory (never the case on the ingest path) is read from its rows
// first: a seal must cover every row.
Result<void> SqliteStore::SealPartition(std::size_t table, std::int64_t part) {
  sqlite3* w = writer_.get();
  const TableDef& t = tables_[table];
  if (!live_text_->Holds(t.name, part))
    if (auto r = LoadPartition(table, part); !r) return r;
  for (std::size_t c : t.text_columns) {
    std::string column(t.columns[c]->column);
    for (const text_index::Block& block : live_text_->Seal(t.name, column, part)) {
      sqlite3_stmt* s = put_text_block_.get();
      ResetGuard reset(s);
      BindText(s, 1, t.name);
      BindText(s, 2, column);
      sqlite3_bind_int64(s, 3, part);
      sqlite3_bind_int(s, 4, block.kind);
      sqlite3_bind_int64(s, 5, block.first_key);
      sqlite3_bind_blob(s, 6, block.data.data(), static_cast<int>(block.data.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(s) != SQLITE_DONE) return sqlite::DbFail(w, "seal text index");
    }
  }
  for (std::size_t c : t.term_columns) {
    std::string column(t.columns[c]->column);
    const bool key = blocks::TermKey(*t.columns[c]);
    if (key) {  // looked up one value at a time: a filter spares the partitions without it
      const std::string filter = live_text_->TermsFilter(t.name, column, part);
      sqlite3_stmt* s = put_term_filter_.get();
      ResetGuard reset(s);
      BindText(s, 1, t.name);
      BindText(s, 2, column);
      sqlite3_bind_int64(s, 3, part);
      sqlite3_bind_blob(s, 4, filter.data(), static_cast<int>(filter.size()), SQLITE_STATIC);
      if (sqlite3_step(s) != SQLITE_DONE) return sqlite::DbFail(w, "seal term filter");
    }
    const std::size_t block_bytes = key ? text_index::kKeyBlockBytes : text_index::kBlockBytes;
    for (const text_index::TermBlock& block :
         live_text_->SealTerms(t.name, column, part, block_bytes)) {
      sqlite3_stmt* s = put_term_block_.get();
      ResetGuard reset(s);
      BindText(s, 1, t.name);
      BindText(s, 2, column);
      sqlite3_bind_int64(s, 3, part);
      sqlite3_bind_blob(s, 4, block.first_term.data(), static_cast<int>(block.first_term.size()),
                        SQLITE_STATIC);
      sqlite3_bind_blob(s, 5, block.data.data(), static_cast<int>(block.data.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(s) != SQLITE_DONE) return sqlite::DbFail(w, "seal term index");
    }
  }
  sqlite3_stmt* s = put_text_part_.get();
  ResetGuard reset(s);
  BindText(s, 1, t.name);
  sqlite3_bind_int64(s, 2, part);
  if (sqlite3_step(s) != SQLITE_DONE) return sqlite::DbFail(w, "seal text index");
  return {};
}

// After a rolled-back transaction: its rows are gone, and so must be the ids they took.
Result<void> SqliteStore::ReloadMaxIds() {
  for (std::size_t i = 0; i < tables_.size(); ++i) {
    auto max_id = sqlite::QueryInt(writer_.get(), MaxIdSql(tables_[i]));
    if (!max_id) return std::unexpected(max_id.error());
    table_writers_[i].max_id = *max_id;
  }
  return {};
}

Result<std::uint64_t> SqliteStore::CommittedSequence(const std::string& agent_id,
                                                     std::uint64_t spool_epoch) {
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  auto stmt = PrepareBound(
      db->get(), "SELECT committed_sequence FROM sequences WHERE agent_id = ? AND spool_epoch = ?",
      {agent_id, spool_epoch});
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_ROW) return static_cast<std::uint64_t>(sqlite3_column_int64(stmt->get(), 0));
  if (rc == SQLITE_DONE) return 0;
  return sqlite::DbFail(db->get(), "read committed sequence");
}

// ---------------------------------------------------------------- queries

void SqliteStore::ReadRow(const TableDef& t, sqlite3_stmt* stmt, v1::Event& event) const {
  // Result columns: id, then the table's schema columns, then extra.
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    const int col = static_cast<int>(c) + 1;
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL) continue;
    const schema::FieldDef& f = *t.columns[c];
    if (f.IsInteger()) {
      schema::SetInt(event, f.id, sqlite3_column_int64(stmt, col));
    } else if (f.type == schema::FieldType::Keywords) {
      std::string_view text = ColumnText(stmt, col);
      if (!json::ParseStringArray(
              text, [&](std::string&& item) { schema::SetString(event, f.id, item); }))
        schema::SetString(event, f.id, text);  // not written by us; keep it whole
    } else {
      schema::SetString(event, f.id, ColumnText(stmt, col));
    }
  }
  const int extra = static_cast<int>(t.columns.size()) + 1;
  if (sqlite3_column_type(stmt, extra) != SQLITE_NULL) {
    std::string_view text = ColumnText(stmt, extra);
    auto& map = *event.mutable_extra();
    if (!json::ParseStringObject(
            text, [&](std::string&& k, std::string&& v) { map[std::move(k)] = std::move(v); }))
      map["extra"] = std::string(text);
  }
}

Result<void> SqliteStore::QueryEvents(const EventQuery& query,
                                      const std::function<bool(v1::Event&&)>& sink) {
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  // One ordered cursor per table, merged by (timestamp, id): streams, whatever the limit.
  struct Cursor {
    std::size_t table;
    StmtPtr stmt;
    std::int64_t ts = 0;
    std::int64_t id = 0;
  };
  std::vector<Cursor> cursors;
  const char* dir = query.newest_first ? "DESC" : "ASC";
  for (std::size_t i = 0; i < tables_.size(); ++i) {
    const TableDef& t = tables_[i];
    if (query.category && *query.category != t.category) continue;
    std::string sql = "SELECT id";
    for (const auto* f : t.columns) sql += ", " + Quote(f->column);
    sql += ", extra FROM " + Quote(t.name) + " WHERE timestamp >= ?1 AND timestamp < ?2";
    // host.name has no B-tree index: its term index finds the rows (host ids have one).
    if (!query.host.empty()) {
      sql += " AND (host_id = ?3 OR host_name = ?3";
      if (tuning_.full_text && HasColumn(t, "host_name"))
        sql += " AND id IN (SELECT id FROM vigil_terms('" + t.name +
               "', 'host_name', 'eq', json_array(?3)))";
      sql += ")";
    }
    sql += std::string(" ORDER BY timestamp ") + dir + ", id " + dir;
    if (query.limit != 0) sql += " LIMIT ?4";
    auto stmt = Prepare(db->get(), sql);
    if (!stmt) return std::unexpected(stmt.error());
    sqlite3_bind_int64(stmt->get(), 1, query.since_ns);
    sqlite3_bind_int64(stmt->get(), 2, query.until_ns);
    if (!query.host.empty()) BindText(stmt->get(), 3, query.host);
    if (query.limit != 0)
      sqlite3_bind_int64(stmt->get(), 4, static_cast<std::int64_t>(query.limit));
    cursors.push_back(Cursor{i, std::move(*stmt)});
  }
  const std::size_t ts_col = [&] {
    // Position of @timestamp in the result row (after id).
    const auto& cols = tables_.front().columns;
    for (std::size_t c = 0; c < cols.size(); ++c)
      if (cols[c]->id == schema::field::kTimestamp) return c + 1;
    return std::size_t{1};
  }();
  auto advance = [&](Cursor& c) -> Result<bool> {
    int rc = sqlite3_step(c.stmt.get());
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return sqlite::DbFail(db->get(), "query " + tables_[c.table].name);
    c.id = sqlite3_column_int64(c.stmt.get(), 0);
    c.ts = sqlite3_column_int64(c.stmt.get(), static_cast<int>(ts_col));
    return true;
  };
  const bool newest = query.newest_first;
  auto later = [&](const Cursor* a, const Cursor* b) {  // heap order: "a comes after b"
    auto ka = std::tuple(a->ts, a->id, a->table), kb = std::tuple(b->ts, b->id, b->table);
    return newest ? ka < kb : kb < ka;
  };
  std::priority_queue<Cursor*, std::vector<Cursor*>, decltype(later)> heap(later);
  for (Cursor& c : cursors) {
    auto has = advance(c);
    if (!has) return std::unexpected(has.error());
    if (*has) heap.push(&c);
  }
  std::size_t emitted = 0;
  while (!heap.empty() && (query.limit == 0 || emitted < query.limit)) {
    Cursor* c = heap.top();
    heap.pop();
    v1::Event event;
    ReadRow(tables_[c->table], c->stmt.get(), event);
    ++emitted;
    if (!sink(std::move(event))) break;
    auto has = advance(*c);
    if (!has) return std::unexpected(has.error());
    if (*has) heap.push(c);
  }
  return {};
}

Result<std::uint64_t> SqliteStore::CountEvents(std::optional<schema::Category> category) {
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  std::uint64_t total = 0;
  for (const TableDef& t : tables_) {
    if (category && *category != t.category) continue;
    // Blocks: their id ranges, not a walk of every row.
    auto n = sqlite::QueryInt(
        db->get(), column_blocks_ ? "SELECT coalesce(sum(last_id - first_id + 1), 0) FROM " +
                                        Quote(blocks::BlocksTableName(t.name))
                                  : "SELECT count(*) FROM " + Quote(t.name));
    if (!n) return std::unexpected(n.error());
    total += static_cast<std::uint64_t>(*n);
  }
  return total;
}

Result<void> SqliteStore::ReadEventsAfter(
    schema::Category category, std::int64_t after_id, std::size_t limit,
    const std::function<bool(std::int64_t, v1::Event&&)>& sink) {
  auto it = std::ranges::find(tables_, category, &TableDef::category);
  if (it == tables_.end()) return {};
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  std::string sql = "SELECT id";
  for (const auto* f : it->columns) sql += ", " + Quote(f->column);
  sql += ", extra FROM " + Quote(it->name) + " WHERE id > ?1 ORDER BY id LIMIT ?2";
  auto stmt = Prepare(db->get(), sql);
  if (!stmt) return std::unexpected(stmt.error());
  sqlite3_bind_int64(stmt->get(), 1, after_id);
  sqlite3_bind_int64(stmt->get(), 2, static_cast<std::int64_t>(limit));
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    v1::Event event;
    ReadRow(*it, stmt->get(), event);
    if (!sink(sqlite3_column_int64(stmt->get(), 0), std::move(event))) return {};
  }
  if (rc != SQLITE_DONE) return sqlite::DbFail(db->get(), "read " + it->name);
  return {};
}

Result<std::int64_t> SqliteStore::LastEventId(schema::Category category) {
  auto it = std::ranges::find(tables_, category, &TableDef::category);
  if (it == tables_.end()) return 0;
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  return sqlite::QueryInt(db->get(), MaxIdSql(*it));
}

// ---------------------------------------------------------------- retention

Result<std::uint64_t> SqliteStore::UsedBytes() {
  std::lock_guard lock(writer_mu_);
  sqlite3* w = writer_.get();
  auto pages = sqlite::QueryInt(w, "PRAGMA page_count");
  auto free_pages = sqlite::QueryInt(w, "PRAGMA freelist_count");
  auto page_size = sqlite::QueryInt(w, "PRAGMA page_size");
  if (!pages || !free_pages || !page_size)
    return Fail(std::string("read database size: ") + sqlite3_errmsg(w));
  return static_cast<std::uint64_t>((*pages - *free_pages) * *page_size);
}

// After retention, in its transaction: the text and term indexes of `t`'s partitions below the
// one holding the lowest id left (`lowest_id_sql`), which have no row left.
Result<void> SqliteStore::DropEmptyPartitions(const TableDef& t, const std::string& lowest_id_sql) {
  if (!tuning_.full_text || (t.text_columns.empty() && t.term_columns.empty())) return {};
  for (const char* index : {"text_postings", "term_postings", "term_filters", "text_index_parts"})
    if (auto r = Run(writer_.get(),
                     std::string("DELETE FROM ") + index + " WHERE tbl = ?1 AND part < ((" +
                         lowest_id_sql + ") - 1) / " + std::to_string(text_index::kPartitionRows),
                     {t.name});
        !r)
      return std::unexpected(r.error());
  return {};
}

// Deletes every event of `t` older than the cutoff, in chunks of one transaction each so that
// ingest interleaves; the text index of partitions left without rows goes with them.
Result<std::uint64_t> SqliteStore::DeleteOlderThan(const TableDef& t,
                                                   std::int64_t cutoff_exclusive) {
  if (blocks_) return DeleteBlocksOlderThan(t, cutoff_exclusive);
  // The table's last row stays whatever its age: SQLite gives a new row max(id) + 1, so deleting
  // it would hand its id out again, and live detection's cursor relies on ids never repeating.
  const std::string victims =
      "SELECT id FROM " + Quote(t.name) + " WHERE timestamp < ?1 AND id < (SELECT max(id) FROM " +
      Quote(t.name) + ") ORDER BY timestamp, id LIMIT " + std::to_string(kDeleteChunk);
  std::uint64_t deleted = 0;
  while (true) {
    std::lock_guard lock(writer_mu_);
    sqlite3* w = writer_.get();
    auto tx = Transaction::Begin(w);
    if (!tx) return std::unexpected(tx.error());
    auto n = Run(w, "DELETE FROM " + Quote(t.name) + " WHERE id IN (" + victims + ")",
                 {cutoff_exclusive});
    if (!n) return std::unexpected(n.error());
    if (*n > 0)
      if (auto r = DropEmptyPartitions(t, "SELECT min(id) FROM " + Quote(t.name)); !r)
        return std::unexpected(r.error());
    if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
    deleted += static_cast<std::uint64_t>(*n);
    if (*n < kDeleteChunk) return deleted;
  }
}

// The column-block layout's retention: whole blocks whose newest row is older than the cutoff (a
// block straddling it stays whole), in chunks of one transaction each; never the table's newest
// block (its last id continues the ids). The postings of partitions left without rows go with
// each chunk (those of a block deleted out of order stay, pointing at no row).
Result<std::uint64_t> SqliteStore::DeleteBlocksOlderThan(const TableDef& t,
                                                         std::int64_t cutoff_exclusive) {
  const std::string blocks = Quote(blocks::BlocksTableName(t.name));
  const std::string victims = "SELECT first_id FROM " + blocks +
                              " WHERE max_ts < ?1 AND first_id < (SELECT max(first_id) FROM " +
                              blocks + ") ORDER BY first_id LIMIT " +
                              std::to_string(std::max<std::int64_t>(kDeleteChunk / 256, 1));
  std::uint64_t deleted = 0;
  while (true) {
    std::lock_guard lock(writer_mu_);
    sqlite3* w = writer_.get();
    auto tx = Transaction::Begin(w);
    if (!tx) return std::unexpected(tx.error());
    auto rows = PrepareBound(w,
                             "SELECT coalesce(sum(last_id - first_id + 1), 0), count(*) FROM " +
                                 blocks + " WHERE first_id IN (" + victims + ")",
                             {cutoff_exclusive});
    if (!rows) return std::unexpected(rows.error());
    if (sqlite3_step(rows->get()) != SQLITE_ROW) return sqlite::DbFail(w, "count old blocks");
    const std::int64_t n = sqlite3_column_int64(rows->get(), 0);
    const std::int64_t block_count = sqlite3_column_int64(rows->get(), 1);
    rows->reset();
    if (block_count == 0) break;
    if (auto r = Run(w, "DELETE FROM " + blocks + " WHERE first_id IN (" + victims + ")",
                     {cutoff_exclusive});
        !r)
      return std::unexpected(r.error());
    if (auto r = DropEmptyPartitions(t, "SELECT min(first_id) FROM " + blocks); !r)
      return std::unexpected(r.error());
    if (auto r = tx->Commit(); !r) return std::unexpected(r.error());
    deleted += static_cast<std::uint64_t>(n);
  }
  return deleted;
}

// A database holds one row layout (Open picks the one it finds): both would hide one another.
Result<void> SqliteStore::CheckLayout() {
  sqlite3* w = writer_.get();
  for (const TableDef& t : tables_) {
    auto n = PrepareBound(w,
                          "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                          "(?1, ?2)",
                          {t.name, blocks::BlocksTableName(t.name)});
    if (!n) return std::unexpected(n.error());
    if (sqlite3_step(n->get()) == SQLITE_ROW && sqlite3_column_int64(n->get(), 0) > 1)
      return Fail("the database holds both row table " + t.name + " and its column blocks (" +
                  blocks::BlocksTableName(t.name) + "); it was not written by Vigil");
  }
  return {};
}

// The timestamp of the k-th oldest event over all tables (k >= 1), or the newest when fewer.
Result<std::int64_t> SqliteStore::KthOldestTimestamp(std::uint64_t k) {
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  if (column_blocks_) {
    // Whole blocks by their newest row: the newest timestamp of the oldest blocks that hold k
    // rows (retention deletes whole blocks, DeleteBlocksOlderThan).
    std::string sql;
    for (const TableDef& t : tables_)
      sql += (sql.empty() ? "" : " UNION ALL ") +
             std::string("SELECT max_ts, last_id - first_id + 1 FROM ") +
             Quote(blocks::BlocksTableName(t.name));
    auto stmt = Prepare(db->get(), sql + " ORDER BY 1");
    if (!stmt) return std::unexpected(stmt.error());
    std::int64_t ts = std::numeric_limits<std::int64_t>::min();
    std::uint64_t rows = 0;
    while (rows < k && sqlite3_step(stmt->get()) == SQLITE_ROW) {
      ts = sqlite3_column_int64(stmt->get(), 0);
      rows += static_cast<std::uint64_t>(sqlite3_column_int64(stmt->get(), 1));
    }
    return ts;
  }
  std::vector<StmtPtr> stmts;
  using Item = std::pair<std::int64_t, std::size_t>;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> heap;
  for (const TableDef& t : tables_) {
    auto stmt = Prepare(db->get(), "SELECT timestamp FROM " + Quote(t.name) +
                                       " WHERE timestamp IS NOT NULL ORDER BY timestamp LIMIT " +
                                       std::to_string(k));
    if (!stmt) return std::unexpected(stmt.error());
    if (sqlite3_step(stmt->get()) == SQLITE_ROW)
      heap.emplace(sqlite3_column_int64(stmt->get(), 0), stmts.size());
    stmts.push_back(std::move(*stmt));
  }
  std::int64_t ts = std::numeric_limits<std::int64_t>::min();
  for (std::uint64_t i = 0; i < k && !heap.empty(); ++i) {
    auto [t, s] = heap.top();
    heap.pop();
    ts = t;
    if (sqlite3_step(stmts[s].get()) == SQLITE_ROW)
      heap.emplace(sqlite3_column_int64(stmts[s].get(), 0), s);
  }
  return ts;
}

Result<RetentionResult> SqliteStore::ApplyRetention(const RetentionPolicy& policy) {
  RetentionResult result;
  if (policy.max_age_ns > 0) {
    const std::int64_t cutoff = NowNs() - policy.max_age_ns;
    for (const TableDef& t : tables_) {
      auto n = DeleteOlderThan(t, cutoff);
      if (!n) return std::unexpected(n.error());
      result.deleted_events += *n;
    }
  }
  if (policy.max_bytes > 0) {
    while (true) {
      auto used = UsedBytes();
      if (!used) return std::unexpected(used.error());
      if (*used <= policy.max_bytes) break;
      auto total = CountEvents(std::nullopt);
      if (!total) return std::unexpected(total.error());
      if (*total == 0) break;
      // Delete about as many of the oldest events as the excess holds at the average row size
      // (plus a margin: freed index space is only partly returned as whole pages).
      const double per_event = static_cast<double>(*used) / static_cast<double>(*total);
      auto k = static_cast<std::uint64_t>(
          static_cast<double>(*used - policy.max_bytes) / per_event * 1.25 + 64);
      auto cutoff = KthOldestTimestamp(std::min(k, *total));
      if (!cutoff) return std::unexpected(cutoff.error());
      std::uint64_t round = 0;
      const std::int64_t exclusive =
          *cutoff == std::numeric_limits<std::int64_t>::max() ? *cutoff : *cutoff + 1;
      for (const TableDef& t : tables_) {
        auto n = DeleteOlderThan(t, exclusive);
        if (!n) return std::unexpected(n.error());
        round += *n;
      }
      result.deleted_events += round;
      if (round == 0) break;
    }
  }
  {
    std::lock_guard lock(writer_mu_);
    if (auto r = Exec(writer_.get(), "PRAGMA incremental_vacuum"); !r)
      return std::unexpected(r.error());
    // Best effort: give the WAL back too (readers may keep part of it busy).
    sqlite3_wal_checkpoint_v2(writer_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }
  auto used = UsedBytes();
  if (!used) return std::unexpected(used.error());
  result.bytes_after = *used;
  return result;
}

// ---------------------------------------------------------------- agents

Result<void> SqliteStore::RegisterAgent(const std::string& agent_id, const std::string& hostname) {
  std::lock_guard lock(writer_mu_);
  auto r = Run(writer_.get(),
               "INSERT INTO agents (agent_id, hostname, enrolled_ns) VALUES (?, ?, ?) "
               "ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname",
               {agent_id, hostname, NowNs()});
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<bool> SqliteStore::AgentExists(const std::string& agent_id) {
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  auto stmt = PrepareBound(db->get(), "SELECT 1 FROM agents WHERE agent_id = ?", {agent_id});
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite::DbFail(db->get(), "read agents");
  return rc == SQLITE_ROW;
}

Result<void> SqliteStore::UpdateAgentHello(const std::string& agent_id, const HostRecord& hello) {
  std::lock_guard lock(writer_mu_);
  auto n = Run(writer_.get(),
               "UPDATE agents SET host_id = ?, hostname = ?, os = ?, agent_version = ?, "
               "sensor_kind = CASE WHEN ?5 = '' THEN sensor_kind ELSE ?5 END, last_seen_ns = ? "
               "WHERE agent_id = ?",
               {hello.host_id, hello.hostname, hello.os, hello.agent_version, hello.sensor_kind,
                NowNs(), agent_id});
  if (!n) return std::unexpected(n.error());
  if (*n == 0) return Fail("unknown agent " + agent_id);
  return {};
}

Result<void> SqliteStore::UpdateAgentStatus(const std::string& agent_id,
                                            const AgentStatusUpdate& status) {
  std::lock_guard lock(writer_mu_);
  auto n = Run(writer_.get(),
               "UPDATE agents SET sensor_dropped = ?, spool_dropped = ?, sensor_parse_errors = ?, "
               "spool_discarded_bytes = ?, "
               "sensor_kind = CASE WHEN ?5 = '' THEN sensor_kind ELSE ?5 END, last_seen_ns = ? "
               "WHERE agent_id = ?",
               {status.sensor_dropped, status.spool_dropped, status.sensor_parse_errors,
                status.spool_discarded_bytes, status.sensor_kind, NowNs(), agent_id});
  if (!n) return std::unexpected(n.error());
  if (*n == 0) return Fail("unknown agent " + agent_id);
  return {};
}

Result<void> SqliteStore::CountRejectedBatch(const std::string& agent_id, std::uint64_t events) {
  std::lock_guard lock(writer_mu_);
  auto n = Run(writer_.get(),
               "UPDATE agents SET batches_rejected = batches_rejected + 1, "
               "events_rejected = events_rejected + ? WHERE agent_id = ?",
               {events, agent_id});
  if (!n) return std::unexpected(n.error());
  return {};
}

Result<std::vector<HostRecord>> SqliteStore::ListHosts() {
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  auto stmt = Prepare(db->get(),
                      "SELECT agent_id, host_id, hostname, os, agent_version, sensor_kind, "
                      "enrolled_ns, last_seen_ns, events_received, "
                      "sensor_dropped + spool_dropped + events_rejected, batches_rejected "
                      "FROM agents ORDER BY hostname, agent_id");
  if (!stmt) return std::unexpected(stmt.error());
  return sqlite::CollectRows(
      db->get(), stmt->get(),
      [](sqlite3_stmt* s) {
        HostRecord h;
        h.agent_id = ColumnText(s, 0);
        h.host_id = ColumnText(s, 1);
        h.hostname = ColumnText(s, 2);
        h.os = ColumnText(s, 3);
        h.agent_version = ColumnText(s, 4);
        h.sensor_kind = ColumnText(s, 5);
        h.enrolled_ns = sqlite3_column_int64(s, 6);
        h.last_seen_ns = sqlite3_column_int64(s, 7);
        h.events_received = static_cast<std::uint64_t>(sqlite3_column_int64(s, 8));
        h.events_dropped = static_cast<std::uint64_t>(sqlite3_column_int64(s, 9));
        h.batches_rejected = static_cast<std::uint64_t>(sqlite3_column_int64(s, 10));
        return h;
      },
      "agents");
}

// ---------------------------------------------------------------- tokens

Result<std::string> SqliteStore::CreateEnrollmentToken(std::int64_t ttl_ns) {
  auto secret = RandomSecret();
  if (!secret) return secret;
  const std::int64_t now = NowNs();
  std::lock_guard lock(writer_mu_);
  auto r = Run(writer_.get(),
               "INSERT INTO enrollment_tokens (sha256, created_ns, expires_ns) VALUES (?, ?, ?)",
               {Sha256Hex(*secret), now, now + ttl_ns});
  if (!r) return std::unexpected(r.error());
  return secret;
}

Result<void> SqliteStore::ConsumeEnrollmentToken(const std::string& secret) {
  const std::string hash = Sha256Hex(secret);
  const std::int64_t now = NowNs();
  std::lock_guard lock(writer_mu_);
  sqlite3* w = writer_.get();
  // One statement decides: two enrollments racing for a token cannot both win.
  auto n = Run(w,
               "UPDATE enrollment_tokens SET used_ns = ?1 "
               "WHERE sha256 = ?2 AND used_ns IS NULL AND expires_ns > ?1",
               {now, hash});
  if (!n) return std::unexpected(n.error());
  if (*n == 1) return {};
  auto stmt = PrepareBound(w, "SELECT used_ns FROM enrollment_tokens WHERE sha256 = ?", {hash});
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_DONE) return Fail("unknown enrollment token");
  if (rc != SQLITE_ROW) return sqlite::DbFail(w, "read enrollment token");
  if (sqlite3_column_type(stmt->get(), 0) != SQLITE_NULL)
    return Fail("enrollment token already used");
  return Fail("enrollment token expired");
}

Result<std::string> SqliteStore::CreateApiToken(const std::string& name, Role role) {
  auto secret = RandomSecret();
  if (!secret) return secret;
  std::lock_guard lock(writer_mu_);
  auto r = Run(writer_.get(),
               "INSERT INTO api_tokens (sha256, name, role, created_ns) VALUES (?, ?, ?, ?)",
               {Sha256Hex(*secret), name, RoleName(role), NowNs()});
  if (!r) return std::unexpected(r.error());
  return secret;
}

Result<Role> SqliteStore::VerifyApiToken(const std::string& secret) {
  auto principal = AuthenticateApiToken(secret);
  if (!principal) return std::unexpected(principal.error());
  return principal->role;
}

Result<ApiPrincipal> SqliteStore::AuthenticateApiToken(const std::string& secret) {
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  auto stmt = PrepareBound(db->get(), "SELECT name, role FROM api_tokens WHERE sha256 = ?",
                           {Sha256Hex(secret)});
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_DONE) return Fail("unknown API token");
  if (rc != SQLITE_ROW) return sqlite::DbFail(db->get(), "read API token");
  auto role = ParseRole(ColumnText(stmt->get(), 1));
  if (!role) return Fail("API token has an unknown role");
  return ApiPrincipal{std::string(ColumnText(stmt->get(), 0)), *role};
}

Result<void> SqliteStore::SaveHunt(const SavedHunt& hunt) {
  if (hunt.name.empty()) return Fail("a saved hunt needs a name");
  const std::int64_t now = NowNs();
  std::lock_guard lock(writer_mu_);
  auto r = Run(writer_.get(),
               "INSERT INTO saved_hunts (name, query, description, owner, created_ns, updated_ns) "
               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET query = excluded.query, "
               "description = excluded.description, owner = excluded.owner, "
               "updated_ns = excluded.updated_ns",
               {hunt.name, hunt.query, hunt.description, hunt.owner, now, now});
  if (!r) return std::unexpected(r.error());
  return {};
}

namespace {
SavedHunt HuntFromRow(sqlite3_stmt* stmt) {
  return SavedHunt{std::string(ColumnText(stmt, 0)), std::string(ColumnText(stmt, 1)),
                   std::string(ColumnText(stmt, 2)), std::string(ColumnText(stmt, 3)),
                   sqlite3_column_int64(stmt, 4),    sqlite3_column_int64(stmt, 5)};
}
constexpr std::string_view kHuntColumns =
    "SELECT name, query, description, owner, created_ns, updated_ns FROM saved_hunts";
}  // namespace

Result<std::vector<SavedHunt>> SqliteStore::ListHunts() {
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  auto stmt = PrepareBound(db->get(), std::string(kHuntColumns) + " ORDER BY name", {});
  if (!stmt) return std::unexpected(stmt.error());
  return sqlite::CollectRows(db->get(), stmt->get(), HuntFromRow, "saved hunts");
}

Result<std::optional<SavedHunt>> SqliteStore::GetHunt(const std::string& name) {
  auto db = Reader();
  if (!db) return std::unexpected(db.error());
  auto stmt = PrepareBound(db->get(), std::string(kHuntColumns) + " WHERE name = ?", {name});
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_DONE) return std::optional<SavedHunt>();
  if (rc != SQLITE_ROW) return sqlite::DbFail(db->get(), "read saved hunt");
  return std::optional<SavedHunt>(HuntFromRow(stmt->get()));
}

Result<bool> SqliteStore::DeleteHunt(const std::string& name) {
  std::lock_guard lock(writer_mu_);
  auto r = Run(writer_.get(), "DELETE FROM saved_hunts WHERE name = ?", {name});
  if (!r) return std::unexpected(r.error());
  return *r > 0;
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStoreTuned(const SqliteOptions& options,
                                                    const SqliteTuning& tuning,
                                                    const StoreLimits& limits) {
  auto store = std::make_unique<SqliteStore>(options, tuning, limits);
  if (auto r = store->Open(); !r) return std::unexpected(r.error());
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options,
                                               const StoreLimits& limits) {
  return OpenSqliteStoreTuned(options, SqliteTuning{}, limits);
}

}  // namespace vigil::store
