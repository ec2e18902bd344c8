// The event tables of the column-block layout as SQL tables: for every category an eponymous
// virtual table `<prefix><table>` (e.g. `process`) with the row table's columns — id, the schema's
// fields (lists as JSON arrays), extra (a JSON object) — reading `<table>_blocks`
// (block_table.hpp). Rows come in id order (ascending, or descending for ORDER BY id DESC).
// xBestIndex takes `id` equality, IN (all values at once) and ranges, `timestamp` ranges
// (blocks whose min/max miss the range are not read) and equality on a term key (entity ids,
// parent entity ids, host ids, destination ports: candidates from the store's term postings; a
// value on more than an eighth of the table scans instead); a block decompresses
// only the columns a query reads. Constraints stay checked by SQLite too: the table only skips
// what cannot match.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string_view>

#include "common/error.hpp"

namespace vigil::store::blocks {

// Registers the tables on `db`. An ordinary table of the same name in the database wins over a
// virtual one, so a database of row tables can carry both (with a prefix) for comparison.
Result<void> RegisterBlockTables(sqlite3* db, std::string_view prefix = "");

// What a block table's line of EXPLAIN QUERY PLAN ("SCAN process VIRTUAL TABLE INDEX n:") says
// it does: reads every block, reads a range of ids or time, or looks rows up by id, an id list
// or a term key (the equivalent of a row table's "SEARCH ... (x=?)"). nullopt: not such a line.
enum class BlockAccess { kScan, kRange, kLookup };
std::optional<BlockAccess> PlannedAccess(std::string_view plan_detail);

}  // namespace vigil::store::blocks
