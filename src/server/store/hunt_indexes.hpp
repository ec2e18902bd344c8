// Indexes that serve hunting (src/hunt) rather than ingest: case-insensitive (NOCASE) indexes on
// the keyword fields analysts match with `:` and `in~` (process and parent names, DNS names, file
// names), host.name for `vigil hunt --host NAME`, and network destination ports. SQLite's LIKE
// optimisation uses a NOCASE index for `col LIKE 'abc%'` / `col LIKE 'exact'` (case_sensitive_like
// off) and `col COLLATE NOCASE IN (...)` uses it too, so these hunts search instead of scanning.
// (Suffix and substring matches on DNS names use the store's text index.) Kept apart from
// sqlite_store.cpp (the ingest path); created with the other secondary indexes.
#pragma once

#include <sqlite3.h>

#include "common/error.hpp"

namespace vigil::store {

// CREATE INDEX IF NOT EXISTS for every hunt index whose table and column exist (an index of an
// older definition is rebuilt); drops the DNS name FTS table of older versions.
Result<void> CreateHuntIndexes(sqlite3* db);

}  // namespace vigil::store
