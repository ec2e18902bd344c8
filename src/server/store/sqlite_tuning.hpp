// Internal to the store (and its benchmark): knobs of the SQLite store that production leaves at
// their defaults. The benchmark turns secondary and postings indexes off to measure a baseline.
#pragma once

#include <cstdint>
#include <memory>

#include "server/store/store.hpp"

namespace vigil::store {

struct SqliteTuning {
  bool secondary_indexes = true;  // the B-tree indexes (time, host, entity, lineage, port)
  bool full_text = true;          // the postings indexes (text and term, text_index.hpp)
  std::int64_t writer_cache_mib = 256;
  std::int64_t reader_cache_mib = 64;
};

Result<std::unique_ptr<Store>> OpenSqliteStoreTuned(const SqliteOptions& options,
                                                    const SqliteTuning& tuning,
                                                    const StoreLimits& limits = {});

}  // namespace vigil::store
