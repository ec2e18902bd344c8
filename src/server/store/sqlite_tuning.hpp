// Internal to the store (and its benchmark): knobs of the SQLite store that production leaves at
// their defaults. The benchmark turns secondary indexes and FTS off to measure a baseline.
#pragma once

#include <cstdint>
#include <memory>

#include "server/store/store.hpp"

namespace vigil::store {

struct SqliteTuning {
  bool secondary_indexes = true;  // time, host, entity, hash, IP, DNS indexes
  bool full_text = true;          // FTS5 trigram tables over text fields
  std::int64_t writer_cache_mib = 256;
  std::int64_t reader_cache_mib = 64;
};

Result<std::unique_ptr<Store>> OpenSqliteStoreTuned(const SqliteOptions& options,
                                                    const SqliteTuning& tuning,
                                                    const StoreLimits& limits = {});

}  // namespace vigil::store
