#include "server/store/hunt_indexes.hpp"

#include <string>

#include "common/schema.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store {
namespace {

struct HuntIndex {
  const char* field;  // schema field name
  const char* only;   // the one table to index ("" = every table carrying the field)
};

// Each index costs one more B-tree insert per event of its table: only what the term index
// (text_index.hpp) cannot serve. Ports are integers: (column, timestamp).
constexpr HuntIndex kHuntIndexes[] = {
    {"destination.port", "network"},
};
// Hunt indexes of older versions that the store's term index replaces (dropped on open).
constexpr const char* kRetiredHuntIndexes[] = {
    "process_process_name_nocase",     "process_process_parent_name_nocase",
    "dns_dns_question_name_nocase",    "file_file_name_nocase",
    "process_host_name_timestamp",     "network_host_name_timestamp",
    "dns_host_name_timestamp",         "file_host_name_timestamp",
    "persistence_host_name_timestamp", "authentication_host_name_timestamp",
    "scan_host_name_timestamp",        "alert_host_name_timestamp",
    "action_host_name_timestamp",      "policy_host_name_timestamp",
    "host_host_name_timestamp",        "other_host_name_timestamp",
};

// The FTS5 index of DNS names of older versions (with its triggers): the store's text index
// (text_index.hpp) covers dns.question.name now.
Result<void> DropDnsNameIndex(sqlite3* db) {
  for (const char* sql :
       {"DROP TRIGGER IF EXISTS dns_name_fts_insert", "DROP TRIGGER IF EXISTS dns_name_fts_delete",
        "DROP TRIGGER IF EXISTS dns_name_fts_update", "DROP TABLE IF EXISTS dns_name_fts"})
    if (auto r = sqlite::Exec(db, sql); !r) return r;
  return {};
}

// A store index (sqlite_store.cpp) widened by hunting columns, same name: the process table's
// host timeline `(host_id, timestamp)` also carries the process name, so one host's
// `| count process.name` (and `unique process.name`, `name` filters within a host) reads the
// index alone, without a table read per event. No extra index (each costs ingest); the entry is a
// few bytes wider. The store creates the narrow one first (IF NOT EXISTS); it is replaced here
// once (the DROP + CREATE on a large store is a rebuild of that index).
struct WidenedIndex {
  const char* table;
  const char* name;
  const char* columns;
};
constexpr WidenedIndex kWidenedIndexes[] = {
    {"process", "process_host_id_timestamp", R"("host_id", "timestamp", "process_name")"},
};

// Creates `name` on `table` (list); an index of that name with other columns is dropped first.
Result<void> CreateIndex(sqlite3* db, const std::string& table, const std::string& name,
                         const std::string& list) {
  auto stale = sqlite::QueryInt(db,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                                "name = '" +
                                    name + "' AND instr(sql, '" + list + "') = 0");
  if (!stale) return std::unexpected(stale.error());
  if (*stale)
    if (auto r = sqlite::Exec(db, "DROP INDEX \"" + name + "\""); !r) return r;
  return sqlite::Exec(
      db, "CREATE INDEX IF NOT EXISTS \"" + name + "\" ON \"" + table + "\" (" + list + ")");
}

}  // namespace

Result<void> CreateHuntIndexes(sqlite3* db) {
  for (const auto& index : kHuntIndexes) {
    const schema::FieldDef* f = schema::FindField(index.field);
    if (!f) return Fail(std::string("hunt index on unknown field ") + index.field);
    for (const auto& c : schema::Categories()) {
      std::string table(c.name);
      if (!f->In(c.category) || (*index.only && table != index.only)) continue;
      std::string column(f->column);
      std::string name = table + "_" + column + "_timestamp";
      std::string list = "\"" + column + "\", timestamp";
      if (auto r = CreateIndex(db, table, name, list); !r) return r;
    }
  }
  for (const auto& w : kWidenedIndexes)
    if (auto r = CreateIndex(db, w.table, w.name, w.columns); !r) return r;
  for (const char* name : kRetiredHuntIndexes)
    if (auto r = sqlite::Exec(db, std::string("DROP INDEX IF EXISTS \"") + name + "\""); !r)
      return r;
  return DropDnsNameIndex(db);
}

}  // namespace vigil::store
