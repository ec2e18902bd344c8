// The live detection engine's saved state (partial sequences and samples, relationships, pipe
// state: detect::Engine::SaveState) with the per-table cursors of the events it has seen. One
// row, replaced at each save. A restarted server restores it and re-evaluates the events between
// these cursors and the alert cursors (detection_store.hpp) without raising their alerts again,
// so sequences continue across a crash. Own SQLite connection to the store's database file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store {

struct DetectionSnapshot {
  std::string state;                            // the engine's bytes
  std::map<std::string, std::int64_t> cursors;  // category -> last row id the state has seen
  std::int64_t saved_ns = 0;
};

class DetectionStateStore {
 public:
  static Result<std::unique_ptr<DetectionStateStore>> Open(const std::filesystem::path& db_path);

  Result<void> Save(const DetectionSnapshot& snapshot);
  Result<std::optional<DetectionSnapshot>> Load();

 private:
  explicit DetectionStateStore(sqlite::DbPtr db) : db_(std::move(db)) {}
  std::mutex mu_;
  sqlite::DbPtr db_;
};

}  // namespace vigil::store
