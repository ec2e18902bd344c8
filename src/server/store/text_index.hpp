// The store's postings indexes, in place of FTS5 and of B-tree indexes on scattered keys.
// Text index, the substring index of text fields (command lines, paths, DNS names):
// per partition of 65,536 rows of a table, a trigram index of the column's DISTINCT texts
// (trigram -> text ordinals) and the rows of each text (ordinal -> row offsets). Command lines and
// paths repeat across a fleet, so a repeated text costs one hash lookup instead of ~100 trigram
// postings. The partition being written is held in memory (LiveTextIndex) and sealed into
// compressed blocks (table text_postings) by the ingest transaction that completes it; queries go
// through the vigil_text table-valued function (text_index_vtab.hpp).
// Term index, the value index of keyword fields whose values scatter over a B-tree (IPs, hashes,
// DNS and file names, host names): per partition, each distinct ASCII-lowercased value -> row
// offsets, sealed as prefix-compressed sorted blocks (term_postings), read through vigil_terms
// (exact values and prefixes). Design: docs/store.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/schema.hpp"

namespace vigil::store::text_index {

constexpr std::int64_t kPartitionRows = 65536;  // row offsets fit in 16 bits
// A sealed block closes at the first entry past this many bytes: a lookup reads one block per
// partition and walks it up to its term, so keys looked up one at a time (entity ids) get smaller
// blocks.
// (1,536: a key block's row stays within the 8 KiB page's local payload; a few bytes more and each
// row took an overflow page, doubling the store's size.)
constexpr std::size_t kBlockBytes = 16 * 1024, kKeyBlockBytes = 1536;
inline std::int64_t PartitionOf(std::int64_t id) { return (id - 1) / kPartitionRows; }
inline std::int64_t PartitionFirstId(std::int64_t part) { return part * kPartitionRows + 1; }
inline std::int64_t PartitionLastId(std::int64_t part) { return (part + 1) * kPartitionRows; }

// Whether the store indexes `field`'s column of `table` for substrings: every text field, and the
// DNS question name (suffix hunts such as `*.evil-c2.net`).
bool Indexed(const schema::FieldDef& field, schema::Category table);

// Whether the store keeps a term index of `field`'s column of `table` (instead of a B-tree index).
bool TermIndexed(const schema::FieldDef& field, schema::Category table);

// Tables of the sealed indexes (created by the store). The postings and filters are rowid tables
// with a unique index on their key: as WITHOUT ROWID tables (before session 14) each row (a block
// of up to 16 KiB) was the key, and every comparison of a seek read the row's overflow pages
// (19 vs 2.5 microseconds per lookup of a 10 M-event store). kPostingsTables lists them with
// their CREATE statements, for the store's upgrade of an older database.
struct PostingsTable {
  std::string_view name, create;
};
inline constexpr PostingsTable kPostingsTables[] = {
    {"text_postings",
     "CREATE TABLE IF NOT EXISTS text_postings (tbl TEXT NOT NULL, col TEXT NOT NULL, part INTEGER "
     "NOT NULL, kind INTEGER NOT NULL, first_key INTEGER NOT NULL, data BLOB NOT NULL); "
     "CREATE UNIQUE INDEX IF NOT EXISTS text_postings_key ON text_postings (tbl, col, part, kind, "
     "first_key);"},
    {"term_postings",
     "CREATE TABLE IF NOT EXISTS term_postings (tbl TEXT NOT NULL, col TEXT NOT NULL, part INTEGER "
     "NOT NULL, first_term BLOB NOT NULL, data BLOB NOT NULL); "
     "CREATE UNIQUE INDEX IF NOT EXISTS term_postings_key ON term_postings (tbl, col, part, "
     "first_term);"},
    {"term_filters",
     "CREATE TABLE IF NOT EXISTS term_filters (tbl TEXT NOT NULL, col TEXT NOT NULL, part INTEGER "
     "NOT NULL, bits BLOB NOT NULL); "
     "CREATE UNIQUE INDEX IF NOT EXISTS term_filters_key ON term_filters (tbl, col, part);"},
};
inline constexpr std::string_view kCreateSql =
    "CREATE TABLE IF NOT EXISTS text_index_parts (tbl TEXT NOT NULL, part INTEGER NOT NULL, "
    "PRIMARY KEY (tbl, part)) WITHOUT ROWID; "
    "CREATE TABLE IF NOT EXISTS text_index_layout (tbl TEXT PRIMARY KEY, columns TEXT NOT NULL) "
    "WITHOUT ROWID;";

// A Bloom filter of a sealed partition's terms of a key column (table term_filters): a lookup of
// one value skips the partitions whose filter says it is not there (~1 % false positives), where
// it read a block of every partition. Format: one byte, the number of probes; then the bits.
std::string TermFilter(const std::vector<std::string_view>& terms);
// False when `term` (lowercased) is certainly not among the filter's terms; true for an empty or
// damaged filter.
bool FilterMayHold(std::string_view filter, std::string_view term);

// What a query needs: per pattern, the sorted distinct trigrams (ASCII-lowercased bytes) of its
// literal runs of 3+ bytes. A text matching the pattern contains every one of them (a superset:
// the exact check beside the prefilter decides). nullopt when a pattern has no such run.
using TrigramSets = std::vector<std::vector<std::uint32_t>>;
std::optional<TrigramSets> PatternTrigrams(const std::vector<std::string>& patterns);

// One serialized block of a sealed partition's index of one column.
struct Block {
  int kind = 0;                // 0: trigram -> ordinals, 1: ordinal -> row offsets
  std::int64_t first_key = 0;  // the block's first trigram / ordinal
  std::string data;            // varints, see text_index.cpp
};

// The distinct strings of one partition's column, numbered in order of arrival: an open-addressing
// table over strings copied into 64 KiB chunks (no allocation per string or per entry).
class Dictionary {
 public:
  // The string's ordinal; `inserted` tells whether it is new.
  std::uint32_t Intern(std::string_view s, bool& inserted);
  std::optional<std::uint32_t> Find(std::string_view s) const;
  // Forgets every string and keeps the memory (its pages stay resident for the next partition).
  void Clear();
  std::string_view At(std::uint32_t ordinal) const { return strings_[ordinal]; }
  std::size_t size() const { return strings_.size(); }

 private:
  std::size_t Slot(std::string_view s, std::uint64_t hash) const;
  void Grow();
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::size_t chunk_used_ = 0, chunk_size_ = 0;
  std::vector<std::string_view> strings_;  // by ordinal, into chunks_
  std::vector<std::uint64_t> hashes_;      // by ordinal
  std::vector<std::uint64_t> slots_;       // hash's high half | (ordinal + 1); 0: empty
};

// One column's index of one partition, in memory while the partition is written.
class PartitionBuilder {
 public:
  void Add(std::uint16_t offset, std::string_view text);  // texts under 3 bytes are skipped
  void Clear();  // empty again, keeping the memory for the next partition
  // Appends the offsets of the rows whose text holds every trigram of one of the sets (sorted).
  void Match(const TrigramSets& sets, std::vector<std::uint16_t>& offsets) const;
  std::vector<Block> Seal() const;

 private:
  Dictionary texts_;
  std::vector<std::uint64_t> trigram_ordinals_;  // (trigram << 32) | ordinal, for each new text
  // (ordinal << 16) | offset, for each row: 64 bits, as a partition can hold more than 65,536
  // distinct texts (rows of a rolled-back transaction stay, their offsets are taken again)
  std::vector<std::uint64_t> ordinal_offsets_;
};

// What a term query asks for: rows whose (lowercased) value is one of `exact` or starts with one of
// `prefixes` (both lowercased by MakeTermQuery).
struct TermQuery {
  std::vector<std::string> exact;
  std::vector<std::string> prefixes;
};
TermQuery MakeTermQuery(const std::vector<std::string>& values, bool prefix);

struct TermBlock {
  std::string first_term;
  std::string data;  // varints and bytes, see text_index.cpp
};

// One keyword column's term index of one partition, in memory while the partition is written.
class TermBuilder {
 public:
  void Add(std::uint16_t offset, std::string_view value);
  void Clear();  // empty again, keeping the memory for the next partition
  void Match(const TermQuery& query, std::vector<std::uint16_t>& offsets) const;
  std::vector<TermBlock> Seal(std::size_t block_bytes = kBlockBytes) const;
  std::string Filter() const;  // TermFilter of the partition's terms

 private:
  Dictionary terms_;                            // lowercased values
  std::vector<std::uint64_t> ordinal_offsets_;  // (ordinal << 16) | offset (64 bits: see above)
  // Exact lookups walk a value's rows only (keys such as entity ids have a few rows each in a
  // partition of 65,536): per entry the previous entry of its value, per value its last entry
  // (kNone: none).
  static constexpr std::uint32_t kNone = 0xffffffff;
  std::vector<std::uint32_t> previous_entry_, last_entry_;
  std::uint32_t last_ordinal_ = 0;  // the value of the row added last
};

// Offsets matching `query` in the term blocks of one sealed partition: `at_or_before(term)` is the
// block whose first term is the largest <= term, `after(term)` the first block past it.
using TermBlockLookup = std::function<std::optional<TermBlock>(std::string_view term, bool after)>;
void MatchSealedTerms(const TermQuery& query, const TermBlockLookup& lookup,
                      std::vector<std::uint16_t>& offsets);

// Offsets matching `sets` in the blocks of one sealed partition; `lookup(kind, key)` returns the
// block of `kind` whose first key is the largest <= key (nullopt when there is none).
using BlockLookup = std::function<std::optional<Block>(int kind, std::int64_t key)>;
void MatchSealed(const TrigramSets& sets, const BlockLookup& lookup,
                 std::vector<std::uint16_t>& offsets);

// The partitions of a table's indexed columns still in memory (the one being written and the one
// sealed last, for readers whose snapshot predates that seal). The store writes; the vigil_text
// function of any connection of the same process reads (FindLive).
class LiveTextIndex {
 public:
  // The writer's hot path: under WriteLock(), Bind() points `sink` at the builders of a table's
  // partition (one per text column, one per term column, in the given order); the pointers stay
  // valid until that partition is dropped, so rows are added without lookups or locking per row.
  struct Sink {
    std::int64_t part = -1;
    std::vector<PartitionBuilder*> texts;
    std::vector<TermBuilder*> terms;
  };
  std::unique_lock<std::shared_mutex> WriteLock() { return std::unique_lock(mu_); }
  void Bind(Sink& sink, const std::string& table, std::int64_t part,
            const std::vector<std::string>& text_columns,
            const std::vector<std::string>& term_columns);

  // False when the partition is not held (the caller then treats all its rows as candidates).
  bool Match(const std::string& table, const std::string& column, std::int64_t part,
             const TrigramSets& sets, std::vector<std::uint16_t>& offsets) const;
  bool MatchTerms(const std::string& table, const std::string& column, std::int64_t part,
                  const TermQuery& query, std::vector<std::uint16_t>& offsets) const;
  // The blocks of a held partition's column (empty when it has no text).
  std::vector<Block> Seal(const std::string& table, const std::string& column,
                          std::int64_t part) const;
  std::vector<TermBlock> SealTerms(const std::string& table, const std::string& column,
                                   std::int64_t part, std::size_t block_bytes = kBlockBytes) const;
  std::string TermsFilter(const std::string& table, const std::string& column,
                          std::int64_t part) const;
  // Whether the partition is in memory (Bind puts it there).
  bool Holds(const std::string& table, std::int64_t part) const;
  // Forgets a table's partitions below `part`.
  void DropBelow(const std::string& table, std::int64_t part);

 private:
  mutable std::shared_mutex mu_;
  struct Part {
    std::map<std::string, PartitionBuilder, std::less<>> texts;  // by column
    std::map<std::string, TermBuilder, std::less<>> terms;
  };
  const Part* Find(const std::string& table, std::int64_t part) const;
  std::map<std::string, std::map<std::int64_t, Part>, std::less<>> tables_;
  std::map<std::string, Part, std::less<>> spares_;  // per table: builders to clear and reuse
};

// Process-wide: the live index of the database file at `path` (sqlite3_db_filename), if a store
// of this process holds it.
void PublishLive(const std::string& path, const std::shared_ptr<LiveTextIndex>& live);
std::shared_ptr<LiveTextIndex> FindLive(const std::string& path);

}  // namespace vigil::store::text_index
