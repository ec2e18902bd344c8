#include "server/store/hunt_indexes.hpp"

#include <string>

#include "common/schema.hpp"
#include "server/store/sqlite_util.hpp"

namespace vigil::store {
namespace {

struct HuntIndex {
  const char* field;  // schema field name
  const char* only;   // the one table to index ("" = every table carrying the field)
  bool nocase;        // COLLATE NOCASE (for `:` and `in~`), else (column, timestamp)
};

// Each index costs one more B-tree insert per event of its table: only the hot hunting fields.
// hunt/compiler.cpp (NocaseIndexed) compiles == and in on the NOCASE-only fields so these serve.
constexpr HuntIndex kHuntIndexes[] = {
    {"process.name", "process", true},  {"process.parent.name", "process", true},
    {"dns.question.name", "dns", true}, {"file.name", "file", true},
    {"host.name", "", false},           {"destination.port", "network", false},
};

}  // namespace

Result<void> CreateHuntIndexes(sqlite3* db) {
  for (const auto& index : kHuntIndexes) {
    const schema::FieldDef* f = schema::FindField(index.field);
    if (!f) return Fail(std::string("hunt index on unknown field ") + index.field);
    for (const auto& c : schema::Categories()) {
      std::string table(c.name);
      if (!f->In(c.category) || (*index.only && table != index.only)) continue;
      std::string column(f->column);
      std::string name = table + "_" + column + (index.nocase ? "_nocase" : "_timestamp");
      std::string list =
          index.nocase ? "\"" + column + "\" COLLATE NOCASE" : "\"" + column + "\", timestamp";
      if (auto r = sqlite::Exec(db, "CREATE INDEX IF NOT EXISTS \"" + name + "\" ON \"" + table +
                                        "\" (" + list + ")");
          !r)
        return r;
    }
  }
  return {};
}

}  // namespace vigil::store
