// The detection engine's saved state (see detection_state_store.hpp).
#include "server/store/detection_state_store.hpp"

#include <nlohmann/json.hpp>

namespace vigil::store {

Result<std::unique_ptr<DetectionStateStore>> DetectionStateStore::Open(
    const std::filesystem::path& db_path) {
  auto db = sqlite::OpenSideStore(
      db_path.string(),
      "CREATE TABLE IF NOT EXISTS detection_state (id INTEGER PRIMARY KEY CHECK (id = 1),"
      " state BLOB NOT NULL, cursors TEXT NOT NULL, saved_ns INTEGER NOT NULL)");
  if (!db) return std::unexpected(db.error());
  return std::unique_ptr<DetectionStateStore>(new DetectionStateStore(std::move(*db)));
}

Result<void> DetectionStateStore::Save(const DetectionSnapshot& snapshot) {
  std::lock_guard lock(mu_);
  auto stmt =
      sqlite::Prepare(db_.get(),
                      "INSERT OR REPLACE INTO detection_state (id, state, cursors, saved_ns)"
                      " VALUES (1, ?1, ?2, ?3)");
  if (!stmt) return std::unexpected(stmt.error());
  const std::string cursors = nlohmann::json(snapshot.cursors).dump();
  sqlite3_bind_blob64(stmt->get(), 1, snapshot.state.data(), snapshot.state.size(), SQLITE_STATIC);
  sqlite3_bind_text(stmt->get(), 2, cursors.data(), static_cast<int>(cursors.size()),
                    SQLITE_STATIC);
  sqlite3_bind_int64(stmt->get(), 3, snapshot.saved_ns);
  if (sqlite3_step(stmt->get()) != SQLITE_DONE)
    return sqlite::DbFail(db_.get(), "saving the detection state");
  return {};
}

Result<std::optional<DetectionSnapshot>> DetectionStateStore::Load() {
  std::lock_guard lock(mu_);
  auto stmt = sqlite::Prepare(db_.get(),
                              "SELECT state, cursors, saved_ns FROM detection_state WHERE id = 1");
  if (!stmt) return std::unexpected(stmt.error());
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return sqlite::DbFail(db_.get(), "reading the detection state");
  DetectionSnapshot s;
  const auto* blob = static_cast<const char*>(sqlite3_column_blob(stmt->get(), 0));
  s.state.assign(blob ? blob : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt->get(), 0)));
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 1));
  auto cursors = nlohmann::json::parse(text ? text : "", nullptr, false);
  if (!cursors.is_object())
    return Fail("the saved detection state's cursors are not a JSON object");
  for (const auto& [name, id] : cursors.items()) {
    if (!id.is_number_integer())
      return Fail("the saved detection state's cursor " + name + " is not a row id");
    s.cursors[name] = id.get<std::int64_t>();
  }
  s.saved_ns = sqlite3_column_int64(stmt->get(), 2);
  return s;
}

}  // namespace vigil::store
