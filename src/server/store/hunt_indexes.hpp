// Indexes that serve hunting (src/hunt) rather than ingest: network destination ports, and the
// process table's host timeline widened by the process name (one host's `| count process.name`
// reads the index alone). Names, IPs, hashes and host names are in the store's term index
// (text_index.hpp); the NOCASE and host-name B-tree indexes of older versions are dropped here.
// Kept apart from sqlite_store.cpp (the ingest path); created with the other secondary indexes.
#pragma once

#include <sqlite3.h>

#include "common/error.hpp"

namespace vigil::store {

// CREATE INDEX IF NOT EXISTS for every hunt index whose table and column exist (an index of an
// older definition is rebuilt); drops the DNS name FTS table of older versions.
Result<void> CreateHuntIndexes(sqlite3* db);

}  // namespace vigil::store
