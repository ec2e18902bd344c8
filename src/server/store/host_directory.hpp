// Every host Vigil holds data for, beyond the enrolled agents (the `agents` table): the hosts of
// imported telemetry (EVTX / JSON imports), recorded as their events are stored, so /api/hosts can
// list them; and the question "does this name or id denote a host we know?" that lets a query for
// an unknown host be refused instead of answering nothing. Its own SQLite connection to the
// store's database file (WAL).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/schema.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store {

// One imported host: the (host.id, host.name) pair of its events, per kind of import.
struct ImportedHost {
  std::string host_id;
  std::string hostname;
  std::string source;  // how its events came in: "import:evtx" or "import:json"
  std::int64_t first_event_ns = 0;
  std::int64_t last_event_ns = 0;
  std::uint64_t events = 0;      // events stored by imports (retention does not count down)
  std::int64_t imported_ns = 0;  // when the last import of it ran
};

class HostDirectory {
 public:
  static Result<std::unique_ptr<HostDirectory>> Open(const std::filesystem::path& db_path);

  // Counts stored events of an import against their hosts (events without host.id and host.name
  // are not counted: they name no host).
  Result<void> RecordImported(std::string_view source, std::span<const v1::Event> events);
  Result<std::vector<ImportedHost>> ListImported();
  // True when host (a host.id, host.name or agent id) is an enrolled agent's, an imported host's,
  // or the host.id of any stored event (databases imported into before hosts were recorded).
  Result<bool> Known(const std::string& host);

 private:
  explicit HostDirectory(sqlite::DbPtr db) : db_(std::move(db)) {}
  std::mutex mu_;
  sqlite::DbPtr db_;
};

}  // namespace vigil::store
