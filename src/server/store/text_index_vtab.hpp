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
#include <string>
#include <vector>

#include "common/error.hpp"

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

}  // namespace vigil::store::text_index
