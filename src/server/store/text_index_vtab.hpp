// vigil_text(tbl, col, patterns): an eponymous table-valued SQL function over the store's text
// index (text_index.hpp), for hunts: `id IN (SELECT id FROM vigil_text('process',
// 'process_command_line', '["*curl*http*"]'))`. It yields, in ascending order, the ids of `tbl`'s
// rows whose `col` holds every trigram of one of the wildcard patterns (a JSON array): sealed
// partitions from text_postings, the partition being written from the store's memory when the
// store runs in this process, and every row of a partition neither covers (a superset is always
// correct: the exact check beside the prefilter decides).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store::text_index {

// vigil_terms(tbl, col, mode, values): the same over the term index (text_index.hpp) of a
// keyword column; mode 'eq' (rows whose value is one of `values`) or 'prefix' (starts with one),
// ASCII case-insensitive (a superset of the case-sensitive answer).
// Registers both functions on the connection.
Result<void> RegisterFunction(sqlite3* db);

// The candidates vigil_text yields (exposed for tests).
Result<std::vector<std::int64_t>> Candidates(sqlite3* db, const std::string& table,
                                             const std::string& column,
                                             const std::vector<std::string>& patterns);
Result<std::vector<std::int64_t>> TermCandidates(sqlite3* db, const std::string& table,
                                                 const std::string& column,
                                                 const std::vector<std::string>& values,
                                                 bool prefix);

// The statements a walk over a table's partitions uses, kept for the next walk.
struct WalkStatements {
  std::string range_sql;  // the table's first and last id; empty: read from the table
  sqlite::StmtPtr range, parts, block;
};

// TermCandidates of one exact value at a time, for many lookups of one column on one connection
// (the block tables' key equality, block_table_vtab.hpp): the statements are prepared once.
// `range_sql` yields the table's first and last id (empty: from the table itself; a virtual table
// passes its own source, as a statement of its own connection must not hold the table open).
class TermLookup {
 public:
  TermLookup(sqlite3* db, std::string table, std::string column, std::string range_sql = "");
  // nullopt when the candidates pass `max_share` of the table's id range (a scan reads each
  // block once, without a list of most of the table's ids).
  Result<std::optional<std::vector<std::int64_t>>> Find(const std::string& value, double max_share);

 private:
  sqlite3* db_;
  std::string table_, column_;
  WalkStatements statements_;
  // The sealed partitions' filters (term_filters) read so far; emptied past the bound.
  static constexpr std::size_t kFilterCacheBytes = 64 << 20;
  sqlite::StmtPtr filter_stmt_;
  std::map<std::int64_t, std::string> filters_;
  std::size_t filter_bytes_ = 0;
};

}  // namespace vigil::store::text_index
